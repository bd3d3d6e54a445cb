"""Charts of upgrade ladders, upsell offers and calibration (matplotlib, the ``plots`` extra).

A leaf module: it imports only numpy, the chart primitives of :mod:`upsell._charts`
(matplotlib when a chart is drawn) and the constant ``EDGE_KINDS``, never the rest of
upsell. The results' ``plot()`` methods call these functions, and :mod:`upsell.report.plots`
re-exports them under the same names. Every function takes the result, ``title`` (None: a default naming the result) and
``ax``, returns the Axes, and passes further keyword arguments to the matplotlib call drawing
the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell._charts import BLUE as _BLUE
from upsell._charts import GREY as _GREY
from upsell._charts import bar_chart, hbar_chart
from upsell._charts import get_axes as _axes
from upsell._charts import percent_axis as _percent_axis
from upsell._charts import style as _style
from upsell.tiers._kinds import EDGE_KINDS

__all__ = ["plot_ladders", "plot_reliability", "plot_upsells"]


def plot_ladders(ladders: Any, *, title: str | None = None, ax: Any = None,
                 **kwargs: Any) -> Any:
    """:class:`~upsell.tiers.Ladders`: how many offers of each kind the catalog supports.

    Examples
    --------
    >>> ax = plot_ladders(us.tiers.build_ladders(catalog))  # doctest: +SKIP
    """
    counts = np.bincount(np.asarray(ladders.kind, dtype=np.int64), minlength=len(EDGE_KINDS))
    if title is None:
        title = f"Upsell offers by kind ({len(ladders.items):,} items)"
    return bar_chart(list(EDGE_KINDS), counts, title=title, ylabel="offers", ax=ax, **kwargs)


def plot_upsells(upsells: Any, *, title: str | None = None, ax: Any = None,
                 **kwargs: Any) -> Any:
    """:class:`~upsell.tiers.Upsells`: each offer's score, best on top.

    Examples
    --------
    >>> ax = plot_upsells(us.tiers.UpsellRanker().fit(tx, catalog).rank(item=base))  # doctest: +SKIP
    """
    labels = [f"{i} ({k})" for i, k in zip(upsells.item.tolist(), upsells.kind.tolist(),
                                           strict=True)]
    return hbar_chart(labels, upsells.scores, title="Upsell offers" if title is None else title,
                      xlabel="score", ax=ax, **kwargs)


def plot_reliability(reliability: Any, *, title: str | None = None, ax: Any = None,
                     **kwargs: Any) -> Any:
    """A :class:`~upsell.tiers.Reliability` table as a calibration curve against the diagonal.

    Examples
    --------
    >>> ax = plot_reliability(us.tiers.reliability_table(y, p))  # doctest: +SKIP
    """
    ax = _axes(ax, (4.0, 3.6))
    ax.plot([0.0, 1.0], [0.0, 1.0], color=_GREY, linestyle=":", linewidth=1)
    ax.plot(reliability.mean_predicted, reliability.observed,
            **{"color": _BLUE, "marker": "o", "markersize": 4, **kwargs})
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    _percent_axis(ax, "x")
    _percent_axis(ax, "y")
    ax.grid(alpha=0.3)
    if title is None:
        title = f"Calibration (ECE {reliability.ece:.3f})"
    return _style(ax, title, "predicted", "observed")
