"""upsell: turn a shop's order history into cross-sell and upsell offers.

Examples
--------
>>> import upsell as us
>>> shop = us.datasets.make_shop(n_customers=200, n_orders=800, random_state=0)
>>> isinstance(shop.transactions, us.Transactions)
True
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from upsell._results import Recommendations
from upsell.data import KINDS, Catalog, DataReport, IdIndex, OrderTable, Transactions
from upsell.exceptions import (
    ConvergenceError,
    MissingExtraError,
    ModelFileError,
    NotFittedError,
    UnknownIdError,
    UpsellDataError,
    UpsellError,
    UpsellMemoryError,
    UpsellWarning,
)

__version__ = "0.1.0"

logging.getLogger("upsell").addHandler(logging.NullHandler())

_SUBPACKAGES = ("bundles", "cf", "datasets", "evaluate", "kpi", "recommend", "segments",
                "spark", "tiers", "report")

__all__ = [
    "KINDS",
    "Catalog",
    "ConvergenceError",
    "DataReport",
    "IdIndex",
    "MissingExtraError",
    "ModelFileError",
    "NotFittedError",
    "OrderTable",
    "Recommendations",
    "Transactions",
    "UnknownIdError",
    "UpsellDataError",
    "UpsellError",
    "UpsellMemoryError",
    "UpsellWarning",
    "__version__",
    *_SUBPACKAGES,
]


def __getattr__(name: str) -> Any:
    # subpackages load on first use so `import upsell` stays fast
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"upsell.{name}")
        globals()[name] = module
        return module
    if name == "Recommender":
        from upsell.recommend import Recommender

        return Recommender
    raise AttributeError(f"module 'upsell' has no attribute {name!r}")
