"""evaluate_policy: replaying an offer log's requests through a candidate recommender."""

from __future__ import annotations

import math

import numpy as np
import pytest

from upsell.evaluate import off_policy_value
from upsell.exceptions import UpsellDataError
from upsell.recommend import PolicyEvaluation, evaluate_policy

ITEMS = ("a", "b", "c", "d")
TRUE_P = {"a": 0.10, "b": 0.30, "c": 0.05, "d": 0.20}
GREEDY = ("a", "c")  # the logging policy's list, explored with rate EPS per slot
EPS = 0.4


def _logging_prop(item, pos):
    return (1 - EPS) * (item == GREEDY[pos]) + EPS / len(ITEMS)


def simulate_log(n_requests=3000, seed=0, old_rows=0):
    """The outcome columns of an epsilon-greedy logging policy (two slots, known propensities)."""
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("offer_id", "request_id", "customer", "item", "position",
                            "propensity", "accepted", "revenue", "segment", "policy",
                            "time")}
    t0 = np.datetime64("2024-05-01T00:00:00", "us")
    for r in range(n_requests):
        for pos in range(2):
            item = GREEDY[pos] if rng.random() >= EPS else ITEMS[rng.integers(len(ITEMS))]
            acc = bool(rng.random() < TRUE_P[item])
            rows["offer_id"].append(f"o{r}-{pos}")
            rows["request_id"].append(f"r{r}")
            rows["customer"].append(f"c{r % 50}")
            rows["item"].append(item)
            rows["position"].append(pos)
            rows["propensity"].append(_logging_prop(item, pos))
            rows["accepted"].append(acc)
            rows["revenue"].append(10.0 if acc else np.nan)
            rows["segment"].append("vip" if r % 3 == 0 else "")
            rows["policy"].append("old@1")
            rows["time"].append(t0 + np.timedelta64(r, "m"))
    for j in range(old_rows):  # rows from before propensities were logged
        rows["offer_id"].append(f"old{j}")
        rows["request_id"].append("")
        rows["customer"].append("c1")
        rows["item"].append("a")
        rows["position"].append(-1)
        rows["propensity"].append(np.nan)
        rows["accepted"].append(True)
        rows["revenue"].append(10.0)
        rows["segment"].append("")
        rows["policy"].append("")
        rows["time"].append(t0 - np.timedelta64(1, "D"))
    return {k: np.array(v) for k, v in rows.items()}


class Shows:
    """A deterministic candidate with a policy_distribution (records its calls)."""

    policy_ = "new@2"

    def __init__(self, items=("b", "d")):
        self.items = items
        self.calls = []

    def policy_distribution(self, customer=None, *, basket=(), k=5, at=None, channel="web"):
        self.calls.append((customer, at, k, channel))
        return {(it, i): 1.0 for i, it in enumerate(self.items[:k])}


class Offer:
    def __init__(self, item):
        self.item = item


class RecommendsOnly:
    """A candidate with recommend() only: read as a deterministic policy."""

    def __init__(self, items=("b", "d")):
        self.items = items

    def recommend(self, customer=None, *, k=5, at=None, channel="web"):
        return [Offer(i) for i in self.items[:k]]


class LoggingPolicy:
    """The logging policy's own distribution: every (item, position) with its propensity."""

    def policy_distribution(self, customer=None, *, basket=(), k=5, at=None, channel="web"):
        return {(it, p): _logging_prop(it, p) for it in ITEMS for p in range(k)}


def test_estimates_are_close_to_the_truth_and_inside_their_intervals():
    log = simulate_log(4000, seed=1)
    ev = evaluate_policy(log, Shows(), n_bootstrap=300)
    truth = (TRUE_P["b"] + TRUE_P["d"]) / 2
    logged_truth = np.mean([sum(_logging_prop(i, p) * TRUE_P[i] for i in ITEMS)
                            for p in range(2)])
    assert ev.names == ("logged", "ips", "snips", "dr")
    assert abs(ev.value("logged") - logged_truth) < 0.02
    for est in ("ips", "snips", "dr"):
        e = ev[est]
        assert abs(e.value - truth) < 0.05, (est, e.value)
        assert e.ci_low < truth < e.ci_high, (est, e)
        assert e.n == 8000 and e.n_groups == 4000
    # one call per request, with the logged customer, time and list length
    assert isinstance(ev, PolicyEvaluation) and ev.n_requests == 4000 and ev.candidate == "new@2"
    assert ev.logging_policies == ("old@1",)


def test_the_logging_policy_as_candidate_gives_the_logged_value():
    log = simulate_log(500, seed=2)
    ev = evaluate_policy(log, LoggingPolicy(), n_bootstrap=0)
    assert ev.value("ips") == pytest.approx(ev.value("logged"), rel=1e-12)
    assert ev.value("snips") == pytest.approx(ev.value("logged"), rel=1e-12)
    assert ev["ips"].effective_sample_size == pytest.approx(1000)


def test_one_call_per_request_with_the_logged_context():
    log = simulate_log(20, seed=3)
    cand = Shows()
    evaluate_policy(log, cand, n_bootstrap=0, channel="email")
    assert len(cand.calls) == 20
    customer, at, k, channel = cand.calls[0]
    assert customer == "c0" and at == np.datetime64("2024-05-01T00:00:00") and k == 2
    assert channel == "email"
    evaluate_policy(log, cand, n_bootstrap=0, k=5)
    assert cand.calls[-1][2] == 5


def test_rows_without_a_logged_propensity_are_counted_and_named():
    log = simulate_log(300, seed=4, old_rows=25)
    ev = evaluate_policy(log, Shows(), n_bootstrap=0)
    assert ev.n_rows == 625 and ev.n_excluded == 25
    assert "25 of 625 offers left out" in ev.note
    assert ev["ips"].n == 600
    clean = evaluate_policy(simulate_log(300, seed=4), Shows(), n_bootstrap=0)
    assert clean.value("ips") == ev.value("ips") and "left out" not in clean.note


def test_a_log_without_any_propensity_is_refused():
    log = simulate_log(0, old_rows=5)
    with pytest.raises(UpsellDataError, match="none of the 5 presented offers"):
        evaluate_policy(log, Shows())


def test_a_propensity_outside_0_1_names_the_row():
    log = simulate_log(10)
    log["propensity"] = log["propensity"].copy()
    log["propensity"][3] = 1.5
    with pytest.raises(UpsellDataError, match=r"row 3 \(offer_id o1-1\): propensity 1.5"):
        evaluate_policy(log, Shows())


def test_missing_columns_and_bad_options():
    log = simulate_log(10)
    del log["propensity"]
    with pytest.raises(UpsellDataError, match=r"lack the column.*propensity"):
        evaluate_policy(log, Shows())
    with pytest.raises(UpsellDataError, match="`estimators` must be one of"):
        evaluate_policy(simulate_log(10), Shows(), estimators=("ipw",))
    with pytest.raises(UpsellDataError, match="`reward` must be one of"):
        evaluate_policy(simulate_log(10), Shows(), reward="margin")
    with pytest.raises(UpsellDataError, match="`offer_log` must be an OfferLog"):
        evaluate_policy([1, 2], Shows())


def test_recommend_only_candidate_is_a_deterministic_policy():
    log = simulate_log(400, seed=5)
    a = evaluate_policy(log, Shows(), n_bootstrap=0)
    b = evaluate_policy(log, RecommendsOnly(), n_bootstrap=0)
    assert [e.value for e in a.estimates] == [e.value for e in b.estimates]
    assert "no policy_distribution" in b.note and b.candidate == ""


def test_revenue_reward_and_since_and_sampling():
    log = simulate_log(600, seed=6)
    acc = evaluate_policy(log, Shows(), n_bootstrap=0)
    rev = evaluate_policy(log, Shows(), reward="revenue", n_bootstrap=0)
    assert rev.value("ips") == pytest.approx(10 * acc.value("ips"))
    assert rev.value("logged") == pytest.approx(10 * acc.value("logged"))
    later = evaluate_policy(log, Shows(), since="2024-05-01T05:00:00", n_bootstrap=0)
    assert later.n_requests == 600 - 300
    epoch = (np.datetime64("2024-05-01T05:00:00", "s") - np.datetime64(0, "s")).astype(int)
    assert evaluate_policy(log, Shows(), since=int(epoch), n_bootstrap=0).n_requests == 300
    with pytest.raises(UpsellDataError, match="`since` must be"):
        evaluate_policy(log, Shows(), since="soon")
    some = evaluate_policy(log, Shows(), max_requests=100, n_bootstrap=0)
    assert some.n_requests == 100 and some["ips"].n == 200
    assert "a random sample of 100 of 600 requests" in some.note


def test_dr_uses_the_smoothed_segment_item_model():
    """Brute-force twin of the DR reward model on a small log."""
    log = simulate_log(60, seed=7)
    m = 10.0
    ev = evaluate_policy(log, Shows(), estimators=("dr",), smoothing=m, n_bootstrap=0,
                         dr_folds=1)
    r = log["accepted"].astype(float)
    g = r.mean()

    def q(seg, item):
        it = log["item"] == item
        q_item = (r[it].sum() + m * g) / (it.sum() + m)
        both = it & (log["segment"] == seg)
        return (r[both].sum() + m * q_item) / (both.sum() + m)

    cand = ("b", "d")
    q_log = np.array([q(s, i) for s, i in zip(log["segment"], log["item"], strict=True)])
    q_tgt = np.array([q(s, cand[p]) for s, p in zip(log["segment"], log["position"],
                                                    strict=True)])
    target = np.array([float(cand[p] == i) for i, p in zip(log["item"], log["position"],
                                                           strict=True)])
    want = off_policy_value(r, log["propensity"], target, "dr", (q_log, q_tgt), n_bootstrap=0)
    assert ev.value("dr") == pytest.approx(want.value, rel=1e-12)


def test_dr_model_is_cross_fitted_over_requests():
    """Each request's rows are answered by the model fitted on the other folds' requests."""
    log = simulate_log(80, seed=11)
    m, folds = 5.0, 4
    ev = evaluate_policy(log, Shows(), estimators=("dr",), smoothing=m, n_bootstrap=0,
                         dr_folds=folds, random_state=3)
    r = log["accepted"].astype(float)
    _, req = np.unique(log["request_id"], return_inverse=True)
    fold = np.random.default_rng(3).permutation(req.max() + 1) % folds

    def q(seg, item, f):
        tr = fold[req] != f
        g = r[tr].mean()
        it = (log["item"] == item) & tr
        q_item = (r[it].sum() + m * g) / (it.sum() + m)
        both = it & (log["segment"] == seg)
        return (r[both].sum() + m * q_item) / (both.sum() + m)

    cand = ("b", "d")
    f_row = fold[req]
    q_log = np.array([q(s, i, f) for s, i, f in zip(log["segment"], log["item"], f_row,
                                                     strict=True)])
    q_tgt = np.array([q(s, cand[p], f) for s, p, f in zip(log["segment"], log["position"],
                                                          f_row, strict=True)])
    target = np.array([float(cand[p] == i) for i, p in zip(log["item"], log["position"],
                                                           strict=True)])
    want = off_policy_value(r, log["propensity"], target, "dr", (q_log, q_tgt), n_bootstrap=0)
    assert ev.value("dr") == pytest.approx(want.value, rel=1e-12)
    one = evaluate_policy(log, Shows(), estimators=("dr",), smoothing=m, n_bootstrap=0,
                          dr_folds=1)
    assert one.value("dr") != ev.value("dr")
    with pytest.raises(UpsellDataError, match="dr_folds"):
        evaluate_policy(log, Shows(), estimators=("dr",), dr_folds=0)


def test_result_table_text_and_records():
    ev = evaluate_policy(simulate_log(200, seed=8, old_rows=3), Shows(), n_bootstrap=100)
    frame = ev.to_pandas()
    assert frame["estimator"].tolist() == ["logged", "ips", "snips", "dr"]
    assert frame["policy"].tolist() == ["old@1", "new@2", "new@2", "new@2"]
    text = repr(ev)
    assert text.splitlines()[0].startswith("PolicyEvaluation: acceptance rate per offer shown")
    assert "note: 3 of 403 offers left out" in text
    recs = ev.to_records()
    assert recs[0]["estimator"] == "logged" and isinstance(recs[1]["value"], float)
    assert "<b>PolicyEvaluation</b>" in ev._repr_html_()
    with pytest.raises(KeyError):
        ev["dm"]


def test_candidate_that_never_matches_says_so():
    ev = evaluate_policy(simulate_log(100, seed=9), Shows(items=("zz", "yy")), n_bootstrap=50)
    assert ev.value("ips") == 0.0 and math.isnan(ev.value("snips"))
    assert "rarely shows what the log shows" in ev.note


def test_a_real_recommender_with_exploration_replays_its_own_log_exactly():
    """Offers logged by a Recommender with Explore carry the propensities its
    policy_distribution gives, so replaying the log through the same recommender weighs
    every row 1 and IPS equals the logged value; the greedy twin scores differently."""
    from upsell import Catalog
    from upsell.recommend import Candidate, Explore, OfferLog, Recommender

    cat = Catalog.from_records([{"item": f"i{j}", "price": 5.0 + j} for j in range(8)])

    class Ranked:
        name = "ranked"

        def candidates(self, request, k):
            return [Candidate(f"i{j}", 8.0 - j) for j in range(8)]

    explore = Recommender(catalog=cat, cross_sell=[Ranked()],
                          rules=[Explore(rate=0.5, random_state=0)]).fit()
    greedy = Recommender(catalog=cat, cross_sell=[Ranked()]).fit()
    log = OfferLog.in_memory()
    rng = np.random.default_rng(0)
    for r in range(150):
        offers = explore.recommend(f"c{r}", k=3, at=1.7e9 + r)
        ids = log.presented(offers, customer=f"c{r}", time=1.7e9 + r)
        for oid in ids:
            if rng.random() < 0.3:
                log.accepted(oid, time=1.7e9 + r + 1)
    ev = evaluate_policy(log, explore, n_bootstrap=0)
    assert ev.n_excluded == 0 and ev.n_requests == 150
    assert ev.value("ips") == pytest.approx(ev.value("logged"), rel=1e-12)
    assert ev["ips"].mean_weight == pytest.approx(1.0)
    other = evaluate_policy(log, greedy, n_bootstrap=0)
    assert other["ips"].max_weight > 1.0  # greedy slots were logged with propensity < 1
