"""customer_features: values on hand-made data, the single-customer path equals the batch one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from upsell.data import Catalog, Transactions
from upsell.datasets import make_shop
from upsell.exceptions import UpsellDataError
from upsell.segments import FEATURES, customer_features
from upsell.segments._features import HistoryReader, features_one, item_table


def small():
    cat = Catalog.from_records([
        {"item": "P1", "family": "phone", "tier": 1, "price": 100.0},
        {"item": "P2", "family": "phone", "tier": 2, "price": 150.0},
        {"item": "P3", "family": "phone", "tier": 3, "price": 220.0, "exclusive": True},
        {"item": "W", "kind": "warranty", "price": 20.0},
        {"item": "R", "kind": "accessory", "family": "refill", "price": 5.0},
        {"item": "RP", "kind": "value_pack", "family": "refill", "price": 12.0, "pack_size": 3},
    ])
    tx = Transactions.from_arrays(
        order=[1, 1, 2, 3, 3, 4], item=["P1", "W", "RP", "P3", "R", "P2"],
        customer=["a", "a", "a", "b", "b", "b"], price=[90.0, 20.0, 12.0, 220.0, 5.0, 150.0],
        time=["2024-01-01", "2024-01-01", "2024-02-01", "2024-03-01", "2024-03-01",
              "2024-03-10"])
    return tx, cat


def test_values_by_hand():
    tx, cat = small()
    f = customer_features(tx, cat, at="2024-04-01")
    row = dict(zip(FEATURES, f.values[0].tolist(), strict=True))
    assert row["orders"] == 2 and row["tenure_days"] == 91 and row["recency_days"] == 60
    assert row["monetary"] == 122.0 and row["aov"] == 61.0
    assert row["discount_share"] == pytest.approx(1 / 3)      # P1 at 90 < 100
    assert row["low_tier_share"] == 1.0 and row["tier_position"] == 0.0
    assert row["value_pack_share"] == pytest.approx(1 / 3)
    assert row["warranty_share"] == pytest.approx(1 / 3)
    row = dict(zip(FEATURES, f.values[1].tolist(), strict=True))
    assert row["high_tier_share"] == 0.5 and row["tier_position"] == 0.75
    assert row["exclusive_share"] == pytest.approx(1 / 3)
    assert row["price_position"] == pytest.approx((1.0 + 1.0 + 50 / 120) / 3)


def test_without_catalog_and_unknown_customers_rows():
    tx, _ = small()
    f = customer_features(tx)
    assert math.isnan(f.column("tier_position")[0]) and f.column("exclusive_share")[0] == 0
    sub = tx.filter(customers=["a"])
    g = customer_features(sub, at="2024-04-01")
    assert g.column("orders").tolist() == [2.0, 0.0]     # b has no lines: kept, zero orders
    assert math.isnan(g.column("recency_days")[1])
    with pytest.raises(UpsellDataError, match="`name` must be one of"):
        f.column("nope")
    assert f.to_pandas().shape == (2, len(FEATURES) + 1)


@pytest.mark.parametrize("seed", [0, 1])
def test_single_customer_path_matches_batch(seed):
    shop = make_shop(n_customers=150, n_items=60, n_orders=600, random_state=seed)
    tx, cat = shop.transactions, shop.catalog
    at = np.datetime64("2024-10-01T00:00:00")
    batch = customer_features(tx, cat, at=at)
    reader = HistoryReader(tx.items, item_table(tx, cat))
    at_s = float(at.astype(np.int64))
    df = tx.to_pandas()
    for c in tx.customers.ids[:40]:
        lines = df[df["customer"] == c]
        hist = {"order": lines["order"].tolist(), "item": lines["item"].tolist(),
                "quantity": lines["quantity"].tolist(), "price": lines["price"].tolist(),
                "time": lines["time"].to_numpy().astype("datetime64[s]").tolist()}
        one = np.array(features_one(reader.sums(hist, at_s), at_s))
        ref = batch.values[tx.customers.index(c)]
        np.testing.assert_allclose(one, ref, rtol=1e-9, equal_nan=True)


def test_history_formats_and_errors():
    tx, cat = small()
    reader = HistoryReader(tx.items, item_table(tx, cat))
    at_s = float(np.datetime64("2024-04-01T00:00:00").astype(np.int64))
    cols = {"item": ["P1", "ZZ"], "time": ["2024-01-01", "2024-01-02"], "price": [90.0, 3.0]}
    recs = [{"item": "P1", "time": "2024-01-01", "price": 90.0},
            {"item": "ZZ", "time": "2024-01-02", "price": 3.0}]
    a = features_one(reader.sums(cols, at_s), at_s)
    b = features_one(reader.sums(recs, at_s), at_s)
    assert a == pytest.approx(b, nan_ok=True) and a[0] == 2      # no order ids: a line each
    with pytest.raises(UpsellDataError, match="needs 'item' and 'time'"):
        reader.sums({"item": ["P1"]}, at_s)
    with pytest.raises(UpsellDataError, match="same length"):
        reader.sums({"item": ["P1"], "time": ["2024-01-01", "2024-01-02"]}, at_s)
    with pytest.raises(UpsellDataError, match="time must be"):
        reader.sums({"item": ["P1"], "time": ["yesterday"]}, at_s)
    with pytest.raises(UpsellDataError, match="must be a mapping of columns"):
        reader.sums(42, at_s)
