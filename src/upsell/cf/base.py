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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp

from upsell._estimator import Estimator
from upsell._results import Recommendations
from upsell._validation import check_choice, check_float, check_int, check_k
from upsell.cf._request import (
    _basket_lists,
    _encode_known,
    _id_list,
    _is_scalar_id,
    _lookup_one,
    _Request,
    _same_kind,
    count_items,
    encode_customers,
    item_set,
    parse_requests,
)
from upsell.cf._topk import (
    MAX_BATCH_BYTES,
    _check_batch_memory,
    _ragged_topk,
    _top_positions,
    _topk_rows,
    dense_topk,
    gather_rows,
    iter_chunks,
    rank_sparse,
)
from upsell.cf._weighting import WEIGHTINGS, _fit_input, _Weighter
from upsell.data.ids import IdIndex
from upsell.exceptions import ModelFileError, UpsellDataError
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

# moved to cf._weighting, cf._request and cf._topk; still importable from here
_REEXPORTED = (MAX_BATCH_BYTES, _basket_lists, _check_batch_memory, _encode_known, _id_list,
               _is_scalar_id, _lookup_one, _ragged_topk, _same_kind, _topk_rows, gather_rows,
               iter_chunks)

_M = TypeVar("_M", bound="CFModel")


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
        >>> from upsell import Transactions
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
        return parse_requests(self.customers_, self.items_, self.history_, customers, baskets,
                              history)

    def _count_items(self, item_ids: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Known item ids -> (sorted unique indices, occurrence counts); unknown ids are ignored."""
        return count_items(self.items_, item_ids)

    def _item_set(self, value: Any, name: str) -> np.ndarray | None:
        return item_set(self.items_, value, name)

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
        exclude : item id or list of item ids, optional
            Items never to recommend (for every request); ids the model does not
            know are ignored.
        candidates : list of item ids, optional
            Recommend only among these (unknown ids ignored).
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
        NotFittedError
            Before fit.
        UnknownIdError
            A customer not seen at fit and given without ``history`` (the message
            names it and says how to serve it).
        UpsellDataError
            Neither or both of ``customers`` and ``baskets``, a bad ``k`` or another
            malformed argument (the message names it).

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
        return encode_customers(self.customers_, ids)

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

        The owned items and exclusions go to :func:`upsell.cf._topk.dense_topk`, which
        gives the same lists as scoring every row with numpy, popularity tie-break included.
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
        counts, items, scores = dense_topk(Yc, users_f, kk, rank, o_rows, o_cols, filt,
                                           num_threads)
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

    _rank_sparse = staticmethod(rank_sparse)

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
        req = np.asarray(ids) if ids else self.items_.decode(np.zeros(0, np.int64))
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

