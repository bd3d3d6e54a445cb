"""Shared pieces of the segmenters: the estimator habits and the segment summary table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._estimator import Estimator

__all__ = ["Estimator", "SegmentSummary", "summarise"]


@dataclass(frozen=True, slots=True)
class SegmentSummary(TableResult):
    """Segment sizes and revenue shares: one row per segment, largest revenue first.

    Attributes
    ----------
    segment : ndarray of str
    customers : ndarray of int64
        Customers in the segment.
    customer_share : ndarray of float64
        ``customers / total customers``.
    revenue : ndarray of float64
        Summed net value of the segment's customers.
    revenue_share : ndarray of float64
        ``revenue / total revenue`` (NaN when the total is not positive).
    means : dict of str to ndarray
        Mean of further per-customer columns (e.g. recency, frequency), per segment.

    Examples
    --------
    >>> s = summarise(np.array(["a", "b", "a"]), np.array([10.0, 30.0, 20.0]))
    >>> s.segment.tolist(), s.customers.tolist(), s.revenue_share.tolist()
    (['a', 'b'], [2, 1], [0.5, 0.5])
    >>> s.to_pandas().columns.tolist()
    ['segment', 'customers', 'customer_share', 'revenue', 'revenue_share']
    """

    segment: np.ndarray
    customers: np.ndarray
    customer_share: np.ndarray
    revenue: np.ndarray
    revenue_share: np.ndarray
    means: dict[str, np.ndarray]

    _title = "SegmentSummary"
    _plot_function = "upsell.segments.plots:plot_segments"

    def __len__(self) -> int:
        return int(self.segment.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cols: dict[str, Any] = {
            "segment": self.segment, "customers": self.customers,
            "customer_share": self.customer_share, "revenue": self.revenue,
            "revenue_share": self.revenue_share}
        if rows is None:  # the frame has the per-segment means too
            cols.update({f"mean_{k}": v for k, v in self.means.items()})
        return cols

    def _summary(self) -> str:
        return f"{len(self):,} segments, {int(self.customers.sum()):,} customers"

    def to_markdown(self) -> str:
        """The table as GitHub Markdown (shares in percent).

        Examples
        --------
        >>> print(summarise(np.array(["a"]), np.array([2.0])).to_markdown())
        | segment | customers | % customers | revenue | % revenue |
        |---|---:|---:|---:|---:|
        | a | 1 | 100.0 | 2 | 100.0 |
        """
        extra = list(self.means)
        head = ["segment", "customers", "% customers", "revenue", "% revenue",
                *(f"mean {k}" for k in extra)]
        lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
        for i in range(len(self)):
            cells = [str(self.segment[i]), f"{int(self.customers[i]):,}",
                     f"{100 * self.customer_share[i]:.1f}", f"{self.revenue[i]:,.0f}",
                     f"{100 * self.revenue_share[i]:.1f}",
                     *(f"{self.means[k][i]:,.1f}" for k in extra)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


def summarise(segment: np.ndarray, revenue: np.ndarray,
              means: dict[str, np.ndarray] | None = None,
              order: tuple[str, ...] | None = None) -> SegmentSummary:
    """Group customers by segment label: sizes, revenue and shares, means of ``means``.

    Segments are listed in ``order`` when given (absent ones left out), else by
    revenue, largest first.
    """
    labels, inv = np.unique(segment, return_inverse=True)
    inv = inv.reshape(-1)
    counts = np.bincount(inv, minlength=labels.size)
    rev = np.bincount(inv, weights=np.nan_to_num(revenue), minlength=labels.size)
    total = rev.sum()
    share = rev / total if total > 0 else np.full(labels.size, np.nan)
    avg = {k: np.bincount(inv, weights=np.nan_to_num(v), minlength=labels.size)
           / np.maximum(counts, 1) for k, v in (means or {}).items()}
    if order is not None:
        pos = {s: j for j, s in enumerate(order)}
        perm = np.array(sorted(range(labels.size), key=lambda j: pos.get(str(labels[j]), 10**9)),
                        dtype=np.int64)
    else:
        perm = np.lexsort((labels, -rev))
    n = max(int(counts.sum()), 1)
    return SegmentSummary(
        segment=labels[perm].astype(str), customers=counts[perm].astype(np.int64),
        customer_share=counts[perm] / n, revenue=rev[perm], revenue_share=share[perm],
        means={k: v[perm] for k, v in avg.items()})
