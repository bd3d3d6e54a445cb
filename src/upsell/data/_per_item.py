"""Values per item or per id drawn from the order lines: an item's most frequent product
name, the rows whose id is Google Analytics' placeholder "(not set)" (no id at all), and
whose purchases each line's return nets against."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.data.ids import IdIndex

__all__ = ["item_names", "not_set_rows", "return_owners"]


def item_names(item: np.ndarray, name: np.ndarray, n_items: int, index: IdIndex) -> np.ndarray:
    """Most frequent name per item (ties: the first in sorted order); "" where none."""
    text = index.ids.astype(str)
    out = np.full(n_items, "", dtype=text.dtype if text.size else "U1")
    ok = name >= 0
    if not ok.any():
        return out
    n_names = max(len(index), 1)
    key = item[ok].astype(np.int64) * n_names + name[ok]
    uk, cnt = np.unique(key, return_counts=True)
    it, nm = uk // n_names, uk % n_names
    order = np.lexsort((nm, -cnt, it))
    it, nm = it[order], nm[order]
    first = np.ones(it.size, dtype=bool)
    first[1:] = it[1:] != it[:-1]
    out[it[first]] = text[nm[first]]
    return out


def not_set_rows(codes: np.ndarray, index: Any) -> np.ndarray | None:
    """The rows whose id (``codes`` into ``index``, text ids) is ``"(not set)"``, spaces
    around it aside; None when there is none.

    Examples
    --------
    >>> not_set_rows(np.array([1, 0, 0, -1]), IdIndex(["(not set)", "T1"])).tolist()
    [False, True, True, False]
    """
    from upsell.data._columns import NOT_SET

    if index is None or index.kind != "str" or not len(index):
        return None
    ids = np.char.strip(index.ids.astype(str))
    at = np.flatnonzero(ids == NOT_SET)
    if not at.size:
        return None
    hit = np.isin(codes, at)
    return hit if hit.any() else None


def return_owners(customer: np.ndarray | None, order: np.ndarray) -> np.ndarray:
    """Whose purchases each line's return nets against: its customer, or for an anonymous
    line (a till's void, Walmart's negative scan count) its own order, as a customer of
    its own (codes above every customer's).

    Examples
    --------
    >>> return_owners(np.array([0, 1, -1, -1]), np.array([0, 1, 2, 3])).tolist()
    [0, 1, 4, 5]
    >>> return_owners(None, np.array([7, 7])).tolist()
    [7, 7]
    """
    if customer is None:
        return order.astype(np.int64)
    base = int(customer.max()) + 1 if customer.size else 0
    return np.where(customer >= 0, customer, base + order.astype(np.int64))
