"""An orders file beside the order lines: each order's customer, time or channel.

Shops whose systems export order headers and order lines apart (an ERP's two tables,
Olist's ``olist_orders_dataset.csv`` beside ``olist_order_items_dataset.csv``) keep the
customer and the time on the order, not on its lines. :meth:`Transactions.read_csv`
with ``orders_file=`` reads the orders' columns (as text) and gives every line its
order's values before any rule runs, so they are read, cleaned, counted and reported
as if the lines file had held them. A line whose order the orders file does not list
is an error under ``invalid="raise"`` (the order and the row named) and is dropped
and counted under ``invalid="drop"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell.data._sources import _numpy, _pa
from upsell.exceptions import UpsellDataError

__all__ = ["HEADER_ROLES", "OrderHeaders", "join_order_headers", "read_order_headers"]

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


def read_order_headers(path: Any, columns: Any, *, delimiter: str = ",",
                       encoding: str = "utf-8") -> OrderHeaders:
    """Read ``columns`` (role -> header: ``order`` and some of :data:`HEADER_ROLES`) of a
    CSV orders file (plain or gzip) as text."""
    pa, _, pacsv = _pa()
    import pyarrow.compute as pc  # only with an orders file: its set lookup is not wrapped

    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    if isinstance(columns, Mapping):
        columns = dict(columns)
    if not isinstance(columns, dict) or not columns:
        raise UpsellDataError("`orders_columns` must map roles to the orders file's headers, "
                              "e.g. {'order': 'order_id', 'customer': 'customer_id', "
                              "'time': 'order_purchase_timestamp'}")
    unknown = [r for r in columns if r != "order" and r not in HEADER_ROLES]
    if unknown:
        raise UpsellDataError(f"`orders_columns`: {unknown[0]!r} cannot come from an orders "
                              f"file; it gives {', '.join(HEADER_ROLES)} (and `order`, the key)")
    if "order" not in columns or len(columns) < 2:
        raise UpsellDataError("`orders_columns` needs `order` (the key the lines share) and "
                              f"at least one of {', '.join(HEADER_ROLES)}")
    for role, header in columns.items():
        if not isinstance(header, str) or not header:
            raise UpsellDataError(f"`orders_columns[{role!r}]` must be a header name; "
                                  f"got {header!r}")
    if not os.path.isfile(label):
        raise UpsellDataError(f"orders file not found: {label}")
    heads = list(dict.fromkeys(columns.values()))
    try:
        with pa.input_stream(label, compression="detect") as stream:
            table = pacsv.read_csv(
                stream, read_options=pacsv.ReadOptions(encoding=encoding),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in heads}, include_columns=heads,
                    strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError, UnicodeError, LookupError) as exc:
        _refuse_missing_headers(label, columns, delimiter, encoding)
        raise UpsellDataError(f"{label} (the orders file): {exc}") from None
    cols = {role: table.column(h).combine_chunks() for role, h in columns.items()}
    order = pc.utf8_trim_whitespace(cols.pop("order"))
    return OrderHeaders(label=label, order=order, columns=cols)


def _refuse_missing_headers(label: str, columns: dict[str, str], delimiter: str,
                            encoding: str) -> None:
    """After a failed read: the error naming a mapped header the file does not have (its
    headers listed), if that was the failure."""
    import csv
    import io

    pa = _pa()[0]
    with pa.input_stream(label, compression="detect") as stream:
        text = stream.read(1 << 16).decode(encoding, "replace").lstrip("\ufeff")
    have = [h.strip() for h in next(csv.reader(io.StringIO(text, newline=""),
                                               delimiter=delimiter), [])]
    for role, header in columns.items():
        if header not in have:
            raise UpsellDataError(
                f"orders file {label} has no column {header!r} (for `{role}`); it has "
                f"{', '.join(repr(h) for h in have[:20])}")


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
            if x.strip() != y.strip():
                row = int(again[j])
                raise UpsellDataError(
                    f"the orders file {headers.label} lists order "
                    f"{headers.order[row].as_py()!r} twice with different `{role}` "
                    f"({y!r} and {x!r}, row {row + 1:,}); an order has one {role}")
