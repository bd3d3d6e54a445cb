"""The ASGI application: routes, the key, body limits, JSON errors, metrics.

:func:`create_app` builds one worker's application from a :class:`ServeConfig`;
:func:`app_from_env` is the factory uvicorn's worker processes call (the command passes
the configuration in an environment variable).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

from upsell.exceptions import MissingExtraError, UpsellDataError, UpsellError
from upsell.serve._metrics import PATHS, Metrics, merge, read_others, render
from upsell.serve._requests import (
    EventIn,
    RequestError,
    parse_events,
    parse_json,
    parse_recommend,
    parse_reload,
)
from upsell.serve._state import (
    CONFIG_ENV,
    KEY_ENV,
    ModelSlot,
    ServeConfig,
    open_offer_log,
    read_state,
    write_state,
)

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise MissingExtraError('upsell serve needs starlette and uvicorn; install them with: '
                            'pip install "upsell[serve]"') from exc

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("upsell.serve")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Paths answered without the key (load-balancer probes, the API description).
OPEN_PATHS = frozenset({"/v1/health", "/openapi.json"})
#: How often a worker writes its counts and looks for a reload by another worker, in seconds.
TICK = 1.0


def _error(status: int, message: str, field: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


def _field_of(message: str) -> str | None:
    """The argument a library message names first (``"`basket` ..."`` -> "basket")."""
    m = re.search(r"`([A-Za-z_][A-Za-z0-9_\[\]]*)`", message)
    return m.group(1) if m else None


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars for JSON."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def _offer_json(o: Any) -> dict[str, Any]:
    score = float(o.score)
    return {"item": _plain(o.item), "name": o.name, "kind": o.kind,
            "score": score if math.isfinite(score) else None, "reason": o.reason.summary,
            "cue": o.cue, "sources": list(o.sources)}


class _Guard:
    """Pure ASGI wrapper: the key check, timing and counting of every HTTP request."""

    def __init__(self, app: Any, key: str | None, metrics: Metrics, slot: ModelSlot) -> None:
        self.app = app
        self.slot = slot  # the model served now (tests, embedding)
        self.key = None if key is None else key.encode("utf-8")
        self.metrics = metrics

    def _authorised(self, scope: Scope) -> bool:
        assert self.key is not None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(),
                                                                           self.key)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            if self.key is not None and scope["path"] not in OPEN_PATHS and \
                    not self._authorised(scope):
                resp = _error(401, "missing or wrong API key: send Authorization: Bearer <key>",
                              headers={"WWW-Authenticate": "Bearer"})
                await resp(scope, receive, send_counted)
            else:
                await self.app(scope, receive, send_counted)
        finally:
            self.metrics.observe(scope["path"], scope["method"], status,
                                 time.perf_counter() - start)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes: by Content-Length and as streamed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(f"Content-Length {declared!r} is not a byte count")
        if int(declared) > limit:
            raise RequestError(f"the body is {int(declared):,} bytes; at most {limit:,}",
                               status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"the body is over {limit:,} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _write_events(offer_log: Any, events: list[EventIn]) -> tuple[dict[str, int],
                                                                  list[dict[str, Any]]]:
    """Record events one transaction each, in order; each is committed when this returns.

    An event the log refuses (a second presentation or outcome of one offer, e.g. a
    client retrying a batch that was recorded) is listed, not written twice.
    """
    recorded: dict[str, int] = {}
    refused: list[dict[str, Any]] = []
    for i, e in enumerate(events):
        try:
            offer_log.record(e.type, item=e.item, customer=e.customer, kind=e.kind,
                             channel=e.channel, source=e.source, offer_id=e.offer_id,
                             time=e.time, revenue=e.revenue)
        except UpsellDataError as exc:
            refused.append({"index": i, "error": str(exc), "field": f"[{i}]"})
            continue
        except Exception as exc:
            raise _LogDown(sum(recorded.values()), exc) from exc
        recorded[e.type] = recorded.get(e.type, 0) + 1
    return recorded, refused


class _LogDown(Exception):
    def __init__(self, recorded: int, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.recorded = recorded


def _openapi_text() -> bytes:
    return resources.files("upsell.serve").joinpath("openapi.json").read_bytes()


class _Service:
    """One worker's state and request handlers (the routes of :func:`create_app`)."""

    def __init__(self, config: ServeConfig, offer_log: Any) -> None:
        self.config = config
        self.offer_log = offer_log
        self.slot = ModelSlot(config, offer_log)
        self.metrics = Metrics()
        self.started = time.time()
        self.reload_lock = asyncio.Lock()
        self.openapi = _openapi_text()

    # ------------------------------------------------------------------ the model
    async def load_into_slot(self, model_dir: str, generation: int,
                             verify: bool | None = None) -> Any:
        slot = self.slot

        def go() -> Any:
            with slot.lock:
                loaded = slot.load(model_dir, generation, verify=verify)
                slot.swap(loaded)
                return loaded

        return await run_in_threadpool(go)

    def current(self) -> Any:
        cur = self.slot.current
        if cur is None:
            raise RequestError("the model is not loaded yet", status=503)
        return cur

    async def tick(self) -> None:
        """Write this worker's counts; follow a reload another worker published."""
        folder = self.config.runtime_dir
        assert folder is not None
        while True:
            await asyncio.sleep(TICK)
            try:
                self.metrics.write(folder)
                state = read_state(folder)
                gen = int(state["generation"])
                cur = self.slot.current
                if cur is not None and gen > cur.generation:
                    async with self.reload_lock:
                        cur = self.slot.current  # a reload here may have got there first
                        if cur is not None and gen > cur.generation:
                            await self.load_into_slot(state["model_dir"], gen, verify=False)
                            self.metrics.count("reloads", "followed")
            except asyncio.CancelledError:
                raise
            except Exception:  # keep serving the current model; say why in the log
                log.exception("upsell serve: background tick failed")
                self.metrics.count("reloads", "failed")

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        config = self.config
        model_dir, generation = config.model_dir, 0
        if config.runtime_dir is not None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                state = read_state(config.runtime_dir)
                model_dir, generation = state["model_dir"], int(state["generation"])
        await self.load_into_slot(model_dir, generation)
        task = None if config.runtime_dir is None else asyncio.create_task(self.tick())
        try:
            yield
        finally:
            # uvicorn runs this after the in-flight requests finished; events are
            # committed before their 202, so nothing is pending here
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                with contextlib.suppress(OSError):
                    self.metrics.write(config.runtime_dir)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ routes
    async def recommend(self, request: Request) -> Response:
        req = parse_recommend(parse_json(await _body(request, self.config.max_body)),
                              max_k=self.config.max_k)
        cur = self.current()
        try:
            offers = cur.rec.recommend(**req.kwargs())
        except UpsellDataError as exc:
            raise RequestError(str(exc), field=_field_of(str(exc))) from None
        out = [_offer_json(o) for o in offers]
        for o in out:
            self.metrics.count("offers", o["kind"])
        body: dict[str, Any] = {"request_id": uuid.uuid4().hex, "model_version": cur.version,
                                "offers": out}
        if offers.note:
            body["note"] = offers.note
        if req.quantities:
            try:
                more = cur.rec.quantity_offers(req.lines())
            except UpsellDataError as exc:
                raise RequestError(str(exc), field="quantities") from None
            if more:
                body["quantity_offers"] = [q.to_dict() for q in more]
                self.metrics.count("offers", "quantity_break", len(more))
        return JSONResponse(body)

    async def events(self, request: Request) -> Response:
        raw = await _body(request, self.config.max_body)
        if self.offer_log is None:
            raise RequestError("this service keeps no offer log; start it with "
                               "--offer-log sqlite:PATH", status=503)
        batch = parse_events(parse_json(raw))
        try:
            recorded, refused = await run_in_threadpool(_write_events, self.offer_log, batch)
        except _LogDown as exc:
            log.error("upsell serve: offer log write failed: %s", exc)
            return JSONResponse({"error": f"the offer log is unavailable ({exc}); events "
                                          f"before this one were recorded, retry the batch "
                                          f"(recorded events are refused, not doubled)",
                                 "field": None, "recorded": exc.recorded}, status_code=503)
        for kind, n in recorded.items():
            self.metrics.count("events", kind, n)
        for r in refused:
            self.metrics.count("events_refused", batch[r["index"]].type)
        return JSONResponse({"recorded": sum(recorded.values()), "refused": refused},
                            status_code=202)

    async def reload(self, request: Request) -> Response:
        raw = await _body(request, self.config.max_body)
        path = parse_reload(parse_json(raw) if raw.strip() else {})
        async with self.reload_lock:
            cur = self.current()
            target = os.path.abspath(path or cur.model_dir)
            try:
                loaded = await self.load_into_slot(target, cur.generation + 1)
            except (UpsellError, OSError) as exc:
                self.metrics.count("reloads", "failed")
                raise RequestError(f"cannot load `model_dir` {target!r}: {exc}; still "
                                   f"serving {cur.version}", field="model_dir") from None
            if self.config.runtime_dir is not None:
                gen = write_state(self.config.runtime_dir, target)
                self.slot.current = dataclasses.replace(loaded, generation=gen)
            self.metrics.count("reloads", "ok")
        now = self.current()
        return JSONResponse({"model_version": now.version, "model_dir": now.model_dir,
                             "generation": now.generation, "previous_version": cur.version})

    async def health(self, request: Request) -> Response:
        cur = self.slot.current
        if cur is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok", "model_version": cur.version,
                             "generation": cur.generation, "loaded_at": cur.loaded_at,
                             "pid": os.getpid(), "offer_log": self.offer_log is not None,
                             "uptime_seconds": round(time.time() - self.started, 3)})

    async def prometheus(self, request: Request) -> Response:
        snaps = [self.metrics.snapshot()]
        if self.config.runtime_dir is not None:
            snaps += read_others(self.config.runtime_dir)
        cur = self.slot.current
        model = {"version": cur.version if cur else "", "loaded": cur.loaded_at if cur else 0}
        return Response(render(merge(snaps), model=model, workers=len(snaps)),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi_json(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    near = "/v1/" + path.strip("/").removeprefix("v1/")  # "/health", "/v1/health/"
    hint = (f"; did you mean {near!r}?" if near in PATHS and near != path else
            f"; the paths are {', '.join(PATHS)}")
    message = {404: f"no such path {path!r}{hint}",
               405: f"method {request.method} is not allowed on {request.url.path!r}"
               }.get(exc.status_code, str(exc.detail))
    return _error(exc.status_code, message,
                  headers=None if exc.headers is None else dict(exc.headers))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("upsell serve: %s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal error; the server log has the details")


def create_app(config: ServeConfig, *, offer_log: Any = None) -> Any:
    """The service's ASGI application for one worker process.

    Parameters
    ----------
    config : ServeConfig
    offer_log : OfferLog, optional
        Use this log instead of opening ``config.offer_log`` (tests, embedding).

    Returns
    -------
    ASGI application
        Loads the model at startup (lifespan); routes ``POST /v1/recommend``,
        ``POST /v1/events``, ``POST /v1/reload``, ``GET /v1/health``, ``GET /metrics``,
        ``GET /openapi.json``. Its ``slot.current`` is the model served now.

    Examples
    --------
    >>> import os, tempfile, upsell as us
    >>> from starlette.testclient import TestClient
    >>> shop = us.datasets.make_shop(n_customers=60, n_items=40, n_orders=300, random_state=1)
    >>> folder = os.path.join(tempfile.mkdtemp(), "model")
    >>> knn = us.cf.ItemKNN().fit(shop.transactions)
    >>> us.Recommender(catalog=shop.catalog, cross_sell=[knn], history=shop.transactions).save(folder)
    >>> with TestClient(create_app(ServeConfig(folder))) as client:
    ...     r = client.post("/v1/recommend", json={"basket": [shop.catalog.items.ids[0]], "k": 2})
    >>> r.status_code, len(r.json()["offers"]) <= 2
    (200, True)
    """
    if offer_log is None:
        offer_log = open_offer_log(config.offer_log)
    svc = _Service(config, offer_log)
    routes = [Route("/v1/recommend", svc.recommend, methods=["POST"]),
              Route("/v1/events", svc.events, methods=["POST"]),
              Route("/v1/reload", svc.reload, methods=["POST"]),
              Route("/v1/health", svc.health, methods=["GET"]),
              Route("/metrics", svc.prometheus, methods=["GET"]),
              Route("/openapi.json", svc.openapi_json, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=svc.lifespan,
                    exception_handlers={RequestError: _request_error, HTTPException: _http_error,
                                        Exception: _server_error})
    return _Guard(app, config.api_key, svc.metrics, svc.slot)


def app_from_env() -> Any:
    """The application of a worker process started by ``upsell serve`` (uvicorn factory)."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise UpsellDataError(f"{CONFIG_ENV} is not set; start the service with upsell serve")
    doc = json.loads(raw)
    key_file = doc.pop("api_key_file", None)
    key = os.environ.get(KEY_ENV) or None
    if key_file:
        with open(key_file, encoding="utf-8") as fh:
            key = fh.read().strip()
    return create_app(ServeConfig(**doc, api_key=key))
