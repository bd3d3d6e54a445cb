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

import numpy as np

from upsell.data._parquet import _reason, table_part
from upsell.data._sources import _pa
from upsell.data.ids import IdIndex
from upsell.data.io import existing_path
from upsell.data.report import sheet_label
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
    number, ``timestamp[s]`` when every one is a date or date-time, else text. Built from
    numpy buffers: pyarrow's converters of Python lists import pandas."""
    pa = _pa()[0]
    n = len(values)
    filled = {type(v) for v in values if v is not None and v != ""}
    if filled and (filled <= {int, float} or filled <= {_dt.datetime, _dt.date}):
        if filled <= {int, float}:
            data = np.array([float(v) if v is not None and v != "" else np.nan
                             for v in values], dtype=np.float64)
            ok = np.fromiter((v is not None and v != "" for v in values), bool, n)
            kind = pa.float64()
        else:  # numpy reads dates and date-times (truncated to the second), None as NaT
            data = np.array([None if v == "" else v for v in values],
                            dtype="datetime64[s]").view(np.int64)
            ok = data != np.iinfo(np.int64).min
            kind = pa.timestamp("s")
        missing = int(n - ok.sum())
        bits = pa.py_buffer(np.packbits(ok, bitorder="little")) if missing else None
        return pa.Array.from_buffers(kind, n, [bits, pa.py_buffer(data)], null_count=missing)
    enc = [_cell_text(v).encode("utf-8") for v in values]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(e) for e in enc], out=offsets[1:])
    kind = pa.string() if offsets[-1] < 2**31 else pa.large_string()
    if kind == pa.string():
        offsets = offsets.astype(np.int32)
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets),
                                           pa.py_buffer(b"".join(enc))])


def _open(path: Any) -> tuple[Any, str, Any, list[str]]:
    """(python_calamine, the path, its workbook, its sheet names)."""
    from upsell._extras import require

    calamine = require("python_calamine", "reading a workbook")
    label = existing_path(path)
    try:
        book = calamine.CalamineWorkbook.from_path(label)
    except calamine.CalamineError as exc:
        raise UpsellDataError(
            f"{label} is not a readable Excel or OpenDocument workbook ({_reason(exc)})"
        ) from None
    return calamine, label, book, list(book.sheet_names)


def _position(sheet: Any, label: str, names: list[str]) -> int:
    """The 0-based position of ``sheet`` (a name or a position) in a workbook."""
    if isinstance(sheet, bool) or not isinstance(sheet, (int, str)):
        raise UpsellDataError(f"`sheet` is a sheet's name or 0-based position; got "
                              f"{sheet!r}")
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise UpsellDataError(f"`sheet` {sheet} is out of range: {label} has "
                              f"{len(names)} sheet(s): {names!r}")
    if isinstance(sheet, str) and sheet not in names:
        raise UpsellDataError(f"`sheet` {sheet!r} is not in {label}; its sheets are "
                              f"{names!r}")
    return sheet if isinstance(sheet, int) else names.index(sheet)


def _rows_of(opened: tuple[Any, str, Any, list[str]], at: int, skip_rows: int
             ) -> tuple[str, list[str] | None, list[list[Any]], int]:
    """(label, headers or None for an empty sheet, the rows below the header, the header's
    0-based sheet row) of the sheet at ``at`` of an opened workbook (:func:`_open`)."""
    calamine, path, book, names = opened
    label = sheet_label(path, names[at])
    try:
        found = book.get_sheet_by_index(at)
        rows = found.to_python(skip_empty_area=True)
        top = found.start[0] if rows and found.start else 0  # the sheet row of rows[0]
    except calamine.CalamineError as exc:
        raise UpsellDataError(
            f"{path} is not a readable Excel or OpenDocument workbook ({_reason(exc)})"
        ) from None
    if skip_rows > top and rows:  # the header: the first row with a value below them
        rows = rows[skip_rows - top:]
        top = skip_rows
        while rows and not any(v is not None and v != "" for v in rows[0]):
            rows, top = rows[1:], top + 1
    if not rows:
        return label, None, [], top
    width = max(len(r) for r in rows)
    header = [_cell_text(h).strip() for h in rows[0]] + [""] * (width - len(rows[0]))
    header = [h or f"column {j + 1}" for j, h in enumerate(header)]
    # a row with no value inside the data is a row (an empty one, dropped and counted as a
    # CSV export's ",,," line is); the sheet ends at its last row with a value
    filled = [any(v is not None and v != "" for v in r) for r in rows]
    last = max((j for j, f in enumerate(filled) if f), default=0)
    return label, header, rows[1:last + 1], top


def _sheet_rows(path: Any, sheet: Any, skip_rows: int = 0,
                opened: tuple[Any, str, Any, list[str]] | None = None
                ) -> tuple[str, list[str], list[list[Any]], int]:
    """(label, headers, the rows below the header, the header's 0-based sheet row) of a
    workbook's sheet; ``skip_rows``: the sheet's first rows, not read (a report's title);
    ``opened``: the workbook, when the caller opened it (:func:`_open`)."""
    opened = opened or _open(path)
    label, header, body, top = _rows_of(opened, _position(sheet, opened[1], opened[3]),
                                        skip_rows)
    if header is None:
        if skip_rows:
            raise UpsellDataError(f"{label} has nothing below the {skip_rows:,} row(s) that "
                                  f"skip_rows={skip_rows} skips")
        raise UpsellDataError(f"{label} is empty: no header and no data rows")
    return label, header, body, top


def _other_columns(header: list[str]) -> str:
    """Why a sheet is not read: its columns (the first six)."""
    return "other columns: " + ", ".join(repr(h) for h in header[:6]) + (
        ", ..." if len(header) > 6 else "")


def _named(header: list[str]) -> list[str]:
    """A header's names, sorted, without the ``column N`` of blank header cells."""
    return sorted(h for h in header if not h.startswith("column "))


def _has_roles(header: list[str], columns: Any, label: str) -> bool:
    """Whether a sheet's header has the columns the roles need."""
    from upsell.data._columns import resolve_columns, split_joined

    try:
        resolve_columns(header, split_joined(columns)[0], source=label, joins=True)
    except UpsellDataError:
        return False
    return True


def _book_parts(path: Any, *, sheet: Any, skip_rows: int, columns: Any, several: bool,
                not_read: dict[str, str], where: Any = None) -> list[Any]:
    """The :class:`~upsell.data._parts.Part` of each sheet of one workbook that holds its
    order lines; each sheet left out is added to ``not_read`` (its label: why).

    ``sheet=None`` reads the first sheet whose header has the columns the roles need (a
    cover or notes sheet before the table is left out) and every later one whose header
    names the same columns: a table longer than a sheet's 1,048,576 rows continues on the
    next sheet, and Online Retail II keeps each year on its own. A sheet with other
    columns, or none, is left out. A name or a position reads that sheet; a list of them
    reads those, in its order, as one history.
    """
    def part(rows: Any, empty_ok: bool) -> Any:
        label, header, load, below = _rows_table(rows)
        return table_part(header, load, label=label, columns=columns, below=below,
                          empty_ok=empty_ok, where=where)

    opened = _open(path)
    names = opened[3]
    if sheet is not None:
        wanted = list(sheet) if isinstance(sheet, (list, tuple)) else [sheet]
        if not wanted:
            raise UpsellDataError("`sheet` is an empty list: name the sheets to read, or "
                                  "pass None for the first and those that continue its table")
        chosen = [_position(s, opened[1], names) for s in wanted]
        if len(set(chosen)) < len(chosen):
            raise UpsellDataError(f"`sheet` names a sheet twice: {wanted!r}")
        return [part(_sheet_rows(path, j, skip_rows, opened), several or len(chosen) > 1)
                for j in chosen]
    parts: list[Any] = []
    first: list[str] | None = None  # the header of the table's first sheet
    failed: UpsellDataError | None = None
    for at in range(len(names)):
        rows = _rows_of(opened, at, skip_rows)
        label, header = rows[0], rows[1]
        if header is None:
            if at == 0 and len(names) == 1:
                _sheet_rows(path, 0, skip_rows, opened)  # its error: empty, or all skipped
            not_read[label] = "empty"
            continue
        if first is None:
            if not _has_roles(header, columns, label):
                try:  # its error, with the advice of a header below its title rows
                    part(rows, True)
                except UpsellDataError as exc:
                    failed = failed or exc
                not_read[label] = _other_columns(header)
                continue
            parts.append(part(rows, True))
            first = _named(header)
        elif _named(header) == first:
            parts.append(part(rows, True))
        else:
            not_read[label] = _other_columns(header)
        del rows
    if first is None:
        if failed is None:
            raise UpsellDataError(f"{opened[1]} has no sheet with a header and rows")
        if len(names) > 1:
            raise UpsellDataError(f"{failed} (nor does any other sheet of {opened[1]}: "
                                  f"{names!r}; pick one with `sheet`)") from None
        raise failed
    return parts


def sheet_texts(path: Any, sheet: Any, skip_rows: int = 0
                ) -> tuple[list[str], list[list[str]], list[int]]:
    """(headers, each column's cells as a CSV export writes them, the 0-based sheet row of
    the header and of each row read) of a sheet: a catalog (its empty rows skipped)."""
    _, header, rows, top = _sheet_rows(path, sheet, skip_rows)
    kept = [j for j, r in enumerate(rows) if any(v is not None and v != "" for v in r)]
    return header, [[_cell_text(rows[i][j]) if j < len(rows[i]) else "" for i in kept]
                    for j in range(len(header))], [top] + [top + 1 + i for i in kept]


def side_sheet(path: Any, headers: list[str], not_read: dict[str, str]
               ) -> tuple[str, list[str], Callable[[list[str]], Any]]:
    """(label, headers, loader: :func:`_rows_table`) of the table that holds ``headers`` in
    a side file's workbook (an orders or a customers file): the first sheet whose header
    row, or a row below its title rows (within its first 31), names them all. The sheets
    before it and the title rows are added to ``not_read``; no sheet with them is an error
    naming each sheet's header."""
    from upsell.data._columns import header_row

    opened = _open(path)
    names = opened[3]
    seen = []
    for at in range(len(names)):
        label, header, body, top = _rows_of(opened, at, 0)
        if header is None:
            seen.append(f"{names[at]!r}: empty")
            not_read[label] = "empty"
            continue
        if set(headers) <= set(header):
            return _rows_table((label, header, body, top))[:3]
        texts = [header] + [[_cell_text(v) for v in r] for r in body[:30]]
        i = header_row(texts, {h: h for h in headers})
        if i is not None:
            above = "row 1" if top + i == 1 else f"rows 1-{top + i}"
            not_read[f"{label} {above}"] = "title rows above the header"
            return _rows_table(_sheet_rows(path, at, top + i, opened))[:3]
        seen.append(f"{names[at]!r}: {_other_columns(header)}")
        not_read[label] = _other_columns(header)
    wanted = ", ".join(repr(h) for h in headers)
    raise UpsellDataError(f"no sheet of {opened[1]} has the columns {wanted}; its sheets: "
                          f"{'; '.join(seen)}")


def sheet_table(path: Any, sheet: Any, skip_rows: int = 0
                ) -> tuple[str, list[str], Callable[[list[str]], Any], Callable[[Any], str]]:
    """:func:`_rows_table` of a workbook's sheet."""
    return _rows_table(_sheet_rows(path, sheet, skip_rows))


def _rows_table(rows: tuple[str, list[str], list[list[Any]], int]
                ) -> tuple[str, list[str], Callable[[list[str]], Any], Callable[[Any], str]]:
    """(label, headers, a loader of some columns as a pyarrow table, and ``below(columns)``:
    the advice when a row below reads as the header ``columns`` need, else ``""``) of a
    sheet's rows as :func:`_sheet_rows` gives them."""
    label, header, body, top = rows

    def below(columns: Any) -> str:  # a report's title rows above its table (error path)
        from upsell.data._columns import header_below, header_row

        texts = [header] + [[_cell_text(v) for v in r] for r in body[:30]]
        i = header_row(texts, columns)
        return "" if i is None else header_below(f"sheet row {top + i + 1}", top + i, texts[i])

    def load(wanted: list[str], limit: int | None = None) -> Any:
        """The ``wanted`` columns; ``limit``: of the first rows only (an error's advice)."""
        pa = _pa()[0]
        rows = body if limit is None else body[:limit]
        cols = {}
        for name in wanted:
            j = header.index(name)
            cols[name] = _column([r[j] if j < len(r) else "" for r in rows])
        return pa.table(cols) if cols else pa.table({})

    return label, header, load, below


def read_prepared(path: Any, *, sheet: Any, columns: Any, invalid: str,
                  item_index: IdIndex | None, customer_index: IdIndex | None,
                  time_format: str | None = None, decimal: str = ".",
                  order_headers: Any = None, skip_rows: int = 0, where: Any = None) -> Any:
    """Read the sheets of a workbook that hold its order lines (:func:`sheets_read`), or
    those of several workbooks read as one history (a list of them, a folder, a glob
    pattern: :mod:`upsell.data._parts`), into a ``_Prepared`` (see the module docstring);
    ``order_headers``: an orders file's columns (:mod:`upsell.data._order_headers`);
    ``skip_rows``: each sheet's first rows, not read (a report's title). The sheets left
    out are named in the ``_Prepared``'s ``not_read``."""
    from upsell.data._arrow import prepare_parts
    from upsell.data._columns import check_decimal, check_time_format
    from upsell.data._parts import WORKBOOK_SUFFIXES, check_where, input_files, several_label
    from upsell.data.io import check_skip_rows

    skip_rows, where = check_skip_rows(skip_rows), check_where(where)
    time_format, decimal = check_time_format(time_format), check_decimal(decimal)
    files = input_files(path, suffixes=WORKBOOK_SUFFIXES, what="workbooks")
    paths = [path] if files is None else files
    parts: list[Any] = []
    not_read: dict[str, str] = {}
    for f in paths:
        parts += _book_parts(f, sheet=sheet, skip_rows=skip_rows, columns=columns,
                             several=len(paths) > 1, not_read=not_read, where=where)
    if len(paths) > 1:
        label = several_label(path, paths)
    elif len(parts) > 1:
        label = f"{existing_path(path)} ({len(parts):,} sheets)"
    else:
        label = parts[0].label
    if len(paths) == 1 and not any(p.n for p in parts):
        raise UpsellDataError(f"{label} has no rows")
    prep = prepare_parts(parts, label=label, order_headers=order_headers, invalid=invalid,
                         item_index=item_index, customer_index=customer_index,
                         time_format=time_format, decimal=decimal)
    prep.not_read = {**not_read, **prep.not_read}  # (a side file's too)
    return prep
