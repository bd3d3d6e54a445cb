"""KPIs and CLV inputs aggregated by Spark equal the local ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from upsell import kpi
from upsell.segments import rfm
from upsell.spark import attach_rate, atv, conversion, nps, rfm_summary, upt


@pytest.mark.parametrize("by", [None, "day", "week", "month", "channel", "segment"])
def test_atv_upt_equal(shop_pair: tuple[Any, Any, Any], by: str | None) -> None:
    _, stx, tx = shop_pair
    seg = None
    if by == "segment":
        r = rfm(tx)
        seg = dict(zip(r.customers.tolist(), r.segment.tolist(), strict=True))
    for local_fn, spark_fn in ((kpi.atv, atv), (kpi.upt, upt)):
        a, b = local_fn(tx, by=by, segments=seg), spark_fn(stx, by=by, segments=seg)
        assert a.groups.dtype == b.groups.dtype and np.array_equal(a.groups, b.groups)
        assert np.array_equal(a.denominator, b.denominator)
        np.testing.assert_allclose(b.numerator, a.numerator, rtol=1e-12)
        np.testing.assert_allclose(b.value, a.value, rtol=1e-12)


def test_segments_in_every_local_form(shop_pair: tuple[Any, Any, Any]) -> None:
    _, stx, tx = shop_pair
    r = rfm(tx)
    as_dict = atv(stx, by="segment",
                  segments=dict(zip(r.customers.tolist(), r.segment.tolist(), strict=True)))
    for form in (r, (r.customers, r.segment)):
        got = atv(stx, by="segment", segments=form)
        assert np.array_equal(got.groups, as_dict.groups)
        np.testing.assert_allclose(got.value, as_dict.value, rtol=1e-12)


def test_attach_rate_equal(shop_pair: tuple[Any, Any, Any]) -> None:
    shop, stx, tx = shop_pair
    a, b = kpi.attach_rate(tx, shop.catalog, by="month"), attach_rate(stx, shop.catalog, by="month")
    assert np.array_equal(a.groups, b.groups)
    assert np.array_equal(a.numerator, b.numerator) and np.array_equal(a.denominator, b.denominator)
    assert a.numerator.sum() > 0


def test_clv_inputs_equal_and_fit_locally(shop_pair: tuple[Any, Any, Any]) -> None:
    _, stx, tx = shop_pair
    kw = {"calibration_end": "2024-06-30", "observation_end": "2024-12-31"}
    a, b = kpi.rfm_summary(tx, **kw), rfm_summary(stx, **kw)
    for name in ("customers", "frequency", "recency", "T", "first_purchase", "frequency_holdout"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    np.testing.assert_allclose(b.monetary_value, a.monetary_value, rtol=1e-12)
    np.testing.assert_allclose(b.monetary_value_holdout, a.monetary_value_holdout, rtol=1e-12)
    assert b.duration_holdout == a.duration_holdout
    fa, fb = kpi.BetaGeo().fit(a), kpi.BetaGeo().fit(b)
    for key, value in fa.params_.items():
        assert fb.params_[key] == pytest.approx(value, rel=1e-9)
    rep = b.frequency > 0
    gg = kpi.GammaGamma().fit(frequency=b.frequency[rep], monetary_value=b.monetary_value[rep])
    assert set(gg.params_) == {"p", "q", "gamma"}


def test_nps_and_conversion_equal(spark: Any) -> None:
    scores = [10, 9, 9, 7, 3, 0, 10, 8, 11, None]
    segs = ["a", "b", "a", "b", "a", "b", "a", None, "a", "b"]
    df = spark.createDataFrame(list(zip(scores, segs, strict=True)), "score int, seg string")
    a = kpi.nps(scores, by=segs, invalid="drop")
    b = nps(df, by="seg", invalid="drop")
    for name in ("groups", "n", "promoters", "passives", "detractors", "nps", "low", "high",
                 "n_invalid"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    log = {"event": ["presented"] * 4 + ["accepted", "accepted", "declined"],
           "kind": ["upsell", "upsell", "cross_sell", "cross_sell", "upsell", "cross_sell",
                    "upsell"],
           "revenue": [0.0, 0.0, 0.0, 0.0, 30.0, 12.0, 0.0]}
    ldf = spark.createDataFrame(list(zip(*log.values(), strict=True)),
                                "event string, kind string, revenue double")
    for by in (None, "kind"):
        a2, b2 = kpi.conversion(log, by=by), conversion(ldf, by=by)
        for name in ("groups", "presented", "accepted", "declined", "rate", "low", "high",
                     "revenue", "revenue_per_offer"):
            assert np.array_equal(getattr(a2, name), getattr(b2, name)), name
