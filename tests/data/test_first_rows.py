"""One error gives the whole command: beside the columns, the encoding and time format the
file's rows need (a Kaggle copy of Online Retail: cp1252 text, ``12/1/2010 8:26`` times)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data import Transactions
from upsell.exceptions import UpsellDataError

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def _row(i: int, day: int, name: str = "WHITE HANGING HEART") -> str:
    return f"{536365 + i // 5},85123A,{name},6,12/{day}/2010 8:26,2.55,17850,United Kingdom\n"


def test_the_columns_error_names_the_encoding_and_time_format(tmp_path):
    p = tmp_path / "data.csv"
    p.write_bytes((HEADER + _row(0, 1) + _row(1, 13, "CAFÉ SET")).encode("cp1252"))
    with pytest.raises(UpsellDataError, match=r"its headers look like columns=\{'order': "
                       r"'InvoiceNo'.*\}; pass encoding='cp1252'; pass "
                       r"time_format='%m/%d/%Y %H:%M' \(a second field above 12"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, encoding="cp1252", time_format="%m/%d/%Y %H:%M", columns={
        "order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
        "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate"})
    assert str(tx.time[-1]) == "2010-12-13T08:26:00"


def test_an_event_log_is_told_the_where_that_reads_its_purchases(tmp_path):
    # Retailrocket's events.csv: views and carts, purchases further down, times in ms
    rows = [f"{1433221332117 + i},{257597 + i % 7},view,{355908 + i % 11},\n" for i in range(50)]
    rows += [f"{1433224214164 + i},{992329 + i // 2},transaction,{248676 + i},{4000 + i // 2}\n"
             for i in range(6)]
    p = tmp_path / "events.csv"
    p.write_text("timestamp,visitorid,event,itemid,transactionid\n" + "".join(rows))
    with pytest.raises(UpsellDataError, match=r"its headers look like columns=\{'order': "
                       r"'transactionid', 'item': 'itemid', 'customer': 'visitorid', 'time': "
                       r"'timestamp'\}; read its purchases with where=\{'event': "
                       r"'transaction'\} \(--where event=transaction\); pass "
                       r"time_format='epoch_ms'"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, where={"event": "transaction"}, time_format="epoch_ms",
                               columns={"order": "transactionid", "item": "itemid",
                                        "customer": "visitorid", "time": "timestamp"})
    assert (len(tx.orders), len(tx)) == (3, 6)
    # filtered already: no such advice
    with pytest.raises(UpsellDataError) as got:
        Transactions.read_csv(p, where={"event": "transaction"})
    assert "read its purchases" not in str(got.value)


def test_a_file_that_needs_neither_gets_only_the_columns(tmp_path):
    p = tmp_path / "data.csv"
    p.write_text(HEADER + "536365,85123A,X,6,2010-12-01 08:26:00,2.55,17850,UK\n")
    with pytest.raises(UpsellDataError) as err:
        Transactions.read_csv(p)
    assert str(err.value).endswith("'name': 'Description'}"), err.value


def test_rows_beyond_the_first_megabyte_tell_day_from_month(tmp_path):
    """The first month of a history (December 1-12) cannot tell 12/1 from 1/12, and its
    first megabyte is plain ASCII: pieces spread over a plain file tell both."""
    p = tmp_path / "data.csv"
    early = "".join(_row(i, 1 + i % 12) for i in range(15_000))  # > 1 MB
    late = "".join(_row(i, 21, "CAFÉ SET") for i in range(15_000, 30_000))
    p.write_bytes((HEADER + early + late).encode("cp1252"))
    assert p.stat().st_size > 2 << 20
    run = subprocess.run([sys.executable, "-m", "upsell", "report", str(p)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 2
    assert "; pass --time-format '%m/%d/%Y %H:%M' (a second field above 12 (12/21/2010" \
        in run.stderr, run.stderr
    assert "; pass --encoding cp1252;" in run.stderr, run.stderr


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["utf-8", "cp1252", "latin-1"]),
       st.sampled_from([None, "When", "Nope"]), st.booleans(),
       st.lists(st.sampled_from(["view", "cart", "purchase", "", " x", "VIEW", ",", "\n"]),
                max_size=6))
def test_property_the_advice_never_raises(head, encoding, time_header, with_events, events):
    """Advice rides on an error: whatever the bytes (an event column's among them), it is a
    string, never a new error."""
    from upsell.data._first_rows import first_rows_advice

    names = ["Invoice", "When"] + (["event"] if with_events else [])
    rows = "".join(f"1,x,{e}\n" for e in events).encode() if with_events else b""
    out = first_rows_advice(",".join(names).encode() + b"\n" + rows + head, names,
                            delimiter=",", encoding=encoding, time_header=time_header,
                            time_format=None, more=head)
    assert isinstance(out, str)


@pytest.mark.parametrize(("text", "match"), [
    ('{"order_id": 1, "sku": "A"}\n{"order_id": 2, "sku": "B"}\n',
     r"orders.jsonl holds JSON Lines, not CSV: read it with Transactions.read_json"),
    ('[{"order_id": 1, "sku": "A"}]',
     r"orders.jsonl holds a JSON array, not CSV: read it with Transactions.read_json")])
def test_json_is_named_with_what_reads_it(tmp_path, text, match):
    """JSON read as CSV made headers of '{"order_id": 1' and advised --format baskets."""
    p = tmp_path / "orders.jsonl"
    p.write_text(text)
    with pytest.raises(UpsellDataError, match=match):
        Transactions.read_csv(p, columns={"order": "order_id", "item": "sku"})


def _ga4(events):
    """Google Analytics 4's BigQuery export as JSON Lines: one record per event, the bought
    items in a list, ``user_id`` empty (no sign-in) beside ``user_pseudo_id``, the time in
    microseconds written as a string (BigQuery's INT64 in JSON)."""
    import json

    out = []
    for k, (name, order, items) in enumerate(events):
        out.append({"event_date": "20210131", "event_timestamp": str(1612069510766593 + k),
                    "event_name": name, "user_id": None, "user_pseudo_id": f"{k % 2}.16120",
                    "event_params": [{"key": "page_title", "value": {"string_value": "Shop"}}],
                    "ecommerce": {"transaction_id": order},
                    "items": [{"item_id": i, "item_name": i.title(), "price": 2.5,
                               "quantity": "2"} for i in items]})
    return "".join(json.dumps(r) + "\n" for r in out)


GA4_EVENTS = [("page_view", None, []), ("view_item", None, ["mug"]),
              ("add_to_cart", None, ["mug"]), ("purchase", "T1", ["mug", "tea"]),
              ("purchase", "T2", ["tea"])]


def test_a_ga4_export_is_told_its_customer_purchases_and_time(tmp_path):
    p = tmp_path / "events.jsonl"
    p.write_text(_ga4(GA4_EVENTS))
    with pytest.raises(UpsellDataError, match=r"look like columns=\{'order': "
                       r"'ecommerce.transaction_id', 'item': 'items.item_id', 'customer': "
                       r"'user_pseudo_id', 'quantity': 'items.quantity', 'price': "
                       r"'items.price', 'time': 'event_timestamp', 'name': 'items.item_name'\} "
                       r"\('user_id' is empty in the rows looked at\); read its purchases with "
                       r"where=\{'event_name': 'purchase'\} \(--where event_name=purchase\); "
                       r"pass time_format='epoch_us' \(microseconds"):
        Transactions.read_json(p)
    tx = Transactions.read_json(p, where={"event_name": "purchase"}, time_format="epoch_us",
                                columns={"order": "ecommerce.transaction_id",
                                         "item": "items.item_id", "customer": "user_pseudo_id",
                                         "quantity": "items.quantity", "price": "items.price",
                                         "time": "event_timestamp"})
    assert tx.orders.ids.tolist() == ["T1", "T2"] and tx.quantity.tolist() == [2.0] * 3
    assert str(tx.time[0]) == "2021-01-31T05:05:10"
    # as Parquet (BigQuery's other export format) the nested records read the same way
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    pq.write_table(pajson.read_json(str(p)), tmp_path / "events.parquet")
    with pytest.raises(UpsellDataError, match=r"'customer': 'user_pseudo_id'.*\('user_id' is "
                       r"empty in the rows looked at\); read its purchases with where="
                       r"\{'event_name': 'purchase'\}.*time_format='epoch_us'"):
        Transactions.read_parquet(tmp_path / "events.parquet")
    again = Transactions.read_parquet(
        tmp_path / "events.parquet", where={"event_name": "purchase"}, time_format="epoch_us",
        columns={"order": "ecommerce.transaction_id", "item": "items.item_id",
                 "customer": "user_pseudo_id", "quantity": "items.quantity",
                 "time": "event_timestamp"})
    assert again.items.decode(again.item).tolist() == tx.items.decode(tx.item).tolist()
    assert again.report.rows_read == tx.report.rows_read
    # the same export flattened to CSV (one row per item) gets the same advice
    c = tmp_path / "events.csv"
    rows = [f"{name},{1612069510766593 + k},,{k % 2}.16120,{order or ''},{item}\n"
            for k, (name, order, items) in enumerate(GA4_EVENTS) for item in items or [""]]
    c.write_text("event_name,event_timestamp,user_id,user_pseudo_id,transaction_id,item_id\n"
                 + "".join(rows))
    with pytest.raises(UpsellDataError, match=r"'customer': 'user_pseudo_id'.*\('user_id' is "
                       r"empty in the rows looked at\); read its purchases with where="
                       r"\{'event_name': 'purchase'\}.*time_format='epoch_us'"):
        Transactions.read_csv(c)


def test_an_empty_column_stays_advised_when_no_other_header_fits(tmp_path):
    # an event log's first rows are views: its order id is empty there, and still the order
    rows = [f"{1433221332117 + i},{257597 + i % 7},view,{355908 + i % 11},\n" for i in range(50)]
    p = tmp_path / "events.csv"
    p.write_text("timestamp,visitorid,event,itemid,transactionid\n" + "".join(rows))
    with pytest.raises(UpsellDataError, match=r"columns=\{'order': 'transactionid', 'item': "
                       r"'itemid', 'customer': 'visitorid', 'time': 'timestamp'\}; read its "
                       r"purchases with where=\{'event': <the purchase event>\}") as got:
        Transactions.read_csv(p)
    assert "empty in the rows" not in str(got.value)


@pytest.mark.parametrize(("fmt", "scale"), [("epoch_us", 10**6), ("epoch_ns", 10**9)])
def test_times_in_microseconds_and_nanoseconds(tmp_path, fmt, scale):
    import json

    p = tmp_path / "lines.jsonl"
    p.write_text("".join(json.dumps({"order": o, "item": "a", "time": (1291191960 + o) * scale})
                         + "\n" for o in (1, 2)))
    with pytest.raises(UpsellDataError, match=f"pass time_format='{fmt}'"):
        Transactions.read_json(p)
    tx = Transactions.read_json(p, time_format=fmt)
    assert [str(t) for t in tx.time] == ["2010-12-01T08:26:01", "2010-12-01T08:26:02"]
    c = tmp_path / "lines.csv"
    c.write_text(f"order,item,time\n1,a,{1291191961 * scale}\n")
    assert str(Transactions.read_csv(c, time_format=fmt).time[0]) == "2010-12-01T08:26:01"


def test_kaggles_groceries_dataset_is_told_the_join_the_item_and_the_date_format(tmp_path):
    # Groceries_dataset.csv: a member's items of one day are one basket; the item is its name
    p = tmp_path / "Groceries_dataset.csv"
    p.write_text("Member_number,Date,itemDescription\n1808,21-07-2015,tropical fruit\n"
                 "1808,21-07-2015,whole milk\n2552,05-01-2015,whole milk\n")
    with pytest.raises(UpsellDataError, match=r"join those columns: columns=\{'order': "
                       r"\('Member_number', 'Date'\), 'customer': 'Member_number', 'time': "
                       r"'Date', 'item': 'itemDescription'\}; pass time_format='%d-%m-%Y' "
                       r"\(a first field above 12"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, time_format="%d-%m-%Y", columns={
        "order": ("Member_number", "Date"), "customer": "Member_number", "time": "Date",
        "item": "itemDescription"})
    assert (len(tx.orders), tx.items.ids.tolist()) == (2, ["tropical fruit", "whole milk"])


def test_a_bakerys_till_export_is_told_its_decimal_commas_and_date_and_time(tmp_path):
    # Kaggle's French bakery sales: prices "0,90 €", quantities "1.0", a date and a time column
    p = tmp_path / "Bakery_sales.csv"
    p.write_text(",date,time,ticket_number,article,Quantity,unit_price\n"
                 '0,2021-01-02,08:38,150040.0,BAGUETTE,1.0,"0,90 €"\n'
                 '1,2021-01-02,08:38,150040.0,PAIN AU CHOCOLAT,3.0,"1,20 €"\n'
                 '2,2021-01-02,09:14,150041.0,PAIN AU CHOCOLAT,2.0,"1,20 €"\n', encoding="utf-8")
    with pytest.raises(UpsellDataError, match=r"look like columns=\{'order': 'ticket_number', "
                       r"'item': 'article', 'quantity': 'Quantity', 'price': 'unit_price', "
                       r"'time': \('date', 'time'\)\}; the file writes decimal commas: pass "
                       r"decimal=','; 'time' holds times of day: joined to 'date'$"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, decimal=",", columns={
        "order": "ticket_number", "item": "article", "quantity": "Quantity",
        "price": "unit_price", "time": ("date", "time")})
    # "1.0" beside decimal commas: a point that cannot group thousands is a decimal point
    assert tx.quantity.tolist() == [1.0, 3.0, 2.0] and tx.price.tolist() == [0.9, 1.2, 1.2]
    assert str(tx.time[-1]) == "2021-01-02T09:14:00"
    # "1.234" under decimal=',' stays unread (1234 or 1.234?), named with its row
    q = tmp_path / "q.csv"
    q.write_text('order,item,quantity,price\n1,a,1.234,"0,90"\n')
    with pytest.raises(UpsellDataError, match=r"`quantity` '1.234' is not a number"):
        Transactions.read_csv(q, decimal=",")


def test_a_date_column_beside_a_time_of_day_column_is_advised_joined(tmp_path):
    # BreadBasket_DMS.csv: Date, Time, Transaction, Item
    p = tmp_path / "BreadBasket_DMS.csv"
    p.write_text("Date,Time,Transaction,Item\n30/10/2016,09:58:11,1,Bread\n"
                 "30/10/2016,10:05:34,2,Scandinavian\n")
    with pytest.raises(UpsellDataError, match=r"look like columns=\{'order': 'Transaction', "
                       r"'item': 'Item', 'time': \('Date', 'Time'\)\}; 'Time' holds times of "
                       r"day: joined to 'Date'; pass time_format='%d/%m/%Y'"):
        Transactions.read_csv(p)
    # mapped by hand without the date, the time of day says what it is
    with pytest.raises(UpsellDataError, match=r"'09:58:11' is not a timestamp .*times of day "
                       r"without a date"):
        Transactions.read_csv(p, columns={"order": "Transaction", "item": "Item",
                                          "time": "Time"})


def test_a_status_column_with_cancelled_orders_is_told_the_where_that_keeps_the_sold(tmp_path):
    # Kaggle's sales_data_sample.csv: a STATUS per line, some orders cancelled
    p = tmp_path / "sales_data_sample.csv"
    rows = [f"{10100 + i // 2},30,95.7,{i % 2 + 1},2871,2/24/2003 0:00,"
            f"{['Shipped', 'Cancelled', 'In Process', 'Shipped'][i % 4]},S10_{i % 3},"
            f"Land of Toys Inc.\n" for i in range(8)]
    p.write_text("ORDERNUMBER,QUANTITYORDERED,PRICEEACH,ORDERLINENUMBER,SALES,ORDERDATE,STATUS,"
                 "PRODUCTCODE,CUSTOMERNAME\n" + "".join(rows))
    with pytest.raises(UpsellDataError, match=r"'customer': 'CUSTOMERNAME'.*its 'STATUS' column "
                       r"holds 'Cancelled' \(25.0%\) in the rows looked at: to count only sold "
                       r"orders, leave those out with where=\{'STATUS': \{'not': "
                       r"\['Cancelled'\]\}\} \(--where 'STATUS!=Cancelled'\)"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, where={"STATUS": ["Shipped", "In Process"]},
                               time_format="%m/%d/%Y %H:%M", columns={
                                   "order": "ORDERNUMBER", "item": "PRODUCTCODE",
                                   "customer": "CUSTOMERNAME", "quantity": "QUANTITYORDERED",
                                   "price": "PRICEEACH", "time": "ORDERDATE"})
    assert len(tx) == 6 and tx.report.dropped == {
        "`STATUS` is not 'Shipped' or 'In Process' (where=)": 2}
    # statuses with nothing unsold, or filtered already: no such advice
    q = tmp_path / "paid.csv"
    q.write_text("Order ID,SKU,Status\n1,a,paid\n2,b,pending\n")
    with pytest.raises(UpsellDataError) as got:
        Transactions.read_csv(q)
    assert "to count only sold orders" not in str(got.value)


def test_google_analytics_not_set_is_no_id(tmp_path):
    # GA4 writes "(not set)" where it has no value: a purchase without a transaction id is
    # not one giant order of every such purchase, and a customer "(not set)" is anonymous
    p = tmp_path / "ga.csv"
    p.write_text("transaction_id,item_id,user_pseudo_id\nT1,a,u1\n(not set),b,u2\n"
                 "(not set),c,u3\nT2,a, (not set) \n")
    cols = {"order": "transaction_id", "item": "item_id", "customer": "user_pseudo_id"}
    with pytest.raises(UpsellDataError, match=r"row 2: `order` is '\(not set\)' \(Google "
                       r"Analytics' placeholder: no id\); pass invalid='drop'"):
        Transactions.read_csv(p, columns=cols)
    tx = Transactions.read_csv(p, columns=cols, invalid="drop")
    assert tx.orders.ids.tolist() == ["T1", "T2"] and tx.report.dropped == {
        "order id missing": 2}
    assert tx.report.repaired == {"customer id '(not set)' read as anonymous": 1}
    assert tx.customer.tolist() == [0, -1]


def test_a_file_without_a_header_line_is_told_so_and_read_by_position(tmp_path, capsys):
    # Taobao's UserBehavior.csv: user, item, category, behaviour, epoch seconds; no header
    rows = [f"{1 + i % 3},{2268318 + i % 5},2520377,{['pv', 'cart', 'buy'][i % 3]},"
            f"{1511544070 + 60 * i}\n" for i in range(12)]
    p = tmp_path / "UserBehavior.csv"
    p.write_text("".join(rows))
    with pytest.raises(UpsellDataError, match=r"its first line looks like data, not headers: "
                       r"a file without a header line is read with header=False, its columns "
                       r"named by position: 0 \('1'\), 1 \('2268318'\).*read its purchases "
                       r"with where=\{'3': 'buy'\}.*column 4 holds times: pass "
                       r"time_format='epoch'"):
        Transactions.read_csv(p)
    from upsell.cli import main

    assert main(["--quiet", "inspect", str(p), "--no-header", "--columns",
                 "order=0+4,customer=0,item=1,time=4", "--where", "3=buy",
                 "--time-format", "epoch"]) == 0
    assert "4 order lines" in capsys.readouterr().out
    assert main(["--quiet", "inspect", str(p)]) == 2
    err = capsys.readouterr().err
    assert "read with --no-header" in err and "--format baskets" not in err


def test_a_headerless_example_maps_the_times_and_prices_by_their_values(tmp_path):
    # Yoochoose's buys: session, ISO time, item, price, quantity; no header
    p = tmp_path / "yoochoose-buys.dat"
    p.write_text("".join(f"{420374 + i // 3},2014-04-06T18:44:58.{i:03d}Z,2145770{i % 4},"
                         f"{(i % 5) + 0.5},{1 + i % 2}\n" for i in range(12)))
    with pytest.raises(UpsellDataError, match=r"e\.g\. columns=\{'order': '0', 'item': '2', "
                       r"'time': '1', 'price': '3'\}"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, header=False, columns={"order": "0", "item": "2",
                                                         "time": "1", "price": "3"})
    assert len(tx.orders) == 4 and tx.report.rows_kept == 12


def test_lines_of_zero_quantity_and_price_are_counted_as_not_recorded():
    # half of Yoochoose's buys have price 0 and quantity 0: the log did not record them
    from upsell.data.report import ZERO_BOTH

    tx = Transactions.from_arrays(order=[1, 1, 2, 2], item=["a", "b", "a", "c"],
                                  quantity=[1, 0, 0, 2], price=[2.0, 0.0, 3.0, 1.0])
    assert tx.report.dropped == {ZERO_BOTH: 1, "zero quantity": 1}
    kept = Transactions.from_arrays(order=[1, 1, 2, 2], item=["a", "b", "a", "c"])
    assert kept.report.rows_kept == 4


_HEADERS = ["user_id", "user_pseudo_id", "Status", "date", "time", "Date", "Time", "event_name",
            "unit_price", "Quantity", "17850", "123", "Member_number", "itemDescription",
            "ticket_number", "Profit", "Unit Cost", "transaction_id", "item_id", "BASKET_ID",
            "PROD_CODE", "CUST_CODE", "SHOP_DATE", "Product line", "increment_id", "ScanCount"]
_CELLS = ["", "(not set)", "08:26", "2021-01-02", "0,90 €", "1.0", "Cancelled", "paid", "pv",
          "buy", "1612069510766593", "abc", "12/31/2011", "1.234", "-3", "25:00", "x y",
          "20060413", "order_refunded", "\\N", "0", "2014-04-06T18:44:58.456Z"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_HEADERS), min_size=1, max_size=6, unique=True),
       st.lists(st.lists(st.sampled_from(_CELLS), min_size=6, max_size=6), max_size=6),
       st.sampled_from([",", ";"]))
def test_property_a_files_advice_is_an_error_never_a_crash(tmp_path_factory, headers, rows,
                                                           delimiter):
    """Whatever headers and cells a till, an analytics export or a headerless dump has, the
    read gives Transactions or an UpsellDataError, whose advice (the columns, the empty
    customer, the status, the date and time, the first line of data) is text."""
    import csv

    p = tmp_path_factory.mktemp("advice") / "lines.csv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(headers)
        for r in rows:
            w.writerow(r[:len(headers)])
    try:
        Transactions.read_csv(p, delimiter=delimiter)
    except UpsellDataError as exc:
        assert isinstance(str(exc), str) and str(exc)


def test_not_set_is_no_id_in_arrays_and_frames_too():
    tx = Transactions.from_arrays(order=["T1", "(not set)", "T2"], item=["a", "b", "a"],
                                  customer=["u1", "u2", " (not set)"], invalid="drop")
    assert tx.orders.ids.tolist() == ["T1", "T2"] and tx.customer.tolist() == [0, -1]
    assert tx.report.repaired == {"customer id '(not set)' read as anonymous": 1}
    with pytest.raises(UpsellDataError, match=r"row 2: `order` is '\(not set\)'"):
        Transactions.from_arrays(order=["T1", "(not set)"], item=["a", "b"])


def test_lines_of_unsold_orders_read_as_they_are_are_flagged(tmp_path):
    # headers that are the role names: no columns error, so no advice; the data report says it
    p = tmp_path / "lines.csv"
    p.write_text("order,item,price,Financial Status\n1,a,2.0,paid\n2,b,3.0,refunded\n"
                 "3,a,2.0,paid\n3,b,3.0,paid\n")
    tx = Transactions.read_csv(p)
    assert len(tx) == 4 and {k: v for k, v in tx.report.flagged.items()} == {
        "order status 'refunded' (not sold, kept: where= on 'Financial Status' leaves it "
        "out)": 1}
    tx = Transactions.read_csv(p, where={"Financial Status": "paid"})
    assert len(tx) == 3 and not tx.report.flagged
    # the same in a Parquet file, and over several files read as one
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pq.write_table(pacsv.read_csv(p), tmp_path / "lines.parquet")
    assert sum(Transactions.read_parquet(tmp_path / "lines.parquet").report.flagged.values()) == 1
    (tmp_path / "more.csv").write_text("order,item,price,Financial Status\n4,a,2.0,voided\n")
    both = Transactions.read_csv([p, tmp_path / "more.csv"])
    assert sorted(both.report.flagged.values()) == [1, 1]
    assert any("'voided'" in k for k in both.report.flagged)
    # WooCommerce's raw statuses; a partial refund was a sale
    (tmp_path / "woo.csv").write_text("order,item,status\n1,a,wc-completed\n2,a,wc-cancelled\n"
                                      "3,b,partially_refunded\n")
    assert list(Transactions.read_csv(tmp_path / "woo.csv").report.flagged) == [
        "order status 'wc-cancelled' (not sold, kept: where= on 'status' leaves it out)"]


def test_prices_in_several_currencies_are_advised_and_flagged(tmp_path):
    """Shopify's export of a shop selling in USD and EUR: money figures would add them as
    they are. The columns error gives the where that reads one; read without it, the lines
    of the other currencies are flagged, in CSV and JSON Lines alike."""
    text = ("Name,Created at,Lineitem sku,Lineitem quantity,Lineitem price,Email,Currency\n"
            "#1001,2024-01-05 10:00:00 -0500,A,1,10,a@x.com,USD\n"
            "#1002,2024-01-06 10:00:00 -0500,B,2,9,b@x.com,EUR\n"
            "#1003,2024-01-07 10:00:00 -0500,A,1,10,a@x.com,USD\n")
    p = tmp_path / "orders_export.csv"
    p.write_text(text)
    with pytest.raises(UpsellDataError, match=r"its 'Currency' column holds 'USD' \(66\.7%\), "
                       r"'EUR' \(33\.3%\) in the rows looked at: money figures would add them "
                       r"as they are; read one with where=\{'Currency': 'USD'\}"):
        Transactions.read_csv(p)
    cols = {"order": "Name", "item": "Lineitem sku", "quantity": "Lineitem quantity",
            "price": "Lineitem price", "customer": "Email", "time": "Created at"}
    flag = ("price in 'EUR', not the most lines' 'USD' (money figures add currencies as they "
            "are: where= on 'Currency' reads one)")
    head, *rows = [r.split(",") for r in text.splitlines()]
    (tmp_path / "o.jsonl").write_text("".join(
        json.dumps(dict(zip(head, r, strict=True))) + "\n" for r in rows))
    for tx in (Transactions.read_csv(p, columns=cols),
               Transactions.read_json(tmp_path / "o.jsonl", columns=cols)):
        assert dict(tx.report.flagged) == {flag: 1}
    one = Transactions.read_csv(p, columns=cols, where={"Currency": "USD"})
    assert one.report.rows_kept == 2 and not one.report.flagged
