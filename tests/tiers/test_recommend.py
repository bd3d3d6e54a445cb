"""UpsellRanker.recommend (the recommender contract) and the Upsells reading API."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell import Catalog, Recommendations, Transactions
from upsell.datasets import make_shop
from upsell.exceptions import (
    UnknownIdError,
    UpsellDataError,
    UpsellDeprecationWarning,
    UpsellValueError,
)
from upsell.tiers import UpsellRanker, Upsells

from .test_ranker import shops

_FRAME = ["item", "base", "kind", "score", "probability", "price_diff", "price_ratio",
          "value_gained", "margin_gain", "similar_share", "cue"]


@pytest.fixture(scope="module")
def fitted() -> tuple[UpsellRanker, object]:
    shop = make_shop(n_customers=200, n_items=80, n_orders=2000, random_state=3)
    return UpsellRanker().fit(shop.transactions, shop.catalog), shop


def _check(recs: Recommendations, k: int, excluded: set) -> None:
    for r in range(len(recs)):
        ids = recs.item_ids(r).tolist()
        assert len(ids) <= k and len(set(ids)) == len(ids)
        assert np.all(np.diff(recs.request_scores(r)) <= 0)
        assert not set(ids) & excluded
        assert len(recs.reasons_for(r)) == len(ids)


def test_customers_answer_as_rank_does(fitted) -> None:
    up, shop = fitted
    custs = shop.transactions.customers.ids[:40].tolist()
    recs = up.recommend(custs, k=4)
    assert isinstance(recs, Recommendations) and recs.request_kind == "customer"
    assert recs.requests.tolist() == custs
    for r, c in enumerate(custs):
        one = up.rank(customer=c, k=4)
        assert recs.item_ids(r).tolist() == one.items.tolist()
        np.testing.assert_allclose(recs.request_scores(r), one.scores, rtol=1e-6)
        assert recs.reasons_for(r) == one.reasons
    assert up.recommend(custs[0], k=4).lists() == [up.rank(customer=custs[0], k=4).lists()[0]]
    _check(recs, 4, set())
    assert "reason" in recs.to_pandas().columns


def test_baskets_answer_as_rank_does_and_exclude_holds(fitted) -> None:
    up, shop = fitted
    ids = shop.catalog.items.ids
    baskets = [[ids[j]] for j in range(30)] + [[ids[1], ids[2]], []]
    recs = up.recommend(baskets=baskets, k=3)
    assert recs.request_kind == "basket" and recs.requests.tolist() == list(range(32))
    for r, b in enumerate(baskets):
        one = up.rank(basket=b, k=3)
        assert recs.item_ids(r).tolist() == one.item.tolist()
    offered = {i for row in recs.lists() for i in row}
    assert offered
    excluded = set(sorted(offered)[: max(1, len(offered) // 2)])
    again = up.recommend(baskets=baskets, k=3, exclude=[*excluded, "no-such-item"])
    _check(again, 3, excluded)
    cust = shop.transactions.customers.ids[0]
    top = up.rank(customer=cust, k=5).item.tolist()
    if top:
        assert top[0] not in up.rank(customer=cust, k=5, exclude=[top[0]]).item.tolist()


def test_bad_requests_name_the_argument(fitted) -> None:
    up, _ = fitted
    with pytest.raises(UpsellValueError, match="neither"):
        up.recommend()
    with pytest.raises(UpsellValueError, match="both"):
        up.recommend(["x"], baskets=[["y"]])
    with pytest.raises(UnknownIdError, match="nobody"):
        up.recommend(["nobody"])
    with pytest.raises(UnknownIdError):
        up.recommend(baskets=[["no-such-item"]])
    with pytest.raises(UpsellDataError, match="baskets"):
        up.recommend(baskets="abc")
    with pytest.raises(UpsellDataError, match="exclude"):
        up.recommend(baskets=[[]], exclude=5)


def test_a_ranker_without_customer_history_refuses_customers() -> None:
    cat = Catalog.from_records([
        {"item": "s", "family": "f", "tier": 1, "price": 100.0, "cost": 80.0},
        {"item": "l", "family": "f", "tier": 2, "price": 150.0, "cost": 90.0}])
    tx = Transactions.from_arrays(order=[1, 2], item=["s", "l"], customer=[None, None],
                                  time=["2024-01-01", "2024-02-01"])   # anonymous orders
    up = UpsellRanker().fit(tx, cat)
    with pytest.raises(UpsellValueError, match=r"`customers`.*baskets="):
        up.recommend(["a"])
    assert up.recommend(baskets=[["s"]]).lists() == [["l"]]


def test_save_load_and_threads_give_the_same_answers(fitted, tmp_path) -> None:
    up, shop = fitted
    custs = shop.transactions.customers.ids[:60].tolist()
    want = up.recommend(custs, k=3)
    path = tmp_path / "up.npz"
    up.save(path)
    got = UpsellRanker.load(path).recommend(custs, k=3)
    assert got.lists() == want.lists() and got.reasons == want.reasons
    np.testing.assert_array_equal(got.scores, want.scores)
    with ThreadPoolExecutor(8) as pool:
        parts = list(pool.map(lambda c: up.recommend([c], k=3).lists()[0], custs))
    assert parts == want.lists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shop=shops(), k=st.integers(1, 4), n_excl=st.integers(0, 3))
def test_recommend_properties(shop, k, n_excl) -> None:
    cat, tx = shop
    up = UpsellRanker(objective="revenue").fit(tx, cat)
    excluded = set(cat.items.ids[:n_excl].tolist())
    recs = up.recommend(tx.customers.ids.tolist(), k=k, exclude=list(excluded))
    _check(recs, k, excluded)
    recs = up.recommend(baskets=[[i] for i in cat.items.ids.tolist()], k=k,
                        exclude=list(excluded))
    _check(recs, k, excluded)


# ---------------------------------------------------------------------- Upsells API
def test_upsells_reading_api_and_deprecated_names(fitted) -> None:
    up, shop = fitted
    cust = next(c for c in shop.transactions.customers.ids.tolist()
                if len(up.rank(customer=c, k=3)) >= 2)
    u = up.rank(customer=cust, k=3)
    assert u.items is u.item and u.lists() == [u.item.tolist()]
    assert isinstance(u.reasons, tuple) and u.reasons == tuple(u.cue.tolist())
    assert np.all(np.diff(u.scores) <= 0)
    with pytest.warns(UpsellDeprecationWarning, match="scores"):
        assert u.score is u.scores
    with pytest.warns(UpsellDeprecationWarning, match="records"):
        old = u.reasons()
    assert old == u.records() and set(old[0]) == set(_FRAME)
    assert u.records()[0]["score"] == u.scores[0]
    assert u.to_pandas().columns.tolist() == _FRAME
    html = u._repr_html_()
    assert "<b>Upsells</b>" in html and "offer(s)" in html
    assert Upsells.empty().to_pandas().columns.tolist() == _FRAME


def test_tier_results_keep_their_frames() -> None:
    from upsell.tiers import build_ladders, fit_logistic, reliability_table

    cat = Catalog.from_arrays(item=["a", "b", "c"], family=["f", "f", "f"],
                              price=[1.0, 3.0, 9.0])
    lad = build_ladders(cat)
    assert lad.to_pandas().columns.tolist() == [
        "base", "target", "kind", "base_family", "target_family", "base_tier", "target_tier",
        "base_inferred", "target_inferred"]
    assert "<b>Ladders</b>" in lad._repr_html_() and "inferred tiers" in lad._repr_html_()
    m = fit_logistic(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    assert m.to_pandas().shape == (1, 5) and "iteration" in m._repr_html_()
    r = reliability_table(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.2]), n_bins=2)
    assert r.to_pandas()["count"].tolist() == [2, 2] and "ECE" in r._repr_html_()
