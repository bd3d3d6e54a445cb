"""The subcommands of ``upsell``: each parses nothing, reads its files, runs one part of the library and writes its output."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

from upsell import __version__
from upsell.cli._io import (
    _need,
    _progress_wanted,
    _read_catalog,
    _read_offer_log,
    _read_orders,
    _read_scores,
    _Steps,
    _write,
    orders_label,
    parts_read,
)
from upsell.data import Catalog, Transactions
from upsell.exceptions import UpsellDataError, UpsellError


# ---------------------------------------------------------------------- commands
def _facts(tx: Transactions, out: TextIO) -> None:
    def n(count: int, word: str) -> str:
        return f"{count:,} {word}{'' if count == 1 else 's'}"

    lines, orders, items = tx.shape
    out.write(f"  {n(lines, 'order line')}, {n(orders, 'order')}, "
              + (n(items, 'item') if tx.has("item") else "no item column"))
    if tx.has("customer"):
        out.write(f", {n(len(tx.customers), 'customer')}")
    out.write("\n")
    table = tx.order_table()
    out.write(f"  units per order (UPT): {np.mean(table.units):.2f}\n")
    if tx.has("price"):
        out.write(f"  average transaction value (ATV): {np.nanmean(table.value):,.2f}\n")
    if tx.has("time"):
        t = tx.time
        out.write(f"  period: {str(t.min())[:10]} to {str(t.max())[:10]}\n")
    if tx.has("item"):  # a purchase log (--no-items) has no baskets
        sizes = np.diff(tx.baskets().indptr)
        out.write(f"  baskets with 2+ items: {np.mean(sizes >= 2):.1%}\n")

def _analyse_and_write(tx: Transactions, catalog: Catalog | None, args: argparse.Namespace,
                       steps: _Steps, out: TextIO, source: str, **options: Any) -> int:
    from upsell.report import analyse

    started = time.perf_counter()
    analysis = analyse(tx, catalog, source=source, progress=_progress_wanted(args.quiet),
                       random_state=args.seed, **options)
    with steps.step("writing the report"):
        analysis.save_html(args.output, title=args.title, charts=not args.no_charts)
    for line in analysis.summary():
        out.write(line + "\n")
    out.write(f"\nReport: {os.path.abspath(args.output)} "
              f"({time.perf_counter() - started:.1f} s)\n")
    return 0

def _cmd_demo(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell.datasets import make_shop

    with steps.step("making the demo shop"):
        shop = make_shop(n_customers=args.customers, n_orders=5 * args.customers,
                         random_state=args.seed)
    tx = shop.transactions
    out.write(f"upsell {__version__} demo shop (random_state={args.seed})\n\n")
    out.write(str(tx.report) + "\n\nFacts:\n")
    _facts(tx, out)
    out.write("\n")
    return _analyse_and_write(tx, shop.catalog, args, steps, out, source="demo shop")

def _cmd_report(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    tx = _read_orders(args, steps)
    catalog = _read_catalog(args, steps)
    options: dict[str, Any] = {}
    if args.nps:
        options["nps_scores"] = _read_scores(args.nps)
    if args.offer_log and args.log:
        raise UpsellDataError("give --log (an SQLite offer log) or --offer-log (a CSV of "
                              "events), not both")
    if args.offer_log:
        options["offer_log"] = _read_offer_log(args.offer_log)
    if args.model and not args.log:
        raise UpsellDataError("--model needs --log LOG: the model is evaluated on the logged "
                              "requests")
    if args.log:
        options["offer_log"] = _open_offer_log(args.log)
    if args.model:
        with steps.step("loading the model"):
            options["candidate"] = _load_model(args.model)
    options["exclude_items"] = _never_offered(args, tx, catalog)  # [] with --offer-all-items
    source = orders_label(args)
    if tx.report.files:  # several files (or a workbook's sheets) read as one history
        source += f" ({parts_read(tx)})"
    for side in ("orders_file", "customers_file"):  # what the lines' customers came from
        if getattr(args, side, None):
            source += f" + {os.path.basename(getattr(args, side))}"
    return _analyse_and_write(tx, catalog, args, steps, out, source=source, **options)

def _cmd_inspect(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    tx = _read_orders(args, steps)
    out.write(str(tx.report) + "\n\nFacts:\n")
    _facts(tx, out)
    return 0

def _item_namer(tx: Transactions, catalog: Catalog | None = None) -> Any:
    """A function item ids -> product names when the lines' name column or the catalog know
    names, else None."""
    try:
        known = tx.has("name")
    except UpsellError:  # an upsell without the name role
        known = False
    if known:
        names = dict(zip(tx.items.ids.tolist(), tx.item_names().tolist(), strict=True))
    elif catalog is not None and (catalog.name != catalog.items.ids.astype(str)).any():
        names = dict(zip(catalog.items.ids.tolist(), catalog.name.tolist(), strict=True))
    else:
        return None
    return lambda ids: [names.get(i, str(i)) for i in ids]

def _support_note(obj: Any, what: str, args: argparse.Namespace) -> None:
    """Say the support that auto chose (the budget, not a magic threshold, decided it)."""
    if getattr(obj, "support_chosen", "given") == "auto" and not args.quiet:
        sup = float(getattr(obj, "min_support", float("nan")))
        sys.stderr.write(f"upsell: --min-support auto chose {sup:.4g} ({len(obj):,} {what})\n")

def _why_no_rules(tx: Transactions, fi: Any, args: argparse.Namespace) -> str:
    """Why mining found no rule: single-item orders, no item set of two at the support,
    or none passing the confidence and significance thresholds."""
    sizes = np.diff(tx.baskets().indptr)
    if not (sizes >= 2).any():
        return (f"no order holds two or more items ({len(tx.orders):,} orders), so nothing "
                "is bought together")
    pairs = int(np.count_nonzero(fi.lengths >= 2)) if len(fi) else 0
    where = (f"at support {float(fi.min_support):.4g} ({int(fi.min_count):,} of "
             f"{len(tx.orders):,} orders)")
    if pairs == 0:
        return (f"no set of two or more items is frequent {where}; lower --min-support")
    return (f"none of {pairs:,} frequent item sets of 2+ items {where} gives a rule with "
            f"confidence >= {args.min_confidence:g} and Holm-adjusted p <= {args.max_p:g}; "
            "lower --min-confidence or raise --max-p")

def _cmd_mine(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import bundles

    tx = _read_orders(args, steps)
    _need(tx, args, "`upsell mine`", "item")
    catalog = _read_catalog(args, steps)
    names = _item_namer(tx, catalog)
    top = args.top or None  # 0: every row
    if args.what == "sequences":
        support = 0.01 if args.min_support == "auto" else args.min_support
        with steps.step("mining purchase sequences"):
            seq = bundles.sequence_rules(tx, within=args.within, min_support=support,
                                         min_confidence=args.min_confidence)
        if len(seq.lift) == 0:
            sys.stderr.write(f"upsell: no sequence rules: no pair of products is bought one "
                             f"after the other within {args.within} by {support:g} of the "
                             "customers or more; lower --min-support or widen --within\n")
        order = np.argsort(-seq.lift, kind="stable")[:top]
        ids = seq.items.ids
        first = ids[seq.first[order]] if seq.first.dtype.kind in "iu" else seq.first[order]
        then = ids[seq.then[order]] if seq.then.dtype.kind in "iu" else seq.then[order]
        data: dict[str, Any] = {"first": first, "then": then}
        if names is not None:
            data["first_name"] = np.array(names(first.tolist()), dtype=object)
            data["then_name"] = np.array(names(then.tolist()), dtype=object)
        data.update({"customers": seq.count[order], "support": seq.support[order],
                     "confidence": seq.confidence[order], "lift": seq.lift[order],
                     "median_lag_days": seq.median_lag_days[order]})
        _write(data, args, out, total=len(seq.lift))
        return 0
    with steps.step("mining frequent itemsets"):
        fi = bundles.frequent_itemsets(tx, min_support=args.min_support, max_len=args.max_len)
    _support_note(fi, "itemsets", args)

    def named(row: dict[str, Any], key: str, ids: Sequence[Any]) -> None:
        row[key] = list(ids)
        if names is not None:
            row[f"{key}_names"] = names(ids)

    if args.what == "itemsets":
        if len(fi) == 0:
            sys.stderr.write(f"upsell: no itemsets: no item is in {int(fi.min_count):,} or "
                             f"more of the {len(tx.orders):,} orders (the support "
                             f"{float(fi.min_support):.4g}); lower --min-support\n")
        order = np.argsort(-fi.counts, kind="stable")[:top]
        rows = []
        for i in order.tolist():
            row: dict[str, Any] = {}
            named(row, "itemset", fi.itemset(i))
            row.update(count=int(fi.counts[i]), support=float(fi.support[i]))
            rows.append(row)
        _write(rows or {c: [] for c in ("itemset", "count", "support")}, args, out,
               total=len(fi.counts))
        return 0
    if args.what == "bundles":
        if catalog is None:
            if not tx.has("price"):
                raise UpsellDataError("`upsell mine --what bundles` needs list prices: give "
                                      "--catalog, or order lines with a price (or value) column")
            catalog = Catalog.from_transactions(tx)
        b = bundles.suggest_bundles(fi, catalog, k=max(len(fi.counts), 1), rank_by=args.rank_by)
        keep: list[int] | range = range(len(b.items))
        if args.max_p:
            # bundles shown are significant like rules: some rule over the set passes --max-p
            # (at an automatic support, sets seen twice would otherwise top the table by lift)
            sig = bundles.association_rules(fi, min_confidence=0.0, max_p=args.max_p,
                                            min_len=2, max_len=3)
            ok = {frozenset(sig.antecedent(r)) | frozenset(sig.consequent(r))
                  for r in range(len(sig))}
            keep = [i for i, items in enumerate(b.items) if frozenset(items) in ok]
        total = len(keep)
        if total == 0:
            sys.stderr.write(f"upsell: no bundles: {_why_no_rules(tx, fi, args)}\n")
        rows = []
        for i in list(keep)[:top]:
            items, c, sup, lf, pr = (b.items[i], b.count[i], b.support[i], b.lift[i],
                                     b.list_price[i])
            row = {}
            named(row, "bundle", items)
            row.update(count=int(c), support=float(sup), lift=float(lf), list_price=float(pr))
            rows.append(row)
        _write(rows or {c: [] for c in ("bundle", "count", "support", "lift", "list_price")},
               args, out, total=total)
        return 0
    with steps.step("generating rules"):
        # a table for people shows significant rules only (Holm-adjusted Fisher p <= --max-p):
        # at an automatic support, rare pairs seen twice would otherwise top it by lift
        rules = bundles.association_rules(fi, min_confidence=args.min_confidence,
                                          prune=args.prune, max_p=args.max_p or None)
    total = len(rules)
    if total == 0:  # an empty table says why, never a crash or a bare header
        sys.stderr.write(f"upsell: no rules: {_why_no_rules(tx, fi, args)}\n")
        _write({c: [] for c in ("antecedent", "consequent", "count", "support", "confidence",
                                "lift", "p_adjusted")}, args, out)
        return 0
    if top is not None and args.max_per_item:
        # one rule per item set (no permutations of one), and each item in at most
        # --max-per-item rows, so the top of the table shows different ideas, not one family
        shown = rules.top(top, by="lift", distinct=True, max_per_item=args.max_per_item)
        order = np.arange(len(shown))
    elif top is not None:
        shown = rules.top(top, by="lift", distinct=True)
        order = np.arange(len(shown))
    else:
        shown = rules
        order = np.argsort(-rules.lift, kind="stable")[:top]
    rows = []
    for r in order.tolist():
        row = {}
        named(row, "antecedent", shown.antecedent(r))
        named(row, "consequent", shown.consequent(r))
        row.update(count=int(shown.count[r]), support=float(shown.support[r]),
                   confidence=float(shown.confidence[r]), lift=float(shown.lift[r]),
                   p_adjusted=float(shown.p_adjusted[r]))
        rows.append(row)
    if names is not None:  # ids first, then names, then the numbers
        rows = [{k: r[k] for k in ("antecedent", "consequent", "antecedent_names",
                                   "consequent_names", *list(r)[4:])} for r in rows]
    _write(rows, args, out, total=total)
    return 0

def _cmd_segment(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import segments

    tx = _read_orders(args, steps)
    _need(tx, args, "`upsell segment`", "customer", "time")
    catalog = _read_catalog(args, steps)
    with steps.step(f"segmenting ({args.method})"):
        if args.method == "rfm":
            res: Any = segments.rfm(tx)
            frame = {"customer": res.customers, "recency": res.recency,
                     "frequency": res.frequency, "monetary": res.monetary, "r": res.r,
                     "f": res.f, "m": res.m, "segment": res.segment}
            summary = res.summary()
        elif args.method == "clusters":
            clusters = segments.Clusters(random_state=args.seed).fit(tx, catalog=catalog)
            res = clusters.predict()
            frame = {"customer": res.customers, "cluster": res.cluster, "segment": res.label}
            summary = None
        else:
            personas = segments.Personas().fit(tx, catalog=catalog)
            res = personas.predict()
            frame = {"customer": res.customers, "segment": res.persona,
                     "reason": res.reasons()}
            summary = res.summary()
    if args.summary:
        if summary is None:
            raise UpsellDataError("--summary is available for --method personas and rfm")
        frame = {"segment": summary.segment, "customers": summary.customers,
                 "customer_share": summary.customer_share, "revenue": summary.revenue,
                 "revenue_share": summary.revenue_share}
    _write(frame, args, out)
    return 0

def _cmd_kpi(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import kpi

    tx = _read_orders(args, steps)
    catalog = _read_catalog(args, steps)
    rows: list[dict[str, Any]] = []
    funcs: list[tuple[str, Any]] = [("upt", kpi.upt)]
    if tx.has("price"):
        funcs.insert(0, ("atv", kpi.atv))
    if catalog is not None:
        funcs.append(("attach_rate", lambda t, by=None: kpi.attach_rate(t, catalog, by=by)))
        funcs.append(("upsell_rate", lambda t, by=None: kpi.upsell_rate(t, catalog, by=by)))
    with steps.step("computing KPIs"):
        for name, f in funcs:
            res = f(tx, by=args.by)
            note = getattr(res, "note", "")
            if note and not args.quiet:
                sys.stderr.write(f"upsell kpi: {note}\n")
            for g, v, nu, de in zip(res.groups.tolist(), res.value.tolist(),
                                    res.numerator.tolist(), res.denominator.tolist(),
                                    strict=True):
                # a KPI that cannot be computed is written as n/a with the reason, never 0.0
                defined = v == v
                rows.append({"kpi": name, "group": str(g)[:10] if args.by else "all",
                             "value": v if defined else "n/a",
                             "numerator": nu if defined else "",
                             "denominator": de if defined else "",
                             "note": "" if defined else (note or "not computable")})
        if args.nps:
            r = kpi.nps(_read_scores(args.nps), invalid="drop")
            rows.append({"kpi": "nps", "group": "all", "value": float(r.nps[0]),
                         "numerator": int(r.promoters[0]) - int(r.detractors[0]),
                         "denominator": int(r.n[0]), "note": ""})
    _write(rows, args, out)
    return 0

def _cmd_clv(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import kpi

    tx = _read_orders(args, steps)
    _need(tx, args, "`upsell clv`", "customer",
          *(("time", "price") if args.method == "model" else ("price",)))
    if args.method == "historic":
        with steps.step("historic CLV"):
            t = kpi.historic_clv(tx, margin=args.margin)
        _write({"customer": t.customers, "orders": t.orders, "revenue": t.revenue,
                "clv": t.value}, args, out)
        return 0
    with steps.step("fitting the purchase and spend models"):
        f = kpi.clv_forecast(tx, horizon=args.horizon, step=52.0 / 12,
                             discount_rate=args.discount_rate, margin=args.margin, freq="W")
    # which models, and why (e.g. a fallback when Gamma-Gamma's mean spend is infinite)
    sys.stderr.write(f"upsell clv: {f.method}. {f.note}\n")
    _write({"customer": f.customers, "frequency": f.frequency, "recency_weeks": f.recency,
            "T_weeks": f.T, "p_alive": f.p_alive, "expected_purchases": f.expected_purchases,
            "expected_spend": f.expected_spend, "clv": f.clv}, args, out)
    return 0

_CF_MODELS = ("popular", "itemknn", "als", "bpr", "ease")

#: Rules ``upsell fit`` generates at most (the most confident; a memory guard for a low explicit
#: ``--min-support``). The model's size is bounded by the bundle index's own entry budget, which
#: keeps every antecedent's best items first; cutting rules by confidence would lose coverage.
_MAX_RULES = 2_000_000

#: Rules shown to people and served are significant: Holm-adjusted Fisher p-value at most this.
_MAX_P = 0.05

def _cf_model(name: str, seed: int) -> Any:
    from upsell import cf

    if name == "als":
        return cf.ALS(random_state=seed)
    if name == "bpr":
        return cf.BPR(random_state=seed)
    return {"popular": cf.Popular, "itemknn": cf.ItemKNN, "ease": cf.EASE}[name]()

def _model_names(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in _CF_MODELS]
    if bad or not names:
        raise UpsellDataError(f"--models must name some of {', '.join(_CF_MODELS)}; got {text!r}")
    return names

def _cmd_evaluate(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import evaluate

    tx = _read_orders(args, steps)
    _need(tx, args, "`upsell evaluate`", "item", "customer", "time")
    catalog = _read_catalog(args, steps)
    names = _model_names(args.models)
    at: Any = args.at
    with contextlib.suppress(ValueError):
        at = float(args.at)
    split = evaluate.temporal_split(tx, at=at, exclude_train_items=not args.repeat)
    if len(split.requests) == 0:
        when = str(split.at)[:16] if split.at is not None else args.at
        ot = tx.order_table()  # orders, not lines: a long order's lines span many times
        named = ot.customer >= 0
        later = ((ot.time >= split.at) & named if split.at is not None
                 else np.zeros_like(named))
        buyers = np.unique(ot.customer[later])
        known = int(np.intersect1d(buyers, ot.customer[named & ~later]).size)
        if not named.any() or not (np.bincount(ot.customer[named]) >= 2).any():
            raise UpsellDataError("nothing to evaluate: every customer has a single order, so "
                                  "no model can learn from a customer's past orders")
        why = (f"{buyers.size:,} named customers bought after the split ({when})"
               + (", none of whom had bought before it; move the split with --at"
                  if buyers.size and not known else
                  f", {known:,} of them returning, none buying a product new to them (count "
                  "repeat purchases with --repeat)" if known and not args.repeat else
                  "; move the split with --at"))
        raise UpsellDataError(f"nothing to evaluate: {why}")
    metrics = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"]
    with steps.step(f"fitting and scoring {len(names)} models"):
        comp = evaluate.compare({n: _cf_model(n, args.seed) for n in names}, split, k=args.k,
                                metrics=metrics, n_bootstrap=args.bootstrap,
                                random_state=args.seed, catalog=catalog)
    rows = []
    for i, m in enumerate(comp.models):
        row: dict[str, Any] = {"model": m}
        for j, met in enumerate(comp.metrics):
            row[met] = float(comp.means[i, j])
        for j, met in enumerate(comp.metrics):
            if met != "coverage":
                row[f"{met}_diff"] = float(comp.diff[i, j])
                row[f"{met}_diff_low"] = float(comp.diff_low[i, j])
                row[f"{met}_diff_high"] = float(comp.diff_high[i, j])
        row["fit_seconds"] = float(comp.fit_seconds[i])
        rows.append(row)
    _write(rows, args, out)
    return 0

def _fit_recommender(args: argparse.Namespace, tx: Transactions, catalog: Catalog | None,
                     steps: _Steps) -> Any:
    """Fit the parts (bundle rules, a CF model, customer types, upsell ranker) into a Recommender.

    Mining runs under budgets (``--min-support auto``: the lowest support whose
    item sets stay within the itemset budget; ``--max-rules``), so the fit time
    and the model size follow the budgets, not the shop's basket sizes. Without
    a catalog, one is derived from the lines (names, median unit prices), so
    offers and cues show product names and prices.
    """
    from upsell import bundles, segments
    from upsell.recommend import Recommender

    cross: list[Any] = []
    with steps.step("mining bundle rules"):
        support: Any = args.min_support
        if support != "auto":  # a count floor keeps rules out of a handful of orders
            support = max(float(support), 10 / max(len(tx.orders), 1))
        fi = bundles.frequent_itemsets(tx, min_support=support, max_len=3)
        # redundant rules add nothing the index would keep; the rule budget is a memory guard
        # (it cuts by confidence), the index's own entry budget sizes the model
        rules = bundles.association_rules(fi, min_confidence=args.min_confidence,
                                          max_rules=args.max_rules or None, prune=True,
                                          max_p=_MAX_P)
        if len(rules):
            cross.append(bundles.BundleRecommender(rules))
    _support_note(fi, "itemsets", args)
    if tx.has("customer"):
        with steps.step(f"fitting {args.model}"):
            cross.append(_cf_model(args.model, args.seed).fit(tx))
    personas = None
    if tx.has("customer") and tx.has("time"):
        with steps.step("fitting customer types"):
            personas = segments.Personas().fit(tx, catalog=catalog)
    # without a catalog, the lines give the items, their names and prices
    cat = catalog.align(tx.items) if catalog is not None else Catalog.from_transactions(tx)
    ranker = None
    if catalog is not None:
        from upsell.tiers import UpsellRanker

        with steps.step("fitting the upsell ranker"):
            objective = "margin" if np.isfinite(catalog.cost).any() else "revenue"
            ranker = UpsellRanker(objective=objective).fit(tx, cat, segments=personas)
    offer_rules, never = _offer_rules(args, tx, catalog)
    breaks = None
    if tx.has("price"):  # the shop's volume prices, for Recommender.quantity_offers
        from upsell.tiers import quantity_breaks

        with steps.step("reading quantity breaks"):
            breaks = quantity_breaks(tx, exclude=never or None)
    blend = None
    asked = getattr(args, "blend", "weighted")  # `upsell recommend ORDERS`: weighted, fast
    if asked != "weighted":
        if asked == "learned" and not (tx.has("customer") and tx.has("time")):
            raise UpsellDataError("--blend learned needs order lines with customers and times")
        from upsell.recommend import LearnedBlend, choose_blend

        with steps.step("fitting the learned blend"):
            learner = LearnedBlend(explain=getattr(args, "explain", "contributions"))
            choice = choose_blend(tx, learner, catalog=catalog, segments=personas,
                                  blend=asked, random_state=getattr(args, "seed", 0) or 0)
        blend = choice.blend
        sys.stderr.write(f"upsell: --blend {asked}: {choice.reason}\n")
    return Recommender(catalog=cat, cross_sell=cross, upsell=ranker, segments=personas,
                       history=tx if tx.has("customer") else None, blend=blend,
                       rules=offer_rules, quantity_breaks=breaks)

def _never_offered(args: argparse.Namespace, tx: Transactions,
                   catalog: Catalog | None) -> list[Any]:
    """Item ids never to offer: those that look like fees or services (unless
    ``--offer-all-items``) and ``--exclude-items``; one stderr line says which and why."""
    from upsell.data import non_product_items

    ids: list[Any] = []
    if not getattr(args, "offer_all_items", False):
        found = non_product_items(tx, catalog)
        if len(found):
            ids = found.items.tolist()
            shown = ", ".join(map(str, ids[:4])) + (", ..." if len(ids) > 4 else "")
            why = (f"ids unlike the shop's other {found.n_items - len(found):,}"
                   if found.method == "id shapes" else "so marked in the catalog")
            sys.stderr.write(
                f"upsell: {len(ids):,} {'item looks' if len(ids) == 1 else 'items look'} like "
                f"fees or services, not products ({why}: "
                f"{shown}; {found.line_share.sum():.2%} of the lines): kept in the KPIs, "
                "never offered; --offer-all-items offers them\n")
    asked = [v.strip() for v in (getattr(args, "exclude_items", None) or "").split(",")
             if v.strip()]
    if asked:
        mine = _coerce(tx.items, asked)
        unknown = [v for v in mine if v not in tx.items]
        if unknown:
            sys.stderr.write(f"upsell: --exclude-items not in the orders (excluded all the "
                             f"same): {', '.join(map(str, unknown[:5]))}"
                             f"{' ...' if len(unknown) > 5 else ''}\n")
        ids = list(dict.fromkeys([*ids, *mine]))  # in order, each once
    return ids

def _offer_rules(args: argparse.Namespace, tx: Transactions,
                 catalog: Catalog | None) -> tuple[list[Any] | None, list[Any]]:
    """The Recommender's rules: the defaults, plus an Exclude of the items never offered
    (saved with the model; None, the defaults, when there are none); and those items."""
    ids = _never_offered(args, tx, catalog)
    if not ids:
        return None, ids
    from upsell.recommend.filters import default_rules

    return default_rules(exclude=ids), ids

def _cmd_fit(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    tx = _read_orders(args, steps)
    _need(tx, args, "`upsell fit`", "item")
    catalog = _read_catalog(args, steps)
    rec = _fit_recommender(args, tx, catalog, steps)
    with steps.step("saving"):
        rec.save(args.out)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.out) for f in fs)
    kind = "learned" if rec.blend is not None else "weighted"
    out.write(f"saved {rec!r} with the {kind} blend to {args.out} ({size / 1e6:,.1f} MB)\n")
    return 0

def _coerce(ids: Any, values: list[str]) -> list[Any]:
    """Command-line ids as the id index's kind (int ids stay ints); the library matches
    "17850" to 17850 too, this only keeps the ids in the output as the data spell them."""
    if getattr(ids, "kind", "str") == "int":
        try:
            return [int(v) for v in values]
        except ValueError:
            return values
    return values

def _cmd_recommend(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell.recommend import without_compiling

    # a few requests, then the process exits: the numpy path serves them (the same offers)
    # where compiling a learned blend's loops would take ~15 s after an install
    with without_compiling():
        return _recommend(args, out, steps)


def _recommend(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell.recommend import Recommender

    if bool(args.model) == bool(args.orders):
        raise UpsellDataError("give either ORDERS (fit now) or --model MODEL_DIR (from `upsell fit`)")
    customers = [c.strip() for c in (args.customer or "").split(",") if c.strip()]
    basket, quantities = _basket_lines(args.basket or "")
    if not customers and not basket:
        raise UpsellDataError("give --customer ID and/or --basket ITEM,ITEM")
    if args.model:
        if args.offer_all_items or args.exclude_items:
            sys.stderr.write("upsell: --offer-all-items and --exclude-items apply when fitting; "
                             "the saved model keeps the items it was fitted to exclude\n")
        with steps.step("loading the model"):
            rec = Recommender.load(args.model)
    else:
        tx = _read_orders(args, steps)
        _need(tx, args, "`upsell recommend`", "item")
        fit_args = argparse.Namespace(**{**vars(args), "model": args.cf_model})
        rec = _fit_recommender(fit_args, tx, _read_catalog(args, steps), steps)
    basket_ids = _coerce(rec.catalog.items, basket)
    known = rec.history_.customers if rec.history_ is not None else None
    rows: list[dict[str, Any]] = []
    more = rec.quantity_offers([(b, q) for b, q in zip(basket_ids, quantities, strict=True)
                                if q is not None])
    for cust in (_coerce(known, customers) or [None]):
        offers = rec.recommend(cust, basket=basket_ids, k=args.k, channel=args.cue_channel,
                               fill=args.fill, include_owned=args.include_owned,
                               moment=args.moment, at=args.at)
        if offers.note:  # an unknown customer, an empty list: never silent
            sys.stderr.write(f"upsell: {offers.note}\n")
        for offer in offers:
            rows.append({"customer": cust, "item": offer.item, "name": offer.name,
                         "kind": offer.kind, "source": "+".join(offer.sources),
                         "score": float(offer.score), "cue": offer.cue,
                         "reason": offer.reason.summary})
        for q in more:  # buy more of a basket line: the shop's next volume price
            rows.append({"customer": cust, "item": q.item, "name": q.name,
                         "kind": "quantity_break", "source": "quantity_breaks",
                         "score": q.saving, "cue": q.cue,
                         "reason": f"{q.quantity:,}+ at {q.price:,.2f} instead of "
                                   f"{q.price_now:,.2f}: {q.quantity - q.quantity_now:g} more "
                                   f"for {q.extra_spend:,.2f}"})
    _write(rows or {c: [] for c in ("customer", "item", "name", "kind", "source", "score",
                                     "cue", "reason")}, args, out)
    return 0


def _basket_lines(text: str) -> tuple[list[str], list[float | None]]:
    """``--basket A,B:24``: item ids, and each line's quantity when ``:N`` follows it (a
    quantity lets the offers include the line's next volume price)."""
    items: list[str] = []
    quantities: list[float | None] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        head, sep, tail = part.rpartition(":")
        qty = None
        if sep and head.strip():
            try:
                qty = float(tail)
            except ValueError:
                qty = None
            if qty is not None and not (qty > 0 and qty < float("inf")):
                raise UpsellDataError(f"--basket {part}: the quantity after ':' must be a "
                                      f"positive number; got {tail!r}")
        items.append(head.strip() if qty is not None else part)
        quantities.append(qty)
    return items, quantities


def _open_offer_log(path: str) -> Any:
    """An existing SQLite offer log (never created here: a typo must not make an empty log)."""
    from upsell.recommend import OfferLog

    if not os.path.exists(path):
        raise UpsellDataError(f"offer log not found: {path} (an SQLite file written by "
                              "upsell.recommend.OfferLog.sqlite)")
    if os.path.isdir(path):
        raise UpsellDataError(f"offer log {path} is a folder; give the SQLite file")
    return OfferLog.sqlite(path, read_only=True)  # a report writes nothing into it


def _load_model(path: str) -> Any:
    from upsell.recommend import Recommender

    if not os.path.isdir(path):
        raise UpsellDataError(f"model folder not found: {path} (written by `upsell fit --out`)")
    return Recommender.load(path)

def _estimator_names(text: str) -> tuple[str, ...]:
    from upsell.evaluate import ESTIMATORS

    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in ESTIMATORS]
    if bad or not names:
        raise UpsellDataError(f"--estimator must name some of {', '.join(ESTIMATORS)}; "
                              f"got {text!r}")
    return names

def _cmd_evaluate_policy(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    """``upsell evaluate-policy``: the off-policy table of a saved model on an offer log."""
    import json

    from upsell.recommend import evaluate_policy
    from upsell.recommend.replay import REPLAY_MAX_REQUESTS

    estimators = _estimator_names(args.estimator)
    most = REPLAY_MAX_REQUESTS if args.max_requests is None else args.max_requests
    log = _open_offer_log(args.log)
    with steps.step("loading the model"):
        rec = _load_model(args.model)
    with steps.step("replaying the logged requests"):
        ev = evaluate_policy(log, rec, estimators=estimators, since=args.since, k=args.k,
                             reward=args.reward, max_requests=most or None,
                             n_bootstrap=args.bootstrap, random_state=args.seed)
    if args.json:
        json.dump({"reward": ev.reward, "candidate": ev.candidate,
                   "logging_policies": list(ev.logging_policies), "n_rows": ev.n_rows,
                   "n_excluded": ev.n_excluded, "n_requests": ev.n_requests,
                   "confidence": ev.estimates[0].confidence, "note": ev.note,
                   "estimates": ev.to_records()}, out, indent=2)
        out.write("\n")
    else:
        out.write(repr(ev) + "\n")
    return 0

def _cmd_serve(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    """``upsell serve MODEL_DIR``: the HTTP service of :mod:`upsell.serve` (the serve extra)."""
    from upsell.serve import main as serve_main

    return serve_main(args)
