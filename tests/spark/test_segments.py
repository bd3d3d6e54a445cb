"""RFM, customer features and personas from Spark aggregations equal the local ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.segments import Personas, customer_features, rfm
from upsell.spark import customer_features as spark_features
from upsell.spark import predict_personas
from upsell.spark import rfm as spark_rfm


def test_rfm_equal(shop_pair: tuple[Any, Any, Any]) -> None:
    _, stx, tx = shop_pair
    for at in (None, "2024-06-01"):
        local, got = rfm(tx, at=at), spark_rfm(stx, at=at)
        assert got.at == local.at
        for name in ("customers", "recency", "frequency", "r", "f", "m", "segment"):
            assert np.array_equal(getattr(local, name), getattr(got, name)), name
        np.testing.assert_allclose(got.monetary, local.monetary, rtol=1e-12)


def test_features_and_personas_equal(shop_pair: tuple[Any, Any, Any]) -> None:
    shop, stx, tx = shop_pair
    local = customer_features(tx, shop.catalog)
    got = spark_features(stx, shop.catalog)
    assert np.array_equal(local.customers, got.customers) and got.at == local.at
    np.testing.assert_allclose(got.values, local.values, rtol=1e-12, equal_nan=True)
    model = Personas().fit(tx, catalog=shop.catalog)
    a, b = model.predict(), predict_personas(model, stx)
    assert np.array_equal(a.persona, b.persona)
    np.testing.assert_allclose(b.scores, a.scores, rtol=1e-6)
