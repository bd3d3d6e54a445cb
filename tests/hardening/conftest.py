"""Small fitted fixtures shared by the hardening suite, built once per session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import upsell as us
from upsell.bundles import BundleRecommender, association_rules, frequent_itemsets, sequence_rules
from upsell.cf import ALS, EASE, ItemKNN, Popular, RepeatBlend
from upsell.kpi import BetaGeo, GammaGamma, ParetoNBD, rfm_summary
from upsell.recommend import OfferLog
from upsell.segments import Clusters, OpportunityMatrix, Personas
from upsell.tiers import UpsellRanker

#: Fixed request time so frequency caps and timing never depend on the clock.
AT = "2025-01-10T12:00:00"


@dataclass
class World:
    """Everything fitted on one small shop."""

    shop: Any
    tx: Any
    cat: Any
    customer: Any
    item: Any
    item2: Any
    models: dict[str, Any]
    itemsets: Any
    rules: Any
    bundles: Any
    seq: Any
    personas: Any
    clusters: Any
    opportunity: Any
    ranker: Any
    rfm: Any
    betageo: Any
    pareto: Any
    gamma: Any
    rec: Any


def build_world(seed: int = 5) -> World:
    shop = us.datasets.make_shop(n_customers=150, n_items=60, n_orders=900, random_state=seed)
    tx, cat = shop.transactions, shop.catalog
    models = {
        "ALS": ALS(factors=8, iterations=3, num_threads=1, random_state=0).fit(tx),
        "ItemKNN": ItemKNN(similarity="cosine", n_neighbors=20, num_threads=1).fit(tx),
        "EASE": EASE(regularization=10.0, n_neighbors=20).fit(tx),
        "Popular": Popular().fit(tx),
        "RepeatBlend": RepeatBlend(n_neighbors=20, num_threads=1).fit(tx),
    }
    fi = frequent_itemsets(tx, min_support=3, max_len=3)
    rules = association_rules(fi, min_confidence=0.05)
    personas = Personas().fit(tx, catalog=cat)
    ranker = UpsellRanker().fit(tx, cat, segments=personas)
    times = tx.time
    mid = times.min() + (times.max() - times.min()) // 2
    summary = rfm_summary(tx, calibration_end=mid, observation_end=times.max())
    bundles = BundleRecommender(rules)
    seq = sequence_rules(tx, within="120D", min_support=3)
    rec = us.Recommender(catalog=cat, cross_sell=[bundles, models["ItemKNN"], seq],
                         upsell=ranker, segments=personas, history=tx,
                         offer_log=OfferLog.in_memory())
    # a customer and two items that certainly exist
    customer = tx.customers.ids[int(tx.customer[0])]
    return World(
        shop=shop, tx=tx, cat=cat, customer=_plain(customer),
        item=_plain(tx.items.ids[0]), item2=_plain(tx.items.ids[1]), models=models,
        itemsets=fi, rules=rules, bundles=bundles, seq=seq, personas=personas,
        clusters=Clusters(k=3, n_init=2, max_iter=10).fit(tx, catalog=cat),
        opportunity=OpportunityMatrix(), ranker=ranker, rfm=summary,
        betageo=BetaGeo().fit(summary), pareto=ParetoNBD().fit(summary),
        gamma=GammaGamma().fit(summary), rec=rec)


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


@pytest.fixture(scope="session")
def world() -> World:
    return build_world()
