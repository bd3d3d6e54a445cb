"""LearnedBlend training: recall@k selection, the single-source comparison, ``measures_better_``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.datasets import make_shop
from upsell.recommend._blend_features import feature_names
from upsell.recommend._blend_train import (
    MAX_CUTS,
    MIN_CUTS,
    CutRows,
    RecallAtK,
    cut_points,
    halving_search,
    lgb_params,
    make_dataset,
    plan_cuts,
    sample_customers,
    source_recalls,
    target_counts,
)
from upsell.recommend._blend_train import line_data as _line_data
from upsell.recommend._blend_train import segment_codes as _segment_codes
from upsell.recommend.blend import LearnedBlend

from ._forest_data import ranking_data

FAST = {"param_grid": [(7, 0.01), (3, 0.02)], "max_rounds": 15, "n_cuts": 3,
        "max_customers": 200, "n_candidates": 30}


@pytest.fixture(scope="module")
def shop():
    return make_shop(n_customers=250, n_items=50, n_orders=2200, random_state=1)


@pytest.fixture(scope="module")
def fitted(shop):
    return LearnedBlend(**FAST).fit(shop.transactions, random_state=0)


def _rows(customer, item, owned=None):
    customer = np.asarray(customer, dtype=np.int64)
    n = customer.size
    owned = np.zeros(n, dtype=bool) if owned is None else np.asarray(owned, dtype=bool)
    X = np.zeros((n, len(feature_names())), dtype=np.float32)
    return CutRows(0, customer, np.asarray(item, dtype=np.int64), owned, X)


def _naive_recall(customer, y, scores, counts, k, asked, strict=False):
    total = 0.0
    for c in np.unique(customer):
        m = np.flatnonzero(customer == c)
        if y[m].sum() == 0:
            continue
        s = np.where(np.isnan(scores[m]), -np.inf, scores[m])
        best = m[np.argsort(-s, kind="stable")[:k]]
        hits = sum(y[r] for r in best if not (strict and np.isnan(scores[r])))
        total += hits / counts[c]
    n = sum(1 for c in asked if counts[c] > 0)
    return total / max(n, 1)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_recall_at_k_matches_a_naive_count(data):
    n_c = data.draw(st.integers(1, 6))
    per = data.draw(st.lists(st.integers(1, 12), min_size=n_c, max_size=n_c))
    customer = np.repeat(np.arange(n_c), per)
    n = customer.size
    y = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.float32)
    raw = data.draw(st.lists(st.one_of(st.none(), st.floats(-5, 5)), min_size=n, max_size=n))
    scores = np.array([np.nan if v is None else v for v in raw])
    # the basket may hold items no candidate covers: counts >= positives among candidates
    pos = np.bincount(customer, weights=y, minlength=n_c).astype(int)
    extra = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n_c, max_size=n_c)))
    counts = pos + extra
    k = data.draw(st.integers(1, 5))
    owned = np.zeros(n, dtype=bool)
    m = RecallAtK(_rows(customer, np.arange(n), owned), y, counts, new_only=False, k=k)
    stacked = pos[customer] > 0  # the scored rows: customers with a bought candidate
    assert m.n_rows == stacked.sum()
    for strict in (False, True):
        want = _naive_recall(customer, y, scores, counts, k, np.arange(n_c), strict)
        assert m(scores[stacked], strict=strict) == pytest.approx(want)
    assert 0.0 <= m(scores[stacked]) <= 1.0


def test_recall_counts_customers_without_a_bought_candidate():
    # customer 0: 1 of 2 basket items among the candidates, ranked first; customer 1 bought
    # nothing that was proposed (counts 3; not among the scored rows): recall (1/2 + 0) / 2;
    # customer 2 bought nothing in the window: not counted
    rows = _rows([0, 0, 1, 1, 2], [5, 6, 5, 6, 5])
    y = np.array([1, 0, 0, 0, 0], dtype=np.float32)
    m = RecallAtK(rows, y, np.array([2, 3, 0]), new_only=False, k=1)
    assert m.n_rows == 2
    assert m(np.array([2.0, 1.0])) == pytest.approx(0.25)
    assert m(np.array([1.0, 2.0])) == 0.0
    name, value, higher = m.feval(np.array([2.0, 1.0]), None)
    assert name == "recall@1" and value == pytest.approx(0.25) and higher


def test_source_recalls_give_no_credit_for_items_a_source_did_not_rank():
    names = feature_names()
    rows = _rows([0, 0, 0], [1, 2, 3])
    y = np.array([1, 0, 0], dtype=np.float32)
    m = RecallAtK(rows, y, np.array([1]), new_only=False, k=1)
    X = np.full((3, len(names)), np.nan, dtype=np.float32)
    X[:, names.index("pop_rank")] = [1, 2, 3]  # popularity ranks the bought item first
    X[1, names.index("ease_rank")] = 1  # EASE proposed only item 2; item 1 unranked
    got = source_recalls(m, X, np.arange(len(names)))
    assert got["pop"] == 1.0 and got["ease"] == 0.0 and got["repeat"] == 0.0
    assert set(got) == {"ease", "knn", "cooc", "uknn", "repeat", "pop"}
    only = source_recalls(m, X, np.array([names.index("pop_rank")]))
    assert set(only) == {"pop"}


def test_target_counts_of_the_new_regime_leave_out_owned_items(shop):
    tx = shop.transactions
    lines = _line_data(tx, None, _segment_codes(None, tx.customers)[0])
    t = np.sort(lines.time)
    cut, end = int(t[t.size // 2]), int(t[-1]) + 1
    every = target_counts(lines, cut, end, new_only=False)
    new = target_counts(lines, cut, end, new_only=True)
    assert (new <= every).all() and new.sum() < every.sum()
    c = int(np.flatnonzero(every > new)[0])
    before = set(lines.item[(lines.customer == c) & (lines.time < cut)].tolist())
    at = (lines.customer == c) & (lines.time >= cut)
    first = lines.time[at].min()
    basket = set(lines.item[at & (lines.time == first)].tolist())
    assert every[c] == len(basket) and new[c] == len(basket - before)


def test_halving_search_selects_on_a_custom_metric():
    pytest.importorskip("lightgbm")
    n_q, per = 100, 20
    X, y, g = ranking_data(n_q, per, len(feature_names()))
    cols = np.arange(5)
    cands = [lgb_params("lambdarank", leaves, 20, 0.1, 0, 1) for leaves in (3, 7)]
    for c in cands:
        c["metric"] = "None"
        del c["eval_at"]
    tr = make_dataset(X[: 70 * per], y[: 70 * per], g[:70], cands[0], cols)
    va = make_dataset(X[70 * per:], y[70 * per:], g[70:], cands[0], cols, reference=tr)
    vrows = _rows(np.repeat(np.arange(30), per), np.arange(30 * per))
    yv = y[70 * per:]
    counts = np.bincount(vrows.customer, weights=yv).astype(int)
    metric = RecallAtK(vrows, yv, counts, new_only=False, k=3)
    j, rounds, score, trace = halving_search(tr, va, cands, 30, patience=10, first_rung=5,
                                             feval=metric.feval, select_feval=True)
    assert 0 < score <= 1 and score == max(t[2] for t in trace)
    assert all(t[2] == t[3] for t in trace)  # the recall selects: it is the score
    import lightgbm as lgb

    b = lgb.Booster(params=cands[j], train_set=tr)
    for _ in range(rounds):
        b.update()
    assert metric(b.predict(X[70 * per:, cols])) == pytest.approx(score)
    # selecting on the candidates' own metric, the recall at its best round rides along
    for c in cands:
        c["metric"], c["eval_at"] = "ndcg", [10]
    j2, rounds2, score2, trace2 = halving_search(tr, va, cands, 30, patience=10, first_rung=5,
                                                 feval=metric.feval)
    assert score2 == max(t[2] for t in trace2)
    rec = next(t[3] for t in trace2 if t[0] == j2)
    b = lgb.Booster(params=cands[j2], train_set=tr)
    for _ in range(rounds2):
        b.update()
    assert metric(b.predict(X[70 * per:, cols])) == pytest.approx(rec)


def test_inner_numbers_and_measures_better(fitted, shop, tmp_path):
    assert LearnedBlend().measures_better_ is None
    for regime in ("owned", "new"):
        info = fitted.params_[regime]
        assert 0 <= info["inner_recall"] <= 1
        assert info["inner_score"] > 0  # NDCG@10 chose the parameters
        src = info["inner_source_recall"]
        assert info["inner_best_source"] in src
        assert info["inner_best_source_recall"] == max(src.values())
    want = all(fitted.params_[r]["inner_recall"] > fitted.params_[r]["inner_best_source_recall"]
               for r in ("owned", "new"))
    assert fitted.measures_better_ is want
    fitted.save(tmp_path / "b")
    back = LearnedBlend.load(tmp_path / "b")
    assert back.params_ == fitted.params_ and back.measures_better_ is want
    # a file written before these numbers existed: unknown, not False
    meta_file = tmp_path / "b" / "blend.json"
    meta = json.loads(meta_file.read_text())
    for info in meta["chosen"].values():
        del info["inner_recall"], info["inner_best_source_recall"]
    meta_file.write_text(json.dumps(meta))
    assert LearnedBlend.load(tmp_path / "b").measures_better_ is None


def test_measures_better_is_false_when_a_regime_has_no_inner_numbers(fitted):
    blend = LearnedBlend()
    blend.params_ = {r: dict(fitted.params_[r]) for r in ("owned", "new")}
    blend.params_["new"]["inner_recall"] = math.nan
    assert blend.measures_better_ is False
    blend.params_["owned"]["inner_recall"] = 1.0
    blend.params_["new"]["inner_recall"] = 1.0
    blend.params_["owned"]["inner_best_source_recall"] = 0.5
    blend.params_["new"]["inner_best_source_recall"] = 0.5
    assert blend.measures_better_ is True


@pytest.mark.parametrize("objective", ["lambdarank", "binary"])
def test_other_objectives_train_and_serve(shop, objective):
    blend = LearnedBlend(**{**FAST, "objective": objective}).fit(shop.transactions,
                                                                 random_state=0)
    recs = blend.recommend(customers=shop.transactions.customers.ids[:3], k=4)
    assert [len(x) for x in recs.lists()] == [4, 4, 4]
    assert blend.measures_better_ in (True, False)
    assert blend.boosters_["owned"].params["objective"] == objective


def test_default_objective_is_listwise(fitted):
    assert fitted.objective == "rank_xendcg"
    assert fitted.boosters_["new"].params["objective"] == "rank_xendcg"


def test_unknown_objective_is_refused(shop):
    from upsell.exceptions import UpsellDataError

    with pytest.raises(UpsellDataError, match="objective"):
        LearnedBlend(objective="ndcg").fit(shop.transactions)


def _eligible(lines, cuts, window):
    rng, everyone = np.random.default_rng(0), np.iinfo(np.int64).max
    return [sample_customers(rng, lines, c, int(2 * window), everyone).size for c in cuts]


def test_a_roomy_budget_takes_every_customer_at_every_cut(shop):
    lines = _line_data(shop.transactions, None, _segment_codes(None, shop.transactions.customers)[0])
    cuts, window, per_cut = plan_cuts(lines, n_cuts=None, max_rows=10**9, n_candidates=100)
    assert (cuts, window) == cut_points(lines, MAX_CUTS)
    assert per_cut >= max(_eligible(lines, cuts, window))


def test_a_tight_budget_takes_fewer_cuts_and_samples_customers(shop):
    lines = _line_data(shop.transactions, None, _segment_codes(None, shop.transactions.customers)[0])
    all_cuts, window = cut_points(lines, MAX_CUTS)
    typical = float(np.median(_eligible(lines, all_cuts, window)))
    budget = int(4 * typical)  # customers: four cuts' worth
    cuts, w, per_cut = plan_cuts(lines, n_cuts=None, max_rows=budget * 50, n_candidates=50)
    assert w == window and cuts == [all_cuts[j] for j in (0, 2, 5, 7)]  # spread, latest last
    assert per_cut == budget // 4
    cuts, _, per_cut = plan_cuts(lines, n_cuts=None, max_rows=50, n_candidates=50)
    assert len(cuts) == MIN_CUTS and per_cut == 1


def test_given_cuts_and_customer_cap_are_kept(shop):
    lines = _line_data(shop.transactions, None, _segment_codes(None, shop.transactions.customers)[0])
    cuts, window, per_cut = plan_cuts(lines, n_cuts=5, max_rows=10**9, n_candidates=100,
                                      max_customers=17)
    assert (cuts, window) == cut_points(lines, 5) and per_cut == 17


@settings(max_examples=25, deadline=None)
@given(max_rows=st.integers(1, 10**7), n_candidates=st.integers(1, 500),
       n_cuts=st.one_of(st.none(), st.integers(2, 12)))
def test_the_plan_stays_within_its_budget(shop, max_rows, n_candidates, n_cuts):
    lines = _line_data(shop.transactions, None, _segment_codes(None, shop.transactions.customers)[0])
    cuts, window, per_cut = plan_cuts(lines, n_cuts=n_cuts, max_rows=max_rows,
                                      n_candidates=n_candidates)
    n = len(cuts)
    assert n == n_cuts if n_cuts is not None else MIN_CUTS <= n <= MAX_CUTS
    assert cuts == sorted(cuts) and window > 0
    assert per_cut >= 1
    assert per_cut * n * n_candidates <= max(max_rows, n * n_candidates)


def test_the_budget_sets_the_training_queries(shop):
    blend = LearnedBlend(**{**FAST, "n_cuts": None, "max_customers": None,
                            "max_rows": 30 * 40 * MIN_CUTS}).fit(shop.transactions)
    assert len(blend.cuts_) == MIN_CUTS  # 40 customers a cut: fewer than eligible
    assert blend.params_["owned"]["queries"] <= 40 * MIN_CUTS
