"""IdIndex: round trips, vectorised lookups, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
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
    with pytest.raises(UnknownIdError, match="names no int id"):
        IdIndex([1, 2]).index("x")
    with pytest.raises(UnknownIdError, match="'3' is not in"):
        IdIndex([1, 2]).encode(["3"])
    assert IdIndex([1, 2]).encode(["3", "x", 2.5], unknown="mask").tolist() == [-1, -1, -1]


# ---------------------------------------------------------------- ids as a request sends them
def test_ids_as_a_web_request_sends_them():
    idx = IdIndex([12346, 17850], name="customer")
    for sent in ["17850", " 17850", "17850 ", "17850.0", 17850.0, np.float64(17850.0),
                 np.int32(17850), "17850.00"]:
        assert idx.index(sent) == 1, sent
        assert sent in idx
    for sent in [17850.5, "17850.5", "017850", "+17850", "1.785e4", "", True, None, b"17850",
                 float("nan"), float("inf"), "17850x"]:
        assert sent not in idx, sent
        with pytest.raises(UnknownIdError):
            idx.index(sent)
    assert idx.encode(["17850", 12346, 17850.0, "x"], unknown="mask").tolist() == [1, 0, 1, -1]
    text = IdIndex(["22423", "85123A"], name="item")
    assert text.index(22423) == 0 and 22423 in text and 22423.0 in text
    assert text.index(" 85123A ") == 1
    assert text.encode([22423, "85123A", " 85123A"]).tolist() == [0, 1, 1]
    assert 22424 not in text


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=20, unique=True),
       pick=st.integers(0, 19), form=st.sampled_from(["int", "str", "pad", "dot0", "float"]))
def test_int_ids_found_in_every_form(ids, pick, form):
    idx = IdIndex(ids)
    target = ids[pick % len(ids)]
    sent = {"int": target, "str": str(target), "pad": f"  {target} ", "dot0": f"{target}.0",
            "float": float(target)}[form]
    if form == "float" and float(target) != target:
        return  # not representable: no float names it
    assert idx.index(sent) == ids.index(target)
    assert idx.encode([sent]).tolist() == [ids.index(target)]
    assert sent in idx


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=20, unique=True),
       probe=st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                       st.text(max_size=8)))
def test_lookups_agree_and_unknown_stays_unknown(ids, probe):
    """index, encode and `in` agree; only values that name an id find one."""
    idx = IdIndex(ids)
    found = probe in idx
    got = idx.encode([probe], unknown="mask").tolist()[0]
    try:
        pos = idx.index(probe)
    except UnknownIdError:
        pos = -1
    assert (pos >= 0) == found and pos == got
    if found:
        assert float(str(probe).strip()) == ids[pos]
    text = IdIndex([str(i) for i in ids])
    if isinstance(probe, int):
        assert (probe in text) == (probe in ids)


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


def test_encode_against_an_empty_index_masks_or_raises() -> None:
    empty = IdIndex([], name="customer")
    assert empty.encode(["a", "b"], unknown="mask").tolist() == [-1, -1]
    assert empty.encode([1], unknown="skip").tolist() == []
    with pytest.raises(UnknownIdError, match="customer 'a' is not in the customer index"):
        empty.encode(["a"])


def test_ascii_text_ids_are_held_as_bytes_and_widened_only_when_read():
    hashed = [f"{i:064x}" for i in range(1000, 0, -1)]
    idx = IdIndex(hashed, name="customer")
    held = idx.nbytes
    assert held < 1000 * 64 * 2 + 1000 * 4 + 1  # bytes (ids + sorted copy), not 4 a char
    # decode and lookups read the bytes: nothing is widened as a whole
    assert idx.decode([0, 999]).tolist() == [hashed[0], hashed[999]]
    assert idx.decode(np.int64(1)) == hashed[1] and idx.decode(np.zeros(0, int)).size == 0
    assert idx.encode([hashed[5], "zz", "é" + hashed[5][1:]], unknown="mask").tolist() == [5, -1, -1]
    assert idx.index(hashed[7]) == 7 and hashed[3] in idx and list(idx)[:2] == hashed[:2]
    assert idx.nbytes == held
    # the str array a caller reads is built once and kept
    ids = idx.ids
    assert ids.dtype == np.dtype("<U64") and ids.tolist() == hashed and idx.ids is ids
    assert not ids.flags.writeable and idx.nbytes == held + ids.nbytes
    # the same ids compare and hash alike, however they were built; non-ASCII stay str
    assert idx == IdIndex(np.array(hashed), name="c") and hash(idx) == hash(IdIndex(hashed))
    wide = IdIndex(["café", "tea"])
    assert wide.ids.tolist() == ["café", "tea"] and wide.encode(["tea"]).tolist() == [1]
    assert IdIndex.from_json(idx.to_json()) == idx


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), min_size=1,
                        max_size=8), min_size=1, max_size=30, unique=True),
       st.lists(st.text(st.characters(min_codepoint=1, max_codepoint=0x3000), max_size=9),
                max_size=10))
def test_packed_index_answers_as_a_str_index(ids, queries):
    """An ASCII index (held as bytes) encodes, decodes and orders as the str array would."""
    idx = IdIndex(ids)
    arr = np.array(ids)
    assert idx.ids.tolist() == arr.tolist()
    everything = list(ids) + list(queries)
    want = [ids.index(q) if q in ids else -1 for q in everything]
    # a text with spaces around an id finds it, as in a str index
    got = idx.encode(everything, unknown="mask").tolist()
    for q, w, g in zip(everything, want, got, strict=True):
        assert g == w or (w == -1 and g >= 0 and ids[g] == q.strip()), (q, w, g)
    order = np.argsort(arr, kind="stable")
    assert idx.decode(order).tolist() == arr[order].tolist()
