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

from collections.abc import Callable
from typing import Any

from upsell.data._nested import nested_open
from upsell.data._sources import _pa
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

__all__ = ["read_prepared"]


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
_WRAPPERS = ("orders", "data", "results", "records", "rows", "transactions", "sales", "lines",
             "events", "order_lines", "orderlines")


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
    orders), or an object whose one list of objects sits under a key of :data:`_WRAPPERS`
    (``{"orders": [...], "count": 250}``); None when the file is no such document. The
    document is parsed whole (a JSON array cannot be read in blocks)."""
    import json

    pa = _pa()[0]
    try:
        with pa.input_stream(label, compression="detect") as stream:
            doc = json.loads(stream.read())
    except (ValueError, OSError, pa.ArrowInvalid):
        return None
    if isinstance(doc, dict):
        found = [k for k, v in doc.items() if isinstance(v, list) and str(k).lower()
                 in _WRAPPERS and all(isinstance(r, dict) for r in v)]
        if len(found) != 1:
            return None
        doc = doc[found[0]]
    if not isinstance(doc, list):
        return None
    bad = next((j for j, r in enumerate(doc) if not isinstance(r, dict)), None)
    if bad is not None:
        raise UpsellDataError(f"{label}: record {bad + 1:,} of its JSON array is "
                              f"{type(doc[bad]).__name__} {str(doc[bad])[:40]!r}, not an object")
    if not doc:
        raise UpsellDataError(f"{label} holds an empty JSON array: no order lines")
    import pyarrow.json as pajson

    # one record per line, typed by pyarrow as JSON Lines are (pa.Table.from_pylist would
    # import pandas, and type the values otherwise)
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in doc]
    longest = max(len(b) for b in lines)
    data = b"\n".join(lines)
    del doc, lines
    try:
        return pajson.read_json(pa.BufferReader(data), read_options=pajson.ReadOptions(
            block_size=max(1 << 20, 2 * longest + 2)))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise UpsellDataError(f"{label}: its JSON array's records do not share their "
                              f"types ({str(exc).splitlines()[0]})") from None


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
