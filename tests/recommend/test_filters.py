"""Unit tests of each filter rule on a hand-built pool: what it drops, notes and counts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.exceptions import UpsellDataError
from upsell.recommend import (
    Exclude,
    FrequencyCap,
    InStock,
    NotOwned,
    OfferLog,
    Where,
    register_rule,
    rule_from_config,
)
from upsell.recommend.filters import rule_to_config

from .conftest import make_pool, make_request, small_catalog

ALL = {"tea": 1.0, "mug": 0.9, "cup": 0.8, "pot": 0.7, "ink": 0.6, "plan": 0.5}


def kept(pool: Any) -> list[str]:
    return sorted(c.item for c in pool)


def effects(pool: Any, rule: str) -> dict[str, list[str]]:
    return {c.item: [e for r, e in c.effects if r == rule] for c in pool}


# --------------------------------------------------------------------------- NotOwned
def test_not_owned_drops_basket_and_owned_but_keeps_consumables() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    NotOwned().apply(pool, make_request(customer="c", basket=("tea",), owned=("mug", "ink")))
    # tea in the basket, mug owned; ink is owned but a value pack (bought again)
    assert kept(pool) == ["cup", "ink", "plan", "pot"]
    assert pool.removed == {"not_owned": 2}
    assert effects(pool, "not_owned")["ink"] == ["owned, but bought again"]
    assert effects(pool, "not_owned")["pot"] == ["passed"]


def test_not_owned_rebuy_ids_and_kinds() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    NotOwned(rebuy=["mug"], rebuy_kinds=()).apply(
        pool, make_request(customer="c", owned=("mug", "ink")))
    assert "mug" in kept(pool) and "ink" not in kept(pool)


def test_not_owned_include_owned_keeps_owned_never_the_basket() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    NotOwned(rebuy_kinds=()).apply(pool, make_request(customer="c", basket=("tea",),
                                                      owned=("mug", "ink"), include_owned=True))
    assert kept(pool) == ["cup", "ink", "mug", "plan", "pot"]
    assert pool.removed == {"not_owned": 1}
    assert effects(pool, "not_owned")["mug"] == ["owned, buy again allowed"]


# --------------------------------------------------------------------------- InStock
def test_in_stock_drops_below_min_and_keeps_unknown_stock() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    InStock().apply(pool, make_request())
    assert "cup" not in kept(pool) and "ink" in kept(pool)  # 0 in stock; unknown stock
    assert pool.removed == {"in_stock": 1}
    pool = make_pool(cat, ALL)
    InStock(min_stock=6).apply(pool, make_request())
    assert kept(pool) == ["ink", "pot", "tea"]
    assert pool.removed == {"in_stock": 3}


def test_in_stock_refuses_negative_minimum() -> None:
    with pytest.raises(UpsellDataError, match="min_stock"):
        InStock(min_stock=-1)


# --------------------------------------------------------------------------- Exclude
def test_exclude_drops_listed_items_only() -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    Exclude(["mug", "nope"]).apply(pool, make_request())
    assert "mug" not in kept(pool) and len(pool) == 5
    assert pool.removed == {"exclude": 1}


# --------------------------------------------------------------------------- Where
@pytest.mark.parametrize("conditions, expected", [
    ({"price": (5, 10)}, ["cup", "mug"]),
    ({"price": (None, 4)}, ["plan", "tea"]),
    ({"category": ["kitchen", "office"]}, ["cup", "ink", "mug", "pot"]),
    ({"kind": "warranty"}, ["plan"]),
    ({"stock": (1, None)}, ["mug", "plan", "pot", "tea"]),  # unknown stock (NaN) fails a range
    ({"price": lambda p: p > 10}, ["ink", "pot"]),
    ({"family": ["cups"], "price": (7, None)}, ["mug"]),
])
def test_where_keeps_what_matches(conditions: dict[str, Any], expected: list[str]) -> None:
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    Where(**conditions).apply(pool, make_request())
    assert kept(pool) == expected
    assert pool.removed.get("where", 0) == 6 - len(expected)
    rule = Where(**conditions)
    assert [x for x in ALL if rule.keeps(cat, cat.items.index(x))] == \
        [x for x in ALL if x in expected]


def test_where_needs_a_condition_and_binding_checks_columns() -> None:
    with pytest.raises(UpsellDataError, match="at least one condition"):
        Where()
    with pytest.raises(UpsellDataError, match="colour"):
        Where(colour="red").bind(small_catalog())


def test_where_with_a_callable_cannot_be_saved() -> None:
    with pytest.raises(UpsellDataError):
        rule_to_config(Where(price=lambda p: p > 1))


# --------------------------------------------------------------------------- FrequencyCap
def _log(*events: tuple[str, str, str]) -> Any:
    log = OfferLog.in_memory()
    for item, event, at in events:
        log.record(event, item=item, customer="c", time=at)
    return log


def test_frequency_cap_counts_presentations_in_the_window() -> None:
    cat = small_catalog()
    log = _log(("mug", "presented", "2025-01-09T00:00:00"),
               ("mug", "presented", "2025-01-08T00:00:00"),
               ("pot", "presented", "2025-01-09T00:00:00"),
               ("tea", "presented", "2024-12-01T00:00:00"))  # outside the 7 days
    pool = make_pool(cat, ALL, log=log)
    FrequencyCap(max_presented=2, within_days=7).apply(pool, make_request(customer="c"))
    assert "mug" not in kept(pool) and "pot" in kept(pool) and "tea" in kept(pool)
    assert effects(pool, "frequency_cap")["pot"] == ["shown 1 of 2 times in 7 days"]
    assert pool.removed == {"frequency_cap": 1}


def test_frequency_cap_declined_items_rest_and_future_events_do_not_count() -> None:
    cat = small_catalog()
    log = _log(("cup", "declined", "2024-12-20T00:00:00"),
               ("mug", "declined", "2024-11-01T00:00:00"),   # longer ago than 30 days
               ("pot", "declined", "2025-02-01T00:00:00"))  # after the request
    pool = make_pool(cat, ALL, log=log)
    FrequencyCap().apply(pool, make_request(customer="c"))
    assert "cup" not in kept(pool) and "mug" in kept(pool) and "pot" in kept(pool)


def test_frequency_cap_leaves_anonymous_requests_and_no_log_alone() -> None:
    cat = small_catalog()
    log = _log(("mug", "declined", "2025-01-09T00:00:00"))
    pool = make_pool(cat, ALL, log=log)
    FrequencyCap().apply(pool, make_request(customer=None))
    assert len(pool) == 6
    pool = make_pool(cat, ALL)
    FrequencyCap().apply(pool, make_request(customer="c"))
    assert len(pool) == 6


# --------------------------------------------------------------------------- configs
@pytest.mark.parametrize("rule", [
    NotOwned(rebuy=["ink"], rebuy_kinds=("value_pack", "warranty")), InStock(min_stock=3),
    Exclude(["a", 3]), Where(price=(1, 5), kind=["accessory"]),
    FrequencyCap(max_presented=4, within_days=2, declined_days=9),
])
def test_rule_configs_round_trip(rule: Any) -> None:
    doc = rule_to_config(rule)
    back = rule_from_config(doc)
    assert type(back) is type(rule) and rule_to_config(back) == doc


def test_register_rule_needs_config_methods_and_unknown_types_are_refused() -> None:
    class Half:
        name = "half"

        def apply(self, pool: Any, request: Any) -> None: ...

    with pytest.raises(UpsellDataError):
        register_rule(Half)
    with pytest.raises(UpsellDataError):
        rule_from_config({"type": "NoSuchRule", "config": {}})


@settings(max_examples=50, deadline=None)
@given(basket=st.sets(st.sampled_from(sorted(ALL))), owned=st.sets(st.sampled_from(sorted(ALL))),
       include=st.booleans())
def test_not_owned_property(basket: set[str], owned: set[str], include: bool) -> None:
    """Basket items always go; owned items go unless consumable or include_owned; nothing else."""
    cat = small_catalog()
    pool = make_pool(cat, ALL)
    NotOwned().apply(pool, make_request(customer="c", basket=tuple(sorted(basket)),
                                        owned=tuple(sorted(owned)), include_owned=include))
    for item in ALL:
        gone = item in basket or (item in owned and not include and item != "ink")
        assert (item not in kept(pool)) == gone
    assert pool.removed.get("not_owned", 0) == 6 - len(pool)
