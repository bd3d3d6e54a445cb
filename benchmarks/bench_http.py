"""HTTP benchmark of ``upsell serve``: latency at fixed rates, the highest sustained rate, the
same for in-process calls, resident memory per worker, and a fault run.

For each model (a make_shop model and one fitted on the real Online Retail file with
``upsell fit``), on loopback only, with bounded request counts:

* in-process: two processes (as many as the workers) each load the model once and call
  ``Recommender.recommend`` on an open-loop schedule (rate / 2 each);
* HTTP: ``python -m upsell.serve MODEL --workers 2``; an open-loop load generator (a
  scheduler thread and 32 sender threads, each with one keep-alive ``http.client``
  connection) sends ``POST /v1/recommend`` at the scheduled times. Latency is measured from
  the SCHEDULED time, so a server that falls behind shows it (no coordinated omission);
* the rate ladder (100 ... 2000 req/s) goes up until p99 passes 50 ms (or requests fail, or
  the achieved rate falls below 90 % of the target), and at least to 500 req/s; each rate runs
  ``--repeats`` times (3; 1 with ``--quick``) and the run with the median p99 is kept;
  "sustained" is the highest rate below the first that was not; the 200 and 500 req/s rows
  are the ladder's steps;
* memory: RSS and PSS (``/proc/PID/smaps_rollup``) of each worker, against the size of the
  model folder (arrays are memory-mapped, so file pages are shared between workers);
* fault run: recommend + event traffic while one worker is SIGKILLed every few seconds;
  counts failed requests and compares the events acknowledged (202) with the rows in the
  SQLite offer log (lost = acknowledged but absent; must be 0).

The load generator runs on the same machine as the server: on a 2-core machine it takes
part of a core, so the HTTP numbers are pessimistic. Absolute figures drift with the machine's
load; the load average is printed and stored.

    python benchmarks/bench_http.py --quick            # small shop, short runs (minutes)
    python benchmarks/bench_http.py                    # the issue's 1M customers x 50k items
    python benchmarks/bench_http.py --dir /tmp/bh --reuse   # reuse the models built before

Prints a table and writes ``benchmarks/out/bench_http.json`` (``bench_http_quick.json``
with ``--quick``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).with_name("out")
RETAIL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "online-retail" / \
    "online_retail_2010-12_to_2011-09.csv.gz"
P99_LIMIT_MS = 50.0
SENDERS = 32


# ---------------------------------------------------------------------- models
def build_shop(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """A make_shop model fitted like ``upsell fit`` does (bundle rules, item-KNN, customer
    types, upsell ranker)."""
    import upsell as us
    from upsell.bundles import BundleRecommender, association_rules, frequent_itemsets
    from upsell.cf import ItemKNN
    from upsell.segments import Personas
    from upsell.tiers import UpsellRanker

    t = time.perf_counter()
    shop = us.datasets.make_shop(n_customers=args.customers, n_items=args.items,
                                 n_orders=args.orders, random_state=0)
    tx, cat = shop.transactions, shop.catalog
    personas = Personas().fit(tx, catalog=cat)
    rules = association_rules(frequent_itemsets(
        tx, min_support=max(20, len(tx.orders) // 100_000), max_len=2), min_confidence=0.02)
    rec = us.Recommender(catalog=cat, cross_sell=[BundleRecommender(rules),
                                                  ItemKNN(n_neighbors=50).fit(tx)],
                         upsell=UpsellRanker().fit(tx, cat, segments=personas),
                         segments=personas, history=tx)
    rec.save(path)
    return {"customers": len(tx.customers), "items": len(cat), "lines": len(tx),
            "fit_seconds": time.perf_counter() - t}


def build_retail(path: str, data: Path) -> dict[str, Any]:
    """The Online Retail model, fitted by the command line (``upsell fit``)."""
    cols = ("order=InvoiceNo,item=StockCode,name=Description,quantity=Quantity,"
            "time=InvoiceDate,price=UnitPrice,customer=CustomerID")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "upsell", "fit", str(data), "--cancel-prefix", "C",
                    "--columns", cols, "--out", path, "--quiet"], check=True)
    return {"fit_seconds": time.perf_counter() - t}


def folder_mb(path: str) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20


def make_bodies(path: str, n: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Request bodies as a web back end sends them (customer ids as strings), and model facts."""
    from upsell.recommend import Recommender

    rec = Recommender.load(path)
    rng = np.random.default_rng(seed)
    hist = rec.history_
    items = rec.catalog.items.ids
    cust = hist.customers.ids if hist is not None else np.zeros(0)
    moments = (None, "product_page", "cart", "checkout")
    bodies = []
    for j in range(n):
        body: dict[str, Any] = {"k": 5, "moment": moments[j % 4]}
        c = None
        if cust.size and j % 10:
            c = cust[rng.integers(cust.size)].item()
            body["customer"] = str(c)
        owned = hist.owned(c)[0] if (c is not None and hist is not None) else ()
        if owned and j % 3:
            body["basket"] = [owned[int(rng.integers(len(owned)))]]
        elif j % 2:
            body["basket"] = [items[rng.integers(items.size)].item()]
        body["basket"] = [b.item() if hasattr(b, "item") else b for b in body.get("basket", [])]
        bodies.append(body)
    del rec, hist
    import gc

    gc.collect()  # unmap the model: the workers' PSS must not count this process's share
    return bodies, {"customers": int(cust.size), "items": int(items.size)}


# ---------------------------------------------------------------------- in-process load
def _inproc_child(path: str, bodies: list[dict[str, Any]], cmd: Any, out: Any) -> None:
    """One in-process "worker": load once, then run open-loop jobs ``(rate, n)`` until None."""
    import gc

    from upsell.recommend import Recommender

    rec = Recommender.load(path, verify=False)
    gc.collect()
    gc.freeze()

    def call(b: dict[str, Any]) -> None:
        rec.recommend(b.get("customer"), basket=b.get("basket", ()), k=b["k"],
                      moment=b["moment"])

    for b in bodies[:50]:  # warm-up
        call(b)
    out.put("ready")
    while (job := cmd.get()) is not None:
        rate, n = job
        t0 = time.perf_counter()
        c0 = time.process_time()
        lat = []
        for i in range(n):
            due = t0 + i / rate
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            call(bodies[i % len(bodies)])
            lat.append((time.perf_counter() - due) * 1000)
        out.put((lat, time.perf_counter() - t0, time.process_time() - c0))


class InProcess:
    """``procs`` processes (as many as the workers) that load the model once and call
    ``Recommender.recommend`` on an open-loop schedule, ``rate / procs`` each."""

    def __init__(self, path: str, bodies: list[dict[str, Any]], procs: int = 2) -> None:
        ctx = mp.get_context("spawn")
        self.out = ctx.Queue()
        self.cmds = [ctx.Queue() for _ in range(procs)]
        self.procs = [ctx.Process(target=_inproc_child,
                                  args=(path, bodies[i::procs], self.cmds[i], self.out))
                      for i in range(procs)]
        for p in self.procs:
            p.start()
        for _ in self.procs:
            assert self.out.get(timeout=900) == "ready"

    def run(self, rate: float, n: int) -> dict[str, Any]:
        for q in self.cmds:
            q.put((rate / len(self.cmds), max(1, n // len(self.cmds))))
        results = [self.out.get(timeout=900) for _ in self.cmds]
        lat = np.concatenate([np.asarray(r[0]) for r in results])
        out = summarise(lat, 0, rate, len(lat) / max(r[1] for r in results))
        out["server_cpu_ms_per_request"] = sum(r[2] for r in results) * 1000 / len(lat)
        return out

    def close(self) -> None:
        for q in self.cmds:
            q.put(None)
        for p in self.procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()


def summarise(lat: np.ndarray, failed: int, rate: float, achieved: float) -> dict[str, Any]:
    ok = lat.size > 0
    return {"rate": rate, "requests": int(lat.size + failed), "failed": failed,
            "achieved_rps": achieved,
            "p50_ms": float(np.percentile(lat, 50)) if ok else float("nan"),
            "p99_ms": float(np.percentile(lat, 99)) if ok else float("nan"),
            "max_ms": float(lat.max()) if ok else float("nan")}


# ---------------------------------------------------------------------- HTTP load
class Server:
    def __init__(self, model: str, workers: int, db: str, extra: list[str] | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.db = db
        env = {k: v for k, v in os.environ.items() if k != "UPSELL_API_KEY"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "upsell.serve", model, "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", str(workers), "--offer-log", f"sqlite:{db}",
             "--log-level", "error", "--no-verify", *(extra or [])],
            env=env, start_new_session=True)
        end = time.monotonic() + 300
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"upsell serve exited with {self.proc.returncode}")
            try:
                if self.get("/v1/health")[0] == 200 and len(self.workers()) >= workers:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("upsell serve did not start")

    def get(self, path: str) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def workers(self) -> list[int]:
        """The worker processes (children of the supervisor, not multiprocessing's helpers)."""
        pids = []
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return pids
        for pid in map(int, kids.split()):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmd and b"semaphore_tracker" not in cmd:
                pids.append(pid)
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def smaps(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {"rss_mb": out.get("Rss", 0.0), "pss_mb": out.get("Pss", 0.0),
            "pss_anon_mb": out.get("Pss_Anon", 0.0), "pss_file_mb": out.get("Pss_File", 0.0),
            "shared_mb": out.get("Shared_Clean", 0.0) + out.get("Shared_Dirty", 0.0)}


def baseline_memory() -> dict[str, float]:
    """RSS/PSS of a process that imports what a worker imports but loads no model."""
    code = ("import uvicorn, starlette, upsell.serve.app, upsell.bundles, upsell.cf, "
            "upsell.segments, upsell.tiers, upsell.recommend, sys; print('ready', flush=True);"
            " sys.stdin.read()")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        return smaps(p.pid)
    finally:
        p.kill()
        p.wait()


def open_loop(port: int, jobs: list[tuple[str, Any]], rate: float,
              on_answer: Any = None, during: Any = None, retry: bool = True,
              cpu_of: list[int] | None = None) -> dict[str, Any]:
    """Send ``jobs`` ((path, body) pairs) at ``rate`` per second from SENDERS keep-alive
    connections; latency from the scheduled time."""
    work: queue.Queue[Any] = queue.Queue()
    lat: list[float] = []
    failed = [0]
    retried = [0]
    rejected = [0]
    lock = threading.Lock()

    def sender() -> None:
        conn = None
        while True:
            job = work.get()
            if job is None:
                break
            i, due = job
            path, body = jobs[i]
            data = json.dumps(body).encode()
            for attempt in (0, 1):
                reused = conn is not None
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    conn.request("POST", path, body=data,
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    payload = r.read()
                    ok = r.status < 500
                    break
                except (OSError, http.client.HTTPException):
                    ok, payload = False, b""
                    if conn is not None:
                        conn.close()
                    conn = None
                    # like every HTTP client: a keep-alive connection that died while idle
                    # (its worker was killed) is retried once on a new one; both endpoints
                    # are safe to repeat (a repeated event is refused, not doubled)
                    if not (retry and reused and attempt == 0):
                        break
                    with lock:
                        retried[0] += 1
            took = (time.perf_counter() - due) * 1000
            with lock:
                if ok and r.status >= 300:
                    rejected[0] += 1  # a 4xx: answered, but the benchmark's request was wrong
                if ok:
                    lat.append(took)
                else:
                    failed[0] += 1
            if on_answer is not None:
                on_answer(i, ok and r.status, payload)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    cpu0 = {p: cpu_seconds(p) for p in cpu_of or ()}
    client0 = time.process_time()
    t0 = time.perf_counter()
    stopper = None
    if during is not None:
        stopper = threading.Event()
        side = threading.Thread(target=during, args=(stopper,), daemon=True)
        side.start()
    for i in range(len(jobs)):
        due = t0 + i / rate
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        work.put((i, due))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if stopper is not None:
        stopper.set()
    out = summarise(np.asarray(lat), failed[0], rate, (len(lat) + failed[0]) / wall)
    out["retried"] = retried[0]
    out["rejected_4xx"] = rejected[0]
    out["client_cpu_ms_per_request"] = (time.process_time() - client0) * 1000 / max(len(jobs), 1)
    if cpu_of:
        by_worker = [cpu_seconds(p) - c for p, c in cpu0.items()]
        out["server_cpu_ms_per_request"] = sum(by_worker) * 1000 / max(len(jobs), 1)
        # keep-alive connections stay with the worker that accepted them: an uneven split
        # shows here (and in p99) rather than in the mean
        out["server_cpu_s_by_worker"] = by_worker
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (from /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def within(r: dict[str, Any]) -> bool:
    return (r["failed"] == 0 and r["p99_ms"] <= P99_LIMIT_MS
            and r["achieved_rps"] >= 0.9 * r["rate"])


def ladder(run: Any, rates: list[float], label: str, repeats: int
           ) -> tuple[float, dict[str, dict[str, Any]]]:
    """Run rates upwards; each rate ``repeats`` times, the run with the median p99 kept.

    Goes on past a failing rate only until 500 req/s has been measured (the table's rates).
    Returns the highest rate below the first one that was not sustained, and every step.
    """
    best, steps, failed = 0.0, {}, False
    for rate in rates:
        runs = sorted((run(rate) for _ in range(repeats)), key=lambda r: r["p99_ms"])
        r = {**runs[len(runs) // 2], "p99_runs_ms": [x["p99_ms"] for x in runs]}
        steps[str(rate)] = r
        print(f"    {label} {rate:6.0f} req/s: p50 {r['p50_ms']:7.2f} ms, p99 "
              f"{r['p99_ms']:7.2f} ms (runs: {', '.join(f'{x:.1f}' for x in r['p99_runs_ms'])})"
              f", achieved {r['achieved_rps']:6.0f}/s, failed {r['failed']}", flush=True)
        if not within(r):
            failed = True
        elif not failed:
            best = rate
        if failed and rate >= 500:
            break
    return best, steps


def fault_run(model: str, db: str, bodies: list[dict[str, Any]], rate: float, seconds: float,
              kill_every: float) -> dict[str, Any]:
    """Recommend + events traffic; SIGKILL one worker every ``kill_every`` seconds."""
    server = Server(model, 2, db)
    n = int(rate * seconds)
    jobs: list[tuple[str, Any]] = []
    for i in range(n):
        if i % 4 == 3:  # one request in four records three presented offers
            jobs.append(("/v1/events", [{"type": "presented", "request_id": f"f{i}",
                                         "item": f"item{j}"} for j in range(3)]))
        else:
            jobs.append(("/v1/recommend", bodies[i % len(bodies)]))
    acked: list[str] = []
    answered_events = [0]
    refused_retries = [0]
    failed_by = {"/v1/recommend": 0, "/v1/events": 0}
    kills: list[int] = []
    lock = threading.Lock()

    def on_answer(i: int, status: Any, payload: bytes) -> None:
        path, body = jobs[i]
        with lock:
            if not status or status >= 500:
                failed_by[path] += 1
            elif path == "/v1/events" and status == 202:
                # recorded now, or refused because a first try (answer lost) recorded it
                answered_events[0] += 1
                acked.extend(f"{e['request_id']}:{e['item']}" for e in body)
                refused_retries[0] += len(json.loads(payload)["refused"])

    def killer(stop: threading.Event) -> None:
        k = 0
        while not stop.wait(kill_every):
            pids = server.workers()
            if pids:
                pid = pids[k % len(pids)]
                k += 1
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
                except ProcessLookupError:
                    pass

    try:
        r = open_loop(server.port, jobs, rate, on_answer=on_answer, during=killer)
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        logged = {row[0] for row in conn.execute("SELECT offer_id FROM upsell_offer_events")}
    lost = [a for a in acked if a not in logged]
    return {**r, "kills": len(kills), "seconds": seconds, "kill_every_s": kill_every,
            "failed_recommend": failed_by["/v1/recommend"],
            "failed_events": failed_by["/v1/events"],
            "events_acknowledged": len(acked), "log_rows": len(logged),
            "events_already_in_log_on_retry": refused_retries[0],
            "events_lost": len(lost),
            "rows_not_acknowledged": len(logged - set(acked))}


# ---------------------------------------------------------------------- one model
def bench_model(name: str, path: str, args: argparse.Namespace, work: str) -> dict[str, Any]:
    print(f"\n== {name}: {path} ({folder_mb(path):,.0f} MB)", flush=True)
    n_fixed = 600 if args.quick else 5000
    bodies, facts = make_bodies(path, max(n_fixed, 2000), args.seed)
    res: dict[str, Any] = {"model": name, "folder_mb": folder_mb(path), **facts}
    rates = [100, 200, 300, 500, 750, 1000, 1500, 2000] if not args.quick else \
        [200, 500, 750]

    def count(rate: float) -> int:
        return int(min(max(rate * (2 if args.quick else 10), 200), n_fixed * 2))

    print("  in-process (2 processes, open loop)", flush=True)
    inproc = InProcess(path, bodies)
    try:
        res["inproc_sustained_rps"], res["inproc_ladder"] = ladder(
            lambda r: inproc.run(r, count(r)), rates, "in-process", args.repeats)
    finally:
        inproc.close()
    res["inproc"] = {r: res["inproc_ladder"][r] for r in ("200", "500")}

    print("  HTTP (upsell serve --workers 2, open loop, 32 keep-alive connections)",
          flush=True)
    server = Server(path, 2, os.path.join(work, f"{name}-offers.db"))
    try:
        warm = [("/v1/recommend", b) for b in bodies[:300]]
        open_loop(server.port, warm, 300)
        jobs = [("/v1/recommend", b) for b in bodies]
        res["memory"] = {"workers": [smaps(p) for p in server.workers()],
                         "supervisor": smaps(server.proc.pid),
                         "baseline_no_model": baseline_memory()}
        res["http_sustained_rps"], res["http_ladder"] = ladder(
            lambda r: open_loop(server.port, (jobs * 10)[:count(r)], r,
                                cpu_of=server.workers()), rates, "HTTP", args.repeats)
    finally:
        server.stop()
    res["http"] = {r: res["http_ladder"][r] for r in ("200", "500")}

    print("  fault run (SIGKILL one worker every few seconds)", flush=True)
    db = os.path.join(work, f"{name}-fault.db")
    if os.path.exists(db):
        os.unlink(db)
    res["fault"] = fault_run(path, db, bodies, rate=100 if args.quick else 200,
                             seconds=8 if args.quick else 30,
                             kill_every=2.0 if args.quick else 3.0)
    f = res["fault"]
    print(f"    {f['requests']:,} requests, {f['kills']} kills: failed recommend "
          f"{f['failed_recommend']}, failed events {f['failed_events']}; events acknowledged "
          f"{f['events_acknowledged']:,}, lost {f['events_lost']}", flush=True)
    return res


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| model | measure | HTTP (2 workers) | in-process (2 processes) |",
            "|---|---|---:|---:|"]
    for r in results:
        m = r["model"]
        for rate in ("200", "500"):
            h, i = r["http"][rate], r["inproc"][rate]
            rows.append(f"| {m} | p50 / p99 at {rate} req/s | {h['p50_ms']:.2f} / "
                        f"{h['p99_ms']:.2f} ms | {i['p50_ms']:.2f} / {i['p99_ms']:.2f} ms |")
        def rate(v: float, steps: dict[str, Any]) -> str:
            top = max(float(x) for x in steps)  # the ladder ended without a failing rate
            return f"{'>= ' if v >= top else ''}{v:,.0f} req/s"

        rows.append(f"| {m} | highest rate with p99 <= {P99_LIMIT_MS:.0f} ms (of the ladder) | "
                    f"{rate(r['http_sustained_rps'], r['http_ladder'])} | "
                    f"{rate(r['inproc_sustained_rps'], r['inproc_ladder'])} |")
        rows.append(f"| {m} | server CPU per request at 200 req/s | "
                    f"{r['http']['200']['server_cpu_ms_per_request']:.2f} ms | "
                    f"{r['inproc']['200']['server_cpu_ms_per_request']:.2f} ms |")
        rows.append(f"| {m} | load generator CPU per request (same machine) | "
                    f"{r['http']['200']['client_cpu_ms_per_request']:.2f} ms | |")
        ws = r["memory"]["workers"]
        b = r["memory"]["baseline_no_model"]
        rows.append(f"| {m} | per worker RSS / PSS (model folder {r['folder_mb']:,.0f} MB) | "
                    + ", ".join(f"{w['rss_mb']:,.0f} / {w['pss_mb']:,.0f} MB" for w in ws)
                    + " | |")
        rows.append(f"| {m} | per worker PSS anon / file | "
                    + ", ".join(f"{w['pss_anon_mb']:,.0f} / {w['pss_file_mb']:,.0f} MB"
                                for w in ws) + f" | (no model: RSS {b['rss_mb']:,.0f} / PSS "
                    f"{b['pss_mb']:,.0f} MB) |")
        f = r["fault"]
        rows.append(f"| {m} | fault run: {f['kills']} SIGKILLs in {f['seconds']:.0f} s at "
                    f"{f['rate']:.0f} req/s | {f['failed_recommend']} + {f['failed_events']} "
                    f"failed of {f['requests']:,} ({f['retried']} retried once on a new "
                    f"connection); events acknowledged "
                    f"{f['events_acknowledged']:,}, lost {f['events_lost']} | |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small shop (20k customers, 2k items), short runs, 3 rates")
    ap.add_argument("--customers", type=int)
    ap.add_argument("--items", type=int)
    ap.add_argument("--orders", type=int)
    ap.add_argument("--retail", default=str(RETAIL), help="the Online Retail file")
    ap.add_argument("--only", choices=("shop", "retail"), help="one model only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, help="runs per rate, median p99 kept "
                    "(default 3; 1 with --quick)")
    ap.add_argument("--dir", help="work folder (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true", help="reuse the models saved in --dir")
    args = ap.parse_args()
    full = (1_000_000, 50_000, 4_800_000)
    quick = (20_000, 2_000, 96_000)
    default = quick if args.quick else full
    args.customers = args.customers or default[0]
    args.items = args.items or default[1]
    args.orders = args.orders or default[2]
    args.repeats = args.repeats or (1 if args.quick else 3)
    work = args.dir or tempfile.mkdtemp(prefix="bench-http-")
    os.makedirs(work, exist_ok=True)
    models = []
    if args.only in (None, "shop"):
        path = os.path.join(work, f"shop-{args.customers}-{args.items}")
        if not (args.reuse and os.path.isdir(path)):
            print(f"fitting the make_shop model: {args.customers:,} customers, "
                  f"{args.items:,} items, {args.orders:,} orders", flush=True)
            print(f"  {build_shop(args, path)}", flush=True)
        models.append((f"make_shop {args.customers:,} x {args.items:,}", path))
    if args.only in (None, "retail"):
        if Path(args.retail).exists():
            path = os.path.join(work, "online-retail")
            if not (args.reuse and os.path.isdir(path)):
                print("fitting the Online Retail model (upsell fit)", flush=True)
                print(f"  {build_retail(path, Path(args.retail))}", flush=True)
            models.append(("Online Retail", path))
        else:
            print(f"skipping Online Retail: {args.retail} is absent", flush=True)
    results = [bench_model(name, path, args, work) for name, path in models]
    out = {"quick": args.quick, "loadavg_1min_end": os.getloadavg()[0],
           "cpus": os.cpu_count(), "args": vars(args), "results": results}
    print()
    text = table(results)
    print(text)
    print(f"load average (1 min) at the end: {out['loadavg_1min_end']:.1f} on "
          f"{out['cpus']} CPUs")
    OUT.mkdir(exist_ok=True)
    target = OUT / ("bench_http_quick.json" if args.quick else "bench_http.json")
    target.write_text(json.dumps(out, indent=1))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
