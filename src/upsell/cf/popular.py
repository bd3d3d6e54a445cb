"""Popularity baselines: global, per segment, time-decayed, and the customer's own favourites."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._validation import as_segments, check_choice
from upsell.cf._request import _Request
from upsell.cf._topk import gather_rows
from upsell.cf.base import CFModel, check_positive
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["Popular"]

_MODES = ("global", "segment", "decayed", "personal")


class Popular(CFModel):
    """Recommend what sells: the floor every other model must beat.

    Parameters
    ----------
    mode : {"global", "segment", "decayed", "personal"}, default "global"
        "global": items by number of distinct buyers. "segment": the same within
        the customer's segment (``fit(..., segments=...)``); unseen customers and
        baskets get the global list. "decayed": order lines weighted by
        ``0.5 ** (age / half_life_days)``, age measured from the last line in the
        data (needs Transactions with a time column). "personal": the customer's
        own most-bought items first (the repeat-purchase baseline), then global
        popularity; useful with ``exclude_owned=False``.
    half_life_days : float, default 30.0
        Half-life of mode "decayed".

    Attributes
    ----------
    scores_ : ndarray of float32, shape (n_items,)
        Global (or decayed) popularity.
    segments_ : IdIndex or None
        Segment labels (mode "segment").

    Notes
    -----
    Scores: "global"/"segment": buyer counts; "decayed": decayed line counts;
    "personal": owned items ``1 + count + p`` and the rest ``p``, where
    ``p = buyers / (max buyers + 1)`` lies in [0, 1), so owned items always come
    first and ties go to the more popular item. ``similar_items`` ranks by
    co-purchase counts (customers who bought both).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[3, 0, 1], [0, 1, 1], [0, 0, 1]]))
    >>> Popular().fit(X).recommend(customers=[2], k=2).lists()
    [[0, 1]]
    >>> Popular(mode="personal").fit(X).recommend(customers=[0], k=2,
    ...                                           exclude_owned=False).lists()
    [[0, 2]]
    """

    def __init__(self, *, mode: str = "global", half_life_days: float = 30.0) -> None:
        self.mode = mode
        self.half_life_days = half_life_days

    scores_: np.ndarray
    segments_: IdIndex | None

    def fit(self, data: Any, *, weighting: str | None = None, segments: Any = None,
            show_progress: bool = False) -> Popular:
        """Learn item popularity (see :meth:`CFModel.fit`).

        Parameters
        ----------
        data : Transactions or sparse matrix
        weighting : str, optional
        segments : array-like or mapping, optional
            Mode "segment": one label per customer (in the order of the
            customer index), or a mapping customer id -> label (customers
            missing from it use the global list).
        show_progress : bool
            Ignored (nothing slow to show).

        Returns
        -------
        self

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> X = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1]]))
        >>> m = Popular(mode="segment").fit(X, segments=["a", "a", "b"])
        >>> m.recommend(customers=[0, 2], k=1, exclude_owned=False).lists()
        [[0], [1]]
        """
        self._segments_arg = segments
        try:
            return super().fit(data, weighting=weighting, show_progress=show_progress)
        finally:
            del self._segments_arg

    def _validate_params(self) -> None:
        check_choice(self.mode, "mode", _MODES)
        check_positive(self.half_life_days, "half_life_days")
        if self.mode == "segment" and self._segments_arg is None:
            raise UpsellDataError('`segments` is required when mode="segment": pass one label '
                                  'per customer or a mapping customer -> label')

    def _fit_model(self, X: sp.csr_matrix, *, data: Any, show_progress: bool) -> None:
        pop = self.popularity_
        scores = pop.copy()
        if self.mode == "decayed":
            if not isinstance(data, Transactions) or not data.has("time"):
                raise UpsellDataError('mode="decayed" needs Transactions with a `time` column; '
                                      f"got {type(data).__name__}")
            t = data.time.astype("datetime64[s]").astype(np.int64)
            age_days = (t.max() - t) / 86400.0
            w = np.where(data.quantity > 0, 0.5 ** (age_days / float(self.half_life_days)), 0.0)
            scores = np.bincount(data.item, weights=w, minlength=len(self.items_))
        seg_codes = np.full(len(self.customers_), -1, dtype=np.int32)
        seg_index: IdIndex | None = None
        seg_scores = np.zeros((0, len(self.items_)), dtype=np.float32)
        if self.mode == "segment":
            seg_index, seg_codes = self._segment_codes(self._segments_arg)
            H = self.history_
            rows = np.repeat(np.arange(H.shape[0]), np.diff(H.indptr))
            known = seg_codes[rows] >= 0
            flat = seg_codes[rows[known]].astype(np.int64) * H.shape[1] + H.indices[known]
            seg_scores = np.bincount(flat, minlength=len(seg_index) * H.shape[1]).reshape(
                len(seg_index), H.shape[1]).astype(np.float32)
        self._set_popular(np.asarray(scores, dtype=np.float32), seg_index, seg_codes, seg_scores)

    def _segment_codes(self, segments: Any) -> tuple[IdIndex, np.ndarray]:
        # the one reading of segments= (mapping, Series, (customers, labels), a segmenter
        # result or model, or one label per customer); labels are text, "" = none
        labels, names = as_segments(segments, self.customers_)
        seg_index = IdIndex(names.tolist(), name="segment")
        codes = np.full(len(self.customers_), -1, dtype=np.int32)
        has = labels != ""
        if has.any():
            codes[has] = seg_index.encode(labels[has])
        return seg_index, codes

    def _set_popular(self, scores: np.ndarray, seg_index: IdIndex | None, seg_codes: np.ndarray,
                     seg_scores: np.ndarray) -> None:
        self.scores_ = scores
        self.segments_ = seg_index
        self._seg_codes = seg_codes
        self._seg_scores = seg_scores
        pop = self.popularity_
        frac = (pop / (float(pop.max()) + 1.0) if pop.size else pop).astype(np.float32)
        self._pop_frac = frac
        if self.mode == "personal":
            fb_scores = frac
        else:
            fb_scores = scores
        # ties by global buyer count, then item index
        order = np.lexsort((-pop, -fb_scores)).astype(np.int32)
        self._set_fallback(order, fb_scores)
        self._seg_fb = []
        for s in range(seg_scores.shape[0]):
            o = np.lexsort((self._fb_rank, -seg_scores[s])).astype(np.int32)
            r = np.empty(o.size, dtype=np.int32)
            r[o] = np.arange(o.size, dtype=np.int32)
            self._seg_fb.append((o, r, seg_scores[s]))
        H = self.history_
        self._bought = sp.csr_matrix((np.ones(H.nnz, dtype=np.float32), H.indices, H.indptr),
                                     shape=H.shape)
        self._bought_csc = self._bought.tocsc()

    def _fallback(self, req: _Request) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.mode == "segment" and req.user >= 0:
            s = int(self._seg_codes[req.user])
            if s >= 0:
                return self._seg_fb[s]
        return self._fb_order, self._fb_rank, self._fb_scores

    def _sparse_scores(self, req: _Request, weights: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        if self.mode != "personal" or req.items.size == 0:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        return req.items, (1.0 + weights + self._pop_frac[req.items]).astype(np.float32)

    def _similar(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        C = self._bought_csc
        buyers = C.indices[C.indptr[i]:C.indptr[i + 1]]
        return gather_rows(self._bought, buyers, np.ones(buyers.size))

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores_, "seg_codes": self._seg_codes,
                "seg_scores": self._seg_scores}

    def _model_meta(self) -> dict[str, Any]:
        return {"segments": self.segments_.to_json() if self.segments_ is not None else None}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        seg = meta["segments"]
        seg_index = IdIndex.from_json(seg) if seg is not None else None
        scores = arrays["scores"]
        if scores.shape != (len(self.items_),):
            raise ValueError("score vector does not match the item map")
        self._set_popular(scores, seg_index, arrays["seg_codes"], arrays["seg_scores"])
