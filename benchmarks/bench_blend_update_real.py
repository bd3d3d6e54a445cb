"""Does the learned blend's second stage help on a real shop's outcomes?

Online Retail has no offer log, so the outcome of an offer is what the customer did: an offer
counts as accepted when the customer bought the item within 30 days after the visit. The
Recommender (``Recommender.from_history``'s parts, learned blend, default rules) is fitted on
the lines before ``--cut``. Month 1 after the cut: each returning customer's first visit is
served (k=5) and logged with its outcomes; ``Recommender.update(log)`` learns the stage.
Month 2: each returning customer's first visit is served by the static and the updated
Recommender (paired); reported: offers bought within 30 days per visit, their ratio and a
paired bootstrap interval of the difference.

    python benchmarks/bench_blend_update_real.py ../shared/data/online-retail/online_retail_2010-12_to_2011-09.csv.gz
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from upsell import Transactions
from upsell.recommend import OfferLog, Recommender
from upsell.recommend.blend import history_parts

COLUMNS = dict(order="InvoiceNo", item="StockCode", customer="CustomerID", quantity="Quantity",
               price="UnitPrice", time="InvoiceDate", name="Description")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path", help="Online Retail CSV (or any file with its column names)")
    ap.add_argument("--cut", default="2011-08-01")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--days", type=int, default=30, help="outcome window after a visit")
    args = ap.parse_args()

    tx = Transactions.read_csv(args.path, columns=COLUMNS, cancel_prefix="C")
    train, test = tx.split_at(args.cut)
    ids = np.asarray(tx.customers.ids)
    item_ids = np.asarray(tx.items.ids)
    had = set(ids[np.unique(train.customer[train.customer >= 0])].tolist())
    tc, ti, tt = test.customer, test.item, test.time
    buys: dict[object, list[tuple[object, np.datetime64]]] = {}
    for c, i, t in zip(tc.tolist(), ti.tolist(), tt, strict=True):
        if c >= 0:
            buys.setdefault(ids[c], []).append((item_ids[i], t))
    window = np.timedelta64(args.days, "D")
    cut = np.datetime64(args.cut)
    mid = (cut.astype("datetime64[M]") + 1).astype("datetime64[s]")
    end = (cut.astype("datetime64[M]") + 2).astype("datetime64[s]")

    def first_visits(lo: np.datetime64, hi: np.datetime64) -> list[tuple[object, np.datetime64]]:
        out: dict[object, np.datetime64] = {}
        for j in np.argsort(tt, kind="stable"):
            c = tc[j]
            if c >= 0 and lo <= tt[j] < hi and ids[c] in had and ids[c] not in out:
                out[ids[c]] = tt[j]
        return list(out.items())

    def bought(c: object, item: object, at: np.datetime64) -> bool:
        return any(it == item and at < tb <= at + window for it, tb in buys.get(c, []))

    t0 = time.process_time()
    parts = history_parts(train, blend="learned", random_state=0)
    print(f"fit: {time.process_time() - t0:.0f} s CPU")
    with tempfile.TemporaryDirectory() as folder:  # two independent copies of one fit
        Recommender(**parts).fit().save(folder)
        static, updated = Recommender.load(folder), Recommender.load(folder)
    first, second = first_visits(cut, mid), first_visits(mid, end)
    log = OfferLog.in_memory()
    n_acc = 0
    for c, at in first:
        offers = updated.recommend(customer=c, k=args.k, at=at)
        for oid, o in zip(log.presented(offers, customer=c, time=at), offers, strict=True):
            if bought(c, o.item, at):
                log.accepted(oid, time=at)
                n_acc += 1
    t0 = time.process_time()
    updated.update(log)
    info = updated.blend.stage_.info
    print(f"month 1: {len(first)} visits, {n_acc} offers bought; update "
          f"{time.process_time() - t0:.1f} s CPU; stage new: {info['new']['status']} "
          f"({info['new'].get('rounds', 0)} rounds, validation log loss "
          f"{info['new'].get('valid_before', float('nan')):.4f} -> "
          f"{info['new'].get('valid_after', float('nan')):.4f})")
    h1 = np.array([sum(bought(c, o.item, at) for o in static.recommend(customer=c, k=args.k, at=at))
                   for c, at in second], dtype=np.float64)
    h2 = np.array([sum(bought(c, o.item, at) for o in updated.recommend(customer=c, k=args.k, at=at))
                   for c, at in second], dtype=np.float64)
    d = h2 - h1
    rng = np.random.default_rng(0)
    boots = np.array([d[rng.integers(0, d.size, d.size)].mean() for _ in range(2000)])
    print(f"month 2: {len(second)} visits; offers bought per visit: static {h1.mean():.4f}, "
          f"updated {h2.mean():.4f} (ratio {h2.mean() / max(h1.mean(), 1e-12):.3f}); paired "
          f"difference 95% CI [{np.percentile(boots, 2.5):.4f}, {np.percentile(boots, 97.5):.4f}]")


if __name__ == "__main__":
    main()
