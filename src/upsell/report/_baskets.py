"""Report sections on baskets: products bought together (itemsets, rules) and upgrade ladders."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.data import Catalog
from upsell.exceptions import UpsellError, UpsellMemoryError
from upsell.report._context import _Context, _log, _Skip
from upsell.report._tables import _MAX_CELL, MAX_MARKS, Chart, Table, fmt, fmt_pct


def _mine(ctx: _Context) -> tuple[Any, str]:
    """Frequent itemsets (up to 3 items) within the report's budget, and a phrase saying how
    the support was chosen.

    ``min_support="auto"`` takes the lowest support whose itemsets stay within
    ``max_itemsets``; at least 20 orders must hold an itemset either way, so
    rules rest on more than a handful of orders.
    """
    from upsell import bundles

    tx = ctx.tx
    n = max(len(tx.orders), 1)
    budget = int(ctx.opt["max_itemsets"])
    floor = min(20.0 / n, 1.0)
    given = ctx.opt["min_support"]
    if isinstance(given, str) and given == "auto":
        fi = bundles.frequent_itemsets(tx, min_support="auto", max_itemsets=budget, max_len=3)
        how = (f"chosen automatically: the lowest within a budget of {budget:,} itemsets of "
               "2+ products")
        if fi.min_support < floor:
            fi = bundles.frequent_itemsets(tx, min_support=floor, max_len=3)
            how = (f"20 orders, the floor (the budget of {budget:,} itemsets would allow "
                   "less)")
        return fi, how
    start = max(float(given), floor)
    try:
        fi = bundles.frequent_itemsets(tx, min_support=start, max_len=3, max_itemsets=budget)
    except UpsellMemoryError:  # over the budget: the lowest support within it, found by auto
        fi = bundles.frequent_itemsets(tx, min_support="auto", max_itemsets=budget, max_len=3)
        return fi, f"given {float(given):.3g}, raised to fit the budget of {budget:,} itemsets"
    return fi, "as given" if start == float(given) else "the floor of 20 orders"


def _rules(ctx: _Context, fi: Any) -> Any:
    """Rules with redundant ones pruned (when this upsell can), Holm-adjusted p < 0.05."""
    from upsell import bundles

    kw: dict[str, Any] = {"min_confidence": float(ctx.opt["min_confidence"]),
                          "p_adjust": "holm", "max_p": 0.05}
    return bundles.association_rules(fi, prune=True, max_rules=ctx.opt["max_rules"], **kw)


def _top_rules(rules: Any, k: int) -> tuple[Any, np.ndarray]:
    """The ``k`` best rules by lift, at most one per item set, and no item in more than
    two of them, so the table shows different ideas rather than variants of one.

    Returns the rules and the positions in order (all of them: the rules are the chosen ones).
    """
    if len(rules) == 0:
        return rules, np.empty(0, dtype=np.int64)
    rules = rules.top(k, by="lift", distinct=True, max_per_item=2)
    return rules, np.arange(len(rules), dtype=np.int64)


def _with_items(rules: Any, excluded: Any) -> np.ndarray:
    """Mask of the rules that hold one of the ``excluded`` item ids (either side)."""
    bad = np.zeros(len(rules.items), dtype=bool)
    if excluded:
        pos = rules.items.encode(list(excluded), unknown="mask")
        bad[pos[pos >= 0]] = True
    hit = np.zeros(len(rules), dtype=bool)
    for ptr, idx in ((rules.antecedent_indptr, rules.antecedent_index),
                     (rules.consequent_indptr, rules.consequent_index)):
        owner = np.repeat(np.arange(len(rules)), np.diff(ptr))
        hit[owner[bad[idx]]] = True
    return hit


def _diverse_bundles(fi: Any, catalog: Catalog, k: int, excluded: Any = ()) -> Any:
    """Bundle candidates of different product lines: each one shares no item, no catalog
    family and no strong pair (lift above half its own) with a bundle ranked above it."""
    from upsell import bundles

    pool = bundles.suggest_bundles(fi, catalog, k=max(20 * k, 200))
    if len(pool) == 0:
        return pool, []
    cat = catalog
    family = np.asarray(cat.family).astype(str)
    fam = (dict(zip(cat.items.ids.tolist(), family.tolist(), strict=True))
           if (np.char.str_len(family) > 0).any() else {})
    pair_lift = _pair_lifts(fi)
    picked: list[int] = []
    used_items: set[Any] = set()
    used_fams: set[str] = set()
    skip = set(excluded or ())
    for j, items in enumerate(pool.items):
        if used_items.intersection(items) or skip.intersection(items):
            continue
        fams = {fam.get(i, "") for i in items} - {""}
        if fams & used_fams:
            continue
        bar = float(pool.lift[j]) / 2.0
        if any(pair_lift.get((min(a, b), max(a, b)), 0.0) > bar
               for p in picked for a in pool.items[p] for b in items):
            continue
        picked.append(j)
        used_items.update(items)
        used_fams.update(fams)
        if len(picked) == k:
            break
    return pool, picked


def _pair_lifts(fi: Any) -> dict[tuple[Any, Any], float]:
    """Lift of every frequent pair, keyed by sorted external ids."""
    lat = fi.lattice
    if lat.depth < 2:
        return {}
    mat = lat.level_items(2)
    n = lat.n_baskets
    lift = lat.counts[1] / n / np.prod(lat.item_counts[mat] / n, axis=1)
    ids = fi.items.ids
    a, b = ids[mat[:, 0]].tolist(), ids[mat[:, 1]].tolist()
    return {(min(x, y), max(x, y)): float(v) for x, y, v in zip(a, b, lift.tolist(), strict=True)}


def _section_bundles(ctx: _Context) -> dict[str, Any]:
    ctx.need("item")  # a purchase log read without items has no products
    from upsell import bundles

    tx = ctx.tx
    n_baskets = max(len(tx.orders), 1)
    fi, how = _mine(ctx)
    support = float(fi.min_support)
    rules = _rules(ctx, fi)
    ctx.shared["rules"] = rules
    if len(rules):
        ctx.shared["bundle_recommender"] = bundles.BundleRecommender(rules)
    top = int(ctx.opt["top"])
    excluded = ctx.opt.get("exclude_items") or ()
    fees = _with_items(rules, excluded) if len(rules) else np.zeros(0, dtype=bool)
    best, order = _top_rules(rules.select(~fees) if fees.any() else rules, top)
    rows = []
    for r in order.tolist():
        ant, con = best.rule(r)
        rows.append((" + ".join(ctx.name(list(ant))), " + ".join(ctx.name(list(con))),
                     float(best.support[r]), float(best.confidence[r]), float(best.lift[r]),
                     int(best.count[r])))
    pruned = rules.n_pruned
    pruned_text = f", after pruning {pruned:,} redundant ones" if pruned else ""
    note = (f"{len(fi):,} frequent itemsets of up to 3 items at min support "
            f"{fmt_pct(support)} ({int(fi.min_count):,} of {n_baskets:,} orders; "
            f"{how}); {len(rules):,} rules with confidence >= "
            f"{float(ctx.opt['min_confidence']):.0%} and Holm-adjusted p < 0.05{pruned_text}. "
            "Shown: the best by lift, one rule per item set, no product in more than two"
            + (f"; not shown: {int(fees.sum()):,} rules with fees or services, which are never "
               f"offered ({', '.join(ctx.name(list(excluded)[:3]))}"
               f"{', ...' if len(excluded) > 3 else ''})." if fees.any() else "."))
    why = _why_no_rules(ctx, fi) if len(rules) == 0 else ""
    tables = [Table("Top rules by lift: customers who buy the first also buy the second",
                    ("if bought", "also buy", "support", "confidence", "lift", "orders"),
                    tuple(rows), percent=("support", "confidence"), note=note,
                    total=len(rules) - int(fees.sum()), unit="rules", empty=why)]
    charts = []
    if len(rules):
        charts.append(_rules_chart(ctx, rules))
    if len(fi):
        pool, picked = _diverse_bundles(fi, ctx.items_catalog, min(10, top), excluded)
        brow: tuple[tuple[Any, ...], ...] = tuple(
            (" + ".join(ctx.name(list(pool.items[j]))), float(pool.lift[j]),
             int(pool.count[j]), float(pool.list_price[j])) for j in picked)
        bcols: tuple[str, ...] = ("bundle", "lift", "orders with all", "list price")
        priced = bool(np.isfinite([r[3] for r in brow]).any()) if brow else True
        if not priced:  # no prices in the data: no column of dashes
            brow, bcols = tuple(r[:3] for r in brow), bcols[:3]
        tables.append(Table("Bundle candidates", bcols, brow,
                            note=("" if priced else "No prices in the data: list prices "
                                  "left out. ") +
                                 "Sets of 2-3 products bought together more often than "
                                 "chance, one per product line: a candidate shares no "
                                 "product, catalog family or strongly linked pair with one "
                                 "above it. Lift: how many times more often the whole set "
                                 "is bought together than if its products sold "
                                 "independently (larger for 3 products than for 2).",
                            unit="bundle candidates",
                            empty=why if len(rules) == 0 else
                            "no set of 2-3 products is bought together more often than "
                            "chance at this support"))
    return {"tables": tables, "charts": charts,
            "values": {"n_rules": len(rules), "n_itemsets": len(fi), "min_support": support,
                       "support_chosen": how}}


def _why_no_rules(ctx: _Context, fi: Any) -> str:
    """Why the rules table would be empty (said instead of an empty table)."""
    tx = ctx.tx
    if not (np.diff(tx.baskets().indptr) >= 2).any():
        return "no order holds two or more products, so nothing is bought together"
    if not (np.asarray(fi.lengths) >= 2).any():
        return (f"no set of two or more products is in {int(fi.min_count):,} or more of the "
                f"{len(tx.orders):,} orders (the minimum support); with so few orders no "
                "rule rests on enough of them")
    return (f"no rule reaches confidence >= {float(ctx.opt['min_confidence']):.0%} with "
            "Holm-adjusted p < 0.05")


def _rules_chart(ctx: _Context, rules: Any) -> Chart:
    n = len(rules)
    conf, lift, sup = (np.asarray(rules.confidence), np.asarray(rules.lift),
                       np.asarray(rules.support))
    if n > MAX_MARKS:
        pick = np.sort(ctx.rng.choice(n, size=MAX_MARKS, replace=False))
        conf, lift, sup = conf[pick], lift[pick], sup[pick]
        note = (f"{MAX_MARKS:,} of {n:,} rules drawn, a random sample; "
                "point size = support (thirds).")
    else:
        note = f"All {n:,} rules; point size = support (thirds)."
    return Chart("rules_scatter", "Rules: confidence against lift",
                 {"confidence": conf, "lift": lift, "support": sup}, note=note)


def _section_ladders(ctx: _Context) -> dict[str, Any]:
    """The catalog's upgrade ladders, then the quantity breaks the shop's own prices show;
    skipped only when neither has anything to show."""
    ctx.need("item")  # a purchase log read without items has no products
    out: dict[str, Any] = {"tables": [], "charts": [], "values": {}}
    left_out = ""
    try:
        got = _ladders_part(ctx)
        for key in out:
            out[key] = got[key]
    except _Skip as exc:
        left_out = str(exc)
    breaks = _breaks_part(ctx)
    if breaks is None:
        if left_out:
            raise _Skip(left_out)
        return out
    table, values = breaks
    out["tables"].append(table)
    out["values"]["quantity_breaks"] = values
    if left_out:
        out["note"] = (f"Upgrade ladders left out: {left_out}. Shown: the quantity breaks "
                       "the shop's own prices show.")
    return out


def _breaks_part(ctx: _Context) -> tuple[Table, Any] | None:
    """The quantity breaks table (None without prices or quantities, or with no break)."""
    tx = ctx.tx
    if not tx.has("price") or not tx.has("quantity"):
        return None
    from upsell.tiers import quantity_breaks

    br = quantity_breaks(tx, exclude=ctx.opt.get("exclude_items") or None)
    if not len(br):
        return None
    top = np.lexsort((np.arange(len(br)), -np.asarray(br.lines), -np.asarray(br.near)))
    top = top[:int(ctx.opt["top"])]
    names = ctx.name(br.item[top])
    rows = tuple(
        (str(nm), float(br.base_price[i]), f"{int(br.quantity[i]):,}+ at "
         f"{_price(float(br.price[i]))}", float(br.saving[i]), int(br.lines[i]),
         int(br.near[i]), (float(br.taken[i] / br.near[i]) if br.near[i] else None))
        for nm, i in zip(names, top.tolist(), strict=True))
    n_near, n_taken = int(np.sum(br.near)), int(np.sum(br.taken))
    items = br.n_items
    note = (f"{len(br):,} quantity breaks of {items:,} products, read from the prices paid "
            f"(a lower unit price from a quantity on, paid by 2+ customers and still in "
            f"force). Within reach: lines below a break whose customer would have spent at "
            f"most {br.price_jump:g}x the line to reach it: {n_near:,} "
            f"({n_near / max(len(tx), 1):.1%} of the lines); later bought at the break: "
            f"{n_taken / n_near:.0%} of them." if n_near else
            f"{len(br):,} quantity breaks of {items:,} products, read from the prices paid.")
    table = Table("Quantity breaks: upsell to the next volume price", (
        "product", "unit price", "break", "saving", "lines at break", "lines within reach",
        "later bought at break"), rows, note=note, percent=("saving", "later bought at break"),
        total=len(br), unit="breaks")
    return table, br


def _price(x: float) -> str:
    """A unit price as a price list writes it: 8.50, not 8.5."""
    return f"{x:,.2f}" if abs(x) < 1e4 else fmt(x)


def _ladders_part(ctx: _Context) -> dict[str, Any]:
    cat = ctx.need_catalog("upgrade ladders")
    ctx.need("customer", "time")
    tx = ctx.tx
    family = cat.family
    tier = cat.tier.astype(np.float64)
    try:
        from upsell.tiers import build_ladders

        lad = build_ladders(cat)
        family, tier = np.asarray(lad.family), np.asarray(lad.tier, dtype=np.float64)
    except UpsellError as exc:  # ladders refused this catalog: fall back to its own columns
        _log.info("build_ladders failed (%s); using catalog tiers", exc)
    on = (family != "") & np.isfinite(tier)
    if not on.any():
        raise _Skip("the catalog has no product families with tiers")
    fam_index, fam_code = np.unique(family, return_inverse=True)
    line = on[tx.item] & (tx.customer >= 0) & (tx.quantity > 0)
    c = tx.customer[line].astype(np.int64)
    f = fam_code[tx.item[line]].astype(np.int64)
    t = tier[tx.item[line]]
    when = tx.time[line]
    key = c * len(fam_index) + f
    order = np.lexsort((t, when, key))
    key, t, f = key[order], t[order], f[order]
    first = np.r_[True, key[1:] != key[:-1]]
    starts = np.flatnonzero(first)
    first_tier = t[starts]
    max_tier = np.maximum.reduceat(t, starts)
    fam_of = f[starts]
    # only customers who entered below their family's top tier could move up
    fam_top = np.full(len(fam_index), -np.inf)
    np.maximum.at(fam_top, fam_code[on], tier[on])
    can = first_tier < fam_top[fam_of]
    first_tier, max_tier, fam_of = first_tier[can], max_tier[can], fam_of[can]
    upgraded = max_tier > first_tier
    if not upgraded.size:
        raise _Skip("no customer bought below the top tier of a product family")
    # take-up per (family, entry tier): share of customers starting there who later went higher
    group = fam_of * 1000 + first_tier.astype(np.int64)
    g, gi = np.unique(group, return_inverse=True)
    n_start = np.bincount(gi)
    n_up = np.bincount(gi, weights=upgraded.astype(np.float64))
    overall = float(upgraded.mean())
    fam_customers = np.bincount(fam_of, minlength=len(fam_index))
    top_fams = np.argsort(-fam_customers, kind="stable")[:ctx.opt["top"]]
    names = cat.name
    price = cat.price
    bought = np.bincount(tx.item[line], minlength=len(tier))  # lines per item
    rows = []
    for fi in top_fams.tolist():
        members = np.flatnonzero((fam_code == fi) & on)
        if fam_customers[fi] == 0 or np.unique(tier[members]).size < 2:
            continue
        ladder = _ladder_text(members, tier, price, bought, names, fmt)
        sel = (g // 1000) == fi
        rates = [f"tier {int(tt)}: {n_up[j] / n_start[j]:.0%} of {int(n_start[j]):,}"
                 for j, tt in zip(np.flatnonzero(sel).tolist(), (g[sel] % 1000).tolist(),
                                  strict=True)]
        fam_up = upgraded[fam_of == fi]
        rows.append((str(fam_index[fi]), ladder, int(fam_customers[fi]),
                     float(fam_up.mean()) if fam_up.size else None,
                     _fitted(rates, "; ", len(rates))))
    values: dict[str, Any] = {"take_up": overall}
    note = ("Take-up: share of the customers whose first purchase in a family was at a tier "
            "who later bought a higher tier of that family.")
    tables = [Table("", ("family", "ladder (price)", "customers", "take-up",
                         "take-up by entry tier"), tuple(rows), note=note,
                    percent=("take-up",))]
    charts = [Chart("bar_chart", "Upgrade take-up by entry tier (all families)",
                    _take_up_by_tier(g % 1000, n_start, n_up),
                    note=f"{int(upgraded.size):,} customer-family pairs, pooled over all "
                         "families by entry tier.")]
    return {"tables": tables, "charts": charts, "values": values}


def _ladder_text(members: np.ndarray, tier: np.ndarray, price: np.ndarray, bought: np.ndarray,
                 names: np.ndarray, fmt: Any, steps: int = 4, limit: int = _MAX_CELL) -> str:
    """A family's ladder in words: per tier (lowest first) its most-bought item and price,
    "(+N tiers)" after ``steps``; items of one tier share a step, so an arrow is always a
    step up. Fewer steps when long names would pass the table's cell ``limit`` (a cut cell
    would end mid-name); a single step longer than that is left to the table to cut."""
    order = members[np.lexsort((-bought[members], tier[members]))]
    t = tier[order]
    heads = order[np.r_[True, t[1:] != t[:-1]]]
    parts = [f"tier {int(tier[m])}: {names[m]} ({fmt(float(price[m]))})" for m in heads[:steps]]
    return _fitted(parts, " → ", int(heads.size), limit)


def _fitted(parts: list[str], sep: str, total: int, limit: int = _MAX_CELL) -> str:
    """``parts`` joined by ``sep``, then "(+N tiers)" for the ``total - len`` not shown; the
    last parts dropped while the text is longer than ``limit`` (keeping one), so a table
    cell ends with a whole part instead of being cut mid-word.

    >>> _fitted(["tier 1: 5%", "tier 2: 7%", "tier 3: 9%"], "; ", 3, limit=24)
    'tier 1: 5% (+2 tiers)'
    """
    parts = list(parts)
    while True:
        more = total - len(parts)
        text = sep.join(parts) + (f" (+{more} tiers)" if more > 0 else "")
        if len(text) <= limit or len(parts) <= 1:
            return text
        parts.pop()


def _take_up_by_tier(tiers: np.ndarray, n_start: np.ndarray, n_up: np.ndarray) -> dict[str, Any]:
    u, inv = np.unique(tiers, return_inverse=True)
    starts = np.bincount(inv, weights=n_start.astype(np.float64))
    ups = np.bincount(inv, weights=n_up)
    return {"labels": [f"from tier {int(x)}" for x in u.tolist()],
            "values": np.where(starts > 0, ups / np.maximum(starts, 1), np.nan),
            "ylabel": "take-up rate", "percent": True}


def _margin_rate(ctx: _Context) -> float:
    """The catalog's margin rate (revenue-weighted), or that of the order lines' own costs
    (a cost or profit column) without a catalog; 1 without costs."""
    tx = ctx.tx
    cat = ctx.items_catalog  # the given catalog, else the lines' (their costs, if any)
    if not np.isfinite(cat.cost).any():
        return 1.0
    cost = cat.cost[tx.item]
    p, q = tx.price, tx.quantity
    ok = np.isfinite(cost)
    rev = float(np.sum(q[ok] * p[ok]))
    if rev <= 0:
        return 1.0
    return float(np.clip(np.sum(q[ok] * (p[ok] - cost[ok])) / rev, 0.0, 1.0))
