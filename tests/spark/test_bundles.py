"""FPGrowth itemsets and Spark-computed rules equal the local engine's, to the last bit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upsell.bundles import (
    METRICS,
    BundleRecommender,
    association_rules,
    frequent_itemsets,
    sequence_rules,
)
from upsell.datasets import read_baskets
from upsell.spark import association_rules as spark_rules
from upsell.spark import frequent_itemsets as spark_itemsets
from upsell.spark import from_spark
from upsell.spark import sequence_rules as spark_sequences

_RULE_ARRAYS = ("antecedent_indptr", "antecedent_index", "consequent_indptr",
                "consequent_index", "count", "count_antecedent", "count_consequent", *METRICS)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def _groceries_path() -> Path:
    # tests/conftest.py's rule, for a module-scoped fixture (its groceries_path is per test)
    root = Path(__file__).resolve().parents[2]
    path = Path(os.environ.get("UPSELL_SHARED_DATA", root.parent / "shared" / "data"))
    path = path / "groceries" / "groceries.csv"
    if not path.exists():
        pytest.skip(f"real data set not available: {path} is absent "
                    f"(set UPSELL_SHARED_DATA to the folder that holds it)")
    return path


@pytest.fixture(scope="module")
def groceries(spark: Any) -> tuple[Any, Any, Any, Any]:
    tx = read_baskets(_groceries_path())
    rows = list(zip(tx.orders.ids[tx.order].tolist(), tx.items.ids[tx.item].tolist(),
                    strict=True))
    stx = from_spark(spark.createDataFrame(rows, "order long, item string"))
    fi = frequent_itemsets(tx, min_support=0.001)
    sfi = spark_itemsets(stx, min_support=0.001)
    return tx, fi, sfi, stx


@pytest.mark.realdata
def test_groceries_itemsets_equal(groceries: tuple[Any, Any, Any, Any]) -> None:
    _, fi, sfi, _ = groceries
    got = sfi.itemsets
    assert (got.min_count, got.n_baskets, len(got)) == (fi.min_count, fi.n_baskets, len(fi))
    assert got.min_count == 10 and len(got) == 13492
    assert got.items == fi.items
    for name in ("indptr", "item_index", "counts"):
        assert _same(getattr(fi, name), getattr(got, name)), name


@pytest.mark.realdata
@pytest.mark.parametrize("options", [
    {"min_confidence": 0.5},
    {"min_confidence": 0.3, "consequent_len": 2, "max_len": 3, "min_lift": 1.5,
     "p_adjust": "bh", "max_p": 0.05},
])
def test_groceries_rules_equal(groceries: tuple[Any, Any, Any, Any],
                               options: dict[str, Any]) -> None:
    _, fi, sfi, _ = groceries
    local = association_rules(fi, **options)
    got = spark_rules(sfi, **options)
    assert len(got) == len(local) > 1000
    for name in _RULE_ARRAYS:
        assert _same(getattr(local, name), getattr(got, name)), name
    basket = list(got.antecedent(0))
    assert (BundleRecommender(got).recommend(basket=basket, k=5).to_list()
            == BundleRecommender(local).recommend(basket=basket, k=5).to_list())


@pytest.mark.realdata
def test_groceries_410_rules_at_the_exact_threshold(groceries: tuple[Any, Any, Any, Any]) -> None:
    _, _, sfi, _ = groceries
    rules = spark_rules(sfi, min_confidence=0.8)
    # four rules sit exactly at 0.8 and are lost when confidence is a float ratio
    assert len(rules) == 410


def test_sequence_rules_equal(shop_pair: tuple[Any, Any, Any]) -> None:
    _, stx, tx = shop_pair
    local = sequence_rules(tx, within="60D", min_support=0.01, min_confidence=0.05)
    got = spark_sequences(stx, within="60D", min_support=0.01, min_confidence=0.05)
    assert len(got) == len(local) > 10 and got.n_customers == local.n_customers
    for name in ("first", "then", "count", "support", "confidence", "lift", "median_lag_days"):
        assert _same(getattr(local, name), getattr(got, name)), name
