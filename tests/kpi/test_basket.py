"""Basket KPIs: hand-computed cases, groupings, row-order invariance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Catalog, Transactions
from upsell.exceptions import UpsellDataError
from upsell.kpi import attach_rate, atv, cross_sell_rate, revenue_per_order, upsell_rate, upt

CAT = Catalog.from_records([
    {"item": "P1", "family": "phone", "tier": 1, "category": "phones"},
    {"item": "P2", "family": "phone", "tier": 2, "category": "phones"},
    {"item": "L1", "family": "laptop", "tier": 1, "category": "computers"},
    {"item": "C1", "kind": "accessory", "attaches_to": "phone", "category": "cases"},
    {"item": "W1", "kind": "warranty", "attaches_to": "laptop", "category": "services"},
])


def _tx(**kw) -> Transactions:
    return Transactions.from_arrays(
        order=["o1", "o1", "o2", "o2", "o3", "o4", "o5", "o5"],
        item=["P1", "C1", "L1", "W1", "P2", "C1", "L1", "P2"],
        customer=["ann", "ann", "bob", "bob", "ann", "cy", "bob", "bob"],
        quantity=[1, 2, 1, 1, 1, 1, 1, 1],
        price=[300.0, 20.0, 900.0, 99.0, 450.0, 20.0, 900.0, 450.0],
        time=["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-02", "2024-01-09",
              "2024-02-01", "2024-02-03", "2024-02-03"],
        channel=["web", "web", "app", "app", "web", "store", "app", "app"], **kw)


def test_atv_upt_by_hand():
    tx = _tx()
    assert float(atv(tx)) == pytest.approx((340 + 999 + 450 + 20 + 1350) / 5)
    assert float(upt(tx)) == pytest.approx(9 / 5)
    r = revenue_per_order(tx)
    assert r.metric == "revenue_per_order" and float(r) == float(atv(tx))


def test_groupings():
    tx = _tx()
    d = atv(tx, by="day")
    assert d.groups.dtype.kind == "M" and len(d) == 5
    w = upt(tx, by="week")
    # weeks start on Monday: 2024-01-01 was a Monday
    assert [str(g) for g in w.groups] == ["2024-01-01", "2024-01-08", "2024-01-29"]
    assert w.denominator.tolist() == [2.0, 1.0, 2.0]
    m = atv(tx, by="month")
    assert [str(g) for g in m.groups] == ["2024-01", "2024-02"]
    assert m.numerator.tolist() == [340 + 999 + 450, 20 + 1350]
    c = atv(tx, by="channel")
    assert c.groups.tolist() == ["app", "store", "web"]
    assert c.value.tolist() == [(999 + 1350) / 2, 20.0, (340 + 450) / 2]
    s = atv(tx, by="segment", segments={"ann": "premium", "bob": "premium"})  # cy unlabelled
    assert s.groups.tolist() == ["premium"] and s.denominator.tolist() == [4.0]
    s2 = upt(tx, by="segment", segments=["a", "b", "a"])  # aligned with tx.customers
    assert s2.groups.tolist() == ["a", "b"] and s2.denominator.tolist() == [3.0, 2.0]
    df = s2.to_pandas()
    assert df.columns.tolist() == ["segment", "value", "numerator", "denominator"]


def test_grouping_errors():
    tx = _tx()
    with pytest.raises(UpsellDataError, match="`by` must be one of"):
        atv(tx, by="year")
    with pytest.raises(UpsellDataError, match="segments"):
        atv(tx, by="segment")
    with pytest.raises(UpsellDataError, match="channel"):
        atv(Transactions.from_arrays(order=[1], item=["a"], price=[1.0]), by="channel")
    with pytest.raises(UpsellDataError, match="groups"):
        float(atv(tx, by="day"))


def test_attach_rate_by_hand():
    r = attach_rate(_tx(), CAT)
    # primaries: o1 (P1), o2 (L1), o3 (P2), o5 (L1, P2); attached: o1 (C1->phone), o2 (W1->laptop)
    assert r.numerator.tolist() == [2.0] and r.denominator.tolist() == [4.0]
    # an accessory of another family does not count
    tx = Transactions.from_arrays(order=[1, 1], item=["L1", "C1"])
    assert float(attach_rate(tx, CAT)) == 0.0


def test_cross_sell_and_upsell_by_hand():
    tx = _tx()
    cs = cross_sell_rate(tx, CAT)
    # o1 phones+cases, o2 computers+services, o5 computers+phones -> 3 of 5
    assert float(cs) == pytest.approx(3 / 5)
    assert float(cross_sell_rate(tx)) == pytest.approx(3 / 5)   # multi-item orders
    assert float(cross_sell_rate(tx, CAT, level="family")) == pytest.approx(3 / 5)
    up = upsell_rate(tx, CAT)
    # ann: P1 (o1) then P2 (o3) -> upsell; bob: L1 (o2) then L1 (o5) -> opportunity, no upsell
    assert up.numerator.tolist() == [1.0] and up.denominator.tolist() == [2.0]


def test_returns_are_netted_as_the_report_says():
    tx = Transactions.from_arrays(order=["o1", "o1", "r1"], item=["a", "b", "b"],
                                  customer=["x", "x", "x"], quantity=[1, 2, -1],
                                  price=[10.0, 5.0, 5.0])
    assert float(atv(tx)) == 15.0 and float(upt(tx)) == 2.0
    kept = Transactions.from_arrays(order=["o1", "o1", "r1"], item=["a", "b", "b"],
                                    customer=["x", "x", "x"], quantity=[1, 2, -1],
                                    price=[10.0, 5.0, 5.0], returns="keep")
    assert float(atv(kept)) == pytest.approx((20 - 5) / 2)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40))
def test_kpis_invariant_to_row_order(seed, n):
    rng = np.random.default_rng(seed)
    items = np.array(["P1", "P2", "L1", "C1", "W1"])
    order = rng.integers(0, max(2, n // 3), n)
    cols = {
        "order": order, "item": items[rng.integers(0, 5, n)],
        "customer": (order % 4).astype(str), "quantity": rng.integers(1, 4, n),
        "price": rng.integers(1, 50, n).astype(float),
        "time": (np.datetime64("2024-01-01") + order.astype("timedelta64[D]")).astype(str),
        "channel": np.array(["web", "app"])[order % 2],
    }
    perm = rng.permutation(n)
    a = Transactions.from_arrays(**cols)
    b = Transactions.from_arrays(**{k: v[perm] for k, v in cols.items()})
    for f, kw in ((atv, {"by": "week"}), (upt, {"by": "channel"}), (attach_rate, {}),
                  (cross_sell_rate, {}), (upsell_rate, {"by": "month"})):
        args = (CAT,) if f in (attach_rate, upsell_rate) else ()
        ra, rb = f(a, *args, **kw), f(b, *args, **kw)
        np.testing.assert_array_equal(ra.groups, rb.groups)
        np.testing.assert_allclose(ra.numerator, rb.numerator)
        np.testing.assert_allclose(ra.denominator, rb.denominator)


# ---------------------------------------------------------------------------- n/a, never a silent 0
NO_KINDS = Catalog.from_records([{"item": i, "family": "f", "tier": 1}
                                 for i in ("P1", "P2", "L1", "C1", "W1")])
NOTHING = Catalog.from_records([{"item": i} for i in ("P1", "P2", "L1", "C1", "W1")])
NO_MATCH = Catalog.from_records([
    {"item": "P1", "family": "phone"}, {"item": "C1", "kind": "accessory",
                                        "attaches_to": "laptop"}])


@pytest.mark.parametrize("catalog, kpi, why", [
    (NO_KINDS, attach_rate, "no item as an attachment"),
    (NOTHING, attach_rate, "no item as a primary product"),
    (NO_MATCH, attach_rate, "names the family of a primary"),
    (NO_KINDS, upsell_rate, "more than one tier"),
    (NOTHING, upsell_rate, "no item a tier"),
])
def test_a_kpi_the_catalog_cannot_express_is_nan_with_a_reason(catalog, kpi, why):
    for by in (None, "month"):
        r = kpi(_tx(), catalog, by=by)
        assert np.isnan(r.value).all() and not r.defined.any()
        assert r.note.startswith(f"{r.metric} is n/a: ") and why in r.note


def test_defined_kpis_have_no_note_and_real_zeros_stay_zero():
    for kpi in (attach_rate, upsell_rate):
        r = kpi(_tx(), CAT)
        assert r.note == "" and r.defined.all()
    # laptops with warranties exist in the catalog, this order took none: a real 0
    tx = Transactions.from_arrays(order=[1, 1], item=["L1", "C1"])
    r = attach_rate(tx, CAT)
    assert float(r) == 0.0 and r.note == ""


def test_empty_groups_are_nan_and_counted_in_the_note():
    r = upsell_rate(_tx(), CAT, by="day")
    assert int(np.isnan(r.value).sum()) == 3
    assert "n/a for 3 of 5 groups" in r.note and "no upsell opportunity" in r.note
    r = attach_rate(Transactions.from_arrays(order=[1], item=["C1"]), CAT)
    assert np.isnan(r.value).all() and "no order holds a primary product" in r.note


def test_make_shop_rates_are_defined():
    from upsell.datasets import make_shop

    shop = make_shop(n_customers=300, n_items=60, n_orders=1500, random_state=0)
    for kpi in (attach_rate, upsell_rate):
        r = kpi(shop.transactions, shop.catalog)
        assert r.defined.all() and 0 < float(r) < 1 and r.note == ""


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.sampled_from(["P1", "P2", "L1", "C1", "W1"]),
                          st.sampled_from(["a", "b"])),
                min_size=1, max_size=25),
       st.sampled_from([CAT, NO_KINDS, NOTHING, NO_MATCH]), st.sampled_from([None, "month"]))
def test_property_nan_if_and_only_if_explained(lines, catalog, by):
    # an order is one customer's, on one day
    tx = Transactions.from_arrays(
        order=[f"{c}{o}" for o, _, c in lines], item=[i for _, i, _ in lines],
        customer=[c for *_, c in lines],
        time=[np.datetime64("2024-01-01") + np.timedelta64(o, "D") for o, *_ in lines])
    for kpi in (attach_rate, upsell_rate):
        r = kpi(tx, catalog, by=by)
        assert (r.note != "") == bool(np.isnan(r.value).any())
        assert np.all(np.isnan(r.value) | ((r.value >= 0) & (r.value <= 1)))


def test_segments_read_by_the_shared_reader():
    """Every form upsell._validation.as_segments reads gives the same groups."""
    pd = pytest.importorskip("pandas")
    tx = _tx()
    want = atv(tx, by="segment", segments={"ann": "premium", "bob": "basic"})
    forms = [
        pd.Series({"ann": "premium", "bob": "basic"}),
        (["ann", "bob"], ["premium", "basic"]),                  # (customers, labels)
        ["premium", "basic", None],                               # aligned, cy unlabelled
        {"ann": "premium", "bob": "basic", "nobody": "vip"},       # unknown customer ignored
    ]
    for seg in forms:
        r = atv(tx, by="segment", segments=seg)
        assert r.groups.tolist() == ["basic", "premium"]
        assert r.value.tolist() == want.value.tolist()


def test_segments_from_a_segmenter_result():
    class Result:  # what RFM / Personas / Clusters results look like to as_segments
        customers = np.array(["ann", "bob", "cy"])
        labels = np.array(["a", "b", "a"])

    r = upt(_tx(), by="segment", segments=Result())
    assert r.groups.tolist() == ["a", "b"] and r.denominator.tolist() == [3.0, 2.0]


def test_segments_labels_are_text_and_wrong_length_is_named():
    tx = _tx()
    r = atv(tx, by="segment", segments={"ann": 1, "bob": 2})
    assert r.groups.tolist() == ["1", "2"]
    with pytest.raises(UpsellDataError, match=r"`segments` must give one label per customer \(3\)"):
        atv(tx, by="segment", segments=["a"])


def test_not_transactions_is_a_type_error():
    from upsell.exceptions import UpsellTypeError

    for f in (atv, upt, revenue_per_order):
        with pytest.raises(UpsellTypeError, match="`tx` must be Transactions; got list"):
            f([1, 2])


def test_kpi_result_frame_and_notebook_table():
    pytest.importorskip("pandas")
    r = atv(_tx(), by="month")
    df = r.to_pandas()
    assert df.columns.tolist() == ["month", "value", "numerator", "denominator"]
    assert df.attrs["note"] == r.note
    html = r._repr_html_()
    assert "<b>KPIResult</b>: atv by month, 2 group(s)" in html
