"""Offer log read speed: ``OfferLog.outcomes()`` and ``to_offer_table()`` on a 1M-event log.

Writes a log of N events (presented offers in requests of k, ~5% accepted, ~3%
declined) into an SQLite file (bulk, through the table's own SQL: how a shop's
pipeline or a long-running server fills it) and into a memory log (through
``presented``/``accepted``/``declined``), then times the readers the learner
(``Recommender.update``), off-policy evaluation and the KPIs use.

    python benchmarks/bench_offer_log.py [--events 1000000] [--repeat 3] [--json out.json]

Also times ``outcomes(columns=LearnFromOutcomes.outcome_columns)`` (the four
columns the learner reads, what ``Recommender.update`` asks for) and
``Recommender.update`` end to end with a ``LearnFromOutcomes`` rule, wall and CPU
seconds; the load average is printed before and after (the machine may be shared).

Target (issue 22): ``Recommender.update`` on 1M events <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
import tracemalloc
import uuid
from typing import Any

import numpy as np

from upsell import Catalog, Recommender
from upsell.kpi import conversion
from upsell.recommend import LearnFromOutcomes, OfferLog
from upsell.recommend.offerlog import SCHEMA


def make_rows(n_events: int, k: int, seed: int) -> list[tuple[Any, ...]]:
    """Rows in the table's column order: presented offers, then their answers."""
    rng = np.random.default_rng(seed)
    n_pres = round(n_events / 1.08)
    n_req = -(-n_pres // k)
    t0 = 1_700_000_000.0
    req_time = t0 + np.sort(rng.uniform(0, 86_400 * 90, n_req))
    customers = rng.integers(0, 100_000, n_req)
    segments = np.array(["new", "loyal", "lapsed", "vip"])[rng.integers(0, 4, n_req)]
    policies = np.where(req_time < t0 + 86_400 * 45, "upsell@1a2b3c4d", "upsell@5e6f7a8b")
    items = rng.integers(0, 5_000, n_pres)
    explored = rng.random(n_pres) < 0.05
    propensity = np.where(explored, 0.01, 0.95)
    probability = rng.uniform(0.01, 0.3, n_pres)
    rows: list[tuple[Any, ...]] = []
    offer_ids = []
    for j in range(n_pres):
        r = j // k
        oid = uuid.uuid4().hex
        offer_ids.append(oid)
        rows.append((oid, "presented", float(req_time[r]), f"C{customers[r]}", f"I{items[j]}",
                     "cross_sell" if items[j] % 3 else "upsell", "web", "bundles+als", None,
                     f"R{r}", j % k, policies[r], float(propensity[j]), int(explored[j]),
                     segments[r], float(probability[j])))
    answered = rng.choice(n_pres, n_events - n_pres, replace=False)
    accept = rng.random(answered.size) < 0.05 / 0.08
    for j, acc in zip(answered.tolist(), accept.tolist(), strict=True):
        p = rows[j]
        rows.append((p[0], "accepted" if acc else "declined", p[2] + 60.0, *p[3:8],
                     float(items[j] % 50 + 1) if acc else None, *p[9:]))
    return rows


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs (and the result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def cpu(fn: Any) -> float:
    """CPU seconds of one run (the machine may be shared: wall time includes waiting)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-memory", action="store_true", help="skip the memory log")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    load_before = os.getloadavg()
    rows = make_rows(args.events, args.k, args.seed)
    n_pres = sum(r[1] == "presented" for r in rows)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "offers.db")
        conn = sqlite3.connect(path)
        conn.execute(SCHEMA.format(table="upsell_offer_events"))
        t = time.perf_counter()
        conn.executemany(f"INSERT INTO upsell_offer_events VALUES ({', '.join('?' * 16)})",
                         rows)
        conn.commit()
        conn.close()
        fill = time.perf_counter() - t
        log = OfferLog.sqlite(path)  # creates the indexes, checks the columns
        backends: list[tuple[str, Any, float]] = [("sqlite", log, fill)]
        if not args.no_memory:
            mem = OfferLog.in_memory()
            t = time.perf_counter()
            ids: dict[str, str] = {}
            for r in rows:
                if r[1] == "presented":
                    ids[r[0]] = mem.record("presented", item=r[4], customer=r[3], kind=r[5],
                                           channel=r[6], source=r[7], time=r[2],
                                           request_id=r[9], position=r[10], policy=r[11],
                                           propensity=r[12], explored=bool(r[13]),
                                           segment=r[14], probability=r[15])
                elif r[1] == "accepted":
                    mem.accepted(ids[r[0]], revenue=r[8], time=r[2])
                else:
                    mem.declined(ids[r[0]], time=r[2])
            backends.append(("memory", mem, time.perf_counter() - t))
        learner = LearnFromOutcomes.outcome_columns
        for name, lg, fill_s in backends:
            secs, out = timed(lg.outcomes, args.repeat)
            secs_cpu = cpu(lg.outcomes)
            tracemalloc.start()
            lg.outcomes()
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            since = np.datetime64(1_700_000_000 + 86_400 * 45, "s")
            s_since, part = timed(lambda lg=lg, since=since: lg.outcomes(since=since), args.repeat)
            s_table, _ = timed(lg.to_offer_table, 1)
            s_conv, _ = timed(lambda lg=lg: conversion(lg, by="policy"), 1)
            assert out["item"].size == n_pres
            s_cols, some = timed(lambda lg=lg, c=learner: lg.outcomes(columns=c), args.repeat)
            s_cols_cpu = cpu(lambda lg=lg, c=learner: lg.outcomes(columns=c))
            for c in learner:
                np.testing.assert_array_equal(some[c], out[c])
            rec = Recommender(catalog=Catalog.from_records(
                [{"item": f"I{i}"} for i in range(5_000)]), rules=[LearnFromOutcomes()],
                offer_log=lg, policy="bench")
            s_update, _ = timed(rec.update, args.repeat)
            s_update_cpu = cpu(rec.update)
            # before: the learner fed the full read (every column)
            s_full_cpu = cpu(lambda lg=lg: LearnFromOutcomes().update(lg.outcomes()))
            results.append({"backend": name, "events": len(rows), "presented": n_pres,
                            "fill_s": fill_s, "outcomes_s": secs, "outcomes_cpu_s": secs_cpu, "outcomes_peak_mib": peak,
                            "outcomes_since_half_s": s_since,
                            "outcomes_learner_cols_s": s_cols,
                            "outcomes_learner_cols_cpu_s": s_cols_cpu,
                            "update_s": s_update, "update_cpu_s": s_update_cpu,
                            "update_full_read_cpu_s": s_full_cpu,
                            "rows_since_half": int(part["item"].size),
                            "to_offer_table_s": s_table, "conversion_by_policy_s": s_conv,
                            "accepted": int(out["accepted"].sum()),
                            "declined": int(out["declined"].sum())})
    head = ("backend", "events", "fill_s", "outcomes_s", "outcomes_cpu_s", "outcomes_peak_mib",
            "outcomes_since_half_s", "outcomes_learner_cols_s", "outcomes_learner_cols_cpu_s",
            "update_s", "update_cpu_s", "update_full_read_cpu_s", "to_offer_table_s", "conversion_by_policy_s")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        print("| " + " | ".join(f"{r[h]:,.2f}" if isinstance(r[h], float) else f"{r[h]:,}"
                                if isinstance(r[h], int) else str(r[h]) for h in head) + " |")
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.2f}' for x in load_after)} ({os.cpu_count()} CPUs)")
    if args.json:
        for r in results:
            r["load_before"], r["load_after"] = list(load_before), list(load_after)
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
