"""Candidate sources: each adapter's proposals, its save/load, and the protocol's edges."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import upsell as us
from upsell.exceptions import UpsellDataError
from upsell.recommend import (
    BundleSource,
    Candidate,
    CandidateSource,
    CFSource,
    PopularitySource,
    Request,
    SequenceSource,
    UpsellSource,
    as_source,
    register_source,
    source_types,
)

from .conftest import AT


def plain_items(cat: Any) -> list[Any]:
    """Items no rule of the pipeline's own drops (no add-on needing a family, no tier)."""
    ok = (cat.attaches_to == "") & np.isnan(cat.tier)
    return cat.items.ids[ok].tolist()


def req(customer: Any = None, basket: tuple[Any, ...] = (), **kw: Any) -> Request:
    return Request(customer=customer, known=customer is not None, basket=basket, owned=(),
                   owned_time=(), segment=kw.pop("segment", None), moment=kw.pop("moment", None),
                   channel="web", at=np.datetime64(AT, "s"), **kw)


def check(cands: list[Candidate], k: int, items: us.IdIndex) -> None:
    assert len(cands) <= k
    assert all(isinstance(c, Candidate) and np.isfinite(c.score) for c in cands)
    assert all(c.item in items for c in cands)
    assert all(c.kind in ("cross_sell", "upsell") for c in cands)


@pytest.fixture(scope="module")
def sources(parts: Any) -> dict[str, Any]:
    return {"bundles": BundleSource(parts.bundles, use_owned=2), "cf": CFSource(parts.knn),
            "seq": SequenceSource(parts.seq), "upsell": UpsellSource(parts.ranker),
            "pop": PopularitySource.fit(parts.tx, parts.cat, segments=None, name="popular")}


@pytest.mark.parametrize("name", ["bundles", "cf", "seq", "upsell", "pop"])
@pytest.mark.parametrize("k", [1, 5, 30])
def test_every_adapter_proposes_at_most_k_known_items(parts: Any, sources: dict[str, Any],
                                                      name: str, k: int) -> None:
    src = sources[name]
    assert isinstance(src, CandidateSource)
    cust = parts.tx.customers.ids[5].item()
    basket = tuple(parts.cat.items.ids[[3, 8]].tolist())
    for r in (req(cust), req(None, basket), req(cust, basket), req("stranger", basket)):
        check(list(src.candidates(r, k)), k, parts.cat.items)


def test_bundle_source_proposes_complements_with_their_antecedent(parts: Any,
                                                                  sources: dict[str, Any]) -> None:
    got = sources["bundles"].candidates(req(None, (parts.cat.items.ids[0].item(),)), 10)
    for c in got:
        assert c.detail["because"] and c.kind == "cross_sell"
    assert sources["bundles"].candidates(req(None), 5) == []


def test_cf_source_leaves_owned_items_out_unless_the_request_allows_them(
        parts: Any, sources: dict[str, Any]) -> None:
    hist = us.recommend.CustomerHistory.from_transactions(parts.tx, parts.cat)
    cust = max(parts.tx.customers.ids.tolist(), key=lambda c: len(hist.owned(c)[0]))
    owned = set(hist.owned(cust)[0])
    plain = {c.item for c in sources["cf"].candidates(req(cust), 30)}
    again = {c.item for c in sources["cf"].candidates(req(cust, include_owned=True), 30)}
    assert not plain & owned and again & owned
    assert sources["cf"].candidates(req(None), 5) == []  # nothing to go on


def test_upsell_source_names_the_base(parts: Any, sources: dict[str, Any]) -> None:
    for i in range(len(parts.cat)):
        got = sources["upsell"].candidates(req(None, (parts.cat.items.ids[i].item(),)), 5)
        if got:
            assert all(c.kind == "upsell" and "base" in c.detail for c in got)
            return
    pytest.skip("no upsell in the synthetic shop")


def test_popularity_per_segment_and_share(parts: Any) -> None:
    pop = PopularitySource.fit(parts.tx, parts.cat, segments=parts.personas, name="popular")
    _, buyers, size = pop.ranked(None)
    assert np.all(np.diff(buyers) <= 0) and size >= buyers[0]
    for seg in (None, *pop.labels):
        got = pop.candidates(req(None, segment=seg), 7)
        assert len(got) == 7
        assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)
        assert all(0 < c.detail["share"] <= 1 for c in got)


@pytest.mark.parametrize("name", ["bundles", "cf", "seq", "upsell", "pop"])
def test_adapters_save_and_load_to_the_same_candidates(parts: Any, sources: dict[str, Any],
                                                       tmp_path: Path, name: str) -> None:
    src = sources[name]
    src.save(tmp_path / "s.npz")
    back = type(src).load(tmp_path / "s.npz", **src.get_config())
    assert source_types()[type(src).__qualname__] is type(src)
    cust = parts.tx.customers.ids[7].item()
    basket = tuple(parts.cat.items.ids[[1, 4]].tolist())
    for r in (req(cust), req(None, basket)):
        assert back.candidates(r, 10) == src.candidates(r, 10)


def test_as_source_wraps_models_and_refuses_other_things(parts: Any) -> None:
    assert isinstance(as_source(parts.bundles), BundleSource)
    assert isinstance(as_source(parts.knn), CFSource)
    assert isinstance(as_source(parts.seq), SequenceSource)
    assert isinstance(as_source(parts.ranker, upsell=True), UpsellSource)
    with pytest.raises(UpsellDataError, match="candidate sources"):
        as_source(object())
    with pytest.raises(UpsellDataError, match="name"):
        CFSource(parts.knn, name=3)


def test_register_source_needs_save_and_load() -> None:
    class NoSave:
        name = "x"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            return []

    with pytest.raises(UpsellDataError, match="save"):
        register_source(NoSave)


def test_user_sources_may_call_the_count_n_or_k(parts: Any) -> None:
    """The recommender passes the count positionally: both spellings work."""
    seen: list[int] = []

    class OldStyle:
        name = "old"

        def candidates(self, request: Any, n: int) -> list[Candidate]:
            seen.append(n)
            return [Candidate(plain_items(parts.cat)[0], 1.0)][:n]

    class NewStyle:
        name = "new"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            seen.append(k)
            return [Candidate(plain_items(parts.cat)[1], 1.0)][:k]

    rec = us.Recommender(catalog=parts.cat, cross_sell=[OldStyle(), NewStyle()], rules=[],
                         candidates_per_source=7)
    offers = rec.recommend(k=2, at=AT)
    assert seen == [7, 7] and len(offers) == 2


def test_sources_returning_other_things_are_named(parts: Any) -> None:
    class Bad:
        name = "bad"

        def candidates(self, request: Any, k: int) -> list[Any]:
            return [("a", 1.0)]

    rec = us.Recommender(catalog=parts.cat, cross_sell=[Bad()])
    with pytest.raises(UpsellDataError, match="source 'bad' returned"):
        rec.recommend(k=2, at=AT)


def test_non_finite_unknown_and_floored_candidates_are_left_out(parts: Any) -> None:
    ids = plain_items(parts.cat)[:4]

    class Mixed:
        name = "mixed"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            return [Candidate(ids[0], float("nan")), Candidate(ids[1], float("inf")),
                    Candidate("no such item", 5.0), Candidate(ids[2], -1.0),
                    Candidate(ids[3], 2.0)]

    rec = us.Recommender(catalog=parts.cat, cross_sell=[Mixed()], rules=[], min_score=0.0)
    offers = rec.recommend(k=5, at=AT, fill=False)
    assert [o.item for o in offers] == [ids[3]]
    assert offers.removed == {"not_in_catalog": 1, "min_score": 1}


def test_candidates_per_source_caps_what_a_source_may_propose(parts: Any) -> None:
    ids = plain_items(parts.cat)

    class Greedy:
        name = "greedy"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            return [Candidate(i, float(len(ids) - j)) for j, i in enumerate(ids)]  # ignores k

    rec = us.Recommender(catalog=parts.cat, cross_sell=[Greedy()], rules=[],
                         candidates_per_source=3)
    offers = rec.recommend(k=10, at=AT, fill=False)
    assert [o.item for o in offers] == ids[:3]
    assert all(a.score >= b.score for a, b in itertools.pairwise(offers))
