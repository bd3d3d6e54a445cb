"""Excel workbooks (``.xlsx``, ``.xlsm``, ``.xls``, ``.ods``) behind
:meth:`Transactions.read_excel`, read by python-calamine (Rust).

Shops keep their order history in spreadsheets, and the UCI Online Retail file is
published as ``.xlsx``. python-calamine reads Online Retail's sheet (370,931 rows) in
3.0 s where openpyxl's read-only mode takes 35 s, and reads the old ``.xls`` and
OpenDocument too. The sheet's first row names the columns; it ends at its last row with a
value, and an empty row before that is dropped and counted (as a CSV export's ``,,,`` line
is). Each wanted column becomes a pyarrow column by its cells' types (numbers, dates and
times, else text, written as a CSV export would write them), and from there
:func:`upsell.data._parquet.table_part` applies every rule of the CSV reader.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import Any

from upsell.data._parquet import _reason, table_part
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


def _sheet_rows(path: Any, sheet: Any, skip_rows: int = 0
                ) -> tuple[str, list[str], list[list[Any]], int]:
    """(label, headers, the rows below the header, the header's 0-based sheet row) of a
    workbook's sheet; ``skip_rows``: the sheet's first rows, not read (a report's title)."""
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
        found = book.get_sheet_by_index(at)
        rows = found.to_python(skip_empty_area=True)
        top = found.start[0] if rows and found.start else 0  # the sheet row of rows[0]
    except calamine.CalamineError as exc:
        raise UpsellDataError(
            f"{label} is not a readable Excel or OpenDocument workbook ({_reason(exc)})"
        ) from None
    label = f"{label} sheet {names[at]!r}"
    if not rows:
        raise UpsellDataError(f"{label} is empty: no header and no data rows")
    if skip_rows > top:  # the header: the first row with a value below the skipped ones
        rows = rows[skip_rows - top:]
        top = skip_rows
        while rows and not any(v is not None and v != "" for v in rows[0]):
            rows, top = rows[1:], top + 1
        if not rows:
            raise UpsellDataError(f"{label} has nothing below the {skip_rows:,} row(s) that "
                                  f"skip_rows={skip_rows} skips")
    width = max(len(r) for r in rows)
    header = [_cell_text(h).strip() for h in rows[0]] + [""] * (width - len(rows[0]))
    header = [h or f"column {j + 1}" for j, h in enumerate(header)]
    # a row with no value inside the data is a row (an empty one, dropped and counted as a
    # CSV export's ",,," line is); the sheet ends at its last row with a value
    filled = [any(v is not None and v != "" for v in r) for r in rows]
    last = max((j for j, f in enumerate(filled) if f), default=0)
    return label, header, rows[1:last + 1], top


def sheet_texts(path: Any, sheet: Any, skip_rows: int = 0
                ) -> tuple[list[str], list[list[str]], list[int]]:
    """(headers, each column's cells as a CSV export writes them, the 0-based sheet row of
    the header and of each row read) of a sheet: a catalog (its empty rows skipped)."""
    _, header, rows, top = _sheet_rows(path, sheet, skip_rows)
    kept = [j for j, r in enumerate(rows) if any(v is not None and v != "" for v in r)]
    return header, [[_cell_text(rows[i][j]) if j < len(rows[i]) else "" for i in kept]
                    for j in range(len(header))], [top] + [top + 1 + i for i in kept]


def sheet_table(path: Any, sheet: Any, skip_rows: int = 0
                ) -> tuple[str, list[str], Callable[[list[str]], Any], Callable[[Any], str]]:
    """(label, headers, a loader of some columns as a pyarrow table, and ``below(columns)``:
    the advice when a row below reads as the header ``columns`` need, else ``""``) of a
    workbook's sheet."""
    label, header, body, top = _sheet_rows(path, sheet, skip_rows)

    def below(columns: Any) -> str:  # a report's title rows above its table (error path)
        from upsell.data._columns import header_below, header_row

        texts = [header] + [[_cell_text(v) for v in r] for r in body[:30]]
        i = header_row(texts, columns)
        return "" if i is None else header_below(f"sheet row {top + i + 1}", top + i, texts[i])

    def load(wanted: list[str]) -> Any:
        pa = _pa()[0]
        cols = {}
        for name in wanted:
            j = header.index(name)
            cols[name] = _column([r[j] if j < len(r) else "" for r in body])
        return pa.table(cols) if cols else pa.table({})

    return label, header, load, below


def read_prepared(path: Any, *, sheet: Any, columns: Any, invalid: str,
                  item_index: IdIndex | None, customer_index: IdIndex | None,
                  time_format: str | None = None, decimal: str = ".",
                  order_headers: Any = None, skip_rows: int = 0) -> Any:
    """Read one sheet of a workbook, or that sheet of several workbooks read as one
    history (a list of them, a folder, a glob pattern: :mod:`upsell.data._parts`), into a
    ``_Prepared`` (see the module docstring); ``order_headers``: an orders file's columns
    (:mod:`upsell.data._order_headers`); ``skip_rows``: the sheet's first rows, not read
    (a report's title)."""
    from upsell.data._arrow import prepare_parts
    from upsell.data._columns import check_decimal, check_time_format
    from upsell.data._parts import WORKBOOK_SUFFIXES, input_files, several_label
    from upsell.data.io import check_skip_rows

    skip_rows = check_skip_rows(skip_rows)
    time_format, decimal = check_time_format(time_format), check_decimal(decimal)
    files = input_files(path, suffixes=WORKBOOK_SUFFIXES, what="workbooks")
    paths = [path] if files is None else files
    parts = []
    for f in paths:
        label, header, load, below = sheet_table(f, sheet, skip_rows)
        parts.append(table_part(header, load, label=label, columns=columns, below=below,
                                empty_ok=len(paths) > 1))
    return prepare_parts(parts, label=several_label(path, paths) if len(paths) > 1
                         else parts[0].label, order_headers=order_headers, invalid=invalid,
                         item_index=item_index, customer_index=customer_index,
                         time_format=time_format, decimal=decimal)
