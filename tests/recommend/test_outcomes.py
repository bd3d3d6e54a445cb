"""LearnFromOutcomes and Recommender.update: posteriors from the log, EV ranking, files, threads."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.recommend import (
    Candidate,
    Explore,
    LearnFromOutcomes,
    OfferLog,
    PoolItem,
    Request,
    rule_from_config,
)

from .conftest import AT, all_rules, build


def _outcomes(rng: np.random.Generator, items: list[str], n: int,
              segments: tuple[str, ...] = ("a", "b")) -> dict[str, np.ndarray]:
    return {"item": rng.choice(np.array(items), n), "accepted": rng.random(n) < 0.3,
            "segment": rng.choice(np.array(segments), n),
            "kind": rng.choice(np.array(["cross_sell", "upsell"]), n)}


def _request(segment: str | None) -> Request:
    return Request(customer=None, known=False, basket=(), owned=(), owned_time=(),
                   segment=segment, moment=None, channel="web",
                   at=np.datetime64("2024-01-01T00:00:00"))


# --------------------------------------------------------------------------- counts
@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), st.booleans(),
                               st.sampled_from(["", "a", "b"]),
                               st.sampled_from(["cross_sell", "upsell"])), max_size=40),
       by_segment=st.booleans())
def test_counts_equal_a_naive_loop(rows: list[tuple[str, bool, str, str]],
                                   by_segment: bool) -> None:
    learn = LearnFromOutcomes(by_segment=by_segment)
    out = {"item": np.array([r[0] for r in rows], dtype=str),
           "accepted": np.array([r[1] for r in rows], dtype=bool),
           "segment": np.array([r[2] for r in rows], dtype=str),
           "kind": np.array([r[3] for r in rows], dtype=str)}
    learn.update(out)
    st_ = learn._state
    assert learn.n_outcomes_ == len(rows)
    for item in ("x", "y", "z"):
        for seg in ("", "a", "b", None):
            sel = [r for r in rows if r[0] == item and (seg is None or not by_segment
                                                        or r[2] == seg)]
            if seg is not None and by_segment and seg not in st_.seg_row:
                continue
            row = st_.all_row if (seg is None or not by_segment) else st_.seg_row[seg]
            code = np.searchsorted(st_.items, item)
            if code < st_.items.size and st_.items[code] == item:
                assert st_.shown[row, code] == len(sel)
                assert st_.acc[row, code] == sum(r[1] for r in sel)
            else:
                assert not sel
    # the same outcomes again: rebuilt, not counted twice
    before = learn.state_version
    learn.update(out)
    assert learn.state_version == before and learn.n_outcomes_ == len(rows)


def test_posterior_formula_and_hierarchy() -> None:
    cat = us.Catalog.from_records([{"item": "x", "price": 10.0}, {"item": "y", "price": 10.0},
                                   {"item": "new", "price": 10.0}])
    learn = LearnFromOutcomes(value="probability", prior_strength=10).bind(cat)
    learn.update({"item": np.array(["x"] * 10 + ["y"] * 10),
                  "accepted": np.array([True] * 8 + [False] * 2 + [False] * 10),
                  "segment": np.array(["a"] * 20), "kind": np.array(["cross_sell"] * 20)})
    items = []
    ids = cat.items.ids.tolist()
    for name in ["x", "y", "new"]:
        p = PoolItem(ids.index(name), name, "cross_sell", 1.0)
        p.probability = 0.1
        items.append(p)
    a, b, v = learn.posterior(_request("a"), items)
    s, p0 = 10.0, 0.1
    rk = 8 / 20
    w = s * 20 / (s + 20)
    pi = (s * p0 + w * rk) / (s + w)
    assert a[0] == pytest.approx(s * pi + 8) and b[0] == pytest.approx(s * (1 - pi) + 2)
    assert a[1] == pytest.approx(s * pi) and b[1] == pytest.approx(s * (1 - pi) + 10)
    # an item never shown starts from the prior mixed with its kind's rate
    assert a[2] / (a[2] + b[2]) == pytest.approx(pi)
    assert (v == 1).all()
    # a segment without data uses the pooled row (here: the same rows)
    a2, b2, _ = learn.posterior(_request("zzz"), items)
    assert a2 == pytest.approx(a) and b2 == pytest.approx(b)


def test_update_validation() -> None:
    learn = LearnFromOutcomes()
    with pytest.raises(UpsellDataError, match="accepted"):
        learn.update({"item": np.array(["x"])})
    with pytest.raises(UpsellDataError, match="one value per row"):
        learn.update({"item": np.array(["x", "y"]), "accepted": np.array([True])})
    with pytest.raises(UpsellDataError, match="booleans"):
        learn.update({"item": np.array(["x"]), "accepted": np.array(["yes"])})
    with pytest.raises(UpsellDataError, match="mapping"):
        learn.update([1, 2])  # type: ignore[arg-type]
    with pytest.raises(UpsellDataError, match="value"):
        LearnFromOutcomes(value="profit")
    with pytest.raises(UpsellDataError, match="prior_strength"):
        LearnFromOutcomes(prior_strength=0)
    cfg = LearnFromOutcomes(value="margin", thompson=True, random_state=1).to_config()
    assert rule_from_config({"type": "LearnFromOutcomes", "config": cfg}).to_config() == cfg


# --------------------------------------------------------------------------- in a recommender
def _two_items() -> tuple[us.Catalog, Any]:
    cat = us.Catalog.from_records([{"item": "good", "price": 10.0, "cost": 5.0},
                                   {"item": "bad", "price": 10.0, "cost": 5.0},
                                   {"item": "other", "price": 10.0, "cost": 5.0}])

    class Src:
        name = "src"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            return [Candidate("bad", 2.0, detail={"probability": 0.2}),
                    Candidate("other", 1.9, detail={"probability": 0.2}),
                    Candidate("good", 1.0, detail={"probability": 0.2})]

    return cat, Src()


def test_learning_moves_the_accepted_item_up() -> None:
    cat, src = _two_items()
    rec = us.Recommender(catalog=cat, cross_sell=[src], rules=[LearnFromOutcomes()])
    # same price, same prior: the same expected value for all three before any outcome
    assert rec.recommend(k=3).scores.tolist() == [1.0, 1.0, 1.0]
    gentle = us.Recommender(catalog=cat, cross_sell=[src], rules=[LearnFromOutcomes(weight=1)])
    assert gentle.recommend(k=3).items == ("bad", "other", "good")  # relevance still counts
    v0 = rec.policy_
    n = 400
    rec.update({"item": np.array(["good"] * n + ["bad"] * n),
                "accepted": np.r_[np.ones(n, bool), np.zeros(n, bool)]})
    assert rec.recommend(k=3).items[0] == "good"
    assert rec.recommend(k=3).items[-1] == "bad"
    assert rec.policy_ != v0 and rec.recommend(k=1).policy == rec.policy_
    comp = rec.recommend(k=1)[0].components
    assert "rule:outcomes" in comp


def test_thompson_draws_are_reproducible_with_random_state() -> None:
    cat, src = _two_items()
    rec = us.Recommender(catalog=cat, cross_sell=[src],
                         rules=[LearnFromOutcomes(thompson=True, random_state=0)])
    rec.update({"item": np.array(["good", "bad"] * 5), "accepted": np.array([True, False] * 5)})
    a = rec.recommend(k=3, at=AT)
    b = rec.recommend(k=3, at=AT)
    assert list(a) == list(b)


class _FakeLog:
    """The contract's ``outcomes()`` reader over fixed arrays."""

    def __init__(self, out: dict[str, np.ndarray]) -> None:
        self.out = out
        self.since: list[Any] = []

    def outcomes(self, since: Any = None) -> dict[str, np.ndarray]:
        self.since.append(since)
        return self.out


def test_update_reads_the_log_and_refuses_without_one(parts: Any) -> None:
    learn = LearnFromOutcomes()
    rec = build(parts, rules=[*all_rules(parts.cat), learn])
    log = _FakeLog(_outcomes(np.random.default_rng(0), parts.cat.items.ids.tolist(), 500))
    assert rec.update(log, since="2024-01-01") is rec
    assert log.since == ["2024-01-01"] and learn.n_outcomes_ == 500
    bare = us.Recommender(catalog=parts.cat, rules=[LearnFromOutcomes()])
    with pytest.raises(UpsellDataError, match="offer log"):
        bare.update()


def test_update_from_a_real_offer_log(parts: Any) -> None:
    log = OfferLog.in_memory()
    if not callable(getattr(log, "outcomes", None)):
        pytest.skip("OfferLog.outcomes() not available yet")
    learn = LearnFromOutcomes()
    rec = build(parts, log=log, rules=[*all_rules(parts.cat), learn,
                                       Explore(rate=0.2, random_state=0)])
    custs = parts.tx.customers.ids[:30].tolist()
    for c in custs:
        offers = rec.recommend(c, k=5, at=AT)
        ids = log.presented(offers, customer=c, time=AT)
        if ids:
            log.record("accepted", item=offers[0].item, customer=c, offer_id=ids[0], time=AT)
    out = log.outcomes()
    rec.update()
    assert learn.n_outcomes_ == len(out["item"]) > 0
    assert int(np.asarray(out["accepted"]).sum()) == int(learn._state.acc[-1].sum())


def test_saved_and_loaded_with_its_posteriors(parts: Any, tmp_path: Any) -> None:
    learn = LearnFromOutcomes(value="margin")
    rec = build(parts, rules=[*all_rules(parts.cat), learn, Explore(rate=0.3, random_state=1)],
                policy="loop")
    rec.update(_outcomes(np.random.default_rng(1), parts.cat.items.ids.tolist(), 3000))
    path = os.path.join(tmp_path, "rec")
    rec.save(path)
    again = us.Recommender.load(path, offer_log=OfferLog.in_memory())
    assert again.policy_ == rec.policy_
    for c in parts.tx.customers.ids[:25].tolist():
        assert list(again.recommend(c, k=5, at=AT)) == list(rec.recommend(c, k=5, at=AT))
    # a tampered state is refused, naming the problem
    from upsell.persist import read_model, write_model

    state = sorted(os.listdir(os.path.join(path, "rules")))[0]
    full = os.path.join(path, "rules", state)
    meta, arrays = read_model(full, kind="RuleState")
    arrays = dict(arrays)
    arrays["accepted"] = arrays["shown"] + 1
    write_model(full, kind="RuleState", params=meta.get("params", {}), arrays=arrays)
    with pytest.raises(ModelFileError):
        us.Recommender.load(path, offer_log=OfferLog.in_memory(), verify=False)


def test_update_while_serving_in_threads(parts: Any) -> None:
    learn = LearnFromOutcomes(value="revenue")
    rec = build(parts, rules=[*all_rules(parts.cat), learn, Explore(rate=0.1)])
    custs = parts.tx.customers.ids[:40].tolist()
    items = parts.cat.items.ids.tolist()
    errors: list[BaseException] = []
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                for c in custs:
                    offers = rec.recommend(c, k=5, at=AT)
                    assert len({o.item for o in offers}) == len(offers) <= 5
                    assert (np.diff(offers.scores) <= 1e-12).all()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=serve) for _ in range(8)]
    for t in threads:
        t.start()
    rng = np.random.default_rng(2)
    for _ in range(15):
        rec.update(_outcomes(rng, items, 2000))
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert learn.n_outcomes_ == 2000


def test_rule_state_files_are_untrusted(parts: Any, tmp_path: Any) -> None:
    import json
    import shutil

    rec = build(parts, rules=[*all_rules(parts.cat), LearnFromOutcomes()])
    rec.update(_outcomes(np.random.default_rng(3), parts.cat.items.ids.tolist(), 500))
    path = os.path.join(tmp_path, "rec")
    rec.save(path)
    log = OfferLog.in_memory()
    assert us.Recommender.load(path, offer_log=log).rules_[-1].n_outcomes_ == 500
    # a file the manifest does not list
    extra = os.path.join(path, "rules", "99_extra.npz")
    shutil.copy(os.path.join(path, "rules", sorted(os.listdir(os.path.join(path,
                                                                         "rules")))[0]), extra)
    with pytest.raises(ModelFileError, match="not list"):
        us.Recommender.load(path, offer_log=log)
    os.remove(extra)
    # a state entry naming a file outside rules/ (or not listed)
    man = os.path.join(path, "recommender.json")
    with open(man, encoding="utf-8") as fh:
        doc = json.load(fh)
    for bad in ("catalog.npz", "../elsewhere.npz", 3):
        doc["rules"][-1]["state"] = bad
        with open(man, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc))
        with pytest.raises(ModelFileError):
            us.Recommender.load(path, offer_log=log)


def test_update_asks_the_log_only_for_the_columns_the_learners_declare(parts: Any) -> None:
    from upsell.recommend.offerlog import OUTCOME_COLUMNS, MemoryOfferLog

    class Spy(MemoryOfferLog):
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[Any] = []

        def outcomes(self, since: Any = None, *, columns: Any = None) -> dict[str, np.ndarray]:
            self.asked.append(columns)
            return super().outcomes(since, columns=columns)

    log = Spy()
    rng = np.random.default_rng(3)
    for item in rng.choice(np.array(parts.cat.items.ids.tolist()), 60).tolist():
        oid = log.record("presented", item=item, customer="c", time=AT, segment="s")
        if rng.random() < 0.4:
            log.accepted(oid, time=AT)
    learn, whole = LearnFromOutcomes(), LearnFromOutcomes()
    build(parts, log=log, rules=[*all_rules(parts.cat), learn]).update()
    assert log.asked == [LearnFromOutcomes.outcome_columns]
    whole.update(log.outcomes())
    assert learn.state_version == whole.state_version and learn.n_outcomes_ == 60

    class Undeclared:  # a learner that does not say what it reads gets every column
        name = "undeclared"

        def __init__(self) -> None:
            self.seen: tuple[str, ...] = ()

        def apply(self, pool: Any, request: Any) -> Any:
            return pool

        def update(self, outcomes: Any) -> None:
            self.seen = tuple(outcomes)

    other = Undeclared()
    log.asked.clear()
    build(parts, log=log, rules=[*all_rules(parts.cat), LearnFromOutcomes(), other]).update()
    assert log.asked == [None] and other.seen == OUTCOME_COLUMNS
