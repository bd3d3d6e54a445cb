"""Bayesian personalised ranking (implicit's CPU BPR)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell import _implicit
from upsell.cf._factors import FactorModel, check_factor_memory
from upsell.cf.base import check_positive
from upsell.exceptions import ConvergenceError

__all__ = ["BPR"]


class BPR(FactorModel):
    """Matrix factorisation trained on pairwise ranking (Rendle et al. 2009).

    Fitting runs implicit's CPU ``BayesianPersonalizedRanking``; serving uses
    the extracted factor arrays (item factors carry implicit's bias column).

    Parameters
    ----------
    factors : int, default 64
    learning_rate : float, default 0.05
    regularization : float, default 0.01
    iterations : int, default 100
    verify_negative_samples : bool, default True
    fold_in_regularization : float, default 1.0
        Ridge penalty of the fold-in projection (see Notes).
    num_threads : int, default 1
        implicit's fitting threads. More threads fit faster but BPR's lock-free
        (Hogwild) updates then race, so results repeat only with 1 thread.
    random_state : int or None, default 0

    Attributes
    ----------
    user_factors_ : ndarray of float32, shape (n_customers, factors + 1)
        Last column is 1 (multiplies the item bias).
    item_factors_ : ndarray of float32, shape (n_items, factors + 1)
        Last column is the item bias.

    Notes
    -----
    Default weighting: "binary" (BPR only uses which items were bought).

    Fold-in: BPR has no closed-form user update, so a basket or new history is
    projected by least squares onto the latent item factors ``Y`` (bias column
    left out): ``x = (Y^T Y + lambda I + Y^T (C - I) Y)^{-1} Y^T C p`` with
    ``C = diag(w)`` on the basket's items and ``lambda = fold_in_regularization``
    (the ALS fold-in with unit confidence); the bias coordinate is then set to 1.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.random(60, 20, density=0.2, format="csr", random_state=1)
    >>> m = BPR(factors=8, iterations=5).fit(X)
    >>> [len(x) for x in m.recommend(customers=[0], k=4).lists()]
    [4]
    """

    _default_weighting = "binary"
    _bias_column = True

    def __init__(self, *, factors: int = 64, learning_rate: float = 0.05,
                 regularization: float = 0.01, iterations: int = 100,
                 verify_negative_samples: bool = True, fold_in_regularization: float = 1.0,
                 num_threads: int = 1, random_state: int | None = 0) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.verify_negative_samples = verify_negative_samples
        self.fold_in_regularization = fold_in_regularization
        self.num_threads = num_threads
        self.random_state = random_state

    def _validate_params(self) -> None:
        self._check_factor_params()
        check_positive(self.learning_rate, "learning_rate")
        check_positive(self.fold_in_regularization, "fold_in_regularization")

    def _fit_model(self, X: sp.csr_matrix, *, data: Any, show_progress: bool) -> None:
        check_factor_memory(X.shape[0], X.shape[1], int(self.factors))
        try:
            U, V = _implicit.fit_bpr(
                X, factors=self.factors, learning_rate=self.learning_rate,
                regularization=self.regularization, iterations=self.iterations,
                verify_negative_samples=bool(self.verify_negative_samples),
                random_state=self.random_state, num_threads=self.num_threads,
                show_progress=show_progress)
        except Exception as exc:  # implicit's ModelFitError ("NaN encountered in factors")
            if type(exc).__name__ != "ModelFitError":
                raise
            raise ConvergenceError(
                f"BPR diverged ({exc}) with learning_rate={self.learning_rate!r} and "
                f"regularization={self.regularization!r}; lower the learning rate") from None
        self._set_factors(U, V)

    def _fold_in_system(self) -> tuple[np.ndarray, float, float]:
        return self.item_factors_[:, :-1], float(self.fold_in_regularization), 1.0
