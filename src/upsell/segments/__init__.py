"""Customer segments: RFM, the handbook's four customer types, learned clusters and the
opportunity matrix that says which cross-sell and upsell suits each segment.

Examples
--------
>>> import upsell as us
>>> shop = us.datasets.make_shop(n_customers=200, n_items=60, n_orders=800, random_state=0)
>>> res = us.segments.rfm(shop.transactions)
>>> len(res) == 200
True
>>> personas = us.segments.Personas().fit(shop.transactions, catalog=shop.catalog)
>>> us.segments.OpportunityMatrix().strategy("premium", "upsell").to_dict()["top_tier"]
True
"""

from upsell.segments._base import SegmentSummary
from upsell.segments._features import FEATURES, CustomerFeatures, customer_features
from upsell.segments.clusters import ClusterAssignments, ClusterProfile, Clusters
from upsell.segments.opportunity import OpportunityMatrix, Strategy
from upsell.segments.personas import (
    EVIDENCE,
    PERSONAS,
    PersonaAssignment,
    PersonaAssignments,
    Personas,
)
from upsell.segments.rfm import RFM_SEGMENTS, RFMResult, quantile_scores, rfm

__all__ = [
    "EVIDENCE",
    "FEATURES",
    "PERSONAS",
    "RFM_SEGMENTS",
    "ClusterAssignments",
    "ClusterProfile",
    "Clusters",
    "CustomerFeatures",
    "OpportunityMatrix",
    "PersonaAssignment",
    "PersonaAssignments",
    "Personas",
    "RFMResult",
    "SegmentSummary",
    "Strategy",
    "customer_features",
    "quantile_scores",
    "rfm",
]
