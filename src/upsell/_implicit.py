"""The one adapter that calls ``implicit``; every other module goes through it.

implicit's rules, applied here once:

* input is a ``scipy.sparse.csr_matrix`` (other formats make implicit convert
  and warn), float32 for the factor models; item-item kNN takes float64,
  because its Cython kernel is compiled for the double-precision layout that
  implicit's own weighting helpers produce;
* BLAS threads are pinned to one with :mod:`threadpoolctl` while implicit runs
  (its models warn, and run many times slower, when OpenBLAS or MKL use a
  thread pool of their own); implicit's own ``num_threads`` then parallelises;
* BLAS pinning is reference-counted (:func:`blas_single_thread`): threadpoolctl's
  limits are process-wide, so two threads entering and leaving their own limits
  at once could otherwise restore each other's values in the wrong order;
* its progress bar is shown only when the caller passes ``show_progress=True``;
* the GPU is never used, so results do not depend on the machine;
* ``random_state`` is passed through, so fits are repeatable (BPR only with
  ``num_threads=1``: its Hogwild updates race otherwise).

The functions return plain numpy / scipy arrays (copies owned by upsell), not
implicit's model objects, whose ``recommend`` is not guaranteed thread-safe.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

__all__ = ["blas_single_thread", "fit_als", "fit_bpr", "item_knn", "topk"]


class _Pin:
    """Shared state of :func:`blas_single_thread` (one per process)."""

    lock = threading.Lock()
    depth = 0
    limiter: Any = None
    # scanning the loaded libraries costs about a millisecond: done once, on first use
    controller: ThreadpoolController | None = None


@contextmanager
def blas_single_thread() -> Iterator[None]:
    """Keep BLAS at one thread while any caller is inside (thread-safe, re-entrant).

    The first caller to enter sets the limit and the last to leave restores the
    original thread counts; callers in between share the limit.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> with blas_single_thread():
    ...     all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    True
    """
    with _Pin.lock:
        if _Pin.depth == 0:
            if _Pin.controller is None:
                # implicit's kernels load scipy's BLAS: have it loaded before the scan
                for module in ("implicit.cpu.als", "implicit.cpu.topk"):
                    importlib.import_module(module)
                _Pin.controller = ThreadpoolController()
            _Pin.limiter = _Pin.controller.limit(limits=1, user_api="blas")
        _Pin.depth += 1
    try:
        yield
    finally:
        with _Pin.lock:
            _Pin.depth -= 1
            if _Pin.depth == 0:
                _Pin.limiter.restore_original_limits()
                _Pin.limiter = None


def _csr(matrix: sp.spmatrix | sp.sparray, dtype: type) -> sp.csr_matrix:
    """A writeable canonical CSR copy: implicit's Cython needs writeable buffers."""
    out = sp.csr_matrix(matrix, dtype=dtype, copy=True)
    out.indices = out.indices.astype(np.int32, copy=False)
    out.indptr = out.indptr.astype(np.int32, copy=False)
    return out


def fit_als(user_items: Any, *, factors: int, regularization: float, alpha: float,
            iterations: int, use_cg: bool, random_state: int | None, num_threads: int,
            show_progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fit implicit's CPU ``AlternatingLeastSquares``; return (user_factors, item_factors).

    Parameters
    ----------
    user_items : sparse matrix, shape (n_users, n_items)
        Confidence values (already weighted).
    factors, regularization, alpha, iterations, use_cg, random_state, num_threads
        Passed to implicit unchanged.
    show_progress : bool, default False
        Show implicit's progress bar.

    Returns
    -------
    user_factors : ndarray of float32, shape (n_users, factors)
    item_factors : ndarray of float32, shape (n_items, factors)

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.random(20, 10, density=0.3, format="csr", random_state=0)
    >>> U, V = fit_als(X, factors=4, regularization=0.1, alpha=1.0, iterations=3,
    ...                use_cg=True, random_state=0, num_threads=1)
    >>> U.shape, V.shape, V.dtype.name
    ((20, 4), (10, 4), 'float32')
    """
    from implicit.cpu.als import AlternatingLeastSquares

    X = _csr(user_items, np.float32)
    with blas_single_thread():
        # built inside the limit: the constructor checks the BLAS thread count and warns
        model = AlternatingLeastSquares(
            factors=factors, regularization=regularization, alpha=alpha, dtype=np.float32,
            use_cg=use_cg, iterations=iterations, calculate_training_loss=False,
            num_threads=num_threads, random_state=random_state,
        )
        model.fit(X, show_progress=show_progress)
    return (np.array(model.user_factors, dtype=np.float32, copy=True),
            np.array(model.item_factors, dtype=np.float32, copy=True))


def fit_bpr(user_items: Any, *, factors: int, learning_rate: float, regularization: float,
            iterations: int, verify_negative_samples: bool, random_state: int | None,
            num_threads: int, show_progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fit implicit's CPU ``BayesianPersonalizedRanking``; return (user_factors, item_factors).

    implicit appends a bias column: item factors end with the item bias and user
    factors with a constant 1, so ``user @ item`` includes the bias.

    Returns
    -------
    user_factors : ndarray of float32, shape (n_users, factors + 1)
    item_factors : ndarray of float32, shape (n_items, factors + 1)

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.random(20, 10, density=0.3, format="csr", random_state=0)
    >>> U, V = fit_bpr(X, factors=4, learning_rate=0.05, regularization=0.01, iterations=3,
    ...                verify_negative_samples=True, random_state=0, num_threads=1)
    >>> U.shape, V.shape, float(U[0, -1])
    ((20, 5), (10, 5), 1.0)
    """
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    X = _csr(user_items, np.float32)
    with blas_single_thread():
        model = BayesianPersonalizedRanking(
            factors=factors, learning_rate=learning_rate, regularization=regularization,
            dtype=np.float32, iterations=iterations,
            verify_negative_samples=verify_negative_samples, num_threads=num_threads,
            random_state=random_state,
        )
        model.fit(X, show_progress=show_progress)
    return (np.array(model.user_factors, dtype=np.float32, copy=True),
            np.array(model.item_factors, dtype=np.float32, copy=True))


def item_knn(weighted: Any, *, n_neighbors: int, num_threads: int,
             show_progress: bool = False) -> sp.csr_matrix:
    """Top ``n_neighbors`` dot-product neighbours of every item (implicit's ``all_pairs_knn``).

    Parameters
    ----------
    weighted : sparse matrix, shape (n_users, n_items)
        Already weighted / normalised user x item matrix; the similarity of items
        ``i`` and ``j`` is the dot product of columns ``i`` and ``j``.
    n_neighbors : int
        Neighbours kept per item (the item itself included).

    Returns
    -------
    scipy.sparse.csr_matrix of float32, shape (n_items, n_items)
        Row ``i`` holds item ``i``'s neighbours.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float))
    >>> item_knn(X, n_neighbors=2, num_threads=1).toarray().tolist()
    [[2.0, 2.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 1.0]]
    """
    from implicit._nearest_neighbours import all_pairs_knn

    W = _csr(weighted, np.float64)
    with blas_single_thread():
        sim = all_pairs_knn(W, int(n_neighbors), num_threads=num_threads,
                            show_progress=show_progress)
    # all_pairs_knn returns COO without repeated (row, col) pairs; COO -> CSR sums
    # duplicates anyway and leaves each row's columns sorted (no sort_indices needed)
    out = sp.coo_matrix(sim).tocsr()
    out.data = out.data.astype(np.float32)
    return out


#: score implicit's ``topk`` gives filtered items: ``-finfo(float32).max``
TOPK_FILTERED = float(-np.finfo(np.float32).max)


class _Row:
    """One row of a :class:`_QueryFilter`: what implicit reads of a CSR row."""

    __slots__ = ("indices",)

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices


class _QueryFilter:
    """Items to filter per query row, in the form implicit's ``topk`` reads a CSR matrix.

    implicit looks up ``filter_query_items[row].indices`` once per query; slicing a
    scipy matrix there costs about 25 µs a row, this lookup about 1 µs. ``indptr``,
    ``indices`` and ``shape`` are those of the equivalent CSR matrix.
    """

    __slots__ = ("indices", "indptr", "shape")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, n_cols: int) -> None:
        self.indptr = indptr
        self.indices = indices
        self.shape = (indptr.size - 1, n_cols)

    def __getitem__(self, row: int) -> _Row:
        return _Row(self.indices[self.indptr[row]:self.indptr[row + 1]])


def topk(item_factors: np.ndarray, query: np.ndarray, k: int, *,
         filter_items: np.ndarray | None = None,
         filter_query_items: tuple[np.ndarray, np.ndarray] | None = None,
         num_threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` items of every query row by dot product (implicit's C++ ``topk``).

    implicit scores blocks of 100 query rows (one GEMM each, BLAS pinned to one
    thread) on ``num_threads`` OpenMP threads and selects each row's top ``k``
    with a heap in C++.

    Parameters
    ----------
    item_factors : ndarray of float32, shape (n_items, f)
    query : ndarray of float32, shape (n_queries, f)
    k : int
        At most ``n_items`` (implicit zero-fills slots beyond the catalog).
    filter_items : ndarray of int, optional
        Item positions scored :data:`TOPK_FILTERED` for every query.
    filter_query_items : (indptr, indices), optional
        CSR structure (one row per query) of item positions scored
        :data:`TOPK_FILTERED` for that query only.
    num_threads : int, default 0
        OpenMP threads (0: all cores).

    Returns
    -------
    ids : ndarray of int32, shape (n_queries, k)
    scores : ndarray of float32, shape (n_queries, k)
        Each row by score descending; among equal scores the order is implicit's
        (not upsell's popularity tie-break: callers re-rank ties).

    Examples
    --------
    >>> Y = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    >>> q = np.array([[2, 1], [0, 1]], dtype=np.float32)
    >>> ids, s = topk(Y, q, 2, num_threads=1)
    >>> ids.tolist(), s.tolist()
    ([[2, 0], [2, 1]], [[3.0, 2.0], [1.0, 1.0]])
    >>> ids, s = topk(Y, q, 2, filter_query_items=(np.array([0, 1, 1]), np.array([2])),
    ...               num_threads=1)
    >>> ids.tolist()
    [[0, 1], [2, 1]]
    """
    from implicit.cpu.topk import topk as _topk

    if not 1 <= k <= item_factors.shape[0]:
        raise ValueError(f"k must be in [1, {item_factors.shape[0]}]; got {k}")
    Y = np.ascontiguousarray(item_factors, dtype=np.float32)
    Q = np.ascontiguousarray(query, dtype=np.float32)
    filt = None if filter_items is None or filter_items.size == 0 else (
        np.asarray(filter_items, dtype=np.int64))
    per_query = None
    if filter_query_items is not None:
        indptr, indices = filter_query_items
        if indptr.size != Q.shape[0] + 1:
            raise ValueError(f"filter_query_items has {indptr.size - 1} rows for "
                             f"{Q.shape[0]} queries")
        per_query = _QueryFilter(indptr, np.asarray(indices, dtype=np.int64), Y.shape[0])
    with blas_single_thread():
        ids, scores = _topk(Y, Q, int(k), filter_query_items=per_query, filter_items=filt,
                            num_threads=int(num_threads))
    return np.asarray(ids, dtype=np.int32), np.asarray(scores, dtype=np.float32)
