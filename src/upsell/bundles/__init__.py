"""Products bought together: frequent itemsets, association rules, bundles and purchase sequences.

Examples
--------
>>> import upsell as us
>>> tx = us.Transactions.from_arrays(order=[1, 1, 2, 2, 3], item=["tea", "mug", "tea", "mug", "tea"])
>>> rules = us.bundles.association_rules(us.bundles.frequent_itemsets(tx, min_support=2),
...                                      min_confidence=0.6)
>>> [(rules.rule(r), round(float(rules.confidence[r]), 3)) for r in range(len(rules))]
[((('tea',), ('mug',)), 0.667), ((('mug',), ('tea',)), 1.0)]
>>> us.bundles.BundleRecommender(rules).recommend(basket=["mug"], k=3).items.tolist()
['tea']
"""

from upsell.bundles.itemsets import Itemsets, frequent_itemsets
from upsell.bundles.rules import METRICS, Rules, association_rules, fisher_p_value, rule_metrics
from upsell.bundles.sequences import SequenceRules, sequence_rules
from upsell.bundles.serve import BasketRecommendation, BundleRecommender, Bundles, suggest_bundles

__all__ = [
    "METRICS",
    "BasketRecommendation",
    "BundleRecommender",
    "Bundles",
    "Itemsets",
    "Rules",
    "SequenceRules",
    "association_rules",
    "fisher_p_value",
    "frequent_itemsets",
    "rule_metrics",
    "sequence_rules",
    "suggest_bundles",
]
