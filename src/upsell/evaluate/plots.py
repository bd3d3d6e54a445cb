"""Charts of model comparisons (matplotlib, the ``plots`` extra).

A leaf module: it imports only numpy and the chart primitives of :mod:`upsell._charts`
(matplotlib when a chart is drawn), never the rest of upsell. The results' ``plot()``
methods call these functions, and :mod:`upsell.report.plots` re-exports them under the same
names. Every function takes the result, ``title`` (None: a default naming the result) and
``ax``, returns the Axes, and passes further keyword arguments to the matplotlib call drawing
the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from upsell._charts import grouped_bars

__all__ = ["plot_comparison"]


def plot_comparison(comparison: Any, *, metrics: Sequence[str] | None = None,
                    title: str | None = None, ax: Any = None, **kwargs: Any) -> Any:
    """An :class:`~upsell.evaluate.Comparison`: one bar per model for each metric.

    Examples
    --------
    >>> ax = plot_comparison(us.evaluate.compare(models, split))  # doctest: +SKIP
    """
    names = [m for m in (metrics or comparison.metrics) if m in comparison.metrics]
    series = {m: comparison.means[:, comparison.metrics.index(m)] for m in names}
    return grouped_bars(list(comparison.models), series, ax=ax, **kwargs,
                        title=f"Metrics @{comparison.k}" if title is None else title)
