"""The same pipeline through Spark local mode and through the local engine, stage by stage.

A make_shop log (default 4.8M orders, about 10M lines) is written once as Parquet;
then each engine runs: read + clean, frequent itemsets, rules, implicit ALS, RFM
and the CLV summary. Prints a table of wall time and peak memory per stage and
writes JSON.

    python benchmarks/bench_spark.py                          # ~10M lines (needs ~6 GB)
    python benchmarks/bench_spark.py --orders 480000          # ~1M lines

Peak memory is the peak resident set of this process and all its children (the
Spark JVM and its Python workers) sampled every 50 ms during the stage, so the
Spark figure includes the JVM heap Spark chose to fill, not only what it needed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import upsell as us
import upsell.spark as uss


def _tree_rss() -> int:
    """Resident bytes of this process and its descendants (Linux /proc)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/statm") as fh:
                rss[int(name)] = int(fh.read().split()[1]) * page
            parents[int(name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [me]
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        todo.extend(p for p, pp in parents.items() if pp == pid)
    return total


class _Peak:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss())
            self._stop.wait(0.05)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss())


def _stage(results: dict[str, dict[str, Any]], engine: str, name: str,
           fn: Callable[[], Any]) -> Any:
    with _Peak() as peak:
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
    results.setdefault(name, {})[engine] = {"seconds": dt, "peak_mb": peak.peak / 2**20}
    print(f"  {engine:<6} {name:<12} {dt:8.1f} s  {peak.peak / 2**30:5.2f} GB", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=4_800_000)
    ap.add_argument("--customers", type=int, default=None, help="default: orders / 5")
    ap.add_argument("--items", type=int, default=2_000)
    ap.add_argument("--min-support", type=float, default=0.0005)
    ap.add_argument("--min-confidence", type=float, default=0.3)
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--driver-memory", default="3g")
    ap.add_argument("--out", default=str(Path(__file__).with_name("out") / "bench_spark.json"))
    args = ap.parse_args(argv)
    customers = args.customers or max(args.orders // 5, 100)

    print(f"make_shop: {args.orders:,} orders, {customers:,} customers, {args.items:,} items")
    t = time.perf_counter()
    shop = us.datasets.make_shop(n_customers=customers, n_items=args.items,
                                 n_orders=args.orders, random_state=0)
    tx0 = shop.transactions
    n_lines = len(tx0)
    print(f"  {n_lines:,} lines in {time.perf_counter() - t:.0f} s")
    tmp = Path(tempfile.mkdtemp(prefix="bench_spark_"))
    parquet = tmp / "lines.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    cust = np.empty(n_lines, dtype=object)
    c = tx0.customer
    cust[c >= 0] = tx0.customers.ids[c[c >= 0]]
    table = pa.table({"order": tx0.orders.ids[tx0.order], "item": tx0.items.ids[tx0.item],
                      "customer": pa.array(cust, type=pa.string()), "quantity": tx0.quantity,
                      "price": tx0.price, "time": tx0.time.astype("datetime64[us]"),
                      "channel": tx0.channels.ids[tx0.channel] if tx0.channels is not None
                      else None})
    pq.write_table(table, parquet)
    del shop, tx0, cust, c
    results: dict[str, dict[str, Any]] = {}
    cal = "2024-06-30"

    print("local engine")
    tx = _stage(results, "local", "read+clean",
                lambda: us.Transactions.from_arrow(pq.read_table(parquet)))
    fi = _stage(results, "local", "itemsets",
                lambda: us.bundles.frequent_itemsets(tx, min_support=args.min_support))
    rules = _stage(results, "local", "rules", lambda: us.bundles.association_rules(
        fi, min_confidence=args.min_confidence))
    _stage(results, "local", "als", lambda: us.cf.ALS(
        factors=args.factors, iterations=args.iterations, num_threads=2).fit(tx))
    _stage(results, "local", "rfm", lambda: us.segments.rfm(tx))
    _stage(results, "local", "clv inputs", lambda: us.kpi.rfm_summary(tx, calibration_end=cal))
    n_local = (len(fi), len(rules))

    print("spark local[2]")
    spark = uss.local_session(cores=2, driver_memory=args.driver_memory, shuffle_partitions=8)
    spark.sparkContext.setLogLevel("ERROR")
    stx = _stage(results, "spark", "read+clean",
                 lambda: uss.from_spark(spark.read.parquet(str(parquet))))
    sfi = _stage(results, "spark", "itemsets",
                 lambda: uss.frequent_itemsets(stx, min_support=args.min_support))
    srules = _stage(results, "spark", "rules", lambda: uss.association_rules(
        sfi, min_confidence=args.min_confidence))
    _stage(results, "spark", "als", lambda: uss.SparkALS(
        factors=args.factors, iterations=args.iterations).fit(stx))
    _stage(results, "spark", "rfm", lambda: uss.rfm(stx))
    _stage(results, "spark", "clv inputs", lambda: uss.rfm_summary(stx, calibration_end=cal))
    n_spark = (len(sfi), len(srules))
    spark.stop()

    print(f"\nitemsets / rules: local {n_local}, spark {n_spark} (equal: {n_local == n_spark})")
    print("\n| stage | local s | spark s | spark / local | local peak GB | spark peak GB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        lo, sp_ = r["local"], r["spark"]
        print(f"| {name} | {lo['seconds']:.1f} | {sp_['seconds']:.1f} | "
              f"{sp_['seconds'] / lo['seconds']:.1f} | {lo['peak_mb'] / 1024:.2f} | "
              f"{sp_['peak_mb'] / 1024:.2f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "args": vars(args), "lines": n_lines, "machine": platform.platform(),
        "cpus": os.cpu_count(), "counts": {"local": n_local, "spark": n_spark},
        "stages": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
