"""Does the learned blend gain from learning on accepted offers? (``LearnedBlend.update``)

On ``--seeds`` synthetic shops (``make_shop``; ``shop.response`` is the ground truth of
every customer's P(accept) of every item), two recommenders share the same sources and
the same history-trained :class:`~upsell.recommend.LearnedBlend` (fitted once, copied by
save/load) and the same rules (``NotOwned``, ``InStock``, ``Explore(rate=--rate)``):

- ``static``: the blend never updated;
- ``update``: ``Recommender.update(log)`` every ``--update-every`` visits, which refits the
  blend's second stage from every outcome logged so far (``--objective``,
  ``--weights``).

Both meet the same visitors at the same times with the same outcome draws (one
simulation seed per shop), so the difference is paired per visit. Reported per seed
and as a 95% t interval over seeds: revenue and expected revenue per visit (sum of
true P(accept) x price of what was shown) and the acceptance rate over the last
``--last`` visits, the ratio update / static of expected revenue, the stage's state at
the end (regimes fitted, rounds, acceptances it learned from). The expected revenue
is the less noisy measure (it does not depend on the outcome draws).

Also per seed: one ``update`` on the whole final log (CPU seconds) and the median CPU
milliseconds of a ``recommend`` call with the static and the updated blend (``--serve``
requests). CPU seconds (``time.process_time``) are reported, since the machine is shared.
The defaults (3 seeds x 6,000 visits, a 600-customer shop) take about 3 CPU minutes
(10-13 minutes of wall time on a loaded 2-core machine).
Usage:
    python benchmarks/bench_blend_update.py [--seeds 3] [--visits 6000] [--objective binary]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from upsell.datasets import make_shop
from upsell.recommend import Explore, InStock, LearnedBlend, NotOwned, Recommender, simulate
from upsell.recommend.blend import history_parts

OUT = Path(__file__).parent / "out"


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    h = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - h, m + h


def recommender(parts: dict[str, Any], blend: Any, seed: int, rate: float, name: str
                ) -> Recommender:
    rules = [NotOwned(), InStock(), Explore(rate=rate, random_state=seed)]
    return Recommender(**{**parts, "blend": blend}, rules=rules, policy=name).fit()


def serve_cpu(rec: Recommender, customers: np.ndarray, k: int) -> float:
    """Median CPU milliseconds of one recommend call, over blocks of 20 calls."""
    per: list[float] = []
    for lo in range(0, customers.size, 20):
        t0 = time.process_time()
        for c in customers[lo:lo + 20].tolist():
            rec.recommend(customer=c, k=k)
        per.append((time.process_time() - t0) * 1000 / len(customers[lo:lo + 20]))
    return float(np.median(per))


class Updating:
    """The recommender, updating its blend with the benchmark's stage options."""

    def __init__(self, rec: Recommender, blend: LearnedBlend, args: argparse.Namespace) -> None:
        self.rec, self.blend, self.args = rec, blend, args
        self.cpu = 0.0
        self.updates = 0

    def recommend(self, **kw: Any) -> Any:
        return self.rec.recommend(**kw)

    def update(self, log: Any) -> None:
        t0 = time.process_time()
        self.blend.update(log.outcomes(columns=LearnedBlend.outcome_columns),
                          objective=self.args.objective, weights=self.args.weights)
        self.cpu += time.process_time() - t0
        self.updates += 1

    @property
    def policy_(self) -> str:
        return self.rec.policy_


def one_seed(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    shop = make_shop(n_customers=args.customers, n_items=args.items, n_orders=args.orders,
                     random_state=seed)
    tx, cat = shop.transactions, shop.catalog
    t0 = time.process_time()
    parts = history_parts(tx, cat, blend="weighted")
    parts["candidates_per_source"] = args.candidates
    blend = LearnedBlend(n_cuts=args.cuts, max_rounds=args.rounds).fit(
        tx, catalog=cat, segments=parts["segments"], random_state=seed)
    fit_cpu = time.process_time() - t0
    with tempfile.TemporaryDirectory() as tmp:
        blend.save(tmp)
        twin = LearnedBlend.load(tmp)
    static = recommender(parts, blend, seed, args.rate, "static")
    learner = Updating(recommender(parts, twin, seed, args.rate, "update"), twin, args)
    row: dict[str, Any] = {"seed": seed, "fit_cpu_s": fit_cpu}
    for name, rec, every in (("static", static, args.visits), ("update", learner,
                                                                 args.update_every)):
        t0 = time.process_time()
        sim = simulate(shop, rec, visits=args.visits, update_every=every, k=args.k,
                       random_state=seed, log_declines=False)
        row[f"{name}_cpu_s"] = time.process_time() - t0
        last = min(args.last, args.visits)
        row[f"{name}_revenue"] = sim.revenue_per_visit(last)
        row[f"{name}_expected"] = sim.revenue_per_visit(last, expected=True)
        row[f"{name}_acceptance"] = float(np.average(sim.acceptance[-max(1, last // every):]))
        row["oracle"] = float(sim.visit_oracle[-last:].mean())
        row[f"{name}_visit_expected"] = sim.visit_expected[-last:]
        # expected acceptance: mean true P(accept) of the offers shown in the last visits
        out = sim.offer_log.outcomes(columns=("time", "customer", "item", "kind"))
        late = out["time"] >= sim.visit_time[-last]
        p = shop.response.probability(out["customer"][late], out["item"][late],
                                      out["kind"][late])
        row[f"{name}_expected_acceptance"] = float(np.mean(p)) if p.size else float("nan")
        if name == "update":
            # one update on the whole final log, and serving CPU with and without the stage
            out_all = sim.offer_log.outcomes(columns=LearnedBlend.outcome_columns)
            t0 = time.process_time()
            twin.update(out_all, objective=args.objective, weights=args.weights)
            row["last_update_cpu_s"] = time.process_time() - t0
            row["last_update_rows"] = int(out_all["item"].size)
            row["serve_cpu_ms"] = {p: serve_cpu(r, sim.visit_customer[:args.serve], args.k)
                                   for p, r in (("static", static), ("update", learner.rec))}
    st = twin.stage_
    info = st.info if st is not None else {}
    row["update_cpu_s"] = learner.cpu
    row["updates"] = learner.updates
    row["stage"] = {r: {k: info.get(r, {}).get(k) for k in ("status", "rounds", "accepted",
                                                                "rows", "valid_before",
                                                                "valid_after")}
                    for r in ("owned", "new")}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--visits", type=int, default=6_000)
    ap.add_argument("--update-every", type=int, default=1_000)
    ap.add_argument("--last", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--customers", type=int, default=600)
    ap.add_argument("--items", type=int, default=120)
    ap.add_argument("--orders", type=int, default=4_000)
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--cuts", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--objective", choices=("binary", "lambdarank"), default="binary")
    ap.add_argument("--weights", choices=("none", "propensity"), default="none")
    ap.add_argument("--serve", type=int, default=400,
                    help="requests timed for serving CPU (static vs updated blend)")
    ap.add_argument("--json", type=Path, default=OUT / "bench_blend_update.json")
    args = ap.parse_args()
    args.weights = None if args.weights == "none" else args.weights
    rows = []
    for seed in range(args.seeds):
        row = one_seed(seed, args)
        rows.append(row)
        print(f"seed {seed}: expected revenue/visit static {row['static_expected']:.3f} "
              f"update {row['update_expected']:.3f} (oracle {row['oracle']:.3f}); "
              f"acceptance {row['static_acceptance']:.4f} / {row['update_acceptance']:.4f} "
              f"(expected {row['static_expected_acceptance']:.4f} / "
              f"{row['update_expected_acceptance']:.4f}); "
              f"stage {row['stage']}; CPU s: fit {row['fit_cpu_s']:.1f}, static "
              f"{row['static_cpu_s']:.1f}, update {row['update_cpu_s'] + 0:.1f} in "
              f"{row['updates']} updates; one update on {row['last_update_rows']:,} rows "
              f"{row['last_update_cpu_s']:.2f} CPU s; serving CPU ms/request "
              f"{row['serve_cpu_ms']}", flush=True)
    ratio = np.array([r["update_expected"] / r["static_expected"] for r in rows])
    diff = np.concatenate([r["update_visit_expected"] - r["static_visit_expected"]
                           for r in rows])
    m, lo, hi = t_interval(ratio)
    acc = np.array([r["update_expected_acceptance"] / r["static_expected_acceptance"]
                    for r in rows])
    am, alo, ahi = t_interval(acc)
    dm, dlo, dhi = t_interval(diff)
    print(f"\n{args.seeds} seeds x {args.visits:,} visits, last {args.last:,}, update every "
          f"{args.update_every:,}, objective {args.objective}, weights {args.weights}")
    print("| seed | static rev/visit | update rev/visit | static expected | update expected "
          "| ratio | static acc (expected) | update acc (expected) | stage (new) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["stage"]["new"]
        print(f"| {r['seed']} | {r['static_revenue']:.3f} | {r['update_revenue']:.3f} | "
              f"{r['static_expected']:.3f} | {r['update_expected']:.3f} | "
              f"{r['update_expected'] / r['static_expected']:.3f} | "
              f"{r['static_acceptance']:.4f} ({r['static_expected_acceptance']:.4f}) | "
              f"{r['update_acceptance']:.4f} ({r['update_expected_acceptance']:.4f}) | "
              f"{s['status']}, {s['rounds']} rounds, {s['accepted']} acc |")
    print(f"ratio of expected revenue per visit (update / static): {m:.3f} "
          f"[{lo:.3f}, {hi:.3f}] over seeds; per-visit paired difference {dm:.4f} "
          f"[{dlo:.4f}, {dhi:.4f}] (visits pooled)")
    print(f"ratio of expected acceptance per offer (update / static): {am:.3f} "
          f"[{alo:.3f}, {ahi:.3f}] over seeds")
    gm, glo, ghi = np.exp(t_interval(np.log(ratio)))
    print(f"geometric mean ratio of expected revenue: {gm:.3f} [{glo:.3f}, {ghi:.3f}]; median "
          f"{float(np.median(ratio)):.3f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    out = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "rows": [{k: v for k, v in r.items() if not k.endswith("visit_expected")}
                    for r in rows],
           "ratio": [m, lo, hi], "acceptance_ratio": [am, alo, ahi],
           "geometric_ratio": [gm, glo, ghi], "paired_difference": [dm, dlo, dhi]}
    args.json.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
