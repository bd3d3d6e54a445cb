"""Moments of the journey: which kinds fit, which sources are asked, timing; the policy."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.data import KINDS
from upsell.exceptions import UpsellDataError
from upsell.recommend import MOMENTS, Candidate, Moment, MomentPolicy

from .conftest import AT, small_catalog


def test_default_policy_has_the_handbook_moments() -> None:
    p = MomentPolicy()
    assert tuple(p) == MOMENTS == ("product_page", "cart", "checkout", "post_purchase")
    assert p["checkout"].allows("cross_sell", "warranty")
    assert not p["checkout"].allows("cross_sell", "accessory")
    assert p["product_page"].allows("upsell", "product")
    assert not p["product_page"].allows("cross_sell", "product")
    assert p["post_purchase"].timed and not p["cart"].timed
    assert "cart" in p and "nope" not in p and len(p) == 4


def test_unknown_moment_names_the_choices() -> None:
    with pytest.raises(UpsellDataError, match=r"'cart'.*got 'till'"):
        MomentPolicy()["till"]


@pytest.mark.parametrize("bad, match", [
    ({"cross_sell": ("gadget",)}, "kinds must be among"),
    ({"timed": "yes"}, "timed"),
])
def test_moment_checks_fields(bad: dict[str, Any], match: str) -> None:
    with pytest.raises(UpsellDataError, match=match):
        Moment(**bad)


def test_moment_from_dict_refuses_unknown_keys_and_non_mappings() -> None:
    with pytest.raises(UpsellDataError, match="unknown moment key 'colour'"):
        Moment.from_dict({"colour": "red"})
    with pytest.raises(UpsellDataError, match="mapping"):
        Moment.from_dict(["cart"])  # type: ignore[arg-type]
    with pytest.raises(UpsellDataError, match="non-empty mapping"):
        MomentPolicy.from_dict({})


def test_a_single_kind_string_is_one_kind() -> None:
    m = Moment(cross_sell="warranty", sources="bundles")  # type: ignore[arg-type]
    assert m.cross_sell == ("warranty",) and m.sources == ("bundles",)


def test_with_moment_copies_and_the_policy_round_trips() -> None:
    p = MomentPolicy()
    q = p.with_moment("returns_desk", cross_sell=("warranty",), label="at the returns desk")
    assert "returns_desk" in q and "returns_desk" not in p
    assert MomentPolicy.from_dict(q.to_dict()) == q != p
    assert hash(MomentPolicy.from_dict(q.to_dict())) == hash(q)


def test_moment_sources_limit_which_sources_are_asked() -> None:
    cat = small_catalog()
    asked: list[str] = []

    class Src:
        def __init__(self, name: str, item: str) -> None:
            self.name, self.item = name, item

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            asked.append(self.name)
            return [Candidate(self.item, 1.0)]

    policy = MomentPolicy().with_moment("desk", cross_sell=("accessory", "warranty"),
                                        sources=("b",))
    rec = us.Recommender(catalog=cat, cross_sell=[Src("a", "mug"), Src("b", "plan")],
                         moments=policy)
    offers = rec.recommend(k=3, moment="desk", at=AT)
    assert asked == ["b"] and [o.item for o in offers] == ["plan"]
    assert offers[0].reason.rules[0] == ("moment", "warranty fits desk")


def test_kinds_the_moment_does_not_allow_are_counted() -> None:
    cat = small_catalog()

    class All:
        name = "all"

        def candidates(self, request: Any, k: int) -> list[Candidate]:
            return [Candidate(x, 1.0) for x in ("tea", "mug", "plan")]

    rec = us.Recommender(catalog=cat, cross_sell=[All()], rules=[])
    offers = rec.recommend(k=3, moment="checkout", at=AT)
    assert [o.item for o in offers] == ["plan"] and offers.removed == {"moment": 2}


@settings(max_examples=60, deadline=None)
@given(cross=st.sets(st.sampled_from(KINDS)), up=st.sets(st.sampled_from(KINDS)),
       kind=st.sampled_from(KINDS), offer=st.sampled_from(["cross_sell", "upsell"]))
def test_allows_is_membership_and_survives_a_round_trip(cross: set[str], up: set[str],
                                                        kind: str, offer: str) -> None:
    m = Moment(cross_sell=tuple(sorted(cross)), upsell=tuple(sorted(up)))
    assert m.allows(offer, kind) == (kind in (cross if offer == "cross_sell" else up))
    assert Moment.from_dict(m.to_dict()) == m
