"""A real ``python -m upsell.serve`` on a free loopback port: durability under SIGKILL,
a dead worker replaced, graceful shutdown, the loopback rule. Every process is killed at the end."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from upsell.recommend import OfferLog
from upsell.serve.__main__ import run

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, model: Path, db: Path, workers: int) -> None:
        self.port = free_port()
        self.db = db
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("UPSELL_API_KEY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "upsell.serve", str(model), "--port", str(self.port),
             "--workers", str(workers), "--offer-log", f"sqlite:{db}", "--log-level",
             "warning", "--graceful-timeout", "20"],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def wait_ready(self, deadline: float = 120) -> dict[str, Any]:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stderr.read().decode()}")
            try:
                status, body = self.call("GET", "/v1/health", timeout=2)
                if status == 200:
                    return dict(body)
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError("server did not answer /v1/health")

    def wait_workers(self, n: int, deadline: float = 120) -> dict[int, dict[str, Any]]:
        """Health answers from ``n`` distinct worker processes (each has loaded its model)."""
        seen: dict[int, dict[str, Any]] = {}
        end = time.monotonic() + deadline
        while time.monotonic() < end and len(seen) < n:
            try:
                status, body = self.call("GET", "/v1/health", timeout=2)  # a new connection
            except (OSError, http.client.HTTPException, ValueError):
                status = 0
            if status == 200:
                seen[body["pid"]] = dict(body)
            else:
                time.sleep(0.2)
        assert len(seen) >= n, f"only {len(seen)} of {n} workers answered /v1/health"
        return seen

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def make(model: Path, workers: int = 1) -> Server:
        s = Server(model, tmp_path / "log.db", workers)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.kill()
        if s.proc.stderr is not None:
            s.proc.stderr.close()


def post_events(server: Server, acked: list[str], stop: threading.Event, tag: str) -> None:
    """Post batches of 'presented' events until stopped; remember what a 202 acknowledged."""
    n = 0
    while not stop.is_set():
        batch = [{"type": "presented", "request_id": f"{tag}{n}-{j}", "item": "I00001"}
                 for j in range(5)]
        n += 1
        try:
            status, body = server.call("POST", "/v1/events", batch, timeout=10)
        except (OSError, http.client.HTTPException, ValueError):
            continue  # not acknowledged: the client would retry
        if status == 202:
            assert body["recorded"] == len(batch) and body["refused"] == []
            acked.extend(f"{e['request_id']}:I00001" for e in batch)


def test_acknowledged_events_survive_kill_9_and_a_dead_worker_is_replaced(
        server_factory: Any, model_dirs: Any) -> None:
    server = server_factory(model_dirs[0], workers=2)
    first = next(iter(server.wait_workers(2).values()))  # both up: one survives the kill
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=post_events, args=(server, acked, stop, f"t{i}-"))
               for i in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        os.kill(first["pid"], signal.SIGKILL)  # one worker dies mid-load
        time.sleep(0.5)
        # the other worker keeps answering; the supervisor starts a replacement
        pids = set()
        end = time.monotonic() + 90
        while time.monotonic() < end and not (pids - {first["pid"]} and len(pids) >= 2):
            try:
                status, body = server.call("GET", "/v1/health", timeout=5)
            except (OSError, http.client.HTTPException):
                continue
            if status == 200:
                pids.add(body["pid"])
        assert len(pids - {first["pid"]}) >= 2, pids  # the survivor and the replacement
        n_before = len(acked)
        end = time.monotonic() + 60  # acks keep coming (a loaded machine may take a while)
        while time.monotonic() < end and len(acked) <= n_before:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.kill()  # SIGKILL the whole service, supervisor and workers
    assert len(acked) > n_before > 0
    logged = {e.offer_id for e in OfferLog.sqlite(server.db).events()}
    missing = [a for a in acked if a not in logged]
    assert missing == []


def test_graceful_shutdown_finishes_the_request_in_flight(server_factory: Any,
                                                          model_dirs: Any) -> None:
    server = server_factory(model_dirs[0], workers=1)
    server.wait_ready()
    batch = [{"type": "presented", "request_id": f"g{j}", "item": "I00002"} for j in range(800)]
    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(server.call("POST", "/v1/events", batch)))
    t.start()
    time.sleep(0.05)
    server.proc.send_signal(signal.SIGTERM)
    t.join(timeout=60)
    assert server.proc.wait(timeout=60) == 0
    if result:  # the request got in before the listener closed: it was answered in full
        status, body = result[0]
        assert status == 202 and body["recorded"] == 800
        assert len(OfferLog.sqlite(server.db)) == 800


def test_refuses_a_public_host_without_a_key(model_dirs: Any, monkeypatch: Any,
                                             capsys: Any) -> None:
    monkeypatch.delenv("UPSELL_API_KEY", raising=False)
    assert run([str(model_dirs[0]), "--host", "0.0.0.0"]) == 2
    assert "without an API key" in capsys.readouterr().err
    assert run([str(model_dirs[0]), "--api-key-file", "/nonexistent/key"]) == 2
    assert run(["/nonexistent/model"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_reload_reaches_every_worker_and_metrics_add_up(server_factory: Any,
                                                          model_dirs: Any) -> None:
    server = server_factory(model_dirs[0], workers=2)
    # both workers must be up before the reload: one that starts after it reads the new
    # state at start-up and so never *follows* (seen once on a loaded CI machine)
    (old,) = {h["model_version"] for h in server.wait_workers(2).values()}
    status, body = server.call("POST", "/v1/reload", {"model_dir": str(model_dirs[1])})
    assert status == 200 and body["model_version"] != old
    new = body["model_version"]
    seen: dict[int, str] = {}
    end = time.monotonic() + 60
    while time.monotonic() < end and not (len(seen) == 2 and set(seen.values()) == {new}):
        status, h = server.call("GET", "/v1/health")  # a new connection: either worker
        if status == 200:
            seen[h["pid"]] = h["model_version"]
        time.sleep(0.05)
    assert len(seen) == 2 and set(seen.values()) == {new}, seen
    for _ in range(10):
        assert server.call("POST", "/v1/recommend", {"k": 2})[0] == 200
    # each worker writes its counts every second, so a scrape may trail by a tick (more on a
    # loaded machine): scrape until every count arrived, then check none overshoots
    want = ["upsell_workers 2",
            'upsell_http_requests_total{path="/v1/recommend",method="POST",status="200"} 10',
            'upsell_model_reloads_total{result="ok"} 1',
            'upsell_model_reloads_total{result="followed"} 1']
    text, end = "", time.monotonic() + 60
    while time.monotonic() < end:
        time.sleep(0.5)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        if all(line in text.splitlines() for line in want):
            break
    for line in want:
        assert line in text.splitlines(), (line, text)
    time.sleep(1.5)  # a later tick must not count anything twice
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/metrics")
    again = conn.getresponse().read().decode().splitlines()
    conn.close()
    for line in want:
        assert line in again, (line, again)
