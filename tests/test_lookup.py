"""Single-id lookups by binary search (the serving path's customer lookups)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from upsell import IdIndex
from upsell._lookup import position


@given(st.lists(st.text(max_size=6).filter(lambda s: "\x00" not in s), unique=True),
       st.text(max_size=6))
def test_position_agrees_with_the_dictionary_lookup_for_strings(ids, probe):
    idx = IdIndex(np.array(ids, dtype=str) if ids else np.array([], dtype=str))
    for i, v in enumerate(ids):
        assert position(idx, v) == i
    assert position(idx, probe) == (ids.index(probe) if probe in ids else -1)


@given(st.lists(st.integers(-2**63, 2**63 - 1), unique=True), st.integers())
def test_position_agrees_with_the_dictionary_lookup_for_integers(ids, probe):
    idx = IdIndex(np.array(ids, dtype=np.int64))
    for i, v in enumerate(ids):
        assert position(idx, v) == i
        assert position(idx, np.int64(v)) == i
    assert position(idx, probe) == (ids.index(probe) if probe in ids else -1)


def test_position_refuses_other_types_and_builds_no_dictionary():
    s = IdIndex(["1", "2"])
    n = IdIndex([1, 2])
    assert position(s, 1) == -1 and position(n, "1") == -1
    assert position(n, True) == -1 and position(n, None) == -1 and position(n, 1.0) == -1
    assert position(s, np.str_("2")) == 1
    assert s._dict is None and n._dict is None  # lookups stayed dictionary-free
