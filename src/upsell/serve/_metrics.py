"""Counters and a latency histogram, written as Prometheus text by hand (no client library).

Each worker process counts its own requests; every second it writes a snapshot to the
service's runtime folder, and ``GET /metrics`` sums its live counts with the other workers'
latest snapshots, so a scrape that lands on any worker sees the whole service. A worker
killed with SIGKILL loses at most its last second of counts; its last snapshot stays counted,
so totals never go down.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["BUCKETS", "Metrics", "merge", "render"]

#: Upper bounds of the latency histogram's buckets, in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

#: Paths counted under their own label; everything else is "other" (404s must not grow labels).
PATHS = ("/v1/recommend", "/v1/events", "/v1/reload", "/v1/health", "/metrics", "/openapi.json")


class Metrics:
    """One process's counts: requests by path and status, latencies by path, events, offers.

    Examples
    --------
    >>> m = Metrics()
    >>> m.observe("/v1/recommend", "POST", 200, 0.003)
    >>> m.count("events", "presented", 2)
    >>> snap = m.snapshot()
    >>> snap["requests"]["/v1/recommend POST 200"], snap["events"]["presented"]
    (1, 2)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.hist: dict[str, list[float]] = {}  # path -> [bucket counts..., +Inf count, sum]
        self.counters: dict[str, dict[str, int]] = {"events": {}, "events_refused": {},
                                                     "offers": {}, "reloads": {}}

    def observe(self, path: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        path = path if path in PATHS else "other"
        key = f"{path} {method if method in ('GET', 'POST') else 'other'} {status}"
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            h = self.hist.get(path)
            if h is None:
                h = self.hist[path] = [0.0] * (len(BUCKETS) + 2)
            for i, le in enumerate(BUCKETS):
                if seconds <= le:
                    h[i] += 1
                    break
            else:
                h[len(BUCKETS)] += 1
            h[-1] += seconds

    def count(self, family: str, label: str, n: int = 1) -> None:
        """Add ``n`` to counter ``family`` (events, events_refused, offers, reloads) under ``label``."""
        with self._lock:
            fam = self.counters[family]
            fam[label] = fam.get(label, 0) + n

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of every count (histograms as per-bucket counts, not cumulative)."""
        with self._lock:
            return {"requests": dict(self.requests),
                    "hist": {p: list(h) for p, h in self.hist.items()},
                    **{f: dict(c) for f, c in self.counters.items()}}

    def write(self, folder: str) -> None:
        """Write this process's snapshot to ``folder/metrics-<pid>.json`` (atomic)."""
        replace_text(os.path.join(folder, f"metrics-{os.getpid()}.json"),
                     json.dumps(self.snapshot()))


def replace_text(path: str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    No fsync: these are a running service's scratch files (counts, the model generation),
    rewritten every second and worthless after a power loss.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def read_others(folder: str) -> list[dict[str, Any]]:
    """The latest snapshots the OTHER worker processes (alive or dead) wrote to ``folder``."""
    own = f"metrics-{os.getpid()}.json"
    out: list[dict[str, Any]] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return out
    for name in names:
        if name.startswith("metrics-") and name.endswith(".json") and name != own:
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    out.append(json.load(fh))
            except (OSError, ValueError):
                continue  # being replaced right now: the next scrape reads it
    return out


def merge(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum snapshots of several processes.

    Examples
    --------
    >>> a, b = Metrics(), Metrics()
    >>> a.observe("/v1/health", "GET", 200, 0.0001); b.observe("/v1/health", "GET", 200, 0.2)
    >>> merge([a.snapshot(), b.snapshot()])["requests"]
    {'/v1/health GET 200': 2}
    """
    total: dict[str, Any] = {"requests": {}, "hist": {}, "events": {}, "events_refused": {},
                             "offers": {}, "reloads": {}}
    for snap in snapshots:
        for family, counts in snap.items():
            if family not in total or not isinstance(counts, dict):
                continue
            dest = total[family]
            for key, value in counts.items():
                if family == "hist":
                    cur = dest.setdefault(key, [0.0] * len(value))
                    if len(cur) == len(value):
                        dest[key] = [x + y for x, y in zip(cur, value, strict=True)]
                else:
                    dest[key] = dest.get(key, 0) + int(value)
    return total


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(total: Mapping[str, Any], *, model: Mapping[str, Any], workers: int) -> str:
    """Prometheus text exposition format 0.0.4 of merged counts and the model's facts.

    Examples
    --------
    >>> m = Metrics()
    >>> m.observe("/v1/recommend", "POST", 400, 0.002)
    >>> text = render(merge([m.snapshot()]), model={"version": "abc", "loaded": 1.0}, workers=1)
    >>> 'upsell_http_requests_total{path="/v1/recommend",method="POST",status="400"} 1' in text
    True
    >>> 'upsell_http_errors_total{path="/v1/recommend",status="400"} 1' in text
    True
    """
    lines = ["# HELP upsell_http_requests_total HTTP requests answered, by path, method, status.",
             "# TYPE upsell_http_requests_total counter"]
    errors: dict[tuple[str, str], int] = {}
    for key in sorted(total["requests"]):
        path, method, status = key.split(" ")
        n = total["requests"][key]
        lines.append(f'upsell_http_requests_total{{path="{_esc(path)}",method="{method}",'
                     f'status="{status}"}} {n}')
        if status >= "400":
            errors[(path, status)] = errors.get((path, status), 0) + n
    lines += ["# HELP upsell_http_errors_total Requests answered with a 4xx or 5xx status.",
              "# TYPE upsell_http_errors_total counter"]
    for (path, status), n in sorted(errors.items()):
        lines.append(f'upsell_http_errors_total{{path="{_esc(path)}",status="{status}"}} {n}')
    lines += ["# HELP upsell_http_request_duration_seconds Time from request to response.",
              "# TYPE upsell_http_request_duration_seconds histogram"]
    for path in sorted(total["hist"]):
        h = total["hist"][path]
        cum = 0.0
        for le, c in zip(BUCKETS, h, strict=False):
            cum += c
            lines.append(f'upsell_http_request_duration_seconds_bucket{{path="{_esc(path)}",'
                         f'le="{le}"}} {int(cum)}')
        cum += h[len(BUCKETS)]
        lines.append(f'upsell_http_request_duration_seconds_bucket{{path="{_esc(path)}",'
                     f'le="+Inf"}} {int(cum)}')
        lines.append(f'upsell_http_request_duration_seconds_sum{{path="{_esc(path)}"}} '
                     f'{h[-1]:.6f}')
        lines.append(f'upsell_http_request_duration_seconds_count{{path="{_esc(path)}"}} '
                     f'{int(cum)}')
    for family, name, text, label in (
            ("events", "upsell_events_recorded_total", "Events committed to the offer log.",
             "type"),
            ("events_refused", "upsell_events_refused_total",
             "Events the offer log refused (a second presentation or outcome of one offer).",
             "type"),
            ("offers", "upsell_offers_returned_total", "Offers returned by /v1/recommend.",
             "kind"),
            ("reloads", "upsell_model_reloads_total", "Model reloads, by result.", "result")):
        lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
        for key in sorted(total[family]):
            lines.append(f'{name}{{{label}="{_esc(key)}"}} {total[family][key]}')
    lines += ["# HELP upsell_model_info The model this worker serves (value 1).",
              "# TYPE upsell_model_info gauge",
              f'upsell_model_info{{version="{_esc(str(model["version"]))}"}} 1',
              "# HELP upsell_model_loaded_timestamp_seconds When this worker loaded its model.",
              "# TYPE upsell_model_loaded_timestamp_seconds gauge",
              f"upsell_model_loaded_timestamp_seconds {float(model['loaded']):.3f}",
              "# HELP upsell_workers Worker processes that wrote counts (alive or not).",
              "# TYPE upsell_workers gauge", f"upsell_workers {workers}"]
    return "\n".join(lines) + "\n"
