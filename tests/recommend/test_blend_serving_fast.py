"""LearnedBlend at serving time: the cascade (first trees for every candidate, the rest for
the best) and the one-id customer lookup."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from upsell.data.ids import IdIndex
from upsell.datasets import make_shop
from upsell.exceptions import UpsellDataError
from upsell.recommend._blend_one import (
    CASCADE,
    cascade_keep,
    cascade_raw,
    cascade_trees,
    customer_row,
    used_trees,
)
from upsell.recommend.blend import LearnedBlend
from upsell.recommend.blending import BlendRequest

FAST = {"param_grid": [(7, 0.01)], "max_rounds": 30, "n_cuts": 3, "max_customers": 200,
        "n_candidates": 60}


@pytest.fixture(scope="module")
def booster():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 5))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X[:, 0]) + (np.nan_to_num(X[:, 1]) > 0) + 0.3 * rng.normal(size=2000)
    return lgb.train({"num_leaves": 7, "verbose": -1, "min_data_in_leaf": 5,
                      "learning_rate": 0.1}, lgb.Dataset(X, y), 30)


def test_cascade_trees_rule():
    assert cascade_keep(5) == 20 and cascade_keep(10) == 40 and cascade_keep(1) == 20
    assert cascade_trees(1 / 3, 240, 60, 20) == 80
    assert cascade_trees(0.001, 240, 60, 20) == 1  # at least one tree
    assert cascade_trees(0.999, 240, 60, 20) == 239  # fewer than all
    for share, rows in ((None, 60), (0.0, 60), (1.0, 60), (1 / 3, 20), (1 / 3, 5)):
        assert cascade_trees(share, 240, rows, 20) == 0  # off, or nothing to leave out
    assert cascade_trees(0.5, 1, 60, 20) == 0


def test_cascade_without_a_first_pass_is_the_full_raw_score(booster):
    X = np.random.default_rng(1).normal(size=(50, 5))
    full = booster.predict(X, raw_score=True)
    np.testing.assert_array_equal(cascade_raw(booster, X, 0, 20), full)
    adj = np.linspace(-1, 1, 50)
    np.testing.assert_array_equal(cascade_raw(booster, X, 0, 20, adj), full + adj)


@pytest.mark.parametrize("with_adj", [False, True])
@pytest.mark.parametrize("first", [1, 10, 29])
def test_cascade_finishes_the_best_and_ranks_the_others_below(booster, first, with_adj):
    rng = np.random.default_rng(first)
    X = rng.normal(size=(60, 5))
    X[rng.random(X.shape) < 0.1] = np.nan
    adj = rng.normal(size=60) if with_adj else None
    keep = 20
    got = cascade_raw(booster, X, first, keep, adj)
    part = booster.predict(X, raw_score=True, num_iteration=first) + (0 if adj is None else adj)
    full = booster.predict(X, raw_score=True) + (0 if adj is None else adj)
    top = np.argsort(-part, kind="stable")[:keep]
    low = np.setdiff1d(np.arange(60), top)
    # the finished rows have the model's score (one more rounding step at most)
    np.testing.assert_allclose(got[top], full[top], rtol=0, atol=1e-12)
    # the others rank below every finished row, in their first-pass order and spacing
    assert got[low].max() < got[top].min()
    np.testing.assert_allclose(np.diff(got[low]), np.diff(part[low]), atol=1e-9)
    # the best `keep` of the full scores that the first pass kept are served alike
    assert set(np.argsort(-got, kind="stable")[:keep]) == set(top)


def test_used_trees_follows_the_best_iteration(booster):
    assert used_trees(booster) == booster.num_trees()
    booster.best_iteration = 12
    try:
        assert used_trees(booster) == 12
    finally:
        booster.best_iteration = -1


@given(hs.lists(hs.one_of(hs.integers(-5, 30), hs.text(max_size=3), hs.none(),
                          hs.floats(allow_nan=False, max_value=40, min_value=-5)),
                min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_customer_row_equals_encode(values):
    ints = IdIndex([3, 7, 11, 20, 25])
    strs = IdIndex(["a", "b", " c", "12", "7"])
    for index in (ints, strs):
        for v in values:
            want = -1 if v is None else int(index.encode([v], unknown="mask")[0])
            assert customer_row(index, v) == want
            if isinstance(v, int):
                assert customer_row(index, np.int64(v)) == want


@pytest.fixture(scope="module")
def shop():
    return make_shop(n_customers=300, n_items=120, n_orders=3000, random_state=3)


@pytest.fixture(scope="module")
def fitted(shop):
    return LearnedBlend(**FAST).fit(shop.transactions, catalog=shop.catalog, random_state=0)


def _request(customer, k, include_owned):
    return BlendRequest(customer=customer, customer_index=0, basket=np.zeros(0, np.int32),
                        owned=np.zeros(0, np.int32), owned_time=np.zeros(0, "datetime64[s]"),
                        at=np.datetime64("NaT", "s"), segment=None, moment=None,
                        channel="web", k=k, include_owned=include_owned)


def test_blend_cascade_keeps_the_best_rows_and_their_scores(fitted, shop):
    """blend(): with the cascade the best rows of a request keep their (full) scores and
    order; without it every row is scored by every tree."""
    bound = fitted.bind(shop.catalog, ("a",))
    st = fitted.state_
    rng = np.random.default_rng(2)
    n_items = len(shop.catalog)
    custs = np.flatnonzero(st.cust["orders"] > 0)[:10].tolist()
    assert fitted.cascade == CASCADE
    for c in custs:
        items = rng.choice(n_items, 70, replace=False).astype(np.int32)
        for inc in (False, True):
            req = _request(fitted.customers_.ids[c], 2, inc)
            try:
                bound.cascade = None
                full, _ = bound.blend(req, items, np.full((70, 1), np.nan), ("a",))
            finally:
                bound.cascade = CASCADE
            got, _ = bound.blend(req, items, np.full((70, 1), np.nan), ("a",))
            assert got.shape == full.shape and np.isfinite(got).all()
            assert not np.array_equal(got, full)  # the cascade ran (rows left unfinished)
            keep = cascade_keep(2)
            top = np.argsort(-got, kind="stable")[:keep]
            np.testing.assert_allclose(got[top], full[top], rtol=0, atol=1e-9)
            # the offers (best 2) agree with full scoring on this small shop
            assert set(np.argsort(-got, kind="stable")[:2]) == \
                set(np.argsort(-full, kind="stable")[:2])


def test_cascade_is_validated_saved_and_optional_in_files(fitted, tmp_path):
    with pytest.raises(UpsellDataError, match="cascade"):
        LearnedBlend(cascade=1.5)._validate()
    LearnedBlend(cascade=None)._validate()
    fitted.save(tmp_path / "a")
    params = json.loads((tmp_path / "a" / "blend.json").read_text())["params"]
    assert "cascade" not in params  # the default is not written: older upsell reads the file
    assert LearnedBlend.load(tmp_path / "a").cascade == CASCADE
    fitted.cascade = 0.5
    try:
        fitted.save(tmp_path / "b")
    finally:
        fitted.cascade = CASCADE
    assert json.loads((tmp_path / "b" / "blend.json").read_text())["params"]["cascade"] == 0.5
    assert LearnedBlend.load(tmp_path / "b").cascade == 0.5
    assert LearnedBlend.load(tmp_path / "b", cascade=None).cascade is None


def test_pipeline_skips_what_the_learned_blend_does_not_read(fitted, shop, monkeypatch):
    """The pipeline hands LearnedBlend NaN source scores and no owned items (it reads its own
    state); the offers are those of the full inputs."""
    from upsell.recommend import Recommender
    from upsell.recommend.blend import history_parts

    parts = history_parts(shop.transactions, shop.catalog, blend="weighted")
    rec = Recommender(**{**parts, "blend": fitted}).fit()
    seen = []
    orig = LearnedBlend.blend

    def spy(self, request, items, scores, names):
        seen.append((request.owned.size, bool(np.isnan(scores).all())))
        return orig(self, request, items, scores, names)

    monkeypatch.setattr(LearnedBlend, "blend", spy)
    ids = list(shop.transactions.customers.ids[:15])

    def offers():
        return [[(o.item, o.score, o.reason.summary) for o in
                 rec.recommend(customer=c, k=4, include_owned=bool(j % 2), at="2011-01-01")]
                for j, c in enumerate(ids)]

    lean = offers()
    assert seen and all(n == 0 and nan for n, nan in seen)
    seen.clear()
    monkeypatch.setattr(fitted, "_own_inputs", False, raising=False)
    assert offers() == lean
    assert any(n > 0 for n, _ in seen) and not all(nan for _, nan in seen)
