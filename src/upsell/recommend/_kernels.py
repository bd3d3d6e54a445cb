"""Compiled loops of the learned blend's one-request path (numba), loaded on first use.

One request of :class:`~upsell.recommend.LearnedBlend` reads a few hundred to a few
thousand stored entries (the neighbour lists of the customer's items, the trees of
the ranker). In numpy each step is a handful of calls on small arrays, and the
calls' fixed cost (~1-3 us each, a few hundred per request) is most of the time.
These kernels do the same steps in one compiled loop each, with the same
arithmetic in the same order, so they return the numpy path's values bit for bit
(``tests/recommend/test_blend_kernels.py`` checks each against its numpy twin on
random inputs, and the served scores against LightGBM's):

- ``gather_rank``: a source's row for the customer (``sum_r weights[r] * M[rows[r]]``,
  float64 sums in entry order as ``bincount``, kept where positive as float32; or the
  column-wise maximum), then each candidate's value and 1-based rank in it (value
  descending, then column) in O((m + h) log h) for m entries and h candidates: the
  row is neither built nor sorted (``_score_rank(*_gather_pos(...), ci)``);
- ``score_rank``: the same for a row already built (the repeat row);
- ``gather_top``: the user-KNN neighbours, the k best of a gathered row (ties: the
  smaller column), as ``_gather_pos`` then ``_top_k``;
- ``conf_max``: the best co-purchase confidence towards each candidate from the
  customer's items (and from the last basket, with the item that gives it);
- ``own_block``: the columns read from the customer's own purchases;
- ``forest_raw``, ``forest_leaves``, ``forest_contrib``: a LightGBM ranker's raw
  scores (with the serving cascade), reached leaves and tabulated TreeSHAP
  contributions from :class:`Forest`'s arrays (LightGBM's decision rules; trees added
  in order; numpy's pairwise sums where the numpy path reduces);
- ``shapley_table``: :class:`Forest`'s TreeSHAP tables, built at the first request
  that asks for reasons, or ``warm`` (the same product-game values as
  ``_shapley_rows``, to rounding: 1e-12, not bit for bit; a third of the numpy time,
  which was 60% of ``Recommender.load`` when the load built them).

numba compiles each kernel at its first call in a process (~15 s for all of them),
caching the machine code beside this file, or in the user's cache folder when this
folder is read-only; :func:`kernels` returns None when numba cannot be imported or
compile, and the callers keep their numpy path. Kernels release the GIL
(``nogil``): threads serving requests run them in parallel. A request borrows its
scratch arrays from a pool (:func:`take`, :func:`give`); kernels leave them zeroed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["give", "kernels", "numpy_only_now", "take", "without_compiling"]

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
#: free scratch sets: a request takes one and gives it back, so there are as many as
#: requests ever ran at once (not one per thread: a service's pool may hold dozens)
_POOL: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []


def take(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A zeroed scratch set of at least ``n`` slots: (float64, uint8, int64 = -1).

    Give it back with :func:`give` once the kernels are done with it (they leave it
    as they found it); a set not given back (an error midway) is simply dropped.
    """
    try:
        got = _POOL.pop()  # atomic: no two requests get one set
    except IndexError:
        got = None
    if got is None or got[0].size < n:
        got = (np.zeros(n), np.zeros(n, dtype=np.uint8), np.full(n, -1, dtype=np.int64))
    return got


def give(arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Return a scratch set from :func:`take` to the pool."""
    _POOL.append(arrays)


#: True inside :func:`without_compiling`: :func:`kernels` answers None (nothing compiles)
_NUMPY_ONLY: ContextVar[bool] = ContextVar("upsell_numpy_only", default=False)


@contextmanager
def without_compiling() -> Iterator[None]:
    """Serve requests in this block without compiling the learned blend's loops.

    A learned blend serves through loops that numba compiles at the first request of a
    process after an install (~15 s, then read from its cache in ~0.5 s). A process that
    answers a few requests and exits (a script, a cron job, ``upsell recommend``) serves
    them in numpy instead: the same offers, scores and reasons (the compiled loops keep
    the numpy arithmetic), 2-3x slower per request, nothing to compile. Holds for the
    current thread (or asyncio task); other threads keep compiling as usual.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> from upsell.recommend import Recommender
    >>> shop = make_shop(n_customers=60, n_items=40, n_orders=400, random_state=0)
    >>> rec = Recommender.from_history(shop.transactions, shop.catalog, blend="weighted")
    >>> with without_compiling():
    ...     offers = rec.recommend(shop.transactions.customers.ids[0], k=2)
    ...     compiled = kernels()
    >>> len(offers), compiled is None
    (2, True)
    """
    token = _NUMPY_ONLY.set(True)
    try:
        yield
    finally:
        _NUMPY_ONLY.reset(token)


def numpy_only_now() -> bool:
    """Inside :func:`without_compiling`."""
    return _NUMPY_ONLY.get()


def kernels() -> Any:
    """The compiled kernels (a namespace), or None without numba (numpy path then)."""
    if _NUMPY_ONLY.get():
        return None
    if "k" not in _STATE:
        with _LOCK:
            if "k" not in _STATE:
                _STATE["k"] = _build()
    return _STATE["k"]


def _build() -> Any:
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    def jit(f: Any) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, error_model="numpy")(f)
        except RuntimeError:  # pragma: no cover - nowhere to write the cache
            return numba.njit(cache=False, nogil=True, error_model="numpy")(f)

    # a kernel's helpers are read as module globals when it compiles: compiled first
    g = globals()
    g["_rank_hits"] = jit(_rank_hits)
    g["_lower_bound"] = jit(_lower_bound)
    g["_accumulate"] = jit(_accumulate)
    g["_conf_take"] = jit(_conf_take)
    g["_widen"] = jit(_widen)
    g["_pairwise"] = jit(_pairwise)
    g["_add_trees"] = jit(_add_trees)
    ns = SimpleNamespace(score_rank=jit(_score_rank),
                         gather_rank=jit(_gather_rank), gather_top=jit(_gather_top),
                         conf_max=jit(_conf_max), forest_raw=jit(_forest_raw),
                         forest_leaves=jit(_forest_leaves), own_block=jit(_own_block),
                         forest_contrib=jit(_forest_contrib), forest_deep=jit(_forest_deep),
                         shapley_table=jit(_shapley_table))
    return ns


# ---------------------------------------------------------------------- kernels (numba)
# Plain Python over numpy arrays, compiled by numba; each mirrors a numpy function of
# _blend_one.py / _forest.py value for value.


def _lower_bound(a: Any, lo: int, hi: int, x: Any) -> int:  # pragma: no cover - compiled
    # the first position in sorted a[lo:hi] whose value is not below x (hi: none)
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _score_rank(cols: Any, vals: Any, ci: Any) -> Any:  # pragma: no cover - compiled
    n = ci.size
    score = np.zeros(n)
    rank = np.full(n, np.nan)
    m = cols.size
    if m == 0 or n == 0:
        return score, rank
    # the candidates in the row: binary search of the sorted columns
    hv = np.empty(n, dtype=np.float64)
    hc = np.empty(n, dtype=np.int64)
    hs = np.empty(n, dtype=np.int64)
    h = 0
    for i in range(n):
        x = ci[i]
        lo = _lower_bound(cols, 0, m, x)
        if lo < m and cols[lo] == x:
            score[i] = vals[lo]
            hv[h] = vals[lo]
            hc[h] = x
            hs[h] = i
            h += 1
    if h > 0:
        _rank_hits(vals, cols, hv[:h], hc[:h], hs[:h], rank)
    return score, rank


def _accumulate(indptr: Any, indices: Any, data: Any, rows: Any, weights: Any, use_max: bool,
                acc: Any, seen: Any) -> Any:  # pragma: no cover - compiled
    # acc[j] = sum_r weights[r] * M[rows[r], j] (float64, in entry order, as bincount), or
    # with use_max the max over the rows; returns the columns touched, in first-touch order
    total = 0
    for r in range(rows.size):
        total += indptr[rows[r] + 1] - indptr[rows[r]]
    touched = np.empty(total, dtype=np.int64)
    nt = 0
    for r in range(rows.size):
        w = weights[r]
        for p in range(indptr[rows[r]], indptr[rows[r] + 1]):
            j = indices[p]
            v = np.float64(data[p])
            if seen[j] == 0:
                seen[j] = 1
                touched[nt] = j
                nt += 1
                if use_max:
                    acc[j] = v
                    continue
            if use_max:
                if v > acc[j]:
                    acc[j] = v
            else:
                acc[j] += v * w
    return touched[:nt]


def _gather_rank(indptr: Any, indices: Any, data: Any, rows: Any, weights: Any,
                 use_max: bool, ci: Any, acc: Any, seen: Any) -> Any:  # pragma: no cover
    # the row: sum_r weights[r] * M[rows[r]] kept where positive as float32 (use_max:
    # the column-wise max over the rows, every entry kept), then score_rank of ci
    touched = _accumulate(indptr, indices, data, rows, weights, use_max, acc, seen)
    nt = touched.size
    vals = np.empty(nt)
    cols = np.empty(nt, dtype=np.int64)
    m = 0
    for t in range(nt):
        j = touched[t]
        v = acc[j] if use_max else np.float64(np.float32(acc[j]))
        if use_max or v > 0:
            vals[m] = v
            cols[m] = j
            m += 1
    n = ci.size
    score = np.zeros(n)
    rank = np.full(n, np.nan)
    hv = np.empty(n)
    hc = np.empty(n, dtype=np.int64)
    hs = np.empty(n, dtype=np.int64)
    h = 0
    for i in range(n):
        j = ci[i]
        if seen[j] == 0:
            continue
        v = acc[j] if use_max else np.float64(np.float32(acc[j]))
        if use_max or v > 0:
            score[i] = v
            hv[h] = v
            hc[h] = j
            hs[h] = i
            h += 1
    for t in range(nt):
        acc[touched[t]] = 0.0
        seen[touched[t]] = 0
    if h == 0:
        return score, rank
    _rank_hits(vals[:m], cols[:m], hv[:h], hc[:h], hs[:h], rank)
    return score, rank


def _rank_hits(vals: Any, cols: Any, hv: Any, hc: Any, hs: Any, rank: Any
               ) -> None:  # pragma: no cover - compiled
    # rank[hs[q]] = 1 + the entries (vals, cols) before hit q in the row's order (value
    # descending, then column): the hits sorted (insertion sort: few), each entry
    # counted at the first sorted hit it comes before (a binary search)
    h = hv.size
    order = np.arange(h)
    for a in range(1, h):
        b = order[a]
        q = a
        while q > 0:
            o = order[q - 1]
            if not (hv[b] > hv[o] or (hv[b] == hv[o] and hc[b] < hc[o])):
                break
            order[q] = o
            q -= 1
        order[q] = b
    cnt = np.zeros(h + 1, dtype=np.int64)
    for e in range(vals.size):
        v = vals[e]
        c = cols[e]
        lo, hi = 0, h
        while lo < hi:
            mid = (lo + hi) >> 1
            o = order[mid]
            if v > hv[o] or (v == hv[o] and c < hc[o]):
                hi = mid
            else:
                lo = mid + 1
        cnt[lo] += 1
    before = 0
    for q in range(h):
        before += cnt[q]
        rank[hs[order[q]]] = before + 1.0


def _gather_top(indptr: Any, indices: Any, data: Any, rows: Any, weights: Any, skip: int,
                k: int, acc: Any, seen: Any) -> Any:  # pragma: no cover - compiled
    # the positive float32 sums of the rows without column ``skip``: all of them in
    # column order when k or fewer, else the k best by (value descending, column)
    touched = _accumulate(indptr, indices, data, rows, weights, False, acc, seen)
    nt = touched.size
    cols = np.empty(nt, dtype=np.int64)
    vals = np.empty(nt, dtype=np.float32)
    m = 0
    for t in range(nt):
        j = touched[t]
        v = np.float32(acc[j])
        acc[j] = 0.0
        seen[j] = 0
        if v > 0 and j != skip:
            cols[m] = j
            vals[m] = v
            m += 1
    cols, vals = cols[:m], vals[:m]
    if m <= k:
        o = np.argsort(cols)
        return cols[o], vals[o]
    kth = np.partition(vals.copy(), m - k)[m - k]  # the k-th largest value
    above = 0
    for i in range(m):
        if vals[i] > kth:
            above += 1
    sel = np.empty(k, dtype=np.int64)
    tied = np.empty(m, dtype=np.int64)
    s, nt2 = 0, 0
    for i in range(m):
        if vals[i] > kth:
            sel[s] = i
            s += 1
        elif vals[i] == kth:
            tied[nt2] = i
            nt2 += 1
    tc = np.empty(nt2, dtype=np.int64)
    for i in range(nt2):
        tc[i] = cols[tied[i]]
    to = np.argsort(tc)  # ties: the smaller columns
    for i in range(k - above):
        sel[s] = tied[to[i]]
        s += 1
    sc = np.empty(k, dtype=np.int64)
    for i in range(k):
        sc[i] = cols[sel[i]]
    sel = sel[np.argsort(sc)]  # column order, then a stable sort by value descending
    neg = np.empty(k)
    for i in range(k):
        neg[i] = -np.float64(vals[sel[i]])
    sel = sel[np.argsort(neg, kind="mergesort")]
    return cols[sel], vals[sel]


def _conf_take(which: int, s: int, x: int, v: float, hist: Any, best: Any, best_v: Any
               ) -> None:  # pragma: no cover - compiled
    # conf(x -> candidate s) = v: the history's maximum (which 0), or the last basket's
    # best item (which 1: the largest conf, ties the smaller x)
    if which == 0:
        if v > hist[s]:
            hist[s] = v
    elif best[s] < 0 or v > best_v[s] or (v == best_v[s] and x < best[s]):
        best[s] = x
        best_v[s] = v


def _conf_max(indptr: Any, indices: Any, data: Any, t_indptr: Any, t_indices: Any,
              t_data: Any, hist_items: Any, last: Any, ci: Any, slot_of: Any,
              mine: Any) -> Any:  # pragma: no cover - compiled
    n = ci.size
    hist = np.zeros(n)
    best = np.full(n, -1, dtype=np.int64)
    best_v = np.zeros(n)
    if n == 0:
        return hist, best
    col_total = 0
    for s in range(n):
        col_total += t_indptr[ci[s] + 1] - t_indptr[ci[s]]
    for which in range(2):
        src = hist_items if which == 0 else last
        if src.size == 0:
            continue
        row_total = 0
        for r in range(src.size):
            row_total += indptr[src[r] + 1] - indptr[src[r]]
        if col_total < row_total:  # the candidates' columns: (X, conf) leading to each
            for r in range(src.size):
                mine[src[r]] = 1
            for s in range(n):
                for p in range(t_indptr[ci[s]], t_indptr[ci[s] + 1]):
                    x = t_indices[p]
                    if mine[x] == 0:
                        continue
                    _conf_take(which, s, x, np.float64(t_data[p]), hist, best, best_v)
            for r in range(src.size):
                mine[src[r]] = 0
        else:  # the rows of the customer's items, kept when the column is a candidate
            for s in range(n):
                slot_of[ci[s]] = s
            for r in range(src.size):
                x = src[r]
                for p in range(indptr[x], indptr[x + 1]):
                    s = slot_of[indices[p]]
                    if s < 0:
                        continue
                    _conf_take(which, s, x, np.float64(data[p]), hist, best, best_v)
            for s in range(n):
                slot_of[ci[s]] = -1
    for s in range(n):  # the numpy twin keeps the maxima in float32
        hist[s] = np.float64(np.float32(hist[s]))
    return hist, best


def _widen(X: Any, n_copies: int, has_zero: bool, cat_feature: Any, cat_table: Any
           ) -> Any:  # pragma: no cover - compiled
    # Forest._widen: every decision one comparison ``W[:, key] > thr`` (goes right)
    n, F = X.shape
    n_cat = cat_feature.size
    W = np.empty((n, n_copies * F + n_cat))
    for i in range(n):
        for f in range(F):
            x = np.float64(X[i, f])
            nan = x != x
            W[i, f] = -np.inf if nan else x
            W[i, F + f] = np.inf if nan else x
            if has_zero:
                z = nan or abs(x) <= 1e-35
                W[i, 2 * F + f] = -np.inf if z else x
                W[i, 3 * F + f] = np.inf if z else x
        for s in range(n_cat):
            v = np.float64(X[i, cat_feature[s]])
            hit = False
            if v == v and v > -1 and v < cat_table.shape[1]:
                hit = cat_table[s, int(v)]
            W[i, n_copies * F + s] = -1.0 if hit else -0.0
    return W


def _forest_leaves(X: Any, key: Any, thr: Any, left: Any, roots: Any, n_copies: int,
                   has_zero: bool, cat_feature: Any, cat_table: Any
                   ) -> Any:  # pragma: no cover - compiled
    # the node each row reaches in each tree: (n, trees), tree order
    n = X.shape[0]
    W = _widen(X, n_copies, has_zero, cat_feature, cat_table)
    out = np.empty((n, roots.size), dtype=np.int64)
    for t in range(roots.size):  # tree by tree, as _add_trees
        for i in range(n):
            node = roots[t]
            while left[node] != node:
                node = left[node] + (1 if W[i, key[node]] > thr[node] else 0)
            out[i, t] = node
    return out


def _add_trees(W: Any, rows: Any, t0: int, t1: int, key: Any, thr: Any, left: Any, value: Any,
               roots: Any, acc: Any) -> None:  # pragma: no cover - compiled
    # acc[q] += the leaf value row rows[q] reaches in each tree t0..t1-1, trees in order
    # (tree by tree over the rows: the rows' walks of one tree are independent, so the
    # processor overlaps them, and the tree's nodes stay in cache)
    for t in range(t0, t1):
        root = roots[t]
        for q in range(rows.size):
            i = rows[q]
            node = root
            while left[node] != node:
                node = left[node] + (1 if W[i, key[node]] > thr[node] else 0)
            acc[q] += value[node]


def _forest_raw(X: Any, key: Any, thr: Any, left: Any, value: Any, roots: Any,
                n_copies: int, has_zero: bool, cat_feature: Any, cat_table: Any,
                first: int, keep: int, adj: Any) -> Any:  # pragma: no cover - compiled
    n = X.shape[0]
    T = roots.size
    W = _widen(X, n_copies, has_zero, cat_feature, cat_table)
    split = first if 0 < first < T and keep < n else T
    part = np.zeros(n)
    _add_trees(W, np.arange(n), 0, split, key, thr, left, value, roots, part)
    if adj.size:
        for i in range(n):
            part[i] += adj[i]
    if split == T:
        return part
    order = np.argsort(-part, kind="mergesort")
    top = order[:keep]
    rest = np.zeros(keep)
    _add_trees(W, top, split, T, key, thr, left, value, roots, rest)
    out = part.copy()
    for q in range(keep):
        out[top[q]] += rest[q]
    floor = np.inf
    for q in range(keep):
        floor = min(floor, out[top[q]])
    pmax = -np.inf
    for q in range(keep, n):
        pmax = max(pmax, part[order[q]])
    shift = floor - pmax - 1e-6 * (1.0 + abs(floor))
    for q in range(keep, n):
        out[order[q]] += shift
    return out


def _own_block(X: Any, ci: Any, lo: int, hi: int, h_indices: Any, h_data: Any, decayed: Any,
               last_t: Any, first_t: Any, orders_since: Any, in_last_2: Any, in_last_4: Any,
               order_decayed: Any, spend: Any, quantity: Any, now: float, orders: float,
               customer_spend: float, item_floor: Any, item_quantity: Any, p_j: Any,
               at: Any) -> None:  # pragma: no cover - compiled
    # OneCustomer.features' columns from the customer's own purchases (and
    # spend_columns, lift_last_basket), in its formulas; ``at``: the columns, in the
    # order of _blend_one._OWN
    day = 86_400.0
    nan = np.nan
    for i in range(ci.size):
        j = ci[i]
        a = _lower_bound(h_indices, lo, hi, j)  # the customer's purchase of j, if any
        if a < hi and h_indices[a] == j:
            times = np.float64(h_data[a])
            dec = np.float64(decayed[a])
            lt = np.float64(last_t[a])
            ft = np.float64(first_t[a])
            o_since = np.float64(orders_since[a])
            in2 = np.float64(in_last_2[a])
            in4 = np.float64(in_last_4[a])
            o_dec = np.float64(order_decayed[a])
            sp = np.float64(spend[a])
            qty = np.float64(quantity[a])
        else:
            times, dec, lt, ft = 0.0, 0.0, nan, nan
            o_since, in2, in4, o_dec, sp, qty = nan, 0.0, 0.0, 0.0, nan, nan
        since = (now - lt) / day
        interval = (lt - ft) / day / (times - 1) if times >= 2 else nan
        floor = interval if (interval != interval or interval > 1.0) else 1.0  # np.maximum
        X[i, at[0]] = times
        X[i, at[1]] = dec
        X[i, at[2]] = since
        X[i, at[3]] = interval
        X[i, at[4]] = since / floor
        X[i, at[5]] = times / orders
        X[i, at[6]] = since / item_floor[j]
        X[i, at[7]] = o_since
        X[i, at[8]] = in2
        X[i, at[9]] = in4
        X[i, at[10]] = o_dec
        bought = times > 0
        per_order = qty / times if bought else 0.0
        X[i, at[11]] = sp / customer_spend if bought else 0.0
        X[i, at[12]] = per_order
        X[i, at[13]] = per_order / item_quantity[j] if bought else 0.0
        conf = X[i, at[14]]
        pj = p_j[j]
        X[i, at[15]] = conf / (pj if (pj != pj or pj > 1e-12) else 1e-12) if conf > 0 else 0.0


def _pairwise(a: Any, lo: int, n: int) -> float:  # pragma: no cover - compiled
    # numpy's pairwise sum of a[lo:lo + n] (``@TYPE@_pairwise_sum``), the sum
    # ``np.add.reduce`` / ``reduceat`` compute for a contiguous run, to the last bit
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        while i < n - (n % 8):
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, lo, n2) + _pairwise(a, lo + n2, n - n2)


def _forest_contrib(X: Any, n_copies: int, has_zero: bool, cat_feature: Any, cat_table: Any,
                    n_nodes: int, edge_key: Any, edge_thr: Any, edge_bit_true: Any,
                    edge_bit_false: Any, edge_child: Any, edge_parent: Any, leaf_node: Any,
                    full: Any, d: Any, offset: Any, pair_leaf: Any, pair_slot: Any,
                    table: Any, pair_features: Any, pair_starts: Any, out: Any
                    ) -> Any:  # pragma: no cover - compiled
    # Forest.contributions' tabulated part, added to ``out``; returns the leaves'
    # patterns (n, leaves) for the deep leaves solved in numpy
    n = X.shape[0]
    W = _widen(X, n_copies, has_zero, cat_feature, cat_table)
    L = leaf_node.size
    P = pair_leaf.size
    G = pair_starts.size
    pattern = np.empty((n, L), dtype=np.int64)
    missed = np.zeros(n_nodes, dtype=np.int64)
    at = np.empty(L, dtype=np.int64)
    vals = np.empty(P)
    for i in range(n):
        for e in range(edge_child.size):  # by level: a parent before its children
            bit = edge_bit_true[e] if W[i, edge_key[e]] <= edge_thr[e] else edge_bit_false[e]
            missed[edge_child[e]] = missed[edge_parent[e]] | bit
        for q in range(L):
            p = missed[leaf_node[q]] ^ full[q]
            pattern[i, q] = p
            at[q] = p * d[q] + offset[q]
        for q in range(P):
            vals[q] = table[at[pair_leaf[q]] + pair_slot[q]]
        for g in range(G):  # np.add.reduceat: the first value plus the pairwise sum of the rest
            a = pair_starts[g]
            b = pair_starts[g + 1] if g + 1 < G else P
            v = vals[a] + _pairwise(vals, a + 1, b - a - 1) if b - a > 1 else vals[a]
            out[i, pair_features[g]] += v
    return pattern


def _forest_deep(pattern: Any, leaf: Any, dd: Any, zoff: Any, z: Any, v: Any, t: Any, w: Any,
                 toff: Any, order: Any, starts: Any, features: Any, out: Any
                 ) -> None:  # pragma: no cover - compiled
    # Forest._deep: each deep leaf's product game, phi_j = v (o_j - z_j) sum_k w_k
    # prod_{l != j} (z_l + (o_l - z_l) t_k) (prefix and suffix products: no division),
    # then summed per feature as np.add.reduceat does (first + pairwise rest)
    n = pattern.shape[0]
    P = z.size
    G = starts.size
    vals = np.empty(P)
    pv = np.empty(P)
    f = np.empty(64)
    pre = np.empty(65)
    acc = np.empty(64)
    for i in range(n):
        for q in range(leaf.size):
            d = dd[q]
            p = pattern[i, leaf[q]]
            a = zoff[q]
            for j in range(d):
                acc[j] = 0.0
            for k in range(d // 2 + 1):
                tk = t[toff[q] + k]
                pre[0] = 1.0
                for j in range(d):
                    o = np.float64((p >> j) & 1)
                    f[j] = z[a + j] + (o - z[a + j]) * tk
                    pre[j + 1] = pre[j] * f[j]
                suf = 1.0
                for j in range(d - 1, -1, -1):
                    acc[j] += w[toff[q] + k] * pre[j] * suf
                    suf *= f[j]
            for j in range(d):
                o = np.float64((p >> j) & 1)
                vals[a + j] = (o - z[a + j]) * acc[j] * v[q]
        for q in range(P):
            pv[q] = vals[order[q]]
        for g in range(G):
            s0 = starts[g]
            s1 = starts[g + 1] if g + 1 < G else P
            out[i, features[g]] += pv[s0] + _pairwise(pv, s0 + 1, s1 - s0 - 1) \
                if s1 - s0 > 1 else pv[s0]


def _shapley_table(z: Any, v: Any, offs: Any, t: Any, w: Any, table: Any
                   ) -> None:  # pragma: no cover - compiled
    # Forest._build_tables for the m leaves of one feature count d (z: (m, d)): for
    # every pattern p of the d bits, table[offs[q] + p * d + j] = v (o_j - z_j) sum_k
    # w_k prod_{l != j} (z_l + (o_l - z_l) t_k) (prefix and suffix products, as
    # _forest_deep)
    m, d = z.shape
    f = np.empty(64)
    pre = np.empty(65)
    acc = np.empty(64)
    for q in range(m):
        for p in range(1 << d):
            for j in range(d):
                acc[j] = 0.0
            for k in range(t.size):
                pre[0] = 1.0
                for j in range(d):
                    o = np.float64((p >> j) & 1)
                    f[j] = z[q, j] + (o - z[q, j]) * t[k]
                    pre[j + 1] = pre[j] * f[j]
                suf = 1.0
                for j in range(d - 1, -1, -1):
                    acc[j] += w[k] * pre[j] * suf
                    suf *= f[j]
            base = offs[q] + p * d
            for j in range(d):
                o = np.float64((p >> j) & 1)
                table[base + j] = (o - z[q, j]) * acc[j] * v[q]
