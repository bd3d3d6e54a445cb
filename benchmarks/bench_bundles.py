"""Frequent-itemset mining: upsell vs pyfim (fpgrowth, eclat), mlxtend (fpgrowth) and efficient-apriori.

Every miner runs in its own subprocess on the same data: the subprocess loads the
baskets into the miner's own input format (untimed), then times the mining call
only (median of ``--repeat`` runs) and reports the peak resident memory of the
process during mining (``VmHWM`` after resetting it through
``/proc/self/clear_refs`` once the data are loaded; ``ru_maxrss`` where that is
not possible) and the RSS just before mining; "+MB" is their difference. A miner that exceeds
``--timeout`` seconds or ``--memory-gb`` is reported as such. Counts must agree.

Peers (not dependencies of upsell)::

    pip install pyfim mlxtend efficient-apriori

Run::

    python benchmarks/bench_bundles.py --groceries ../shared/data/groceries/groceries.csv \\
        --retail ../shared/data/fimi/retail.dat
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MINERS = ("upsell", "pyfim-fpgrowth", "pyfim-eclat", "mlxtend-fpgrowth", "efficient-apriori")


def _read_lists(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    lines = text.splitlines()
    comma = "," in next((ln for ln in lines if ln.strip()), "")
    out = []
    for ln in lines:
        parts = [p for p in ln.split(",")] if comma else ln.split()
        out.append(list(dict.fromkeys(p for p in parts if p != "")))
    return out


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0) so loading the data does not count."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def worker(miner: str, path: str, support: float, repeat: int) -> dict[str, Any]:
    """Load the data for one miner, time its mining call, report count and memory."""
    if miner == "upsell":
        from upsell.bundles import frequent_itemsets
        from upsell.datasets import read_baskets

        tx = read_baskets(path)
        data: Any = tx.baskets()
        n = data.shape[0]

        def run() -> int:
            return len(frequent_itemsets(data, min_support=support, max_itemsets=50_000_000))
    elif miner.startswith("pyfim"):
        import fim

        data = _read_lists(path)
        n = len(data)
        min_count = math.ceil(support * n - 1e-9)
        algo = fim.fpgrowth if miner.endswith("fpgrowth") else fim.eclat

        def run() -> int:
            return len(algo(data, target="s", supp=-min_count, zmin=1, report="a"))
    elif miner == "mlxtend-fpgrowth":
        import numpy as np
        import pandas as pd
        import scipy.sparse as sp
        from mlxtend.frequent_patterns import fpgrowth

        lists = _read_lists(path)
        n = len(lists)
        vocab = {it: i for i, it in enumerate(sorted({i for b in lists for i in b}))}
        rows = [r for r, b in enumerate(lists) for _ in b]
        cols = [vocab[i] for b in lists for i in b]
        m = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)),
                          shape=(n, len(vocab)))
        data = pd.DataFrame.sparse.from_spmatrix(m, columns=list(vocab))
        del lists, rows, cols

        def run() -> int:
            return len(fpgrowth(data, min_support=support, use_colnames=False))
    elif miner == "efficient-apriori":
        from efficient_apriori import itemsets_from_transactions

        data = [tuple(b) for b in _read_lists(path)]
        n = len(data)

        def run() -> int:
            found, _ = itemsets_from_transactions(data, min_support=support)
            return sum(len(v) for v in found.values())
    else:
        raise SystemExit(f"unknown miner {miner!r}")
    import gc

    gc.collect()
    reset = _reset_peak()
    before = _status_mb("VmRSS") if reset else _maxrss_mb()
    times = []
    count = -1
    for i in range(repeat):
        t0 = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - t0)
        if i == 0 and times[0] > 10:
            break
    return {"miner": miner, "count": count, "n_baskets": n, "seconds": statistics.median(times),
            "runs": len(times), "rss_before_mb": before,
            "rss_peak_mb": (_status_mb("VmHWM") if reset else None) or _maxrss_mb(),
            "peak_measure": "VmHWM after reset" if reset else "ru_maxrss", "status": "ok"}


def _run_worker(miner: str, path: str, support: float, repeat: int, timeout: float,
                memory_gb: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", miner, "--data", path, "--support",
           repr(support), "--repeat", str(repeat), "--memory-gb", str(memory_gb)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"miner": miner, "status": f"timeout > {timeout:g} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        status = "out of memory" if "MemoryError" in proc.stderr else f"failed: {tail[:80]}"
        return {"miner": miner, "status": status}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groceries", help="groceries.csv (arules)")
    ap.add_argument("--retail", help="retail.dat (FIMI)")
    ap.add_argument("--miners", nargs="+", default=list(MINERS), choices=MINERS)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per miner (median)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per miner and data set")
    ap.add_argument("--memory-gb", type=float, default=4.0, help="address-space cap per miner")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--support", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        cap = int(args.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        print(json.dumps(worker(args.worker, args.data, args.support, args.repeat)))
        return 0

    cases = []
    if args.groceries:
        cases.append(("groceries", args.groceries, 0.001))
    if args.retail:
        cases += [("retail", args.retail, s) for s in (0.01, 0.001, 0.0002)]
    if not cases:
        ap.error("give --groceries and/or --retail")
    results = []
    print(f"{'data':<10} {'support':>8} {'miner':<18} {'itemsets':>9} {'seconds':>9} "
          f"{'peak MB':>8} {'+MB':>7}  status")
    for name, path, support in cases:
        for miner in args.miners:
            r = _run_worker(miner, path, support, args.repeat, args.timeout, args.memory_gb)
            r.update({"data": name, "support": support})
            results.append(r)
            if r["status"] == "ok":
                print(f"{name:<10} {support:>8.4%} {miner:<18} {r['count']:>9,} "
                      f"{r['seconds']:>9.3f} {r['rss_peak_mb']:>8.0f} "
                      f"{r['rss_peak_mb'] - r['rss_before_mb']:>7.0f}  ok", flush=True)
            else:
                print(f"{name:<10} {support:>8.4%} {miner:<18} {'-':>9} {'-':>9} {'-':>8} "
                      f"{'-':>7}  {r['status']}", flush=True)
    print("\nratios (time: peer / upsell, > 1 means upsell is faster; memory: upsell / peer, "
          "added peak RSS)")
    summary = []
    for name, _, support in cases:
        here = {r["miner"]: r for r in results if r["data"] == name and r["support"] == support}
        up = here.get("upsell", {})
        counts = {m: r["count"] for m, r in here.items() if r["status"] == "ok"}
        agree = len(set(counts.values())) <= 1
        row: dict[str, Any] = {"data": name, "support": support, "counts_agree": agree}
        parts = []
        for m, r in here.items():
            if m == "upsell" or r["status"] != "ok" or up.get("status") != "ok":
                continue
            tr = r["seconds"] / up["seconds"]
            up_mem = max(up["rss_peak_mb"] - up["rss_before_mb"], 1.0)
            peer_mem = max(r["rss_peak_mb"] - r["rss_before_mb"], 1.0)
            row[m] = {"time_ratio": tr, "memory_ratio": up_mem / peer_mem}
            parts.append(f"{m} {tr:.2f}x time, {up_mem / peer_mem:.2f}x mem")
        summary.append(row)
        print(f"{name:<10} {support:>8.4%}  counts {'agree' if agree else 'DIFFER: ' + str(counts)}"
              f"; " + "; ".join(parts))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "platform": platform.platform()},
           "command": " ".join(sys.argv), "results": results, "summary": summary}
    target = out / "bench_bundles.json"
    target.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
