"""Quantity breaks (``upsell.tiers.quantity_breaks``): time, memory and what is found.

1. Online Retail (``DATA_DIR/online-retail``), the README's columns, fees and services left
   out: breaks found, lines within reach, take-up, time (median of ``--repeats``) and the
   tracemalloc peak of the call.
2. A synthetic shop of ``--lines`` lines (seeded): ``--items`` items, a quarter without a
   break and the rest with one at 12, 24 or 32 units (15% off), 10% of the lines discounted
   20% at any quantity. Recall of the planted breaks and breaks found where none was planted.
3. ``make_shop`` (prices independent of the quantity): breaks found (should be none).

No peer library reads volume prices from order lines; the reference points are the planted
truth and the demo shop's none.

Usage: python benchmarks/bench_breaks.py ../shared/data [--lines 1e7] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

import upsell as us
from upsell.tiers import quantity_breaks

COLUMNS = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
           "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate",
           "name": "Description"}


def timed(tx: us.Transactions, repeats: int, **kwargs: object) -> tuple[object, float, float]:
    """The result, the median seconds of ``repeats`` calls and the tracemalloc peak (MB)."""
    secs = []
    for _ in range(repeats):
        t = time.perf_counter()
        br = quantity_breaks(tx, **kwargs)
        secs.append(time.perf_counter() - t)
    tracemalloc.start()
    quantity_breaks(tx, **kwargs)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return br, statistics.median(secs), peak


def synthetic(n: int, n_items: int, seed: int = 0) -> tuple[us.Transactions, np.ndarray]:
    rng = np.random.default_rng(seed)
    item = rng.integers(n_items, size=n)
    qty = rng.choice([1, 2, 3, 4, 6, 8, 12, 24, 32, 48], size=n,
                     p=[.3, .2, .1, .1, .1, .05, .05, .04, .03, .03])
    base = np.round(rng.uniform(0.5, 20, n_items), 2)
    brk = rng.choice([0, 12, 24, 32], size=n_items)
    price = np.where((brk[item] > 0) & (qty >= brk[item]), np.round(base[item] * 0.85, 2),
                     base[item])
    price = np.where(rng.random(n) < 0.1, np.round(price * 0.8, 2), price)
    order = np.arange(n) // 20
    cust = rng.integers(max(n // 25, 2), size=order[-1] + 1)[order]
    when = (np.datetime64("2023-01-01", "s")
            + rng.integers(0, 400 * 86400, size=order[-1] + 1))[order]
    tx = us.Transactions.from_arrays(order=order, item=item, quantity=qty, price=price,
                                     customer=cust, time=when)
    return tx, brk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", type=Path, help="the shared data folder")
    ap.add_argument("--lines", type=float, default=1e6)
    ap.add_argument("--items", type=int, default=60_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path,
                    default=Path(__file__).parent / "out" / "bench_breaks.json")
    args = ap.parse_args()
    rows = []
    print(f"{'data':<34} {'lines':>11} {'breaks':>7} {'products':>8} {'median s':>9} "
          f"{'peak MB':>8}  found")
    if args.data is not None:
        path = args.data / "online-retail" / "online_retail_2010-12_to_2011-09.csv.gz"
        tx = us.Transactions.read_csv(path, columns=COLUMNS, cancel_prefix="C")
        br, s, peak = timed(tx, args.repeats, exclude=us.data.non_product_items(tx).items)
        near, taken = int(np.sum(br.near)), int(np.sum(br.taken))
        found = (f"median saving {np.median(br.saving):.1%}; {near:,} lines within reach, "
                 f"{taken / max(near, 1):.0%} later bought at the break")
        rows.append({"data": "online retail", "lines": len(tx), "breaks": len(br),
                     "products": int(np.unique(br.item).size), "s": s, "peak_mb": peak,
                     "near": near, "taken": taken})
        print(f"{'Online Retail':<34} {len(tx):>11,} {len(br):>7,} "
              f"{rows[-1]['products']:>8,} {s:>9.2f} {peak:>8.0f}  {found}")
    tx, brk = synthetic(int(args.lines), args.items)
    br, s, peak = timed(tx, args.repeats)
    found_ids = set(br.item.tolist())
    planted = set(np.flatnonzero(brk > 0).tolist())
    recall = len(found_ids & planted) / max(len(planted), 1)
    false = len(found_ids - planted)
    rows.append({"data": "synthetic", "lines": len(tx), "breaks": len(br),
                 "products": len(found_ids), "s": s, "peak_mb": peak, "planted": len(planted),
                 "recall": recall, "false": false})
    print(f"{'synthetic, planted breaks':<34} {len(tx):>11,} {len(br):>7,} {len(found_ids):>8,} "
          f"{s:>9.2f} {peak:>8.0f}  recall {recall:.1%} of {len(planted):,}; {false} false")
    shop = us.datasets.make_shop(random_state=0)
    br, s, peak = timed(shop.transactions, args.repeats)
    rows.append({"data": "make_shop", "lines": len(shop.transactions), "breaks": len(br),
                 "s": s, "peak_mb": peak})
    print(f"{'make_shop (no breaks in its prices)':<34} {len(shop.transactions):>11,} "
          f"{len(br):>7,} {'':>8} {s:>9.3f} {peak:>8.0f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
