"""association_rules: brute-force twin, metric formulas, exact thresholds, p-value adjustment."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact

from upsell import Transactions
from upsell.bundles import METRICS, association_rules, frequent_itemsets, rule_metrics
from upsell.exceptions import UpsellDataError

from ._brute import brute_itemsets

baskets_st = st.lists(st.sets(st.integers(0, 6), min_size=1, max_size=5), min_size=2, max_size=20)


def _tx(baskets):
    order = [b for b, items in enumerate(baskets) for _ in items]
    item = [i for items in baskets for i in sorted(items)]
    return Transactions.from_arrays(order=order, item=item)


def _brute_rules(baskets, min_count, min_conf, consequent_len=1):
    freq = brute_itemsets(baskets, min_count)
    n = len(baskets)
    count = {s: sum(1 for b in baskets if set(s) <= b) for s in freq}
    out = {}
    for z, c in freq.items():
        for size in range(1, min(consequent_len, len(z) - 1) + 1):
            for y in itertools.combinations(z, size):
                x = tuple(i for i in z if i not in y)
                cx = count[x]
                if c * 10**6 >= round(min_conf * 10**6) * cx:
                    out[(x, y)] = (c, cx, count[y] if y in count else
                                   sum(1 for b in baskets if set(y) <= b), n)
    return out


@settings(max_examples=50, deadline=None)
@given(baskets=baskets_st, min_count=st.integers(1, 3),
       min_conf=st.sampled_from([0.0, 0.25, 0.5, 0.8, 1.0]), consequent_len=st.integers(1, 3))
def test_equals_brute_force_and_metrics_match_formulas(baskets, min_count, min_conf,
                                                       consequent_len):
    rules = association_rules(frequent_itemsets(_tx(baskets), min_support=min_count),
                              min_confidence=min_conf, consequent_len=consequent_len,
                              p_adjust=None)
    want = _brute_rules(baskets, min_count, min_conf, consequent_len)
    got = {rules.rule(r): r for r in range(len(rules))}
    assert set(got) == set(want)
    for key, r in got.items():
        nxy, nx, ny, n = want[key]
        assert (rules.count[r], rules.count_antecedent[r], rules.count_consequent[r]) == (nxy, nx, ny)
        conf = nxy / nx
        assert 0 <= rules.confidence[r] <= 1
        assert math.isclose(rules.support[r], nxy / n)
        assert math.isclose(rules.coverage[r], nx / n)
        assert math.isclose(rules.confidence[r], conf)
        assert math.isclose(rules.lift[r], conf / (ny / n))
        assert math.isclose(rules.leverage[r], nxy / n - nx * ny / n**2, abs_tol=1e-12)
        assert math.isclose(rules.jaccard[r], nxy / (nx + ny - nxy))
        assert math.isclose(rules.kulczynski[r], (nxy / nx + nxy / ny) / 2)
        if nxy == nx:
            assert rules.conviction[r] == np.inf
        else:
            assert math.isclose(rules.conviction[r], (1 - ny / n) / (1 - conf))
        if ny < n:
            assert math.isclose(rules.certainty[r], (conf - ny / n) / (1 - ny / n), abs_tol=1e-12)
        if nx < n:
            c_not = (ny - nxy) / (n - nx)
            if max(conf, c_not) > 0:
                assert math.isclose(rules.zhang[r], (conf - c_not) / max(conf, c_not),
                                    abs_tol=1e-9)
        table = [[nxy, nx - nxy], [ny - nxy, n - nx - ny + nxy]]
        p = fisher_exact(table, alternative="greater").pvalue
        assert math.isclose(rules.p_value[r], p, rel_tol=1e-6, abs_tol=1e-12)


def test_eight_of_ten_passes_point_eight():
    baskets = [{0, 1}] * 8 + [{0}] * 2 + [{1}] * 5
    rules = association_rules(frequent_itemsets(_tx(baskets), min_support=1), min_confidence=0.8)
    assert ((0,), (1,)) in [rules.rule(r) for r in range(len(rules))]
    strict = association_rules(frequent_itemsets(_tx(baskets), min_support=1),
                               min_confidence=0.8000001)
    assert ((0,), (1,)) not in [strict.rule(r) for r in range(len(strict))]


def test_min_lift_is_exact():
    # lift of 0 => 1 is exactly 20 * 8 / (10 * 16) = 1.0
    baskets = [{0, 1}] * 8 + [{0}] * 2 + [{1}] * 8 + [{2}] * 2
    fi = frequent_itemsets(_tx(baskets), min_support=1)
    kept = association_rules(fi, min_confidence=0, min_lift=1.0)
    assert ((0,), (1,)) in [kept.rule(r) for r in range(len(kept))]


def test_adjustments():
    baskets = [{0, 1}] * 6 + [{2, 3}] * 3 + [{0}] * 2 + [{1, 3}] * 2 + [{4}] * 7
    fi = frequent_itemsets(_tx(baskets), min_support=2)
    raw = association_rules(fi, min_confidence=0, p_adjust=None)
    holm = association_rules(fi, min_confidence=0, p_adjust="holm")
    bh = association_rules(fi, min_confidence=0, p_adjust="bh")
    p, m = raw.p_value, raw.p_value.size
    order = np.argsort(p)
    want_holm = np.minimum(np.maximum.accumulate(p[order] * (m - np.arange(m))), 1)
    assert np.allclose(holm.p_adjusted[order], want_holm)
    want_bh = np.minimum(np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1], 1)
    assert np.allclose(bh.p_adjusted[order], want_bh)
    assert np.array_equal(raw.p_adjusted, raw.p_value)
    sig = association_rules(fi, min_confidence=0, max_p=0.05)
    assert len(sig) == int((holm.p_adjusted <= 0.05).sum())
    assert (sig.p_adjusted <= 0.05).all()


def test_rules_from_closed_or_minlen_itemsets_use_the_full_lattice():
    baskets = [{0, 1, 2}] * 4 + [{0, 1}] * 3 + [{2}] * 3
    full = association_rules(frequent_itemsets(_tx(baskets), min_support=2), min_confidence=0)
    for kw in ({"kind": "closed"}, {"min_len": 2}):
        other = association_rules(frequent_itemsets(_tx(baskets), min_support=2, **kw),
                                  min_confidence=0)
        assert len(other) == len(full)
        assert np.array_equal(other.lift, full.lift)


def test_to_pandas_columns_and_length_bounds():
    baskets = [{0, 1, 2}] * 4 + [{0, 1}] * 3
    fi = frequent_itemsets(_tx(baskets), min_support=2)
    df = association_rules(fi, min_confidence=0).to_pandas()
    assert df.columns.tolist() == ["antecedent", "consequent", "count", *METRICS]
    r3 = association_rules(fi, min_confidence=0, min_len=3)
    assert (r3.lengths == 3).all() and len(r3) == 3
    assert (association_rules(fi, min_confidence=0, max_len=2).lengths == 2).all()


def test_rule_metrics_handles_degenerate_counts_without_warnings():
    m = rule_metrics(np.array([5, 3]), np.array([5, 5]), np.array([5, 3]), 5)
    assert np.isnan(m["zhang"][0]) and np.isnan(m["certainty"][0])
    assert m["conviction"][0] == np.inf


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_confidence": 1.2}, "`min_confidence`"),
    ({"min_lift": -1}, "`min_lift`"),
    ({"consequent_len": 0}, "`consequent_len`"),
    ({"p_adjust": "bonferroni"}, "`p_adjust`"),
    ({"max_p": 2}, "`max_p`"),
    ({"min_len": 1}, "`min_len`"),
])
def test_bad_arguments(kwargs, match):
    fi = frequent_itemsets(_tx([{0, 1}]), min_support=1)
    with pytest.raises(UpsellDataError, match=match):
        association_rules(fi, **kwargs)
    with pytest.raises(UpsellDataError, match="`itemsets`"):
        association_rules([(0, 1)])


# ---------------------------------------------------------------- p-values, pruning, budgets, top
@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 200_000), data=st.data())
def test_fisher_p_value_equals_scipy(n, data):
    from scipy.stats import hypergeom

    from upsell.bundles import fisher_p_value

    size = 40
    nx = np.array(data.draw(st.lists(st.integers(1, n), min_size=size, max_size=size)))
    ny = np.array(data.draw(st.lists(st.integers(1, n), min_size=size, max_size=size)))
    lo, hi = np.maximum(0, nx + ny - n), np.minimum(nx, ny)
    u = np.array(data.draw(st.lists(st.floats(0, 1), min_size=size, max_size=size)))
    nxy = lo + np.floor(u * (hi - lo + 1)).clip(0, hi - lo).astype(np.int64)
    got = fisher_p_value(nxy, nx, ny, n)
    want = np.clip(hypergeom.sf(nxy - 1, n, ny, nx), 0, 1)
    assert ((got >= 0) & (got <= 1)).all()
    ok = want > 1e-280  # scipy's own sum is inexact far below that
    assert np.allclose(got[ok], want[ok], rtol=1e-9, atol=0)
    assert (got[~ok] < 1e-270).all()


def test_fisher_p_value_edges():
    from upsell.bundles import fisher_p_value

    # n_xy at the bottom of the support: certain; at the top: one table of C(5, 3)
    got = fisher_p_value([0, 5, 3, 2], [5, 5, 3, 3], [5, 5, 3, 3], 5)
    assert got[:2].tolist() == [1.0, 1.0] and math.isclose(got[2], 0.1, rel_tol=1e-13)
    assert math.isclose(got[3], 0.7, rel_tol=1e-13)
    assert fisher_p_value([], [], [], 10).shape == (0,)


def _rule_set(rules):
    return {rules.rule(r) for r in range(len(rules))}


@settings(max_examples=50, deadline=None)
@given(baskets=baskets_st, min_count=st.integers(1, 3),
       min_conf=st.sampled_from([0.0, 0.3, 0.6]), consequent_len=st.integers(1, 2))
def test_pruned_rules_are_a_subset_and_pruned_ones_are_redundant(baskets, min_count, min_conf,
                                                                 consequent_len):
    fi = frequent_itemsets(_tx(baskets), min_support=min_count)
    full = association_rules(fi, min_confidence=min_conf, consequent_len=consequent_len)
    pruned = association_rules(fi, min_confidence=min_conf, consequent_len=consequent_len,
                               prune=True)
    kept, every = _rule_set(pruned), _rule_set(full)
    assert kept <= every
    assert pruned.n_pruned == len(every) - len(kept) and full.n_pruned == 0
    count = {s: sum(1 for b in baskets if set(s) <= b) for s in
             {tuple(sorted(set(x) | set(y))) for x, y in every} | {x for x, _ in every}}

    def cnt(items):
        items = tuple(sorted(items))
        return count.get(items) or sum(1 for b in baskets if set(items) <= b)

    for x, y in every:
        nxy, nx = cnt((*x, *y)), cnt(x)
        general = [s for size in range(1, len(x)) for s in itertools.combinations(x, size)]
        redundant = any(cnt((*s, *y)) * nx >= nxy * cnt(s) for s in general)
        assert ((x, y) not in kept) == redundant


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, max_rules=st.integers(1, 30))
def test_max_rules_keeps_the_most_confident(baskets, max_rules):
    fi = frequent_itemsets(_tx(baskets), min_support=1)
    full = association_rules(fi, min_confidence=0.2)
    cut = association_rules(fi, min_confidence=0.2, max_rules=max_rules)
    assert len(cut) == min(max_rules, len(full))
    assert _rule_set(cut) <= _rule_set(full)
    if len(full) > max_rules:
        assert cut.min_confidence == cut.confidence.min() >= 0.2
        dropped = _rule_set(full) - _rule_set(cut)
        worst = min(cut.confidence)
        conf = dict(zip([full.rule(r) for r in range(len(full))], full.confidence, strict=True))
        assert all(conf[r] <= worst for r in dropped)
    else:
        assert cut.min_confidence == 0.2


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, k=st.integers(1, 12),
       by=st.sampled_from(["lift", "confidence", "support", "p_value", "count"]))
def test_top_distinct_one_rule_per_itemset_best_first(baskets, k, by):
    fi = frequent_itemsets(_tx(baskets), min_support=1)
    rules = association_rules(fi, min_confidence=0.0, consequent_len=2)
    top = rules.top(k, by=by)
    unions = [frozenset(top.antecedent(r) + top.consequent(r)) for r in range(len(top))]
    assert len(set(unions)) == len(unions)
    assert len(top) == min(k, len({frozenset(a + c) for a, c in _rule_set(rules)}))
    value = np.asarray(getattr(top, by), dtype=float)
    sign = 1 if by.startswith("p_") else -1
    assert (np.diff(sign * value) >= 0).all()
    # each kept rule is the best of its item set
    best = {}
    for r in range(len(rules)):
        key = frozenset(rules.antecedent(r) + rules.consequent(r))
        v = sign * float(getattr(rules, by)[r])
        best[key] = min(best.get(key, np.inf), v)
    for u, v in zip(unions, value, strict=True):
        assert sign * v == best[u]
    plain = rules.top(k, by=by, distinct=False)
    assert len(plain) == min(k, len(rules))


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, k=st.integers(1, 12), cap=st.integers(1, 3))
def test_top_max_per_item_caps_every_item_and_is_greedy_by_rank(baskets, k, cap):
    fi = frequent_itemsets(_tx(baskets), min_support=1)
    rules = association_rules(fi, min_confidence=0.0)
    top = rules.top(k, max_per_item=cap)
    uses: dict = {}
    for r in range(len(top)):
        for i in top.antecedent(r) + top.consequent(r):
            uses[i] = uses.get(i, 0) + 1
    assert len(top) <= k and all(n <= cap for n in uses.values())
    # greedy over the distinct ranking: the first rule is the best one, and a rule passed
    # over would have pushed some item past the cap
    ranked = rules.top(len(rules), distinct=True) if len(rules) else rules
    kept = {top.rule(r) for r in range(len(top))}
    seen: dict = {}
    n_kept = 0
    for r in range(len(ranked)):
        items = ranked.antecedent(r) + ranked.consequent(r)
        if ranked.rule(r) in kept:
            for i in items:
                seen[i] = seen.get(i, 0) + 1
            n_kept += 1
        elif n_kept < k:  # passed over only because some item was at the cap already
            assert any(seen.get(i, 0) >= cap for i in items)
    assert n_kept == len(top)


def test_select_and_new_fields():
    baskets = [{0, 1, 2}] * 4 + [{0, 1}] * 3 + [{2}] * 3
    fi = frequent_itemsets(_tx(baskets), min_support=2)
    rules = association_rules(fi, min_confidence=0)
    assert rules.min_support == fi.min_count / 10 and rules.min_confidence == 0.0
    sub = rules.select([2, 0])
    assert [sub.rule(0), sub.rule(1)] == [rules.rule(2), rules.rule(0)]
    assert sub.lift.tolist() == [rules.lift[2], rules.lift[0]]
    assert len(rules.select(np.zeros(len(rules), dtype=bool))) == 0
    assert rules.select([-1]).rule(0) == rules.rule(len(rules) - 1)
    with pytest.raises(UpsellDataError, match="`indices`"):
        rules.select([len(rules)])
    with pytest.raises(UpsellDataError, match="`by`"):
        rules.top(3, by="colour")
    with pytest.raises(UpsellDataError, match="`max_rules`"):
        association_rules(fi, max_rules=0)
    with pytest.raises(UpsellDataError, match="`prune`"):
        association_rules(fi, prune="yes")


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.sampled_from([0.0, 1e-300, 1e-12, 0.001, 0.01, 0.3, 0.5, 1.0]),
                       min_size=1, max_size=60),
       method=st.sampled_from(["holm", "bh"]))
def test_adjustment_does_not_depend_on_the_order_of_ties(values, method):
    from upsell._stats import adjust_p_values

    p = np.array(values)
    got = adjust_p_values(p, method)
    # reference: the stable sort
    m = p.size
    order = np.argsort(p, kind="stable")
    ps = p[order]
    if method == "holm":
        adj = np.maximum.accumulate(ps * (m - np.arange(m)))
    else:
        adj = np.minimum.accumulate((ps * m / np.arange(1, m + 1))[::-1])[::-1]
    want = np.empty(m)
    want[order] = np.minimum(adj, 1.0)
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("rows", [8, 16, 32, 64])
def test_sum_rows_adds_as_numpy_sums_a_row(rows):
    # the tail sums run with terms as rows; their total must keep numpy's order of additions
    from upsell.bundles.rules import _sum_rows

    rng = np.random.default_rng(rows)
    for n in (1, 2, 7, 1000):
        a = rng.random((rows, n)) * np.exp(rng.normal(0, 8, (rows, n)))
        assert _sum_rows(a).tobytes() == np.ascontiguousarray(a.T).sum(axis=1).tobytes()
