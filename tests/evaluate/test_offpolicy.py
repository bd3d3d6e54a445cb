"""Off-policy value: hand-computed values, properties, the bootstrap, validation, obp equality."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.evaluate import ESTIMATORS, PolicyValue, off_policy_value
from upsell.evaluate.offpolicy import INTERVALS
from upsell.exceptions import UpsellDataError, UpsellError

#: the resampling intervals (seeded); "el" is deterministic
BOOTSTRAPS = tuple(i for i in INTERVALS if i != "el")

R = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
P_LOG = np.array([0.5, 0.25, 1.0, 0.8, 0.4])
P_TGT = np.array([1.0, 0.5, 0.0, 0.4, 0.2])
Q_LOG = np.array([0.6, 0.1, 0.5, 0.3, 0.2])
Q_TGT = np.array([0.7, 0.2, 0.4, 0.3, 0.1])


def test_hand_computed_values():
    w = [2.0, 2.0, 0.0, 0.5, 0.5]
    ips = off_policy_value(R, P_LOG, P_TGT, "ips", n_bootstrap=0)
    assert ips.value == pytest.approx((2 + 0 + 0 + 0 + 0.5) / 5)
    snips = off_policy_value(R, P_LOG, P_TGT, "snips", n_bootstrap=0)
    assert snips.value == pytest.approx(2.5 / sum(w))
    dr = off_policy_value(R, P_LOG, P_TGT, "dr", (Q_LOG, Q_TGT), n_bootstrap=0)
    rows = [0.7 + 2 * 0.4, 0.2 + 2 * -0.1, 0.4, 0.3 + 0.5 * -0.3, 0.1 + 0.5 * 0.8]
    assert dr.value == pytest.approx(sum(rows) / 5)
    assert ips.n == 5 and ips.mean_weight == pytest.approx(1.0) and ips.max_weight == 2.0
    assert ips.effective_sample_size == pytest.approx(sum(w) ** 2 / sum(x * x for x in w))
    assert math.isnan(ips.ci_low) and math.isnan(ips.ci_high)


def test_result_is_a_table():
    v = off_policy_value(R, P_LOG, P_TGT, "snips", n_bootstrap=50)
    assert isinstance(v, PolicyValue) and len(v) == 1 and float(v) == v.value
    frame = v.to_pandas()
    assert frame["estimator"].tolist() == ["snips"]
    assert frame["value"].iloc[0] == v.value
    assert "<b>PolicyValue</b>" in v._repr_html_()
    assert repr(v).startswith("PolicyValue(snips: ")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0.01, 1)), min_size=1, max_size=40))
def test_ips_of_the_logging_policy_is_the_mean_reward(rows):
    r = np.array([a for a, _ in rows])
    p = np.array([b for _, b in rows])
    for est in ("ips", "snips"):
        v = off_policy_value(r, p, p, est, n_bootstrap=0)
        assert v.value == pytest.approx(r.mean(), rel=1e-12, abs=1e-12)
        assert v.effective_sample_size == pytest.approx(len(r))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0.05, 1), st.floats(0.01, 1)),
                min_size=1, max_size=30),
       st.floats(0.05, 1.0))
def test_snips_is_invariant_to_scaling_the_target(rows, c):
    r = np.array([a for a, _, _ in rows])
    p = np.array([b for _, b, _ in rows])
    t = np.array([x for _, _, x in rows])
    a = off_policy_value(r, p, t, "snips", n_bootstrap=0).value
    b = off_policy_value(r, p, c * t, "snips", n_bootstrap=0).value
    assert b == pytest.approx(a, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0.05, 1), st.floats(0, 1)),
                min_size=1, max_size=30))
def test_dr_with_a_zero_model_is_ips_and_values_are_order_free(rows):
    r = np.array([a for a, _, _ in rows])
    p = np.array([b for _, b, _ in rows])
    t = np.array([x for _, _, x in rows])
    z = np.zeros_like(r)
    ips = off_policy_value(r, p, t, "ips", n_bootstrap=0).value
    dr = off_policy_value(r, p, t, "dr", (z, z), n_bootstrap=0).value
    assert dr == pytest.approx(ips, rel=1e-12, abs=1e-12)
    perm = np.random.default_rng(0).permutation(r.size)
    for est in ESTIMATORS:
        rm = (r * 0.5, t * 0.3) if est == "dr" else None
        rm_perm = (r[perm] * 0.5, t[perm] * 0.3) if est == "dr" else None
        a = off_policy_value(r, p, t, est, rm, n_bootstrap=0).value
        b = off_policy_value(r[perm], p[perm], t[perm], est, rm_perm, n_bootstrap=0).value
        assert (math.isnan(a) and math.isnan(b)) or b == pytest.approx(a, rel=1e-12, abs=1e-12)


def test_dr_with_a_perfect_model_has_zero_variance():
    rng = np.random.default_rng(1)
    r = rng.integers(0, 2, 200).astype(float)
    p = rng.uniform(0.1, 1, 200)
    t = rng.uniform(0, 1, 200)
    # the model knows every logged reward and the target's expected reward is the same everywhere
    v = off_policy_value(r, p, t, "dr", (r, np.full(200, 0.3)), n_bootstrap=300)
    assert v.value == pytest.approx(0.3)
    assert v.ci_low == pytest.approx(0.3) and v.ci_high == pytest.approx(0.3)


def test_bootstrap_is_seeded_covers_the_value_and_matches_a_naive_loop():
    rng = np.random.default_rng(2)
    n = 300
    r = rng.integers(0, 2, n).astype(float)
    p = rng.uniform(0.2, 1, n)
    t = rng.uniform(0, 1, n)
    for interval in BOOTSTRAPS:
        a = off_policy_value(r, p, t, "snips", n_bootstrap=400, random_state=7, interval=interval)
        b = off_policy_value(r, p, t, "snips", n_bootstrap=400, random_state=7, interval=interval)
        c = off_policy_value(r, p, t, "snips", n_bootstrap=400, random_state=8, interval=interval)
        assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high) != (c.ci_low, c.ci_high)
        assert a.ci_low < a.value < a.ci_high and a.interval == interval
        assert interval in a._summary()
        # a wider level gives a wider interval
        wide = off_policy_value(r, p, t, "snips", n_bootstrap=400, random_state=7,
                                confidence=0.99, interval=interval)
        assert wide.ci_low <= a.ci_low and wide.ci_high >= a.ci_high
    # brute-force twins: the same draws, one replicate at a time
    draws = np.random.default_rng(7).integers(0, n, size=(400, n))
    w = t / p
    theta = np.sum(w * r) / np.sum(w)
    naive = np.array([np.sum(w[d] * r[d]) / np.sum(w[d]) for d in draws])

    def se(d: np.ndarray) -> float:
        th = np.sum(w[d] * r[d]) / np.sum(w[d])
        return float(np.sqrt(np.sum((w[d] * r[d] - th * w[d]) ** 2)) / np.sum(w[d]))

    expected = {"percentile": tuple(np.quantile(naive, [0.025, 0.975]))}
    t_star = np.array([(naive[b] - theta) / se(d) for b, d in enumerate(draws)])
    t_hi, t_lo = np.quantile(t_star, [0.975, 0.025])
    s0 = se(np.arange(n))
    expected["studentized"] = (theta - t_hi * s0, theta - t_lo * s0)
    z0 = NormalDist().inv_cdf(np.mean(naive < theta))
    jack = np.array([np.sum(np.delete(w * r, i)) / np.sum(np.delete(w, i)) for i in range(n)])
    u = jack.mean() - jack
    acc = np.sum(u**3) / (6 * np.sum(u**2) ** 1.5)
    levels = [NormalDist().cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
              for z in (NormalDist().inv_cdf(0.025), NormalDist().inv_cdf(0.975))]
    expected["bca"] = tuple(np.quantile(naive, levels))
    for interval, (lo, hi) in expected.items():
        a = off_policy_value(r, p, t, "snips", n_bootstrap=400, random_state=7, interval=interval)
        assert a.ci_low == pytest.approx(lo, rel=1e-9), interval
        assert a.ci_high == pytest.approx(hi, rel=1e-9), interval
    assert off_policy_value(r, p, t, "snips", n_bootstrap=400, random_state=7).interval \
        == "studentized"


def test_intervals_hold_a_skewed_truth_near_the_nominal_share():
    """Revenue-like rewards (Bernoulli acceptance x lognormal price, rare and heavy-tailed),
    three offers per request resampled as one unit, an epsilon-greedy logging policy and a
    deterministic target: the studentized interval holds the known truth near 95% of the
    time; the percentile one falls short (seeded: the same numbers on every run)."""
    truth = 0.1 * np.exp(1.5**2 / 2)            # P(accept) x E[price]
    reps, requests = 200, 200
    hits = {i: 0 for i in INTERVALS}
    for rep in range(reps):
        rng = np.random.default_rng(rep)
        p = rng.choice([0.84, 0.04], size=(requests, 3), p=[0.8, 0.2])
        t = (p > 0.5).astype(float)
        r = (rng.random((requests, 3)) < 0.1) * rng.lognormal(0, 1.5, (requests, 3))
        groups = np.repeat(np.arange(requests), 3)
        for interval in INTERVALS:
            v = off_policy_value(r.ravel(), p.ravel(), t.ravel(), "snips", groups=groups,
                                 n_bootstrap=400, random_state=rep, interval=interval)
            hits[interval] += v.ci_low <= truth <= v.ci_high
    cover = {i: h / reps for i, h in hits.items()}
    # 200 repetitions: a binomial standard error of 1.5 points around the true coverage
    assert 0.9 <= cover["studentized"] <= 0.99, cover
    assert cover["percentile"] < cover["studentized"], cover


def test_groups_resample_whole_requests():
    rng = np.random.default_rng(3)
    n = 120
    r = rng.integers(0, 2, n).astype(float)
    p = rng.uniform(0.2, 1, n)
    t = rng.uniform(0, 1, n)
    rows = off_policy_value(r, p, t, "ips", n_bootstrap=200)
    single = off_policy_value(r, p, t, "ips", groups=np.arange(n), n_bootstrap=200)
    assert (rows.ci_low, rows.ci_high) == (single.ci_low, single.ci_high)
    grouped = off_policy_value(r, p, t, "ips", groups=np.repeat(np.arange(30), 4),
                               n_bootstrap=200)
    assert grouped.value == rows.value and grouped.n_groups == 30
    assert grouped.ci_low < grouped.value < grouped.ci_high
    with pytest.raises(UpsellDataError, match="`groups` must have one label per logged row"):
        off_policy_value(r, p, t, groups=[1, 2])


def test_studentized_bound_is_infinite_when_replicates_have_no_spread():
    # one accepted offer among 20 requests: a third of the replicates miss it and have no
    # spread at all, so nothing bounds the value from above
    r = np.zeros(20)
    r[0] = 5.0
    v = off_policy_value(r, np.ones(20), np.ones(20), n_bootstrap=200)
    assert v.ci_low < v.value == 0.25 and v.ci_high == math.inf


def test_snips_undefined_when_the_target_never_shows_the_logged_items():
    v = off_policy_value([1.0, 0.0], [0.5, 0.5], [0.0, 0.0], "snips", n_bootstrap=100)
    assert math.isnan(v.value) and math.isnan(v.ci_low) and "undefined" in v.note
    assert v.effective_sample_size == 0.0
    assert off_policy_value([1.0, 0.0], [0.5, 0.5], [0.0, 0.0], "ips", n_bootstrap=0).value == 0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rewards": [1, 0], "logged_propensities": [0.5]}, "one value per logged row"),
    ({"rewards": [1, float("nan")]}, r"`rewards` must be finite; row 1 is nan"),
    ({"logged_propensities": [0.5, 0.0]}, r"`logged_propensities` must be probabilities in "
                                          r"\(0, 1\]; row 1 is 0.0"),
    ({"target_propensities": [1.5, 0.5]}, r"`target_propensities` must be probabilities in "
                                          r"\[0, 1\]; row 0 is 1.5"),
    ({"target_propensities": [0.5, float("inf")]}, r"`target_propensities` must be finite; "
                                                   "row 1 is inf"),
    ({"rewards": []}, "empty"),
    ({"estimator": "dm"}, "`estimator` must be one of 'ips', 'snips', 'dr'; got 'dm'"),
    ({"estimator": "dr"}, "needs `reward_model`"),
    ({"estimator": "dr", "reward_model": [0.1, 0.2]}, r"reward_model\[0\] \(q_logged\)"),
    ({"estimator": "dr", "reward_model": ([0.1, 0.2], [0.1])}, r"q_target.*one value"),
    ({"estimator": "ips", "reward_model": ([0.1, 0.2], [0.1, 0.2])}, "used by estimator='dr'"),
    ({"rewards": [[1, 0]]}, "one-dimensional"),
    ({"rewards": ["a", "b"]}, "`rewards` must be numbers"),
    ({"confidence": 1.0}, "`confidence`"),
    ({"n_bootstrap": -1}, "`n_bootstrap`"),
    ({"interval": "basic"}, "`interval`"),
])
def test_bad_input_names_the_argument(kwargs, match):
    args = {"rewards": [1.0, 0.0], "logged_propensities": [0.5, 0.5],
            "target_propensities": [0.5, 0.5]}
    args.update(kwargs)
    with pytest.raises(UpsellDataError, match=match) as info:
        off_policy_value(**args)
    assert isinstance(info.value, UpsellError) and isinstance(info.value, ValueError)


def test_dr_reward_model_as_a_2xn_array():
    a = off_policy_value(R, P_LOG, P_TGT, "dr", np.stack([Q_LOG, Q_TGT]), n_bootstrap=0)
    b = off_policy_value(R, P_LOG, P_TGT, "dr", (Q_LOG, Q_TGT), n_bootstrap=0)
    assert a.value == b.value


# ---------------------------------------------------------------------------- obp
def _obp_inputs(seed, n_rounds=500, n_actions=6, len_list=3):
    rng = np.random.default_rng(seed)
    action = rng.integers(0, n_actions, n_rounds)
    position = rng.integers(0, len_list, n_rounds)
    pscore = rng.uniform(0.05, 1.0, n_rounds)
    reward = rng.binomial(1, 0.3, n_rounds).astype(float)
    raw = rng.uniform(0, 1, (n_rounds, n_actions, len_list)) ** 3
    action_dist = raw / raw.sum(axis=1, keepdims=True)
    q_hat = rng.uniform(0, 1, (n_rounds, n_actions, len_list))
    return action, position, pscore, reward, action_dist, q_hat


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimates_equal_obp(seed):
    """obp's IPW, SNIPW and DR on the same arrays, to 1e-9 (obp is not a dependency: skipped
    without it; run it in a venv with obp installed)."""
    obp_ope = pytest.importorskip("obp.ope")
    action, position, pscore, reward, action_dist, q_hat = _obp_inputs(seed)
    idx = np.arange(reward.size)
    target = action_dist[idx, action, position]
    q_logged = q_hat[idx, action, position]
    q_target = np.sum(action_dist[idx, :, position] * q_hat[idx, :, position], axis=1)
    kw = {"reward": reward, "action": action, "position": position, "pscore": pscore,
          "action_dist": action_dist}
    want = {
        "ips": obp_ope.InverseProbabilityWeighting().estimate_policy_value(**kw),
        "snips": obp_ope.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(
            **kw),
        "dr": obp_ope.DoublyRobust().estimate_policy_value(
            estimated_rewards_by_reg_model=q_hat, **kw),
    }
    for est, value in want.items():
        rm = (q_logged, q_target) if est == "dr" else None
        got = off_policy_value(reward, pscore, target, est, rm, n_bootstrap=0).value
        assert abs(got - float(value)) <= 1e-9, (est, got, value)


def test_repeated_values_resample_as_multinomial_counts_with_the_same_distribution():
    """Most logs repeat (reward, propensity) pairs; the bootstrap then draws multinomial
    counts over the distinct pairs, exactly the same resampling distribution as drawing rows."""
    from upsell.evaluate.offpolicy import _boot_ratio

    rng = np.random.default_rng(4)
    num = rng.binomial(1, 0.3, 4000) * rng.choice([1.0, 2.0, 4.0], 4000)
    den = rng.choice([1.0, 0.5], 4000)
    fast = _boot_ratio(num, den, 4000, 1)
    rows = _boot_ratio(num, den, 4000, 2, compress=False)
    assert np.quantile(fast, [0.025, 0.5, 0.975]) == pytest.approx(
        np.quantile(rows, [0.025, 0.5, 0.975]), abs=0.01)
    assert np.array_equal(fast, _boot_ratio(num, den, 4000, 1))  # seeded
    # a million logged offers with repeated values: the interval in well under a second
    n = 1_000_000
    r = rng.binomial(1, 0.05, n).astype(float)
    v = off_policy_value(r, rng.choice([1.0, 0.9, 0.05], n), rng.choice([0.0, 1.0], n),
                         "snips")
    assert v.ci_low < v.value < v.ci_high


# ---------------------------------------------------------------------------- empirical likelihood
def _el_statistic(g):
    """-2 log R of E[g] = 0 by the dual, solved independently (root_scalar, bracketing)."""
    from scipy.optimize import root_scalar

    lo, hi = -1 / g.max(), -1 / g.min()
    pad = 1e-10 * (hi - lo)
    lam = root_scalar(lambda x: np.sum(g / (1 + x * g)), bracket=(lo + pad, hi - pad),
                      xtol=1e-14).root
    p = 1 / (g.size * (1 + lam * g))
    return 2 * np.sum(np.log1p(lam * g)), p


@pytest.mark.parametrize("estimator", ["ips", "snips"])
def test_el_bounds_sit_on_the_f_calibrated_likelihood_contour(estimator):
    """At each bound, the profile empirical likelihood of E[N - theta D] = 0 over the requests
    equals the F(1, g-1) level, with probabilities that sum to 1 and satisfy the equation."""
    from scipy import stats

    rng = np.random.default_rng(5)
    n = 240
    r = (rng.random(n) < 0.15) * rng.lognormal(1, 1, n)
    p = rng.choice([0.8, 0.1], n)
    t = (p > 0.5).astype(float)
    groups = np.repeat(np.arange(80), 3)
    v = off_policy_value(r, p, t, estimator, groups=groups, interval="el")
    assert v.interval == "el" and "empirical likelihood" in v._summary()
    w = t / p
    num = np.bincount(groups, weights=w * r)
    den = np.bincount(groups, weights=np.ones(n) if estimator == "ips" else w)
    level = stats.f.ppf(0.95, 1, 79)
    for theta in (v.ci_low, v.ci_high):
        g = num - theta * den
        stat, prob = _el_statistic(g)
        assert stat == pytest.approx(level, rel=1e-7)
        assert prob.sum() == pytest.approx(1, abs=1e-9) and abs(prob @ g) <= 1e-9 * np.abs(g).max()
    assert v.ci_low < v.value < v.ci_high
    # deterministic: no resampling, the seed is not used
    again = off_policy_value(r, p, t, estimator, groups=groups, interval="el", random_state=9)
    assert (again.ci_low, again.ci_high) == (v.ci_low, v.ci_high)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0.05, 1), st.floats(0, 1)),
                min_size=2, max_size=40),
       st.sampled_from(["ips", "snips", "dr"]), st.floats(0.01, 100))
def test_el_interval_properties(rows, estimator, scale):
    """The EL interval holds the estimate, stays inside the units' own ratios (never below 0
    for rewards >= 0 with IPS and SNIPS), scales with the rewards and shrinks when every
    unit is seen four times as often."""
    r = np.array([a for a, _, _ in rows])
    p = np.array([b for _, b, _ in rows])
    t = np.array([x for _, _, x in rows])
    rm = (0.5 * r, 0.3 * r) if estimator == "dr" else None
    v = off_policy_value(r, p, t, estimator, rm, interval="el")
    if not np.isfinite(v.value):
        return
    tol = 1e-9 * max(1.0, abs(v.value))
    assert v.ci_low - tol <= v.value <= v.ci_high + tol
    w = t / p
    if estimator == "snips" and w.max() > 0:
        w = w / w.max()  # the same ratios; subnormal weights (5e-324) keep their precision
    num = 0.3 * r + w * (r - 0.5 * r) if estimator == "dr" else w * r
    den = w if estimator == "snips" else np.ones_like(r)
    ratio = num[den > 0] / den[den > 0]
    assert ratio.min() - tol <= v.ci_low and v.ci_high <= ratio.max() + tol
    rm_s = (0.5 * r * scale, 0.3 * r * scale) if estimator == "dr" else None
    s = off_policy_value(r * scale, p, t, estimator, rm_s, interval="el")
    assert s.ci_low == pytest.approx(v.ci_low * scale, rel=1e-6, abs=1e-9 * scale)
    assert s.ci_high == pytest.approx(v.ci_high * scale, rel=1e-6, abs=1e-9 * scale)
    rm4 = tuple(np.tile(q, 4) for q in rm) if rm is not None else None
    big = off_policy_value(np.tile(r, 4), np.tile(p, 4), np.tile(t, 4), estimator, rm4,
                           interval="el")
    assert big.value == pytest.approx(v.value, rel=1e-9, abs=1e-12)
    assert big.ci_high - big.ci_low <= (v.ci_high - v.ci_low) * (1 + 1e-9) + 1e-12


def test_el_degenerate_logs():
    # every unit the same ratio: no spread, a zero-width interval (like a perfect DR model)
    v = off_policy_value(np.ones(10), np.ones(10), np.ones(10), interval="el")
    assert (v.ci_low, v.ci_high) == (1.0, 1.0)
    one = off_policy_value([3.0], [0.5], [1.0], interval="el")
    assert (one.ci_low, one.ci_high) == (6.0, 6.0)
    # one accepted offer among 20 requests: bounded by the data's range, unlike the studentized
    r = np.zeros(20)
    r[0] = 5.0
    v = off_policy_value(r, np.ones(20), np.ones(20), interval="el")
    assert 0.0 < v.ci_low < v.value == 0.25 < v.ci_high < 5.0
    assert math.isnan(off_policy_value(r, np.ones(20), np.ones(20), interval="el",
                                       n_bootstrap=0).ci_low)


def test_evaluate_policy_passes_the_el_interval_through():
    from upsell.recommend import evaluate_policy

    rng = np.random.default_rng(6)
    n = 200
    log = {"request_id": np.repeat([f"r{i}" for i in range(n // 2)], 2),
           "customer": np.repeat([f"c{i % 7}" for i in range(n // 2)], 2),
           "item": rng.choice(["a", "b"], n), "position": np.tile([0, 1], n // 2),
           "propensity": np.full(n, 0.5), "accepted": rng.random(n) < 0.2}

    class Shows:
        def policy_distribution(self, customer=None, *, k=2, at=None, channel="web"):
            return {("a", 0): 1.0, ("b", 1): 1.0}

    ev = evaluate_policy(log, Shows(), estimators=("ips", "snips", "dr"), interval="el")
    assert all(e.interval == "el" for e in ev.estimates)
    assert "95% empirical likelihood intervals over requests" in ev._summary()
    assert all(e.ci_low <= e.value <= e.ci_high for e in ev.estimates)


# ------------------------------------------------------------------ diagnostics and reliability
@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=1, max_size=60), st.floats(0.01, 1.0),
       st.lists(st.floats(0.0, 1.0), min_size=60, max_size=60))
def test_ess_is_n_for_equal_weights_and_within_1_and_n(p_log, t, p_tgt):
    n = len(p_log)
    r = np.ones(n)
    # target proportional to the logged propensities: every weight the same
    equal = off_policy_value(r, p_log, t * np.asarray(p_log), n_bootstrap=0)
    assert equal.ess == equal.effective_sample_size == pytest.approx(n, rel=1e-12)
    v = off_policy_value(r, p_log, p_tgt[:n], n_bootstrap=0)
    if np.any(np.asarray(p_tgt[:n]) > 0):
        assert 1.0 <= v.ess <= n
        assert 1.0 <= v.rewarded_ess <= n
    else:
        assert v.ess == 0.0 and v.rewarded_ess == 0.0


def test_diagnostics_by_hand():
    r = np.r_[np.ones(10), np.zeros(190)] * 2.0
    r[0] = 100.0
    p = np.full(200, 0.5)
    t = np.r_[np.full(100, 1.0), np.full(100, 0.5)]
    v = off_policy_value(r, p, t, n_bootstrap=0)
    w = t / p
    assert v.rewarded_ess == pytest.approx(10.0)  # ten rewarded rows, weight 2 each
    terms = np.sort(np.abs(w * r))[::-1]
    assert v.top_share == pytest.approx(terms[:2].sum() / terms.sum())  # 1% of 200 rows: 2
    frame = v.to_pandas()
    assert {"rewarded_ess", "top_share", "reliable"} <= set(frame.columns)
    assert frame["reliable"].tolist() == [False]
    assert "not reliable" in v.note and "rests on 10.0 accepted offers" in v.note
    assert "not reliable" in repr(v)
    nothing = off_policy_value(np.zeros(5), np.ones(5), np.ones(5), n_bootstrap=0)
    assert math.isnan(nothing.top_share) and nothing.rewarded_ess == 0.0


@pytest.mark.parametrize("kind", ["binary", "other"])
def test_reliable_follows_the_documented_thresholds(kind):
    from upsell.evaluate.offpolicy import RELIABLE_MIN_REWARDED, RELIABLE_MIN_UNITS

    need = math.ceil(RELIABLE_MIN_REWARDED[kind])
    for accepted, expect in ((need - 1, False), (need, True)):
        r = np.zeros(max(4 * need, RELIABLE_MIN_UNITS))
        # a fixed price is a scaled 0/1 reward; prices that vary are not
        r[:accepted] = 7.5 if kind == "binary" else np.linspace(1.0, 50.0, accepted)
        v = off_policy_value(r, np.ones(r.size), np.ones(r.size), n_bootstrap=0)
        assert v.rewarded_ess == pytest.approx(accepted)
        assert v.reliable is expect, (kind, accepted)
        assert ("not reliable" in v.note) is (not expect)
    # too few resampled units: never reliable, whatever the accepted offers
    few = off_policy_value(np.ones(RELIABLE_MIN_UNITS - 1), np.ones(RELIABLE_MIN_UNITS - 1),
                           np.ones(RELIABLE_MIN_UNITS - 1), n_bootstrap=0)
    assert few.rewarded_ess >= RELIABLE_MIN_REWARDED["binary"] and not few.reliable
    assert "resampled units" in few.note
    # an undefined value is never reliable
    assert not off_policy_value([1.0, 0.0], [1.0, 1.0], [0.0, 0.0], "snips",
                                n_bootstrap=0).reliable


def test_evaluate_policy_table_shows_the_diagnostics():
    from upsell.recommend import evaluate_policy

    rng = np.random.default_rng(7)
    n = 400
    log = {"request_id": np.repeat([f"r{i}" for i in range(n // 2)], 2),
           "customer": np.repeat([f"c{i % 9}" for i in range(n // 2)], 2),
           "item": rng.choice(["a", "b"], n), "position": np.tile([0, 1], n // 2),
           "propensity": np.full(n, 0.5), "accepted": rng.random(n) < 0.3,
           "revenue": rng.lognormal(2.0, 1.5, n)}

    class Shows:
        def policy_distribution(self, customer=None, *, k=2, at=None, channel="web"):
            return {("a", 0): 1.0, ("b", 1): 1.0}

    conv = evaluate_policy(log, Shows(), n_bootstrap=50)
    rev = evaluate_policy(log, Shows(), reward="revenue", n_bootstrap=50)
    for ev in (conv, rev):
        text = repr(ev)
        assert "reliable" in text.splitlines()[1] and "accepted" in text.splitlines()[1]
        assert set(ev.to_pandas().columns) >= {"effective_sample_size", "rewarded_ess",
                                                "top_share", "reliable"}
        assert isinstance(ev.to_records()[1]["reliable"], bool)
    # about 60 accepted offers: enough for 0/1 rewards, not for revenue
    assert all(e.reliable for e in conv.estimates)
    assert not any(e.reliable for e in rev.estimates)
    assert "ips, snips, dr not reliable" in rev.note


def test_el_interval_of_subnormal_values_scales():
    """Seed 34 of the property above: a target probability of 2.2e-313 made the ratios
    subnormal, the root finder's tolerance 0 ("xtol too small") or its loop endless. The
    interval is solved on ratios of order 1 and scaled back: 12x the rewards, 12x the bounds."""
    r, p, t = np.array([0.0, 0.0, 1.0]), np.ones(3), np.array([0.0, 0.0, 2.2250738585e-313])
    one = off_policy_value(r, p, t, "ips", interval="el")
    twelve = off_policy_value(12 * r, p, t, "ips", interval="el")
    assert 0 < one.ci_low < one.value < one.ci_high
    assert twelve.ci_low == pytest.approx(12 * one.ci_low, rel=1e-6)
    assert twelve.ci_high == pytest.approx(12 * one.ci_high, rel=1e-6)
