"""A "buy again" offer is kind "replenish" for every step that reads the kind, not only the
rendered offer: rules, the learner's kind posteriors, the offer log."""

from __future__ import annotations

from typing import Any

import numpy as np

import upsell as us
from upsell.recommend import Candidate, LearnFromOutcomes, NotOwned, OfferLog, OfferPool, Request


class _Src:
    name = "src"

    def candidates(self, request: Any, n: int) -> list[Candidate]:
        # same score and probability: only the learned kind rates can tell them apart
        return [Candidate(x, 1.0, detail={"probability": 0.1}) for x in ("new", "old")]


class _SeeKinds:
    """A rule that records the kind of each candidate it sees."""

    name = "see_kinds"

    def __init__(self) -> None:
        self.seen: dict[Any, str] = {}

    def apply(self, pool: OfferPool, request: Request) -> None:
        for c in pool:
            self.seen[c.item] = c.kind


def _rec(rules: list[Any], log: OfferLog | None = None) -> us.Recommender:
    cat = us.Catalog.from_records([{"item": x, "price": 10.0} for x in
                                   ("new", "old", "p", "q")])
    tx = us.Transactions.from_arrays(order=[1, 2], item=["old", "p"], customer=["c", "d"],
                                     time=["2024-01-01", "2024-01-02"])
    return us.Recommender(catalog=cat, cross_sell=[_Src()], history=tx, rules=rules,
                          offer_log=log)


def test_rules_see_the_replenish_kind() -> None:
    spy = _SeeKinds()
    rec = _rec([NotOwned(), spy])
    offers = rec.recommend("c", k=2, include_owned=True, moment=None)
    assert spy.seen == {"new": "cross_sell", "old": "replenish"}
    assert {o.item: o.kind for o in offers} == spy.seen
    spy.seen.clear()
    rec.recommend("c", k=2, moment=None)  # owned items not allowed: no buy-again offer
    assert spy.seen == {"new": "cross_sell"}


def test_the_learner_reads_the_replenish_posteriors() -> None:
    learn = LearnFromOutcomes(value="probability", by_segment=False)
    rec = _rec([NotOwned(), learn])
    # buy-again offers were accepted half the time, cross-sells almost never
    n = 200
    rec.update({"item": np.array(["p"] * n + ["q"] * n),
                "accepted": np.r_[np.arange(n) % 2 == 0, np.arange(n) == 0],
                "kind": np.array(["replenish"] * n + ["cross_sell"] * n)})
    offers = rec.recommend("c", k=2, include_owned=True, moment=None)
    assert offers.items == ("old", "new")
    assert offers[0].kind == "replenish"
    assert offers[0].score > offers[1].score


def test_the_log_records_the_kind_the_learner_reads() -> None:
    log = OfferLog.in_memory()
    rec = _rec([NotOwned(), LearnFromOutcomes()], log=log)
    offers = rec.recommend("c", k=2, include_owned=True, moment=None)
    log.presented(offers, customer="c")
    out = log.outcomes()
    assert dict(zip(out["item"].tolist(), out["kind"].tolist(), strict=True)) == \
        {"new": "cross_sell", "old": "replenish"}
