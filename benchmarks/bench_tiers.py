"""Upsell ranker on make_shop: propensity recovery, held-out upsells with paired CIs, CF, scale.

Measurements on synthetic shops whose generator knows every customer's true
upgrade probability (``shop.truth.p_upgrade``), repeated over ``--seeds`` shops:

1. Propensity recovery: Spearman between ``UpsellRanker.customer_propensity`` (fitted
   on all history) and the true p_upgrade, per customer (all; with >= 1, 3, 5
   observed upgrade chances), per decile of true p_upgrade and per persona; next to
   the smoothed raw upgrade rate (upgrades / chances) as the naive estimate.
2. Held-out upsells (temporal split at 75% of the period). A request is a customer
   who, after the split, bought a candidate target of something they owned before
   it; the ranker answers ``rank(customer=c, k=3)`` over what they own; hit@3 =
   share of requests with a bought target among the three. Two evaluations:

   * "upgrades": targets are higher tiers and high-end alternatives (the ranker
     offers only those two kinds);
   * "all offer kinds": targets are also value packs and plans (the ranker offers
     all four kinds).

   Baselines on the same owned items, the same in-stock filter, never an owned item:
   "cheapest next tier" (the next tier of every owned ladder item, cheapest first),
   "most popular higher tier" (higher tiers and alternatives of owned items, most
   bought in train first) and "most popular offer" (every candidate of every kind,
   most bought first). "margin of hits" = summed catalog margin (price - cost) of
   the offered items the customer bought, per request.
   Differences are paired per request; the 95% interval is a percentile bootstrap
   over requests, resampled within each seed (2,000 draws).
3. CF affinity: the same with ``affinity=CFAffinity(ItemKNN or ALS fitted on train)``.
4. rank() latency p50/p99 for one item and for a customer's owned items.
5. ``--scale``: fit time and tracemalloc peak of ``UpsellRanker.fit`` on
   make_shop(n_customers=N, n_items=50,000, n_orders=4.8 N) for N in ``--scale-steps``,
   and rank() latency on the largest.

Usage: python benchmarks/bench_tiers.py [--seeds 5] [--customers 2000] [--orders 40000]
       python benchmarks/bench_tiers.py --scale [--scale-steps 100000 300000 1000000]
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from upsell.datasets import PERSONAS, make_shop
from upsell.tiers import CFAffinity, UpsellRanker

UPGRADE_KINDS = ("upgrade", "alternative")
ALL_KINDS = ("upgrade", "value_pack", "plan", "alternative")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a, b)[0]) if a.size > 2 else float("nan")


def recovery(shop, segments, label: str) -> list[dict]:
    tr = shop.truth
    up = UpsellRanker().fit(shop.transactions, shop.catalog, segments=segments)
    p = up.customer_propensity()
    ch = np.asarray(up._a["cust_chances"])
    ups = np.asarray(up._a["cust_upgrades"])
    raw = (ups + 0.5) / (ch + 1.0)
    rows = []
    for name, mask in (("customers, all", np.ones(ch.size, bool)),
                       ("customers, >=1 chance", ch >= 1),
                       ("customers, >=3 chances", ch >= 3),
                       ("customers, >=5 chances", ch >= 5)):
        rows.append({"segments": label, "unit": name, "n": int(mask.sum()),
                     "model": spearman(p[mask], tr.p_upgrade[mask]),
                     "raw_rate": spearman(raw[mask], tr.p_upgrade[mask])})
    edges = np.quantile(tr.p_upgrade, np.linspace(0, 1, 11)[1:-1])
    dec = np.digitize(tr.p_upgrade, edges)
    gm = np.array([p[dec == d].mean() for d in range(10)])
    gr = np.array([raw[dec == d].mean() for d in range(10)])
    rows.append({"segments": label, "unit": "deciles of true p", "n": 10,
                 "model": spearman(gm, np.arange(10)), "raw_rate": spearman(gr, np.arange(10))})
    tp = np.array([tr.p_upgrade[tr.persona == q].mean() for q in PERSONAS])
    pm = np.array([p[tr.persona == q].mean() for q in PERSONAS])
    pr = np.array([raw[tr.persona == q].mean() for q in PERSONAS])
    rows.append({"segments": label, "unit": "personas (4 groups)", "n": 4,
                 "model": spearman(pm, tp), "raw_rate": spearman(pr, tp)})
    return rows


def cf_models(train) -> dict:
    from upsell.cf import ALS, ItemKNN

    out = {"ItemKNN": ItemKNN().fit(train)}
    try:
        out["ALS"] = ALS(factors=32, iterations=10, num_threads=1).fit(train)
    except ImportError as exc:  # implicit missing
        print(f"(ALS unavailable: {exc})")
    return out


def held_out(shop, split_frac: float = 0.75, k: int = 3, use_cf: bool = True
             ) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Per evaluation, per method: per-request hit (0/1) and margin of hits."""
    tx, cat = shop.transactions, shop.catalog
    t = tx.time
    at = t.min() + (t.max() - t.min()) * split_frac
    train, test = tx.split_at(at)
    cfs = cf_models(train) if use_cf else {}
    evals = {"upgrades": UPGRADE_KINDS, "all offer kinds": ALL_KINDS}
    n_items = len(cat)
    imap = cat.items.encode(tx.items.ids, unknown="mask")
    pop = np.bincount(imap[train.item][imap[train.item] >= 0], minlength=n_items).astype(float)
    in_stock = cat.in_stock
    price = cat.price
    margin = np.nan_to_num(cat.price - cat.cost)
    te_c = test.customer
    te_i = imap[test.item]
    bought_by: dict[int, set[int]] = {}
    for c, i in zip(te_c.tolist(), te_i.tolist(), strict=True):
        if c >= 0 and i >= 0:
            bought_by.setdefault(c, set()).add(i)
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for ev_name, kinds in evals.items():
        models = {
            "UpsellRanker (probability)": UpsellRanker(objective="probability", kinds=kinds),
            "UpsellRanker (margin)": UpsellRanker(objective="margin", kinds=kinds),
        }
        for cf_name, cf in cfs.items():
            models[f"UpsellRanker (probability) + CF {cf_name}"] = UpsellRanker(
                objective="probability", kinds=kinds, affinity=CFAffinity(cf))
        for m in models.values():
            m.fit(train, cat)
        ref = models["UpsellRanker (probability)"]
        a, lad = ref._a, ref.ladders_
        kind_ok = np.isin(lad.kind, [("upgrade", "value_pack", "plan", "alternative").index(x)
                                     for x in kinds])
        hits: dict[str, list[float]] = {n: [] for n in [*models, "cheapest next tier",
                                                        "most popular higher tier",
                                                        "most popular offer"]}
        marg: dict[str, list[float]] = {n: [] for n in hits}
        for c, bought in bought_by.items():
            bases = a["base_item"][a["base_ptr"][c]:a["base_ptr"][c + 1]].tolist()
            owned = set(a["own_item"][a["own_ptr"][c]:a["own_ptr"][c + 1]].tolist())
            targets: set[int] = set()
            higher: set[int] = set()
            nxt: set[int] = set()
            for b in bases:
                s0, s1 = lad.indptr[b], lad.indptr[b + 1]
                tg, kd, ok = lad.target[s0:s1], lad.kind[s0:s1], kind_ok[s0:s1]
                targets.update(tg[ok].tolist())
                higher.update(tg[(kd == 0) | (kd == 3)].tolist())
                ups = tg[kd == 0]
                if ups.size:
                    low = ups[lad.tier[ups] == lad.tier[ups].min()]
                    nxt.add(int(low[np.argmin(price[low])]))
            relevant = (bought & targets) - owned
            if not relevant:
                continue
            cid = tx.customers.ids[c]
            lists: dict[str, list[int]] = {}
            for name, m in models.items():
                lists[name] = cat.items.encode(m.rank(customer=cid, k=k).item).tolist()
            nt = sorted((x for x in nxt - owned if in_stock[x]), key=lambda x: (price[x], x))
            lists["cheapest next tier"] = nt[:k]
            hc = sorted((x for x in higher - owned if in_stock[x]), key=lambda x: (-pop[x], x))
            lists["most popular higher tier"] = hc[:k]
            ac = sorted((x for x in targets - owned if in_stock[x]), key=lambda x: (-pop[x], x))
            lists["most popular offer"] = ac[:k]
            for name, lst in lists.items():
                got = set(lst) & relevant
                hits[name].append(float(bool(got)))
                marg[name].append(float(sum(margin[g] for g in got)))
        out[ev_name] = {n: {"hit": np.array(hits[n]), "margin": np.array(marg[n])}
                        for n in hits}
    return out


def paired_ci(diffs: list[np.ndarray], n_boot: int = 2000, seed: int = 0
              ) -> tuple[float, float, float]:
    """Pooled mean of per-request differences and a percentile bootstrap 95% interval.

    Requests are resampled within each seed's shop (stratified bootstrap).
    """
    rng = np.random.default_rng(seed)
    n = sum(d.size for d in diffs)
    tot = np.zeros(n_boot)
    for d in diffs:
        if d.size:
            tot += d[rng.integers(0, d.size, size=(n_boot, d.size))].sum(axis=1)
    mean = float(sum(d.sum() for d in diffs) / n)
    lo, hi = np.quantile(tot / n, [0.025, 0.975])
    return mean, float(lo), float(hi)


def latency(up: UpsellRanker, shop, n: int = 3000) -> dict:
    cat = shop.catalog
    rng = np.random.default_rng(0)
    with_cands = np.flatnonzero(np.diff(up._a["cand_indptr"]) > 0)
    items = cat.items.ids[rng.choice(with_cands, size=n)]
    custs = shop.transactions.customers.ids[rng.integers(0, len(shop.transactions.customers), n)]
    res = {}
    for label, call in (("rank(item, customer)", lambda j: up.rank(item=items[j],
                                                                    customer=custs[j])),
                        ("rank(customer) owned items", lambda j: up.rank(customer=custs[j]))):
        for j in range(50):
            call(j)
        ts = np.empty(n)
        for j in range(n):
            t0 = time.perf_counter()
            call(j)
            ts[j] = time.perf_counter() - t0
        res[label] = {"p50_us": float(np.median(ts) * 1e6),
                      "p99_us": float(np.quantile(ts, 0.99) * 1e6)}
    return res


def scale(steps: list[int], n_items: int) -> list[dict]:
    rows = []
    for n in steps:
        t0 = time.perf_counter()
        shop = make_shop(n_customers=n, n_items=n_items, n_orders=int(4.8 * n))
        t_shop = time.perf_counter() - t0
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        up = UpsellRanker().fit(shop.transactions, shop.catalog)
        t_fit = time.perf_counter() - t0
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        row = {"customers": n, "items": n_items, "lines": len(shop.transactions),
               "make_shop_s": t_shop, "fit_s": t_fit, "fit_peak_gb": (peak - base) / 1e9,
               "model_gb": (cur - base) / 1e9, "chances": up.n_events_,
               "latency": latency(up, shop, n=2000)}
        rows.append(row)
        print(f"{n:>9,} customers {row['lines']:>11,} lines: fit {t_fit:6.1f} s, peak "
              f"{row['fit_peak_gb']:.2f} GB over the inputs, model {row['model_gb']:.2f} GB; "
              + "; ".join(f"{k} p50 {v['p50_us']:.0f} us p99 {v['p99_us']:.0f} us"
                          for k, v in row["latency"].items()), flush=True)
        del shop, up
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--orders", type=int, default=40000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--no-cf", action="store_true")
    ap.add_argument("--scale", action="store_true", help="only the fit-at-scale measurement")
    ap.add_argument("--scale-steps", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--scale-items", type=int, default=50_000)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "out" / "bench_tiers.json")
    args = ap.parse_args()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    if args.scale:
        rows = scale(args.scale_steps, args.scale_items)
        path = args.json.with_name(args.json.stem + "_scale.json")
        path.write_text(json.dumps({"params": {"steps": args.scale_steps,
                                               "items": args.scale_items}, "scale": rows},
                                   indent=2))
        return
    t0 = time.perf_counter()
    rec: list[dict] = []
    ho: list[dict] = []
    for seed in range(args.seeds):
        shop = make_shop(n_customers=args.customers, n_items=args.items, n_orders=args.orders,
                         random_state=seed)
        r = recovery(shop, None, "none")
        r += recovery(shop, shop.truth.persona, "true persona labels")
        from upsell.segments import Personas

        r += recovery(shop, Personas().fit(shop.transactions, catalog=shop.catalog),
                      "upsell.segments.Personas")
        rec += [x | {"seed": seed} for x in r]
        ho.append(held_out(shop, use_cf=not args.no_cf))
        print(f"seed {seed}: {len(shop.transactions):,} lines, "
              f"{time.perf_counter() - t0:.0f} s so far", flush=True)

    print(f"\nPropensity recovery over {args.seeds} shops: Spearman with the true p_upgrade, "
          "mean [min, max]")
    print(f"{'segments':<26} {'unit':<24} {'model':>22} {'raw rate':>8}")
    keys = sorted({(r["segments"], r["unit"]) for r in rec}, key=lambda x: x[0])
    rec_summary = []
    for sg, unit in keys:
        v = np.array([r["model"] for r in rec if (r["segments"], r["unit"]) == (sg, unit)])
        w = np.array([r["raw_rate"] for r in rec if (r["segments"], r["unit"]) == (sg, unit)])
        rec_summary.append({"segments": sg, "unit": unit, "mean": float(v.mean()),
                            "min": float(v.min()), "max": float(v.max()),
                            "raw_mean": float(w.mean())})
        print(f"{sg:<26} {unit:<24} {v.mean():7.3f} [{v.min():.3f}, {v.max():.3f}] "
              f"{w.mean():8.3f}")

    summary: dict[str, dict] = {}
    for ev in ho[0]:
        methods = list(ho[0][ev])
        n_req = [len(h[ev][methods[0]]["hit"]) for h in ho]
        print(f"\nHeld-out, {ev}: {sum(n_req)} requests over {len(ho)} shops "
              f"({', '.join(map(str, n_req))})")
        print(f"{'method':<44} {'hit@3':>6} {'per seed':>32} {'margin of hits':>15}")
        summary[ev] = {"requests": n_req, "methods": {}}
        for m in methods:
            hs = [h[ev][m]["hit"] for h in ho]
            ms = [h[ev][m]["margin"] for h in ho]
            mean = float(np.concatenate(hs).mean())
            per = [float(x.mean()) for x in hs]
            mm = float(np.concatenate(ms).mean())
            summary[ev]["methods"][m] = {"hit@3": mean, "per_seed": per, "margin": mm}
            print(f"{m:<44} {mean:6.3f} {' '.join(f'{x:.3f}' for x in per):>32} {mm:15.2f}")
        refs = [m for m in ("UpsellRanker (probability)",
                            "UpsellRanker (probability) + CF ALS") if m in methods]
        for ref in refs:
            print(f"paired differences, {ref} minus ... (mean, 95% bootstrap CI)")
            for m in methods:
                if m in refs[:refs.index(ref) + 1] or (ref != refs[0] and m.startswith("Ups")):
                    continue
                d_hit = [h[ev][ref]["hit"] - h[ev][m]["hit"] for h in ho]
                d_mar = [h[ev][ref]["margin"] - h[ev][m]["margin"] for h in ho]
                hit_ci = paired_ci(d_hit)
                mar_ci = paired_ci(d_mar)
                summary[ev]["methods"][m][f"diff_hit vs {ref}"] = hit_ci
                summary[ev]["methods"][m][f"diff_margin vs {ref}"] = mar_ci
                print(f"  {m:<44} hit@3 {hit_ci[0]:+.3f} [{hit_ci[1]:+.3f}, {hit_ci[2]:+.3f}]"
                      f"   margin {mar_ci[0]:+7.2f} [{mar_ci[1]:+.2f}, {mar_ci[2]:+.2f}]")

    shop = make_shop(n_customers=args.customers, n_items=args.items, n_orders=args.orders,
                     random_state=0)
    full = UpsellRanker().fit(shop.transactions, shop.catalog)
    rel = full.reliability(n_bins=10)
    print(f"\nCalibration, seed 0 (out-of-fold, {full.n_events_:,} upgrade chances)")
    print(rel)
    lat = latency(full, shop)
    print("\nrank() latency")
    for k, v in lat.items():
        print(f"{k:<30} p50 {v['p50_us']:7.1f} us   p99 {v['p99_us']:7.1f} us")
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    args.json.write_text(json.dumps({
        "params": vars(args) | {"json": str(args.json)}, "recovery": rec,
        "recovery_summary": rec_summary, "held_out": summary,
        "calibration": rel.to_pandas().to_dict(orient="list"), "ece": rel.ece,
        "latency": lat, "coef": full.coef_}, indent=2))


if __name__ == "__main__":
    main()
