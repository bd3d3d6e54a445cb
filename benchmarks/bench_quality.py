"""Recommendation quality of every upsell.cf model on Online Retail (temporal next-basket split).

Train: orders before ``--at`` (default 2011-08-01). Test: each train customer's
next basket at or after it (``upsell.evaluate.temporal_split``). Two regimes:

(a) whole next basket, repeats included: owned items may be recommended
    (``exclude_owned=False``); the personal repeat baseline is the one to beat;
(b) cross-sell proper: only items the customer never bought are relevant and
    owned items are excluded (``exclude_train_items=True``, ``exclude_owned=True``).

Metrics @10 (recall, NDCG, hit rate, catalog coverage) from ``upsell.evaluate.metrics_at_k``.
"RepeatN+model" is a naive slot blend built here: the customer's
``--repeat-slots`` most bought items, then the model's list without owned
items. ``RepeatBlend`` (upsell.cf) blends at the score level.

``--blend`` adds the learned blend (``upsell.recommend.LearnedBlend``, issue 20), fitted on
the training period only (it picks its own hyper-parameters on an inner time split), in
the same run: regime (a) with ``include_owned=True`` against RepeatBlend and personal
popularity, regime (b) against EASE; recall@10, NDCG@10, revenue@10 and margin@10 with
paired bootstrap CIs of the recall ratio; the candidate coverage of every source; and an
ablation per feature group (the ranker refitted without the group, same cuts, the
hyper-parameters the full fit chose, the cuts and customers of its training-row budget, or
at most ``--ablation-customers`` per cut). ``--blend-only`` skips the other models'
tables. Online Retail has no cost column: margin@10 assumes cost = 60% of the price
(``--cost-share``), so it only shows whether the blend trades revenue for recall.

``--tune`` first searches RepeatBlend's ``cf_weight`` x ``popularity_weight`` x
``half_life_days`` on a
validation split inside the training period only (train before ``--val-at``,
validate on the next basket from ``--val-at`` to ``--at``), regime (a), and
prints that grid; the test tables then use the library defaults.

Usage::

    python benchmarks/bench_quality.py ../shared/data/online-retail/online_retail_2010-12_to_2011-09.csv.gz
    python benchmarks/bench_quality.py PATH --tune     # the validation grid first
    python benchmarks/bench_quality.py PATH --blend --blend-only   # learned blend tables

JSON goes to ``benchmarks/out/`` (gitignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from upsell._results import Recommendations
from upsell.cf import ALS, BPR, EASE, ItemKNN, Popular, RepeatBlend
from upsell.datasets import load_online_retail
from upsell.evaluate import metrics_at_k, temporal_split

METRICS = ["recall", "ndcg", "hit_rate", "coverage"]


def blend(repeat: Recommendations, cf: Recommendations, k: int, slots: int) -> Recommendations:
    """First ``slots`` items of ``repeat`` (owned items only), then ``cf`` without duplicates."""
    idx_lists, score_lists = [], []
    for r in range(len(repeat)):
        rep = repeat.indices(r)[:slots]
        rep = rep[repeat.request_scores(r)[:slots] >= 1.0]  # owned items score >= 1
        rest = [i for i in cf.indices(r).tolist() if i not in set(rep.tolist())]
        items = (rep.tolist() + rest)[:k]
        idx_lists.append(items)
        score_lists.append(np.arange(len(items), 0, -1, dtype=np.float32))
    return Recommendations.from_lists(repeat.requests, idx_lists, score_lists,
                                      items=repeat.items)


def tune_blend(tx: Any, args: argparse.Namespace) -> dict[str, Any]:
    """RepeatBlend grid, regime (a), on a split inside the training period only."""
    train = temporal_split(tx, at=args.at, target="next_basket").train
    val = temporal_split(train, at=args.val_at, target="next_basket")
    req = val.requests
    rel = val.relevant[req]
    cids = train.customers.ids[req]
    print(f"\ntuning on train < {args.val_at}, validation = next basket in "
          f"[{args.val_at}, {args.at}): {req.size:,} customers", flush=True)
    print(f"{'half-life':>10}{'cf_weight':>10}{'pop_w':>10}" + "".join(f"{m:>10}" for m in METRICS[:3]),
          flush=True)
    grid: list[dict[str, Any]] = []
    base = Popular(mode="personal").fit(val.train)
    recs = base.recommend(customers=cids, k=args.k, exclude_owned=False)
    ref = metrics_at_k(recs, rel, args.k, metrics=METRICS)
    print(f"{'personal popularity':>20}" + "".join(f"{ref[m]:>10.4f}" for m in METRICS[:3]))
    for half_life in (90.0, 365.0):
        for weight in (0.0, 0.25, 0.5, 1.0):
            for pop_w in (0.5, 1.0):
                model = RepeatBlend(cf_weight=weight, popularity_weight=pop_w,
                                    half_life_days=half_life,
                                    num_threads=args.threads).fit(val.train)
                recs = model.recommend(customers=cids, k=args.k, exclude_owned=False)
                res = metrics_at_k(recs, rel, args.k, metrics=METRICS)
                grid.append({"half_life_days": half_life, "cf_weight": weight,
                             "popularity_weight": pop_w, **res})
                print(f"{half_life:>10.0f}{weight:>10.2f}{pop_w:>10.2f}"
                      + "".join(f"{res[m]:>10.4f}" for m in METRICS[:3]), flush=True)
    best = max(grid, key=lambda r: r["recall"] + r["ndcg"])
    print(f"best (recall + NDCG): half_life_days={best['half_life_days']}, "
          f"cf_weight={best['cf_weight']}, popularity_weight={best['popularity_weight']}",
          flush=True)
    return {"personal": ref, "grid": grid, "best": best, "n_requests": int(req.size)}


# ---------------------------------------------------------------------- learned blend (issue 20)
def paired_ratio(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int = 0
                 ) -> tuple[float, float, float]:
    """mean(a) / mean(b) with a paired bootstrap 95% interval (requests resampled together)."""
    rng = np.random.default_rng(seed)
    n = a.size
    idx = rng.integers(0, n, size=(n_boot, n))
    num, den = a[idx].mean(axis=1), b[idx].mean(axis=1)
    ratios = num / np.where(den > 0, den, np.nan)
    lo, hi = np.nanpercentile(ratios, [2.5, 97.5])
    return float(a.mean() / b.mean()), float(lo), float(hi)


def _catalog_with_cost(train: Any, share: float) -> Any:
    from upsell import Catalog

    cat = Catalog.from_transactions(train)
    price = np.asarray(cat.column("price"), dtype=np.float64)
    return Catalog.from_arrays(item=cat.items.ids, price=price, cost=price * share)


def _per_request(recs: Any, rel: Any, k: int, catalog: Any) -> dict[str, np.ndarray]:
    from upsell.evaluate import per_request_at_k

    return per_request_at_k(recs, rel, k, metrics=["recall", "ndcg", "revenue", "margin"],
                            catalog=catalog)


def _print_rows(title: str, rows: dict[str, dict[str, Any]], ref: str) -> None:
    print(f"\n{title}")
    print(f"{'model':<22}{'recall':>9}{'ndcg':>9}{'revenue':>10}{'margin':>10}"
          f"{'recall / ' + ref:>22}{'95% CI':>18}", flush=True)
    for name, r in rows.items():
        ratio = f"{r['ratio']:.3f}" if "ratio" in r else ""
        ci = f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]" if "ci" in r else ""
        print(f"{name:<22}{r['recall']:>9.4f}{r['ndcg']:>9.4f}{r['revenue']:>10.2f}"
              f"{r['margin']:>10.2f}{ratio:>22}{ci:>18}", flush=True)


def blend_tables(tx: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The learned blend against the best single models, coverage per source, ablation."""
    from upsell.recommend.blend import LearnedBlend

    out: dict[str, Any] = {}
    split_a = temporal_split(tx, at=args.at, target="next_basket")
    split_b = temporal_split(tx, at=args.at, target="next_basket", exclude_train_items=True)
    train = split_a.train
    catalog = _catalog_with_cost(train, args.cost_share)
    t = time.perf_counter()
    blend = LearnedBlend(num_threads=max(1, args.threads)).fit(train, random_state=0)
    fit_s = time.perf_counter() - t
    print(f"\nLearnedBlend fitted in {fit_s:.0f}s: window {blend.window_days_:.1f} days, "
          f"cuts {[str(c)[:10] for c in blend.cuts_]}, chosen {blend.params_}", flush=True)
    out["fit_s"] = fit_s
    out["chosen"] = blend.params_
    regimes = (("a", split_a, True, {"RepeatBlend": lambda: RepeatBlend(num_threads=args.threads),
                                     "Popular (personal)": lambda: Popular(mode="personal")},
                "RepeatBlend"),
               ("b", split_b, False, {"EASE": lambda: EASE()}, "EASE"))
    for regime, split, include_owned, peers, ref in regimes:
        req = split.requests
        rel = split.relevant[req]
        cids = tx.customers.ids[req]
        t = time.perf_counter()
        recs = blend.recommend(customers=cids, k=args.k, include_owned=include_owned,
                               reasons=False)
        serve_s = time.perf_counter() - t
        per = {"LearnedBlend": _per_request(recs, rel, args.k, catalog)}
        for name, factory in peers.items():
            model = factory().fit(split.train)
            r = model.recommend(customers=cids, k=args.k, exclude_owned=not include_owned)
            per[name] = _per_request(r, rel, args.k, catalog)
        rows: dict[str, dict[str, Any]] = {}
        for name, p in per.items():
            rows[name] = {m: float(np.nanmean(p[m])) for m in ("recall", "ndcg", "revenue",
                                                               "margin")}
            if name != ref:
                ratio, lo, hi = paired_ratio(p["recall"], per[ref]["recall"], args.bootstrap)
                rows[name].update({"ratio": ratio, "ci": [lo, hi]})
        label = ("(a) next basket, repeats included (include_owned=True)" if regime == "a"
                 else "(b) never-bought items (default)")
        _print_rows(f"regime {label}: {req.size:,} customers, @{args.k}; "
                    f"blend served {req.size / serve_s:,.0f} customers/s (batch)", rows, ref)
        out[regime] = {"n_requests": int(req.size), "rows": rows, "serve_s": serve_s}
        out[f"coverage_{regime}"] = coverage_table(blend, split, include_owned)
        out[f"latency_{regime}"] = blend_latency(blend, cids[:300], include_owned)
    if not args.no_recommender:
        out["recommender"] = recommender_table(tx, blend, split_a, split_b, args, catalog)
    if not args.no_ablation:
        out["ablation"] = ablation_table(tx, blend, split_a, split_b, args)
    return out


def recommender_table(tx: Any, blend: Any, split_a: Any, split_b: Any,
                      args: argparse.Namespace, catalog: Any) -> dict[str, Any]:
    """The composed Recommender (rules + EASE + RepeatBlend sources) with each blend, and its
    best single source, on both regimes (requests at the split time)."""
    from upsell.recommend import Recommender
    from upsell.recommend.blend import history_parts

    train = split_a.train
    parts = history_parts(train, None, blend="weighted")
    recs = {"Recommender (weighted)": Recommender(**parts).fit(),
            "Recommender (learned)": Recommender(**{**parts, "blend": blend}).fit()}
    singles = {type(s).__name__: s for s in parts["cross_sell"]
               if hasattr(s, "recommend") and type(s).__name__ in ("EASE", "RepeatBlend")}
    res: dict[str, Any] = {}
    for regime, split, inc in (("a", split_a, True), ("b", split_b, False)):
        req = split.requests
        rel = split.relevant[req]
        cids = tx.customers.ids[req]
        per: dict[str, Any] = {}
        for name, rec in recs.items():
            t = time.perf_counter()
            r = rec.recommend(customers=cids, k=args.k, include_owned=inc, at=args.at)
            per[name] = (_per_request(r, rel, args.k, catalog), time.perf_counter() - t)
        for name, model in singles.items():
            r = model.recommend(customers=cids, k=args.k, exclude_owned=not inc)
            per[name] = (_per_request(r, rel, args.k, catalog), 0.0)
        best = max(singles, key=lambda n: float(np.nanmean(per[n][0]["recall"])))
        rows: dict[str, dict[str, Any]] = {}
        for name, (p, secs) in per.items():
            rows[name] = {m: float(np.nanmean(p[m])) for m in ("recall", "ndcg", "revenue",
                                                               "margin")}
            rows[name]["ms_per_request"] = 1e3 * secs / max(req.size, 1)
            if name != best:
                ratio, lo, hi = paired_ratio(p["recall"], per[best][0]["recall"],
                                             args.bootstrap)
                rows[name].update({"ratio": ratio, "ci": [lo, hi]})
        _print_rows(f"composed Recommender, regime ({regime}), vs its best single source "
                    f"({best}); ms/request: "
                    + ", ".join(f"{n} {r['ms_per_request']:.1f}" for n, r in rows.items()
                                if n.startswith("Recommender")), rows, best)
        res[regime] = rows
    return res


def blend_latency(blend: Any, cids: Any, include_owned: bool) -> dict[str, float]:
    """Milliseconds per ``blend.blend`` call (the Recommender's per-request step), 100 candidates."""
    from upsell.recommend.blending import BlendRequest

    st = blend.state_
    rng = np.random.default_rng(0)
    times = []
    for cid in cids:
        items = rng.choice(st.n_items, min(100, st.n_items), replace=False).astype(np.int32)
        req = BlendRequest(customer=cid, customer_index=0, basket=np.zeros(0, np.int32),
                           owned=np.zeros(0, np.int32), owned_time=np.zeros(0, "datetime64[s]"),
                           at=np.datetime64(st.cut, "s"), segment=None, moment=None,
                           channel="web", k=10, include_owned=include_owned)
        t = time.perf_counter()
        blend.blend(req, items, np.full((items.size, 1), np.nan), ("x",))
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1e3
    res = {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
           "n_items": int(st.n_items)}
    print(f"blend() per request, 100 candidates, {st.n_items:,} items: median "
          f"{res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms", flush=True)
    return res


def coverage_table(blend: Any, split: Any, include_owned: bool) -> dict[str, float]:
    """Share of the test customers' next-basket (customer, item) pairs each source proposes."""
    st = blend.state_
    req = split.requests.astype(np.int64)
    rel = split.relevant[req].tocsr()
    n_items = rel.shape[1]
    rel_rows = np.repeat(req, np.diff(rel.indptr))
    rel_keys = rel_rows * n_items + rel.indices
    res: dict[str, float] = {}
    union = np.zeros(rel_keys.size, dtype=bool)
    for name, (cu, ci) in st.source_coverage(req, int(blend.n_candidates),
                                             include_owned).items():
        hit = np.isin(rel_keys, cu * n_items + ci)
        union |= hit
        res[name] = float(hit.mean()) if hit.size else float("nan")
    res["union"] = float(union.mean()) if union.size else float("nan")
    print(f"candidate coverage ({'a' if include_owned else 'b'}): share of next-basket pairs "
          "proposed (n_candidates=%d)" % blend.n_candidates)
    print("  " + "  ".join(f"{k} {v:.3f}" for k, v in res.items()), flush=True)
    return res


def ablation_table(tx: Any, blend: Any, split_a: Any, split_b: Any,
                   args: argparse.Namespace) -> dict[str, Any]:
    """Recall@k of the ranker refitted without each feature group (same cuts and parameters)."""
    from upsell.recommend import _blend_train as bt
    from upsell.recommend._blend_features import FEATURE_GROUPS, feature_names
    from upsell.recommend._blend_train import line_data as _line_data

    names = feature_names()
    seg = np.full(len(tx.customers), -1)
    lines = _line_data(split_a.train, None, seg)
    all_lines = _line_data(tx, None, seg)
    # the cuts and customers per cut of the fit (its training-row budget), unless
    # --ablation-customers bounds them
    cuts, window, per_cut = bt.plan_cuts(
        lines, n_cuts=blend.n_cuts, max_rows=int(blend.max_rows),
        n_candidates=int(blend.n_candidates), max_customers=blend.max_customers)
    if args.ablation_customers:
        per_cut = min(per_cut, int(args.ablation_customers))
    kw = {"n_candidates": int(blend.n_candidates), "n_neighbors": int(blend.n_neighbors),
          "half_life": 3 * window,
          **bt.ease_plan(blend.use_ease, lines.n_items, len(cuts) + 1)}
    end = int(lines.time.max()) + 1
    seeds = np.random.SeedSequence(0).spawn(len(cuts))  # the fit's streams, one per cut
    parts = [bt.training_cut(lines, c, window, np.random.default_rng(sd), end=end,
                             per_cut=per_cut, n_candidates=kw["n_candidates"],
                             n_neighbors=kw["n_neighbors"], half_life=kw["half_life"],
                             ease={k: v for k, v in kw.items() if k in ("use_ease", "ease_items")})
             for c, sd in zip(cuts, seeds, strict=True)]
    at = int(np.datetime64(args.at, "s").astype(np.int64))
    test = bt.build_cut(all_lines, at, window, customers=split_a.requests.astype(np.int64),
                        **kw)
    labels = [bt.labels_for(p, lines, min(p.cut + int(2 * window), end))[0] for p in parts]
    groups = sorted(set(FEATURE_GROUPS.values()))
    res: dict[str, Any] = {}
    print(f"\nablation: recall@{args.k} without each feature group "
          f"({len(cuts)} cuts x {per_cut} training customers at most)")
    print(f"{'features':<22}{'(a) recall':>12}{'vs all':>9}{'(b) recall':>12}{'vs all':>9}",
          flush=True)
    for drop in [None, *groups]:
        cols = np.array([j for j, n in enumerate(names) if FEATURE_GROUPS[n] != drop])
        row = {}
        for regime, split, new_only in (("a", split_a, False), ("b", split_b, True)):
            chosen = blend.params_["new" if new_only else "owned"]
            X, y, g = bt.stack(parts, labels, new_only=new_only)
            share = chosen["min_data_in_leaf"] / max(chosen["rows"], 1)
            lr = blend.learning_rate or bt.LEARNING_RATE["new" if new_only else "owned"]
            params = bt.lgb_params(blend.objective, chosen["num_leaves"],
                                   max(20, int(share * y.size)), float(lr), 0,
                                   max(1, args.threads))
            booster, _, _ = bt.fit_ranker(X, y, g, params, chosen["rounds"], cols)
            s = booster.predict(test.X[:, cols])
            row[regime] = _rows_recall(test, s, split, new_only, args.k)
        name = "all" if drop is None else f"- {drop}"
        res[name] = row
        base = res["all"]
        print(f"{name:<22}{row['a']:>12.4f}{row['a'] / base['a']:>9.3f}"
              f"{row['b']:>12.4f}{row['b'] / base['b']:>9.3f}", flush=True)
    return res


def _rows_recall(test: Any, s: np.ndarray, split: Any, new_only: bool, k: int) -> float:
    """Mean recall@k over the split's requests of the top-k candidate rows by score."""
    keep = ~test.owned if new_only else np.ones(test.owned.size, dtype=bool)
    cu, ci, sc = test.customer[keep], test.item[keep], s[keep]
    order = np.lexsort((ci, -sc, cu))
    cu, ci = cu[order], ci[order]
    rank = np.arange(cu.size) - np.searchsorted(cu, cu)
    cu, ci = cu[rank < k], ci[rank < k]
    rel = split.relevant.tocsr()
    n_items = rel.shape[1]
    keys = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr)) * n_items \
        + rel.indices
    hit = np.isin(cu * n_items + ci, keys)
    hits = np.bincount(cu[hit], minlength=rel.shape[0])
    n_rel = np.diff(rel.indptr)
    req = split.requests
    return float(np.mean(np.where(n_rel[req] > 0, hits[req] / np.maximum(n_rel[req], 1), 0.0)))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--at", default="2011-08-01")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat-slots", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tune", action="store_true", help="RepeatBlend grid on a validation split")
    ap.add_argument("--val-at", default="2011-07-01")
    ap.add_argument("--blend", action="store_true", help="add the learned blend tables")
    ap.add_argument("--blend-only", action="store_true", help="only the learned blend tables")
    ap.add_argument("--ablation-customers", type=int, default=None,
                    help="at most this many training customers per cut (default: the fit's "
                         "own row budget)")
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--no-recommender", action="store_true")
    ap.add_argument("--cost-share", type=float, default=0.6)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "out" / "bench_quality.json")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    tx = load_online_retail(args.path)
    print(f"loaded {tx!r} in {time.perf_counter() - t0:.1f}s", flush=True)
    models: dict[str, Any] = {
        "Popular (global)": lambda: Popular(),
        "Popular (decayed 30d)": lambda: Popular(mode="decayed", half_life_days=30.0),
        "Popular (personal)": lambda: Popular(mode="personal"),
        "ItemKNN cosine": lambda: ItemKNN(similarity="cosine", num_threads=args.threads),
        "ItemKNN bm25": lambda: ItemKNN(similarity="bm25", num_threads=args.threads),
        "ItemKNN tfidf": lambda: ItemKNN(similarity="tfidf", num_threads=args.threads),
        "EASE": lambda: EASE(),
        "ALS": lambda: ALS(num_threads=args.threads),
        "BPR": lambda: BPR(num_threads=args.threads),
    }
    out: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "regimes": {}}
    if args.tune:
        out["tuning"] = tune_blend(tx, args)
    models["RepeatBlend"] = lambda: RepeatBlend(num_threads=args.threads)
    if args.blend or args.blend_only:
        out["blend"] = blend_tables(tx, args)
    for regime, exclude_train in (() if args.blend_only else (("a", False), ("b", True))):
        split = temporal_split(tx, at=args.at, target="next_basket",
                               exclude_train_items=exclude_train)
        train = split.train
        req = split.requests
        rel = split.relevant[req]
        cids = tx.customers.ids[req]
        exclude_owned = regime == "b"
        print(f"\nregime ({regime}): {req.size:,} test customers, train {train!r}", flush=True)
        print(f"{'model':<24}" + "".join(f"{m:>10}" for m in METRICS) + f"{'fit s':>8}",
              flush=True)
        table: dict[str, Any] = {}
        fitted: dict[str, Any] = {}
        for name, factory in models.items():
            t = time.perf_counter()
            model = factory().fit(train)
            fit_s = time.perf_counter() - t
            fitted[name] = model
            recs = model.recommend(customers=cids, k=args.k, exclude_owned=exclude_owned)
            table[name] = {**metrics_at_k(recs, rel, args.k, metrics=METRICS), "fit_s": fit_s}
            row = "".join(f"{table[name][m]:>10.4f}" for m in METRICS)
            print(f"{name:<24}{row}{fit_s:>8.1f}", flush=True)
        if regime == "a":
            rep = fitted["Popular (personal)"].recommend(customers=cids, k=args.k,
                                                           exclude_owned=False)
            for cf_name in ("ItemKNN cosine", "ALS", "EASE"):
                cf = fitted[cf_name].recommend(customers=cids, k=args.k, exclude_owned=True)
                recs = blend(rep, cf, args.k, args.repeat_slots)
                name = f"Repeat{args.repeat_slots}+{cf_name}"
                table[name] = metrics_at_k(recs, rel, args.k, metrics=METRICS)
                row = "".join(f"{table[name][m]:>10.4f}" for m in METRICS)
                print(f"{name:<24}{row}", flush=True)
        out["regimes"][regime] = {"n_requests": int(req.size), "table": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
