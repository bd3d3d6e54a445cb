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
