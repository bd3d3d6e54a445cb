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

This module gathers the charts under one name. The ``plot_*`` functions live beside their
domain, in leaf modules that import only numpy and matplotlib (``upsell.bundles.plots``,
``upsell.evaluate.plots``, ``upsell.kpi.plots``, ``upsell.segments.plots``,
``upsell.tiers.plots``), and the array-level charts in ``upsell._charts``, so that nothing
below the report imports it; they are the same functions under both names.

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

from upsell._charts import (
    bar_chart,
    grouped_bars,
    hbar_chart,
    histogram,
    line_chart,
    rules_scatter,
    share_bars,
)
from upsell._extras import require
from upsell.bundles.plots import plot_itemsets, plot_rules
from upsell.evaluate.plots import plot_comparison
from upsell.kpi.plots import plot_clv, plot_conversion, plot_kpi, plot_nps
from upsell.segments.plots import plot_clusters, plot_personas, plot_rfm, plot_segments
from upsell.tiers.plots import plot_ladders, plot_reliability, plot_upsells

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
