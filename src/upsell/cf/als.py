"""Implicit-feedback matrix factorisation by alternating least squares (implicit's CPU ALS)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell import _implicit
from upsell.cf._factors import FactorModel, check_factor_memory
from upsell.cf.base import check_positive

__all__ = ["ALS"]


class ALS(FactorModel):
    """Weighted matrix factorisation for implicit feedback (Hu, Koren & Volinsky 2008).

    Fitting runs implicit's CPU ``AlternatingLeastSquares``; serving uses the
    extracted factor arrays only (one mat-vec per request), so the model is
    thread-safe.

    Parameters
    ----------
    factors : int, default 64
        Latent dimensions.
    regularization : float, default 0.05
        L2 penalty ``lambda``.
    alpha : float, default 2.0
        Confidence scale: the confidence of a purchase is ``alpha * weight``.
    iterations : int, default 15
    use_cg : bool, default True
        implicit's conjugate-gradient solver (faster, approximate).
    num_threads : int, default 0
        implicit's fitting threads (0: all cores). ALS is deterministic
        regardless of the thread count.
    random_state : int or None, default 0
        Seed of the initial factors.

    Attributes
    ----------
    user_factors_ : ndarray of float32, shape (n_customers, factors)
    item_factors_ : ndarray of float32, shape (n_items, factors)

    Notes
    -----
    Default weighting: "bm25" (tuned on Online Retail; see benchmarks/README.md).

    Fold-in (baskets, unseen customers, ``history=``) solves the same regularised
    weighted least-squares problem implicit solves for a user, exactly
    (Cholesky, not CG):

    ``(Y^T Y + lambda I + Y^T (C_u - I) Y) x_u = Y^T C_u p_u``

    with ``C_u = diag(alpha * w_u)`` on the customer's items (Hu et al. 2008,
    eq. 4). A customer seen at fit whose history did not change keeps the
    fitted factor.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.random(60, 20, density=0.2, format="csr", random_state=1)
    >>> m = ALS(factors=8, iterations=5).fit(X)
    >>> recs = m.recommend(customers=[0, 1], k=3)
    >>> len(recs), [len(x) for x in recs.lists()]
    (2, [3, 3])
    >>> len(m.recommend(baskets=[[1, 2]], k=3).lists()[0])
    3
    """

    _default_weighting = "bm25"

    def __init__(self, *, factors: int = 64, regularization: float = 0.05, alpha: float = 2.0,
                 iterations: int = 15, use_cg: bool = True, num_threads: int = 0,
                 random_state: int | None = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.use_cg = use_cg
        self.num_threads = num_threads
        self.random_state = random_state

    def _validate_params(self) -> None:
        self._check_factor_params()
        check_positive(self.alpha, "alpha")

    def _fit_model(self, X: sp.csr_matrix, *, data: Any, show_progress: bool) -> None:
        check_factor_memory(X.shape[0], X.shape[1], int(self.factors))
        U, V = _implicit.fit_als(
            X, factors=self.factors, regularization=self.regularization, alpha=self.alpha,
            iterations=self.iterations, use_cg=bool(self.use_cg),
            random_state=self.random_state, num_threads=self.num_threads,
            show_progress=show_progress)
        self._set_factors(U, V)

    def _fold_in_system(self) -> tuple[np.ndarray, float, float]:
        return self.item_factors_, float(self.regularization), float(self.alpha)
