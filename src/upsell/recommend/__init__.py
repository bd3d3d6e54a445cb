"""One offer list per request: candidate sources, business rules, explanations, offer log.

Examples
--------
>>> import upsell as us
>>> from upsell.recommend import Candidate, Diversity, InStock, NotOwned
>>> cat = us.Catalog.from_records([
...     {"item": "tea", "price": 4.0, "cost": 2.0},
...     {"item": "mug", "kind": "accessory", "family": "cups", "price": 8.0, "cost": 3.0},
...     {"item": "cup", "kind": "accessory", "family": "cups", "price": 6.0, "cost": 2.0}])
>>> class Goes:
...     name = "goes_with"
...     cue_style = "bundle"
...     def candidates(self, request, k):
...         return [Candidate("mug", 0.9, detail={"because": ("tea",)}),
...                 Candidate("cup", 0.8, detail={"because": ("tea",)})]
>>> rec = us.Recommender(catalog=cat, cross_sell=[Goes()],
...                      rules=[NotOwned(), InStock(), Diversity(by="family", max_per=1)])
>>> offers = rec.recommend(basket=["tea"], k=3, channel="email", at="2024-05-01")
>>> [o.item for o in offers], offers.removed
(['mug'], {'diversity_family': 1})
>>> print(offers[0].cue)
Customers who bought tea often add mug (8.00).
"""

from upsell.recommend._core import (
    OFFER_KINDS,
    Candidate,
    CandidateSource,
    Evidence,
    Offer,
    OfferList,
    OfferPool,
    PoolItem,
    Reason,
    Request,
    Rule,
)
from upsell.recommend._from_history import BLEND_CHOICES, BlendChoice, choose_blend
from upsell.recommend._kernels import without_compiling
from upsell.recommend.blend import LearnedBlend
from upsell.recommend.blending import (
    NORMALIZATIONS,
    Blend,
    BlendRequest,
    WeightedBlend,
    blend_types,
    register_blend,
)
from upsell.recommend.explain import CHANNELS, CUE_FIELDS, CUE_STYLES, CueTemplates
from upsell.recommend.explore import EXPLORE_METHODS, Explore, ExplorePlan
from upsell.recommend.filters import (
    Exclude,
    FrequencyCap,
    InStock,
    NotOwned,
    Where,
    default_rules,
    register_rule,
    rule_from_config,
)
from upsell.recommend.history import CustomerHistory, SegmentMap
from upsell.recommend.moments import MOMENTS, Moment, MomentPolicy
from upsell.recommend.offerlog import (
    EVENTS,
    SCHEMA,
    MemoryOfferLog,
    OfferEvent,
    OfferLog,
    SQLiteOfferLog,
    SQLOfferLog,
)
from upsell.recommend.outcomes import OUTCOME_VALUES, LearnFromOutcomes
from upsell.recommend.recommender import Recommender
from upsell.recommend.replay import PolicyEvaluation, evaluate_policy
from upsell.recommend.rerank import Diversity, InventoryPush, MarginWeight, Promote
from upsell.recommend.simulation import Simulation, simulate
from upsell.recommend.sources import (
    BundleSource,
    CFSource,
    PopularitySource,
    SequenceSource,
    UpsellSource,
    as_source,
    register_source,
    source_types,
)

__all__ = [
    "BLEND_CHOICES",
    "CHANNELS",
    "CUE_FIELDS",
    "CUE_STYLES",
    "EVENTS",
    "EXPLORE_METHODS",
    "MOMENTS",
    "NORMALIZATIONS",
    "OFFER_KINDS",
    "OUTCOME_VALUES",
    "SCHEMA",
    "Blend",
    "BlendChoice",
    "BlendRequest",
    "BundleSource",
    "CFSource",
    "Candidate",
    "CandidateSource",
    "CueTemplates",
    "CustomerHistory",
    "Diversity",
    "Evidence",
    "Exclude",
    "Explore",
    "ExplorePlan",
    "FrequencyCap",
    "InStock",
    "InventoryPush",
    "LearnFromOutcomes",
    "LearnedBlend",
    "MarginWeight",
    "MemoryOfferLog",
    "Moment",
    "MomentPolicy",
    "NotOwned",
    "Offer",
    "OfferEvent",
    "OfferList",
    "OfferLog",
    "OfferPool",
    "PolicyEvaluation",
    "PoolItem",
    "PopularitySource",
    "Promote",
    "Reason",
    "Recommender",
    "Request",
    "Rule",
    "SQLOfferLog",
    "SQLiteOfferLog",
    "SegmentMap",
    "SequenceSource",
    "Simulation",
    "UpsellSource",
    "WeightedBlend",
    "Where",
    "as_source",
    "blend_types",
    "choose_blend",
    "default_rules",
    "evaluate_policy",
    "register_blend",
    "register_rule",
    "register_source",
    "rule_from_config",
    "simulate",
    "source_types",
    "without_compiling",
]
