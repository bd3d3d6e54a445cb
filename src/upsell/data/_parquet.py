"""Parquet order lines behind :meth:`Transactions.read_parquet`: pyarrow reads, upsell's rules after.

A Parquet file (or a folder of them, as Spark, pandas and warehouse exports write, with
``key=value`` sub-folders read as columns) has typed columns, so nothing is parsed as
text that was not written as text. Only the wanted columns are read; each is brought
to the types the CSV reader hands over (:func:`upsell.data._arrow.prepare_columns`),
and from there both readers share every rule (ids stripped and counted, integer ids,
anonymous markers, bad values named by row, cleaning):

* ids of any type as text: integers, dates, and floats (pandas writes an integer
  column with missing values as float64: 17850.0 is the id 17850, NaN is missing);
* quantity, price and value: integers, floats and decimals as float64; a text column
  by upsell's number rules (``decimal``);
* time: timestamps of any unit to whole seconds (zone-aware ones at their UTC
  instant, as the CSV reader converts offsets), dates at midnight; text and integer
  columns (``20110131``) by ``time_format`` or ISO 8601.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from upsell.data._columns import check_decimal, check_time_format
from upsell.data._sources import _pa, empty_strings
from upsell.data.ids import IdIndex
from upsell.data.io import existing_path
from upsell.exceptions import UpsellDataError

_NUMBERS = ("quantity", "price", "value", "cost", "profit")
_BATCH = 1 << 16  # rows a block when where= filters a file as it is read


def _reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _blank(col: Any) -> Any:
    """A string column with its nulls as empty text, as the CSV reader sees a blank field."""
    pc = _pa()[1]
    if not col.null_count:
        return col
    return pc._call("coalesce", col, empty_strings(len(col)))


def _text(col: Any, what: str) -> Any:
    """A column of any type as pyarrow ``string``, blank where missing (a NaN too)."""
    pa, pc, _ = _pa()
    t = col.type
    if pa.types.is_dictionary(t):
        return _text(pc.cast(col, t.value_type), what)
    if pa.types.is_string(t):
        return _blank(col)
    if pa.types.is_floating(t):
        # 17850.0 -> "17850" (pyarrow writes integral floats without a fraction)
        out = pc.cast(col, pa.string())
        return _blank(pc._call("if_else", pc._call("is_nan", col),
                               pa.nulls(len(col), pa.string()), out))
    try:
        return _blank(pc.cast(col, pa.string()))
    except pa.ArrowInvalid:
        raise UpsellDataError(f"{what} holds bytes that are not UTF-8 text") from None
    except pa.ArrowNotImplementedError:
        raise UpsellDataError(f"{what} holds {t} values, which are not ids") from None


def _typed(col: Any, role: str, what: str) -> Any:
    """A column of role ``role`` in the types :func:`prepare_columns` takes."""
    pa, pc, _ = _pa()
    t = col.type
    if pa.types.is_dictionary(t):
        col, t = pc.cast(col, t.value_type), t.value_type
    if pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", bool)(t):
        col, t = pc.cast(col, pa.string()), pa.string()
    if role not in _NUMBERS and role != "time":
        return _text(col, what)
    if pa.types.is_string(t):
        return _blank(col)  # read by upsell's rules for numbers or times
    if role in _NUMBERS:
        if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
                or pa.types.is_boolean(t) or pa.types.is_null(t)):
            return pc._call("cast", col, options=pc._c.CastOptions.unsafe(pa.float64()))
        raise UpsellDataError(f"{what} holds {t} values, not numbers")
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_null(t):
        # whole seconds; a zone-aware timestamp is stored as its UTC instant
        return pc._call("cast", col, options=pc._c.CastOptions.unsafe(pa.timestamp("s")))
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _text(col, what)  # 20110131 or a day number: read by time_format
    raise UpsellDataError(f"{what} holds {t} values, not times (timestamps, dates or text)")


def _open(label: str) -> tuple[list[str], Callable[..., Any]]:
    """The headers of a Parquet file or folder, and a loader of some of its columns (of a
    file of nested records, by their dotted paths: :func:`upsell.data._nested.nested_open`)."""
    pa = _pa()[0]
    folder = os.path.isdir(label)
    if folder and not any(not n.startswith((".", "_")) for n in os.listdir(label)):
        raise UpsellDataError(f"{label} is an empty folder: no order lines to read")
    try:
        if folder:  # part files: pyarrow.dataset (it imports pandas, 0.2 s)
            import pyarrow.dataset as pads

            source: Any = pads.dataset(label, format="parquet", partitioning="hive")
            names = list(source.schema.names)
        else:
            import pyarrow.parquet as pq

            source = pq.ParquetFile(label)
            names = list(source.schema_arrow.names)
    except (pa.ArrowInvalid, OSError) as exc:
        if folder:  # no file named as CSV, JSON Lines or a workbook: read as Parquet
            names = sorted(n for n in os.listdir(label) if not n.startswith("."))
            raise UpsellDataError(
                f"{label} is not a folder of order lines: it holds no CSV, JSON Lines, "
                f"workbook or Parquet files ({', '.join(names[:5]) or 'no files'}"
                f"{', ...' if len(names) > 5 else ''}; as Parquet: {_reason(exc)})") from None
        raise UpsellDataError(
            f"{label} is not a Parquet file or a folder of them ({_reason(exc)})") from None

    def head(wanted: list[str], limit: int) -> Any:
        """The first ``limit`` rows of the ``wanted`` columns (an error's advice)."""
        if folder:
            return source.head(limit, columns=wanted)
        first = next(iter(source.iter_batches(columns=wanted, batch_size=limit)), None)
        return source.read(columns=wanted) if first is None else pa.Table.from_batches([first])

    def load(wanted: list[str], keep: Any = None, limit: int | None = None) -> Any:
        """The ``wanted`` columns; with ``keep`` (a :class:`~upsell.data._parts.WhereFilter`)
        only the rows it keeps, filtered a block at a time: (table, each row's position);
        ``limit``: the first rows only."""
        try:
            if limit is not None:
                return head(wanted, limit)
            if keep is None:
                return source.to_table(columns=wanted) if folder else source.read(columns=wanted)
            batches = (source.to_batches(columns=wanted, batch_size=_BATCH) if folder else
                       source.iter_batches(columns=wanted, batch_size=_BATCH))
            whole = source.schema if folder else source.schema_arrow
            return keep.table(batches, pa.schema([whole.field(w) for w in wanted]))
        except (pa.ArrowInvalid, OSError) as exc:
            raise UpsellDataError(f"{label} could not be read ({_reason(exc)})") from None

    schema = source.schema if folder else source.schema_arrow
    if any(pa.types.is_struct(f.type) or ((pa.types.is_list(f.type) or pa.types.is_large_list(
            f.type)) and pa.types.is_struct(f.type.value_type)) for f in schema):
        # nested records (a BigQuery or Spark export): read by dotted paths, as JSON Lines;
        # the plain columns as any Parquet file's (where= filters as it reads)
        from upsell.data._nested import nested_open

        paths, by_path = nested_open(label, schema,
                                     lambda top, limit: load(top, None, limit))
        plain = {f.name for f in schema if not pa.types.is_nested(f.type)}

        def either(wanted: list[str], keep: Any = None, limit: int | None = None) -> Any:
            return (load if set(wanted) <= plain else by_path)(wanted, keep, limit)

        return paths, either

    return names, load


def parquet_texts(path: str) -> tuple[list[str], list[list[str]]]:
    """(headers, each column's cells as text) of a Parquet file or folder: a catalog."""
    names, load = _open(existing_path(path))
    table = load(names)
    return names, [_text(table.column(j), f"column {n!r} of {path}").to_pylist()
                   for j, n in enumerate(names)]


def read_prepared(path: Any, *, columns: Any, invalid: str, item_index: IdIndex | None,
                  customer_index: IdIndex | None, time_format: str | None = None,
                  decimal: str = ".", order_headers: Any = None, where: Any = None) -> Any:
    """Read a Parquet file or folder, or a list of them or a glob pattern (read as one
    history: :mod:`upsell.data._parts`), into a ``_Prepared`` (see the module docstring);
    ``order_headers``: an orders file's columns (:mod:`upsell.data._order_headers`);
    ``where``: the rows to keep (:func:`upsell.data._parts.check_where`)."""
    # a folder is one dataset: pyarrow reads it
    return read_tables(path, _open, suffixes=(".parquet", ".pq"), what="Parquet files",
                       folders=False, columns=columns, invalid=invalid, item_index=item_index,
                       customer_index=customer_index, time_format=time_format,
                       decimal=decimal, order_headers=order_headers, where=where)


def read_tables(path: Any, open_table: Callable[[str], Any], *, suffixes: tuple[str, ...],
                what: str, folders: bool, columns: Any, invalid: str,
                item_index: IdIndex | None, customer_index: IdIndex | None,
                time_format: str | None, decimal: str, order_headers: Any,
                where: Any) -> Any:
    """:func:`read_prepared` for any typed table format: ``open_table(file)`` gives a
    file's headers and loader (:func:`_open`'s pair); ``suffixes``, ``what`` and
    ``folders`` say which files a list, folder or pattern names
    (:func:`~upsell.data._parts.input_files`)."""
    from upsell.data._arrow import prepare_parts
    from upsell.data._parts import check_where, input_files, several_label

    where = check_where(where)
    files = input_files(path, suffixes=suffixes, what=what, folders=folders)
    paths = [existing_path(path)] if files is None else files
    time_format, decimal = check_time_format(time_format), check_decimal(decimal)
    several = len(paths) > 1
    parts = [table_part(*open_table(f), label=f, columns=columns, empty_ok=several,
                        where=where, streams=True, time_format=time_format) for f in paths]
    return prepare_parts(parts, label=several_label(path, paths) if several else paths[0],
                         order_headers=order_headers, invalid=invalid, item_index=item_index,
                         customer_index=customer_index, time_format=time_format,
                         decimal=decimal)


def table_part(names: list[str], load: Callable[..., Any], *, label: str,
               columns: Any, below: Callable[[Any], str] | None = None,
               empty_ok: bool = False, where: dict[str, tuple[str, ...]] | None = None,
               streams: bool = False, time_format: str | None = None) -> Any:
    """The columns by role of a table whose headers are ``names`` (a
    :class:`~upsell.data._parts.Part`): ``load(headers)`` gives the wanted columns as a
    pyarrow table, each typed as the module docstring says; ``below(columns)``: advice for
    a missing column when the header seems to be a row below (a sheet's title rows);
    ``empty_ok``: a table without rows is a part of none (one file of several), not an
    error; ``where`` (:func:`~upsell.data._parts.check_where`): the rows it leaves out are
    marked, their fields blanked; or, with ``streams`` (``load(headers, keep)`` filters as
    it reads: a Parquet file's row groups), never held, only counted. ``time_format``: the
    one given, else a columns error says the one the time column needs
    (:func:`~upsell.data._first_rows.typed_advice`)."""
    from upsell.data._arrow import _known
    from upsell.data._columns import JOIN_SEP, resolve_columns, split_joined
    from upsell.data._parts import Part, WhereFilter, rows_left_out, status_flags, where_columns

    pc = _pa()[1]
    plain, joined = split_joined(columns)
    try:
        roles = resolve_columns(names, plain, source=label, joins=True)
    except UpsellDataError as exc:
        advice = below(plain) if below is not None else ""
        if not advice and ("look like columns=" in str(exc)  # the rest of the command too
                           or "join those columns: columns=" in str(exc)):
            from upsell.data._first_rows import typed_advice

            full = typed_advice(str(exc), names, load, plain, time_format=time_format,
                                where=where)
            if full != str(exc):
                raise UpsellDataError(full) from None
        if not advice:
            raise
        raise UpsellDataError(f"{exc}{advice}") from None
    parts = {role: [roles[role]] + [_known(names, h, role, label) for h in heads[1:]]
             for role, heads in joined.items()}
    where = where or {}
    where_at, events = where_columns(names, where, label)
    wanted = sorted(set(roles.values()) | {p for ps in parts.values() for p in ps}
                    | set(where_at.values()))
    keep = rows = None
    left: dict[str, int] = {}
    if where and streams:
        keep = WhereFilter(where, {h: names[p] for h, p in where_at.items() if h in where},
                           lambda col, h: _text(col, f"column {h!r} (of `where`) of {label}"))
        got = load([names[p] for p in wanted], keep)
    else:
        got = load([names[p] for p in wanted])
    # a loader gives the table, or (the table, each row's record, records left out): the
    # objects of a JSON record's list are one row each
    table, rows, left = (*got, {})[:3] if isinstance(got, tuple) else (got, None, {})
    left = {**(keep.left if keep else {}), **left}
    n = table.num_rows
    if n == 0 and not empty_ok and not left:
        raise UpsellDataError(f"{label} has no rows")
    at = {p: j for j, p in enumerate(wanted)}

    def what(pos: int, role: str) -> str:
        return f"column {names[pos]!r} (for `{role}`) of {label}"

    cols: dict[str, Any] = {}
    for role, pos in roles.items():
        if role not in parts:
            cols[role] = _typed(table.column(at[pos]), role, what(pos, role))
    for role, ps in parts.items():  # the texts of the columns, joined: one id
        cols[role] = pc.join([_text(table.column(at[p]), what(p, role)) for p in ps], JOIN_SEP)
    texts = {h: _text(table.column(at[p]), f"column {h!r} (of `where`) of {label}")
             for h, p in where_at.items()}
    bad, repairs = rows_left_out(label, cols, texts, where, events) if n else ({}, {})
    return Part(label=label, cols=cols, n=n, bad=bad, repairs=repairs, left=left, rows=rows,
                flags=status_flags(texts, where) if n else {})
