"""Upgrade ladders from a catalog: tiers inside families, value packs, plans, high-end alternatives.

A *ladder* is one product family with its items ordered by tier. Four kinds of
offer hang off an item (the *base*):

``upgrade``
    A higher tier of the same family.
``value_pack``
    The same product in a larger pack at a lower unit price.
``plan``
    A subscription or loyalty plan (``kind == "subscription"``) whose
    ``attaches_to`` names the base's family or category.
``alternative``
    A high-end alternative: same category, another family, a higher tier and a
    higher price (the ``max_alternatives`` cheapest such items per base).

The result is a frozen :class:`Ladders` holding one edge list (base -> target,
kind) sorted by base, plus the effective tier of every item and whether it was
inferred from price bands.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from upsell._display import TableResult
from upsell._validation import check_float, check_int
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError
from upsell.tiers._kinds import EDGE_KINDS

__all__ = ["EDGE_KINDS", "Ladders", "LogGain", "ValueFunction", "build_ladders"]

# items of these kinds never stand on a tier ladder themselves
_OFF_LADDER = ("value_pack", "subscription", "warranty", "bundle")
# words dropped from names when matching a value pack to its single item
_PACK_WORDS = frozenset({"pack", "packs", "value", "multipack", "multi", "bulk", "of", "x",
                         "pcs", "pc", "ct", "count", "pk"})
_PACK_TOKEN = re.compile(r"^(\d+([.,]\d+)?(x|pcs|pc|ct|pk|pack)?|x\d+)$")


@dataclass(frozen=True, slots=True)
class Ladders(TableResult):
    """Upgrade structure of a catalog: per-item tiers and an edge list of offers.

    ``to_pandas()`` gives one row per edge: base, target, kind, and the family,
    tier and inferred flag of each end; ``plot()`` draws the offers per kind
    (:func:`upsell.tiers.plots.plot_ladders`).

    Edges of base item ``i`` are positions ``indptr[i]:indptr[i + 1]`` of
    ``target`` and ``kind``; inside a base they are sorted by kind code, then
    target tier, then target price.

    Attributes
    ----------
    items : IdIndex
        The catalog's items.
    family : ndarray of str
        Ladder family of each item ("" when the item stands on no ladder).
    tier : ndarray of float64
        Effective tier (explicit or inferred); NaN off ladders.
    inferred : ndarray of bool
        True where the tier was missing in the catalog and inferred from price bands.
    indptr : ndarray of int64, shape (n_items + 1,)
    target : ndarray of int32
        Target item index of each edge.
    kind : ndarray of int8
        Index into :data:`EDGE_KINDS` of each edge.

    Examples
    --------
    >>> cat = Catalog.from_records([
    ...     {"item": "s", "family": "tv", "tier": 1, "price": 300.0},
    ...     {"item": "m", "family": "tv", "tier": 2, "price": 450.0},
    ...     {"item": "l", "family": "tv", "tier": 3, "price": 700.0},
    ... ])
    >>> lad = build_ladders(cat)
    >>> lad.offers("s")
    [('m', 'upgrade'), ('l', 'upgrade')]
    >>> bool(lad.inferred.any())
    False
    >>> cat2 = Catalog.from_arrays(item=["a", "b"], family=["f", "f"], price=[1.0, 3.0])
    >>> build_ladders(cat2).to_pandas()[["base", "target", "kind", "target_inferred"]]
      base target     kind  target_inferred
    0    a      b  upgrade             True
    """

    items: IdIndex
    family: np.ndarray
    tier: np.ndarray
    inferred: np.ndarray
    indptr: np.ndarray
    target: np.ndarray
    kind: np.ndarray

    _title: ClassVar[str] = "Ladders"
    _plot_function: ClassVar[str] = "upsell.tiers.plots:plot_ladders"

    def __len__(self) -> int:
        return int(self.target.size)

    @property
    def source(self) -> np.ndarray:
        """Base item index of each edge (int32)."""
        return np.repeat(np.arange(len(self.items), dtype=np.int32), np.diff(self.indptr))

    def offers(self, item: Any, kind: str | None = None) -> list[tuple[Any, str]]:
        """The (target id, kind) offers hanging off one item, in edge order.

        Parameters
        ----------
        item : item id
        kind : {"upgrade", "value_pack", "plan", "alternative"}, optional
            Only edges of this kind.

        Examples
        --------
        >>> cat = Catalog.from_arrays(item=["a", "b"], family=["f", "f"], tier=[1, 2])
        >>> build_ladders(cat).offers("b")
        []
        """
        i = self.items.index(item)
        sl = slice(int(self.indptr[i]), int(self.indptr[i + 1]))
        out = [(self.items.ids[t].item(), EDGE_KINDS[k])
               for t, k in zip(self.target[sl].tolist(), self.kind[sl].tolist(), strict=True)]
        if kind is not None:
            if kind not in EDGE_KINDS:
                raise UpsellDataError(
                    f"`kind` must be one of {', '.join(map(repr, EDGE_KINDS))}; got {kind!r}")
            out = [o for o in out if o[1] == kind]
        return out

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        # the frame has both ends' family, tier and inference; a notebook shows tiers only
        cut = slice(None) if rows is None else slice(rows.start, rows.stop)
        src, tgt = self.source[cut], self.target[cut]
        ids = self.items.ids
        cols = {"base": ids[src], "target": ids[tgt],
                "kind": np.asarray(EDGE_KINDS)[self.kind[cut]]}
        if rows is not None:
            return {**cols, "base_tier": self.tier[src], "target_tier": self.tier[tgt]}
        return {**cols, "base_family": self.family[src], "target_family": self.family[tgt],
                "base_tier": self.tier[src], "target_tier": self.tier[tgt],
                "base_inferred": self.inferred[src], "target_inferred": self.inferred[tgt]}

    def _summary(self) -> str:
        counts = np.bincount(self.kind, minlength=len(EDGE_KINDS))
        return (f"{len(self.items):,} items, {int(self.inferred.sum()):,} inferred tiers; "
                "offers: " + ", ".join(f"{k} {int(n):,}"
                                       for k, n in zip(EDGE_KINDS, counts, strict=True)))


def build_ladders(catalog: Catalog, *, band_ratio: float = 1.15,
                  max_alternatives: int = 3) -> Ladders:
    """Derive upgrade ladders, value packs, plans and high-end alternatives from a catalog.

    Parameters
    ----------
    catalog : Catalog
    band_ratio : float, default 1.15
        Tier inference: inside a family whose tiers are all missing, items sorted by
        price start a new tier when their price exceeds the previous item's by more
        than this ratio (items within the band share a tier). In a family where only
        some tiers are missing, a missing tier takes the tier of the explicit item
        nearest in log price. Inferred tiers are flagged in ``Ladders.inferred``.
    max_alternatives : int, default 3
        High-end alternatives kept per base item (the cheapest qualifying ones).

    Returns
    -------
    Ladders

    Raises
    ------
    UpsellDataError
        For a non-Catalog input or parameters out of range.

    Notes
    -----
    Ladder members are items with a family whose kind is not value pack,
    subscription, warranty or bundle. A value pack links to its single item through
    the ``pack_of`` attribute when the catalog has one; otherwise to the items of
    the same family (category when the pack has no family) with a smaller
    ``pack_size`` whose name has the same *stem*: lower case, punctuation removed,
    numbers, counts (``6x``, ``x6``, ``12pcs``) and the words pack, value, multipack,
    bulk, of dropped. A pack whose unit price (price / pack_size) is not below the
    single's is no value pack and gets no edge (unknown prices keep the edge).

    Examples
    --------
    >>> cat = Catalog.from_records([
    ...     {"item": "b1", "family": "brew", "price": 80.0, "category": "coffee"},
    ...     {"item": "b2", "family": "brew", "price": 150.0, "category": "coffee"},
    ...     {"item": "pods", "family": "pods", "price": 5.0, "category": "pods"},
    ...     {"item": "pods6", "family": "pods", "price": 24.0, "pack_size": 6,
    ...      "kind": "value_pack", "name": "pods 6-pack", "category": "pods"},
    ...     {"item": "club", "kind": "subscription", "attaches_to": "coffee", "price": 9.0},
    ... ])
    >>> lad = build_ladders(cat)
    >>> lad.tier.tolist(), lad.inferred.tolist()
    ([1.0, 2.0, nan, 1.0, nan], [True, True, False, True, False])
    >>> lad.offers("b1"), lad.offers("pods")
    ([('b2', 'upgrade'), ('club', 'plan')], [('pods6', 'value_pack')])
    """
    if not isinstance(catalog, Catalog):
        raise UpsellDataError(f"`catalog` must be a Catalog; got {type(catalog).__name__}")
    band_ratio = check_float(band_ratio, "band_ratio", low=1.0, low_open=True)
    max_alternatives = check_int(max_alternatives, "max_alternatives", minimum=0)
    n = len(catalog)
    kind = catalog.kind
    price = catalog.price
    member = (np.char.str_len(catalog.family) > 0) & ~np.isin(kind, _OFF_LADDER)
    family = np.where(member, catalog.family, "")
    tier, inferred = _tiers(family, catalog.tier, price, member, band_ratio)
    on = member & ~np.isnan(tier)
    family = np.where(on, family, "")
    src_parts: list[np.ndarray] = []
    tgt_parts: list[np.ndarray] = []
    kind_parts: list[np.ndarray] = []

    def add(s: np.ndarray, t: np.ndarray, code: int) -> None:
        src_parts.append(s.astype(np.int64))
        tgt_parts.append(t.astype(np.int64))
        kind_parts.append(np.full(s.size, code, dtype=np.int8))

    add(*_upgrade_edges(family, tier, price, on), 0)
    add(*_pack_edges(catalog), 1)
    add(*_plan_edges(catalog), 2)
    if max_alternatives:
        add(*_alternative_edges(catalog.category, family, tier, price, on, max_alternatives), 3)
    src = np.concatenate(src_parts)
    tgt = np.concatenate(tgt_parts)
    knd = np.concatenate(kind_parts)
    if src.size:
        key = np.unique(np.stack([src, tgt]), axis=1, return_index=True)[1]
        src, tgt, knd = src[key], tgt[key], knd[key]   # an item pair keeps its first kind
    t_tier = np.where(np.isnan(tier[tgt]), np.inf, tier[tgt])
    t_price = np.where(np.isnan(price[tgt]), np.inf, price[tgt])
    order = np.lexsort((tgt, t_price, t_tier, knd, src))
    src, tgt, knd = src[order], tgt[order], knd[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    out = Ladders(items=catalog.items, family=family.astype(str), tier=tier,
                  inferred=inferred, indptr=indptr, target=tgt.astype(np.int32),
                  kind=knd.astype(np.int8))
    for a in (out.family, out.tier, out.inferred, out.indptr, out.target, out.kind):
        a.flags.writeable = False
    return out


# ---------------------------------------------------------------------- value
@runtime_checkable
class ValueFunction(Protocol):
    """How much an upgrade adds: any callable with this signature plugs in.

    Called once per fit with every candidate pair at once.

    Parameters
    ----------
    base, target : ndarray of float64, shape (n_pairs, n_features)
        Feature values of the base and target items (NaN where unknown).
    features : tuple of str
        Feature column names, in column order.

    Returns
    -------
    ndarray of float64, shape (n_pairs,)
        Value gained by moving from base to target: > 0 adds value, <= 0 adds
        nothing (such offers are never made), NaN when it cannot be judged.

    Examples
    --------
    >>> isinstance(LogGain(), ValueFunction)
    True
    """

    def __call__(self, base: np.ndarray, target: np.ndarray,
                 features: tuple[str, ...]) -> np.ndarray: ...


class LogGain:
    """Default value function: weighted sum of log2 feature ratios, target over base.

    A doubled storage adds 1, a 50% better quality score adds 0.58; a feature
    that gets worse subtracts. Only features known (finite, > 0) for both items
    count; a pair with none is NaN (cannot be judged).

    Parameters
    ----------
    weights : mapping of str to float, optional
        Weight per feature (default 1 each; features not in the mapping weigh 1).
        A negative weight means lower is better (weight, power draw); 0 ignores it.

    Examples
    --------
    >>> f = LogGain({"weight_kg": -1.0})
    >>> base = np.array([[64.0, 2.0], [64.0, 2.0]])
    >>> target = np.array([[128.0, 2.0], [64.0, 2.0]])
    >>> f(base, target, ("storage_gb", "weight_kg")).tolist()
    [1.0, 0.0]
    """

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or {})

    def __repr__(self) -> str:
        return f"LogGain({self.weights!r})" if self.weights else "LogGain()"

    def __call__(self, base: np.ndarray, target: np.ndarray,
                 features: Sequence[str]) -> np.ndarray:
        w = np.array([float(self.weights.get(f, 1.0)) for f in features], dtype=np.float64)
        ok = (np.isfinite(base) & np.isfinite(target) & (base > 0) & (target > 0)
              & (w[None, :] != 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.where(ok, np.log2(np.where(ok, target, 1.0) / np.where(ok, base, 1.0)), 0.0)
        out = (lr * w[None, :]).sum(axis=1)
        return np.where(ok.any(axis=1), out, np.nan)


# ---------------------------------------------------------------------- tiers
def _tiers(family: np.ndarray, given: np.ndarray, price: np.ndarray, member: np.ndarray,
           band_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    tier = np.where(member, given, np.nan)
    missing = member & np.isnan(given)
    inferred = np.zeros(tier.size, dtype=bool)
    if not missing.any():
        return tier, inferred
    fam_codes = np.unique(family[member], return_inverse=True)[1]
    fam = np.full(tier.size, -1, dtype=np.int64)
    fam[member] = fam_codes
    n_fam = int(fam.max()) + 1
    has_missing = np.bincount(fam[missing], minlength=n_fam) > 0
    has_given = np.bincount(fam[member & ~missing], minlength=n_fam) > 0
    # families with no tier at all: price bands, vectorised across families
    all_missing = missing & ~has_given[np.maximum(fam, 0)] & ~np.isnan(price)
    idx = np.flatnonzero(all_missing)
    if idx.size:
        idx = idx[np.lexsort((price[idx], fam[idx]))]
        f, p = fam[idx], price[idx]
        first = np.r_[True, f[1:] != f[:-1]]
        jump = np.r_[False, p[1:] > p[:-1] * band_ratio] & ~first
        band = np.cumsum(jump | first)
        start_band = np.maximum.accumulate(np.where(first, band, 0))
        tier[idx] = band - start_band + 1
        inferred[idx] = True
    # families with some tiers: nearest explicit tier in log price
    for f_code in np.flatnonzero(has_missing & has_given):
        rows = np.flatnonzero(fam == f_code)
        known = rows[~missing[rows] & ~np.isnan(price[rows]) & (price[rows] > 0)]
        todo = rows[missing[rows] & ~np.isnan(price[rows]) & (price[rows] > 0)]
        if not known.size or not todo.size:
            continue
        d = np.abs(np.log(price[todo])[:, None] - np.log(price[known])[None, :])
        tier[todo] = given[known[np.argmin(d, axis=1)]]
        inferred[todo] = True
    return tier, inferred


# ---------------------------------------------------------------------- edges
def _upgrade_edges(family: np.ndarray, tier: np.ndarray, price: np.ndarray,
                   on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.flatnonzero(on)
    if not idx.size:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    idx = idx[np.lexsort((price[idx], tier[idx], family[idx]))]
    f = family[idx]
    first = np.r_[True, f[1:] != f[:-1]]
    start = np.flatnonzero(first)
    end = np.r_[start[1:], idx.size]
    grp = np.cumsum(first) - 1
    pos = np.arange(idx.size)
    count = end[grp] - pos - 1                # later members of the same family
    src_pos = np.repeat(pos, count)
    offs = np.arange(src_pos.size) - np.repeat(np.cumsum(count) - count, count)
    tgt_pos = src_pos + 1 + offs
    s, t = idx[src_pos], idx[tgt_pos]
    keep = tier[t] > tier[s]
    return s[keep], t[keep]


def _stem(name: str) -> str:
    words = re.sub(r"[^0-9a-z]+", " ", name.lower()).split()
    return " ".join(w for w in words if w not in _PACK_WORDS and not _PACK_TOKEN.match(w))


def _pack_edges(cat: Catalog) -> tuple[np.ndarray, np.ndarray]:
    kind, size, price = cat.kind, cat.pack_size, cat.price
    packs = np.flatnonzero((kind == "value_pack") | (size > 1))
    if not packs.size:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    linked = np.full(packs.size, -1, dtype=np.int64)
    if "pack_of" in cat.attributes:
        ref = cat.attributes["pack_of"][packs]
        has = np.char.str_len(np.char.strip(ref)) > 0
        if has.any():
            ids = np.char.strip(ref[has])
            if cat.items.kind == "int":
                ok = np.char.isdigit(ids)
                codes = np.full(ids.size, -1, dtype=np.int64)
                codes[ok] = cat.items.encode(ids[ok].astype(np.int64), unknown="mask")
            else:
                codes = cat.items.encode(ids, unknown="mask").astype(np.int64)
            linked[has] = codes
    src: list[int] = []
    tgt: list[int] = []
    group = np.where(np.char.str_len(cat.family) > 0, np.char.add("f:", cat.family),
                     np.char.add("c:", cat.category))
    stems: dict[int, str] = {}
    for p, single in zip(packs.tolist(), linked.tolist(), strict=True):
        if single >= 0:
            cands = [single] if single != p else []
        else:
            same = np.flatnonzero((group == group[p]) & (size < size[p]))
            sp = stems.setdefault(p, _stem(str(cat.name[p])))
            cands = [int(c) for c in same.tolist()
                     if stems.setdefault(int(c), _stem(str(cat.name[c]))) == sp and sp]
        for c in cands:
            if size[c] >= size[p]:
                continue
            unit_p, unit_c = price[p] / size[p], price[c] / size[c]
            if unit_p < unit_c or np.isnan(unit_p) or np.isnan(unit_c):
                src.append(c)
                tgt.append(p)
    return np.asarray(src, dtype=np.int64), np.asarray(tgt, dtype=np.int64)


def _plan_edges(cat: Catalog) -> tuple[np.ndarray, np.ndarray]:
    plans = np.flatnonzero((cat.kind == "subscription")
                           & (np.char.str_len(cat.attaches_to) > 0))
    if not plans.size:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    n = len(cat)
    # one code space for family names, category names and plan targets: a plan joins
    # the items whose family or category code equals its target's code
    _, code = np.unique(np.concatenate([cat.family, cat.category, cat.attaches_to[plans]]),
                        return_inverse=True)
    code = code.astype(np.int64)
    base = np.flatnonzero(~np.isin(cat.kind, ("subscription", "warranty")))
    n_codes = int(code.max()) + 1
    att = code[2 * n:]
    src: list[np.ndarray] = []
    tgt: list[np.ndarray] = []
    for col in (code[base], code[n + base]):
        order = np.argsort(col, kind="stable")
        ptr = np.zeros(n_codes + 1, dtype=np.int64)
        np.cumsum(np.bincount(col, minlength=n_codes), out=ptr[1:])
        cnt = ptr[att + 1] - ptr[att]
        pos = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(
            ptr[att], cnt)
        src.append(base[order[pos]])
        tgt.append(np.repeat(plans, cnt))
    key = np.unique(np.concatenate(tgt) * n + np.concatenate(src))  # plan by plan, bases sorted
    return key % n, key // n


def _alternative_edges(category: np.ndarray, family: np.ndarray, tier: np.ndarray,
                       price: np.ndarray, on: np.ndarray, max_alt: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    ok = on & (np.char.str_len(category) > 0) & ~np.isnan(price)
    idx = np.flatnonzero(ok)
    src: list[np.ndarray] = []
    tgt: list[np.ndarray] = []
    for c in np.unique(category[idx]).tolist():
        rows = idx[category[idx] == c]
        if rows.size < 2:
            continue
        # candidates sorted by price so the first qualifying ones are the cheapest
        rows = rows[np.argsort(price[rows], kind="stable")]
        good = ((family[rows][None, :] != family[rows][:, None])
                & (tier[rows][None, :] > tier[rows][:, None])
                & (price[rows][None, :] > price[rows][:, None]))
        rank = np.cumsum(good, axis=1)
        good &= rank <= max_alt
        s, t = np.nonzero(good)
        src.append(rows[s])
        tgt.append(rows[t])
    if not src:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(src).astype(np.int64), np.concatenate(tgt).astype(np.int64)
