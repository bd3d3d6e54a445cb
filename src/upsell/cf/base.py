"""What every collaborative-filtering model shares: input handling, request parsing,
ranking with exclusions, fold-in plumbing, batch scoring and model files.

A model subclasses :class:`CFModel` and provides one of two scorers:

* a *dense* scorer (ALS, BPR): a customer vector ``u`` and item factors ``Y``;
  one request costs one mat-vec ``Y @ u`` plus an ``argpartition``;
* a *sparse* scorer (ItemKNN, EASE, Popular): a request touches only the
  precomputed neighbour lists of its items, so its cost does not grow with the
  catalog. Items outside the neighbour lists score 0 (KNN: exactly; EASE: the
  truncation documented there) and are filled in from the model's fallback
  order (global popularity unless the model says otherwise).

Ranking rule, the same for every model: score descending, then the fallback
order (most popular first), so ties and cold starts are deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp

from upsell import _implicit
from upsell._estimator import Estimator
from upsell._lookup import position
from upsell._results import Recommendations
from upsell._validation import as_csr, check_choice, check_float, check_int, check_k
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import (
    ModelFileError,
    UnknownIdError,
    UpsellDataError,
    UpsellMemoryError,
)
from upsell.persist import (
    check_array,
    check_csr,
    check_index,
    check_params,
    fail,
    index_arrays,
    index_from_arrays,
    read_model,
    write_model,
)

__all__ = ["WEIGHTINGS", "CFModel"]

#: Accepted values of ``fit(..., weighting=...)``.
WEIGHTINGS = ("count", "binary", "units", "value", "bm25", "tfidf")

_M = TypeVar("_M", bound="CFModel")

# wider top-k requests than this (k in the hundreds) are ranked by numpy
_MAX_HEAP_K = 512
# narrowest request to implicit's top-k heap: up to here its cost hardly depends on the width
_MIN_HEAP_K = 16


# --------------------------------------------------------------------------- weighting
@dataclass(frozen=True)
class _Weighter:
    """Turns raw purchase counts into model input, for the fit matrix and for fold-in rows.

    "count", "units", "value": values as they are; "binary": 1; "bm25" and
    "tfidf": the formulas of :meth:`Transactions.customer_items`, with the idf
    and mean length learned at fit, idf floored at 0 (an item bought by nearly
    everyone carries no signal rather than a negative one).
    """

    kind: str
    idf: np.ndarray
    avg_len: float
    k1: float = 100.0
    b: float = 0.8

    @classmethod
    def learn(cls, raw: sp.csr_matrix, kind: str) -> _Weighter:
        if kind in ("bm25", "tfidf"):
            n_rows = max(raw.shape[0], 1)
            df = np.bincount(raw.indices, minlength=raw.shape[1])
            idf = np.maximum(np.log(n_rows) - np.log1p(df), 0.0)
            sums = np.asarray(raw.sum(axis=1)).ravel()
            avg = float(sums.mean()) if sums.size else 1.0
            return cls(kind, idf.astype(np.float64), avg if avg > 0 else 1.0)
        return cls(kind, np.empty(0), 1.0)

    def row(self, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
        """Weights of one customer's (items, raw values); float64."""
        v = val.astype(np.float64)
        if self.kind == "binary":
            w = np.ones_like(v)
        elif self.kind == "tfidf":
            w = np.sqrt(v) * self.idf[idx]
        elif self.kind == "bm25":
            length = (1.0 - self.b) + self.b * v.sum() / self.avg_len
            w = v * (self.k1 + 1.0) / (self.k1 * length + v) * self.idf[idx]
        else:
            w = v
        # rounded like matrix(), so one request and a batch see the same weights
        return w.astype(np.float32).astype(np.float64)

    def matrix(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        """Weighted copy of a raw CSR matrix (float32, no stored zeros)."""
        out = sp.csr_matrix(raw, dtype=np.float64, copy=True)
        if self.kind == "binary":
            out.data[:] = 1.0
        elif self.kind == "tfidf":
            out.data = np.sqrt(out.data) * self.idf[out.indices]
        elif self.kind == "bm25":
            sums = np.asarray(raw.sum(axis=1)).ravel().astype(np.float64)
            length = (1.0 - self.b) + self.b * sums / self.avg_len
            rows = np.repeat(np.arange(raw.shape[0]), np.diff(raw.indptr))
            out.data = (out.data * (self.k1 + 1.0) / (self.k1 * length[rows] + out.data)
                        * self.idf[out.indices])
        out = sp.csr_matrix(out, dtype=np.float32)
        out.eliminate_zeros()
        return out


# --------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class _Request:
    """One parsed request: fit-time customer (or -1) and the raw history row to score."""

    user: int
    items: np.ndarray      # int32, sorted, unique
    values: np.ndarray     # raw counts aligned with items
    folded: bool           # the model must fold in (basket, unseen customer, grown history)


def _is_scalar_id(x: Any) -> bool:
    return isinstance(x, (str, bytes, int, np.integer, np.str_))


def _id_list(value: Any, name: str) -> list[Any]:
    if _is_scalar_id(value):
        return [value]
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1).tolist())
    if isinstance(value, Iterable):
        return list(value)
    raise UpsellDataError(f"`{name}` must be an id or a list of ids; got {type(value).__name__}")


def _basket_lists(value: Any, name: str) -> list[list[Any]]:
    if _is_scalar_id(value) or not isinstance(value, Iterable):
        raise UpsellDataError(
            f"`{name}` must be a list of baskets, each a list of item ids; got {value!r}"
        )
    out: list[list[Any]] = []
    for pos, b in enumerate(value):
        if _is_scalar_id(b) or not isinstance(b, Iterable):
            raise UpsellDataError(
                f"`{name}` must be a list of baskets, each a list of item ids; "
                f"position {pos} is {b!r} (wrap a single basket in a list: [[...]])"
            )
        out.append(list(b.tolist() if isinstance(b, np.ndarray) else b))
    return out


# --------------------------------------------------------------------------- the base
class CFModel(Estimator):
    """Base class of the collaborative-filtering models (ALS, BPR, ItemKNN, EASE, Popular).

    Subclasses store their keyword-only constructor arguments unchanged and
    implement ``_fit_model``; everything public lives here: :meth:`fit`,
    :meth:`recommend`, :meth:`recommend_all`, :meth:`similar_items`,
    :meth:`save`, :meth:`load`, :meth:`get_params`.

    A fitted model is read-only, so one instance serves many threads.

    Examples
    --------
    >>> from upsell.cf import Popular
    >>> import scipy.sparse as sp
    >>> m = Popular().fit(sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 1]])))
    >>> m.recommend(customers=[1], k=2).lists()
    [[0, 1]]
    """

    _dense: ClassVar[bool] = False
    _default_weighting: ClassVar[str] = "count"
    _kind_label: ClassVar[str] = "model"

    # learned, common to all models
    customers_: IdIndex
    items_: IdIndex
    history_: sp.csr_matrix
    weighting_: str
    popularity_: np.ndarray

    _fitted_attr = "history_"

    def __repr__(self) -> str:
        fitted = "" if not self._is_fitted() else (
            f"  # fitted: {len(self.customers_):,} customers x {len(self.items_):,} items")
        return f"{type(self).__name__}({self._repr_params()}){fitted}"

    # ------------------------------------------------------------------ fit
    def fit(self: _M, data: Any, *, weighting: str | None = None,
            show_progress: bool = False) -> _M:
        """Learn from order history.

        Parameters
        ----------
        data : Transactions or scipy sparse matrix
            Transactions (external ids kept for requests and results) or a
            customers x items sparse matrix of non-negative purchase counts
            (ids are then the row and column numbers 0..n-1).
        weighting : {"count", "binary", "units", "value", "bm25", "tfidf"}, optional
            How purchases become model input (see
            :meth:`Transactions.customer_items`); "units" and "value" need
            Transactions. Default: the model's own (see its class docstring).
        show_progress : bool, default False
            Show implicit's progress bar (implicit models only).

        Returns
        -------
        self

        Raises
        ------
        UpsellDataError
            For a bad ``weighting``, negative or non-finite values, or an empty matrix.

        Examples
        --------
        >>> from upsell.cf import Popular
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
        ...                               customer=["x", "x", "y"])
        >>> Popular().fit(tx).items_.ids.tolist()
        ['a', 'b']
        """
        w = self._default_weighting if weighting is None else weighting
        w = check_choice(w, "weighting", WEIGHTINGS)
        if not isinstance(show_progress, bool):
            raise UpsellDataError(f"`show_progress` must be True or False; got {show_progress!r}")
        raw, customers, items = _fit_input(data, w)
        if raw.shape[1] == 0 or raw.shape[0] == 0:
            raise UpsellDataError(f"`data` must have at least one customer and one item; "
                                  f"got shape {raw.shape}")
        self._validate_params()
        weighter = _Weighter.learn(raw, w)
        self._set_common(raw, customers, items, weighter)
        self._fit_model(weighter.matrix(raw), data=data, show_progress=show_progress)
        return self

    def _validate_params(self) -> None:
        """Check constructor parameters (subclasses extend)."""

    def _set_common(self, raw: sp.csr_matrix, customers: IdIndex, items: IdIndex,
                    weighter: _Weighter) -> None:
        for a in (raw.data, raw.indices, raw.indptr):
            a.flags.writeable = False
        self.customers_ = customers
        self.items_ = items
        self.weighting_ = weighter.kind
        self._weighter = weighter
        pop = np.bincount(raw.indices, minlength=raw.shape[1]).astype(np.float32)
        self.popularity_ = pop
        order = np.argsort(-pop, kind="stable").astype(np.int32)
        self._set_fallback(order, np.zeros(raw.shape[1], dtype=np.float32))
        self.history_ = raw

    def _set_fallback(self, order: np.ndarray, item_scores: np.ndarray) -> None:
        """Fallback ranking: ``order`` (best first) and per-item scores non-increasing along it."""
        rank = np.empty(order.size, dtype=np.int32)
        rank[order] = np.arange(order.size, dtype=np.int32)
        self._fb_order = order
        self._fb_rank = rank
        self._fb_scores = item_scores.astype(np.float32)

    def _fit_model(self, X: sp.csr_matrix, *, data: Any, show_progress: bool) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ requests
    def _parse_requests(self, customers: Any, baskets: Any, history: Any
                        ) -> tuple[np.ndarray, str, list[_Request]]:
        if (customers is None) == (baskets is None):
            raise UpsellDataError("pass exactly one of `customers` and `baskets`")
        reqs: list[_Request] = []
        if baskets is not None:
            if history is not None:
                raise UpsellDataError("`history` goes with `customers`, not `baskets`: "
                                      "a basket is the whole history of its request")
            lists = _basket_lists(baskets, "baskets")
            for b in lists:
                idx, val = self._count_items(b)
                reqs.append(_Request(-1, idx, val, True))
            return np.arange(len(lists), dtype=np.int64), "basket", reqs
        ids = _id_list(customers, "customers")
        hist: list[list[Any]] | None = None
        if history is not None:
            hist = _basket_lists(history, "history")
            if len(hist) != len(ids):
                raise UpsellDataError(
                    f"`history` must hold one item list per customer ({len(ids)}); "
                    f"got {len(hist)}")
        H = self.history_
        for r, cid in enumerate(ids):
            u = _lookup_one(self.customers_, cid)
            extra = hist[r] if hist is not None else []
            if u < 0 and hist is None:
                raise UnknownIdError(
                    f"customer {cid!r} is not in the model's customer index; pass its "
                    f"purchases with `history=` to fold it in, or use `baskets=`")
            if u >= 0:
                lo, hi = H.indptr[u], H.indptr[u + 1]
                base_i, base_v = H.indices[lo:hi], H.data[lo:hi]
            else:
                base_i = np.empty(0, np.int32)
                base_v = np.empty(0, np.float32)
            if extra:
                ei, ev = self._count_items(extra)
                allv = np.concatenate([base_i, ei])
                uniq, inv = np.unique(allv, return_inverse=True)
                vals = np.bincount(inv, weights=np.concatenate([base_v, ev])).astype(np.float32)
                reqs.append(_Request(u, uniq.astype(np.int32), vals, True))
            else:
                reqs.append(_Request(u, base_i, base_v, u < 0))
        try:
            req_ids = np.asarray(ids) if ids else self.customers_.ids[:0]
        except (TypeError, ValueError):  # pragma: no cover - odd id objects
            req_ids = np.array(ids, dtype=object)
        return req_ids, "customer", reqs

    def _count_items(self, item_ids: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Known item ids -> (sorted unique indices, occurrence counts); unknown ids are ignored."""
        if not item_ids:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        idx = _encode_known(self.items_, list(item_ids))
        uniq, counts = np.unique(idx, return_counts=True)
        return uniq.astype(np.int32), counts.astype(np.float32)

    def _item_set(self, value: Any, name: str) -> np.ndarray | None:
        if value is None:
            return None
        ids = _id_list(value, name)
        if not ids:
            return np.empty(0, np.int32)
        return np.unique(_encode_known(self.items_, ids)).astype(np.int32)

    # ------------------------------------------------------------------ scoring hooks
    def _user_vector(self, req: _Request) -> np.ndarray | None:
        """Dense models: the customer vector, or None when the history carries no signal."""
        raise NotImplementedError

    def _item_factors(self) -> np.ndarray:
        raise NotImplementedError

    def _sparse_scores(self, req: _Request, weights: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Sparse models: (item indices, scores > 0) of the items the request touches."""
        raise NotImplementedError

    def _fallback(self, req: _Request) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order, rank, per-item scores) used to fill lists and break ties."""
        return self._fb_order, self._fb_rank, self._fb_scores

    # ------------------------------------------------------------------ recommend
    def recommend(self, customers: Any = None, *, baskets: Any = None, k: int = 10,
                  exclude_owned: bool = True, exclude: Any = None, candidates: Any = None,
                  history: Any = None, batch_size: int = 1024,
                  num_threads: int = 0) -> Recommendations:
        """Top-``k`` items for each customer or basket.

        Parameters
        ----------
        customers : id or list of ids, optional
            Customers seen at fit time; an unseen one needs ``history``.
        baskets : list of lists of item ids, optional
            Anonymous requests (fold-in from the basket's items). Exactly one of
            ``customers`` and ``baskets``. Item ids the model does not know are ignored.
        k : int, default 10
            List length. A list is shorter only when fewer candidates remain;
            it is never padded.
        exclude_owned : bool, default True
            Leave out what the customer bought (fit-time history plus
            ``history``) or what the basket holds.
        exclude : list of item ids, optional
            Items never to recommend (for every request).
        candidates : list of item ids, optional
            Recommend only among these.
        history : list of lists of item ids, optional
            One list per customer: purchases since fit (repeats count). A seen
            customer's grown history, or an unseen customer's whole history, is
            folded in without refitting; the model itself is not changed.
        batch_size : int, default 1024
            Requests scored together in the batch path (several fit-time
            customers, no ``history``).
        num_threads : int, default 0
            Threads of the batch path (0: one per CPU core). ALS and BPR score
            in implicit's multithreaded C++ top-k kernel (``100 x n_items``
            float32 scores per thread at a time); the other models score
            ``batch_size`` customers per chunk. A single request always runs on
            the calling thread.

        Returns
        -------
        Recommendations
            One list per request, best first (``request_kind`` "customer" or
            "basket"; basket requests are numbered 0..n-1).

        Raises
        ------
        NotFittedError, UnknownIdError, UpsellDataError

        Examples
        --------
        >>> from upsell.cf import Popular
        >>> import scipy.sparse as sp
        >>> m = Popular().fit(sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1]])))
        >>> m.recommend(customers=[1], k=2).lists()
        [[1, 2]]
        >>> m.recommend(baskets=[[0, 1]], k=5).lists()
        [[2]]
        """
        self._check_fitted()
        k = min(check_k(k), len(self.items_))  # no list is longer than the catalog
        if not isinstance(exclude_owned, bool):
            raise UpsellDataError(f"`exclude_owned` must be True or False; got {exclude_owned!r}")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        num_threads = check_int(num_threads, "num_threads", minimum=0,
                                maximum=MAX_THREADS) or (os.cpu_count() or 1)
        excl = self._item_set(exclude, "exclude")
        cand = self._item_set(candidates, "candidates")
        if customers is not None and baskets is None and history is None:
            ids = _id_list(customers, "customers")
            if len(ids) > 1:
                users = self._encode_customers(ids)
                return self._recommend_users(np.asarray(ids), users, k, exclude_owned, excl,
                                             cand, batch_size, num_threads)
        req_ids, kind, reqs = self._parse_requests(customers, baskets, history)
        idx_lists, score_lists = self._rank_requests(reqs, k, exclude_owned, excl, cand,
                                                     batch_size)
        return Recommendations.from_lists(req_ids, idx_lists, score_lists, items=self.items_,
                                          request_kind=kind)

    def _encode_customers(self, ids: list[Any]) -> np.ndarray:
        if not _same_kind(ids, self.customers_):
            self.customers_.index(ids[0])  # raises UnknownIdError naming the id and kind
        users = self.customers_.encode(ids, unknown="mask")
        if (users < 0).any():
            cid = ids[int(np.flatnonzero(users < 0)[0])]
            raise UnknownIdError(
                f"customer {cid!r} is not in the model's customer index; pass its "
                f"purchases with `history=` to fold it in, or use `baskets=`")
        return users

    def recommend_all(self, *, k: int = 10, exclude_owned: bool = True, exclude: Any = None,
                      candidates: Any = None, batch_size: int = 1024,
                      num_threads: int = 0) -> Recommendations:
        """Top-``k`` items for every customer seen at fit, scored in chunks.

        Working memory is bounded by ``batch_size`` and ``num_threads``; the
        result holds at most ``k`` items per customer. Arguments as in
        :meth:`recommend` (``num_threads``: 0 means one per CPU core).

        Examples
        --------
        >>> from upsell.cf import Popular
        >>> import scipy.sparse as sp
        >>> m = Popular().fit(sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 0]])))
        >>> m.recommend_all(k=1).lists()
        [[1], [0], [1]]
        """
        self._check_fitted()
        k = min(check_k(k), len(self.items_))  # no list is longer than the catalog
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        num_threads = check_int(num_threads, "num_threads", minimum=0,
                                maximum=MAX_THREADS) or (os.cpu_count() or 1)
        excl = self._item_set(exclude, "exclude")
        cand = self._item_set(candidates, "candidates")
        users = np.arange(len(self.customers_), dtype=np.int32)
        return self._recommend_users(self.customers_.ids, users, k, exclude_owned, excl, cand,
                                     batch_size, num_threads)

    def _recommend_users(self, req_ids: np.ndarray, users: np.ndarray, k: int,
                         exclude_owned: bool, excl: np.ndarray | None, cand: np.ndarray | None,
                         batch_size: int, num_threads: int = 1) -> Recommendations:
        """Many fit-time customers with unchanged histories, in chunks of ``batch_size``."""

        def chunk(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            u = users[bounds[0]:bounds[1]]
            if self._dense:
                return self._dense_chunk(u, k, exclude_owned, excl, cand, num_threads)
            return self._users_chunk(u, k, exclude_owned, excl, cand)

        _check_batch_memory(min(batch_size, users.size), len(self.items_),
                            num_threads if not self._dense else 1)
        bounds = list(iter_chunks(users.size, batch_size))
        # dense models parallelise inside implicit's kernel; the others over chunks
        if num_threads > 1 and len(bounds) > 1 and not self._dense:
            with ThreadPoolExecutor(max_workers=num_threads) as pool:
                parts = list(pool.map(chunk, bounds))
        else:
            parts = [chunk(b) for b in bounds]
        counts = [p[0] for p in parts]
        flat_i = [p[1] for p in parts]
        flat_s = [p[2] for p in parts]
        cnt = np.concatenate(counts) if counts else np.empty(0, np.int64)
        indptr = np.zeros(cnt.size + 1, dtype=np.int64)
        np.cumsum(cnt, out=indptr[1:])
        return Recommendations(
            requests=np.asarray(req_ids), request_kind="customer", indptr=indptr,
            item_index=(np.concatenate(flat_i) if flat_i else np.empty(0)).astype(np.int32),
            scores=(np.concatenate(flat_s) if flat_s else np.empty(0)).astype(np.float32),
            items=self.items_)

    def _dense_chunk(self, u: np.ndarray, k: int, exclude_owned: bool,
                     excl: np.ndarray | None, cand: np.ndarray | None, num_threads: int = 1
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top ``k`` of fit-time customers ``u`` by ``U @ Y.T``: (counts, items, scores).

        Rows with few owned items ask implicit's C++ kernel for 16 items (at least
        ``k + 1``), drop the owned ones and keep the first ``k``; the others hand
        their owned items to the kernel as a per-row filter (two calls per chunk).
        The kernel's order among equal scores is its own, so a row whose ``k``-th
        and ``k+1``-th remaining scores are equal, or any row when ``k`` is too wide
        for a heap, is ranked again exactly by numpy (:func:`_topk_rows`): the result
        is the same as scoring every row with numpy, popularity tie-break included.
        """
        Y = self._item_factors()
        Yc = Y if cand is None else Y[cand]
        rank = self._fb_rank if cand is None else self._fb_rank[cand]
        n_c = Yc.shape[0]
        if n_c == 0 or u.size == 0:
            return (np.zeros(u.size, np.int64), np.empty(0, np.int32),
                    np.empty(0, np.float32))
        kk = min(k, n_c)
        users_f = self._user_matrix(u)
        o_rows = o_cols = np.empty(0, np.int64)
        if exclude_owned:
            sub = self.history_[u]
            o_rows = np.repeat(np.arange(u.size), np.diff(sub.indptr))
            o_cols = sub.indices.astype(np.int64)
            if cand is not None:
                pos = np.minimum(np.searchsorted(cand, o_cols), n_c - 1)
                ok = cand[pos] == o_cols
                o_rows, o_cols = o_rows[ok], pos[ok].astype(np.int64)
        filt = None
        if excl is not None and excl.size:
            filt = excl.astype(np.int64) if cand is None else np.flatnonzero(np.isin(cand, excl))
        n_owned = np.bincount(o_rows, minlength=u.size)
        # rows whose owned items fit in the slack of a 16-wide heap over-ask and drop
        # them; the others hand them to the kernel as a per-row filter and ask k + 1
        width = np.maximum(kk + 1, _MIN_HEAP_K)
        over = kk + 1 + n_owned <= width
        exact = np.full(u.size, width > min(_MAX_HEAP_K, n_c // 4))
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
        counts = np.bincount(rows, minlength=u.size).astype(np.int64)
        out = items.astype(np.int32) if cand is None else cand[items]
        return counts, out.astype(np.int32), scores

    def _users_chunk(self, u: np.ndarray, k: int, exclude_owned: bool,
                     excl: np.ndarray | None, cand: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sparse models: top ``k`` of fit-time customers ``u`` as (counts, items, scores)."""
        il, sl = self._sparse_chunk(u, k, exclude_owned, excl, cand)
        return (np.array([x.size for x in il], dtype=np.int64),
                np.concatenate(il) if il else np.empty(0, np.int32),
                np.concatenate(sl) if sl else np.empty(0, np.float32))

    def _user_matrix(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _sparse_chunk(self, u: np.ndarray, k: int, exclude_owned: bool,
                      excl: np.ndarray | None, cand: np.ndarray | None
                      ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        H = self.history_
        reqs = [_Request(int(x), H.indices[H.indptr[x]:H.indptr[x + 1]],
                         H.data[H.indptr[x]:H.indptr[x + 1]], False) for x in u.tolist()]
        return self._rank_requests(reqs, k, exclude_owned, excl, cand, len(reqs))

    def _banned(self, req: _Request, exclude_owned: bool, excl: np.ndarray | None) -> np.ndarray:
        if exclude_owned and excl is not None and excl.size:
            return np.union1d(req.items, excl).astype(np.int32)
        if exclude_owned:
            return req.items
        return excl if excl is not None else np.empty(0, np.int32)

    def _rank_requests(self, reqs: list[_Request], k: int, exclude_owned: bool,
                       excl: np.ndarray | None, cand: np.ndarray | None, batch_size: int
                       ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        out_i: list[np.ndarray] = []
        out_s: list[np.ndarray] = []
        for req in reqs:
            i, s = self._rank_one(req, k, self._banned(req, exclude_owned, excl), cand)
            out_i.append(i)
            out_s.append(s)
        return out_i, out_s

    def _rank_one(self, req: _Request, k: int, banned: np.ndarray, cand: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
        if self._dense:
            u = self._user_vector(req)
            if u is not None:
                return self._rank_dense_one(u, k, banned, cand, self._fb_rank)
            items = np.empty(0, np.int32)
            scores = np.empty(0, np.float32)
        else:
            weights = self._weighter.row(req.items, req.values)
            items, scores = self._sparse_scores(req, weights)
        return self._rank_sparse(items, scores, k, banned, cand, *self._fallback(req))

    def _rank_dense_one(self, u: np.ndarray, k: int, banned: np.ndarray,
                        cand: np.ndarray | None, rank: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        Y = self._item_factors()
        if cand is None:
            scores = Y @ u
            if banned.size:
                scores[banned] = -np.inf
            pool = None
        else:
            pool = cand
            scores = Y[cand] @ u
            if banned.size:
                scores[np.isin(cand, banned, assume_unique=True)] = -np.inf
        n_valid = scores.size - (int(np.count_nonzero(np.isneginf(scores))) if banned.size else 0)
        top = _top_positions(scores, min(k, n_valid), rank if pool is None else rank[pool])
        items = top.astype(np.int32) if pool is None else pool[top]
        return items, scores[top].astype(np.float32)

    @staticmethod
    def _rank_sparse(items: np.ndarray, scores: np.ndarray, k: int, banned: np.ndarray,
                     cand: np.ndarray | None, fb_order: np.ndarray, fb_rank: np.ndarray,
                     fb_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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

    # ------------------------------------------------------------------ similar items
    def similar_items(self, items: Any, *, k: int = 10, candidates: Any = None
                      ) -> Recommendations:
        """The ``k`` items most similar to each given item (the item itself left out).

        Parameters
        ----------
        items : id or list of item ids
        k : int, default 10
        candidates : list of item ids, optional
            Only among these.

        Returns
        -------
        Recommendations
            ``request_kind="source_item"``; requests are the given item ids.
            Lists hold only items with a positive similarity, so they can be
            shorter than ``k``.

        Examples
        --------
        >>> from upsell.cf import Popular
        >>> import scipy.sparse as sp
        >>> m = Popular().fit(sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1]])))
        >>> m.similar_items([0], k=2).lists()
        [[1, 2]]
        """
        self._check_fitted()
        k = min(check_k(k), len(self.items_))
        ids = _id_list(items, "items")
        idx = self.items_.encode(ids) if ids else np.empty(0, np.int32)
        cand = self._item_set(candidates, "candidates")
        out_i: list[np.ndarray] = []
        out_s: list[np.ndarray] = []
        for i in idx.tolist():
            cols, sims = self._similar(int(i))
            keep = (cols != i) & (sims > 0)
            if cand is not None:
                keep &= np.isin(cols, cand)
            cols, sims = cols[keep], sims[keep].astype(np.float32)
            top = _top_positions(sims, min(k, cols.size), self._fb_rank[cols])
            out_i.append(cols[top].astype(np.int32))
            out_s.append(sims[top])
        req = np.asarray(ids) if ids else self.items_.ids[:0]
        return Recommendations.from_lists(req, out_i, out_s, items=self.items_,
                                          request_kind="source_item")

    def _similar(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # ------------------------------------------------------------------ persistence
    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _model_meta(self) -> dict[str, Any]:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Rebuild learned state from saved arrays (subclasses)."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to one ``.npz`` file (atomic, no pickle).

        Examples
        --------
        >>> import tempfile, os, scipy.sparse as sp
        >>> from upsell.cf import Popular
        >>> m = Popular().fit(sp.csr_matrix(np.array([[1, 0], [1, 1]])))
        >>> p = os.path.join(tempfile.mkdtemp(), "pop.npz")
        >>> m.save(p)
        >>> Popular.load(p).recommend(customers=[0], k=1).lists()
        [[1]]
        """
        self._check_fitted()
        H = self.history_
        arrays = {"history_indptr": np.asarray(H.indptr, dtype=np.int64),
                  "history_indices": H.indices, "history_data": H.data,
                  "weighter_idf": self._weighter.idf,
                  **index_arrays(self.customers_, "customers"),
                  **index_arrays(self.items_, "items")}
        arrays.update({f"m_{k}": v for k, v in self._model_arrays().items()})
        meta = {"weighting": self.weighting_, "avg_len": self._weighter.avg_len,
                "model": self._model_meta()}
        write_model(path, kind=type(self).__name__, params=self.get_params(), arrays=arrays,
                    meta=meta)

    @classmethod
    def load(cls: type[_M], path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False) -> _M:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : path-like
        ids : sequence of IdIndex, optional
            Id maps already loaded (by a recommender's other parts); one equal to
            the saved customer or item map is reused instead of a copy.
        verify : bool, default True
            Check the arrays' SHA-256 (False when the caller checked the file).
        mmap : bool, default False
            Memory-map the large arrays read-only (see :func:`upsell.persist.read_model`).

        Raises
        ------
        ModelFileError
            Missing, truncated, corrupted, newer-format or other-kind file.

        Examples
        --------
        >>> from upsell.cf import ALS
        >>> ALS.load("/nonexistent.npz")
        Traceback (most recent call last):
        ...
        upsell.exceptions.ModelFileError: model file '/nonexistent.npz' does not exist
        """
        doc, arrays = read_model(path, kind=cls.__name__, verify=verify, mmap=mmap)
        f = os.fspath(path)
        # the file is untrusted: parameters through fit's checks, arrays as after a fit
        meta = doc["meta"]
        saved = meta.get("model")
        model = check_params(cls, doc["params"], file=f, fit_state={
            "_segments_arg": saved.get("segments") if isinstance(saved, dict) else None})
        for key, value in doc["params"].items():
            # weights and rates this large overflow float32 scores; no fit leads to them
            if type(value) is float and abs(value) > _PARAM_LIMIT:
                raise fail(f, "params", f"`{key}` = {value!r} is beyond {_PARAM_LIMIT:g}")
        try:
            customers = index_from_arrays(arrays, "customers", name="customer", ids=ids,
                                          legacy=meta.get("customers"))
            items = index_from_arrays(arrays, "items", name="item", ids=ids,
                                      legacy=meta.get("items"))
            n_c, n_i = len(customers), len(items)
            H = check_csr(arrays, "history_", (n_c, n_i), file=f, low=0)
            check_array(H.data, file=f, member="history_data", high=_F32_MAX)
            weighting = meta.get("weighting")
            if weighting not in WEIGHTINGS:
                raise fail(f, "weighting", f"must be one of {', '.join(WEIGHTINGS)}; got "
                                           f"{weighting!r}")
            idf = check_array(arrays.get("weighter_idf"), file=f, member="weighter_idf",
                              ndim=1, low=0, shape=(n_i,) if weighting in ("bm25", "tfidf")
                              else None)
            avg_len = meta.get("avg_len")
            if type(avg_len) not in (int, float) or not 0 < avg_len < float("inf"):
                raise fail(f, "avg_len", f"must be a positive finite number; got {avg_len!r}")
            model_arrays = {k[2:]: v for k, v in arrays.items() if k.startswith("m_")}
            _check_model_arrays(model_arrays, n_c, n_i, H.nnz, f)
            if not isinstance(meta.get("model", {}), dict):
                raise fail(f, "model", "must be a JSON object")
            weighter = _Weighter(weighting, idf, float(avg_len))
            model._set_common(H, customers, items, weighter)
            model._restore(model_arrays, meta.get("model", {}))
            seg = getattr(model, "segments_", None)
            if seg is not None and len(seg) != model_arrays["seg_scores"].shape[0]:
                raise fail(f, "m_seg_scores", "does not match the saved segments")
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError,
                OverflowError) as exc:
            raise ModelFileError(
                f"model file {f!r} is corrupted: its content does not make a "
                f"{cls.__name__} ({type(exc).__name__}: {exc})", file=f,
                problem=f"{type(exc).__name__}: {exc}") from None
        return model


def _check_model_arrays(m: dict[str, np.ndarray], n_c: int, n_i: int, nnz: int,
                        f: str) -> None:
    """The learned arrays of a loaded model, checked as strictly as after a fit."""
    if any(k.startswith("nb_") for k in m):
        check_csr(m, "nb_", (n_i, n_i), file=f)
        check_array(m["nb_data"], file=f, member="m_nb_data", low=-_F32_MAX, high=_F32_MAX)
    if "user_factors" in m or "item_factors" in m:
        U = check_array(m.get("user_factors"), file=f, member="m_user_factors",
                        shape=(n_c, None), low=-_FACTOR_LIMIT, high=_FACTOR_LIMIT)
        V = check_array(m.get("item_factors"), file=f, member="m_item_factors",
                        shape=(n_i, U.shape[1]), low=-_FACTOR_LIMIT, high=_FACTOR_LIMIT)
        if V.shape[1] < 1:
            raise fail(f, "m_item_factors", "has no factors")
    if "scores" in m:
        check_array(m["scores"], file=f, member="m_scores", shape=(n_i,), low=0,
                    high=_F32_MAX)
        seg = check_array(m.get("seg_scores"), file=f, member="m_seg_scores",
                          shape=(None, n_i), low=0, high=_F32_MAX)
        check_index(m.get("seg_codes"), seg.shape[0], file=f, member="m_seg_codes",
                    shape=(n_c,), allow_missing=True)
    if "decayed" in m:
        check_array(m["decayed"], file=f, member="m_decayed", shape=(nnz,), low=0,
                    high=_F32_MAX)
    for k, v in m.items():  # anything else: plain finite real numbers
        check_array(v, file=f, member="m_" + k, kind="fb")


#: Largest absolute latent factor accepted on load: float32 dot products of
#: vectors this large stay finite for any realistic number of factors.
_FACTOR_LIMIT = 1e15
#: Largest real-valued model parameter (weight, rate, regularisation) accepted on load.
_PARAM_LIMIT = 1e12
#: Most threads a model or a request may ask for (thread counts are C ints).
MAX_THREADS = 65_536
#: Scores and similarities are served as float32: larger values would become inf.
_F32_MAX = float(np.finfo(np.float32).max)


# --------------------------------------------------------------------------- helpers
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


def _lookup_one(index: IdIndex, value: Any) -> int:
    """Position of one id, or -1: the binary search first, then :meth:`IdIndex.encode`, which
    also matches the spellings a web request sends ("17850" or "17850.0" for int ids)."""
    pos = position(index, value)
    if pos >= 0 or value is None or isinstance(value, (bool, np.bool_)):
        return pos
    try:
        return int(index.encode([value], unknown="mask")[0])
    except (UpsellDataError, TypeError, ValueError, OverflowError):
        return -1


def _encode_known(index: IdIndex, ids: list[Any]) -> np.ndarray:
    """Positions of the known ids (unknown ones and ids no spelling of which the index holds
    are left out)."""
    try:
        return index.encode(ids, unknown="skip")
    except UpsellDataError:  # ids of another kind that IdIndex cannot read as its own
        return np.empty(0, np.int32)


def _same_kind(ids: Sequence[Any], index: IdIndex) -> bool:
    first = ids[0]
    if index.kind == "str":
        return isinstance(first, (str, np.str_))
    return isinstance(first, (int, np.integer)) and not isinstance(first, bool)


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


def _fit_input(data: Any, weighting: str) -> tuple[sp.csr_matrix, IdIndex, IdIndex]:
    if isinstance(data, Transactions):
        source = (data.customer_items("units") if weighting == "units"
                  else data.customer_items("value") if weighting == "value"
                  else data.customer_items("count"))
        raw = sp.csr_matrix(source, dtype=np.float32, copy=True)
        return raw, data.customers, data.items
    if weighting in ("units", "value"):
        raise UpsellDataError(
            f"`weighting`={weighting!r} needs Transactions (quantities and prices); "
            f"a matrix already holds its values: use 'count'")
    raw = as_csr(data, "data")
    if raw.nnz and raw.data.min() < 0:
        raise UpsellDataError(f"`data` must hold non-negative purchase counts; "
                              f"found {float(raw.data.min())}")
    n_c, n_i = raw.shape
    return (raw, IdIndex(np.arange(n_c, dtype=np.int64), name="customer"),
            IdIndex(np.arange(n_i, dtype=np.int64), name="item"))


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


def check_positive(value: Any, name: str) -> float:
    """A finite number in (0, 1e12] (parameter check shared by the models).

    The upper bound is the one ``load`` applies to saved parameters, so that ``fit``
    accepts nothing a saved model could not hold (``alpha=1e308`` overflows the
    float32 confidence weights anyway).

    Examples
    --------
    >>> check_positive(0.5, "alpha")
    0.5
    >>> check_positive(1e308, "alpha")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `alpha` must be a number in (0, 1000000000000]; got 1e+308
    """
    return check_float(value, name, low=0, low_open=True, high=_PARAM_LIMIT)


def iter_chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) pairs covering 0..n in steps of ``size``.

    Examples
    --------
    >>> list(iter_chunks(5, 2))
    [(0, 2), (2, 4), (4, 5)]
    """
    for start in range(0, n, size):
        yield start, min(start + size, n)
