"""JSON Lines order lines (``Transactions.read_json``; the command line reads them by itself)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest

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
    with pytest.raises(UpsellDataError, match=r"column 'meta' of .*n.jsonl holds nested "
                                              r"values \(struct<x: int64>\): flatten them"):
        Transactions.read_json(tmp_path / "n.jsonl", columns={**COLS, "item": "meta"})
    (tmp_path / "arr.json").write_text(json.dumps(ROWS))
    with pytest.raises(UpsellDataError, match=r"arr.json could not be read as JSON Lines"):
        Transactions.read_json(tmp_path / "arr.json", columns=COLS)
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
