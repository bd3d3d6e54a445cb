"""Ladders: explicit and inferred tiers, value packs, plans, alternatives, the value function."""

from __future__ import annotations

import numpy as np
import pytest

from upsell import Catalog
from upsell.exceptions import UpsellDataError
from upsell.tiers import EDGE_KINDS, LogGain, ValueFunction, build_ladders


def test_explicit_tiers_give_upgrades_only_upwards():
    cat = Catalog.from_arrays(item=["a", "b", "c"], family=["f"] * 3, tier=[2, 1, 3],
                              price=[20.0, 10.0, 30.0])
    lad = build_ladders(cat)
    assert lad.offers("b") == [("a", "upgrade"), ("c", "upgrade")]
    assert lad.offers("c") == []
    assert not lad.inferred.any()


def test_tiers_inferred_from_price_bands_and_flagged():
    cat = Catalog.from_arrays(item=["a", "b", "c", "d"], family=["f"] * 4,
                              price=[10.0, 10.5, 20.0, 45.0])
    lad = build_ladders(cat, band_ratio=1.15)
    assert lad.tier.tolist() == [1.0, 1.0, 2.0, 3.0]
    assert lad.inferred.all()
    assert [t for t, _ in lad.offers("a")] == ["c", "d"]


def test_mixed_family_missing_tier_takes_nearest_explicit():
    cat = Catalog.from_arrays(item=["a", "b", "c"], family=["f"] * 3, tier=[1, np.nan, 3],
                              price=[10.0, 29.0, 30.0])
    lad = build_ladders(cat)
    assert lad.tier.tolist() == [1.0, 3.0, 3.0]
    assert lad.inferred.tolist() == [False, True, False]


def test_value_pack_by_pack_of_attribute_and_unit_price():
    cat = Catalog.from_records([
        {"item": "r", "family": "refill", "price": 5.0, "pack_of": ""},
        {"item": "r6", "family": "refill", "price": 24.0, "pack_size": 6, "kind": "value_pack",
         "pack_of": "r"},
        {"item": "r12", "family": "refill", "price": 70.0, "pack_size": 12,
         "kind": "value_pack", "pack_of": "r"},    # dearer per unit: no value pack
    ])
    lad = build_ladders(cat)
    assert lad.offers("r") == [("r6", "value_pack")]


def test_value_pack_by_name_stem_when_no_link():
    cat = Catalog.from_records([
        {"item": 1, "name": "Oat milk 1L", "category": "milk", "price": 2.0},
        {"item": 2, "name": "Oat milk 1L 6x pack", "category": "milk", "price": 10.0,
         "pack_size": 6},
        {"item": 3, "name": "Soy milk 1L", "category": "milk", "price": 2.0},
    ])
    lad = build_ladders(cat)
    assert lad.offers(1, kind="value_pack") == [(2, "value_pack")]
    assert lad.offers(3, kind="value_pack") == []


def test_plans_attach_to_family_or_category_and_alternatives_cross_families():
    cat = Catalog.from_records([
        {"item": "a1", "family": "A", "tier": 1, "price": 100.0, "category": "tv"},
        {"item": "a2", "family": "A", "tier": 2, "price": 150.0, "category": "tv"},
        {"item": "b2", "family": "B", "tier": 2, "price": 140.0, "category": "tv"},
        {"item": "b3", "family": "B", "tier": 3, "price": 300.0, "category": "tv"},
        {"item": "care", "kind": "subscription", "attaches_to": "A", "price": 9.0},
        {"item": "w", "kind": "warranty", "attaches_to": "A", "price": 20.0},
    ])
    lad = build_ladders(cat, max_alternatives=1)
    offers = lad.offers("a1")
    assert ("a2", "upgrade") in offers and ("care", "plan") in offers
    assert ("b2", "alternative") in offers and ("b3", "alternative") not in offers  # max 1
    assert ("w", "plan") not in offers
    assert ("care", "plan") not in lad.offers("b2")
    df = lad.to_pandas()
    assert set(df["kind"]) <= set(EDGE_KINDS)
    assert len(df) == len(lad)


def test_ladders_are_read_only_and_validated():
    lad = build_ladders(Catalog.from_arrays(item=["a", "b"], family=["f", "f"], tier=[1, 2]))
    with pytest.raises(ValueError):
        lad.target[0] = 1
    with pytest.raises(UpsellDataError, match="band_ratio"):
        build_ladders(Catalog.from_arrays(item=["a"]), band_ratio=1.0)
    with pytest.raises(UpsellDataError, match="catalog"):
        build_ladders("not a catalog")  # type: ignore[arg-type]


def test_log_gain_value_function():
    f = LogGain()
    assert isinstance(f, ValueFunction)
    base = np.array([[64.0, 3.0], [64.0, np.nan], [np.nan, np.nan]])
    target = np.array([[128.0, 3.0], [32.0, 5.0], [np.nan, 1.0]])
    out = f(base, target, ("storage_gb", "quality"))
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx(-1.0)
    assert np.isnan(out[2])
