"""Frequent itemsets: every set of items bought together in at least ``min_support`` of the baskets."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._validation import as_csr, check_choice, check_int, is_sparse, support_count
from upsell.bundles._mining import Lattice, auto_count, mine
from upsell.data.ids import FirstSeen, IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["Itemsets", "frequent_itemsets"]

_KINDS = ("all", "closed", "maximal")


@dataclass(frozen=True, slots=True)
class Itemsets(TableResult):
    """Frequent itemsets with exact counts, stored flat like a CSR matrix.

    Itemset ``i`` is ``item_index[indptr[i]:indptr[i + 1]]`` (sorted item
    indices into ``items``). Itemsets are ordered by length, then
    lexicographically by item index (which is the order of the sorted external
    ids for :class:`~upsell.data.Transactions` input), so the order is the same
    for any row or item order of the input.

    Attributes
    ----------
    items : IdIndex
        The item id map.
    indptr : ndarray of int64, shape (n + 1,)
    item_index : ndarray of int32
        Item indices of every itemset, flat.
    counts : ndarray of int64, shape (n,)
        Number of baskets holding each itemset.
    n_baskets : int
        Number of baskets mined.
    min_count : int
        The effective minimum count, ``ceil(min_support * n_baskets)``.
    kind : {"all", "closed", "maximal"}
        Which frequent itemsets are listed.
    min_support : float
        The effective minimum support, ``min_count / n_baskets``.
    support_chosen : {"given", "auto"}
        Whether ``min_support`` was given or found by ``min_support="auto"``.
    lattice : Lattice
        Every frequent itemset up to the mined length, whatever ``kind`` and
        ``min_len`` list; :func:`~upsell.bundles.association_rules` reads subset
        counts from it.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2, 3], item=["a", "b", "a", "b", "a"])
    >>> fi = frequent_itemsets(tx, min_support=2)
    >>> len(fi), fi.itemset(2), int(fi.counts[2])
    (3, ('a', 'b'), 2)
    >>> fi.to_pandas()["support"].round(3).tolist()
    [1.0, 0.667, 0.667]
    >>> fi.to_pandas().columns.tolist()
    ['items', 'count', 'support', 'length']

    ``to_pandas()`` gives one row per itemset (``items`` as tuples of ids, ``count``,
    ``support``, ``length``); ``plot()`` draws the most frequent itemsets (of 2+ items
    by default) as bars of support (:func:`upsell.bundles.plots.plot_itemsets`).
    """

    _title = "Itemsets"
    _plot_function = "upsell.bundles.plots:plot_itemsets"

    items: IdIndex
    indptr: np.ndarray
    item_index: np.ndarray
    counts: np.ndarray
    n_baskets: int
    min_count: int
    kind: str
    lattice: Lattice = field(repr=False, compare=False)
    min_support: float = float("nan")
    support_chosen: str = "given"

    def __post_init__(self) -> None:
        if self.min_support != self.min_support and self.n_baskets:  # NaN: not given
            object.__setattr__(self, "min_support", self.min_count / self.n_baskets)

    def __len__(self) -> int:
        return int(self.counts.size)

    def __repr__(self) -> str:
        longest = int(self.lengths.max()) if len(self) else 0
        return (f"Itemsets(n={len(self):,}, kind={self.kind!r}, min_count={self.min_count}, "
                f"min_support={self.min_support:.4g} ({self.support_chosen}), "
                f"n_baskets={self.n_baskets:,}, longest={longest})")

    @property
    def lengths(self) -> np.ndarray:
        """Number of items of each itemset (int64)."""
        return np.diff(self.indptr)

    @property
    def support(self) -> np.ndarray:
        """Share of baskets holding each itemset, ``count / n_baskets`` (float64)."""
        return self.counts / self.n_baskets

    def itemset(self, i: int) -> tuple[Any, ...]:
        """External ids of itemset ``i``.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 1], item=["x", "y"])
        >>> frequent_itemsets(tx, min_support=1).itemset(2)
        ('x', 'y')
        """
        lo, hi = int(self.indptr[i]), int(self.indptr[i + 1])
        return tuple(self.items.ids[self.item_index[lo:hi]].tolist())

    def tuples(self) -> list[tuple[Any, ...]]:
        """External ids of every itemset, as a list of tuples.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 1], item=["x", "y"])
        >>> frequent_itemsets(tx, min_support=1).tuples()
        [('x',), ('y',), ('x', 'y')]
        """
        ids = self.items.ids[self.item_index].tolist()
        ptr = self.indptr.tolist()
        return [tuple(ids[ptr[i]:ptr[i + 1]]) for i in range(len(self))]

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        if rows is None:
            return {"items": self.tuples(), "count": self.counts, "support": self.support,
                    "length": self.lengths}
        n = len(rows)
        return {"items": [self.itemset(i) for i in rows], "count": self.counts[:n],
                "support": self.counts[:n] / max(self.n_baskets, 1)}

    def _summary(self) -> str:
        return (f"{len(self):,} {self.kind} itemsets in {self.n_baskets:,} baskets, min count "
                f"{self.min_count:,} (support {self.min_support:.4g}, {self.support_chosen})")


def _reusable(data: Any) -> bool:
    """Whether sparse ``data`` is already CSR as the miner reads it (no copy needed).

    That is: sorted indices without duplicates, and every stored value finite and
    non-zero (anything else goes through :func:`~upsell._validation.as_csr`, which
    drops stored zeros and rejects non-finite values).
    """
    if data.format != "csr" or data.ndim != 2 or not data.has_canonical_format:
        return False
    values = data.data
    return bool(np.isfinite(values).all() and values.all())


def _as_baskets(data: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int], IdIndex]:
    """The input as a binary CSR structure (indptr, indices, shape) and its item id map."""
    if isinstance(data, Transactions):
        indptr, indices = data._basket_structure()
        return indptr, indices, (len(data.orders), len(data.items)), data.items
    if is_sparse(data):
        # the miner only reads the structure: skip the canonicalising copy when it is a no-op
        csr = data if _reusable(data) else as_csr(data, "baskets")
        return (csr.indptr, csr.indices, csr.shape,
                IdIndex(np.arange(csr.shape[1], dtype=np.int64), name="item"))
    if (isinstance(data, (str, bytes, Mapping, np.ndarray)) or hasattr(data, "columns")
            or not isinstance(data, Iterable)):
        raise UpsellDataError(
            f"`baskets` must be Transactions, a scipy sparse orders x items matrix or a list "
            f"of baskets (each a list of item ids); got {type(data).__name__}")
    return _from_lists(data)


_COLLECTIONS = (list, tuple, set, frozenset)
_ADD_BLOCK = 1 << 18


def _from_lists(baskets: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, tuple[int, int], IdIndex]:
    """Baskets given as collections of item ids, as a binary CSR structure.

    Items are indexed in sorted id order (so the result does not depend on the order
    of baskets or of items in them); an item repeated in one basket counts once.
    The item ids are hashed once each (:class:`~upsell.data.ids.FirstSeen`).
    """
    rows = baskets if isinstance(baskets, (list, tuple)) else list(baskets)
    if not set(map(type, rows)) <= set(_COLLECTIONS):
        for pos, basket in enumerate(rows):
            if isinstance(basket, (str, bytes, Mapping)) or not isinstance(basket, Collection):
                raise UpsellDataError(
                    f"`baskets` item {pos} must be a collection of item ids; got "
                    f"{type(basket).__name__} {basket!r:.60}")
    n = len(rows)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    total = int(lengths.sum())
    code_type = np.int32 if total < 2**31 else np.int64
    seen = FirstSeen()
    try:
        codes = seen.codes(chain.from_iterable(rows), total, code_type)
    except TypeError:
        flat = chain.from_iterable(rows)
        at, bad = next((i, item) for i, item in enumerate(flat) if not isinstance(item, Hashable))
        basket = int(np.searchsorted(np.cumsum(lengths), at, side="right"))
        raise UpsellDataError(f"`baskets` item {basket} holds an unhashable item id "
                              f"{bad!r:.60}") from None
    if not set(map(type, chain.from_iterable(rows))).isdisjoint((bool, np.bool_)):
        # True == 1 and False == 0 would have shared a key with those ids
        raise UpsellDataError("`baskets` item ids must be strings or integers; got booleans")
    items, rank = IdIndex.factorize(seen.distinct, name="item")
    idx = seen.recode(codes, rank.astype(code_type), in_place=True)
    del seen
    m = max(len(items), 1)
    # (basket, item) keys sorted: items sorted within each basket, repeats adjacent
    keys = np.repeat(np.arange(n, dtype=np.int64) * m, lengths)
    for start in range(0, total, _ADD_BLOCK):
        # in blocks: adding an int32 array to an int64 one would cast all of it at once
        keys[start:start + _ADD_BLOCK] += idx[start:start + _ADD_BLOCK]
    del codes, idx
    keys.sort()
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    if not first.all():
        keys = keys[first]
        lengths = np.bincount(keys // m, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    keys %= m
    return indptr, keys.astype(np.int32), (n, len(items)), items


#: Budget of ``min_support="auto"`` when ``max_itemsets`` is not given.
AUTO_BUDGET = 100_000
#: Memory guard of an explicit ``min_support`` when ``max_itemsets`` is not given.
GUARD = 5_000_000


def frequent_itemsets(baskets: Any, *, min_support: float | int | str = 0.01, min_len: int = 1,
                      max_len: int | None = None, max_itemsets: int | None = None,
                      kind: str = "all") -> Itemsets:
    """Find every set of items held by at least ``min_support`` of the baskets, with exact counts.

    Parameters
    ----------
    baskets : Transactions, scipy sparse matrix or iterable of baskets
        Orders as baskets (:meth:`Transactions.baskets`); any sparse matrix of shape
        (n_baskets, n_items) whose stored non-zeros mark the items of each row (item
        ids are the column numbers; never densified); or baskets as collections of
        item ids (all strings or all integers), e.g. ``[["milk", "bread"], ["milk"]]``:
        items are then indexed in sorted id order, an item repeated in a basket counts
        once and empty baskets count towards ``n_baskets``. Lists are mined without
        importing scipy.
    min_support : float, int or "auto", default 0.01
        A fraction in (0, 1] of the baskets, or an absolute count >= 1. The
        effective count is ``ceil(min_support * n_baskets)`` (computed without
        floating-point drift: 0.001 of 9,835 baskets is 10). The type decides
        between the two at 1: the int ``1`` is a count (every itemset seen once),
        the float ``1.0`` is 100% (itemsets in every basket); a float above 1 with
        no fractional part (``25.0``) is a count too. ``"auto"``: the lowest
        support whose frequent itemsets of two or more items number at most
        ``max_itemsets``, at a count of at least 2 (an itemset seen in one basket is
        no pattern); see Notes.
    min_len : int, default 1
        Shortest itemset listed. Shorter ones are still mined (rules need them).
    max_len : int, optional
        Longest itemset mined; unlimited by default.
    max_itemsets : int, optional
        With a given ``min_support``: a memory guard, default 5,000,000; stop with
        :class:`~upsell.exceptions.UpsellMemoryError` as soon as more frequent
        itemsets than this are found (about 50 bytes each), naming a support that
        would fit. With ``min_support="auto"``: the budget, default 100,000, of
        itemsets of two or more items (single items cost one count each whatever the
        support; counted, they would spend the budget of a shop with 100,000 items
        before any pair). Both count the frequent itemsets mined up to ``max_len``
        (before ``kind`` and ``min_len`` choose what is listed).
    kind : {"all", "closed", "maximal"}, default "all"
        "closed": only itemsets no superset of which has the same count;
        "maximal": only itemsets no superset of which is frequent. Both are judged
        among the itemsets up to ``max_len``.

    Returns
    -------
    Itemsets
        Ordered by length, then lexicographically by item index;
        ``min_support`` holds the effective support, ``support_chosen`` says
        whether it was given or found.

    Raises
    ------
    UpsellDataError
        For a malformed argument.
    UpsellMemoryError
        When more than ``max_itemsets`` itemsets are frequent, or their basket
        occurrences would not fit in memory; the message names a support that fits.

    Notes
    -----
    The support of an itemset :math:`X` is :math:`s(X) = |\\{t : X \\subseteq t\\}| / N`.
    Mining is level-wise on a prefix tree (Eclat's prefix classes, Zaki 2000):
    level ``k + 1`` is counted by enumerating all pairs of level-``k`` itemsets
    of one prefix class inside each basket (the level's conditional database)
    and ``bincount``-ing them. The pairs are processed in chunks of a bounded
    number of pairs and counters, grouped by their first itemset, so the working
    memory stays near the size of the conditional database whatever the number
    of candidates. Work is proportional to the occurrences of the candidates in
    the data, with a fixed number of numpy calls per chunk.

    A canonical CSR input (sorted indices, no duplicates, every stored value
    finite and non-zero) is read in place; any other sparse input is first
    converted to one, once.

    ``min_support="auto"`` replaces a threshold tuned by hand with a budget. The
    number of frequent itemsets never rises with the support, so the lowest
    support within budget is found by search over counts: each probe mines with
    the budget as its limit and stops as soon as it is exceeded, so a too-low
    support never materialises its explosion; the counts such a probe found
    prove that every support up to the budget-th largest of them is over budget
    too. The first probe is the count of the k-th most frequent item, with
    k^2 / 2 = budget; after a fit the next count is aimed by a parabola through
    log(itemsets) against log(count), after a failure the range is bisected, and
    when a fit is within 80% of the budget one basket fewer is probed next. The
    lattice of the fitting probe is the result (5 to 8 probes on Online Retail,
    FIMI retail and Groceries, each at most about the cost of mining
    ``max_itemsets`` itemsets). The count found is the lowest within budget: one basket fewer
    would exceed it (unless it is the floor of 2).

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 1, 1, 2, 2, 3],
    ...                               item=["milk", "bread", "eggs", "milk", "bread", "milk"])
    >>> fi = frequent_itemsets(tx, min_support=0.5)
    >>> fi.tuples(), fi.counts.tolist()
    ([('bread',), ('milk',), ('bread', 'milk')], [2, 3, 2])
    >>> frequent_itemsets(tx, min_support=2, kind="closed").tuples()
    [('milk',), ('bread', 'milk')]
    >>> frequent_itemsets([["milk", "bread", "eggs"], ["milk", "bread"], ["milk"]],
    ...                   min_support=0.5).tuples()
    [('bread',), ('milk',), ('bread', 'milk')]
    >>> auto = frequent_itemsets(tx, min_support="auto", max_itemsets=1)
    >>> auto.min_count, auto.support_chosen, auto.tuples()
    (2, 'auto', [('bread',), ('milk',), ('bread', 'milk')])
    """
    indptr, indices, (n, m), items = _as_baskets(baskets)
    if n == 0:
        raise UpsellDataError("`baskets` holds no baskets")
    auto = isinstance(min_support, str)
    if auto and min_support != "auto":
        raise UpsellDataError(f"`min_support` must be in (0, 1], a positive count or 'auto'; "
                              f"got {min_support!r}")
    min_count = 0 if auto else support_count(min_support, n)
    min_len = check_int(min_len, "min_len", minimum=1)
    if max_len is not None:
        max_len = check_int(max_len, "max_len", minimum=min_len)
    if max_itemsets is None:
        max_itemsets = AUTO_BUDGET if auto else GUARD
    max_itemsets = check_int(max_itemsets, "max_itemsets", minimum=1)
    kind = check_choice(kind, "kind", _KINDS)
    if auto:
        lat = auto_count(indptr, indices, (n, m), max_len, max_itemsets, floor=2)
    else:
        lat = mine(indptr, indices, (n, m), min_count, max_len, max_itemsets)
    return _from_lattice(lat, items, min_len=min_len, kind=kind,
                         support_chosen="auto" if auto else "given")


def _from_lattice(lat: Lattice, items: IdIndex, *, min_len: int, kind: str,
                  support_chosen: str = "given") -> Itemsets:
    keep = [np.ones(c.size, dtype=bool) for c in lat.counts]
    if kind != "all":
        for k in range(2, lat.depth + 1):
            mat = lat.level_items(k)
            cnt = lat.counts[k - 1]
            for d in range(k):
                sub = np.delete(mat, d, axis=1)
                node = lat.parents[k - 1].astype(np.int64) if d == k - 1 else lat.lookup(sub)
                if kind == "maximal":
                    keep[k - 2][node] = False
                else:
                    same = lat.counts[k - 2][node] == cnt
                    keep[k - 2][node[same]] = False
    mats: list[np.ndarray] = []
    cnts: list[np.ndarray] = []
    for k in range(min_len, lat.depth + 1):
        sel = keep[k - 1]
        mats.append(lat.level_items(k)[sel].reshape(-1))
        cnts.append(lat.counts[k - 1][sel])
    lengths = np.concatenate([np.full(c.size, k, dtype=np.int64)
                              for k, c in zip(range(min_len, lat.depth + 1), cnts, strict=True)]
                             ) if cnts else np.empty(0, dtype=np.int64)
    indptr = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    flat = np.concatenate(mats).astype(np.int32) if mats else np.empty(0, dtype=np.int32)
    counts = np.concatenate(cnts) if cnts else np.empty(0, dtype=np.int64)
    return Itemsets(items=items, indptr=indptr, item_index=flat, counts=counts.astype(np.int64),
                    n_baskets=lat.n_baskets, min_count=lat.min_count, kind=kind, lattice=lat,
                    min_support=lat.min_count / max(lat.n_baskets, 1), support_chosen=support_chosen)
