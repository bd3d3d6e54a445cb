"""CLV model fits: upsell.kpi vs lifetimes, same run, same data.

Fits BG/NBD, Pareto/NBD and Gamma-Gamma on the CDNOW sample (read with
``upsell.datasets.load_cdnow`` and summarised by ``upsell.kpi.rfm_summary``) and
BG/NBD / Pareto/NBD on synthetic customers drawn from the fitted BG/NBD, with each
library; prints a table of median fit times, ratios, peak traced memory and
parameters, and writes JSON.

    pip install lifetimes        # the peer; not a dependency of upsell
    python benchmarks/bench_clv.py ../shared/data/cdnow/CDNOW_sample.txt

lifetimes fits the rows it is given; on synthetic data it is timed twice: as its
documentation calls it, on one row per customer (``fit(df["frequency"],
df["recency"], df["T"])``), and on distinct (x, t_x, T) rows with ``weights=``
grouped beforehand with pandas (fit time only; the groupby time is reported
apart). upsell is always given the raw customers and groups them itself.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from upsell.datasets import load_cdnow
from upsell.kpi import BetaGeo, GammaGamma, ParetoNBD, rfm_summary
from upsell.kpi.clv import _group_rows

CDNOW_CAL_END = "1997-09-30"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def lifetimes_params(model: Any) -> dict[str, float]:
    p = dict(model.params_)
    if "v" in p:
        p["gamma"] = p.pop("v")
    return {k: float(v) for k, v in p.items()}


def grouped(x: np.ndarray, t: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
    import pandas as pd

    df = pd.DataFrame({"x": x, "t": t, "T": T})
    g = df.groupby(["x", "t", "T"], sort=False).size().reset_index(name="w")
    return g["x"].to_numpy(), g["t"].to_numpy(), g["T"].to_numpy(), g["w"].to_numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cdnow", type=Path, help="path to CDNOW_sample.txt")
    ap.add_argument("--n-synthetic", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per upsell fit (median)")
    ap.add_argument("--peer-repeat", type=int, default=3, help="timed runs per lifetimes fit (median)")
    ap.add_argument("--skip-raw-peer", action="store_true",
                    help="skip lifetimes on the raw synthetic customers (slow)")
    ap.add_argument("--raw-pareto", action="store_true",
                    help="also time lifetimes' Pareto/NBD on the raw synthetic customers (minutes)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "bench_clv.json")
    args = ap.parse_args(argv)

    try:
        import lifetimes
    except ImportError as exc:  # the peer is optional
        print(f"lifetimes is not importable ({exc}); pip install lifetimes", file=sys.stderr)
        return 2
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    rows: list[dict[str, Any]] = []
    grouping: dict[str, dict[str, Any]] = {}

    def record(data: str, model: str, lib: str, seconds: float, params: dict[str, float],
               ll: float | None = None, mem: float | None = None, note: str = "") -> None:
        rows.append({"data": data, "model": model, "library": lib, "seconds": seconds,
                     "params": params, "log_likelihood": ll, "peak_mb": mem, "note": note})

    # ------------------------------------------------------------------ CDNOW
    t0 = time.perf_counter()
    summary = rfm_summary(load_cdnow(args.cdnow), calibration_end=CDNOW_CAL_END)
    prep = time.perf_counter() - t0
    x, t, T, m = summary.frequency, summary.recency, summary.T, summary.monetary_value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifetimes' own deprecation noise, this script only
        for name, ours, peer in (
            ("BG/NBD", lambda: BetaGeo().fit(summary), lambda: BetaGeoFitter().fit(x, t, T)),
            ("Pareto/NBD", lambda: ParetoNBD().fit(summary),
             lambda: ParetoNBDFitter().fit(x, t, T)),
            ("Gamma-Gamma", lambda: GammaGamma().fit(summary),
             lambda: GammaGammaFitter().fit(x[x > 0], m[x > 0])),
        ):
            s, fit = timed(ours, args.repeat)
            record("CDNOW", name, "upsell", s, fit.params_, fit.log_likelihood_, peak_mb(ours))
            s, pfit = timed(peer, args.peer_repeat)
            record("CDNOW", name, f"lifetimes {lifetimes.__version__}", s, lifetimes_params(pfit),
                   None, peak_mb(peer))

        # -------------------------------------------------------------- synthetic
        bg = BetaGeo().fit(summary)
        n = args.n_synthetic
        rng = np.random.default_rng(0)
        # first purchases spread over the 39 calibration weeks; times on a daily grid
        T_syn = rng.integers(1, 274, n) / 7.0
        syn = bg.sample(n, T=T_syn, random_state=1)
        syn["recency"] = np.floor(syn["recency"] * 7.0 + 1e-9) / 7.0
        sx, st_, sT = syn["frequency"], syn["recency"], syn["T"]
        label = f"synthetic {n:,}"
        import pandas as pd

        # what a lifetimes user holds: one row per customer in a DataFrame
        df = pd.DataFrame({"frequency": sx, "recency": st_, "T": sT})
        group_s, (gx, gt, gT, gw) = timed(lambda: grouped(sx, st_, sT), args.repeat)
        ours_group_s, _ = timed(lambda: _group_rows([sx.astype(float), st_, sT],
                                                    [True, False, False]), args.repeat)
        grouping[label] = {"pandas_groupby_s": group_s, "upsell_grouping_s": ours_group_s,
                           "distinct_rows": int(gx.size)}
        for name, ours_cls, peer_cls in (("BG/NBD", BetaGeo, BetaGeoFitter),
                                         ("Pareto/NBD", ParetoNBD, ParetoNBDFitter)):
            s, fit = timed(lambda c=ours_cls: c().fit(syn), args.repeat)
            record(label, name, "upsell", s, fit.params_, fit.log_likelihood_,
                   peak_mb(lambda c=ours_cls: c().fit(syn)),
                   note=f"raw; {fit.n_unique_:,} rows")
            if not args.skip_raw_peer and (name == "BG/NBD" or args.raw_pareto):
                s, pfit = timed(lambda c=peer_cls: c().fit(df["frequency"], df["recency"],
                                                           df["T"]), args.peer_repeat)
                record(label, name, f"lifetimes {lifetimes.__version__}", s,
                       lifetimes_params(pfit), note="raw customers")
            s, pfit = timed(lambda c=peer_cls: c().fit(gx, gt, gT, weights=gw), args.peer_repeat)
            record(label, name, f"lifetimes {lifetimes.__version__}", s, lifetimes_params(pfit),
                   note="pre-grouped + weights")

    # ------------------------------------------------------------------ report
    ours_t = {(r["data"], r["model"]): r["seconds"] for r in rows if r["library"] == "upsell"}
    ours_p = {(r["data"], r["model"]): r["params"] for r in rows if r["library"] == "upsell"}
    print(f"CDNOW load_cdnow + rfm_summary: {prep:.3f} s; synthetic truth = CDNOW BG/NBD fit")
    for lab, gr in grouping.items():
        print(f"{lab}: {gr['distinct_rows']:,} distinct (x, t_x, T) rows; upsell's exact grouping "
              f"{gr['upsell_grouping_s']:.3f} s, pandas groupby {gr['pandas_groupby_s']:.3f} s")
    hdr = f"{'data':<20}{'model':<13}{'library':<18}{'note':<26}{'fit s':>9}{'x upsell':>10}" \
          f"{'peak MB':>9}{'max |dp|/p':>12}  params"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        key = (r["data"], r["model"])
        ratio = r["seconds"] / ours_t[key]
        op = ours_p[key]
        dev = max(abs(r["params"][k] - op[k]) / abs(op[k]) for k in op)
        r["ratio_to_upsell"] = ratio
        r["max_rel_param_diff_to_upsell"] = dev
        params = ", ".join(f"{k}={v:.4f}" for k, v in r["params"].items())
        mem = f"{r['peak_mb']:.1f}" if r["peak_mb"] is not None else "-"
        print(f"{r['data']:<20}{r['model']:<13}{r['library']:<18}{r['note']:<26}"
              f"{r['seconds']:>9.4f}{ratio:>10.1f}{mem:>9}{dev:>12.1e}  {params}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"python": platform.python_version(), "numpy": np.__version__,
           "lifetimes": lifetimes.__version__, "machine": platform.machine(),
           "n_synthetic": n, "repeat": args.repeat, "peer_repeat": args.peer_repeat,
           "grouping": grouping, "rows": rows}
    args.out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
