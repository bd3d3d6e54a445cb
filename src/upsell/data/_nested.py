"""Nested records read by their dotted paths, for :mod:`upsell.data._json` (JSON Lines) and
:mod:`upsell.data._parquet` (a Parquet file of structs and lists: BigQuery's export).

An object's keys are read as ``customer.id``; one list of objects, an order's ``line_items``
(Shopify's and WooCommerce's API orders) or an event's ``items`` (Google Analytics 4's), as
``line_items.sku``: each of its objects is an order line, and the record's own fields repeat
on each. A record whose list is empty has no lines, counted as left out. Any other list, or a
list of plain values, is refused with the column named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from upsell.data._sources import _arrow_ints, _numpy, _pa
from upsell.exceptions import UpsellDataError

__all__ = ["nested_open"]


def _flat(table: Any) -> Any:
    """``table`` with every object (struct) column spread into ``parent.key`` columns."""
    pa = _pa()[0]
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def _paths(name: str, kind: Any) -> list[str]:
    """The dotted names ``Table.flatten`` gives a column ``name`` of type ``kind``."""
    pa = _pa()[0]
    if not pa.types.is_struct(kind):
        return [name]
    return [p for j in range(kind.num_fields)
            for p in _paths(f"{name}.{kind.field(j).name}", kind.field(j).type)]


def _flat_fields(schema: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(dotted name -> type of each column ``Table.flatten`` gives, dotted name -> the
    top-level column it is read from)."""
    types: dict[str, Any] = {}
    top: dict[str, str] = {}
    pa = _pa()[0]

    def walk(name: str, kind: Any, root: str) -> None:
        if pa.types.is_struct(kind):
            for j in range(kind.num_fields):
                walk(f"{name}.{kind.field(j).name}", kind.field(j).type, root)
        else:
            types[name], top[name] = kind, root

    for f in schema:
        walk(f.name, f.type, f.name)
    return types, top


def nested_open(label: str, schema: Any, read: Callable[[list[str], int | None], Any]
                ) -> tuple[list[str], Callable[..., Any]]:
    """The headers (keys, nested ones by their dotted paths, a list's objects' fields too)
    of a table of nested records whose schema is ``schema``, and a loader of some of its
    columns: ``read(top_level_names, limit)`` gives those columns of the table (JSON Lines
    held whole, or a Parquet file read for them), its first ``limit`` rows when not None."""
    pa, pc, _ = _pa()
    types, top = _flat_fields(schema)
    lists = {name: _paths(name, kind.value_type) for name, kind in types.items()
             if (pa.types.is_list(kind) or pa.types.is_large_list(kind))
             and pa.types.is_struct(kind.value_type)}
    for name, fields in lists.items():
        top.update({f: top[name] for f in fields})
    names = list(types) + [n for fields in lists.values() for n in fields]
    # a list (or a list's value) is no column of order lines: refused when it is mapped
    nested = {name: str(kind) for name, kind in types.items()
              if pa.types.is_list(kind) or pa.types.is_large_list(kind)}

    def load(wanted: list[str], keep: Any = None, limit: int | None = None) -> Any:
        """The ``wanted`` columns, one row per line item when they name a list's fields;
        with ``keep`` (a WhereFilter) only the rows it keeps: (table, each row's record,
        records left out); ``limit``: of the first records only (an error's advice)."""
        for w in wanted:
            if w in nested:
                raise UpsellDataError(
                    f"column {w!r} of {label} holds nested values ({nested[w]}): map the "
                    f"fields of its objects ({', '.join(lists.get(w, [])[:4]) or 'none'}), "
                    "or flatten it first, one order line per record")
        used = sorted(name for name, fields in lists.items() if set(fields) & set(wanted))
        if len(used) > 1:
            raise UpsellDataError(
                f"the columns map fields of two lists of {label}, {used[0]!r} and {used[1]!r}: "
                "the order lines are the objects of one of them")
        table = _flat(read(sorted({top[w] for w in [*wanted, *used]}), limit))
        records = None
        left: dict[str, int] = {}
        part = table.select([w for w in wanted if w in table.schema.names])
        if used:  # one row per object of the list; the record's own fields repeat
            col = table.column(used[0]).combine_chunks()  # parents index the whole column
            records = _numpy(pc._call("list_parent_indices", col)).astype(np.int64)
            items = _flat(pa.table({used[0]: pc._call("list_flatten", col)}))
            outer = pc.take(part, _arrow_ints(records))  # (Table.take imports pandas)
            part = pa.Table.from_arrays(
                [items.column(w) if w in lists[used[0]] else outer.column(w) for w in wanted],
                names=wanted)
            empty = table.num_rows - int(np.unique(records).size)
            if empty:
                left[f"record with no {used[0]!r} objects (an order without lines)"] = empty
        if keep is None:
            return (part, records, left) if used else part
        kept, rows = keep.table(iter(part.to_batches()), part.schema)
        return kept, (rows if records is None else records[rows]), left

    return names, load
