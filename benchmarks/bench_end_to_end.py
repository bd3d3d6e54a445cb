"""End to end: `upsell report` on a large make_shop log, with time and memory per stage.

Writes the shop as CSV files (orders with ``Transactions.to_csv``, the catalog with
the csv module), then runs the command's stages in a child process, the way
``upsell report ORDERS.csv --catalog CATALOG.csv -o report.html`` runs them:
read the orders, read the catalog, each analysis section, write the HTML. Prints
one row per stage (seconds, resident memory after it, peak so far) and writes JSON.

    python benchmarks/bench_end_to_end.py                      # 1M customers, 50k items, ~10M lines
    python benchmarks/bench_end_to_end.py --customers 100000 --items 5000 --orders 480000

No peer: this measures the command itself against the target (under 5 minutes,
peak memory under 8 GB on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _mem() -> tuple[float, float]:
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak (the data writer's) in
    # ru_maxrss across exec, so the child would report it
    with open("/proc/self/status") as fh:
        peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024.0
    with open("/proc/self/statm") as fh:
        rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return rss, peak


def write_data(folder: Path, customers: int, items: int, orders: int, seed: int) -> dict:
    """Write orders.csv and catalog.csv for a make_shop of the given size."""
    from upsell.datasets import make_shop

    t0 = time.perf_counter()
    shop = make_shop(n_customers=customers, n_items=items, n_orders=orders, random_state=seed)
    t1 = time.perf_counter()
    shop.transactions.to_csv(folder / "orders.csv")
    cat = shop.catalog
    cols = {"item": cat.items.ids, **cat.to_arrays()}
    names = [c for c in ("item", "name", "category", "family", "tier", "price", "cost", "stock",
                         "kind", "pack_size", "exclusive", "attaches_to") if c in cols]
    with open(folder / "catalog.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        arrays = [cols[c].tolist() for c in names]
        for row in zip(*arrays, strict=True):
            w.writerow(["" if isinstance(v, float) and v != v else v for v in row])
    t2 = time.perf_counter()
    return {"lines": len(shop.transactions), "make_shop_s": t1 - t0, "write_csv_s": t2 - t1,
            "orders_mb": (folder / "orders.csv").stat().st_size / 2**20}


def run_child(folder: Path, out_json: Path) -> None:
    """Run the report's stages in this process and write their timings (called in a child)."""
    from upsell.data import Catalog, Transactions
    from upsell.report import analyse

    stages: list[dict] = []
    t_all = time.perf_counter()

    def record(name: str, seconds: float, status: str = "ok") -> None:
        rss, peak = _mem()
        stages.append({"stage": name, "seconds": seconds, "rss_mb": rss, "peak_mb": peak,
                       "status": status})
        print(f"  {name:28s} {seconds:8.1f} s  rss {rss:8,.0f} MB  peak {peak:8,.0f} MB  {status}",
              file=sys.stderr, flush=True)

    t = time.perf_counter()
    tx = Transactions.read_csv(folder / "orders.csv")
    record("read orders", time.perf_counter() - t)
    t = time.perf_counter()
    cat = Catalog.read_csv(folder / "catalog.csv")
    record("read catalog", time.perf_counter() - t)
    analysis = analyse(tx, cat, source="orders.csv")
    for s in analysis:
        rss, peak = s.rss_mb, s.peak_mb
        stages.append({"stage": s.name, "seconds": s.seconds, "rss_mb": rss, "peak_mb": peak,
                       "status": s.status, "note": s.note})
        print(f"  {s.name:28s} {s.seconds:8.1f} s  rss {rss:8,.0f} MB  peak {peak:8,.0f} MB  "
              f"{s.status} {s.note[:80] if s.status != 'ok' else ''}", file=sys.stderr, flush=True)
    t = time.perf_counter()
    analysis.save_html(folder / "report.html")
    record("write HTML", time.perf_counter() - t)
    total = time.perf_counter() - t_all
    out_json.write_text(json.dumps({"stages": stages, "total_s": total,
                                    "peak_mb": _mem()[1]}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--orders", type=int, default=4_800_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", help="keep the data here (default: a temporary folder)")
    ap.add_argument("--json", default=str(HERE / "out" / "bench_end_to_end.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_child(Path(args.child), Path(args.json))
        return
    tmp = None
    if args.workdir:
        folder = Path(args.workdir)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="upsell-e2e-")
        folder = Path(tmp.name)
    try:
        if not (folder / "orders.csv").exists():
            print(f"writing make_shop({args.customers:,} customers, {args.items:,} items, "
                  f"{args.orders:,} orders) to {folder}", file=sys.stderr)
            info = write_data(folder, args.customers, args.items, args.orders, args.seed)
            print(f"  {info['lines']:,} lines, {info['orders_mb']:,.0f} MB "
                  f"(make_shop {info['make_shop_s']:.1f} s, CSV {info['write_csv_s']:.1f} s)",
                  file=sys.stderr)
        else:
            info = {}
        child_json = folder / "child.json"
        print("upsell report stages (child process):", file=sys.stderr)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", str(folder), "--json",
                        str(child_json)], check=True)
        wall = time.perf_counter() - t0
        res = json.loads(child_json.read_text())
        res.update({"wall_s": wall, "data": info, "customers": args.customers,
                    "items": args.items, "orders": args.orders})
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1))
        stages = res["stages"]
        slowest = max(stages, key=lambda s: s["seconds"])
        print("\n| stage | seconds | share | RSS after (MB) | peak so far (MB) | status |")
        print("|---|---:|---:|---:|---:|---|")
        for s in stages:
            print(f"| {s['stage']} | {s['seconds']:.1f} | {s['seconds'] / res['total_s']:.0%} | "
                  f"{s['rss_mb']:,.0f} | {s['peak_mb']:,.0f} | {s['status']} |")
        print(f"| **total** (child wall {wall:.1f} s) | **{res['total_s']:.1f}** | 100% | | "
              f"**{res['peak_mb']:,.0f}** | |")
        print(f"\nslowest stage: {slowest['stage']} ({slowest['seconds']:.1f} s); "
              f"target: total < 300 s, peak < 8,192 MB -> "
              f"{'met' if res['total_s'] < 300 and res['peak_mb'] < 8192 else 'NOT met'}")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
