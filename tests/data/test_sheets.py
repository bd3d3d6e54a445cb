"""A workbook whose table continues over several sheets (Online Retail II's two years, a
table longer than a sheet's 1,048,576 rows) reads as one history."""

from __future__ import annotations

import datetime as dt
import io
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

pytest.importorskip("python_calamine")
openpyxl = pytest.importorskip("openpyxl")

HEADER = ["Invoice", "StockCode", "Quantity", "InvoiceDate", "Price", "Customer ID"]
COLUMNS = {"order": "Invoice", "item": "StockCode", "customer": "Customer ID",
           "quantity": "Quantity", "price": "Price", "time": "InvoiceDate"}


def _lines(n, start=0):
    """``n`` order lines: three lines an order, a return now and then, one bad price."""
    out = []
    for i in range(start, start + n):
        order = f"C{5000 + i // 3}" if i % 17 == 16 else 5000 + i // 3
        out.append([order, f"A{i % 7}", -1 if i % 17 == 16 else 1 + i % 4,
                    dt.datetime(2010, 12, 1) + dt.timedelta(hours=i // 3),
                    0.0 if i % 29 == 0 else 1.25 + i % 5, 17000 + (i // 3) % 11])
    return out


def _book(path, sheets):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def _same(got, want):
    assert got.shape == want.shape
    for name in ("order", "item", "customer", "quantity", "price", "time"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    for name in ("orders", "items", "customers"):
        assert getattr(got, name).ids.tolist() == getattr(want, name).ids.tolist()
    assert dict(got.report.dropped) == dict(want.report.dropped)
    assert dict(got.report.repaired) == dict(want.report.repaired)


def test_a_table_continued_on_the_next_sheet_reads_as_one(tmp_path):
    lines = _lines(60)
    one = _book(tmp_path / "one.xlsx", [("All", [HEADER, *lines])])
    two = _book(tmp_path / "two.xlsx", [("Year 2009-2010", [HEADER, *lines[:31]]),
                                        ("Year 2010-2011", [HEADER, *lines[31:]])])
    want = Transactions.read_excel(one, columns=COLUMNS, cancel_prefix="C")
    got = Transactions.read_excel(two, columns=COLUMNS, cancel_prefix="C")
    _same(got, want)
    assert dict(got.report.files) == {f"{two} sheet 'Year 2009-2010'": 31,
                                      f"{two} sheet 'Year 2010-2011'": 29}
    assert got.report.source == f"{two} (2 sheets)"
    assert not got.report.not_read and not want.report.files
    # one sheet, a list of them (in its order), by name or position
    first = Transactions.read_excel(two, sheet=0, columns=COLUMNS, cancel_prefix="C")
    assert len(first.report.files) == 0 and first.report.rows_read == 31
    both = Transactions.read_excel(two, sheet=["Year 2009-2010", 1], columns=COLUMNS,
                                   cancel_prefix="C")
    _same(both, want)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, 45), max_size=3), notes_at=st.sampled_from([None, 0, 1, 9]),
       shuffle=st.booleans(), bad=st.sampled_from([None, 3, 40]))
def test_any_cut_into_sheets_reads_as_the_whole(tmp_path, cuts, notes_at, shuffle, bad):
    """Cut anywhere (empty continuation sheets too), with a notes sheet before, between or
    after, the columns in another order on one sheet, and a bad quantity somewhere: the same
    arrays, ids and counts as one sheet, or the same error naming the sheet and its row."""
    lines = _lines(45)
    if bad is not None:
        lines[bad] = [*lines[bad][:2], "lots", *lines[bad][3:]]
    bounds = [0, *sorted(cuts), len(lines)]
    sheets = []
    for j, (a, b) in enumerate(pairwise(bounds)):
        rows = [HEADER, *lines[a:b]]
        if shuffle and j == 1:  # this sheet's columns stand in another order
            rows = [r[::-1] for r in rows]
        sheets.append((f"Part {j + 1}", rows))
    if notes_at is not None:
        sheets.insert(min(notes_at, len(sheets)), ("Notes", [["Exported by"], ["the shop"]]))
    one = _book(tmp_path / "one.xlsx", [("All", [HEADER, *lines])])
    cut = _book(tmp_path / "cut.xlsx", sheets)
    try:
        want = Transactions.read_excel(one, columns=COLUMNS, cancel_prefix="C")
    except UpsellDataError as exc:
        with pytest.raises(UpsellDataError) as got_exc:
            Transactions.read_excel(cut, columns=COLUMNS, cancel_prefix="C")
        where = next(i for i, (a, b) in enumerate(pairwise(bounds))
                     if a <= bad < b)
        message = str(exc.value if hasattr(exc, "value") else exc)
        assert message.split(": ", 1)[1] == str(got_exc.value).split(": ", 1)[1]
        if len(bounds) > 2:  # several sheets: the sheet and its own row are named
            assert f"sheet 'Part {where + 1}' row {bad - bounds[where] + 1} " in str(got_exc.value)
        return
    got = Transactions.read_excel(cut, columns=COLUMNS, cancel_prefix="C")
    _same(got, want)
    assert sum(got.report.files.values()) == got.report.rows_read or len(bounds) == 2
    assert (f"{cut} sheet 'Notes'" in got.report.not_read) == (notes_at is not None)


def test_sheets_with_other_columns_or_none_are_named_not_read(tmp_path):
    lines = _lines(12)
    path = _book(tmp_path / "shop.xlsx", [
        ("Cover", [["Sales 2011"], [], ["prepared by finance"]]),
        ("Orders", [HEADER, *lines[:6]]),
        ("Products", [["StockCode", "Description"], ["A1", "mug"]]),
        ("Empty", []),
        ("More orders", [HEADER, *lines[6:]]),
        ("Header only", [HEADER]),
    ])
    tx = Transactions.read_excel(path, columns=COLUMNS, cancel_prefix="C")
    assert tx.report.rows_read == 12
    assert dict(tx.report.files) == {f"{path} sheet 'Orders'": 6,
                                     f"{path} sheet 'More orders'": 6,
                                     f"{path} sheet 'Header only'": 0}
    assert dict(tx.report.not_read) == {
        f"{path} sheet 'Cover'": "other columns: 'Sales 2011'",
        f"{path} sheet 'Products'": "other columns: 'StockCode', 'Description'",
        f"{path} sheet 'Empty'": "empty"}
    assert tx.report.to_dict()["not_read"] == dict(tx.report.not_read)
    text = str(tx.report)
    assert "not read  " in text and "sheet 'Products': other columns" in text


def test_sheet_lists_and_bad_sheets_are_refused_by_name(tmp_path):
    path = _book(tmp_path / "shop.xlsx", [("A", [HEADER, *_lines(3)]),
                                          ("B", [HEADER, *_lines(3, 3)])])
    with pytest.raises(UpsellDataError, match=r"`sheet` is an empty list"):
        Transactions.read_excel(path, sheet=[], columns=COLUMNS)
    with pytest.raises(UpsellDataError, match=r"`sheet` names a sheet twice: \['A', 0\]"):
        Transactions.read_excel(path, sheet=["A", 0], columns=COLUMNS)
    with pytest.raises(UpsellDataError, match=r"`sheet` 'C' is not in .*its sheets are "
                                              r"\['A', 'B'\]"):
        Transactions.read_excel(path, sheet=["A", "C"], columns=COLUMNS)
    header_only = _book(tmp_path / "header.xlsx", [("A", [HEADER]), ("B", [HEADER])])
    with pytest.raises(UpsellDataError, match=r"header\.xlsx \(2 sheets\) has no rows"):
        Transactions.read_excel(header_only, columns=COLUMNS)
    nothing = _book(tmp_path / "nothing.xlsx", [("A", []), ("B", [])])
    with pytest.raises(UpsellDataError, match=r"nothing\.xlsx has no sheet with a header"):
        Transactions.read_excel(nothing, columns=COLUMNS)


def test_title_rows_are_skipped_on_every_sheet(tmp_path):
    lines = _lines(10)
    title = [["Sales report"], ["2011"], []]
    path = _book(tmp_path / "report.xlsx", [("Q1", [*title, HEADER, *lines[:4]]),
                                            ("Q2", [*title, HEADER, *lines[4:]])])
    one = _book(tmp_path / "one.xlsx", [("All", [HEADER, *lines])])
    got = Transactions.read_excel(path, columns=COLUMNS, skip_rows=3, cancel_prefix="C")
    _same(got, Transactions.read_excel(one, columns=COLUMNS, cancel_prefix="C"))


def test_several_workbooks_of_several_sheets(tmp_path):
    lines = _lines(40)
    one = _book(tmp_path / "one.xlsx", [("All", [HEADER, *lines])])
    folder = tmp_path / "years"
    folder.mkdir()
    _book(folder / "2010.xlsx", [("H1", [HEADER, *lines[:10]]), ("H2", [HEADER, *lines[10:20]])])
    _book(folder / "2011.xlsx", [("H1", [HEADER, *lines[20:30]]), ("H2", [HEADER, *lines[30:]])])
    got = Transactions.read_excel(folder, columns=COLUMNS, cancel_prefix="C")
    _same(got, Transactions.read_excel(one, columns=COLUMNS, cancel_prefix="C"))
    assert len(got.report.files) == 4


def test_sheets_that_overlap_are_flagged_and_the_command_line_says_so(tmp_path, capsys):
    """Online Retail II's sheets share days at the turn of the year: the orders found on
    both sheets are flagged, and the command line advises --duplicates drop."""
    from upsell.cli import main

    lines = _lines(30)
    path = _book(tmp_path / "online_retail_II.xlsx", [("Year 2009-2010", [HEADER, *lines[:21]]),
                                                      ("Year 2010-2011", [HEADER, *lines[15:]])])
    cols = ",".join(f"{k}={v}" for k, v in COLUMNS.items())
    out = io.StringIO()
    assert main(["--quiet", "inspect", str(path), "--columns", cols, "--cancel-prefix", "C"],
                out=out) == 0
    err = capsys.readouterr().err
    assert "orders found in more than one of the 2 sheets" in err
    assert "--duplicates drop" in err
    dropped = Transactions.read_excel(path, columns=COLUMNS, cancel_prefix="C",
                                      duplicates="drop")
    one = _book(tmp_path / "one.xlsx", [("All", [HEADER, *lines])])
    want = Transactions.read_excel(one, columns=COLUMNS, cancel_prefix="C", duplicates="drop")
    for name in ("order", "item", "quantity", "price", "time"):
        np.testing.assert_array_equal(getattr(dropped, name), getattr(want, name), err_msg=name)


def test_the_command_line_reads_the_sheets_given(tmp_path):
    from upsell.cli import main

    lines = _lines(24)
    path = _book(tmp_path / "shop.xlsx", [("Notes", [["x"]]), ("A", [HEADER, *lines[:12]]),
                                          ("B", [HEADER, *lines[12:]])])
    one = _book(tmp_path / "one.xlsx", [("All", [HEADER, *lines])])
    cols = ["--columns", ",".join(f"{k}={v}" for k, v in COLUMNS.items()), "--cancel-prefix", "C"]
    want = io.StringIO()
    assert main(["--quiet", "kpi", str(one), *cols], out=want) == 0
    for sheets in ([], ["--sheet", "2", "--sheet", "B"]):
        out = io.StringIO()
        assert main(["--quiet", "kpi", str(path), *sheets, *cols], out=out) == 0
        assert out.getvalue() == want.getvalue()
    part = io.StringIO()
    assert main(["--quiet", "kpi", str(path), "--sheet", "3", *cols], out=part) == 0
    assert part.getvalue() != want.getvalue()
    page = tmp_path / "report.html"
    assert main(["--quiet", "report", str(path), *cols, "--out", str(page)]) == 0
    html = page.read_text()
    assert "shop.xlsx (2 sheets)" in html
    assert "<td>sheet &#x27;A&#x27;</td>" in html or "<td>sheet 'A'</td>" in html
    assert "not read: shop.xlsx sheet" in html
