"""Weighting of purchase counts into model input, for the fit matrix and for fold-in rows.

Shared by every CF model (:class:`~upsell.cf.base.CFModel`) and, through
:mod:`upsell.cf.engine`, by the Spark ALS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._validation import as_csr
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["WEIGHTINGS"]

#: Accepted values of ``fit(..., weighting=...)``.
WEIGHTINGS = ("count", "binary", "units", "value", "bm25", "tfidf")


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

