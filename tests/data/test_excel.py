"""Transactions.read_excel: a workbook's sheet read by its cells' types with read_csv's rules."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest

from upsell.data.io import file_kind
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

pytest.importorskip("python_calamine")
openpyxl = pytest.importorskip("openpyxl")

# Online Retail as UCI publishes it: numeric invoice and stock codes beside text ones
# (C536368, 85123A), customer ids as numbers with blanks, date cells, a price typed as text
ROWS = [
    ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
     "CustomerID"],
    [536365, "85123A", "WHITE HANGING HEART", 6, dt.datetime(2010, 12, 1, 8, 26), 2.55, 17850.0],
    [536365, 71053, "WHITE METAL LANTERN", 6, dt.datetime(2010, 12, 1, 8, 26), 3.39, 17850.0],
    [536366, 22633, "HAND WARMER", 6, dt.datetime(2010, 12, 1, 8, 28), 1.85, None],
    [None, None, None, None, None, None, None],  # an empty row: Excel's export writes ",,,,,,"
    [536367, 84879, "BIRD ORNAMENT", 32, dt.datetime(2010, 12, 1, 8, 34), "£1.69", 13047.0],
    ["C536368", 84879, "BIRD ORNAMENT", -2, dt.datetime(2010, 12, 1, 9, 0), 1.69, 13047.0],
]
CSV = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID
536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850
536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,
,,,,,,
536367,84879,BIRD ORNAMENT,32,2010-12-01 08:34:00,£1.69,13047
C536368,84879,BIRD ORNAMENT,-2,2010-12-01 09:00:00,1.69,13047
"""
COLUMNS = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
           "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate",
           "name": "Description"}


def _book(path, sheets):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


@pytest.fixture
def book(tmp_path):
    return _book(tmp_path / "Online Retail.xlsx", {"Notes": [["exported"]],
                                                   "Online Retail": ROWS})


def test_a_sheet_reads_as_its_csv_export_does(tmp_path, book):
    csv = tmp_path / "export.csv"
    csv.write_text(CSV)
    want = Transactions.read_csv(csv, columns=COLUMNS, cancel_prefix="C")
    got = Transactions.read_excel(book, sheet="Online Retail", columns=COLUMNS,
                                  cancel_prefix="C")
    assert got.shape == want.shape
    for name in ("order", "item", "customer", "quantity", "price", "time"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    for name in ("orders", "items", "customers"):
        assert getattr(got, name).ids.tolist() == getattr(want, name).ids.tolist()
    assert got.customers.kind == "int"  # 17850.0 cells are the integer id 17850
    assert str(got.report).split("\n", 1)[1] == str(want.report).split("\n", 1)[1]
    assert "price read from a formatted number ('£1.69')" in got.report.repaired
    assert got.report.dropped["empty row (no value in any column read)"] == 1
    assert got.report.source.endswith("sheet 'Online Retail'")
    by_position = Transactions.read_excel(book, sheet=1, columns=COLUMNS, cancel_prefix="C")
    np.testing.assert_array_equal(by_position.order, got.order)


def test_a_date_column_and_a_time_column_join_into_the_time(tmp_path):
    rows = [["Date", "Time", "Transaction ID", "SKU"],
            [dt.date(2021, 3, 4), dt.time(10, 15), "t1", "a"],
            [dt.date(2021, 3, 4), dt.time(10, 15), "t1", "b"],
            [dt.date(2021, 3, 5), dt.time(9, 0, 30), "t2", "a"]]
    path = _book(tmp_path / "square.xlsx", {"Items": rows})
    tx = Transactions.read_excel(path, columns={"order": "Transaction ID", "item": "SKU",
                                                "time": ("Date", "Time")})
    assert sorted(str(t) for t in set(tx.time.tolist())) == ["2021-03-04 10:15:00",
                                                             "2021-03-05 09:00:30"]


def test_sheet_errors_name_the_sheets(book):
    with pytest.raises(UpsellDataError, match=r"`sheet` 'Orders' is not in .*its sheets are "
                                              r"\['Notes', 'Online Retail'\]"):
        Transactions.read_excel(book, sheet="Orders")
    with pytest.raises(UpsellDataError, match=r"`sheet` 5 is out of range: .* has 2 sheet"):
        Transactions.read_excel(book, sheet=5)
    with pytest.raises(UpsellDataError, match="`sheet` is a sheet's name or 0-based position"):
        Transactions.read_excel(book, sheet=1.5)
    with pytest.raises(UpsellDataError, match=r"column 'InvoiceNo' \(for `order`\) is not in "
                                              r".*sheet 'Notes'"):
        Transactions.read_excel(book, sheet=0, columns=COLUMNS)
    # by default a sheet without the columns before the table (a cover, notes) is left out
    got = Transactions.read_excel(book, columns=COLUMNS)
    assert got.report.source.endswith("sheet 'Online Retail'")
    assert dict(got.report.not_read) == {f"{book} sheet 'Notes'": "other columns: 'exported'"}
    assert f"not read  {book} sheet 'Notes': other columns: 'exported'" in str(got.report)
    with pytest.raises(UpsellDataError, match=r"column 'Invoice' \(for `order`\) is not in "
                                              r".*sheet 'Notes'.*\(nor does any other sheet of "
                                              r".*\['Notes', 'Online Retail'\]; pick one"):
        Transactions.read_excel(book, columns={**COLUMNS, "order": "Invoice"})


def test_empty_sheets_and_other_files_are_named(tmp_path):
    empty = _book(tmp_path / "empty.xlsx", {"Sheet1": []})
    with pytest.raises(UpsellDataError, match="is empty: no header and no data rows"):
        Transactions.read_excel(empty)
    header = _book(tmp_path / "header.xlsx", {"Sheet1": [["order", "item"]]})
    with pytest.raises(UpsellDataError, match="has no rows"):
        Transactions.read_excel(header)
    text = tmp_path / "orders.csv"
    text.write_text("order,item\n1,a\n")
    with pytest.raises(UpsellDataError, match="is not a readable Excel or OpenDocument"):
        Transactions.read_excel(text)


def test_read_csv_on_a_workbook_points_to_read_excel(book):
    assert file_kind(book) == "xlsx"
    with pytest.raises(UpsellDataError, match=r"is an Excel workbook, not text: read order "
                                              r"lines with Transactions\.read_excel"):
        Transactions.read_csv(book)


def test_without_python_calamine_the_error_names_the_extra(book, monkeypatch):
    import sys

    from upsell.exceptions import MissingExtraError

    monkeypatch.setitem(sys.modules, "python_calamine", None)
    with pytest.raises(MissingExtraError, match=r'pip install "upsell\[excel\]"'):
        Transactions.read_excel(book)


def test_the_command_line_reads_a_workbook(tmp_path, book, capsys):
    from upsell.cli import main

    cols = ("--columns", ",".join(f"{k}={v}" for k, v in COLUMNS.items()), "--cancel-prefix", "C")
    out = io.StringIO()
    assert main(["--quiet", "kpi", str(book), "--sheet", "2", *cols], out=out) == 0
    csv = tmp_path / "export.csv"
    csv.write_text(CSV)
    want = io.StringIO()
    assert main(["--quiet", "kpi", str(csv), *cols], out=want) == 0
    assert out.getvalue() == want.getvalue()
    assert main(["--quiet", "kpi", str(book), "--sheet", "1", *cols]) == 2  # the notes
    assert "sheet 'Notes'" in capsys.readouterr().err
    default = io.StringIO()  # the notes sheet before the table is left out
    assert main(["--quiet", "kpi", str(book), *cols], out=default) == 0
    assert default.getvalue() == want.getvalue()


def test_a_workbook_catalog_reads_as_its_csv_export(tmp_path):
    from upsell.data import Catalog

    path = _book(tmp_path / "products.xlsx", {"Products": [
        ["StockCode", "Description", "price", "cost"],
        [85123, "WHITE HANGING HEART", 2.55, 1.2],
        ["85123A", "HEART, LARGE", 3.0, None]]})
    cat = Catalog.read_table(path, columns={"item": "StockCode", "name": "Description"})
    assert cat.items.ids.tolist() == ["85123", "85123A"]  # one text id, as in the CSV
    assert cat.price.tolist() == [2.55, 3.0]
    assert cat.name.tolist() == ["WHITE HANGING HEART", "HEART, LARGE"]
    csv = tmp_path / "products.csv"
    csv.write_text('StockCode,Description,price,cost\n85123,WHITE HANGING HEART,2.55,1.2\n'
                   '85123A,"HEART, LARGE",3,\n')
    want = Catalog.read_csv(csv, columns={"item": "StockCode", "name": "Description"})
    assert want.items.ids.tolist() == cat.items.ids.tolist()
    np.testing.assert_array_equal(want.cost, cat.cost)


def test_the_command_line_reads_a_workbook_catalog(tmp_path, book):
    from upsell.cli import main

    catalog = _book(tmp_path / "products.xlsx", {"Products": [
        ["StockCode", "price", "cost"], ["85123A", 2.55, 1.0], [71053, 3.39, 2.0],
        [22633, 1.85, 0.5], [84879, 1.69, 0.8]]})
    cols = ("--columns", ",".join(f"{k}={v}" for k, v in COLUMNS.items()), "--cancel-prefix", "C")
    out = io.StringIO()
    code = main(["--quiet", "kpi", str(book), "--sheet", "Online Retail", *cols, "--catalog",
                 str(catalog), "--catalog-columns", "item=StockCode"], out=out)
    assert code == 0, out.getvalue()


def test_serial_dates_in_number_cells_read_with_time_format_excel(tmp_path):
    path = _book(tmp_path / "serials.xlsx", {"Sheet1": [["order", "item", "time"],
                                                        [1, "a", 40513.35138888889]]})
    with pytest.raises(UpsellDataError, match="time_format='excel'"):
        Transactions.read_excel(path)
    tx = Transactions.read_excel(path, time_format="excel")
    assert str(tx.time[0]) == "2010-12-01T08:26:00"


def test_title_rows_above_a_sheets_table_are_named_and_skipped(tmp_path):
    """A report sheet: a title, a blank row and a note above the table. The error names the
    sheet row of the header and the skip_rows that reads it; counted as the sheet shows rows,
    also when the sheet's used area starts below its first row."""
    rows = [["Sales report March 2021"], [None], ["Shop: Main St"],
            ["Invoice", "SKU", "Qty"], [1, "A", 2], [1, "B", 1], [2, "A", 1]]
    path = _book(tmp_path / "report.xlsx", {"Report": rows})
    with pytest.raises(UpsellDataError, match=r"header seems to be below, on sheet row 4 "
                                              r"\('Invoice, SKU, Qty'\): pass skip_rows=3"):
        Transactions.read_excel(path, columns={"order": "Invoice", "item": "SKU"})
    with pytest.raises(UpsellDataError, match=r"no `order` column.*sheet row 4"):
        Transactions.read_excel(path)
    cols = {"order": "Invoice", "item": "SKU", "quantity": "Qty"}
    tx = Transactions.read_excel(path, skip_rows=3, columns=cols)
    assert tx.shape == (3, 2, 2) and tx.report.rows_read == 3
    assert tx.quantity.tolist() == [2.0, 1.0, 1.0]
    # too few skipped: the blank row after them is not the header, the note is; advised
    with pytest.raises(UpsellDataError, match=r"it has 'Shop: Main St', .*sheet row 4 .*"
                                              r"pass skip_rows=3"):
        Transactions.read_excel(path, skip_rows=1, columns=cols)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["B3"], ws["B6"], ws["C6"], ws["B7"], ws["C7"] = "Sales report", "Invoice", "SKU", 1, "A"
    wb.save(tmp_path / "offset.xlsx")
    with pytest.raises(UpsellDataError, match=r"on sheet row 6 .*pass skip_rows=5"):
        Transactions.read_excel(tmp_path / "offset.xlsx", columns={"order": "Invoice",
                                                                   "item": "SKU"})
    tx = Transactions.read_excel(tmp_path / "offset.xlsx", skip_rows=5,
                                 columns={"order": "Invoice", "item": "SKU"})
    assert tx.shape == (1, 1, 1)
    with pytest.raises(UpsellDataError, match=r"nothing below the 9 row\(s\)"):
        Transactions.read_excel(tmp_path / "offset.xlsx", skip_rows=9)
    with pytest.raises(UpsellDataError, match=r"`skip_rows` must be a whole number"):
        Transactions.read_excel(path, skip_rows=-2)
