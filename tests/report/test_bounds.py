"""The report stays readable whatever the data: bounded marks, top rows with "+ N more",
truncated baskets, "n/a" instead of nan, a page of bounded size."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from upsell import Catalog, Transactions
from upsell.report import Chart, Table, analyse, render_html
from upsell.report import analysis as analysis_mod
from upsell.report._tables import fmt_pct, shorten_list
from upsell.report.analysis import Analysis, Section

MB = 1_000_000


def visible_text(page: str) -> str:
    """The text a reader sees: no SVG, no tags, entities decoded."""
    page = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def no_nan_or_inf(text: str) -> list[str]:
    return re.findall(r"(?<![\w-])-?(?:nan|inf)(?![\w])", text, flags=re.I)


@pytest.fixture(scope="module")
def dense_shop() -> Transactions:
    """Big baskets of product lines bought together: thousands of significant rules."""
    rng = np.random.default_rng(1)
    n_orders, n_lines, per_line = 600, 12, 8
    orders, items, customers, times, prices = [], [], [], [], []
    start = np.datetime64("2024-01-01")
    for o in range(n_orders):
        lines = rng.choice(n_lines, size=3, replace=False)
        basket = [ln * per_line + j for ln in lines for j in range(per_line)
                  if rng.random() < 0.8]
        basket += rng.choice(n_lines * per_line, size=2).tolist()
        basket = sorted(set(basket))
        orders += [o] * len(basket)
        items += [f"SKU{i:03d}" for i in basket]
        customers += [int(o % 150)] * len(basket)
        times += [start + np.timedelta64(int(o * 1.5), "D")] * len(basket)
        prices += [round(1 + i * 0.37, 2) for i in basket]
    names = [f"{'VERY LONG PRODUCT NAME ' * 6}<b>{i}</b>" for i in items]
    return Transactions.from_arrays(order=orders, item=items, customer=customers,
                                    time=np.array(times), price=prices, name=names)


@pytest.fixture(scope="module")
def dense_analysis(dense_shop) -> Analysis:
    return analyse(dense_shop, max_itemsets=20_000, max_eval_customers=100, n_examples=4,
                   source="dense shop")


def test_rules_chart_draws_a_bounded_sample_and_says_so(dense_analysis):
    b = dense_analysis["bundles"]
    assert b.ok, b.note
    n_rules = b.values["n_rules"]
    assert n_rules > analysis_mod.MAX_MARKS  # the data do explode
    (chart,) = b.charts
    assert len(chart.kwargs["confidence"]) == analysis_mod.MAX_MARKS
    assert f"{analysis_mod.MAX_MARKS:,} of {n_rules:,} rules drawn" in chart.note


def test_every_chart_is_bounded(dense_analysis):
    for s in dense_analysis:
        for chart in s.charts:
            for value in chart.kwargs.values():
                if isinstance(value, (np.ndarray, list)) and np.ndim(value) == 1:
                    assert len(value) <= analysis_mod.MAX_MARKS, (s.name, chart.title)


def test_top_rules_table_says_how_many_more(dense_analysis):
    table = dense_analysis["bundles"].tables[0]
    page = table.to_html()
    assert len(table.rows) <= 15
    more = table.total - len(table.rows)
    assert f"+ {more:,} more rules" in page


def test_best_sellers_are_named_and_counted(dense_analysis, dense_shop):
    t = dense_analysis["kpis"].tables[1]
    assert len(t.rows) == 15 and t.total == len(dense_shop.items)
    assert f"+ {len(dense_shop.items) - 15:,} more products" in t.to_html()
    assert "(SKU" in t.rows[0][0]
    orders = [r[1] for r in t.rows]
    assert orders == sorted(orders, reverse=True)


def test_top_rules_are_different_ideas(dense_analysis):
    rows = dense_analysis["bundles"].tables[0].rows
    sets = [frozenset([*r[0].split(" + "), *r[1].split(" + ")]) for r in rows]
    assert len(set(sets)) == len(sets)
    counts: dict[str, int] = {}
    for s in sets:
        for item in s:
            counts[item] = counts.get(item, 0) + 1
    assert max(counts.values()) <= 2


def test_bundle_candidates_share_no_product(dense_analysis):
    t = dense_analysis["bundles"].tables[1]
    seen: set[str] = set()
    for row in t.rows:
        items = set(row[0].split(" + "))
        assert not items & seen
        seen |= items


def test_support_chosen_is_reported(dense_analysis):
    b = dense_analysis["bundles"]
    assert 0 < b.values["min_support"] <= 1
    assert "min support" in b.tables[0].note and "budget of 20,000 itemsets" in b.tables[0].note


def test_long_baskets_are_truncated_and_not_repeated(dense_analysis):
    rows = dense_analysis["offers"].tables[0].rows
    baskets = [r[2] for r in rows if r[2]]
    assert baskets and all(re.search(r"…and \d+ more$", b) for b in baskets)
    # the customer and basket appear once per customer, not on each of its offers
    assert len(baskets) == len({r[0] for r in rows if r[0]})
    assert len({r[0] for r in rows if r[0]}) >= 2


def test_names_are_shown_with_ids(dense_analysis):
    rows = dense_analysis["bundles"].tables[0].rows
    assert rows and re.search(r"VERY LONG PRODUCT NAME .*\(SKU\d{3}\)", rows[0][0])


def test_page_is_bounded_readable_and_escaped(dense_analysis):
    pytest.importorskip("matplotlib")
    page = dense_analysis.to_html()
    assert len(page.encode("utf-8")) <= 5 * MB
    assert "<b>SKU" not in page and "&lt;b&gt;SKU" in page
    text = visible_text(page)
    assert no_nan_or_inf(text) == []
    assert "This section failed" not in page


def test_table_shows_top_rows_and_counts_the_rest():
    t = Table("t", ("a", "share"), tuple((i, i / 100) for i in range(100)), percent=("share",))
    page = t.to_html(max_rows=10)
    assert page.count("<tr>") == 11 and "+ 90 more rows" in page
    assert 'class="scroll"' in page
    t2 = Table("t", ("a",), (("x" * 5000,),))
    assert len(t2.to_html()) < 1000


def test_kpi_that_cannot_be_computed_says_na_and_why():
    kpis = Section("kpis", "Key figures", "ok", values={
        "atv": 12.5, "attach_rate": None,
        "attach_rate_why": "no order holds a product that has attachments",
        "conversion": float("nan"), "upt": float("inf")})
    page = render_html(Analysis(sections=(kpis,)), charts=False)
    text = visible_text(page)
    assert "Attach rate n/a no order holds a product that has attachments" in " ".join(
        text.split())
    assert no_nan_or_inf(text) == []
    assert text.count("n/a") >= 3
    summary = "\n".join(Analysis(sections=(kpis,)).summary())
    assert "nan" not in summary and "attach rate n/a" in summary


def test_attach_rate_without_attachments_is_na(dense_shop):
    cat = Catalog.from_arrays(item=dense_shop.items.ids,
                              price=np.ones(len(dense_shop.items)))
    a = analyse(dense_shop, cat, sections=["kpis"])
    v = a["kpis"].values
    if "attach_rate" in v and v["attach_rate"] is None:
        assert v["attach_rate_why"]
    page = a.to_html(charts=False)
    assert no_nan_or_inf(visible_text(page)) == []


def test_charts_have_captions_and_use_the_width(dense_analysis):
    pytest.importorskip("matplotlib")
    page = dense_analysis.to_html()
    assert "<figcaption>" in page
    assert 'class="charts"' in page and "grid-template-columns" in page


def test_helpers():
    assert shorten_list(["a"] * 80, 4) == "a, a, a, a …and 76 more"
    assert fmt_pct(float("nan")) == "n/a"
    c = Chart("bar_chart", "t", {"labels": ["a"], "values": [1.0]}, note="aggregated")
    assert c.note == "aggregated"


def test_fixed_support_is_raised_to_fit_the_budget(dense_shop):
    a = analyse(dense_shop, sections=["bundles"], min_support=0.001, max_itemsets=3_000)
    b = a["bundles"]
    assert b.ok and b.values["n_itemsets"] <= 3_000
    assert b.values["min_support"] > 0.001


def test_bad_min_support_is_an_error(dense_shop):
    from upsell.exceptions import UpsellDataError

    with pytest.raises(UpsellDataError, match="min_support"):
        analyse(dense_shop, sections=["bundles"], min_support="lots")


@given(n=st.integers(0, 300), max_rows=st.integers(1, 60),
       total_extra=st.integers(0, 10_000),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()))
def test_table_rows_and_more_line(n, max_rows, total_extra, value):
    t = Table("", ("x", "share", "value"), tuple((i, value, value) for i in range(n)),
              percent=("share",), total=n + total_extra, unit="rules")
    page = t.to_html(max_rows=max_rows)
    assert no_nan_or_inf(visible_text(page)) == []
    if n + total_extra == 0:  # no empty table: a sentence says there is nothing
        assert "<table" not in page and "No rules: none in these data." in page
        return
    shown = min(n, max_rows)
    assert page.count("<tr>") == shown + 1
    rest = n + total_extra - shown
    assert (f"+ {rest:,} more rules" in page) == (rest > 0)
    assert no_nan_or_inf(visible_text(page)) == []


@given(names=st.lists(st.text(max_size=20), max_size=200), limit=st.integers(1, 10))
def test_shorten_list_counts_every_name(names, limit):
    text = shorten_list(names, limit)
    rest = len(names) - limit
    assert text.endswith(f"…and {rest:,} more") == (rest > 0)
