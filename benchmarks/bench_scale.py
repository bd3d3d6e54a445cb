"""The main job on a shop laid out like H&M's, at 10 to 30 million lines: does it fit one machine?

``../shared/data`` has no shop above Online Retail's half a million lines, and H&M's public file
(31.8M lines, 1.37M customers, 105k articles) is not ours to copy, so this script writes a file
with its layout and its proportions, then runs the README's commands on it the way a user would
(each in its own process, as ``bench_main_job.py`` does):

* no order column: an order is a customer's lines of one day (``order=customer_id+t_dat``);
* one line per unit (no quantity column: a second unit is an identical line);
* 64-character hashed customer ids, zero-padded ten-digit article ids, prices below 1;
* fashion turnover: each article sells for a few months after its launch; customers keep to a
  few of 600 departments; visits per customer are long-tailed (median 3, a few hundred at most).

It is synthetic: it tells how time and memory grow with the lines, not what recall a real shop
reaches. Prints wall time, peak resident memory (``wait4``) and output sizes:

    python benchmarks/bench_scale.py --lines 1e7 --work /tmp/scale
    python benchmarks/bench_scale.py --lines 3e7 --work /tmp/scale --json benchmarks/out/scale.json

No peer: nothing else runs the whole job (see bench_main_job.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_main_job import _LOAD_CHILD, folder_mb, run

COLUMNS = ("order=customer_id+t_dat,item=article_id,customer=customer_id,time=t_dat,"
           "price=price,channel=sales_channel_id")
DAYS = 730
START = np.datetime64("2018-09-20")


def write_shop(path: Path, n_lines: int, seed: int = 7, chunk: int = 2_000_000) -> int:
    """Write an H&M-shaped CSV of about ``n_lines`` lines; returns the lines written."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    n_c, n_a, n_dep = max(n_lines // 22, 10), max(n_lines // 160, 10), 600
    dep = rng.integers(0, n_dep, n_a)
    launch = rng.integers(-120, DAYS, n_a)
    by_dep = np.lexsort((launch, dep))  # articles by department, then launch day
    dep_start = np.searchsorted(dep[by_dep], np.arange(n_dep + 1))
    price = np.round(np.exp(rng.normal(-3.4, 0.6, n_a)), 6)
    # visits per customer: long-tailed, scaled so that baskets of ~3.2 lines give n_lines
    visits = rng.lognormal(1.2, 1.0, n_c)
    visits = np.maximum(1, np.round(visits * n_lines / (visits.sum() * 3.2))).astype(np.int64)
    first = rng.integers(0, DAYS, n_c)
    span = np.minimum(DAYS - first, rng.integers(30, DAYS, n_c))
    fav = rng.integers(0, n_dep, (n_c, 3))
    cust = np.repeat(np.arange(n_c), visits)
    day = first[cust] + (rng.random(cust.size) * span[cust]).astype(np.int64)
    size = 1 + rng.poisson(2.2, cust.size)
    cust, day = np.repeat(cust, size), np.repeat(day, size)
    d = np.where(rng.random(cust.size) < 0.8, fav[cust, rng.integers(0, 3, cust.size)],
                 rng.integers(0, n_dep, cust.size))
    # an article of the department launched before the day, recent ones more likely
    lo, hi = dep_start[d], dep_start[d + 1]
    launched = np.empty(cust.size, dtype=np.int64)
    by_line = np.argsort(d, kind="stable")
    line_start = np.searchsorted(d[by_line], np.arange(n_dep + 1))
    for g in range(n_dep):  # per department: a binary search of its launch days
        at = by_line[line_start[g]:line_start[g + 1]]
        days_g = launch[by_dep[dep_start[g]:dep_start[g + 1]]]
        launched[at] = dep_start[g] + np.searchsorted(days_g, day[at], side="right")
    back = rng.geometric(0.04, cust.size)
    pos = np.clip(launched - back, lo, np.maximum(hi - 1, lo))
    art = by_dep[pos]
    ok = hi > lo
    cust, day, art = cust[ok], day[ok], art[ok]
    order = np.argsort(day, kind="stable")
    cid = np.array([hashlib.sha256(str(i).encode()).hexdigest() for i in range(n_c)])
    aid = np.char.add("0", np.char.zfill((100_000_000 + 7 * np.arange(n_a)).astype(str), 9))
    sale = np.where(rng.random(art.size) < 0.15, 0.7, 1.0)
    with open(path, "wb") as f:
        for s in range(0, order.size, chunk):
            o = order[s:s + chunk]
            table = pa.table({"t_dat": (START + day[o].astype("timedelta64[D]")).astype(str),
                              "customer_id": cid[cust[o]], "article_id": aid[art[o]],
                              "price": np.round(price[art[o]] * sale[o], 6),
                              "sales_channel_id": 1 + (rng.random(o.size) < 0.7)})
            pcsv.write_csv(table, f, pcsv.WriteOptions(include_header=s == 0))
    return int(order.size)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=float, default=1e7, help="lines to write (default 1e7)")
    ap.add_argument("--work", type=Path, required=True, help="folder for the file and outputs")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    csv = args.work / f"hm_shaped_{int(args.lines):d}.csv"
    if not csv.exists():
        print(f"writing {csv} ...", flush=True)
        print(f"  {write_shop(csv, int(args.lines)):,} lines, {csv.stat().st_size / 2**20:,.0f} MB",
              flush=True)
    upsell = [sys.executable, "-m", "upsell"]
    report, model = args.work / "report.html", args.work / "model"
    res = {"lines": int(args.lines),
           "report": run([*upsell, "report", str(csv), "--columns", COLUMNS, "-o", str(report)]),
           "fit": run([*upsell, "fit", str(csv), "--columns", COLUMNS, "-o", str(model)])}
    res["report"]["size_mb"] = folder_mb(report) if report.exists() else float("nan")
    res["fit"]["size_mb"] = folder_mb(model) if model.exists() else float("nan")
    load = run([sys.executable, "-c", _LOAD_CHILD, str(model), str(args.requests)])
    res["load"] = load
    got = json.loads(load["stdout"].strip().splitlines()[-1]) if load["code"] == 0 else {}
    print("\n| step | wall s | peak MB | output MB | exit |\n|---|---:|---:|---:|---:|")
    for step in ("report", "fit"):
        r = res[step]
        print(f"| {step} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} | {r['size_mb']:,.2f} | "
              f"{r['code']} |")
    print(f"| load | {got.get('load_median_s', float('nan')):.2f} | {load['peak_mb']:,.0f} | | "
          f"{load['code']} |")
    print(f"\nrecommend (k=5, {got.get('requests', 0)} customers): p50 "
          f"{got.get('p50_ms', float('nan')):.2f} ms, p99 {got.get('p99_ms', float('nan')):.2f} ms; "
          f"the serving process after them: {got.get('rss_private_mb', float('nan')):,.0f} MB "
          f"private, {got.get('rss_file_mb', float('nan')):,.0f} MB of mapped model files "
          f"(shared by processes serving the same folder)")
    for step in ("report", "fit", "load"):
        if res[step]["code"]:
            print(f"\n{step} failed:\n{res[step]['stderr']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=str))
    return int(any(res[s]["code"] for s in ("report", "fit", "load")))


if __name__ == "__main__":
    raise SystemExit(main())
