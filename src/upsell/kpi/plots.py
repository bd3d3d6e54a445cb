"""Charts of KPIs, conversion, NPS and customer lifetime value (matplotlib, the ``plots`` extra).

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

from upsell._charts import GREY as _GREY
from upsell._charts import bar_chart, histogram, line_chart
from upsell._charts import interval_bars as _interval_bars

__all__ = ["plot_clv", "plot_conversion", "plot_kpi", "plot_nps"]


def plot_kpi(result: Any, *, title: str | None = None, ax: Any = None, **kwargs: Any) -> Any:
    """A :class:`~upsell.kpi.KPIResult`: a line for periods, bars for other groupings.

    Examples
    --------
    >>> import upsell as us
    >>> tx = us.datasets.make_shop(n_customers=100, n_items=50, n_orders=400).transactions
    >>> ax = plot_kpi(us.kpi.atv(tx, by="month"))  # doctest: +SKIP
    """
    groups = np.asarray(result.groups)
    if title is None:
        title = f"{result.metric} by {result.by}" if result.by else str(result.metric)
    if np.issubdtype(groups.dtype, np.datetime64):
        return line_chart(groups, result.value, title=title, ylabel=result.metric, ax=ax,
                          **kwargs)
    return bar_chart(groups.tolist(), result.value, title=title, ylabel=result.metric, ax=ax,
                     **kwargs)


def plot_clv(values: Any, *, log: bool = True, title: str | None = None, ax: Any = None,
             **kwargs: Any) -> Any:
    """CLV per customer (a :class:`~upsell.kpi.CLVTable` or an array) as a histogram.

    With ``log`` (the default) bins are log-spaced and customers with a CLV of
    0 or less are left out.

    Examples
    --------
    >>> ax = plot_clv(us.kpi.historic_clv(tx))  # doctest: +SKIP
    """
    v = getattr(values, "value", values)
    return histogram(v, xlabel="CLV", log=log, ax=ax, **kwargs,
                     title="CLV per customer" if title is None else title)


def plot_conversion(result: Any, *, title: str | None = None, ax: Any = None,
                    **kwargs: Any) -> Any:
    """A :class:`~upsell.kpi.ConversionResult`: rate per group with its Wilson interval.

    Examples
    --------
    >>> ax = plot_conversion(us.kpi.conversion(offer_log, by="channel"))  # doctest: +SKIP
    """
    if title is None:
        title = f"Offer conversion by {result.by}" if result.by else "Offer conversion"
    ax = bar_chart(np.asarray(result.groups).tolist(), result.rate, title=title,
                   ylabel="conversion", percent=True, ax=ax, **kwargs)
    _interval_bars(ax, result.rate, result.low, result.high)
    return ax


def plot_nps(result: Any, *, title: str | None = None, ax: Any = None, **kwargs: Any) -> Any:
    """An :class:`~upsell.kpi.NPSResult`: NPS per group with its confidence interval.

    Examples
    --------
    >>> ax = plot_nps(us.kpi.nps([10, 9, 3, 7]))  # doctest: +SKIP
    """
    if title is None:
        title = f"NPS by {result.by}" if result.by else "NPS"
    ax = bar_chart(np.asarray(result.groups).tolist(), result.nps, title=title, ylabel="NPS",
                   ax=ax, **kwargs)
    _interval_bars(ax, result.nps, result.low, result.high)
    ax.axhline(0.0, color=_GREY, linewidth=1)
    return ax
