"""Serving benchmark: one Recommender over a make_shop catalog, every rule on.

Builds a shop with ``upsell.datasets.make_shop``, fits the sources (bundle rules,
purchase sequences, item-KNN, the tier upsell ranker, personas), builds a
Recommender with every rule (owned, stock, frequency caps on an SQLite offer
log, margin weight, inventory push, diversity by family and category, a
promoted item with a slot quota), saves it, then in a fresh child process
loads it and measures load time, resident memory, single-request latency
(p50 / p99 / max) and throughput with 1 and 2 threads.

The serving process calls ``gc.freeze()`` after loading (as the docs advise a
server to do). Next to each request's wall time it records the thread's CPU
time (``time.thread_time_ns``) and times a fixed numpy call of about the same
length (sorting 160,000 floats) between requests: on a shared machine the wall
p99 of that constant call is the noise floor, and wall minus CPU time is the
time the process waited for a core. The load average is printed with the result.

    python benchmarks/bench_serving.py                       # 1M customers, 50k items
    python benchmarks/bench_serving.py --customers 200000 --items 20000 --orders 960000

There is no peer library to compare with (no open-source package serves
blended, rule-filtered offers); the targets are p99 < 2 ms and load < 2 s.

``--blend`` measures what the learned blend (``upsell.recommend.LearnedBlend``, issue
20) adds to a request: the same history gives two Recommenders (the recipe of
``Recommender.from_history``: bundle rules, EASE or item-KNN, RepeatBlend, personas,
the upsell ranker), one with the default weighted blend and one with the learned
blend; a fresh process loads both and sends every request to each in turn (same
requests, same moment, so machine noise hits both alike), timing whole ``recommend``
calls and the learned ``blend()`` step inside them, for each ``explain`` mode
(exact contributions, path attributions where the served code has them, feature
phrases, none). Offers are the same under every mode (checked in the run); the run
prints how often the reason texts of ``paths`` equal those of exact contributions. The learned blend's serving cascade (``LearnedBlend(cascade=)``)
may change a few offers: each process also serves every request with ``cascade=None``;
with ``--compare-src`` the run prints whether those offers equal the other tree's and the
share of requests whose offers and reason texts are unchanged.

    python benchmarks/bench_serving.py --blend --data PATH/online_retail.csv.gz
    python benchmarks/bench_serving.py --blend --customers 50000 --items 50000 --orders 300000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).with_name("out")


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or at its peak (VmHWM) of this process, in MB.

    Not ``getrusage().ru_maxrss``: Linux carries it across fork and exec, so a child
    started by the (large) building process would report the parent's peak.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(args: argparse.Namespace, path: str) -> dict[str, Any]:
    import upsell as us
    from upsell.bundles import (
        BundleRecommender,
        association_rules,
        frequent_itemsets,
        sequence_rules,
    )
    from upsell.cf import ItemKNN
    from upsell.recommend import (
        Diversity,
        FrequencyCap,
        InStock,
        InventoryPush,
        MarginWeight,
        NotOwned,
        OfferLog,
        Promote,
    )
    from upsell.segments import Personas
    from upsell.tiers import UpsellRanker

    times: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        t = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - t
        print(f"  {name:<18} {times[name]:8.1f} s   rss {rss_mb():8,.0f} MB", flush=True)
        return out

    shop = timed("make_shop", lambda: us.datasets.make_shop(
        n_customers=args.customers, n_items=args.items, n_orders=args.orders,
        random_state=args.seed))
    tx, cat = shop.transactions, shop.catalog
    print(f"  {tx}", flush=True)
    personas = timed("personas", lambda: Personas().fit(tx, catalog=cat))
    n_orders = len(tx.orders)
    rules = timed("association_rules", lambda: association_rules(frequent_itemsets(
        tx, min_support=max(20, n_orders // 100_000), max_len=2), min_confidence=0.02))
    seq = timed("sequence_rules", lambda: sequence_rules(
        tx, within="60D", min_support=max(20, len(tx.customers) // 20_000)))
    knn = timed("item_knn", lambda: ItemKNN(similarity="cosine", n_neighbors=50).fit(tx))
    ranker = timed("upsell_ranker", lambda: UpsellRanker().fit(tx, cat, segments=personas))
    log = OfferLog.sqlite(os.path.join(os.path.dirname(path), "offers.db"))
    rng = np.random.default_rng(args.seed)
    cust_ids = tx.customers.ids
    item_ids = cat.items.ids
    for _ in range(2000):  # some history for the frequency caps to read
        log.record("presented", customer=cust_ids[rng.integers(len(cust_ids))].item(),
                   item=item_ids[rng.integers(len(item_ids))].item(), time="2024-12-20")
    promoted = [item_ids[i].item() for i in rng.choice(len(item_ids), 20, replace=False)]
    rec = timed("recommender", lambda: us.Recommender(
        catalog=cat, cross_sell=[BundleRecommender(rules), knn, seq], upsell=ranker,
        segments=personas, history=tx, offer_log=log,
        rules=[NotOwned(), InStock(), FrequencyCap(), MarginWeight(), InventoryPush(),
               Diversity(by="family", max_per=1), Diversity(by="category", max_per=3),
               Promote(promoted, slots=1)]))
    print(f"  {rec}", flush=True)
    timed("save", lambda: rec.save(path))
    size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    return {"fit_seconds": times, "rules": len(rules), "sequence_rules": len(seq),
            "lines": len(tx), "orders": n_orders, "customers": len(tx.customers),
            "items": len(cat), "saved_mb": size / 2**20}


def serve(path: str, n_requests: int, seed: int) -> dict[str, Any]:
    """Run in a fresh process: load, then time requests."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    rss0 = rss_mb()
    t = time.perf_counter()
    import upsell.bundles
    import upsell.cf
    import upsell.segments
    import upsell.tiers  # noqa: F401 - what Recommender.load imports, timed apart
    from upsell.recommend import Recommender

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    rec = Recommender.load(path)
    load_s = time.perf_counter() - t
    rss_loaded = rss_mb()
    gc.collect()
    gc.freeze()  # loaded objects never change: keep them out of every later collection
    rng = np.random.default_rng(seed)
    hist = rec.history_
    assert hist is not None
    cust = hist.customers.ids
    pop_items = rec.popularity_.candidates(  # type: ignore[union-attr]
        __import__("upsell.recommend", fromlist=["Request"]).Request(
            None, False, (), (), (), None, None, "web", np.datetime64("2025-01-01")), 500)
    pop = [c.item for c in pop_items]
    moments = (None, "product_page", "cart", "checkout", "post_purchase")
    reqs: list[dict[str, Any]] = []
    for j in range(n_requests):
        c = None if j % 10 == 0 else cust[rng.integers(cust.size)].item()
        owned = hist.owned(c)[0] if c is not None else ()
        if owned and j % 3:
            basket = [owned[rng.integers(len(owned))]]
        else:
            basket = [pop[rng.integers(len(pop))]] if j % 2 else []
        reqs.append({"customer": c, "basket": basket, "k": 5, "moment": moments[j % 5],
                     "channel": ("web", "email", "store")[j % 3], "fill": j % 4 == 0,
                     "at": "2025-01-05T10:00:00"})
    for r in reqs[:200]:  # warm-up: catalog id dictionary, popularity-fill cache
        rec.recommend(**r)
    noise_x = np.random.default_rng(seed + 1).random(160_000)
    lat = np.empty(len(reqs))
    cpu = np.empty(len(reqs))
    floor = np.empty(len(reqs))
    floor_cpu = np.empty(len(reqs))
    n_offers = 0
    for j, r in enumerate(reqs):
        c = time.thread_time_ns()
        t = time.perf_counter_ns()
        out = rec.recommend(**r)
        lat[j] = (time.perf_counter_ns() - t) / 1e6
        cpu[j] = (time.thread_time_ns() - c) / 1e6
        n_offers += len(out)
        c = time.thread_time_ns()
        t = time.perf_counter_ns()
        np.sort(noise_x)
        floor[j] = (time.perf_counter_ns() - t) / 1e6
        floor_cpu[j] = (time.thread_time_ns() - c) / 1e6
    thr = {}
    for threads in (1, 2):
        parts = [reqs[i::threads] for i in range(threads)]

        def run(part: list[dict[str, Any]]) -> None:
            for r in part:
                rec.recommend(**r)

        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, parts))
        thr[threads] = len(reqs) / (time.perf_counter() - t)
    return {"load_seconds": load_s, "import_seconds": import_s,
            "loadavg_1min": os.getloadavg()[0],
            "rss_before_mb": rss0, "rss_loaded_mb": rss_loaded,
            "rss_after_mb": rss_mb(),
            "max_rss_mb": rss_mb("VmHWM"),
            "requests": len(reqs), "mean_offers": n_offers / len(reqs),
            "p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90)),
            "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max()),
            "cpu_p50_ms": float(np.percentile(cpu, 50)),
            "cpu_p99_ms": float(np.percentile(cpu, 99)),
            "floor_p50_ms": float(np.percentile(floor, 50)),
            "floor_p99_ms": float(np.percentile(floor, 99)),
            "floor_cpu_p99_ms": float(np.percentile(floor_cpu, 99)),
            "by_moment_p99_ms": {str(m): float(np.percentile(lat[i::5], 99))
                                 for i, m in enumerate(moments)},
            "throughput_rps": {str(k): v for k, v in thr.items()}}


def build_blend(args: argparse.Namespace, work: str) -> dict[str, Any]:
    """Fit the history recipe once, then save it with the weighted and the learned blend."""
    import upsell as us
    from upsell.recommend.blend import LearnedBlend, history_parts

    times: dict[str, float] = {}
    t = time.perf_counter()
    if args.data:
        from upsell.datasets import load_online_retail

        tx, catalog = load_online_retail(args.data), None
    else:
        shop = us.datasets.make_shop(n_customers=args.customers, n_items=args.items,
                                     n_orders=args.orders, random_state=args.seed)
        tx, catalog = shop.transactions, shop.catalog
    times["data"] = time.perf_counter() - t
    print(f"  {tx}", flush=True)
    t = time.perf_counter()
    parts = history_parts(tx, catalog, blend="weighted", random_state=args.seed)
    times["sources"] = time.perf_counter() - t
    t = time.perf_counter()
    learned = LearnedBlend().fit(tx, catalog=catalog, segments=parts["segments"],
                                 random_state=args.seed)
    times["learned_blend"] = time.perf_counter() - t
    print("  fit seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()), flush=True)
    us.Recommender(**parts).save(os.path.join(work, "weighted"))
    us.Recommender(**{**parts, "blend": learned}).save(os.path.join(work, "learned"))
    return {"fit_seconds": times, "lines": len(tx), "orders": len(tx.orders),
            "customers": len(tx.customers), "items": len(tx.items),
            "rounds": {r: p["rounds"] for r, p in learned.params_.items()},
            "num_leaves": {r: p["num_leaves"] for r, p in learned.params_.items()}}


def serve_blend(work: str, n_requests: int, seed: int) -> dict[str, Any]:
    """Run in a fresh process: both Recommenders, each request to each in turn."""
    from threadpoolctl import threadpool_limits

    from upsell.recommend import Recommender

    threadpool_limits(1)
    wrec = Recommender.load(os.path.join(work, "weighted"))
    t = time.process_time()
    lrec = Recommender.load(os.path.join(work, "learned"))
    load_cpu = time.process_time() - t
    gc.collect()
    gc.freeze()
    pipe = lrec._pipeline()
    blend = pipe.generic_blend
    blend_ms: list[float] = []
    blend_cpu: list[float] = []

    class Timed:  # the learned blend, timed where the pipeline calls it
        def blend(self, *a: Any) -> Any:
            c, t = time.thread_time_ns(), time.perf_counter_ns()
            out = blend.blend(*a)
            blend_ms.append((time.perf_counter_ns() - t) / 1e6)
            blend_cpu.append((time.thread_time_ns() - c) / 1e6)
            return out

    pipe.generic_blend = Timed()
    hist = wrec.history_
    assert hist is not None
    cust = hist.customers.ids
    rng = np.random.default_rng(seed)
    pop = list(wrec.catalog.items.ids[:500])
    reqs: list[dict[str, Any]] = []
    for j in range(n_requests):
        c = None if j % 10 == 0 else cust[rng.integers(cust.size)].item()
        owned = hist.owned(c)[0] if c is not None else ()
        if owned and j % 3:
            basket = [owned[rng.integers(len(owned))]]
        else:
            basket = [pop[rng.integers(len(pop))]] if j % 2 else []
        reqs.append({"customer": c, "basket": basket, "k": 5, "include_owned": j % 4 == 1,
                     "at": "2025-01-05T10:00:00"})
    for r in reqs[:100]:  # warm-up
        wrec.recommend(**r)
        lrec.recommend(**r)
    res: dict[str, Any] = {"requests": len(reqs), "loadavg_1min": os.getloadavg()[0],
                           "learned_load_cpu_s": load_cpu}
    offers: dict[str, list[list[Any]]] = {}
    reason_texts: dict[str, list[list[str]]] = {}
    from upsell.recommend import blend as blend_module

    # "paths" (path attributions) where the served code has it
    modes = [m for m in MODES if m in getattr(blend_module, "_EXPLAIN", OLD_MODES)]
    res["modes"] = modes
    for explain in modes:
        blend.explain = explain
        for r in reqs[:20]:  # warm-up: tables built at the mode's first use
            lrec.recommend(**r)
        w_ms, l_ms = np.empty(len(reqs)), np.empty(len(reqs))
        w_cpu, l_cpu = np.empty(len(reqs)), np.empty(len(reqs))
        blend_ms.clear()
        blend_cpu.clear()
        got: list[Any] = []
        texts: list[Any] = []
        for j, r in enumerate(reqs):
            # wall time and the thread's CPU time (robust to waiting for a shared core)
            c, t = time.thread_time_ns(), time.perf_counter_ns()
            wrec.recommend(**r)
            w_ms[j] = (time.perf_counter_ns() - t) / 1e6
            w_cpu[j] = (time.thread_time_ns() - c) / 1e6
            c, t = time.thread_time_ns(), time.perf_counter_ns()
            out = lrec.recommend(**r)
            l_ms[j] = (time.perf_counter_ns() - t) / 1e6
            l_cpu[j] = (time.thread_time_ns() - c) / 1e6
            got.append([(o.item, o.score) for o in out])
            texts.append([o.reason.summary for o in out])
        offers[explain] = got
        reason_texts[explain] = texts
        res[explain + "_digest"] = _digest(got)
        res[explain + "_reasons_digest"] = _digest(texts)
        # per request (items, reason texts): compared with the other code version's
        res[explain + "_per_request"] = [_digest([[o[0] for o in g], t])
                                         for g, t in zip(got, texts, strict=True)]
        b = np.asarray(blend_ms)
        bc = np.asarray(blend_cpu)
        res[explain] = {
            "weighted_p50_ms": float(np.median(w_ms)), "weighted_p99_ms": float(np.percentile(w_ms, 99)),
            "learned_p50_ms": float(np.median(l_ms)), "learned_p99_ms": float(np.percentile(l_ms, 99)),
            "added_p50_ms": float(np.median(l_ms - w_ms)),
            "added_p99_ms": float(np.percentile(l_ms, 99) - np.percentile(w_ms, 99)),
            "added_paired_p99_ms": float(np.percentile(l_ms - w_ms, 99)),
            "blend_p50_ms": float(np.median(b)), "blend_p99_ms": float(np.percentile(b, 99)),
            "blend_calls": int(b.size),
            "blend_cpu_p50_ms": float(np.median(bc)), "blend_cpu_p99_ms": float(np.percentile(bc, 99)),
            "added_cpu_paired_p99_ms": float(np.percentile(l_cpu - w_cpu, 99)),
            "added_cpu_p50_ms": float(np.median(l_cpu - w_cpu)),
            "added_cpu_p99_ms": float(np.percentile(l_cpu, 99) - np.percentile(w_cpu, 99)),
            "weighted_cpu_p99_ms": float(np.percentile(w_cpu, 99)),
            "learned_cpu_p99_ms": float(np.percentile(l_cpu, 99))}
    res["same_offers_every_explain"] = all(offers[m] == offers["none"] for m in modes)
    if "paths" in modes:
        res["paths_agreement"] = _agreement(reqs, reason_texts["contributions"],
                                            reason_texts["paths"])
    # every tree for every candidate (LearnedBlend(cascade=None)): the offers the cascade
    # changes; code without a cascade serves these already
    blend.explain = "none"
    cascade = getattr(blend, "cascade", None)
    blend.cascade = None
    full = [[o.item for o in lrec.recommend(**r)] for r in reqs]
    blend.cascade = cascade
    res["cascade"] = cascade
    res["full_items_digest"] = _digest(full)
    res["cascade_same_items"] = float(np.mean([[x[0] for x in g] == f for g, f
                                               in zip(offers["none"], full, strict=True)]))
    return res


MODES = ("contributions", "paths", "features", "none")
OLD_MODES = ("contributions", "features", "none")  # code before explain="paths"


def _agreement(reqs: list[dict[str, Any]], exact: list[list[str]], other: list[list[str]]
               ) -> dict[str, Any]:
    """How often the reason texts of two explain modes agree, per offer of a known customer
    (unknown customers get the same co-purchase / popularity reason in every mode), by the
    ranker that served it: first phrase, the whole text (both phrases, in order), and the
    same phrases in any order."""
    out: dict[str, Any] = {}
    for name, owned in (("owned", True), ("new", False), ("all", None)):
        first = whole = as_set = n = 0
        for r, ta, tb in zip(reqs, exact, other, strict=True):
            if r["customer"] is None or (owned is not None and r["include_owned"] != owned):
                continue
            for a, b in zip(ta, tb, strict=True):
                pa, pb = a.split("; "), b.split("; ")
                n += 1
                first += pa[0] == pb[0]
                whole += a == b
                as_set += set(pa) == set(pb)
        out[name] = {"offers": n, "first_phrase": first / max(n, 1),
                     "whole_text": whole / max(n, 1), "same_phrases": as_set / max(n, 1)}
    return out


def _digest(x: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(x, default=str).encode()).hexdigest()[:16]


def main_blend(args: argparse.Namespace) -> None:
    work = args.dir or tempfile.mkdtemp(prefix="bench-serving-blend-")
    os.makedirs(work, exist_ok=True)
    if args.reuse:
        info = json.loads(Path(work, "build.json").read_text())
    else:
        print("building both Recommenders ...", flush=True)
        info = build_blend(args, work)
        Path(work, "build.json").write_text(json.dumps(info))
    codes = [("after", None)]
    if args.compare_src:  # another tree's src/ (e.g. `git archive HEAD src`), alternated
        codes = [("before", os.path.abspath(args.compare_src)), ("after", None)]
    by_code: dict[str, list[dict[str, Any]]] = {c: [] for c, _ in codes}
    for i in range(args.runs):
        for code, src in codes:
            print(f"serving from a fresh process ({code}, {i + 1} of {args.runs}) ...",
                  flush=True)
            env = dict(os.environ)
            if src:
                env["PYTHONPATH"] = src
            res = subprocess.run([sys.executable, __file__, "--blend-child", work,
                                  "--requests", str(args.requests), "--seed", str(args.seed)],
                                 capture_output=True, text=True, check=True, env=env)
            line = next(x for x in res.stdout.splitlines() if x.startswith("RESULT "))
            by_code[code].append(json.loads(line[7:]))
    for code, runs in by_code.items():
        _table(args, info, code, runs, tuple(runs[0].get("modes", OLD_MODES)))
        agree = [r["paths_agreement"] for r in runs if "paths_agreement" in r]
        if agree:
            print(f"reason texts of explain='paths' vs exact contributions ({code}, first "
                  "run; offers of known customers): " + "; ".join(
                      f"{k} ({v['offers']:,} offers): first phrase {v['first_phrase']:.1%}, "
                      f"whole text {v['whole_text']:.1%}, same phrases {v['same_phrases']:.1%}"
                      for k, v in agree[0].items()))
    if args.compare_src:
        b, a = by_code["before"][0], by_code["after"][0]
        modes = tuple(m for m in MODES if m in b.get("modes", OLD_MODES)
                      and m in a.get("modes", OLD_MODES))
        print("offers identical before/after: " + ", ".join(
            f"{m} {b[m + '_digest'] == a[m + '_digest']}" for m in modes)
            + "; reason texts identical: " + ", ".join(
            f"{m} {b[m + '_reasons_digest'] == a[m + '_reasons_digest']}" for m in modes))
        print("every tree for every candidate (cascade=None): offers identical before/after "
              f"{b['full_items_digest'] == a['full_items_digest']}")
        if "none_per_request" in a and "none_per_request" in b:
            same = {m: np.mean([x == y for x, y in zip(b[m + "_per_request"],
                                                       a[m + "_per_request"], strict=True)])
                    for m in modes}
            print(f"cascade {a.get('cascade')}: requests with the same offers and reason texts "
                  "as before " + ", ".join(f"{m} {v:.2%}" for m, v in same.items())
                  + f"; same offer lists as without the cascade: {a['cascade_same_items']:.2%}")
    OUT.mkdir(exist_ok=True)
    target = OUT / ("bench_serving_blend_retail.json" if args.data else
                    "bench_serving_blend.json")
    target.write_text(json.dumps({**info, "runs": by_code, "args": vars(args)}, indent=1))
    print(f"wrote {target}")


def _table(args: argparse.Namespace, info: dict[str, Any], code: str,
           runs: list[dict[str, Any]], modes: tuple[str, ...]) -> None:
    med = {m: {k: float(np.median([r[m][k] for r in runs])) for k in runs[0][m]} for m in modes}
    what = "Online Retail" if args.data else (f"make_shop {info['customers']:,} customers x "
                                              f"{info['items']:,} items")
    print()
    print(f"{what}: {info['lines']:,} lines, {info['items']:,} items; learned blend rounds "
          f"{info['rounds']}, leaves {info['num_leaves']}; fit seconds "
          + ", ".join(f"{k} {v:.0f}" for k, v in info["fit_seconds"].items()))
    print(f"code: {code}")
    print(f"medians of {len(runs)} fresh processes x {args.requests:,} requests (k=5), each "
          f"request to both Recommenders in turn (blend() of 'after' excludes the reasons: "
          f"they are put in words after the rules); load average "
          f"{min(r['loadavg_1min'] for r in runs):.1f}-{max(r['loadavg_1min'] for r in runs):.1f}; "
          "same offers under every explain mode: "
          + str(all(r["same_offers_every_explain"] for r in runs))
          + "; learned Recommender.load CPU "
          + ", ".join(f"{r.get('learned_load_cpu_s', float('nan')):.2f}" for r in runs) + " s")
    print("wall: elapsed time (includes waiting for a core on a loaded machine); CPU: the "
          "serving thread's CPU time. 'added per request p99': p99 over requests of "
          "(learned - weighted); 'added p99': p99(learned) - p99(weighted).")
    print("| explain | blend() wall p50 / p99 | blend() CPU p50 / p99 | recommend, weighted "
          "p50 / p99 | recommend, learned p50 / p99 | added wall p50 / p99 | added per request "
          "p99, wall | **added CPU p50 / p99** | added CPU per request p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    nan = float("nan")
    for m in modes:
        x = med[m]
        print(f"| {m} | {x['blend_p50_ms']:.2f} / {x['blend_p99_ms']:.2f} | "
              f"{x.get('blend_cpu_p50_ms', nan):.2f} / {x.get('blend_cpu_p99_ms', nan):.2f} | "
              f"{x['weighted_p50_ms']:.2f} / {x['weighted_p99_ms']:.2f} | "
              f"{x['learned_p50_ms']:.2f} / {x['learned_p99_ms']:.2f} | "
              f"{x['added_p50_ms']:.2f} / {x['added_p99_ms']:.2f} | "
              f"{x['added_paired_p99_ms']:.2f} | "
              f"**{x.get('added_cpu_p50_ms', nan):.2f} / "
              f"{x.get('added_cpu_p99_ms', nan):.2f}** | "
              f"{x.get('added_cpu_paired_p99_ms', nan):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--orders", type=int, default=4_800_000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", help="work folder (default: a temporary one)")
    ap.add_argument("--runs", type=int, default=3,
                    help="fresh serving processes; medians are reported (default 3)")
    ap.add_argument("--reuse", action="store_true",
                    help="serve the recommender already saved in --dir (no build)")
    ap.add_argument("--blend", action="store_true",
                    help="the learned blend against the weighted one (see the module doc)")
    ap.add_argument("--data", help="with --blend: an Online Retail CSV instead of make_shop")
    ap.add_argument("--compare-src", help="with --blend: also serve with this src/ folder (e.g. "
                    "`git archive HEAD src | tar -x -C DIR`, then DIR/src), alternating")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--blend-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(serve(args.child, args.requests, args.seed)), flush=True)
        return
    if args.blend_child:
        print("RESULT " + json.dumps(serve_blend(args.blend_child, args.requests, args.seed)),
              flush=True)
        return
    if args.blend:
        main_blend(args)
        return
    work = args.dir or tempfile.mkdtemp(prefix="bench-serving-")
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "recommender")
    if args.reuse:
        info = json.loads(Path(work, "build.json").read_text())
    else:
        print(f"building: {args.customers:,} customers, {args.items:,} items, "
              f"{args.orders:,} orders", flush=True)
        info = build(args, path)
        Path(work, "build.json").write_text(json.dumps(info))
    runs = []
    for i in range(args.runs):
        print(f"serving from a fresh process ({i + 1} of {args.runs}) ...", flush=True)
        res = subprocess.run([sys.executable, __file__, "--child", path, "--requests",
                              str(args.requests), "--seed", str(args.seed)],
                             capture_output=True, text=True, check=True)
        line = next(x for x in res.stdout.splitlines() if x.startswith("RESULT "))
        runs.append(json.loads(line[7:]))
        r = runs[-1]
        print(f"  load {r['load_seconds']:.2f} s (+ imports {r['import_seconds']:.2f} s), "
              f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms (CPU {r['cpu_p99_ms']:.2f}), "
              f"floor p99 {r['floor_p99_ms']:.2f} ms, load average {r['loadavg_1min']:.1f}",
              flush=True)
    med = {k: float(np.median([r[k] for r in runs])) for k, v in runs[0].items()
           if isinstance(v, (int, float))}
    med["throughput_rps"] = {t: float(np.median([r["throughput_rps"][t] for r in runs]))
                             for t in runs[0]["throughput_rps"]}
    med["by_moment_p99_ms"] = {m: float(np.median([r["by_moment_p99_ms"][m] for r in runs]))
                               for m in runs[0]["by_moment_p99_ms"]}
    out = {**info, **med, "runs": runs, "args": vars(args)}
    print()
    print(f"{out['customers']:,} customers x {out['items']:,} items, {out['lines']:,} lines; "
          f"{out['rules']:,} rules, {out['sequence_rules']:,} sequence rules; "
          f"saved {out['saved_mb']:,.0f} MB")
    print(f"medians of {len(runs)} fresh serving processes; load average (1 min) "
          f"{min(r['loadavg_1min'] for r in runs):.1f}-{max(r['loadavg_1min'] for r in runs):.1f}")
    print("| measure | value | target |")
    print("|---|---:|---:|")
    print(f"| latency p50 | {out['p50_ms']:.2f} ms | |")
    print(f"| latency p99 | {out['p99_ms']:.2f} ms | < 2 ms |")
    print(f"| latency max | {out['max_ms']:.2f} ms | |")
    print(f"| CPU time per request p50 / p99 | {out['cpu_p50_ms']:.2f} / "
          f"{out['cpu_p99_ms']:.2f} ms | |")
    print(f"| noise floor (np.sort, 160k floats) p50 / p99 | {out['floor_p50_ms']:.2f} / "
          f"{out['floor_p99_ms']:.2f} ms (CPU p99 {out['floor_cpu_p99_ms']:.2f}) | |")
    print(f"| throughput, 1 thread | {out['throughput_rps']['1']:,.0f} req/s | |")
    print(f"| throughput, 2 threads | {out['throughput_rps']['2']:,.0f} req/s | |")
    print(f"| load from disk (Recommender.load) | {out['load_seconds']:.2f} s | < 2 s |")
    print(f"| imports before it (numpy, scipy, upsell) | {out['import_seconds']:.2f} s | |")
    print(f"| resident memory after load | {out['rss_loaded_mb']:,.0f} MB | |")
    print(f"| peak resident memory (serving process) | {out['max_rss_mb']:,.0f} MB | |")
    print("p99 by moment (ms): " + ", ".join(f"{k}: {v:.2f}"
                                             for k, v in out["by_moment_p99_ms"].items()))
    OUT.mkdir(exist_ok=True)
    target = OUT / "bench_serving.json"
    target.write_text(json.dumps(out, indent=1))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
