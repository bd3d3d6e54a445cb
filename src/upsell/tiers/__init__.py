"""Tier-based upsell: upgrade ladders, value for price, learned propensity, expected margin.

Examples
--------
>>> from upsell.datasets import make_shop
>>> from upsell.tiers import UpsellRanker
>>> shop = make_shop(n_customers=100, n_items=60, n_orders=600)
>>> up = UpsellRanker(objective="margin", price_jump=1.8).fit(shop.transactions, shop.catalog)
>>> isinstance(up.rank(customer=shop.transactions.customers.ids[0], k=3), Upsells)
True
"""

from upsell.tiers.breaks import QuantityBreaks, QuantityOffer, quantity_breaks
from upsell.tiers.ladders import EDGE_KINDS, Ladders, LogGain, ValueFunction, build_ladders
from upsell.tiers.propensity import LogisticFit, Reliability, fit_logistic, reliability_table
from upsell.tiers.ranker import (
    DEFAULT_PRICE_JUMP,
    OBJECTIVES,
    AffinityScorer,
    CFAffinity,
    UpsellRanker,
    Upsells,
)

__all__ = [
    "DEFAULT_PRICE_JUMP",
    "EDGE_KINDS",
    "OBJECTIVES",
    "AffinityScorer",
    "CFAffinity",
    "Ladders",
    "LogGain",
    "LogisticFit",
    "QuantityBreaks",
    "QuantityOffer",
    "Reliability",
    "UpsellRanker",
    "Upsells",
    "ValueFunction",
    "build_ladders",
    "fit_logistic",
    "quantity_breaks",
    "reliability_table",
]
