"""Body validation without a server: every refusal names the field and the value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upsell.serve._requests import (
    RequestError,
    parse_events,
    parse_json,
    parse_recommend,
    parse_reload,
)


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"k": 0}, "k", "from 1 to 100; got 0"),
    ({"k": 101}, "k", "got 101"),
    ({"k": "5"}, "k", 'got "5"'),
    ({"k": True}, "k", "got true"),
    ({"k": 2.5}, "k", "got 2.5"),
    ({"customer": True}, "customer", "got true"),
    ({"customer": 1.5}, "customer", "whole-number"),
    ({"customer": {"id": 1}}, "customer", "got object"),
    ({"customer": ""}, "customer", "must not be empty"),
    ({"customer": "x" * 300}, "customer", "longer than 255"),
    ({"basket": "A"}, "basket", 'got string "A"'),
    ({"basket": ["A", None]}, "basket[1]", "required"),
    ({"basket": ["A"] * 1001}, "basket", "at most 1,000"),
    ({"channel": "sms"}, "channel", "'web', 'email', 'store'"),
    ({"moment": 3}, "moment", "got 3"),
    ({"include_owned": "yes"}, "include_owned", "true or false"),
    ({"exclude": [[1]]}, "exclude[0]", "got array"),
    ({"at": [2020]}, "at", "ISO 8601"),
    ({"fill": 1}, "fill", "true or false"),
    ({"customer": "1", "colour": "red"}, "colour", "unknown field 'colour'"),
])
def test_recommend_refusals_name_the_field(body: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_recommend(body)
    assert info.value.field == field
    assert words in str(info.value)
    assert info.value.status == 400


def test_recommend_defaults_and_ids() -> None:
    r = parse_recommend({})
    assert (r.customer, r.basket, r.k, r.channel, r.moment, r.include_owned) == (
        None, (), 5, "web", None, False)
    r = parse_recommend({"customer": 17850, "basket": ["85123A", 22423], "k": 3.0})
    assert r.customer == 17850 and r.basket == ("85123A", 22423) and r.k == 3
    assert parse_recommend({"k": 150}, max_k=200).k == 150


def test_body_must_be_an_object_and_json() -> None:
    for raw, words in [(b"", "empty"), (b"{", "not valid JSON"), (b"\xff", "not UTF-8"),
                       (b'{"k": Infinity}', "Infinity is not JSON"), (b"[" * 100_000, "JSON")]:
        with pytest.raises(RequestError, match=words):
            parse_json(raw)
    with pytest.raises(RequestError, match="must be a JSON object; got array"):
        parse_recommend([1])


def test_events_checked_whole_before_any_write() -> None:
    good = {"type": "presented", "request_id": "r1", "item": "A", "customer": 7,
            "time": "2025-01-01T00:00:00Z", "channel": "email", "kind": "upsell",
            "source": ["bundles", "itemknn"]}
    [e] = parse_events([good])
    assert (e.offer_id, e.customer, e.time, e.source) == ("r1:A", 7, 1735689600.0,
                                                          "bundles+itemknn")
    assert parse_events({"events": [good]})[0] == e
    cases = [
        ([good, {**good, "type": "clicked"}], "[1].type"),
        ([{**good, "request_id": ""}], "[0].request_id"),
        ([{**good, "request_id": "x" * 65}], "[0].request_id"),
        ([{k: v for k, v in good.items() if k != "item"}], "[0].item"),
        ([{k: v for k, v in good.items() if k != "type"}], "[0].type"),
        ([{**good, "time": "yesterday"}], "[0].time"),
        ([{**good, "time": 1e13}], "[0].time"),
        ([{**good, "revenue": 5.0}], "[0].revenue"),
        ([{**good, "type": "accepted", "revenue": -1}], "[0].revenue"),
        ([{**good, "extra": 1}], "[0].extra"),
        ([good, 3], "[1]"),
    ]
    for body, field in cases:
        with pytest.raises(RequestError) as info:
            parse_events(body)
        assert info.value.field == field, (body, info.value)
    for body in ([], {"x": []}, "events", [good] * 1001):
        with pytest.raises(RequestError):
            parse_events(body)


def test_reload_body() -> None:
    assert parse_reload({}) is None
    with pytest.raises(RequestError, match="model_dir"):
        parse_reload({"model_dir": 3})
    with pytest.raises(RequestError, match="unknown field 'path'"):
        parse_reload({"path": "x"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["customer", "basket", "k", "channel", "moment", "include_owned",
                         "exclude", "at", "fill", "type", "request_id", "item", "time", "x"]),
        inner, max_size=4),
    max_leaves=10)


@given(json_values)
def test_any_json_is_accepted_or_refused_cleanly(body: Any) -> None:
    raw = json.dumps(body).encode()
    for parse in (parse_recommend, parse_events, parse_reload):
        try:
            parse(parse_json(raw))
        except RequestError as exc:
            assert exc.status == 400 and str(exc)
