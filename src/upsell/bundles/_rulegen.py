"""Rule generation from the itemset lattice: exact thresholds, level by level, no Python per rule.

Internal to :mod:`upsell.bundles` (:func:`~upsell.bundles.association_rules` and the
sequence rules); the Spark engine reaches ``_fraction`` through :mod:`upsell.bundles.engine`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

__all__: list[str] = []


def _fraction(value: float) -> Fraction:
    # the decimal the user typed: 0.8 means 4/5, not the binary double just above it
    return Fraction(repr(float(value))).limit_denominator(10**9)


def _ratio_at_least(num: np.ndarray, den: np.ndarray, threshold: Fraction) -> np.ndarray:
    """``num / den >= threshold`` decided exactly (integer arithmetic near the boundary)."""
    t = float(threshold)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    out = ratio >= t
    close = np.flatnonzero(np.abs(ratio - t) <= 1e-9 * max(abs(t), 1.0))
    if close.size == 0:
        return out
    p, q = threshold.numerator, threshold.denominator
    n_c, d_c = num[close], den[close]
    if int(np.abs(n_c).max()) * q < 2**62 and p * int(np.abs(d_c).max()) < 2**62:
        out[close] = n_c.astype(np.int64) * q >= p * d_c.astype(np.int64)
    else:  # products beyond int64: Python integers
        for i in close.tolist():
            out[i] = int(num[i]) * q >= p * int(den[i])
    return out



@dataclass
class _Block:
    """The rules of one itemset length: itemset rows and consequent positions (combos)."""

    k: int
    mat: np.ndarray
    combos: list[tuple[int, ...]]
    rows: np.ndarray
    combo: np.ndarray
    cxy: np.ndarray
    cx: np.ndarray
    cy: np.ndarray


def _key_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """``argsort(keys)`` for distinct keys in ``[0, n_keys)``: a scatter when the range is small."""
    if n_keys > 16 * keys.size + 4096:
        return np.argsort(keys, kind="stable")
    slot = np.full(n_keys, -1, dtype=np.int64)
    slot[keys] = np.arange(keys.size, dtype=np.int64)
    return np.compress(slot >= 0, slot)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _redundant(lat: Any, sub: np.ndarray, ante: list[int], cons: list[int], cxy: np.ndarray,
               cx: np.ndarray) -> np.ndarray:
    """Rules with a more general rule (antecedent a non-empty proper subset) of >= confidence.

    ``sub`` holds the rules' itemsets (sorted item rows); ``ante`` / ``cons`` are
    column positions. Confidences compare exactly: ``n_SY n_X >= n_XY n_S``.
    """
    out = np.zeros(sub.shape[0], dtype=bool)
    for size in range(1, len(ante)):
        for part in itertools.combinations(ante, size):
            n_s = lat.count_of(sub[:, list(part)])
            n_sy = lat.count_of(sub[:, sorted((*part, *cons))])
            out |= n_sy * cx >= cxy * n_s
    return out


def _assemble(blocks: list[_Block], *, antecedent: bool) -> tuple[np.ndarray, np.ndarray]:
    """Flat item indices and pointers of the antecedents (or consequents) of every rule."""
    flats: list[np.ndarray] = []
    lens: list[np.ndarray] = []
    for b in blocks:
        cols = [[j for j in range(b.k) if j not in cons] if antecedent else list(cons)
                for cons in b.combos]
        width = np.array([len(c) for c in cols], dtype=np.int64)
        start = np.zeros(width.size, dtype=np.int64)
        np.cumsum(width[:-1], out=start[1:])
        table = np.array([j for c in cols for j in c], dtype=np.int64)
        length = width[b.combo]
        total = int(length.sum())
        pos = _ranges(start[b.combo], length, total)
        # positions in the flattened itemset rows: one take instead of 2-d fancy indexing
        src = np.repeat(b.rows.astype(np.int64) * b.k, length)
        src += np.take(table, pos)
        flats.append(np.take(b.mat.reshape(-1), src))
        lens.append(length)
    length = _cat(lens)
    ptr = np.zeros(length.size + 1, dtype=np.int64)
    np.cumsum(length, out=ptr[1:])
    flat = np.concatenate(flats).astype(np.int32) if flats else np.empty(0, dtype=np.int32)
    return flat, ptr


def _ranges(start: np.ndarray, length: np.ndarray, total: int) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(start, length)])``; every ``n >= 1``."""
    if total == 0:
        return np.ones(0, dtype=np.int64)
    run_start = np.zeros(length.size, dtype=np.int64)
    np.cumsum(length[:-1], out=run_start[1:])
    # a repeat of each run's shift plus one arange (numpy's cumsum over ``total`` is slower)
    out = np.repeat(start - run_start, length)
    out += np.arange(total, dtype=np.int64)
    return out


def _take(flat: np.ndarray, ptr: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``idx`` of a CSR-like (flat, ptr) pair, vectorised."""
    lengths = (ptr[1:] - ptr[:-1])[idx]
    new_ptr = np.zeros(idx.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    starts = np.repeat(ptr[:-1][idx] - new_ptr[:-1], lengths)
    pos = np.arange(int(new_ptr[-1]), dtype=np.int64) + starts
    return flat[pos], new_ptr


def _generate(lat: Any, min_len: int, top: int, consequent_len: int, conf_t: Fraction,
              lift_t: Fraction | None, prune: bool) -> tuple[list[_Block], int]:
    """The rules of itemsets of ``min_len..top`` items passing the thresholds, per length.

    Returns the blocks (one per itemset length, in itemset then consequent order) and
    the number of rules dropped as redundant (``prune``).
    """
    n = lat.n_baskets
    blocks: list[_Block] = []
    n_pruned = 0
    for k in range(min_len, top + 1):
        mat = lat.level_items(k)
        cxy = lat.counts[k - 1]
        combos = [cons for size in range(1, min(consequent_len, k - 1) + 1)
                  for cons in itertools.combinations(range(k), size)]
        rows_p: list[np.ndarray] = []
        combo_p: list[np.ndarray] = []
        cx_p: list[np.ndarray] = []
        cy_p: list[np.ndarray] = []
        for c, cons in enumerate(combos):
            ante = [j for j in range(k) if j not in cons]
            if cons == (k - 1,):
                cx_all = lat.counts[k - 2][lat.parents[k - 1].astype(np.int64)]
            else:
                cx_all = lat.count_of(mat[:, ante])
            rows = np.flatnonzero(_ratio_at_least(cxy, cx_all, conf_t))
            cx = cx_all[rows]
            del cx_all
            sub = mat[rows]
            cy = lat.count_of(sub[:, list(cons)])
            if lift_t is not None:
                ok = _ratio_at_least(cxy[rows] * n, cx * cy, lift_t)
                rows, cx, cy, sub = rows[ok], cx[ok], cy[ok], sub[ok]
            if prune and len(ante) >= 2:
                red = _redundant(lat, sub, ante, list(cons), cxy[rows], cx)
                n_pruned += int(red.sum())
                ok = ~red
                rows, cx, cy = rows[ok], cx[ok], cy[ok]
            rows_p.append(rows)
            combo_p.append(np.full(rows.size, c, dtype=np.int64))
            cx_p.append(cx)
            cy_p.append(cy)
        if not rows_p:
            continue
        rows = np.concatenate(rows_p)
        combo = np.concatenate(combo_p)
        # (itemset, consequent position) order: the order of the itemsets, then of the consequents
        order = _key_order(rows * len(combos) + combo, mat.shape[0] * len(combos))
        rows, combo = rows[order], combo[order]
        blocks.append(_Block(k, mat, combos, rows, combo, cxy[rows],
                             np.concatenate(cx_p)[order], np.concatenate(cy_p)[order]))
    return blocks, n_pruned


def _cap(blocks: list[_Block], cxy: np.ndarray, cx: np.ndarray, max_rules: int
         ) -> tuple[np.ndarray, float]:
    """Keep the ``max_rules`` rules of highest confidence (ties: higher count, then order).

    Narrows the blocks in place; returns the kept mask and the weakest confidence kept.
    """
    conf = cxy / cx
    best = np.lexsort((np.arange(cxy.size), -cxy, -conf))[:max_rules]
    keep = np.zeros(cxy.size, dtype=bool)
    keep[best] = True
    at = 0
    for b in blocks:
        sel = keep[at:at + b.rows.size]
        at += b.rows.size
        b.rows, b.combo = b.rows[sel], b.combo[sel]
    return keep, float(conf[best].min())
