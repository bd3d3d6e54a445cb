"""Top-k kernels of the CF models: exact, vectorised, ties broken by the fallback rank.

Ranking rule, the same for every model: score descending, then the fallback order
(most popular first), so ties and cold starts are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from upsell import _implicit
from upsell.exceptions import UpsellMemoryError

__all__: list[str] = []

# wider top-k requests than this (k in the hundreds) are ranked by numpy
_MAX_HEAP_K = 512
# narrowest request to implicit's top-k heap: up to here its cost hardly depends on the width
_MIN_HEAP_K = 16

#: Largest score block the batch path holds at once, over all its threads (bytes).
MAX_BATCH_BYTES = 4 * 2**30


def _check_batch_memory(rows: int, n_items: int, threads: int) -> None:
    """Refuse a batch whose dense score block would not fit, before scoring it.

    A chunk holds ``rows x n_items`` float32 scores plus as much again in masks
    and top-k temporaries, once per worker thread.
    """
    need = 8 * rows * n_items * max(threads, 1)
    if need > MAX_BATCH_BYTES:
        fits = max(MAX_BATCH_BYTES // (8 * n_items * max(threads, 1)), 1)
        raise UpsellMemoryError(
            f"`batch_size`={rows:,} x {n_items:,} items x {max(threads, 1)} thread(s) needs "
            f"{need / 2**30:,.1f} GiB of scores at once (limit "
            f"{MAX_BATCH_BYTES / 2**30:.0f} GiB); lower `batch_size` (to {fits:,} or less) "
            f"or `num_threads`")



def _top_positions(scores: np.ndarray, k: int, tiebreak: np.ndarray) -> np.ndarray:
    """Positions of the ``k`` best scores, best first; ties by ``tiebreak`` ascending.

    Exact at the boundary: every score equal to the k-th best competes on the tie-break.
    """
    n = scores.size
    if k <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    if k < n:
        kth = np.partition(scores, n - k)[n - k]
        pos = np.flatnonzero(scores >= kth)
    else:
        pos = np.arange(n)
    order = np.lexsort((tiebreak[pos], -scores[pos]))[:k]
    return pos[order]


def _topk_rows(S: np.ndarray, k: int, rank: np.ndarray, cand: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``k`` of every row of a dense score block, -inf entries left out.

    Returns (count per row, flat item positions, flat scores), rows in order,
    best first, ties by ``rank``. Instead of an argpartition of every row, the
    k-th largest of per-block maxima gives a threshold no larger than the row's
    k-th score (the top-k block maxima are k distinct entries), so one pass of
    comparisons leaves a handful of candidates per row to sort.
    """
    n, m = S.shape
    n_blocks = max(min(m // max(4 * k, 1), 512), 1)
    width = m // n_blocks
    maxima = S[:, :n_blocks * width].reshape(n, n_blocks, width).max(axis=2)
    if n_blocks * width < m:
        maxima = np.concatenate([maxima, S[:, n_blocks * width:].max(axis=1)[:, None]], axis=1)
    kb = min(k, maxima.shape[1])
    thresh = np.partition(maxima, maxima.shape[1] - kb, axis=1)[:, maxima.shape[1] - kb]
    if kb < k:  # fewer blocks than k: every entry of the row competes
        thresh = np.full(n, -np.inf, dtype=S.dtype)
    rows, cols = np.nonzero((thresh[:, None] <= S) & (-np.inf < S))
    vals = S[rows, cols]
    order = np.lexsort((rank[cols], -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    counts = np.bincount(rows, minlength=n)
    starts = np.cumsum(counts) - counts
    pos_in_row = np.arange(rows.size) - np.repeat(starts, counts)
    keep = pos_in_row < k
    items = cols[keep]
    if cand is not None:
        items = cand[items]
    return (np.minimum(counts, k).astype(np.int64), items.astype(np.int32),
            vals[keep].astype(np.float32))


def _ragged_topk(rows: np.ndarray, vals: np.ndarray, tiebreak: np.ndarray, n_rows: int,
                 k: int) -> np.ndarray:
    """Positions of each row's ``k`` best ``vals``, rows in order, best first, ties by ``tiebreak``.

    ``rows`` must be non-decreasing (entries grouped by row, as in CSR order).
    Like :func:`_topk_rows` for ragged rows: each long row is cut into up to
    ``4k`` blocks (``np.maximum.reduceat``); the ``k``-th largest block maximum
    is at most the row's ``k``-th value, so only entries at or above it are sorted.

    Examples
    --------
    >>> rows = np.array([0, 0, 0, 1, 1])
    >>> vals = np.array([1.0, 3.0, 3.0, 5.0, 4.0], dtype=np.float32)
    >>> _ragged_topk(rows, vals, np.array([0, 2, 1, 0, 0]), 2, 2).tolist()
    [2, 1, 3, 4]
    """
    if rows.size == 0:
        return np.empty(0, dtype=np.int64)
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.cumsum(counts) - counts
    n_blocks = np.minimum(counts, 4 * k)
    has = n_blocks > 0
    b_rows = np.repeat(np.flatnonzero(has), n_blocks[has])
    b_start = np.cumsum(n_blocks) - n_blocks
    j = np.arange(b_rows.size) - b_start[b_rows]
    bounds = starts[b_rows] + (j * counts[b_rows]) // n_blocks[b_rows]
    grid = np.full((n_rows, 4 * k), -np.inf, dtype=np.float32)
    grid[b_rows, j] = np.maximum.reduceat(vals, bounds)
    thresh = np.partition(grid, 3 * k, axis=1)[:, 3 * k]   # k-th largest block maximum
    thresh[counts <= k] = -np.inf
    cand = np.flatnonzero(vals >= thresh[rows])
    cand = cand[np.lexsort((tiebreak[cand], -vals[cand], rows[cand]))]
    c_rows = rows[cand]
    c_counts = np.bincount(c_rows, minlength=n_rows)
    pos = np.arange(cand.size) - np.repeat(np.cumsum(c_counts) - c_counts, c_counts)
    return cand[pos < k]



def gather_rows(M: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Sum of ``weights[r] * M[rows[r]]`` as (sorted column indices, float32 sums).

    Touches only the stored entries of the given rows (no catalog-size array).

    Examples
    --------
    >>> M = sp.csr_matrix(np.array([[0, 1, 2], [3, 0, 1]], dtype=np.float32))
    >>> c, v = gather_rows(M, np.array([0, 1]), np.array([1.0, 2.0]))
    >>> c.tolist(), v.tolist()
    ([0, 1, 2], [6.0, 1.0, 4.0])
    """
    starts = M.indptr[rows].astype(np.int64)
    lens = M.indptr[rows + 1].astype(np.int64) - starts
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int32), np.empty(0, np.float32)
    offs = np.cumsum(lens) - lens
    pos = np.repeat(starts - offs, lens) + np.arange(total)
    cols = M.indices[pos]
    vals = M.data[pos].astype(np.float64) * np.repeat(weights, lens)
    uniq, inv = np.unique(cols, return_inverse=True)
    return uniq.astype(np.int32), np.bincount(inv, weights=vals).astype(np.float32)



def iter_chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) pairs covering 0..n in steps of ``size``.

    Examples
    --------
    >>> list(iter_chunks(5, 2))
    [(0, 2), (2, 4), (4, 5)]
    """
    for start in range(0, n, size):
        yield start, min(start + size, n)


def dense_topk(Yc: np.ndarray, users_f: np.ndarray, kk: int, rank: np.ndarray,
               o_rows: np.ndarray, o_cols: np.ndarray, filt: np.ndarray | None,
               num_threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``kk`` of every row of ``users_f @ Yc.T``: (counts, flat item positions, scores).

    ``(o_rows, o_cols)`` are the owned entries to leave out (rows ascending, columns
    sorted within a row), ``filt`` the item positions never to return. Rows with few
    owned items ask implicit's C++ kernel for 16 items (at least ``kk + 1``), drop the
    owned ones and keep the first ``kk``; the others hand their owned items to the
    kernel as a per-row filter (two calls per chunk). The kernel's order among equal
    scores is its own, so a row whose ``kk``-th and ``kk+1``-th remaining scores are
    equal, or any row when ``kk`` is too wide for a heap, is ranked again exactly by
    numpy (:func:`_topk_rows`): the result is the same as scoring every row with
    numpy, ``rank`` tie-break included.
    """
    n_u = users_f.shape[0]
    n_c = Yc.shape[0]
    n_owned = np.bincount(o_rows, minlength=n_u)
    # rows whose owned items fit in the slack of a 16-wide heap over-ask and drop
    # them; the others hand them to the kernel as a per-row filter and ask k + 1
    width = np.maximum(kk + 1, _MIN_HEAP_K)
    over = kk + 1 + n_owned <= width
    exact = np.full(n_u, width > min(_MAX_HEAP_K, n_c // 4))
    owned_keys = o_rows * n_c + o_cols          # sorted: rows ascending, columns sorted
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for filtered in (False, True):
        rows = np.flatnonzero((over != filtered) & ~exact)
        if rows.size == 0:
            continue
        per_row = None
        if filtered:
            sel = np.repeat(~over & ~exact, n_owned)
            ptr = np.zeros(rows.size + 1, dtype=np.int64)
            np.cumsum(n_owned[rows], out=ptr[1:])
            per_row = (ptr, o_cols[sel])
        ids, sc = _implicit.topk(Yc, users_f[rows], int(width), filter_items=filt,
                                 filter_query_items=per_row, num_threads=num_threads)
        valid = sc > _implicit.TOPK_FILTERED
        if owned_keys.size and not filtered:
            keys = rows[:, None] * n_c + ids
            at = np.minimum(np.searchsorted(owned_keys, keys), owned_keys.size - 1)
            valid &= owned_keys[at] != keys
        seen = np.cumsum(valid, axis=1)
        n_valid = np.minimum(seen[:, -1], kk + 1)
        # the k-th and (k+1)-th remaining scores tie: implicit's pick may differ from ours
        full = np.flatnonzero(n_valid == kk + 1)
        at_k = np.argmax(seen[full] >= kk, axis=1)
        at_k1 = np.argmax(seen[full] >= kk + 1, axis=1)
        tie = np.zeros(rows.size, dtype=bool)
        tie[full] = sc[full, at_k] == sc[full, at_k1]
        exact[rows[tie]] = True
        keep = valid & (seen <= kk) & ~tie[:, None]
        r_idx, c_idx = np.nonzero(keep)
        parts.append((rows[r_idx], ids[r_idx, c_idx], sc[r_idx, c_idx]))
    slow = np.flatnonzero(exact)
    if slow.size:
        S = users_f[slow] @ Yc.T
        if o_rows.size:
            sel = np.isin(o_rows, slow)
            S[np.searchsorted(slow, o_rows[sel]), o_cols[sel]] = -np.inf
        if filt is not None:
            S[:, filt] = -np.inf
        cnt, it, scs = _topk_rows(S, kk, rank, None)
        parts.append((np.repeat(slow, cnt), it, scs))
    rows = np.concatenate([p[0] for p in parts])
    items = np.concatenate([p[1] for p in parts]).astype(np.int64)
    scores = np.concatenate([p[2] for p in parts]).astype(np.float32)
    order = np.lexsort((rank[items], -scores, rows))
    rows, items, scores = rows[order], items[order], scores[order]
    counts = np.bincount(rows, minlength=n_u).astype(np.int64)
    return counts, items, scores


def rank_sparse(items: np.ndarray, scores: np.ndarray, k: int, banned: np.ndarray,
                cand: np.ndarray | None, fb_order: np.ndarray, fb_rank: np.ndarray,
                fb_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of the scored ``items`` (scores > 0), filled up from the fallback order.

    ``banned`` items never appear; with ``cand`` only candidates do. Ties by ``fb_rank``.
    """
    keep = scores > 0
    if banned.size:
        keep &= ~np.isin(items, banned)
    if cand is not None:
        keep &= np.isin(items, cand)
    items, scores = items[keep], scores[keep].astype(np.float32)
    top = _top_positions(scores, min(k, items.size), fb_rank[items])
    items, scores = items[top].astype(np.int32), scores[top]
    need = k - items.size
    if need <= 0:
        return items, scores
    taken = np.union1d(items, banned) if banned.size else np.sort(items)
    if cand is None:
        m = min(fb_order.size, need + taken.size)
        pool = fb_order[:m]
        pool = pool[~np.isin(pool, taken)][:need]
    else:
        pool = cand[~np.isin(cand, taken)]
        if pool.size > need:
            r = fb_rank[pool]
            pool = pool[np.argpartition(r, need - 1)[:need]]
        pool = pool[np.argsort(fb_rank[pool], kind="stable")]
    return (np.concatenate([items, pool.astype(np.int32)]),
            np.concatenate([scores, fb_scores[pool]]))
