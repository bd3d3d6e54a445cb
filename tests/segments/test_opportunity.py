"""OpportunityMatrix: the handbook default, editing, JSON and file round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data import KINDS
from upsell.exceptions import ModelFileError, UnknownIdError, UpsellDataError
from upsell.segments import PERSONAS, OpportunityMatrix, Strategy


def test_handbook_default():
    m = OpportunityMatrix()
    assert m.segments == PERSONAS
    assert m.strategy("new").kinds == ("warranty",)
    up = m.strategy("new", "upsell")
    assert up.kinds == ("product",) and up.higher_tier
    assert m.strategy("frequent").kinds == ("accessory",)
    assert m.strategy("frequent", "upsell").kinds == ("subscription",)
    assert m.strategy("price_sensitive").kinds == ("bundle",)
    assert m.strategy("price_sensitive").discounted
    assert m.strategy("price_sensitive", "upsell").kinds == ("value_pack",)
    assert m.strategy("premium").exclusive
    assert m.strategy("premium", "upsell").top_tier


def test_edits_return_new_matrices():
    m = OpportunityMatrix()
    m2 = m.with_strategy("new", upsell={"kinds": ["subscription"], "label": "plans"})
    assert m2.strategy("new", "upsell").label == "plans"
    assert m.strategy("new", "upsell").label == "premium versions"
    assert m2.strategy("new").kinds == ("warranty",)
    m3 = m2.with_strategy("champions", cross_sell=Strategy(("accessory",)),
                          upsell=Strategy(("product",), top_tier=True))
    assert m3.segments[-1] == "champions" and len(m2) == 4
    assert len(m3.without("champions")) == 4
    with pytest.raises(UpsellDataError, match="give both"):
        m.with_strategy("vip", cross_sell={"kinds": ["accessory"]})
    with pytest.raises(UnknownIdError, match="'vip' is not in the opportunity matrix"):
        m.strategy("vip")
    with pytest.raises(UpsellDataError, match="`direction`"):
        m.strategy("new", "sideways")


@pytest.mark.parametrize("spec, match", [
    ({"kinds": ["gadget"]}, "`kinds` must be among"),
    ({"kinds": []}, "at least one"),
    ({"kinds": ["product"], "colour": "red"}, "unknown strategy key 'colour'"),
    ({"kinds": ["product"], "higher_tier": "yes"}, "`higher_tier` must be True or False"),
    ({"label": "x"}, "with 'kinds'"),
])
def test_strategy_validation(spec, match):
    with pytest.raises(UpsellDataError, match=match):
        Strategy.from_dict(spec)


strategy_st = st.builds(
    Strategy, kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=3).map(tuple),
    label=st.text(max_size=12), higher_tier=st.booleans(), top_tier=st.booleans(),
    exclusive=st.booleans(), discounted=st.booleans())


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), st.tuples(strategy_st, strategy_st),
                       min_size=1, max_size=5))
def test_json_round_trip(segments):
    m = OpportunityMatrix({s: {"cross_sell": c, "upsell": u} for s, (c, u) in segments.items()})
    back = OpportunityMatrix.from_json(m.to_json())
    assert back == m and back.segments == m.segments


def test_files_and_display(tmp_path):
    m = OpportunityMatrix().with_strategy("new", cross_sell={"kinds": ["accessory"]})
    p = tmp_path / "m.json"
    m.save(p)
    assert OpportunityMatrix.load(p) == m
    assert json.loads(p.read_text())["format_version"] == 1
    with pytest.raises(ModelFileError):
        OpportunityMatrix.load(tmp_path / "missing.json")
    with pytest.raises(UpsellDataError, match="malformed"):
        OpportunityMatrix.from_json("{not json")
    with pytest.raises(UpsellDataError, match="newer"):
        OpportunityMatrix.from_json({"format_version": 99, "segments": {"a": {}}})
    df = m.to_pandas()
    assert df["segment"].tolist() == list(PERSONAS)
    assert df.loc[0, "upsell_flags"] == "higher_tier"
    html = m._repr_html_()
    assert "extended warranties" not in html and "premium versions" in html
    assert "OpportunityMatrix(new:" in repr(m)
