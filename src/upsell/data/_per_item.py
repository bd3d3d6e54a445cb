"""Values per item or per id drawn from the order lines: an item's most frequent product
name, and the rows whose id is Google Analytics' placeholder "(not set)" (no id at all)."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.data.ids import IdIndex

__all__ = ["item_names", "not_set_rows"]


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
