"""Shared pieces of the segmenters: the estimator habits and the segment summary table."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

from upsell.exceptions import NotFittedError

__all__ = ["SegmentSummary", "summarise"]


class Estimator:
    """scikit-learn habits: keyword-only parameters, ``get_params``, a readable repr."""

    _fitted_attr = "customers_"

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as given."""
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self"}

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, par in sig.parameters.items():
            if name == "self":
                continue
            value = getattr(self, name)
            if par.default is inspect.Parameter.empty or not _same(value, par.default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attr):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(tx) first")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


@dataclass(frozen=True, slots=True)
class SegmentSummary:
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
    """

    segment: np.ndarray
    customers: np.ndarray
    customer_share: np.ndarray
    revenue: np.ndarray
    revenue_share: np.ndarray
    means: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.segment.size)

    def to_pandas(self) -> Any:
        """The table as a DataFrame (needs pandas).

        Examples
        --------
        >>> summarise(np.array(["a"]), np.array([1.0])).to_pandas().columns.tolist()
        ['segment', 'customers', 'customer_share', 'revenue', 'revenue_share']
        """
        from upsell._extras import require

        pd = require("pandas", "SegmentSummary.to_pandas")
        data: dict[str, Any] = {
            "segment": self.segment, "customers": self.customers,
            "customer_share": self.customer_share, "revenue": self.revenue,
            "revenue_share": self.revenue_share}
        data.update({f"mean_{k}": v for k, v in self.means.items()})
        return pd.DataFrame(data)

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

    def plot(self, *, ax: Any = None) -> Any:
        """Draw with matplotlib (shares of customers and of revenue per segment); see :func:`upsell.report.plots.plot_segments`."""
        from upsell.report.plots import plot_segments

        return plot_segments(self, ax=ax)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(h)}</th>" for h in (
            "segment", "customers", "% customers", "revenue", "% revenue"))
        rows = "".join(
            f"<tr><td>{escape(str(self.segment[i]))}</td><td>{int(self.customers[i]):,}</td>"
            f"<td>{100 * self.customer_share[i]:.1f}</td><td>{self.revenue[i]:,.0f}</td>"
            f"<td>{100 * self.revenue_share[i]:.1f}</td></tr>" for i in range(len(self)))
        return f"<table><tr>{head}</tr>{rows}</table>"


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
