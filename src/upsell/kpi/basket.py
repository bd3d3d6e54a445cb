"""Basket KPIs: ATV, UPT, revenue per order, attach, cross-sell and upsell rates.

Every KPI is a ratio computed over orders (from :meth:`Transactions.order_table`),
overall or grouped by day, week, month, customer segment or channel. Returns
and cancellations are whatever the Transactions say: with the default
``returns="net"`` returned quantities are already subtracted from the purchases
they undo, so order values and units are net; with ``returns="keep"`` return
lines count as negative lines of their own orders.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._validation import as_segments, as_transactions, check_choice
from upsell.data.catalog import Catalog
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError
from upsell.kpi._common import KPIResult, encode_labels

__all__ = [
    "BY",
    "attach_rate",
    "atv",
    "cross_sell_rate",
    "revenue_per_order",
    "upsell_rate",
    "upt",
]

#: Groupings every basket KPI accepts as ``by``.
BY = ("day", "week", "month", "segment", "channel")

#: Catalog kinds that attach to a primary product's family.
ATTACH_KINDS = ("accessory", "warranty", "subscription")


def _check_catalog(catalog: Any, tx: Transactions, feature: str) -> Catalog:
    if not isinstance(catalog, Catalog):
        raise UpsellDataError(f"{feature} needs `catalog` (a Catalog); got {type(catalog).__name__}")
    return catalog.align(tx.items)


def _order_groups(tx: Transactions, by: str | None, segments: Any
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Group code of every order (-1: left out) and the sorted group labels."""
    n_orders = len(tx.orders)
    if by is None:
        if segments is not None:
            raise UpsellDataError("`segments` is only used with by='segment'; got by=None")
        return np.zeros(n_orders, dtype=np.int64), np.array(["all"])
    check_choice(by, "by", BY)
    ot = tx.order_table()
    if by in ("day", "week", "month"):
        tx.require("time", f"by={by!r}")
        day = ot.time.astype("datetime64[D]")
        if by == "day":
            labels = day
        elif by == "week":
            d = day.astype(np.int64)
            labels = (d - (d + 3) % 7).astype("datetime64[D]")  # 1970-01-01 was a Thursday
        else:
            labels = ot.time.astype("datetime64[M]")
        groups, codes = encode_labels(labels)
        return codes, groups
    if by == "channel":
        ch = tx.require("channel", "by='channel'")
        o = tx.order
        starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
        assert tx.channels is not None
        labels = tx.channels.ids[ch[starts]]
        groups, codes = encode_labels(labels)
        return codes, groups
    # segment
    if segments is None:
        raise UpsellDataError(
            "by='segment' needs `segments`: a mapping customer id -> label, or an array with "
            "one label per customer in `tx.customers` order")
    tx.require("customer", "by='segment'")
    labels, _ = as_segments(segments, tx.customers, "segments")  # "" = no label
    cust = ot.customer
    ok = cust >= 0
    ok[ok] = labels[cust[ok]] != ""
    codes = np.full(n_orders, -1, dtype=np.int64)
    if not ok.any():
        return codes, np.array([], dtype=object)
    groups, sub = encode_labels(labels[cust[ok]])
    codes[ok] = sub
    return codes, groups


def _ratio(metric: str, by: str | None, codes: np.ndarray, groups: np.ndarray,
           num: np.ndarray, den: np.ndarray, *, empty: str = "no orders",
           undefined: str = "") -> KPIResult:
    """``num / den`` summed per group; NaN (with a ``note`` saying why) where the
    denominator is 0 (``empty`` says what that means), and everywhere when the data
    cannot express the KPI at all (``undefined``, e.g. a catalog without attachments,
    where a 0 would read as "nobody attached")."""
    keep = codes >= 0
    k = groups.size
    n = np.bincount(codes[keep], weights=num[keep], minlength=k).astype(np.float64)
    d = np.bincount(codes[keep], weights=den[keep], minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)
    note = ""
    if undefined:
        v = np.full(k, np.nan)
        note = f"{metric} is n/a: {undefined}"
    elif k == 0:
        note = f"{metric} is n/a: no order falls in any group"
    elif not (d > 0).all():
        bad = int((~(d > 0)).sum())
        where = "" if by is None else f" for {bad:,} of {k:,} groups"
        note = f"{metric} is n/a{where}: {empty}"
    return KPIResult(metric=metric, by=by, groups=groups, value=v, numerator=n, denominator=d,
                     note=note)


def atv(tx: Transactions, *, by: str | None = None, segments: Any = None) -> KPIResult:
    """Average transaction value: net revenue per order.

    Parameters
    ----------
    tx : Transactions
        Needs ``price``; ``time`` for period groupings, ``customer`` for segments,
        ``channel`` for channels.
    by : {None, "day", "week", "month", "segment", "channel"}
        Grouping. Weeks start on Monday; an order belongs to the period of its time.
    segments : mapping, Series, pair, segmenter result or array-like, optional
        With ``by="segment"``: customer id -> label (a mapping or pandas Series), a
        ``(customer ids, labels)`` pair, a segmenter's result (RFM, Personas,
        Clusters), or one label per customer in ``tx.customers`` order. Labels are
        read as text; orders of anonymous or unlabelled customers are left out.

    Returns
    -------
    KPIResult
        numerator = net revenue, denominator = orders.

    Notes
    -----
    ``ATV = sum_o sum_l q_l p_l / |orders|`` with quantities net of returns as the
    Transactions report says.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
    ...                               quantity=[1, 2, 1], price=[10.0, 5.0, 10.0])
    >>> float(atv(tx))
    15.0
    """
    tx = as_transactions(tx, "tx")
    tx.require("price", "atv")
    codes, groups = _order_groups(tx, by, segments)
    ot = tx.order_table()
    return _ratio("atv", by, codes, groups, ot.value, np.ones(len(ot)))


def revenue_per_order(tx: Transactions, *, by: str | None = None,
                      segments: Any = None) -> KPIResult:
    """Revenue per order: the same ratio as :func:`atv`, under the handbook's other name.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 2], item=["a", "a"], price=[4.0, 6.0])
    >>> r = revenue_per_order(tx)
    >>> r.metric, float(r), r.numerator.tolist()
    ('revenue_per_order', 5.0, [10.0])
    """
    r = atv(tx, by=by, segments=segments)
    return KPIResult("revenue_per_order", r.by, r.groups, r.value, r.numerator, r.denominator,
                     r.note.replace("atv", "revenue_per_order", 1))


def upt(tx: Transactions, *, by: str | None = None, segments: Any = None) -> KPIResult:
    """Units per transaction: net units sold per order.

    Parameters
    ----------
    tx, by, segments
        As for :func:`atv` (no price needed).

    Returns
    -------
    KPIResult
        numerator = net units, denominator = orders.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"], quantity=[1, 2, 3])
    >>> float(upt(tx))
    3.0
    """
    tx = as_transactions(tx, "tx")
    codes, groups = _order_groups(tx, by, segments)
    ot = tx.order_table()
    return _ratio("upt", by, codes, groups, ot.units, np.ones(len(ot)))


def _order_item_matrix(tx: Transactions) -> sp.csr_matrix:
    return tx.baskets()


def attach_rate(tx: Transactions, catalog: Catalog, *, by: str | None = None,
                segments: Any = None) -> KPIResult:
    """Share of orders with a primary product that also hold one of its attachments.

    Parameters
    ----------
    tx : Transactions
    catalog : Catalog
        Needs ``kind``, ``family`` and ``attaches_to``. Items missing from the
        catalog count as products without a family (neither primary nor attachment).
    by, segments
        As for :func:`atv`.

    Returns
    -------
    KPIResult
        numerator = orders holding a primary and an attachment of its family,
        denominator = orders holding a primary.

    Notes
    -----
    A *primary* is an item of kind "product" with a family; an *attachment* is an
    item of kind "accessory", "warranty" or "subscription" whose ``attaches_to``
    names a family. An order is attached when some attachment's ``attaches_to``
    equals the family of some primary in the same order. Lines with negative net
    quantity do not count.

    Examples
    --------
    >>> cat = Catalog.from_records([
    ...     {"item": "P1", "family": "phone"}, {"item": "L1", "family": "laptop"},
    ...     {"item": "C1", "kind": "accessory", "attaches_to": "phone"},
    ...     {"item": "W1", "kind": "warranty", "attaches_to": "laptop"}])
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2, 3, 4],
    ...                               item=["P1", "C1", "L1", "C1", "L1", "C1"])
    >>> r = attach_rate(tx, cat)
    >>> r.numerator.tolist(), r.denominator.tolist()
    ([1.0], [3.0])
    """
    tx = as_transactions(tx, "tx")
    cat = _check_catalog(catalog, tx, "attach_rate")
    codes, groups = _order_groups(tx, by, segments)
    fam_all = np.concatenate([cat.family, cat.attaches_to])
    fams, fam_code = np.unique(fam_all, return_inverse=True)
    n_items = len(tx.items)
    fam_of = fam_code[:n_items]
    att_of = fam_code[n_items:]
    primary = (cat.kind == "product") & (np.char.str_len(cat.family) > 0)
    attach = np.isin(cat.kind, ATTACH_KINDS) & (np.char.str_len(cat.attaches_to) > 0)
    b = _order_item_matrix(tx)
    n_f = fams.size
    to_fam_p = sp.csr_matrix((np.ones(int(primary.sum())), (np.flatnonzero(primary),
                              fam_of[primary])), shape=(n_items, n_f))
    to_fam_a = sp.csr_matrix((np.ones(int(attach.sum())), (np.flatnonzero(attach),
                              att_of[attach])), shape=(n_items, n_f))
    has_p = (b @ to_fam_p)
    has_a = (b @ to_fam_a)
    both = np.asarray((has_p.multiply(has_a) > 0).sum(axis=1)).ravel() > 0
    any_p = np.asarray(has_p.sum(axis=1)).ravel() > 0
    return _ratio("attach_rate", by, codes, groups, both.astype(np.float64),
                  any_p.astype(np.float64), undefined=_attach_undefined(catalog),
                  empty="no order holds a primary product")


def _attach_undefined(catalog: Catalog) -> str:
    """Why the whole catalog (not only the items sold) makes an attach rate meaningless:
    then 0 would not mean "offered, not taken" but "impossible"."""
    primary = (catalog.kind == "product") & (np.char.str_len(catalog.family) > 0)
    attach = np.isin(catalog.kind, ATTACH_KINDS) & (np.char.str_len(catalog.attaches_to) > 0)
    if not primary.any():
        return "the catalog marks no item as a primary product (kind 'product' with a family)"
    if not attach.any():
        return ("the catalog marks no item as an attachment (kind "
                f"{', '.join(ATTACH_KINDS)} with `attaches_to` naming a family)")
    if not np.isin(catalog.attaches_to[attach], catalog.family[primary]).any():
        return "no attachment's `attaches_to` names the family of a primary product"
    return ""


def cross_sell_rate(tx: Transactions, catalog: Catalog | None = None, *, by: str | None = None,
                    segments: Any = None, level: str = "category") -> KPIResult:
    """Share of orders that span more than one category (or family, or item).

    Parameters
    ----------
    tx : Transactions
    catalog : Catalog, optional
        Gives each item its ``category`` or ``family``; without it each item is
        its own group, so the KPI is the share of multi-item orders.
    by, segments
        As for :func:`atv`.
    level : {"category", "family"}, default "category"
        Catalog column that defines "another product line". Items with an empty
        label count as a group of their own each.

    Returns
    -------
    KPIResult
        numerator = orders with at least 2 distinct groups, denominator = orders.

    Notes
    -----
    Cross-selling adds products from another line to a purchase; from order data
    alone its footprint is the multi-category basket:
    ``rate = |{o : |{cat(i) : i in o}| >= 2}| / |orders|``. The offer-level rate
    (accepted cross-sell offers / presented) is :func:`upsell.kpi.conversion` with
    ``by="kind"``.

    Examples
    --------
    >>> cat = Catalog.from_records([{"item": "a", "category": "x"},
    ...                             {"item": "b", "category": "x"},
    ...                             {"item": "c", "category": "y"}])
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2, 3], item=["a", "b", "a", "c", "c"])
    >>> float(cross_sell_rate(tx, cat))
    0.3333333333333333
    """
    tx = as_transactions(tx, "tx")
    check_choice(level, "level", ("category", "family"))
    codes, groups = _order_groups(tx, by, segments)
    b = _order_item_matrix(tx)
    n_items = len(tx.items)
    if catalog is None:
        grp = np.arange(n_items)
    else:
        cat = _check_catalog(catalog, tx, "cross_sell_rate")
        lab = cat.category if level == "category" else cat.family
        _, grp = np.unique(lab, return_inverse=True)
        empty = np.char.str_len(lab) == 0
        grp = np.where(empty, grp.max(initial=0) + 1 + np.arange(n_items), grp)
    _, grp = np.unique(grp, return_inverse=True)
    m = b @ sp.csr_matrix((np.ones(n_items), (np.arange(n_items), grp.reshape(-1))),
                          shape=(n_items, int(grp.max(initial=-1)) + 1))
    m = sp.csr_matrix(m)
    m.eliminate_zeros()
    multi = np.diff(m.indptr) >= 2
    return _ratio("cross_sell_rate", by, codes, groups, multi.astype(np.float64),
                  np.ones(len(tx.orders)))


def upsell_rate(tx: Transactions, catalog: Catalog, *, by: str | None = None,
                segments: Any = None) -> KPIResult:
    """Share of repeat-family orders in which the customer moved up a tier.

    Parameters
    ----------
    tx : Transactions
        Needs ``customer`` and ``time``.
    catalog : Catalog
        Needs ``family`` and ``tier``; items without a tier are ignored.
    by, segments
        As for :func:`atv`.

    Returns
    -------
    KPIResult
        numerator = upsell orders, denominator = upsell opportunities.

    Notes
    -----
    For customer ``c`` and family ``f`` let ``h(c, f, o)`` be the highest tier
    ``c`` bought in ``f`` in orders strictly earlier than order ``o``. An order is
    an *opportunity* when it holds a tiered item of a family its customer bought
    before, and an *upsell* when one such item has ``tier > h(c, f, o)``.
    ``rate = upsells / opportunities``. Orders at the same time are ordered by
    order id. Anonymous orders are left out.

    Examples
    --------
    >>> cat = Catalog.from_records([{"item": "P1", "family": "phone", "tier": 1},
    ...                             {"item": "P2", "family": "phone", "tier": 2}])
    >>> tx = Transactions.from_arrays(order=[1, 2, 3, 4], item=["P1", "P2", "P1", "P1"],
    ...     customer=["x", "x", "y", "y"],
    ...     time=["2020-01-01", "2020-02-01", "2020-01-01", "2020-03-01"])
    >>> r = upsell_rate(tx, cat)
    >>> r.numerator.tolist(), r.denominator.tolist()
    ([1.0], [2.0])
    """
    tx = as_transactions(tx, "tx")
    cat = _check_catalog(catalog, tx, "upsell_rate")
    tx.require("customer", "upsell_rate")
    tx.require("time", "upsell_rate")
    codes, groups = _order_groups(tx, by, segments)
    ot = tx.order_table()
    tier = cat.tier
    _, fam = np.unique(cat.family, return_inverse=True)
    undefined = _upsell_undefined(catalog)
    line_ok = (tx.quantity > 0) & ~np.isnan(tier[tx.item]) & (tx.customer >= 0)
    rows = np.flatnonzero(line_ok)
    n_orders = len(tx.orders)
    up = np.zeros(n_orders)
    opp = np.zeros(n_orders)
    if rows.size:
        c = tx.customer[rows].astype(np.int64)
        f = fam.reshape(-1)[tx.item[rows]].astype(np.int64)
        o = tx.order[rows].astype(np.int64)
        t = ot.time[o].astype(np.int64)
        lt = tier[tx.item[rows]]
        srt = np.lexsort((o, t, f, c))
        c, f, o, lt = c[srt], f[srt], o[srt], lt[srt]
        # best tier per (customer, family, order), then the running max of earlier orders
        key_cf = np.r_[True, (c[1:] != c[:-1]) | (f[1:] != f[:-1])]
        key_o = key_cf | np.r_[True, o[1:] != o[:-1]]
        starts = np.flatnonzero(key_o)
        best = np.maximum.reduceat(lt, starts)
        grp_start = key_cf[starts]
        og = o[starts]
        # running max within (c, f) groups, shifted by one order
        gid = np.cumsum(grp_start) - 1
        offset = gid * (np.nanmax(best) - np.nanmin(best) + 1.0)
        run = np.maximum.accumulate(best + offset) - offset
        prev = np.r_[np.nan, run[:-1]]
        prev[grp_start] = np.nan
        has_prev = ~np.isnan(prev)
        is_up = has_prev & (best > np.where(has_prev, prev, np.inf))
        np.maximum.at(opp, og[has_prev], 1.0)
        np.maximum.at(up, og[is_up], 1.0)
    return _ratio("upsell_rate", by, codes, groups, up, opp, undefined=undefined,
                  empty="no customer bought a tiered item of a family they had bought before "
                        "(no upsell opportunity)")


def _upsell_undefined(catalog: Catalog) -> str:
    """Why the catalog makes an upsell rate meaningless: no tiers, or no family with two
    tiers to move between."""
    tier = catalog.tier
    tiered = ~np.isnan(tier)
    if not tiered.any():
        return "the catalog gives no item a tier"
    _, fam = np.unique(catalog.family[tiered], return_inverse=True)
    fam = fam.reshape(-1)
    high = np.full(int(fam.max(initial=0)) + 1, -np.inf)
    low = np.full(high.size, np.inf)
    np.maximum.at(high, fam, tier[tiered])
    np.minimum.at(low, fam, tier[tiered])
    if not np.any(high > low):
        return "no product family of the catalog has items of more than one tier"
    return ""
