"""CLV model fits: upsell.kpi vs lifetimes, same run, same data.

Fits BG/NBD, Pareto/NBD and Gamma-Gamma on the CDNOW sample (built through
``upsell.kpi.rfm_summary``) and BG/NBD / Pareto/NBD on synthetic customers drawn
from the fitted BG/NBD, with each library; prints a table of median fit times,
ratios, peak traced memory and parameters, and writes JSON.

    pip install lifetimes        # the peer; not a dependency of upsell
    python benchmarks/bench_clv.py ../shared/data/cdnow/CDNOW_sample.txt

lifetimes fits the rows it is given; on synthetic data it is timed twice: on the
raw customers and on distinct (x, t_x, T) rows with ``weights=`` (grouping time
included), which is how its documentation suggests fitting large data.
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

from upsell import Transactions
from upsell.kpi import BetaGeo, GammaGamma, ParetoNBD, rfm_summary

CDNOW_CAL_END = "1997-09-30"


def cdnow_transactions(path: Path) -> Transactions:
    """CDNOW_sample.txt (master_id, sample_id, YYYYMMDD, CDs, dollars) as Transactions."""
    raw = np.loadtxt(path, dtype=np.int64, usecols=(0, 2, 3))
    dollars = np.loadtxt(path, usecols=(4,))
    d = raw[:, 1]
    dates = np.array([f"{v // 10000:04d}-{v // 100 % 100:02d}-{v % 100:02d}" for v in d],
                     dtype="datetime64[D]")
    # eight lines cost $0.00: they are purchases, so keep them (bad_prices="keep")
    return Transactions.from_arrays(
        order=np.arange(raw.shape[0]), item=np.zeros(raw.shape[0], dtype=np.int64),
        customer=raw[:, 0], quantity=raw[:, 2], price=dollars / raw[:, 2], time=dates,
        bad_prices="keep")


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
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per upsell fit (median)")
    ap.add_argument("--peer-repeat", type=int, default=3, help="timed runs per lifetimes fit on CDNOW")
    ap.add_argument("--skip-raw-peer", action="store_true",
                    help="skip lifetimes on the raw synthetic customers (slow)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "bench_clv.json")
    args = ap.parse_args(argv)

    try:
        import lifetimes
    except ImportError as exc:  # the peer is optional
        print(f"lifetimes is not importable ({exc}); pip install lifetimes", file=sys.stderr)
        return 2
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    rows: list[dict[str, Any]] = []

    def record(data: str, model: str, lib: str, seconds: float, params: dict[str, float],
               ll: float | None = None, mem: float | None = None, note: str = "") -> None:
        rows.append({"data": data, "model": model, "library": lib, "seconds": seconds,
                     "params": params, "log_likelihood": ll, "peak_mb": mem, "note": note})

    # ------------------------------------------------------------------ CDNOW
    t0 = time.perf_counter()
    summary = rfm_summary(cdnow_transactions(args.cdnow), calibration_end=CDNOW_CAL_END)
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
        for name, ours_cls, peer_cls in (("BG/NBD", BetaGeo, BetaGeoFitter),
                                         ("Pareto/NBD", ParetoNBD, ParetoNBDFitter)):
            s, fit = timed(lambda c=ours_cls: c().fit(syn), args.repeat)
            record(label, name, "upsell", s, fit.params_, fit.log_likelihood_,
                   peak_mb(lambda c=ours_cls: c().fit(syn)),
                   note=f"{fit.n_unique_:,} distinct rows")

            def peer_grouped(c: Any = peer_cls) -> Any:
                gx, gt, gT, gw = grouped(sx, st_, sT)
                return c().fit(gx, gt, gT, weights=gw)

            s, pfit = timed(peer_grouped, 1)
            record(label, name, f"lifetimes {lifetimes.__version__}", s, lifetimes_params(pfit),
                   note="grouped rows + weights")
            if not args.skip_raw_peer and name == "BG/NBD":
                s, pfit = timed(lambda c=peer_cls: c().fit(sx, st_, sT), 1)
                record(label, name, f"lifetimes {lifetimes.__version__}", s,
                       lifetimes_params(pfit), note="raw customers")

    # ------------------------------------------------------------------ report
    ours_t = {(r["data"], r["model"]): r["seconds"] for r in rows if r["library"] == "upsell"}
    ours_p = {(r["data"], r["model"]): r["params"] for r in rows if r["library"] == "upsell"}
    print(f"CDNOW summary via rfm_summary: {prep:.3f} s; synthetic truth = CDNOW BG/NBD fit")
    hdr = f"{'data':<20}{'model':<13}{'library':<18}{'note':<24}{'fit s':>9}{'x upsell':>10}" \
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
        print(f"{r['data']:<20}{r['model']:<13}{r['library']:<18}{r['note']:<24}"
              f"{r['seconds']:>9.4f}{ratio:>10.1f}{mem:>9}{dev:>12.1e}  {params}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"python": platform.python_version(), "numpy": np.__version__,
           "lifetimes": lifetimes.__version__, "machine": platform.machine(),
           "n_synthetic": n, "repeat": args.repeat, "rows": rows}
    args.out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
