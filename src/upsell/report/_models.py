"""Report sections built on fitted models: customer lifetime value, offline evaluation, example offers."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

from upsell.data import Transactions
from upsell.exceptions import ConvergenceError, UpsellError
from upsell.report._baskets import _margin_rate
from upsell.report._context import _Context, _Skip
from upsell.report._tables import Chart, Table, fmt, fmt_pct, shorten_list

__all__ = ["fit_clv_models"]


def _section_clv(ctx: _Context) -> dict[str, Any]:
    from upsell import kpi

    ctx.need("customer", "time", "price")
    margin = _margin_rate(ctx)
    res = kpi.clv_forecast(ctx.tx, horizon=52.0, step=52.0 / 12, discount_rate=0.01,
                           margin=margin, freq="W")
    if not (np.asarray(res.frequency) > 0).any():
        # every forecast would be 0 from a run rate of 0: not a CLV, a lack of history
        t = ctx.tx.time
        days = int((t.max() - t.min()) // np.timedelta64(1, "D")) + 1
        raise _Skip(f"no customer bought on two different days in the {days:,} day"
                    f"{'s' if days > 1 else ''} of history, so future purchases cannot be "
                    "estimated")
    clv = np.asarray(res.clv, dtype=np.float64)
    note = (f"Method: {res.method}. {res.note}".strip() if res.note
            else f"Method: {res.method}, over 52 weeks, discounted 1% a month, times the "
                 "margin rate.")
    alive = np.asarray(res.p_alive, dtype=np.float64) if res.p_alive is not None else None
    return _clv_result(clv, alive, margin, np.asarray(res.customers), note,
                       method=str(res.method))


def _clv_result(clv: np.ndarray, alive: np.ndarray | None, margin: float,
                customers: np.ndarray, note: str, method: str = "") -> dict[str, Any]:
    finite = np.isfinite(clv)
    if not finite.any():
        raise _Skip("no customer has a finite CLV forecast")
    c = clv[finite]
    q = np.percentile(c, [10, 25, 50, 75, 90, 99])
    top_share = (float(np.sort(c)[::-1][:max(1, c.size // 10)].sum() / c.sum())
                 if c.sum() > 0 else None)
    rows: tuple[tuple[str, Any], ...] = (
        ("method", method or "–"),
        ("customers modelled", int(c.size)), ("margin rate used", margin),
        ("mean 12-month CLV", float(c.mean())), ("median", float(q[2])),
        ("10th / 90th percentile", f"{fmt(float(q[0]))} / {fmt(float(q[4]))}"),
        ("99th percentile", float(q[5])),
        ("top 10% customers' share of CLV", fmt_pct(top_share)))
    if alive is not None and np.isfinite(alive).any():
        rows = (*rows, ("mean P(alive)", float(np.nanmean(alive))))
    # log-spaced bins from the smallest CLV would stretch the axis over decades of
    # practically-zero values (1e-12 for a lapsed customer): draw from a thousandth of the
    # median up, and count the rest
    pos = c[c > 0]
    floor = 1e-3 * float(np.median(pos)) if pos.size else 0.0
    drawn = pos[pos >= floor]
    tiny = pos.size - drawn.size
    chart_note = (f"{drawn.size:,} customers with a CLV above {'0' if not tiny else fmt(floor)}, "
                  "in 40 log-spaced bins"
                  + (f"; {tiny:,} above 0 but below a thousandth of the median"
                     if tiny else "")
                  + (f"; {c.size - pos.size:,} at 0 or below" if pos.size < c.size else "")
                  + (" not drawn." if tiny or pos.size < c.size else "."))
    return {"tables": [Table("", ("what", "value"), rows, note=note)],
            "charts": [Chart("histogram", "12-month CLV per customer",
                             {"values": drawn, "xlabel": "CLV", "log": True,
                              "median": float(q[2])},  # the table's, of every customer
                             note=chart_note)],
            "values": {"mean_clv": float(c.mean()), "median_clv": float(q[2]),
                       "clv": clv, "customers": customers, "method": method}}


def fit_clv_models(frequency: Any, recency: Any, T: Any, monetary_value: Any) -> tuple[Any, Any]:
    """Fit BG/NBD (else Pareto/NBD) and Gamma-Gamma, raising the L2 penalty until both converge.

    Thin data (few repeat customers, almost no drop-out) make the unpenalised
    fits run to the boundary; penalties of 0.001, 0.01 and 0.1 are tried in
    turn, first with BG/NBD, then with Pareto/NBD.

    Returns
    -------
    (BetaGeo or ParetoNBD, GammaGamma)

    Raises
    ------
    ConvergenceError
        When no penalty makes a fit converge.

    Examples
    --------
    >>> import upsell as us
    >>> tx = us.datasets.make_shop(n_customers=300, n_items=60, n_orders=1500).transactions
    >>> s = us.kpi.rfm_summary(tx, calibration_end="2025-01-31")
    >>> bg, gg = fit_clv_models(s.frequency, s.recency, s.T, s.monetary_value)
    >>> sorted(bg.params_)
    ['a', 'alpha', 'b', 'r']
    """
    from upsell import kpi

    last: Exception | None = None
    for model in (kpi.BetaGeo, kpi.ParetoNBD):
        for pen in (0.001, 0.01, 0.1):
            try:
                bg = model(penalizer_coef=pen).fit(frequency=frequency, recency=recency, T=T)
                gg = kpi.GammaGamma(penalizer_coef=pen).fit(frequency=frequency,
                                                            monetary_value=monetary_value)
                return bg, gg
            except ConvergenceError as exc:
                last = exc
    assert last is not None
    raise last


def _why_no_test_requests(tx: Transactions, split: Any) -> str:
    """Why a temporal split leaves nothing to score (said instead of an error)."""
    at = str(split.at)[:16] if split.at is not None else "the split"
    ot = tx.order_table()  # orders, not lines: a long order's lines span many times
    named = ot.customer >= 0
    later = (ot.time >= split.at) & named if split.at is not None else np.zeros_like(named)
    buyers = np.unique(ot.customer[later])
    known = np.intersect1d(buyers, ot.customer[named & ~later]).size
    where = f"after {at} (the last 20% of orders)"
    repeat = named.any() and bool((np.bincount(ot.customer[named]) >= 2).any())
    if not repeat:
        return ("every customer has a single order, so no model can learn from a "
                "customer's past orders")
    if buyers.size == 0:
        return f"no named customer bought {where}, so there is nothing to predict"
    if known == 0:
        return (f"none of the {buyers.size:,} customers who bought {where} had bought "
                "before it, so no model has a history to predict from")
    return (f"none of the {known:,} returning customers who bought {where} bought a product "
            "new to them, and the evaluation scores new products only")


def _section_evaluation(ctx: _Context) -> dict[str, Any]:
    ctx.need("item")  # a purchase log read without items has no products
    from upsell import cf, evaluate

    ctx.need("customer", "time")
    tx = ctx.tx
    k = int(ctx.opt["k"])
    split = evaluate.temporal_split(tx, at=0.8, exclude_train_items=True)
    n_req = len(split.requests)
    if n_req == 0:
        raise _Skip(_why_no_test_requests(tx, split))
    limit = int(ctx.opt["max_eval_customers"])
    if n_req > limit:
        pick = np.sort(ctx.rng.choice(n_req, size=limit, replace=False))
        split = dataclasses.replace(split, requests=split.requests[pick])
    models = {"popular": cf.Popular(),
              "itemknn": cf.ItemKNN(),
              "als": cf.ALS(factors=int(ctx.opt["factors"]),
                            iterations=int(ctx.opt["iterations"]),
                            random_state=ctx.opt["random_state"])}
    metrics = ["precision", "recall", "ndcg", "hit_rate", "coverage"]
    catalog = ctx.items_catalog
    if tx.has("price") and np.isfinite(catalog.price).any():
        metrics.append("revenue")
    comp = evaluate.compare(models, split, k=k, metrics=metrics, baseline="popular",
                            n_bootstrap=200, random_state=ctx.opt["random_state"],
                            catalog=catalog)
    rows = []
    for i, name in enumerate(comp.models):
        row: list[Any] = [name]
        for j, _ in enumerate(comp.metrics):
            row.append(float(comp.means[i, j]))
        j = comp.metrics.index("recall")
        row.append("baseline" if name == comp.baseline else
                   f"{comp.diff[i, j]:+.3f} [{comp.diff_low[i, j]:+.3f}, {comp.diff_high[i, j]:+.3f}]")
        rows.append(tuple(row))
    rj = comp.metrics.index("recall")
    best = comp.models[int(np.nanargmax(comp.means[:, rj]))]
    # backtest offer log: the best model's top-k shown to each test customer,
    # accepted when the customer bought the item in the test period
    model = models[best]
    ids = split.request_ids
    recs = model.recommend(customers=ids, k=k, exclude_owned=True)
    relevant = split.relevant_sets()
    if len(relevant) == len(split.requests):
        rel_by_id = dict(zip(ids.tolist(), relevant, strict=True))
    else:  # relevant_sets follows the requests, but be safe
        rel_by_id = dict(zip(ids.tolist(), relevant[:len(ids)], strict=False))
    lists = recs.lists()
    presented = sum(len(x) for x in lists)
    accepted = sum(sum(1 for it in x if it in rel_by_id.get(c, ())) for c, x in
                   zip(ids.tolist(), lists, strict=True))
    ctx.shared["backtest_conversion"] = (accepted, presented)
    note = (f"Temporal split at {str(split.at)[:10]}: models learn from the first 80% of orders "
            f"and predict each customer's next order (items new to them), "
            f"{len(split.requests):,} customers, k={k}. Last column: recall difference to "
            f"popularity with its {comp.confidence:.0%} paired bootstrap interval.")
    return {"tables": [Table("", ("model", *comp.metrics, "recall vs popular"), tuple(rows),
                             note=note)],
            "charts": [Chart("grouped_bars", f"Ranking quality @{k}",
                             {"groups": list(comp.models),
                              "series": {m: np.asarray(comp.means[:, comp.metrics.index(m)])
                                         for m in ("precision", "recall", "ndcg", "hit_rate")}},
                             note=f"Means over {len(split.requests):,} test customers.")],
            "values": {"comparison": comp, "best": best, "k": k,
                       "best_recall": float(comp.means[comp.models.index(best), rj]),
                       "popular_recall": float(comp.means[comp.models.index("popular"), rj]),
                       "backtest_conversion": accepted / presented if presented else None}}


def _section_offers(ctx: _Context) -> dict[str, Any]:
    ctx.need("item")  # a purchase log read without items has no products
    ctx.need("customer")
    tx = ctx.tx
    n = int(ctx.opt["n_examples"])
    ot = tx.order_table()
    has = ot.customer >= 0
    if tx.has("time"):
        o = np.lexsort((ot.time, ot.customer))
    else:
        o = np.argsort(ot.customer, kind="stable")
    o = o[has[o]]
    # each customer's last order: the last position of its run in the sorted table
    cust_sorted = ot.customer[o]
    last_pos = np.flatnonzero(np.r_[cust_sorted[1:] != cust_sorted[:-1], True])
    last_order = dict(zip(cust_sorted[last_pos].tolist(), ot.order[o[last_pos]].tolist(),
                          strict=True))
    B = tx.baskets()
    orders_per_customer = np.bincount(ot.customer[has], minlength=len(tx.customers))
    cust = _example_customers(ctx, n, last_order, np.diff(B.indptr), orders_per_customer)
    rows = _offers_with_recommender(ctx, cust, last_order, B)
    if rows and all(r[3] == "no offer" for r in rows):
        # a table of 'no offer' rows says nothing: say why instead
        owned = np.diff(tx.customer_items("binary").indptr)[np.asarray(cust, dtype=np.int64)]
        n_items = len(tx.items)
        why = (("they already bought the shop's only product" if n_items == 1 else
                f"they already bought every one of the shop's {n_items:,} products")
               if (owned >= n_items).all() else
               "no source has a product for them that passes the business rules")
        raise _Skip(f"none of the {len(cust):,} example customers gets an offer: {why}")
    note = ("One customer of each type first, then others at random, among customers with 2+ "
            "orders whose last order has a typical size; each is offered up to 3 products "
            "given that order.")
    if any("***@" in r[0] for r in rows):  # shown_customer masked an address
        note += (" Customer ids that are e-mail addresses are shown masked (a***@example.com; "
                 "(1), (2) tell apart customers masked alike): a report is shared wider than "
                 "the order lines.")
    return {"tables": [Table("", ("customer", "type", "last order", "offer", "kind", "cue"),
                             tuple(rows), note=note)],
            "values": {"n": len(rows), "customers": [str(ctx.tx.customers.ids[c])
                                                      for c in cust]}}


#: an e-mail address used as the customer id (Shopify's order export): its first character
#: and its domain are shown, the rest masked
_EMAIL = re.compile(r"^([^@\s])[^@\s]*@([^@\s]+\.[^@\s]+)$")


def shown_customer(cid: Any) -> str:
    """A customer id as the report shows it: an e-mail address masked, others as they are.

    Examples
    --------
    >>> shown_customer("jane.doe@example.com"), shown_customer(17850)
    ('j***@example.com', '17850')
    """
    text = str(cid)
    m = _EMAIL.match(text.strip())
    return f"{m.group(1)}***@{m.group(2)}" if m else text


def _example_customers(ctx: _Context, n: int, last_order: dict[int, int],
                       sizes: np.ndarray, counts: np.ndarray) -> list[int]:
    tx = ctx.tx
    # typical baskets: 2 items up to the 90th percentile of order sizes
    last = np.full(len(tx.customers), -1, dtype=np.int64)
    if last_order:
        last[np.fromiter(last_order, dtype=np.int64)] = np.fromiter(last_order.values(),
                                                                    dtype=np.int64)
    size_last = np.where(last >= 0, sizes[np.maximum(last, 0)], 0)
    cap = max(2.0, float(np.percentile(sizes, 90))) if sizes.size else 2.0
    good = (counts >= 2) & (size_last >= 2) & (size_last <= cap)
    if not good.any():
        good = counts >= 1
    personas = ctx.shared.get("personas")
    chosen: list[int] = []
    if personas is not None:
        res = personas.assignments_
        cidx = tx.customers.encode(res.customers)
        for p in np.unique(res.persona).tolist():
            cand = cidx[(res.persona == p) & good[cidx]]
            if cand.size:
                chosen.append(int(cand[ctx.rng.integers(cand.size)]))
    rest = np.setdiff1d(np.flatnonzero(good), np.asarray(chosen, dtype=np.int64))
    if rest.size and len(chosen) < n:
        extra = ctx.rng.choice(rest, size=min(n - len(chosen), rest.size), replace=False)
        chosen.extend(int(c) for c in extra.tolist())
    return chosen[:n]


def _persona_of(ctx: _Context, cid: Any) -> str:
    personas = ctx.shared.get("personas")
    if personas is None:
        return ""
    try:
        return str(personas.predict(customers=[cid]).persona[0])
    except UpsellError:  # a customer the personas never saw: no persona to show
        return ""


def _basket_ids(ctx: _Context, c: int, last_order: dict[int, int], B: Any) -> list[Any]:
    o = last_order.get(c)
    if o is None:
        return []
    return ctx.tx.items.ids[B.indices[B.indptr[o]:B.indptr[o + 1]]].tolist()


def _distinct(shown: list[str]) -> list[str]:
    """Masked ids that look alike (``j***@example.com`` twice) numbered apart: ``(1)``, ``(2)``."""
    seen: dict[str, int] = {}
    total = {s: shown.count(s) for s in shown}
    out = []
    for s in shown:
        seen[s] = seen.get(s, 0) + 1
        out.append(f"{s} ({seen[s]})" if total[s] > 1 and "***@" in s else s)
    return out


def _offers_with_recommender(ctx: _Context, cust: list[int], last_order: dict[int, int],
                             B: Any) -> list[tuple[Any, ...]]:
    from upsell.recommend import Recommender

    cross = [m for m in (ctx.shared.get("bundle_recommender"), _knn(ctx)) if m is not None]
    from upsell.recommend.filters import default_rules

    rules = default_rules(exclude=ctx.opt.get("exclude_items"))
    rec = Recommender(catalog=ctx.items_catalog, cross_sell=cross, upsell=_upsell_ranker(ctx),
                      segments=ctx.shared.get("personas"), history=ctx.tx, rules=rules)
    at = ctx.tx.time.max() if ctx.tx.has("time") else None
    rows = []
    shown_as = _distinct([shown_customer(ctx.tx.customers.ids[c]) for c in cust])
    for c, who in zip(cust, shown_as, strict=True):
        cid = ctx.tx.customers.ids[c]
        basket = _basket_ids(ctx, c, last_order, B)
        got = rec.recommend(cid, basket=basket, k=3, channel="web", at=at)
        offers = list(got)[:3]
        persona = _persona_of(ctx, cid)
        shown = shorten_list(ctx.name(basket), 4)
        if not offers:  # the cue column says why (the offer list's note)
            rows.append((who, persona, shown, "no offer", "", str(got.note)))
        for i, off in enumerate(offers):
            first = i == 0
            rows.append((who if first else "", persona if first else "", shown if first else "",
                         ctx.name([off.item])[0], str(off.kind), str(off.cue)))
    return rows


def _knn(ctx: _Context) -> Any:
    if "knn_full" not in ctx.shared:
        from upsell.cf import ItemKNN

        ctx.shared["knn_full"] = ItemKNN().fit(ctx.tx)
    return ctx.shared["knn_full"]


def _upsell_ranker(ctx: _Context) -> Any:
    if "upsell_ranker" not in ctx.shared:
        ranker = None
        if ctx.catalog is not None:
            from upsell.tiers import UpsellRanker

            objective = "margin" if np.isfinite(ctx.catalog.cost).any() else "revenue"
            ranker = UpsellRanker(objective=objective).fit(
                ctx.tx, ctx.catalog, segments=ctx.shared.get("personas"))
        ctx.shared["upsell_ranker"] = ranker
    return ctx.shared["upsell_ranker"]
