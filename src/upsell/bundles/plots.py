"""Charts of frequent itemsets and association rules (matplotlib, the ``plots`` extra).

A leaf module: it imports only numpy and the chart primitives of :mod:`upsell._charts`
(matplotlib when a chart is drawn), never the rest of upsell. The results' ``plot()``
methods call these functions, and :mod:`upsell.report.plots` re-exports them under the same
names. Every function takes the result, ``title`` (None: a default naming the result) and
``ax``, returns the Axes, and passes further keyword arguments to the matplotlib call drawing
the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell._charts import get_axes as _axes
from upsell._charts import hbar_chart, matplotlib_keywords
from upsell._charts import percent_axis as _percent_axis
from upsell._charts import style as _style

__all__ = ["plot_itemsets", "plot_rules"]


def plot_itemsets(itemsets: Any, *, n: int = 15, min_len: int = 2, title: str | None = None,
                  ax: Any = None, **kwargs: Any) -> Any:
    """:class:`~upsell.bundles.Itemsets`: the ``n`` most frequent itemsets as bars of support.

    Only itemsets of at least ``min_len`` items are drawn (any length when none is
    that long), so the chart shows what sells together rather than best sellers.

    Examples
    --------
    >>> ax = plot_itemsets(us.bundles.frequent_itemsets(tx, min_support=0.01))  # doctest: +SKIP
    """
    support = np.asarray(itemsets.support, dtype=np.float64)
    pos = np.flatnonzero(np.asarray(itemsets.lengths) >= min_len)
    if pos.size == 0:
        pos = np.arange(support.size)
    top = pos[np.argsort(-support[pos], kind="stable")[:n]]
    labels = [" + ".join(str(x) for x in itemsets.itemset(int(i))) for i in top]
    if title is None:
        title = f"Top {top.size} of {len(itemsets):,} itemsets"
    return hbar_chart(labels, support[top], title=title, xlabel="support", percent=True,
                      ax=ax, **kwargs)


@matplotlib_keywords
def plot_rules(rules: Any, *, title: str | None = None, ax: Any = None, **kwargs: Any) -> Any:
    """:class:`~upsell.bundles.Rules`: support against confidence, coloured by lift.

    The support axis is logarithmic when supports span more than two decades.
    Passing ``color`` draws every point in it, without the lift colour bar.

    Examples
    --------
    >>> ax = plot_rules(rules)  # doctest: +SKIP
    """
    ax = _axes(ax, (6.0, 3.2))
    s = np.asarray(rules.support, dtype=np.float64)
    c = np.asarray(rules.confidence, dtype=np.float64)
    lf = np.asarray(rules.lift, dtype=np.float64)
    style: dict[str, Any] = {"s": 14.0, "alpha": 0.8, "edgecolors": "none"}
    coloured = "color" not in kwargs and "c" not in kwargs and lf.size > 0
    if coloured:
        style.update(c=lf, cmap="viridis")
    points = ax.scatter(s, c, **{**style, **kwargs})
    if coloured:
        ax.figure.colorbar(points, ax=ax, label="lift")
    if s.size and s.min() > 0 and s.max() / s.min() > 100:
        ax.set_xscale("log")
    _percent_axis(ax, "x")
    _percent_axis(ax, "y")
    ax.grid(alpha=0.3)
    return _style(ax, f"{len(rules):,} rules" if title is None else title, "support",
                  "confidence")
