"""The synthetic shop's catalog: product families, add-ons, prices, names, ids and tastes.

Internal to :mod:`upsell.datasets.synthetic`. The stages below draw from the generator
in a fixed order (structure, product rows, add-on prices, the rest of the columns, id
shuffle, tastes): any change of that order changes every shop a seed gives, which
``tests/datasets/test_synthetic.py`` pins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

_TIER_NAMES = ("Basic", "Plus", "Pro", "Ultra")
_CATEGORY_NAMES = ("Phones", "Laptops", "Audio", "Cameras", "Coffee", "Kitchen", "Garden",
                   "Tools", "Fitness", "Gaming", "Printers", "Home", "Beauty", "Baby", "Pets",
                   "Office")


@dataclass
class Cat:
    """The catalog in generation order (struct positions), with the lookups orders need."""

    catalog: Catalog
    final_pos: np.ndarray        # struct position -> position in catalog.items
    n_fam: int
    fam_tiers: np.ndarray        # tiers per family
    fam_first: np.ndarray        # struct position of tier 1
    fam_cat: np.ndarray          # category of each family
    fam_acc: np.ndarray          # accessory struct position
    fam_refill: np.ndarray       # refill position or -1
    fam_pack: np.ndarray         # value pack position or -1
    fam_warranty: np.ndarray     # warranty position or -1
    fam_bundle: np.ndarray       # bundle position or -1
    fam_dud_tier: np.ndarray     # tier whose features equal the tier below, or 0
    cat_sub: np.ndarray          # subscription position per category
    list_price: np.ndarray       # by struct position
    kind_code: np.ndarray        # 0 product, 1 accessory, 2 other (warranty, sub, bundle, pack)
    exclusive: np.ndarray        # struct positions of exclusive items
    taste: np.ndarray            # (K, n_items) by struct position, filler distribution
    fam_taste: np.ndarray        # (K, n_fam)
    adds_value: np.ndarray       # by struct position
    family_labels: np.ndarray


@dataclass
class _Layout:
    """Families and where each kind of item sits among the struct positions."""

    n_items: int
    n_fam: int
    n_cat: int
    n_prod: int
    n_misc: int
    tiers: np.ndarray
    has_refill: np.ndarray
    has_pack: np.ndarray
    has_warranty: np.ndarray
    has_bundle: np.ndarray
    fam_cat: np.ndarray
    offs: dict[str, int]
    fam_first: np.ndarray
    fam_acc: np.ndarray
    fam_refill: np.ndarray
    fam_pack: np.ndarray
    fam_warranty: np.ndarray
    fam_bundle: np.ndarray
    cat_sub: np.ndarray


@dataclass
class _Products:
    """The tiered product rows (in family order) and the per-family base prices."""

    p_fam: np.ndarray
    p_tier: np.ndarray
    p_price: np.ndarray
    p_cost: np.ndarray
    quality: np.ndarray
    storage: np.ndarray
    p_excl: np.ndarray
    base: np.ndarray
    ratio: np.ndarray
    fam_dud_tier: np.ndarray
    dud_rows: np.ndarray


@dataclass
class _Columns:
    """Catalog columns by struct position, before names and the id shuffle."""

    price: np.ndarray
    cost: np.ndarray
    tier: np.ndarray
    fam_of: np.ndarray           # family label index ("" when -1)
    attach: np.ndarray           # attaches_to family, or -2 - category
    kind: np.ndarray
    packs: np.ndarray
    excl: np.ndarray
    qual: np.ndarray
    stor: np.ndarray
    cat_of: np.ndarray
    suffix: np.ndarray
    stock: np.ndarray
    pack_size: np.ndarray


def make_catalog(rng: np.random.Generator, n_items: int, n_clusters: int) -> Cat:
    """Draw the catalog of ``n_items`` items and the tastes of ``n_clusters`` clusters."""
    lay = _layout(rng, n_items)
    prod = _products(rng, lay)
    cols = _columns(rng, lay, prod)
    cat_names, fam_names, family, attaches_to, name = _names(lay, cols)
    # ids: shuffle so ids carry no structure
    n = n_items
    perm = rng.permutation(n)                 # final position -> struct position
    final_pos = np.empty(n, dtype=np.int64)
    final_pos[perm] = np.arange(n)
    idw = max(5, len(str(n)))
    ids = np.char.add("I", np.char.zfill(np.arange(1, n + 1).astype(str), idw))
    pack_of = np.full(n, "", dtype=ids.dtype)
    r = lay.has_pack
    pack_of[lay.fam_pack[r]] = ids[final_pos[lay.fam_refill[r]]]
    catalog = Catalog(
        IdIndex(ids, name="item"),
        name=name[perm], category=cat_names[cols.cat_of][perm], family=family[perm],
        tier=cols.tier[perm], price=cols.price[perm], cost=cols.cost[perm],
        stock=cols.stock[perm], kind=cols.kind[perm], pack_size=cols.packs[perm],
        exclusive=cols.excl[perm], attaches_to=attaches_to[perm], quality=cols.qual[perm],
        storage_gb=cols.stor[perm], pack_of=pack_of[perm],
    )
    taste, fam_taste = _tastes(rng, lay, cols, n_clusters)
    kind = cols.kind
    kind_code = np.where(kind == "product", 0, np.where(kind == "accessory", 1, 2))
    adds_value = np.ones(n, dtype=bool)
    adds_value[lay.offs["product"] + prod.dud_rows] = False
    return Cat(
        catalog=catalog, final_pos=final_pos, n_fam=lay.n_fam, fam_tiers=lay.tiers,
        fam_first=lay.fam_first, fam_cat=lay.fam_cat, fam_acc=lay.fam_acc,
        fam_refill=lay.fam_refill, fam_pack=lay.fam_pack, fam_warranty=lay.fam_warranty,
        fam_bundle=lay.fam_bundle, fam_dud_tier=prod.fam_dud_tier, cat_sub=lay.cat_sub,
        list_price=cols.price, kind_code=kind_code,
        exclusive=np.flatnonzero(cols.excl & (kind == "product")), taste=taste,
        fam_taste=fam_taste, adds_value=adds_value, family_labels=fam_names,
    )


def _layout(rng: np.random.Generator, n_items: int) -> _Layout:
    """Family structure: tiers, accessory, refill (+ value pack), warranty, bundle."""
    budget = int(0.72 * n_items)
    f_max = max(budget // 3, 4)
    tiers = rng.choice(np.array([2, 3, 4]), size=f_max, p=[0.3, 0.4, 0.3])
    has_refill = rng.random(f_max) < 0.6
    has_pack = has_refill & (rng.random(f_max) < 0.8)
    has_warranty = rng.random(f_max) < 0.8
    has_bundle = rng.random(f_max) < 0.3
    size = tiers + 1 + has_refill + has_pack + has_warranty + has_bundle
    n_fam = max(int(np.searchsorted(np.cumsum(size), budget, side="right")), 2)
    tiers, has_refill, has_pack = tiers[:n_fam], has_refill[:n_fam], has_pack[:n_fam]
    has_warranty, has_bundle = has_warranty[:n_fam], has_bundle[:n_fam]
    n_cat = int(min(max(2, round(n_fam / 6)), n_fam))
    fam_cat = np.sort(rng.integers(0, n_cat, size=n_fam))
    fam_cat[:n_cat] = np.arange(n_cat)  # every category has a family
    fam_cat = np.sort(fam_cat)
    n_prod = int(tiers.sum())
    counts = {"product": n_prod, "accessory": n_fam, "refill": int(has_refill.sum()),
              "pack": int(has_pack.sum()), "warranty": int(has_warranty.sum()),
              "bundle": int(has_bundle.sum()), "subscription": n_cat}
    n_misc = n_items - sum(counts.values())
    if n_misc < 0:
        raise UpsellDataError(f"`n_items` {n_items} is too small for the catalog structure")
    counts["misc"] = n_misc
    offs: dict[str, int] = {}
    pos = 0
    for k, v in counts.items():
        offs[k] = pos
        pos += v

    def positions(kind: str, mask: np.ndarray) -> np.ndarray:
        out = np.full(n_fam, -1, dtype=np.int64)
        out[mask] = offs[kind] + np.arange(int(mask.sum()))
        return out

    everyone = np.ones(n_fam, dtype=bool)
    return _Layout(
        n_items=n_items, n_fam=n_fam, n_cat=n_cat, n_prod=n_prod, n_misc=n_misc, tiers=tiers,
        has_refill=has_refill, has_pack=has_pack, has_warranty=has_warranty,
        has_bundle=has_bundle, fam_cat=fam_cat, offs=offs,
        fam_first=offs["product"] + np.r_[0, np.cumsum(tiers)[:-1]],
        fam_acc=positions("accessory", everyone), fam_refill=positions("refill", has_refill),
        fam_pack=positions("pack", has_pack), fam_warranty=positions("warranty", has_warranty),
        fam_bundle=positions("bundle", has_bundle),
        cat_sub=offs["subscription"] + np.arange(n_cat),
    )


def _products(rng: np.random.Generator, lay: _Layout) -> _Products:
    """The tiered product rows: prices rising by tier, features, exclusives, dud tiers."""
    n_fam, n_prod, tiers, fam_first = lay.n_fam, lay.n_prod, lay.tiers, lay.fam_first
    p_fam = np.repeat(np.arange(n_fam), tiers)
    p_tier = np.arange(n_prod) - np.repeat(fam_first - lay.offs["product"], tiers) + 1
    base = np.exp(rng.normal(math.log(80.0), 0.7, size=n_fam))
    ratio = rng.uniform(1.25, 1.7, size=n_fam)
    p_price = base[p_fam] * ratio[p_fam] ** (p_tier - 1)
    p_cost = p_price * (0.74 - 0.05 * (p_tier - 1) + rng.uniform(-0.03, 0.03, n_prod))
    q0 = rng.uniform(2.0, 4.0, size=n_fam)
    quality = np.round(q0[p_fam] + 2.0 * (p_tier - 1) + rng.uniform(0, 0.5, n_prod), 1)
    s0 = rng.choice(np.array([16.0, 32.0, 64.0]), size=n_fam)
    storage = s0[p_fam] * 2.0 ** (p_tier - 1)
    # some top tiers add nothing: same features as the tier below, higher price
    dud_fam = (tiers >= 3) & (rng.random(n_fam) < 0.2)
    fam_dud_tier = np.where(dud_fam, tiers, 0)
    dud_rows = fam_first[dud_fam] + tiers[dud_fam] - 1 - lay.offs["product"]
    quality[dud_rows] = quality[dud_rows - 1]
    storage[dud_rows] = storage[dud_rows - 1]
    top = p_tier == tiers[p_fam]
    p_excl = top & (((tiers[p_fam] == 4) & (rng.random(n_prod) < 0.6))
                    | (rng.random(n_prod) < 0.1))
    p_excl[dud_rows] = False
    return _Products(p_fam=p_fam, p_tier=p_tier, p_price=p_price, p_cost=p_cost,
                     quality=quality, storage=storage, p_excl=p_excl, base=base, ratio=ratio,
                     fam_dud_tier=fam_dud_tier, dud_rows=dud_rows)


def _columns(rng: np.random.Generator, lay: _Layout, prod: _Products) -> _Columns:
    """Every catalog column by struct position: add-ons, subscriptions, gifts, stock."""
    n_fam, n_cat, n_misc, fam_cat = lay.n_fam, lay.n_cat, lay.n_misc, lay.fam_cat
    base, ratio, tiers = prod.base, prod.ratio, lay.tiers
    # accessory-like rows, per family
    acc_price = base * rng.uniform(0.08, 0.25, n_fam)
    refill_price = np.maximum(base * rng.uniform(0.03, 0.08, n_fam), 2.5)
    pack_size = rng.choice(np.array([3.0, 6.0, 12.0]), size=n_fam)
    pack_price = refill_price * pack_size * rng.uniform(0.68, 0.85, n_fam)
    warranty_price = base * ratio ** ((tiers - 1) / 2) * rng.uniform(0.09, 0.14, n_fam)
    bundle_price = (base + acc_price) * 0.88
    sub_price = rng.uniform(4.0, 15.0, n_cat)
    misc_price = np.exp(rng.normal(math.log(12.0), 0.6, size=n_misc))

    n = lay.n_items
    c = _Columns(
        price=np.empty(n), cost=np.empty(n), tier=np.full(n, np.nan),
        fam_of=np.full(n, -1, dtype=np.int64), attach=np.full(n, -1, dtype=np.int64),
        kind=np.empty(n, dtype="<U12"), packs=np.ones(n), excl=np.zeros(n, dtype=bool),
        qual=np.full(n, np.nan), stor=np.full(n, np.nan), cat_of=np.empty(n, dtype=np.int64),
        suffix=np.empty(n, dtype=object), stock=np.empty(0), pack_size=pack_size,
    )
    sl = slice(lay.offs["product"], lay.offs["product"] + lay.n_prod)
    c.price[sl], c.cost[sl], c.tier[sl], c.fam_of[sl] = (prod.p_price, prod.p_cost, prod.p_tier,
                                                         prod.p_fam)
    c.kind[sl], c.excl[sl], c.qual[sl], c.stor[sl] = ("product", prod.p_excl, prod.quality,
                                                      prod.storage)
    c.cat_of[sl] = fam_cat[prod.p_fam]
    c.suffix[sl] = np.array(_TIER_NAMES, dtype=object)[prod.p_tier - 1]

    def put(kind_name: str, rows: np.ndarray, fams: np.ndarray, pr: np.ndarray,
            cost_ratio: float, label: str) -> None:
        c.price[rows] = pr
        c.cost[rows] = pr * cost_ratio
        c.attach[rows] = fams
        c.kind[rows] = kind_name
        c.cat_of[rows] = fam_cat[fams]
        c.suffix[rows] = label

    fams = np.arange(n_fam)
    put("accessory", lay.fam_acc, fams, acc_price, 0.35, "Case")
    r = lay.has_refill
    put("accessory", lay.fam_refill[r], fams[r], refill_price[r], 0.4, "Refill")
    c.fam_of[lay.fam_refill[r]] = n_fam + fams[r]          # refill line: its own family
    r = lay.has_pack
    put("value_pack", lay.fam_pack[r], fams[r], pack_price[r], 0.45, "Refill pack")
    c.fam_of[lay.fam_pack[r]] = n_fam + fams[r]
    c.packs[lay.fam_pack[r]] = pack_size[r]
    r = lay.has_warranty
    put("warranty", lay.fam_warranty[r], fams[r], warranty_price[r], 0.15, "2-year warranty")
    r = lay.has_bundle
    put("bundle", lay.fam_bundle[r], fams[r], bundle_price[r], 0.6, "Basic + Case bundle")
    cat_sub = lay.cat_sub
    c.price[cat_sub] = sub_price
    c.cost[cat_sub] = sub_price * 0.2
    c.attach[cat_sub] = -2 - np.arange(n_cat)
    c.kind[cat_sub] = "subscription"
    c.cat_of[cat_sub] = np.arange(n_cat)
    c.suffix[cat_sub] = "Plus membership"
    ms = slice(lay.offs["misc"], n)
    c.price[ms] = misc_price
    c.cost[ms] = misc_price * rng.uniform(0.4, 0.6, n_misc)
    c.kind[ms] = "product"
    c.cat_of[ms] = rng.integers(0, n_cat, size=n_misc)
    c.suffix[ms] = "gift"
    c.excl[ms] = rng.random(n_misc) < 0.02

    shelf = shelf_price(c.price)
    c.cost = np.round(np.minimum(c.cost, shelf), 2)
    c.price = shelf
    stock = rng.poisson(60.0, size=n).astype(np.float64)
    stock[c.excl] = rng.integers(0, 8, size=int(c.excl.sum()))
    stock[rng.random(n) < 0.04] = 0.0
    c.stock = stock
    return c


def _names(lay: _Layout, c: _Columns) -> tuple[np.ndarray, ...]:
    """Category names, family names, each item's family, attaches_to and product name."""
    n_cat, n_fam, fam_cat, cat_of = lay.n_cat, lay.n_fam, lay.fam_cat, c.cat_of
    fam_of, attach, suffix = c.fam_of, c.attach, c.suffix
    cat_names = np.array([
        _CATEGORY_NAMES[i % len(_CATEGORY_NAMES)]
        + ("" if i < len(_CATEGORY_NAMES) else f" {i // len(_CATEGORY_NAMES) + 1}")
        for i in range(n_cat)], dtype=str)
    width = len(str(n_fam))
    fam_names = np.array([f"{cat_names[fam_cat[f]]} {f + 1:0{width}d}" for f in range(n_fam)])
    family_labels = np.concatenate([fam_names, np.char.add(fam_names, " Refill")])
    family = np.where(fam_of >= 0, family_labels[np.maximum(fam_of, 0)], "")
    attaches_to = np.where(attach >= 0, fam_names[np.maximum(attach, 0)],
                           np.where(attach <= -2, cat_names[np.maximum(-2 - attach, 0)], ""))
    # add-ons are named after the product they go with ("Phones 01 Refill", not the refill
    # line's own family label + "Refill")
    owner = np.where(attach >= 0, attaches_to,
                     np.where(fam_of >= 0, family, cat_names[cat_of]))
    misc_no = np.arange(lay.n_items) - lay.offs["misc"] + 1
    owner = np.where(suffix == "gift", np.char.add(np.char.add(cat_names[cat_of], " Gift "),
                                                   misc_no.astype(str)), owner)
    name = np.char.add(np.char.add(owner.astype(str), " "),
                       np.where(suffix == "gift", "", suffix.astype(str)))
    name = np.char.strip(name)
    r = lay.has_pack
    fams = np.arange(n_fam)
    name[lay.fam_pack[r]] = [f"{fam_names[f]} Refill {int(k)}-pack"
                             for f, k in zip(fams[r].tolist(), c.pack_size[r].tolist(),
                                             strict=True)]
    return cat_names, fam_names, family, attaches_to, name


def _tastes(rng: np.random.Generator, lay: _Layout, c: _Columns,
            n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Filler item and family distributions per taste cluster (by struct position)."""
    n_cat, n_fam, n = lay.n_cat, lay.n_fam, lay.n_items
    # clusters prefer a few categories; items have their own popularity
    aff = rng.dirichlet(np.full(n_cat, 0.4), size=n_clusters) * n_cat + 0.05
    fam_pop = np.exp(rng.normal(0, 0.8, size=n_fam))
    fam_taste = fam_pop[None, :] * aff[:, lay.fam_cat]
    fam_taste /= fam_taste.sum(axis=1, keepdims=True)
    pop = np.exp(rng.normal(0, 1.0, size=n))
    # fillers are stand-alone products: tiered products are bought only in primary orders
    # (where the upgrade process runs), and add-ons (cases, refills) only with or after
    # their own product, so the data never pair one family's case with another's
    fillable = (c.kind == "product") & ~c.excl & np.isnan(c.tier)
    taste = np.where(fillable[None, :], pop[None, :] * aff[:, c.cat_of], 0.0)
    taste /= taste.sum(axis=1, keepdims=True)
    return taste, fam_taste


def shelf_price(p: np.ndarray) -> np.ndarray:
    """Round to shelf prices: x.99 above 10, cents below."""
    return np.where(p >= 10, np.maximum(np.round(p) - 0.01, 9.99), np.round(p, 2))


def to_final(a: np.ndarray, final_pos: np.ndarray) -> np.ndarray:
    """Columns of ``a`` from struct positions to catalog positions."""
    out = np.empty_like(a)
    out[:, final_pos] = a
    return out


def attachments(cat: Cat) -> Mapping[str, tuple[str, ...]]:
    """Family -> its accessory, refill, value pack, warranty and bundle ids."""
    ids = cat.catalog.items.ids
    cols = np.stack([cat.fam_acc, cat.fam_refill, cat.fam_pack, cat.fam_warranty,
                     cat.fam_bundle], axis=1)
    out: dict[str, tuple[str, ...]] = {}
    for f, row in enumerate(cols.tolist()):
        out[str(cat.family_labels[f])] = tuple(str(ids[cat.final_pos[r]]) for r in row if r >= 0)
    return MappingProxyType(out)
