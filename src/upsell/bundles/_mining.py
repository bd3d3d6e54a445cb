"""The itemset miner: exact counts, level-wise, in chunks of bounded size.

Layout of the search (a prefix tree stored level by level):

* A *node* at level ``k`` is a frequent ``k``-itemset, stored as ``parent``
  (its ``(k-1)``-prefix, a node at level ``k - 1``) and ``item`` (its last,
  largest item). Nodes of a level are sorted by ``(parent, item)``, so the
  children of one parent (an Eclat prefix class) are contiguous and every level
  is in lexicographic order.
* The *conditional database* of level ``k`` holds one row per (prefix, basket)
  with the level-``k`` nodes of that prefix class the basket contains (rows with
  fewer than two are dropped). Rows are *class-major*: sorted by prefix, then
  basket. A pair of entries ``a < b`` inside a row is an occurrence of the
  level-``k + 1`` candidate ``(a, b)`` (the Eclat prefix join).
* Entries are put in ``(node, basket)`` order by a stable counting sort on the
  node (a CSR -> CSC transpose in numpy alone: mining never imports scipy). Every entry then owns the *suffix* of its row (the entries
  after it), and the candidates whose first node lies in a range of nodes
  are the pairs of a contiguous run of entries. Such runs are cut into *chunks*
  of at most ``_CHUNK_PAIRS`` pairs; a chunk is counted with one ``bincount``
  over its own small key space (cache-resident; a sort when the key space is
  much larger than the pairs), and its surviving pairs, already in
  ``(node, basket)`` order, are the rows of the next level's database, class-major
  again. Nothing of size "all pairs of a level" is ever materialised: the working
  memory is the current and the next database plus one chunk.

Items are mined in ascending order of count (node ids follow that order while
mining): the most frequent items come last, so the suffixes, and with them the pairs
to enumerate, stay short (8.5 M instead of 20.4 M on FIMI retail at 0.02%). The finished lattice is
re-sorted into item order, which is the order :class:`Lattice` documents.

Per-call Python overhead is a fixed number of numpy calls per chunk, whatever the
number of itemsets in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from upsell.exceptions import UpsellMemoryError

# pairs of entries enumerated per chunk: bounds the working memory at about 30 bytes x this
_CHUNK_PAIRS = 1 << 16
# largest key space counted with a dense bincount in one chunk (8 + 4 bytes per key)
_MAX_DENSE_KEYS = 1 << 19
# entries of the conditional database put in node order at once (about 30 bytes each)
_BLOCK_ENTRIES = 1 << 18
# bits per pass of the radix sort that puts entries in node order (numpy radix-sorts uint16)
_DIGIT_BITS = 16
# largest conditional database kept between levels (int32 entries)
_MAX_DB_ENTRIES = 1 << 28


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


class OverBudget(UpsellMemoryError):
    """More itemsets are frequent than the budget allows; ``counts`` holds those found so far."""

    def __init__(self, message: str, counts: list[np.ndarray]) -> None:
        super().__init__(message)
        self.counts = counts


def _suggest(counts: list[np.ndarray], limit: int, n: int) -> str:
    allc = np.sort(np.concatenate(counts))[::-1]
    need = int(allc[limit]) + 1 if allc.size > limit else int(allc[-1])
    return f"min_support >= {need / n:.6g} (a count of {need})"


def _compress(indptr: np.ndarray, ent: np.ndarray, keep: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Drop entries where ``keep`` is False and rows left with fewer than two entries."""
    lengths = np.diff(indptr)
    filled = lengths > 0
    new_len = np.zeros(lengths.size, dtype=np.int32)
    if keep.size:
        # segments between the starts of non-empty rows are exactly those rows
        new_len[filled] = np.add.reduceat(keep, indptr[:-1][filled], dtype=np.int32)
    long = new_len >= 2
    if not long.all():
        keep &= np.repeat(long, lengths)
    out = np.zeros(int(long.sum()) + 1, dtype=np.int32)
    np.cumsum(new_len[long], out=out[1:])
    return out, np.compress(keep, ent)


def _ranges(start: np.ndarray, length: np.ndarray, total: int) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(start, length)])``; every ``n >= 1``."""
    if total == 0:
        return np.ones(0, dtype=start.dtype)
    run_start = np.zeros(length.size, dtype=np.int64)
    np.cumsum(length[:-1], out=run_start[1:])
    # a repeat of each run's shift plus one arange: numpy's running sum over all of
    # ``total`` (cumsum) is several times slower than either
    out = np.repeat((start - run_start).astype(start.dtype, copy=False), length)
    out += np.arange(total, dtype=start.dtype)
    return out


def _cuts(cum: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive unit ranges whose weight (``cum`` is its running sum from 0) is about ``limit``.

    A range exceeds ``limit`` only when it is a single unit.
    """
    n = cum.size - 1
    out = []
    u0 = 0
    while u0 < n:
        u1 = int(np.searchsorted(cum, cum[u0] + limit, side="right")) - 1
        u1 = min(max(u1, u0 + 1), n)
        out.append((u0, u1))
        u0 = u1
    return out


@dataclass
class _Next:
    """What one level's pass produces: the next level's nodes and (optionally) database."""

    parent: list[np.ndarray]
    sib: list[np.ndarray]
    counts: list[np.ndarray]
    lens: list[np.ndarray]
    ents: list[np.ndarray]
    found: int = 0
    entries: int = 0

    def database(self) -> tuple[np.ndarray, np.ndarray]:
        """The next level's database, assembled while the chunks' parts are released."""
        lens = np.concatenate(self.lens) if self.lens else np.empty(0, dtype=np.int32)
        self.lens.clear()
        ptr = np.zeros(lens.size + 1, dtype=np.int32)
        np.cumsum(lens, out=ptr[1:])
        del lens
        ent = np.empty(int(ptr[-1]), dtype=np.int32)
        at = 0
        self.ents.reverse()
        while self.ents:
            part = self.ents.pop()
            ent[at:at + part.size] = part
            at += part.size
        return ptr, ent


def _level_pass(db_ptr: np.ndarray, ent: np.ndarray, parent: np.ndarray, min_count: int,
                budget: int, build: bool) -> _Next:
    """Count every candidate of the next level, chunk by chunk; keep the frequent ones.

    Stops early (with ``found > budget``) once more than ``budget`` nodes are found.
    """
    n_nodes = parent.size
    # siblings after each node: the width of its block of candidate keys
    change = np.flatnonzero(parent[1:] != parent[:-1]) + 1
    ends = np.concatenate((change, [n_nodes]))
    later = np.repeat(ends, np.diff(np.concatenate(([0], ends)))) - np.arange(n_nodes) - 1
    out = _Next([], [], [], [], [])
    n_rows = db_ptr.size - 1
    # blocks of whole prefix classes (rows are class-major), transposed one at a time
    row_class = parent[ent[db_ptr[:-1]]]
    units = np.concatenate(([0], np.flatnonzero(row_class[1:] != row_class[:-1]) + 1, [n_rows]))
    del row_class
    for u0, u1 in _cuts(db_ptr[units].astype(np.int64), _BLOCK_ENTRIES):
        r0, r1 = int(units[u0]), int(units[u1])
        lo, hi = int(db_ptr[r0]), int(db_ptr[r1])
        block = ent[lo:hi]
        nb0 = int(block.min())
        nb1 = int(block.max()) + 1
        keys = block - np.int32(nb0)
        # entries in (node, basket) order: a stable counting sort by node (rows are
        # contiguous, so ties stay in basket order)
        order = _stable_order(keys, nb1 - nb0).astype(np.int32)
        node_ptr: np.ndarray = np.zeros(nb1 - nb0 + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=nb1 - nb0), out=node_ptr[1:])
        del keys
        # length of the suffix each entry owns in its row: its row's end minus itself
        row_end = np.repeat(db_ptr[r0 + 1:r1 + 1], np.diff(db_ptr[r0:r1 + 1]))
        suffix = np.take(row_end, order)
        del row_end
        pos = order
        pos += np.int32(lo)
        suffix -= pos
        suffix -= 1
        del order
        owns = suffix > 0
        kept = np.zeros(owns.size + 1, dtype=np.int32)
        np.cumsum(owns, out=kept[1:])
        node_ptr = kept[node_ptr]
        pos, suffix = np.compress(owns, pos), np.compress(owns, suffix)
        del owns, kept
        big = int(suffix.sum(dtype=np.int64)) >= 2**31
        cum_pairs = np.zeros(suffix.size + 1, dtype=np.int64 if big else np.int32)
        np.cumsum(suffix, out=cum_pairs[1:])
        node_pairs = cum_pairs[node_ptr]
        width = np.zeros(nb1 - nb0 + 1, dtype=np.int64)
        np.cumsum(later[nb0:nb1], out=width[1:])
        for c0, c1 in _chunks(node_pairs, width):
            q0, q1 = int(node_ptr[c0]), int(node_ptr[c1])
            n_pairs = int(cum_pairs[q1] - cum_pairs[q0])
            if n_pairs == 0:
                continue
            _count_chunk(out, ent, pos[q0:q1], suffix[q0:q1],
                         np.diff(node_pairs[c0:c1 + 1].astype(np.int64)),
                         width[c0:c1 + 1] - width[c0], nb0 + c0, n_pairs, min_count, build)
            if out.found > budget or out.entries > _MAX_DB_ENTRIES:
                return out
    return out


def _chunks(node_pairs: np.ndarray, width: np.ndarray) -> list[tuple[int, int]]:
    """Node ranges with at most ``_CHUNK_PAIRS`` pairs, and a key space a dense count can hold.

    A range whose key space would exceed ``_MAX_DENSE_KEYS`` is cut there, unless that
    leaves it with few pairs: then it is counted by sorting and only the pairs bound it.
    """
    n = node_pairs.size - 1
    out = []
    c0 = 0
    while c0 < n:
        by_pairs = int(np.searchsorted(node_pairs, node_pairs[c0] + _CHUNK_PAIRS, side="right")) - 1
        by_pairs = min(max(by_pairs, c0 + 1), n)
        by_keys = int(np.searchsorted(width, width[c0] + _MAX_DENSE_KEYS, side="right")) - 1
        c1 = by_pairs
        if by_keys < by_pairs and (node_pairs[by_keys] - node_pairs[c0]) * 16 >= _CHUNK_PAIRS:
            c1 = max(by_keys, c0 + 1)
        out.append((c0, c1))
        c0 = c1
    return out


def _count_chunk(out: _Next, ent: np.ndarray, pos: np.ndarray, suffix: np.ndarray,
                 node_pairs: np.ndarray, base: np.ndarray, a0: int, n_pairs: int,
                 min_count: int, build: bool) -> None:
    """Count the candidates ``(a, b)`` of first nodes ``a0 ..`` over their entries' suffixes.

    ``pos`` / ``suffix``: the database positions of the entries, in ``(node, basket)``
    order, and the lengths of their suffixes; ``node_pairs``: pairs of each node;
    ``base``: running sum of the nodes' key widths, so the key of ``(a, b)`` is
    ``base[a - a0] + b - a - 1``.
    """
    n_keys = int(base[-1])
    first = np.arange(a0, a0 + node_pairs.size, dtype=np.int64)
    # one offset per first node, repeated over all its pairs (few, long runs); int64 keys
    # are what bincount counts without a conversion
    keys = np.repeat(base[:-1] - first - 1, node_pairs)
    # the second entries of the pairs: each entry's suffix, a run of consecutive positions,
    # as a repeat of the runs' shifts plus one arange (a running sum over the pairs, as
    # numpy's cumsum, is ~10x slower than either)
    run_start = np.zeros(suffix.size, dtype=np.int64)
    np.cumsum(suffix[:-1], out=run_start[1:])
    second = np.repeat(pos + np.int64(1) - run_start, suffix)
    second += np.arange(n_pairs, dtype=np.int64)
    # np.take and np.compress: much faster than fancy and boolean indexing on 1-d arrays
    keys += np.take(ent, second)
    del second
    good_keys: np.ndarray
    new_id = keys[:0]
    if n_keys <= _MAX_DENSE_KEYS and n_keys <= 16 * n_pairs + 4096:
        cnt = np.bincount(keys, minlength=n_keys)
        good_keys = np.flatnonzero(cnt >= min_count)
        good_counts = cnt[good_keys]
        del cnt
        if build:
            table = np.full(n_keys, -1, dtype=np.int32)
            table[good_keys] = np.arange(out.found, out.found + good_keys.size, dtype=np.int32)
            new_id = np.take(table, keys)
            del table
    else:
        uniq, inverse, cnt = np.unique(keys, return_inverse=True, return_counts=True)
        good = cnt >= min_count
        good_keys, good_counts = uniq[good], cnt[good]
        if build:
            table = np.full(uniq.size, -1, dtype=np.int32)
            table[good] = np.arange(out.found, out.found + good_keys.size, dtype=np.int32)
            new_id = np.take(table, inverse.reshape(-1))
            del table
        del uniq, inverse, cnt, good
    del keys
    if good_keys.size == 0:
        return
    owner = np.searchsorted(base, good_keys, side="right") - 1
    out.parent.append((owner + a0).astype(np.int32))
    out.sib.append((owner + a0 + 1 + (good_keys - base[owner])).astype(np.int32))
    out.counts.append(good_counts.astype(np.int64))
    out.found += int(good_keys.size)
    if not build:
        return
    hit = new_id >= 0
    # survivors per entry: a sum over each entry's run of pairs
    hits = np.add.reduceat(hit, run_start).astype(np.int32)
    new_id = np.compress(hit, new_id)
    del hit
    # rows with a single survivor hold no pair: drop them (cheaper on the survivors)
    hits = hits[hits > 0]
    long = hits >= 2
    if not long.all():
        new_id = np.compress(np.repeat(long, hits), new_id)
        hits = hits[long]
    out.ents.append(new_id)
    out.lens.append(hits)
    out.entries += int(new_id.size)


def _stable_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Positions of ``keys`` (ints in ``[0, n_keys)``) sorted by key, ties in position order.

    A least-significant-digit radix sort on ``_DIGIT_BITS``-bit digits: numpy's
    stable sort of 16-bit integers is a counting (radix) sort, linear in the number
    of keys, so a block of nodes takes one or two passes.
    """
    mask = (1 << _DIGIT_BITS) - 1
    order: np.ndarray | None = None
    for shift in range(0, max(int(n_keys - 1).bit_length(), 1), _DIGIT_BITS):
        part = keys if order is None else np.take(keys, order)
        digit = ((part >> shift) & mask) if shift or n_keys > mask + 1 else part
        step = np.argsort(digit.astype(np.uint16), kind="stable")
        order = step if order is None else np.take(order, step)
    assert order is not None
    return order


def _sort_rows(ptr: np.ndarray, ent: np.ndarray, n_cols: int) -> np.ndarray:
    """``ent`` (distinct within each row) sorted within each row of the CSR structure ``ptr``."""
    keys = np.repeat(np.arange(ptr.size - 1, dtype=np.int64) * n_cols, np.diff(ptr))
    keys += ent
    keys.sort()
    keys %= n_cols
    return keys.astype(np.int32)


def _in_item_order(mined: Lattice) -> Lattice:
    """The lattice mined in another item order, re-sorted lexicographically by item index.

    Each level's itemsets are sorted within and across rows, and each one's parent is
    found among the (already re-sorted) shorter itemsets: ``k`` searchsorted calls.
    """
    m = mined.n_items
    order = np.argsort(mined.last[0], kind="stable")
    parents = [mined.parents[0]]
    last = [mined.last[0][order]]
    counts = [mined.counts[0][order]]
    first = np.full(m, -1, dtype=np.int64)
    first[last[0]] = np.arange(last[0].size)
    keys: list[np.ndarray] = []
    for k in range(2, mined.depth + 1):
        items = mined.level_items(k)
        items.sort(axis=1)
        order = np.lexsort(items.T[::-1])
        items = items[order]
        node = first[items[:, 0]]
        for j in range(2, k):
            node = np.searchsorted(keys[j - 2], node * m + items[:, j - 1])
        parents.append(node.astype(np.int32))
        last.append(np.ascontiguousarray(items[:, -1]))
        counts.append(mined.counts[k - 1][order])
        keys.append(node * m + last[-1])
    return Lattice(n_items=m, n_baskets=mined.n_baskets, min_count=mined.min_count,
                   parents=tuple(parents), last=tuple(last), counts=tuple(counts),
                   item_counts=mined.item_counts, complete=mined.complete)


def auto_count(indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int],
               max_len: int | None, budget: int, floor: int) -> Lattice:
    """Mine at the lowest count (>= ``floor``) whose frequent itemsets of two or more items
    number at most ``budget`` (single items are not counted: see :func:`mine`).

    The number of frequent itemsets never rises with the count, so the lowest count
    within budget is found by search. A probe mines with the budget as its limit, so
    a count that is too low stops as soon as the budget is exceeded (never
    materialising the explosion), and the counts it found prove a lower bound: if
    more than ``budget`` of them reach ``c``, every count up to ``c`` is over budget.
    The search keeps the lowest count known to fit and the highest known to be over
    budget; see :func:`_extrapolate` and the loop for how the next count is chosen.
    The result is the lattice of the probe that fitted at the answer.
    """
    n, m = shape
    item_counts = np.bincount(indices, minlength=m)
    desc = np.sort(item_counts)[::-1]
    lo = max(1, min(floor, n))  # smallest count not known to be over budget
    hi: int | None = None  # lowest count known to fit
    fit: Lattice | None = None
    fits: list[tuple[int, int]] = []  # (count, itemsets) of the probes that fitted
    # first probe: the count of the k-th most frequent item, k^2 / 2 = budget (the pairs of
    # the k most frequent items alone would fill the budget); high counts are cheap to mine
    k = min(desc.size, max(1, math.isqrt(2 * budget)))
    c = max(lo, int(desc[k - 1]) if desc.size else lo)
    while True:
        try:
            lat = mine(indptr, indices, shape, c, max_len, budget, singles_free=True)
        except OverBudget as exc:
            found = np.concatenate(exc.counts) if exc.counts else np.empty(0, dtype=np.int64)
            bound = c + 1
            if found.size > budget:
                bound = max(bound, int(np.partition(found, found.size - budget - 1)
                                       [found.size - budget - 1]) + 1)
            lo = bound
        else:
            hi, fit = c, lat
            fits.append((c, sum(int(x.size) for x in lat.counts[1:])))
        if hi is not None and lo >= hi:
            assert fit is not None
            return fit
        if hi is None:
            c = max(lo, 4 * c)
            continue
        assert fit is not None
        f_hi = dict(fits)[hi]
        if 5 * f_hi >= 4 * budget:
            # close to the budget: one basket fewer is the likely answer's proof
            c = hi - 1
        elif c == hi:
            # just fitted: aim where the curve reaches the budget
            guess = _extrapolate(fit, hi, budget, fits)
            c = guess if guess is not None and lo <= guess < hi else math.isqrt(lo * hi)
        else:
            # just failed: the guess aimed too low; bisect the open range
            c = math.isqrt(lo * hi)
        c = max(lo, min(hi - 1, c))


def _extrapolate(fit: Lattice, hi: int, budget: int, fits: list[tuple[int, int]]) -> int | None:
    """The count where the number of frequent itemsets ``f`` would reach ``budget``.

    The lattice mined at ``hi`` gives ``f(c)`` exactly for every ``c >= hi``; with the
    other probes that fitted, a parabola in ``log f`` against ``log c`` through the
    three lowest of these points (``f`` bends upwards as the count falls, so a straight
    line would aim too low) is continued below ``hi`` to where ``f = budget``. The
    guess is rounded up, so it tends to fit; None when the points do not allow one.
    """
    multi = fit.counts[1:]  # the budget counts itemsets of two or more items
    counts = np.sort(np.concatenate(multi)) if multi else np.empty(0, np.int64)
    points = {c: f for c, f in fits if c >= hi}
    for c in (math.ceil(hi * 1.25), math.ceil(hi * 1.5), 2 * hi):
        points.setdefault(c, counts.size - int(np.searchsorted(counts, c)))
    low = sorted((c, f) for c, f in points.items() if f > 0)[:3]
    if len(low) < 3 or low[0][1] >= budget or not low[0][1] > low[1][1] > low[2][1]:
        return None
    x = np.log([c for c, _ in low])
    y = np.log([f for _, f in low])
    a2, a1, a0 = np.polyfit(x, y, 2)
    target = math.log(budget)
    # the root of a2 x^2 + a1 x + a0 = target below x[0] on the falling branch
    disc = a1 * a1 - 4 * a2 * (a0 - target)
    if abs(a2) < 1e-12:
        root = (target - a0) / a1 if a1 < 0 else None
    elif disc < 0:
        root = None
    else:
        roots = [(-a1 - math.sqrt(disc)) / (2 * a2), (-a1 + math.sqrt(disc)) / (2 * a2)]
        below = [r for r in roots if r < x[0] and 2 * a2 * r + a1 < 0]
        root = max(below) if below else None
    if root is None or not math.isfinite(root):
        return None
    return math.ceil(math.exp(root))


def mine(indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int], min_count: int,
         max_len: int | None, max_itemsets: int, *, singles_free: bool = False) -> Lattice:
    """Mine every itemset of ``min_count`` or more baskets from a binary CSR structure.

    ``indices`` must be sorted within rows and free of duplicates. ``max_itemsets``
    bounds the itemsets found; with ``singles_free`` only those of two or more items
    (single items cost one count each, whatever the support, and a shop with many items
    would otherwise spend the budget on them and find no pair).
    """
    n, m = shape
    item_counts = np.bincount(indices, minlength=m).astype(np.int64, copy=False)
    freq = np.flatnonzero(item_counts >= min_count).astype(np.int32)
    # mine with items in ascending order of count: the most frequent items come last, so
    # the rows of the conditional databases (the items after a prefix) stay short
    freq = freq[np.argsort(item_counts[freq], kind="stable")]
    parents = [np.full(freq.size, -1, dtype=np.int32)]
    last = [freq]
    counts = [item_counts[freq]]
    total = int(freq.size)
    spent = 0 if singles_free else total  # what counts against max_itemsets
    if spent > max_itemsets:
        raise OverBudget(
            f"{total:,} single items are frequent, more than `max_itemsets`={max_itemsets:,}; "
            f"raise `max_itemsets` or use {_suggest(counts, max_itemsets, n)}", counts)

    def done() -> Lattice:
        mined = Lattice(n_items=m, n_baskets=n, min_count=min_count, parents=tuple(parents),
                        last=tuple(last), counts=tuple(counts), item_counts=item_counts,
                        complete=True)
        return _in_item_order(mined)

    if (max_len is not None and max_len < 2) or freq.size < 2:
        return done()
    # level-1 database: baskets restricted to frequent items, entries = level-1 node ids
    node_of = np.full(m, -1, dtype=np.int32)
    node_of[freq] = np.arange(freq.size, dtype=np.int32)
    keep = np.take(node_of >= 0, indices)
    db_ptr, ent = _compress(indptr, indices, keep)
    del keep
    ent = _sort_rows(db_ptr, np.take(node_of, ent), int(freq.size))
    del node_of
    k = 1
    while ent.size and (max_len is None or k < max_len):
        build = max_len is None or k + 1 < max_len
        nxt = _level_pass(db_ptr, ent, parents[-1], min_count, max_itemsets - spent, build)
        del db_ptr, ent
        if nxt.found == 0:
            break
        level_counts = np.concatenate(nxt.counts)
        total += nxt.found
        spent += nxt.found
        if spent > max_itemsets:
            budgeted = [*counts, level_counts][1 if singles_free else 0:]
            what = "of two or more items " if singles_free else ""
            raise OverBudget(
                f"more than `max_itemsets`={max_itemsets:,} frequent itemsets {what}({spent:,} "
                f"up to length {k + 1}); raise `max_itemsets` or use "
                f"{_suggest(budgeted, max_itemsets, n)}", budgeted)
        parents.append(np.concatenate(nxt.parent))
        last.append(last[-1][np.concatenate(nxt.sib)])
        counts.append(level_counts)
        k += 1
        if not build:
            break
        if nxt.entries > _MAX_DB_ENTRIES:
            raise OverBudget(
                f"the frequent {k}-itemsets cover more than {_MAX_DB_ENTRIES:,} basket "
                f"positions, too many to mine longer itemsets in memory; use "
                f"{_suggest(counts, total // 2, n)} or `max_len`={k}", [])
        db_ptr, ent = nxt.database()
    return done()
