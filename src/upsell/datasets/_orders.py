"""The synthetic shop's customers, orders and order lines, and the truth behind them.

Internal to :mod:`upsell.datasets.synthetic`. Each stage draws from the generator in the
order the stages run (customers, order times and types, primary purchases and upgrades,
anonymous orders, channels and times, lines, returns): any change of that order changes
every shop a seed gives, which ``tests/datasets/test_synthetic.py`` pins. Everything is
vectorised: the loops run over the rank of a customer's repeat visit, never over
customers or orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from upsell.data.engine import Prepared, from_prepared
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.datasets._catalog import Cat, attachments, to_final

CHANNELS = ("email", "store", "web")  # sorted: codes are positions
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


@dataclass
class _Customers:
    """Per-customer draws (by customer number) and how many orders each places."""

    persona: np.ndarray
    cluster: np.ndarray
    p_up: np.ndarray
    home: np.ndarray
    base_tier: np.ndarray
    k_orders: np.ndarray
    t0_day: np.ndarray
    n_anon: int


@dataclass
class _Known:
    """Orders of known customers, grouped by customer and in time order within one."""

    oc: np.ndarray               # order -> customer
    starts: np.ndarray           # first order of each customer
    j: np.ndarray                # rank within customer
    day: np.ndarray
    typ: np.ndarray              # 0 primary, 1 refill, 2 filler
    # set by _primary_purchases
    fam: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    tier: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    revisit: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    first_in_family: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))


@dataclass
class _Orders:
    """Every sale order: known customers' then anonymous ones (customer -1)."""

    cust: np.ndarray
    pers: np.ndarray
    clu: np.ndarray
    day: np.ndarray
    typ: np.ndarray
    fam: np.ndarray
    tier: np.ndarray
    home: np.ndarray
    newfam: np.ndarray
    first: np.ndarray
    anon: np.ndarray
    ch: np.ndarray
    sec: np.ndarray


def make_orders(rng: np.random.Generator, cat: Cat,
                p: dict[str, Any]) -> tuple[Transactions, dict[str, Any]]:
    """Draw customers and their orders; the cleaned Transactions and the truth's fields.

    The truth's ``persona`` field holds persona codes (positions in ``PERSONAS``).
    """
    first_day, last_day = p["_start_day"], p["_end_day"]
    n_days = int((last_day - first_day).astype(np.int64)) + 1
    w_base, w_sale = _day_weights(first_day, last_day)
    cdfs = np.stack([_cdf(w_base), _cdf(w_sale)])    # (2, n_days + 1)
    c = _customers(rng, cat, p, n_days, cdfs)
    known = _known_orders(rng, cat, c, p, n_days, cdfs)
    home_final, chances, ups = _primary_purchases(rng, cat, c, known, p)
    orders = _all_orders(rng, cat, c, known, p, n_days, cdfs)
    starts = known.starts
    del known
    prep = _prepared(rng, cat, c, orders, p, n_days)
    first_sec = orders.sec[starts]
    # free the order-level arrays before cleaning, which needs several copies of the lines
    del orders
    tx = from_prepared(prep, cancel_prefix="C")
    del prep

    # ---- truth aligned to the customers left after cleaning
    present = np.searchsorted(customer_ids(p["n_customers"]), tx.customers.ids)
    t0 = first_day.astype("datetime64[s]")
    truth = dict(
        customers=tx.customers.ids,
        persona=c.persona[present],
        p_upgrade=c.p_up[present],
        cluster=c.cluster[present].astype(np.int32),
        home_family=cat.family_labels[c.home[present]],
        base_tier=c.base_tier[present].astype(np.int32),
        final_tier=home_final[present].astype(np.int32),
        first_purchase=(t0 + first_sec[present].astype("timedelta64[s]")),
        n_orders=c.k_orders[present].astype(np.int32),
        upgrade_chances=chances[present].astype(np.int32),
        upgrades=ups[present].astype(np.int32),
        items=cat.catalog.items.ids,
        item_taste=to_final(cat.taste, cat.final_pos).astype(np.float32),
        adds_value=to_final(cat.adds_value[None, :], cat.final_pos)[0],
        attachments=attachments(cat),
    )
    return tx, truth


# ---------------------------------------------------------------------- customers
def _customers(rng: np.random.Generator, cat: Cat, p: dict[str, Any], n_days: int,
               cdfs: np.ndarray) -> _Customers:
    """Personas, taste clusters, upgrade propensity, home family, orders per customer."""
    n_cust, n_orders = p["n_customers"], p["n_orders"]
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
    return _Customers(persona=persona, cluster=cluster, p_up=p_up, home=home,
                      base_tier=base_tier, k_orders=k_orders, t0_day=t0_day, n_anon=n_anon)


# ---------------------------------------------------------------------- orders
def _known_orders(rng: np.random.Generator, cat: Cat, c: _Customers, p: dict[str, Any],
                  n_days: int, cdfs: np.ndarray) -> _Known:
    """Days and types of the known customers' orders (refills every refill_lag_days)."""
    persona, k_orders = c.persona, c.k_orders
    sale_hunter = (persona == 2).astype(np.int64)
    oc = np.repeat(np.arange(persona.size), k_orders)          # order -> customer
    n_ko = oc.size
    starts = np.r_[0, np.cumsum(k_orders)[:-1]]
    j = np.arange(n_ko) - starts[oc]                      # rank within customer
    kk = k_orders[oc]
    lo_c = cdfs[sale_hunter, c.t0_day]
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
    day = _inverse_day(uq, sale_hunter[oc], cdfs, n_days)
    day = np.maximum(day, c.t0_day[oc])

    # order types: 0 primary, 1 refill, 2 filler
    typ = _draw(rng, np.cumsum(_TYPE_P, axis=1), persona[oc])
    typ[j == 0] = 0
    typ[(typ == 1) & (cat.fam_refill[c.home[oc]] < 0)] = 2
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
    return _Known(oc=oc, starts=starts, j=j, day=day, typ=typ)


def _primary_purchases(rng: np.random.Generator, cat: Cat, c: _Customers, k: _Known,
                       p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Family and tier of each primary order (sets ``k.fam``, ``k.tier`` ...).

    Returns the home family's final tier, upgrade chances and upgrades per customer.
    """
    oc, j, typ = k.oc, k.j, k.typ
    n_ko = oc.size
    pers_o = c.persona[oc]
    home_o = c.home[oc]
    # primary orders: home family (first order, revisits) or another family from taste
    prim = typ == 0
    revisit = prim & ((j == 0) | (rng.random(n_ko) < _REVISIT[pers_o]))
    fam_o = np.where(revisit, home_o, -1)
    other = prim & ~revisit
    fam_o[other] = _draw(rng, np.cumsum(cat.fam_taste, axis=1), c.cluster[oc[other]])
    tier_o = np.zeros(n_ko, dtype=np.int64)
    t_other = cat.fam_tiers[fam_o[other]]
    po = pers_o[other]
    uo = rng.random(int(other.sum()))
    tier_o[other] = np.select(
        [po == 2, po == 3],
        [np.ones(po.size, dtype=np.int64),
         np.where(uo < _TOP_TIER_SHARE, t_other, np.maximum(t_other - 1, 1))],
        default=np.where(uo < 0.6, 1, np.minimum(2, t_other)))
    k.fam, k.tier, k.revisit = fam_o, tier_o, revisit
    return _upgrades(rng, cat, c, k, np.flatnonzero(prim), p["dud_factor"])


def _upgrades(rng: np.random.Generator, cat: Cat, c: _Customers, k: _Known, pi: np.ndarray,
              dud_factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tiers along each (customer, family): the first purchase sets it (the home family's is
    base_tier), each later one buys the next tier w.p. p_upgrade, else the same tier."""
    oc, fam_o, tier_o = k.oc, k.fam, k.tier
    n_cust = c.persona.size
    gkey = oc[pi].astype(np.int64) * cat.n_fam + fam_o[pi]
    srt = pi[np.argsort(gkey, kind="stable")]          # stable: visits stay in time order
    gkey = oc[srt].astype(np.int64) * cat.n_fam + fam_o[srt]
    new_group = np.r_[True, gkey[1:] != gkey[:-1]]
    gid = np.cumsum(new_group) - 1
    g_first = np.flatnonzero(new_group)
    rank = np.arange(srt.size) - g_first[gid]
    g_c = oc[srt[g_first]]
    g_f = fam_o[srt[g_first]]
    g_home = g_f == c.home[g_c]
    cur = np.where(g_home, c.base_tier[g_c], tier_o[srt[g_first]])
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
        p_take = c.p_up[g_c[g]] * np.where(dud, dud_factor, 1.0)
        take = room & (rng.random(sel.size) < p_take)
        np.add.at(chances, g_c[g[room]], 1)
        np.add.at(ups, g_c[g[take]], 1)
        cur[g[take]] += 1
        tier_o[srt[sel]] = cur[g]
    first_in_family = np.zeros(oc.size, dtype=bool)
    first_in_family[srt[g_first]] = True
    k.first_in_family = first_in_family
    home_final = c.base_tier.copy()
    home_final[g_c[g_home]] = cur[g_home]
    return home_final, chances, ups


def _all_orders(rng: np.random.Generator, cat: Cat, c: _Customers, k: _Known,
                p: dict[str, Any], n_days: int, cdfs: np.ndarray) -> _Orders:
    """Anonymous walk-ins added to the known orders; channels and times of day for all."""
    n_anon = c.n_anon
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
    oc = k.oc
    n_ko = oc.size
    cust = np.r_[oc, np.full(n_anon, -1)]
    pers = np.r_[c.persona[oc], np.full(n_anon, 0)]
    anon = cust < 0
    n_o = cust.size
    ch = _draw(rng, np.cumsum(_CHANNEL_P, axis=1), pers)
    ch[anon] = np.where(rng.random(n_anon) < 0.8, 1, 2)
    day = np.r_[k.day, a_day]
    sec = day * _DAY + rng.integers(8 * 3600, 22 * 3600, size=n_o)
    # a customer's orders keep their order within a day too (the first order, which buys the
    # home product, must not land after a same-day follow-up buying its case)
    sec[:n_ko] = sec[:n_ko][np.lexsort((sec[:n_ko], cust[:n_ko]))]
    return _Orders(
        cust=cust, pers=np.where(anon, 0, pers), clu=np.r_[c.cluster[oc], a_cluster], day=day,
        typ=np.r_[k.typ, a_typ], fam=np.r_[k.fam, a_fam], tier=np.r_[k.tier, a_tier],
        home=np.r_[c.home[oc], np.full(n_anon, -1)],
        newfam=np.r_[k.first_in_family & ~k.revisit, a_prim],
        first=np.r_[k.j == 0, np.zeros(n_anon, dtype=bool)], anon=anon, ch=ch, sec=sec,
    )


# ---------------------------------------------------------------------- lines
def _lines(rng: np.random.Generator, cat: Cat, c: _Customers,
           o: _Orders) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order lines (order, struct item, quantity), one per (order, item)."""
    parts_o: list[np.ndarray] = []
    parts_i: list[np.ndarray] = []
    parts_q: list[np.ndarray] = []

    def add(orders: np.ndarray, items: np.ndarray, qty: np.ndarray | None = None) -> None:
        parts_o.append(orders)
        parts_i.append(items)
        parts_q.append(np.ones(orders.size) if qty is None else qty.astype(np.float64))

    prim_o = np.flatnonzero(o.typ == 0)
    f = o.fam[prim_o]
    pp = o.pers[prim_o]
    bundle = ((cat.fam_bundle[f] >= 0) & o.newfam[prim_o] & (o.tier[prim_o] == 1)
              & (rng.random(prim_o.size) < _P_BUNDLE[pp]))
    add(prim_o, np.where(bundle, cat.fam_bundle[f], cat.fam_first[f] + o.tier[prim_o] - 1))
    m = ~bundle & (rng.random(prim_o.size) < _P_ACCESSORY[pp])
    add(prim_o[m], cat.fam_acc[f[m]])
    # warranties go with new devices, not with replacements of the same tier
    m = (cat.fam_warranty[f] >= 0) & (rng.random(prim_o.size) < _P_WARRANTY[pp])
    add(prim_o[m], cat.fam_warranty[f[m]])
    m = (cat.fam_refill[f] >= 0) & (rng.random(prim_o.size) < _P_STARTER[pp])
    add(prim_o[m], cat.fam_refill[f[m]])

    ref_o = np.flatnonzero(o.typ == 1)
    hf = o.home[ref_o]
    rp = o.pers[ref_o]
    pack = (cat.fam_pack[hf] >= 0) & (rng.random(ref_o.size) < _P_PACK[rp])
    qty = np.where(pack, 1, 1 + rng.binomial(2, 0.25, size=ref_o.size))
    add(ref_o, np.where(pack, cat.fam_pack[hf], cat.fam_refill[hf]), qty)

    fil_o = np.flatnonzero(o.typ == 2)
    n_fill = 1 + rng.poisson(_FILLER[o.pers[fil_o]])
    m = ~o.anon[fil_o] & (rng.random(fil_o.size) < _P_SOON_AFTER[o.pers[fil_o]])
    add(fil_o[m], cat.fam_acc[o.home[fil_o[m]]])
    extra_o = np.flatnonzero(o.typ != 2)
    n_extra = rng.poisson(0.35 * _FILLER[o.pers[extra_o]])
    fo = np.r_[np.repeat(fil_o, n_fill), np.repeat(extra_o, n_extra)]
    fq = 1 + rng.binomial(2, 0.2, size=fo.size)
    add(fo, _draw(rng, np.cumsum(cat.taste, axis=1), o.clu[fo]), fq)

    if cat.exclusive.size:
        m = (o.typ != 1) & (rng.random(o.cust.size) < _P_EXCLUSIVE[o.pers]) & ~o.anon
        eo = np.flatnonzero(m)
        add(eo, cat.exclusive[rng.integers(0, cat.exclusive.size, size=eo.size)])
    # subscriptions: once, on the customer's second order, for their home category
    subs = (rng.random(c.persona.size) < _P_SUBSCRIBE[c.persona]) & (c.k_orders >= 2)
    so = np.r_[0, np.cumsum(c.k_orders)[:-1]][subs] + 1
    add(so, cat.cat_sub[cat.fam_cat[c.home[subs]]])

    L_o = np.concatenate(parts_o)
    L_i = np.concatenate(parts_i)
    L_q = np.concatenate(parts_q)
    # one line per (order, item): merge repeated draws
    n_struct = cat.list_price.size
    key = L_o.astype(np.int64) * n_struct + L_i
    ukey, inv = np.unique(key, return_inverse=True)
    L_q = np.bincount(inv, weights=L_q, minlength=ukey.size)
    return ukey // n_struct, ukey % n_struct, L_q


def _prepared(rng: np.random.Generator, cat: Cat, c: _Customers, o: _Orders,
              p: dict[str, Any], n_days: int) -> Prepared:
    """Lines with prices paid, plus cancellation orders "C<number>" for returns."""
    L_o, L_i, L_q = _lines(rng, cat, c, o)
    first_day = p["_start_day"]
    # prices paid: 20% off in sales, 10% off e-mail orders
    dates = first_day + o.day.astype("timedelta64[D]")
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    sale = ((month == 11) & (dom >= 20)) | ((month == 1) & (dom <= 14))
    disc = np.where(sale, 0.2, 0.0) + np.where(o.ch == 0, 0.1, 0.0)
    L_disc = disc[L_o] * (cat.kind_code[L_i] < 2)
    L_price = np.round(cat.list_price[L_i] * (1.0 - L_disc), 2)

    # ---- returns: cancellation orders "C<number>" with negative lines
    rate = _RETURN_RATE[o.pers[L_o]] * p["return_rate"]
    # a customer's first order is never returned, so every customer stays in the data
    ret = ((rng.random(L_o.size) < rate) & (cat.kind_code[L_i] < 2) & ~o.anon[L_o]
           & ~o.first[L_o])
    r_lines = np.flatnonzero(ret)
    r_qty = np.where((L_q[r_lines] > 1) & (rng.random(r_lines.size) < 0.5), 1.0,
                     L_q[r_lines])

    # order ids: sale orders numbered by time, cancellations carry their order's number
    n_o = o.cust.size
    o_rank = np.empty(n_o, dtype=np.int64)
    o_rank[np.argsort(o.sec, kind="stable")] = np.arange(n_o)
    cancelled = np.unique(o_rank[L_o[r_lines]])
    width = max(7, len(str(n_o)))
    order_index = IdIndex(np.concatenate([_ids("C", cancelled + 1, width),
                                          _ids("O", np.arange(1, n_o + 1), width)]),
                          name="order")
    r_sec = np.minimum(o.sec[L_o[r_lines]] + rng.integers(1, 31, size=r_lines.size) * _DAY,
                       n_days * _DAY - 1)
    t0 = first_day.astype("datetime64[s]")
    return Prepared(
        n=L_o.size + r_lines.size,
        order=np.r_[cancelled.size + o_rank[L_o],
                    np.searchsorted(cancelled, o_rank[L_o[r_lines]])],
        order_index=order_index,
        item=cat.final_pos[np.r_[L_i, L_i[r_lines]]],
        item_index=cat.catalog.items,
        customer=np.r_[o.cust[L_o], o.cust[L_o[r_lines]]],
        customer_index=IdIndex(customer_ids(p["n_customers"]), name="customer"),
        quantity=np.r_[L_q, -r_qty],
        price=np.r_[L_price, L_price[r_lines]],
        time=t0 + np.r_[o.sec[L_o], r_sec].astype("timedelta64[s]"),
        channel=np.r_[o.ch[L_o], o.ch[L_o[r_lines]]],
        channel_index=IdIndex(np.array(CHANNELS), name="channel"),
        source=f"make_shop(random_state={p['random_state']})",
    )


# ---------------------------------------------------------------------- helpers
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


def _draw(rng: np.random.Generator, cdf: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One draw per entry of ``rows`` from the row's distribution (``cdf`` rows end at 1)."""
    k, m = cdf.shape
    flat = (cdf + np.arange(k)[:, None]).ravel()
    u = rows + rng.random(rows.size) * (1 - 1e-12)
    out = np.searchsorted(flat, u, side="right") - rows.astype(np.int64) * m
    return np.minimum(out, m - 1)


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


def customer_ids(n: int) -> np.ndarray:
    """The ids of customers 1..n ("C0000001" ...)."""
    return _ids("C", np.arange(1, n + 1), max(7, len(str(n))))
