"""upsell.report.analysis: every section runs, degrades, or fails alone."""

from __future__ import annotations

import numpy as np
import pytest

from upsell import Transactions
from upsell.exceptions import UpsellDataError
from upsell.report import SECTIONS, Analysis, Section, analyse


def test_every_section_runs_on_the_demo_shop(full_analysis):
    assert [s.name for s in full_analysis] == list(SECTIONS)
    bad = {s.name: s.note for s in full_analysis if not s.ok}
    assert bad == {}
    kp = full_analysis["kpis"].values
    assert kp["atv"] > 0 and kp["upt"] >= 1 and 0 <= kp["attach_rate"] <= 1
    assert kp["nps"] == pytest.approx(100 * (4 - 1) / 6)
    assert 0 <= kp["conversion"] <= 1 and kp["conversion_is_backtest"]
    assert full_analysis["clv"].values["mean_clv"] > 0
    ev = full_analysis["evaluation"].values
    assert ev["comparison"].baseline == "popular"
    assert 0 <= full_analysis["ladders"].values["take_up"] <= 1
    assert len(full_analysis["offers"].tables[0]) > 0


def test_the_persona_table_counts_the_weak_fits(small_shop, evil_catalog, full_analysis):
    """Customers whose best type scores below 0.5 are counted per type, and the chart's note
    says how many fit no type well."""
    from upsell.segments import Personas

    seg = full_analysis["segments"]
    table = seg.tables[0]
    assert table.columns[:3] == ("segment", "customers", "weak fit")
    res = Personas().fit(small_shop.transactions, evil_catalog).assignments_
    weak = np.asarray(res.scores).max(axis=1) < 0.5
    assert weak.any() and not weak.all()
    assert {row[0]: row[2] for row in table.rows} == {
        p: int(np.sum(weak & (res.persona == p))) for p in np.unique(res.persona)}
    assert f"{int(weak.sum()):,} customers" in seg.charts[0].note


def test_sections_record_time_and_memory(full_analysis):
    for s in full_analysis:
        assert s.seconds >= 0 and s.peak_mb > 0


def test_summary_and_tables(full_analysis):
    text = "\n".join(full_analysis.summary())
    assert "ATV" in text and "Best recommender" in text
    assert full_analysis.to_pandas().shape[0] == len(SECTIONS)
    assert full_analysis["bundles"].to_pandas().columns[0] == "if bought"
    assert "<table>" in full_analysis._repr_html_()
    assert "<b>" in full_analysis["segments"]._repr_html_()


def test_quantity_breaks_show_without_a_catalog():
    """A shop without a catalog whose prices drop with volume: the ladders section shows its
    quantity breaks (and says why the ladders are left out), the key figures count them."""
    from upsell.report.html import render_html

    rng = np.random.default_rng(0)
    n = 400
    item = rng.choice(["mug", "tin", "tea"], n)
    qty = rng.choice([1, 2, 4, 6, 12, 24, 32, 48], n)
    price = np.where((item == "mug") & (qty >= 24), 2.55,
                     np.where(item == "mug", 2.95, np.where(item == "tin", 4.95, 1.25)))
    order = np.arange(n) // 2
    tx = Transactions.from_arrays(
        order=order, item=item, quantity=qty, price=price,
        customer=[f"c{o % 37}" for o in order],
        time=[str(np.datetime64("2024-01-01") + int(o)) for o in order])
    a = analyse(tx, sections=["kpis", "ladders"])
    lad = a["ladders"]
    assert lad.ok and "upgrade ladders need a product catalog" in lad.note
    table = lad.tables[0]
    assert table.title.startswith("Quantity breaks") and len(table.rows) == 1
    row = dict(zip(table.columns, table.rows[0], strict=True))
    assert row["product"].startswith("mug") and row["break"] == "24+ at 2.55"
    assert row["unit price"] == 2.95 and abs(row["saving"] - (1 - 2.55 / 2.95)) < 1e-9
    page = render_html(a)
    assert "Quantity breaks" in page and "24+ at 2.55" in page


def test_no_catalog_leaves_out_tier_sections(small_shop):
    a = analyse(small_shop.transactions, sections=["kpis", "ladders", "data"])
    assert a["ladders"].status == "skipped" and "catalog" in a["ladders"].note
    assert "attach_rate" not in a["kpis"].values
    assert "No catalog" in a["data"].note


def test_no_customer_column_leaves_out_cf_and_segments():
    rng = np.random.default_rng(0)
    n = 600
    tx = Transactions.from_arrays(order=rng.integers(0, 150, n), item=rng.integers(0, 12, n),
                                  price=rng.uniform(1, 9, n).round(2))
    a = analyse(tx)
    status = {s.name: s.status for s in a}
    for name in ("segments", "evaluation", "clv", "offers", "atv_over_time", "ladders"):
        assert status[name] == "skipped", name
    assert status["kpis"] == status["bundles"] == status["data"] == "ok"
    assert "customer" in a["segments"].note


def test_no_prices_no_revenue_and_no_type_from_absent_evidence(small_shop):
    """Without prices (Instacart) a customer's spend and discounts are unknown: the segment
    tables have no revenue columns, the chart no revenue bars, and no customer is called
    price-sensitive or premium from features every customer shares (they tied at 0.5)."""
    tx = small_shop.transactions
    k = tx.customer >= 0
    bare = Transactions.from_arrays(order=tx.orders.decode(tx.order[k]),
                                    item=tx.items.decode(tx.item[k]),
                                    customer=tx.customers.decode(tx.customer[k]), time=tx.time[k])
    a = analyse(bare, sections=["segments", "opportunities"])
    seg = a["segments"]
    assert seg.status == "ok" and seg.tables[0].columns == (
        "segment", "customers", "weak fit", "share of customers")
    assert {row[0] for row in seg.tables[0].rows} <= {"new", "frequent"}
    assert seg.charts[0].kwargs["revenue_share"] is None and "no prices" in seg.charts[0].note
    assert "share of revenue" not in a["opportunities"].tables[0].columns
    assert "Customers by type" in a.to_html()  # the chart draws the customers' bars alone


def test_a_failing_section_is_reported_not_raised(small_shop, monkeypatch):
    from upsell.report import analysis as mod

    def boom(ctx):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(mod._RUNNERS, "bundles", boom)
    a = analyse(small_shop.transactions, small_shop.catalog, sections=["bundles", "kpis"])
    assert a["bundles"].status == "failed" and "kaboom" in a["bundles"].note
    assert a["kpis"].ok


def test_data_a_part_refuses_leave_the_section_out():
    rng = np.random.default_rng(0)
    one_day = Transactions.from_arrays(
        order=np.repeat(np.arange(100), 3), item=rng.integers(0, 10, 300),
        customer=np.repeat(rng.integers(0, 20, 100), 3), price=np.ones(300),
        time=np.full(300, np.datetime64("2024-01-01")))
    a = analyse(one_day, sections=["evaluation", "kpis"])
    assert a["evaluation"].status == "skipped"
    # the section says why in the data's terms (all lines at one time: nobody bought before)
    assert "had bought before it" in a["evaluation"].note
    assert a["kpis"].ok


def test_unknown_section_is_an_error(small_shop):
    with pytest.raises(UpsellDataError, match="sections"):
        analyse(small_shop.transactions, sections=["nope"])
    with pytest.raises(UpsellDataError, match="Transactions"):
        analyse("orders.csv")  # type: ignore[arg-type]


def test_progress_callback_sees_every_section(small_shop):
    seen: list[str] = []
    analyse(small_shop.transactions, sections=["data", "kpis"], progress=seen.append)
    assert seen == ["data", "kpis"]


def test_section_lookup():
    a = Analysis(sections=(Section("data", "Data", "ok"),))
    assert "data" in a and "kpis" not in a and len(a) == 1
    with pytest.raises(KeyError):
        a["kpis"]


def test_a_ladder_reads_one_step_per_tier_each_dearer():
    from upsell.report._baskets import _ladder_text

    # tiers inferred from price bands put several items on one tier: one step per tier,
    # its most-bought item, so every arrow is a step up
    tier = np.array([1, 1, 2, 2, 3, 4, 5, 6], dtype=float)
    price = np.array([1.0, 1.0, 2.0, 2.1, 3.0, 4.0, 5.0, 6.0])
    bought = np.array([5, 9, 1, 7, 1, 1, 1, 1])
    names = np.array([f"item{i}" for i in range(8)])
    text = _ladder_text(np.arange(8), tier, price, bought, names, lambda v: f"{v:.2f}")
    assert text == ("tier 1: item1 (1.00) → tier 2: item3 (2.10) → tier 3: item4 (3.00) → "
                    "tier 4: item5 (4.00) (+2 tiers)")
    two = _ladder_text(np.array([0, 2]), tier, price, bought, names, lambda v: f"{v:.2f}")
    assert two == "tier 1: item0 (1.00) → tier 2: item2 (2.00)"
    # long names: fewer steps, never a cell cut mid-name
    long = np.array([f"{'VERY LONG PRODUCT NAME ' * 3}{i}" for i in range(8)])
    text = _ladder_text(np.arange(8), tier, price, bought, long, lambda v: f"{v:.2f}", limit=240)
    assert len(text) <= 240 and text.endswith(" tiers)") and "…" not in text
    assert text.count("→") == 1 and text.endswith("(+4 tiers)")  # 2 of 6 tiers fit


def test_order_lines_with_a_profit_column_give_costs_and_the_clv_margin(small_shop):
    # a Superstore-style export: a line's revenue and profit, no catalog
    tx0 = small_shop.transactions
    price, q = tx0.price, tx0.quantity
    cost = small_shop.catalog.align(tx0.items).cost[tx0.item]
    tx = Transactions.from_arrays(
        order=tx0.orders.decode(tx0.order), item=tx0.items.decode(tx0.item),
        customer=[None if c < 0 else int(c) for c in tx0.customer.tolist()],
        time=tx0.time, quantity=q,
        value=price * q, profit=(price - cost) * q)
    assert np.allclose(tx.item_costs(), small_shop.catalog.align(tx.items).cost, equal_nan=True)
    a = analyse(tx, sections=["data", "clv"])
    assert "names, prices and costs come from the order lines" not in a["data"].note
    assert "prices and costs come from the order lines" in a["data"].note
    rows = dict(a["data"].tables[0].rows)
    assert rows["unit costs"].startswith("from the order lines (median per item)")
    clv_rows = dict(a["clv"].tables[0].rows) if a["clv"].tables else {}
    expected = 1 - float(np.sum(cost * q) / np.sum(price * q))
    assert abs(float(clv_rows["margin rate used"]) - expected) < 1e-6


def test_customer_ids_that_are_email_addresses_are_masked_in_the_offers(small_shop):
    # Shopify's order export names its customers by e-mail: the report is shared wider
    tx0 = small_shop.transactions
    emails = [None if c < 0 else f"customer.{c}@shop-example.com" for c in tx0.customer.tolist()]
    tx = Transactions.from_arrays(
        order=tx0.orders.decode(tx0.order), item=tx0.items.decode(tx0.item), customer=emails,
        time=tx0.time, quantity=tx0.quantity, price=tx0.price)
    a = analyse(tx, sections=["offers"])
    shown = [r[0] for r in a["offers"].tables[0].rows if r[0]]
    assert shown and all(s.startswith("c***@shop-example.com") for s in shown)
    assert len(set(shown)) == len(shown) > 1  # masked alike, numbered apart: (1), (2), ...
    assert "shown masked" in a["offers"].tables[0].note
    assert not any("customer." in str(c) for r in a["offers"].tables[0].rows for c in r)


def test_an_example_customer_without_an_offer_is_told_why():
    """A customer who bought every product gets "no offer", and the cue column says why
    (the offer list's note), where it was blank."""
    rng = np.random.default_rng(0)
    products = list("abcdef")
    orders, items, custs = [], [], []
    for c in range(60):
        for o in range(2):
            basket = (products[3 * o:3 * o + 3] if c % 2 else  # one in two own all six
                      list(rng.choice(products, size=2, replace=False)))
            orders += [f"{c}-{o}"] * len(basket)
            items += basket
            custs += [f"u{c}"] * len(basket)
    times = np.datetime64("2024-01-01") + np.arange(len(orders)).astype("timedelta64[h]")
    tx = Transactions.from_arrays(order=orders, item=items, customer=custs, time=times,
                                  price=np.ones(len(orders)))
    section = analyse(tx, sections=["offers"])["offers"]
    rows = section.tables[0].rows
    none = [r for r in rows if r[3] == "no offer"]
    assert none and all("owns 6 of the 6 items" in r[5] for r in none), rows
    assert any(r[3] not in ("", "no offer") for r in rows)
