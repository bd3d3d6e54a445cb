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


# --------------------------------------------------------------------------- stage helpers
def small_catalog() -> us.Catalog:
    """Six items with every attribute a rule reads (kinds, families, stock, prices, costs)."""
    return us.Catalog.from_records([
        {"item": "tea", "kind": "product", "family": "drinks", "category": "food",
         "price": 4.0, "cost": 2.0, "stock": 10},
        {"item": "mug", "kind": "accessory", "family": "cups", "category": "kitchen",
         "price": 8.0, "cost": 3.0, "stock": 5},
        {"item": "cup", "kind": "accessory", "family": "cups", "category": "kitchen",
         "price": 6.0, "cost": 2.0, "stock": 0},
        {"item": "pot", "kind": "accessory", "family": "pots", "category": "kitchen",
         "price": 20.0, "cost": 9.0, "stock": 200},
        {"item": "ink", "kind": "value_pack", "family": "", "category": "office",
         "price": 12.0, "cost": 4.0},
        {"item": "plan", "kind": "warranty", "family": "", "category": "",
         "price": 3.0, "cost": 0.5, "stock": 1},
    ])


def make_request(*, customer: Any = None, basket: tuple[Any, ...] = (),
                 owned: tuple[Any, ...] = (), at: str = AT, **kw: Any) -> Any:
    import numpy as np

    from upsell.recommend import Request

    return Request(customer=customer, known=bool(owned), basket=basket, owned=owned,
                   owned_time=tuple(np.datetime64("NaT", "s") for _ in owned), segment=None,
                   moment=None, channel="web", at=np.datetime64(at, "s"), **kw)


def make_pool(cat: Any, scores: dict[str, float], *, log: Any = None, k: int = 5) -> Any:
    """An OfferPool over ``cat`` with the given item -> score (probability 0.5, catalog money)."""
    from upsell.recommend import Evidence, OfferPool, PoolItem

    items = []
    for item, s in scores.items():
        i = cat.items.index(item)
        p = PoolItem(i, item, "cross_sell", s)
        p.evidence.append(Evidence("src", s, 1.0, 1.0, {}))
        p.probability = 0.5
        p.revenue = float(cat.price[i])
        p.margin = float(cat.margin[i])
        items.append(p)
    return OfferPool(items, catalog=cat, k=k, offer_log=log)
