"""Event logs (views, carts, purchases in one file): ``where`` reads the purchases, and an
event log read as order lines stops the read instead of counting every view as a sale."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

HEAD = "event_time,event_type,product_id,price,user_id,user_session\n"
COLUMNS = {"order": "user_session", "item": "product_id", "customer": "user_id",
           "time": "event_time", "price": "price"}


def _log(events):
    """CSV text of ``(event, session, product, user)`` rows, a second apart; a view carries
    no price and no session (as exports often leave them)."""
    rows = []
    for k, (ev, s, p, u) in enumerate(events):
        session = "" if ev == "view" else f"s{s}"
        price = f"{1.5 + p:.2f}" if ev != "view" else ""
        rows.append(f"2019-10-01 00:{k // 60:02d}:{k % 60:02d} UTC,{ev},{p},{price},{u},"
                    f"{session}\n")
    return rows


def _same(got, want):
    assert got.shape == want.shape
    for name in ("order", "item", "customer", "price", "time"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    for name in ("orders", "items", "customers"):
        assert getattr(got, name).ids.tolist() == getattr(want, name).ids.tolist()


events = st.lists(st.tuples(st.sampled_from(["view", "cart", "purchase"]), st.integers(0, 6),
                            st.integers(0, 9), st.integers(0, 3)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=events, cut=st.integers(0, 60))
def test_where_reads_the_purchases_as_the_purchases_alone(tmp_path, log, cut):
    """Any event log, in one file or two: where={'event_type': 'purchase'} reads what the
    file of its purchase rows alone reads (the same arrays, ids and counts, or the same
    error), and counts the other rows as dropped."""
    # a session belongs to one user in a real log
    log = [(ev, s, p, s % 4) for ev, s, p, _ in log]
    rows = _log(log)
    (tmp_path / "log.csv").write_text(HEAD + "".join(rows))
    (tmp_path / "parts").mkdir(exist_ok=True)
    (tmp_path / "parts" / "a.csv").write_text(HEAD + "".join(rows[:cut]))
    (tmp_path / "parts" / "b.csv").write_text(HEAD + "".join(rows[cut:]))
    bought = [r for r, e in zip(rows, log, strict=True) if e[0] == "purchase"]
    (tmp_path / "bought.csv").write_text(HEAD + "".join(bought))
    keep = {"event_type": "purchase"}
    if not bought:  # nothing left: the read says which rule took the rows
        with pytest.raises(UpsellDataError, match=r"no order lines left .*`event_type` is not "
                                                  r"'purchase' \(where=\): "):
            Transactions.read_csv(tmp_path / "log.csv", columns=COLUMNS, where=keep)
        return
    try:
        want = Transactions.read_csv(tmp_path / "bought.csv", columns=COLUMNS)
    except UpsellDataError as exc:
        with pytest.raises(UpsellDataError) as got:
            Transactions.read_csv(tmp_path / "log.csv", columns=COLUMNS, where=keep)
        assert str(got.value).split(": ")[-1] == str(exc).split(": ")[-1]
        return
    for path in (tmp_path / "log.csv", tmp_path / "parts"):
        got = Transactions.read_csv(path, columns=COLUMNS, where=keep)
        _same(got, want)
        assert got.report.rows_read == len(rows)
        assert got.report.dropped.get("`event_type` is not 'purchase' (where=)", 0) == \
            len(rows) - len(bought)


def test_an_event_log_read_as_order_lines_stops_with_advice(tmp_path):
    log = tmp_path / "2019-Oct.csv"
    log.write_text(HEAD + "".join(_log([("view", 1, 1, 1)] * 6 + [("cart", 1, 1, 1)] * 3
                                       + [("purchase", 1, 1, 1)])))
    with pytest.raises(UpsellDataError, match=r"2019-Oct\.csv is an event log, not order lines: "
                                              r"its column 'event_type' holds 'view' \(60\.0%\), "
                                              r"'cart' \(30\.0%\), 'purchase' \(10\.0%\); read its "
                                              r"purchases with where=\{'event_type': 'purchase'\} "
                                              r"\(--where event_type=purchase\)"):
        Transactions.read_csv(log, columns=COLUMNS)
    # RetailRocket's log: 'transaction' is its purchase
    rr = tmp_path / "events.csv"
    rr.write_text("timestamp,visitorid,event,itemid,transactionid\n"
                  "1433221332117,1,view,7,\n1433224214164,2,transaction,8,4000\n")
    with pytest.raises(UpsellDataError, match=r"where=\{'event': 'transaction'\}"):
        Transactions.read_csv(rr, columns={"order": "transactionid", "item": "itemid"})
    tx = Transactions.read_csv(rr, columns={"order": "transactionid", "item": "itemid",
                                            "customer": "visitorid", "time": "timestamp"},
                               time_format="epoch_ms", where={"event": "transaction"})
    assert tx.shape == (1, 1, 1) and tx.report.dropped == {"`event` is not 'transaction' (where=)": 1}
    # a column of that name that holds no browsing events is read as it is
    ok = tmp_path / "erp.csv"
    ok.write_text("order,item,action\n1,a,sale\n2,b,refund\n")
    assert Transactions.read_csv(ok).shape == (2, 2, 2)


def test_where_on_several_columns_and_values_and_bad_where(tmp_path):
    p = tmp_path / "lines.csv"
    p.write_text("order,item,status,channel\n1,a,paid,1\n1,b,paid,2\n2,a,cancelled,1\n"
                 "3,c,shipped,2\n4,d,paid, 2 \n")
    tx = Transactions.read_csv(p, columns={"order": "order", "item": "item", "channel": "channel"},
                               where={"status": ["paid", "shipped"], "channel": 2})
    assert sorted(tx.orders.ids.tolist()) == [1, 3, 4]
    assert dict(tx.report.dropped) == {"`status` is not 'paid' or 'shipped' (where=)": 1,
                                       "`channel` is not '2' (where=)": 1}
    with pytest.raises(UpsellDataError, match=r"column 'state' \(of `where`\) is not in .*"
                                              r"it has 'order', 'item', 'status', 'channel'"):
        Transactions.read_csv(p, where={"state": "paid"})
    # the rows left out are not read by any rule: a view's price may say "free"
    views = tmp_path / "views.csv"
    views.write_text("order,item,price,event\n1,a,2.5,purchase\n,b,free,view\n2,c,3,purchase\n")
    assert Transactions.read_csv(views, where={"event": "purchase"}).shape == (2, 2, 2)
    for bad in ("paid", {}, {"status": []}, {"status": None}, {"status": [True]}):
        with pytest.raises(UpsellDataError, match="`where` maps column headers"):
            Transactions.read_csv(p, where=bad)


def test_where_in_parquet_and_workbooks(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"o": [1, 1, 2, 3], "i": ["a", "b", "a", "c"],
                      "event": ["purchase", "purchase", "view", "purchase"], "ch": [1, 2, 1, 2]})
    pq.write_table(table, tmp_path / "log.parquet")
    with pytest.raises(UpsellDataError, match=r"is an event log, not order lines"):
        Transactions.read_parquet(tmp_path / "log.parquet", columns={"order": "o", "item": "i"})
    tx = Transactions.read_parquet(tmp_path / "log.parquet", columns={"order": "o", "item": "i"},
                                   where={"event": "purchase", "ch": 2})
    assert tx.orders.ids.tolist() == [1, 3]
    assert dict(tx.report.dropped) == {"`event` is not 'purchase' (where=)": 1,
                                       "`ch` is not '2' (where=)": 1}
    pytest.importorskip("python_calamine")
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [["o", "i", "event"], [1, "a", "purchase"], [2, "b", "view"], [3, "c", "purchase"]]:
        ws.append(row)
    wb.save(tmp_path / "log.xlsx")
    with pytest.raises(UpsellDataError, match=r"log\.xlsx sheet 'Sheet' is an event log"):
        Transactions.read_excel(tmp_path / "log.xlsx", columns={"order": "o", "item": "i"})
    tx = Transactions.read_excel(tmp_path / "log.xlsx", columns={"order": "o", "item": "i"},
                                 where={"event": "purchase"})
    assert tx.orders.ids.tolist() == [1, 3]


def test_the_command_line_reads_an_event_log_with_where(tmp_path, capsys):
    from upsell.cli import main

    log = tmp_path / "events.csv"
    log.write_text(HEAD + "".join(_log([("view", 1, 1, 1), ("purchase", 1, 1, 1),
                                        ("purchase", 2, 3, 2), ("cart", 3, 2, 3),
                                        ("purchase", 3, 2, 3)])))
    cols = ["--columns", ",".join(f"{k}={v}" for k, v in COLUMNS.items())]
    assert main(["--quiet", "inspect", str(log), *cols]) == 2
    assert "--where event_type=purchase" in capsys.readouterr().err
    out = io.StringIO()
    assert main(["--quiet", "inspect", str(log), *cols, "--where", "event_type=purchase"],
                out=out) == 0
    assert "3 kept" in out.getvalue() and "`event_type` is not 'purchase' (where=): 2" in out.getvalue()
    out = io.StringIO()  # a column given twice: either value
    assert main(["--quiet", "inspect", str(log), *cols, "--where", "event_type=purchase",
                 "--where", "event_type=cart"], out=out) == 0
    assert "4 kept" in out.getvalue()
    assert main(["--quiet", "inspect", str(log), *cols, "--where", "event_type"]) == 2
    assert "--where takes HEADER=VALUE" in capsys.readouterr().err
    page = tmp_path / "report.html"
    assert main(["--quiet", "report", str(log), *cols, "--where", "event_type=purchase",
                 "--out", str(page)]) == 0
    assert "is not &#x27;purchase&#x27; (where=)" in page.read_text()


def test_a_row_where_keeps_is_named_by_its_row_in_the_file(tmp_path):
    """The rows where leaves out are dropped as the file is parsed, so the rows kept are
    renumbered: an error still names the row of the file (and of the file among several)."""
    rows = _log([("view", 1, 1, 1)] * 5 + [("purchase", 1, 2, 1), ("cart", 2, 1, 2),
                                           ("purchase", 2, 3, 2)])
    rows[-1] = rows[-1].replace(",4.50,", ",free,")  # the 8th data row: a bad price
    (tmp_path / "log.csv").write_text(HEAD + "".join(rows))
    keep = {"event_type": "purchase"}
    with pytest.raises(UpsellDataError, match=r"^row 8 \(order 's2'\): `price` 'free' is not"):
        Transactions.read_csv(tmp_path / "log.csv", columns=COLUMNS, where=keep)
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.csv").write_text(HEAD + "".join(rows[:6]))
    (tmp_path / "parts" / "b.csv").write_text(HEAD + "".join(rows[6:]))
    with pytest.raises(UpsellDataError, match=r"/b\.csv row 2 \(order 's2'\): `price` 'free'"):
        Transactions.read_csv(tmp_path / "parts", columns=COLUMNS, where=keep)
    # a rule's error too (a purchase without its session), in the file's rows
    rows[-1] = rows[-1].replace(",free,", ",4.50,").replace(",s2\n", ",\n")
    (tmp_path / "log.csv").write_text(HEAD + "".join(rows))
    with pytest.raises(UpsellDataError, match=r"^row 8: `order` is empty"):
        Transactions.read_csv(tmp_path / "log.csv", columns=COLUMNS, where=keep)
    (tmp_path / "parts" / "b.csv").write_text(HEAD + "".join(rows[6:]))
    tx = Transactions.read_csv(tmp_path / "parts", columns=COLUMNS, where=keep,
                               invalid="drop")
    assert dict(tx.report.files) == {str(tmp_path / "parts" / "a.csv"): 6,
                                     str(tmp_path / "parts" / "b.csv"): 2}
    assert tx.report.rows_read == 8 and tx.report.rows_kept == 1


def test_where_on_compressed_quoted_and_joined_logs(tmp_path):
    """gzip files and ZIP members are filtered as they are inflated; quoted fields that span
    lines, a header line repeated (logs joined with cat) and rows that fail two ``where``
    columns are each counted once, under their own reason."""
    import gzip
    import zipfile

    head = "event_type,user_session,product_id,note,channel\n"
    body = ('view,,1,"two\nlines",web\npurchase,s1,2,"ok",web\n'
            'purchase,s2,3,,shop\ncart,s3,4,,shop\n'
            + head + 'purchase,s3,5,"a, b",web\nview,,1,,web\n')
    cols = {"order": "user_session", "item": "product_id"}
    keep = {"event_type": ["purchase"], "channel": "web"}
    (tmp_path / "log.csv").write_text(head + body)
    with gzip.open(tmp_path / "log.csv.gz", "wt") as fh:
        fh.write(head + body)
    with zipfile.ZipFile(tmp_path / "log.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("log.csv", head + body)
    for name in ("log.csv", "log.csv.gz", "log.zip"):
        tx = Transactions.read_csv(tmp_path / name, columns=cols, where=keep)
        assert tx.orders.ids.tolist() == ["s1", "s3"], name
        assert dict(tx.report.dropped) == {
            "`event_type` is not 'purchase' (where=)": 3,
            "`channel` is not 'web' (where=)": 1,
            "header line repeated (files joined into one)": 1}, name
        assert tx.report.rows_read == 7, name
    bad = head + 'purchase,s1,2,"never closed,web\n' + "view,,1,,web\n" * 3
    (tmp_path / "bad.csv").write_text(bad)
    with pytest.raises(UpsellDataError, match=r"bad\.csv line 2: a quoted field opens here and "
                                              r"never closes"):
        Transactions.read_csv(tmp_path / "bad.csv", columns=cols, where=keep)


def test_where_filters_parquet_row_groups_as_it_reads(tmp_path):
    """A Parquet log (a file in several row groups, or a folder of parts) is filtered a block
    at a time: the same purchases as the file of them alone, errors naming the file's row."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n = 200_000  # more than one block of rows
    ev = np.where(np.arange(n) % 50 == 7, "purchase", "view")
    table = pa.table({"o": (np.arange(n) // 100).astype(np.int64), "i": np.arange(n) % 37,
                      "event": ev, "price": np.where(ev == "view", "n/a", "2.5")})
    pq.write_table(table, tmp_path / "log.parquet", row_group_size=30_000)
    (tmp_path / "parts").mkdir()
    pq.write_table(table.slice(0, 70_000), tmp_path / "parts" / "a.parquet")
    pq.write_table(table.slice(70_000), tmp_path / "parts" / "b.parquet")
    bought = np.flatnonzero(ev == "purchase")
    pq.write_table(table.take(bought), tmp_path / "bought.parquet")
    cols = {"order": "o", "item": "i", "price": "price"}
    want = Transactions.read_parquet(tmp_path / "bought.parquet", columns=cols)
    for path in (tmp_path / "log.parquet", tmp_path / "parts"):
        got = Transactions.read_parquet(path, columns=cols, where={"event": "purchase"})
        assert got.shape == want.shape
        for name in ("order", "item", "price"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
        assert got.report.rows_read == n
        assert dict(got.report.dropped) == {"`event` is not 'purchase' (where=)": n - bought.size}
    prices = table.column("price").to_numpy(zero_copy_only=False).copy()
    prices[bought[1234]] = "free"
    pq.write_table(table.set_column(3, "price", pa.array(prices)), tmp_path / "log.parquet",
                   row_group_size=30_000)
    with pytest.raises(UpsellDataError, match=rf"^row {bought[1234] + 1:,} \(order "):
        Transactions.read_parquet(tmp_path / "log.parquet", columns=cols,
                                  where={"event": "purchase"})


def test_a_long_event_log_is_stopped_by_its_start(tmp_path):
    """A log too long to read before judging it is stopped by its first rows (the shares are
    theirs, and the message says so); a log whose start holds purchases only is judged whole."""
    rows = _log([("view", 1, 1, 1), ("view", 2, 2, 2), ("cart", 2, 2, 2),
                 ("purchase", 3, 3, 3)] * 10_000)  # 1.6 MB
    (tmp_path / "long.csv").write_text(HEAD + "".join(rows))
    with pytest.raises(UpsellDataError, match=r"'view' \(50\.0%\), 'cart' \(25\.0%\), "
                                              r"'purchase' \(25\.0%\) in its first [\d,]+ rows; "
                                              r"read its purchases with where"):
        Transactions.read_csv(tmp_path / "long.csv", columns=COLUMNS)
    late = _log([("purchase", k % 90, 3, k % 90 % 4) for k in range(30_000)]
                + [("view", 1, 1, 1)] * 30)
    (tmp_path / "late.csv").write_text(HEAD + "".join(late))
    with pytest.raises(UpsellDataError, match=r"'purchase' \(99\.9%\), 'view' \(0\.1%\); read"):
        Transactions.read_csv(tmp_path / "late.csv", columns=COLUMNS)


def test_where_on_an_order_level_column_written_on_the_first_line_only(tmp_path):
    """Shopify's export writes an order's Financial Status (as its email and time) on the
    order's first line only: where= keeps an order's later lines with it (counted as a
    repair) and leaves out all the lines of an order it leaves out."""
    head = "Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem sku\n"
    rows = ("#1001,a@x.com,paid,2021-03-04 10:15:32 -0500,1,MUG\n#1001,,,,2,TEA\n"
            "#1002,b@x.com,refunded,2021-03-05 09:00:00 -0500,1,MUG\n#1002,,,,1,CUP\n"
            "#1003,a@x.com,paid,2021-03-06 12:00:00 -0500,1,CUP\n#1003,,,,1,TEA\n#1003,,,,3,SPOON\n"
            ",,,,1,GHOST\n")
    (tmp_path / "orders_export.csv").write_text(head + rows)
    cols = {"order": "Name", "item": "Lineitem sku", "customer": "Email",
            "quantity": "Lineitem quantity", "time": "Created at"}
    tx = Transactions.read_csv(tmp_path / "orders_export.csv", columns=cols,
                               where={"Financial Status": "paid"})
    assert sorted(tx.orders.ids.tolist()) == ["#1001", "#1003"] and tx.shape[0] == 5
    assert tx.report.repaired["`Financial Status` blank: its order's value (where=)"] == 3
    assert dict(tx.report.dropped) == {"`Financial Status` is not 'paid' (where=)": 3}
    # the same read from a workbook (filtered once read) and from Parquet (as it is read)
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(tmp_path / "orders_export.csv", convert_options=pacsv.ConvertOptions(
        strings_can_be_null=False, column_types={"Name": "string", "Email": "string",
                                                 "Financial Status": "string",
                                                 "Created at": "string"}))
    pq.write_table(table, tmp_path / "orders_export.parquet")
    got = Transactions.read_parquet(tmp_path / "orders_export.parquet", columns=cols,
                                    where={"Financial Status": "paid"})
    assert got.shape == tx.shape
    for name in ("order", "item", "customer", "quantity", "time"):
        np.testing.assert_array_equal(getattr(got, name), getattr(tx, name), err_msg=name)
    assert dict(got.report.repaired) == dict(tx.report.repaired)
    assert dict(got.report.dropped) == dict(tx.report.dropped)


def test_where_not_leaves_out_the_values_named_in_every_reader(tmp_path):
    """``{"not": [...]}`` (``--where 'status!=canceled'``) leaves out the rows holding one
    of the values named and keeps every other, a blank one and a status seen nowhere else
    too: an export's rare statuses are not dropped for being missing from a list."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = {"o": ["1", "1", "2", "3", "4"], "i": ["a", "b", "a", "c", "d"],
            "status": ["paid", "paid", "canceled", "on-hold", ""]}
    (tmp_path / "s.csv").write_text("o,i,status\n" + "".join(
        f"{o},{i},{s}\n" for o, i, s in zip(*rows.values(), strict=True)))
    pq.write_table(pa.table(rows), tmp_path / "s.parquet")
    (tmp_path / "s.jsonl").write_text("".join(
        f'{{"o": "{o}", "i": "{i}", "status": "{s}"}}\n'
        for o, i, s in zip(*rows.values(), strict=True)))
    cols = {"order": "o", "item": "i"}
    where = {"status": {"not": ["canceled", "refunded"]}}
    for name, read in (("s.csv", Transactions.read_csv), ("s.parquet", Transactions.read_parquet),
                       ("s.jsonl", Transactions.read_json)):
        tx = read(tmp_path / name, columns=cols, where=where)
        assert [str(o) for o in tx.orders.ids.tolist()] == ["1", "3", "4"], name
        assert dict(tx.report.dropped) == {"`status` is 'canceled' or 'refunded' (where=)": 1}
    with pytest.raises(UpsellDataError, match=r"or \{'not': \[\.\.\.\]\}"):
        Transactions.read_csv(tmp_path / "s.csv", columns=cols, where={"status": {"no": "x"}})
    from upsell.cli import main

    out = io.StringIO()
    assert main(["--quiet", "inspect", str(tmp_path / "s.csv"), "--columns", "order=o,item=i",
                 "--where", "status!=canceled", "--where", "status!=refunded"], out=out) == 0
    assert "`status` is 'canceled' or 'refunded' (where=): 1" in out.getvalue()


def test_an_event_log_coded_by_numbers_is_stopped_and_its_dates_without_a_year_named(tmp_path):
    """Tmall's user log: action_type 0 click, 1 cart, 2 purchase, 3 favourite, and
    time_stamp MMDD. Read as order lines every click was a sale; with '%m%d' every time
    fell in 1900."""
    rows = "".join(f"{u},{i},{t},{a}\n" for u, i, t, a in [
        (1, 10, "0511", 0), (1, 10, "0511", 2), (2, 11, "1111", 0), (2, 12, "1111", 1),
        (2, 12, "1111", 2), (3, 10, "0630", 3), (3, 10, "0701", 0)])
    p = tmp_path / "user_log_format1.csv"
    p.write_text("user_id,item_id,time_stamp,action_type\n" + rows)
    with pytest.raises(UpsellDataError, match=r"its events are number codes \(0, 1, 2, 3\): "
                       r"read its purchases with where=\{'action_type': <the purchase code>\}"
                       r".*a month and a day without a year \(MMDD"):
        Transactions.read_csv(p)
    cols = {"order": ("user_id", "time_stamp"), "item": "item_id", "customer": "user_id"}
    with pytest.raises(UpsellDataError, match=r"is an event log, not order lines: its column "
                       r"'action_type' holds '0' \(42\.9%\)"):
        Transactions.read_csv(p, columns=cols)
    with pytest.raises(UpsellDataError, match=r"`time_format` '%m%d' reads no year, so every "
                       r"time would fall in 1900"):
        Transactions.read_csv(p, columns={**cols, "time": "time_stamp"}, time_format="%m%d",
                              where={"action_type": "2"})
    tx = Transactions.read_csv(p, columns=cols, where={"action_type": "2"})
    assert tx.report.rows_kept == 2
