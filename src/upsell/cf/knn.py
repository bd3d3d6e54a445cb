"""Item-item nearest neighbours (implicit's cosine, BM25 and TF-IDF similarities)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell import _implicit
from upsell._validation import check_choice, check_int
from upsell.cf.base import CFModel, _Request, check_positive, gather_rows

__all__ = ["ItemKNN", "NeighborModel"]

_SIMILARITIES = ("cosine", "bm25", "tfidf")


class NeighborModel(CFModel):
    """Serving from per-item neighbour lists (ItemKNN, EASE); not public.

    A request touches only the rows of ``neighbors_`` for its items.
    """

    neighbors_: sp.csr_matrix

    def _set_neighbors(self, S: sp.csr_matrix) -> None:
        S = sp.csr_matrix(S, dtype=np.float32)
        S.data[~(S.data > 0)] = 0
        S.eliminate_zeros()
        S.sort_indices()
        S.indices = S.indices.astype(np.int32, copy=False)
        S.indptr = S.indptr.astype(np.int64, copy=False)
        for a in (S.data, S.indices, S.indptr):
            a.flags.writeable = False
        self.neighbors_ = S
        # float64 copy for the batch product: sums then match gather_rows' float64 sums
        self._nb64 = sp.csr_matrix(S, dtype=np.float64)

    def _sparse_chunk(self, u: np.ndarray, k: int, exclude_owned: bool,
                      excl: np.ndarray | None, cand: np.ndarray | None
                      ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        H = self.history_[u]
        W = sp.csr_matrix(self._weighter.matrix(H), dtype=np.float64)
        S = sp.csr_matrix(W @ self._nb64)
        out_i: list[np.ndarray] = []
        out_s: list[np.ndarray] = []
        fb = (self._fb_order, self._fb_rank, self._fb_scores)
        for r in range(u.size):
            lo, hi = S.indptr[r], S.indptr[r + 1]
            owned = H.indices[H.indptr[r]:H.indptr[r + 1]]
            req = _Request(int(u[r]), owned, H.data[H.indptr[r]:H.indptr[r + 1]], False)
            i, sc = self._rank_sparse(S.indices[lo:hi], S.data[lo:hi].astype(np.float32), k,
                                      self._banned(req, exclude_owned, excl), cand, *fb)
            out_i.append(i)
            out_s.append(sc)
        return out_i, out_s

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
        check_choice(self.similarity, "similarity", _SIMILARITIES)
        check_int(self.n_neighbors, "n_neighbors", minimum=1)
        check_positive(self.bm25_k1, "bm25_k1")
        check_positive(self.bm25_b, "bm25_b")
        check_int(self.num_threads, "num_threads", minimum=0)

    def _fit_model(self, X: sp.csr_matrix, *, data: Any, show_progress: bool) -> None:
        W = _item_weights(X, self.similarity, float(self.bm25_k1), float(self.bm25_b))
        S = _implicit.item_knn(W, n_neighbors=int(self.n_neighbors),
                               num_threads=int(self.num_threads), show_progress=show_progress)
        self._set_neighbors(S)

def _item_weights(X: sp.csr_matrix, similarity: str, k1: float, b: float) -> sp.csr_matrix:
    """Customers x items matrix whose column dot products are the item similarities."""
    C = sp.csc_matrix(X, dtype=np.float64)
    if similarity == "cosine":
        data = C.data.copy()
    elif similarity == "tfidf":
        # customers are the terms: idf of a customer falls with the number of items bought
        n_items = max(C.shape[1], 1)
        df = np.bincount(C.indices, minlength=C.shape[0])
        idf = np.log(n_items) - np.log1p(df)
        data = np.sqrt(C.data) * idf[C.indices]
    else:
        n_items = max(C.shape[1], 1)
        df = np.bincount(C.indices, minlength=C.shape[0])
        idf = np.log(n_items) - np.log1p(df)
        col_sums = np.asarray(C.sum(axis=0)).ravel()
        avg = col_sums.mean() if col_sums.size and col_sums.mean() > 0 else 1.0
        length = (1.0 - b) + b * col_sums / avg
        cols = np.repeat(np.arange(C.shape[1]), np.diff(C.indptr))
        data = C.data * (k1 + 1.0) / (k1 * length[cols] + C.data) * idf[C.indices]
    data = np.maximum(data, 0.0)  # a negative idf would make similarities negative
    W = sp.csc_matrix((data, C.indices, C.indptr), shape=C.shape)
    if similarity in ("cosine", "tfidf"):
        norms = np.sqrt(np.asarray(W.multiply(W).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        W = sp.csc_matrix(W.multiply(1.0 / norms[None, :]))
    W.eliminate_zeros()
    return W.tocsr()
