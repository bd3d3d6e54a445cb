"""Collaborative filtering: upsell.cf against raw implicit on the same matrix, in the same run.

Measures (1) fit time of ALS, BPR and ItemKNN against implicit's own classes on
the same weighted matrix (overhead = upsell / implicit - 1); (2) single-request
``recommend`` latency p50 / p99 for every model (customers and baskets), with
implicit's single-user recommend as the reference; (3) batch throughput of
``recommend_all`` against implicit's batched ``recommend``. EASE runs on its
own, smaller catalog (``--ease-items``) where its dense model fits.

Usage::

    python benchmarks/bench_cf.py --customers 1000000 --items 50000      # full size
    python benchmarks/bench_cf.py --customers 100000 --items 50000 --data powerlaw

``--data make_shop`` uses upsell.datasets.make_shop; ``--data powerlaw`` draws a
random power-law customers x items matrix (faster to build, no structure).
With ``--data make_shop`` EASE gets its own shop of ``--ease-customers`` x
``--ease-items``; otherwise the most popular ``--ease-items`` columns of the
first ``--ease-customers`` rows. Batch throughput is the median of
``--batch-repeats`` runs, implicit and upsell alternating, both with all cores.
Prints a table and writes JSON to ``benchmarks/out/`` (``--out``; gitignored).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from upsell.cf import ALS, BPR, EASE, ItemKNN, Popular


def powerlaw_matrix(n_customers: int, n_items: int, mean_items: float, seed: int
                    ) -> sp.csr_matrix:
    """Customers x items counts: Zipf-like item popularity, geometric basket counts."""
    rng = np.random.default_rng(seed)
    per_customer = rng.geometric(1.0 / mean_items, size=n_customers)
    rows = np.repeat(np.arange(n_customers, dtype=np.int32), per_customer)
    p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    p /= p.sum()
    cols = rng.choice(n_items, size=rows.size, p=p).astype(np.int32)
    cols = rng.permutation(n_items).astype(np.int32)[cols]  # popularity not sorted by id
    m = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)),
                      shape=(n_customers, n_items))
    m.sum_duplicates()
    return m


def shop_matrix(n_customers: int, n_items: int, seed: int) -> sp.csr_matrix:
    from upsell.datasets import make_shop

    shop = make_shop(n_customers=n_customers, n_items=n_items, n_orders=4 * n_customers,
                     random_state=seed)
    return sp.csr_matrix(shop.transactions.customer_items("count"))


#: seconds spent inside implicit's own fit calls (ALS / BPR ``fit``, ``all_pairs_knn``)
_INNER = {"s": 0.0}


def _inner_timer(fn: Any) -> Any:
    def wrapper(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            _INNER["s"] += time.perf_counter() - t
    return wrapper


def _patch_inner() -> None:
    """Time implicit's fit calls from inside upsell's adapter (load-independent overhead)."""
    import implicit._nearest_neighbours as nn
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    for cls in (AlternatingLeastSquares, BayesianPersonalizedRanking):
        cls.fit = _inner_timer(cls.fit)
    nn.all_pairs_knn = _inner_timer(nn.all_pairs_knn)  # upsell imports it at call time


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def quantiles(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--ease-items", type=int, default=20_000)
    ap.add_argument("--ease-customers", type=int, default=200_000)
    ap.add_argument("--mean-items", type=float, default=12.0,
                    help="mean distinct items per customer (powerlaw data)")
    ap.add_argument("--data", choices=["make_shop", "powerlaw"], default="powerlaw")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--als-iterations", type=int, default=15)
    ap.add_argument("--bpr-iterations", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0, help="implicit fit threads (0 = all)")
    ap.add_argument("--requests", type=int, default=2000, help="single requests per model")
    ap.add_argument("--batch-customers", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=1,
                    help="fit repeats (alternating implicit / upsell); the median is reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-repeats", type=int, default=3)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "out" / "bench_cf.json")
    args = ap.parse_args(argv)

    import implicit
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender

    t0 = time.perf_counter()
    if args.data == "make_shop":
        X = shop_matrix(args.customers, args.items, args.seed)
    else:
        X = powerlaw_matrix(args.customers, args.items, args.mean_items, args.seed)
    X = sp.csr_matrix(X, dtype=np.float32)
    build_s = time.perf_counter() - t0
    print(f"data: {args.data} {X.shape[0]:,} customers x {X.shape[1]:,} items, "
          f"{X.nnz:,} non-zeros (built in {build_s:.1f}s); implicit {implicit.__version__}",
          flush=True)
    Xb = X.copy()
    Xb.data[:] = 1.0
    rng = np.random.default_rng(args.seed + 1)
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                               "shape": list(X.shape), "nnz": int(X.nnz),
                               "python": platform.python_version(),
                               "implicit": implicit.__version__, "fit": {}, "latency": {},
                               "batch": {}}

    # ---------------------------------------------------------------- fit
    def raw_als() -> Any:
        with threadpool_limits(1, "blas"):
            m = AlternatingLeastSquares(factors=args.factors, regularization=0.05, alpha=2.0,
                                        iterations=args.als_iterations, num_threads=args.threads,
                                        random_state=0)
            m.fit(X, show_progress=False)
        return m

    def raw_bpr() -> Any:
        with threadpool_limits(1, "blas"):
            m = BayesianPersonalizedRanking(factors=args.factors, learning_rate=0.05,
                                            regularization=0.01, iterations=args.bpr_iterations,
                                            num_threads=args.threads, random_state=0)
            m.fit(Xb, show_progress=False)
        return m

    def raw_knn() -> Any:
        m = CosineRecommender(K=100, num_threads=args.threads)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit's own CosineRecommender passes COO internally and warns about it
            warnings.simplefilter("ignore")
            m.fit(X, show_progress=False)
        return m

    _patch_inner()
    models: dict[str, Any] = {}
    raws: dict[str, Any] = {}
    pairs = {
        "ALS": (raw_als, lambda: ALS(factors=args.factors, iterations=args.als_iterations,
                                     num_threads=args.threads).fit(X, weighting="count")),
        "BPR": (raw_bpr, lambda: BPR(factors=args.factors, iterations=args.bpr_iterations,
                                     num_threads=args.threads).fit(Xb, weighting="binary")),
        "ItemKNN": (raw_knn, lambda: ItemKNN(similarity="cosine", n_neighbors=100,
                                             num_threads=args.threads).fit(
            X, weighting="count")),
    }
    print(f"\n{'fit':<10}{'implicit s':>12}{'upsell s':>12}{'overhead':>10}"
          f"{'wrapper s':>11}{'wrapper':>9}", flush=True)
    for name, (raw_fn, ours_fn) in pairs.items():
        holder: dict[str, Any] = {}
        raw_t, ours_t, wrap_t, inner_t = [], [], [], []
        for _ in range(args.repeats):
            raw_t.append(timed(lambda raw_fn=raw_fn, holder=holder: holder.update(raw=raw_fn())))
            _INNER["s"] = 0.0
            ours_t.append(timed(lambda ours_fn=ours_fn, holder=holder: holder.update(
                ours=ours_fn())))
            inner_t.append(_INNER["s"])
            wrap_t.append(ours_t[-1] - _INNER["s"])
        t_raw, t_ours = float(np.median(raw_t)), float(np.median(ours_t))
        t_wrap, t_inner = float(np.median(wrap_t)), float(np.median(inner_t))
        raws[name], models[name] = holder["raw"], holder["ours"]
        over = t_ours / t_raw - 1
        # wrapper: time in upsell's fit outside implicit's own call, over that call's time
        wrap = t_wrap / t_inner if t_inner > 0 else float("nan")
        results["fit"][name] = {"implicit_s": t_raw, "upsell_s": t_ours, "overhead": over,
                                "upsell_inner_implicit_s": t_inner,
                                "upsell_wrapper_s": t_wrap, "wrapper_overhead": wrap}
        print(f"{name:<10}{t_raw:>12.2f}{t_ours:>12.2f}{over:>+10.1%}{t_wrap:>11.2f}"
              f"{wrap:>+9.1%}", flush=True)
    t_pop = timed(lambda: models.update(Popular=Popular().fit(X)))
    results["fit"]["Popular"] = {"upsell_s": t_pop}
    models["Personal"] = Popular(mode="personal").fit(X)

    # EASE on its own catalog size
    n_e = min(args.ease_items, args.items)
    if args.data == "make_shop":
        Xe = sp.csr_matrix(shop_matrix(args.ease_customers, n_e, args.seed + 2),
                           dtype=np.float32)
        n_e = Xe.shape[1]
    else:
        cols_e = np.argsort(-np.bincount(X.indices, minlength=X.shape[1]))[:n_e]
        Xe = X[: args.ease_customers][:, np.sort(cols_e)].tocsr()
    t_ease = timed(lambda: models.update(EASE=EASE(max_items=max(n_e, 30_000)).fit(Xe)))
    results["fit"]["EASE"] = {"upsell_s": t_ease, "shape": list(Xe.shape)}
    print(f"{'EASE':<10}{'':>12}{t_ease:>12.2f}  ({Xe.shape[0]:,} x {Xe.shape[1]:,})",
          flush=True)

    # ---------------------------------------------------------------- latency
    print(f"\n{'latency ms':<22}{'p50':>8}{'p99':>8}", flush=True)
    n_req = args.requests
    cust = rng.integers(0, X.shape[0], n_req)
    with threadpool_limits(1, "blas"):
        for name, model in models.items():
            data = Xe if name == "EASE" else X
            ids = cust % data.shape[0]
            for kind in ("customer", "basket"):
                if kind == "basket":
                    baskets = [data.indices[data.indptr[u]:data.indptr[u + 1]].tolist()
                               for u in ids]
                    call = lambda j, model=model, baskets=baskets: model.recommend(  # noqa: E731
                        baskets=[baskets[j]], k=10)
                else:
                    id_list = ids.tolist()
                    call = lambda j, model=model, id_list=id_list: model.recommend(  # noqa: E731
                        customers=[id_list[j]], k=10)
                for j in range(20):
                    call(j)
                samples = []
                for j in range(n_req):
                    t = time.perf_counter()
                    call(j)
                    samples.append(time.perf_counter() - t)
                p50, p99 = quantiles(samples)
                results["latency"][f"{name} {kind}"] = {"p50_ms": p50, "p99_ms": p99}
                print(f"{name + ' ' + kind:<22}{p50:>8.3f}{p99:>8.3f}", flush=True)
        for name, raw in raws.items():
            data = Xb if name == "BPR" else X
            samples = []
            for u in cust.tolist():
                row = data[u]
                t = time.perf_counter()
                raw.recommend(u, row, N=10, filter_already_liked_items=True)
                samples.append(time.perf_counter() - t)
            p50, p99 = quantiles(samples)
            results["latency"][f"implicit {name}"] = {"p50_ms": p50, "p99_ms": p99}
            print(f"{'implicit ' + name:<22}{p50:>8.3f}{p99:>8.3f}", flush=True)

    # ---------------------------------------------------------------- batch
    nb = min(args.batch_customers, X.shape[0])
    users = np.arange(nb)
    print(f"\n{'batch (customers/s)':<22}{'implicit':>12}{'upsell':>12}{'ratio':>8}", flush=True)
    with threadpool_limits(1, "blas"):
        for name in ("ALS", "BPR", "ItemKNN"):
            data = Xb if name == "BPR" else X
            raw = raws[name]
            model = models[name]
            ids = model.customers_.ids[:nb]
            raw_t, ours_t = [], []
            for _ in range(args.batch_repeats):
                raw_t.append(timed(lambda raw=raw, data=data: raw.recommend(
                    users, data[users], N=10, filter_already_liked_items=True)))
                ours_t.append(timed(lambda model=model, ids=ids: model.recommend(
                    customers=ids, k=10, batch_size=4096, num_threads=args.threads)))
            t_raw, t_ours = float(np.median(raw_t)), float(np.median(ours_t))
            r_raw, r_ours = nb / t_raw, nb / t_ours
            results["batch"][name] = {"implicit_per_s": r_raw, "upsell_per_s": r_ours,
                                      "ratio": r_ours / r_raw}
            print(f"{name:<22}{r_raw:>12,.0f}{r_ours:>12,.0f}{r_ours / r_raw:>8.2f}", flush=True)
        for name in ("EASE", "Popular"):
            model = models[name]
            n_here = min(nb, len(model.customers_))
            ids = model.customers_.ids[:n_here]
            t_ours = timed(lambda model=model, ids=ids: model.recommend(customers=ids, k=10))
            results["batch"][name] = {"upsell_per_s": n_here / t_ours}
            print(f"{name:<22}{'':>12}{n_here / t_ours:>12,.0f}", flush=True)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["peak_rss_mb"] = peak
    print(f"\npeak RSS {peak:,.0f} MB", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
