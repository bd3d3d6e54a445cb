"""Ingest benchmark: ``Transactions.read_csv`` against ``pandas.read_csv`` + ``factorize``.

Makes (or takes with ``--csv``) an order-line CSV with the columns order, item,
customer, quantity, price, time, then reads it in separate child processes so
that each reader's peak memory (``VmHWM`` of the child) is its own:

(a) ``upsell.Transactions.read_csv`` (parsing, id indexes, cleaning rules);
(b) ``pandas.read_csv`` + ``pandas.factorize`` of order, item and customer +
    ``pandas.to_datetime`` of time (parsing and id codes only, no cleaning).

Each reader runs ``--repeats`` times; the table shows the median lines/second,
the largest peak memory and the ratios upsell / pandas. Results go to
``benchmarks/out/bench_ingest.json``.

Usage::

    python benchmarks/bench_ingest.py --lines 10000000
    python benchmarks/bench_ingest.py --csv orders.csv
    python benchmarks/bench_ingest.py --lines 10000000 --generator numpy  # no make_shop
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

# Peak resident memory of the child's own address space. ru_maxrss is not that: Linux
# carries the parent's high-water mark across fork + exec, so a child started after
# make_shop built the CSV would report the parent's gigabytes. VmHWM starts afresh at exec.
_PEAK = """
import resource
def peak_kb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

_CHILD_UPSELL = _PEAK + """
import sys, time
from upsell import Transactions
t0 = time.perf_counter()
tx = Transactions.read_csv(sys.argv[1])
dt = time.perf_counter() - t0
print(dt, tx.report.rows_read, peak_kb(), "-")
"""

_CHILD_PANDAS = _PEAK + """
import sys, time
import pandas as pd
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
codes = {c: pd.factorize(df[c])[0] for c in ("order", "item", "customer")}
t = pd.to_datetime(df["time"], format="ISO8601")
dt = time.perf_counter() - t0
storage = getattr(df["item"].dtype, "storage", str(df["item"].dtype))
print(dt, len(df), peak_kb(), storage)
"""


def make_csv_numpy(path: Path, lines: int, seed: int = 0) -> None:
    """Write an Online-Retail-like order CSV with numpy only (used when make_shop is absent)."""
    rng = np.random.default_rng(seed)
    chunk = 1_000_000
    n_items, n_customers = 4_000, 100_000
    item_codes = np.char.add(rng.integers(10_000, 99_999, n_items).astype(str),
                             rng.choice(["", "", "A", "B", "C"], n_items))
    item_price = np.round(rng.lognormal(1.0, 0.8, n_items), 2) + 0.01
    order_no = 536_365
    start = np.datetime64("2010-12-01T08:00:00")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("order,item,customer,quantity,price,time\n")
        written = 0
        while written < lines:
            n = min(chunk, lines - written)
            sizes = rng.geometric(0.2, n)  # lines per order
            order = np.repeat(np.arange(order_no, order_no + n), sizes)[:n]
            order_no = int(order[-1]) + 1
            first = np.r_[True, order[1:] != order[:-1]]
            cust_per_order = rng.integers(12_346, 12_346 + n_customers, n).astype(str)
            cust_per_order[rng.random(n) < 0.03] = ""  # anonymous orders
            customer = cust_per_order[np.cumsum(first) - 1]
            item_i = np.minimum(rng.zipf(1.3, n) - 1, n_items - 1)
            quantity = rng.integers(1, 25, n)
            quantity[rng.random(n) < 0.02] *= -1  # returns
            seconds = (order - 536_365) * 97
            stamp = np.datetime_as_string(start + seconds.astype("timedelta64[s]"), unit="s")
            stamp = np.char.replace(stamp, "T", " ")
            cols = [order.astype(str), item_codes[item_i], customer, quantity.astype(str),
                    item_price[item_i].astype(str), stamp]
            line = cols[0]
            for c in cols[1:]:
                line = np.strings.add(np.strings.add(line, ","), c)
            fh.write("\n".join(line.tolist()))
            fh.write("\n")
            written += n


def make_csv(path: Path, lines: int, generator: str) -> str:
    """Write the benchmark CSV; return the generator used."""
    if generator in ("auto", "make_shop"):
        try:
            from upsell.datasets import make_shop
        except ImportError:
            if generator == "make_shop":
                raise
        else:
            # about 2.1 lines per order (make_shop's docstring)
            n_orders = max(2_000, round(lines / 2.08))
            shop = make_shop(n_customers=max(2_000, n_orders // 20), n_items=5_000,
                             n_orders=n_orders, random_state=0)
            shop.transactions.to_csv(path)
            return "make_shop"
    make_csv_numpy(path, lines)
    return "numpy"


def run_child(code: str, csv_path: Path) -> dict[str, float | str]:
    """Run one reader in a fresh interpreter; return its time, lines and peak memory."""
    out = subprocess.run([sys.executable, "-c", code, str(csv_path)], check=True,
                         capture_output=True, text=True).stdout.split()
    seconds, lines, maxrss_kb, storage = float(out[0]), int(out[1]), int(out[2]), out[3]
    return {"seconds": seconds, "lines": lines, "peak_mb": maxrss_kb / 1024,
            "storage": storage}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, help="read this CSV instead of making one")
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--generator", choices=("auto", "make_shop", "numpy"), default="auto")
    parser.add_argument("--keep", action="store_true", help="keep the generated CSV")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    made = args.csv is None
    csv_path = args.csv or OUT / f"orders_{args.lines}.csv"
    generator = "given"
    if made:
        t0 = time.perf_counter()
        generator = make_csv(csv_path, args.lines, args.generator)
        print(f"wrote {csv_path} ({csv_path.stat().st_size / 1e6:,.0f} MB) with {generator} "
              f"in {time.perf_counter() - t0:.1f} s")
    results: dict[str, list[dict[str, float | str]]] = {"upsell": [], "pandas": []}
    try:
        for _ in range(args.repeats):  # interleaved, so load changes hit both alike
            results["upsell"].append(run_child(_CHILD_UPSELL, csv_path))
            results["pandas"].append(run_child(_CHILD_PANDAS, csv_path))
    finally:
        if made and not args.keep:
            csv_path.unlink(missing_ok=True)
    summary = {}
    for name, runs in results.items():
        secs = statistics.median(float(r["seconds"]) for r in runs)
        lines = int(runs[0]["lines"])
        summary[name] = {"median_s": secs, "lines_per_s": lines / secs,
                         "peak_mb": max(float(r["peak_mb"]) for r in runs),
                         "lines": lines, "runs": runs}
    up, pd_ = summary["upsell"], summary["pandas"]
    storage = results["pandas"][0]["storage"]
    print(f"\n{'reader':<44} {'lines/s (median)':>17} {'peak MB':>9}")
    print(f"{'upsell Transactions.read_csv':<44} {up['lines_per_s']:>17,.0f} "
          f"{up['peak_mb']:>9,.0f}")
    print(f"{'pandas read_csv + factorize + to_datetime':<44} {pd_['lines_per_s']:>17,.0f} "
          f"{pd_['peak_mb']:>9,.0f}")
    print(f"{'ratio upsell / pandas':<44} {up['lines_per_s'] / pd_['lines_per_s']:>17.2f} "
          f"{up['peak_mb'] / pd_['peak_mb']:>9.2f}")
    print(f"(pandas string storage: {storage}; upsell rows read {up['lines']:,}, "
          f"pandas rows {pd_['lines']:,})")
    import pandas

    record = {
        "csv": str(csv_path), "generator": generator, "repeats": args.repeats,
        "python": platform.python_version(), "numpy": np.__version__,
        "pandas": pandas.__version__, "pandas_string_storage": storage,
        "cpus": os.cpu_count(), "results": summary,
        "ratio_speed": up["lines_per_s"] / pd_["lines_per_s"],
        "ratio_peak_memory": up["peak_mb"] / pd_["peak_mb"],
        "parent_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    (OUT / "bench_ingest.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
