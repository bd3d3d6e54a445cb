"""Frequent-itemset mining: upsell vs pyfim (fpgrowth, eclat), mlxtend (fpgrowth) and efficient-apriori.

Every miner runs in its own subprocess on the same data. The subprocess parses the
file with the same reader for every miner (``_read_lists``), converts it to the
miner's input format (untimed), then times the mining call only (median of
``--repeat`` calls). Two upsell rows: "upsell" mines ``Transactions`` built from
the lists before timing (its native input, as mlxtend gets its data frame built
before timing); "upsell-lists" is handed the lists as they are, like pyfim, so
indexing the item ids is inside its timed call, as it is inside pyfim's.
``--upsell-loader`` changes what the "upsell" row mines (``csr``: a scipy CSR
matrix; ``read_baskets``: upsell's own reader). Neither row imports scipy.
Memory, the same way for every miner (Linux ``/proc/self/status``):

* "peak MB": peak RSS of the whole child over its life (interpreter, imports, data,
  mining): the larger of ``VmHWM`` before and after the reset below.
* "mine MB": peak RSS of the whole child while mining (``VmHWM`` after resetting it
  through ``/proc/self/clear_refs`` once the data are loaded).
* "+MB": what mining added, "mine MB" minus the RSS just before the first call.

Without ``clear_refs`` the reset is impossible and all three fall back to
``ru_maxrss``. ``--rounds`` repeats the whole grid, miners interleaved (order rotated
each round); the table holds medians over rounds, and the 1-minute load average is
sampled before every worker. A miner that exceeds ``--timeout`` seconds or
``--memory-gb`` is reported as such. Counts must agree.

Rules mode (``--rules PATH`` to the Online Retail CSV, plus ``--groceries`` /
``--retail`` when given): association rules (Online Retail at support 0.3%, confidence
10%, at most 3 items; Groceries at 0.1% / 80%, arules' 410 rules; FIMI retail at 0.1% /
50%), upsell (``frequent_itemsets`` +
``association_rules``, every metric and the Fisher p-values with Holm's adjustment)
against pyfim's ``fpgrowth(target="r")``, which mines and generates in one C call.
Both get the same baskets (invoices of stock codes, cancellations and returns out)
built before timing; the table prints both rule counts and rules per second.
Semantics differ: pyfim's default rule support is the support of the *antecedent*
alone, and it also reports rules with an empty antecedent, so with ``supp=0.3`` it
keeps every rule whose body is in 0.3% of the baskets, however rare the rule (about
17 million on this file). ``mode="o"`` (the "original" definition: support of body
and head together, as arules and upsell) with ``zmin=2`` (no empty antecedent) gives
the same rules as upsell: the row "pyfim-fpgrowth-o" is the one compared.
"pyfim-default" (one run, counted only) shows the other semantics.

Peers (not dependencies of upsell)::

    pip install pyfim mlxtend efficient-apriori

Run::

    python benchmarks/bench_bundles.py --groceries ../shared/data/groceries/groceries.csv \\
        --retail ../shared/data/fimi/retail.dat --rounds 3
    python benchmarks/bench_bundles.py --rules \\
        ../shared/data/online-retail/online_retail_2010-12_to_2011-09.csv.gz --rounds 3
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

MINERS = ("upsell", "upsell-lists", "pyfim-fpgrowth", "pyfim-eclat", "mlxtend-fpgrowth", "efficient-apriori")
RULE_MINERS = ("upsell", "pyfim-fpgrowth-o", "pyfim-default")
# rule cases per data set: (support, confidence, longest rule); Online Retail as in issue 17,
# Groceries as arules' published 410 rules, FIMI retail at 0.1% (7,589 itemsets)
_RULE_CASES = {"online-retail": (0.003, 0.1, 3), "groceries": (0.001, 0.8, None),
               "retail": (0.001, 0.5, None)}
_OR_COLUMNS = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
               "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate"}


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


def worker(miner: str, path: str, support: float, repeat: int,
           upsell_loader: str = "lists") -> dict[str, Any]:
    """Load the data for one miner, time its mining call, report count and memory."""
    if miner.startswith("upsell"):
        from upsell.bundles import frequent_itemsets

        data: Any
        loader = "lists" if miner == "upsell-lists" else upsell_loader
        if loader == "read_baskets":
            from upsell.datasets import read_baskets

            data = read_baskets(path)
        elif loader == "csr":
            import numpy as np
            import scipy.sparse as sp

            lists = _read_lists(path)
            vocab: dict[str, int] = {}
            cols = np.fromiter((vocab.setdefault(i, len(vocab)) for b in lists for i in b),
                               dtype=np.int32)
            lengths = np.fromiter((len(b) for b in lists), dtype=np.int64, count=len(lists))
            indptr = np.zeros(len(lists) + 1, dtype=np.int64)
            np.cumsum(lengths, out=indptr[1:])
            data = sp.csr_matrix((np.ones(cols.size, dtype=np.float32), cols, indptr),
                                 shape=(len(lists), len(vocab)))
            data.sort_indices()
            del lists, vocab, cols, lengths, indptr
        elif loader == "tx":
            # upsell's own input, built before timing (as mlxtend's data frame is)
            import itertools

            import numpy as np

            from upsell import Transactions

            lists = _read_lists(path)
            sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
            data = Transactions.from_arrays(
                order=np.repeat(np.arange(len(lists)), sizes),
                item=list(itertools.chain.from_iterable(lists)))
            del lists, sizes
        else:
            # the peers' input, as pyfim takes it: indexing the items is part of the call
            data = _read_lists(path)
        n = len(data) if isinstance(data, list) else (
            len(data.orders) if hasattr(data, "orders") else data.shape[0])

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
        cols_l = [vocab[i] for b in lists for i in b]
        m = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols_l)),
                          shape=(n, len(vocab)))
        data = pd.DataFrame.sparse.from_spmatrix(m, columns=list(vocab))
        del lists, rows, cols_l, m

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
    load_peak = _status_mb("VmHWM")
    reset = load_peak is not None and _reset_peak()
    before = (_status_mb("VmRSS") if reset else None) or _maxrss_mb()
    times = []
    count = -1
    for i in range(repeat):
        t0 = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - t0)
        if i == 0 and times[0] > 10:
            break
    mine_peak = (_status_mb("VmHWM") if reset else None) or _maxrss_mb()
    return {"miner": miner, "count": count, "n_baskets": n, "seconds": statistics.median(times),
            "times": times, "runs": len(times), "rss_before_mb": before,
            "rss_peak_mb": mine_peak,
            "child_peak_mb": max(mine_peak, load_peak or 0.0),
            "added_mb": mine_peak - before,
            "peak_measure": "VmHWM after reset" if reset else "ru_maxrss", "status": "ok"}


def rules_worker(miner: str, path: str, repeat: int, case: str) -> dict[str, Any]:
    """Rules from one data set: upsell vs pyfim, data prepared before timing."""
    import upsell as us

    if case == "online-retail":
        tx = us.Transactions.read_csv(path, columns=_OR_COLUMNS, cancel_prefix="C")
    else:
        from upsell.datasets import read_baskets

        tx = read_baskets(path)
    support, confidence, max_len = _RULE_CASES[case]
    n = len(tx.orders)
    stage: dict[str, float] = {}
    if miner == "upsell":
        from upsell.bundles import association_rules, frequent_itemsets

        def run() -> int:
            t0 = time.perf_counter()
            fi = frequent_itemsets(tx, min_support=support, max_len=max_len)
            t1 = time.perf_counter()
            rules = association_rules(fi, min_confidence=confidence)
            stage.update(mine=t1 - t0, rules=time.perf_counter() - t1, itemsets=len(fi))
            return len(rules)
    else:
        import fim

        csr = tx.baskets()
        ids = tx.items.ids[csr.indices].tolist()
        ptr = csr.indptr.tolist()
        data = [ids[ptr[i]:ptr[i + 1]] for i in range(n)]
        kwargs: dict[str, Any] = (
            {"mode": "o", "zmin": 2} if miner == "pyfim-fpgrowth-o" else {})
        if max_len is not None:  # pyfim refuses zmax=None
            kwargs["zmax"] = max_len

        def run() -> int:
            # pyfim's percentages: the same effective count as upsell's ceil(support * n)
            count = math.ceil(support * n - 1e-9)
            return len(fim.fpgrowth(data, target="r", supp=-count, conf=100 * confidence,
                                    report="abhc", **kwargs))
    import gc

    gc.collect()
    if miner == "upsell":
        run()  # warm-up: imports (scipy.special for the p-values) stay out of the timing
    load_peak = _status_mb("VmHWM")
    reset = load_peak is not None and _reset_peak()
    before = (_status_mb("VmRSS") if reset else None) or _maxrss_mb()
    times = []
    cpu = []
    count = -1
    for i in range(repeat if miner != "pyfim-default" else 1):
        t0, c0 = time.perf_counter(), time.process_time()
        count = run()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if i == 0 and times[0] > 10:
            break
    peak = (_status_mb("VmHWM") if reset else None) or _maxrss_mb()
    secs = statistics.median(times)
    return {"miner": miner, "count": count, "n_baskets": n, "seconds": secs, "times": times,
            "cpu_seconds": statistics.median(cpu),
            "rules_per_s": count / secs, "rss_before_mb": before, "rss_peak_mb": peak,
            "child_peak_mb": max(peak, load_peak or 0.0), "added_mb": peak - before,
            "stages": stage, "status": "ok"}


def _rules_main(args: argparse.Namespace) -> int:
    cases = [(name, path) for name, path in (("online-retail", args.rules),
                                               ("groceries", args.groceries),
                                               ("retail", args.retail)) if path]
    raw: dict[tuple[str, str], list[dict[str, Any]]] = {}
    print(f"{'round':>5} {'data':<13} {'miner':<18} {'rules':>11} {'seconds':>8} {'cpu s':>7} "
          f"{'rules/s':>10} {'peak MB':>8} {'+MB':>7} {'load':>5}  status")
    for rnd in range(args.rounds):
        miners = [m for m in RULE_MINERS if rnd == 0 or m != "pyfim-default"]
        shift = rnd % len(miners)
        for name, path in cases:
            for miner in miners[shift:] + miners[:shift]:
                if miner == "pyfim-default" and name != "online-retail":
                    continue
                cmd = [sys.executable, __file__, "--worker", miner, "--data", path,
                       "--rules-worker", name, "--repeat", str(args.repeat), "--memory-gb",
                       str(args.memory_gb)]
                load = os.getloadavg()[0]
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True,
                                          timeout=args.timeout, check=False)
                    if proc.returncode != 0:
                        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                        r: dict[str, Any] = {"miner": miner, "status": f"failed: {tail[:80]}"}
                    else:
                        r = json.loads(proc.stdout.strip().splitlines()[-1])
                except subprocess.TimeoutExpired:
                    r = {"miner": miner, "status": f"timeout > {args.timeout:g} s"}
                r["load"] = load
                raw.setdefault((name, miner), []).append(r)
                if r["status"] == "ok":
                    extra = ""
                    if r.get("stages"):
                        st = r["stages"]
                        extra = (f"  (mining {st['mine']:.3f} s, {st['itemsets']:,} itemsets; "
                                 f"rules {st['rules']:.3f} s)")
                    print(f"{rnd + 1:>5} {name:<13} {miner:<18} {r['count']:>11,} "
                          f"{r['seconds']:>8.3f} {r['cpu_seconds']:>7.3f} "
                          f"{r['rules_per_s']:>10,.0f} {r['child_peak_mb']:>8.0f} "
                          f"{r['added_mb']:>7.1f} {load:>5.2f}  ok{extra}", flush=True)
                else:
                    print(f"{rnd + 1:>5} {name:<13} {miner:<18} {'-':>11} {'-':>8} {'-':>7} "
                          f"{'-':>10} {'-':>8} {'-':>7} {load:>5.2f}  {r['status']}", flush=True)
    med: dict[str, dict[str, Any]] = {}
    for (name, miner), runs in raw.items():
        ok = [r for r in runs if r["status"] == "ok"]
        if ok:
            med.setdefault(name, {})[miner] = {
                "count": ok[0]["count"], "rounds": len(ok),
                "seconds": statistics.median(r["seconds"] for r in ok),
                "cpu_seconds": statistics.median(r["cpu_seconds"] for r in ok),
                "peak_mb": statistics.median(r["child_peak_mb"] for r in ok)}
    print("\nmedians over rounds (support, confidence, longest rule: "
          + "; ".join(f"{n} {_RULE_CASES[n]}" for n, _ in cases) + ")")
    summary: dict[str, Any] = {}
    for name, rows in med.items():
        for miner, r in rows.items():
            print(f"{name:<13} {miner:<18} {r['count']:>11,} rules {r['seconds']:>8.3f} s (cpu "
                  f"{r['cpu_seconds']:.3f} s) {r['count'] / r['seconds']:>10,.0f} rules/s  "
                  f"peak {r['peak_mb']:.0f} MB")
        if "upsell" in rows and "pyfim-fpgrowth-o" in rows:
            up, pf = rows["upsell"], rows["pyfim-fpgrowth-o"]
            ratio = (up["count"] / up["seconds"]) / (pf["count"] / pf["seconds"])
            cpu_ratio = (up["count"] / up["cpu_seconds"]) / (pf["count"] / pf["cpu_seconds"])
            summary[name] = {"rules_per_s_ratio": ratio, "cpu_ratio": cpu_ratio,
                             "peak_ratio": up["peak_mb"] / pf["peak_mb"],
                             "counts_agree": up["count"] == pf["count"]}
            print(f"    upsell rules/s / pyfim (mode 'o') rules/s = {ratio:.2f} wall, "
                  f"{cpu_ratio:.2f} CPU time (target >= 0.5); peak memory "
                  f"{up['peak_mb'] / pf['peak_mb']:.2f}x; counts "
                  f"{'agree' if up['count'] == pf['count'] else 'DIFFER'} "
                  f"({up['count']:,} vs {pf['count']:,})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "bench_bundles_rules.json"
    target.write_text(json.dumps({"command": " ".join(sys.argv), "cases": _RULE_CASES,
                                  "medians": med, "summary": summary,
                                  "raw": [{"data": k[0], **r} for k, runs in raw.items()
                                          for r in runs]}, indent=2))
    print(f"wrote {target}")
    return 0


def _run_worker(miner: str, path: str, support: float, repeat: int, timeout: float,
                memory_gb: float, upsell_loader: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", miner, "--data", path, "--support",
           repr(support), "--repeat", str(repeat), "--memory-gb", str(memory_gb),
           "--upsell-loader", upsell_loader]
    load = os.getloadavg()[0]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"miner": miner, "status": f"timeout > {timeout:g} s", "load": load}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        status = "out of memory" if "MemoryError" in proc.stderr else f"failed: {tail[:80]}"
        return {"miner": miner, "status": status, "load": load}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load"] = load
    return out


_FIELDS = ("seconds", "child_peak_mb", "rss_peak_mb", "added_mb", "rss_before_mb")


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds of one miner on one case (a failure in any round is reported)."""
    ok = [r for r in runs if r["status"] == "ok"]
    out = {"miner": runs[0]["miner"], "rounds": len(runs), "loads": [r["load"] for r in runs]}
    if len(ok) < len(runs):
        out["status"] = next(r["status"] for r in runs if r["status"] != "ok")
        return out
    out.update({f: statistics.median(r[f] for r in ok) for f in _FIELDS})
    out.update({"count": ok[0]["count"], "counts": sorted({r["count"] for r in ok}),
                "round_seconds": [r["seconds"] for r in ok], "status": "ok"})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groceries", help="groceries.csv (arules)")
    ap.add_argument("--retail", help="retail.dat (FIMI)")
    ap.add_argument("--miners", nargs="+", default=list(MINERS), choices=MINERS)
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per worker (median)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="workers per miner and case, interleaved (median over rounds)")
    ap.add_argument("--once", nargs="*", default=["efficient-apriori"], choices=MINERS,
                    help="miners run in the first round only (slow, no target)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per miner and data set")
    ap.add_argument("--memory-gb", type=float, default=4.0, help="address-space cap per miner")
    ap.add_argument("--upsell-loader", default="tx",
                    choices=("tx", "lists", "csr", "read_baskets"),
                    help="what the 'upsell' worker mines: tx (Transactions.from_arrays over the "
                         "peers' lists, built before timing), lists (the lists as they are), csr "
                         "(a scipy CSR matrix built before timing) or read_baskets (upsell's own "
                         "reader); the 'upsell-lists' worker always mines the lists")
    ap.add_argument("--rules", help="Online Retail CSV: rules mode (upsell vs pyfim rules), "
                                    "also on --groceries / --retail when given")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    ap.add_argument("--rules-worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--support", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        cap = int(args.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        if args.rules_worker:
            print(json.dumps(rules_worker(args.worker, args.data, args.repeat,
                                          args.rules_worker)))
            return 0
        print(json.dumps(worker(args.worker, args.data, args.support, args.repeat,
                                args.upsell_loader)))
        return 0
    if args.rules:
        return _rules_main(args)

    cases = []
    if args.groceries:
        cases.append(("groceries", args.groceries, 0.001))
    if args.retail:
        cases += [("retail", args.retail, s) for s in (0.01, 0.001, 0.0002)]
    if not cases:
        ap.error("give --groceries and/or --retail")
    raw: dict[tuple[str, float, str], list[dict[str, Any]]] = {}
    print(f"{'round':>5} {'data':<10} {'support':>8} {'miner':<18} {'itemsets':>9} {'seconds':>9} "
          f"{'peak MB':>8} {'mine MB':>8} {'+MB':>7} {'load':>5}  status")
    for rnd in range(args.rounds):
        miners = [m for m in args.miners if rnd == 0 or m not in args.once]
        shift = rnd % len(miners)
        miners = miners[shift:] + miners[:shift]
        for name, path, support in cases:
            for miner in miners:
                r = _run_worker(miner, path, support, args.repeat, args.timeout, args.memory_gb,
                                args.upsell_loader)
                raw.setdefault((name, support, miner), []).append(r)
                if r["status"] == "ok":
                    print(f"{rnd + 1:>5} {name:<10} {support:>8.4%} {miner:<18} {r['count']:>9,} "
                          f"{r['seconds']:>9.3f} {r['child_peak_mb']:>8.0f} "
                          f"{r['rss_peak_mb']:>8.0f} {r['added_mb']:>7.1f} {r['load']:>5.2f}  ok",
                          flush=True)
                else:
                    print(f"{rnd + 1:>5} {name:<10} {support:>8.4%} {miner:<18} {'-':>9} "
                          f"{'-':>9} {'-':>8} {'-':>8} {'-':>7} {r['load']:>5.2f}  {r['status']}",
                          flush=True)
    results = []
    for (name, support, _), runs in raw.items():
        merged = _merge(runs)
        merged.update({"data": name, "support": support})
        results.append(merged)
    loads = [r["load"] for runs in raw.values() for r in runs]
    print(f"\nmedians over rounds; 1-min load average during the run: min {min(loads):.2f}, "
          f"median {statistics.median(loads):.2f}, max {max(loads):.2f}")
    print(f"{'data':<10} {'support':>8} {'miner':<18} {'itemsets':>9} {'seconds':>9} "
          f"{'peak MB':>8} {'mine MB':>8} {'+MB':>7}  status")
    for r in results:
        if r["status"] == "ok":
            print(f"{r['data']:<10} {r['support']:>8.4%} {r['miner']:<18} {r['count']:>9,} "
                  f"{r['seconds']:>9.3f} {r['child_peak_mb']:>8.0f} {r['rss_peak_mb']:>8.0f} "
                  f"{r['added_mb']:>7.1f}  ok")
        else:
            print(f"{r['data']:<10} {r['support']:>8.4%} {r['miner']:<18} {'-':>9} {'-':>9} "
                  f"{'-':>8} {'-':>8} {'-':>7}  {r['status']}")
    print("\nratios of medians (time: peer / upsell, > 1 means upsell is faster; memory: "
          "upsell / peer, for peak MB, mine MB and +MB)")
    summary = []
    for name, _, support in cases:
        here = {r["miner"]: r for r in results if r["data"] == name and r["support"] == support}
        counts = {m: r["counts"] for m, r in here.items() if r["status"] == "ok"}
        agree = len({c for cs in counts.values() for c in cs}) <= 1
        row: dict[str, Any] = {"data": name, "support": support, "counts_agree": agree}
        parts = []
        for ours in ("upsell", "upsell-lists"):
            up = here.get(ours, {})
            for m, r in here.items():
                if m.startswith("upsell") or r["status"] != "ok" or up.get("status") != "ok":
                    continue
                ratios = {"time_ratio": r["seconds"] / up["seconds"],
                          "peak_ratio": up["child_peak_mb"] / r["child_peak_mb"],
                          "mine_ratio": up["rss_peak_mb"] / r["rss_peak_mb"],
                          "added_ratio": max(up["added_mb"], 1.0) / max(r["added_mb"], 1.0)}
                row[f"{ours} vs {m}"] = ratios
                parts.append(f"{ours} vs {m} {ratios['time_ratio']:.2f}x time, mem "
                             f"{ratios['peak_ratio']:.2f}/{ratios['mine_ratio']:.2f}/"
                             f"{ratios['added_ratio']:.2f}x")
        summary.append(row)
        print(f"{name:<10} {support:>8.4%}  counts {'agree' if agree else 'DIFFER: ' + str(counts)}")
        for part in parts:
            print(f"    {part}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "platform": platform.platform()},
           "command": " ".join(sys.argv), "load_average": {"min": min(loads),
                                                          "median": statistics.median(loads),
                                                          "max": max(loads)},
           "results": results, "raw": [r for runs in raw.values() for r in runs],
           "summary": summary}
    target = out / "bench_bundles.json"
    target.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
