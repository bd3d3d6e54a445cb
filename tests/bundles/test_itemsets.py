"""frequent_itemsets: brute-force twins, invariants, code paths and guard rails."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Transactions
from upsell.bundles import _mining, frequent_itemsets
from upsell.exceptions import UpsellDataError, UpsellMemoryError

from ._brute import brute_closed, brute_itemsets, brute_maximal

baskets_st = st.lists(st.sets(st.integers(0, 7), min_size=1, max_size=6), min_size=1, max_size=25)


def _tx(baskets: list[set[int]]) -> Transactions:
    order = [b for b, items in enumerate(baskets) for _ in items]
    item = [i for items in baskets for i in sorted(items)]
    return Transactions.from_arrays(order=order, item=item)


def _as_dict(fi) -> dict[tuple[int, ...], int]:
    return dict(zip(fi.tuples(), fi.counts.tolist(), strict=True))


@settings(max_examples=60, deadline=None)
@given(baskets=baskets_st, min_count=st.integers(1, 4), kind=st.sampled_from(["all", "closed", "maximal"]))
def test_equals_brute_force(baskets, min_count, kind):
    fi = frequent_itemsets(_tx(baskets), min_support=min_count, kind=kind)
    want = brute_itemsets(baskets, min_count)
    if kind == "closed":
        want = {s: want[s] for s in brute_closed(want)}
    elif kind == "maximal":
        want = {s: want[s] for s in brute_maximal(want)}
    assert _as_dict(fi) == want
    assert len(fi) == len(want)


@settings(max_examples=30, deadline=None)
@given(baskets=baskets_st, min_count=st.integers(1, 3), max_len=st.integers(1, 3),
       min_len=st.integers(1, 3))
def test_length_bounds(baskets, min_count, max_len, min_len):
    if min_len > max_len:
        min_len, max_len = max_len, min_len
    fi = frequent_itemsets(_tx(baskets), min_support=min_count, min_len=min_len, max_len=max_len)
    want = {s: c for s, c in brute_itemsets(baskets, min_count, max_len).items()
            if len(s) >= min_len}
    assert _as_dict(fi) == want
    assert ((fi.lengths >= min_len) & (fi.lengths <= max_len)).all()


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, min_count=st.integers(1, 3))
def test_support_never_exceeds_subsets(baskets, min_count):
    found = _as_dict(frequent_itemsets(_tx(baskets), min_support=min_count))
    for s, c in found.items():
        for j in range(len(s)):
            sub = s[:j] + s[j + 1:]
            if sub:
                assert found[sub] >= c


@settings(max_examples=30, deadline=None)
@given(baskets=baskets_st, seed=st.integers(0, 2**32 - 1))
def test_independent_of_basket_and_item_order(baskets, seed):
    rng = np.random.default_rng(seed)
    fi = frequent_itemsets(_tx(baskets), min_support=1)
    order = [b for b, items in enumerate(baskets) for _ in items]
    item = [i for items in baskets for i in items]
    perm = rng.permutation(len(order))
    # relabel orders too: basket b becomes b' under a random bijection
    relabel = rng.permutation(len(baskets))
    tx2 = Transactions.from_arrays(order=[int(relabel[order[p]]) for p in perm],
                                   item=[item[p] for p in perm])
    fi2 = frequent_itemsets(tx2, min_support=1)
    assert fi.tuples() == fi2.tuples()
    assert fi.counts.tolist() == fi2.counts.tolist()


def _random_baskets(seed: int, n: int = 300, m: int = 25) -> list[set[int]]:
    rng = np.random.default_rng(seed)
    pop = rng.dirichlet(np.full(m, 0.3))
    return [set(rng.choice(m, size=int(rng.integers(1, 9)), p=pop).tolist()) for _ in range(n)]


@pytest.mark.parametrize("path", ["default", "chunked", "sparse_keys", "all_small"])
def test_code_paths_agree_with_brute_force(monkeypatch, path):
    if path in ("chunked", "all_small"):
        monkeypatch.setattr(_mining, "_CHUNK_PAIRS", 5)
    if path in ("sparse_keys", "all_small"):
        monkeypatch.setattr(_mining, "_MAX_DENSE_KEYS", 0)
    for seed in range(4):
        baskets = _random_baskets(seed)
        for min_count in (3, 12):
            fi = frequent_itemsets(_tx(baskets), min_support=min_count)
            assert _as_dict(fi) == brute_itemsets(baskets, min_count)


def test_sparse_input_counts_empty_rows_and_ignores_values():
    m = sp.csr_matrix(np.array([[2, 0, 1], [0, 0, 0], [5, 0, 3], [1, 1, 0]], dtype=float))
    fi = frequent_itemsets(m, min_support=0.5)
    assert fi.n_baskets == 4 and fi.min_count == 2
    assert _as_dict(fi) == {(0,): 3, (2,): 2, (0, 2): 2}
    assert fi.items.ids.tolist() == [0, 1, 2]


def test_effective_count_is_ceil_of_fraction():
    baskets = [{0, 1}] * 8 + [{0}] * 2 + [{2}] * 9835
    fi = frequent_itemsets(_tx(baskets), min_support=0.001)
    assert fi.min_count == math.ceil(0.001 * len(baskets)) == 10
    assert (0, 1) not in _as_dict(fi)


def test_to_pandas_and_repr():
    fi = frequent_itemsets(_tx([{1, 2}, {1, 2}, {1}]), min_support=2)
    df = fi.to_pandas()
    assert df.columns.tolist() == ["items", "count", "support", "length"]
    assert df["items"].tolist() == [(1,), (2,), (1, 2)]
    assert df["support"].round(4).tolist() == [1.0, 0.6667, 0.6667]
    assert "Itemsets(n=3" in repr(fi) and "<table>" in fi._repr_html_()


def test_guard_rail_names_max_itemsets_and_a_support_that_fits():
    baskets = [set(range(12))] * 5 + [{0, 1}] * 20
    with pytest.raises(UpsellMemoryError, match=r"`max_itemsets`=100.*min_support >= ") as err:
        frequent_itemsets(_tx(baskets), min_support=2, max_itemsets=100)
    # the suggested count really fits
    count = int(str(err.value).split("a count of ")[1].rstrip(")"))
    assert len(frequent_itemsets(_tx(baskets), min_support=count, max_itemsets=100)) <= 100


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_support": 0}, "`min_support`"),
    ({"min_support": 1.5}, "`min_support`"),
    ({"min_len": 0}, "`min_len`"),
    ({"max_len": 0}, "`max_len`"),
    ({"kind": "open"}, "`kind`"),
    ({"max_itemsets": 0}, "`max_itemsets`"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(UpsellDataError, match=match):
        frequent_itemsets(_tx([{1}]), **kwargs)


@pytest.mark.parametrize(("data", "match"), [
    ("milk bread", "`baskets` must be Transactions, a scipy sparse"),
    ({"a": ["milk"]}, "got dict"),
    (np.array([[1, 2]]), "got ndarray"),
    (42, "got int"),
    ([["milk"], "bread"], "`baskets` item 1 must be a collection of item ids; got str"),
    ([["milk"], 7], "`baskets` item 1 must be a collection"),
    ([["milk"], [["nested"]]], "`baskets` item 1 holds an unhashable item id"),
    ([["milk"], [1]], "`item` ids .*strings"),
    ([[1, 2], [True]], "booleans"),
])
def test_bad_input_type(data, match):
    with pytest.raises(UpsellDataError, match=match):
        frequent_itemsets(data)


def test_data_frame_is_refused_not_iterated():
    class Frame:
        columns = ("order", "item")

        def __iter__(self):
            return iter(self.columns)

    with pytest.raises(UpsellDataError, match="got Frame"):
        frequent_itemsets(Frame())


@settings(max_examples=40, deadline=None)
@given(baskets=st.lists(st.lists(st.sampled_from("abcdefg"), max_size=6), min_size=1,
                        max_size=25),
       min_count=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_lists_of_baskets_equal_brute_force_in_any_order(baskets, min_count, seed):
    """Lists (repeats, empty baskets, any order) give the brute-force counts by item id."""
    fi = frequent_itemsets(baskets, min_support=min_count)
    assert _as_dict(fi) == brute_itemsets([set(b) for b in baskets], min_count)
    assert list(fi.items.ids) == sorted({i for b in baskets for i in b})
    rng = np.random.default_rng(seed)
    shuffled = [list(rng.permutation(b)) if b else [] for b in baskets]
    shuffled = [shuffled[i] for i in rng.permutation(len(shuffled))]
    again = frequent_itemsets(iter(tuple(b) for b in shuffled), min_support=min_count)
    assert again.tuples() == fi.tuples()
    assert again.counts.tolist() == fi.counts.tolist()
    # a fraction counts the empty baskets too
    if min_count <= len(baskets):
        frac = frequent_itemsets(baskets, min_support=min_count / len(baskets))
        assert _as_dict(frac) == _as_dict(fi)


def test_lists_of_integer_ids_and_only_empty_baskets():
    fi = frequent_itemsets([[10, 2], [2], [10, 2, 2]], min_support=2)
    assert fi.tuples() == [(2,), (10,), (2, 10)]
    assert fi.items.kind == "int"
    empty = frequent_itemsets([[], []], min_support=1)
    assert len(empty) == 0


def test_lists_are_mined_without_importing_scipy():
    """The memory target against pyfim depends on it: scipy alone costs ~25 MB."""
    code = (
        "import sys\n"
        "import upsell\n"
        "from upsell.bundles import frequent_itemsets\n"
        "fi = frequent_itemsets([['a', 'b'], ['a', 'b', 'c'], ['a']], min_support=2)\n"
        "assert fi.tuples() == [('a',), ('b',), ('a', 'b')], fi.tuples()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("bits", [1, 3, 16])
def test_radix_order_is_a_stable_sort(monkeypatch, bits):
    monkeypatch.setattr(_mining, "_DIGIT_BITS", bits)
    rng = np.random.default_rng(bits)
    for n_keys in (1, 2, 5, 70_000):
        keys = rng.integers(0, n_keys, 500).astype(np.int32)
        assert _mining._stable_order(keys, n_keys).tolist() == np.argsort(
            keys, kind="stable").tolist()


# --- chunked miner: every chunking and counting path against the brute-force twin ---

_TINY = {
    "tiny_chunks": {"_CHUNK_PAIRS": 1},
    "tiny_blocks": {"_BLOCK_ENTRIES": 1},
    "sort_counting": {"_MAX_DENSE_KEYS": 0},
    "key_cut": {"_MAX_DENSE_KEYS": 3, "_CHUNK_PAIRS": 40},
    "everything_tiny": {"_CHUNK_PAIRS": 2, "_BLOCK_ENTRIES": 3, "_MAX_DENSE_KEYS": 2},
}


@pytest.mark.parametrize("sizes", list(_TINY), ids=list(_TINY))
def test_tiny_chunk_sizes_agree_with_brute_force(monkeypatch, sizes):
    for name, value in _TINY[sizes].items():
        monkeypatch.setattr(_mining, name, value)
    for seed in range(3):
        baskets = _random_baskets(seed, n=120, m=12)
        for min_count in (2, 9):
            fi = frequent_itemsets(_tx(baskets), min_support=min_count)
            assert _as_dict(fi) == brute_itemsets(baskets, min_count)
            capped = frequent_itemsets(_tx(baskets), min_support=min_count, max_len=3)
            assert _as_dict(capped) == brute_itemsets(baskets, min_count, 3)


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, min_count=st.integers(1, 3), chunk=st.integers(1, 6),
       block=st.integers(1, 8), keys=st.integers(0, 6))
def test_any_chunking_equals_brute_force(baskets, min_count, chunk, block, keys):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_mining, "_CHUNK_PAIRS", chunk)
        mp.setattr(_mining, "_BLOCK_ENTRIES", block)
        mp.setattr(_mining, "_MAX_DENSE_KEYS", keys)
        fi = frequent_itemsets(_tx(baskets), min_support=min_count)
    assert _as_dict(fi) == brute_itemsets(baskets, min_count)


@settings(max_examples=50, deadline=None)
@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=20), seed=st.integers(0, 99))
def test_ranges_equals_concatenated_aranges(lengths, seed):
    rng = np.random.default_rng(seed)
    start = rng.integers(-50, 50, size=len(lengths)).astype(np.int32)
    length = np.array(lengths, dtype=np.int64)
    want = np.concatenate([np.arange(s, s + n) for s, n in zip(start, length, strict=True)])
    got = _mining._ranges(start, length, int(length.sum()))
    assert got.dtype == np.int32
    assert got.tolist() == want.tolist()


def test_guard_rail_stops_inside_a_level_with_small_chunks(monkeypatch):
    monkeypatch.setattr(_mining, "_CHUNK_PAIRS", 3)
    baskets = [set(range(12))] * 5 + [{0, 1}] * 20
    with pytest.raises(UpsellMemoryError, match=r"`max_itemsets`=100"):
        frequent_itemsets(_tx(baskets), min_support=2, max_itemsets=100)


def test_database_guard_names_max_len(monkeypatch):
    monkeypatch.setattr(_mining, "_MAX_DB_ENTRIES", 10)
    baskets = [set(range(6))] * 10
    with pytest.raises(UpsellMemoryError, match=r"basket positions.*`max_len`=2"):
        frequent_itemsets(_tx(baskets), min_support=2)
    # the advice works
    assert len(frequent_itemsets(_tx(baskets), min_support=2, max_len=2)) == 6 + 15


def test_canonical_csr_is_read_in_place_and_other_forms_agree():
    rng = np.random.default_rng(3)
    dense = (rng.random((60, 9)) < 0.4).astype(np.float64)
    canonical = sp.csr_matrix(dense)
    want = _as_dict(frequent_itemsets(canonical, min_support=3))
    # duplicates, unsorted indices, stored zeros, COO, int64 index arrays: same result
    coo = canonical.tocoo()
    rows = np.concatenate([coo.row, coo.row[:5], [0]])
    cols = np.concatenate([coo.col, coo.col[:5], [8]])
    vals = np.concatenate([coo.data, coo.data[:5], [0.0]])
    messy = sp.csr_matrix((vals, (rows, cols)), shape=dense.shape)
    ptr = canonical.indptr
    unsorted = sp.csr_matrix(
        (canonical.data, np.concatenate([canonical.indices[ptr[r]:ptr[r + 1]][::-1]
                                         for r in range(dense.shape[0])]), ptr),
        shape=dense.shape)
    assert not unsorted.has_sorted_indices
    big = sp.csr_matrix(canonical)
    big.indptr, big.indices = big.indptr.astype(np.int64), big.indices.astype(np.int64)
    for other in (messy, unsorted, coo, big, sp.csr_array(dense)):
        assert _as_dict(frequent_itemsets(other, min_support=3)) == want
    with_zero = sp.csr_matrix(canonical, copy=True)
    with_zero.data[0] = 0.0
    assert _as_dict(frequent_itemsets(with_zero, min_support=3)) == _as_dict(
        frequent_itemsets(sp.csr_matrix(with_zero.toarray()), min_support=3))
    with_nan = sp.csr_matrix(canonical, copy=True)
    with_nan.data[0] = np.nan
    with pytest.raises(UpsellDataError, match="non-finite"):
        frequent_itemsets(with_nan, min_support=3)


def test_canonical_csr_skips_the_copy(monkeypatch):
    from upsell.bundles import itemsets

    def no_copy(*args, **kwargs):
        raise AssertionError("as_csr called on canonical input")

    monkeypatch.setattr(itemsets, "as_csr", no_copy)
    m = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1]], dtype=np.float32))
    assert _as_dict(frequent_itemsets(m, min_support=2)) == {
        (0,): 3, (1,): 2, (2,): 2, (0, 1): 2, (0, 2): 2}


# ---------------------------------------------------------------- min_support="auto" (issue 17)
@settings(max_examples=60, deadline=None)
@given(baskets=st.lists(st.sets(st.integers(0, 9), min_size=1, max_size=7), min_size=2,
                        max_size=30),
       budget=st.integers(1, 60), max_len=st.sampled_from([None, 2, 3]))
def test_auto_support_is_the_lowest_within_budget(baskets, budget, max_len):
    # the budget counts itemsets of two or more items: single items are free
    n_multi = {c: sum(len(s) > 1 for s in brute_itemsets(baskets, c, max_len))
               for c in range(1, len(baskets) + 2)}
    fi = frequent_itemsets(_tx(baskets), min_support="auto", max_itemsets=budget,
                           max_len=max_len)
    assert fi.support_chosen == "auto"
    assert fi.min_count >= 2
    assert fi.min_support == fi.min_count / len(baskets)
    assert sum(len(s) > 1 for s in _as_dict(fi)) == n_multi[fi.min_count] <= budget
    assert _as_dict(fi) == brute_itemsets(baskets, fi.min_count, max_len)
    if fi.min_count > 2:  # the next lower support is reachable: it must be over budget
        assert n_multi[fi.min_count - 1] > budget


def test_auto_budget_is_not_spent_on_single_items():
    # 300 items bought alone 5 times each, and one pair bought together 3 times: counting
    # the single items, a budget of 100 would stop above every pair
    baskets = [{i} for i in range(300) for _ in range(5)] + [{1000, 1001}] * 3
    fi = frequent_itemsets(_tx(baskets), min_support="auto", max_itemsets=100)
    assert fi.min_count == 2 and (1000, 1001) in fi.tuples()


def test_auto_default_budget_and_given_support_recorded():
    baskets = [{0, 1, 2}, {0, 1}, {1, 2}, {0, 2, 3}] * 5
    fi = frequent_itemsets(_tx(baskets), min_support="auto")
    assert fi.min_count == 2 and fi.support_chosen == "auto"  # far within 100,000
    given = frequent_itemsets(_tx(baskets), min_support=0.25)
    assert given.support_chosen == "given" and given.min_support == given.min_count / 20
    assert "given" in repr(given)
    with pytest.raises(UpsellDataError, match="'auto'"):
        frequent_itemsets(_tx(baskets), min_support="lowest")


def test_auto_never_materialises_the_explosion():
    # 40 baskets of the same 30 items: 2^30 frequent itemsets at any count up to 40;
    # only the count above 40 (nothing frequent) is within a budget of 1,000
    baskets = [set(range(30))] * 40 + [{31}]
    fi = frequent_itemsets(_tx(baskets), min_support="auto", max_itemsets=1_000)
    assert fi.min_count == 41 and len(fi) == 0


def test_min_support_one_is_a_count_and_one_point_zero_is_everything():
    baskets = [{0, 1}, {0}, {0, 2}]
    assert frequent_itemsets(_tx(baskets), min_support=1).min_count == 1
    full = frequent_itemsets(_tx(baskets), min_support=1.0)
    assert full.min_count == 3 and full.tuples() == [(0,)]
    assert frequent_itemsets(_tx(baskets), min_support=2.0).min_count == 2
