"""Shared serving code of the latent-factor models (ALS, BPR)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from upsell._validation import check_int
from upsell.cf._request import _Request
from upsell.cf.base import MAX_THREADS, CFModel, check_positive
from upsell.exceptions import UpsellMemoryError

__all__ = ["FactorModel", "check_factor_memory"]

#: Largest factor model ALS and BPR allocate (bytes), checked before implicit runs.
MAX_FACTOR_BYTES = 8 * 2**30


def check_factor_memory(n_users: int, n_items: int, factors: int) -> None:
    """Refuse factor matrices that would not fit, before anything is allocated.

    Counts the float32 user and item factors twice (implicit's copy and ours)
    and the float64 ``factors x factors`` Gram matrix of fold-in.

    Examples
    --------
    >>> check_factor_memory(1000, 100, 64)
    >>> check_factor_memory(10**6, 10**5, 10**6)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellMemoryError: `factors`=1000000 needs about 15,646 GiB for 1,000,000 customers and 100,000 items (limit 8 GiB); lower `factors`
    """
    need = 2 * 4 * (n_users + n_items) * factors + 8 * factors * factors
    if need > MAX_FACTOR_BYTES:
        raise UpsellMemoryError(
            f"`factors`={factors} needs about {need / 2**30:,.0f} GiB for {n_users:,} customers "
            f"and {n_items:,} items (limit {MAX_FACTOR_BYTES // 2**30} GiB); lower `factors`")


class FactorModel(CFModel):
    """Customer and item factors; score = ``user_factor @ item_factor``.

    Not public: subclasses implement ``_fit_model`` (calling ``_set_factors``)
    and ``_fold_in_system``.
    """

    _dense = True
    _bias_column: ClassVar[bool] = False

    user_factors_: np.ndarray
    item_factors_: np.ndarray

    # parameters ALS and BPR share (each stores them in its own keyword-only __init__)
    factors: int
    regularization: float
    iterations: int
    num_threads: int
    random_state: int | None

    def _check_factor_params(self) -> None:
        check_int(self.factors, "factors", minimum=1)
        check_positive(self.regularization, "regularization")
        check_int(self.iterations, "iterations", minimum=1, maximum=2**31 - 1)
        check_int(self.num_threads, "num_threads", minimum=0, maximum=MAX_THREADS)
        if self.random_state is not None:
            check_int(self.random_state, "random_state", minimum=0)

    def _set_factors(self, U: np.ndarray, V: np.ndarray) -> None:
        U = np.ascontiguousarray(U, dtype=np.float32)
        V = np.ascontiguousarray(V, dtype=np.float32)
        for a in (U, V):
            a.flags.writeable = False
        self.user_factors_ = U
        self.item_factors_ = V
        Y, lam, _ = self._fold_in_system()
        Y64 = Y.astype(np.float64)
        gram = Y64.T @ Y64 + lam * np.eye(Y.shape[1])
        gram.flags.writeable = False
        self._gram = gram
        # unit-norm latent item vectors (bias left out) for similar_items
        norms = np.linalg.norm(Y64, axis=1)
        norms[norms == 0] = 1.0
        normed = (Y64 / norms[:, None]).astype(np.float32)
        normed.flags.writeable = False
        self._normed = normed

    def _fold_in_system(self) -> tuple[np.ndarray, float, float]:
        """(latent item factors used for fold-in, ridge lambda, confidence scale)."""
        raise NotImplementedError

    def _item_factors(self) -> np.ndarray:
        return self.item_factors_

    def _user_vector(self, req: _Request) -> np.ndarray | None:
        if not req.folded and req.user >= 0:
            return self.user_factors_[req.user]
        if req.items.size == 0:
            return None
        Y, _, alpha = self._fold_in_system()
        w = self._weighter.row(req.items, req.values)
        keep = w > 0
        if not keep.any():
            return None
        idx, c = req.items[keep], alpha * w[keep]
        Yb = Y[idx].astype(np.float64)
        A = self._gram + (Yb.T * (c - 1.0)) @ Yb
        x = np.linalg.solve(A, Yb.T @ c)
        if self._bias_column:
            x = np.append(x, 1.0)
        return x.astype(np.float32)

    def _user_matrix(self, u: np.ndarray) -> np.ndarray:
        return self.user_factors_[u]

    def _similar(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        sims = self._normed @ self._normed[i]
        return np.arange(sims.size, dtype=np.int32), sims

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        U, V = arrays["user_factors"], arrays["item_factors"]
        if U.shape[0] != len(self.customers_) or V.shape[0] != len(self.items_):
            raise ValueError("factor shapes do not match the id maps")
        self._set_factors(U, V)
