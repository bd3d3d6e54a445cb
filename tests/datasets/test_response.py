"""Tests of the synthetic shop's ground-truth response model (Shop.response)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell.datasets import PERSONAS, ResponseModel, Shop, make_shop
from upsell.datasets._response import GROUPS, P_MAX, PERSONA_ORDER
from upsell.exceptions import UpsellDataError


@pytest.fixture(scope="module")
def shop() -> Shop:
    return make_shop(n_customers=400, n_items=120, n_orders=2_000, random_state=3)


@pytest.fixture(scope="module")
def rm(shop: Shop) -> ResponseModel:
    return shop.response


@pytest.fixture(scope="module")
def matrix(shop: Shop, rm: ResponseModel) -> np.ndarray:
    return rm.probability_matrix(shop.transactions.customers.ids)


def _tx_digest(shop: Shop) -> str:
    h = hashlib.sha256()
    tx = shop.transactions
    for col in ("order", "item", "customer", "quantity", "price", "time", "channel"):
        h.update(np.ascontiguousarray(getattr(tx, col)).tobytes())
    h.update(np.ascontiguousarray(shop.catalog.price).tobytes())
    h.update(np.ascontiguousarray(shop.truth.p_upgrade).tobytes())
    return h.hexdigest()


def test_persona_codes_are_the_generators() -> None:
    assert PERSONA_ORDER == PERSONAS


def test_building_it_leaves_the_shop_unchanged(shop: Shop) -> None:
    before = _tx_digest(shop)
    _ = shop.response
    assert _tx_digest(shop) == before
    fresh = make_shop(n_customers=400, n_items=120, n_orders=2_000, random_state=3)
    assert _tx_digest(fresh) == before


def test_bounds_and_realistic_magnitudes(matrix: np.ndarray) -> None:
    assert np.all((matrix >= 0) & (matrix <= P_MAX))
    assert 0.002 < matrix.mean() < 0.03             # a random offer: well under 3%
    top5 = -np.sort(-matrix, axis=1)[:, :5]
    assert 0.03 < top5.mean() < 0.2                  # a customer's best offers: 3-20%


def test_deterministic_per_seed_and_different_across_seeds(shop: Shop, matrix: np.ndarray
                                                           ) -> None:
    again = shop.response.probability_matrix(shop.transactions.customers.ids)
    assert np.array_equal(again, matrix)
    other = make_shop(n_customers=400, n_items=120, n_orders=2_000, random_state=4)
    p = other.response.probability_matrix(other.transactions.customers.ids)
    assert p.shape == matrix.shape and not np.array_equal(p, matrix)


def test_persona_effects(shop: Shop, rm: ResponseModel, matrix: np.ndarray) -> None:
    pers = shop.truth.persona
    mean = {p: float(matrix[pers == p].mean()) for p in PERSONAS}
    # frequent shoppers accept more than new and price-sensitive ones
    assert mean["frequent"] > mean["new"] > mean["price_sensitive"]
    # expensive items: premium customers take them far more readily than price-sensitive ones
    dear = rm.price >= np.nanpercentile(rm.price, 80)
    prem = matrix[np.ix_(pers == "premium", dear)].mean()
    cheap_minded = matrix[np.ix_(pers == "price_sensitive", dear)].mean()
    assert prem > 2 * cheap_minded


def test_upgrades_beat_tiers_already_owned(shop: Shop, rm: ResponseModel,
                                           matrix: np.ndarray) -> None:
    cat, truth = shop.catalog, shop.truth
    ids = cat.items.ids
    nxt, low = [], []
    for c, (home, tier) in enumerate(zip(truth.home_family.tolist(), truth.final_tier.tolist(),
                                         strict=True)):
        in_fam = (cat.family == home) & (cat.kind == "product")
        up = np.flatnonzero(in_fam & (cat.tier == tier + 1))
        own = np.flatnonzero(in_fam & (cat.tier == tier))
        if up.size and own.size:
            nxt.append(matrix[c, up[0]])
            low.append(matrix[c, own[0]])
    assert len(nxt) > 50
    assert np.median(nxt) > 10 * np.median(low)
    assert ids.size == matrix.shape[1]


def test_every_item_group_is_present_and_accepted_sometimes(rm: ResponseModel,
                                                            matrix: np.ndarray) -> None:
    for g, name in enumerate(GROUPS):
        cols = rm.group == g
        assert cols.any(), name
        assert matrix[:, cols].max() > 0.01, name


def test_probability_broadcasts_and_agrees_with_the_matrix(shop: Shop, rm: ResponseModel,
                                                           matrix: np.ndarray) -> None:
    c = shop.transactions.customers.ids[:7]
    i = shop.catalog.items.ids[:11]
    cross = rm.probability(c[:, None], i[None, :], "cross_sell")
    up = rm.probability(c[:, None], i[None, :], "upsell")
    plain = rm.probability(c[:, None], i[None, :])
    assert cross.shape == (7, 11) and np.array_equal(cross, plain)
    # the matrix takes each item under its better label
    assert np.allclose(matrix[:7, :11], np.maximum(cross, up))
    one = rm.probability(c[0], i[0])
    assert one.shape == () and float(one) == cross[0, 0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 399), st.integers(0, 119)), min_size=1, max_size=30))
def test_pairs_equal_the_matrix_entries(shop: Shop, rm: ResponseModel, matrix: np.ndarray,
                                        pairs: list[tuple[int, int]]) -> None:
    c = np.array([p[0] for p in pairs])
    i = np.array([p[1] for p in pairs])
    p = rm.probability(shop.transactions.customers.ids[c], shop.catalog.items.ids[i])
    assert np.all(p <= matrix[c, i] + 1e-15)
    assert np.all((p >= 0) & (p <= P_MAX))


def test_upsell_label_helps_only_real_upgrades(shop: Shop, rm: ResponseModel,
                                               matrix: np.ndarray) -> None:
    c = np.repeat(shop.transactions.customers.ids[:50], 120)
    i = np.tile(shop.catalog.items.ids, 50)
    cross = rm.probability(c, i, "cross_sell")
    up = rm.probability(c, i, "upsell")
    helped = up > cross
    assert helped.any() and (up < cross).any()
    assert np.all(rm.group[np.tile(np.arange(120), 50)][helped] == 0)  # tiered products only


def test_errors_name_the_argument(shop: Shop, rm: ResponseModel) -> None:
    item = shop.catalog.items.ids[0]
    with pytest.raises(UpsellDataError, match="`customers`: customer 'nobody'"):
        rm.probability("nobody", item)
    with pytest.raises(UpsellDataError, match="`items`"):
        rm.probability(shop.transactions.customers.ids[0], "no-such-item")
    with pytest.raises(UpsellDataError, match="`kinds` must be"):
        rm.probability(shop.transactions.customers.ids[0], item, "bundle")
    with pytest.raises(UpsellDataError, match="broadcast"):
        rm.probability(shop.transactions.customers.ids[:3], shop.catalog.items.ids[:2])
    with pytest.raises(UpsellDataError, match="must be customer ids"):
        rm.probability([1, 2], item)


def test_a_shop_not_from_make_shop_is_refused(shop: Shop) -> None:
    with pytest.raises(UpsellDataError, match="needs a shop from make_shop"):
        ResponseModel(Shop(shop.transactions, shop.catalog, shop.truth, params={}))
    other = make_shop(n_customers=400, n_items=120, n_orders=2_000, random_state=5)
    with pytest.raises(UpsellDataError, match="not the one make_shop"):
        ResponseModel(Shop(shop.transactions, other.catalog, shop.truth, params=shop.params))
