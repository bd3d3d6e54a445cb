"""KeyTable, the vectorised hash table behind id factorizing and return netting."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data._keys import KeyTable

_keys = st.lists(st.one_of(st.integers(0, 40), st.integers(0, 2**64 - 1)), max_size=300)


@settings(max_examples=80, deadline=None)
@given(batches=st.lists(_keys, min_size=1, max_size=4))
def test_encode_gives_stable_dense_codes_across_batches(batches):
    table = KeyTable(bits=2)  # tiny, so that probing and growing happen
    seen: dict[int, int] = {}
    for batch in batches:
        keys = np.array(batch, dtype=np.uint64)
        codes = table.encode(keys)
        assert codes.dtype == np.int32
        np.testing.assert_array_equal(table.keys_in_code_order()[codes], keys)
        for k, c in zip(batch, codes.tolist(), strict=True):
            assert seen.setdefault(k, c) == c  # a key keeps its code
    assert sorted(seen.values()) == list(range(len(seen)))  # dense
    assert table.n == len(seen)
    other = 2**63 + 12345
    probe = np.array([*seen, other], dtype=np.uint64)
    assert table.find(probe).tolist() == [*seen.values(), seen.get(other, -1)]


def test_many_keys_with_colliding_slots():
    rng = np.random.default_rng(0)
    # multiples of a large power of two collide in the low bits; the hash must spread them
    keys = np.concatenate([np.arange(50_000, dtype=np.uint64) << np.uint64(40),
                           rng.integers(0, 2**63, 50_000, dtype=np.uint64)])
    draws = rng.choice(keys, 300_000)
    table = KeyTable()
    codes = table.encode(draws)
    np.testing.assert_array_equal(table.keys_in_code_order()[codes], draws)
    assert table.n == np.unique(draws).size
    of_unique = KeyTable.of_unique(np.unique(keys))
    np.testing.assert_array_equal(of_unique.find(draws), np.searchsorted(np.unique(keys), draws))
    absent = np.array([1, 3, 2**64 - 1], dtype=np.uint64)
    assert of_unique.find(absent).tolist() == [-1, -1, -1]


def test_empty_input():
    table = KeyTable()
    assert table.encode(np.zeros(0, dtype=np.uint64)).size == 0
    assert table.find(np.zeros(0, dtype=np.uint64)).size == 0
    assert KeyTable.of_unique(np.zeros(0, dtype=np.uint64)).n == 0
