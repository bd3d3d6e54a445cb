"""The closed offer loop on make_shop: does learning from outcomes pay, and can OPE be trusted?

Measurements on synthetic shops whose ground truth (``shop.response``) says how likely
every customer is to accept every offer (issue 22 targets in brackets):

1. Learning vs static, ``--seeds`` shops x ``--visits`` simulated visits each
   (``upsell.recommend.simulate``, update every ``--update-every`` visits). Both
   recommenders share the sources fitted on the shop's history (bundles, EASE,
   RepeatBlend, the upsell ranker, personas; weighted blend); "static" has the
   default rules, "learning" adds ``LearnFromOutcomes()`` and ``Explore(rate=0.05)``.
   Both see the same visitors at the same times with the same outcome draws
   (one simulation seed), so the comparison is paired per visit. Reported: revenue
   per visit over the last ``--last`` visits (realised, and expected = sum of true
   P(accept) x price of what was shown), the ratio learning / static, a 95% t
   interval of the ratio over seeds and one over blocks of ``--update-every``
   visits (pooled over seeds) [issue 22: learning >= 1.05 x static], the oracle's expected
   revenue per visit and the share of it each policy reaches. Regret curves of the
   first seed go to ``benchmarks/out/offer_loop_regret.png``. ``--ablation`` adds the
   learning recommender's rules never updated (``update_every=visits``): what ranking by
   prior expected value (the offers' own P(accept) x price) gives without learning.
2. OPE accuracy: ``--ope-reps`` independent logs of each size in ``--ope-sizes`` and
   ``--ope-visits`` (the headline size) from a logging policy with
   ``Explore(rate=--ope-rate)``, never updated; each estimates the acceptance rate and the
   revenue per slot of the greedy policy (no exploration) with ``evaluate_policy`` (IPS,
   SNIPS, DR with its cross-fitted reward model, or the ``--ope-estimators`` named; 95%
   intervals over requests: the library's default, or those ``--ope-intervals`` names, each
   scored on the same logs). ``--ope-reps`` logs of the largest size are simulated and each
   is cut at random into disjoint logs of the smaller sizes (the visits of a never-updated
   logger are independent draws, so this is the same as simulating them apart, and
   cheaper). The truth is the simulator's: the visit-weighted mean over every customer of
   the sum of true P(accept) x price of the greedy list, per slot. Reported per size:
   coverage (share of logs whose interval holds the truth) [>= 90%], bias, RMSE, mean
   interval width, mean ESS of the importance weights, mean effective accepted offers
   (``PolicyValue.rewarded_ess``), the share of logs marked ``reliable`` and the coverage
   among them.
3. ``Recommender.update`` on 1,000,000 presented offers (outcome rows shaped as
   ``OfferLog.outcomes()`` returns them, tiled from the simulated log) [<= 5 s],
   and ``OfferLog.outcomes()`` on the simulated in-memory log.
4. Serving latency p50 / p99 of ``recommend`` with and without the loop rules.

A visit costs one ``recommend`` call (3-10 ms with these sources, depending on the
machine's load) plus its logging, so the defaults (5 seeds x 10,000 visits; 100 OPE logs of
3,000 visits, cut into logs of 2,000, 1,000 and 300 visits too) take 25-45 minutes on 2 cores; ``--full`` runs the issue's 5 x 50,000 visits
(about four times longer), ``--quick`` 2 x 3,000. Peak memory is the process's maximum RSS.
Usage:
    python benchmarks/bench_offer_loop.py [--seeds 5] [--visits 10000] [--ope-reps 100]
    python benchmarks/bench_offer_loop.py --quick | --full
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from upsell.datasets import make_shop
from upsell.evaluate.offpolicy import INTERVALS
from upsell.recommend import (
    Explore,
    InStock,
    LearnFromOutcomes,
    NotOwned,
    OfferLog,
    Recommender,
    evaluate_policy,
    simulate,
)
from upsell.recommend.blend import history_parts

OUT = Path(__file__).parent / "out"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def t_interval(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    h = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - h, m + h


def recipe(shop: Any, candidates: int) -> dict[str, Any]:
    parts = history_parts(shop.transactions, shop.catalog, blend="weighted")
    parts["candidates_per_source"] = candidates
    return parts


def policies(parts: dict[str, Any], seed: int, rate: float) -> tuple[Recommender, Recommender]:
    static = Recommender(**parts, policy="static").fit()
    learning = Recommender(**parts, policy="learning",
                           rules=[NotOwned(), InStock(), LearnFromOutcomes(random_state=seed),
                                  Explore(rate=rate, random_state=seed)]).fit()
    return static, learning


# ------------------------------------------------------------------------ 1. the loop
def loop(args: argparse.Namespace) -> tuple[list[dict], dict, Any]:
    rows, blocks_s, blocks_l, first = [], [], [], None
    last = min(args.last, args.visits)
    for seed in range(args.seeds):
        shop = make_shop(n_customers=args.customers, n_items=args.items,
                         n_orders=args.orders, random_state=seed)
        parts = recipe(shop, args.candidates)
        static, learning = policies(parts, seed, args.rate)
        sims = {}
        for name, rec in (("static", static), ("learning", learning)):
            t0 = time.perf_counter()
            sims[name] = simulate(shop, rec, visits=args.visits, update_every=args.update_every,
                                  k=args.k, random_state=seed, log_declines=False)
            sims[name + "_s"] = time.perf_counter() - t0
        if args.ablation:
            # the same rules, never updated: how much is the expected-value ranking alone
            frozen = policies(parts, seed, args.rate)[1]
            t0 = time.perf_counter()
            sims["frozen"] = simulate(shop, frozen, visits=args.visits,
                                      update_every=args.visits, k=args.k, random_state=seed,
                                      log_declines=False)
            sims["frozen_s"] = time.perf_counter() - t0
        s, lrn = sims["static"], sims["learning"]
        row = {"seed": seed, "static": s.revenue_per_visit(last),
               "learning": lrn.revenue_per_visit(last),
               "static_expected": s.revenue_per_visit(last, expected=True),
               "learning_expected": lrn.revenue_per_visit(last, expected=True),
               "oracle": float(s.visit_oracle[-last:].mean()),
               "acceptance_static": float(s.acceptance[-1]),
               "acceptance_learning": float(lrn.acceptance[-1]),
               "seconds_static": sims["static_s"], "seconds_learning": sims["learning_s"],
               "regret_static": float(s.regret[-1]), "regret_learning": float(lrn.regret[-1])}
        if args.ablation:
            row["frozen_expected"] = sims["frozen"].revenue_per_visit(last, expected=True)
            row["frozen_first_window"] = float(sims["frozen"].visit_expected[
                :args.update_every].mean())
            row["learning_first_window"] = float(lrn.expected_revenue[0])
        row["ratio"] = row["learning"] / row["static"]
        row["ratio_expected"] = row["learning_expected"] / row["static_expected"]
        rows.append(row)
        b = args.update_every
        n_b = last // b
        for arr, out in ((s.visit_expected, blocks_s), (lrn.visit_expected, blocks_l)):
            tail = arr[-n_b * b:].reshape(n_b, b).mean(axis=1) if n_b else arr[-last:][None]
            out.extend(tail.tolist())
        if first is None:
            first = (s, lrn)
        print(f"  seed {seed}: static {row['static']:.3f} learning {row['learning']:.3f} "
              f"(expected {row['static_expected']:.3f} / {row['learning_expected']:.3f}, oracle "
              f"{row['oracle']:.3f}); {sims['static_s']:.0f} s + {sims['learning_s']:.0f} s",
              flush=True)
    ratios = np.array([r["ratio_expected"] for r in rows])
    bs, bl = np.array(blocks_s), np.array(blocks_l)
    summary = {"ratio_realised_mean": float(np.mean([r["ratio"] for r in rows])),
               "ratio_expected_over_seeds": t_interval(ratios),
               "ratio_expected_over_blocks": t_interval(bl / bs), "n_blocks": int(bs.size)}
    return rows, summary, first


def regret_png(first: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
    first[0].plot(ax=ax, label="static", color="#8a8f98")
    first[1].plot(ax=ax, label="learning + Explore(0.05)", color="#2f6db5",
                  title="Cumulative regret against the oracle (seed 0)")
    for sim, name, color in ((first[0], "static", "#8a8f98"),
                             (first[1], "learning + Explore(0.05)", "#2f6db5")):
        ax2.plot(sim.window_end, sim.expected_revenue, color=color, marker="o", markersize=3,
                 label=name)
    ax2.set_title("Expected revenue per visit, per window of visits (seed 0)", fontsize=11,
                  loc="left")
    ax2.set_xlabel("visits")
    ax2.set_ylim(bottom=0)
    ax2.legend(fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax2.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------ 2. OPE accuracy
class Cached:
    """The greedy target's distribution per customer (deterministic, fixed over the horizon)."""

    def __init__(self, rec: Recommender) -> None:
        self.rec = rec
        self.cache: dict[Any, dict[tuple[Any, int], float]] = {}
        self.policy_ = rec.policy_

    def policy_distribution(self, customer: Any = None, *, k: int = 5, at: Any = None,
                            channel: str = "web", **kw: Any) -> dict[tuple[Any, int], float]:
        key = (customer, k, channel)
        if key not in self.cache:
            self.cache[key] = self.rec.policy_distribution(customer, k=k, at=at, channel=channel)
        return self.cache[key]


def ope_truth(shop: Any, target: Recommender, k: int) -> tuple[dict[str, float], Cached]:
    """The simulator's value of the greedy target per slot, and the target's cached lists."""
    rm = shop.response
    tx = shop.transactions
    at = tx.time.max() + np.timedelta64(2, "D")
    # visit-weighted (visits follow each customer's orders) sum of true P(accept) x price
    ids = tx.customers.ids
    width = int(tx.order.max()) + 1
    known = tx.customer >= 0
    pairs = np.unique(tx.customer[known].astype(np.int64) * width + tx.order[known])
    w = np.maximum(np.bincount(pairs // width, minlength=ids.size), 1).astype(np.float64)
    cached = Cached(target)
    value = np.zeros(ids.size)
    accept = np.zeros(ids.size)
    length = np.zeros(ids.size)
    for c, cid in enumerate(ids.tolist()):
        offers = target.recommend(cid, k=k, at=at)
        if len(offers):
            items = [o.item for o in offers]
            p = rm.probability(np.full(len(items), cid), items, [o.kind for o in offers])
            value[c] = float(np.sum(p * rm.price[rm.items.encode(items)]))
            accept[c] = float(np.sum(p))
            length[c] = len(items)
        cached.cache[(cid, k, "web")] = {(o.item, j): 1.0 for j, o in enumerate(offers)}
    return ({"revenue": float(np.sum(w * value) / np.sum(w * length)),
             "accepted": float(np.sum(w * accept) / np.sum(w * length))}, cached)


def ope_logs(args: argparse.Namespace, shop: Any, parts: dict[str, Any], sizes: list[int]):
    """Yield ``(size, repetition, log)``: ``--ope-reps`` logs of each size.

    ``--ope-reps`` logs of ``max(sizes)`` visits are simulated (logger ``Explore(--ope-rate)``,
    never updated, so its visits are independent draws); each is one log of the largest
    size and is split at random into disjoint logs of every smaller size (``max // size``
    per simulated log), the first ``--ope-reps`` of which are scored. Logs of one size never
    share a visit, so their coverage counts independent logs.
    """
    big = max(sizes)
    taken = dict.fromkeys(sizes, 0)
    for rep in range(args.ope_reps):
        logger = Recommender(**parts, policy="logger",
                             rules=[NotOwned(), InStock(),
                                    Explore(rate=args.ope_rate, random_state=rep)]).fit()
        sim = simulate(shop, logger, visits=big, update_every=big, k=args.k,
                       random_state=10_000 + rep, days=args.days, log_declines=False)
        cols = {c: np.asarray(v) for c, v in sim.offer_log.outcomes().items()}
        req = cols["request_id"]
        uniq = np.unique(req)
        perm = np.random.default_rng(rep).permutation(uniq)
        for size in sizes:
            # parts of exactly `size` visits (the largest: the whole log; a visit whose
            # list was empty logs nothing)
            pieces = [perm] if size == big else [
                perm[c * size:(c + 1) * size] for c in range(min(big, uniq.size) // size)]
            for part in pieces:
                if taken[size] >= args.ope_reps:
                    break
                rows = np.isin(req, part)
                taken[size] += 1
                yield size, taken[size] - 1, {k: v[rows] for k, v in cols.items()}


def ope(args: argparse.Namespace) -> dict:
    shop = make_shop(n_customers=args.customers, n_items=args.items, n_orders=args.orders,
                     random_state=0)
    parts = recipe(shop, args.candidates)
    target = Recommender(**parts, policy="greedy").fit()
    truth, cached = ope_truth(shop, target, args.k)
    # the target's lists do not move within the simulated days (checked on 50 customers)
    at = shop.transactions.time.max() + np.timedelta64(2, "D")
    later = at + np.timedelta64(int(args.days), "D")
    ids = shop.transactions.customers.ids
    moved = sum(list(target.recommend(c, k=args.k, at=later)) != list(
        target.recommend(c, k=args.k, at=at)) for c in ids[:50].tolist())
    sizes = sorted({*args.ope_sizes, args.ope_visits})
    names = ("logged", *args.ope_estimators)
    res: dict[tuple[int, str, str, str], list[tuple[float, ...]]] = {}
    t0 = time.perf_counter()
    c0 = time.process_time()
    for size, rep, log in ope_logs(args, shop, parts, sizes):
        for reward in ("accepted", "revenue"):
            for interval in args.ope_intervals:
                ev = evaluate_policy(log, cached, estimators=args.ope_estimators,
                                     reward=reward, n_bootstrap=args.ope_bootstrap,
                                     interval=interval, random_state=rep)
                for name in names:
                    e = ev[name]
                    res.setdefault((size, reward, name, interval), []).append(
                        (e.value, e.ci_low, e.ci_high, e.effective_sample_size,
                         e.rewarded_ess, e.top_share, float(e.reliable)))
        if size == sizes[-1] and rep % 10 == 9:
            print(f"  OPE: {rep + 1}/{args.ope_reps} simulated logs of {size:,} visits "
                  f"({time.perf_counter() - t0:.0f} s, {time.process_time() - c0:.0f} s CPU)",
                  flush=True)
    out: dict[str, Any] = {"truth": truth, "reps": args.ope_reps, "visits": args.ope_visits,
                           "sizes": sizes, "rate": args.ope_rate,
                           "target_lists_moved": int(moved),
                           "intervals": list(args.ope_intervals),
                           "cpu_s": time.process_time() - c0, "by_size": {}}
    for (size, reward, name, interval), vals in res.items():
        a = np.array(vals)
        tr = truth[reward]
        hit = (a[:, 1] <= tr) & (tr <= a[:, 2])
        ok = a[:, 6] > 0
        e = {"reps": int(a.shape[0]), "coverage": float(np.mean(hit)),
             "truth_above": float(np.mean(tr > a[:, 2])),
             "truth_below": float(np.mean(tr < a[:, 1])),
             "bias": float(a[:, 0].mean() - tr),
             "rmse": float(np.sqrt(np.mean((a[:, 0] - tr) ** 2))),
             "mean_ci_width": float(np.mean(a[:, 2] - a[:, 1])), "mean": float(a[:, 0].mean()),
             "median_ci_width": float(np.median(a[:, 2] - a[:, 1])),
             "mean_ess": float(a[:, 3].mean()), "mean_rewarded_ess": float(a[:, 4].mean()),
             "mean_top_share": float(np.nanmean(a[:, 5])) if np.isfinite(a[:, 5]).any()
             else float("nan"),
             "reliable": float(ok.mean()),
             "coverage_reliable": float(np.mean(hit[ok])) if ok.any() else float("nan"),
             "coverage_not_reliable": float(np.mean(hit[~ok])) if (~ok).any()
             else float("nan"),
             # per log, for the study of what predicts a miss
             "logs": a.tolist()}
        out["by_size"][f"{size}/{reward}/{name}/{interval}"] = e
        if size == args.ope_visits:
            # the headline size under the keys the earlier runs used
            out[f"{reward}/{name}/{interval}"] = e
            if interval == args.ope_intervals[0]:
                out[f"{reward}/{name}"] = e
    return out


def pct(x: float, width: int) -> str:
    return f"{x:>{width}.0%}" if np.isfinite(x) else f"{'-':>{width}}"


def print_ope(o: dict, args: argparse.Namespace) -> None:
    print(f"\ngreedy lists that moved within {args.days:g} days: {o['target_lists_moved']} "
          f"of 50 (the replay reads them once per customer); OPE {o['cpu_s']:.0f} s CPU")
    print(f"\n{args.ope_visits:,} visits per log (--ope-visits), {args.ope_reps} logs:")
    print(f"{'reward':>9} {'estimator':>9} {'interval':>11} {'truth':>8} {'mean':>8} "
          f"{'coverage':>9} {'above':>6} {'bias':>8} {'rmse':>8} {'CI width':>9} {'median':>8}")
    for reward in ("accepted", "revenue"):
        for name in (*args.ope_estimators, "logged"):
            for interval in args.ope_intervals:
                e = o[f"{reward}/{name}/{interval}"]
                print(f"{reward:>9} {name:>9} {interval:>11} {o['truth'][reward]:>8.4f} "
                      f"{e['mean']:>8.4f} {e['coverage']:>9.0%} {e['truth_above']:>6.0%} "
                      f"{e['bias']:>8.4f} {e['rmse']:>8.4f} {e['mean_ci_width']:>9.4f} "
                      f"{e['median_ci_width']:>8.4f}")
    print("\nevery log size (coverage of the 95% interval [target >= 90%]; mean width; mean "
          "ESS of the weights; mean effective accepted offers; share of logs marked reliable "
          "and the coverage among them):")
    print(f"{'visits':>7} {'reward':>9} {'estimator':>9} {'interval':>11} {'logs':>5} "
          f"{'coverage':>9} {'above':>6} {'width':>8} {'ESS':>9} {'accepted':>9} {'top1%':>6} "
          f"{'reliable':>9} {'cov|rel':>8} {'cov|not':>8}")
    for size in o["sizes"]:
        for reward in ("accepted", "revenue"):
            for name in args.ope_estimators:
                for interval in args.ope_intervals:
                    e = o["by_size"][f"{size}/{reward}/{name}/{interval}"]
                    print(f"{size:>7,} {reward:>9} {name:>9} {interval:>11} {e['reps']:>5} "
                          f"{e['coverage']:>9.0%} {e['truth_above']:>6.0%} "
                          f"{e['mean_ci_width']:>8.4f} {e['mean_ess']:>9,.0f} "
                          f"{e['mean_rewarded_ess']:>9,.1f} {pct(e['mean_top_share'], 6)} "
                          f"{e['reliable']:>9.0%} {pct(e['coverage_reliable'], 8)} "
                          f"{pct(e['coverage_not_reliable'], 8)}")
    print(f"[target coverage >= 90%]; peak RSS {peak_mb():,.0f} MB\n", flush=True)


# ------------------------------------------------------------------------ 3, 4. speed
def speed(args: argparse.Namespace) -> dict:
    shop = make_shop(n_customers=args.customers, n_items=args.items, n_orders=args.orders,
                     random_state=0)
    parts = recipe(shop, args.candidates)
    static, learning = policies(parts, 0, args.rate)
    log = OfferLog.in_memory()
    sim = simulate(shop, learning, visits=args.speed_visits, update_every=args.update_every,
                   k=args.k, offer_log=log, random_state=0, log_declines=False)
    t0 = time.perf_counter()
    out = log.outcomes()
    read_s = time.perf_counter() - t0
    n = int(np.asarray(out["item"]).shape[0])
    reps = -(-args.update_rows // n)
    big = {k: np.tile(np.asarray(v), reps)[:args.update_rows] for k, v in out.items()}
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        learning.update(big)
        times.append(time.perf_counter() - t0)
    at = sim.visit_time[-1]
    ids = shop.transactions.customers.ids[:args.latency_requests].tolist()
    recs = {"static": static, "learning + explore": learning}
    ms: dict[str, list[float]] = {name: [] for name in recs}
    for c in ids[:20]:
        for rec in recs.values():
            rec.recommend(c, k=args.k, at=at)
    for c in ids:  # interleaved, so both see the same machine load
        for name, rec in recs.items():
            t0 = time.perf_counter()
            rec.recommend(c, k=args.k, at=at)
            ms[name].append((time.perf_counter() - t0) * 1e3)
    lat = {name: {"p50_ms": float(np.percentile(v, 50)), "p99_ms": float(np.percentile(v, 99))}
           for name, v in ms.items()}
    return {"outcomes_rows": n, "outcomes_read_s": read_s, "log_events": len(log),
            "update_rows": args.update_rows, "update_s_best": min(times),
            "update_s_all": times, "latency": lat}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--visits", type=int, default=10_000)
    ap.add_argument("--update-every", type=int, default=1_000)
    ap.add_argument("--last", type=int, default=3_000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--customers", type=int, default=2_000)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--candidates", type=int, default=20,
                    help="candidates_per_source of both recommenders")
    ap.add_argument("--days", type=float, default=90.0)
    ap.add_argument("--ope-reps", type=int, default=100)
    ap.add_argument("--ope-visits", type=int, default=2_000,
                    help="the headline log size: the smallest at which every estimator's "
                         "interval holds the truth in >= 90%% of logs, conversion and revenue")
    ap.add_argument("--ope-sizes", type=int, nargs="*", default=[300, 1_000, 3_000],
                    help="log sizes of the coverage table (each --ope-reps logs, cut from "
                         "--ope-reps simulated logs of the largest size); add 10000 for the "
                         "long logs (about 3x the default run's OPE time)")
    ap.add_argument("--ope-rate", type=float, default=0.2)
    ap.add_argument("--ope-bootstrap", type=int, default=500)
    ap.add_argument("--ope-intervals", nargs="+", default=[INTERVALS[0]], choices=INTERVALS,
                    help="intervals to score, each on the same logs (default: the library's "
                         f"default, {INTERVALS[0]}; 'el' is the empirical likelihood interval)")
    ap.add_argument("--ope-estimators", nargs="+", default=["ips", "snips", "dr"],
                    choices=("ips", "snips", "dr"),
                    help="estimators to score (dr: evaluate_policy's cross-fitted reward model)")
    ap.add_argument("--speed-visits", type=int, default=3_000)
    ap.add_argument("--update-rows", type=int, default=1_000_000)
    ap.add_argument("--latency-requests", type=int, default=500)
    ap.add_argument("--ablation", action="store_true",
                    help="also the learning recommender's rules never updated (EV ranking alone)")
    ap.add_argument("--skip", nargs="*", default=(), choices=("loop", "ope", "speed"))
    ap.add_argument("--quick", action="store_true",
                    help="2 seeds x 3,000 visits, 30 OPE logs of 300 and 1,000 visits")
    ap.add_argument("--full", action="store_true",
                    help="the issue's 5 seeds x 50,000 visits (last 10,000): about 4 x longer")
    ap.add_argument("--json", type=Path, default=OUT / "bench_offer_loop.json")
    args = ap.parse_args()
    if args.full:
        args.seeds, args.visits, args.last = 5, 50_000, 10_000
    if args.quick:
        args.seeds, args.visits, args.last = 2, 3_000, 1_000
        args.ope_reps, args.ope_visits, args.latency_requests = 30, 1_000, 200
        args.ope_sizes = [300]
    OUT.mkdir(exist_ok=True)
    result: dict[str, Any] = {"args": {k: (str(v) if isinstance(v, Path) else v)
                                       for k, v in vars(args).items()}}
    t_all = time.perf_counter()
    if "loop" not in args.skip:
        print(f"1. learning vs static: {args.seeds} seeds x {args.visits:,} visits", flush=True)
        rows, summary, first = loop(args)
        regret_png(first, OUT / "offer_loop_regret.png")
        result["loop"] = {"rows": rows, "summary": summary}
        print(f"\n{'seed':>4} {'static':>8} {'learning':>9} {'ratio':>6} {'exp.static':>10} "
              f"{'exp.learn':>9} {'ratio':>6} {'oracle':>7} {'regret s':>10} {'regret l':>10}")
        for r in rows:
            print(f"{r['seed']:>4} {r['static']:>8.3f} {r['learning']:>9.3f} {r['ratio']:>6.3f} "
                  f"{r['static_expected']:>10.3f} {r['learning_expected']:>9.3f} "
                  f"{r['ratio_expected']:>6.3f} {r['oracle']:>7.2f} {r['regret_static']:>10,.0f} "
                  f"{r['regret_learning']:>10,.0f}")
        if args.ablation:
            print(f"\nablation: expected revenue per visit over the last {min(args.last, args.visits):,} "
                  f"visits")
            print(f"{'seed':>4} {'static':>8} {'EV rank, no updates':>20} {'learning':>9}")
            for r in rows:
                print(f"{r['seed']:>4} {r['static_expected']:>8.3f} {r['frozen_expected']:>20.3f} "
                      f"{r['learning_expected']:>9.3f}")
        m, lo, hi = summary["ratio_expected_over_seeds"]
        bm, blo, bhi = summary["ratio_expected_over_blocks"]
        print(f"expected revenue per visit, learning / static: {m:.3f} (95% CI over seeds "
              f"{lo:.3f}-{hi:.3f}; over {summary['n_blocks']} blocks {bm:.3f}, "
              f"{blo:.3f}-{bhi:.3f}); realised ratio {summary['ratio_realised_mean']:.3f} "
              f"[target >= 1.05]")
        print(f"regret curves: {OUT / 'offer_loop_regret.png'}; peak RSS {peak_mb():,.0f} MB\n",
              flush=True)
    if "ope" not in args.skip:
        print(f"2. OPE accuracy: {args.ope_reps} logs of {args.ope_visits} visits, "
              f"Explore(rate={args.ope_rate})", flush=True)
        o = ope(args)
        result["ope"] = o
        print_ope(o, args)
    if "speed" not in args.skip:
        print("3-4. update on 1M outcome rows, serving latency", flush=True)
        s = speed(args)
        result["speed"] = s
        print(f"OfferLog.outcomes() on {s['log_events']:,} events ({s['outcomes_rows']:,} "
              f"presented): {s['outcomes_read_s']:.3f} s")
        print(f"Recommender.update on {s['update_rows']:,} presented offers: best "
              f"{s['update_s_best']:.2f} s of 3 [target <= 5 s]")
        print(f"{'recommender':>20} {'p50 ms':>7} {'p99 ms':>7}")
        for name, v in s["latency"].items():
            print(f"{name:>20} {v['p50_ms']:>7.2f} {v['p99_ms']:>7.2f}")
        print(f"peak RSS {peak_mb():,.0f} MB")
    result["seconds"] = time.perf_counter() - t_all
    result["peak_rss_mb"] = peak_mb()
    args.json.write_text(json.dumps(result, indent=1, default=float))
    print(f"\ntotal {result['seconds']:.0f} s; wrote {args.json}")


if __name__ == "__main__":
    main()
