"""explain="paths": path attributions from a table per leaf (``Forest.paths``)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from upsell.recommend._forest import Forest

from ._forest_data import forest_booster, forest_data

PARAMS = [
    {"objective": "lambdarank", "num_leaves": 15},
    {"objective": "binary", "num_leaves": 31, "max_depth": 6},
    {"objective": "regression", "num_leaves": 7, "zero_as_missing": True},
]


def _data(n, F, seed):
    return forest_data(n, F, seed, nan_category=0.0)


def _reference(dump, x, F):
    """Tree interpreter by hand: walk each tree of ``dump_model()`` (numerical splits with
    NaN / zero rules, categorical splits) adding each split's change of the node's
    count-weighted mean leaf value to the split's feature."""

    def mass(n):
        if "leaf_value" in n:
            return n["leaf_value"] * n["leaf_count"], n["leaf_count"]
        a, c = mass(n["left_child"])
        b, d = mass(n["right_child"])
        return a + b, c + d

    def mean(n):
        m, c = mass(n)
        return m / c

    out = np.zeros(F + 1)
    for t in dump["tree_info"]:
        n = t["tree_structure"]
        out[F] += mean(n)
        while "leaf_value" not in n:
            v = x[n["split_feature"]]
            if n["decision_type"] == "==":
                cats = {int(c) for c in str(n["threshold"]).split("||")}
                go = not np.isnan(v) and v >= 0 and int(v) in cats
            else:
                mt, th = n["missing_type"], n["threshold"]
                zero = mt == "Zero" and (np.isnan(v) or abs(v) <= 1e-35)
                if (np.isnan(v) and mt == "NaN") or zero:
                    go = n["default_left"]
                else:
                    go = (0.0 if np.isnan(v) else v) <= th
            ch = n["left_child"] if go else n["right_child"]
            out[n["split_feature"]] += mean(ch) - mean(n)
            n = ch
    return out


@pytest.mark.parametrize("params", PARAMS)
def test_paths_equal_a_tree_interpreter_and_sum_to_the_score(params):
    X, y = _data(2000, 6, 0)
    b = forest_booster(params, X, y, 30)
    f = Forest(b, tables=False)
    Q = X[:80].copy()
    Q[:5, 0] = [np.nan, 0.0, 1e-36, np.inf, -np.inf]
    P = f.paths(Q)
    assert P.shape == (80, 7)
    np.testing.assert_allclose(P.sum(axis=1), b.predict(Q, raw_score=True), rtol=0, atol=1e-9)
    dump = b.dump_model()
    want = np.array([_reference(dump, x, 6) for x in Q])
    np.testing.assert_allclose(P[:, :6], want[:, :6], rtol=0, atol=1e-9)
    # beyond the dense table's budget: padded (feature, change) pairs per leaf, same values
    small = Forest(b, tables=False, max_table=10)
    np.testing.assert_allclose(small.paths(Q), P, rtol=0, atol=1e-12)
    assert small._path_table[1] is not None and f._path_table[1] is None
    # the bias column is TreeSHAP's expected value (the same in both explanations)
    np.testing.assert_allclose(P[:, 6], b.predict(Q[:1], pred_contrib=True)[0, -1], atol=1e-9)
    # leaves from LightGBM's pred_leaf are the numpy walk's
    np.testing.assert_array_equal(f.lgb_to_leaf[f._lgb_leaves(Q)], f._leaf_of[f._walk(Q)].T)
    assert f.paths(Q[:0]).shape == (0, 7)
    assert f._pending is not None  # paths never build the TreeSHAP tables
    assert Forest(b)._path_table is None  # nor contributions the path table


def test_paths_of_a_single_leaf_tree():
    X = np.random.default_rng(0).normal(size=(50, 2))
    b = lgb.train({"verbose": -1, "min_data_in_leaf": 100, "num_threads": 1},
                  lgb.Dataset(X, np.ones(50)), 2)
    f = Forest(b, path_table=True)
    assert f._path_table is not None
    P = f.paths(X[:3])
    np.testing.assert_allclose(P[:, :2], 0.0)
    np.testing.assert_allclose(P.sum(axis=1), b.predict(X[:3], raw_score=True))


# ---------------------------------------------------------------------- in the blend
def test_blend_paths_mode_same_offers_and_worded_reasons(tmp_path):
    from upsell.datasets import make_shop
    from upsell.recommend import Recommender
    from upsell.recommend.blend import LearnedBlend, history_parts

    shop = make_shop(n_customers=250, n_items=50, n_orders=2200, random_state=1)
    fast = {"param_grid": [(7, 0.01)], "max_rounds": 15, "n_cuts": 3, "max_customers": 200,
            "n_candidates": 30}
    blend = LearnedBlend(**fast, explain="paths").fit(shop.transactions, catalog=shop.catalog)
    parts = history_parts(shop.transactions, shop.catalog, blend="weighted")
    rec = Recommender(**{**parts, "blend": blend}).fit()
    ids = list(shop.transactions.customers.ids[:15])

    def offers():
        return [[(o.item, o.score, o.reason.summary) for o in
                 rec.recommend(customer=c, k=4, at="2011-01-01", include_owned=inc)]
                for inc in (False, True) for c in ids]

    paths = offers()
    blend.save(tmp_path / "b")  # the mode is saved with the blend
    assert LearnedBlend.load(tmp_path / "b").explain == "paths"
    forests = blend._forests
    assert all(f._path_table is not None and f._pending is not None for f in forests.values())
    blend.explain = "contributions"
    exact = offers()
    assert [[x[:2] for x in r] for r in paths] == [[x[:2] for x in r] for r in exact]
    texts = [x[2] for r in paths for x in r]
    assert texts and all(texts)
    assert any(t != "ranked by the learned blend" for t in texts)
    # the reasons' contributions are the ranker's path attributions
    from upsell.recommend._blend_features import feature_names

    blend.explain = "paths"
    X = np.random.default_rng(0).random((3, len(feature_names())))
    c = blend._contrib(X, "new")
    want = blend._forest("new").paths(np.ascontiguousarray(X[:, blend.columns_]))
    np.testing.assert_allclose(c[:, blend.columns_], want[:, :-1])
