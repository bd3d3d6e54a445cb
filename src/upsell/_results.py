"""Result containers shared by every recommender: ranked item lists of ragged length.

The public name is :class:`upsell.Recommendations` (also :class:`upsell.cf.Recommendations`);
this module stays importable for code written against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellValueError

__all__ = ["Recommendations"]


@dataclass(frozen=True, slots=True)
class Recommendations(TableResult):
    """Ranked items for each of several requests (customers or baskets), best first.

    Stored flat, like a CSR matrix: request ``r`` owns positions
    ``indptr[r]:indptr[r + 1]`` of ``item_index`` and ``scores``. Lists are never
    padded: a request gets fewer than ``k`` items only when fewer candidates exist.
    The shape is the same for one request or many.

    Attributes
    ----------
    requests : ndarray
        External customer ids, or request positions 0..n-1 for basket requests.
    request_kind : str
        ``"customer"`` or ``"basket"``.
    indptr : ndarray of int64, shape (n + 1,)
    item_index : ndarray of int32
        Item indices (into ``items``), flat.
    scores : ndarray of float32
        Scores, flat, non-increasing within each request.
    items : IdIndex
        The item id map used to translate indices to ids.
    reasons : tuple of str, optional
        Why each item was recommended, flat and aligned with ``item_index``
        (e.g. the rule's antecedent in words); None when the recommender gives none.

    Examples
    --------
    >>> from upsell import IdIndex, Recommendations
    >>> recs = Recommendations.from_lists(["c1", "c2"], [[2, 0], [1]], [[0.9, 0.5], [0.7]],
    ...                                   items=IdIndex(["a", "b", "c"]))
    >>> len(recs), recs.item_ids(0).tolist(), recs.lists()
    (2, ['c', 'a'], [['c', 'a'], ['b']])
    >>> recs.to_pandas().columns.tolist()  # one row per (request, item)
    ['customer', 'item', 'score', 'rank']
    >>> why = Recommendations.from_lists([0], [[1]], [[0.5]], items=IdIndex(["a", "b"]),
    ...                                  request_kind="basket", reasons=[["bought with a"]])
    >>> why.reasons_for(0), why.to_pandas().columns.tolist()
    (('bought with a',), ['basket', 'item', 'score', 'rank', 'reason'])
    """

    requests: np.ndarray
    request_kind: str
    indptr: np.ndarray
    item_index: np.ndarray
    scores: np.ndarray
    items: IdIndex
    reasons: tuple[str, ...] | None = None

    _title = "Recommendations"

    def __post_init__(self) -> None:
        if self.reasons is not None and len(self.reasons) != self.item_index.size:
            raise UpsellValueError(
                f"`reasons` must hold one text per recommended item ({self.item_index.size:,}); "
                f"got {len(self.reasons):,}")

    @classmethod
    def from_lists(cls, requests: Any, index_lists: list[Any], score_lists: list[Any], *,
                   items: IdIndex, request_kind: str = "customer",
                   reasons: list[Any] | None = None) -> Recommendations:
        """Build from one list of item indices and one list of scores per request.

        Parameters
        ----------
        requests : array-like
            One request id per list.
        index_lists, score_lists : list of array-like
            Item indices and scores per request, best first.
        items : IdIndex
        request_kind : {"customer", "basket"}
        reasons : list of list of str, optional
            One reason text per item, per request (same lengths as ``index_lists``).

        Returns
        -------
        Recommendations
        """
        lengths = np.array([len(x) for x in index_lists], dtype=np.int64)
        indptr = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        flat_i = (np.concatenate([np.asarray(x, dtype=np.int32) for x in index_lists])
                  if index_lists else np.empty(0, dtype=np.int32))
        flat_s = (np.concatenate([np.asarray(x, dtype=np.float32) for x in score_lists])
                  if score_lists else np.empty(0, dtype=np.float32))
        flat_r = None
        if reasons is not None:
            if len(reasons) != len(index_lists) or any(
                    len(w) != n for w, n in zip(reasons, lengths.tolist(), strict=True)):
                raise UpsellValueError("`reasons` must hold one list per request, as long as its "
                                       "item list")
            flat_r = tuple(str(w) for per in reasons for w in per)
        return cls(requests=np.asarray(requests), request_kind=request_kind, indptr=indptr,
                   item_index=flat_i.astype(np.int32), scores=flat_s.astype(np.float32),
                   items=items, reasons=flat_r)

    def __len__(self) -> int:
        return int(self.indptr.size - 1)

    def indices(self, r: int) -> np.ndarray:
        """Item indices recommended for request ``r``."""
        return self.item_index[self.indptr[r]:self.indptr[r + 1]]

    def item_ids(self, r: int) -> np.ndarray:
        """External item ids recommended for request ``r``."""
        return self.items.ids[self.indices(r)]

    def request_scores(self, r: int) -> np.ndarray:
        """Scores for request ``r``."""
        return self.scores[self.indptr[r]:self.indptr[r + 1]]

    def reasons_for(self, r: int) -> tuple[str, ...]:
        """Reason texts for request ``r`` (empty strings when the recommender gives none)."""
        n = int(self.indptr[r + 1] - self.indptr[r])
        if self.reasons is None:
            return ("",) * n
        return self.reasons[int(self.indptr[r]):int(self.indptr[r + 1])]

    def lists(self) -> list[list[Any]]:
        """External item ids per request, as Python lists."""
        ids = self.items.ids[self.item_index].tolist()
        ptr = self.indptr.tolist()
        return [ids[ptr[r]:ptr[r + 1]] for r in range(len(self))]

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        """The long table for ``to_pandas()``: one row per (request, item) with columns
        request, item, score, rank (and ``reason`` when the recommender gave reasons);
        a notebook shows one row per request instead."""
        if rows is not None:
            shown: dict[str, Any] = {
                self.request_kind: self.requests[:len(rows)],
                "items": [self.item_ids(r) for r in rows],
                "scores": [self.request_scores(r) for r in rows],
            }
            if self.reasons is not None:
                shown["reasons"] = [self.reasons_for(r) for r in rows]
            return shown
        counts = np.diff(self.indptr)
        rank = np.arange(self.item_index.size) - np.repeat(self.indptr[:-1], counts) + 1
        columns: dict[str, Any] = {
            self.request_kind: np.repeat(self.requests, counts),
            "item": self.items.ids[self.item_index],
            "score": self.scores,
            "rank": rank,
        }
        if self.reasons is not None:
            columns["reason"] = list(self.reasons)
        return columns

    def _summary(self) -> str:
        return (f"{len(self):,} {self.request_kind} request(s), "
                f"{self.item_index.size:,} items in all")
