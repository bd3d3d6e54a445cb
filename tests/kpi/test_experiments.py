"""A/B tests and sample sizes: against scipy, by hand, and interval properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from upsell import Transactions
from upsell.exceptions import UpsellDataError
from upsell.kpi import ab_test, sample_size


def test_welch_matches_scipy():
    rng = np.random.default_rng(0)
    c, t = rng.gamma(2.0, 20.0, 300), rng.gamma(2.0, 23.0, 250)
    r = ab_test(c, t, metric="atv", random_state=1)
    ref = stats.ttest_ind(t, c, equal_var=False)
    assert r.statistic == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (r.low, r.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert r.bootstrap_low < r.difference < r.bootstrap_high
    assert r.relative_uplift == pytest.approx(r.difference / c.mean())


def test_conversion_z_test_by_hand():
    r = ab_test((100, 1000), (130, 1000), metric="conversion")
    pool = 230 / 2000
    z = 0.03 / np.sqrt(pool * (1 - pool) * 2 / 1000)
    assert r.statistic == pytest.approx(z)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(z))
    r2 = ab_test(np.r_[np.ones(100), np.zeros(900)], np.r_[np.ones(130), np.zeros(870)],
                 metric="conversion")
    assert r2.p_value == pytest.approx(r.p_value)


def test_revenue_per_customer_from_transactions():
    c = Transactions.from_arrays(order=[1, 2, 3], item=["a"] * 3, customer=["x", "x", "y"],
                                 price=[10.0, 10.0, 5.0])
    t = Transactions.from_arrays(order=[1, 2, 3], item=["a"] * 3, customer=["u", "v", "w"],
                                 price=[30.0, 10.0, 5.0])
    r = ab_test(c, t, metric="revenue_per_customer", n_boot=200, random_state=0)
    assert (r.control, r.treatment, r.n_control, r.n_treatment) == (12.5, 15.0, 2, 3)


def test_errors():
    with pytest.raises(UpsellDataError, match="`metric`"):
        ab_test([1, 2], [1, 2], metric="ctr")
    with pytest.raises(UpsellDataError, match="at least 2"):
        ab_test([1], [1, 2])
    with pytest.raises(UpsellDataError, match="conversions out of"):
        ab_test((5, 3), (1, 3), metric="conversion")
    with pytest.raises(UpsellDataError, match="`sd`"):
        sample_size(baseline=10, mde=1, kind="mean")


def test_sample_size_by_hand():
    assert sample_size(baseline=0.10, mde=0.02) == 3841
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    assert sample_size(baseline=50, mde=5, kind="mean", sd=40) == int(
        np.ceil(2 * (za + zb) ** 2 * 1600 / 25))
    assert sample_size(baseline=0.10, mde=0.2, relative=True) == 3841


@settings(max_examples=30, deadline=None)
@given(c=st.lists(st.floats(0, 1000), min_size=5, max_size=40),
       t=st.lists(st.floats(0, 1000), min_size=5, max_size=40),
       kc=st.integers(0, 50), kt=st.integers(0, 50))
def test_every_interval_contains_its_estimate(c, t, kc, kt):
    r = ab_test(c, t, metric="atv", n_boot=200, random_state=0)
    assert r.low <= r.difference <= r.high
    assert r.bootstrap_low <= r.difference <= r.bootstrap_high
    p = ab_test((kc, 50), (kt, 50), metric="conversion")
    assert p.low <= p.difference <= p.high
