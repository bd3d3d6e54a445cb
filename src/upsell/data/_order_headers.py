"""An orders file beside the order lines (each order's customer, time or channel), and a
customers file (each customer id's person).

Shops whose systems export order headers and order lines apart (an ERP's two tables,
Olist's ``olist_orders_dataset.csv`` beside ``olist_order_items_dataset.csv``) keep the
customer and the time on the order, not on its lines. The readers' ``orders_file=``
(:mod:`upsell.data._order_files` reads it) gives every line its order's values here,
before any rule runs, so they are read, cleaned, counted and reported
as if the lines file had held them. A line whose order the orders file does not list
is an error under ``invalid="raise"`` (the order and the row named) and is dropped
and counted under ``invalid="drop"``.

A customers file maps the customer ids the lines (or their orders) hold to the person
they stand for: Olist gives each order a ``customer_id`` of its own, and its customers
file names the person, ``customer_unique_id``. Every line's customer becomes its person,
so a customer's orders are one history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from upsell.data._sources import (
    _arrow_ints,
    _numpy,
    _pa,
    _with_nulls,
    arrow_bools,
    bool_mask,
    empty_strings,
)
from upsell.exceptions import UpsellDataError

__all__ = ["CUSTOMER_MISSING", "HEADER_ROLES", "MISSING", "OrderHeaders", "join_order_headers",
           "prepared_with_headers"]

#: What an orders file may give the lines (besides ``order``, the key).
HEADER_ROLES = ("customer", "time", "channel")

#: The reason the data report gives for lines dropped this way.
MISSING = "order not in the orders file"
#: ... and for lines whose customer a customers file does not list.
CUSTOMER_MISSING = "customer not in the customers file"


#: The key, among an OrderHeaders' columns, of a ``where`` header's column (``where#status``).
WHERE = "where#"
#: ... of an orders file's status column read to flag unsold orders (``status#order_status``)
STATUS = "status#"


def side_header(key: str) -> str:
    """The header a side file's column key names: ``where#status`` -> ``status``.

    >>> side_header("where#order_status"), side_header("status#STATUS"), side_header("time")
    ('order_status', 'STATUS', 'time')
    """
    return key.split("#", 1)[1] if key.startswith((WHERE, STATUS)) else key


@dataclass(frozen=True)
class OrderHeaders:
    """A side file's key and columns, as pyarrow text (stripped keys): an orders file
    (``key_role="order"``: each order's customer, time or channel) or a customers file
    (``key_role="customer"``: each customer id's person, ``columns={"customer": ...}``)."""

    label: str
    key: Any
    columns: dict[str, Any]
    key_role: str = "order"
    # several files read as one (monthly exports): each one's first row and label
    files: Any = None
    # what was skipped, and why (title lines above the header, a workbook's other sheets)
    not_read: dict[str, str] = field(default_factory=dict)
    # ``where`` headers of this file, with the values kept: each line is kept by its
    # order's value, read as the column ``WHERE + header`` among ``columns``
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def what(self) -> str:
        """``"orders file"`` or ``"customers file"``, as messages name it."""
        return f"{self.key_role}s file"


def join_order_headers(cols: dict[str, Any], headers: OrderHeaders, *, invalid: str,
                       label: str, files: Any = None) -> np.ndarray:
    """Give every line of ``cols`` (role -> pyarrow column, ``headers.key_role`` among
    them) its key's columns from ``headers``; returns the mask of lines whose key is not
    listed. A customers file maps each line's customer to its person; a blank or anonymous
    customer (``NULL``, ``n/a``) stays so.

    Raises when the file lists a key twice with different values, and, under
    ``invalid="raise"``, when a line's key is not listed (the first one named, by its file
    when ``files`` holds the first row and label of several).
    """
    pa = _pa()[0]
    import pyarrow.compute as pc

    kr = headers.key_role
    both = [r for r in headers.columns if r in cols and r != kr]
    if both:
        raise UpsellDataError(
            f"`{both[0]}` comes from both {label} and the {headers.what} {headers.label}; map "
            f"it in one of them")
    if kr not in cols:
        raise UpsellDataError(f"the {headers.what} {headers.label} maps each {kr}, and "
                              f"{label} has no `{kr}` column to map; map one")
    key = headers.key
    n_keys = len(key)
    if n_keys == 0:
        raise UpsellDataError(f"the {headers.what} {headers.label} lists no {kr}")
    if int(pc.count_distinct(key).as_py()) < n_keys:
        _refuse_conflicts(headers)
    mine = cols[kr]  # the lines' keys as text, chunk by chunk (no combined copy)
    trimmed = pc.utf8_trim_whitespace(mine)
    found = pc.index_in(trimmed, value_set=key)
    # numpy through the buffers: pyarrow's converters (fill_null's scalar) import pandas
    pos = np.concatenate([_with_nulls(c, np.int32, -1) for c in found.chunks]
                         or [np.zeros(0, np.int32)]).astype(np.int64)
    # a line without a key (a blank order: the cleaning rules name or drop it; an anonymous
    # customer: it stays so) takes nothing from the file
    if kr == "customer":
        from upsell.data._columns import NULL_CUSTOMERS

        enc = pc.dictionary_encode(trimmed.combine_chunks())  # the distinct ids, judged once
        words = enc.dictionary.to_pylist()
        anon = np.array([not w or w.lower() in NULL_CUSTOMERS for w in words] + [True])
        blank = anon[_with_nulls(enc.indices, np.int32, -1)]  # a null id (-1): anonymous
    else:  # (the empty text from a buffer: pa.scalar would import pandas)
        blank = bool_mask(pc.equal(trimmed, empty_strings(1)[0]))
    missing = (pos < 0) & ~blank
    if missing.any() and invalid == "raise":
        from upsell.data._columns import row_name

        row = int(np.flatnonzero(missing)[0])
        raise UpsellDataError(
            f"{int(missing.sum()):,} order line(s) of {label} have {'an' if kr == 'order' else 'a'}"
            f" {kr} that the {headers.what} {headers.label} does not list, e.g. "
            f"{row_name(row, files)} ({kr} {mine[row].as_py()!r}); pass invalid='drop' to "
            f"drop such rows (counted)")
    # a line whose key is not listed takes the first key's values: it is dropped (and
    # counted) before any rule reads them
    take = _arrow_ints(np.where(missing | blank, 0, pos))
    for role, col in headers.columns.items():
        got = pc.take(col, take)
        if blank.any():  # blank (text) or missing (typed) where the line has no key
            n = blank.size
            fill = empty_strings(n) if pa.types.is_string(got.type) else pa.nulls(n, got.type)
            got = pc.if_else(arrow_bools(blank), fill, got)
        cols[role] = pa.chunked_array([got])
    return missing


def _refuse_conflicts(headers: OrderHeaders) -> None:
    """A key listed twice is fine with the same values; with others it is an error."""
    import pyarrow.compute as pc

    codes = _numpy(pc.dictionary_encode(headers.key).indices).astype(np.int64)
    _, first = np.unique(codes, return_index=True)
    seen = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    seen[codes[first]] = first
    again = np.setdiff1d(np.arange(codes.size), first)
    from upsell.data._columns import row_name

    kr = headers.key_role
    for role, col in headers.columns.items():
        if role.startswith(STATUS):  # read for a flag: an order's first status does
            continue
        a = col.take(again).to_pylist()
        b = col.take(seen[codes[again]]).to_pylist()
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            if (x.strip() != y.strip()) if isinstance(x, str) and isinstance(y, str) else x != y:
                row = int(again[j])
                what = "person" if kr == "customer" else side_header(role)
                raise UpsellDataError(
                    f"the {headers.what} {headers.label} lists {kr} "
                    f"{headers.key[row].as_py()!r} twice with different `{what}` "
                    f"({y!r} and {x!r}, {row_name(row, headers.files)}); "
                    f"{'an' if kr == 'order' else 'a'} "
                    f"{kr} has one {what}")


def prepared_with_headers(cols: dict[str, Any], headers: list[OrderHeaders] | None, *,
                          invalid: str, label: str, prepare: Any, files: Any = None) -> Any:
    """``prepare(cols)`` (the readers' ``prepare_columns``) after the side files' columns
    are given to the lines (``headers``: None, or the files joined in turn, an orders file
    then a customers file: :func:`upsell.data._order_files.side_files`); a line whose key a
    file does not list is marked to be dropped and counted (under ``invalid="drop"``;
    ``"raise"`` stopped at the join). ``files``: several files' first rows and labels, when
    the lines came from several (:mod:`upsell.data._parts`)."""
    sides = headers or []
    unlisted = {}  # a line dropped for its order is not counted again for its customer
    for h in sides:
        reason = MISSING if h.key_role == "order" else CUSTOMER_MISSING
        unlisted[reason] = join_order_headers(cols, h, invalid=invalid, label=label,
                                              files=files)
    prep = prepare(cols)
    for h in sides:  # the report names every file, and what it skipped in them
        prep.source = f"{prep.source or label} + {h.what} {h.label}"
        prep.not_read.update(h.not_read)
    for reason, mask in unlisted.items():
        if mask.any():
            prep.bad[reason] = mask  # dropped and counted by the cleaning rules
    return prep
