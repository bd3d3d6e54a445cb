"""Orders dated only relative to each other, at Instacart's size: the read, the report.

Writes (seeded) an order-lines file and an orders file laid out like Instacart's public
``order_products__prior.csv`` and ``orders.csv`` (``--orders`` orders of 206,209 users, 1-19
lines each, 49,688 products of Zipf popularity, integer ids, gaps of 0-30 days and blank for
each user's first order, rows shuffled), then, each in its own process:

1. ``Transactions.read_csv`` with ``orders_file`` / ``orders_columns`` (``sequence`` and
   ``days_since_prior``) and ``time_format="days_since:2017-05-01"``;
2. the peer a data scientist would write instead: pandas reads both files, orders each user's
   orders by ``order_number``, takes the cumulative gaps back from the last order and merges
   the times onto the lines (no cleaning, no report);
3. ``upsell report`` on the two files (skip with ``--no-report``).

Prints wall seconds and peak resident memory (``wait4`` of the child) per step, and
checks that both reads give every line the same time.

Usage: python benchmarks/bench_instacart.py [--orders 3.4e6] [--work /tmp/instacart]
       [--no-report]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

END = "2017-05-01"
OCOLS = {"order": "order_id", "customer": "user_id", "sequence": "order_number",
         "days_since_prior": "days_since_prior_order"}

UPSELL_READ = """
import sys, numpy as np, upsell as us
tx = us.Transactions.read_csv(sys.argv[1] + "/order_products__prior.csv",
    columns={"order": "order_id", "item": "product_id"},
    orders_file=sys.argv[1] + "/orders.csv",
    orders_columns={"order": "order_id", "customer": "user_id", "sequence": "order_number",
                    "days_since_prior": "days_since_prior_order"},
    time_format="days_since:" + sys.argv[2])
order = np.asarray([int(o) for o in tx.orders.decode(np.arange(len(tx.orders))).tolist()])
key = order[tx.order].astype(np.int64) * 10**6 + (tx.time - np.datetime64("2000-01-01")).astype(
    "timedelta64[h]").astype(np.int64)
np.save(sys.argv[1] + "/upsell_keys.npy", np.sort(key))
print(repr(tx))
"""

PANDAS_READ = """
import sys, numpy as np, pandas as pd
o = pd.read_csv(sys.argv[1] + "/orders.csv", usecols=["order_id", "user_id", "order_number",
                                                      "days_since_prior_order"])
o = o.sort_values(["user_id", "order_number"])
gap = o.days_since_prior_order.where(o.order_number > 1, 0.0).fillna(0.0)
run = gap.groupby(o.user_id).cumsum()
back = run - run.groupby(o.user_id).transform("max")
o["time"] = pd.Timestamp(sys.argv[2]) + pd.to_timedelta(back, unit="D")
lines = pd.read_csv(sys.argv[1] + "/order_products__prior.csv", usecols=["order_id", "product_id"])
lines = lines.merge(o[["order_id", "user_id", "time"]], on="order_id", how="left")
key = lines.order_id.to_numpy(np.int64) * 10**6 + ((lines.time - pd.Timestamp("2000-01-01"))
                                                   // pd.Timedelta(hours=1)).to_numpy(np.int64)
np.save(sys.argv[1] + "/pandas_keys.npy", np.sort(key))
print(len(lines), "lines")
"""


def write_shop(work: Path, n_orders: int, seed: int = 0) -> tuple[int, int]:
    """Write the two files; returns (orders, lines)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    n_users, n_products = 206_209, 49_688
    k = rng.integers(4, 100, n_users)
    k = np.maximum(4, np.round(k * n_orders / k.sum())).astype(np.int64)
    n = int(k.sum())
    user = np.repeat(np.arange(1, n_users + 1), k)
    num = np.arange(n) - np.repeat(np.cumsum(k) - k, k) + 1
    gap = rng.integers(0, 31, n)
    gap_text = np.where(num == 1, "", np.char.add(gap.astype(str), ".0"))
    oid = rng.permutation(n) + 1
    perm = rng.permutation(n)
    pacsv.write_csv(pa.table({
        "order_id": oid[perm], "user_id": user[perm], "eval_set": np.full(n, "prior"),
        "order_number": num[perm], "order_dow": rng.integers(0, 7, n),
        "order_hour_of_day": rng.integers(0, 24, n),
        "days_since_prior_order": gap_text[perm]}), work / "orders.csv")
    size = rng.integers(1, 20, n)
    m = int(size.sum())
    pacsv.write_csv(pa.table({
        "order_id": np.repeat(oid, size),
        "product_id": rng.zipf(1.3, m) % n_products + 1,
        "add_to_cart_order": np.arange(m) - np.repeat(np.cumsum(size) - size, size) + 1,
        "reordered": rng.integers(0, 2, m)}), work / "order_products__prior.csv")
    return n, m


def run(cmd: list[str]) -> dict[str, object]:
    """Wall seconds and peak RSS (MB, the child's own: ``wait4``) of ``cmd``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status):
            err.seek(0)
            raise SystemExit(f"{cmd[:3]} failed:\n{err.read().decode()[-2000:]}")
        out.seek(0)
        return {"wall_s": round(wall, 1), "peak_mb": round(usage.ru_maxrss / 1024),
                "out": out.read().decode()[-300:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=float, default=3.4e6)
    ap.add_argument("--work", default="/tmp/instacart")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.write_only:  # in a child: a child's peak counts the pages it forked from
        n, m = write_shop(work, int(args.orders))
        print(f"{n:,} orders, {m:,} lines in {work}")
        return
    print(run([sys.executable, __file__, "--write-only", "--orders", str(args.orders),
               "--work", str(work)])["out"].strip())
    rows = {"upsell read": run([sys.executable, "-c", UPSELL_READ, str(work), END])}
    try:
        import pandas  # noqa: F401
        rows["pandas read + merge (peer)"] = run([sys.executable, "-c", PANDAS_READ, str(work), END])
        same = np.array_equal(np.load(work / "upsell_keys.npy"), np.load(work / "pandas_keys.npy"))
        print("same order times as pandas:", same)
    except ImportError:
        print("pandas not installed: peer skipped")
    if not args.no_report:
        exe = os.path.join(os.path.dirname(sys.executable), "upsell")
        rows["upsell report"] = run([
            exe, "report", str(work / "order_products__prior.csv"),
            "--columns", "order=order_id,item=product_id",
            "--orders-file", str(work / "orders.csv"), "--orders-columns",
            ",".join(f"{k}={v}" for k, v in OCOLS.items()),
            "--time-format", f"days_since:{END}", "-o", str(work / "report.html")])
        rows["upsell report"]["page_mb"] = round(os.path.getsize(work / "report.html") / 1e6, 2)
    print("| step | wall s | peak MB |\n|---|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['wall_s']} | {r['peak_mb']:,} |")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "out"}
                      for k, v in rows.items()}))


if __name__ == "__main__":
    main()
