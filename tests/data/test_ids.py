"""IdIndex: round trips, vectorised lookups, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from upsell.data import IdIndex
from upsell.exceptions import UnknownIdError, UpsellDataError

str_ids = st.lists(st.text(st.characters(exclude_characters="\x00"), max_size=8), unique=True,
                   max_size=40)
int_ids = st.lists(st.integers(min_value=-(2**62), max_value=2**62), unique=True, max_size=40)


@given(st.one_of(str_ids, int_ids))
def test_round_trip_any_unique_ids(ids):
    idx = IdIndex(ids, name="item")
    assert len(idx) == len(ids)
    codes = idx.encode(ids)
    assert codes.tolist() == list(range(len(ids)))
    assert idx.decode(codes).tolist() == list(ids)
    for pos, value in enumerate(ids):
        assert idx.index(value) == pos
        assert value in idx
    assert IdIndex.from_json(idx.to_json()) == idx


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=30))
def test_factorize_is_sorted_and_row_order_free(values):
    idx, codes = IdIndex.factorize(values)
    assert idx.ids.tolist() == sorted(set(values))
    assert idx.decode(codes).tolist() == values
    rev_idx, _ = IdIndex.factorize(values[::-1])
    assert rev_idx == idx


def test_duplicates_refused_with_the_id():
    with pytest.raises(UpsellDataError, match="'a' appears more than once"):
        IdIndex(["a", "b", "a"], name="item")


def test_mixed_types_refused():
    with pytest.raises(UpsellDataError, match="mix strings and integers"):
        IdIndex(["a", 1])
    with pytest.raises(UpsellDataError, match="integers or strings"):
        IdIndex([1.5, 2.0])
    with pytest.raises(UpsellDataError, match="booleans"):
        IdIndex(np.array([True, False]))


def test_unknown_ids_raise_mask_or_skip():
    idx = IdIndex(["x", "y"], name="customer")
    with pytest.raises(UnknownIdError, match="customer 'z' is not in the customer index"):
        idx.encode(["x", "z"])
    with pytest.raises(KeyError):
        idx.index("z")
    assert idx.encode(["z", "y"], unknown="mask").tolist() == [-1, 1]
    assert idx.encode(["z", "y"], unknown="skip").tolist() == [1]
    with pytest.raises(UnknownIdError, match="str but this index holds int"):
        IdIndex([1, 2]).index("1")
    with pytest.raises(UnknownIdError):
        IdIndex([1, 2]).encode(["1"])
    assert 1 not in IdIndex(["1"])


def test_decode_out_of_range_is_clear():
    with pytest.raises(UpsellDataError, match="index 5 is out of range for 2 ids"):
        IdIndex(["a", "b"], name="item").decode([0, 5])


def test_numpy_scalars_and_huge_ints():
    idx = IdIndex(np.array([10, 20], dtype=np.int64))
    assert idx.index(np.int64(20)) == 1
    with pytest.raises(UpsellDataError, match="64 bits"):
        IdIndex([2**70])


def test_ids_are_read_only():
    idx = IdIndex(["a"])
    with pytest.raises(ValueError):
        idx.ids[0] = "b"


def test_nul_in_ids_refused():
    with pytest.raises(UpsellDataError, match="NUL"):
        IdIndex(["a", "a\x00"])
