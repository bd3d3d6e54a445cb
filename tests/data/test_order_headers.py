"""An orders file beside the order lines (``read_csv(orders_file=..., orders_columns=...)``)."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data import Transactions
from upsell.exceptions import UpsellDataError

LINES = ("order_id,order_item_id,product_id,price\n"
         "o1,1,A,2.5\no1,2,B,1.0\no2,1,A,2.5\no3,1,C,9\n")
ORDERS = ("order_id,customer_id,order_status,order_purchase_timestamp\n"
          "o1,c1,delivered,2017-10-02 10:56:33\no2, c2 ,delivered,2017-10-03 11:00:00\n"
          "o3,c1,delivered,2017-11-01 09:00:00\no9,c7,canceled,2017-12-01 00:00:00\n")
COLS = {"order": "order_id", "item": "product_id", "price": "price"}
OCOLS = {"order": "order_id", "customer": "customer_id", "time": "order_purchase_timestamp"}


@pytest.fixture
def files(tmp_path):
    (tmp_path / "items.csv").write_text(LINES)
    (tmp_path / "orders.csv").write_text(ORDERS)
    return tmp_path


def test_each_line_takes_its_orders_customer_and_time(files):
    tx = Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "orders.csv",
                               orders_columns=OCOLS)
    assert tx.shape == (4, 3, 3)
    cust = tx.customers.decode(tx.customer).tolist()
    assert cust == ["c1", "c1", "c2", "c1"]  # " c2 " stripped, as any id
    assert [str(t) for t in tx.time] == ["2017-10-02T10:56:33", "2017-10-02T10:56:33",
                                         "2017-10-03T11:00:00", "2017-11-01T09:00:00"]
    assert tx.report.rows_read == 4 and not tx.report.dropped


def test_the_same_as_one_file(files):
    """The lines with their order's columns written in, read as one file: the same arrays."""
    one = files / "one.csv"
    one.write_text("order_id,product_id,price,customer_id,order_purchase_timestamp\n"
                   "o1,A,2.5,c1,2017-10-02 10:56:33\no1,B,1.0,c1,2017-10-02 10:56:33\n"
                   "o2,A,2.5,c2,2017-10-03 11:00:00\no3,C,9,c1,2017-11-01 09:00:00\n")
    a = Transactions.read_csv(one, columns={**COLS, "customer": "customer_id",
                                            "time": "order_purchase_timestamp"})
    b = Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders.csv", orders_columns=OCOLS)
    for col in ("order", "item", "customer", "price", "time"):
        assert np.array_equal(getattr(a, col), getattr(b, col)), col
    assert a.customers == b.customers and a.orders == b.orders


def test_an_unlisted_order_is_named_or_dropped_and_counted(files):
    (files / "orders.csv").write_text(ORDERS.replace("o3,c1", "o4,c1"))
    with pytest.raises(UpsellDataError, match=r"1 order line\(s\).*row 4 \(order 'o3'\).*"
                                              r"invalid='drop'"):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders.csv", orders_columns=OCOLS)
    tx = Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "orders.csv",
                               orders_columns=OCOLS, invalid="drop")
    assert len(tx) == 3 and tx.report.dropped == {"order not in the orders file": 1}


def test_an_order_listed_twice(files):
    # the same values twice: read; another time: an error naming the order and both times
    (files / "orders.csv").write_text(ORDERS + "o1,c1,shipped,2017-10-02 10:56:33\n")
    tx = Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "orders.csv",
                               orders_columns=OCOLS)
    assert len(tx) == 4
    (files / "orders.csv").write_text(ORDERS + "o2,c2,x,2017-10-04 08:00:00\n")
    with pytest.raises(UpsellDataError, match=r"order 'o2' twice with different `time` "
                                              r"\('2017-10-03 11:00:00' and '2017-10-04"):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders.csv", orders_columns=OCOLS)


@pytest.mark.parametrize("ocols, match", [
    ({"order": "order_id"}, "needs `order`"),
    ({"customer": "customer_id", "time": "order_purchase_timestamp"}, "needs `order`"),
    ({"order": "order_id", "price": "x"}, "'price' cannot come from an orders file"),
    ({"order": "order_id", "customer": "buyer"}, r"has no column 'buyer' \(for `customer`\); "
                                                 r"it has 'order_id', 'customer_id'"),
    ({"order": "order_id", "customer": ""}, "must be a header name"),
    ("order_id", "must map roles"),
])
def test_orders_columns_errors(files, ocols, match):
    with pytest.raises(UpsellDataError, match=match):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders.csv", orders_columns=ocols)


def test_other_errors(files):
    with pytest.raises(UpsellDataError, match="orders file not found"):
        Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "no.csv",
                              orders_columns=OCOLS)
    with pytest.raises(UpsellDataError, match="`orders_columns` goes with `orders_file`"):
        Transactions.read_csv(files / "items.csv", columns=COLS, orders_columns=OCOLS)
    with pytest.raises(UpsellDataError, match="`customer` comes from both"):
        Transactions.read_csv(files / "items.csv", columns={**COLS, "customer": "order_item_id"},
                              orders_file=files / "orders.csv", orders_columns=OCOLS)
    (files / "orders.csv").write_text(ORDERS.split("\n", 1)[0] + "\n")
    with pytest.raises(UpsellDataError, match="lists no order"):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders.csv", orders_columns=OCOLS)


def test_gzip_orders_file_and_bad_times_named(files):
    with gzip.open(files / "orders.csv.gz", "wt") as fh:
        fh.write(ORDERS.replace("2017-11-01 09:00:00", "soon"))
    with pytest.raises(UpsellDataError, match=r"`time` 'soon' is not a timestamp"):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders.csv.gz", orders_columns=OCOLS)
    tx = Transactions.read_csv(files / "items.csv", columns=COLS,
                               orders_file=files / "orders.csv.gz", orders_columns=OCOLS,
                               invalid="drop")
    assert len(tx) == 3 and tx.report.dropped == {"time not a timestamp": 1}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from("ABCD"), st.integers(1, 5)),
                min_size=1, max_size=25),
       st.lists(st.integers(0, 9), min_size=7, max_size=7))
def test_property_same_as_the_joined_file(tmp_path_factory, lines, days):
    """Any lines and orders: reading the two files is reading the lines with their order's
    customer and day written in (dropping the lines of orders not listed, order 6)."""
    d = tmp_path_factory.mktemp("oh")
    listed = range(6)
    (d / "l.csv").write_text("o,i,q\n" + "".join(f"O{o},{i},{q}\n" for o, i, q in lines))
    (d / "h.csv").write_text("o,c,t\n" + "".join(
        f"O{o},C{o % 3},2020-01-0{days[o] % 9 + 1}\n" for o in listed))
    kept = [(o, i, q) for o, i, q in lines if o in listed]
    (d / "j.csv").write_text("o,i,q,c,t\n" + "".join(
        f"O{o},{i},{q},C{o % 3},2020-01-0{days[o] % 9 + 1}\n" for o, i, q in kept))
    kw = {"columns": {"order": "o", "item": "i", "quantity": "q"}, "invalid": "drop",
          "duplicates": "keep"}
    heads = {"order": "o", "customer": "c", "time": "t"}
    if not kept:  # every line's order unlisted: nothing left, and said so
        with pytest.raises(UpsellDataError, match="dropped order not in the orders file"):
            Transactions.read_csv(d / "l.csv", orders_file=d / "h.csv", orders_columns=heads,
                                  **kw)
        return
    got = Transactions.read_csv(d / "l.csv", orders_file=d / "h.csv", orders_columns=heads, **kw)
    want = Transactions.read_csv(d / "j.csv", **{**kw, "columns": {**kw["columns"],
                                                                    "customer": "c", "time": "t"}})
    for col in ("order", "item", "customer", "quantity", "time"):
        assert np.array_equal(getattr(got, col), getattr(want, col)), col
    assert got.customers == want.customers and got.items == want.items
    assert got.report.dropped.get("order not in the orders file", 0) == len(lines) - len(kept)
    assert os.path.exists(d / "h.csv")


def _parquet(path, table):
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("lines_as", ["csv", "parquet", "xlsx"])
@pytest.mark.parametrize("orders_as", ["csv", "parquet", "xlsx"])
def test_every_reader_takes_every_kind_of_orders_file(files, lines_as, orders_as):
    """Lines and orders in any of the three formats read as the CSV pair does: typed
    columns (an int order key, timestamps, a float id from pandas) join on their text."""
    pa = pytest.importorskip("pyarrow")
    want = Transactions.read_csv(files / "items.csv", columns=COLS,
                                 orders_file=files / "orders.csv", orders_columns=OCOLS)
    lines = {"order_id": ["o1", "o1", "o2", "o3"], "product_id": ["A", "B", "A", "C"],
             "price": [2.5, 1.0, 2.5, 9.0]}
    import datetime as dt

    orders = {"order_id": ["o1", "o2", "o3", "o9"], "customer_id": ["c1", " c2 ", "c1", "c7"],
              "order_purchase_timestamp": [dt.datetime(2017, 10, 2, 10, 56, 33),
                                           dt.datetime(2017, 10, 3, 11),
                                           dt.datetime(2017, 11, 1, 9), dt.datetime(2017, 12, 1)]}
    paths = {}
    for what, data, name in (("lines", lines, "items"), ("orders", orders, "orders")):
        kind = lines_as if what == "lines" else orders_as
        if kind == "csv":
            paths[what] = files / f"{name}.csv"
        elif kind == "parquet":
            paths[what] = _parquet(files / f"{name}.parquet", pa.table(data))
        else:
            openpyxl = pytest.importorskip("openpyxl")
            pytest.importorskip("python_calamine")
            wb = openpyxl.Workbook()
            ws = wb.active
            ws.append(list(data))
            for row in zip(*data.values(), strict=True):
                ws.append(list(row))
            paths[what] = files / f"{name}.xlsx"
            wb.save(paths[what])
    read = {"csv": Transactions.read_csv, "parquet": Transactions.read_parquet,
            "xlsx": Transactions.read_excel}[lines_as]
    got = read(paths["lines"], columns=COLS, orders_file=paths["orders"], orders_columns=OCOLS)
    for col in ("order", "item", "customer", "price", "time"):
        assert np.array_equal(getattr(got, col), getattr(want, col)), col
    assert got.customers == want.customers and got.orders == want.orders


def test_typed_keys_and_typed_conflicts(tmp_path):
    """Int order numbers in a Parquet orders file match a CSV's text ones (and pandas' float
    ids); an order listed twice with two timestamps is named with both."""
    pa = pytest.importorskip("pyarrow")
    import datetime as dt

    (tmp_path / "l.csv").write_text("InvoiceNo,StockCode\n536365,A\n536365,B\n536366,A\n")
    t = [dt.datetime(2010, 12, 1, 8, 26), dt.datetime(2010, 12, 1, 8, 28)]
    o = _parquet(tmp_path / "o.parquet", pa.table({"InvoiceNo": [536365, 536366],
                                                    "CustomerID": [17850.0, None],
                                                    "InvoiceDate": t}))
    heads = {"order": "InvoiceNo", "customer": "CustomerID", "time": "InvoiceDate"}
    tx = Transactions.read_csv(tmp_path / "l.csv", columns={"order": "InvoiceNo",
                                                            "item": "StockCode"},
                               orders_file=o, orders_columns=heads)
    assert tx.customers.decode(tx.customer[:2]).tolist() == [17850, 17850]
    assert [str(x) for x in tx.time] == ["2010-12-01T08:26:00"] * 2 + ["2010-12-01T08:28:00"]
    assert tx.customer[2] == -1  # pandas' NaN id: an anonymous order, as a blank CSV field
    _parquet(o, pa.table({"InvoiceNo": [536365, 536365], "InvoiceDate": t}))
    with pytest.raises(UpsellDataError, match=r"order '536365' twice with different `time`"):
        Transactions.read_csv(tmp_path / "l.csv", columns={"order": "InvoiceNo",
                                                           "item": "StockCode"},
                              orders_file=o, orders_columns={"order": "InvoiceNo",
                                                             "time": "InvoiceDate"})
    with pytest.raises(UpsellDataError, match=r"orders file .*o.parquet has no column 'Buyer' "
                                              r"\(for `customer`\); it has 'InvoiceNo'"):
        Transactions.read_parquet(o, columns={"order": "InvoiceNo", "item": "InvoiceNo"},
                                  orders_file=o, orders_columns={"order": "InvoiceNo",
                                                                 "customer": "Buyer"})


CUSTOMERS = ("customer_id,customer_unique_id,customer_city\n"
             "c1,p1,sao paulo\nc2,p1,sao paulo\nc7,p7,rio\n")
CCOLS = {"customer": "customer_id", "person": "customer_unique_id"}


def test_a_customers_file_makes_each_customer_its_person(files):
    """Olist: each order has a customer id of its own; the customers file names the person,
    so one person's orders are one history."""
    (files / "customers.csv").write_text(CUSTOMERS)
    tx = Transactions.read_csv(files / "items.csv", columns=COLS,
                               orders_file=files / "orders.csv", orders_columns=OCOLS,
                               customers_file=files / "customers.csv",
                               customers_columns=CCOLS)
    assert tx.customers.decode(tx.customer).tolist() == ["p1", "p1", "p1", "p1"]
    assert len(tx.customers) == 1 and tx.report.rows_read == 4
    assert "customers file" in tx.report.source
    # an anonymous customer stays anonymous; one not listed is named, or dropped and counted
    (files / "orders.csv").write_text(ORDERS.replace("o2, c2 ,", "o2,NULL,")
                                      .replace("o3,c1,", "o3,c5,"))
    kw = dict(columns=COLS, orders_file=files / "orders.csv", orders_columns=OCOLS,
              customers_file=files / "customers.csv", customers_columns=CCOLS)
    with pytest.raises(UpsellDataError, match=r"1 order line\(s\) .* have a customer that the "
                                              r"customers file .* does not list, e.g. row 4 "
                                              r"\(customer 'c5'\)"):
        Transactions.read_csv(files / "items.csv", **kw)
    tx = Transactions.read_csv(files / "items.csv", invalid="drop", **kw)
    assert tx.report.dropped == {"customer not in the customers file": 1}
    assert tx.customer.tolist()[2] == -1 and len(tx) == 3  # o2's NULL: anonymous, kept


def test_customers_file_errors_and_formats(files):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    (files / "customers.csv").write_text(CUSTOMERS + "c1,p9,rio\n")
    kw = dict(columns=COLS, orders_file=files / "orders.csv", orders_columns=OCOLS,
              customers_file=files / "customers.csv")
    with pytest.raises(UpsellDataError, match=r"lists customer 'c1' twice with different "
                                              r"`person` \('p1' and 'p9'"):
        Transactions.read_csv(files / "items.csv", customers_columns=CCOLS, **kw)
    with pytest.raises(UpsellDataError, match=r"`customers_columns` must map `customer`"):
        Transactions.read_csv(files / "items.csv", customers_columns={"customer": "x"}, **kw)
    with pytest.raises(UpsellDataError, match=r"customers file .* has no column 'uid' \(for "
                                              r"`person`\)"):
        Transactions.read_csv(files / "items.csv", **kw,
                              customers_columns={"customer": "customer_id", "person": "uid"})
    with pytest.raises(UpsellDataError, match=r"has no `customer` column to map"):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              customers_file=files / "customers.csv", customers_columns=CCOLS)
    with pytest.raises(UpsellDataError, match=r"`customers_columns` goes with `customers_file`"):
        Transactions.read_csv(files / "items.csv", columns=COLS, customers_columns=CCOLS)
    # a Parquet customers file beside Parquet lines
    pq.write_table(pa.table({"customer_id": ["c1", "c2", "c7"],
                             "customer_unique_id": ["p1", "p2", "p1"]}),
                   files / "customers.parquet")
    pq.write_table(pa.table({"order_id": ["o1", "o2", "o3"], "product_id": ["A", "B", "C"],
                             "buyer": ["c1", "c2", "c7"]}), files / "items.parquet")
    tx = Transactions.read_parquet(files / "items.parquet",
                                   columns={"order": "order_id", "item": "product_id",
                                            "customer": "buyer"},
                                   customers_file=files / "customers.parquet",
                                   customers_columns=CCOLS)
    assert tx.customers.decode(tx.customer).tolist() == ["p1", "p2", "p1"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from("ABC")), min_size=1, max_size=20),
       st.lists(st.integers(0, 6), min_size=6, max_size=6),
       st.lists(st.integers(0, 2), min_size=5, max_size=5))
def test_property_a_customers_file_is_the_persons_written_in(tmp_path_factory, lines, buyer,
                                                              person):
    """Any lines and customer map: reading with the customers file is reading the lines with
    each customer's person written in (customer 6 unlisted: dropped and counted; customer 5
    blank: anonymous)."""
    d = tmp_path_factory.mktemp("cm")

    def cust(o: int) -> str:
        return "" if buyer[o] == 5 else f"C{buyer[o]}"

    (d / "l.csv").write_text("o,i,c\n" + "".join(f"O{o},{i},{cust(o)}\n" for o, i in lines))
    (d / "m.csv").write_text("id,person\n" + "".join(f"C{c},P{person[c]}\n" for c in range(5)))
    kept = [(o, i) for o, i in lines if buyer[o] != 6]
    (d / "j.csv").write_text("o,i,c\n" + "".join(
        f"O{o},{i},{'' if buyer[o] == 5 else f'P{person[buyer[o]]}'}\n" for o, i in kept))
    kw = {"columns": {"order": "o", "item": "i", "customer": "c"}, "invalid": "drop"}
    cmap = {"customers_file": d / "m.csv",
            "customers_columns": {"customer": "id", "person": "person"}}
    if not kept:
        with pytest.raises(UpsellDataError, match="customer not in the customers file"):
            Transactions.read_csv(d / "l.csv", **cmap, **kw)
        return
    got = Transactions.read_csv(d / "l.csv", **cmap, **kw)
    want = Transactions.read_csv(d / "j.csv", **kw)
    for col in ("order", "item", "customer"):
        assert np.array_equal(getattr(got, col), getattr(want, col)), col
    assert got.customers == want.customers
    assert got.report.dropped.get("customer not in the customers file", 0) == len(lines) - len(kept)


def test_reading_with_side_files_imports_no_pandas(files):
    """pyarrow's own converters (pa.scalar, pa.array, fill_null with a value) import pandas,
    a quarter second per process: no read path may use them. Also: a repeated header and an
    empty row have no order for the orders file to list, and are dropped and counted, not
    refused as unlisted orders (invalid="raise")."""
    import subprocess
    import sys

    (files / "customers.csv").write_text(CUSTOMERS.replace("c7,p7", "NULL,p0"))
    (files / "joined.csv").write_text("Sales export\n" + LINES + LINES.split("\n", 1)[0] + "\n"
                                      + "o3,9,C,9\n,,,\n")
    code = (
        "import sys, upsell as us\n"
        f"tx = us.Transactions.read_csv({str(files / 'joined.csv')!r}, skip_rows=1, "
        f"columns={COLS!r}, orders_file={str(files / 'orders.csv')!r}, "
        f"orders_columns={OCOLS!r}, customers_file={str(files / 'customers.csv')!r}, "
        f"customers_columns={CCOLS!r})\n"
        "assert tx.report.dropped == {'header line repeated (files joined into one)': 1, "
        "'empty row (no value in any column read)': 1}, tx.report\n"
        "assert 'pandas' not in sys.modules, sorted(m for m in sys.modules if 'pandas' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _same_tx(got, want):
    assert got.shape == want.shape
    for name in ("order", "item", "customer", "time", "price"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_title_lines_above_a_side_files_header_are_skipped_and_named(files):
    """An ERP report's title lines above an orders or customers file's header: the header is
    found by the headers the columns name, the lines above it skipped and named in the data
    report (``not_read``); the same lines as the file without them."""
    (files / "customers.csv").write_text(CUSTOMERS)
    want = Transactions.read_csv(files / "items.csv", columns=COLS,
                                 orders_file=files / "orders.csv", orders_columns=OCOLS,
                                 customers_file=files / "customers.csv", customers_columns=CCOLS)
    (files / "orders_t.csv").write_text("Orders report\nExported 2024-01-01,by ERP\n\n" + ORDERS)
    (files / "customers_t.csv").write_text("Customers\n" + CUSTOMERS)
    got = Transactions.read_csv(files / "items.csv", columns=COLS,
                                orders_file=files / "orders_t.csv", orders_columns=OCOLS,
                                customers_file=files / "customers_t.csv",
                                customers_columns=CCOLS)
    _same_tx(got, want)
    assert dict(got.report.not_read) == {
        f"{files / 'orders_t.csv'} lines 1-3": "title lines above the header",
        f"{files / 'customers_t.csv'} line 1": "title lines above the header"}
    assert "title lines above the header" in str(got.report)
    # a header nowhere near the top is still an error naming the headers the file has
    (files / "orders_x.csv").write_text("Orders report\n" + ORDERS.replace("order_id", "id"))
    with pytest.raises(UpsellDataError, match=r"orders file .*orders_x\.csv has no column "
                                              r"'order_id' \(for `order`\); it has 'Orders report'"):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders_x.csv", orders_columns=OCOLS)


def test_a_side_workbooks_table_is_found_on_its_sheet(files):
    """An orders workbook with a cover sheet and title rows above its table: the first sheet
    whose rows name the headers is read from its header; the others are named."""
    pytest.importorskip("python_calamine")
    openpyxl = pytest.importorskip("openpyxl")
    want = Transactions.read_csv(files / "items.csv", columns=COLS,
                                 orders_file=files / "orders.csv", orders_columns=OCOLS)
    wb = openpyxl.Workbook()
    wb.active.title = "Cover"
    wb.active.append(["Orders export", "2024"])
    ws = wb.create_sheet("Orders")
    ws.append(["Orders report"])
    ws.append([])
    for line in ORDERS.splitlines():
        ws.append(line.split(","))
    wb.save(files / "orders.xlsx")
    got = Transactions.read_csv(files / "items.csv", columns=COLS,
                                orders_file=files / "orders.xlsx", orders_columns=OCOLS)
    _same_tx(got, want)
    book = str(files / "orders.xlsx")
    assert dict(got.report.not_read) == {
        f"{book} sheet 'Cover'": "other columns: 'Orders export', '2024'",
        f"{book} sheet 'Orders' rows 1-2": "title rows above the header"}
    wb.remove(wb["Orders"])
    wb.save(files / "orders.xlsx")
    with pytest.raises(UpsellDataError, match=r"no sheet of .*orders\.xlsx has the columns "
                                              r"'order_id', 'customer_id', "
                                              r"'order_purchase_timestamp'; its sheets: 'Cover': "
                                              r"other columns: 'Orders export', '2024'"):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders.xlsx", orders_columns=OCOLS)


def test_where_on_an_orders_files_column_filters_the_lines_by_their_order(files):
    """Olist keeps an order's status in its orders file: where={"order_status": ...} keeps
    the lines of the orders it names (counted as every where), with the lines file's own
    where headers applied as before; an order listed twice with two statuses is an error."""
    lines = LINES + "o9,1,D,4\n"
    (files / "items.csv").write_text(lines)
    keep = {"order_status": ["delivered", "shipped"]}
    for orders_as in ("csv", "parquet"):
        orders = files / "orders.csv"
        if orders_as == "parquet":
            pa = pytest.importorskip("pyarrow")
            pq = pytest.importorskip("pyarrow.parquet")
            import pyarrow.csv as pacsv

            pq.write_table(pacsv.read_csv(orders, convert_options=pacsv.ConvertOptions(
                column_types={"order_id": pa.string()})), files / "orders.parquet")
            orders = files / "orders.parquet"
        tx = Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=orders,
                                   orders_columns=OCOLS, where=keep)
        assert sorted(tx.orders.ids.tolist()) == ["o1", "o2", "o3"], orders_as
        assert dict(tx.report.dropped) == {
            "`order_status` is not 'delivered' or 'shipped' (where=)": 1}, orders_as
        assert tx.report.rows_read == 5
    # a header of the lines file too: each file filters by its own
    tx = Transactions.read_csv(files / "items.csv", columns=COLS,
                               orders_file=files / "orders.csv", orders_columns=OCOLS,
                               where={**keep, "order_item_id": "1"})
    assert tx.shape[0] == 3 and dict(tx.report.dropped) == {
        "`order_item_id` is not '1' (where=)": 1,
        "`order_status` is not 'delivered' or 'shipped' (where=)": 1}
    # a header neither file has is named
    with pytest.raises(UpsellDataError, match=r"column 'status' \(of `where`\) is not in "):
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "orders.csv", orders_columns=OCOLS,
                              where={"status": "x"})
    # orders in monthly files: each has the where column the first has
    (files / "months").mkdir()
    (files / "months" / "a.csv").write_text(ORDERS)
    (files / "months" / "b.csv").write_text("order_id,customer_id,order_purchase_timestamp\n"
                                            "o7,c3,2017-12-02 00:00:00\n")
    with pytest.raises(UpsellDataError, match=r"orders file .*b\.csv has no column "
                                              r"'order_status' \(for `where`\)"):
        Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "months",
                              orders_columns=OCOLS, where=keep)
    (files / "twice.csv").write_text(ORDERS + "o1,c1,canceled,2017-10-02 10:56:33\n")
    with pytest.raises(UpsellDataError, match=r"lists order 'o1' twice with different "
                                              r"`order_status`"):
        Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "twice.csv",
                              orders_columns=OCOLS, where=keep)


def test_where_on_a_customers_files_column_filters_the_lines_by_their_customer(files):
    """A customer's group, state or test flag lives in the customers file: where= on its
    header keeps the lines of the customers it names (counted as every where), the orders
    file's own where headers first; an anonymous line has no value there and is left out
    with them; a header no file has names every file looked in."""
    (files / "customers.csv").write_text(
        "customer_id,customer_unique_id,customer_state\nc1,p1,SP\nc2,p2,RJ\nc7,p7,SP\n")
    kw = dict(columns=COLS, orders_file=files / "orders.csv", orders_columns=OCOLS,
              customers_file=files / "customers.csv", customers_columns=CCOLS)
    tx = Transactions.read_csv(files / "items.csv", where={"customer_state": "SP"}, **kw)
    assert sorted(tx.orders.ids.tolist()) == ["o1", "o3"]
    assert tx.customers.ids.tolist() == ["p1"] and tx.report.rows_read == 4
    assert dict(tx.report.dropped) == {"`customer_state` is not 'SP' (where=)": 1}
    # with the orders file's status too: each file filters by its own column
    tx = Transactions.read_csv(files / "items.csv", **kw, where={
        "customer_state": ["SP", "RJ"], "order_status": "delivered"})
    assert len(tx.orders) == 3 and not tx.report.dropped
    # an anonymous line is nobody in the customers file: left out, counted
    (files / "anon.csv").write_text(ORDERS.replace("o2, c2 ,", "o2,NULL,"))
    tx = Transactions.read_csv(files / "items.csv", **{**kw, "orders_file": files / "anon.csv"},
                               where={"customer_state": ["SP", "RJ"]})
    assert sorted(tx.orders.ids.tolist()) == ["o1", "o3"]
    assert dict(tx.report.dropped) == {
        "anonymous: no customer to look up `customer_state` in the customers file (where=)": 1}
    with pytest.raises(UpsellDataError, match=r"column 'state' \(of `where`\) is not in "
                                              r".*items\.csv; .*nor in the orders file "
                                              r".*orders\.csv or the customers file "
                                              r".*customers\.csv"):
        Transactions.read_csv(files / "items.csv", where={"state": "SP"}, **kw)


def test_no_orders_columns_suggests_olists_from_the_headers(files):
    with pytest.raises(UpsellDataError, match=r"needs `orders_columns`.*its headers look like "
                       r"orders_columns=\{'order': 'order_id', 'customer': 'customer_id', "
                       r"'time': 'order_purchase_timestamp'\}; its 'order_status' column holds "
                       r"'canceled'"):
        Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "orders.csv")


def test_an_orders_files_unsold_statuses_are_flagged_and_advised(files):
    """Read without where=, the lines of Olist's canceled orders are kept and flagged by
    their order's status; an order listed twice with two statuses is no error then (a
    status history), and the advice for a missing orders_columns gives the where."""
    (files / "items.csv").write_text(LINES + "o9,1,D,4\n")
    for orders in ("orders.csv", "history.csv"):
        (files / "history.csv").write_text(ORDERS + "o1,c1,shipped,2017-10-02 10:56:33\n")
        tx = Transactions.read_csv(files / "items.csv", columns=COLS,
                                   orders_file=files / orders, orders_columns=OCOLS)
        assert dict(tx.report.flagged) == {
            "order status 'canceled' (not sold, kept: where= on 'order_status' leaves it "
            "out)": 1}, orders
        assert tx.report.rows_kept == 5
    with pytest.raises(UpsellDataError, match=r"its 'order_status' column holds 'canceled' "
                       r"\(20\.0%\) in the rows looked at: to count only sold orders, leave "
                       r"those out with where=\{'order_status': \{'not': \['canceled'\]\}\}"):
        Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "history.csv")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow.csv as pacsv

    pq.write_table(pacsv.read_csv(files / "history.csv", convert_options=pacsv.ConvertOptions(
        column_types={"order_id": pa.string()})), files / "history.parquet")
    with pytest.raises(UpsellDataError, match=r"its 'order_status' column holds 'canceled' "
                       r"\(20\.0%\)"):  # a Parquet orders file's first rows too
        Transactions.read_csv(files / "items.csv", columns=COLS,
                              orders_file=files / "history.parquet")
    tx = Transactions.read_csv(files / "items.csv", columns=COLS,
                               orders_file=files / "history.parquet", orders_columns=OCOLS)
    assert len(tx.report.flagged) == 1
    # monthly orders files: the status of the first is not required of the others
    (files / "months").mkdir()
    (files / "months" / "a.csv").write_text(ORDERS)
    (files / "months" / "b.csv").write_text("order_id,customer_id,order_purchase_timestamp\n"
                                            "o7,c3,2017-12-02 00:00:00\n")
    tx = Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "months",
                               orders_columns=OCOLS)
    assert tx.report.rows_kept == 5


def test_a_customer_id_one_per_order_is_flagged():
    """Olist's customer_id is one per order: when every one of 300+ customers has one
    order, the data report asks whether the id is the person."""
    from upsell.data.report import ONE_ORDER

    n = 320
    tx = Transactions.from_arrays(order=np.repeat(np.arange(n), 2), item=np.tile([1, 2], n),
                                  customer=np.repeat(np.arange(n) + 1000, 2))
    assert tx.report.flagged == {ONE_ORDER: 2 * n}
    again = Transactions.from_arrays(order=np.arange(n), item=np.ones(n, dtype=int),
                                     customer=np.arange(n) // 2)
    assert ONE_ORDER not in again.report.flagged
    few = Transactions.from_arrays(order=np.arange(10), item=np.ones(10, dtype=int),
                                   customer=np.arange(10))
    assert ONE_ORDER not in few.report.flagged


def test_an_orders_files_currencies_are_flagged(files):
    """An ERP's order headers carry the currency: the lines of orders in another currency
    than most are flagged, as a currency in the lines is."""
    (files / "cur.csv").write_text("order_id,customer_id,currency,order_purchase_timestamp\n"
                                   "o1,c1,EUR,2017-10-02 10:56:33\no2,c2,EUR,2017-10-03 11:00:00\n"
                                   "o3,c1,USD,2017-11-01 09:00:00\n")
    tx = Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "cur.csv",
                               orders_columns=OCOLS)
    assert dict(tx.report.flagged) == {
        "price in 'USD', not the most lines' 'EUR' (money figures add currencies as they are: "
        "where= on 'currency' reads one)": 1}
    one = Transactions.read_csv(files / "items.csv", columns=COLS, orders_file=files / "cur.csv",
                                orders_columns=OCOLS, where={"currency": "EUR"})
    assert one.report.rows_kept == 3 and not one.report.flagged
