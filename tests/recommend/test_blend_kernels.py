"""The learned blend's compiled kernels (``_kernels.py``, numba) equal their numpy twins bit for bit.

Each kernel is checked against the numpy function it replaces on small random inputs
(hypothesis): float32 and float64 stored values, int32 (scipy's) and int64 index arrays,
empty rows and empty inputs, many equal values (the tie-breaks), and the per-thread
scratch left as found. Then the whole request: ``OneCustomer.features`` through the
kernels equals its numpy path, also from two threads at once, and ``Forest.raw``
equals LightGBM's raw scores and ``cascade_raw``.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as hs

from upsell.recommend._kernels import give, kernels, take

KN = kernels()
pytestmark = pytest.mark.skipif(
    KN is None, reason="numba is not installed or cannot compile here: kernels() is None "
    "and the learned blend serves through its numpy path (tested elsewhere)")

from upsell.recommend._blend_one import (  # noqa: E402
    OneCustomer,
    _gather_pos,
    _row_max,
    _score_rank,
    _top_k,
    cascade_raw,
)
from upsell.recommend._forest import Forest  # noqa: E402

from ._blend_data import FAST, small_shop  # noqa: E402

# stored values: ties, sums that cancel to a few ulps (0.1 + 0.2 - 0.3), negatives (EASE)
VALUES = (0.0, 0.1, 0.2, 0.3, 1 / 3, 0.5, 0.5, 1.0, 2.5, -0.1, -0.3, -0.5)
WEIGHTS = (1.0, 1.0, 0.5, 0.3, 1 / 3, 0.7, 0.1, 2.0)
# (stored values, indptr, indices): scipy's int32, and int64 as large matrices hold
DTYPES = [(np.float32, np.int32, np.int32), (np.float64, np.int32, np.int32),
          (np.float32, np.int64, np.int64), (np.float64, np.int64, np.int64)]
PROP = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------- helpers
def _scratch(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    acc, seen, slot = take(n)
    _assert_clean(acc, seen, slot)
    return acc, seen, slot


def _assert_clean(acc: np.ndarray, seen: np.ndarray, slot: np.ndarray) -> None:
    assert acc.dtype == np.float64 and seen.dtype == np.uint8 and slot.dtype == np.int64
    assert not acc.any(), "a kernel left float64 scratch non-zero"
    assert not np.signbit(acc).any(), "a kernel left -0.0 in the float64 scratch"
    assert not seen.any(), "a kernel left uint8 scratch non-zero"
    assert (slot == -1).all(), "a kernel left int64 scratch other than -1"


def _same(got: Any, want: Any) -> None:
    """Equal arrays (NaN equal NaN), same dtype when not empty."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got, want)
    if want.size:
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def _parts(M: sp.csr_matrix, idx: Any, val: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return M.indptr.astype(idx[0]), M.indices.astype(idx[1]), M.data.astype(val)


@hs.composite
def matrices(draw: Any, max_rows: int = 8, max_cols: int = 24,
             values: tuple[float, ...] = VALUES, square: bool = False) -> sp.csr_matrix:
    """A small csr matrix: empty rows, explicit zeros and equal values likely."""
    n_rows = draw(hs.integers(1, max_rows))
    n_cols = n_rows if square else draw(hs.integers(1, max_cols))
    density = draw(hs.sampled_from([0.0, 0.15, 0.4, 0.8]))
    seed = draw(hs.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_cols)) < density
    mask[rng.random(n_rows) < 0.2] = False  # some empty rows
    r, c = np.nonzero(mask)
    v = np.asarray(values, dtype=np.float64)[rng.integers(0, len(values), r.size)]
    M = sp.csr_matrix((v, (r, c)), shape=(n_rows, n_cols))  # keeps explicit zeros
    M.sort_indices()
    return M


def _distinct(draw: Any, n: int, max_size: int | None = None, sort: bool = False,
              lo: int = 0) -> np.ndarray:
    got = draw(hs.lists(hs.integers(lo, max(n - 1, lo)), unique=True, max_size=max_size)) \
        if n > lo else []
    a = np.asarray(got, dtype=np.int64)
    return np.sort(a) if sort else a


# --------------------------------------------------------------------------- scratch
def test_scratch_sets_are_pooled_zeroed_and_grow():
    first = take(10)
    assert first[0].size >= 10 and first[1].size >= 10 and first[2].size >= 10
    _assert_clean(*first)
    second = take(10)  # taken while the first is out: another set
    assert second[0] is not first[0]
    give(second)
    give(first)
    again = take(5)  # a given-back set is reused while it is large enough
    assert again[0] is first[0] or again[0] is second[0]
    give(again)
    big = take(first[0].size + 7)
    assert big[0].size >= first[0].size + 7
    _assert_clean(*big)
    give(big)


# --------------------------------------------------------------------------- edge rows
def _all_ranked(M, rows, use_max=False):
    """gather_rank of every column and the numpy twin's, for a few edge cases."""
    acc, seen, slot = _scratch(max(M.shape) + 1)
    ci = np.arange(M.shape[1], dtype=np.int64)
    got = KN.gather_rank(M.indptr, M.indices, M.data, rows, np.ones(rows.size), use_max, ci,
                         acc, seen)
    row = _row_max(M, rows) if use_max else _gather_pos(M, rows, None, M.shape[1])
    want = _score_rank(*row, ci)
    _same(got[0], want[0])
    _same(got[1], want[1])
    _assert_clean(acc, seen, slot)
    return got


def test_gather_rank_empty_inputs():
    M = sp.csr_matrix(np.array([[0, 1.5], [0, 0]], dtype=np.float32))
    for rows in (np.empty(0, np.int64), np.array([1], dtype=np.int64)):  # none; an empty row
        for use_max in (False, True):
            score, rank = _all_ranked(M, rows, use_max)
            assert (score == 0).all() and np.isnan(rank).all()
    E = sp.csr_matrix((3, 5), dtype=np.float32)
    _all_ranked(E, np.arange(3))


def test_gather_rank_keeps_a_sum_that_cancels_to_a_few_ulps():
    """0.1 + 0.2 - 0.3 is 5.6e-17 in float64: positive, kept (float32 keeps it too)."""
    M = sp.csr_matrix(np.array([[0.1], [0.2], [-0.3]]))
    score, rank = _all_ranked(M, np.arange(3))
    assert score[0] > 0 and rank[0] == 1


# --------------------------------------------------------------------------- score_rank
@hs.composite
def rows_and_candidates(draw: Any, positive32: bool) -> tuple[np.ndarray, ...]:
    cols = _distinct(draw, 60, max_size=30, sort=True)
    pool = (0.25, 0.5, 0.5, 1.0, 1 / 3, 7.0, 1e-3, 2.0**-130)  # a float32 subnormal too
    if not positive32:
        pool = (*pool, 0.0, -0.0, -0.5, -1.0, -1 / 3)
    vals = np.asarray(draw(hs.lists(hs.sampled_from(pool), min_size=cols.size,
                                    max_size=cols.size)))
    vals = vals.astype(np.float32 if positive32 else np.float64)
    if positive32:
        assert (vals > 0).all()
    ci = _distinct(draw, 70, max_size=25)
    return cols, vals, ci


@pytest.mark.parametrize("positive32", [True, False])
@PROP
@given(data=hs.data())
def test_score_rank_equals_numpy(positive32, data):
    cols, vals, ci = data.draw(rows_and_candidates(positive32))
    for c in (cols, cols.astype(np.int32)):
        got = KN.score_rank(c, vals, ci)
        want = _score_rank(cols, vals, ci)
        _same(got[0], want[0])
        _same(got[1], want[1])


def test_score_rank_ties_and_empty():
    cols = np.array([1, 3, 4, 8, 9])
    vals = np.array([0.5, 0.9, 0.5, 0.5, 0.1], dtype=np.float32)
    ci = np.array([8, 1, 3, 2, 9, 4])
    score, rank = KN.score_rank(cols, vals, ci)
    np.testing.assert_array_equal(rank, [4, 2, 1, np.nan, 5, 3])
    np.testing.assert_array_equal(score, vals[[3, 0, 1, 1, 4, 2]] * [1, 1, 1, 0, 1, 1])
    for c, v, q in ((cols[:0], vals[:0], ci), (cols, vals, ci[:0]), (cols[:0], vals[:0], ci[:0])):
        got, want = KN.score_rank(c, v, q), _score_rank(c, v, q)
        _same(got[0], want[0])
        _same(got[1], want[1])


# --------------------------------------------------------------------------- gather_rank
@pytest.mark.parametrize(("val", "ip", "ix"), DTYPES)
@PROP
@given(M=matrices(), data=hs.data())
def test_gather_rank_equals_score_rank_of_the_row(val, ip, ix, M, data):
    rows = _distinct(data.draw, M.shape[0])
    w = np.asarray(data.draw(hs.lists(hs.sampled_from(WEIGHTS), min_size=rows.size,
                                      max_size=rows.size)), dtype=np.float64)
    ci = _distinct(data.draw, M.shape[1], max_size=12)
    M.data = M.data.astype(val)
    indptr, indices, vals = _parts(M, (ip, ix), val)
    n = M.shape[1]
    acc, seen, slot = _scratch(max(M.shape) + 1)
    cases = ((False, None, np.ones(rows.size)), (False, w, w),
             (True, None, np.ones(rows.size)))
    for use_max, weights, kw in cases:
        got = KN.gather_rank(indptr, indices, vals, rows, kw, use_max, ci, acc, seen)
        row = _row_max(M, rows) if use_max else _gather_pos(M, rows, weights, n)
        want = _score_rank(*row, ci)
        _same(got[0], want[0])
        _same(got[1], want[1])
        _assert_clean(acc, seen, slot)


# --------------------------------------------------------------------------- gather_top
def _gather_top_twin(M: sp.csr_matrix, rows: np.ndarray, w: np.ndarray, skip: int, k: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    cu, sim = _gather_pos(M, rows, w, M.shape[1])
    keep = cu != skip
    cu, sim = cu[keep], sim[keep]
    if cu.size > k:
        top = _top_k(cu, sim, k)
        cu, sim = cu[top], sim[top]
    return cu, sim


@pytest.mark.parametrize(("val", "ip", "ix"), DTYPES)
@PROP
@given(M=matrices(values=(0.0, 0.5, 0.5, 1.0, 1.0, 1 / 3, 0.1, -0.1)), data=hs.data())
def test_gather_top_equals_numpy(val, ip, ix, M, data):
    rows = _distinct(data.draw, M.shape[0])
    w = np.asarray(data.draw(hs.lists(hs.sampled_from(WEIGHTS), min_size=rows.size,
                                      max_size=rows.size)), dtype=np.float64)
    skip = data.draw(hs.integers(-1, M.shape[1]))
    k = data.draw(hs.integers(1, M.shape[1] + 1))
    M.data = M.data.astype(val)
    indptr, indices, vals = _parts(M, (ip, ix), val)
    acc, seen, slot = _scratch(max(M.shape) + 1)
    got = KN.gather_top(indptr, indices, vals, rows, w, skip, k, acc, seen)
    want = _gather_top_twin(M, rows, w, skip, k)
    _same(got[0], want[0])
    _same(got[1], want[1])
    _assert_clean(acc, seen, slot)


def test_gather_top_all_tied_takes_the_smallest_columns():
    cols = np.arange(0, 100, 3, dtype=np.int64)
    M = sp.csr_matrix((np.ones(cols.size, dtype=np.float32), cols, [0, cols.size]),
                      shape=(1, 100))
    acc, seen, slot = _scratch(101)
    for k in (1, 5, cols.size - 1, cols.size, cols.size + 3):
        got = KN.gather_top(M.indptr, M.indices, M.data, np.zeros(1, np.int64), np.ones(1), -1,
                            k, acc, seen)
        _same(got[0], cols[:min(k, cols.size)])
    _assert_clean(acc, seen, slot)


# --------------------------------------------------------------------------- conf_max
def _conf_twin(M: sp.csr_matrix) -> OneCustomer:
    """A OneCustomer holding only what ``_conf`` reads, on its numpy path."""
    one = OneCustomer.__new__(OneCustomer)
    one.st = SimpleNamespace(conf=M, n_items=M.shape[0])
    Mt = M.T.tocsr()
    Mt.sort_indices()
    one.conf_t = Mt
    one.kernels = None
    return one


def _conf_check(M: sp.csr_matrix, hidx: np.ndarray, last: np.ndarray, ci: np.ndarray,
                val: Any, ip: Any, ix: Any) -> None:
    M = M.astype(val)
    one = _conf_twin(M)
    Mt = one.conf_t
    acc, seen, slot = _scratch(M.shape[0] + 1)
    got = KN.conf_max(*_parts(M, (ip, ix), val), *_parts(Mt, (ip, ix), val),
                      hidx.astype(np.int64), last, ci, slot, seen)
    want = one._conf(hidx, last, ci)
    _same(got[0], want[0])
    _same(got[1], want[1])
    _assert_clean(acc, seen, slot)


CONF_VALUES = (0.0, 0.1, 0.25, 0.5, 0.5, 1 / 3, 1.0)  # shares: ties, explicit zeros


@pytest.mark.parametrize(("val", "ip", "ix"), DTYPES)
@PROP
@given(M=matrices(max_rows=20, values=CONF_VALUES, square=True), data=hs.data())
def test_conf_max_equals_numpy(val, ip, ix, M, data):
    """Short and long histories (the twin reads rows or columns: both)."""
    n = M.shape[0]
    hidx = _distinct(data.draw, n, sort=True).astype(np.int32)  # H's indices
    last = _distinct(data.draw, n, sort=True)
    ci = _distinct(data.draw, n)
    _conf_check(M, hidx, last, ci, val, ip, ix)


def test_conf_max_float64_history_max_is_float32s():
    """The numpy twin keeps the history maxima in float32: so does the kernel."""
    M = sp.csr_matrix(np.array([[0.0, 0.1], [0.0, 0.0]]))
    for hidx in (np.array([0], dtype=np.int32), np.array([0, 1], dtype=np.int32)):
        _conf_check(M, hidx, np.array([0], dtype=np.int64), np.array([1]), np.float64,
                    np.int32, np.int32)


def test_conf_max_empty_inputs():
    M = sp.csr_matrix(np.array([[0, 0.5, 0], [0, 0, 0], [1.0, 0.25, 0]], dtype=np.float32))
    e = np.empty(0, np.int64)
    for hidx, last, ci in ((e, e, e), (e, e, np.array([0, 1])), (np.array([1]), np.array([1]),
                           np.array([2, 0])), (np.array([0, 2]), e, e)):
        _conf_check(M, hidx.astype(np.int32), last, ci, np.float32, np.int32, np.int32)


# --------------------------------------------------------------------------- one request
@pytest.fixture(scope="module")
def state():
    from upsell.recommend.blend import LearnedBlend

    shop = small_shop()
    return LearnedBlend(**FAST).fit(shop.transactions, catalog=shop.catalog,
                                    random_state=0).state_


def _requests(st: Any, n: int, seed: int) -> list[tuple[int, np.ndarray, int | None, Any]]:
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(st.cust["orders"] > 0)
    out = []
    for j, c in enumerate(rng.choice(known, n, replace=False).tolist()):
        size = int(rng.integers(0, st.n_items + 1)) if j % 5 else st.n_items
        ci = rng.permutation(st.n_items)[:size].astype(np.int64)
        basket = None
        if j % 3 == 1:
            basket = np.unique(rng.choice(st.n_items, int(rng.integers(1, 6)))).astype(np.int64)
        at = None if j % 2 else int(st.cut) + 40 * 86_400
        out.append((c, ci, at, basket))
    return out


def test_features_through_kernels_equal_the_numpy_path(state):
    fast = OneCustomer(state)
    assert fast.kernels is not None
    slow = OneCustomer(state)
    slow.kernels = None
    for c, ci, at, basket in _requests(state, 30, 0):
        for b in (basket, None, np.empty(0, np.int64)):
            X1, best1 = fast.features(c, ci, at=at, basket=b)
            X0, best0 = slow.features(c, ci, at=at, basket=b)
            _same(X1, X0)
            _same(best1, best0)
        _same(fast.basket_conf(ci[:3], ci), slow.basket_conf(ci[:3], ci))
    from upsell.recommend import _kernels

    for sc in _kernels._POOL:  # every set the requests gave back is clean
        _assert_clean(*sc)


def test_features_from_two_threads_equal_one_thread(state):
    one = OneCustomer(state)
    reqs = _requests(state, 40, 1)
    want = [one.features(c, ci, at=at, basket=b) for c, ci, at, b in reqs]
    got: dict[int, list[Any]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def serve(t: int) -> None:
        try:
            start.wait()
            order = list(range(len(reqs)))
            if t:
                order.reverse()  # the two threads on different customers at once
            got[t] = [(j, one.features(reqs[j][0], reqs[j][1], at=reqs[j][2],
                                       basket=reqs[j][3])) for _ in range(5) for j in order]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=serve, args=(t,)) for t in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for t in (0, 1):
        assert len(got[t]) == 5 * len(reqs)
        for j, (X, best) in got[t]:
            _same(X, want[j][0])
            _same(best, want[j][1])


# --------------------------------------------------------------------------- Forest.raw
def _data(n: int, seed: int, F: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Features with NaN, exact and tiny zeros; column 1 categorical (0-6, NaN)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, F))
    X[rng.random(X.shape) < 0.12] = np.nan
    X[rng.random(X.shape) < 0.12] = 0.0
    X[:, 1] = rng.integers(0, 7, n).astype(float)
    X[rng.random(n) < 0.1, 1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + (X[:, 1] == 3) + np.nan_to_num(X[:, 2]) * (X[:, 3] == 0)
         + 0.3 * rng.normal(size=n))
    return X, y


def _train(params: dict[str, Any], rounds: int, *, n: int = 600, seed: int = 0,
           cat: bool = True, **kw: Any) -> Any:
    X, y = _data(n, seed)
    ds = lgb.Dataset(X, y, categorical_feature=[1] if cat else "auto",
                     params={"verbose": -1, **{k: v for k, v in params.items()
                                               if k == "zero_as_missing"}})
    return lgb.train({"verbose": -1, "num_threads": 1, "min_data_in_leaf": 10,
                      "num_leaves": 7, "learning_rate": 0.2, "min_data_per_group": 5,
                      "cat_smooth": 1.0, **params}, ds, rounds, **kw)


def _early_stopped() -> Any:
    X, y = _data(600, 0)
    Xv, yv = _data(300, 9)
    return lgb.train({"verbose": -1, "num_threads": 1, "num_leaves": 15, "learning_rate": 0.5,
                      "min_data_in_leaf": 5}, lgb.Dataset(X, y, categorical_feature=[1]), 60,
                     valid_sets=[lgb.Dataset(Xv, yv, categorical_feature=[1])],
                     callbacks=[lgb.early_stopping(3, verbose=False)],
                     keep_training_booster=True)  # the trees after the best kept


def _missing_types(booster: Any) -> set[str]:
    seen: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "leaf_value" in node:
            return
        seen.add(f"{node['decision_type']}{node['missing_type']}")
        walk(node["left_child"])
        walk(node["right_child"])

    for t in booster.dump_model()["tree_info"]:
        walk(t["tree_structure"])
    return seen


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    got = {
        "nan+categorical": _train({}, 25),
        "zero_as_missing": _train({"zero_as_missing": True}, 25),
        "one tree": _train({}, 1),
        "one leaf": _train({"min_data_in_leaf": 1000}, 3),
        "early stopped": _early_stopped(),
    }
    # the splits each decision rule needs are there
    assert "==NaN" in _missing_types(got["nan+categorical"]) or \
        "==None" in _missing_types(got["nan+categorical"])
    assert "<=NaN" in _missing_types(got["nan+categorical"])
    assert "<=Zero" in _missing_types(got["zero_as_missing"])
    assert got["one tree"].num_trees() == 1
    assert got["one leaf"].num_trees() == 1
    assert "tree_structure" in got["one leaf"].dump_model()["tree_info"][0]
    assert "leaf_value" in got["one leaf"].dump_model()["tree_info"][0]["tree_structure"]
    assert 0 < got["early stopped"].best_iteration < got["early stopped"].num_trees()
    return got


def _rows(n: int, seed: int, dtype: Any) -> np.ndarray:
    """Rows to score: NaN, +-inf, 0, values within 1e-35 of 0, odd and out-of-range
    categories, repeated rows (equal first-pass scores: the earlier row ranks first)."""
    X, _ = _data(n, seed)
    rng = np.random.default_rng(seed + 1)
    X[rng.random(X.shape) < 0.05] = 1e-36
    X[rng.random(X.shape) < 0.05] = -1e-40
    X[rng.random(X.shape) < 0.03] = np.inf  # a ratio over 0 in the served features
    X[rng.random(X.shape) < 0.03] = -np.inf
    X[:, 1] = np.where(rng.random(n) < 0.3,
                       rng.choice([-1.0, -0.5, -0.0, 2.7, 6.99, 7.0, 50.0, 1e12, np.inf], n),
                       X[:, 1])
    X[n // 2:n // 2 + 4] = X[:4]
    return np.ascontiguousarray(X.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forest_raw_equals_lightgbm(models, dtype):
    for name, booster in models.items():
        f = Forest(booster, tables=False)
        for seed in range(3):
            X = _rows(60, seed, dtype)
            want = booster.predict(X, raw_score=True)
            assert np.array_equal(f.raw(X), want), name
            assert np.array_equal(f.raw(X, 0, 20), want), name
            adj = np.random.default_rng(seed).normal(size=60)
            assert np.array_equal(f.raw(X, 0, 20, adj), cascade_raw(booster, X, 0, 20, adj)), name
        assert f.raw(np.zeros((0, f.n_features), dtype=dtype)).shape == (0,)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forest_raw_cascade_equals_cascade_raw(models, dtype):
    for name, booster in models.items():
        f = Forest(booster, tables=False)
        T = f.n_trees
        for seed in range(3):
            X = _rows(60, 10 + seed, dtype)
            rng = np.random.default_rng(seed)
            adj_ties = np.repeat(rng.normal(size=30), 2)  # equal adjustments too
            for first in sorted({1, T // 3, T - 1, T, T + 5} - {0}):
                for keep in (1, 20, 59, 60, 80):
                    for adj in (None, rng.normal(size=60), adj_ties):
                        if first >= T and not keep >= 60:
                            continue  # cascade_raw never gets all trees as a first pass
                        got = f.raw(X, first, keep, adj)
                        want = cascade_raw(booster, X, first, keep, adj)
                        assert np.array_equal(got, want), (name, first, keep)


def test_forest_raw_refuses_a_wrong_width(models):
    f = Forest(models["one tree"], tables=False)
    with pytest.raises(ValueError, match="columns"):
        f.raw(np.zeros((2, f.n_features + 1)))
    with pytest.raises(ValueError, match="columns"):
        f.raw(np.zeros(f.n_features))  # one row must still be a matrix


# --------------------------------------------------------------------------- Forest's reasons
@pytest.mark.parametrize("max_table", [4_000_000, 40])  # all leaves tabulated; most solved
def test_forest_contributions_and_paths_compiled_equal_numpy(models, monkeypatch, max_table):
    """Leaves and path attributions: the kernels' are the numpy path's, bit for bit; the
    TreeSHAP tables (built by ``shapley_table``) and so the exact contributions to rounding
    (loops instead of a matrix product); LightGBM's leaves, its TreeSHAP to rounding."""
    import upsell.recommend._forest as forest_mod

    for name, booster in models.items():
        X = _rows(40, 20, np.float64)
        fast = Forest(booster, max_table=max_table)
        if name in ("nan+categorical", "early stopped"):  # the per-request solve too
            assert bool(fast.deep) == (max_table == 40), name
        got = (fast._lgb_leaves(X), fast.contributions(X), fast.paths(X),
               fast.contributions(X.astype(np.float32)))
        with monkeypatch.context() as m:
            m.setattr(forest_mod, "kernels", lambda: None)
            slow = Forest(booster, max_table=max_table)
            want = (slow._lgb_leaves(X), slow.contributions(X), slow.paths(X),
                    slow.contributions(X.astype(np.float32)))
        assert fast.table.shape == slow.table.shape, name
        np.testing.assert_allclose(fast.table, slow.table, rtol=1e-12, atol=1e-15, err_msg=name)
        for j, (g, w) in enumerate(zip(got, want, strict=True)):
            if j in (1, 3):  # contributions: the tables and the per-request solve round apart
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15, err_msg=name)
            else:
                assert np.array_equal(g, w), name
        lgb_leaves = booster.predict(X, pred_leaf=True).reshape(40, -1)[:, :fast.n_trees]
        assert np.array_equal(got[0], lgb_leaves + fast.first_leaf), name
        np.testing.assert_allclose(got[1], booster.predict(X, pred_contrib=True),
                                   rtol=0, atol=1e-9, err_msg=name)
