"""upsell.report.plots: charts from arrays and from result objects, no pyplot state."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import upsell as us
from upsell.report import plots


def test_array_charts_render_to_svg():
    had_pyplot = "matplotlib.pyplot" in sys.modules
    charts = [
        plots.line_chart(np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[D]"), [1, 2]),
        plots.bar_chart(["a", "b"], [0.2, np.nan], percent=True),
        plots.share_bars(["x", "y"], [0.6, 0.4], [0.3, 0.7]),
        plots.grouped_bars(["m1", "m2"], {"recall": [0.1, 0.2], "ndcg": [0.05, 0.1]}),
        plots.histogram(np.r_[np.arange(1, 50.0), 0.0, np.nan], log=True),
        plots.histogram([], log=False),
        plots.rules_scatter([0.1, 0.5], [2.0, 300.0], [0.01, 0.02]),
    ]
    for i, ax in enumerate(charts):
        svg = plots.to_svg(ax.figure, salt=str(i))
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_result_charts(small_shop):
    tx = small_shop.transactions
    assert plots.plot_kpi(us.kpi.atv(tx, by="month")).get_title(loc="left")
    assert plots.plot_kpi(us.kpi.atv(tx, by="channel")).get_title(loc="left")
    assert plots.plot_rfm(us.segments.rfm(tx)).get_title(loc="left")
    assert plots.plot_clv(us.kpi.historic_clv(tx)).get_title(loc="left")
    fi = us.bundles.frequent_itemsets(tx, min_support=0.01, max_len=2)
    assert plots.plot_rules(us.bundles.association_rules(fi, min_confidence=0.05)).get_title(loc="left")


def test_draws_on_a_given_axes():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert plots.bar_chart(["a"], [1.0], ax=ax) is ax


def test_result_objects_plot_themselves(small_shop, full_analysis):
    tx = small_shop.transactions
    assert us.kpi.upt(tx, by="week").plot().get_title(loc="left") == "upt by week"
    assert us.segments.rfm(tx).plot().get_title(loc="left")
    assert us.segments.rfm(tx).summary().plot().get_title(loc="left")
    assert full_analysis["evaluation"].values["comparison"].plot().get_title(loc="left")
    assert full_analysis["clv"].plot().get_title(loc="left") == "12-month CLV per customer"


@pytest.mark.parametrize(("values", "label"), [
    (np.r_[0.05, 0.1, 0.2], "median 0.1"),  # a shop with tiny prices: not "median 0"
    (np.r_[900.0, 1234.5, 5000.0], "median 1,234"), (np.r_[0.00012, 0.00031, 0.0009], "median 0.00031"),
])
def test_histogram_median_label_keeps_its_digits(values, label):
    ax = plots.histogram(values, log=True)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [label]


def test_histogram_marks_a_given_median_and_names_one_it_cannot_draw():
    """The report draws CLVs above a floor but states every customer's median: the chart
    marks that one; 0 (or anything outside the drawn range) is named in the legend only."""
    ax = plots.histogram(np.r_[0.2, 0.3, 0.5, 0.9], log=True, median=0.25)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["median 0.25"]
    assert [ln.get_xdata()[0] for ln in ax.get_lines()] == [0.25]
    ax = plots.histogram(np.r_[0.2, 0.3, 0.5, 0.9], log=True, median=0.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["median 0"]
    assert all(len(ln.get_xdata()) == 0 for ln in ax.get_lines())
    assert ax.get_xlim()[0] > 0


def test_report_clv_chart_marks_the_tables_median(full_analysis):
    sec = full_analysis["clv"]
    (chart,) = sec.charts
    assert chart.kwargs["median"] == sec.values["median_clv"]
