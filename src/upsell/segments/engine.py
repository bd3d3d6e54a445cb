"""Internal API shared by the local and Spark engines; not part of the user API.

The Spark segmenters (:mod:`upsell.spark`) sum per-customer columns in Spark and turn them
into the same customer features, persona inputs and RFM segments as the local ones: these are
the names they reuse. They may change between versions without a deprecation period; users
call :mod:`upsell.segments`.
"""

from __future__ import annotations

from upsell.segments._features import _SUMS as FEATURE_SUMS
from upsell.segments._features import (
    DISCOUNT_TOLERANCE,
    FEATURES,
    CustomerFeatures,
    ItemTable,
    as_time,
    features_from_sums,
    item_table,
    table_for,
)
from upsell.segments.rfm import _grid as rfm_grid

__all__ = [
    "DISCOUNT_TOLERANCE",
    "FEATURES",
    "FEATURE_SUMS",
    "CustomerFeatures",
    "ItemTable",
    "as_time",
    "features_from_sums",
    "item_table",
    "rfm_grid",
    "table_for",
]
