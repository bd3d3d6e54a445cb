"""RFM and personas on a large synthetic shop, side by side with RFM as a pandas groupby.

Every measurement runs in its own subprocess so that peak memory is its own:
one subprocess generates the shop with ``upsell.datasets.make_shop`` and writes
its columns to a temporary ``.npz``; each task then loads them, resets the
kernel's peak-RSS counter (``/proc/self/clear_refs``), runs, and reports wall
time, the peak RSS during the task and how far it rose above the RSS before it.

    python benchmarks/bench_segments.py                       # 1M customers, ~10M lines
    python benchmarks/bench_segments.py --customers 200000 --lines 2000000

Prints a table and writes JSON (``--out``, default benchmarks/out/segments.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LINES_PER_ORDER = 2.07   # make_shop, measured: order lines per sale order after cleaning


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------- children
def _generate(args: argparse.Namespace) -> dict[str, Any]:
    from upsell.datasets import make_shop

    t0 = time.perf_counter()
    shop = make_shop(n_customers=args.customers, n_items=args.items,
                     n_orders=max(int(args.lines / LINES_PER_ORDER), args.customers),
                     random_state=args.seed)
    gen = time.perf_counter() - t0
    tx, cat = shop.transactions, shop.catalog
    arrays = {
        "order": tx.order, "item": tx.item, "customer": tx.customer, "quantity": tx.quantity,
        "price": tx.price, "time": tx.time.astype(np.int64), "channel": tx.channel,
        "order_ids": tx.orders.ids, "item_ids": tx.items.ids,
        "customer_ids": tx.customers.ids, "channel_ids": tx.channels.ids,  # type: ignore[union-attr]
        **{f"cat:{k}": v for k, v in cat.to_arrays().items()}, "cat_items": cat.items.ids,
    }
    np.savez(args.data, **arrays)  # type: ignore[arg-type]
    return {"generate_s": gen, "lines": len(tx), "orders": len(tx.orders),
            "customers": len(tx.customers), "items": len(tx.items)}


def _load(path: str) -> tuple[Any, Any]:
    from upsell.data import Catalog, DataReport, IdIndex, Transactions

    a = np.load(path, allow_pickle=False)
    tx = Transactions(
        order=a["order"], item=a["item"], customer=a["customer"], quantity=a["quantity"],
        price=a["price"], time=a["time"].astype("datetime64[s]"), channel=a["channel"],
        orders=IdIndex(a["order_ids"], name="order"), items=IdIndex(a["item_ids"], name="item"),
        customers=IdIndex(a["customer_ids"], name="customer"),
        channels=IdIndex(a["channel_ids"], name="channel"),
        report=DataReport(rows_read=int(a["order"].size), rows_kept=int(a["order"].size)))
    cat = Catalog.from_saved(IdIndex(a["cat_items"], name="item"),
                             {k[4:]: a[k] for k in a.files if k.startswith("cat:")})
    return tx, cat


def _digest(*arrays: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).astype(str if a.dtype.kind == "U" else np.int64)
                 .tobytes())
    return h.hexdigest()


def _pandas_rfm(tx: Any) -> tuple[dict[str, float], Any]:
    """The same RFM the way a pandas user writes it (scores with the same tie rule)."""
    import pandas as pd

    t0 = time.perf_counter()
    keep = tx.customer >= 0
    df = pd.DataFrame({"customer": tx.customer[keep], "order": tx.order[keep],
                       "time": tx.time[keep], "value": tx.quantity[keep] * tx.price[keep]})
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    at = (df["time"].max().normalize() + pd.Timedelta(days=1))
    g = df.groupby("customer").agg(last=("time", "max"), frequency=("order", "nunique"),
                                   monetary=("value", "sum"))
    g["recency"] = (at - g["last"]).dt.days
    g["monetary"] = g["monetary"].round(6)

    def score(s: Any) -> Any:
        below = s.rank(method="min") - 1
        span = len(s) - int((s == s.max()).sum())
        return (np.floor(5 * below / span) + 1).clip(1, 5).astype("int8")

    g["r"], g["f"], g["m"] = score(-g["recency"]), score(g["frequency"]), score(g["monetary"])
    return {"build_frame_s": build, "compute_s": time.perf_counter() - t0}, g


def _task(args: argparse.Namespace) -> dict[str, Any]:
    # imports and loading are not part of the measurement
    import pandas  # noqa: F401

    from upsell.segments import Personas, rfm

    tx, cat = _load(args.data)
    base = _rss_kb("VmRSS")
    reset = _reset_peak()
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if args.task == "rfm":
        res = rfm(tx)
        labels, counts = np.unique(res.segment, return_counts=True)
        out["segments"] = dict(zip(labels.tolist(), counts.tolist(), strict=True))
        out["scores_sha"] = _digest(res.customers, res.r, res.f, res.m)
    elif args.task == "pandas":
        times, g = _pandas_rfm(tx)
        out.update(times)
        out["scores_sha"] = _digest(tx.customers.ids[g.index.to_numpy()], g["r"].to_numpy(),
                                    g["f"].to_numpy(), g["m"].to_numpy())
    elif args.task == "personas":
        t1 = time.perf_counter()
        model = Personas().fit(tx, catalog=cat)
        out["fit_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        pred = model.predict(tx, at=model.at_)
        out["predict_tx_s"] = time.perf_counter() - t1
        labels, counts = np.unique(pred.persona, return_counts=True)
        out["sizes"] = dict(zip(labels.tolist(), counts.tolist(), strict=True))
        # one live customer: a few lines of history, ids as strings, ISO times
        items = tx.items.ids[:6].tolist()
        hist = {"order": [1, 1, 2, 3, 4, 5], "item": items, "price": [10.0] * 6,
                "quantity": [1] * 6,
                "time": ["2023-03-01", "2023-03-01", "2023-07-01", "2024-01-05",
                         "2024-06-01", "2024-11-11"]}
        at = np.datetime64("2025-01-01")
        lat = []
        for _ in range(2000):
            t2 = time.perf_counter()
            model.assign(history=hist, at=at)
            lat.append(time.perf_counter() - t2)
        out["assign_median_us"] = float(np.median(lat) * 1e6)
        out["assign_p99_us"] = float(np.quantile(lat, 0.99) * 1e6)
    out["total_s"] = time.perf_counter() - t0
    peak = _rss_kb("VmHWM")
    out["peak_rss_mb"] = peak / 1024 if reset else float("nan")
    out["extra_rss_mb"] = (peak - base) / 1024 if reset else float("nan")
    return out


# ---------------------------------------------------------------------- parent
def _run_child(args: argparse.Namespace, task: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", task, "--data", args.data,
           "--customers", str(args.customers), "--lines", str(args.lines),
           "--items", str(args.items), "--seed", str(args.seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{task} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--lines", type=int, default=10_000_000, help="target order lines")
    ap.add_argument("--items", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="runs per task (median reported)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("out") / "segments.json"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.task = args.child
        res = _generate(args) if args.child == "generate" else _task(args)
        print(json.dumps(res))
        return

    with tempfile.TemporaryDirectory(prefix="bench-segments-") as tmp:
        args.data = os.path.join(tmp, "shop.npz")
        shop = _run_child(args, "generate")
        print(f"make_shop: {shop['customers']:,} customers, {shop['lines']:,} lines, "
              f"{shop['orders']:,} orders, {shop['items']:,} items "
              f"(generated in {shop['generate_s']:.1f} s)")
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in ("rfm", "pandas", "personas")}
        for _ in range(args.repeat):
            for task in runs:
                runs[task].append(_run_child(args, task))

    def med(task: str, key: str) -> float:
        return float(np.median([r[key] for r in runs[task]]))

    rows = [
        ("upsell rfm(tx)", med("rfm", "total_s"), med("rfm", "peak_rss_mb"),
         med("rfm", "extra_rss_mb")),
        ("pandas groupby RFM (frame build + groupby + scores)", med("pandas", "total_s"),
         med("pandas", "peak_rss_mb"), med("pandas", "extra_rss_mb")),
        ("  of which groupby + scores", med("pandas", "compute_s"), float("nan"), float("nan")),
        ("upsell Personas fit (features + thresholds + all assignments)",
         med("personas", "fit_s"), float("nan"), float("nan")),
        ("upsell Personas predict(tx) for all customers", med("personas", "predict_tx_s"),
         float("nan"), float("nan")),
        ("upsell Personas fit + predict + 2,000 assign (whole task)",
         med("personas", "total_s"), med("personas", "peak_rss_mb"),
         med("personas", "extra_rss_mb")),
    ]
    same = runs["rfm"][0]["scores_sha"] == runs["pandas"][0]["scores_sha"]
    print(f"\n{'task':<66} {'time s':>8} {'peak MB':>9} {'+MB':>8}")
    for name, t, peak, extra in rows:
        print(f"{name:<66} {t:>8.2f} {peak:>9.0f} {extra:>8.0f}")
    ratio = med("pandas", "total_s") / med("rfm", "total_s")
    print(f"\npandas / upsell RFM time: {ratio:.1f}x "
          f"(groupby alone: {med('pandas', 'compute_s') / med('rfm', 'total_s'):.1f}x); "
          f"same R/F/M scores: {same}")
    print(f"assign one live customer: median {med('personas', 'assign_median_us'):.0f} us, "
          f"p99 {med('personas', 'assign_p99_us'):.0f} us")
    print("personas: " + ", ".join(f"{k} {v:,}" for k, v in runs["personas"][0]["sizes"].items()))
    result = {"shop": shop, "runs": runs, "pandas_over_upsell": ratio, "same_scores": same,
              "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
