"""Fixtures of the report tests: one small shop and its analysis, shared by the module."""

from __future__ import annotations

import numpy as np
import pytest

from upsell import Catalog
from upsell.datasets import make_shop
from upsell.report import Analysis, analyse

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def small_shop():
    return make_shop(n_customers=300, n_items=80, n_orders=1500, random_state=0)


@pytest.fixture(scope="session")
def evil_catalog(small_shop) -> Catalog:
    """The shop's catalog with every product's name replaced by markup, to check escaping."""
    cat = small_shop.catalog
    names = np.array([f"{EVIL} {n}" for n in cat.name.tolist()])
    return Catalog.from_arrays(item=cat.items.ids, name=names, family=cat.family, tier=cat.tier,
                               price=cat.price, cost=cat.cost, kind=cat.kind,
                               attaches_to=cat.attaches_to, exclusive=cat.exclusive,
                               pack_size=cat.pack_size, category=cat.category)


@pytest.fixture(scope="session")
def full_analysis(small_shop, evil_catalog) -> Analysis:
    return analyse(small_shop.transactions, evil_catalog, source=f"shop {EVIL}",
                   nps_scores=[10, 9, 9, 7, 3, 10], max_eval_customers=300)
