"""Notebook display of every public result: to_pandas(), a compact escaped _repr_html_, plot()."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import upsell as us
from upsell import Catalog, Transactions
from upsell._display import MAX_ROWS, html_fields, html_table
from upsell.exceptions import MissingExtraError

EVIL = "<script>alert(1)</script>"
A = f"{EVIL}a"


# ---------------------------------------------------------------------- tiny inputs
@pytest.fixture(scope="module")
def tx() -> Transactions:
    """Three customers and three items whose ids carry markup."""
    order = [1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8]
    item = [A, "b", A, "b", A, "c", "b", A, "c", A, A, "b", "c"]
    cust_of = {1: 0, 4: 0, 7: 0, 2: 1, 5: 1, 8: 1, 3: 2, 6: 2}
    day = {1: "01-05", 2: "01-10", 3: "02-01", 4: "02-15", 5: "03-01", 6: "03-20", 7: "04-02",
           8: "04-20"}
    price = {A: 10.0, "b": 4.0, "c": 2.5}
    return Transactions.from_arrays(
        order=[f"{EVIL}o{o}" for o in order], item=item,
        customer=[f"{EVIL}c{cust_of[o]}" for o in order], price=[price[i] for i in item],
        time=[f"2024-{day[o]}" for o in order])


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_records([
        {"item": A, "name": EVIL, "family": "f", "tier": 1, "price": 10.0, "cost": 6.0},
        {"item": "b", "name": "B", "family": "f", "tier": 2, "price": 14.0, "cost": 7.0},
        {"item": "c", "name": "C", "kind": "accessory", "price": 2.5, "cost": 1.0},
    ])


@pytest.fixture(scope="module")
def shop() -> Any:
    return us.datasets.make_shop(n_customers=120, n_items=60, n_orders=900, random_state=0)


@pytest.fixture(scope="module")
def split(tx: Transactions) -> Any:
    return us.evaluate.temporal_split(tx, at="2024-04-01", drop_unseen_items=False)


def _offers() -> Any:
    cat = Catalog.from_records([{"item": "tea", "price": 4.0, "cost": 2.0},
                                {"item": A, "name": EVIL, "kind": "accessory", "price": 8.0,
                                 "cost": 3.0}])

    class Pairs:
        name = "pairs"

        def candidates(self, request: Any, n: int) -> list[Any]:
            return [us.recommend.Candidate(A, 2.0, detail={"because": ("tea",)})][:n]

    rec = us.recommend.Recommender(catalog=cat, cross_sell=[Pairs()])
    return rec.recommend(basket=["tea"], k=2, moment="cart", at="2024-01-01")


def _fi(tx: Transactions) -> Any:
    return us.bundles.frequent_itemsets(tx, min_support=1)


def _rules(tx: Transactions) -> Any:
    return us.bundles.association_rules(_fi(tx), min_confidence=0.1)


# name -> (build(tx, catalog, shop, split), expected columns (a prefix), markup in the data)
Build = Callable[[Any, Any, Any, Any], Any]
CASES: dict[str, tuple[Build, list[str], bool]] = {
    "DataReport": (lambda t, c, s, sp: us.DataReport(
        rows_read=3, rows_kept=2, dropped={EVIL: 1}, source=EVIL),
        ["action", "reason", "rows"], True),
    "OrderTable": (lambda t, c, s, sp: t.order_table(), ["order", "customer", "time"], True),
    "Shop": (lambda t, c, s, sp: s, ["order"], False),
    "ShopTruth": (lambda t, c, s, sp: s.truth, ["customer", "persona"], False),
    "Itemsets": (lambda t, c, s, sp: _fi(t), ["items", "count", "support"], True),
    "Rules": (lambda t, c, s, sp: _rules(t), ["antecedent", "consequent", "count"], True),
    "BasketRecommendation": (lambda t, c, s, sp: us.bundles.BundleRecommender(
        _rules(t)).recommend(basket=["c"], k=2), ["item", "score", "because"], True),
    "Bundles": (lambda t, c, s, sp: us.bundles.suggest_bundles(_fi(t), c, min_lift=0.0),
                ["items", "count", "support", "lift"], True),
    "SequenceRules": (lambda t, c, s, sp: us.bundles.sequence_rules(
        t, within="365D", min_support=1), ["first", "then", "count"], True),
    "Recommendations": (lambda t, c, s, sp: us.cf.Popular().fit(t).recommend(
        t.customers.ids, k=2, exclude_owned=False), ["customer", "item", "score"], True),
    "RFMResult": (lambda t, c, s, sp: us.segments.rfm(t), ["customer", "recency"], True),
    "SegmentSummary": (lambda t, c, s, sp: us.segments.rfm(t).summary(),
                       ["segment", "customers"], False),
    "CustomerFeatures": (lambda t, c, s, sp: us.segments.customer_features(t),
                         ["customer", "orders"], True),
    "PersonaAssignments": (lambda t, c, s, sp: us.segments.Personas().fit(
        t, catalog=c).predict(), ["customer", "persona"], True),
    "PersonaAssignment": (lambda t, c, s, sp: us.segments.Personas().fit(t, catalog=c).assign(
        at="2024-05-01"), ["persona", "reason"], False),
    "ClusterProfile": (lambda t, c, s, sp: us.segments.Clusters(k=2, random_state=0).fit(
        t).profile_, ["cluster", "label", "size"], False),
    "ClusterAssignments": (lambda t, c, s, sp: us.segments.Clusters(
        k=2, random_state=0).fit(t).predict(), ["customer", "cluster"], True),
    "Strategy": (lambda t, c, s, sp: us.segments.Strategy(kinds=("warranty",), label=EVIL),
                 ["label", "kinds", "flags"], True),
    "OpportunityMatrix": (lambda t, c, s, sp: us.segments.OpportunityMatrix().with_strategy(
        EVIL, cross_sell={"kinds": ["accessory"]}, upsell={"kinds": ["product"]}),
        ["segment", "cross_sell"], True),
    "Ladders": (lambda t, c, s, sp: us.tiers.build_ladders(c), ["base", "target", "kind"],
                True),
    "Upsells": (lambda t, c, s, sp: us.tiers.UpsellRanker().fit(s.transactions, s.catalog).rank(
        item=s.catalog.items.ids[np.nanargmin(np.where(s.catalog.tier == 1, 1.0, np.nan))],
        k=3), ["item", "base", "kind"], False),
    "Reliability": (lambda t, c, s, sp: us.tiers.reliability_table(
        np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.3]), n_bins=2),
        ["bin_low", "bin_high"], False),
    "LogisticFit": (lambda t, c, s, sp: us.tiers.fit_logistic(
        np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])),
        ["feature", "coef"], False),
    "KPIResult": (lambda t, c, s, sp: us.kpi.atv(t, by="month"), ["month", "value"], False),
    "ConversionResult": (lambda t, c, s, sp: us.kpi.conversion(
        {"event": ["presented", "accepted", "presented"], "channel": [EVIL, EVIL, "web"]},
        by="channel"), ["channel", "presented"], True),
    "NPSResult": (lambda t, c, s, sp: us.kpi.nps([10, 3, 9, 8], by=[EVIL, EVIL, "b", "b"]),
                  ["segment", "n", "nps"], True),
    "RFMSummary": (lambda t, c, s, sp: us.kpi.rfm_summary(t, calibration_end="2024-05-01"),
                   ["frequency", "recency"], True),
    "CLVTable": (lambda t, c, s, sp: us.kpi.historic_clv(t), ["orders", "revenue", "value"],
                 True),
    "ABTestResult": (lambda t, c, s, sp: us.kpi.ab_test(
        [10, 12, 11, 13], [14, 15, 13, 16], metric="atv", random_state=0),
        ["metric", "test"], False),
    "Split": (lambda t, c, s, sp: sp, ["customer", "item", "role"], True),
    "Comparison": (lambda t, c, s, sp: us.evaluate.compare(
        {"popular": us.cf.Popular(), EVIL: us.cf.Popular()}, sp, k=2, n_bootstrap=20,
        exclude_owned=False), ["precision", "recall"], True),
    "Offer": (lambda t, c, s, sp: _offers()[0], ["item", "name", "kind"], True),
    "OfferList": (lambda t, c, s, sp: _offers(), ["item", "name", "kind"], True),
    "OfferEvent": (lambda t, c, s, sp: us.recommend.OfferEvent(
        "o1", "presented", 0.0, EVIL, "mug", "cross_sell", "web", "bundles", None),
        ["offer_id", "event"], True),
}

PLOTTED = ["Itemsets", "Rules", "RFMResult", "SegmentSummary", "PersonaAssignments",
           "ClusterProfile", "Ladders", "Upsells", "Reliability", "KPIResult",
           "ConversionResult", "NPSResult", "CLVTable", "Comparison"]


@pytest.fixture(scope="module")
def built(tx: Transactions, catalog: Catalog, shop: Any, split: Any) -> dict[str, Any]:
    return {name: build(tx, catalog, shop, split) for name, (build, _, _) in CASES.items()}


# ---------------------------------------------------------------------- every result
@pytest.mark.parametrize("name", list(CASES))
def test_result_class_is_the_one_named(built: dict[str, Any], name: str) -> None:
    assert type(built[name]).__name__ == name


@pytest.mark.parametrize("name", list(CASES))
def test_to_pandas(built: dict[str, Any], name: str) -> None:
    pytest.importorskip("pandas")
    obj = built[name]
    df = obj.to_pandas()
    columns = [str(c) for c in df.columns]
    expected = CASES[name][1]
    if name in ("RFMSummary", "CLVTable"):  # indexed by customer id
        assert df.index.name == "customer"
    else:
        assert columns[:len(expected)] == expected, columns
    if name in ("Shop", "Split", "Recommendations", "Comparison", "PersonaAssignment",
                "Strategy", "Offer", "OfferEvent", "ABTestResult", "LogisticFit", "DataReport",
                "OpportunityMatrix"):
        assert len(df) >= 1
    else:
        assert len(df) == len(obj)


@pytest.mark.parametrize("name", list(CASES))
def test_repr_html_is_a_compact_escaped_table(built: dict[str, Any], name: str) -> None:
    html = built[name]._repr_html_()
    assert isinstance(html, str)
    assert "<table>" in html and "</table>" in html
    assert "<script" not in html
    assert html.count("<tr>") <= 27
    if CASES[name][2]:
        assert "&lt;script&gt;" in html, html


@pytest.mark.parametrize("name", PLOTTED)
def test_plot_returns_axes(built: dict[str, Any], name: str) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    obj = built[name]
    ax = obj.plot()
    assert isinstance(ax, Axes)
    given = Figure().add_subplot()
    assert obj.plot(ax=given, title="mine") is given
    assert given.get_title(loc="left") == "mine"


def test_plot_passes_style_to_matplotlib(built: dict[str, Any]) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_hex

    ax = built["CLVTable"].plot(color="#ff0000", log=False)
    assert to_hex(ax.patches[0].get_facecolor()) == "#ff0000"
    rules = built["Rules"].plot()
    assert rules.get_xlabel() == "support" and rules.get_ylabel() == "confidence"
    assert len(rules.figure.axes) == 2  # the lift colour bar


def test_plot_without_matplotlib_names_the_extra(built: dict[str, Any],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"upsell\[plots\]"):
        built["KPIResult"].plot()


def test_repr_html_shows_the_first_rows_and_counts_the_rest() -> None:
    tx = Transactions.from_arrays(order=np.arange(30), item=[f"i{k}" for k in range(30)],
                                  price=np.ones(30))
    html = tx.order_table()._repr_html_()
    assert html.count("<tr>") == MAX_ROWS + 1
    assert f"first {MAX_ROWS} of 30 rows" in html


def test_repr_html_needs_neither_pandas_nor_matplotlib() -> None:
    code = (
        "import sys, upsell as us\n"
        "tx = us.Transactions.from_arrays(order=[1, 1, 2], item=['a', 'b', 'a'])\n"
        "fi = us.bundles.frequent_itemsets(tx, min_support=1)\n"
        "html = fi._repr_html_() + us.bundles.association_rules(fi)._repr_html_()\n"
        "assert '<table>' in html\n"
        "assert 'pandas' not in sys.modules and 'matplotlib' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('pandas', 'matplotlib')))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------------- the helper
def test_html_table_escapes_every_part() -> None:
    html = html_table(EVIL, {EVIL: [EVIL, (EVIL, "x")]}, summary=EVIL)
    assert "<script" not in html
    assert html.count("&lt;script&gt;") == 5


def test_html_table_cuts_long_cells_and_aligns_numbers() -> None:
    html = html_table("t", {"text": ["x" * 500], "n": np.array([1.5])})
    assert "x" * 80 not in html and "…" in html
    assert '<td style="text-align:right">1.5</td>' in html


def test_html_fields_lists_one_object() -> None:
    html = html_fields("Thing", {"a": 1, "b": float("nan"), "c": None})
    assert html.count("<tr>") == 4 and html.count("–") == 2
