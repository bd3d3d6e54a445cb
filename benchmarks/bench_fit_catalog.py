"""What `upsell fit`'s recipe costs as the catalog grows: EASE's share under its work budget.

``Recommender.from_history(tx, blend="auto")`` (what ``upsell fit`` runs) on ``make_shop``
shops of growing catalogs, each fit in its own process: CPU seconds, peak resident memory,
and the EASE fits inside it (count, CPU seconds, the most items one spans). EASE inverts a
dense items x items matrix, cubic in the items; the library's recipes keep it within
``upsell.cf.EASE.affordable_items`` (the Recommender's own EASE source up to one fit's
budget, item-KNN above; the learned blend's EASE at every cut over the most-bought items the
cuts can afford together).

    python benchmarks/bench_fit_catalog.py
    python benchmarks/bench_fit_catalog.py --items 4000,12000,24000 --customers 20000 \
        --orders 120000

No peer: no other library fits this recipe; EASE's own cost against a reference
implementation is in bench_cf.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any


def child(n_items: int, n_customers: int, n_orders: int) -> dict[str, Any]:
    """One fit, in this process: its CPU time, memory and EASE fits."""
    import upsell as us
    from upsell.cf import EASE

    shop = us.datasets.make_shop(n_customers=n_customers, n_items=n_items, n_orders=n_orders,
                                 random_state=0)
    tx = shop.transactions
    fits: list[tuple[int, float]] = []
    original = EASE.fit

    def timed_fit(self: Any, *a: Any, **k: Any) -> Any:
        t = time.process_time()
        out = original(self, *a, **k)
        fits.append((int(out.neighbors_.shape[0]), time.process_time() - t))
        return out

    EASE.fit = timed_fit  # type: ignore[method-assign]
    c0 = time.process_time()
    rec = us.recommend.Recommender.from_history(tx, blend="auto")
    cpu = time.process_time() - c0
    sources = [type(s).__name__ for s in rec.cross_sell]
    blend = rec.blend
    state = getattr(blend, "state_", None)
    spanned = 0
    if state is not None and state.ease.nnz:
        rows, cols = state.ease.nonzero()
        spanned = len(set(rows.tolist()) | set(cols.tolist()))
    return {"items": len(tx.items), "lines": len(tx), "customers": len(tx.customers),
            "cpu_s": cpu, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "ease_fits": len(fits), "ease_cpu_s": sum(s for _, s in fits),
            "ease_max_items": max((n for n, _ in fits), default=0),
            "blend": type(blend).__name__ if blend is not None else "weighted",
            "sources": sources, "blend_ease_items": spanned,
            "affordable_one_fit": EASE.affordable_items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default="4000,12000", help="catalog sizes, comma separated")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--orders", type=int, default=120_000)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(int(args.child), args.customers, args.orders)))
        return
    rows = []
    for n in [int(x) for x in args.items.split(",") if x.strip()]:
        res = subprocess.run([sys.executable, __file__, "--child", str(n), "--customers",
                              str(args.customers), "--orders", str(args.orders)],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        line = next(x for x in res.stdout.splitlines() if x.startswith("RESULT "))
        rows.append(json.loads(line[7:]))
    print("| make_shop items | lines | customers | fit CPU s | peak MB | EASE fits | EASE CPU s "
          "| largest EASE (items) | blend | cross-sell sources |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['items']:,} | {r['lines']:,} | {r['customers']:,} | {r['cpu_s']:.1f} | "
              f"{r['peak_mb']:.0f} | {r['ease_fits']} | {r['ease_cpu_s']:.1f} | "
              f"{r['ease_max_items']:,} | {r['blend']} | {', '.join(r['sources'])} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
