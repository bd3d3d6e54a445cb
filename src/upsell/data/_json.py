"""JSON order lines behind :meth:`Transactions.read_json`: one record per line (JSON Lines),
or one document, an array of records (an API's list of orders).

An API's or a warehouse's export (BigQuery's newline-delimited JSON, an event stream's
dump) writes each order line as one JSON object. pyarrow reads them typed (plain or gzip,
in blocks, not through Python objects); from there the columns take the Parquet reader's
path (:func:`upsell.data._parquet.table_part`): ids of any type as text, numbers and
timestamps as they were written, text by upsell's rules, and every cleaning rule after.
Nested records are read by their dotted paths (:mod:`upsell.data._nested`): an object's keys
as ``customer.id``, and one list of objects, an order's ``line_items``, as ``line_items.sku``,
one order line per object. Errors name the record (its line).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from upsell.data._nested import nested_open
from upsell.data._sources import _pa
from upsell.data._suggest import header_list
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

__all__ = ["json_texts", "read_prepared"]


def _open(label: str) -> tuple[list[str], Callable[..., Any]]:
    """The headers (keys, nested ones by their dotted paths) of a JSON Lines file, and a
    loader of some of its columns."""
    pa = _pa()[0]
    import pyarrow.json as pajson

    try:
        with pa.input_stream(label, compression="detect") as stream:
            table = pajson.read_json(stream)
    except (pa.ArrowInvalid, OSError) as exc:
        table = _document(label)
        if table is None:
            reason = str(exc).split("\n")[0]
            raise UpsellDataError(f"{label} could not be read as JSON Lines ({reason})"
                                  ) from None
    table = _unwrapped(table)

    def read(top: list[str], limit: int | None) -> Any:
        return table.select(top) if limit is None else table.select(top).slice(0, limit)

    return nested_open(label, table.schema, read)


#: keys of an API response's object that hold its list of records ({"orders": [...]})
_WRAPPERS = ("orders", "products", "data", "results", "records", "rows", "transactions", "sales",
             "lines", "events", "order_lines", "orderlines")


def _unwrapped(table: Any) -> Any:
    """A table of one record whose one list of objects sits under a key of
    :data:`_WRAPPERS` (``{"orders": [...], "count": 250}`` read as JSON Lines): that list's
    objects, one row each; else ``table``."""
    pa, pc, _ = _pa()
    found = [f.name for f in table.schema if f.name.lower() in _WRAPPERS
             and (pa.types.is_list(f.type) or pa.types.is_large_list(f.type))
             and pa.types.is_struct(f.type.value_type)]
    if table.num_rows != 1 or len(found) != 1:
        return table
    inner = pc._call("list_flatten", table.column(found[0]).combine_chunks())
    return pa.Table.from_batches([pa.RecordBatch.from_struct_array(inner)])


def _document(label: str) -> Any:
    """One JSON document of records as a table: an array of objects (an API's list of
    orders), or an object whose list of objects sits under a key of :data:`_WRAPPERS`
    (``{"orders": [...], "count": 250}``); None when the file is no such document. The
    records are found one at a time (each parsed, then let go) and written one per line
    for pyarrow's JSON Lines reader: the text and those lines are held, not a Python
    object per value (``json.loads`` of the whole would take ten times the file)."""
    import pyarrow.json as pajson

    pa = _pa()[0]
    try:
        with pa.input_stream(label, compression="detect") as stream:
            text = stream.read().decode("utf-8-sig")
    except (UnicodeDecodeError, OSError, pa.ArrowInvalid):
        return None
    dec = json.JSONDecoder()
    try:
        at = _records_at(text, dec)
        if at is None:
            return None
        data, longest = _record_lines(label, text, at, dec)
    except json.JSONDecodeError:  # not JSON: the JSON Lines error stands
        return None
    del text
    try:  # typed by pyarrow as JSON Lines are (pa.Table.from_pylist would import pandas)
        return pajson.read_json(pa.BufferReader(data), read_options=pajson.ReadOptions(
            block_size=max(1 << 20, 2 * longest + 2)))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise UpsellDataError(f"{label}: its JSON array's records do not share their "
                              f"types ({str(exc).splitlines()[0]})") from None


def _skip(text: str, i: int) -> int:
    """The position of the first character at or after ``i`` that is not JSON whitespace."""
    n = len(text)
    while i < n and text[i] in " \t\r\n":
        i += 1
    return i


def _records_at(text: str, dec: Any) -> int | None:
    """Where the array of records opens: the document itself, or the first value under a
    key of :data:`_WRAPPERS` of an object that is an array (the object's other values are
    skipped); None when there is none."""
    i = _skip(text, 0)
    if text.startswith("[", i):
        return i
    if not text.startswith("{", i):
        return None
    i = _skip(text, i + 1)
    while i < len(text) and text[i] != "}":
        key, i = dec.raw_decode(text, i)
        i = _skip(text, i)
        if not text.startswith(":", i):
            raise json.JSONDecodeError("no ':' after a key", text, i)
        i = _skip(text, i + 1)
        if isinstance(key, str) and key.lower() in _WRAPPERS and text.startswith("[", i):
            return i
        i = _skip(text, dec.raw_decode(text, i)[1])
        i = _skip(text, i + 1) if text.startswith(",", i) else i
    return None


def _record_lines(label: str, text: str, at: int, dec: Any) -> tuple[bytes, int]:
    """(the records of the array opening at ``at``, one per line, the longest line's
    length); a value that is not an object is named by its place."""
    out = bytearray()
    longest, k = 0, 0
    i = _skip(text, at + 1)
    while not text.startswith("]", i):
        if i >= len(text):
            raise json.JSONDecodeError("the array does not close", text, i)
        start = i
        value, i = dec.raw_decode(text, i)
        k += 1
        if not isinstance(value, dict):
            raise UpsellDataError(f"{label}: record {k:,} of its JSON array is "
                                  f"{type(value).__name__} {str(value)[:40]!r}, not an object")
        line = text[start:i].replace("\n", " ").replace("\r", " ").encode()
        longest = max(longest, len(line))
        out += line + b"\n"
        i = _skip(text, i)
        i = _skip(text, i + 1) if text.startswith(",", i) else i
    if not k:
        raise UpsellDataError(f"{label} holds an empty JSON array: no order lines")
    return bytes(out), longest


def json_texts(label: str, columns: Mapping[str, str] | None, check: Callable[..., Any]
               ) -> tuple[list[str], list[list[str]]]:
    """(headers, each column's cells as text) of a JSON catalog (Shopify's
    ``products.json``: a product's ``variants`` are its items, the product's own fields
    repeated on each): the headers ``columns`` maps and every plain field (no list, no
    list's field). ``check(headers)`` is called on every header first (it raises when none
    names the item, with the mapping they suggest)."""
    from upsell.data._parquet import _text

    names, load = _open(label)
    check(names)
    lists = {m for m in names if any(n.startswith(m + ".") for n in names)
             and not any(m.startswith(p + ".") for p in names)}
    mapped = list(dict.fromkeys((columns or {}).values()))
    for header in mapped:
        if header not in names:
            raise UpsellDataError(f"column {header!r} is not in the catalog {label}; it has "
                                  f"{header_list(names)}")
    plain = [n for n in names if n not in lists and not any(n.startswith(m + ".")
                                                           for m in lists)]
    wanted = list(dict.fromkeys([*mapped, *plain]))
    got = load(wanted)
    table = got[0] if isinstance(got, tuple) else got  # (one row per object of a list)
    return wanted, [_text(table.column(j), f"column {n!r} of {label}").to_pylist()
                    for j, n in enumerate(wanted)]


def read_prepared(path: Any, *, columns: Any, invalid: str, item_index: IdIndex | None,
                  customer_index: IdIndex | None, time_format: str | None = None,
                  decimal: str = ".", order_headers: Any = None, where: Any = None) -> Any:
    """Read a JSON Lines file, or a list of them, a folder of them or a glob pattern (read
    as one history: :mod:`upsell.data._parts`), into a ``_Prepared``, as
    :func:`upsell.data._parquet.read_prepared` reads Parquet."""
    from upsell.data._parquet import read_tables
    from upsell.data._parts import JSON_SUFFIXES

    return read_tables(path, _open, suffixes=JSON_SUFFIXES,
                       what="JSON Lines files", folders=True, columns=columns, invalid=invalid,
                       item_index=item_index, customer_index=customer_index,
                       time_format=time_format, decimal=decimal, order_headers=order_headers,
                       where=where)
