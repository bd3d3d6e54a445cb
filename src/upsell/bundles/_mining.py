"""The itemset miner: exact counts, level-wise, one numpy or scipy call per level.

Layout of the search (a prefix tree stored level by level):

* A *node* at level ``k`` is a frequent ``k``-itemset, stored as ``parent``
  (its ``(k-1)``-prefix, a node at level ``k - 1``) and ``item`` (its last,
  largest item). Nodes of a level are sorted by ``(parent, item)``, so the
  children of one parent (an Eclat prefix class) are contiguous and every level
  is in lexicographic order.
* The *conditional database* of level ``k`` holds one row per (prefix, basket)
  with the level-``k`` nodes of that prefix class the basket contains. Pairs of
  entries inside a row are exactly the embeddings of the level-``k + 1``
  candidates (the Eclat prefix join), so one pass that enumerates all pairs of
  all rows and one ``bincount`` count every candidate of the level; the pairs
  that survive become the next level's database.
* Level 2 is counted with one sparse product ``Bᵀ B`` (scipy's SpGEMM), which is
  faster than enumerating pairs when the item universe is large.

Per-call Python overhead is independent of the number of itemsets: a level
costs a fixed number of numpy calls whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from upsell.exceptions import UpsellMemoryError

# pairs enumerated per chunk: bounds the working memory at roughly 40 bytes x this
_CHUNK_PAIRS = 1 << 22
# largest key space counted with a dense bincount (int64 counts: 8 bytes each)
_MAX_DENSE_KEYS = 1 << 24
# largest conditional database kept between levels (int32 entries)
_MAX_DB_ENTRIES = 1 << 28
# entries of Bᵀ B computed per block of the level-2 product
_PRODUCT_BLOCK = 1 << 24
# pairs of one level kept between its counting and database passes (8 bytes each)
_CACHE_PAIRS = 1 << 26
# largest f1 x f1 pair table for which pairs are counted by enumeration instead of Bᵀ B
_MAX_DENSE_PAIRS = 1 << 23


@dataclass(frozen=True, slots=True)
class Lattice:
    """Every frequent itemset up to the mined length, as a prefix tree stored by level.

    ``parents[k - 1]``, ``last[k - 1]`` and ``counts[k - 1]`` describe the
    frequent ``k``-itemsets: the node id of the ``(k-1)``-prefix (-1 at level 1),
    the last item index, and the exact count. ``item_counts`` holds the count of
    every item of the universe, frequent or not.
    """

    n_items: int
    n_baskets: int
    min_count: int
    parents: tuple[np.ndarray, ...]
    last: tuple[np.ndarray, ...]
    counts: tuple[np.ndarray, ...]
    item_counts: np.ndarray
    complete: bool

    @property
    def depth(self) -> int:
        """Length of the longest itemset held."""
        return len(self.parents)

    def level_items(self, k: int) -> np.ndarray:
        """Item indices of the level-``k`` itemsets, shape ``(n_k, k)``, rows sorted."""
        out = np.empty((self.last[k - 1].size, k), dtype=np.int32)
        node = np.arange(self.last[k - 1].size)
        for j in range(k, 0, -1):
            out[:, j - 1] = self.last[j - 1][node]
            if j > 1:
                node = self.parents[j - 1][node]
        return out

    def _keys(self, k: int) -> np.ndarray:
        return self.parents[k - 1].astype(np.int64) * self.n_items + self.last[k - 1]

    def lookup(self, items: np.ndarray) -> np.ndarray:
        """Node ids of the itemsets in the rows of ``items`` (sorted item indices), -1 if absent.

        All rows have the same length ``k``; ``k`` searchsorted calls in all.
        """
        q, k = items.shape
        if k == 0 or k > self.depth:
            return np.full(q, -1, dtype=np.int64)
        first = np.full(self.n_items, -1, dtype=np.int64)
        first[self.last[0]] = np.arange(self.last[0].size)
        node = first[items[:, 0]]
        for j in range(2, k + 1):
            keys = self._keys(j)
            want = node * self.n_items + items[:, j - 1]
            pos = np.searchsorted(keys, want)
            pos_c = np.minimum(pos, max(keys.size - 1, 0))
            hit = (node >= 0) & (keys.size > 0)
            if keys.size:
                hit &= keys[pos_c] == want
            node = np.where(hit, pos_c, -1)
        return node

    def count_of(self, items: np.ndarray) -> np.ndarray:
        """Counts of the itemsets in the rows of ``items``; -1 where not frequent."""
        k = items.shape[1]
        if k == 1:
            return self.item_counts[items[:, 0]]
        node = self.lookup(items)
        out = np.full(node.size, -1, dtype=np.int64)
        ok = node >= 0
        out[ok] = self.counts[k - 1][node[ok]]
        return out


def _suggest(counts: list[np.ndarray], limit: int, n: int) -> str:
    allc = np.sort(np.concatenate(counts))[::-1]
    need = int(allc[limit]) + 1 if allc.size > limit else int(allc[-1])
    return f"min_support >= {need / n:.6g} (a count of {need})"


def _pair_chunks(indptr: np.ndarray, max_pairs: int) -> Iterator[tuple[int, int]]:
    """Row ranges whose within-row pairs number about ``max_pairs`` each."""
    lengths = np.diff(indptr)
    per_row = lengths * (lengths - 1) // 2
    cum = np.cumsum(per_row)
    total = int(cum[-1]) if cum.size else 0
    n_rows = lengths.size
    if total <= max_pairs:
        yield 0, n_rows
        return
    start = 0
    base = 0
    while start < n_rows:
        stop = int(np.searchsorted(cum, base + max_pairs, side="right"))
        stop = max(stop, start + 1)
        yield start, stop
        base = int(cum[stop - 1])
        start = stop


def _pairs(indptr: np.ndarray, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
    """Entry positions (first, second), first < second, of all pairs inside rows r0..r1."""
    lo, hi = int(indptr[r0]), int(indptr[r1])
    # int32 positions halve the memory traffic whenever they fit
    kind = np.int32 if hi < 2**31 else np.int64
    lengths = np.diff(indptr[r0:r1 + 1])
    pos = np.arange(lo, hi, dtype=kind)
    row_end = np.repeat(indptr[r0 + 1:r1 + 1].astype(kind), lengths)
    after = row_end - pos - 1
    total = int(after.sum(dtype=np.int64))
    first = np.repeat(pos, after)
    # second = first + 1 + rank of the pair among first's pairs (ranks < chunk size)
    shift = np.cumsum(after, dtype=np.int64) - after - pos - 1
    second = (np.arange(total, dtype=np.int64) - np.repeat(shift, after)).astype(kind)
    return first, second


def _compress(indptr: np.ndarray, ent: np.ndarray, keep: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Drop entries where ``keep`` is False and rows left with fewer than two entries."""
    lengths = np.diff(indptr)
    row = np.repeat(np.arange(lengths.size), lengths)
    new_len = np.bincount(row[keep], minlength=lengths.size)
    keep &= (new_len >= 2)[row]
    new_len = new_len[new_len >= 2]
    out = np.zeros(new_len.size + 1, dtype=np.int64)
    np.cumsum(new_len, out=out[1:])
    return out, ent[keep]


def mine(indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int], min_count: int,
         max_len: int | None, max_itemsets: int) -> Lattice:
    """Mine every itemset of ``min_count`` or more baskets from a binary CSR structure.

    ``indices`` must be sorted within rows and free of duplicates.
    """
    n, m = shape
    item_counts = np.bincount(indices, minlength=m).astype(np.int64)
    freq = np.flatnonzero(item_counts >= min_count).astype(np.int32)
    parents = [np.full(freq.size, -1, dtype=np.int32)]
    last = [freq]
    counts = [item_counts[freq]]
    total = int(freq.size)
    if total > max_itemsets:
        raise UpsellMemoryError(
            f"{total:,} single items are frequent, more than `max_itemsets`={max_itemsets:,}; "
            f"raise `max_itemsets` or use {_suggest(counts, max_itemsets, n)}")

    def done(complete: bool) -> Lattice:
        return Lattice(n_items=m, n_baskets=n, min_count=min_count, parents=tuple(parents),
                       last=tuple(last), counts=tuple(counts), item_counts=item_counts,
                       complete=complete)

    if (max_len is not None and max_len < 2) or freq.size < 2:
        return done(True)

    # level-1 database: baskets restricted to frequent items, entries = level-1 node ids
    node_of = np.full(m, -1, dtype=np.int32)
    node_of[freq] = np.arange(freq.size, dtype=np.int32)
    ent_all = node_of[indices]
    keep = ent_all >= 0
    db_ptr, ent = _compress(np.asarray(indptr, dtype=np.int64), ent_all, keep)

    f1 = freq.size
    dense = f1 * f1 <= _MAX_DENSE_PAIRS
    cached: tuple[np.ndarray, np.ndarray] | None = None
    if dense:
        # small universe: count pairs by enumerating them and keep the enumeration
        chunks = list(_pair_chunks(db_ptr, _CHUNK_PAIRS))
        cnt = np.zeros(f1 * f1, dtype=np.int64)
        for r0, r1 in chunks:
            first, second = _pairs(db_ptr, r0, r1)
            keys = ent[first] * np.int32(f1) + ent[second]  # f1 * f1 < 2**31 here
            cnt += np.bincount(keys, minlength=f1 * f1)
            if len(chunks) == 1:
                cached = (first, keys)
            del second
        pair_keys = np.flatnonzero(cnt >= min_count)
        a2, b2, c2 = pair_keys // f1, pair_keys % f1, cnt[pair_keys]
        del cnt
    else:
        a2, b2, c2 = _count_pairs(db_ptr, ent, f1, min_count)
    total += a2.size
    if total > max_itemsets:
        raise UpsellMemoryError(
            f"more than `max_itemsets`={max_itemsets:,} frequent itemsets ({total:,} up to "
            f"length 2); raise `max_itemsets` or use {_suggest([*counts, c2], max_itemsets, n)}")
    if a2.size == 0:
        return done(True)
    parents.append(a2.astype(np.int32))
    last.append(freq[b2])
    counts.append(c2)
    if (max_len is not None and max_len < 3) or a2.size < 2:
        return done(True)
    if int(c2.sum()) > _MAX_DB_ENTRIES:
        raise UpsellMemoryError(
            f"the frequent pairs cover {int(c2.sum()):,} basket positions, too many to mine "
            f"longer itemsets in memory; use {_suggest(counts, a2.size // 2, n)} or `max_len`=2")

    # level-2 database: the pairs inside each basket that are frequent pairs
    new_ptr_parts: list[np.ndarray] = []
    new_ent_parts: list[np.ndarray] = []
    if cached is not None:
        first, keys = cached
        pos, hit = _RankBitmap(a2 * f1 + b2, f1 * f1).find(keys)
        new_ent_parts.append(pos[hit].astype(np.int32))
        new_ptr_parts.append(first[hit])
        del first, keys, pos, hit
    else:
        # keep only items that are in a frequent pair, renumbered compactly
        active = np.zeros(f1, dtype=bool)
        active[a2] = True
        active[b2] = True
        n_act = int(active.sum())
        renum = np.cumsum(active) - 1
        db_ptr, ent = _compress(db_ptr, ent, active[ent])
        ent = renum[ent].astype(np.int32)
        pair_keys = renum[a2] * n_act + renum[b2]
        bitmap = _RankBitmap(pair_keys, n_act * n_act)
        for r0, r1 in _pair_chunks(db_ptr, _CHUNK_PAIRS):
            first, second = _pairs(db_ptr, r0, r1)
            want = ent[first].astype(np.int64) * n_act + ent[second]
            del second
            pos, hit = bitmap.find(want)
            new_ent_parts.append(pos[hit].astype(np.int32))
            new_ptr_parts.append(first[hit])
            del first, want, pos, hit
    db_ptr, ent = _rows_from_first(new_ptr_parts, new_ent_parts)

    k = 2
    while max_len is None or k < max_len:
        level_parent = parents[-1]
        n_nodes = level_parent.size
        # class (siblings) of each node: nodes sharing its parent, contiguous
        change = np.flatnonzero(np.diff(level_parent)) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [n_nodes]))
        size = ends - starts
        later = np.repeat(ends, size) - np.arange(n_nodes) - 1
        n_keys = int(later.sum())
        if n_keys == 0:
            break
        db_ptr, ent = _compress(db_ptr, ent, np.repeat(size >= 2, size)[ent])
        if ent.size == 0:
            break
        key_type = np.int32 if n_keys < 2**31 else np.int64
        pairbase = (np.cumsum(later) - later).astype(key_type)
        chunks = list(_pair_chunks(db_ptr, _CHUNK_PAIRS))
        lengths = np.diff(db_ptr)
        keep_pairs = int((lengths * (lengths - 1) // 2).sum()) <= _CACHE_PAIRS
        cache: list[tuple[np.ndarray, np.ndarray]] = []

        def level_keys(r0: int, r1: int, base: np.ndarray = pairbase,
                       p: np.ndarray = db_ptr, e: np.ndarray = ent
                       ) -> tuple[np.ndarray, np.ndarray]:
            first, second = _pairs(p, r0, r1)
            n1 = e[first]
            keys = base[n1] + (e[second] - n1 - 1).astype(base.dtype)
            return first, keys

        n_pairs = int((lengths * (lengths - 1) // 2).sum())
        # a dense bincount pays for the whole key space; a sort only for the pairs seen
        dense_keys = n_keys <= _MAX_DENSE_KEYS and n_keys <= 4 * n_pairs
        if dense_keys:
            cnt = np.zeros(n_keys, dtype=np.int64)
            for r0, r1 in chunks:
                first, keys = level_keys(r0, r1)
                cnt += np.bincount(keys, minlength=n_keys)
                if keep_pairs:
                    cache.append((first, keys))
                del first, keys
            freq_keys = np.flatnonzero(cnt >= min_count).astype(key_type)
            freq_counts = cnt[freq_keys]
            del cnt
        else:
            uk: list[np.ndarray] = []
            uc: list[np.ndarray] = []
            for r0, r1 in chunks:
                first, keys = level_keys(r0, r1)
                u, c = _run_lengths(np.sort(keys))
                uk.append(u)
                uc.append(c)
                if keep_pairs:
                    cache.append((first, keys))
                del first, keys
            if len(uk) == 1:
                u, c = uk[0], uc[0]
            else:
                u, inv = np.unique(np.concatenate(uk), return_inverse=True)
                c = np.bincount(inv.reshape(-1), weights=np.concatenate(uc)).astype(np.int64)
            good = c >= min_count
            freq_keys, freq_counts = u[good], c[good]
        if freq_keys.size == 0:
            break
        total += freq_keys.size
        if total > max_itemsets:
            raise UpsellMemoryError(
                f"more than `max_itemsets`={max_itemsets:,} frequent itemsets ({total:,} up to "
                f"length {k + 1}); raise `max_itemsets` or use "
                f"{_suggest([*counts, freq_counts], max_itemsets, n)}")
        # the owner of a key is the last node whose key block starts at or before it
        owner = np.searchsorted(pairbase, freq_keys, side="right") - 1
        sib = owner + 1 + (freq_keys - pairbase[owner])
        parents.append(owner.astype(np.int32))
        last.append(last[-1][sib])
        counts.append(freq_counts)
        k += 1
        if (max_len is not None and k >= max_len) or freq_keys.size < 2:
            break
        if int(freq_counts.sum()) > _MAX_DB_ENTRIES:
            raise UpsellMemoryError(
                f"the frequent {k}-itemsets cover {int(freq_counts.sum()):,} basket positions, "
                f"too many to mine longer itemsets in memory; use "
                f"{_suggest(counts, total // 2, n)} or a smaller `max_len`")
        bitmap = _RankBitmap(freq_keys, n_keys)
        new_ptr_parts = []
        new_ent_parts = []
        for i, (r0, r1) in enumerate(chunks):
            first, keys = cache[i] if keep_pairs else level_keys(r0, r1)
            if keep_pairs:
                cache[i] = (first[:0], keys[:0])  # release as we go
            pos, hit = bitmap.find(keys)
            new_ent_parts.append(pos[hit].astype(np.int32))
            new_ptr_parts.append(first[hit])
            del first, keys, pos, hit
        del bitmap, cache
        db_ptr, ent = _rows_from_first(new_ptr_parts, new_ent_parts)
    return done(True)


def _count_pairs(db_ptr: np.ndarray, ent: np.ndarray, f1: int, min_count: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequent pairs (a < b, count) from one blocked sparse product Bᵀ B, sorted by (a, b)."""
    b = sp.csr_matrix((np.ones(ent.size, dtype=np.int32), ent, db_ptr),
                      shape=(db_ptr.size - 1, f1))
    bt = b.T.tocsr()
    block = max(1, _PRODUCT_BLOCK // max(f1, 1))
    pa: list[np.ndarray] = []
    pb: list[np.ndarray] = []
    pc: list[np.ndarray] = []
    for s in range(0, f1, block):
        c = (bt[s:s + block] @ b).tocoo()
        sel = (c.col > c.row + s) & (c.data >= min_count)
        pa.append(c.row[sel].astype(np.int64) + s)
        pb.append(c.col[sel].astype(np.int64))
        pc.append(c.data[sel].astype(np.int64))
        del c, sel
    a2, b2, c2 = np.concatenate(pa), np.concatenate(pb), np.concatenate(pc)
    order = np.argsort(a2 * f1 + b2, kind="stable")
    return a2[order], b2[order], c2[order]


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy >= 2 has it built in; else a byte table)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).astype(np.int64)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
    return table[words.view(np.uint8).reshape(-1, 8)].sum(axis=1)


class _RankBitmap:
    """Membership and rank of integer keys among sorted ``members``, one bit per possible key.

    ``find(keys)`` returns (position of each key in ``members``, whether it is a member)
    with a few gathers on arrays of ``n_keys / 8`` bytes: cache-friendly where a
    binary search over ``members`` is not, and 32 times smaller than an int32 table.
    """

    def __init__(self, members: np.ndarray, n_keys: int) -> None:
        n_words = n_keys // 64 + 1
        words = np.zeros(n_words, dtype=np.uint64)
        m = members.astype(np.int64)
        np.bitwise_or.at(words, m >> 6, np.left_shift(np.uint64(1), (m & 63).astype(np.uint64)))
        cum = np.zeros(n_words, dtype=np.int64)
        np.cumsum(_popcount(words[:-1]), out=cum[1:])
        self.words, self.cum = words, cum

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = keys >> 6
        bit = (keys & 63).astype(np.uint64)
        word = self.words[w]
        hit = ((word >> bit) & np.uint64(1)).astype(bool)
        below = word & (np.left_shift(np.uint64(1), bit) - np.uint64(1))
        return self.cum[w] + _popcount(below), hit


def _run_lengths(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs."""
    if sorted_keys.size == 0:
        return sorted_keys, np.empty(0, dtype=np.int64)
    brk = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    starts = np.concatenate(([0], brk))
    return sorted_keys[starts], np.diff(np.append(starts, sorted_keys.size)).astype(np.int64)


def _rows_from_first(firsts: list[np.ndarray], ents: list[np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Group surviving pairs by their first entry into the next level's database rows."""
    first = np.concatenate(firsts) if firsts else np.empty(0, dtype=np.int64)
    ent = np.concatenate(ents) if ents else np.empty(0, dtype=np.int32)
    if first.size == 0:
        return np.zeros(1, dtype=np.int64), ent
    # first is non-decreasing: a new row starts wherever it changes
    brk = np.flatnonzero(first[1:] != first[:-1]) + 1
    ptr = np.concatenate(([0], brk, [first.size])).astype(np.int64)
    return ptr, ent
