"""One request of the learned blend: the features of one customer's candidates, in plain numpy.

:meth:`BlendState.features` serves batches (training, ``LearnedBlend.recommend``);
one request through it pays scipy's per-call overhead a few dozen times and touches
arrays of the whole history (the keys of every stored purchase). :class:`OneCustomer`
computes the same matrix, value for value (``tests/recommend/test_blend_serving.py``
checks equality with the batch path), from:

- per-item and per-customer feature blocks computed once from the state (gathers);
- the customer's own purchase row (a slice of ``H``);
- the source rows (EASE, item-KNN, user-KNN, co-purchase, repeat) built from the
  neighbour lists of the customer's items only, summed with ``bincount`` over a
  catalog-size scratch when the gathered entries are many (a sort otherwise: the
  cheaper of the two, same sums in the same order); the user-KNN neighbours are the
  top k of a partition, not of a full sort;
- ranks within a source row in the batch path's order (value descending, then
  column ascending) from one sort of int64 keys (a positive float32's bits order
  like its value), read for the candidates by ``searchsorted``.

Per request on the 50k-item make_shop this is ~0.6-0.8 ms of CPU for ~60
candidates (``benchmarks/bench_serving.py --blend``).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from upsell._lookup import position
from upsell.cf.base import gather_rows
from upsell.recommend._blend_features import (
    ENTRY,
    NAN_ENTRY,
    BlendState,
    feature_names,
    spend_columns,
)
from upsell.recommend._kernels import give, kernels, numpy_only_now, take

__all__ = ["CASCADE", "OneCustomer", "cascade_keep", "cascade_raw", "cascade_trees", "customer_row",
           "finite_scores", "used_trees", "warm"]

_DAY = 86_400.0
_NAMES = feature_names()
_COL = {n: j for j, n in enumerate(_NAMES)}
_ITEM_COLS = ("item_repeat_rate", "item_next_order_rate", "item_interval", "buyers_log",
              "recent_buyers_share", "popularity_trend", "pop_rank", "price", "discount", "margin", "kind", "tier")
_CUST_COLS = ("orders", "tenure_days", "basket_size", "orders_per_window", "distinct_items",
              "repeat_share", "next_order_overlap", "segment")
#: the columns ``own_block`` fills, in its order (the last one reads ``cooc_score``)
_OWN = ("times_bought", "decayed_count", "days_since_bought", "repurchase_interval",
        "since_over_interval", "share_of_orders", "since_over_item_interval",
        "orders_since_bought", "in_last_2_orders", "in_last_4_orders", "order_decayed_count",
        "spend_share", "quantity_per_order", "quantity_vs_item", "cooc_score",
        "lift_last_basket")
_OWN_AT = np.array([_COL[n] for n in _OWN], dtype=np.int64)
_UNSET = object()
_EMPTY_I = np.empty(0, np.int64)
_EMPTY_F = np.empty(0, np.float32)


def _gather_pos(M: Any, rows: np.ndarray, weights: np.ndarray | None, n_cols: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The positive entries of ``gather_rows(M, rows, weights)``: (int64 columns, float32 sums).

    ``weights`` None: every row weighs 1 (no multiplication; the same sums).

    Many gathered entries: a ``bincount`` into a dense scratch of ``n_cols`` (it adds
    each column's entries in the same order, float64, as gather_rows' grouped
    bincount, so the sums are the same; no scipy call); few: gather_rows itself (a
    sort of the entries, no catalog-size array).
    """
    starts = M.indptr[rows].astype(np.int64)
    lens = M.indptr[rows + 1].astype(np.int64) - starts
    total = int(lens.sum())
    if total == 0:
        return _EMPTY_I, _EMPTY_F
    if total * 16 < n_cols:
        cols, vals = gather_rows(M, rows, np.ones(rows.size) if weights is None else weights)
        keep = vals > 0
        return cols[keep].astype(np.int64), vals[keep]
    offs = np.cumsum(lens) - lens
    pos = np.repeat(starts - offs, lens) + np.arange(total)
    w = M.data[pos].astype(np.float64)
    if weights is not None:
        w *= np.repeat(np.asarray(weights, dtype=np.float64), lens)
    sums = np.bincount(M.indices[pos], weights=w, minlength=n_cols).astype(np.float32)
    cols = np.flatnonzero(sums > 0)
    return cols, sums[cols]


def _row_max(M: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max over ``rows`` of ``M[row, j]`` per column j, as (sorted columns, float32 maxima)."""
    starts = M.indptr[rows].astype(np.int64)
    lens = M.indptr[rows + 1].astype(np.int64) - starts
    total = int(lens.sum())
    if total == 0:
        return _EMPTY_I, _EMPTY_F
    offs = np.cumsum(lens) - lens
    pos = np.repeat(starts - offs, lens) + np.arange(total)
    j = M.indices[pos].astype(np.int64)
    order = np.argsort(j, kind="stable")
    j = j[order]
    first = np.flatnonzero(np.r_[True, j[1:] != j[:-1]])
    return j[first], np.maximum.reduceat(M.data[pos][order], first)


def _score_rank(cols: np.ndarray, vals: np.ndarray, ci: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Score (0 when absent) and 1-based rank within the row (NaN when absent) of items ``ci``.

    The rank orders the row by value descending, then column ascending (``_row_ranks``):
    ``cols`` is ascending, so a stable sort of the values alone gives that order.
    """
    score = np.zeros(ci.size)
    rank = np.full(ci.size, np.nan)
    if cols.size == 0 or ci.size == 0:
        return score, rank
    at = np.minimum(np.searchsorted(cols, ci), cols.size - 1)
    hit = cols[at] == ci
    if not hit.any():
        return score, rank
    where = at[hit]
    score[hit] = vals[where]
    if vals.dtype == np.float32 and cols.size and (vals > 0).all() and cols[-1] < 2**31:
        # positive float32 values order like their bits: one int64 key per entry,
        # (value descending, column ascending), sorted once; a rank is a searchsorted
        key = (0x7FFFFFFF - vals.view(np.int32).astype(np.int64)) << 32
        key |= cols
        rank[hit] = np.searchsorted(np.sort(key), key[where]) + 1.0
        return score, rank
    order = np.argsort(-vals, kind="stable")
    pos = np.empty(order.size, dtype=np.float64)
    pos[order] = np.arange(1, order.size + 1, dtype=np.float64)
    rank[hit] = pos[where]
    return score, rank


def _top_k(cols: np.ndarray, vals: np.ndarray, k: int) -> np.ndarray:
    """``np.lexsort((cols, -vals))[:k]`` (``cols`` ascending and distinct): the k largest
    values, ties by the smaller column, in that order; a partition first, so only the
    chosen few are sorted."""
    if vals.size <= 4 * k:
        return np.lexsort((cols, -vals))[:k]
    kth = np.partition(vals, vals.size - k)[vals.size - k]  # the k-th largest value
    above = np.flatnonzero(vals > kth)
    tied = np.flatnonzero(vals == kth)[:k - above.size]  # smaller columns first
    sel = np.concatenate([above, tied])
    return sel[np.lexsort((cols[sel], -vals[sel]))]


class OneCustomer:
    """The learned blend's features for one known customer's candidates (see the module doc).

    Built once per fitted state (O(customers + items) memory); read-only afterwards, so
    any number of threads may call :meth:`features` at once.
    """

    def __init__(self, st: BlendState) -> None:
        self.st = st
        n_i = st.n_items
        it, cu = st.item, st.cust
        pop_rank = np.empty(n_i, dtype=np.float64)
        pop_rank[st.pop_order] = np.arange(1, n_i + 1)
        price = it["price"]
        with np.errstate(invalid="ignore", divide="ignore"):
            item = {
                "item_repeat_rate": it["repeat_rate"], "item_interval": it["interval"],
                "item_next_order_rate": it["next_order_rate"],
                "buyers_log": np.log1p(it["buyers"]),
                "recent_buyers_share": it["recent"] / np.maximum(it["buyers"], 1.0),
                "popularity_trend": np.log((it["recent"] + 1.0) / (it["prev"] + 1.0)),
                "pop_rank": pop_rank, "price": price,
                "discount": 1.0 - it["recent_price"] / price,
                "margin": (price - it["cost"]) / price if "cost" in it else
                np.full(n_i, np.nan),
                "kind": it["kind"] if "kind" in it else np.full(n_i, np.nan),
                "tier": it["tier"] if "tier" in it else np.full(n_i, np.nan),
            }
            self.p_j = it["order_count"] / max(float(it["n_orders_total"][0]), 1.0)
        self.pop_rank = pop_rank
        self.item_quantity = it["quantity"]
        # conf by column (j -> the items X with conf(X -> j)), for long histories
        self.conf_t = st.conf.T.tocsr()
        self.conf_t.sort_indices()
        self.item_floor = np.maximum(it["interval"], 1.0)
        self.item_block = np.ascontiguousarray(np.column_stack([item[n] for n in _ITEM_COLS]))
        self.item_at = np.array([_COL[n] for n in _ITEM_COLS])
        # per customer: read at request time (no copy of customer- or purchase-size arrays)
        self.cust_cols = [cu[n] for n in _CUST_COLS if n in cu]
        self.cust_at = np.array([_COL[n] for n in _CUST_COLS if n in cu])
        self._kernels: Any = _UNSET  # numba is imported at the first request, not at load
        self._n_scratch = max(n_i, st.n_customers) + 1

    @property
    def kernels(self) -> Any:
        """The compiled loops (None: the numpy ones; tests set it to compare the two)."""
        if numpy_only_now():  # inside without_compiling(): nothing compiled or kept
            return None
        got = self._kernels
        if got is _UNSET:
            got = self._kernels = kernels()
        return got

    @kernels.setter
    def kernels(self, value: Any) -> None:
        self._kernels = value

    # ------------------------------------------------------------------ source rows
    def _ranked(self, c: int, basket: np.ndarray | None, ci: np.ndarray, sc: Any
                ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
        """Per source, ``_score_rank`` of the candidates ``ci`` in the customer's row (the
        compiled kernels: no row is built or sorted; ``sc`` a scratch set); the last items."""
        st = self.st
        kn = self.kernels
        items, d, last = self._items(c, basket)
        acc, seen, _slot = sc
        g = kn.gather_rank
        E, K, C = st.ease, st.knn, st.conf
        pos = d > 0
        out = {"ease": g(E.indptr, E.indices, E.data, items, np.ones(items.size), False, ci,
                         acc, seen),
               "knn": g(K.indptr, K.indices, K.data, items, d.astype(np.float64), False, ci,
                        acc, seen),
               "cooc": g(C.indptr, C.indices, C.data, last, np.ones(last.size), True, ci,
                         acc, seen),
               "repeat": kn.score_rank(items[pos], d[pos].astype(np.float32), ci)}
        norm = float(np.sqrt((d * d).sum()))
        U = st._unit_t
        cu, sim = kn.gather_top(U.indptr, U.indices, U.data, items,
                                (d / (norm if norm > 0 else 1.0)).astype(np.float64), c,
                                max(1, min(st.knn_users, st.n_customers)), acc, seen)
        U = st._unit
        out["uknn"] = g(U.indptr, U.indices, U.data, cu, sim.astype(np.float64), False, ci,
                        acc, seen)
        return out, last

    def _items(self, c: int, basket: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The customer's items (with the basket's), their weights, and the last items."""
        st = self.st
        H = st.H
        lo, hi = int(H.indptr[c]), int(H.indptr[c + 1])
        items = H.indices[lo:hi].astype(np.int64)
        dec = st.decayed[lo:hi]
        d = dec / dec.max() if dec.size and dec.max() > 0 else dec.astype(np.float64)
        if basket is not None:
            last = basket
            both = np.union1d(items, last)
            dd = np.zeros(both.size)
            dd[np.searchsorted(both, items)] = d
            at = np.searchsorted(both, last)
            dd[at] = np.maximum(dd[at], 1.0)
            items, d = both, dd
        else:
            lb = st.last_basket
            last = lb.indices[lb.indptr[c]:lb.indptr[c + 1]].astype(np.int64)
        return items, d, last

    def _rows(self, c: int, basket: np.ndarray | None
              ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
        """Per source, the customer's row as (sorted columns, float32 values); the last items."""
        st = self.st
        n = st.n_items
        items, d, last = self._items(c, basket)
        pos = d > 0
        rows = {"ease": _gather_pos(st.ease, items, None, n),
                "knn": _gather_pos(st.knn, items, d, n),
                "cooc": _row_max(st.conf, last),
                "repeat": (items[pos], d[pos].astype(np.float32))}
        norm = float(np.sqrt((d * d).sum()))
        cu, sim = _gather_pos(st._unit_t, items, d / (norm if norm > 0 else 1.0),
                              st.n_customers)
        keep = cu != c
        cu, sim = cu[keep], sim[keep]
        k = max(1, min(st.knn_users, st.n_customers))
        if cu.size > k:
            top = _top_k(cu, sim, k)
            cu, sim = cu[top], sim[top]
        rows["uknn"] = _gather_pos(st._unit, cu.astype(np.int64), sim.astype(np.float64), n)
        return rows, last

    # ------------------------------------------------------------------ features
    def features(self, c: int, ci: np.ndarray, *, at: int | None = None,
                 basket: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``BlendState.features`` of the pairs (c, ci): (float32 matrix, best last-basket item).

        ``basket``: sorted distinct item indices of the request's basket (None: none).
        """
        st = self.st
        ci = np.asarray(ci, dtype=np.int64)
        n = ci.size
        now = float(st.cut if at is None else max(int(at), st.cut))
        X = np.empty((n, len(_NAMES)), dtype=np.float64)
        sc = None if self.kernels is None else take(self._n_scratch)
        if sc is not None:
            ranked, last = self._ranked(c, basket, ci, sc)
        else:
            rows, last = self._rows(c, basket)
            ranked = {name: _score_rank(*row, ci) for name, row in rows.items()}
        for name in ("ease", "knn", "cooc", "uknn"):
            X[:, _COL[f"{name}_score"]], X[:, _COL[f"{name}_rank"]] = ranked[name]
        X[:, _COL["repeat_rank"]] = ranked["repeat"][1]
        # the customer's own purchases of the candidates
        H = st.H
        lo, hi = int(H.indptr[c]), int(H.indptr[c + 1])
        hidx = H.indices[lo:hi]
        cust = st.cust
        if self.kernels is not None:  # the same formulas, compiled
            e = st.entry
            self.kernels.own_block(
                X, ci, lo, hi, H.indices, H.data, st.decayed, st.last_t, st.first_t,
                e["orders_since"], e["in_last_2"], e["in_last_4"], e["order_decayed"],
                e["spend"], e["quantity"], now, float(cust["orders"][c]),
                float(cust["spend"][c]), self.item_floor, self.item_quantity, self.p_j, _OWN_AT)
        else:
            self._own(X, c, ci, lo, hidx, now)
        X[:, self.item_at] = self.item_block[ci]
        price = X[:, _COL["price"]]
        with np.errstate(invalid="ignore", divide="ignore"):
            X[:, _COL["price_vs_usual"]] = price / cust["usual_price"][c]
            X[:, _COL["price_vs_order_value"]] = price / cust["order_value"][c]
        X[:, self.cust_at] = [float(a[c]) for a in self.cust_cols]
        if "segment" not in cust:
            X[:, _COL["segment"]] = np.nan
        X[:, _COL["days_since_order"]] = cust["days_since_order"][c] + (now - st.cut) / _DAY
        X[:, _COL["conf_history_max"]], best = self._conf(hidx, last, ci, sc)
        if sc is not None:
            give(sc)  # not on an error: a set a kernel left midway is dropped
        return X.astype(np.float32), best

    def _own(self, X: np.ndarray, c: int, ci: np.ndarray, lo: int, hidx: np.ndarray,
             now: float) -> None:
        """The columns of ``_OWN`` in numpy (the kernels' ``own_block`` computes the same)."""
        st = self.st
        H = st.H
        n = ci.size
        times = np.zeros(n)
        decayed = np.zeros(n)
        last_t = np.full(n, np.nan)
        first_t = np.full(n, np.nan)
        ent = {name: np.zeros(n) for name in ENTRY}
        for name in NAN_ENTRY:
            ent[name][:] = np.nan
        if hidx.size:
            at_h = np.minimum(np.searchsorted(hidx, ci), hidx.size - 1)
            hit = hidx[at_h] == ci
            p = lo + at_h[hit]
            times[hit] = H.data[p]
            decayed[hit] = st.decayed[p]
            last_t[hit] = st.last_t[p]
            first_t[hit] = st.first_t[p]
            for name in ENTRY:
                ent[name][hit] = st.entry[name][p]
        since = (now - last_t) / _DAY
        cust = st.cust
        with np.errstate(invalid="ignore", divide="ignore"):
            interval = np.where(times >= 2, (last_t - first_t) / _DAY / (times - 1), np.nan)
            X[:, _COL["times_bought"]] = times
            X[:, _COL["decayed_count"]] = decayed
            X[:, _COL["days_since_bought"]] = since
            X[:, _COL["repurchase_interval"]] = interval
            X[:, _COL["since_over_interval"]] = since / np.maximum(interval, 1.0)
            X[:, _COL["share_of_orders"]] = times / cust["orders"][c]
            X[:, _COL["since_over_item_interval"]] = since / self.item_floor[ci]
            X[:, _COL["orders_since_bought"]] = ent["orders_since"]
            X[:, _COL["in_last_2_orders"]] = ent["in_last_2"]
            X[:, _COL["in_last_4_orders"]] = ent["in_last_4"]
            X[:, _COL["order_decayed_count"]] = ent["order_decayed"]
            conf = X[:, _COL["cooc_score"]]
            X[:, _COL["lift_last_basket"]] = np.where(
                conf > 0, conf / np.maximum(self.p_j[ci], 1e-12), 0.0)
        for name, v in spend_columns(times, ent["spend"], ent["quantity"], cust["spend"][c],
                                     self.item_quantity[ci]).items():
            X[:, _COL[name]] = v

    def basket_conf(self, basket: np.ndarray, ci: np.ndarray) -> np.ndarray:
        """Max co-purchase confidence of each item ``ci`` with the basket (0 without one)."""
        sc = None if self.kernels is None else take(self._n_scratch)
        got = self._conf(np.asarray(basket, dtype=np.int64), np.empty(0, np.int64),
                         np.asarray(ci, dtype=np.int64), sc)[0]
        if sc is not None:
            give(sc)
        return got

    def _conf(self, hidx: np.ndarray, last: np.ndarray, ci: np.ndarray, sc: Any = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Max conf(X -> j) over the customer's items X, and the last-basket X of the best conf.

        Each is read from the rows of the X (short histories) or from the candidates'
        columns (long ones): the same (X, j, conf) entries either way, so the same
        maxima and the same tie-break (the smallest X).
        """
        M, Mt = self.st.conf, self.conf_t
        if sc is not None:  # the compiled loop (a scratch set from ``take``)
            _acc, seen, slot = sc
            return self.kernels.conf_max(M.indptr, M.indices, M.data, Mt.indptr, Mt.indices,
                                         Mt.data, hidx.astype(np.int64), last, ci, slot, seen)
        hist = np.zeros(ci.size)
        best = np.full(ci.size, -1, dtype=np.int64)
        if ci.size == 0:
            return hist, best
        col_lens = Mt.indptr[ci + 1].astype(np.int64) - Mt.indptr[ci]
        col_total = int(col_lens.sum())
        cols: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        for which, src in (("hist", hidx.astype(np.int64)), ("last", last)):
            if src.size == 0:
                continue
            if col_total < int((M.indptr[src + 1] - M.indptr[src]).sum()):
                if cols is None:  # every (X, conf, candidate slot) leading to a candidate
                    offs = np.cumsum(col_lens) - col_lens
                    pos = np.repeat(Mt.indptr[ci].astype(np.int64) - offs, col_lens) \
                        + np.arange(col_total)
                    cols = (Mt.indices[pos].astype(np.int64), Mt.data[pos],
                            np.repeat(np.arange(ci.size), col_lens))
                mine = np.zeros(self.st.n_items, dtype=bool)  # 1 byte an item
                mine[src] = True
                ok = mine[cols[0]]
                if which == "hist":  # conf > 0: the max per candidate, 0 when no X leads to it
                    v = np.where(ok, cols[1], np.float32(0))
                    has = col_lens > 0
                    m = np.zeros(ci.size, dtype=np.float32)
                    m[has] = np.maximum.reduceat(v, (np.cumsum(col_lens) - col_lens)[has])
                    hist = m.astype(np.float64)
                    continue
                x, v, slot = cols[0][ok], cols[1][ok], cols[2][ok]
            else:
                x, v, slot = self._by_rows(src, ci)
            if slot.size == 0:
                continue
            if which == "hist":
                m = np.zeros(ci.size, dtype=np.float32)
                np.maximum.at(m, slot, v)
                hist = m.astype(np.float64)
            else:
                o = np.lexsort((x, -v, slot))
                slot, x = slot[o], x[o]
                first = np.r_[True, slot[1:] != slot[:-1]]
                best[slot[first]] = x[first]
        return hist, best

    def _by_rows(self, src: np.ndarray, ci: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, conf, candidate slot) of the entries of rows ``src`` whose column is a candidate."""
        M = self.st.conf
        starts = M.indptr[src].astype(np.int64)
        lens = M.indptr[src + 1].astype(np.int64) - starts
        total = int(lens.sum())
        if total == 0:
            return _EMPTY_I, _EMPTY_F, _EMPTY_I
        offs = np.cumsum(lens) - lens
        pos = np.repeat(starts - offs, lens) + np.arange(total)
        j = M.indices[pos]
        if total * 4 >= self.st.n_items:  # many entries: a catalog-size slot map, one gather
            slot_of = np.full(self.st.n_items, -1, dtype=np.int64)
            slot_of[ci] = np.arange(ci.size)  # candidate position (ci holds distinct items)
            slot = slot_of[j]
            ok = slot >= 0
            return np.repeat(src, lens)[ok], M.data[pos][ok], slot[ok]
        order = np.argsort(ci, kind="stable")
        cs = ci[order]
        j = j.astype(np.int64)
        at = np.minimum(np.searchsorted(cs, j), cs.size - 1)
        ok = cs[at] == j
        return np.repeat(src, lens)[ok], M.data[pos][ok], order[at[ok]]


def finite_scores(scores: np.ndarray) -> np.ndarray:
    """Scores with -inf (items unknown to the history) just below the lowest finite one
    (in place)."""
    ok = np.isfinite(scores)
    low = scores[ok].min() - 1.0 if ok.any() else 0.0
    scores[~ok] = low
    return scores


#: ``LearnedBlend(cascade=)``'s default: the share of the ranker's trees that scores every
#: candidate of a request before the best ``cascade_keep(k)`` get the rest (see
#: :func:`cascade_raw`; chosen by measurement, ``benchmarks/README.md``).
CASCADE = 1 / 3


def cascade_keep(k: int) -> int:
    """Candidates the cascade finishes for a request of ``k`` offers: ``max(4 k, 20)``."""
    return max(4 * int(k), 20)


def cascade_trees(share: float | None, n_trees: int, n_rows: int, keep: int) -> int:
    """Trees of the cascade's first pass (0: no cascade, every row gets every tree).

    ``share`` of the ``n_trees`` (at least one, fewer than all) when there are more
    than ``keep`` rows to score; else 0.
    """
    if share is None or not 0 < share < 1 or keep <= 0 or n_rows <= keep or n_trees < 2:
        return 0
    return min(max(1, round(float(share) * n_trees)), n_trees - 1)


_TREES: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def used_trees(booster: Any) -> int:
    """Trees ``Booster.predict`` reads by default (its best iteration, else all).

    Remembered per booster (a served booster never changes; asking LightGBM costs
    ~25 us), keyed by the best iteration too.
    """
    best = int(getattr(booster, "best_iteration", 0) or 0)
    if best > 0:
        return best
    n = _TREES.get(booster)
    if n is None:
        n = _TREES[booster] = int(booster.num_trees())
    return n


_SPLITS: weakref.WeakKeyDictionary[Any, tuple[int, Any, Any]] = weakref.WeakKeyDictionary()


def _split(booster: Any, first: int) -> tuple[Any, Any]:
    """Two boosters holding ``booster``'s first ``first`` trees and the rest it predicts with.

    Separate boosters, not ``predict(start_iteration=, num_iteration=)`` on one: LightGBM
    sets the tree range on the booster itself for each prediction, so two threads asking
    for different ranges of one booster at once can each score with the other's range
    (a test with 8 threads saw it). Built once per booster (a racing thread builds an
    equal pair).
    """
    got = _SPLITS.get(booster)
    if got is not None and got[0] == first:
        return got[1], got[2]
    import lightgbm as lgb

    used = used_trees(booster)
    head = lgb.Booster(model_str=booster.model_to_string(num_iteration=first))
    tail = lgb.Booster(model_str=booster.model_to_string(start_iteration=first,
                                                         num_iteration=used - first))
    _SPLITS[booster] = (first, head, tail)
    return head, tail


def cascade_raw(booster: Any, Xc: np.ndarray, first: int, keep: int,
                adj: np.ndarray | None = None, num_threads: int = 1) -> np.ndarray:
    """Raw scores of the rows ``Xc``: every tree for the ``keep`` best rows after a first pass.

    The first ``first`` trees score every row; the ``keep`` rows with the highest
    first-pass score (plus ``adj``, a second stage's correction; ties: the earlier
    row) get the other trees too (their score is the model's, up to the rounding of
    one more addition). The others keep their first-pass order and spacing, shifted
    to rank below every finished row. ``first == 0``: every tree for every row.
    """
    n = Xc.shape[0]
    if first <= 0 or n <= keep:
        raw = np.asarray(booster.predict(Xc, raw_score=True, num_threads=num_threads),
                         dtype=np.float64)
        return raw if adj is None else raw + adj
    head, tail = _split(booster, first)
    part = np.asarray(head.predict(Xc, raw_score=True, num_threads=num_threads),
                      dtype=np.float64)
    if adj is not None:
        part = part + adj
    top = np.argsort(-part, kind="stable")[:keep]
    rest = np.asarray(tail.predict(np.ascontiguousarray(Xc[top]), raw_score=True,
                                   num_threads=num_threads), dtype=np.float64)
    out = part.copy()
    out[top] += rest
    low = np.ones(n, dtype=bool)
    low[top] = False
    floor = float(out[top].min())
    out[low] += floor - float(part[low].max()) - 1e-6 * (1.0 + abs(floor))
    return out


def customer_row(index: Any, customer: Any) -> int:
    """Row of one request's customer in ``index`` (-1: none or unknown), as
    ``index.encode([customer], unknown="mask")``: an exact id by one binary search,
    anything else (another id kind, padded text) by ``encode`` itself."""
    if customer is None:
        return -1
    p = position(index, customer)
    return p if p >= 0 else int(index.encode([customer], unknown="mask")[0])


def warm(blend: Any) -> None:
    """Run one known customer through every step a fitted blend's requests take.

    numba compiles the kernels at their first call (~15 s after an install, ~0.4 s
    from its cache); a service calls this before it takes traffic. Nothing is
    recorded: the blend is read-only.
    """
    st = blend.state_
    known = np.flatnonzero(st.cust["orders"] > 0)
    if known.size == 0 or st.n_items == 0:
        return
    c = int(known[0])
    ci = np.arange(min(st.n_items, 2 * cascade_keep(1)), dtype=np.int64)
    one = blend._one()
    for basket in (None, ci[:1]):
        X, _ = one.features(c, ci, basket=basket)
        for regime in blend.boosters_:
            blend._predict(X, regime, None, cascade_keep(1))
            if blend.explain in ("contributions", "paths"):
                blend._contrib(X[:2], regime)
