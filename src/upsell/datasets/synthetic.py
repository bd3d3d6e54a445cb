"""A deterministic synthetic shop that exercises the whole sales handbook.

The generator draws a catalog (product families with 2-4 tiers, accessories,
refills and their value packs, warranties, bundles, subscription plans,
stand-alone gift items), customers of the four handbook types with latent
taste clusters and a true probability of accepting an upgrade, and their
orders over two years with seasonality, sales, channels, returns and anonymous
walk-ins. Everything is vectorised: the loops run over catalog structure or
over the rank of a customer's repeat visit, never over customers or orders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from upsell._validation import as_time, check_float, check_int
from upsell.data.catalog import Catalog
from upsell.data.engine import Prepared, from_prepared
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["PERSONAS", "Shop", "ShopTruth", "make_shop"]

#: The handbook's customer types, in the order of their integer codes.
PERSONAS = ("new", "frequent", "price_sensitive", "premium")

_CHANNELS = ("email", "store", "web")  # sorted: codes are positions
_TIER_NAMES = ("Basic", "Plus", "Pro", "Ultra")
_CATEGORY_NAMES = ("Phones", "Laptops", "Audio", "Cameras", "Coffee", "Kitchen", "Garden",
                   "Tools", "Fitness", "Gaming", "Printers", "Home", "Beauty", "Baby", "Pets",
                   "Office")
_DAY = 86_400

# per-persona behaviour, indexed by persona code (new, frequent, price_sensitive, premium)
_ACTIVITY = np.array([0.0, 6.0, 1.5, 1.2])           # weight of extra orders (new: 1-3 orders)
_UPGRADE_LOGIT = np.array([-1.0, -0.5, -2.2, 0.6])   # mean logit of p_upgrade
_TYPE_P = np.array([[0.5, 0.1, 0.4],                 # later orders: P(primary, refill, filler)
                    [0.3, 0.45, 0.25],
                    [0.4, 0.3, 0.3],
                    [0.6, 0.1, 0.3]])
_REVISIT = np.array([0.6, 0.5, 0.5, 0.6])            # a later primary order is the home family
_P_ACCESSORY = np.array([0.3, 0.5, 0.15, 0.4])
_P_WARRANTY = np.array([0.45, 0.15, 0.05, 0.25])
_P_STARTER = np.array([0.3, 0.4, 0.2, 0.3])          # refill bought with the product
_P_BUNDLE = np.array([0.05, 0.05, 0.45, 0.0])        # bundle instead of entry tier + accessory
_P_PACK = np.array([0.1, 0.3, 0.75, 0.05])           # value pack instead of a single refill
_P_EXCLUSIVE = np.array([0.0, 0.02, 0.0, 0.35])
_P_SUBSCRIBE = np.array([0.03, 0.45, 0.05, 0.2])
_P_SOON_AFTER = np.array([0.2, 0.3, 0.1, 0.3])       # filler order adds a home accessory
_FILLER = np.array([0.6, 1.2, 1.0, 0.8])             # extra filler lines per order (Poisson)
_CHANNEL_P = np.array([[0.15, 0.25, 0.60],           # email, store, web
                       [0.25, 0.25, 0.50],
                       [0.50, 0.15, 0.35],
                       [0.10, 0.55, 0.35]])
_RETURN_RATE = np.array([0.05, 0.02, 0.04, 0.03])
_TOP_TIER_SHARE = 0.6   # premium "other family" purchases at the top tier


@dataclass(frozen=True, slots=True)
class ShopTruth:
    """What the generator knows and the data only hint at: the ground truth to score against.

    Per-customer arrays are aligned to ``shop.transactions.customers`` (every
    generated customer is there: first orders are never returned); per-item
    arrays are aligned to ``shop.catalog.items``.

    Attributes
    ----------
    customers : ndarray of str
        Customer ids (equal to ``transactions.customers.ids``).
    persona : ndarray of str
        One of :data:`PERSONAS`.
    p_upgrade : ndarray of float64
        True probability of accepting an upgrade to a next tier that adds value
        (an upgrade that adds nothing is accepted with ``dud_factor`` times it).
    cluster : ndarray of int32
        Latent taste cluster.
    home_family : ndarray of str
        The product family the customer owns and comes back to.
    base_tier : ndarray of int32
        Tier of the customer's first purchase in the home family.
    final_tier : ndarray of int32
        Tier owned at the end of the period.
    first_purchase : ndarray of datetime64[s]
        Time of the customer's first order.
    n_orders : ndarray of int32
        Sale orders generated for the customer (before returns).
    upgrade_chances, upgrades : ndarray of int32
        Primary purchases in a family the customer had bought before while a
        higher tier existed (any family, not only the home one), and how many of
        them bought the next tier.
    items : ndarray of str
        Item ids (equal to ``catalog.items.ids``).
    item_taste : ndarray of float32, shape (n_clusters, n_items)
        Each cluster's purchase distribution over items for filler lines.
    adds_value : ndarray of bool
        False for tiers whose features equal the tier below (a dearer item that
        adds nothing); True for every other item.
    attachments : mapping of str to tuple of str
        Family -> its accessories, refills, value packs, warranty and bundle ids.
    refill_lag_days : float
        Mean days between a refill and the purchase it replenishes.
    dud_factor : float
        Multiplier of ``p_upgrade`` for upgrades that add nothing.

    Examples
    --------
    >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400, random_state=1)
    >>> t = shop.truth
    >>> len(t), bool((t.customers == shop.transactions.customers.ids).all())
    (100, True)
    >>> sorted(set(t.persona.tolist())) == sorted(PERSONAS)
    True
    """

    customers: np.ndarray
    persona: np.ndarray
    p_upgrade: np.ndarray
    cluster: np.ndarray
    home_family: np.ndarray
    base_tier: np.ndarray
    final_tier: np.ndarray
    first_purchase: np.ndarray
    n_orders: np.ndarray
    upgrade_chances: np.ndarray
    upgrades: np.ndarray
    items: np.ndarray
    item_taste: np.ndarray
    adds_value: np.ndarray
    attachments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    refill_lag_days: float = 30.0
    dud_factor: float = 0.25

    def __len__(self) -> int:
        return int(self.customers.size)

    def to_pandas(self) -> Any:
        """One row per customer with every per-customer field (needs pandas).

        Examples
        --------
        >>> df = make_shop(n_customers=50, n_items=40, n_orders=150).truth.to_pandas()
        >>> df.columns.tolist()[:4]
        ['customer', 'persona', 'p_upgrade', 'cluster']
        """
        from upsell._extras import require

        pd = require("pandas", "ShopTruth.to_pandas")
        return pd.DataFrame({
            "customer": self.customers, "persona": self.persona, "p_upgrade": self.p_upgrade,
            "cluster": self.cluster, "home_family": self.home_family,
            "base_tier": self.base_tier, "final_tier": self.final_tier,
            "first_purchase": self.first_purchase, "n_orders": self.n_orders,
            "upgrade_chances": self.upgrade_chances, "upgrades": self.upgrades,
        })

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        return html_table("ShopTruth", {
            "customer": self.customers, "persona": self.persona, "p_upgrade": self.p_upgrade,
            "home_family": self.home_family, "base_tier": self.base_tier,
            "final_tier": self.final_tier, "n_orders": self.n_orders,
        }, summary=f"ground truth of {len(self):,} customers and {self.items.size:,} items")


@dataclass(frozen=True, slots=True, repr=False)
class Shop:
    """A synthetic shop: order lines, the catalog they draw from, and the generator's truth.

    Attributes
    ----------
    transactions : Transactions
        Cleaned order lines (returns netted, anonymous lines kept; see its ``report``).
    catalog : Catalog
        Every item of the shop, sold or not.
    truth : ShopTruth
        Ground truth per customer and per item.
    params : mapping
        The arguments ``make_shop`` was called with.

    Examples
    --------
    >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
    >>> shop  # doctest: +ELLIPSIS
    Shop(customers=100, items=60, orders=..., lines=..., random_state=0)
    """

    transactions: Transactions
    catalog: Catalog
    truth: ShopTruth
    params: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        tx = self.transactions
        return (f"Shop(customers={len(tx.customers):,}, items={len(self.catalog):,}, "
                f"orders={len(tx.orders):,}, lines={len(tx):,}, "
                f"random_state={self.params.get('random_state')})")

    def to_pandas(self) -> Any:
        """The shop's order lines, as :meth:`Transactions.to_pandas <upsell.data.Transactions.to_pandas>` gives them.

        The catalog and the truth have their own ``to_pandas``.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> shop = make_shop(n_customers=50, n_items=40, n_orders=150)
        >>> len(shop.to_pandas()) == len(shop.transactions)
        True
        """
        return self.transactions.to_pandas()

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        facts = self.describe().splitlines()
        return html_table("Shop", {"fact": facts[1:]}, summary=facts[0].removeprefix("Shop: "))

    def describe(self) -> str:
        """A few facts about the shop, one per line.

        Examples
        --------
        >>> print(make_shop(n_customers=100, n_items=60, n_orders=400).describe())
        ... # doctest: +ELLIPSIS
        Shop: 100 customers, 60 items (... families), ... orders, ... order lines
        ...
        """
        tx, cat, truth = self.transactions, self.catalog, self.truth
        fams = len(set(cat.family[~np.isnan(cat.tier)].tolist()))
        kinds, kcounts = np.unique(cat.kind, return_counts=True)
        pers, pcounts = np.unique(truth.persona, return_counts=True)
        time = tx.time
        value = float(np.sum(tx.quantity * tx.price))
        anon = int((tx.customer < 0).sum())
        rep = tx.report
        returned = sum(n for r, n in rep.dropped.items() if "return" in r)
        return "\n".join([
            f"Shop: {len(tx.customers):,} customers, {len(cat):,} items ({fams:,} families), "
            f"{len(tx.orders):,} orders, {len(tx):,} order lines",
            f"period: {str(time.min())[:10]} to {str(time.max())[:10]}; revenue {value:,.2f}",
            "items by kind: " + ", ".join(f"{k} {n:,}" for k, n in zip(kinds, kcounts, strict=True)),
            "customers by persona: " + ", ".join(f"{p} {n:,}" for p, n in zip(pers, pcounts, strict=True)),
            "mean p_upgrade: " + ", ".join(
                f"{p} {truth.p_upgrade[truth.persona == p].mean():.2f}" for p in pers),
            f"anonymous lines kept: {anon:,}; return lines netted or dropped: {returned:,}",
        ])


def make_shop(n_customers: int = 2_000, n_items: int = 300, n_orders: int = 10_000, *,
              random_state: int = 0, start: str = "2023-01-01", end: str = "2024-12-31",
              persona_shares: Sequence[float] = (0.3, 0.2, 0.3, 0.2), n_clusters: int = 6,
              anonymous_share: float = 0.03, return_rate: float = 1.0,
              refill_lag_days: float = 30.0, dud_factor: float = 0.25) -> Shop:
    """Generate a deterministic synthetic shop.

    Parameters
    ----------
    n_customers : int, default 2,000
        Customers with an id; each gets at least one order.
    n_items : int, default 300
        Catalog size (at least 40): about 70% of it in product families (2-4 tiers
        each, with accessories, refills, value packs, warranties and bundles), one
        subscription plan per category, the rest stand-alone gift items.
    n_orders : int, default 10,000
        Sale orders, anonymous ones included; at least ``n_customers``.
        Cancellation orders (returns) come on top and are netted away by the
        default cleaning, as are the few sale orders returned in full. An order
        has about 2.1 lines, so 4.8 million orders make about 10 million lines.
    random_state : int, default 0
        Seed: the same arguments give identical shops.
    start, end : str, default "2023-01-01", "2024-12-31"
        First and last day of the period (ISO dates, inclusive).
    persona_shares : sequence of 4 floats, default (0.3, 0.2, 0.3, 0.2)
        Shares of new, frequent, price-sensitive and premium customers.
    n_clusters : int, default 6
        Latent taste clusters (category preferences).
    anonymous_share : float, default 0.03
        Share of orders with no customer (store walk-ins).
    return_rate : float, default 1.0
        Multiplier of the per-persona return rates (2-5% of product lines); 0 for none.
    refill_lag_days : float, default 30
        Mean days between consecutive refill orders.
    dud_factor : float, default 0.25
        Multiplier of ``p_upgrade`` when the next tier adds no value.

    Returns
    -------
    Shop

    Raises
    ------
    UpsellDataError
        For arguments out of range.

    Notes
    -----
    Behaviour by persona: *new* customers have one to three orders, their first
    in the last 90 days, and buy warranties; *frequent* ones order at a steady
    rate and buy accessories, subscriptions and refills every ``refill_lag_days``;
    *price_sensitive* ones stay at the entry tier and buy bundles, value packs
    and in sales and e-mail promotions (10% off); *premium* ones buy the upper
    tiers and exclusive items. Each customer's first order buys ``base_tier`` of
    their home family, to which later primary orders often return. In every
    family, a customer's first purchase sets a tier and each later one buys
    the next tier with probability ``p_upgrade`` (times ``dud_factor`` when
    that tier adds nothing) and the same tier otherwise, so the upgrade
    propensity is recoverable from the data. Tiered products are bought only
    in these primary purchases; taste clusters drive which families and which
    gift items and accessories (filler lines) a customer buys. Prices paid are list prices minus 20% in sales (late November, early
    January) and 10% for e-mail orders.

    Examples
    --------
    >>> shop = make_shop(n_customers=200, n_items=80, n_orders=800, random_state=0)
    >>> len(shop.transactions.customers), len(shop.catalog)
    (200, 80)
    >>> dict(shop.transactions.report.flagged)  # doctest: +ELLIPSIS
    {'anonymous (no customer)': ...}
    """
    p = _check_params(n_customers=n_customers, n_items=n_items, n_orders=n_orders,
                      random_state=random_state, start=start, end=end,
                      persona_shares=persona_shares, n_clusters=n_clusters,
                      anonymous_share=anonymous_share, return_rate=return_rate,
                      refill_lag_days=refill_lag_days, dud_factor=dud_factor)
    rng = np.random.default_rng(p["random_state"])
    cat = _make_catalog(rng, p["n_items"], p["n_clusters"])
    return _make_orders(rng, cat, p)


# ---------------------------------------------------------------------- validation
def _check_params(**kw: Any) -> dict[str, Any]:
    p = dict(kw)
    p["n_customers"] = check_int(kw["n_customers"], "n_customers", minimum=10)
    p["n_items"] = check_int(kw["n_items"], "n_items", minimum=40)
    p["n_orders"] = check_int(kw["n_orders"], "n_orders", minimum=1)
    if p["n_orders"] < p["n_customers"]:
        raise UpsellDataError(
            f"`n_orders` must be at least `n_customers` ({p['n_customers']:,}), since every "
            f"customer orders once; got {p['n_orders']:,}"
        )
    p["random_state"] = check_int(kw["random_state"], "random_state", minimum=0)
    p["n_clusters"] = check_int(kw["n_clusters"], "n_clusters", minimum=1, maximum=100)
    p["anonymous_share"] = check_float(kw["anonymous_share"], "anonymous_share", low=0,
                                       high=0.5)
    p["return_rate"] = check_float(kw["return_rate"], "return_rate", low=0, high=5)
    p["refill_lag_days"] = check_float(kw["refill_lag_days"], "refill_lag_days", low=1,
                                       high=365)
    p["dud_factor"] = check_float(kw["dud_factor"], "dud_factor", low=0, high=1)
    shares = kw["persona_shares"]
    try:
        arr = np.asarray(shares, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.shape != (4,) or not np.all(np.isfinite(arr)) or (arr < 0).any() or arr.sum() <= 0:
        raise UpsellDataError(
            f"`persona_shares` must be 4 non-negative numbers (new, frequent, price_sensitive, "
            f"premium) with a positive sum; got {shares!r}"
        )
    p["persona_shares"] = tuple(float(x) for x in arr / arr.sum())
    days = []
    for name in ("start", "end"):
        try:
            days.append(as_time(kw[name], name, unit="D"))
        except UpsellDataError:
            raise UpsellDataError(f"`{name}` must be an ISO date such as '2023-01-01'; "
                                  f"got {kw[name]!r}") from None
    if days[1] - days[0] < np.timedelta64(180, "D"):
        raise UpsellDataError(
            f"`end` must be at least 180 days after `start`; got start={kw['start']!r}, "
            f"end={kw['end']!r}"
        )
    p["_start_day"], p["_end_day"] = days
    return p


# ---------------------------------------------------------------------- catalog
@dataclass
class _Cat:
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


def _make_catalog(rng: np.random.Generator, n_items: int, n_clusters: int) -> _Cat:
    # family structure: tiers, accessory, refill (+ value pack), warranty, bundle
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
    fam_first = offs["product"] + np.r_[0, np.cumsum(tiers)[:-1]]
    fam_acc = positions("accessory", everyone)
    fam_refill = positions("refill", has_refill)
    fam_pack = positions("pack", has_pack)
    fam_warranty = positions("warranty", has_warranty)
    fam_bundle = positions("bundle", has_bundle)
    cat_sub = offs["subscription"] + np.arange(n_cat)

    # product rows
    p_fam = np.repeat(np.arange(n_fam), tiers)
    p_tier = np.arange(n_prod) - np.repeat(fam_first - offs["product"], tiers) + 1
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
    dud_rows = fam_first[dud_fam] + tiers[dud_fam] - 1 - offs["product"]
    quality[dud_rows] = quality[dud_rows - 1]
    storage[dud_rows] = storage[dud_rows - 1]
    top = p_tier == tiers[p_fam]
    p_excl = top & (((tiers[p_fam] == 4) & (rng.random(n_prod) < 0.6))
                    | (rng.random(n_prod) < 0.1))
    p_excl[dud_rows] = False

    # accessory-like rows, per family
    acc_price = base * rng.uniform(0.08, 0.25, n_fam)
    refill_price = np.maximum(base * rng.uniform(0.03, 0.08, n_fam), 2.5)
    pack_size = rng.choice(np.array([3.0, 6.0, 12.0]), size=n_fam)
    pack_price = refill_price * pack_size * rng.uniform(0.68, 0.85, n_fam)
    warranty_price = base * ratio ** ((tiers - 1) / 2) * rng.uniform(0.09, 0.14, n_fam)
    bundle_price = (base + acc_price) * 0.88
    sub_price = rng.uniform(4.0, 15.0, n_cat)
    misc_price = np.exp(rng.normal(math.log(12.0), 0.6, size=n_misc))

    n = n_items
    price = np.empty(n)
    cost = np.empty(n)
    tier = np.full(n, np.nan)
    fam_of = np.full(n, -1, dtype=np.int64)      # family label index ("" when -1)
    attach = np.full(n, -1, dtype=np.int64)      # attaches_to family, or -2 - category
    kind = np.empty(n, dtype="<U12")
    packs = np.ones(n)
    excl = np.zeros(n, dtype=bool)
    qual = np.full(n, np.nan)
    stor = np.full(n, np.nan)
    cat_of = np.empty(n, dtype=np.int64)
    suffix = np.empty(n, dtype=object)

    sl = slice(offs["product"], offs["product"] + n_prod)
    price[sl], cost[sl], tier[sl], fam_of[sl] = p_price, p_cost, p_tier, p_fam
    kind[sl], excl[sl], qual[sl], stor[sl] = "product", p_excl, quality, storage
    cat_of[sl] = fam_cat[p_fam]
    suffix[sl] = np.array(_TIER_NAMES, dtype=object)[p_tier - 1]

    def put(kind_name: str, rows: np.ndarray, fams: np.ndarray, pr: np.ndarray,
            cost_ratio: float, label: str) -> None:
        price[rows] = pr
        cost[rows] = pr * cost_ratio
        attach[rows] = fams
        kind[rows] = kind_name
        cat_of[rows] = fam_cat[fams]
        suffix[rows] = label

    fams = np.arange(n_fam)
    put("accessory", fam_acc, fams, acc_price, 0.35, "Case")
    r = has_refill
    put("accessory", fam_refill[r], fams[r], refill_price[r], 0.4, "Refill")
    fam_of[fam_refill[r]] = n_fam + fams[r]          # refill line: its own family
    r = has_pack
    put("value_pack", fam_pack[r], fams[r], pack_price[r], 0.45, "Refill pack")
    fam_of[fam_pack[r]] = n_fam + fams[r]
    packs[fam_pack[r]] = pack_size[r]
    r = has_warranty
    put("warranty", fam_warranty[r], fams[r], warranty_price[r], 0.15, "2-year warranty")
    r = has_bundle
    put("bundle", fam_bundle[r], fams[r], bundle_price[r], 0.6, "Basic + Case bundle")
    price[cat_sub] = sub_price
    cost[cat_sub] = sub_price * 0.2
    attach[cat_sub] = -2 - np.arange(n_cat)
    kind[cat_sub] = "subscription"
    cat_of[cat_sub] = np.arange(n_cat)
    suffix[cat_sub] = "Plus membership"
    ms = slice(offs["misc"], n)
    price[ms] = misc_price
    cost[ms] = misc_price * rng.uniform(0.4, 0.6, n_misc)
    kind[ms] = "product"
    cat_of[ms] = rng.integers(0, n_cat, size=n_misc)
    suffix[ms] = "gift"
    excl[ms] = rng.random(n_misc) < 0.02

    shelf = _shelf_price(price)
    cost = np.round(np.minimum(cost, shelf), 2)
    price = shelf
    stock = rng.poisson(60.0, size=n).astype(np.float64)
    stock[excl] = rng.integers(0, 8, size=int(excl.sum()))
    stock[rng.random(n) < 0.04] = 0.0

    # names and labels
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
    misc_no = np.arange(n) - offs["misc"] + 1
    owner = np.where(suffix == "gift", np.char.add(np.char.add(cat_names[cat_of], " Gift "),
                                                   misc_no.astype(str)), owner)
    name = np.char.add(np.char.add(owner.astype(str), " "),
                       np.where(suffix == "gift", "", suffix.astype(str)))
    name = np.char.strip(name)
    r = has_pack
    name[fam_pack[r]] = [f"{fam_names[f]} Refill {int(k)}-pack"
                         for f, k in zip(fams[r].tolist(), pack_size[r].tolist(), strict=True)]

    # ids: shuffle so ids carry no structure
    perm = rng.permutation(n)                 # final position -> struct position
    final_pos = np.empty(n, dtype=np.int64)
    final_pos[perm] = np.arange(n)
    idw = max(5, len(str(n)))
    ids = np.char.add("I", np.char.zfill(np.arange(1, n + 1).astype(str), idw))
    pack_of = np.full(n, "", dtype=ids.dtype)
    r = has_pack
    pack_of[fam_pack[r]] = ids[final_pos[fam_refill[r]]]
    catalog = Catalog(
        IdIndex(ids, name="item"),
        name=name[perm], category=cat_names[cat_of][perm], family=family[perm],
        tier=tier[perm], price=price[perm], cost=cost[perm], stock=stock[perm],
        kind=kind[perm], pack_size=packs[perm], exclusive=excl[perm],
        attaches_to=attaches_to[perm], quality=qual[perm], storage_gb=stor[perm],
        pack_of=pack_of[perm],
    )

    # tastes: clusters prefer a few categories; items have their own popularity
    aff = rng.dirichlet(np.full(n_cat, 0.4), size=n_clusters) * n_cat + 0.05
    fam_pop = np.exp(rng.normal(0, 0.8, size=n_fam))
    fam_taste = fam_pop[None, :] * aff[:, fam_cat]
    fam_taste /= fam_taste.sum(axis=1, keepdims=True)
    pop = np.exp(rng.normal(0, 1.0, size=n))
    # fillers are stand-alone products: tiered products are bought only in primary orders
    # (where the upgrade process runs), and add-ons (cases, refills) only with or after
    # their own product, so the data never pair one family's case with another's
    fillable = (kind == "product") & ~excl & np.isnan(tier)
    taste = np.where(fillable[None, :], pop[None, :] * aff[:, cat_of], 0.0)
    taste /= taste.sum(axis=1, keepdims=True)
    kind_code = np.where(kind == "product", 0, np.where(kind == "accessory", 1, 2))
    adds_value = np.ones(n, dtype=bool)
    adds_value[offs["product"] + dud_rows] = False
    return _Cat(
        catalog=catalog, final_pos=final_pos, n_fam=n_fam, fam_tiers=tiers,
        fam_first=fam_first, fam_cat=fam_cat, fam_acc=fam_acc, fam_refill=fam_refill,
        fam_pack=fam_pack, fam_warranty=fam_warranty, fam_bundle=fam_bundle,
        fam_dud_tier=fam_dud_tier, cat_sub=cat_sub, list_price=price, kind_code=kind_code,
        exclusive=np.flatnonzero(excl & (kind == "product")), taste=taste,
        fam_taste=fam_taste, adds_value=adds_value, family_labels=fam_names,
    )


def _shelf_price(p: np.ndarray) -> np.ndarray:
    """Round to shelf prices: x.99 above 10, cents below."""
    return np.where(p >= 10, np.maximum(np.round(p) - 0.01, 9.99), np.round(p, 2))


def _draw(rng: np.random.Generator, cdf: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One draw per entry of ``rows`` from the row's distribution (``cdf`` rows end at 1)."""
    k, m = cdf.shape
    flat = (cdf + np.arange(k)[:, None]).ravel()
    u = rows + rng.random(rows.size) * (1 - 1e-12)
    out = np.searchsorted(flat, u, side="right") - rows.astype(np.int64) * m
    return np.minimum(out, m - 1)


# ---------------------------------------------------------------------- orders
def _day_weights(first: np.datetime64, last: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """Daily weights (base, sale-hunting) with a seasonal cycle, weekends and sales."""
    days = np.arange(first, last + np.timedelta64(1, "D"))
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    weekday = (days.astype(np.int64) + 3) % 7          # 0 = Monday
    w = 1.0 + 0.25 * np.cos(2 * np.pi * (doy - 340) / 365.25)
    w *= np.where(weekday >= 5, 1.25, 1.0)
    w *= np.where((month == 12) & (dom <= 23), 1.8, 1.0)
    sale = ((month == 11) & (dom >= 20)) | ((month == 1) & (dom <= 14))
    w_base = w * np.where(sale, 1.4, 1.0)
    w_sale = w * np.where(sale, 5.0, 1.0)
    return w_base, w_sale


def _cdf(w: np.ndarray) -> np.ndarray:
    c = np.cumsum(w)
    return np.r_[0.0, c / c[-1]]


def _make_orders(rng: np.random.Generator, cat: _Cat, p: dict[str, Any]) -> Shop:
    n_cust, n_orders = p["n_customers"], p["n_orders"]
    first_day, last_day = p["_start_day"], p["_end_day"]
    n_days = int((last_day - first_day).astype(np.int64)) + 1
    w_base, w_sale = _day_weights(first_day, last_day)
    cdfs = np.stack([_cdf(w_base), _cdf(w_sale)])    # (2, n_days + 1)

    # ---- customers
    persona = rng.choice(4, size=n_cust, p=np.asarray(p["persona_shares"]))
    cluster = rng.integers(0, p["n_clusters"], size=n_cust)
    latent = rng.normal(size=n_cust)
    p_up = 1.0 / (1.0 + np.exp(-(_UPGRADE_LOGIT[persona] + 0.9 * latent)))
    home = _draw(rng, np.cumsum(cat.fam_taste, axis=1), cluster)
    t_home = cat.fam_tiers[home]
    u = rng.random(n_cust)
    base_tier = np.select(
        [persona == 2, persona == 3, persona == 1],
        [np.ones(n_cust, dtype=np.int64),
         np.where(u < 0.8, np.maximum(t_home - 1, 1), t_home),
         np.where(u < 0.5, 1, 2)],
        default=np.where(u < 0.7, 1, 2))
    base_tier = np.minimum(base_tier, t_home)

    n_anon = round(p["anonymous_share"] * n_orders)
    n_known = max(n_orders - n_anon, n_cust)
    n_anon = n_orders - n_known
    is_new = persona == 0
    k_orders = np.ones(n_cust, dtype=np.int64)
    k_orders[is_new] = 1 + rng.binomial(2, 0.3, size=int(is_new.sum()))
    extra = n_known - int(k_orders.sum())
    weight = _ACTIVITY[persona] * rng.gamma(4.0, 0.25, size=n_cust)
    if extra > 0 and weight.sum() > 0:
        k_orders += rng.multinomial(extra, weight / weight.sum())
    elif extra > 0:
        k_orders += rng.multinomial(extra, np.full(n_cust, 1.0 / n_cust))

    # first purchase: new customers in the last 90 days, the others in the first 60%
    t0_day = np.where(is_new, n_days - rng.integers(1, min(90, n_days) + 1, size=n_cust),
                      rng.integers(0, int(0.6 * n_days), size=n_cust))
    sale_hunter = (persona == 2).astype(np.int64)

    # ---- orders of known customers, grouped by customer
    oc = np.repeat(np.arange(n_cust), k_orders)          # order -> customer
    n_ko = oc.size
    starts = np.r_[0, np.cumsum(k_orders)[:-1]]
    j = np.arange(n_ko) - starts[oc]                      # rank within customer
    kk = k_orders[oc]
    lo_c = cdfs[sale_hunter, t0_day]
    lo = lo_c[oc]
    hi = np.ones(n_ko)
    steady = persona[oc] == 1
    r = rng.random(n_ko)
    # frequent customers: stratified (steady rate); others: uniform, sorted within customer
    frac = np.where(steady, (j - 1 + r) / np.maximum(kk - 1, 1), r)
    uq = np.where(j == 0, lo, lo + frac * (hi - lo))
    # sort the draws within each customer (the first order stays first; steady ones are
    # already in order and sort on rank)
    within = np.where(j == 0, -1.0, np.where(steady, j.astype(np.float64), uq))
    uq = uq[np.lexsort((within, oc))]
    del within
    day = _inverse_day(uq, sale_hunter[oc], cdfs, n_days)
    day = np.maximum(day, t0_day[oc])

    # order types: 0 primary, 1 refill, 2 filler
    pers_o = persona[oc]
    typ = _draw(rng, np.cumsum(_TYPE_P, axis=1), pers_o)
    typ[j == 0] = 0
    home_o = home[oc]
    typ[(typ == 1) & (cat.fam_refill[home_o] < 0)] = 2
    # refills come every refill_lag_days after the last non-refill order
    idx = np.arange(n_ko)
    anchor = np.maximum.accumulate(np.where(typ != 1, idx, -1))
    run = idx - anchor
    lag = rng.normal(p["refill_lag_days"], 0.12 * p["refill_lag_days"], size=n_ko)
    refill_day = day[anchor] + np.round(run * p["refill_lag_days"]
                                        + (lag - p["refill_lag_days"])).astype(np.int64)
    late = (typ == 1) & (refill_day >= n_days)
    typ[late] = 2
    day = np.where(typ == 1, refill_day, day)
    del kk, lo, hi, r, frac, uq, idx, anchor, run, lag, refill_day, late, steady

    # primary orders: home family (first order, revisits) or another family from taste
    prim = typ == 0
    revisit = prim & ((j == 0) | (rng.random(n_ko) < _REVISIT[pers_o]))
    fam_o = np.where(revisit, home_o, -1)
    other = prim & ~revisit
    fam_o[other] = _draw(rng, np.cumsum(cat.fam_taste, axis=1), cluster[oc[other]])
    tier_o = np.zeros(n_ko, dtype=np.int64)
    t_other = cat.fam_tiers[fam_o[other]]
    po = pers_o[other]
    uo = rng.random(int(other.sum()))
    tier_o[other] = np.select(
        [po == 2, po == 3],
        [np.ones(po.size, dtype=np.int64),
         np.where(uo < _TOP_TIER_SHARE, t_other, np.maximum(t_other - 1, 1))],
        default=np.where(uo < 0.6, 1, np.minimum(2, t_other)))

    # every (customer, family): the first purchase sets the tier (the home family's is
    # base_tier), each later one buys the next tier w.p. p_upgrade, else the same tier
    pi = np.flatnonzero(prim)
    gkey = oc[pi].astype(np.int64) * cat.n_fam + fam_o[pi]
    srt = pi[np.argsort(gkey, kind="stable")]          # stable: visits stay in time order
    gkey = oc[srt].astype(np.int64) * cat.n_fam + fam_o[srt]
    new_group = np.r_[True, gkey[1:] != gkey[:-1]]
    gid = np.cumsum(new_group) - 1
    g_first = np.flatnonzero(new_group)
    rank = np.arange(srt.size) - g_first[gid]
    g_c = oc[srt[g_first]]
    g_f = fam_o[srt[g_first]]
    g_home = g_f == home[g_c]
    cur = np.where(g_home, base_tier[g_c], tier_o[srt[g_first]])
    g_top = cat.fam_tiers[g_f]
    chances = np.zeros(n_cust, dtype=np.int64)
    ups = np.zeros(n_cust, dtype=np.int64)
    tier_o[srt[g_first]] = cur
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(1, int(rank.max(initial=0)) + 2))
    for rk in range(1, bounds.size):
        sel = by_rank[bounds[rk - 1]:bounds[rk]]
        g = gid[sel]
        room = cur[g] < g_top[g]
        dud = (cur[g] + 1) == cat.fam_dud_tier[g_f[g]]
        p_take = p_up[g_c[g]] * np.where(dud, p["dud_factor"], 1.0)
        take = room & (rng.random(sel.size) < p_take)
        np.add.at(chances, g_c[g[room]], 1)
        np.add.at(ups, g_c[g[take]], 1)
        cur[g[take]] += 1
        tier_o[srt[sel]] = cur[g]
    first_in_family = np.zeros(n_ko, dtype=bool)
    first_in_family[srt[g_first]] = True
    home_final = base_tier.copy()
    home_final[g_c[g_home]] = cur[g_home]
    del pi, gkey, srt, new_group, gid, g_first, rank, g_c, g_f, g_home, g_top, by_rank

    # ---- anonymous orders: walk-ins buying from a random taste cluster
    a_cluster = rng.integers(0, p["n_clusters"], size=n_anon)
    a_day = _inverse_day(rng.random(n_anon), np.zeros(n_anon, dtype=np.int64), cdfs, n_days)
    a_typ = np.where(rng.random(n_anon) < 0.5, 0, 2)
    a_fam = np.full(n_anon, -1, dtype=np.int64)
    a_prim = a_typ == 0
    a_fam[a_prim] = _draw(rng, np.cumsum(cat.fam_taste, axis=1), a_cluster[a_prim])
    a_tier = np.where(a_prim, np.minimum(1 + (rng.random(n_anon) < 0.4),
                                         cat.fam_tiers[np.maximum(a_fam, 0)]), 0)

    # ---- all sale orders: known then anonymous
    O_cust = np.r_[oc, np.full(n_anon, -1)]
    O_pers = np.r_[pers_o, np.full(n_anon, 0)]
    O_clu = np.r_[cluster[oc], a_cluster]
    O_day = np.r_[day, a_day]
    O_typ = np.r_[typ, a_typ]
    O_fam = np.r_[fam_o, a_fam]
    O_tier = np.r_[tier_o, a_tier]
    O_home = np.r_[home_o, np.full(n_anon, -1)]
    O_newfam = np.r_[first_in_family & ~revisit, a_prim]
    O_first = np.r_[j == 0, np.zeros(n_anon, dtype=bool)]
    anon = O_cust < 0
    n_o = O_cust.size
    ch = _draw(rng, np.cumsum(_CHANNEL_P, axis=1), O_pers)
    ch[anon] = np.where(rng.random(n_anon) < 0.8, 1, 2)
    sec = O_day * _DAY + rng.integers(8 * 3600, 22 * 3600, size=n_o)
    # a customer's orders keep their order within a day too (the first order, which buys the
    # home product, must not land after a same-day follow-up buying its case)
    sec[:n_ko] = sec[:n_ko][np.lexsort((sec[:n_ko], O_cust[:n_ko]))]
    O_pers = np.where(anon, 0, O_pers)
    del oc, j, pers_o, fam_o, tier_o, home_o, revisit, typ, day, first_in_family

    # ---- lines
    parts_o: list[np.ndarray] = []
    parts_i: list[np.ndarray] = []
    parts_q: list[np.ndarray] = []

    def add(orders: np.ndarray, items: np.ndarray, qty: np.ndarray | None = None) -> None:
        parts_o.append(orders)
        parts_i.append(items)
        parts_q.append(np.ones(orders.size) if qty is None else qty.astype(np.float64))

    prim_o = np.flatnonzero(O_typ == 0)
    f = O_fam[prim_o]
    pp = O_pers[prim_o]
    bundle = ((cat.fam_bundle[f] >= 0) & O_newfam[prim_o] & (O_tier[prim_o] == 1)
              & (rng.random(prim_o.size) < _P_BUNDLE[pp]))
    add(prim_o, np.where(bundle, cat.fam_bundle[f], cat.fam_first[f] + O_tier[prim_o] - 1))
    m = ~bundle & (rng.random(prim_o.size) < _P_ACCESSORY[pp])
    add(prim_o[m], cat.fam_acc[f[m]])
    # warranties go with new devices, not with replacements of the same tier
    m = (cat.fam_warranty[f] >= 0) & (rng.random(prim_o.size) < _P_WARRANTY[pp])
    add(prim_o[m], cat.fam_warranty[f[m]])
    m = (cat.fam_refill[f] >= 0) & (rng.random(prim_o.size) < _P_STARTER[pp])
    add(prim_o[m], cat.fam_refill[f[m]])

    ref_o = np.flatnonzero(O_typ == 1)
    hf = O_home[ref_o]
    rp = O_pers[ref_o]
    pack = (cat.fam_pack[hf] >= 0) & (rng.random(ref_o.size) < _P_PACK[rp])
    qty = np.where(pack, 1, 1 + rng.binomial(2, 0.25, size=ref_o.size))
    add(ref_o, np.where(pack, cat.fam_pack[hf], cat.fam_refill[hf]), qty)

    fil_o = np.flatnonzero(O_typ == 2)
    n_fill = 1 + rng.poisson(_FILLER[O_pers[fil_o]])
    m = ~anon[fil_o] & (rng.random(fil_o.size) < _P_SOON_AFTER[O_pers[fil_o]])
    add(fil_o[m], cat.fam_acc[O_home[fil_o[m]]])
    extra_o = np.flatnonzero(O_typ != 2)
    n_extra = rng.poisson(0.35 * _FILLER[O_pers[extra_o]])
    fo = np.r_[np.repeat(fil_o, n_fill), np.repeat(extra_o, n_extra)]
    fq = 1 + rng.binomial(2, 0.2, size=fo.size)
    add(fo, _draw(rng, np.cumsum(cat.taste, axis=1), O_clu[fo]), fq)

    if cat.exclusive.size:
        m = (O_typ != 1) & (rng.random(n_o) < _P_EXCLUSIVE[O_pers]) & ~anon
        eo = np.flatnonzero(m)
        add(eo, cat.exclusive[rng.integers(0, cat.exclusive.size, size=eo.size)])
    # subscriptions: once, on the customer's second order, for their home category
    subs = (rng.random(n_cust) < _P_SUBSCRIBE[persona]) & (k_orders >= 2)
    so = starts[subs] + 1
    add(so, cat.cat_sub[cat.fam_cat[home[subs]]])

    L_o = np.concatenate(parts_o)
    L_i = np.concatenate(parts_i)
    L_q = np.concatenate(parts_q)
    parts_o.clear()
    parts_i.clear()
    parts_q.clear()
    # one line per (order, item): merge repeated draws
    n_struct = cat.list_price.size
    key = L_o.astype(np.int64) * n_struct + L_i
    ukey, inv = np.unique(key, return_inverse=True)
    L_q = np.bincount(inv, weights=L_q, minlength=ukey.size)
    L_o = ukey // n_struct
    L_i = ukey % n_struct
    del key, inv, ukey

    # prices paid: 20% off in sales, 10% off e-mail orders
    dates = first_day + O_day.astype("timedelta64[D]")
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    sale = ((month == 11) & (dom >= 20)) | ((month == 1) & (dom <= 14))
    disc = np.where(sale, 0.2, 0.0) + np.where(ch == 0, 0.1, 0.0)
    del dates, month, dom
    L_disc = disc[L_o] * (cat.kind_code[L_i] < 2)
    L_price = np.round(cat.list_price[L_i] * (1.0 - L_disc), 2)

    # ---- returns: cancellation orders "C<number>" with negative lines
    rate = _RETURN_RATE[O_pers[L_o]] * p["return_rate"]
    # a customer's first order is never returned, so every customer stays in the data
    ret = ((rng.random(L_o.size) < rate) & (cat.kind_code[L_i] < 2) & ~anon[L_o]
           & ~O_first[L_o])
    r_lines = np.flatnonzero(ret)
    r_qty = np.where((L_q[r_lines] > 1) & (rng.random(r_lines.size) < 0.5), 1.0,
                     L_q[r_lines])

    # order ids: sale orders numbered by time, cancellations carry their order's number
    o_rank = np.empty(n_o, dtype=np.int64)
    o_rank[np.argsort(sec, kind="stable")] = np.arange(n_o)
    cancelled = np.unique(o_rank[L_o[r_lines]])
    width = max(7, len(str(n_o)))
    n_c = cancelled.size
    o_ids = _ids("O", np.arange(1, n_o + 1), width)
    c_ids = _ids("C", cancelled + 1, width)
    order_index = IdIndex(np.concatenate([c_ids, o_ids]), name="order")
    del c_ids, o_ids
    L_code = n_c + o_rank[L_o]
    R_code = np.searchsorted(cancelled, o_rank[L_o[r_lines]])
    r_sec = np.minimum(sec[L_o[r_lines]] + rng.integers(1, 31, size=r_lines.size) * _DAY,
                       n_days * _DAY - 1)

    t0 = first_day.astype("datetime64[s]")
    n_lines = L_o.size + r_lines.size
    prep = Prepared(
        n=n_lines,
        order=np.r_[L_code, R_code],
        order_index=order_index,
        item=cat.final_pos[np.r_[L_i, L_i[r_lines]]],
        item_index=cat.catalog.items,
        customer=np.r_[O_cust[L_o], O_cust[L_o[r_lines]]],
        customer_index=IdIndex(_customer_ids(n_cust), name="customer"),
        quantity=np.r_[L_q, -r_qty],
        price=np.r_[L_price, L_price[r_lines]],
        time=t0 + np.r_[sec[L_o], r_sec].astype("timedelta64[s]"),
        channel=np.r_[ch[L_o], ch[L_o[r_lines]]],
        channel_index=IdIndex(np.array(_CHANNELS), name="channel"),
        source=f"make_shop(random_state={p['random_state']})",
    )
    first_sec = sec[starts]
    # free the order-level arrays before cleaning, which needs several copies of the lines
    del L_code, R_code, L_o, L_i, L_q, L_price, L_disc, rate, ret, r_lines, r_qty, r_sec
    del O_cust, O_pers, O_clu, O_day, O_typ, O_fam, O_tier, O_home, O_newfam, O_first, anon
    del sec, ch, o_rank, cancelled, disc, sale
    tx = from_prepared(prep, cancel_prefix="C")
    del prep

    # ---- truth aligned to the customers left after cleaning
    present = np.searchsorted(_customer_ids(n_cust), tx.customers.ids)
    truth = ShopTruth(
        customers=tx.customers.ids,
        persona=np.array(PERSONAS)[persona[present]],
        p_upgrade=p_up[present],
        cluster=cluster[present].astype(np.int32),
        home_family=cat.family_labels[home[present]],
        base_tier=base_tier[present].astype(np.int32),
        final_tier=home_final[present].astype(np.int32),
        first_purchase=(t0 + first_sec[present].astype("timedelta64[s]")),
        n_orders=k_orders[present].astype(np.int32),
        upgrade_chances=chances[present].astype(np.int32),
        upgrades=ups[present].astype(np.int32),
        items=cat.catalog.items.ids,
        item_taste=_to_final(cat.taste, cat.final_pos).astype(np.float32),
        adds_value=_to_final(cat.adds_value[None, :], cat.final_pos)[0],
        attachments=_attachments(cat),
        refill_lag_days=float(p["refill_lag_days"]),
        dud_factor=float(p["dud_factor"]),
    )
    for a in (truth.customers, truth.persona, truth.p_upgrade, truth.cluster, truth.home_family,
              truth.base_tier, truth.final_tier, truth.first_purchase, truth.n_orders,
              truth.upgrade_chances, truth.upgrades, truth.item_taste, truth.adds_value):
        a.flags.writeable = False
    params = {k: v for k, v in p.items() if not k.startswith("_")}
    return Shop(transactions=tx, catalog=cat.catalog, truth=truth,
                params=MappingProxyType(params))


def _inverse_day(u: np.ndarray, which: np.ndarray, cdfs: np.ndarray,
                 n_days: int) -> np.ndarray:
    """Day index whose cumulative-weight interval holds ``u``, under cdf row ``which``."""
    out = np.empty(u.size, dtype=np.int64)
    for row in range(cdfs.shape[0]):
        m = which == row
        out[m] = np.searchsorted(cdfs[row], u[m], side="right") - 1
    return np.clip(out, 0, n_days - 1)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Fixed-width ids (prefix + zero-padded number): their text order is their number order."""
    if numbers.size == 0:
        return np.array([], dtype=f"<U{width + len(prefix)}")
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width))


def _customer_ids(n: int) -> np.ndarray:
    return _ids("C", np.arange(1, n + 1), max(7, len(str(n))))


def _to_final(a: np.ndarray, final_pos: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    out[:, final_pos] = a
    return out


def _attachments(cat: _Cat) -> Mapping[str, tuple[str, ...]]:
    ids = cat.catalog.items.ids
    cols = np.stack([cat.fam_acc, cat.fam_refill, cat.fam_pack, cat.fam_warranty,
                     cat.fam_bundle], axis=1)
    out: dict[str, tuple[str, ...]] = {}
    for f, row in enumerate(cols.tolist()):
        out[str(cat.family_labels[f])] = tuple(str(ids[cat.final_pos[r]]) for r in row if r >= 0)
    return MappingProxyType(out)
