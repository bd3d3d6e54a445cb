"""Offline evaluation: leak-free splits, ranking and business metrics @k, model comparison.

Examples
--------
>>> from upsell import Transactions
>>> from upsell.evaluate import temporal_split, recall_at_k
>>> tx = Transactions.from_arrays(
...     order=[1, 2, 3], item=["a", "b", "a"], customer=["x", "x", "x"],
...     time=["2011-01-01", "2011-02-01", "2011-03-01"])
>>> split = temporal_split(tx, at="2011-01-15", target="all", drop_unseen_items=False)
>>> sorted(split.relevant_sets()[0])
['a', 'b']
>>> recall_at_k([["b", "c"]], split.relevant_sets(), k=2)
0.5
"""

from upsell.evaluate.compare import Comparison, compare
from upsell.evaluate.metrics import (
    METRICS,
    catalog_coverage,
    f1_at_k,
    hit_rate_at_k,
    intra_list_diversity,
    item_popularity,
    map_at_k,
    margin_at_k,
    metrics_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    per_request_at_k,
    precision_at_k,
    recall_at_k,
    revenue_at_k,
)
from upsell.evaluate.offpolicy import ESTIMATORS, PolicyValue, off_policy_value
from upsell.evaluate.splits import Split, leave_last_n_split, random_basket_split, temporal_split

__all__ = [
    "ESTIMATORS",
    "METRICS",
    "Comparison",
    "PolicyValue",
    "Split",
    "catalog_coverage",
    "compare",
    "f1_at_k",
    "hit_rate_at_k",
    "intra_list_diversity",
    "item_popularity",
    "leave_last_n_split",
    "map_at_k",
    "margin_at_k",
    "metrics_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "off_policy_value",
    "per_request_at_k",
    "precision_at_k",
    "random_basket_split",
    "recall_at_k",
    "revenue_at_k",
    "temporal_split",
]
