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

``--tune`` first searches RepeatBlend's ``cf_weight`` x ``popularity_weight`` x
``half_life_days`` on a
validation split inside the training period only (train before ``--val-at``,
validate on the next basket from ``--val-at`` to ``--at``), regime (a), and
prints that grid; the test tables then use the library defaults.

Usage::

    python benchmarks/bench_quality.py ../shared/data/online-retail/online_retail_2010-12_to_2011-09.csv.gz
    python benchmarks/bench_quality.py PATH --tune     # the validation grid first

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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--at", default="2011-08-01")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat-slots", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tune", action="store_true", help="RepeatBlend grid on a validation split")
    ap.add_argument("--val-at", default="2011-07-01")
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
    for regime, exclude_train in (("a", False), ("b", True)):
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
