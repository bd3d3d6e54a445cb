"""Time and peak memory of ``make_shop`` at scale (default: about 10 million order lines).

Runs the generator in a child process per repeat so each peak-memory reading
(``ru_maxrss`` of that child) belongs to one call. Prints a table and writes JSON.

    python benchmarks/bench_make_shop.py                       # 1M customers, 50k items
    python benchmarks/bench_make_shop.py --customers 100000 --items 5000 --orders 480000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import time
from pathlib import Path
from typing import Any


def _run(args: dict[str, Any], out: Any) -> None:
    from upsell.datasets import make_shop

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    shop = make_shop(n_customers=args["customers"], n_items=args["items"],
                     n_orders=args["orders"], random_state=args["seed"])
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tx = shop.transactions
    out.put({"seconds": seconds, "peak_gb": peak / 1e6, "baseline_gb": before / 1e6,
             "lines": len(tx), "orders": len(tx.orders), "customers": len(tx.customers),
             "items": len(shop.catalog), "rows_read": tx.report.rows_read})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--orders", type=int, default=4_800_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", type=Path, default=Path(__file__).with_name("bench_make_shop.json"))
    args = vars(ap.parse_args())
    ctx = mp.get_context("spawn")
    results = []
    for _ in range(args["repeats"]):
        q = ctx.Queue()
        proc = ctx.Process(target=_run, args=(args, q))
        proc.start()
        res = q.get()
        proc.join()
        results.append(res)
    last = results[-1]
    secs = [r["seconds"] for r in results]
    print(f"make_shop(n_customers={args['customers']:,}, n_items={args['items']:,}, "
          f"n_orders={args['orders']:,})")
    print(f"{'lines':>12} {'orders':>10} {'customers':>10} {'median s':>9} {'peak GB':>8} "
          f"{'lines/s':>11}")
    med = statistics.median(secs)
    print(f"{last['lines']:>12,} {last['orders']:>10,} {last['customers']:>10,} "
          f"{med:>9.1f} {max(r['peak_gb'] for r in results):>8.2f} "
          f"{last['lines'] / med:>11,.0f}")
    args["json"].write_text(json.dumps({"params": {k: v for k, v in args.items() if k != "json"},
                                        "runs": results}, indent=2))


if __name__ == "__main__":
    main()
