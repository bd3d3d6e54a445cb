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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from upsell._validation import as_time, check_float, check_int, check_memory, memory_budget
from upsell.data.catalog import Catalog
from upsell.data.transactions import Transactions
from upsell.datasets._catalog import make_catalog
from upsell.datasets._orders import make_orders
from upsell.exceptions import UpsellDataError

if TYPE_CHECKING:
    from upsell.datasets._response import ResponseModel

__all__ = ["PERSONAS", "Shop", "ShopTruth", "make_shop"]

#: The handbook's customer types, in the order of their integer codes.
PERSONAS = ("new", "frequent", "price_sensitive", "premium")

_BYTES_PER_ORDER = 700
_BYTES_PER_CUSTOMER = 300
_BYTES_PER_ITEM = 1_000


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

    @property
    def response(self) -> ResponseModel:
        """The ground-truth response to offers: each customer's true P(accept) of any item.

        Built on each access from the shop's truth and history (about as long as
        reading the history once; keep the result). Its random parts come from a
        child of the shop's seed, so the shop itself is unchanged. See
        :class:`~upsell.datasets.ResponseModel` for the formula.

        Examples
        --------
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> shop.response
        ResponseModel(customers=100, items=60, random_state=0)
        """
        from upsell.datasets._response import ResponseModel

        return ResponseModel(self)

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
    UpsellMemoryError
        If the shop would not fit in the physical memory (about 700 bytes per order
        at the generator's peak), before anything is drawn.

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
    cat = make_catalog(rng, p["n_items"], p["n_clusters"])
    tx, fields = make_orders(rng, cat, p)
    fields["persona"] = np.array(PERSONAS)[fields["persona"]]
    truth = ShopTruth(**fields, refill_lag_days=float(p["refill_lag_days"]),
                      dud_factor=float(p["dud_factor"]))
    for a in (truth.customers, truth.persona, truth.p_upgrade, truth.cluster, truth.home_family,
              truth.base_tier, truth.final_tier, truth.first_purchase, truth.n_orders,
              truth.upgrade_chances, truth.upgrades, truth.item_taste, truth.adds_value):
        a.flags.writeable = False
    params = {k: v for k, v in p.items() if not k.startswith("_")}
    return Shop(transactions=tx, catalog=cat.catalog, truth=truth,
                params=MappingProxyType(params))


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
    # measured peak (benchmarks/README.md, 4.8M orders: 3.57 GB RSS), rounded up; a shop is
    # the caller's only product, so it may use the whole physical memory, not half of it
    need = (_BYTES_PER_ORDER * p["n_orders"] + _BYTES_PER_CUSTOMER * p["n_customers"]
            + _BYTES_PER_ITEM * p["n_items"])
    check_memory(need, f"make_shop(n_orders={p['n_orders']:,}, n_customers="
                 f"{p['n_customers']:,}, n_items={p['n_items']:,})", budget=2 * memory_budget(),
                 hint="lower `n_orders` (about 700 bytes each at the generator's peak)")
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
