"""`upsell fit / recommend / report` never offer fees and postage unless --offer-all-items."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upsell import Transactions
from upsell.cli import main
from upsell.recommend import Recommender
from upsell.recommend.filters import Exclude

COLUMNS = ("order=InvoiceNo,item=StockCode,customer=CustomerID,quantity=Quantity,"
           "price=UnitPrice,time=InvoiceDate,name=Description")


def _lines() -> list[str]:
    """A small shop: 40 numeric and "A"-suffixed codes, POST on most orders, one M."""
    rng = np.random.default_rng(0)
    products = [str(10000 + i) for i in range(28)] + [f"{20000 + i}A" for i in range(12)]
    rows = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID"]
    for o in range(400):
        cust = 100 + int(rng.integers(0, 60))
        day = 1 + o // 15
        when = f"2011-{1 + (day - 1) // 28:02d}-{1 + (day - 1) % 28:02d} 10:00"
        basket = rng.choice(len(products), size=int(rng.integers(2, 5)), replace=False)
        for i in basket.tolist():
            rows.append(f"{500000 + o},{products[i]},thing {i},{int(rng.integers(1, 4))},"
                        f"{when},{1.0 + i % 7},{cust}")
        if o % 4:  # postage on three orders in four
            rows.append(f"{500000 + o},POST,POSTAGE,1,{when},18.0,{cust}")
    rows.append("499999,M,Manual,1,2011-01-01 10:00,3.0,100")
    return rows


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("non_products") / "orders.csv"
    path.write_text("\n".join(_lines()) + "\n", encoding="utf-8")
    return path


def _run(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(["--quiet", *argv], out=buf)
    return code, buf.getvalue()


def _offered(rec: Recommender, customers: list[Any]) -> set[Any]:
    got: set[Any] = set()
    for c in customers:
        got |= {o.item for o in rec.recommend(c, k=10, include_owned=True)}
        got |= {o.item for o in rec.recommend(c, basket=["10001"], k=10)}
    return got


def test_fit_excludes_fees_says_so_and_saves_the_rule(orders: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("fit", str(orders), "--columns", COLUMNS, "--out", str(tmp_path / "m"))
    assert code == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "look like fees" in x)
    assert line.startswith("upsell: 2 items look like fees or services, not products "
                           "(ids unlike the shop's other 40: POST, M;")
    assert "kept in the KPIs, never offered; --offer-all-items offers them" in line
    rec = Recommender.load(tmp_path / "m")
    excl = [r for r in rec.rules_ if isinstance(r, Exclude)]
    assert len(excl) == 1 and excl[0].items == {"POST", "M"}
    assert [r.name for r in rec.rules_][:2] == ["not_owned", "in_stock"]
    customers = list(range(100, 130))
    assert not _offered(rec, customers) & {"POST", "M"}


def test_a_catalog_type_column_decides(orders: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("item,type\nPOST,Shipping\n10001,product\n", encoding="utf-8")
    code, _ = _run("fit", str(orders), "--columns", COLUMNS, "--catalog", str(catalog),
                   "--out", str(tmp_path / "m"))
    assert code == 0
    assert ("upsell: 1 item looks like fees or services, not products (so marked in the "
            "catalog: POST;") in capsys.readouterr().err
    (excl,) = [r for r in Recommender.load(tmp_path / "m").rules_ if isinstance(r, Exclude)]
    assert excl.items == {"POST"}  # the catalog decides: M (id shape) is a product to it


def test_offer_all_items_offers_them(orders: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("fit", str(orders), "--columns", COLUMNS, "--out", str(tmp_path / "m"),
                   "--offer-all-items")
    assert code == 0
    assert "look like fees" not in capsys.readouterr().err
    rec = Recommender.load(tmp_path / "m")
    assert not [r for r in rec.rules_ if isinstance(r, Exclude)]
    # POST is on three orders in four: without the rule it is offered (the defect)
    assert "POST" in _offered(rec, list(range(100, 130)))


def test_exclude_items_merges_into_the_rule(orders: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("fit", str(orders), "--columns", COLUMNS, "--out", str(tmp_path / "m"),
                   "--exclude-items", "10001, 20003A,NOPE")
    assert code == 0
    err = capsys.readouterr().err
    assert "--exclude-items not in the orders (excluded all the same): NOPE" in err
    rec = Recommender.load(tmp_path / "m")
    (excl,) = [r for r in rec.rules_ if isinstance(r, Exclude)]
    assert excl.items == {"POST", "M", "10001", "20003A", "NOPE"}
    # with --offer-all-items, only the user's list
    _run("fit", str(orders), "--columns", COLUMNS, "--out", str(tmp_path / "m2"),
         "--exclude-items", "10001", "--offer-all-items")
    rec2 = Recommender.load(tmp_path / "m2")
    (excl2,) = [r for r in rec2.rules_ if isinstance(r, Exclude)]
    assert excl2.items == {"10001"}


def test_recommend_fit_now_never_offers_fees(orders: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    customers = ",".join(str(c) for c in range(100, 160))
    code, out = _run("recommend", str(orders), "--columns", COLUMNS, "--customer", customers,
                     "-k", "10", "--format", "json")
    assert code == 0
    assert "look like fees" in capsys.readouterr().err
    assert '"POST"' not in out and '"M"' not in out and '"item"' in out
    code, out = _run("recommend", str(orders), "--columns", COLUMNS, "--customer", customers,
                     "-k", "10", "--format", "json", "--offer-all-items")
    assert code == 0 and '"POST"' in out


def test_recommend_model_notes_fit_time_options(orders: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _run("fit", str(orders), "--columns", COLUMNS, "--out", str(tmp_path / "m"))
    capsys.readouterr()
    code, _ = _run("recommend", "--model", str(tmp_path / "m"), "--customer", "100",
                   "--offer-all-items")
    assert code == 0
    assert "apply when fitting" in capsys.readouterr().err


def test_report_example_offers_leave_fees_out(orders: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "r.html"
    code, _ = _run("report", str(orders), "--columns", COLUMNS, "-o", str(html),
                   "--no-charts")
    assert code == 0
    assert "look like fees" in capsys.readouterr().err
    from upsell.report import analyse

    tx = Transactions.read_csv(orders, columns=dict(p.split("=") for p in COLUMNS.split(",")))
    # the customers shown own POST, so the plumbing is checked with a product they are offered
    every = analyse(tx, sections=["offers"], n_examples=20)["offers"].to_pandas()["offer"]
    assert "thing 0 (10000)" in every.tolist()
    a = analyse(tx, sections=["offers"], n_examples=20, exclude_items=["10000", "POST"])
    assert a["offers"].status == "ok"
    assert "thing 0 (10000)" not in a["offers"].to_pandas()["offer"].tolist()


def test_from_history_excludes_and_logs(orders: Path, caplog: pytest.LogCaptureFixture) -> None:
    tx = Transactions.read_csv(orders, columns=dict(p.split("=") for p in COLUMNS.split(",")))
    with caplog.at_level(logging.INFO, logger="upsell"):
        rec = Recommender.from_history(tx, blend="weighted")
    assert any("2 items look like fees" in r.getMessage() for r in caplog.records)
    (excl,) = [r for r in rec.rules_ if isinstance(r, Exclude)]
    assert excl.items == {"POST", "M"}
    assert not _offered(rec, list(range(100, 130))) & {"POST", "M"}
    every = Recommender.from_history(tx, blend="weighted", offer_non_products=True)
    assert not [r for r in every.rules_ if isinstance(r, Exclude)]


@pytest.mark.realdata
@pytest.mark.slow
def test_online_retail_fit_never_offers_postage(online_retail_path: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from upsell.data import non_product_items

    code, _ = _run("fit", str(online_retail_path), "--cancel-prefix", "C", "--columns",
                   COLUMNS, "--out", str(tmp_path / "m"), "--blend", "weighted")
    assert code == 0
    err = capsys.readouterr().err
    assert "items look like fees or services, not products" in err and "POST, DOT, M, C2" in err
    rec = Recommender.load(tmp_path / "m")
    tx = Transactions.read_csv(online_retail_path, cancel_prefix="C",
                               columns=dict(p.split("=") for p in COLUMNS.split(",")))
    flagged = set(non_product_items(tx).items.tolist())
    assert {"POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE"} <= flagged
    customers = [str(c) for c in tx.customers.ids[::12]]
    for c in customers:  # buy-again offers showed POSTAGE first to 2.5% of customers before
        for kw in ({}, {"include_owned": True}):
            assert not {o.item for o in rec.recommend(c, k=5, **kw)} & flagged
