"""Charts of customer segments: RFM, personas and clusters (matplotlib, the ``plots`` extra).

A leaf module: it imports only numpy and the chart primitives of :mod:`upsell._charts`
(matplotlib when a chart is drawn), never the rest of upsell. The results' ``plot()``
methods call these functions, and :mod:`upsell.report.plots` re-exports them under the same
names. Every function takes the result, ``title`` (None: a default naming the result) and
``ax``, returns the Axes, and passes further keyword arguments to the matplotlib call drawing
the data.
"""

from __future__ import annotations

from typing import Any

from upsell._charts import share_bars

__all__ = ["plot_clusters", "plot_personas", "plot_rfm", "plot_segments"]


def plot_segments(summary: Any, *, title: str | None = None, ax: Any = None,
                  **kwargs: Any) -> Any:
    """A :class:`~upsell.segments.SegmentSummary`: shares of customers and of revenue.

    Examples
    --------
    >>> ax = plot_segments(us.segments.rfm(tx).summary())  # doctest: +SKIP
    """
    return share_bars(summary.segment.tolist(), summary.customer_share, summary.revenue_share,
                      title="Customers and revenue by segment" if title is None else title,
                      ax=ax, **kwargs)


def plot_rfm(result: Any, *, title: str | None = None, ax: Any = None, **kwargs: Any) -> Any:
    """An :class:`~upsell.segments.RFMResult`: its segment summary (see :func:`plot_segments`).

    Examples
    --------
    >>> ax = plot_rfm(us.segments.rfm(tx))  # doctest: +SKIP
    """
    return plot_segments(result.summary(), title=title, ax=ax, **kwargs)


def plot_personas(assignments: Any, *, title: str | None = None, ax: Any = None,
                  **kwargs: Any) -> Any:
    """:class:`~upsell.segments.PersonaAssignments`: customers and revenue per persona.

    Examples
    --------
    >>> ax = plot_personas(us.segments.Personas().fit(tx).predict())  # doctest: +SKIP
    """
    return plot_segments(assignments.summary(), ax=ax, **kwargs,
                         title="Customers and revenue by persona" if title is None else title)


def plot_clusters(profile: Any, *, title: str | None = None, ax: Any = None,
                  **kwargs: Any) -> Any:
    """A :class:`~upsell.segments.ClusterProfile`: each cluster's share of customers and revenue.

    Examples
    --------
    >>> ax = plot_clusters(us.segments.Clusters(k=3).fit(tx).profile_)  # doctest: +SKIP
    """
    labels = [f"{c}: {lab}" for c, lab in zip(profile.cluster.tolist(), profile.label.tolist(),
                                               strict=True)]
    return share_bars(labels, profile.share, profile.revenue_share, ax=ax, **kwargs,
                      title="Customers and revenue by cluster" if title is None else title)
