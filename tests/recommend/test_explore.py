"""Explore: bounded exploration after selection, exact propensities, rules kept."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.exceptions import UpsellDataError
from upsell.recommend import (
    Candidate,
    Diversity,
    Explore,
    ExplorePlan,
    InStock,
    NotOwned,
    PoolItem,
    Promote,
    rule_from_config,
)
from upsell.recommend.explore import _Swaps

from .conftest import AT, all_rules, build


def _tolerance(n: int, p: float) -> float:
    """Six binomial standard deviations (+1 for tiny p): a false alarm is ~1e-9."""
    return 6.0 * float(np.sqrt(n * p * (1.0 - p))) + 1.0


def _pool_items(n: int, families: list[str] | None = None) -> list[PoolItem]:
    out = []
    for i in range(n):
        p = PoolItem(i, f"i{i}", "cross_sell", float(n - i))
        out.append(p)
    return out


# --------------------------------------------------------------------------- the plan
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 5), m=st.integers(0, 8), rate=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**32 - 1))
def test_recorded_propensities_are_the_true_frequencies(n: int, m: int, rate: float,
                                                        seed: int) -> None:
    items = _pool_items(n + m)
    ex = Explore(rate=rate)
    plan, _ = ex.plan(items[:n], items, k=n)
    dist = plan.distribution()
    # per position the probabilities sum to 1
    for j in range(n):
        assert sum(p for (_, pos), p in dist.items() if pos == j) == pytest.approx(1.0)
    rng = np.random.default_rng(seed)
    draws = 3000
    counts: Counter[tuple[Any, int]] = Counter()
    for _ in range(draws):
        shown = list(plan.greedy)
        got = plan.draw(rng)
        if got is not None:
            j, a = got
            shown[j] = plan.choices[j][0][a]
        counts.update((x, j) for j, x in enumerate(shown))
    for key in set(counts) | set(dist):
        p = dist.get(key, 0.0)
        assert abs(counts[key] - draws * p) <= _tolerance(draws, p), (key, counts[key], p)
        assert plan.propensity(*key) == pytest.approx(p)


def test_rate_zero_keeps_the_greedy_list() -> None:
    items = _pool_items(8)
    plan, _ = Explore(rate=0.0).plan(items[:3], items, k=3)
    assert plan.distribution() == {("i0", 0): 1.0, ("i1", 1): 1.0, ("i2", 2): 1.0}
    assert plan.draw(np.random.default_rng(0)) is None


def test_propensity_function_for_off_policy_evaluation() -> None:
    ex = Explore(rate=0.1)
    # two slots, four candidates outside the list: each slot explored with 0.1
    assert ex.propensity(["a", "b"], ["x", "y", "z", "w"], "a", 0) == pytest.approx(0.9)
    assert ex.propensity(["a", "b"], ["x", "y", "z", "w"], "z", 1) == pytest.approx(0.025)
    assert ex.propensity(["a", "b"], ["x", "y"], "b", 0) == 0.0
    assert ex.propensity(["a", "b"], ["x", "a"], "x", 0) == pytest.approx(0.1)  # a is listed
    assert ex.propensity(["a"], [], "a", 0) == 1.0
    # the exploration set is cut to pool (default 3 * k)
    assert Explore(rate=0.5, pool=1).propensity(["a"], ["x", "y"], "y", 0) == 0.0


@settings(max_examples=40, deadline=None)
@given(fams=st.lists(st.sampled_from("abc"), min_size=2, max_size=9),
       n=st.integers(1, 4), max_per=st.integers(1, 2), promo=st.integers(0, 8))
def test_admissible_swaps_keep_limits_and_quotas(fams: list[str], n: int, max_per: int,
                                                 promo: int) -> None:
    items = _pool_items(len(fams))
    fam = dict(zip(range(len(fams)), fams, strict=True))
    items[promo % len(items)].promoted = True

    def key(c: PoolItem) -> Any:
        return fam[c.index]

    limits = [("diversity_family", key, max_per)]
    quotas = [("promote", lambda c: c.promoted, 1)]
    # a greedy list that meets the limits (the selection would give one)
    chosen: list[PoolItem] = []
    for c in items:
        if len(chosen) < n and sum(fam[x.index] == fam[c.index] for x in chosen) < max_per \
                and not (c.promoted and any(x.promoted for x in chosen)):
            chosen.append(c)
    rest = [c for c in items if c not in chosen]
    sw = _Swaps(chosen, rest, limits, quotas)
    adm = {j: sw.admissible(j) for j in range(len(chosen))}
    for j, ok in adm.items():
        for x in rest:
            swapped = [*chosen[:j], x, *chosen[j + 1:]]
            fits = max(Counter(fam[c.index] for c in swapped).values()) <= max_per and \
                sum(c.promoted for c in swapped) <= 1
            assert (x in ok) == fits


def test_explore_config_round_trip_and_validation() -> None:
    ex = Explore(rate=0.2, method="thompson", pool=7, random_state=3)
    again = rule_from_config({"type": "Explore", "config": ex.to_config()})
    assert again.to_config() == ex.to_config()
    with pytest.raises(UpsellDataError, match="rate"):
        Explore(rate=1.5)
    with pytest.raises(UpsellDataError, match="method"):
        Explore(method="ucb")
    with pytest.raises(UpsellDataError, match="random_state"):
        Explore(random_state=-1)
    with pytest.raises(UpsellDataError, match="pool"):
        Explore(pool=0)


def test_plan_examples_hold() -> None:
    plan = ExplorePlan(["a"], [0], {0: (["x"], np.array([1.0]))}, 0.25)
    assert plan.distribution() == {("a", 0): 0.75, ("x", 0): 0.25}


# --------------------------------------------------------------------------- in a recommender
def _small() -> tuple[us.Catalog, Any]:
    cat = us.Catalog.from_records(
        [{"item": f"i{i}", "family": f"f{i % 3}", "price": 10.0 + i, "cost": 5.0, "stock": 10}
         for i in range(12)])

    class Many:
        name = "many"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            return [Candidate(f"i{i}", 12.0 - i) for i in range(12)][:k]

    return cat, Many()


def test_greedy_list_unchanged_at_rate_zero(parts: Any) -> None:
    base = build(parts)
    ex = build(parts, rules=[*all_rules(parts.cat), Explore(rate=0.0, random_state=0)])
    for c in parts.tx.customers.ids[:40].tolist():
        a = base.recommend(c, k=5, at=AT)
        b = ex.recommend(c, k=5, at=AT)
        assert [(o.item, o.score) for o in a] == [(o.item, o.score) for o in b]
        assert all(o.propensity == 1.0 and not o.explored for o in b)


def test_rules_hold_under_exploration(parts: Any) -> None:
    rec = build(parts, rules=[*all_rules(parts.cat), Explore(rate=1.0)])
    fam = dict(zip(parts.cat.items.ids.tolist(), parts.cat.family.tolist(), strict=True))
    cats = dict(zip(parts.cat.items.ids.tolist(), parts.cat.category.tolist(), strict=True))
    stock = dict(zip(parts.cat.items.ids.tolist(), parts.cat.stock.tolist(), strict=True))
    rebuy = {i for i, k in zip(parts.cat.items.ids.tolist(), parts.cat.kind.tolist(),
                               strict=True) if k == "value_pack"}  # NotOwned's rebuy_kinds
    n_explored = 0
    for c in parts.tx.customers.ids[:60].tolist():
        owned = set(rec.history_.owned(c)[0]) - rebuy
        for _ in range(3):
            offers = rec.recommend(c, k=5, at=AT)
            items = [o.item for o in offers]
            assert len(set(items)) == len(items)
            fams = Counter(fam[i] for i in items if fam[i])
            assert not fams or max(fams.values()) <= 1
            assert max(Counter(cats[i] for i in items if cats[i]).values(), default=0) <= 3
            assert not owned & set(items)
            assert all(not stock[i] <= 0 for i in items)
            assert sum(o.explored for o in offers) <= 1
            s = offers.scores
            assert (np.diff(s) <= 1e-12).all()
            n_explored += sum(o.explored for o in offers)
            for o in offers:
                assert 0 < o.propensity <= 1
    assert n_explored > 0


def test_offer_propensities_match_frequencies_in_the_recommender() -> None:
    cat, src = _small()
    rec = us.Recommender(catalog=cat, cross_sell=[src],
                         rules=[NotOwned(), InStock(), Diversity(by="family", max_per=2),
                                Explore(rate=0.1, pool=4)])
    dist = rec.policy_distribution(k=3)
    n = 2000
    counts: Counter[tuple[Any, int]] = Counter()
    for _ in range(n):
        offers = rec.recommend(k=3)
        for j, o in enumerate(offers):
            counts[(o.item, j)] += 1
            assert o.propensity == pytest.approx(dist[(o.item, j)])
    for key, p in dist.items():
        assert abs(counts[key] - n * p) <= _tolerance(n, p), (key, counts[key], p)
    assert set(counts) <= set(dist)
    # the diversity limit (2 per family) holds in every list
    for key in dist:
        assert key[0] in cat.items.ids.tolist()


def test_promotion_quota_kept() -> None:
    cat, src = _small()
    rec = us.Recommender(catalog=cat, cross_sell=[src],
                         rules=[Promote(["i0", "i5", "i6"], slots=1, boost=0.0),
                                Explore(rate=1.0, pool=10)])
    promoted = {"i0", "i5", "i6"}
    for _ in range(300):
        offers = rec.recommend(k=3)
        assert sum(o.item in promoted and dict(o.reason.rules).get(
            "promote", "").startswith("promoted slot") for o in offers) <= 1


def test_random_state_makes_requests_reproducible_and_thread_safe(parts: Any) -> None:
    rec = build(parts, rules=[*all_rules(parts.cat), Explore(rate=0.5, random_state=7)])
    custs = parts.tx.customers.ids[:32].tolist()
    seq = [[(o.item, o.propensity, o.explored) for o in rec.recommend(c, k=5, at=AT)]
           for c in custs]
    again = [[(o.item, o.propensity, o.explored) for o in rec.recommend(c, k=5, at=AT)]
             for c in custs]
    assert seq == again
    out: dict[int, Any] = {}

    def work(t: int) -> None:
        for i in range(t, len(custs), 8):
            out[i] = [(o.item, o.propensity, o.explored)
                      for o in rec.recommend(custs[i], k=5, at=AT)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [out[i] for i in range(len(custs))] == seq
    # fresh entropy without a random_state: the same request explores differently
    free = build(parts, rules=[*all_rules(parts.cat), Explore(rate=1.0)])
    lists = {tuple(o.item for o in free.recommend(custs[0], k=5, at=AT)) for _ in range(30)}
    assert len(lists) > 1


def test_policy_distribution_deterministic_and_explored(parts: Any) -> None:
    base = build(parts)
    c = parts.tx.customers.ids[3].item()
    offers = base.recommend(c, k=5, at=AT)
    assert base.policy_distribution(c, k=5, at=AT) == {
        (o.item, j): 1.0 for j, o in enumerate(offers)}
    ex = build(parts, rules=[*all_rules(parts.cat), Explore(rate=0.05)])
    dist = ex.policy_distribution(c, k=5, at=AT)
    for j in range(len(offers)):
        assert sum(p for (_, pos), p in dist.items() if pos == j) == pytest.approx(1.0)
        assert dist[(offers[j].item, j)] >= 0.95 - 1e-12


def test_offer_list_carries_policy_and_segment(parts: Any) -> None:
    rec = build(parts, policy="shop")
    c = parts.tx.customers.ids[0].item()
    offers = rec.recommend(c, k=5, at=AT)
    assert rec.policy_.startswith("shop@") and len(rec.policy_) == len("shop@") + 8
    assert offers.policy == rec.policy_
    assert offers.segment == rec.segments_.segment_of(c)
    cold = rec.recommend("nobody", k=3, at=AT)
    assert cold.policy == rec.policy_
    assert build(parts).policy_.startswith("upsell@")
    assert build(parts).policy_ == build(parts).policy_
    assert build(parts, segment_boost=0.5).policy_ != build(parts).policy_
    with pytest.raises(UpsellDataError, match="policy"):
        build(parts, policy=3).fit()


def test_thompson_exploration_propensities_match_frequencies() -> None:
    from upsell.recommend import LearnFromOutcomes

    cat, src = _small()
    learn = LearnFromOutcomes(value="probability", weight=1.0)
    rec = us.Recommender(catalog=cat, cross_sell=[src],
                         rules=[NotOwned(), InStock(), learn,
                                Explore(rate=0.2, method="thompson", pool=5)])
    rng = np.random.default_rng(0)
    items = np.array([f"i{i}" for i in range(12)])
    shown = rng.choice(items, 3000)
    rates = {f"i{i}": 0.02 * i for i in range(12)}
    rec.update({"item": shown, "accepted": rng.random(3000) < np.vectorize(rates.get)(shown)})
    dist = rec.policy_distribution(k=3)
    slot0 = sorted(p for (_, j), p in dist.items() if j == 0 and p < 0.5)
    assert len(set(np.round(slot0, 9))) > 1  # not uniform: weighted by the posteriors
    n = 2000
    counts: Counter[tuple[Any, int]] = Counter()
    for _ in range(n):
        offers = rec.recommend(k=3)
        for j, o in enumerate(offers):
            counts[(o.item, j)] += 1
            assert o.propensity == pytest.approx(dist[(o.item, j)])
    for key, p in dist.items():
        assert abs(counts[key] - n * p) <= _tolerance(n, p), (key, counts[key], p)
