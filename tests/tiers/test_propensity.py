"""The logistic model and the reliability table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.exceptions import UpsellDataError
from upsell.tiers import fit_logistic, reliability_table


def test_fit_logistic_recovers_coefficients():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20_000, 2)) * [1.0, 3.0] + [0.0, 5.0]
    z = 1.5 * X[:, 0] - 0.4 * X[:, 1] + 1.0
    y = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(float)
    w, b = fit_logistic(X, y, l2=1e-6).raw_coef()
    assert w == pytest.approx([1.5, -0.4], abs=0.06)
    assert b == pytest.approx(1.0, abs=0.2)


def test_l2_shrinks_and_constant_columns_are_harmless():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=500), np.ones(500)]
    y = (X[:, 0] + rng.normal(size=500) > 0).astype(float)
    loose = fit_logistic(X, y, l2=0.0)
    tight = fit_logistic(X, y, l2=1000.0)
    assert abs(tight.coef[0]) < abs(loose.coef[0])
    assert loose.coef[1] == pytest.approx(0.0, abs=1e-6)
    assert loose.converged


def test_fit_logistic_validates():
    with pytest.raises(UpsellDataError, match="0 and 1"):
        fit_logistic(np.zeros((2, 1)), np.array([0, 2]))
    with pytest.raises(UpsellDataError, match="non-finite"):
        fit_logistic(np.array([[np.nan]]), np.array([1]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=200),
       st.integers(1, 12), st.sampled_from(["quantile", "uniform"]))
def test_reliability_table_counts_and_bounds(rows, n_bins, strategy):
    y = np.array([r[0] for r in rows], dtype=float)
    p = np.array([r[1] for r in rows])
    r = reliability_table(y, p, n_bins=n_bins, strategy=strategy)
    assert r.count.sum() == y.size
    assert len(r) <= n_bins
    assert np.all((r.observed >= 0) & (r.observed <= 1))
    assert np.all(r.mean_predicted >= r.bin_low - 1e-12)
    assert np.all(r.mean_predicted <= r.bin_high + 1e-12)
    assert 0 <= r.ece <= 1
