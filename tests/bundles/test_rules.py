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
