"""Single-id lookups by binary search: no per-index dictionary on the serving path."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.data.ids import IdIndex

__all__ = ["position"]


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
