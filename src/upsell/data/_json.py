"""JSON Lines order lines behind :meth:`Transactions.read_json`: one flat record per line.

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
        reason = str(exc).split("\n")[0]
        hint = ("; a JSON array (one document) is not JSON Lines: write one record per line"
                if "array" in reason.lower() or "list" in reason.lower() else "")
        raise UpsellDataError(f"{label} could not be read as JSON Lines ({reason}){hint}"
                              ) from None
    def read(top: list[str], limit: int | None) -> Any:
        return table.select(top) if limit is None else table.select(top).slice(0, limit)

    return nested_open(label, table.schema, read)


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
