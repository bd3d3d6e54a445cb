"""Tests of the basket-file reader and the real-data loaders (real files skip when absent)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.datasets import load_cdnow, load_online_retail, read_baskets
from upsell.exceptions import UpsellDataError

# ------------------------------------------------------------------ read_baskets, small files


def test_read_baskets_comma_keeps_trailing_spaces(tmp_path: Path) -> None:
    p = tmp_path / "b.csv"
    p.write_text("milk,cream cheese \n\nbread,,milk,\r\n")
    tx = read_baskets(p)
    assert tx.items.ids.tolist() == ["bread", "cream cheese ", "milk"]
    assert tx.orders.ids.tolist() == [1, 3]          # line numbers; the empty line is empty
    assert tx.report.rows_read == 4


def test_read_baskets_whitespace_ints_and_gzip(tmp_path: Path) -> None:
    p = tmp_path / "r.dat.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("0 1 2 \n3  4\n1\n")
    tx = read_baskets(p)
    assert tx.items.kind == "int" and tx.items.ids.tolist() == [0, 1, 2, 3, 4]
    assert tx.baskets().sum(axis=1).A1.tolist() == [3, 2, 1]


def test_read_baskets_explicit_delimiter_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "b.txt"
    p.write_text("a;b\nc\n")
    assert read_baskets(p, delimiter=";").shape == (3, 2, 3)
    with pytest.raises(UpsellDataError, match="`delimiter`"):
        read_baskets(p, delimiter=";;")
    with pytest.raises(UpsellDataError, match="does not exist"):
        read_baskets(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UpsellDataError, match="empty"):
        read_baskets(empty)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b b", "c ", "d", "7"]), max_size=5),
                min_size=1, max_size=20).filter(lambda bs: any(bs)))
def test_read_baskets_round_trips_baskets(baskets: list[list[str]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "b.csv"
        p.write_text("\n".join(",".join(b) for b in baskets) + "\n")
        tx = read_baskets(p, delimiter=",")
    got: dict[int, set[str]] = {}
    for o, i in zip(tx.orders.ids[tx.order], tx.items.ids[tx.item], strict=True):
        got.setdefault(int(o), set()).add(str(i))
    want = {n + 1: set(b) for n, b in enumerate(baskets) if b}
    assert got == want


# ------------------------------------------------------------------ loaders, small files


def test_load_cdnow_detects_master_format(tmp_path: Path) -> None:
    p = tmp_path / "CDNOW_master.txt"
    p.write_bytes(b" customer_id  date number_of_cds  dollar_value\r\n"
                  b" 00001 19970101  1   11.77\r\n 00001 19970101  2   20.00\r\n"
                  b" 00002 19970112  1    0.00\r\n")
    tx = load_cdnow(p)
    assert tx.customers.ids.tolist() == [1, 2]
    assert len(tx.orders) == 2                      # same-day lines form one order
    assert tx.quantity.tolist() == [1.0, 2.0, 1.0]
    assert str(tx.time[2]) == "1997-01-12T00:00:00"
    assert tx.report.flagged["price zero or negative"] == 1


@pytest.mark.parametrize(("text", "match"), [
    (b" 00001 19970101  1\r\n", "has 3 fields"),
    (b" 00001 0001 19970101  1 2.0\r\n 00002 0001 19970101 1\r\n", "line 2: has 4 fields"),
    (b" 00001 0001 19971301  1 2.0\r\n", "line 1: date 19971301 is not a valid"),
    (b" 00001 0001 19970101  x 2.0\r\n", "line 1: number of CDs 'x' is not a number"),
    (b" id date cds dollars\r\n", "is not the CDNOW master header"),
    (b"", "empty"),
])
def test_load_cdnow_errors_name_the_line(tmp_path: Path, text: bytes, match: str) -> None:
    p = tmp_path / "cd.txt"
    p.write_bytes(text)
    with pytest.raises(UpsellDataError, match=match):
        load_cdnow(p)


def test_load_online_retail_maps_columns(tmp_path: Path) -> None:
    p = tmp_path / "or.csv"
    p.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,A,x,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
        "536366,B,y,1,2010-12-01 09:00:00,0,17850,France\n"
        "536368,B,y,2,2010-12-03 09:00:00,1.5,,France\n"
        "C536367,A,x,-6,2010-12-02 08:26:00,2.55,17850,United Kingdom\n")
    tx = load_online_retail(p, returns="keep", bad_prices="keep")
    assert tx.shape == (4, 4, 2)
    assert tx.customers.ids.tolist() == [17850]
    assert tx.channels is not None and tx.channels.ids.tolist() == ["France", "United Kingdom"]
    clean = load_online_retail(p)
    assert len(clean) == 1 and clean.report.dropped["price zero or negative"] == 1
    assert clean.report.dropped["fully returned"] == 1


# ------------------------------------------------------------------ the real data sets


def test_groceries(groceries_path: Path) -> None:
    tx = read_baskets(groceries_path)
    assert len(tx.orders) == 9_835 and len(tx.items) == 169
    assert "cream cheese " in tx.items
    assert tx.report.rows_read == len(tx)


def test_fimi_retail(retail_path: Path) -> None:
    tx = read_baskets(retail_path)
    assert len(tx.orders) == 88_162 and len(tx.items) == 16_470
    assert tx.items.kind == "int" and tx.orders.ids[-1] == 88_162


def test_online_retail_keeps_every_line(online_retail_path: Path) -> None:
    tx = load_online_retail(online_retail_path, returns="keep", bad_prices="keep")
    assert len(tx) == 370_931 == tx.report.rows_read
    assert len(tx.orders) == 18_786
    assert len(tx.customers) == 3_658
    cancel = np.char.startswith(tx.orders.ids[tx.order].astype(str), "C")
    assert int(cancel.sum()) == 6_652
    assert int((tx.quantity < 0).sum()) == 7_675
    assert tx.report.flagged["return or cancellation kept"] == 7_675


def test_online_retail_default_repairs_are_reported(online_retail_path: Path) -> None:
    tx = load_online_retail(online_retail_path)
    rep = tx.report
    assert rep.rows_read == 370_931 == rep.rows_kept + rep.n_dropped
    assert (tx.quantity > 0).all() and (tx.price > 0).all()
    assert rep.dropped["price zero or negative"] > 0
    assert rep.dropped["return netted against a purchase"] > 0
    assert rep.flagged["anonymous (no customer)"] > 0


def test_cdnow_sample(cdnow_sample_path: Path) -> None:
    tx = load_cdnow(cdnow_sample_path)
    assert len(tx.customers) == 2_357 and len(tx) == 6_919
    assert str(tx.time.min())[:10] == "1997-01-01"


def test_cdnow_master(cdnow_master_path: Path) -> None:
    tx = load_cdnow(cdnow_master_path)
    assert len(tx.customers) == 23_570 and len(tx) == 69_659
    assert tx.report.flagged["price zero or negative"] == 80
    assert np.all(tx.quantity > 0)


def test_loaders_name_themselves_for_a_misspelled_keyword(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                 "1,A,1,2011-01-01 10:00:00,1.0,17850,UK\n")
    with pytest.raises(TypeError, match=r"load_online_retail\(\) .*'retruns'; did you mean 'returns'"):
        load_online_retail(p, retruns="drop")
    assert load_online_retail(p, columns={"name": "StockCode"}).item_names().tolist() == ["A"]


def test_truncated_gzip_cdnow_is_a_clear_error(tmp_path):
    data = gzip.compress(b" 00004 0001 19970101  2   29.33\r\n" * 50)
    p = tmp_path / "CDNOW_sample.txt"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(UpsellDataError, match="truncated or damaged gzip"):
        load_cdnow(p)
