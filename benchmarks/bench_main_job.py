"""The main job on real shops: `upsell report`, `fit`, `Recommender.load`, `recommend`, `mine`, `clv`.

Runs the README's own commands on the real files in ``../shared/data`` the way a new user
would (each command in its own process), and prints wall time, peak resident memory, HTML
and model sizes against the targets of issue 17:

| step | target (10-month Online Retail file) |
|---|---|
| `upsell report` | <= 60 s, <= 2 GB peak, HTML <= 5 MB |
| `upsell fit` (default `--blend auto`: the learned blend when it measures better) | <= 60 s, model folder <= 50 MB |
| `upsell fit --blend weighted`, its load and requests | no target (the fast alternative, measured beside) |
| `Recommender.load` (the default model) | <= 1 s |

    python benchmarks/bench_main_job.py ../shared/data
    python benchmarks/bench_main_job.py ../shared/data --repeats 3 --json benchmarks/out/main_job.json

No peer: nothing else does the whole job; the peers of each part are in the topic benchmarks
(bench_bundles, bench_cf, bench_clv, bench_ingest). Wall times are medians over ``--repeats``
runs; peak memory is the largest of the runs (``wait4`` rusage of the child process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONLINE_RETAIL = "online-retail/online_retail_2010-12_to_2011-09.csv.gz"
GROCERIES = "groceries/groceries.csv"
COLUMNS = ("order=InvoiceNo,item=StockCode,customer=CustomerID,quantity=Quantity,"
           "price=UnitPrice,time=InvoiceDate,name=Description")

TARGETS = {
    "report": {"seconds": 60.0, "peak_mb": 2048.0, "size_mb": 5.0},
    "fit": {"seconds": 60.0, "size_mb": 50.0},
    "load": {"seconds": 1.0},
}


def run(cmd: list[str], *, env: dict[str, str] | None = None) -> dict:
    """Run ``cmd`` in a child; wall time, peak RSS (MB), exit code, stdout and stderr tails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024.0,
                "code": proc.returncode,
                "stdout": out.read().decode("utf-8", "replace")[-4000:],
                "stderr": err.read().decode("utf-8", "replace")[-4000:]}


def folder_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


_LOAD_CHILD = r"""
import json, statistics, sys, time
t = time.perf_counter(); from upsell.recommend import Recommender; t_import = time.perf_counter() - t
model, n_requests = sys.argv[1], int(sys.argv[2])
loads = []
for _ in range(3):
    t = time.perf_counter(); rec = Recommender.load(model); loads.append(time.perf_counter() - t)
customers = list(rec.history_.customers.ids) if rec.history_ is not None else []
step = max(1, len(customers) // max(n_requests, 1))
ids = [str(c) for c in customers[::step][:n_requests]]   # ids as a web request sends them
lat, empty, first = [], 0, float("nan")
for c in ids:
    t = time.perf_counter(); offers = rec.recommend(c, k=5); lat.append(time.perf_counter() - t)
    empty += not offers
first = lat[0] if lat else first  # numba's start and the reason tables (from numba's cache)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
unknown = rec.recommend("no-such-customer-0", k=5)
def rss(key):  # this process's memory after the requests: private, and pages of mapped files
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) / 1024 for l in fh if l.startswith(key + ":"))
    except (OSError, StopIteration):
        return float("nan")
print(json.dumps({"import_s": t_import, "load_first_s": loads[0], "first_request_s": first,
                  "load_median_s": statistics.median(loads), "requests": len(lat),
                  "p50_ms": q(0.5), "p99_ms": q(0.99), "empty_answers": empty,
                  "unknown_customer_offers": len(unknown), "rss_private_mb": rss("RssAnon"),
                  "rss_file_mb": rss("RssFile")}))
"""


def median_run(cmd: list[str], repeats: int) -> dict:
    runs = [run(cmd) for _ in range(repeats)]
    best = dict(runs[-1])
    best["seconds"] = statistics.median(r["seconds"] for r in runs)
    best["peak_mb"] = max(r["peak_mb"] for r in runs)
    best["code"] = max(r["code"] for r in runs)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="the shared data folder (holds online-retail/, groceries/)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--requests", type=int, default=1000, help="recommend calls timed")
    ap.add_argument("--workdir", default=None, help="where the report and model go (temp dir)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    data = Path(args.data)
    orders = data / ONLINE_RETAIL
    if not orders.exists():
        ap.error(f"{orders} not found")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="upsell-main-job-"))
    work.mkdir(parents=True, exist_ok=True)
    upsell = [sys.executable, "-m", "upsell.cli"]
    read = [str(orders), "--cancel-prefix", "C", "--columns", COLUMNS, "--quiet"]
    results: dict[str, dict] = {}

    html = work / "report.html"
    r = median_run([*upsell, "report", *read, "-o", str(html)], args.repeats)
    r["size_mb"] = folder_mb(html) if html.exists() else float("nan")
    results["report"] = r

    model = work / "model"  # the default: --blend auto (the learned blend when it measures better)
    r = median_run([*upsell, "fit", *read, "--out", str(model)], args.repeats)
    r["size_mb"] = folder_mb(model) if model.exists() else float("nan")
    r["kept"] = "learned" if (model / "blend").exists() else "weighted"
    results["fit"] = r
    # the weighted sum: what the fast alternative costs to fit, load and serve
    weighted = work / "model-weighted"
    r = median_run([*upsell, "fit", *read, "--out", str(weighted), "--blend", "weighted"],
                   args.repeats)
    r["size_mb"] = folder_mb(weighted) if weighted.exists() else float("nan")
    results["fit-weighted"] = r

    for name, folder in (("load", model), ("load-weighted", weighted)):
        r = run([sys.executable, "-c", _LOAD_CHILD, str(folder), str(args.requests)])
        detail = json.loads(r["stdout"].strip().splitlines()[-1]) if r["code"] == 0 else {}
        results[name] = {**r, **detail, "seconds": detail.get("load_median_s", float("nan"))}

    results["recommend-cli"] = run([*upsell, "recommend", "--model", str(model),
                                    "--customer", "17850", "--quiet"])
    results["clv"] = run([*upsell, "clv", *read, "-o", str(work / "clv.csv")])
    groceries = data / GROCERIES
    if groceries.exists():
        results["mine-groceries"] = run([*upsell, "mine", str(groceries), "--format", "baskets",
                                         "--quiet", "-o", str(work / "rules.csv")])

    print(f"data: {orders} ({folder_mb(orders):.1f} MB); work folder {work}\n")
    print("| step | exit | wall s | peak MB | size MB | target | met |")
    print("|---|---:|---:|---:|---:|---|---|")
    for name, res in results.items():
        target = TARGETS.get(name, {})
        met = res["code"] == 0 and all(
            res.get(key, float("inf")) <= bound for key, bound in target.items())
        tgt = ", ".join(f"{k} <= {v:g}" for k, v in target.items()) or "exit 0"
        size = res.get("size_mb")
        label = f"{name} (kept {res['kept']})" if "kept" in res else name
        print(f"| {label} | {res['code']} | {res['seconds']:.2f} | {res['peak_mb']:,.0f} | "
              f"{'' if size is None else f'{size:.2f}'} | {tgt} | {'yes' if met else 'NO'} |")
    for name in ("load", "load-weighted"):
        load = results[name]
        if "p50_ms" in load:
            print(f"\n{'fit' if name == 'load' else 'fit --blend weighted'}'s model, recommend (ids "
                  f"as strings, {load['requests']} customers): p50 {load['p50_ms']:.2f} ms, p99 "
                  f"{load['p99_ms']:.2f} ms, empty answers {load['empty_answers']}; unknown "
                  f"customer got {load['unknown_customer_offers']} offers; first load "
                  f"{load['load_first_s']:.2f} s, its first request {load['first_request_s']:.2f} s, "
                  f"import of upsell.recommend {load['import_s']:.2f} s; after the requests "
                  f"{load.get('rss_private_mb', float('nan')):,.0f} MB private, "
                  f"{load.get('rss_file_mb', float('nan')):,.0f} MB of mapped files")
    for name, res in results.items():
        if res["code"] != 0:
            print(f"\n{name} failed (exit {res['code']}):\n{res['stderr'][-1500:]}")
    print(f"\nrecommend-cli output:\n{results['recommend-cli']['stdout'][:1500]}")
    print(f"clv stderr:\n{results['clv']['stderr'][-800:]}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if all(r["code"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
