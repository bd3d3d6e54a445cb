"""An orders file that dates its orders only by each customer's order number and the days
since their previous order (Instacart's ``orders.csv``):
``orders_columns={..., "sequence": ..., "days_since_prior": ...}`` with
``time_format="days_since:YYYY-MM-DD"``, the day of every customer's last order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data import Transactions
from upsell.exceptions import UpsellDataError

LINES = ("order_id,product_id,add_to_cart_order,reordered\n"
         "11,196,1,0\n11,14084,2,0\n12,196,1,1\n13,26405,1,0\n14,196,1,1\n")
# user 1: orders 1, 2, 3 (3 has no lines: the eval order); user 2: one order
ORDERS = ("order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,"
          "days_since_prior_order\n"
          "12,1,prior,2,3,7,15.0\n11,1,prior,1,2,8,\n14,2,prior,1,1,9,\n15,1,train,3,4,7,21.0\n"
          "13,7,prior,1,0,12,\n")
COLS = {"order": "order_id", "item": "product_id"}
OCOLS = {"order": "order_id", "customer": "user_id", "sequence": "order_number",
         "days_since_prior": "days_since_prior_order"}
END = "days_since:2017-05-01"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "order_products__prior.csv").write_text(LINES)
    (tmp_path / "orders.csv").write_text(ORDERS)
    return tmp_path


def _read(files, **kw):
    kw = {"columns": COLS, "orders_file": files / "orders.csv", "orders_columns": OCOLS,
          "time_format": END, **kw}
    return Transactions.read_csv(files / "order_products__prior.csv", **kw)


def test_each_customers_orders_laid_out_back_from_their_last(files):
    tx = _read(files)
    assert tx.shape == (5, 4, 3)
    orders = [str(o) for o in tx.orders.decode(tx.order).tolist()]
    got = {(o, str(t)) for o, t in zip(orders, tx.time, strict=True)}
    # user 1's last order (15, no lines) is on 2017-05-01: 12 is 21 days before, 11 15 more
    assert got == {("11", "2017-03-26T00:00:00"), ("12", "2017-04-10T00:00:00"),
                   ("14", "2017-05-01T00:00:00"), ("13", "2017-05-01T00:00:00")}
    assert [str(c) for c in tx.customers.decode(tx.customer).tolist()] == ["1", "1", "1", "7",
                                                                           "2"]
    assert not tx.report.dropped


def test_the_same_as_the_dates_written_in(files):
    one = files / "one.csv"
    one.write_text("order_id,product_id,user_id,day\n11,196,1,2017-03-26\n11,14084,1,2017-03-26\n"
                   "12,196,1,2017-04-10\n13,26405,7,2017-05-01\n14,196,2,2017-05-01\n")
    a = Transactions.read_csv(one, columns={**COLS, "customer": "user_id", "time": "day"})
    b = _read(files)
    for col in ("order", "item", "customer", "time"):
        assert np.array_equal(getattr(a, col), getattr(b, col)), col


def test_fractional_days_and_a_parquet_orders_file(files):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"order_id": [11, 12, 14, 15, 13], "user_id": [1, 1, 2, 1, 7],
                      "order_number": [1, 2, 1, 3, 1],
                      "days_since_prior_order": [None, 0.5, None, 21.0, None]})
    pq.write_table(table, files / "orders.parquet")
    tx = _read(files, orders_file=files / "orders.parquet")
    first = tx.time[np.array([str(o) for o in tx.orders.decode(tx.order).tolist()]) == "11"][0]
    assert str(first) == "2017-04-09T12:00:00"  # 21.5 days before the last


def test_errors_name_the_argument_row_and_value(files):
    with pytest.raises(UpsellDataError, match=r"days_since:YYYY-MM-DD.*last order"):
        _read(files, time_format=None)
    with pytest.raises(UpsellDataError, match=r"`sequence` without `days_since_prior`"):
        _read(files, orders_columns={k: v for k, v in OCOLS.items() if k != "days_since_prior"})
    with pytest.raises(UpsellDataError, match=r"map `customer` too"):
        _read(files, orders_columns={k: v for k, v in OCOLS.items() if k != "customer"})
    with pytest.raises(UpsellDataError, match=r"`time` beside `sequence`"):
        _read(files, orders_columns={**OCOLS, "time": "order_dow"})
    for old, new, match in (
            ("12,1,prior,2,3,7,15.0", "12,1,prior,2,3,7,soon",
             r"row 1 of the orders file .*`days_since_prior_order` 'soon' is not a number"),
            ("14,2,prior,1,1,9,", "14,2,prior,1.5,1,9,",
             r"row 3 .*`order_number` '1.5' is not an order number"),
            ("15,1,train,3,4,7,21.0", "15,1,train,3,4,7,-2",
             r"row 4 .*`days_since_prior_order` '-2' is not a number of days"),
            ("15,1,train,3,4,7,21.0", "15,1,train,2,4,7,21.0",
             r"customer '1' has order number '2' twice \(row 1 and row 4\)"),
            ("15,1,train,3,4,7,21.0", "15,1,train,3,4,7,1e300",
             r"row 2 .*customer '1''s gaps in `days_since_prior_order` add up to 1e\+300"),
            ("12,1,prior,2,3,7,15.0", "12,1,prior,2,3,7,",
             r"row 1 .*is blank, and order number '2' is not customer '1''s first")):
        (files / "orders.csv").write_text(ORDERS.replace(old, new))
        with pytest.raises(UpsellDataError, match=match):
            _read(files)


def test_anonymous_orders_have_no_time_and_are_counted(files):
    (files / "orders.csv").write_text(ORDERS.replace("13,7,prior,1,0,12,", "13,,prior,1,0,12,"))
    tx = _read(files, invalid="drop")
    assert tx.shape == (4, 3, 2)
    assert sum(tx.report.dropped.values()) == 1, tx.report


def test_no_orders_columns_suggests_them_from_the_headers(files):
    with pytest.raises(UpsellDataError, match=r"orders_columns=\{'order': 'order_id', "
                       r"'customer': 'user_id', 'sequence': 'order_number', "
                       r"'days_since_prior': 'days_since_prior_order'\}, with "
                       r"time_format='days_since:YYYY-MM-DD'"):
        _read(files, orders_columns=None)


def test_the_cli_reads_it_and_suggests_the_options(files):
    lines, orders = files / "order_products__prior.csv", files / "orders.csv"
    run = subprocess.run([sys.executable, "-m", "upsell", "report", str(lines), "--columns",
                          "order=order_id,item=product_id", "--orders-file", str(orders)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert ("--orders-columns order=order_id,customer=user_id,sequence=order_number,"
            "days_since_prior=days_since_prior_order, with --time-format "
            "'days_since:YYYY-MM-DD'") in run.stderr, run.stderr
    code = ("import sys, upsell as us\n"
            f"tx = us.Transactions.read_csv({str(lines)!r}, columns={COLS!r}, "
            f"orders_file={str(orders)!r}, orders_columns={OCOLS!r}, time_format={END!r})\n"
            "assert 'pandas' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=6), min_size=1, max_size=6),
       st.randoms(use_true_random=False))
def test_property_gaps_are_the_days_between_a_customers_orders(tmp_path_factory, gaps, rnd):
    """Whatever the row order, each customer's orders are their gaps apart, and the last is
    on the named day."""
    d = tmp_path_factory.mktemp("tl")
    rows, lines, oid = [], [], 0
    for c, g in enumerate(gaps):
        for k, days in enumerate(g):
            oid += 1
            rows.append(f"{oid},u{c},{k + 1},{'' if k == 0 else days}")
            lines.append(f"{oid},p{oid % 3}")
    rnd.shuffle(rows)
    (d / "o.csv").write_text("order_id,user_id,order_number,days_since_prior_order\n"
                             + "\n".join(rows) + "\n")
    (d / "l.csv").write_text("order_id,product_id\n" + "\n".join(lines) + "\n")
    tx = Transactions.read_csv(d / "l.csv", columns=COLS, orders_file=d / "o.csv",
                               orders_columns=OCOLS, time_format=END)
    end = np.datetime64("2017-05-01T00:00:00")
    for c, g in enumerate(gaps):
        code = tx.customers.encode(np.array([f"u{c}"]))[0]
        times = np.unique(tx.time[tx.customer == code])
        want = end - np.cumsum([0, *g[1:][::-1]])[::-1].astype("timedelta64[D]")
        assert set(times.tolist()) == set(np.unique(want).tolist())


_CELLS = st.sampled_from(["", " ", "0", "1", "2", "7.5", "-1", "1e300", "nan", "inf", "x", "30",
                          "1.0", "3"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["u1", "u2", "", "NULL"]), _CELLS, _CELLS),
                min_size=1, max_size=12))
def test_property_any_cells_read_or_are_named(tmp_path_factory, rows):
    """Whatever the order numbers and gaps hold, the read gives times or an UpsellDataError
    naming the orders file; never another exception, and never a time after the named day."""
    d = tmp_path_factory.mktemp("cells")
    (d / "o.csv").write_text("order_id,user_id,order_number,days_since_prior_order\n" + "".join(
        f"{k},{u},{s},{g}\n" for k, (u, s, g) in enumerate(rows)))
    (d / "l.csv").write_text("order_id,product_id\n" + "".join(f"{k},p\n" for k in range(len(rows))))
    try:
        tx = Transactions.read_csv(d / "l.csv", columns=COLS, orders_file=d / "o.csv",
                                   orders_columns=OCOLS, time_format=END, invalid="drop")
    except UpsellDataError as exc:
        assert "o.csv" in str(exc) or "orders file" in str(exc), exc
        return
    assert (tx.time <= np.datetime64("2017-05-01T00:00:00")).all()


def test_an_order_listed_again_is_one_order(files):
    """Two exports that overlap list an order twice: the same values are one order (not the
    customer's order number twice); other values are refused, naming both rows."""
    (files / "twice.csv").write_text(ORDERS + "12,1,prior,2,3,7,15.0\n")
    tx = _read(files, orders_file=files / "twice.csv")
    want = _read(files)
    assert tx.shape == (5, 4, 3) and np.array_equal(tx.time, want.time)
    (files / "orders.csv").write_text(ORDERS + "12,1,prior,2,3,7,16.0\n")
    with pytest.raises(UpsellDataError, match=r"row 6 .*order '12' is listed again \(row 1 "
                                              r"first\) with another customer, order number"):
        _read(files)
