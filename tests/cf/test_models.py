"""Model-specific checks: brute-force twins, fold-in against implicit, properties."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell.cf import ALS, BPR, EASE, ItemKNN, Popular, RepeatBlend
from upsell.exceptions import UpsellDataError, UpsellMemoryError

from .conftest import random_matrix


def test_ease_matches_dense_closed_form() -> None:
    X = random_matrix(40, 9, 0.25, seed=5)
    Xb = (X.toarray() > 0).astype(float)
    lam = 3.0
    P = np.linalg.inv(Xb.T @ Xb + lam * np.eye(9))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    m = EASE(regularization=lam, n_neighbors=9).fit(X)
    got = m.neighbors_.toarray()
    np.testing.assert_allclose(got, np.where(B > 0, B, 0.0), rtol=1e-5, atol=1e-6)
    # served scores are the truncated-B scores of the basket
    basket = [0, 3]
    recs = m.recommend(baskets=[basket], k=9, exclude_owned=False)
    expected = np.where(B > 0, B, 0.0)[basket].sum(axis=0)
    idx = recs.indices(0)
    np.testing.assert_allclose(recs.request_scores(0), expected[idx], rtol=1e-5, atol=1e-6)


def test_ease_float32_path_and_memory_error() -> None:
    with pytest.raises(UpsellMemoryError, match="max_items"):
        EASE(max_items=10).fit(random_matrix(30, 12, 0.2, seed=0))


def test_als_fold_in_matches_implicit_recalculate_user() -> None:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    X = random_matrix(80, 25, 0.15, seed=2)
    m = ALS(factors=6, iterations=5, regularization=0.1, alpha=3.0, num_threads=1).fit(
        X, weighting="count")
    with threadpool_limits(1, "blas"):
        ref = AlternatingLeastSquares(factors=6, regularization=0.1, alpha=3.0)
    ref.item_factors = m.item_factors_.copy()
    ref.user_factors = m.user_factors_.copy()
    row = sp.csr_matrix(([2.0, 1.0, 1.0], ([0, 0, 0], [1, 4, 7])), shape=(1, 25),
                        dtype=np.float32)
    with threadpool_limits(1, "blas"):
        expected = ref.recalculate_user(0, row)
    got = m._user_vector(m._parse_requests(None, [[1, 1, 4, 7]], None)[2][0])
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("cls", [ALS, BPR])
def test_deterministic_with_random_state(cls: type) -> None:
    X = random_matrix(60, 20, 0.15, seed=4)
    a = cls(factors=6, iterations=5, random_state=3).fit(X)
    b = cls(factors=6, iterations=5, random_state=3).fit(X)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    assert not a.item_factors_.flags.writeable


def test_knn_matches_brute_force_cosine() -> None:
    X = random_matrix(50, 12, 0.2, seed=8)
    m = ItemKNN(similarity="cosine", n_neighbors=12, num_threads=1).fit(X)
    D = X.toarray().astype(float)
    n = np.linalg.norm(D, axis=0)
    n[n == 0] = 1
    S = (D / n).T @ (D / n)
    np.testing.assert_allclose(m.neighbors_.toarray(), S, rtol=1e-5, atol=1e-6)
    recs = m.recommend(customers=[3], k=12, exclude_owned=False)
    expected = D[3] @ S
    np.testing.assert_allclose(recs.request_scores(0), expected[recs.indices(0)], rtol=1e-5,
                               atol=1e-5)


def test_popular_modes(shop_tx) -> None:  # type: ignore[no-untyped-def]
    m = Popular().fit(shop_tx)
    top = m.recommend(baskets=[[]], k=3)
    assert top.indices(0).tolist() == np.argsort(-m.popularity_, kind="stable")[:3].tolist()
    pers = Popular(mode="personal").fit(shop_tx)
    cid = shop_tx.customers.ids[0]
    H = shop_tx.customer_items()
    n_owned = H.indptr[1] - H.indptr[0]
    got = pers.recommend(customers=[cid], k=n_owned + 2, exclude_owned=False)
    owned = set(H.indices[H.indptr[0]:H.indptr[1]].tolist())
    assert set(got.indices(0)[:n_owned].tolist()) == owned
    seg = {c: ("a" if i % 2 else "b") for i, c in enumerate(shop_tx.customers.ids.tolist()[:50])}
    s = Popular(mode="segment").fit(shop_tx, segments=seg)
    assert s.segments_ is not None and s.segments_.ids.tolist() == ["a", "b"]
    with pytest.raises(UpsellDataError, match="segments"):
        Popular(mode="segment").fit(shop_tx)
    with pytest.raises(UpsellDataError, match="time"):
        Popular(mode="decayed").fit(H)
    with pytest.raises(UpsellDataError, match="mode"):
        Popular(mode="nope").fit(H)


MODEL_FACTORIES = [
    lambda: ALS(factors=4, iterations=2, num_threads=1),
    lambda: BPR(factors=4, iterations=3),
    lambda: ItemKNN(n_neighbors=5, num_threads=1),
    lambda: ItemKNN(similarity="bm25", n_neighbors=5, num_threads=1),
    lambda: EASE(regularization=5.0, n_neighbors=5),
    lambda: Popular(mode="personal"),
]


@st.composite
def small_matrices(draw: st.DrawFn) -> sp.csr_matrix:
    n_c = draw(st.integers(1, 12))
    n_i = draw(st.integers(1, 10))
    cells = draw(st.lists(st.tuples(st.integers(0, n_c - 1), st.integers(0, n_i - 1),
                                    st.integers(1, 4)), min_size=1, max_size=40))
    r, c, v = zip(*cells, strict=False)
    return sp.csr_matrix((np.array(v, dtype=np.float32), (r, c)), shape=(n_c, n_i))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=small_matrices(), which=st.integers(0, len(MODEL_FACTORIES) - 1),
       k=st.integers(1, 12), exclude_owned=st.booleans(), data=st.data())
def test_recommend_properties(X: sp.csr_matrix, which: int, k: int, exclude_owned: bool,
                              data: st.DataObject) -> None:
    model = MODEL_FACTORIES[which]().fit(X)
    n_c, n_i = X.shape
    excl = data.draw(st.lists(st.integers(0, n_i - 1), max_size=3))
    cand = data.draw(st.none() | st.lists(st.integers(0, n_i - 1), max_size=n_i))
    basket = data.draw(st.lists(st.integers(0, n_i - 1), max_size=4))
    recs = model.recommend(customers=list(range(n_c)), k=k, exclude_owned=exclude_owned,
                           exclude=excl, candidates=cand)
    brecs = model.recommend(baskets=[basket], k=k, exclude_owned=exclude_owned, exclude=excl,
                            candidates=cand)
    pool = set(range(n_i)) if cand is None else set(cand)
    for r in range(n_c):
        idx = recs.indices(r).tolist()
        sc = recs.request_scores(r)
        banned = set(excl) | (set(X[r].indices.tolist()) if exclude_owned else set())
        assert len(idx) == len(set(idx)) == min(k, len(pool - banned))
        assert set(idx) <= pool - banned
        assert np.all(np.diff(sc) <= 0)
    bidx = brecs.indices(0).tolist()
    banned = set(excl) | (set(basket) if exclude_owned else set())
    assert len(bidx) == min(k, len(pool - banned)) and set(bidx) <= pool - banned
    assert np.all(np.diff(brecs.request_scores(0)) <= 0)


@settings(max_examples=10, deadline=None)
@given(X=small_matrices(), which=st.integers(0, len(MODEL_FACTORIES) - 1))
def test_save_load_property(X: sp.csr_matrix, which: int, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    model = MODEL_FACTORIES[which]().fit(X)
    path = tmp_path_factory.mktemp("m") / "m.npz"
    model.save(path)
    back = type(model).load(path)
    ids = list(range(X.shape[0]))
    a, b = model.recommend(customers=ids, k=5), back.recommend(customers=ids, k=5)
    assert a.lists() == b.lists()
    np.testing.assert_array_equal(a.scores, b.scores)


@settings(max_examples=10, deadline=None)
@given(X=small_matrices(), seed=st.integers(0, 10))
def test_row_order_does_not_matter_for_item_models(X: sp.csr_matrix, seed: int) -> None:
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    a = ItemKNN(n_neighbors=5, num_threads=1).fit(X)
    b = ItemKNN(n_neighbors=5, num_threads=1).fit(X[perm])
    np.testing.assert_allclose(a.neighbors_.toarray(), b.neighbors_.toarray(), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("density", [0.005, 0.03, 0.1])
@pytest.mark.parametrize("model_cls", ["ALS", "BPR"])
def test_dense_batch_kernel_matches_numpy(model_cls: str, density: float,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """implicit's top-k kernel path gives numpy's lists, ties broken by popularity.

    Densities from about 2 to 40 owned items a row: rows that over-ask and drop their
    owned items, and rows that hand them to the kernel as a per-row filter.
    """
    from upsell import cf
    from upsell.cf import _topk

    from .conftest import random_matrix

    X = random_matrix(300, 400, density, seed=5)
    owned = np.diff(X.indptr)
    if density == 0.03:
        assert (owned <= 5).any() and (owned > 5).any()  # both kinds of row in one chunk
    model = getattr(cf, model_cls)(factors=8, iterations=5, num_threads=1).fit(X)
    # small integers: every dot product is exact whatever the GEMM blocking, so ties are
    # real ties (duplicated items), some across the top-k boundary
    rng = np.random.default_rng(0)
    U = rng.integers(-3, 4, model.user_factors_.shape).astype(np.float32)
    V = rng.integers(-3, 4, model.item_factors_.shape).astype(np.float32)
    V[200:260] = V[0]
    model._set_factors(U, V)
    users = list(range(300))
    cases = [dict(), dict(exclude_owned=False), dict(exclude=list(range(0, 400, 3))),
             dict(candidates=list(range(0, 400, 2)), exclude=[0, 2, 4])]
    for kw in cases:
        fast = model.recommend(customers=users, k=10, **kw)
        monkeypatch.setattr(_topk, "_MAX_HEAP_K", 0)
        slow = model.recommend(customers=users, k=10, **kw)
        monkeypatch.undo()
        assert fast.lists() == slow.lists(), kw
        np.testing.assert_allclose(fast.scores, slow.scores, rtol=1e-5, atol=1e-6)


def test_item_knn_batch_matches_one_by_one() -> None:
    from upsell.cf import CFModel

    from .conftest import random_matrix

    X = random_matrix(200, 300, 0.03, seed=2)
    model = ItemKNN(similarity="cosine", n_neighbors=15, num_threads=1).fit(X)
    u = np.arange(200)
    for kw in (dict(exclude_owned=True, excl=None, cand=None),
               dict(exclude_owned=False, excl=np.arange(0, 300, 7, dtype=np.int32),
                    cand=np.arange(0, 300, 2, dtype=np.int32))):
        fast = model._users_chunk(u, 10, kw["exclude_owned"], kw["excl"], kw["cand"])
        slow = CFModel._users_chunk(model, u, 10, kw["exclude_owned"], kw["excl"], kw["cand"])
        for a, b in zip(fast, slow, strict=True):
            np.testing.assert_array_equal(a, b)


def test_repeat_blend_owned_first_and_decay() -> None:
    from upsell import Transactions
    from upsell.cf import RepeatBlend

    tx = Transactions.from_arrays(
        order=[1, 1, 2, 3, 4, 4, 5], item=["a", "b", "a", "c", "b", "c", "d"],
        customer=["x", "x", "x", "y", "y", "y", "z"],
        time=np.array(["2011-01-01", "2011-01-01", "2011-06-01", "2011-06-01",
                       "2011-06-02", "2011-06-02", "2011-06-03"], dtype="datetime64[D]"))
    m = RepeatBlend(half_life_days=30.0, n_neighbors=5, num_threads=1).fit(tx)
    # a: once recently and once long ago; b: long ago only -> a first, then b
    assert m.recommend(customers="x", k=2, exclude_owned=False).item_ids(0).tolist() == [
        "a", "b"]
    assert "a" not in m.recommend(customers="x", k=3).item_ids(0).tolist()
    with pytest.raises(UpsellDataError, match="cf_weight"):
        RepeatBlend(cf_weight=-1.0).fit(tx)


@pytest.mark.parametrize("cls", [ItemKNN, EASE, RepeatBlend])
def test_neighbors_work_with_every_scipy_operation(cls: type, tmp_path) -> None:
    # indptr and indices of one dtype: scipy's tocoo / nonzero refuse mixed ones
    X = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 1, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]],
                               dtype=np.float32))
    m = cls().fit(X)
    m.save(tmp_path / "m.npz")
    for nb in (m.neighbors_, cls.load(tmp_path / "m.npz").neighbors_):
        assert nb.indptr.dtype == nb.indices.dtype
        rows, cols = nb.nonzero()
        np.testing.assert_array_equal(nb.toarray()[rows, cols], nb.tocoo().data)
        np.testing.assert_allclose((nb @ np.ones(4)), nb.toarray().sum(axis=1), rtol=1e-6)
