"""JSON Lines order lines (``Transactions.read_json``; the command line reads them by itself)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data import Transactions
from upsell.exceptions import UpsellDataError

ROWS = [
    {"InvoiceNo": "536365", "StockCode": "85123A", "Quantity": 6, "UnitPrice": 2.55,
     "CustomerID": 17850, "InvoiceDate": "2010-12-01 08:26:00", "Country": "United Kingdom"},
    {"InvoiceNo": "536365", "StockCode": "71053", "Quantity": 6, "UnitPrice": 3.39,
     "CustomerID": 17850, "InvoiceDate": "2010-12-01 08:26:00", "Country": "United Kingdom"},
    {"InvoiceNo": "536366", "StockCode": "22633", "Quantity": 6, "UnitPrice": 1.85,
     "CustomerID": None, "InvoiceDate": "2010-12-01 08:28:00", "Country": "France"},
    {"InvoiceNo": "C536379", "StockCode": "85123A", "Quantity": -1, "UnitPrice": 2.55,
     "CustomerID": 17850, "InvoiceDate": "2010-12-01 09:41:00", "Country": "United Kingdom"},
]
COLS = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
        "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate"}


def _jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


def _csv(rows):
    head = list(rows[0])
    out = ",".join(head) + "\n"
    for r in rows:
        out += ",".join("" if r[h] is None else str(r[h]) for h in head) + "\n"
    return out


def test_the_same_as_the_csv(tmp_path):
    (tmp_path / "a.jsonl").write_text(_jsonl(ROWS))
    (tmp_path / "a.csv").write_text(_csv(ROWS))
    a = Transactions.read_json(tmp_path / "a.jsonl", columns=COLS, cancel_prefix="C")
    b = Transactions.read_csv(tmp_path / "a.csv", columns=COLS, cancel_prefix="C")
    assert a.shape == b.shape
    for name in ("order", "item", "customer", "quantity", "price", "time"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.report.dropped == b.report.dropped and a.report.rows_read == 4


def test_gzip_where_and_several_files(tmp_path):
    with gzip.open(tmp_path / "jan.jsonl.gz", "wt") as fh:
        fh.write(_jsonl(ROWS[:2]))
    (tmp_path / "feb.jsonl").write_text(_jsonl(ROWS[2:]))
    tx = Transactions.read_json([tmp_path / "jan.jsonl.gz", tmp_path / "feb.jsonl"],
                                columns=COLS, where={"Country": "United Kingdom"},
                                cancel_prefix="C")
    assert tx.report.rows_read == 4
    assert [n for why, n in tx.report.dropped.items() if "Country" in why] == [1]  # France


def test_errors_name_the_column_or_the_file(tmp_path):
    nested = [{**r, "tags": ["a", "b"], "meta": {"x": 1}} for r in ROWS]
    (tmp_path / "n.jsonl").write_text(_jsonl(nested))
    assert Transactions.read_json(tmp_path / "n.jsonl", columns=COLS).report.rows_read == 4
    with pytest.raises(UpsellDataError, match=r"column 'tags' of .*n.jsonl holds nested "
                                              r"values \(list<item: string>\): map the "
                                              r"fields of its objects \(none\)"):
        Transactions.read_json(tmp_path / "n.jsonl", columns={**COLS, "item": "tags"})
    # an object's keys are columns by their dotted paths
    with pytest.raises(UpsellDataError, match=r"column 'meta' \(for `item`\) is not in .*"
                                              r"'meta.x'"):
        Transactions.read_json(tmp_path / "n.jsonl", columns={**COLS, "item": "meta"})
    assert Transactions.read_json(tmp_path / "n.jsonl", columns={**COLS, "item": "meta.x"}
                                  ).items.ids.tolist() == [1]
    (tmp_path / "bad.json").write_text('{"a": 1}\n{"a": ')
    with pytest.raises(UpsellDataError, match=r"bad.json could not be read as JSON Lines"):
        Transactions.read_json(tmp_path / "bad.json", columns=COLS)
    with pytest.raises(UpsellDataError, match=r"no `order` column .* its headers look like "
                                              r"columns=\{'order': 'InvoiceNo'"):
        Transactions.read_json(tmp_path / "n.jsonl")


def test_the_command_line_reads_json_lines(tmp_path):
    p = tmp_path / "lines.jsonl.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(_jsonl(ROWS * 3))
    cols = ",".join(f"{k}={v}" for k, v in COLS.items())
    run = subprocess.run([sys.executable, "-m", "upsell", "report", str(p), "--columns", cols,
                          "--cancel-prefix", "C", "-o", str(tmp_path / "r.html")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    bad = subprocess.run([sys.executable, "-m", "upsell", "report", str(p), "--columns", cols,
                          "--delimiter", ";"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--delimiter goes with CSV files" in bad.stderr, bad.stderr
    code = ("import sys, upsell as us\n"
            f"us.Transactions.read_json({str(p)!r}, columns={COLS!r})\n"
            "assert 'pandas' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


#: API orders (Shopify's, WooCommerce's): one record per order, its lines in a list of objects
API_ORDERS = [
    {"id": 1001, "created_at": "2024-01-05T10:00:00-05:00", "financial_status": "paid",
     "customer": {"id": 7, "email": "a@x"},
     "line_items": [{"sku": "TEE-1", "quantity": 2, "price": "19.99", "title": "Tee"},
                    {"sku": "CAP-1", "quantity": 1, "price": "9.50", "title": "Cap"}]},
    {"id": 1002, "created_at": "2024-01-06T11:00:00-05:00", "financial_status": "refunded",
     "customer": {"id": 8, "email": "b@x"},
     "line_items": [{"sku": "TEE-1", "quantity": 1, "price": "19.99", "title": "Tee"}]},
    {"id": 1003, "created_at": "2024-01-07T12:00:00-05:00", "financial_status": "paid",
     "customer": None, "line_items": []},
    {"id": 1004, "created_at": "2024-01-08T12:00:00-05:00", "financial_status": "paid",
     "customer": {"id": 7, "email": "a@x"}, "refunds": [{"id": 1}],
     "line_items": [{"sku": "MUG-1", "quantity": 1, "price": "abc", "title": "Mug"},
                    {"sku": "CAP-1", "quantity": 3, "price": "9.50", "title": "Cap"}]},
]
API_COLS = {"order": "id", "item": "line_items.sku", "customer": "customer.id",
            "quantity": "line_items.quantity", "price": "line_items.price",
            "time": "created_at"}


def test_api_orders_their_line_items_are_the_lines(tmp_path):
    p = tmp_path / "orders.jsonl"
    p.write_text(_jsonl(API_ORDERS))
    tx = Transactions.read_json(p, columns=API_COLS, invalid="drop")
    assert tx.report.rows_read == 6  # five line items and the order without any
    assert tx.report.dropped == {"price not a number": 1,
                                 "record with no 'line_items' objects (an order without "
                                 "lines)": 1}
    assert tx.orders.decode(tx.order).tolist() == [1001, 1001, 1002, 1004]
    assert tx.items.decode(tx.item).tolist() == ["CAP-1", "TEE-1", "TEE-1", "CAP-1"]
    assert tx.quantity.tolist() == [1.0, 2.0, 1.0, 3.0]
    assert tx.customers.decode(tx.customer).tolist() == [7, 7, 8, 7]
    # an error names the record (its line) and its order
    with pytest.raises(UpsellDataError, match=r"row 4 \(order 1004\): `price` 'abc' is not a "
                                              r"number"):
        Transactions.read_json(p, columns=API_COLS)
    paid = Transactions.read_json(p, columns=API_COLS, invalid="drop",
                                  where={"financial_status": "paid"})
    assert paid.report.rows_read == 6 and paid.orders.ids.tolist() == [1001, 1004]
    with pytest.raises(UpsellDataError, match=r"fields of two lists of .*orders.jsonl, "
                                              r"'line_items' and 'refunds'"):
        Transactions.read_json(p, columns={**API_COLS, "name": "refunds.id"})
    with pytest.raises(UpsellDataError, match=r"its headers look like columns=\{'order': 'id', "
                                              r"'item': 'line_items.sku', 'customer': "
                                              r"'customer.id', 'quantity': "
                                              r"'line_items.quantity', 'price': "
                                              r"'line_items.price', 'time': 'created_at'"):
        Transactions.read_json(p)
    with pytest.raises(UpsellDataError, match=r"column 'line_items' of .* holds nested values "
                                              r"\(list<item: struct.*: map the fields of its "
                                              r"objects \(line_items.sku, line_items.quantity"):
        Transactions.read_json(p, columns={**API_COLS, "item": "line_items"})
    code = ("import sys, upsell as us\n"
            f"us.Transactions.read_json({str(p)!r}, columns={API_COLS!r}, invalid='drop')\n"
            "assert 'pandas' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_command_line_reads_a_folder_of_json_lines(tmp_path, capsys):
    from upsell.cli import main

    (tmp_path / "lines").mkdir()
    (tmp_path / "lines" / "2010-12.jsonl").write_text(_jsonl(ROWS[:2]))
    with gzip.open(tmp_path / "lines" / "2011-01.jsonl.gz", "wt") as fh:
        fh.write(_jsonl(ROWS[2:]))
    cols = ",".join(f"{k}={v}" for k, v in COLS.items())
    assert main(["--quiet", "inspect", str(tmp_path / "lines"), "--columns", cols]) == 0
    out = capsys.readouterr().out
    assert "4 rows read" in out and "2011-01.jsonl.gz: 2 rows read" in out, out
    # a folder of other files, and an empty one, are named as such
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("hi")
    (tmp_path / "empty").mkdir()
    for folder, said in (("notes", "is not a folder of order lines: it holds no CSV, JSON "
                                   "Lines, workbook or Parquet files (README.md;"),
                         ("empty", "is an empty folder: no order lines to read")):
        assert main(["--quiet", "inspect", str(tmp_path / folder)]) == 2
        assert said in capsys.readouterr().err
    (tmp_path / "blank.jsonl").write_text("{}\n")
    with pytest.raises(UpsellDataError, match=r"no `order` column .*; it has no columns"):
        Transactions.read_json(tmp_path / "blank.jsonl")


_KINDS = {
    "int": st.integers(-5, 10**12), "float": st.floats(allow_nan=False),
    "bool": st.booleans(),
    "text": st.sampled_from(["", " ", "A", "17850", "2010-12-01 08:26:00", "x,y", "NULL",
                             "12/1/2010", "-3", "1e400"]),
}


@settings(max_examples=80, deadline=None)
@given(st.data(), st.integers(1, 8))
def test_property_any_json_values_read_or_are_named(tmp_path_factory, data, n):
    """Whatever JSON type each column has (pyarrow refuses a column that changes type, naming
    it), and whatever its values, the read keeps or drops (and counts) every line, or stops
    with an UpsellDataError; never another exception. (Times stay times: a boolean time
    column is refused, named, before any line is looked at.)"""
    keys = ("o", "i", "c", "q", "p")
    kinds = {k: data.draw(st.sampled_from(sorted(_KINDS)), label=k) for k in keys}
    times = st.sampled_from(["2010-12-01 08:26:00", "2011-01-05", "2011-01-05T10:00:00Z"])
    rows = [{**{k: data.draw(st.none() | _KINDS[kinds[k]]) for k in keys},
             "t": data.draw(times)} for _ in range(n)]
    d = tmp_path_factory.mktemp("js")
    (d / "l.jsonl").write_text(_jsonl(rows))
    cols = {"order": "o", "item": "i", "customer": "c", "quantity": "q", "price": "p",
            "time": "t"}
    try:
        tx = Transactions.read_json(d / "l.jsonl", columns=cols, invalid="drop")
    except UpsellDataError:
        return
    rep = tx.report
    assert rep.rows_read == len(rows) == rep.rows_kept + rep.n_dropped  # every line counted
    assert len(tx) == rep.rows_kept


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(st.fixed_dictionaries(
    {"sku": st.sampled_from(["A", "B", "C", ""]), "quantity": st.integers(-2, 5) | st.none()}),
    max_size=4)), min_size=1, max_size=8))
def test_property_every_line_item_is_a_line_or_counted(tmp_path_factory, items):
    """Whatever the records' lists (empty, missing, null, objects with blank or missing
    fields), each object is one order line, kept or dropped and counted, and each record
    without any is counted as left out: rows read = objects + records without objects."""
    rows = [{"id": j, "created_at": "2024-01-05T10:00:00", "customer": {"id": j % 3},
             **({} if its is None and j % 2 else {"line_items": its})}
            for j, its in enumerate(items)]
    if not any(its for its in items):  # no line at all: the file has no order lines
        rows.append({"id": 99, "line_items": [{"sku": "A", "quantity": 1}]})
        items = [*items, [{"sku": "A", "quantity": 1}]]
    d = tmp_path_factory.mktemp("nested")
    (d / "o.jsonl").write_text(_jsonl(rows))
    try:
        tx = Transactions.read_json(d / "o.jsonl", columns=API_COLS | {"price": None},
                                    invalid="drop")
    except UpsellDataError as exc:  # pyarrow names a field whose type it cannot unify
        assert "o.jsonl" in str(exc)
        return
    objects = sum(len(its) for its in items if its)
    empty = sum(1 for its in items if not its)
    rep = tx.report
    assert rep.rows_read == objects + empty == rep.rows_kept + rep.n_dropped
    assert len(tx) == rep.rows_kept


def test_a_json_array_of_records_reads_as_its_lines(tmp_path, capsys):
    """An API's list of orders is one JSON document, an array (WooCommerce's REST orders),
    or an object holding it ({"orders": [...]}: Shopify's): read as JSON Lines are."""
    lines = Transactions.read_json(_write(tmp_path / "o.jsonl", _jsonl(API_ORDERS)),
                                   columns=API_COLS, invalid="drop")
    for name, doc in (("array.json", API_ORDERS), ("api.json", {"orders": API_ORDERS,
                                                                "count": 4})):
        p = _write(tmp_path / name, json.dumps(doc, indent=2))
        tx = Transactions.read_json(p, columns=API_COLS, invalid="drop")
        assert tx.to_pandas().equals(lines.to_pandas()) and tx.report.dropped == \
            lines.report.dropped, name
    from upsell.cli import main

    assert main(["--quiet", "inspect", str(tmp_path / "array.json"), "--columns",
                 ",".join(f"{k}={v}" for k, v in API_COLS.items()), "--invalid", "drop"]) == 0
    assert "order lines" in capsys.readouterr().out
    for text, match in (("[1, 2]", r"record 1 of its JSON array is int '1', not an object"),
                        ("[]", r"holds an empty JSON array"),
                        ('[{"id": 1}, {"id": "x"}]', r"records do not share their types"),
                        ('{"a": [{"id": 1}]}', r"it has 'a', 'a.id'")):  # no wrapper key
        with pytest.raises(UpsellDataError, match=match):
            Transactions.read_json(_write(tmp_path / "e.json", text), columns=API_COLS)


def _write(path, text):
    path.write_text(text)
    return path


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "id": st.integers(1, 5),
    "sku": st.text(alphabet='ab[]{},:"\\\n\t é', min_size=1, max_size=6).filter(str.strip),
    "qty": st.integers(1, 9)}), min_size=1, max_size=8),
    st.sampled_from([None, 1, 4]), st.booleans())
def test_property_a_json_array_reads_as_its_json_lines(tmp_path_factory, rows, indent, wrap):
    """Records whose text holds brackets, braces, commas, quotes and escaped line breaks
    read the same from an array (pretty-printed or not, wrapped or not) as from lines."""
    d = tmp_path_factory.mktemp("arr")
    cols = {"order": "id", "item": "sku", "quantity": "qty"}
    want = Transactions.read_json(_write(d / "a.jsonl", _jsonl(rows)), columns=cols)
    doc = {"meta": {"page": [1, 2]}, "results": rows} if wrap else rows
    got = Transactions.read_json(_write(d / "a.json", json.dumps(doc, indent=indent,
                                                                 ensure_ascii=False)),
                                 columns=cols)
    assert got.to_pandas().equals(want.to_pandas())
