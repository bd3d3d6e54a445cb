"""Sales cues and reason texts: templates per channel and style, fallbacks, numbers as read."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.exceptions import UpsellDataError
from upsell.recommend import CHANNELS, CUE_FIELDS, CUE_STYLES, Candidate, CueTemplates
from upsell.recommend._offers import _names, _score
from upsell.recommend.explain import money

from .conftest import AT, small_catalog


def test_every_default_template_uses_known_fields_for_every_channel_and_style() -> None:
    t = CueTemplates()
    table = t.to_dict()
    assert set(table) == set(CHANNELS)
    for channel in CHANNELS:
        assert set(table[channel]) == set(CUE_STYLES)
    values = {f: f"<{f}>" for f in CUE_FIELDS}
    for channel in CHANNELS:
        for style in CUE_STYLES:
            out = t.render(channel, style, values)
            assert out and "{" not in out


def test_missing_fields_fall_back_to_the_default_template_then_the_name() -> None:
    t = CueTemplates()
    assert t.render("web", "bundle", {"name": "Mug"}) == "Recommended for you: Mug"
    assert t.render("email", "default", {"name": "Mug"}) == "Mug"  # no price: the name
    assert t.render("email", "nosuchstyle", {"name": "Mug", "price": "8.00"}) == \
        "You might like Mug (8.00)."


@pytest.mark.parametrize("overrides, match", [
    ({"fax": {"bundle": "x"}}, "channel"),
    ({"web": {"bundle": "{colour}"}}, "colour"),
    ({"web": {"bundle": "{name!r}"}}, "plain fields"),
    ({"web": {"bundle": "{name"}}, "malformed"),
    ({"web": {"bundle": 3}}, "must be a string"),
    ({"web": "x"}, "channel -> "),
])
def test_bad_templates_are_refused_naming_the_problem(overrides: Any, match: str) -> None:
    with pytest.raises(UpsellDataError, match=match):
        CueTemplates(overrides)


def test_overrides_by_pair_and_equality() -> None:
    a = CueTemplates({("store", "cf"): "Try {name}"})
    b = CueTemplates({"store": {"cf": "Try {name}"}})
    assert a == b != CueTemplates()
    assert a.render("store", "cf", {"name": "Mug"}) == "Try Mug"
    assert repr(a) == "CueTemplates(overridden=1)"


def test_money_and_numbers_as_people_read_them() -> None:
    assert money(1234.5) == "1,234.50" and money(float("nan")) == ""
    assert _score(26571.2) == "26,571" and _score(0.5) == "0.5" and _score(-3e-9) == "~0"
    assert _names(["a", "b", "c"]) == "a, b, c"
    assert _names(["a", "b", "c", "d", "e"]) == "a, b, c \u2026and 2 more"
    assert _names(["a", "b", "c"], total=10) == "a, b, c \u2026and 7 more"


@settings(max_examples=200, deadline=None)
@given(v=st.floats(allow_nan=True, allow_infinity=True))
def test_score_text_never_has_an_exponent(v: float) -> None:
    text = _score(v)
    assert "e" not in text.lower() or text == "n/a"
    if np.isfinite(v) and abs(v) >= 1e-6:
        assert abs(float(text.replace(",", "")) - v) <= max(abs(v) * 0.01, 0.6)


class Fixed:
    def __init__(self, name: str, pairs: list[tuple[str, float, dict[str, Any]]],
                 style: str | None = None) -> None:
        self.name = name
        self.pairs = pairs
        if style is not None:
            self.cue_style = style

    def candidates(self, request: Any, k: int) -> list[Candidate]:
        return [Candidate(i, s, detail=d) for i, s, d in self.pairs][:k]


def test_the_strongest_source_picks_the_cue_and_the_reason_lists_every_source() -> None:
    cat = small_catalog()
    rec = us.Recommender(catalog=cat, rules=[], cross_sell=[
        Fixed("rules", [("mug", 2.0, {"because": ("tea",)})], style="bundle"),
        Fixed("cf", [("mug", 1.0, {}), ("pot", 3.0, {})], style="cf")],
        weights={"rules": 2.0})
    offers = rec.recommend(basket=["tea"], k=2, channel="email", at=AT)
    mug = next(o for o in offers if o.item == "mug")
    assert mug.sources == ("rules", "cf")
    assert mug.reason.summary == "rules 2 (after tea) + cf 1"
    assert mug.cue == "Customers who bought tea often add mug (8.00)."
    pot = next(o for o in offers if o.item == "pot")
    assert pot.cue == "Based on your purchases, we think you will like pot (20.00)."


def test_sequence_cue_fields_lag_age_and_due() -> None:
    cat = small_catalog()
    due = np.datetime64("2025-01-20T00:00:00", "s")
    rec = us.Recommender(catalog=cat, rules=[], cross_sell=[
        Fixed("next", [("ink", 1.0, {"because": ("tea",), "lag_days": 30.0, "due": due})],
              style="sequence")],
        cue_templates={"store": {"sequence": "{because} {age_days} days ago; {name} due {due}"}})
    (offer,) = rec.recommend(basket=["tea"], k=1, channel="store", moment="post_purchase",
                             at=AT)
    assert offer.due == due
    # bought 30 days before the due date (21 Dec, 00:00); the request is 10 Jan, 12:00
    assert offer.cue == "tea 20 days ago; ink due 2025-01-20"


def test_long_baskets_read_as_a_count() -> None:
    cat = small_catalog()
    because = ("tea", "mug", "cup", "pot", "plan")
    rec = us.Recommender(catalog=cat, rules=[], cross_sell=[
        Fixed("rules", [("ink", 1.0, {"because": because})], style="bundle")])
    (offer,) = rec.recommend(k=1, channel="email", at=AT)
    assert offer.cue == "Customers who bought tea, mug and 3 more often add ink (12.00)."
    assert "\u2026and 2 more" in offer.reason.summary


def test_a_source_cue_is_a_field() -> None:
    cat = small_catalog()
    rec = us.Recommender(catalog=cat, rules=[], cross_sell=[
        Fixed("staff", [("pot", 1.0, {"cue": "Staff pick"})], style="upsell")])
    assert rec.recommend(k=1, at=AT)[0].cue == "Staff pick"


def test_bundle_and_cf_evidence_read_as_words_not_raw_scores() -> None:
    from upsell.recommend import Evidence
    from upsell.recommend._offers import evidence_text

    names = {"85123A": "WHITE HANGING HEART"}.get
    lift = Evidence("bundles", 5.48, 1.0, 1.0, {"because": ("85123A",), "metric": "lift"})
    assert evidence_text(lift, names) == ("bought with WHITE HANGING HEART, 5.5x as often as "
                                          "by chance (bundles)")
    conf = Evidence("rules", 0.523, 1.0, 1.0, {"because": ("85123A",), "metric": "confidence"})
    assert evidence_text(conf, names) == ("bought with WHITE HANGING HEART in 52% of their "
                                          "orders (rules)")
    for model, words in (("ItemKNN", "similar to what you bought"),
                         ("EASE", "bought by customers who buy what you buy"),
                         ("ALS", "bought by customers who buy what you buy")):
        ev = Evidence("cf", 26602.8, 1.0, 1.0, {"model": model})
        assert evidence_text(ev, names) == f"{words} (cf)"  # never "cf 26,603"
    # a source without a known metric or model keeps its score and what it answers
    other = Evidence("next", 2.0, 1.0, 1.0, {"because": ("85123A",)})
    assert evidence_text(other, names) == "next 2 (after WHITE HANGING HEART)"
