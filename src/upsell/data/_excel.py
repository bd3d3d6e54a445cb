"""Excel workbooks (``.xlsx``, ``.xlsm``, ``.xls``, ``.ods``) behind
:meth:`Transactions.read_excel`, read by python-calamine (Rust).

Shops keep their order history in spreadsheets, and the UCI Online Retail file is
published as ``.xlsx``. python-calamine reads Online Retail's sheet (370,931 rows) in
3.0 s where openpyxl's read-only mode takes 35 s, and reads the old ``.xls`` and
OpenDocument too. The sheet's first row names the columns; it ends at its last row with a
value, and an empty row before that is dropped and counted (as a CSV export's ``,,,`` line
is). Each wanted column becomes a pyarrow column by its cells' types (numbers, dates and
times, else text, written as a CSV export would write them), and from there
:func:`upsell.data._parquet.from_table` applies every rule of the CSV reader.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import Any

from upsell.data._parquet import _reason, from_table
from upsell.data._sources import _pa
from upsell.data.ids import IdIndex
from upsell.data.io import existing_path
from upsell.exceptions import UpsellDataError


def _cell_text(v: Any) -> str:
    """A cell as a CSV export writes it: 17850.0 -> '17850', a date in ISO 8601."""
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 2**63 else repr(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    return str(v)


def _column(values: list[Any]) -> Any:
    """The cells of one column as a pyarrow array: float64 when every filled cell is a
    number, ``timestamp[s]`` when every one is a date or date-time, else text."""
    pa = _pa()[0]
    filled = {type(v) for v in values if v is not None and v != ""}
    if filled and filled <= {int, float}:
        return pa.array([float(v) if v is not None and v != "" else None for v in values],
                        pa.float64())
    if filled and filled <= {_dt.datetime, _dt.date}:
        return pa.array([None if v is None or v == "" else
                         v if isinstance(v, _dt.datetime) else
                         _dt.datetime.combine(v, _dt.time()) for v in values],
                        pa.timestamp("s"))
    return pa.array([_cell_text(v) for v in values], pa.string())


def _sheet_rows(path: Any, sheet: Any) -> tuple[str, list[str], list[list[Any]]]:
    """(label, headers, rows with a value) of a workbook's sheet."""
    from upsell._extras import require

    calamine = require("python_calamine", "reading a workbook")
    label = existing_path(path)
    try:
        book = calamine.CalamineWorkbook.from_path(label)
        names = list(book.sheet_names)
        if isinstance(sheet, bool) or not isinstance(sheet, (int, str)):
            raise UpsellDataError(f"`sheet` is a sheet's name or 0-based position; got "
                                  f"{sheet!r}")
        if isinstance(sheet, int) and not 0 <= sheet < len(names):
            raise UpsellDataError(f"`sheet` {sheet} is out of range: {label} has "
                                  f"{len(names)} sheet(s): {names!r}")
        if isinstance(sheet, str) and sheet not in names:
            raise UpsellDataError(f"`sheet` {sheet!r} is not in {label}; its sheets are "
                                  f"{names!r}")
        at = sheet if isinstance(sheet, int) else names.index(sheet)
        rows = book.get_sheet_by_index(at).to_python(skip_empty_area=True)
    except calamine.CalamineError as exc:
        raise UpsellDataError(
            f"{label} is not a readable Excel or OpenDocument workbook ({_reason(exc)})"
        ) from None
    label = f"{label} sheet {names[at]!r}"
    if not rows:
        raise UpsellDataError(f"{label} is empty: no header and no data rows")
    width = max(len(r) for r in rows)
    header = [_cell_text(h).strip() for h in rows[0]] + [""] * (width - len(rows[0]))
    header = [h or f"column {j + 1}" for j, h in enumerate(header)]
    # a row with no value inside the data is a row (an empty one, dropped and counted as a
    # CSV export's ",,," line is); the sheet ends at its last row with a value
    filled = [any(v is not None and v != "" for v in r) for r in rows]
    last = max((j for j, f in enumerate(filled) if f), default=0)
    return label, header, rows[1:last + 1]


def sheet_texts(path: Any, sheet: Any) -> tuple[list[str], list[list[str]]]:
    """(headers, each column's cells as a CSV export writes them) of a sheet: a catalog."""
    _, header, rows = _sheet_rows(path, sheet)
    body = [r for r in rows if any(v is not None and v != "" for v in r)]  # as before: skipped
    return header, [[_cell_text(r[j]) if j < len(r) else "" for r in body]
                    for j in range(len(header))]


def sheet_table(path: Any, sheet: Any) -> tuple[str, list[str], Callable[[list[str]], Any]]:
    """(label, headers, a loader of some columns as a pyarrow table) of a workbook's sheet."""
    label, header, body = _sheet_rows(path, sheet)

    def load(wanted: list[str]) -> Any:
        pa = _pa()[0]
        cols = {}
        for name in wanted:
            j = header.index(name)
            cols[name] = _column([r[j] if j < len(r) else "" for r in body])
        return pa.table(cols) if cols else pa.table({})

    return label, header, load


def read_prepared(path: Any, *, sheet: Any, columns: Any, invalid: str,
                  item_index: IdIndex | None, customer_index: IdIndex | None,
                  time_format: str | None = None, decimal: str = ".",
                  order_headers: Any = None) -> Any:
    """Read one sheet of a workbook into a ``_Prepared`` (see the module docstring);
    ``order_headers``: an orders file's columns (:mod:`upsell.data._order_headers`)."""
    label, header, load = sheet_table(path, sheet)
    return from_table(header, load, label=label, columns=columns, invalid=invalid,
                      item_index=item_index, customer_index=customer_index,
                      time_format=time_format, decimal=decimal, order_headers=order_headers)
