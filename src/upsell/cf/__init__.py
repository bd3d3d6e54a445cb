"""Collaborative filtering: "customers like you bought" and "bought with this".

Models: ALS, BPR, ItemKNN, EASE, Popular and RepeatBlend (repeat purchases
plus item neighbours). Every model has the same interface (:class:`CFModel`): ``fit(tx or matrix)``,
``recommend(customers=... | baskets=..., k=...)`` returning
:class:`~upsell.Recommendations`, ``recommend_all``, ``similar_items``,
``save`` / ``load``. Fitted models are read-only and thread-safe.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from upsell.cf import ItemKNN
>>> X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]]))
>>> ItemKNN().fit(X).recommend(baskets=[[0]], k=2).lists()
[[1, 2]]
"""

from upsell._results import Recommendations
from upsell.cf.als import ALS
from upsell.cf.base import WEIGHTINGS, CFModel
from upsell.cf.blend import RepeatBlend
from upsell.cf.bpr import BPR
from upsell.cf.ease import EASE
from upsell.cf.knn import ItemKNN
from upsell.cf.popular import Popular

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "WEIGHTINGS",
    "CFModel",
    "ItemKNN",
    "Popular",
    "Recommendations",
    "RepeatBlend",
]
