"""Ingest benchmark: ``Transactions.read_csv`` against pandas and raw pyarrow, same run.

Reads order-line CSV files in separate child processes so that each reader's
peak memory (``VmHWM`` of the child) is its own. The inputs are, by default:

* ``make_shop``: a CSV written by :func:`upsell.datasets.make_shop` (ids like
  ``O0000001``, ISO times with ``T``, a channel column);
* ``numpy``: an Online-Retail-shaped CSV written with numpy alone (integer
  orders and customers, 3% anonymous lines, 2% returns);
* ``online-retail``: the real UCI Online Retail file when it is present
  (``../shared/data/online-retail/...csv.gz``, or ``--real PATH``).

Readers:

(a) ``upsell``: ``upsell.Transactions.read_csv`` (parsing, id indexes, cleaning rules);
(b) ``upsell-baseline`` (with ``--baseline-src DIR``): the same call on another
    source tree, e.g. the commit before the pyarrow reader, for a before/after
    ratio measured in the same run;
(c) ``pandas``: ``pandas.read_csv`` + ``pandas.factorize`` of the id columns +
    ``pandas.to_datetime`` of time (parsing and id codes only, no cleaning);
(d) ``pyarrow``: ``pyarrow.csv.read_csv`` + ``dictionary_encode`` of the id
    columns (parsing and id codes only, no cleaning, time left to pyarrow's
    own inference).

Each reader runs ``--repeats`` times, interleaved; the table shows the median
and best seconds, the median CPU seconds (all threads of the child), lines per
second (median), the largest peak memory, and for each peer how many times
faster upsell is (its median time / upsell's, in wall and in CPU seconds: the
CPU ratio moves less when other work shares the machine) and upsell's peak
memory as a fraction of the peer's. Each table's header gives the 1-minute load
average before and after its runs.
Results go to ``benchmarks/out/bench_ingest.json``.

Usage::

    python benchmarks/bench_ingest.py --lines 3000000
    python benchmarks/bench_ingest.py --lines 3000000 --baseline-src /tmp/old/src
    python benchmarks/bench_ingest.py --csv orders.csv
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
REAL = (HERE.parent.parent / "shared" / "data" / "online-retail"
        / "online_retail_2010-12_to_2011-09.csv.gz")
REAL_COLUMNS = {"order": "InvoiceNo", "item": "StockCode", "quantity": "Quantity",
                "time": "InvoiceDate", "price": "UnitPrice", "customer": "CustomerID",
                "channel": "Country"}
ID_ROLES = ("order", "item", "customer", "channel")

# Peak resident memory of the child's own address space. ru_maxrss is not that: Linux
# carries the parent's high-water mark across fork + exec, so a child started after
# make_shop built the CSV would report the parent's gigabytes. VmHWM starts afresh at exec.
_PEAK = """
import json, resource, sys, time
def peak_kb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
path, columns = sys.argv[1], json.loads(sys.argv[2])
ids = [columns[r] for r in ("order", "item", "customer", "channel") if r in columns]
"""

_CHILD_UPSELL = _PEAK + """
from upsell import Transactions
t0, c0 = time.perf_counter(), time.process_time()
tx = Transactions.read_csv(path, columns=columns)
dt, dc = time.perf_counter() - t0, time.process_time() - c0
print(dt, tx.report.rows_read, peak_kb(), "-", dc)
"""

_CHILD_PANDAS = _PEAK + """
import pandas as pd
t0, c0 = time.perf_counter(), time.process_time()
df = pd.read_csv(path, usecols=list(columns.values()))
codes = {c: pd.factorize(df[c])[0] for c in ids}
t = pd.to_datetime(df[columns["time"]], format="ISO8601")
dt, dc = time.perf_counter() - t0, time.process_time() - c0
col = df[columns["item"]]
storage = getattr(col.dtype, "storage", str(col.dtype))
print(dt, len(df), peak_kb(), storage, dc)
"""

_CHILD_PYARROW = _PEAK + """
import pyarrow.csv as pc, pyarrow.compute as pcc
t0, c0 = time.perf_counter(), time.process_time()
t = pc.read_csv(path, convert_options=pc.ConvertOptions(include_columns=list(columns.values())))
codes = {c: pcc.dictionary_encode(t.column(c)) for c in ids}
dt, dc = time.perf_counter() - t0, time.process_time() - c0
print(dt, t.num_rows, peak_kb(), str(t.schema.field(columns["time"]).type).replace(" ", ""), dc)
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
    """Write the benchmark CSV with ``generator`` ("make_shop" or "numpy"); return its name."""
    if generator == "make_shop":
        from upsell.datasets import make_shop

        # about 2.1 lines per order (make_shop's docstring)
        n_orders = max(2_000, round(lines / 2.08))
        shop = make_shop(n_customers=max(2_000, n_orders // 20), n_items=5_000,
                         n_orders=n_orders, random_state=0)
        shop.transactions.to_csv(path)
        return "make_shop"
    make_csv_numpy(path, lines)
    return "numpy"


def header_columns(path: Path) -> dict[str, str]:
    """Role -> column for a generated file (its headers are the role names)."""
    import gzip

    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        head = fh.readline().strip().split(",")
    return {h: h for h in head if h in ("order", "item", "customer", "quantity", "price",
                                         "time", "channel")}


def run_child(code: str, csv_path: Path, columns: dict[str, str],
              pythonpath: str | None = None) -> dict[str, float | str]:
    """Run one reader in a fresh interpreter; return its time, lines and peak memory."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code, str(csv_path), json.dumps(columns)],
                         check=True, capture_output=True, text=True, env=env).stdout.split()
    seconds, lines, maxrss_kb, note = float(out[0]), int(out[1]), int(out[2]), out[3]
    cpu = float(out[4]) if len(out) > 4 else float("nan")
    return {"seconds": seconds, "lines": lines, "peak_mb": maxrss_kb / 1024, "note": note,
            "cpu_s": cpu}


def bench_file(label: str, csv_path: Path, columns: dict[str, str], repeats: int,
               baseline: str | None) -> dict[str, dict[str, object]]:
    readers: list[tuple[str, str, str | None]] = [("upsell", _CHILD_UPSELL, None)]
    if baseline:
        readers.append(("upsell-baseline", _CHILD_UPSELL, baseline))
    readers += [("pandas", _CHILD_PANDAS, None), ("pyarrow", _CHILD_PYARROW, None)]
    runs: dict[str, list[dict[str, float | str]]] = {name: [] for name, _, _ in readers}
    load_before = os.getloadavg()
    for _ in range(repeats):  # interleaved, so load changes hit all alike
        for name, code, pp in readers:
            runs[name].append(run_child(code, csv_path, columns, pp))
    summary: dict[str, dict[str, object]] = {}
    for name, rs in runs.items():
        secs = statistics.median(float(r["seconds"]) for r in rs)
        lines = int(rs[0]["lines"])
        summary[name] = {"median_s": secs, "best_s": min(float(r["seconds"]) for r in rs),
                         "median_cpu_s": statistics.median(float(r["cpu_s"]) for r in rs),
                         "lines_per_s": lines / secs,
                         "peak_mb": max(float(r["peak_mb"]) for r in rs), "lines": lines,
                         "note": rs[0]["note"], "runs": rs}
    up = summary["upsell"]
    size = csv_path.stat().st_size / 1e6
    load_after = os.getloadavg()
    print(f"\n{label}: {csv_path.name} ({size:,.0f} MB, {up['lines']:,} lines), "
          f"median of {repeats}; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after ({os.cpu_count()} cpus)")
    print(f"{'reader':<18} {'median s':>9} {'best s':>7} {'cpu s':>6} {'lines/s':>12} "
          f"{'peak MB':>9} {'upsell speed x':>15} {'upsell cpu x':>13} {'upsell memory x':>16}")
    for name, s in summary.items():
        # "upsell speed x": how many times faster upsell is (median wall); "cpu x": the
        # same for CPU seconds (all threads), steadier on a shared machine; memory: peak
        print(f"{name:<18} {s['median_s']:>9.2f} {s['best_s']:>7.2f} {s['median_cpu_s']:>6.2f} "
              f"{s['lines_per_s']:>12,.0f} {s['peak_mb']:>9,.0f} "
              f"{s['median_s'] / up['median_s']:>15.2f} "  # type: ignore[operator]
              f"{s['median_cpu_s'] / up['median_cpu_s']:>13.2f} "  # type: ignore[operator]
              f"{up['peak_mb'] / s['peak_mb']:>16.2f}")  # type: ignore[operator]
    summary["_load_average"] = {"before": load_before, "after": load_after}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, action="append", default=[],
                        help="read this CSV (headers = role names) instead of generating")
    parser.add_argument("--lines", type=int, default=3_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--generator", choices=("both", "make_shop", "numpy", "none"),
                        default="both")
    parser.add_argument("--real", type=Path, default=REAL,
                        help="the Online Retail file (skipped when absent)")
    parser.add_argument("--baseline-src", help="another source tree to time as a peer")
    parser.add_argument("--keep", action="store_true", help="keep the generated CSVs")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    inputs: list[tuple[str, Path, dict[str, str], bool]] = []
    gens = {"both": ["make_shop", "numpy"], "none": []}.get(args.generator, [args.generator])
    if args.csv:
        gens = []
        inputs += [(p.stem, p, header_columns(p), False) for p in args.csv]
    for gen in gens:
        path = OUT / f"orders_{gen}_{args.lines}.csv"
        t0 = time.perf_counter()
        make_csv(path, args.lines, gen)
        print(f"wrote {path} ({path.stat().st_size / 1e6:,.0f} MB) with {gen} "
              f"in {time.perf_counter() - t0:.1f} s")
        inputs.append((gen, path, header_columns(path), not args.keep))
    if args.real and args.real.exists():
        inputs.append(("online-retail", args.real, REAL_COLUMNS, False))
    elif args.real:
        print(f"skipping the real file: {args.real} is absent")
    results = {}
    try:
        for label, path, columns, _ in inputs:
            results[label] = bench_file(label, path, columns, args.repeats, args.baseline_src)
    finally:
        for _, path, _, remove in inputs:
            if remove:
                path.unlink(missing_ok=True)
    import pandas
    import pyarrow

    record = {
        "repeats": args.repeats, "lines": args.lines, "python": platform.python_version(),
        "numpy": np.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
        "cpus": os.cpu_count(), "baseline_src": args.baseline_src, "results": results,
        "parent_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    (OUT / "bench_ingest.json").write_text(json.dumps(record, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
