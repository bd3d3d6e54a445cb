"""Statistics shared by the packages: multiple-testing adjustment of p-values, and the median
per group (an item's unit cost or usual price over its lines)."""

from __future__ import annotations

import numpy as np

__all__ = ["adjust_p_values", "median_by"]


def adjust_p_values(p: np.ndarray, method: str | None) -> np.ndarray:
    """p-values adjusted for testing many hypotheses at once.

    Parameters
    ----------
    p : ndarray of float
        Raw p-values.
    method : {"holm", "bh", None}
        Holm's step-down (family-wise error) or Benjamini-Hochberg (false discovery rate);
        None returns a copy.

    Returns
    -------
    ndarray of float
        Adjusted p-values in [0, 1], in the order of ``p``.

    Examples
    --------
    >>> adjust_p_values(np.array([0.01, 0.04, 0.03]), "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_p_values(np.array([0.01, 0.04, 0.03]), "bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    m = p.size
    if method is None or m == 0:
        return p.copy()
    # any sort does: equal p-values get equal adjusted ones (Holm's running max and BH's
    # running min end a run of ties on the same value), so their order cannot show; the
    # default sort is several times faster than the stable one
    order = np.argsort(p)
    ps = p[order]
    if method == "holm":
        adj = np.maximum.accumulate(ps * (m - np.arange(m)))
    else:  # Benjamini-Hochberg
        adj = np.minimum.accumulate((ps * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def median_by(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The median of ``values`` in each group ``0..n-1``: NaN values and negative groups
    are left out; NaN for a group without any (an item's unit cost, or its usual price,
    over its lines).

    Examples
    --------
    >>> median_by(np.array([0, 0, 0, 2]), np.array([1.0, 3.0, np.nan, 5.0]), 3).tolist()
    [2.0, nan, 5.0]
    """
    out = np.full(n, np.nan)
    ok = np.isfinite(values) & (group >= 0)
    g, v = group[ok].astype(np.int64), values[ok]
    if g.size == 0:
        return out
    order = np.lexsort((v, g))
    g, v = g[order], v[order]
    uniq, start, cnt = np.unique(g, return_index=True, return_counts=True)
    out[uniq] = (v[start + (cnt - 1) // 2] + v[start + cnt // 2]) / 2.0
    return out
