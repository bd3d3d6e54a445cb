"""Behavioural features per customer: the table personas and clusters are learned on.

Two paths compute the same numbers: a vectorised one over every customer of a
:class:`~upsell.data.Transactions` (bincounts over lines and orders), and a
pure-Python one over one live customer's history, which looks items up in
per-item tables precomputed at fit time so a call costs microseconds whatever
the catalog size. ``tests/segments/test_features.py`` checks they agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._stats import median_by as _median_by
from upsell._validation import as_time as _parse_time
from upsell._validation import as_transactions
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UnknownIdError, UpsellDataError

__all__ = ["FEATURES", "CustomerFeatures", "customer_features"]

_DAY = 86_400

#: Names of the behavioural features, in column order.
FEATURES = (
    "orders", "tenure_days", "recency_days", "orders_per_month", "monetary", "aov",
    "discount_share", "low_tier_share", "value_pack_share", "price_position",
    "high_tier_share", "tier_position", "exclusive_share", "warranty_share",
    "accessory_share", "subscription_share",
)
_F = {name: j for j, name in enumerate(FEATURES)}

# an item counts as discounted when paid this fraction below its reference price
DISCOUNT_TOLERANCE = 0.02
# the rate is taken over at least this many days, so a first order is not "30 a month"
RATE_MIN_DAYS = 30.0


@dataclass(frozen=True, slots=True)
class CustomerFeatures:
    """Behavioural features, one row per customer.

    Attributes
    ----------
    customers : ndarray
        External customer ids, in the order of ``values`` rows.
    values : ndarray of float64, shape (n_customers, n_features)
        One column per name in ``names`` (see :func:`customer_features` for each).
        Shares of a kind of line a customer never bought from (no tiered items,
        no priced families) are NaN.
    names : tuple of str
        Column names (:data:`FEATURES`).
    at : numpy.datetime64
        Reference time: lines at or after it were ignored.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 2], item=["a", "b"], customer=["x", "x"],
    ...                               price=[5.0, 7.0], time=["2024-01-01", "2024-02-01"])
    >>> f = customer_features(tx)
    >>> f.column("orders").tolist(), f.column("monetary").tolist()
    ([2.0], [12.0])
    """

    customers: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]
    at: np.datetime64

    def __len__(self) -> int:
        return int(self.customers.size)

    def column(self, name: str) -> np.ndarray:
        """One feature column by name.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1], item=["a"], customer=["x"],
        ...                               time=["2024-01-01"])
        >>> customer_features(tx).column("tenure_days").tolist()
        [1.0]
        """
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise UpsellDataError(
                f"`name` must be one of {', '.join(self.names)}; got {name!r}") from None

    def to_pandas(self) -> Any:
        """One row per customer, one column per feature (needs pandas).

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1], item=["a"], customer=["x"],
        ...                               time=["2024-01-01"])
        >>> customer_features(tx).to_pandas().columns[:3].tolist()
        ['customer', 'orders', 'tenure_days']
        """
        from upsell._extras import require

        pd = require("pandas", "CustomerFeatures.to_pandas")
        data = {"customer": self.customers}
        data.update({n: self.values[:, j] for j, n in enumerate(self.names)})
        return pd.DataFrame(data)

    def _repr_html_(self) -> str:
        from upsell._display import MAX_ROWS, html_table

        part = self.values[:MAX_ROWS]
        columns: dict[str, Any] = {"customer": self.customers}
        columns.update({n: part[:, j] for j, n in enumerate(self.names)})
        return html_table("CustomerFeatures", columns, n_rows=len(self),
                          summary=f"{len(self):,} customers at {self.at}")


# ---------------------------------------------------------------------- item tables
@dataclass(frozen=True, slots=True)
class ItemTable:
    """Per-item lookups the features need, aligned to an item index (saved with models)."""

    ref_price: np.ndarray      # reference unit price (catalog list price, else median paid)
    tiered: np.ndarray         # product with a tier in a family of >= 2 tiers
    low_tier: np.ndarray       # the family's lowest tier
    high_tier: np.ndarray      # upper half of the family's ladder (top tier included)
    tier_pos: np.ndarray       # (tier - lowest) / (highest - lowest); NaN when not tiered
    value_pack: np.ndarray     # value pack, bundle, or pack of more than one unit
    price_pos: np.ndarray      # position of the unit price in its family's range; NaN none
    exclusive: np.ndarray
    warranty: np.ndarray
    accessory: np.ndarray
    subscription: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"item_{k}": getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ItemTable:
        return cls(**{k: np.asarray(arrays[f"item_{k}"]) for k in cls.__slots__})

    def rows(self) -> list[tuple[Any, ...]]:
        """One tuple per item, for the pure-Python single-customer path."""
        cols = [getattr(self, k).tolist() for k in self.__slots__]
        return list(zip(*cols, strict=True))


def item_table(tx: Transactions, catalog: Catalog | None) -> ItemTable:
    """Per-item lookups from the catalog, or from the transactions alone when there is none."""
    n = len(tx.items)
    price_seen = np.full(n, np.nan)
    if tx.has("price") and tx.has("item"):  # a purchase log's lines are of no one product
        pos = (tx.quantity > 0) & (tx.price > 0)
        # the reference price of an item without a list price: its usual (median) price;
        # the highest price paid, used before, made 96% of Online Retail's lines
        # "discounted" (a few retail-priced lines set every item's maximum)
        price_seen = _median_by(tx.item[pos], tx.price[pos], n)
    false = np.zeros(n, dtype=bool)
    if catalog is None:
        ref = price_seen
        return ItemTable(
            ref_price=ref, tiered=false, low_tier=false, high_tier=false,
            tier_pos=np.full(n, np.nan), value_pack=false.copy(),
            price_pos=_percentile_position(ref), exclusive=false, warranty=false,
            accessory=false, subscription=false)
    cat = catalog if catalog.items == tx.items else catalog.align(tx.items)
    ref = np.where(np.isfinite(cat.price) & (cat.price > 0), cat.price, price_seen)
    kind = cat.kind
    fam = cat.family
    tier = cat.tier
    has_tier = np.isfinite(tier) & (np.char.str_len(fam) > 0) & (kind == "product")
    tier_pos = np.full(n, np.nan)
    low = np.zeros(n, dtype=bool)
    high = np.zeros(n, dtype=bool)
    if has_tier.any():
        codes = np.unique(fam[has_tier], return_inverse=True)[1].reshape(-1)
        t = tier[has_tier]
        lo = np.full(codes.max() + 1, np.inf)
        hi = np.full(codes.max() + 1, -np.inf)
        np.minimum.at(lo, codes, t)
        np.maximum.at(hi, codes, t)
        span = hi[codes] - lo[codes]
        ladder = span > 0
        tp = np.where(ladder, (t - lo[codes]) / np.where(ladder, span, 1.0), np.nan)
        tier_pos[has_tier] = tp
        low[has_tier] = ladder & (t == lo[codes])
        high[has_tier] = ladder & (tp > 0.5)
    tiered = np.isfinite(tier_pos)
    unit = ref / cat.pack_size
    # families group the items of one ladder; items without one are compared within
    # their category and kind
    group = np.where(np.char.str_len(fam) > 0, np.char.add("f:", fam),
                     np.char.add(np.char.add(np.char.add("c:", cat.category), ":"), kind))
    price_pos = _range_position(unit, group)
    return ItemTable(
        ref_price=ref, tiered=tiered, low_tier=low, high_tier=high, tier_pos=tier_pos,
        value_pack=(kind == "value_pack") | (kind == "bundle") | (cat.pack_size > 1),
        price_pos=price_pos, exclusive=cat.exclusive.copy(), warranty=kind == "warranty",
        accessory=kind == "accessory", subscription=kind == "subscription")


def table_for(known: IdIndex, table: ItemTable, items: IdIndex) -> ItemTable:
    """``table`` (aligned to ``known``) re-aligned to ``items``; new items get no attributes."""
    if items == known:
        return table
    pos = known.encode(items.ids, unknown="mask")
    have = pos >= 0
    src = np.maximum(pos, 0)
    cols: dict[str, np.ndarray] = {}
    for k in ItemTable.__slots__:
        v = getattr(table, k)
        cols[k] = np.where(have, v[src], np.nan if v.dtype.kind == "f" else False)
    return ItemTable(**cols)


def _range_position(unit: np.ndarray, group: np.ndarray) -> np.ndarray:
    """(x - min) / (max - min) of finite ``unit`` within each group; NaN without a range."""
    out = np.full(unit.size, np.nan)
    ok = np.isfinite(unit)
    if not ok.any():
        return out
    codes = np.unique(group[ok], return_inverse=True)[1].reshape(-1)
    x = unit[ok]
    lo = np.full(codes.max() + 1, np.inf)
    hi = np.full(codes.max() + 1, -np.inf)
    np.minimum.at(lo, codes, x)
    np.maximum.at(hi, codes, x)
    span = hi[codes] - lo[codes]
    out[ok] = np.where(span > 0, (x - lo[codes]) / np.where(span > 0, span, 1.0), np.nan)
    return out


def _percentile_position(x: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each finite value among the finite values (NaN elsewhere)."""
    out = np.full(x.size, np.nan)
    ok = np.isfinite(x)
    v = x[ok]
    if v.size < 2:
        return out
    s = np.sort(v)
    below = np.searchsorted(s, v, side="left")
    upto = np.searchsorted(s, v, side="right")
    out[ok] = ((below + upto) / 2.0 - 0.5) / (v.size - 1)
    return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------------- sums
# per-customer sums from which every feature follows (shared by both paths)
_SUMS = ("orders", "first", "last", "monetary", "lines", "disc", "tiered", "low", "high",
         "tier_pos", "value", "priced", "price_pos", "excl", "warranty", "acc", "sub")


def default_at(tx: Transactions) -> np.datetime64:
    """The day after the last order line: the usual RFM reference time."""
    time = tx.require("time", "customer features")
    if time.size == 0:
        raise UpsellDataError("`tx` has no order lines: there is no last purchase to measure "
                              "recency from (pass `at=` or more data)")
    last = time.max()
    return (last.astype("datetime64[D]") + np.timedelta64(1, "D")).astype("datetime64[s]")


def as_time(value: Any, name: str = "at") -> np.datetime64:
    """``at=`` as datetime64[s] (:func:`upsell._validation.as_time`; kept for the segmenters)."""
    return _parse_time(value, name)


def customer_sums(tx: Transactions, table: ItemTable, at: np.datetime64) -> dict[str, np.ndarray]:
    """The per-customer sums of :data:`_SUMS`, over lines strictly before ``at``."""
    n = len(tx.customers)
    cust = tx.require("customer", "customer features")
    time = tx.require("time", "customer features")
    price = tx.price if tx.has("price") else np.full(len(tx), np.nan)
    keep = (cust >= 0) & (time < at) & (tx.quantity > 0)
    c = cust[keep]
    it = tx.item[keep]
    p = price[keep]

    def count(mask: np.ndarray | None = None, weights: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            return np.bincount(c, weights=weights, minlength=n).astype(np.float64)
        w = None if weights is None else weights[mask]
        return np.bincount(c[mask], weights=w, minlength=n).astype(np.float64)

    ref = table.ref_price[it]
    disc = np.isfinite(p) & np.isfinite(ref) & (p < ref * (1.0 - DISCOUNT_TOLERANCE))
    tp = table.tier_pos[it]
    pp = table.price_pos[it]
    tiered = np.isfinite(tp)
    priced = np.isfinite(pp)
    out = {
        # a purchase log without items has no product lines: its shares are unknown (NaN)
        "lines": count() if tx.has("item") else np.zeros(n),
        "disc": count(disc), "tiered": count(tiered),
        "low": count(table.low_tier[it]), "high": count(table.high_tier[it]),
        "tier_pos": count(tiered, tp), "value": count(table.value_pack[it]),
        "priced": count(priced), "price_pos": count(priced, pp),
        "excl": count(table.exclusive[it]), "warranty": count(table.warranty[it]),
        "acc": count(table.accessory[it]), "sub": count(table.subscription[it]),
    }
    # orders, first/last time and net value (returns kept as negative lines count here)
    allc = (cust >= 0) & (time < at)
    oc = cust[allc]
    oo = tx.order[allc]
    val = tx.quantity[allc] * price[allc]
    out["monetary"] = np.bincount(oc, weights=np.nan_to_num(val), minlength=n)
    if not tx.has("price"):  # no prices: spend and discounts are unknown (NaN), not 0
        out["monetary"] = np.full(n, np.nan)
        out["disc"] = np.full(n, np.nan)
    units = np.bincount(oo, weights=tx.quantity[allc], minlength=len(tx.orders))
    o_cust = np.full(len(tx.orders), -1, dtype=np.int64)
    o_cust[oo] = oc
    o_time = np.full(len(tx.orders), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(o_time, oo, time[allc].astype(np.int64))
    sale = (units > 0) & (o_cust >= 0)
    out["orders"] = np.bincount(o_cust[sale], minlength=n).astype(np.float64)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, o_cust[sale], o_time[sale].astype(np.float64))
    np.maximum.at(last, o_cust[sale], o_time[sale].astype(np.float64))
    out["first"], out["last"] = first, last
    return out


def features_from_sums(s: Mapping[str, np.ndarray], at: np.datetime64) -> np.ndarray:
    """The feature matrix (n, len(FEATURES)) from per-customer sums."""
    at_s = float(at.astype(np.int64))
    n = s["orders"].size
    out = np.empty((n, len(FEATURES)))
    has = s["orders"] > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        tenure = np.where(has, np.floor((at_s - s["first"]) / _DAY), 0.0)
        recency = np.where(has, np.floor((at_s - s["last"]) / _DAY), np.nan)
        lines = s["lines"]
        out[:, _F["orders"]] = s["orders"]
        out[:, _F["tenure_days"]] = tenure
        out[:, _F["recency_days"]] = recency
        out[:, _F["orders_per_month"]] = s["orders"] / np.maximum(tenure, RATE_MIN_DAYS) * 30.0
        out[:, _F["monetary"]] = s["monetary"]
        out[:, _F["aov"]] = np.where(has, s["monetary"] / s["orders"], 0.0)
        share = np.where(lines > 0, 1.0 / lines, np.nan)
        out[:, _F["discount_share"]] = s["disc"] * share
        out[:, _F["value_pack_share"]] = s["value"] * share
        out[:, _F["exclusive_share"]] = s["excl"] * share
        out[:, _F["warranty_share"]] = s["warranty"] * share
        out[:, _F["accessory_share"]] = s["acc"] * share
        out[:, _F["subscription_share"]] = s["sub"] * share
        t = s["tiered"]
        out[:, _F["low_tier_share"]] = np.where(t > 0, s["low"] / t, np.nan)
        out[:, _F["high_tier_share"]] = np.where(t > 0, s["high"] / t, np.nan)
        out[:, _F["tier_position"]] = np.where(t > 0, s["tier_pos"] / t, np.nan)
        out[:, _F["price_position"]] = np.where(s["priced"] > 0, s["price_pos"] / s["priced"],
                                                np.nan)
    return out


def customer_features(tx: Transactions, catalog: Catalog | None = None, *,
                      at: Any = None) -> CustomerFeatures:
    """Behavioural features of every customer, the table personas and clusters use.

    Parameters
    ----------
    tx : Transactions
        Needs the ``customer`` and ``time`` columns; ``price`` for the money and
        discount features (they are NaN or 0 without it).
    catalog : Catalog, optional
        Gives list prices (the reference for discounts), families, tiers, kinds,
        pack sizes and exclusive flags. Without it (or for an item it gives no
        price) the reference price of an item is the median unit price paid for it
        (its usual price), price position is the item's
        percentile among all items, and the tier, kind and exclusive features are
        NaN or 0. A purchase log read without items (``no_items``) has no product
        to compare a price with: its discount, price-position and kind shares are
        NaN (unknown), so no customer type is claimed from them.
    at : datetime or str, optional
        Reference time; lines at or after it are ignored. Default: the day after
        the last line.

    Returns
    -------
    CustomerFeatures
        One row per customer of ``tx.customers`` (customers without a line before
        ``at`` have 0 orders and NaN recency). Columns:

        ``orders``
            sale orders (orders with positive net units)
        ``tenure_days``, ``recency_days``
            whole days from the first and from the last order to ``at``

        ``orders_per_month``
            ``orders / max(tenure_days, 30) * 30``
        ``monetary``, ``aov``
            net value (quantity x price, returns netted) and value per order
        ``discount_share``
            share of lines paid more than 2% below the item's reference price
        ``low_tier_share``, ``high_tier_share``, ``tier_position``
            among lines of tiered products (families with at least two tiers): share
            at the family's lowest tier, share in the upper half of the ladder, and
            mean position ``(tier - lowest) / (highest - lowest)``
        ``value_pack_share``
            share of lines that are value packs, bundles or multi-unit packs
        ``price_position``
            mean position of the item's unit price (price / pack size) within its
            family's range (category and kind when it has no family), 0 cheapest
            to 1 dearest
        ``exclusive_share``, ``warranty_share``, ``accessory_share``, ``subscription_share``
            share of lines of exclusive items and of each kind

        The ``*_share`` columns are NaN for a customer without a product line
        before ``at``.

    Raises
    ------
    UpsellDataError
        If ``tx`` lacks customers or times, or ``at`` is not a time.

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 2, 3], item=["a", "a", "b"], customer=["x", "x", "y"],
    ...     price=[10.0, 8.0, 4.0], time=["2024-01-01", "2024-01-31", "2024-01-31"])
    >>> f = customer_features(tx)
    >>> f.column("orders").tolist(), f.column("tenure_days").tolist()
    ([2.0, 1.0], [31.0, 1.0])
    >>> f.column("discount_share").tolist()
    [0.5, 0.0]
    """
    as_transactions(tx, "tx")
    if catalog is not None and not isinstance(catalog, Catalog):
        raise UpsellDataError(f"`catalog` must be a Catalog or None; got {type(catalog).__name__}")
    tx.require("customer", "customer_features")
    tx.require("time", "customer_features")
    when = default_at(tx) if at is None else as_time(at)
    table = item_table(tx, catalog)
    values = features_from_sums(customer_sums(tx, table, when), when)
    values.flags.writeable = False
    return CustomerFeatures(customers=tx.customers.ids, values=values, names=FEATURES, at=when)


# ---------------------------------------------------------------------- one customer
class HistoryReader:
    """Turns one live customer's order lines into the feature vector, in pure Python.

    ``rows`` are :meth:`ItemTable.rows`; ``items`` maps external item ids to them.
    Unknown items count as lines with no reference price, tier or family.
    """

    __slots__ = ("items", "rows")

    def __init__(self, items: IdIndex, table: ItemTable) -> None:
        self.items = items
        self.rows = table.rows()

    def features(self, history: Any, at: Any = None) -> list[float]:
        """The feature vector (:data:`FEATURES` order) of ``history`` at ``at`` (default: now)."""
        when = np.datetime64("now", "s") if at is None else as_time(at)
        at_s = float(when.astype(np.int64))
        return features_one(self.sums(history, at_s), at_s)

    def sums(self, history: Any, at_s: float) -> dict[str, float]:
        lookup = self.items._lookup()
        recs = _history_records(history)
        s = dict.fromkeys(_SUMS, 0.0)
        order_units: dict[Any, float] = {}
        order_time: dict[Any, float] = {}
        monetary = 0.0
        rows = self.rows
        for k, (order, item, qty, price, t) in enumerate(recs):
            if t >= at_s:
                continue
            key = order if order is not None else ("line", k)
            order_units[key] = order_units.get(key, 0.0) + qty
            if key not in order_time or t < order_time[key]:
                order_time[key] = t
            if price == price:
                monetary += qty * price
            if qty <= 0:
                continue
            try:
                pos = lookup.get(item.item() if isinstance(item, np.generic) else item)
            except TypeError:  # a list, dict or array where an id belongs
                raise UpsellDataError(
                    f"`history` line {k}: item {item!r} is not an id (string or integer)"
                ) from None
            s["lines"] += 1.0
            if pos is None:
                continue
            (ref, _tiered, low, high, tier_pos, value, price_pos, excl, war, acc,
             sub) = rows[pos]
            if price == price and ref == ref and price < ref * (1.0 - DISCOUNT_TOLERANCE):
                s["disc"] += 1.0
            if tier_pos == tier_pos:
                s["tiered"] += 1.0
                s["tier_pos"] += tier_pos
            s["low"] += low
            s["high"] += high
            s["value"] += value
            if price_pos == price_pos:
                s["priced"] += 1.0
                s["price_pos"] += price_pos
            s["excl"] += excl
            s["warranty"] += war
            s["acc"] += acc
            s["sub"] += sub
        sale = [order_time[k] for k, u in order_units.items() if u > 0]
        s["orders"] = float(len(sale))
        s["first"] = min(sale) if sale else math.inf
        s["last"] = max(sale) if sale else -math.inf
        s["monetary"] = monetary
        return s


def features_one(s: Mapping[str, float], at_s: float) -> list[float]:
    """:func:`features_from_sums` for one customer, in pure Python (same formulas)."""
    nan = math.nan
    orders = s["orders"]
    has = orders > 0
    tenure = float(math.floor((at_s - s["first"]) / _DAY)) if has else 0.0
    recency = float(math.floor((at_s - s["last"]) / _DAY)) if has else nan
    lines = s["lines"]
    share = 1.0 / lines if lines > 0 else nan
    t = s["tiered"]
    return [
        orders, tenure, recency, orders / max(tenure, RATE_MIN_DAYS) * 30.0, s["monetary"],
        s["monetary"] / orders if has else 0.0, s["disc"] * share,
        s["low"] / t if t > 0 else nan, s["value"] * share,
        s["price_pos"] / s["priced"] if s["priced"] > 0 else nan,
        s["high"] / t if t > 0 else nan, s["tier_pos"] / t if t > 0 else nan,
        s["excl"] * share, s["warranty"] * share, s["acc"] * share, s["sub"] * share,
    ]


_HISTORY_KEYS = ("order", "item", "quantity", "price", "time")


def _history_records(history: Any) -> list[tuple[Any, Any, float, float, float]]:
    """Normalise a history to (order, item, quantity, price, time in epoch seconds) tuples.

    Accepted: a mapping of columns (``item`` and ``time`` required; ``order``,
    ``quantity``, ``price`` optional), or a sequence of per-line mappings with
    those keys.
    """
    if history is None:
        return []
    if isinstance(history, Mapping):
        if "item" not in history or "time" not in history:
            raise UpsellDataError(
                "`history` needs 'item' and 'time' (one value per line); got keys "
                f"{sorted(map(str, history))}")
        items = list(history["item"])
        n = len(items)
        cols = {k: (list(history[k]) if k in history else None) for k in _HISTORY_KEYS}
        for k, v in cols.items():
            if v is not None and len(v) != n:
                raise UpsellDataError(
                    f"`history` columns must have the same length; 'item' has {n}, "
                    f"{k!r} has {len(v)}")
        lines: Iterable[tuple[Any, ...]] = zip(
            cols["order"] or [None] * n, items, cols["quantity"] or [1.0] * n,
            cols["price"] or [math.nan] * n, cols["time"], strict=True)  # type: ignore[arg-type]
    elif isinstance(history, Sequence) and not isinstance(history, (str, bytes)):
        lines = []
        for pos, rec in enumerate(history):
            if not isinstance(rec, Mapping) or "item" not in rec or "time" not in rec:
                raise UpsellDataError(
                    f"`history` line {pos} must be a mapping with 'item' and 'time'; got {rec!r}")
            lines.append((rec.get("order"), rec["item"], rec.get("quantity", 1.0),
                          rec.get("price", math.nan), rec["time"]))
    else:
        raise UpsellDataError(
            "`history` must be a mapping of columns or a sequence of line mappings; got "
            f"{type(history).__name__}")
    out = []
    for order, item, qty, price, t in lines:
        out.append((order, item, _num(qty, "quantity"),
                    math.nan if price is None else _num(price, "price"), _epoch(t)))
    return out


def _num(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UpsellDataError(f"`history` {name} must be a number; got {value!r}") from None
    return out


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        t = _parse_time(value, "history")
    except UpsellDataError:
        raise UpsellDataError(
            f"`history` time must be a datetime, ISO 8601 string or epoch seconds; "
            f"got {value!r}") from None
    return float(t.astype(np.int64))


def check_customers(index: IdIndex, customers: Any) -> np.ndarray:
    """Indices of the given external customer ids (raising on unknown ones)."""
    try:
        return index.encode(customers)
    except UnknownIdError:
        raise
    except UpsellDataError as exc:
        raise UpsellDataError(f"`customers`: {exc}") from None
