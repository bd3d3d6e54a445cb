"""A small synthetic shop with every source fitted once per session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import upsell as us
from upsell.bundles import BundleRecommender, association_rules, frequent_itemsets, sequence_rules
from upsell.cf import ItemKNN
from upsell.recommend import (
    Diversity,
    FrequencyCap,
    InStock,
    InventoryPush,
    MarginWeight,
    NotOwned,
    OfferLog,
    Promote,
)
from upsell.segments import Personas
from upsell.tiers import UpsellRanker

AT = "2025-01-10T12:00:00"


@dataclass
class Parts:
    shop: Any
    tx: Any
    cat: Any
    personas: Any
    bundles: Any
    seq: Any
    knn: Any
    ranker: Any


@pytest.fixture(scope="session")
def parts() -> Parts:
    shop = us.datasets.make_shop(n_customers=400, n_items=120, n_orders=2500, random_state=3)
    tx, cat = shop.transactions, shop.catalog
    personas = Personas().fit(tx, catalog=cat)
    rules = association_rules(frequent_itemsets(tx, min_support=3, max_len=3),
                              min_confidence=0.05)
    return Parts(shop=shop, tx=tx, cat=cat, personas=personas,
                 bundles=BundleRecommender(rules),
                 seq=sequence_rules(tx, within="120D", min_support=3),
                 knn=ItemKNN(similarity="cosine").fit(tx),
                 ranker=UpsellRanker().fit(tx, cat, segments=personas))


def all_rules(cat: Any) -> list[Any]:
    promoted = [cat.items.ids[i].item() for i in range(0, len(cat), 7)]
    return [NotOwned(), InStock(), FrequencyCap(max_presented=2, within_days=7),
            MarginWeight(weight=0.3), InventoryPush(boost=0.1),
            Diversity(by="family", max_per=1), Diversity(by="category", max_per=3),
            Promote(promoted, slots=1, boost=0.4, inject=True)]


def build(parts: Parts, *, log: Any = None, **kw: Any) -> us.Recommender:
    args: dict[str, Any] = dict(
        catalog=parts.cat, cross_sell=[parts.bundles, parts.knn, parts.seq],
        upsell=parts.ranker, segments=parts.personas, history=parts.tx,
        offer_log=log if log is not None else OfferLog.in_memory(),
        rules=all_rules(parts.cat))
    args.update(kw)
    return us.Recommender(**args)


@pytest.fixture(scope="session")
def rec(parts: Parts) -> us.Recommender:
    return build(parts)
