"""Recommender.update publishes the learned states and the policy version in one step.

Every request is labelled with the policy version of the very state that ranked it: the
invariant checked while threads serve and another thread updates.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest

import upsell as us
from upsell.recommend import Candidate, LearnFromOutcomes


class _Two:
    name = "two"

    def candidates(self, request: Any, n: int) -> list[Candidate]:
        # the same relevance and prior: only the learned state orders them
        return [Candidate("a", 1.0, detail={"probability": 0.1}),
                Candidate("b", 1.0, detail={"probability": 0.1})]


def _favouring(item: str, n: int = 200) -> dict[str, np.ndarray]:
    other = "b" if item == "a" else "a"
    return {"item": np.array([item] * n + [other] * n),
            "accepted": np.r_[np.ones(n, bool), np.zeros(n, bool)]}


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Threads switch every 5 us, so a request lands inside an update's steps often."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(5e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _rec(*extra: Any) -> us.Recommender:
    cat = us.Catalog.from_records([{"item": "a", "price": 1.0}, {"item": "b", "price": 1.0}])
    return us.Recommender(catalog=cat, cross_sell=[_Two()],
                          rules=[LearnFromOutcomes(value="probability"), *extra],
                          policy="shop")


def _serve_while_updating(rec: us.Recommender, updates: list[Mapping[str, Any]],
                          rounds: int) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            while not stop.is_set():
                offers = rec.recommend(k=1, at="2025-01-10")
                seen.append((offers.policy, offers.items[0]))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=serve) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        r = 0
        # at least `rounds` updates, more on a loaded machine until requests saw every state
        while r < rounds or (len({p for p, _ in seen[-2000:]}) < len(updates) and r < 50 * rounds):
            rec.update(updates[r % len(updates)])
            r += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    return seen


def test_every_logged_version_matches_the_state_that_ranked(fast_switching: None) -> None:
    rec = _rec()
    # the version of each state, and the item that state ranks first
    expected = {}
    for item in ("a", "b"):
        rec.update(_favouring(item))
        assert rec.recommend(k=1).items == (item,)
        expected[rec.policy_] = item
    assert len(expected) == 2
    seen = _serve_while_updating(rec, [_favouring("a"), _favouring("b")], rounds=300)
    assert {p for p, _ in seen} == set(expected)  # both versions were served
    wrong = [(p, i) for p, i in seen if expected[p] != i]
    assert not wrong, f"{len(wrong)} of {len(seen)} requests carry another state's version"


class _Counter:
    """A rule with a plain ``update(outcomes)`` (no learn/publish): still gets its outcomes."""

    name = "counter"

    def __init__(self) -> None:
        self.calls = 0

    def apply(self, pool: Any, request: Any) -> None:
        pass

    def update(self, outcomes: Mapping[str, Any]) -> None:
        self.calls += 1


def test_plain_update_owners_are_updated_in_the_same_step() -> None:
    counter = _Counter()
    rec = _rec(counter)
    v0 = rec.policy_
    rec.update(_favouring("b"))
    assert counter.calls == 1
    assert rec.policy_ != v0
    assert rec.recommend(k=1).policy == rec.policy_
    assert rec.recommend(k=1).items == ("b",)


def test_a_learner_state_published_outside_update_reaches_requests() -> None:
    learn = LearnFromOutcomes(value="probability")
    cat = us.Catalog.from_records([{"item": "a", "price": 1.0}, {"item": "b", "price": 1.0}])
    rec = us.Recommender(catalog=cat, cross_sell=[_Two()], rules=[learn])
    rec.fit()
    rec.update(_favouring("b"))
    assert rec.recommend(k=1).items == ("b",)
    assert learn.n_outcomes_ == 400  # the rule holds what was published


class _FavouriteState:
    def __init__(self, item: str) -> None:
        self.item = item
        self.version = f"fav-{item}"


class _LearningBlend:
    """A blend that learns through learn/publish and reads its state from the request."""

    def __init__(self) -> None:
        self._state = _FavouriteState("a")
        self.catalog: Any = None

    def bind(self, catalog: Any, names: Any) -> _LearningBlend:
        self.catalog = catalog
        return self

    @property
    def learned_state(self) -> _FavouriteState:
        return self._state

    def learn(self, outcomes: Mapping[str, Any]) -> _FavouriteState:
        items = np.asarray(outcomes["item"])[np.asarray(outcomes["accepted"], bool)]
        values, counts = np.unique(items, return_counts=True)
        return _FavouriteState(str(values[np.argmax(counts)]))

    def publish(self, state: _FavouriteState) -> None:
        self._state = state

    def update(self, outcomes: Mapping[str, Any]) -> None:
        self.publish(self.learn(outcomes))

    def blend(self, request: Any, items: np.ndarray, scores: np.ndarray,
              names: Any) -> tuple[np.ndarray, None]:
        snap = request.snapshot
        st = self._state if snap is None else snap.state_of(self, self._state)
        ids = self.catalog.items.ids[items].astype(str)
        return np.where(ids == st.item, 2.0, 1.0), None


def test_a_blend_that_learns_is_published_with_the_version(fast_switching: None) -> None:
    cat = us.Catalog.from_records([{"item": "a", "price": 1.0}, {"item": "b", "price": 1.0}])
    rec = us.Recommender(catalog=cat, cross_sell=[_Two()], blend=_LearningBlend(),
                         rules=[], policy="shop")
    expected = {}
    for item in ("a", "b"):
        rec.update(_favouring(item))
        assert rec.recommend(k=1).items == (item,)
        expected[rec.policy_] = item
    assert len(expected) == 2  # the version names the blend's state
    seen = _serve_while_updating(rec, [_favouring("a"), _favouring("b")], rounds=200)
    assert {p for p, _ in seen} == set(expected)
    assert all(expected[p] == i for p, i in seen)
