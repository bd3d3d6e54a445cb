"""Upsell ranker on make_shop: true-propensity recovery, hit@3 against rule baselines, latency.

Three measurements on one synthetic shop whose generator knows every customer's
true upgrade probability (``shop.truth.p_upgrade``):

1. Propensity recovery: Spearman between ``UpsellRanker.customer_propensity`` (fitted
   on all history) and the true p_upgrade, per customer (all; with >= 1, 3, 5
   observed upgrade chances), per decile of true p_upgrade and per persona; next to
   the smoothed raw upgrade rate (upgrades / chances) as the naive estimate.
2. Held-out upgrades (temporal split at 75% of the period): for each customer who,
   after the split, bought a higher tier (same family) or a high-end alternative
   of an item they owned before it, rank offers for what they own (k=3). hit@3 =
   share of those customers with a bought item among the three. Baselines on the
   same bases and the same in-stock items: "cheapest next tier" (the next tier of
   every owned ladder item, cheapest first) and "most popular higher tier" (higher
   tiers and alternatives of owned items, most bought in train first).
3. rank() latency p50/p99 for one item and for a customer's owned items.

Usage: python benchmarks/bench_tiers.py [--customers 2000] [--orders 40000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from upsell.datasets import PERSONAS, make_shop
from upsell.tiers import UpsellRanker


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


def held_out(shop, split_frac: float = 0.75, k: int = 3) -> tuple[list[dict], UpsellRanker]:
    tx, cat = shop.transactions, shop.catalog
    t = tx.time
    at = t.min() + (t.max() - t.min()) * split_frac
    train, test = tx.split_at(at)
    kinds = ("upgrade", "alternative")
    models = {
        "UpsellRanker (probability)": UpsellRanker(objective="probability", kinds=kinds),
        "UpsellRanker (margin)": UpsellRanker(objective="margin", kinds=kinds),
    }
    for m in models.values():
        m.fit(train, cat)
    ref = models["UpsellRanker (probability)"]
    a = ref._a
    lad = ref.ladders_
    n_items = len(cat)
    imap = cat.items.encode(tx.items.ids, unknown="mask")
    # popularity in train (lines)
    pop = np.bincount(imap[train.item], minlength=n_items).astype(float)
    in_stock = cat.in_stock
    price = cat.price
    # next tier of every ladder item: the cheapest item of the lowest higher tier
    nxt = np.full(n_items, -1)
    src = lad.source
    up_e = lad.kind == 0
    for b in np.unique(src[up_e]).tolist():
        s0, s1 = lad.indptr[b], lad.indptr[b + 1]
        tg = lad.target[s0:s1][lad.kind[s0:s1] == 0]
        tg = tg[tg != b]
        lowest = tg[lad.tier[tg] == lad.tier[tg].min()]
        nxt[b] = lowest[np.argmin(price[lowest])]
    # relevant: higher tiers / alternatives of owned bases bought after the split
    te_c = test.customer
    te_i = imap[test.item]
    rows_by_c: dict[int, set[int]] = {}
    for c, i in zip(te_c.tolist(), te_i.tolist(), strict=True):
        if c >= 0 and i >= 0:
            rows_by_c.setdefault(c, set()).add(i)
    hits = {name: 0 for name in [*models, "cheapest next tier", "most popular higher tier"]}
    n_req = 0
    for c, bought in rows_by_c.items():
        b0, b1 = a["base_ptr"][c], a["base_ptr"][c + 1]
        bases = a["base_item"][b0:b1]
        o0, o1 = a["own_ptr"][c], a["own_ptr"][c + 1]
        owned = set(a["own_item"][o0:o1].tolist())
        higher: set[int] = set()
        for b in bases.tolist():
            s0, s1 = lad.indptr[b], lad.indptr[b + 1]
            sel = (lad.kind[s0:s1] == 0) | (lad.kind[s0:s1] == 3)
            higher.update(lad.target[s0:s1][sel].tolist())
        relevant = (bought & higher) - owned
        if not relevant:
            continue
        n_req += 1
        cid = tx.customers.ids[c]
        for name, m in models.items():
            got = set(cat.items.encode(m.rank(customer=cid, k=k).item).tolist())
            hits[name] += bool(got & relevant)
        cand = np.array(sorted(higher - owned), dtype=np.int64)
        cand = cand[in_stock[cand]] if cand.size else cand
        nt = np.unique(nxt[bases[nxt[bases] >= 0]])
        nt = np.array([x for x in nt.tolist() if in_stock[x] and x not in owned], dtype=np.int64)
        cheap = nt[np.lexsort((nt, price[nt]))][:k] if nt.size else nt
        hits["cheapest next tier"] += bool(set(cheap.tolist()) & relevant)
        popular = cand[np.lexsort((cand, -pop[cand]))][:k] if cand.size else cand
        hits["most popular higher tier"] += bool(set(popular.tolist()) & relevant)
    out = [{"method": name, "hit@3": h / max(n_req, 1), "requests": n_req}
           for name, h in hits.items()]
    return out, ref


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--orders", type=int, default=40000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "out" / "bench_tiers.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    shop = make_shop(n_customers=args.customers, n_items=args.items, n_orders=args.orders,
                     random_state=args.seed)
    print(f"make_shop(n_customers={args.customers}, n_items={args.items}, "
          f"n_orders={args.orders}, random_state={args.seed}): {len(shop.transactions):,} lines")

    rec = recovery(shop, None, "none")
    rec += recovery(shop, shop.truth.persona, "true persona labels")
    try:
        from upsell.segments import Personas

        pers = Personas().fit(shop.transactions, catalog=shop.catalog)
        rec += recovery(shop, pers, "upsell.segments.Personas")
    except (ImportError, AttributeError) as exc:
        print(f"(upsell.segments.Personas unavailable: {exc})")
    print("\nPropensity recovery: Spearman with the true p_upgrade")
    print(f"{'segments':<26} {'unit':<24} {'n':>6} {'model':>7} {'raw rate':>9}")
    for r in rec:
        print(f"{r['segments']:<26} {r['unit']:<24} {r['n']:>6} {r['model']:>7.3f} "
              f"{r['raw_rate']:>9.3f}")

    ho, _ = held_out(shop)
    print(f"\nHeld-out upgrades (temporal split at 75%), {ho[0]['requests']} customers")
    print(f"{'method':<30} {'hit@3':>6}")
    for r in ho:
        print(f"{r['method']:<30} {r['hit@3']:>6.3f}")

    full = UpsellRanker().fit(shop.transactions, shop.catalog)
    rel = full.reliability(n_bins=10)
    print(f"\nCalibration (out-of-fold, {full.n_events_:,} upgrade chances)")
    print(rel)
    lat = latency(full, shop)
    print("\nrank() latency")
    for k, v in lat.items():
        print(f"{k:<30} p50 {v['p50_us']:7.1f} us   p99 {v['p99_us']:7.1f} us")
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "params": vars(args) | {"json": str(args.json)}, "recovery": rec, "held_out": ho,
        "calibration": rel.to_pandas().to_dict(orient="list"), "ece": rel.ece,
        "latency": lat, "coef": full.coef_}, indent=2))


if __name__ == "__main__":
    main()
