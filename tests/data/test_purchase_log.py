"""A purchase log without items (``columns={"item": None}``, ``--no-items``): a customer, a
time and an amount per line, as CDNOW's or a payment export. ATV, CLV and the segments
work; what needs items refuses, naming the column."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.cli import main
from upsell.data import Transactions
from upsell.data._columns import NO_ITEM
from upsell.exceptions import UpsellDataError

LOG = ("customer_id,date,number_of_cds,dollar_value\n"
       "00001,19970101,1,11.77\n00002,19970112,1,12.00\n00002,19970112,5,77.00\n"
       "00003,19970102,2,20.76\n00003,19970330,2,20.76\n00003,19970402,2,19.54\n")
COLS = {"order": ("customer_id", "date"), "customer": "customer_id", "time": "date",
        "quantity": "number_of_cds", "value": "dollar_value", "item": None}


@pytest.fixture
def log(tmp_path):
    (tmp_path / "log.csv").write_text(LOG)
    return tmp_path / "log.csv"


def test_a_purchase_log_reads_without_items(log):
    tx = Transactions.read_csv(log, columns=COLS)
    assert not tx.has("item") and tx.has("customer") and tx.has("price")
    assert tx.shape == (6, 5, 1) and "'item'" not in repr(tx)
    assert tx.orders.ids.tolist()[:2] == ["00001|19970101", "00002|19970112"]
    # ATV: order totals over orders (customer 00002's two lines of one day are one order)
    assert float(us.kpi.atv(tx)) == pytest.approx((11.77 + 89.0 + 20.76 + 20.76 + 19.54) / 5)
    assert float(us.kpi.upt(tx)) == pytest.approx(13 / 5)
    hist = us.kpi.historic_clv(tx)
    assert hist.value.tolist() == pytest.approx([11.77, 89.0, 61.06])
    for ask in (tx.baskets, tx.customer_items, lambda: tx.require("item", "bundles")):
        with pytest.raises(UpsellDataError, match="needs the `item` column"):
            ask()
    tx.to_csv(log.with_name("back.csv"))  # written without an item column, read back so
    back = Transactions.read_csv(log.with_name("back.csv"), columns={"item": None})
    assert log.with_name("back.csv").read_text().startswith("order,customer,quantity,price,")
    for role in ("order", "customer", "quantity", "price", "time"):
        assert np.allclose(getattr(back, role).astype(float), getattr(tx, role).astype(float))
    before, after = tx.split_at("1997-03-01")  # subsets stay purchase logs
    assert not before.has("item") and not after.has("item") and len(after) == 2
    assert not tx.filter(customers=["00003"]).has("item")


def test_every_reader_and_constructor(log):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    want = Transactions.read_csv(log, columns=COLS)
    frame = pd.read_csv(log, dtype=str)
    frame["order"] = frame["customer_id"] + "|" + frame["date"]
    cols = {**COLS, "order": "order"}
    got = [Transactions.from_pandas(frame, columns=cols, time_format="%Y%m%d"),
           Transactions.from_arrow(pa.Table.from_pandas(frame), columns=cols,
                                   time_format="%Y%m%d"),
           Transactions.from_records(frame.to_dict("records"), columns=cols,
                                     time_format="%Y%m%d"),
           Transactions.from_arrays(order=frame["order"], item=None,
                                    customer=frame["customer_id"], time=frame["date"],
                                    quantity=frame["number_of_cds"].astype(float),
                                    value=frame["dollar_value"].astype(float),
                                    time_format="%Y%m%d")]
    pq.write_table(pa.Table.from_pandas(frame), log.with_suffix(".parquet"))
    got.append(Transactions.read_parquet(log.with_suffix(".parquet"), columns=cols,
                                         time_format="%Y%m%d"))
    log.with_name("empty.csv").write_text(LOG.split("\n")[0] + "\n")  # a month without sales
    got.append(Transactions.read_csv([log, log.with_name("empty.csv")], columns=COLS))
    for tx in got:
        assert not tx.has("item") and tx.items.ids.tolist() == want.items.ids.tolist()
        for role in ("order", "customer", "quantity", "price", "time"):
            assert np.array_equal(getattr(tx, role), getattr(want, role)), role


def test_an_item_column_mapped_to_none_is_not_read(tmp_path):
    (tmp_path / "f.csv").write_text("order,item,price\n1,A,2\n2,B,3\n")
    tx = Transactions.read_csv(tmp_path / "f.csv", columns={"item": None})
    assert not tx.has("item") and len(tx.items) == 1 and len(tx) == 2


def test_errors(log, tmp_path):
    with pytest.raises(UpsellDataError, match=r"no `item` column.*columns=\{'item': None\} "
                                              r"reads each line as one purchase"):
        Transactions.read_csv(log, columns={k: v for k, v in COLS.items() if k != "item"})
    with pytest.raises(UpsellDataError, match=r"`columns\['order'\]` is None"):
        Transactions.read_csv(log, columns={**COLS, "order": None})
    with pytest.raises(UpsellDataError, match="`item_index` names the items"):
        Transactions.read_csv(log, columns=COLS, item_index=us.IdIndex(["a"]))


def test_the_command_line(log, tmp_path, capsys):
    args = [str(log), "--columns", "order=customer_id+date,customer=customer_id,time=date,"
            "quantity=number_of_cds,value=dollar_value"]
    assert main(["--quiet", "clv", *args], out=io.StringIO()) == 2
    assert "--no-items reads each line as one purchase" in capsys.readouterr().err
    out = io.StringIO()
    assert main(["--quiet", "clv", *args, "--no-items", "--method", "historic"], out=out) == 0
    assert out.getvalue().splitlines()[1].startswith("00001,1,11.77")
    assert main(["--quiet", "mine", *args, "--no-items"], out=io.StringIO()) == 2
    assert "`upsell mine` needs the items of each order; --no-items" in capsys.readouterr().err
    assert main(["--quiet", "clv", *args, "--no-items", "--columns", "item=date"],
                out=io.StringIO()) == 2
    assert "--no-items says the file has no item column" in capsys.readouterr().err
    assert main(["--quiet", "clv", *args, "--columns", "item=none"], out=io.StringIO()) == 2
    assert ("--columns item=none: a file without an item column (a purchase log) is read "
            "with --no-items") in capsys.readouterr().err
    # with no --columns, the advice maps every role the headers show, and --no-items
    assert main(["--quiet", "inspect", str(log)], out=io.StringIO()) == 2
    assert ("--columns order=customer_id+date,customer=customer_id,time=date,"
            "quantity=number_of_cds,value=dollar_value, and with no item column (a purchase "
            "log, as CDNOW's) --no-items") in capsys.readouterr().err
    out = io.StringIO()  # inspect prints the facts a purchase log has (no baskets)
    assert main(["--quiet", "inspect", *args, "--no-items"], out=out) == 0
    assert "5 orders, no item column" in out.getvalue() and "baskets" not in out.getvalue()
    report = tmp_path / "r.html"
    assert main(["--quiet", "report", *args, "--no-items", "--no-charts", "-o", str(report)],
                out=io.StringIO()) == 0
    page = report.read_text(encoding="utf-8")
    assert "no item column" in page and page.count("Left out: the data have no item column") == 4


def test_segments_claim_no_price_type_without_products(log):
    """Without items no line has a product's usual price to be paid below: the discount,
    price-position and kind shares are unknown (NaN), not 'every line discounted' against
    one pseudo-product's median, so no customer is called price-sensitive from them."""
    tx = Transactions.read_csv(log, columns=COLS)
    f = us.segments.customer_features(tx)
    for name in ("discount_share", "price_position", "value_pack_share", "exclusive_share"):
        assert np.isnan(f.column(name)).all(), name
    assert np.isfinite(f.column("aov")).all()
    personas = us.segments.Personas().fit(tx).assignments_
    assert "price_sensitive" not in personas.persona.tolist()
    assert personas.scores[:, 2].tolist() == [0.0, 0.0, 0.0]


def test_cdnow_as_published(cdnow_master_path):
    """CDNOW's purchase log read by read_csv: its customers, and CLV fitted from it."""
    cols = {"order": ("customer_id", "date"), "customer": "customer_id", "time": "date",
            "quantity": "number_of_cds", "value": "dollar_value", "item": None}
    tx = Transactions.read_csv(cdnow_master_path, delimiter="whitespace", columns=cols,
                               bad_prices="keep")  # $0 purchases are purchases
    assert len(tx.customers) == 23_570 and not tx.has("item")
    f = us.kpi.clv_forecast(tx, horizon=52)
    assert f.clv.size == 23_570 and np.isfinite(f.clv).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3), st.sampled_from(
    ["2.5", "0", "-1", "x", ""])), min_size=1, max_size=15))
def test_property_the_same_as_one_item_written_in(tmp_path_factory, lines):
    """Any purchase log reads as the same lines with one item written in (the same arrays,
    counts, or error), except that it has no item."""
    d = tmp_path_factory.mktemp("log")
    (d / "log.csv").write_text("order,customer,value\n" + "".join(
        f"O{o},C{c},{v}\n" for o, c, v in lines))
    (d / "one.csv").write_text("order,customer,value,item\n" + "".join(
        f"O{o},C{c},{v},{NO_ITEM}\n" for o, c, v in lines))
    kw = {"invalid": "drop", "bad_prices": "drop"}
    try:
        want = Transactions.read_csv(d / "one.csv", **kw)
    except UpsellDataError as exc:
        with pytest.raises(UpsellDataError) as got:
            Transactions.read_csv(d / "log.csv", columns={"item": None}, **kw)
        assert str(got.value) == str(exc).replace("one.csv", "log.csv")
        return
    got = Transactions.read_csv(d / "log.csv", columns={"item": None}, **kw)
    assert not got.has("item") and want.has("item")
    for role in ("order", "item", "customer", "quantity", "price"):
        assert np.array_equal(getattr(got, role), getattr(want, role)), role
    assert got.items == want.items and got.orders == want.orders
    assert dict(got.report.dropped) == dict(want.report.dropped)
    assert dict(got.report.flagged) == dict(want.report.flagged)
