"""Item-item nearest neighbours (implicit's cosine, BM25 and TF-IDF similarities)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell import _implicit
from upsell._validation import check_choice, check_int
from upsell.cf._request import _Request
from upsell.cf._topk import _ragged_topk, gather_rows
from upsell.cf.base import MAX_THREADS, CFModel, check_positive

__all__ = ["ItemKNN", "NeighborModel"]

_SIMILARITIES = ("cosine", "bm25", "tfidf")


class NeighborModel(CFModel):
    """Serving from per-item neighbour lists (ItemKNN, EASE); not public.

    A request touches only the rows of ``neighbors_`` for its items.
    """

    neighbors_: sp.csr_matrix

    def _set_neighbors(self, S: sp.csr_matrix) -> None:
        # saved arrays may be read-only memory maps; the clean-up below works in place
        S = sp.csr_matrix(S, dtype=np.float32, copy=not S.data.flags.writeable)
        S.data[~(S.data > 0)] = 0
        S.eliminate_zeros()
        S.sort_indices()
        # one index dtype for both arrays: scipy refuses mixed ones (tocoo, nonzero, ...)
        idx = np.int32 if S.nnz < 2**31 - 1 else np.int64
        S.indices = S.indices.astype(idx, copy=False)
        S.indptr = S.indptr.astype(idx, copy=False)
        for a in (S.data, S.indices, S.indptr):
            a.flags.writeable = False
        self.neighbors_ = S
        self._nb64: sp.csr_matrix | None = None  # built by the first batch (_batch_scores)

    # shared by the models with ItemKNN's parameters (similarity, n_neighbors,
    # bm25_k1, bm25_b, num_threads): ItemKNN and RepeatBlend
    similarity: str
    n_neighbors: int
    bm25_k1: float
    bm25_b: float
    num_threads: int

    def _check_knn_params(self) -> None:
        check_choice(self.similarity, "similarity", _SIMILARITIES)
        check_int(self.n_neighbors, "n_neighbors", minimum=1, maximum=2**31 - 1)
        check_positive(self.bm25_k1, "bm25_k1")
        check_positive(self.bm25_b, "bm25_b")
        check_int(self.num_threads, "num_threads", minimum=0, maximum=MAX_THREADS)

    def _fit_knn(self, X: sp.csr_matrix, *, show_progress: bool) -> None:
        W = _item_weights(X, self.similarity, float(self.bm25_k1), float(self.bm25_b))
        S = _implicit.item_knn(W, n_neighbors=int(self.n_neighbors),
                               num_threads=int(self.num_threads), show_progress=show_progress)
        self._set_neighbors(S)

    def _users_chunk(self, u: np.ndarray, k: int, exclude_owned: bool,
                     excl: np.ndarray | None, cand: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised batch: one sparse product, masks and a ragged top-k for the chunk.

        Same ranking as one request at a time (score > 0 descending, popularity
        tie-break); only lists left short by the neighbour scores go through the
        per-request fill from the fallback order.
        """
        H = self.history_[u]
        n_items = H.shape[1]
        S = self._batch_scores(u, H)
        if exclude_owned and H.nnz:
            # owned entries pushed far below 0, so the "score > 0" rule drops them
            owned = sp.csr_matrix((np.full(H.nnz, -1e30), H.indices, H.indptr), shape=H.shape)
            S = sp.csr_matrix(S + owned)
        vals = S.data.astype(np.float32)
        keep = vals > 0
        if (excl is not None and excl.size) or cand is not None:
            allowed = np.zeros(n_items, dtype=bool) if cand is not None else np.ones(
                n_items, dtype=bool)
            if cand is not None:
                allowed[cand] = True
            if excl is not None and excl.size:
                allowed[excl] = False
            keep &= allowed[S.indices]
        rows = np.repeat(np.arange(u.size), np.diff(S.indptr))[keep]
        cols = S.indices[keep].astype(np.int64)
        vals = vals[keep]
        top = _ragged_topk(rows, vals, self._fb_rank[cols], u.size, k)
        t_rows, t_cols, t_vals = rows[top], cols[top].astype(np.int32), vals[top]
        counts = np.bincount(t_rows, minlength=u.size).astype(np.int64)
        short = np.flatnonzero(counts < k)
        if short.size == 0:
            return counts, t_cols, t_vals
        # a short list is filled from the fallback order: per request, as in recommend()
        idx_l = np.split(t_cols, np.cumsum(counts)[:-1])
        sc_l = np.split(t_vals, np.cumsum(counts)[:-1])
        fb = (self._fb_order, self._fb_rank, self._fb_scores)
        for r in short.tolist():
            lo, hi = H.indptr[r], H.indptr[r + 1]
            req = _Request(int(u[r]), H.indices[lo:hi], H.data[lo:hi], False)
            idx_l[r], sc_l[r] = self._rank_sparse(idx_l[r], sc_l[r], k,
                                                  self._banned(req, exclude_owned, excl),
                                                  cand, *fb)
        return (np.array([x.size for x in idx_l], dtype=np.int64),
                np.concatenate(idx_l).astype(np.int32), np.concatenate(sc_l))

    def _batch_scores(self, u: np.ndarray, H: sp.csr_matrix) -> sp.csr_matrix:
        """Scores of fit-time customers ``u`` (history rows ``H``) as CSR (float64)."""
        W = sp.csr_matrix(self._weighter.matrix(H), dtype=np.float64)
        if self._nb64 is None:
            # float64 copy for the batch product: sums then match gather_rows' float64 sums;
            # a race builds it twice, harmlessly (same values)
            self._nb64 = sp.csr_matrix(self.neighbors_, dtype=np.float64)
        return sp.csr_matrix(W @ self._nb64)

    def _sparse_scores(self, req: _Request, weights: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        return gather_rows(self.neighbors_, req.items, weights)

    def _similar(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        S = self.neighbors_
        lo, hi = S.indptr[i], S.indptr[i + 1]
        return S.indices[lo:hi], S.data[lo:hi]

    def _model_arrays(self) -> dict[str, np.ndarray]:
        S = self.neighbors_
        return {"nb_indptr": S.indptr, "nb_indices": S.indices, "nb_data": S.data}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        n = len(self.items_)
        self._set_neighbors(sp.csr_matrix(
            (arrays["nb_data"], arrays["nb_indices"], arrays["nb_indptr"]), shape=(n, n)))


class ItemKNN(NeighborModel):
    """Item-based collaborative filtering: score items by their similarity to what was bought.

    Similarities are computed by implicit's ``all_pairs_knn`` over the item
    columns of the weighted matrix, keeping the ``n_neighbors`` best per item.
    A request touches only the neighbour lists of its items (no catalog-size
    work), then lists are filled from global popularity at score 0.

    Parameters
    ----------
    similarity : {"cosine", "bm25", "tfidf"}, default "bm25"
        "cosine": columns scaled to unit length; "bm25": implicit's BM25 item
        weighting (items as documents, customers as terms) with ``bm25_k1`` and
        ``bm25_b``; "tfidf": sqrt counts times customer idf, unit-length columns.
    n_neighbors : int, default 100
        Neighbours kept per item (implicit's ``K``).
    bm25_k1, bm25_b : float, default 1.2 and 0.75
    num_threads : int, default 0
        implicit's threads (0: all cores); results do not depend on it.

    Attributes
    ----------
    neighbors_ : scipy.sparse.csr_matrix, shape (n_items, n_items)
        Row ``i``: item ``i``'s neighbours and similarities (> 0).

    Notes
    -----
    Score of item ``j`` for a history ``w``: ``sum_i w_i S_ij`` (Sarwar et al.
    2001; Deshpande & Karypis 2004). Default weighting: "count". Fold-in is
    the same formula on the basket's items.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]]))
    >>> m = ItemKNN(n_neighbors=3).fit(X)
    >>> m.recommend(baskets=[[0]], k=2).lists()
    [[1, 2]]
    >>> m.similar_items([3], k=1).lists()
    [[2]]
    """

    _default_weighting = "count"

    def __init__(self, *, similarity: str = "bm25", n_neighbors: int = 100,
                 bm25_k1: float = 1.2, bm25_b: float = 0.75, num_threads: int = 0) -> None:
        self.similarity = similarity
        self.n_neighbors = n_neighbors
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        self._check_knn_params()

    def _fit_model(self, X: sp.csr_matrix, *, data: Any, show_progress: bool) -> None:
        self._fit_knn(X, show_progress=show_progress)

def _item_weights(X: sp.csr_matrix, similarity: str, k1: float, b: float) -> sp.csr_matrix:
    """Customers x items matrix whose column dot products are the item similarities.

    Everything is computed on the CSR arrays in O(nnz) numpy passes (no CSC copy):
    items are the documents and customers the terms.
    """
    X = sp.csr_matrix(X)
    n_items = X.shape[1]
    data = X.data.astype(np.float64)
    cols = X.indices
    if similarity != "cosine":
        # a customer's document frequency is the number of items they bought
        df = np.diff(X.indptr).astype(np.float64)
        idf = np.log(max(n_items, 1)) - np.log1p(df)
        idf_of = np.repeat(idf, np.diff(X.indptr))
        if similarity == "tfidf":
            data = np.sqrt(data) * idf_of
        else:
            col_sums = np.bincount(cols, weights=data, minlength=n_items)
            avg = col_sums.mean() if col_sums.size and col_sums.mean() > 0 else 1.0
            length = (1.0 - b) + b * col_sums / avg
            data = data * (k1 + 1.0) / (k1 * length[cols] + data) * idf_of
        np.maximum(data, 0.0, out=data)  # a negative idf would make similarities negative
    if similarity in ("cosine", "tfidf"):
        norms = np.sqrt(np.bincount(cols, weights=data * data, minlength=n_items))
        norms[norms == 0] = 1.0
        data /= norms[cols]
    W = sp.csr_matrix((data, cols, X.indptr), shape=X.shape)
    W.eliminate_zeros()
    return W
