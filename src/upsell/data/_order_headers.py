"""An orders file beside the order lines: each order's customer, time or channel.

Shops whose systems export order headers and order lines apart (an ERP's two tables,
Olist's ``olist_orders_dataset.csv`` beside ``olist_order_items_dataset.csv``) keep the
customer and the time on the order, not on its lines. The readers' ``orders_file=``
(:mod:`upsell.data._order_files` reads it) gives every line its order's values here,
before any rule runs, so they are read, cleaned, counted and reported
as if the lines file had held them. A line whose order the orders file does not list
is an error under ``invalid="raise"`` (the order and the row named) and is dropped
and counted under ``invalid="drop"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell.data._sources import _numpy, _pa
from upsell.exceptions import UpsellDataError

__all__ = ["HEADER_ROLES", "MISSING", "OrderHeaders", "join_order_headers", "prepared_with_headers"]

#: What an orders file may give the lines (besides ``order``, the key).
HEADER_ROLES = ("customer", "time", "channel")

#: The reason the data report gives for lines dropped this way.
MISSING = "order not in the orders file"


@dataclass(frozen=True)
class OrderHeaders:
    """The orders file's key and columns, as pyarrow text (stripped keys)."""

    label: str
    order: Any
    columns: dict[str, Any]


def join_order_headers(cols: dict[str, Any], headers: OrderHeaders, *, invalid: str,
                       label: str) -> np.ndarray:
    """Give every line of ``cols`` (role -> pyarrow column, ``order`` among them) its
    order's columns from ``headers``; returns the mask of lines whose order is not listed.

    Raises when the orders file lists an order twice with different values, and, under
    ``invalid="raise"``, when a line's order is not listed (the first one named).
    """
    pa = _pa()[0]
    import pyarrow.compute as pc

    both = [r for r in headers.columns if r in cols]
    if both:
        raise UpsellDataError(
            f"`{both[0]}` comes from both {label} and the orders file {headers.label}; map "
            f"it in one of them")
    key = headers.order
    n_keys = len(key)
    if n_keys == 0:
        raise UpsellDataError(f"the orders file {headers.label} lists no order")
    if int(pc.count_distinct(key).as_py()) < n_keys:
        _refuse_conflicts(headers)
    order = cols["order"]  # the lines' order ids as text, chunk by chunk (no combined copy)
    found = pc.index_in(pc.utf8_trim_whitespace(order), value_set=key)
    pos = np.concatenate([_numpy(c) for c in pc.fill_null(found, -1).chunks]
                         or [np.zeros(0, np.int32)]).astype(np.int64)
    missing = pos < 0
    if missing.any() and invalid == "raise":
        row = int(np.flatnonzero(missing)[0])
        raise UpsellDataError(
            f"{int(missing.sum()):,} order line(s) of {label} have an order that the orders "
            f"file {headers.label} does not list, e.g. row {row + 1:,} (order "
            f"{order[row].as_py()!r}); pass invalid='drop' to drop such rows (counted)")
    # a line whose order is not listed takes the first order's values: it is dropped
    # (and counted) before any rule reads them
    rows = np.ascontiguousarray(np.where(missing, 0, pos), dtype=np.int64)
    take = pa.Array.from_buffers(pa.int64(), rows.size, [None, pa.py_buffer(rows)])
    for role, col in headers.columns.items():
        cols[role] = pa.chunked_array([pc.take(col, take)])
    return missing


def _refuse_conflicts(headers: OrderHeaders) -> None:
    """An order listed twice is fine with the same values; with others it is an error."""
    import pyarrow.compute as pc

    codes = _numpy(pc.dictionary_encode(headers.order).indices).astype(np.int64)
    _, first = np.unique(codes, return_index=True)
    seen = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    seen[codes[first]] = first
    again = np.setdiff1d(np.arange(codes.size), first)
    for role, col in headers.columns.items():
        a = col.take(again).to_pylist()
        b = col.take(seen[codes[again]]).to_pylist()
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            if (x.strip() != y.strip()) if isinstance(x, str) and isinstance(y, str) else x != y:
                row = int(again[j])
                raise UpsellDataError(
                    f"the orders file {headers.label} lists order "
                    f"{headers.order[row].as_py()!r} twice with different `{role}` "
                    f"({y!r} and {x!r}, row {row + 1:,}); an order has one {role}")


def prepared_with_headers(cols: dict[str, Any], headers: OrderHeaders | None, *, invalid: str,
                          label: str, prepare: Any) -> Any:
    """``prepare(cols)`` (the readers' ``prepare_columns``) after the orders file's columns
    are given to the lines; a line whose order it does not list is marked to be dropped and
    counted (under ``invalid="drop"``; ``"raise"`` stopped at the join)."""
    unlisted = (None if headers is None
                else join_order_headers(cols, headers, invalid=invalid, label=label))
    prep = prepare(cols)
    if headers is not None:  # the report names both files
        prep.source = f"{prep.source or label} + orders file {headers.label}"
    if unlisted is not None and unlisted.any():
        prep.bad[MISSING] = unlisted  # dropped and counted by the cleaning rules
    return prep
