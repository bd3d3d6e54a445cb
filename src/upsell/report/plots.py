"""Charts of upsell results, drawn with matplotlib (the ``plots`` extra), imported only when called.

Every function draws on ``ax`` when given and returns the Axes. Without ``ax`` it
makes a new figure: through pyplot when pyplot is already imported (a notebook
with inline plots shows it), otherwise as a bare :class:`matplotlib.figure.Figure`
that touches no global state (``ax.figure`` holds it; :func:`to_svg` renders it).

The ``plot_*`` functions take result objects (``KPIResult``, ``SegmentSummary``,
``RFMResult``, ``PersonaAssignments``, ``ClusterProfile``, ``Itemsets``, ``Rules``,
``Comparison``, ``CLVTable`` or an array of CLVs, ``Ladders``, ``Upsells``,
``Reliability``, ``ConversionResult``, ``NPSResult``), and those classes'
``plot(ax=None, **kwargs)`` methods call them; the others take plain arrays and
are what the HTML report uses.

Examples
--------
>>> import numpy as np
>>> ax = bar_chart(["a", "b"], [1.0, 2.0], title="demo")  # doctest: +SKIP
>>> to_svg(ax.figure).startswith("<svg")  # doctest: +SKIP
True
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from upsell._extras import require

__all__ = [
    "bar_chart",
    "grouped_bars",
    "hbar_chart",
    "histogram",
    "line_chart",
    "plot_clusters",
    "plot_clv",
    "plot_comparison",
    "plot_conversion",
    "plot_itemsets",
    "plot_kpi",
    "plot_ladders",
    "plot_nps",
    "plot_personas",
    "plot_reliability",
    "plot_rfm",
    "plot_rules",
    "plot_segments",
    "plot_upsells",
    "rules_scatter",
    "share_bars",
    "to_svg",
]

_BLUE, _ORANGE, _GREY = "#2f6db5", "#e08a2c", "#8a8f98"
_PALETTE = (_BLUE, _ORANGE, "#3a9b6a", "#b5473a", "#7b5ea7", _GREY)


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    require("matplotlib", "plots")
    if "matplotlib.pyplot" in sys.modules:
        plt = sys.modules["matplotlib.pyplot"]
        _, new = plt.subplots(figsize=figsize)
        return new
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _style(ax: Any, title: str, xlabel: str = "", ylabel: str = "") -> Any:
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)
    return ax


def _percent_axis(ax: Any, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))


def _short(labels: Sequence[Any], width: int = 18) -> list[str]:
    out = []
    for x in labels:
        s = str(x)
        out.append(s if len(s) <= width else s[:width - 1] + "…")
    return out


# ---------------------------------------------------------------------- array-level charts
def line_chart(x: Any, y: Any, *, title: str = "", xlabel: str = "", ylabel: str = "",
               ax: Any = None, **kwargs: Any) -> Any:
    """A line over time (or any ordered x), with markers when there are few points.

    Further keyword arguments go to :meth:`matplotlib.axes.Axes.plot` (``color``, ...).

    Examples
    --------
    >>> ax = line_chart([1, 2, 3], [2.0, 3.0, 2.5], title="ATV")  # doctest: +SKIP
    """
    ax = _axes(ax, (7.0, 2.8))
    xv = np.asarray(x)
    yv = np.asarray(y, dtype=np.float64)
    ax.plot(xv, yv, **{"color": _BLUE, "linewidth": 1.8, "markersize": 3,
                       "marker": "o" if yv.size <= 40 else None, **kwargs})
    if np.issubdtype(xv.dtype, np.datetime64):
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        loc = AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))
    ax.grid(axis="y", alpha=0.3)
    return _style(ax, title, xlabel, ylabel)


def bar_chart(labels: Sequence[Any], values: Any, *, title: str = "", ylabel: str = "",
              percent: bool = False, ax: Any = None, **kwargs: Any) -> Any:
    """Vertical bars, one per label; further keyword arguments go to ``Axes.bar``.

    Examples
    --------
    >>> ax = bar_chart(["a", "b"], [0.2, 0.5], percent=True)  # doctest: +SKIP
    """
    ax = _axes(ax, (6.0, 2.8))
    v = np.asarray(values, dtype=np.float64)
    pos = np.arange(v.size)
    ax.bar(pos, np.nan_to_num(v), **{"color": _BLUE, **kwargs})
    ax.set_xticks(pos, _short(labels), rotation=0 if v.size <= 6 else 30,
                  ha="center" if v.size <= 6 else "right")
    if percent:
        _percent_axis(ax)
    ax.grid(axis="y", alpha=0.3)
    return _style(ax, title, "", ylabel)


def share_bars(labels: Sequence[Any], customer_share: Any, revenue_share: Any, *,
               title: str = "", ax: Any = None, **kwargs: Any) -> Any:
    """Horizontal paired bars: each segment's share of customers and share of revenue.

    Further keyword arguments go to both ``Axes.barh`` calls.

    Examples
    --------
    >>> ax = share_bars(["new", "premium"], [0.7, 0.3], [0.2, 0.8])  # doctest: +SKIP
    """
    n = len(labels)
    ax = _axes(ax, (6.5, 0.45 * n + 1.2))
    pos = np.arange(n)
    ax.barh(pos - 0.2, np.nan_to_num(np.asarray(customer_share, dtype=float)),
            **{"height": 0.4, "color": _GREY, "label": "customers", **kwargs})
    ax.barh(pos + 0.2, np.nan_to_num(np.asarray(revenue_share, dtype=float)),
            **{"height": 0.4, "color": _BLUE, "label": "revenue", **kwargs})
    ax.set_yticks(pos, _short(labels, 22))
    ax.invert_yaxis()
    _percent_axis(ax, "x")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _style(ax, title)


def grouped_bars(groups: Sequence[Any], series: Mapping[str, Any], *, title: str = "",
                 ylabel: str = "", ax: Any = None, **kwargs: Any) -> Any:
    """Bars grouped by series (e.g. metrics) with one bar per group (e.g. model).

    Further keyword arguments go to every ``Axes.bar`` call.

    Examples
    --------
    >>> ax = grouped_bars(["popular", "als"], {"recall": [0.1, 0.2]})  # doctest: +SKIP
    """
    ax = _axes(ax, (7.0, 2.8))
    names = list(series)
    n_g = len(groups)
    width = 0.8 / max(n_g, 1)
    pos = np.arange(len(names))
    for gi, g in enumerate(groups):
        vals = [float(np.asarray(series[m], dtype=float)[gi]) for m in names]
        ax.bar(pos + (gi - (n_g - 1) / 2) * width, np.nan_to_num(vals),
               **{"width": width, "color": _PALETTE[gi % len(_PALETTE)], "label": str(g),
                  **kwargs})
    ax.set_xticks(pos, names)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _style(ax, title, "", ylabel)


def histogram(values: Any, *, title: str = "", xlabel: str = "", log: bool = False,
              bins: int = 40, ax: Any = None, **kwargs: Any) -> Any:
    """Distribution of values (e.g. CLV per customer); ``log`` uses log-spaced bins.

    Further keyword arguments go to ``Axes.hist``.

    Non-finite values are left out; with ``log``, so are values <= 0.

    Examples
    --------
    >>> ax = histogram([1.0, 2.0, 2.5, 10.0], log=True)  # doctest: +SKIP
    """
    ax = _axes(ax, (6.5, 2.8))
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if log:
        v = v[v > 0]
    if v.size:
        if log and v.min() < v.max():
            edges = np.geomspace(v.min(), v.max(), bins + 1)
            ax.set_xscale("log")
        else:
            edges = np.linspace(v.min(), v.max() if v.max() > v.min() else v.min() + 1, bins + 1)
        ax.hist(v, **{"bins": edges, "color": _BLUE, **kwargs})
        med = float(np.median(v))
        ax.axvline(med, color=_ORANGE, lw=1.5, ls="--", label=f"median {med:,.0f}")
        ax.legend(fontsize=8, frameon=False)
    ax.set_ylabel("customers")
    return _style(ax, title, xlabel)


def rules_scatter(confidence: Any, lift: Any, support: Any = None, *, title: str = "",
                  max_points: int | None = 2_000, ax: Any = None, **kwargs: Any) -> Any:
    """Association rules as points: confidence against lift, size by support.

    At most ``max_points`` points are drawn (an evenly spaced subset beyond it;
    None draws all), so the chart stays small whatever the number of rules.
    Points come in three sizes, the thirds of support (plain markers, about
    150 bytes each in SVG). Further keyword arguments go to ``Axes.plot``.

    Examples
    --------
    >>> ax = rules_scatter([0.2, 0.5], [3.0, 1.5], [0.01, 0.02])  # doctest: +SKIP
    """
    ax = _axes(ax, (6.0, 3.0))
    c = np.asarray(confidence, dtype=np.float64)
    lf = np.asarray(lift, dtype=np.float64)
    s = None if support is None else np.asarray(support, dtype=np.float64)
    if max_points is not None and c.size > max_points:
        pick = np.linspace(0, c.size - 1, max_points).astype(np.int64)
        c, lf = c[pick], lf[pick]
        s = None if s is None else s[pick]
    if s is None or not s.size:
        size_class = np.zeros(c.size, dtype=np.int64)
    else:
        size_class = np.digitize(s, np.nanquantile(s, [1 / 3, 2 / 3]), right=True)
    for k, ms in enumerate((3.0, 4.5, 6.5)):
        on = size_class == k
        if on.any():
            ax.plot(c[on], lf[on], **{"linestyle": "none", "marker": "o", "markersize": ms,
                                      "alpha": 0.5, "color": _BLUE, "markeredgewidth": 0,
                                      **kwargs})
    ax.axhline(1.0, color=_GREY, lw=1, ls=":")
    _percent_axis(ax, "x")
    if lf.size and np.nanmax(lf) / max(np.nanmin(lf), 1e-9) > 50:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return _style(ax, title, "confidence", "lift")


def hbar_chart(labels: Sequence[Any], values: Any, *, title: str = "", xlabel: str = "",
               percent: bool = False, ax: Any = None, **kwargs: Any) -> Any:
    """Horizontal bars, one per label, the first on top (for ranked lists).

    Further keyword arguments go to ``Axes.barh``.

    Examples
    --------
    >>> ax = hbar_chart(["tea + mug", "tea"], [0.3, 0.2], percent=True)  # doctest: +SKIP
    """
    ax = _axes(ax, (6.5, 0.3 * len(labels) + 1.2))
    v = np.asarray(values, dtype=np.float64)
    pos = np.arange(v.size)
    ax.barh(pos, np.nan_to_num(v), **{"color": _BLUE, **kwargs})
    ax.set_yticks(pos, _short(labels, 28))
    ax.invert_yaxis()
    if percent:
        _percent_axis(ax, "x")
    ax.grid(axis="x", alpha=0.3)
    return _style(ax, title, xlabel)


def _interval_bars(ax: Any, value: Any, low: Any, high: Any) -> None:
    """Error bars from interval bounds over bars drawn at 0..n-1 (missing bounds: none)."""
    v = np.asarray(value, dtype=np.float64)
    lo = np.nan_to_num(v - np.asarray(low, dtype=np.float64))
    hi = np.nan_to_num(np.asarray(high, dtype=np.float64) - v)
    if v.size:
        ax.errorbar(np.arange(v.size), np.nan_to_num(v), yerr=[lo, hi], fmt="none",
                    ecolor=_GREY, capsize=3)


# ---------------------------------------------------------------------- result-level charts
# Every function takes the result, ``title`` (None: a default naming the result)
# and ``ax``; further keyword arguments go to the matplotlib call drawing the data,
# and the result classes' ``plot(ax=None, **kwargs)`` methods delegate here.
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


def plot_ladders(ladders: Any, *, title: str | None = None, ax: Any = None,
                 **kwargs: Any) -> Any:
    """:class:`~upsell.tiers.Ladders`: how many offers of each kind the catalog supports.

    Examples
    --------
    >>> ax = plot_ladders(us.tiers.build_ladders(catalog))  # doctest: +SKIP
    """
    from upsell.tiers.ladders import EDGE_KINDS

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
    return hbar_chart(labels, upsells.score, title="Upsell offers" if title is None else title,
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


# ---------------------------------------------------------------------- rendering
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)


def to_svg(figure: Any, *, salt: str = "upsell") -> str:
    """Render a figure as an inline ``<svg>`` element: text as paths (no fonts needed),
    no XML prolog, ids salted with ``salt`` so several charts can share one page.

    Examples
    --------
    >>> from matplotlib.figure import Figure  # doctest: +SKIP
    >>> to_svg(Figure()).startswith("<svg")  # doctest: +SKIP
    True
    """
    mpl = require("matplotlib", "charts")
    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "path", "svg.hashsalt": salt}):
        figure.savefig(buf, format="svg", metadata={"Date": None})
    return _XML_HEAD.sub("", buf.getvalue(), count=1).strip()
