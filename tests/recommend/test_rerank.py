"""Unit tests of each re-ranker on a hand-built pool, and their effect through the recommender."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.exceptions import UpsellDataError
from upsell.recommend import Candidate, Diversity, InventoryPush, MarginWeight, Promote
from upsell.recommend.filters import rule_from_config, rule_to_config

from .conftest import AT, make_pool, make_request, small_catalog

ALL = {"tea": 1.0, "mug": 0.9, "cup": 0.8, "pot": 0.7, "ink": 0.6, "plan": 0.5}


def score(pool: Any, item: str) -> float:
    return pool.get(item).score


# --------------------------------------------------------------------------- MarginWeight
def test_margin_weight_adds_weight_times_share_of_the_best_expected_margin() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    MarginWeight(weight=0.4).apply(pool, make_request())
    # every probability is 0.5, so the expected margins are in the ratio of the margins
    best = max(float(cat.margin[cat.items.index(x)]) for x in ALL)
    for item, base in ALL.items():
        m = float(cat.margin[cat.items.index(item)])
        assert math.isclose(score(pool, item), base + 0.4 * m / best)
        assert math.isclose(pool.get(item).components["rule:margin"], 0.4 * m / best)
    assert pool.get("pot").effects == [("margin", "+0.400")]


def test_margin_weight_by_revenue_and_unknown_values_add_nothing() -> None:
    cat = us.Catalog.from_records([{"item": "a", "price": 10.0}, {"item": "b"}])
    pool = make_pool(cat, {"a": 0.0, "b": 0.0})
    MarginWeight(weight=1.0, by="revenue").apply(pool, make_request())
    assert score(pool, "a") == 1.0 and score(pool, "b") == 0.0
    pool = make_pool(cat, {"a": 0.0, "b": 0.0})
    MarginWeight(weight=1.0).apply(pool, make_request())  # no costs: no margin anywhere
    assert score(pool, "a") == 0.0 and score(pool, "b") == 0.0


def test_margin_weight_checks_its_parameters() -> None:
    with pytest.raises(UpsellDataError, match="weight"):
        MarginWeight(weight=-1)
    with pytest.raises(UpsellDataError, match="by"):
        MarginWeight(by="profit")


# --------------------------------------------------------------------------- InventoryPush
def test_inventory_push_boosts_overstocked_items() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    InventoryPush(boost=0.2, threshold=10).apply(pool, make_request())
    assert math.isclose(score(pool, "pot"), 0.7 + 0.2)
    assert math.isclose(score(pool, "tea"), 1.0 + 0.2)  # exactly at the threshold
    assert score(pool, "mug") == 0.9 and score(pool, "ink") == 0.6  # unknown stock: no push


def test_inventory_push_threshold_from_the_catalog_quantile() -> None:
    cat = small_catalog()
    bound = InventoryPush(quantile=0.8).bind(cat)
    assert bound.threshold is not None and 10 < bound.threshold <= 200
    pool = make_pool(cat, ALL)
    bound.apply(pool, make_request())
    assert [c.item for c in pool if "rule:inventory" in c.components] == ["pot"]
    unbound = InventoryPush()
    pool = make_pool(cat, ALL)
    unbound.apply(pool, make_request())  # never bound: nothing counts as overstocked
    assert not any("rule:inventory" in c.components for c in pool)


# --------------------------------------------------------------------------- Diversity
def test_diversity_registers_a_limit_per_column_value() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    Diversity(by="family", max_per=1).apply(pool, make_request())
    ((name, key, max_per),) = pool.limits
    assert name == "diversity_family" and max_per == 1
    assert key(pool.get("mug")) == key(pool.get("cup")) == "cups"
    assert key(pool.get("ink")) is None  # empty family: not limited


def test_diversity_through_the_recommender_limits_families() -> None:
    cat = small_catalog()

    class All:
        name = "all"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            return [Candidate(i, s) for i, s in ALL.items()][:k]

    rec = us.Recommender(catalog=cat, cross_sell=[All()], rules=[Diversity(max_per=1)])
    offers = rec.recommend(k=6, at=AT)
    fams = [str(cat.family[cat.items.index(o.item)]) for o in offers]
    assert fams.count("cups") == 1 and offers.removed == {"diversity_family": 1}
    assert len(offers) == 5


def test_diversity_checks_its_parameters() -> None:
    with pytest.raises(UpsellDataError, match="by"):
        Diversity(by="")
    with pytest.raises(UpsellDataError, match="max_per"):
        Diversity(max_per=0)


# --------------------------------------------------------------------------- Promote
def test_promote_boosts_the_best_promoted_within_slots() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    Promote(["cup", "ink", "plan"], slots=2, boost=0.3).apply(pool, make_request())
    assert math.isclose(score(pool, "cup"), 0.8 + 0.3)
    assert math.isclose(score(pool, "ink"), 0.6 + 0.3)
    assert score(pool, "plan") == 0.5  # third promoted item: beyond the slots
    assert pool.get("cup").promoted and not pool.get("plan").promoted
    assert ("promote", "+0.300 (promoted slot 1 of 2)") in pool.get("cup").effects
    ((name, member, slots),) = pool.quotas
    assert name == "promote" and slots == 2 and member(pool.get("ink"))


def test_promote_injects_items_no_source_proposed() -> None:
    cat = small_catalog()

    class One:
        name = "one"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            return [Candidate("tea", 1.0)]

    rec = us.Recommender(catalog=cat, cross_sell=[One()],
                         rules=[Promote(["pot"], slots=1, boost=0.5, inject=True)])
    offers = rec.recommend(k=3, at=AT)
    assert [o.item for o in offers] == ["tea", "pot"]
    assert offers[1].sources == ("promotion",)
    assert Promote(["pot"]).injected(make_request()) == []


@pytest.mark.parametrize("rule", [MarginWeight(weight=0.2, by="revenue"),
                                  InventoryPush(boost=0.3, threshold=5.0, quantile=0.5),
                                  Diversity(by="category", max_per=2),
                                  Promote(["a", "b"], slots=2, boost=0.1, inject=True)])
def test_reranker_configs_round_trip(rule: Any) -> None:
    doc = rule_to_config(rule)
    assert rule_to_config(rule_from_config(doc)) == doc


@settings(max_examples=50, deadline=None)
@given(scores=st.lists(st.floats(-5, 5), min_size=6, max_size=6),
       weight=st.floats(0, 3), boost=st.floats(0, 3))
def test_rerankers_only_ever_add_and_record_what_they_add(scores: list[float], weight: float,
                                                          boost: float) -> None:
    cat = small_catalog()
    base = dict(zip(ALL, scores, strict=True))
    pool = make_pool(cat, base)
    req = make_request()
    for rule in (MarginWeight(weight=weight), InventoryPush(boost=boost, threshold=10)):
        rule.apply(pool, req)
    for c in pool:
        added = sum(v for k, v in c.components.items() if k.startswith("rule:"))
        assert math.isclose(c.score, base[c.item] + added, abs_tol=1e-9)
        assert added >= 0
        assert c.components.get("rule:margin", 0.0) <= weight + 1e-12
