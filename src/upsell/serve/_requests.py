"""Reading request bodies by hand: every field checked, every message naming the field and value.

No framework here (plain Python on the decoded JSON), so the rules are tested without a server
and the same messages reach every client. A :class:`RequestError` carries the HTTP status and
the field; the app turns it into ``{"error": message, "field": name}``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._validation import as_time
from upsell.exceptions import UpsellDataError
from upsell.recommend import CHANNELS, EVENTS, OFFER_KINDS
from upsell.recommend.offerlog import TIME_RANGE

__all__ = ["MAX_EVENTS", "MAX_ID_CHARS", "EventIn", "RecommendIn", "RequestError",
           "parse_events", "parse_json", "parse_recommend", "parse_reload"]

#: Longest id (customer, item, request id) a request may send, in characters.
MAX_ID_CHARS = 255
#: Most events in one ``POST /v1/events`` body.
MAX_EVENTS = 1000
#: Most basket or exclude items in one request.
MAX_ITEMS = 1000

_RECOMMEND_FIELDS = ("customer", "basket", "k", "channel", "moment", "include_owned",
                     "exclude", "at", "fill", "quantities")
_EVENT_FIELDS = ("type", "request_id", "customer", "item", "channel", "time", "kind",
                 "revenue", "source")


class RequestError(UpsellDataError):
    """A request the service refuses: HTTP ``status``, the ``field`` at fault (or None).

    Examples
    --------
    >>> e = RequestError("`k` must be an integer; got 'x'", field="k")
    >>> e.status, e.field
    (400, 'k')
    """

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    def body(self) -> dict[str, Any]:
        """The JSON error body ``{"error": message, "field": name}``."""
        return {"error": str(self), "field": self.field}


def _show(value: Any) -> str:
    """A value as the client sent it (JSON), cut to 60 characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def parse_json(raw: bytes) -> Any:
    """Decode a request body as strict JSON (no NaN/Infinity, UTF-8).

    Examples
    --------
    >>> parse_json(b'{"k": 3}')
    {'k': 3}
    >>> parse_json(b'{"k": NaN}')
    Traceback (most recent call last):
    ...
    upsell.serve._requests.RequestError: the body is not valid JSON: NaN is not JSON
    """
    if not raw.strip():
        raise RequestError("the body is empty; send a JSON document")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=no_constant)
    except UnicodeDecodeError as exc:
        raise RequestError(f"the body is not UTF-8 text ({exc.reason} at byte {exc.start})"
                           ) from None
    except RecursionError:
        raise RequestError("the body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None


def _object(body: Any, what: str, known: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError(f"{what} must be a JSON object; got {_type_name(body)} {_show(body)}",
                           field=prefix.rstrip(".") or None)
    unknown = [key for key in body if key not in known]
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r} in {what}; allowed: "
                           f"{', '.join(known)}", field=prefix + str(unknown[0]))
    return body


def _id(value: Any, field: str, *, optional: bool = False) -> Any:
    """An id as the library takes it: a string or an integer (an integral float becomes int)."""
    if value is None:
        if optional:
            return None
        raise RequestError(f"`{field}` is required", field=field)
    if isinstance(value, bool):
        raise RequestError(f"`{field}` must be a string or number id; got {_show(value)}",
                           field=field)
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise RequestError(f"`{field}` must be a string or whole-number id; got "
                               f"{_show(value)}", field=field)
        value = int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if not value.strip():
            raise RequestError(f"`{field}` must not be empty", field=field)
        if len(value) > MAX_ID_CHARS:
            raise RequestError(f"`{field}` is longer than {MAX_ID_CHARS} characters "
                               f"({len(value):,})", field=field)
        return value
    raise RequestError(f"`{field}` must be a string or number id; got {_type_name(value)} "
                       f"{_show(value)}", field=field)


def _id_list(value: Any, field: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RequestError(f"`{field}` must be an array of item ids; got {_type_name(value)} "
                           f"{_show(value)}", field=field)
    if len(value) > MAX_ITEMS:
        raise RequestError(f"`{field}` holds {len(value):,} items; at most {MAX_ITEMS:,}",
                           field=field)
    return tuple(_id(v, f"{field}[{i}]") for i, v in enumerate(value))


def _quantities(value: Any, basket: tuple[Any, ...]) -> tuple[float | None, ...]:
    """The basket lines' quantities: absent, or one positive number (or null) per line."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) != len(basket):
        raise RequestError(f"`quantities` must be an array of one quantity per basket line "
                           f"({len(basket)}); got {_show(value)}", field="quantities")
    out: list[float | None] = []
    for i, v in enumerate(value):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not 0 < v < float("inf")):
            raise RequestError(f"`quantities[{i}]` must be a positive number or null; got "
                               f"{_show(v)}", field=f"quantities[{i}]")
        out.append(None if v is None else float(v))
    return tuple(out)


def _bool(value: Any, field: str, default: bool | None) -> bool | None:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RequestError(f"`{field}` must be true or false; got {_show(value)}", field=field)
    return value


def _choice(value: Any, field: str, allowed: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise RequestError(f"`{field}` must be one of {', '.join(map(repr, allowed))}; got "
                           f"{_show(value)}", field=field)
    return value


def _time(value: Any, field: str) -> Any:
    """An ISO 8601 string or epoch seconds, checked for its type here and its value by the library."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RequestError(f"`{field}` must be an ISO 8601 time or epoch seconds; got "
                           f"{_type_name(value)} {_show(value)}", field=field)
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(f"`{field}` must be a finite number; got {_show(value)}", field=field)
    return value


@dataclass(frozen=True, slots=True)
class RecommendIn:
    """A checked ``POST /v1/recommend`` body: the keywords of ``Recommender.recommend``.

    Examples
    --------
    >>> r = parse_recommend({"customer": "17850", "basket": ["85123A"], "k": 2})
    >>> r.kwargs()["basket"], r.kwargs()["k"]
    (('85123A',), 2)
    """

    customer: Any
    basket: tuple[Any, ...]
    k: int
    channel: str
    moment: str | None
    include_owned: bool
    exclude: tuple[Any, ...]
    at: Any
    fill: bool | None
    quantities: tuple[float | None, ...] = ()

    def lines(self) -> list[tuple[Any, float]]:
        """(item, quantity) of the basket lines whose quantity was sent."""
        return [(b, q) for b, q in zip(self.basket, self.quantities, strict=True)
                if q is not None]

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Recommender.recommend`` (customer included)."""
        return {"customer": self.customer, "basket": self.basket, "k": self.k,
                "channel": self.channel, "moment": self.moment,
                "include_owned": self.include_owned, "exclude": list(self.exclude) or None,
                "at": self.at, "fill": self.fill}


def parse_recommend(body: Any, *, max_k: int = 100) -> RecommendIn:
    """Check a ``POST /v1/recommend`` body.

    Parameters
    ----------
    body : decoded JSON
    max_k : int, default 100
        Largest ``k`` accepted.

    Returns
    -------
    RecommendIn

    Raises
    ------
    RequestError
        Naming the field: unknown fields, wrong types, ``k`` outside 1..max_k.

    Examples
    --------
    >>> parse_recommend({"k": 0})
    Traceback (most recent call last):
    ...
    upsell.serve._requests.RequestError: `k` must be an integer from 1 to 100; got 0
    >>> parse_recommend({"customer": 17850.0, "channel": "email"}).customer
    17850
    """
    b = _object(body, "the request", _RECOMMEND_FIELDS)
    k = b.get("k", 5)
    if isinstance(k, float) and k.is_integer():
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise RequestError(f"`k` must be an integer from 1 to {max_k}; got {_show(k)}",
                           field="k")
    moment = b.get("moment")
    if moment is not None and (not isinstance(moment, str) or not moment.strip()):
        raise RequestError(f"`moment` must be a moment name or null; got {_show(moment)}",
                           field="moment")
    basket = _id_list(b.get("basket"), "basket")
    return RecommendIn(
        customer=_id(b.get("customer"), "customer", optional=True),
        basket=basket, k=k,
        channel=_choice(b.get("channel"), "channel", CHANNELS, "web"), moment=moment,
        include_owned=bool(_bool(b.get("include_owned"), "include_owned", False)),
        exclude=_id_list(b.get("exclude"), "exclude"), at=_time(b.get("at"), "at"),
        fill=_bool(b.get("fill"), "fill", None),
        quantities=_quantities(b.get("quantities"), basket))


def _event_seconds(value: Any, field: str) -> float:
    """An event time as epoch seconds (default now), checked BEFORE anything is written."""
    value = _time(value, field)
    if value is None:
        return now_seconds()
    try:
        t = as_time(value, field, unit="us")
    except UpsellDataError as exc:
        raise RequestError(str(exc), field=field) from None
    secs = float(t.astype(np.int64)) / 1e6
    lo, hi = TIME_RANGE
    if not lo <= secs < hi:
        raise RequestError(f"`{field}` {_show(value)} is outside the times an offer log holds "
                           f"(1970-01-01 to 2200-01-01 UTC)", field=field)
    return secs


@dataclass(frozen=True, slots=True)
class EventIn:
    """One checked event of ``POST /v1/events``.

    ``offer_id`` is ``"<request_id>:<item>"``: the presentation of one item in one answer,
    so its acceptance or refusal finds it.
    """

    type: str
    request_id: str
    customer: Any
    item: Any
    channel: str
    time: float
    kind: str
    revenue: float | None
    source: str = ""

    @property
    def offer_id(self) -> str:
        """The offer log's offer id of this event."""
        return f"{self.request_id}:{self.item}"


def _event(raw: Any, i: int) -> EventIn:
    prefix = f"[{i}]."
    e = _object(raw, f"event {i}", _EVENT_FIELDS, prefix)
    kind = e.get("type")
    if kind is None:
        raise RequestError(f"event {i}: `type` is required", field=prefix + "type")
    etype = _choice(kind, prefix + "type", EVENTS, "")
    rid = e.get("request_id")
    if not isinstance(rid, str) or not rid.strip() or len(rid) > 64:
        raise RequestError(f"event {i}: `request_id` must be the request_id of an answer "
                           f"(a string of 1 to 64 characters); got {_show(rid)}",
                           field=prefix + "request_id")
    revenue = e.get("revenue")
    if revenue is not None:
        if isinstance(revenue, bool) or not isinstance(revenue, (int, float)) or not (
                math.isfinite(revenue) and revenue >= 0):
            raise RequestError(f"event {i}: `revenue` must be a number >= 0; got "
                               f"{_show(revenue)}", field=prefix + "revenue")
        if etype != "accepted":
            raise RequestError(f"event {i}: `revenue` belongs to an accepted offer; this "
                               f"event is {etype!r}", field=prefix + "revenue")
    return EventIn(type=etype, request_id=rid, customer=_id(e.get("customer"),
                   prefix + "customer", optional=True), item=_id(e.get("item"), prefix + "item"),
                   channel=_choice(e.get("channel"), prefix + "channel", CHANNELS, "web"),
                   time=_event_seconds(e.get("time"), prefix + "time"),
                   kind=_choice(e.get("kind"), prefix + "kind", OFFER_KINDS, "cross_sell"),
                   revenue=None if revenue is None else float(revenue),
                   source=_source(e.get("source"), prefix + "source"))


def _source(value: Any, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = "+".join(value)  # an offer's "sources" as the answer gave them
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS:
        raise RequestError(f"`{field}` must be a string (or the offer's sources, an array of "
                           f"strings) of at most {MAX_ID_CHARS} characters; got {_show(value)}",
                           field=field)
    return value


def parse_events(body: Any) -> list[EventIn]:
    """Check a ``POST /v1/events`` body: a JSON array of events (or ``{"events": [...]}``).

    Raises
    ------
    RequestError
        For the first bad event, its field named ``[i].name``; nothing is recorded then.

    Examples
    --------
    >>> ev = parse_events([{"type": "presented", "request_id": "r1", "item": "mug"}])
    >>> ev[0].offer_id, ev[0].channel
    ('r1:mug', 'web')
    >>> parse_events([{"type": "seen", "request_id": "r1", "item": "mug"}])
    Traceback (most recent call last):
    ...
    upsell.serve._requests.RequestError: `[0].type` must be one of 'presented', 'accepted', 'declined'; got "seen"
    """
    if isinstance(body, dict) and set(body) == {"events"}:
        body = body["events"]
    if not isinstance(body, list):
        raise RequestError(f"the body must be a JSON array of events; got {_type_name(body)} "
                           f"{_show(body)}")
    if not body:
        raise RequestError("the body holds no events")
    if len(body) > MAX_EVENTS:
        raise RequestError(f"the body holds {len(body):,} events; at most {MAX_EVENTS:,} per "
                           f"request")
    return [_event(raw, i) for i, raw in enumerate(body)]


def parse_reload(body: Any) -> str | None:
    """Check a ``POST /v1/reload`` body: ``{}`` or ``{"model_dir": path}``; returns the path or None.

    Examples
    --------
    >>> parse_reload({"model_dir": "/srv/model-2"})
    '/srv/model-2'
    >>> parse_reload({}) is None
    True
    """
    b = _object(body, "the request", ("model_dir",))
    path = b.get("model_dir")
    if path is not None and (not isinstance(path, str) or not path.strip() or "\x00" in path):
        raise RequestError(f"`model_dir` must be a folder path; got {_show(path)}",
                           field="model_dir")
    return path


def now_seconds() -> float:
    """The time now in epoch seconds (UTC)."""
    return dt.datetime.now(dt.timezone.utc).timestamp()
