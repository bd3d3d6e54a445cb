"""The small shop and fast LearnedBlend settings the blend tests share."""

from __future__ import annotations

from typing import Any

from upsell.datasets import make_shop

# a few trees on three cuts of 200 customers: seconds, not minutes
FAST: dict[str, Any] = {"param_grid": [(7, 0.01)], "max_rounds": 15, "n_cuts": 3,
                        "max_customers": 200, "n_candidates": 30}


def small_shop() -> Any:
    """250 customers x 50 items, 2,200 orders (seed 1)."""
    return make_shop(n_customers=250, n_items=50, n_orders=2200, random_state=1)
