"""Checks of a saved :class:`~upsell.bundles.BundleRecommender` index, so a request can trust it.

The file is untrusted input: every member is checked for presence, dtype, shape, ranges
and order before the recommender is built from it; a failure names the file and member.
"""

from __future__ import annotations

from typing import NoReturn

import numpy as np

__all__: list[str] = []

_INDEX_MEMBERS = ("node_parent", "node_item", "level_ptr", "node_ptr", "entry_item",
                  "entry_score", "entry_rule")


def _bad(where: str, member: str, problem: str) -> NoReturn:
    from upsell.persist import fail

    raise fail(where, member, problem)


def _checked(arrays: dict[str, np.ndarray], where: str, names: tuple[str, ...]
             ) -> dict[str, np.ndarray]:
    """The named members, each present, 1-d and numeric (integer, or float for scores)."""
    out = {}
    for name in names:
        if name not in arrays:
            _bad(where, name, "is missing")
        arr = arrays[name]
        floats = name in ("entry_score", "score")
        if arr.ndim != 1 or arr.dtype.kind not in ("f" if floats else "iu"):
            _bad(where, name, f"must be a 1-d {'float' if floats else 'integer'} array; got "
                 f"{arr.dtype} of shape {arr.shape}")
        if not floats and arr.dtype.kind == "u" and arr.size and int(arr.max()) > 2**62:
            _bad(where, name, f"holds {int(arr.max())}, beyond any index")  # would wrap to < 0
        out[name] = arr if floats else arr.astype(np.int64)
    return out


def _check_index(a: dict[str, np.ndarray], n_items: int, n_rules: int, where: str) -> None:
    """Ranges, shapes and order of a saved index, so a request can trust it."""
    parent, item, level_ptr, node_ptr = a["node_parent"], a["node_item"], a["level_ptr"], a["node_ptr"]
    n_nodes = item.size
    if parent.size != n_nodes:
        _bad(where, "node_parent", f"has {parent.size:,} entries for {n_nodes:,} nodes")
    if (level_ptr.size < 1 or level_ptr[0] != 0 or level_ptr[-1] != n_nodes
            or (np.diff(level_ptr) < 0).any()):
        _bad(where, "level_ptr", f"must rise from 0 to the {n_nodes:,} nodes")
    if n_nodes and (item.min() < 0 or item.max() >= n_items):
        _bad(where, "node_item", f"holds item indices outside [0, {n_items:,})")
    m = max(n_items, 1)
    for j in range(level_ptr.size - 1):
        lo, hi = int(level_ptr[j]), int(level_ptr[j + 1])
        par = parent[lo:hi]
        plo, phi = (-1, 0) if j == 0 else (int(level_ptr[j - 1]), lo)
        if par.size and (par.min() < plo or par.max() >= max(phi, plo + 1) or
                         (j > 0 and par.min() < plo)):
            _bad(where, "node_parent", f"points outside the previous level at level {j + 1}")
        keys = (par + 1) * m + item[lo:hi]
        if (np.diff(keys) <= 0).any():
            _bad(where, "node_item", f"keys of level {j + 1} are not strictly increasing")
    e_item, score, rule = a["entry_item"], a["entry_score"], a["entry_rule"]
    n_e = e_item.size
    if score.size != n_e or rule.size != n_e:
        _bad(where, "entry_score" if score.size != n_e else "entry_rule",
             f"must have one value per entry ({n_e:,})")
    if (node_ptr.size != n_nodes + 1 or (n_nodes + 1 and node_ptr[0] != 0)
            or node_ptr[-1] != n_e or (np.diff(node_ptr) < 0).any()):
        _bad(where, "node_ptr", f"must rise from 0 to the {n_e:,} entries, one step per node")
    if n_e and (e_item.min() < 0 or e_item.max() >= n_items):
        _bad(where, "entry_item", f"holds item indices outside [0, {n_items:,})")
    if np.isnan(score).any():
        _bad(where, "entry_score", "holds NaN")
    if n_e and (rule.min() < 0 or rule.max() >= n_rules):
        _bad(where, "entry_rule", f"holds rule positions outside [0, {n_rules:,})")
