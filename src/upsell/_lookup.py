"""Single-id lookups by binary search: no per-index dictionary on the serving path."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.data.ids import IdIndex

__all__ = ["find_sorted", "position"]


def find_sorted(keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each ``query`` key is in the sorted ``keys``, and whether it is there: a binary
    search (``np.isin`` sorts both arrays at every call: 84% of a 30M-line shop's fit when
    called per chunk of customers, 8 s of a 10M-line report's split).

    Examples
    --------
    >>> at, hit = find_sorted(np.array([2, 5, 9]), np.array([5, 6, 9]))
    >>> at.tolist(), hit.tolist()
    ([1, 2, 2], [True, False, True])
    """
    if keys.size == 0:
        return np.zeros(query.size, dtype=np.int64), np.zeros(query.size, dtype=bool)
    at = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return at, keys[at] == query


def position(index: IdIndex, value: Any) -> int:
    """Index of one external id, or -1 when it is absent (or of the other kind).

    A binary search over the index's sorted ids (about a microsecond for a
    million ids) instead of :meth:`IdIndex.index`, whose first call builds a
    dictionary of every id (about 0.6 s and 100 MB for a million customers).

    Examples
    --------
    >>> idx = IdIndex(["b", "a", "c"])
    >>> position(idx, "c"), position(idx, "zz"), position(idx, 3)
    (2, -1, -1)
    """
    if value is None or isinstance(value, (bool, np.bool_)):
        return -1
    if isinstance(value, np.generic):
        value = value.item()
    if index.kind == "str":
        if not isinstance(value, str):
            return -1
    elif not isinstance(value, int):
        return -1
    srt: np.ndarray = index._sorted
    n = srt.size
    if n == 0:
        return -1
    if srt.dtype.kind == "S":  # ASCII text held as bytes (IdIndex)
        if not value.isascii():
            return -1
        value = value.encode("ascii")
    try:
        p = int(srt.searchsorted(value))
    except OverflowError:
        return -1
    if p < n and srt[p] == value:
        return int(index._sorter[p])
    return -1
