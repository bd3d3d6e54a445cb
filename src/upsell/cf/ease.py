"""EASE: the closed-form shallow linear autoencoder (Steck 2019), numpy/scipy only."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

from upsell._validation import check_float, check_int
from upsell.cf.base import check_positive
from upsell.cf.knn import NeighborModel
from upsell.exceptions import UpsellDataError, UpsellMemoryError

__all__ = ["EASE"]

# above this many items the Gram matrix is inverted in float32 to halve memory
_FLOAT64_MAX_ITEMS = 12_000

#: Work the library's own recipes (``Recommender.from_history``, ``LearnedBlend``) give EASE,
#: in items**3: inverting the items x items Gram matrix costs ~n**3 flops. 1e12 is about
#: 17 s of one core of the reference machine (8,000 items: 8.8 s; 4,000: 1.6 s).
EASE_WORK_BUDGET = 1e12


class EASE(NeighborModel):
    """Embarrassingly shallow autoencoder: an item-item weight matrix in closed form.

    Parameters
    ----------
    regularization : float, default 200.0
        L2 penalty ``lambda`` on the weights.
    n_neighbors : int, default 200
        Largest positive weights kept per item for serving; a request then
        touches only the neighbour lists of its items.
    max_items : int, default 30000
        Refuse catalogs larger than this: EASE inverts a dense items x items
        matrix (``n_items**2 * 8`` bytes up to 12,000 items, ``* 4`` above).

    Attributes
    ----------
    neighbors_ : scipy.sparse.csr_matrix, shape (n_items, n_items)
        Row ``i``: the ``n_neighbors`` largest positive entries of ``B[i, :]``.

    Notes
    -----
    Steck (2019), eq. 8: with ``P = (X^T X + lambda I)^{-1}``,
    ``B = I - P diagMat(1 / diag(P))``, i.e. ``B_ij = -P_ij / P_jj`` and
    ``B_ii = 0``; the score of item ``j`` is ``sum_i x_i B_ij``. Serving uses
    the top ``n_neighbors`` positive entries of each row of ``B`` only, so
    scores are those of ``B`` truncated (negative weights dropped); with
    ``n_neighbors >= n_items`` every positive weight is kept. Default
    weighting: "binary" (as in the paper). Fold-in is the same formula on the
    basket's items. The inverse is computed by Cholesky in place.

    Raises
    ------
    UpsellMemoryError
        From ``fit`` when the catalog has more than ``max_items`` items.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0]]))
    >>> m = EASE(regularization=1.0).fit(X)
    >>> recs = m.recommend(baskets=[[0]], k=2)
    >>> recs.lists(), np.round(recs.scores.astype(float), 2).tolist()
    ([[1, 2]], [0.36, 0.0])
    """

    _default_weighting = "binary"

    def __init__(self, *, regularization: float = 200.0, n_neighbors: int = 200,
                 max_items: int = 30_000) -> None:
        self.regularization = regularization
        self.n_neighbors = n_neighbors
        self.max_items = max_items

    @staticmethod
    def affordable_items(n_fits: int = 1, work: float = EASE_WORK_BUDGET) -> int:
        """Most items ``n_fits`` EASE fits may span together within ``work`` (items**3).

        The budget the library's recipes use to decide where EASE is worth its cubic
        cost: :meth:`Recommender.from_history <upsell.recommend.Recommender.from_history>`
        uses item-KNN above ``affordable_items()``; ``LearnedBlend`` fits EASE at
        every time cut, over the ``affordable_items(cuts + 1)`` most-bought items.

        Parameters
        ----------
        n_fits : int, default 1
            EASE fits of the same catalog size.
        work : float, default ``EASE_WORK_BUDGET`` (1e12)

        Returns
        -------
        int

        Examples
        --------
        >>> EASE.affordable_items()
        10000
        >>> EASE.affordable_items(5)
        5848
        """
        check_int(n_fits, "n_fits", minimum=1)
        per_fit = check_float(work, "work", low=1.0) / n_fits
        return int(round(per_fit ** (1.0 / 3.0), 6))

    def _validate_params(self) -> None:
        check_positive(self.regularization, "regularization")
        check_int(self.n_neighbors, "n_neighbors", minimum=1, maximum=2**31 - 1)
        check_int(self.max_items, "max_items", minimum=1)

    def _fit_model(self, X: sp.csr_matrix, *, data: Any, show_progress: bool) -> None:
        n = X.shape[1]
        if n > self.max_items:
            gb = n * n * (8 if n <= _FLOAT64_MAX_ITEMS else 4) / 1e9
            raise UpsellMemoryError(
                f"EASE needs a dense {n:,} x {n:,} matrix (~{gb:.1f} GB) for {n:,} items, more "
                f"than `max_items`={self.max_items:,}; raise `max_items` if the memory is there, "
                f"prune rare items, or use ItemKNN")
        self._set_neighbors(ease_neighbors(X, float(self.regularization), int(self.n_neighbors)))


def ease_neighbors(X: sp.csr_matrix, regularization: float, n_neighbors: int,
                   block: int = 1024) -> sp.csr_matrix:
    """Top ``n_neighbors`` positive entries per row of the EASE weight matrix ``B``.

    Parameters
    ----------
    X : sparse matrix, shape (n_users, n_items)
    regularization : float
    n_neighbors : int
    block : int
        Rows of ``B`` materialised at a time.

    Returns
    -------
    scipy.sparse.csr_matrix of float32, shape (n_items, n_items)

    Examples
    --------
    >>> X = sp.csr_matrix(np.array([[1, 1], [1, 1], [1, 0]], dtype=np.float32))
    >>> np.round(ease_neighbors(X, 1.0, 5).toarray().astype(float), 3).tolist()
    [[0.0, 0.5], [0.667, 0.0]]
    """
    n = X.shape[1]
    dtype = np.float64 if n <= _FLOAT64_MAX_ITEMS else np.float32
    Xc = sp.csr_matrix(X, dtype=dtype)
    G = np.asarray((Xc.T @ Xc).toarray(), dtype=dtype, order="F")
    G[np.diag_indices(n)] += regularization
    potrf, potri = ((lapack.dpotrf, lapack.dpotri) if dtype == np.float64
                    else (lapack.spotrf, lapack.spotri))
    c, info = potrf(G, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise UpsellDataError(
            f"`regularization`={regularization} is too small: X^T X + lambda I is not "
            f"positive definite (LAPACK info {info})")
    P, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:  # pragma: no cover - potrf succeeded, so potri cannot fail
        raise UpsellDataError(f"EASE inverse failed (LAPACK info {info})")
    diag = np.diag(P).astype(np.float64).copy()
    keep = min(n_neighbors, n)
    rows_l, cols_l, vals_l = [], [], []
    cols_all = np.arange(n)
    for r0 in range(0, n, block):
        r1 = min(r0 + block, n)
        # potri fills the upper triangle only: entries left of the diagonal come from P.T
        upper = np.asarray(P[r0:r1, :], dtype=np.float64)
        lower = np.asarray(P[:, r0:r1], dtype=np.float64).T
        i = np.arange(r0, r1)[:, None]
        full = np.where(cols_all[None, :] >= i, upper, lower)
        Bblk = -full / diag[None, :]
        Bblk[np.arange(r1 - r0), np.arange(r0, r1)] = 0.0
        if keep < n:
            part = np.argpartition(-Bblk, keep - 1, axis=1)[:, :keep]
        else:
            part = np.broadcast_to(cols_all, Bblk.shape)
        vals = np.take_along_axis(Bblk, part, axis=1)
        ok = vals > 0
        rows_l.append(np.broadcast_to(i, part.shape)[ok])
        cols_l.append(part[ok])
        vals_l.append(vals[ok])
    rows = np.concatenate(rows_l) if rows_l else np.empty(0, np.int64)
    cols = np.concatenate(cols_l) if cols_l else np.empty(0, np.int64)
    vals = np.concatenate(vals_l) if vals_l else np.empty(0)
    S = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(n, n))
    S.sort_indices()
    return S
