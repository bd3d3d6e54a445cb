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
from typing import Any

import numpy as np

from upsell._charts import BLUE as _BLUE
from upsell._charts import GREY as _GREY
from upsell._charts import (
    bar_chart,
    grouped_bars,
    hbar_chart,
    histogram,
    line_chart,
    rules_scatter,
    share_bars,
)
from upsell._charts import get_axes as _axes
from upsell._charts import percent_axis as _percent_axis
from upsell._charts import style as _style
from upsell._extras import require
from upsell.bundles.plots import plot_itemsets, plot_rules
from upsell.evaluate.plots import plot_comparison
from upsell.kpi.plots import plot_clv, plot_conversion, plot_kpi, plot_nps
from upsell.segments.plots import plot_clusters, plot_personas, plot_rfm, plot_segments

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

# ---------------------------------------------------------------------- result-level charts
# Every function takes the result, ``title`` (None: a default naming the result)
# and ``ax``; further keyword arguments go to the matplotlib call drawing the data,
# and the result classes' ``plot(ax=None, **kwargs)`` methods delegate here.
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
