"""Metrics @k: hand-computed cases, a brute-force twin, and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Catalog, IdIndex, Transactions, UpsellDataError
from upsell._results import Recommendations
from upsell.evaluate import (
    catalog_coverage,
    f1_at_k,
    hit_rate_at_k,
    intra_list_diversity,
    item_popularity,
    map_at_k,
    margin_at_k,
    metrics_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    per_request_at_k,
    precision_at_k,
    recall_at_k,
    revenue_at_k,
)

LIST_FUNCS = {
    "precision": precision_at_k, "recall": recall_at_k, "f1": f1_at_k, "ndcg": ndcg_at_k,
    "map": map_at_k, "mrr": mrr_at_k, "hit_rate": hit_rate_at_k,
}


# ---------------------------------------------------------------------------- brute force twin
def naive(name: str, rec: list[int], rel: set[int], k: int) -> float:
    """Textbook definitions, one request, written independently of the library."""
    top: list[int | None] = []
    for x in rec[:k]:
        top.append(None if x in top else x)  # a repeat is an empty slot
    hits = [x is not None and x in rel for x in top]
    h = sum(hits)
    if name == "precision":
        return h / k
    if name == "recall":
        return h / len(rel)
    if name == "f1":
        p, r = h / k, h / len(rel)
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)
    if name == "ndcg":
        dcg = sum(1 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(rel))))
        return dcg / idcg
    if name == "map":
        s, seen = 0.0, 0
        for i, hit in enumerate(hits):
            if hit:
                seen += 1
                s += seen / (i + 1)
        return s / min(k, len(rel))
    if name == "mrr":
        return next((1 / (i + 1) for i, hit in enumerate(hits) if hit), 0.0)
    if name == "hit_rate":
        return float(h > 0)
    raise AssertionError(name)


def naive_mean(name: str, recs: list[list[int]], rels: list[set[int]], k: int) -> float:
    vals = [naive(name, r, s, k) for r, s in zip(recs, rels, strict=True) if s]
    return sum(vals) / len(vals) if vals else math.nan


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# ---------------------------------------------------------------------------- hand-computed
RECS = [["a", "b", "c", "d"], ["e", "a", "f"], ["g"]]
RELS = [{"b", "d", "z"}, {"a"}, {"x", "y"}]


def test_hand_computed_k3():
    k = 3
    # request 1: top3 = a b c, hit b at rank 2; |R| = 3
    # request 2: top3 = e a f, hit a at rank 2; |R| = 1
    # request 3: top3 = g, no hit; |R| = 2
    assert precision_at_k(RECS, RELS, k) == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert recall_at_k(RECS, RELS, k) == pytest.approx((1 / 3 + 1 + 0) / 3)
    # F1 = 2h / (k + |R|): 2/6, 2/4, 0
    assert f1_at_k(RECS, RELS, k) == pytest.approx((2 / 6 + 2 / 4 + 0) / 3)
    # NDCG: r1 = (1/log2 3) / (1 + 1/log2 3 + 1/2); r2 = (1/log2 3) / 1; r3 = 0
    d2 = 1 / math.log2(3)
    assert ndcg_at_k(RECS, RELS, k) == pytest.approx((d2 / (1 + d2 + 0.5) + d2 + 0) / 3)
    # MAP: r1 = (1/2) / min(3, 3); r2 = (1/2) / min(3, 1); r3 = 0
    assert map_at_k(RECS, RELS, k) == pytest.approx((1 / 6 + 1 / 2 + 0) / 3)
    # MRR: 1/2, 1/2, 0
    assert mrr_at_k(RECS, RELS, k) == pytest.approx(1 / 3)
    assert hit_rate_at_k(RECS, RELS, k) == pytest.approx(2 / 3)


def test_hand_computed_k4_map_and_ndcg():
    # request 1 at k = 4: hits b (rank 2) and d (rank 4); |R| = 3
    # AP = (1/2 + 2/4) / min(4, 3) = 1/3
    assert map_at_k(RECS[:1], RELS[:1], 4) == pytest.approx(1 / 3)
    # DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 0.5
    assert ndcg_at_k(RECS[:1], RELS[:1], 4) == pytest.approx(dcg / idcg)


def test_business_metrics_hand_computed():
    cat = Catalog.from_arrays(item=["a", "b", "c", "d", "z"], price=[10.0, 20.0, 5.0, 1.0, 7.0],
                              cost=[4.0, 15.0, 1.0, np.nan, 1.0],
                              category=["x", "x", "y", "y", "z"])
    recs = [["a", "b", "c"], ["d", "c"]]
    rels = [{"b", "c", "q"}, {"d"}]
    # revenue: r1 hits b, c -> 20 + 5 = 25; r2 hits d -> 1; mean 13
    assert revenue_at_k(recs, rels, 3, cat) == pytest.approx(13.0)
    # margin: r1 (20-15) + (5-1) = 9; r2 d has no cost -> 0; mean 4.5
    assert margin_at_k(recs, rels, 3, cat) == pytest.approx(4.5)
    # diversity: r1 categories x x y -> 2 of 3 pairs differ; r2 y y -> 0; mean 1/3
    assert intra_list_diversity(recs, 3, cat) == pytest.approx(1 / 3)
    # coverage: a b c d of 5 catalog items
    assert catalog_coverage(recs, 3, cat) == pytest.approx(0.8)
    assert catalog_coverage(recs, 3, 8) == pytest.approx(0.5)
    assert catalog_coverage(recs, 3, {"a", "b", "zz", "yy"}) == pytest.approx(0.5)


def test_novelty_hand_computed_from_train():
    tx = Transactions.from_arrays(order=[1, 1, 2, 3, 4], item=["a", "b", "a", "a", "c"],
                                  customer=["u", "u", "v", "w", "x"])
    # 4 customers; a bought by 3, b by 1, c by 1 -> p = 3/4, 1/4, 1/4
    assert item_popularity(tx).tolist() == [0.75, 0.25, 0.25]
    # list 1 (a, b): (-log2 .75 + 2) / 2; list 2 (q, unknown to train): p = 1/4 -> 2
    expected = ((-math.log2(0.75) + 2) / 2 + 2) / 2
    assert novelty([["a", "b"], ["q"]], 2, tx) == pytest.approx(expected)


def test_skip_requests_without_relevant_items_and_all_empty_is_nan():
    # the empty request is skipped, not counted as 0
    assert recall_at_k([["a"], ["b"]], [{"a"}, set()], 1) == 1.0
    assert math.isnan(precision_at_k([["a"]], [set()], 1))
    assert math.isnan(ndcg_at_k([], [], 5))


def test_duplicates_count_once():
    # a at rank 1 and again at rank 2: the repeat is an empty slot
    assert precision_at_k([["a", "a"]], [{"a", "b"}], 2) == 0.5
    assert recall_at_k([["a", "a", "b"]], [{"a", "b"}], 3) == 1.0
    # MAP: hits at ranks 1 and 3 -> (1 + 2/3) / 2
    assert map_at_k([["a", "a", "b"]], [{"a", "b"}], 3) == pytest.approx(5 / 6)


def test_vectorised_accepts_recommendations_and_matrix_alike():
    items = IdIndex(["a", "b", "c", "d"])
    recs = Recommendations.from_lists(["u", "v"], [[2, 0, 1], [3]], [[3, 2, 1], [1]],
                                      items=items)
    top = np.array([[2, 0, 1], [3, -1, -1]])
    rel = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 0, 0, 1]], dtype=np.float32))
    names = ["precision", "recall", "ndcg", "map", "mrr", "hit_rate", "coverage"]
    a = metrics_at_k(recs, rel, 3, metrics=names)
    b = metrics_at_k(top, rel, 3, metrics=names)
    assert a == pytest.approx(b)
    # r1 hits c? no; hits a at rank 2; r2 hits d at rank 1
    assert a["mrr"] == pytest.approx(0.75)
    assert a["coverage"] == pytest.approx(1.0)
    # a wider matrix is cut to k
    assert metrics_at_k(np.array([[1, 2, 0]]), rel[:1], 2, metrics=["hit_rate"]) == {
        "hit_rate": 0.0}


def test_catalog_is_aligned_to_recommendation_items():
    items = IdIndex(["a", "b"])
    cat = Catalog.from_arrays(item=["b", "a", "z"], price=[2.0, 1.0, 9.0])
    recs = Recommendations.from_lists(["u"], [[0, 1]], [[2, 1]], items=items)
    rel = sp.csr_matrix(np.array([[1, 1]], dtype=np.float32))
    # hits a (1.0) and b (2.0)
    assert metrics_at_k(recs, rel, 2, metrics=["revenue"], catalog=cat) == {"revenue": 3.0}


@pytest.mark.parametrize("bad, match", [
    (dict(k=0), "`k` must be an integer >= 1; got 0"),
    (dict(metrics=["nope"]), "`metrics` must be one of"),
    (dict(metrics=["revenue"]), "needs a `catalog`"),
    (dict(metrics=["novelty"]), "needs `popularity`"),
    (dict(metrics=["coverage"]), "no per-request value"),
])
def test_vectorised_errors_name_the_argument(bad, match):
    args = dict(k=2, metrics=["precision"])
    args.update(bad)
    rel = sp.csr_matrix(np.eye(2, dtype=np.float32))
    with pytest.raises(UpsellDataError, match=match):
        per_request_at_k(np.array([[0, 1], [1, 0]]), rel, **args)


def test_list_errors():
    with pytest.raises(UpsellDataError, match="one entry per request; got 2 and 1"):
        precision_at_k([["a"], ["b"]], [{"a"}], 1)
    with pytest.raises(UpsellDataError, match="`recommended` must be a list"):
        precision_at_k("abc", [{"a"}], 1)
    with pytest.raises(UpsellDataError, match="`relevant` must have one row per request"):
        per_request_at_k(np.array([[0]]), sp.csr_matrix((3, 2)), 1)
    with pytest.raises(UpsellDataError, match="item index 5"):
        per_request_at_k(np.array([[5]]), sp.csr_matrix((1, 2)), 1)
    with pytest.raises(UpsellDataError, match="no probability for item 'b'"):
        novelty([["a", "b"]], 2, {"a": 0.5})
    with pytest.raises(UpsellDataError, match=r"`catalog` size must be at least"):
        catalog_coverage([["a", "b"]], 2, 1)


# ---------------------------------------------------------------------------- properties
item_ids = st.integers(0, 11)
requests = st.lists(
    st.tuples(st.lists(item_ids, max_size=8), st.sets(item_ids, max_size=6)),
    min_size=0, max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(requests, st.integers(1, 6))
def test_list_functions_equal_brute_force(reqs, k):
    recs = [r for r, _ in reqs]
    rels = [s for _, s in reqs]
    for name, func in LIST_FUNCS.items():
        assert same(func(recs, rels, k), naive_mean(name, recs, rels, k)), name


@settings(max_examples=60, deadline=None)
@given(requests, st.integers(1, 6))
def test_every_metric_in_its_range(reqs, k):
    recs = [r for r, _ in reqs]
    rels = [s for _, s in reqs]
    for func in LIST_FUNCS.values():
        v = func(recs, rels, k)
        assert math.isnan(v) or 0.0 <= v <= 1.0 + 1e-12
    cats = {i: f"c{i % 3}" for i in range(12)}
    div = intra_list_diversity(recs, k, cats)
    assert math.isnan(div) or 0.0 <= div <= 1.0
    if any(recs):
        assert 0.0 < catalog_coverage(recs, k, 12) <= 1.0
        nov = novelty(recs, k, {i: 1 / (i + 1) for i in range(12)})
        assert 0.0 <= nov <= math.log2(12) + 1e-12
    prices = {i: float(i) for i in range(12)}
    rev = revenue_at_k(recs, rels, k, prices)
    assert math.isnan(rev) or 0.0 <= rev <= 11.0 * k


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(item_ids, min_size=1, max_size=6), min_size=1, max_size=6),
       st.integers(1, 6), st.randoms(use_true_random=False))
def test_perfect_ranking_scores_one(rels, k, rnd):
    recs = []
    for s in rels:
        top = list(s)
        rnd.shuffle(top)
        recs.append(top + [x for x in range(20, 20 + k)])  # relevant first, misses after
    assert ndcg_at_k(recs, rels, k) == pytest.approx(1.0)
    assert map_at_k(recs, rels, k) == pytest.approx(1.0)
    assert mrr_at_k(recs, rels, k) == 1.0
    assert hit_rate_at_k(recs, rels, k) == 1.0
    # precision tops out at min(k, |R|) / k, recall at min(k, |R|) / |R|
    assert precision_at_k(recs, rels, k) == pytest.approx(
        np.mean([min(k, len(s)) / k for s in rels]))
    assert recall_at_k(recs, rels, k) == pytest.approx(
        np.mean([min(k, len(s)) / len(s) for s in rels]))


@settings(max_examples=40, deadline=None)
@given(requests, st.integers(1, 6), st.randoms(use_true_random=False))
def test_metrics_invariant_to_request_order(reqs, k, rnd):
    shuffled = list(reqs)
    rnd.shuffle(shuffled)
    for func in LIST_FUNCS.values():
        a = func([r for r, _ in reqs], [s for _, s in reqs], k)
        b = func([r for r, _ in shuffled], [s for _, s in shuffled], k)
        assert same(a, b)


@settings(max_examples=50, deadline=None)
@given(requests, st.integers(1, 6))
def test_vectorised_form_equals_list_form(reqs, k):
    recs = [r for r, _ in reqs]
    rels = [s for _, s in reqs]
    n_items = 12
    width = max([len(r) for r in recs] + [1])
    top = np.full((len(recs), width), -1)
    for i, r in enumerate(recs):
        top[i, :len(r)] = r
    rel = sp.csr_matrix(
        (np.ones(sum(map(len, rels)), dtype=np.float32),
         ([i for i, s in enumerate(rels) for _ in s], [x for s in rels for x in s])),
        shape=(len(recs), n_items))
    price = np.arange(n_items, dtype=float)
    cats = np.array([f"c{i % 3}" for i in range(n_items)])
    cat = Catalog(IdIndex(np.arange(n_items), name="item"), price=price, category=cats)
    pop = 1.0 / (np.arange(n_items) + 1.0)
    names = [*LIST_FUNCS, "revenue", "diversity", "novelty", "coverage"]
    vec = metrics_at_k(top, rel, k, metrics=names, catalog=cat, popularity=pop)
    for name, func in LIST_FUNCS.items():
        assert same(vec[name], func(recs, rels, k)), name
    assert same(vec["revenue"], revenue_at_k(recs, rels, k, dict(enumerate(price))))
    assert same(vec["diversity"], intra_list_diversity(recs, k, dict(enumerate(cats))))
    if any(recs):
        assert same(vec["novelty"], novelty(recs, k, dict(enumerate(pop))))
        assert same(vec["coverage"], catalog_coverage(recs, k, n_items))
