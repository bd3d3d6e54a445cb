"""The compiled forest: LightGBM's scores and exact TreeSHAP contributions, from numpy arrays."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from upsell.recommend._forest import Forest, _shapley_product

from ._forest_data import forest_booster, forest_data

_data = forest_data


def _queries(X):
    rng = np.random.default_rng(9)
    Q = X[rng.integers(0, X.shape[0], 600)].copy()
    Q[rng.random(Q.shape) < 0.2] = np.nan  # NaN where training had none too
    Q[:20, 1] = [-1, -0.5, 0.7, 2.9, 3, 3.5, 6, 7, 40, np.nan, 1e9, -1e9, 0, 1, 2, 4, 5, 6.99,
                 np.inf, -np.inf]
    Q[20:40, 0] = [0.0, -0.0, 1e-36, -1e-36, 1e-30, np.inf, -np.inf] + [np.nan] * 13
    return Q


PARAMS = [
    {"objective": "lambdarank", "num_leaves": 15},
    {"objective": "binary", "num_leaves": 31, "max_depth": 6},
    {"objective": "regression", "num_leaves": 7, "zero_as_missing": True},
    {"objective": "regression", "num_leaves": 4, "use_missing": False},
]


@pytest.mark.parametrize("params", PARAMS)
def test_forest_equals_lightgbm(params):
    X, y = _data(3000, 8, 0)
    b = forest_booster(params, X, y, 60, learning_rate=0.1)
    f = Forest(b)
    assert f.tables_ok
    Q = _queries(X)
    np.testing.assert_allclose(f.predict(Q), b.predict(Q, raw_score=True), rtol=0, atol=1e-9)
    np.testing.assert_allclose(f.contributions(Q[:200]), b.predict(Q[:200], pred_contrib=True),
                               rtol=0, atol=1e-6)
    assert f.predict(Q[:0]).shape == (0,)
    # beyond the tables' budget the deep leaves are solved per request: all of them,
    # or the deepest only
    want = b.predict(Q[:60], pred_contrib=True)
    for budget in (0, f.table.size // 3):
        part = Forest(b, max_table=budget)
        assert part.deep and part.table.size <= budget
        np.testing.assert_allclose(part.contributions(Q[:60]), want, rtol=0, atol=1e-6)
    # tables built at the first contributions when asked so; scores never need them
    lazy = Forest(b, tables=False)
    np.testing.assert_allclose(lazy.predict(Q), f.predict(Q), rtol=0, atol=0)
    assert not hasattr(lazy, "table")
    np.testing.assert_allclose(lazy.contributions(Q[:5]), want[:5], rtol=0, atol=1e-6)


def test_forest_single_leaf_trees_and_width_check():
    X = np.zeros((100, 2))
    b = lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 5},
                  lgb.Dataset(X, np.arange(100.0)), 3)
    f = Forest(b)
    np.testing.assert_allclose(f.predict(X[:3]), b.predict(X[:3]), atol=1e-12)
    np.testing.assert_allclose(f.contributions(X[:3]), b.predict(X[:3], pred_contrib=True),
                               atol=1e-9)
    with pytest.raises(ValueError, match="columns"):
        f.predict(np.zeros((1, 3)))


def test_shapley_product_brute_force():
    """The tabulated Shapley values against the definition (all coalitions)."""
    from itertools import combinations
    from math import factorial

    rng = np.random.default_rng(4)
    for d in (1, 2, 3, 5):
        z = rng.random(d)
        o = (rng.random(d) < 0.5).astype(float)
        got = _shapley_product(z, o)

        def f(S, z=z, o=o, d=d):
            return np.prod([o[j] if j in S else z[j] for j in range(d)])

        for i in range(d):
            rest = [j for j in range(d) if j != i]
            want = sum(factorial(len(S)) * factorial(d - len(S) - 1) / factorial(d)
                       * (f({*S, i}) - f(set(S)))
                       for m in range(d) for S in combinations(rest, m))
            assert got[i] == pytest.approx(want, abs=1e-12)

