"""The stages of :meth:`upsell.tiers.UpsellRanker.fit`, one function each, returning plain values.

``UpsellRanker.fit`` validates its inputs, calls these in order and stores what they
return; nothing here keeps state or reads the estimator. In order:

1. :func:`segment_codes` and :func:`catalog_lines`: segment codes per customer and the
   order lines in catalog item space;
2. :func:`ladder_levels`: 0-based tier level of every ladder item and the cheapest
   item of each (family, level);
3. :func:`candidate_offers`: per base item, the offers passing the fixed constraints;
4. :func:`customer_evidence`, :func:`event_features`, :func:`fit_propensity`: upgrade
   chances, smoothed rates and price position, the logistic propensity model and its
   out-of-fold predictions;
5. :func:`offer_share_table`: smoothed shares of (similar) customers who took each offer,
   and the per-kind offsets;
6. :func:`score_terms`: the precomputed parts of logit P used at rank time;
7. :func:`owned_bases`: owned items, bases for customer-only requests, engagement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from scipy.special import logit

from upsell._validation import as_segments, check_memory, format_bytes
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError
from upsell.tiers._kinds import EDGE_KINDS
from upsell.tiers.ladders import Ladders
from upsell.tiers.propensity import LogisticFit, fit_logistic

#: Price-jump limit for segments a ``price_jump`` mapping does not name (and no "default").
DEFAULT_PRICE_JUMP = 2.0
#: Propensity features, in the order of the model's columns.
FEATURES = ("own_upgrade_rate", "price_position", "segment_affinity", "log_price_ratio",
            "value_gained", "cf_affinity")


def _logit(p: np.ndarray | float) -> Any:
    return logit(np.clip(p, 1e-4, 1 - 1e-4))


# ---------------------------------------------------------------------- small array helpers
def _group_first(sorted_keys: np.ndarray) -> np.ndarray:
    """For keys sorted ascending, the position of the first row of each row's group."""
    starts = _group_first_mask(sorted_keys)
    return np.maximum.accumulate(np.where(starts, np.arange(sorted_keys.size), 0))


def _group_first_mask(keys: np.ndarray) -> np.ndarray:
    return np.r_[True, keys[1:] != keys[:-1]] if keys.size else np.zeros(0, dtype=bool)


def _sorted_unique(a: np.ndarray, counts: bool = False) -> Any:
    """``np.unique`` of a large int array by one in-place sort (no hash table, no inverse)."""
    a = np.sort(a)
    start = _group_first_mask(a)
    u = a[start]
    if not counts:
        return u
    return u, np.diff(np.r_[np.flatnonzero(start), a.size])


def _order_lines(lo: np.ndarray, ln: np.ndarray, n_line: int, ord_c: np.ndarray
                 ) -> np.ndarray:
    """Distinct (customer, order, line) rows, as an (n, 3) int64 array sorted by order."""
    key = _sorted_unique(lo * n_line + ln)
    o = key // n_line
    return np.c_[ord_c[o], o, key % n_line]


# ---------------------------------------------------------------------- memory
#: Working bytes per order line in fit (line arrays, sorts and keys): tracemalloc peaks
#: of 210-240 on make_shop at 100k-1M customers, plus a margin.
_BYTES_PER_LINE = 300
#: Bytes per (customer, base, candidate) combination in one chunk of the shares.
_BYTES_PER_COMBO = 96


def check_fit_memory(*, n_lines: int, n_items: int, n_edges: int, n_seg: int,
                     budget_gb: float) -> int:
    """Estimate fit's working memory; raise when over budget, else the chunk size in combos."""
    seg_bytes = 8 * (n_seg + 1) * (n_items + 6 * n_edges)
    fixed = _BYTES_PER_LINE * n_lines + seg_bytes + 64 * n_edges
    budget = budget_gb * 1e9
    chunk = int(min(max(0.1 * budget / _BYTES_PER_COMBO, 2**16), 2**23))
    why = (f"{n_seg:,} segment labels x {n_edges:,} candidate offers take "
           f"~{format_bytes(seg_bytes)}; pass fewer segment labels (`segments`) or "
           if seg_bytes > 0.5 * fixed else
           f"{n_lines:,} order lines take ~{format_bytes(_BYTES_PER_LINE * n_lines)}; "
           f"fit on a sample of customers or a shorter period, or ")
    check_memory(fixed + chunk * _BYTES_PER_COMBO,
                 f"UpsellRanker.fit (`max_memory_gb`={budget_gb:g})", budget=budget,
                 hint=f"{why}raise `max_memory_gb` if the memory is there")
    return chunk


# ---------------------------------------------------------------------- 1. segments and lines
def segment_codes(segments: Any, customers: IdIndex) -> tuple[np.ndarray, np.ndarray]:
    """Segment code per customer (-1 none) and the sorted segment names (see ``as_segments``)."""
    labels, seg_names = as_segments(segments, customers, "segments")
    seg = np.searchsorted(seg_names, labels).astype(np.int64)
    seg[labels == ""] = -1
    return seg, seg_names


class Lines(NamedTuple):
    """Order lines of catalog items: item (catalog index), customer, time (s), order."""

    item: np.ndarray
    customer: np.ndarray
    time: np.ndarray
    order: np.ndarray
    coverage: float


def catalog_lines(tx: Transactions, catalog: Catalog) -> Lines:
    """The lines of ``tx`` bought by a customer, in catalog item space (others dropped)."""
    imap = catalog.items.encode(tx.items.ids, unknown="mask").astype(np.int64)
    li = imap[tx.item]
    lc = tx.customer.astype(np.int64)
    lt = tx.time.astype("datetime64[s]").astype(np.int64)
    lo = tx.order.astype(np.int64)
    ok = (li >= 0) & (lc >= 0) & (tx.quantity > 0)
    sold = (lc >= 0) & (tx.quantity > 0)
    if sold.any() and not ok.any():
        raise UpsellDataError(
            f"`tx` and `catalog` share no item (no order line is for a catalog item): "
            f"catalog items "
            f"{', '.join(map(repr, catalog.items.ids[:3].tolist()))}, ... and ordered items "
            f"{', '.join(map(repr, tx.items.ids[:3].tolist()))}, ...; check the catalog's "
            f"item column (and that both spell ids alike)")
    coverage = float(ok.sum() / sold.sum()) if sold.any() else float("nan")
    return Lines(li[ok], lc[ok], lt[ok], lo[ok], coverage)


# ---------------------------------------------------------------------- 2. ladder levels
class Levels(NamedTuple):
    """Ladder family code per item (-1 off ladder), 0-based tier level, top level per
    family, and the cheapest item of each (family, level) (-1 none)."""

    fam: np.ndarray
    n_fam: int
    level: np.ndarray
    top: np.ndarray
    rep: np.ndarray


def ladder_levels(lad: Ladders, price: np.ndarray, n_items: int) -> Levels:
    """Levels of the ladder items of ``lad`` (prices pick each level's cheapest item)."""
    fam_names, fam = np.unique(lad.family, return_inverse=True)
    fam = fam.astype(np.int64)
    on = lad.family != ""
    if fam_names.size and fam_names[0] == "":
        fam -= 1
    fam[~on] = -1
    n_fam = int(fam.max()) + 1 if on.any() else 0
    level = np.zeros(n_items, dtype=np.int64)
    if n_fam:
        idx = np.flatnonzero(on)
        tiers_sorted = np.unique(np.c_[fam[idx], lad.tier[idx]], axis=0)
        lvl_start = _group_first(tiers_sorted[:, 0])
        lvl = np.arange(tiers_sorted.shape[0]) - lvl_start
        key_f = tiers_sorted[:, 0] * 1e6 + tiers_sorted[:, 1]
        pos = np.searchsorted(key_f, fam[idx] * 1e6 + lad.tier[idx])
        level[idx] = lvl[pos]
        top = np.zeros(n_fam, dtype=np.int64)
        np.maximum.at(top, fam[idx], level[idx])
        rep = np.full((n_fam, int(top.max()) + 1), -1, dtype=np.int64)
        pr = np.where(np.isnan(price[idx]), np.inf, price[idx])
        o2 = idx[np.lexsort((-pr, level[idx], fam[idx]))]   # cheapest written last
        rep[fam[o2], level[o2]] = o2
    else:
        top = np.zeros(0, dtype=np.int64)
        rep = np.full((0, 1), -1, dtype=np.int64)
    return Levels(fam, n_fam, level, top, rep)


# ---------------------------------------------------------------------- 3. candidate offers
class Candidates(NamedTuple):
    """Candidate offers (edges base -> target) grouped by base: ``indptr`` over items."""

    indptr: np.ndarray
    src: np.ndarray
    target: np.ndarray
    kind: np.ndarray
    ratio: np.ndarray
    value: np.ndarray
    margin_gain: np.ndarray
    revenue_gain: np.ndarray
    best_feature: np.ndarray
    best_ratio: np.ndarray


def feature_matrix(catalog: Catalog) -> tuple[tuple[str, ...], np.ndarray]:
    """The catalog's numeric feature names and an (n_items, n_features) matrix."""
    feat_names = tuple(catalog.features)
    F = (np.stack([catalog.features[f] for f in feat_names], axis=1) if feat_names
         else np.zeros((len(catalog), 0)))
    return feat_names, F


def max_price_jump(price_jump: float | dict[str, float]) -> float:
    """The largest price-jump limit of any segment (a mapping's default included)."""
    if not isinstance(price_jump, dict):
        return float(price_jump)
    max_jump = max(price_jump.values(), default=DEFAULT_PRICE_JUMP)
    if "default" not in price_jump:
        max_jump = max(max_jump, DEFAULT_PRICE_JUMP)
    return float(max_jump)


def candidate_offers(lad: Ladders, catalog: Catalog, vf: Callable[..., Any],
                     feat_names: tuple[str, ...], F: np.ndarray, *, kinds: tuple[str, ...],
                     max_jump: float, min_value: float, require_value: bool,
                     objective: str) -> Candidates:
    """The ladder edges passing the fixed constraints, with their ratio, value and gains."""
    n_items = len(catalog)
    price = catalog.price
    src = lad.source.astype(np.int64)
    tgt = lad.target.astype(np.int64)
    kind = lad.kind.astype(np.int64)
    cost = catalog.cost
    margin = price - cost
    size = catalog.pack_size
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(kind == 1, (price[tgt] / size[tgt]) / (price[src] / size[src]),
                         price[tgt] / price[src])
    value = np.full(src.size, np.nan)
    feat_kind = (kind == 0) | (kind == 3)
    if feat_names and feat_kind.any():
        value[feat_kind] = np.asarray(vf(F[src[feat_kind]], F[tgt[feat_kind]], feat_names),
                                      dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value[kind == 1] = -np.log2(ratio[kind == 1])
    add_on = kind == 2
    m_gain = np.where(add_on, margin[tgt], margin[tgt] - margin[src])
    r_gain = np.where(add_on, price[tgt], price[tgt] - price[src])
    keep = np.isin(kind, [EDGE_KINDS.index(k) for k in kinds])
    keep &= catalog.in_stock[tgt]
    keep &= np.isfinite(ratio) & (ratio <= max_jump)
    valued = np.where(np.isnan(value), not require_value, value > min_value)
    keep &= np.where(feat_kind, valued, True)
    keep &= np.where(kind == 1, value > 0, True)
    if objective == "margin":
        keep &= m_gain > 0
    elif objective == "revenue":
        keep &= r_gain > 0
    e_src, e_tgt, e_kind = src[keep], tgt[keep], kind[keep]
    # the feature behind the cue: the largest improvement
    best_f = np.full(e_src.size, -1, dtype=np.int64)
    best_r = np.full(e_src.size, np.nan)
    if feat_names and e_src.size:
        fb, ft = F[e_src], F[e_tgt]
        okf = np.isfinite(fb) & np.isfinite(ft) & (fb > 0) & (ft > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rr = np.where(okf, ft / np.where(okf, fb, 1.0), 0.0)
        j = np.argmax(rr, axis=1)
        rj = rr[np.arange(rr.shape[0]), j]
        has = (rj > 1.0) & ((e_kind == 0) | (e_kind == 3))
        best_f[has] = j[has]
        best_r[has] = rj[has]
    e_indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(e_src, minlength=n_items), out=e_indptr[1:])
    return Candidates(e_indptr, e_src, e_tgt, e_kind, ratio[keep], value[keep], m_gain[keep],
                      r_gain[keep], best_f, best_r)


# ---------------------------------------------------------------------- 4. propensity
class Evidence(NamedTuple):
    """Per customer and segment: upgrade chances and rates, price position."""

    chances: np.ndarray      # per customer
    upgrades: np.ndarray     # per customer
    g_rate: float
    seg_rate: np.ndarray     # per segment
    seg_rate_c: np.ndarray   # the segment rate each customer sees
    seg_rate_loo: np.ndarray  # ... without the customer's own events (fit-time)
    pos_sum: np.ndarray
    pos_cnt: np.ndarray
    pos_c: np.ndarray
    mu_pos: float
    seg_pos: np.ndarray
    first_customer: np.ndarray  # first purchases in multi-level families
    first_family: np.ndarray
    first_position: np.ndarray


def customer_evidence(ev: Any, firsts: np.ndarray, seg: np.ndarray, n_seg: int, n_cust: int,
                      top: np.ndarray) -> Evidence:
    """Smoothed upgrade rates (customer, segment, global) and price positions."""
    y = ev.took.astype(np.float64)
    ch_c = np.bincount(ev.customer, minlength=n_cust).astype(np.float64)
    up_c = np.bincount(ev.customer, weights=y, minlength=n_cust)
    g_rate = (up_c.sum() + 1.0) / (ch_c.sum() + 2.0)
    has_seg = seg >= 0
    ch_s = np.bincount(seg[has_seg], weights=ch_c[has_seg], minlength=n_seg)
    up_s = np.bincount(seg[has_seg], weights=up_c[has_seg], minlength=n_seg)
    seg_rate = (up_s + 2.0 * g_rate) / (ch_s + 2.0)
    # the segment rate each customer sees, without the customer's own events (fit-time)
    sc = np.maximum(seg, 0)
    seg_rate_loo = np.where(has_seg, (up_s[sc] - up_c + 2.0 * g_rate)
                            / (ch_s[sc] - ch_c + 2.0), g_rate) if n_seg else np.full(
                                n_cust, g_rate)
    seg_rate_c = np.where(has_seg, seg_rate[sc] if n_seg else g_rate, g_rate)
    # price position: normalised level of the first purchase in each family
    if firsts.size:
        fc, ff, fl = firsts[:, 0], firsts[:, 1], firsts[:, 2]
        multi = top[ff] > 0
        fc, ff = fc[multi], ff[multi]
        posv = fl[multi] / top[ff]
    else:
        fc = ff = np.zeros(0, dtype=np.int64)
        posv = np.zeros(0)
    pos_sum = np.bincount(fc, weights=posv, minlength=n_cust)
    pos_cnt = np.bincount(fc, minlength=n_cust).astype(np.float64)
    mu_pos = float(posv.mean()) if posv.size else 0.5
    pos_c = (pos_sum + mu_pos) / (pos_cnt + 1.0)
    seg_pos = (np.bincount(seg[has_seg], weights=pos_sum[has_seg], minlength=n_seg)
               + mu_pos) / (np.bincount(seg[has_seg], weights=pos_cnt[has_seg],
                                        minlength=n_seg) + 1.0)
    return Evidence(ch_c, up_c, g_rate, seg_rate, seg_rate_c, seg_rate_loo, pos_sum, pos_cnt,
                    pos_c, mu_pos, seg_pos, fc, ff, posv)


def event_features(ev: Any, evd: Evidence, *, prior_strength: float, n_fam: int,
                   price: np.ndarray, F: np.ndarray, feat_names: tuple[str, ...],
                   vf: Callable[..., Any],
                   affinity: Callable[[Any, np.ndarray], np.ndarray] | None,
                   customer_ids: np.ndarray, item_ids: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The feature matrix of the upgrade chances (each event left out of its own evidence).

    Returns ``X`` (n_events, 5 or 6 with ``affinity``) and the events' log price
    ratio and value gained (for the average edge term).
    """
    n_ev = ev.took.size
    y = ev.took.astype(np.float64)
    a = prior_strength
    ec = ev.customer
    prior_ev = evd.seg_rate_loo[ec]
    r_loo = (evd.upgrades[ec] - y + a * prior_ev) / (evd.chances[ec] - 1.0 + a)
    key_cf = evd.first_customer * max(n_fam, 1) + evd.first_family
    o_cf = np.argsort(key_cf)
    key_cf, posv_s = key_cf[o_cf], evd.first_position[o_cf]
    q_cf = ec * max(n_fam, 1) + ev.family
    at_cf = np.minimum(np.searchsorted(key_cf, q_cf), max(key_cf.size - 1, 0))
    own = (np.where(key_cf[at_cf] == q_cf, posv_s[at_cf], np.nan) if key_cf.size
           else np.full(n_ev, np.nan))
    has_own = ~np.isnan(own)
    pos_loo = (evd.pos_sum[ec] - np.where(has_own, own, 0.0) + evd.mu_pos) / (
        evd.pos_cnt[ec] - has_own + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ev_ratio = price[ev.target] / price[ev.base]
    ev_lr = np.nan_to_num(np.log(np.where(ev_ratio > 0, ev_ratio, 1.0)))
    ev_val = (np.nan_to_num(np.asarray(vf(F[ev.base], F[ev.target], feat_names),
                                       dtype=np.float64)) if feat_names
              else np.zeros(n_ev))
    cols = [_logit(r_loo), pos_loo, _logit(prior_ev), ev_lr, ev_val]
    if affinity is not None:
        aff = np.zeros(n_ev)
        order = np.argsort(ec, kind="stable")
        starts = np.flatnonzero(_group_first_mask(ec[order]))
        for s0, s1 in zip(starts, np.r_[starts[1:], order.size], strict=True):
            rows = order[s0:s1]
            aff[rows] = affinity(customer_ids[ec[rows[0]]], item_ids[ev.target[rows]])
        cols.append(aff)
    X = np.stack(cols, axis=1) if n_ev else np.zeros((0, len(cols)))
    return X, ev_lr, ev_val


def fit_propensity(X: np.ndarray, y: np.ndarray, customer: np.ndarray, *, g_rate: float,
                   l2: float, n_folds: int, random_state: int, n_cust: int
                   ) -> tuple[LogisticFit, np.ndarray]:
    """The logistic model on all chances and its out-of-fold predictions (folds by customer)."""
    n_ev = y.size
    if n_ev == 0 or y.min() == y.max():
        model = LogisticFit(coef=np.zeros(X.shape[1]), intercept=float(_logit(g_rate)),
                            mean=np.zeros(X.shape[1]), scale=np.ones(X.shape[1]),
                            converged=True, n_iter=0)
    else:
        model = fit_logistic(X, y, l2=l2)
    # out-of-fold predictions (folds by customer) for the reliability table
    oof = np.full(n_ev, np.nan)
    if n_ev and y.min() != y.max():
        rng = np.random.default_rng(random_state)
        fold_of_c = rng.integers(0, n_folds, size=n_cust)
        fold = fold_of_c[customer]
        for k in range(n_folds):
            te = fold == k
            tr = ~te
            if not te.any():
                continue
            if not tr.any() or y[tr].min() == y[tr].max():
                # nothing to fit outside the fold: the smoothed rate outside it
                oof[te] = (y[tr].sum() + 1.0) / (tr.sum() + 2.0)
                continue
            oof[te] = fit_logistic(X[tr], y[tr], l2=l2).predict_proba(X[te])
    return model, oof


# ---------------------------------------------------------------------- 5. shares
def _pair_table(lc: np.ndarray, li: np.ndarray, lt: np.ndarray, n_items: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (customer, item) keys ``c * n_items + i``, sorted, with first and last time."""
    if not lc.size:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    key = lc * n_items + li
    order = np.argsort(key)
    key = key[order]
    ts = lt[order]
    del order
    start = np.flatnonzero(_group_first_mask(key))
    return key[start], np.minimum.reduceat(ts, start), np.maximum.reduceat(ts, start)


def _offer_shares(ukey: np.ndarray, first_t: np.ndarray, last_t: np.ndarray, seg: np.ndarray,
                  e_indptr: np.ndarray, e_tgt: np.ndarray, n_items: int, n_seg: int,
                  chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate edge (b -> t): customers who came back after buying b, and who chose t.

    A customer *had the chance* at edge (b, t) when, after their first purchase
    of b, they bought b again or any candidate of b; they *took* it when t is
    among those later purchases. Counted globally and per segment.

    ``ukey``, ``first_t``, ``last_t`` come from :func:`_pair_table`. "Had" depends
    only on the (customer, base) pair, so it is counted per base (and per segment
    and base) and spread to the base's edges; only the (customer, base, candidate)
    combinations needed to find "took" are built, ``chunk`` at a time, and only
    the taken ones are counted.
    """
    n_e = e_tgt.size
    zeros = np.zeros(n_e)
    if not ukey.size or not n_e:
        return zeros, zeros, np.zeros((n_seg, n_e)), np.zeros((n_seg, n_e))
    pb = ukey % n_items
    ncand = e_indptr[pb + 1] - e_indptr[pb]
    has = np.flatnonzero(ncand > 0)
    had_pair = np.zeros(has.size, dtype=bool)
    took_e = np.zeros(n_e)
    took_flat = np.zeros(n_seg * n_e) if n_seg else np.zeros(0)
    cum = np.cumsum(ncand[has])
    lo = 0
    while lo < has.size:
        done = int(cum[lo - 1]) if lo else 0
        hi = max(int(np.searchsorted(cum, done + chunk, side="right")), lo + 1)
        idx = has[lo:hi]
        nc = ncand[idx]
        pc = ukey[idx] // n_items
        rep = np.repeat(np.arange(idx.size), nc)
        e = (np.arange(rep.size) - np.repeat(np.cumsum(nc) - nc, nc)
             + np.repeat(e_indptr[pb[idx]], nc))
        tkey = pc[rep] * n_items + e_tgt[e]
        at = np.minimum(np.searchsorted(ukey, tkey), ukey.size - 1)
        took = (ukey[at] == tkey) & (last_t[at] > first_t[idx][rep])
        del tkey, at
        rt, et = rep[took], e[took]
        took_e += np.bincount(et, minlength=n_e)
        any_took = np.bincount(rt, minlength=idx.size) > 0
        had_pair[lo:hi] = any_took | (last_t[idx] > first_t[idx])
        if n_seg:
            st = seg[pc[rt]]
            ok = st >= 0
            took_flat += np.bincount(st[ok] * n_e + et[ok], minlength=n_seg * n_e)
        lo = hi
    e_src = np.repeat(np.arange(n_items), np.diff(e_indptr))
    hb = pb[has]
    had_e = np.bincount(hb, weights=had_pair, minlength=n_items)[e_src]
    took_se: np.ndarray = np.zeros((n_seg, n_e))
    had_se: np.ndarray = np.zeros((n_seg, n_e))
    if n_seg:
        took_se = took_flat.reshape(n_seg, n_e)
        s = seg[ukey[has] // n_items]
        ok = s >= 0
        had_sb = np.bincount(s[ok] * n_items + hb[ok], weights=had_pair[ok],
                             minlength=n_seg * n_items).reshape(n_seg, n_items)
        had_se = had_sb[:, e_src]
    return took_e, had_e, took_se, had_se


def offer_share_table(lines: Lines, seg: np.ndarray, cand: Candidates, n_items: int,
                      n_seg: int, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed share of customers who took each offer, per segment (last row: everyone).

    Returns the shares (n_seg + 1, n_edges), the logit offset of each kind of offer
    against upgrades, and the sorted distinct (customer, item) keys of the lines.
    """
    pair_key, pair_first, pair_last = _pair_table(lines.customer, lines.item, lines.time,
                                                  n_items)
    took_e, had_e, took_se, had_se = _offer_shares(pair_key, pair_first, pair_last, seg,
                                                   cand.indptr, cand.target, n_items, n_seg,
                                                   chunk)
    del pair_first, pair_last
    e_kind = cand.kind
    kind_took = np.bincount(e_kind, weights=took_e, minlength=4)
    kind_had = np.bincount(e_kind, weights=had_e, minlength=4)
    kind_share = (kind_took + 1.0) / (kind_had + 2.0)
    m = 5.0
    g_share = (took_e + m * kind_share[e_kind]) / (had_e + m)
    share = np.empty((n_seg + 1, cand.src.size))
    share[n_seg] = g_share
    if n_seg:
        share[:n_seg] = (took_se + m * g_share[None, :]) / (had_se + m)
    offset = _logit(kind_share) - _logit(kind_share[0])
    offset[0] = 0.0
    return share, offset, pair_key


# ---------------------------------------------------------------------- 6. score terms
class Terms(NamedTuple):
    """logit P = customer (or segment, or global) term + edge term (+ w_cf * affinity)."""

    edge: np.ndarray
    customer: np.ndarray
    segment: np.ndarray
    glob: float
    mean_edge: float


def score_terms(w: np.ndarray, b0: float, cand: Candidates, offset: np.ndarray,
                evd: Evidence, prior_strength: float, ev_lr: np.ndarray,
                ev_val: np.ndarray) -> Terms:
    """The precomputed parts of each offer's logit P."""
    e_kind = cand.kind
    a = prior_strength
    with np.errstate(divide="ignore", invalid="ignore"):
        lr_e = np.log(cand.ratio)
    val_e = np.nan_to_num(cand.value) * (e_kind != 1) * (e_kind != 2)
    edge_term = b0 + w[3] * lr_e + w[4] * val_e + offset[e_kind]
    r_all = (evd.upgrades + a * evd.seg_rate_c) / (evd.chances + a)
    cust_term = w[0] * _logit(r_all) + w[1] * evd.pos_c + w[2] * _logit(evd.seg_rate_c)
    seg_term = (w[0] + w[2]) * _logit(evd.seg_rate) + w[1] * evd.seg_pos
    glob_term = float((w[0] + w[2]) * _logit(evd.g_rate) + w[1] * evd.mu_pos)
    mean_edge = (float(np.mean(b0 + w[3] * ev_lr + w[4] * ev_val)) if ev_lr.size
                 else float(b0))
    return Terms(edge_term, cust_term, seg_term, glob_term, mean_edge)


# ---------------------------------------------------------------------- 7. owned items, bases
class Owned(NamedTuple):
    """Per customer (CSR over customers): owned items, and the bases of a customer-only
    request (the highest tier owned per family) with the customer's engagement."""

    own_ptr: np.ndarray
    own_item: np.ndarray
    base_ptr: np.ndarray
    base_item: np.ndarray
    engagement: np.ndarray


def owned_bases(pair_key: np.ndarray, lines: Lines, levels: Levels, catalog: Catalog,
                n_cust: int, n_orders: int) -> Owned:
    """Owned items and bases per customer; engagement of each base (see :class:`Owned`)."""
    n_items = len(catalog)
    fam, n_fam, level = levels.fam, levels.n_fam, levels.level
    li, lc, lo = lines.item, lines.customer, lines.order
    own_c = pair_key // n_items
    own_i = pair_key % n_items
    own_ptr = np.zeros(n_cust + 1, dtype=np.int64)
    np.cumsum(np.bincount(own_c, minlength=n_cust), out=own_ptr[1:])
    base_keep = np.ones(own_i.size, dtype=bool)
    lad_own = fam[own_i] >= 0
    if lad_own.any():
        ko = np.flatnonzero(lad_own)
        kk = own_c[ko] * max(n_fam, 1) + fam[own_i[ko]]
        best = np.full(ko.size, False)
        o3 = np.lexsort((level[own_i[ko]], kk))
        last = np.r_[kk[o3][1:] != kk[o3][:-1], True]
        best[o3[last]] = True
        base_keep[ko[~best]] = False
    b_c, b_i = own_c[base_keep], own_i[base_keep]
    b_ptr = np.zeros(n_cust + 1, dtype=np.int64)
    np.cumsum(np.bincount(b_c, minlength=n_cust), out=b_ptr[1:])
    # engagement: share of the customer's orders in the base's line (its family, or
    # the item itself); for ladder items, the share among orders with any ladder item,
    # i.e. how likely the next tiered purchase is in this family
    line_names, line = np.unique(np.where(catalog.family != "", np.char.add(
        "f:", catalog.family), np.char.add("i:", catalog.items.ids.astype(str))),
        return_inverse=True)
    line = line.astype(np.int64)
    n_line = line_names.size
    is_lad = fam[li] >= 0
    # an order belongs to one customer (Transactions checks it), so (order, line)
    # keys stand for (customer, order, line) triples
    ord_c = np.full(n_orders, -1, dtype=np.int64)
    ord_c[lo] = lc
    co = _order_lines(lo, line[li], n_line, ord_c)
    co_lad = _order_lines(lo[is_lad], line[li[is_lad]], n_line, ord_c)
    u_o = _sorted_unique(lo)
    ords = np.c_[ord_c[u_o], u_o]
    u_o = _sorted_unique(lo[is_lad])
    ords_lad = np.c_[ord_c[u_o], u_o]
    del u_o, ord_c
    lad_base = fam[b_i] >= 0
    eng = np.empty(b_i.size)
    for mask, cnt, orders in ((~lad_base, co, ords), (lad_base, co_lad, ords_lad)):
        n_o = np.bincount(orders[:, 0], minlength=n_cust).astype(np.float64)
        pop_l = np.bincount(cnt[:, 2], minlength=n_line) / max(orders.shape[0], 1)
        ck, cc = _sorted_unique(cnt[:, 0] * n_line + cnt[:, 2], counts=True)
        bk = b_c[mask] * n_line + line[b_i[mask]]
        if ck.size:
            pk = np.minimum(np.searchsorted(ck, bk), ck.size - 1)
            n_cl = np.where(ck[pk] == bk, cc[pk], 0)
        else:
            n_cl = np.zeros(bk.size, dtype=np.int64)
        eng[mask] = (n_cl + 2.0 * pop_l[line[b_i[mask]]]) / (n_o[b_c[mask]] + 2.0)
    return Owned(own_ptr, own_i, b_ptr, b_i, eng)
