"""Orders without an order id, at H&M's size: the read, the report, the fit.

Writes (seeded) an order-lines file laid out like H&M's public ``transactions_train.csv``
(``--lines`` lines, default 31.8M: 1,371,980 customers, fewer for fewer lines, with 64-character
hashed ids; 105,542 articles with 10-digit ids that start with 0, two years of days, prices around 0.03, no order
id and no quantity: a customer's lines of one day are one order, a unit each), then, each in
its own process:

1. ``Transactions.read_csv`` with ``columns={"order": ("customer_id", "t_dat"), ...}``;
2. the peer a data scientist would write instead: pandas reads the file and numbers the
   (customer, day) groups as orders (no cleaning, no report);
3. ``upsell report`` with the order column joined (skip with ``--no-report``);
4. ``upsell fit`` at its defaults and ``Recommender.load`` of its model (with ``--fit``).

Prints wall seconds and peak resident memory (``wait4`` of the child) per step, and checks
that both reads find the same orders.

Usage: python benchmarks/bench_hm.py [--lines 31.8e6] [--work /tmp/hm] [--no-report] [--fit]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from bench_instacart import run  # benchmarks/ is the script's folder

COLUMNS = "order=customer_id+t_dat,item=article_id,customer=customer_id,time=t_dat"

UPSELL_READ = """
import sys, numpy as np, upsell as us
tx = us.Transactions.read_csv(sys.argv[1] + "/transactions_train.csv",
    columns={"order": ("customer_id", "t_dat"), "item": "article_id",
             "customer": "customer_id", "time": "t_dat"})
np.save(sys.argv[1] + "/upsell_sizes.npy", np.sort(np.bincount(tx.order)))
print(repr(tx))
"""

PANDAS_READ = """
import sys, numpy as np, pandas as pd
d = pd.read_csv(sys.argv[1] + "/transactions_train.csv", dtype={"article_id": str})
order = d.groupby(["customer_id", "t_dat"], sort=False).ngroup().to_numpy()
np.save(sys.argv[1] + "/pandas_sizes.npy", np.sort(np.bincount(order)))
print(len(d), "lines")
"""

LOAD = """
import sys, time, upsell as us
t = time.perf_counter(); us.Recommender.load(sys.argv[1]); print(time.perf_counter() - t)
"""


def write_shop(work: Path, n_lines: int, seed: int = 0) -> tuple[int, int]:
    """Write the file; returns (lines, customer-days)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    # H&M's shape: its customers per line (fewer lines, fewer customers), articles and days
    n_cust, n_art, days = max(1, round(1_371_980 * n_lines / 31_788_324)), 105_542, 734
    visits = np.minimum(rng.pareto(1.3, n_cust) * 2 + 1, 400).astype(np.int64)
    cust = np.repeat(np.arange(n_cust), visits)
    day = rng.integers(0, days, cust.size)
    size = rng.geometric(min(1.0, cust.size / n_lines), cust.size)
    cust, day = np.repeat(cust, size), np.repeat(day, size)
    pop = 1.0 / np.arange(1, n_art + 1) ** 0.9
    art = rng.permutation(n_art)[rng.choice(n_art, cust.size, p=pop / pop.sum())]
    price = rng.lognormal(-3.5, 0.6, n_art).round(6)
    at = np.lexsort((cust, day))
    ids = np.array([hashlib.sha256(str(i).encode()).hexdigest() for i in range(n_cust)])
    articles = np.char.add("0", np.char.zfill((108775015 + np.arange(n_art) * 7).astype(str), 9))
    dates = (np.datetime64("2018-09-20") + np.arange(days)).astype(str)
    options = pacsv.WriteOptions(quoting_style="needed")
    schema = pa.schema([("t_dat", pa.string()), ("customer_id", pa.string()),
                        ("article_id", pa.string()), ("price", pa.float64()),
                        ("sales_channel_id", pa.int64())])
    with pacsv.CSVWriter(work / "transactions_train.csv", schema, write_options=options) as w:
        for lo in range(0, at.size, 2_000_000):
            j = at[lo:lo + 2_000_000]
            w.write_table(pa.table({
                "t_dat": dates[day[j]], "customer_id": ids[cust[j]],
                "article_id": articles[art[j]], "price": price[art[j]],
                "sales_channel_id": rng.integers(1, 3, j.size)}, schema=schema))
    return int(at.size), int(np.unique(cust * days + day).size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=float, default=31.8e6)
    ap.add_argument("--work", default="/tmp/hm")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.write_only:  # in a child: a child's peak counts the pages it forked from
        n, orders = write_shop(work, int(args.lines))
        print(f"{n:,} lines, {orders:,} customer-days in {work}")
        return
    print(run([sys.executable, __file__, "--write-only", "--lines", str(args.lines),
               "--work", str(work)])["out"].strip())
    rows = {"upsell read": run([sys.executable, "-c", UPSELL_READ, str(work)])}
    try:
        import pandas  # noqa: F401
        rows["pandas read + orders (peer)"] = run([sys.executable, "-c", PANDAS_READ, str(work)])
        same = np.array_equal(np.load(work / "upsell_sizes.npy"),
                              np.load(work / "pandas_sizes.npy"))
        print("same order sizes as pandas:", same)
    except ImportError:
        print("pandas not installed: peer skipped")
    exe = os.path.join(os.path.dirname(sys.executable), "upsell")
    data = str(work / "transactions_train.csv")
    if not args.no_report:
        rows["upsell report"] = run([exe, "report", data, "--columns", COLUMNS,
                                     "-o", str(work / "report.html")])
        rows["upsell report"]["page_mb"] = round(os.path.getsize(work / "report.html") / 1e6, 2)
    if args.fit:
        rows["upsell fit"] = run([exe, "fit", data, "--columns", COLUMNS,
                                  "-o", str(work / "model")])
        size = sum(p.stat().st_size for p in (work / "model").rglob("*") if p.is_file())
        rows["upsell fit"]["model_mb"] = round(size / 1e6)
        rows["Recommender.load"] = run([sys.executable, "-c", LOAD, str(work / "model")])
    print("| step | wall s | peak MB |\n|---|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['wall_s']} | {r['peak_mb']:,} |")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "out"}
                      for k, v in rows.items()}))


if __name__ == "__main__":
    main()
