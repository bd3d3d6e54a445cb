"""Repeat purchases and collaborative filtering blended at the score level."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell.cf._request import _Request
from upsell.cf._topk import gather_rows
from upsell.cf.base import check_positive
from upsell.cf.knn import NeighborModel
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["RepeatBlend"]

_DAY = 86_400.0


class RepeatBlend(NeighborModel):
    """The customer's own (time-decayed) favourites plus item-neighbour scores, in one ranking.

    For next-basket prediction with repeats allowed, a customer's own purchase
    frequency is the strongest single signal; neighbours of what they bought add
    the items they have not bought yet. This model adds both at the score level
    (TIFU-KNN-style, Hu et al. 2020: the neighbour aggregation runs over the
    customer's decayed history vector).

    Parameters
    ----------
    cf_weight : float, default 0.25
        Weight of the normalised neighbour score (see Notes).
    popularity_weight : float, default 0.5
        Weight of global popularity (buyers / (most buyers + 1), in [0, 1)).
    half_life_days : float, default 90.0
        Half-life of a purchase in the repeat score: an order ``a`` days before
        the last day of the data counts ``0.5 ** (a / half_life_days)``.
    similarity : {"cosine", "bm25", "tfidf"}, default "bm25"
        Item similarity of the neighbour part, as in :class:`ItemKNN`.
    n_neighbors : int, default 100
    bm25_k1, bm25_b : float, default 1.2 and 0.75
    num_threads : int, default 0
        implicit's threads for the similarity computation (0: all cores).

    Attributes
    ----------
    neighbors_ : scipy.sparse.csr_matrix, shape (n_items, n_items)
        Item neighbour lists (as :attr:`ItemKNN.neighbors_`).
    decayed_ : scipy.sparse.csr_matrix, shape (n_customers, n_items)
        Decayed purchase counts, with the sparsity of ``history_``.

    Notes
    -----
    For a customer with decayed history vector ``d`` (``d_i`` summed over the
    orders holding item ``i``), with ``r = d / max(d)``,
    ``c_j = sum_i r_i S_ij`` (``S``: neighbour similarities) and ``p_j`` the
    item's buyers over (most buyers + 1),

    ``score_j = [j owned] (1 + r_j) + cf_weight * c_j / max(c) + popularity_weight * p_j``

    ``r``, ``c / max(c)`` and ``p`` lie in [0, 1], so the weights are exchange
    rates against the repeat score; with weights below 1 an owned item ranks
    above an unowned one unless its neighbours and popularity both speak for the
    unowned one. Items nobody scores rank by popularity, which is also the
    tie-break. Without a time column (a sparse matrix, or Transactions without
    times) ``d`` is the plain purchase count. Fold-in: items of a basket or of
    ``history=`` count as bought today (weight 1 per purchase).
    With ``exclude_owned=True`` (the default) the repeat part has nothing left
    to rank and the model is a neighbour model over the decayed history.
    ``fit(..., weighting=...)`` weights the matrix the similarities are
    computed from (default "count"); the repeat score always uses counts.
    Defaults were tuned on Online Retail with a validation split inside the
    training period (benchmarks/README.md).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[3, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]]))
    >>> m = RepeatBlend(n_neighbors=3, num_threads=1).fit(X)
    >>> m.recommend(customers=[0], k=3, exclude_owned=False).lists()
    [[0, 1, 2]]
    >>> m.recommend(baskets=[[0]], k=2).lists()
    [[1, 2]]
    """

    _default_weighting = "count"

    decayed_: sp.csr_matrix

    def __init__(self, *, cf_weight: float = 0.25, popularity_weight: float = 0.5,
                 half_life_days: float = 90.0, similarity: str = "bm25",
                 n_neighbors: int = 100, bm25_k1: float = 1.2, bm25_b: float = 0.75,
                 num_threads: int = 0) -> None:
        self.cf_weight = cf_weight
        self.popularity_weight = popularity_weight
        self.half_life_days = half_life_days
        self.similarity = similarity
        self.n_neighbors = n_neighbors
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        for name in ("cf_weight", "popularity_weight"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) \
                    or not 0 <= v <= 1e12:
                raise UpsellDataError(f"`{name}` must be a number in [0, 1e12]; got {v!r}")
        check_positive(self.half_life_days, "half_life_days")
        self._check_knn_params()

    # ------------------------------------------------------------------ fit
    def _fit_model(self, X: sp.csr_matrix, *, data: Any, show_progress: bool) -> None:
        self._fit_knn(X, show_progress=show_progress)
        self._set_decayed(self._decayed_values(data))

    def _decayed_values(self, data: Any) -> np.ndarray:
        """Decayed counts aligned with ``history_.data`` (counts when there are no times)."""
        H = self.history_
        if not isinstance(data, Transactions) or not data.has("time") \
                or not data.has("customer"):
            return np.asarray(H.data, dtype=np.float64)
        o, i, q, cust = data.order, data.item, data.quantity, data.customer
        # one purchase per (order, item) with positive net quantity, as customer_items("count")
        first = np.ones(o.size, dtype=bool)
        first[1:] = (o[1:] != o[:-1]) | (i[1:] != i[:-1])
        group = np.cumsum(first) - 1
        net = np.bincount(group, weights=q)
        pos = (net > 0)[group] & first & (cust >= 0)
        t = data.time.astype("datetime64[s]").astype(np.int64)
        age = (t.max() - t[pos]) / _DAY if t.size else np.empty(0)
        with np.errstate(over="ignore"):  # a tiny half-life: old lines weigh exactly 0
            w = 0.5 ** (age / float(self.half_life_days))
        D = sp.csr_matrix((w, (cust[pos], i[pos])), shape=H.shape, dtype=np.float64)
        D.sum_duplicates()
        n = H.shape[1]
        h_rows = np.repeat(np.arange(H.shape[0], dtype=np.int64), np.diff(H.indptr))
        d_rows = np.repeat(np.arange(D.shape[0], dtype=np.int64), np.diff(D.indptr))
        h_keys = h_rows * n + H.indices
        d_keys = d_rows * n + D.indices
        if d_keys.size == 0:
            return np.asarray(H.data, dtype=np.float64)
        at = np.minimum(np.searchsorted(d_keys, h_keys), d_keys.size - 1)
        found = d_keys[at] == h_keys
        # a cell of history_ with no dated purchase behind it ("units"/"value" weighting
        # nets differently): its raw value at the oldest decay seen
        floor = float(w.min()) if w.size else 1.0
        return np.where(found, D.data[at], np.asarray(H.data, dtype=np.float64) * floor)

    def _set_decayed(self, values: np.ndarray) -> None:
        H = self.history_
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (H.nnz,) or not np.all(np.isfinite(values)) or (values < 0).any():
            raise ValueError("decayed counts do not match the history")
        D = sp.csr_matrix((values, H.indices, H.indptr), shape=H.shape)
        for a in (D.data, D.indices, D.indptr):
            a.flags.writeable = False
        self.decayed_ = D
        pop = self.popularity_
        frac = pop / (float(pop.max()) + 1.0) if pop.size else pop.astype(np.float64)
        self._pop = (float(self.popularity_weight) * frac).astype(np.float64)
        # unscored items rank by popularity: their score is the popularity term
        self._set_fallback(self._fb_order, self._pop.astype(np.float32))

    # ------------------------------------------------------------------ scoring
    def _request_vector(self, req: _Request) -> tuple[np.ndarray, np.ndarray]:
        """(items, decayed weights) of one request; extra purchases weigh 1 each."""
        if req.user < 0:
            return req.items, req.values.astype(np.float64)
        D, H = self.decayed_, self.history_
        lo, hi = D.indptr[req.user], D.indptr[req.user + 1]
        base_i = D.indices[lo:hi]
        if not req.folded:
            return base_i, D.data[lo:hi]
        # grown history: req.values = fit-time counts + new purchases
        d = req.values.astype(np.float64)
        at = np.searchsorted(req.items, base_i)
        d[at] += D.data[lo:hi] - H.data[lo:hi]
        return req.items, d

    def _sparse_scores(self, req: _Request, weights: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        items, d = self._request_vector(req)
        top = float(d.max()) if d.size else 0.0
        if top <= 0:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        r = d / top
        cols, c = gather_rows(self.neighbors_, items, r)
        c = c.astype(np.float64)
        c_top = float(c.max()) if c.size else 0.0
        scale = float(self.cf_weight) / c_top if c_top > 0 else 0.0
        allc = np.concatenate([items, cols])
        uniq, inv = np.unique(allc, return_inverse=True)
        score = np.bincount(inv, weights=np.concatenate([1.0 + r, c * scale]))
        return uniq.astype(np.int32), (score + self._pop[uniq]).astype(np.float32)

    def _rank_one(self, req: _Request, k: int, banned: np.ndarray, cand: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
        items, scores = self._sparse_scores(req, np.empty(0))
        # unscored items score popularity_weight * p: the best of them are the first
        # ones in the popularity order that are neither scored nor banned
        if cand is None:
            pool = self._fb_order[:k + items.size + banned.size]
        else:
            pool = cand
        pool = pool[~np.isin(pool, items)]
        items = np.concatenate([items, pool.astype(np.int32)])
        scores = np.concatenate([scores, self._pop[pool].astype(np.float32)])
        return self._rank_sparse(items, scores, k, banned, cand, *self._fallback(req))

    def _users_chunk(self, u: np.ndarray, k: int, exclude_owned: bool,
                     excl: np.ndarray | None, cand: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # one request at a time (the popularity term touches every item)
        H = self.history_
        il, sl = [], []
        for x in u.tolist():
            lo, hi = H.indptr[x], H.indptr[x + 1]
            req = _Request(int(x), H.indices[lo:hi], H.data[lo:hi], False)
            i, sc = self._rank_one(req, k, self._banned(req, exclude_owned, excl), cand)
            il.append(i)
            sl.append(sc)
        return (np.array([x.size for x in il], dtype=np.int64),
                np.concatenate(il) if il else np.empty(0, np.int32),
                np.concatenate(sl) if sl else np.empty(0, np.float32))

    # ------------------------------------------------------------------ persistence
    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {**super()._model_arrays(), "decayed": np.asarray(self.decayed_.data)}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        super()._restore(arrays, meta)
        self._set_decayed(arrays["decayed"])
