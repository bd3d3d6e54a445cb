"""Result containers shared by every recommender: ranked item lists of ragged length.

The public name is :class:`upsell.Recommendations` (also :class:`upsell.cf.Recommendations`);
this module stays importable for code written against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell.data.ids import IdIndex

__all__ = ["Recommendations"]


@dataclass(frozen=True, slots=True)
class Recommendations:
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

    Examples
    --------
    >>> from upsell import IdIndex, Recommendations
    >>> recs = Recommendations.from_lists(["c1", "c2"], [[2, 0], [1]], [[0.9, 0.5], [0.7]],
    ...                                   items=IdIndex(["a", "b", "c"]))
    >>> len(recs), recs.item_ids(0).tolist(), recs.lists()
    (2, ['c', 'a'], [['c', 'a'], ['b']])
    >>> recs.to_pandas().columns.tolist()
    ['customer', 'item', 'score', 'rank']
    """

    requests: np.ndarray
    request_kind: str
    indptr: np.ndarray
    item_index: np.ndarray
    scores: np.ndarray
    items: IdIndex

    @classmethod
    def from_lists(cls, requests: Any, index_lists: list[Any], score_lists: list[Any], *,
                   items: IdIndex, request_kind: str = "customer") -> Recommendations:
        """Build from one list of item indices and one list of scores per request."""
        lengths = np.array([len(x) for x in index_lists], dtype=np.int64)
        indptr = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        flat_i = (np.concatenate([np.asarray(x, dtype=np.int32) for x in index_lists])
                  if index_lists else np.empty(0, dtype=np.int32))
        flat_s = (np.concatenate([np.asarray(x, dtype=np.float32) for x in score_lists])
                  if score_lists else np.empty(0, dtype=np.float32))
        return cls(requests=np.asarray(requests), request_kind=request_kind, indptr=indptr,
                   item_index=flat_i.astype(np.int32), scores=flat_s.astype(np.float32),
                   items=items)

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

    def lists(self) -> list[list[Any]]:
        """External item ids per request, as Python lists."""
        ids = self.items.ids[self.item_index].tolist()
        ptr = self.indptr.tolist()
        return [ids[ptr[r]:ptr[r + 1]] for r in range(len(self))]

    def to_pandas(self) -> Any:
        """Long table: one row per (request, item) with columns request, item, score, rank."""
        from upsell._extras import require

        pd = require("pandas", "Recommendations.to_pandas")
        counts = np.diff(self.indptr)
        rank = np.arange(self.item_index.size) - np.repeat(self.indptr[:-1], counts) + 1
        return pd.DataFrame({
            self.request_kind: np.repeat(self.requests, counts),
            "item": self.items.ids[self.item_index],
            "score": self.scores,
            "rank": rank,
        })

    def _repr_html_(self) -> str:
        from upsell._display import head, html_table

        rows = head(len(self))
        return html_table("Recommendations", {
            self.request_kind: self.requests[:len(rows)],
            "items": [self.item_ids(r) for r in rows],
            "scores": [self.request_scores(r) for r in rows],
        }, n_rows=len(self), summary=f"{len(self):,} {self.request_kind} request(s), "
                                     f"{self.item_index.size:,} items in all")
