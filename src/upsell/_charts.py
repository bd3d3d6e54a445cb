"""Chart primitives shared by the plot functions of every package (matplotlib, the ``plots`` extra).

Library-wide internal module: the array-level charts (also public as
:mod:`upsell.report.plots` ``line_chart``, ``bar_chart``, ...) and the styling helpers the
result-level ``plot_*`` functions beside each domain (``upsell.bundles.plots``, ...) draw with.
It imports only numpy, and matplotlib when a chart is drawn.

Every function draws on ``ax`` when given and returns the Axes. Without ``ax`` it makes a new
figure: through pyplot when pyplot is already imported, otherwise as a bare
:class:`matplotlib.figure.Figure` that touches no global state.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from upsell._extras import require

__all__ = [
    "BLUE",
    "GREY",
    "ORANGE",
    "PALETTE",
    "bar_chart",
    "get_axes",
    "grouped_bars",
    "hbar_chart",
    "histogram",
    "interval_bars",
    "line_chart",
    "percent_axis",
    "rules_scatter",
    "share_bars",
    "short_labels",
    "style",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def matplotlib_keywords(func: _F) -> _F:
    """Extra keywords go to matplotlib; one it does not know is a TypeError naming ``func``.

    matplotlib raises ``AttributeError: Rectangle.set() got an unexpected keyword
    argument 'colr'``, which names neither the call nor the right exception class.
    """
    own = set(inspect.signature(func).parameters)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AttributeError as exc:
            if "unexpected keyword argument" not in str(exc):
                raise
            raise TypeError(f"{func.__name__}() passes extra keywords to matplotlib, which "
                            f"refused one: {exc}") from None
        except (TypeError, ValueError) as exc:
            # a value matplotlib cannot use for a keyword it knows (``ec=1``: "object of
            # type 'int' has no len()"): name the call and the keywords passed through
            extra = {k: v for k, v in kwargs.items() if k not in own}
            if not extra or not _raised_in_matplotlib(exc):
                raise
            from upsell.exceptions import UpsellDataError

            given = ", ".join(f"{k}={v!r}" for k, v in extra.items())
            raise UpsellDataError(f"{func.__name__}() passes extra keywords to matplotlib, "
                                  f"which refused a value ({given}): {exc}") from None
    return cast(_F, wrapper)


def _raised_in_matplotlib(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside matplotlib's code (or code matplotlib called, such
    as numpy), not in ours before it."""
    tb = exc.__traceback__
    while tb is not None:
        if f"{os.sep}matplotlib{os.sep}" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


BLUE, ORANGE, GREY = "#2f6db5", "#e08a2c", "#8a8f98"
PALETTE = (BLUE, ORANGE, "#3a9b6a", "#b5473a", "#7b5ea7", GREY)


def get_axes(ax: Any, figsize: tuple[float, float]) -> Any:
    """``ax`` when given, else the Axes of a new figure of ``figsize`` inches."""
    require("matplotlib", "plots")
    if ax is not None:
        from matplotlib.axes import Axes

        if not isinstance(ax, Axes):
            from upsell.exceptions import UpsellDataError

            raise UpsellDataError(f"`ax` must be a matplotlib Axes (or None for a new figure); "
                                  f"got {type(ax).__name__}")
        return ax
    if "matplotlib.pyplot" in sys.modules:
        plt = sys.modules["matplotlib.pyplot"]
        _, new = plt.subplots(figsize=figsize)
        return new
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def style(ax: Any, title: str, xlabel: str = "", ylabel: str = "") -> Any:
    """The house style: title on the left, labels, no top/right spines, small ticks."""
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


def percent_axis(ax: Any, axis: str = "y") -> None:
    """Format the ``axis`` ("x" or "y") ticks as percentages of 1."""
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))


def short_labels(labels: Sequence[Any], width: int = 18) -> list[str]:
    """Labels as strings cut to ``width`` characters with an ellipsis."""
    out = []
    for x in labels:
        s = str(x)
        out.append(s if len(s) <= width else s[:width - 1] + "…")
    return out


# ---------------------------------------------------------------------- array-level charts
@matplotlib_keywords
def line_chart(x: Any, y: Any, *, title: str = "", xlabel: str = "", ylabel: str = "",
               ax: Any = None, **kwargs: Any) -> Any:
    """A line over time (or any ordered x), with markers when there are few points.

    Further keyword arguments go to :meth:`matplotlib.axes.Axes.plot` (``color``, ...).

    Examples
    --------
    >>> ax = line_chart([1, 2, 3], [2.0, 3.0, 2.5], title="ATV")  # doctest: +SKIP
    """
    ax = get_axes(ax, (7.0, 2.8))
    xv = np.asarray(x)
    yv = np.asarray(y, dtype=np.float64)
    ax.plot(xv, yv, **{"color": BLUE, "linewidth": 1.8, "markersize": 3,
                       "marker": "o" if yv.size <= 40 else None, **kwargs})
    if np.issubdtype(xv.dtype, np.datetime64):
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        loc = AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))
    ax.grid(axis="y", alpha=0.3)
    return style(ax, title, xlabel, ylabel)


@matplotlib_keywords
def bar_chart(labels: Sequence[Any], values: Any, *, title: str = "", ylabel: str = "",
              percent: bool = False, ax: Any = None, **kwargs: Any) -> Any:
    """Vertical bars, one per label; further keyword arguments go to ``Axes.bar``.

    Examples
    --------
    >>> ax = bar_chart(["a", "b"], [0.2, 0.5], percent=True)  # doctest: +SKIP
    """
    ax = get_axes(ax, (6.0, 2.8))
    v = np.asarray(values, dtype=np.float64)
    pos = np.arange(v.size)
    ax.bar(pos, np.nan_to_num(v), **{"color": BLUE, **kwargs})
    ax.set_xticks(pos, short_labels(labels), rotation=0 if v.size <= 6 else 30,
                  ha="center" if v.size <= 6 else "right")
    if percent:
        percent_axis(ax)
    ax.grid(axis="y", alpha=0.3)
    return style(ax, title, "", ylabel)


@matplotlib_keywords
def share_bars(labels: Sequence[Any], customer_share: Any, revenue_share: Any, *,
               title: str = "", ax: Any = None, **kwargs: Any) -> Any:
    """Horizontal paired bars: each segment's share of customers and share of revenue
    (``revenue_share=None``, data without prices: the customers' bars alone).

    Further keyword arguments go to both ``Axes.barh`` calls.

    Examples
    --------
    >>> ax = share_bars(["new", "premium"], [0.7, 0.3], [0.2, 0.8])  # doctest: +SKIP
    """
    n = len(labels)
    ax = get_axes(ax, (6.5, 0.45 * n + 1.2))
    pos = np.arange(n)
    both = revenue_share is not None
    ax.barh(pos - 0.2 * both, np.nan_to_num(np.asarray(customer_share, dtype=float)),
            **{"height": 0.4 + 0.2 * (not both), "color": GREY, "label": "customers",
               **kwargs})
    if both:
        ax.barh(pos + 0.2, np.nan_to_num(np.asarray(revenue_share, dtype=float)),
                **{"height": 0.4, "color": BLUE, "label": "revenue", **kwargs})
    ax.set_yticks(pos, short_labels(labels, 22))
    ax.invert_yaxis()
    percent_axis(ax, "x")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return style(ax, title)


@matplotlib_keywords
def grouped_bars(groups: Sequence[Any], series: Mapping[str, Any], *, title: str = "",
                 ylabel: str = "", ax: Any = None, **kwargs: Any) -> Any:
    """Bars grouped by series (e.g. metrics) with one bar per group (e.g. model).

    Further keyword arguments go to every ``Axes.bar`` call.

    Examples
    --------
    >>> ax = grouped_bars(["popular", "als"], {"recall": [0.1, 0.2]})  # doctest: +SKIP
    """
    ax = get_axes(ax, (7.0, 2.8))
    names = list(series)
    n_g = len(groups)
    width = 0.8 / max(n_g, 1)
    pos = np.arange(len(names))
    for gi, g in enumerate(groups):
        vals = [float(np.asarray(series[m], dtype=float)[gi]) for m in names]
        ax.bar(pos + (gi - (n_g - 1) / 2) * width, np.nan_to_num(vals),
               **{"width": width, "color": PALETTE[gi % len(PALETTE)], "label": str(g),
                  **kwargs})
    ax.set_xticks(pos, names)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return style(ax, title, "", ylabel)


@matplotlib_keywords
def histogram(values: Any, *, title: str = "", xlabel: str = "", log: bool = False,
              bins: int = 40, ax: Any = None, median: float | None = None,
              **kwargs: Any) -> Any:
    """Distribution of values (e.g. CLV per customer); ``log`` uses log-spaced bins.

    Further keyword arguments go to ``Axes.hist``.

    Non-finite values are left out; with ``log``, so are values <= 0. ``median``: the
    median to mark, when ``values`` are only the drawn part of a larger set (a report
    leaves near-zero CLVs out of a log axis but states the median of every customer);
    a median outside the drawn range is named in the legend only. Default: the median of
    the values drawn.

    Examples
    --------
    >>> ax = histogram([1.0, 2.0, 2.5, 10.0], log=True)  # doctest: +SKIP
    """
    ax = get_axes(ax, (6.5, 2.8))
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
        ax.hist(v, **{"bins": edges, "color": BLUE, **kwargs})
        med = float(np.median(v)) if median is None else float(median)
        if v.min() <= med <= v.max():
            ax.axvline(med, color=ORANGE, lw=1.5, ls="--", label=f"median {_short(med)}")
        else:  # e.g. 0 on a log axis: named, not drawn
            ax.plot([], [], color=ORANGE, lw=1.5, ls="--", label=f"median {_short(med)}")
        ax.legend(fontsize=8, frameon=False)
    ax.set_ylabel("customers")
    return style(ax, title, xlabel)


def _short(value: float) -> str:
    """A value for a chart label: whole above 100 ("1,235"), else 3 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


@matplotlib_keywords
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
    ax = get_axes(ax, (6.0, 3.0))
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
                                      "alpha": 0.5, "color": BLUE, "markeredgewidth": 0,
                                      **kwargs})
    ax.axhline(1.0, color=GREY, lw=1, ls=":")
    percent_axis(ax, "x")
    if lf.size and np.nanmax(lf) / max(np.nanmin(lf), 1e-9) > 50:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return style(ax, title, "confidence", "lift")


@matplotlib_keywords
def hbar_chart(labels: Sequence[Any], values: Any, *, title: str = "", xlabel: str = "",
               percent: bool = False, ax: Any = None, **kwargs: Any) -> Any:
    """Horizontal bars, one per label, the first on top (for ranked lists).

    Further keyword arguments go to ``Axes.barh``.

    Examples
    --------
    >>> ax = hbar_chart(["tea + mug", "tea"], [0.3, 0.2], percent=True)  # doctest: +SKIP
    """
    ax = get_axes(ax, (6.5, 0.3 * len(labels) + 1.2))
    v = np.asarray(values, dtype=np.float64)
    pos = np.arange(v.size)
    ax.barh(pos, np.nan_to_num(v), **{"color": BLUE, **kwargs})
    ax.set_yticks(pos, short_labels(labels, 28))
    ax.invert_yaxis()
    if percent:
        percent_axis(ax, "x")
    ax.grid(axis="x", alpha=0.3)
    return style(ax, title, xlabel)


def interval_bars(ax: Any, value: Any, low: Any, high: Any) -> None:
    """Error bars from interval bounds over bars drawn at 0..n-1 (missing bounds: none)."""
    v = np.asarray(value, dtype=np.float64)
    lo = np.nan_to_num(v - np.asarray(low, dtype=np.float64))
    hi = np.nan_to_num(np.asarray(high, dtype=np.float64) - v)
    if v.size:
        ax.errorbar(np.arange(v.size), np.nan_to_num(v), yerr=[lo, hi], fmt="none",
                    ecolor=GREY, capsize=3)
