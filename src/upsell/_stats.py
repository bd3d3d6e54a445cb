"""Statistics shared by the model packages: multiple-testing adjustment of p-values."""

from __future__ import annotations

import numpy as np

__all__ = ["adjust_p_values"]


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
