"""The offer log's rows, validation, base class and in-memory backend.

Private: the public module is :mod:`upsell.recommend.offerlog` (which documents the
log and re-exports every name here); the SQL backends are in
:mod:`upsell.recommend._offerlog_sql`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import numbers
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from upsell._validation import check_choice, check_float, to_datetime64
from upsell.exceptions import UpsellDataError

if TYPE_CHECKING:
    from upsell.recommend._offerlog_sql import SQLiteOfferLog, SQLOfferLog

__all__ = ["EVENTS", "MIGRATION", "OUTCOME_COLUMNS", "SCHEMA", "TIME_RANGE", "MemoryOfferLog",
           "OfferEvent", "OfferLog"]

#: Event names.
EVENTS = ("presented", "accepted", "declined")
_TABLE = "upsell_offer_events"
#: The columns added by the closed offer loop (issue 22), with their portable SQL types.
_NEW_COLUMNS = (("request_id", "VARCHAR(64)"), ("position", "INTEGER"),
                ("policy", "VARCHAR(255)"), ("propensity", "DOUBLE PRECISION"),
                ("explored", "INTEGER"), ("segment", "VARCHAR(255)"),
                ("probability", "DOUBLE PRECISION"))
_OLD_COLUMNS = ("offer_id", "event", "time", "customer", "item", "kind", "channel", "source",
                "revenue")
_COLUMNS = _OLD_COLUMNS + tuple(name for name, _ in _NEW_COLUMNS)

#: The table, in portable SQL (``{table}`` is the table name).
SCHEMA = """CREATE TABLE IF NOT EXISTS {table} (
    offer_id  VARCHAR(64)      NOT NULL,
    event     VARCHAR(16)      NOT NULL,
    time      DOUBLE PRECISION NOT NULL,
    customer  VARCHAR(255),
    item      VARCHAR(255)     NOT NULL,
    kind      VARCHAR(32)      NOT NULL,
    channel   VARCHAR(32)      NOT NULL,
    source    VARCHAR(255)     NOT NULL,
    revenue   DOUBLE PRECISION,
    request_id  VARCHAR(64),
    position    INTEGER,
    policy      VARCHAR(255),
    propensity  DOUBLE PRECISION,
    explored    INTEGER,
    segment     VARCHAR(255),
    probability DOUBLE PRECISION
)"""
#: The statements that bring a table created by an earlier version up to :data:`SCHEMA`
#: (``{table}`` is the table name); run the ones whose column is missing. Opening a log
#: with ``create=True`` (the default; always for SQLite files) runs them itself.
MIGRATION = tuple(f"ALTER TABLE {{table}} ADD COLUMN {name} {kind}"
                  for name, kind in _NEW_COLUMNS)
#: Columns of :meth:`OfferLog.outcomes`, one row per presented offer.
OUTCOME_COLUMNS = ("offer_id", "request_id", "time", "customer", "item", "kind", "channel",
                   "segment", "policy", "position", "propensity", "explored",
                   "probability", "revenue", "accepted", "declined")
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS {table}_by_customer ON {table} (customer, time)",
    "CREATE INDEX IF NOT EXISTS {table}_by_offer ON {table} (offer_id)",
)


@dataclass(frozen=True, slots=True)
class OfferEvent:
    """One row of the offer log.

    The last seven fields (request, slot, policy, propensity, exploration flag,
    segment, the recommender's P(accept)) are None on rows logged before they
    existed or when the caller did not give them.

    Examples
    --------
    >>> OfferEvent("o1", "presented", 0.0, "c1", "mug", "cross_sell", "web", "bundles", None).event
    'presented'
    >>> e = OfferEvent("o1", "presented", 0.0, "c1", "mug", "cross_sell", "web", "bundles", None,
    ...                request_id="r1", position=0, policy="upsell@1a2b3c4d", propensity=0.95)
    >>> e.position, e.propensity, e.explored
    (0, 0.95, None)
    """

    offer_id: str
    event: str
    time: float
    customer: str | None
    item: str
    kind: str
    channel: str
    source: str
    revenue: float | None
    request_id: str | None = None
    position: int | None = None
    policy: str | None = None
    propensity: float | None = None
    explored: bool | None = None
    segment: str | None = None
    probability: float | None = None

    def _row(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    def to_pandas(self) -> Any:
        """A one-row DataFrame of the event (``time`` in epoch seconds).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> e = OfferEvent("o1", "presented", 0.0, "c1", "mug", "cross_sell", "web", "bundles", None)
        >>> e.to_pandas().columns.tolist()[:3]
        ['offer_id', 'event', 'time']
        """
        from upsell._display import data_frame

        return data_frame({k: [v] for k, v in self._row().items()}, "OfferEvent.to_pandas")

    def _repr_html_(self) -> str:
        from upsell._display import html_fields

        return html_fields("OfferEvent", self._row(), summary=f"{self.event} {self.item}")


#: Event times an offer log holds, in epoch seconds: 1970-01-01 up to 2200-01-01 UTC.
#: A time outside is a unit mix-up (milliseconds or nanoseconds for seconds) or garbage.
TIME_RANGE = (0.0, 7_258_118_400.0)


def _event_time(value: Any) -> float:
    """An event's time in epoch seconds; refuses times outside :data:`TIME_RANGE`."""
    t = _seconds(value, "time")
    lo, hi = TIME_RANGE
    if not (math.isfinite(t) and lo <= t < hi):
        raise UpsellDataError(
            f"`time` {value!r} is outside the times an offer log holds (1970-01-01 to "
            f"2200-01-01 UTC, epoch seconds {lo:.0f} to {hi:.0f}); epoch milliseconds or "
            f"nanoseconds must be divided by 1e3 or 1e9")
    return t


def _seconds(value: Any, name: str = "time") -> float:
    if value is None:
        return dt.datetime.now(dt.timezone.utc).timestamp()
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise UpsellDataError(f"`{name}` must be a time; got NaT")
        return float(value.astype("datetime64[us]").astype(np.int64)) / 1e6
    if isinstance(value, dt.datetime):
        if value != value:  # pandas.NaT is a datetime too
            raise UpsellDataError(f"`{name}` must be a time; got NaT")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        try:
            return value.timestamp()
        except (ValueError, OverflowError, OSError) as exc:
            raise UpsellDataError(f"`{name}` {value!r} is not a usable time ({exc})") from None
    if isinstance(value, str):
        t = to_datetime64(value, "us")  # converts offsets to UTC; NaT when unparseable
        if np.isnat(t):
            raise UpsellDataError(f"`{name}` {value!r} is not an ISO time")
        return _seconds(t, name)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        secs = float(value)
        if math.isnan(secs) or (math.isinf(secs) and name != "since"):
            raise UpsellDataError(f"`{name}` must be a finite number of epoch seconds; got "
                                  f"{value!r}")
        return secs
    raise UpsellDataError(f"`{name}` must be a datetime, numpy datetime64, ISO string or epoch "
                          f"seconds; got {value!r}")


def _text(value: Any, name: str, *, optional: bool = False) -> str | None:
    if value is None:
        if optional:
            return None
        raise UpsellDataError(f"`{name}` is required")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UpsellDataError(f"`{name}` must be a string or integer id; got {value!r}")
    return str(value)


def _position(value: Any, name: str = "position") -> int | None:
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UpsellDataError(f"`{name}` must be an integer >= 0 (the 0-based slot); got "
                              f"{value!r}")
    return int(value)


def _propensity(value: Any, name: str = "propensity") -> float | None:
    if value is None:
        return None
    return check_float(value, name, low=0.0, high=1.0, low_open=True)


def _probability(value: Any, name: str = "probability") -> float | None:
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value != value:
        return None  # an unknown estimate is stored as NULL
    return check_float(value, name, low=0.0, high=1.0)


def _explored(value: Any, name: str = "explored") -> bool | None:
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise UpsellDataError(f"`{name}` must be True or False; got {value!r}")
    return bool(value)


def _policy(value: Any, name: str = "policy") -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UpsellDataError(f"`{name}` must be a string ('name@version'); got {value!r}")
    return value


#: Positions of the seven loop fields in a row tuple (after the nine original columns).
_LOOP = slice(len(_OLD_COLUMNS), len(_COLUMNS))


class OfferLog:
    """Base class of the offer-log backends: record, query, hand over to the KPIs.

    Use one of the factories: :meth:`in_memory`, :meth:`sqlite`, :meth:`from_connection`.

    Examples
    --------
    >>> log = OfferLog.in_memory()
    >>> oid = log.record("presented", customer="c1", item="mug", kind="cross_sell",
    ...                  channel="web", source="bundles", time=100.0)
    >>> log.accepted(oid, revenue=8.0, time=160.0)
    >>> len(log), log.to_offer_table()["event"].tolist()
    (2, ['presented', 'accepted'])
    >>> from upsell.kpi import conversion
    >>> float(conversion(log).rate[0])
    1.0
    >>> out = log.outcomes()
    >>> out["item"].tolist(), out["accepted"].tolist(), out["revenue"].tolist()
    (['mug'], [True], [8.0])
    """

    #: The SQL backends ("sql", "sqlite") the factories build. They subclass this class, so
    #: this module cannot import them: upsell.recommend._offerlog_sql registers them when
    #: it is imported (the public module upsell.recommend.offerlog always imports it).
    _backends: ClassVar[dict[str, Callable[..., OfferLog]]] = {}

    # ------------------------------------------------------------------ factories
    @staticmethod
    def in_memory() -> MemoryOfferLog:
        """A process-local log (lost when the process ends)."""
        return MemoryOfferLog()

    @staticmethod
    def sqlite(path: str | os.PathLike[str], *, table: str = _TABLE, timeout: float = 30.0,
               synchronous: str = "NORMAL", read_only: bool = False) -> SQLiteOfferLog:
        """A log in an SQLite database file (created when missing unless ``read_only``); see
        :class:`SQLiteOfferLog`."""
        return cast("SQLiteOfferLog", OfferLog._backends["sqlite"](
            path, table=table, timeout=timeout, synchronous=synchronous, read_only=read_only))

    @staticmethod
    def from_connection(connection: Any = None, *, connect: Callable[[], Any] | None = None,
                        paramstyle: str = "qmark", table: str = _TABLE, create: bool = True
                        ) -> SQLOfferLog:
        """A log in any DB-API 2.0 database; see :class:`SQLOfferLog`."""
        return cast("SQLOfferLog", OfferLog._backends["sql"](
            connection, connect=connect, paramstyle=paramstyle, table=table, create=create))

    # ------------------------------------------------------------------ backend hooks
    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _find(self, offer_id: str) -> OfferEvent | None:
        raise NotImplementedError

    def _history(self, customer: str, since: float) -> list[tuple[str, str, float]]:
        raise NotImplementedError

    def _offer_events(self, offer_id: str) -> list[str]:
        """The events logged so far for one offer id, oldest first."""
        return [e.event for e in self.events() if e.offer_id == offer_id]

    def events(self) -> list[OfferEvent]:
        """Every event, oldest first."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.events())

    # ------------------------------------------------------------------ writing
    def record(self, event: str, *, item: Any, customer: Any = None, kind: str = "cross_sell",
               channel: str = "web", source: str = "", offer_id: str | None = None,
               time: Any = None, revenue: float | None = None, position: int | None = None,
               policy: str | None = None, propensity: float | None = None,
               explored: bool | None = None, segment: Any = None,
               probability: float | None = None, request_id: str | None = None) -> str:
        """Log one event and return its offer id (a new one when none is given).

        Parameters
        ----------
        event : {"presented", "accepted", "declined"}
        item, customer : id
            ``customer`` None for anonymous visitors.
        kind, channel, source : str
        offer_id : str, optional
        time : datetime, numpy datetime64, ISO string or epoch seconds; default now
        revenue : float, optional
            Revenue of an accepted offer.
        position : int >= 0, optional
            0-based slot the offer was shown in.
        policy : str, optional
            "name@version" of the policy that made the offer.
        propensity : float in (0, 1], optional
            Probability that the policy shows this item in this slot for this request.
        explored : bool, optional
            The slot was filled by exploration.
        segment : str, optional
            The request's segment label.
        probability : float in [0, 1], optional
            The recommender's own P(accept) for the offer (NaN is stored as NULL).
        request_id : str, optional
            Ties the offers of one request together; a presented event without
            one gets a new id (a request of its own).

        Notes
        -----
        An accepted or declined event of an offer that was presented in this log
        copies the seven loop fields (``position`` ... ``request_id``) the caller
        leaves as None from the presented row.

        Examples
        --------
        >>> OfferLog.in_memory().record("presented", item="a", offer_id="x1")
        'x1'
        >>> log = OfferLog.in_memory()
        >>> oid = log.record("presented", item="a", position=2, propensity=0.9, explored=True)
        >>> _ = log.record("accepted", item="a", offer_id=oid)
        >>> log.events()[1].position, log.events()[1].propensity, log.events()[1].explored
        (2, 0.9, True)
        >>> log.record("presented", item="a", propensity=0)
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: `propensity` must be a number in (0, 1]; got 0
        """
        row = self._row(event, item=item, customer=customer, kind=kind, channel=channel,
                        source=source, offer_id=offer_id, time=time, revenue=revenue,
                        loop=self._loop(position=position, policy=policy, propensity=propensity,
                                        explored=explored, segment=segment,
                                        probability=probability, request_id=request_id))
        if event == "presented" and row[_LOOP.start] is None:
            row = (*row[:_LOOP.start], uuid.uuid4().hex, *row[_LOOP.start + 1:])
        if offer_id is not None:
            self._check_new(str(row[0]), event)
            if event != "presented":
                first = self._find(str(row[0]))
                if first is not None:  # a follow-up inherits what the presentation recorded
                    row = row[:_LOOP.start] + tuple(
                        v if v is not None else w
                        for v, w in zip(row[_LOOP], _loop_of(first), strict=True))
                    row = self._not_before(row, first.time)
        self._insert([row])
        return str(row[0])

    @staticmethod
    def _loop(*, position: Any = None, policy: Any = None, propensity: Any = None,
              explored: Any = None, segment: Any = None, probability: Any = None,
              request_id: Any = None) -> tuple[Any, ...]:
        """The seven loop fields, validated, in column order."""
        return (_text(request_id, "request_id", optional=True), _position(position),
                _policy(policy), _propensity(propensity), _explored(explored),
                _text(segment, "segment", optional=True), _probability(probability))

    def _check_new(self, offer_id: str, event: str) -> None:
        """Refuse a second presentation or a second outcome (accepted/declined) of one offer.

        An offer is presented once and then accepted or declined at most once: a
        log holding both answers would make every conversion figure ambiguous, so
        the contradiction is refused when it is recorded, not found by the KPIs.
        (Two processes answering the same offer at the same instant can still both
        write; :func:`upsell.kpi.conversion` then names the offer.)
        """
        seen = self._offer_events(offer_id)
        if event == "presented" and "presented" in seen:
            raise UpsellDataError(f"`offer_id` {offer_id!r} was already presented; record a new "
                                  f"offer (offer_id=None) to show it again")
        if event != "presented":
            done = [e for e in seen if e != "presented"]
            if done:
                raise UpsellDataError(
                    f"`offer_id` {offer_id!r} was already {done[0]}; an offer is accepted or "
                    f"declined once (record a new presentation to offer it again)")

    def _row(self, event: str, *, item: Any, customer: Any, kind: str, channel: str, source: str,
             offer_id: str | None, time: Any, revenue: float | None,
             loop: tuple[Any, ...] = (None,) * len(_NEW_COLUMNS)) -> tuple[Any, ...]:
        check_choice(event, "event", EVENTS)
        oid = uuid.uuid4().hex if offer_id is None else _text(offer_id, "offer_id")
        rev = None if revenue is None else check_float(revenue, "revenue")
        return (oid, event, _event_time(time), _text(customer, "customer", optional=True),
                _text(item, "item"), str(_text(kind, "kind")), str(_text(channel, "channel")),
                str(source), rev, *loop)

    def presented(self, offers: Iterable[Any], *, customer: Any = None, channel: str | None = None,
                  time: Any = None, policy: str | None = None, segment: Any = None) -> list[str]:
        """Log that offers were shown (one transaction) and return their new offer ids.

        The offers share one new ``request_id``; each offer's ``position`` is its
        index in ``offers``, and its ``propensity``, ``explored`` and
        ``probability`` are the offer's own (1.0, False and None when the object
        lacks them).

        Parameters
        ----------
        offers : iterable of Offer
            Usually an :class:`~upsell.recommend.OfferList`, whole (positions are
            indices: log the list as shown).
        customer : id, optional
        channel : str, optional
            Default: each offer's own channel.
        time : optional
            Default now.
        policy : str, optional
            Default: ``offers.policy`` (the recommender's "name@version"), else NULL.
        segment : str, optional
            Default: ``offers.segment``, else NULL.

        Examples
        --------
        >>> from upsell.recommend import Offer, OfferList, Reason
        >>> o = Offer("a", "A", "upsell", "product", 1.0, {}, ("upsell",), 0.1, 1.0, 0.5,
        ...           Reason("", (), None, None, None, ()), "", "web", None, None)
        >>> log = OfferLog.in_memory()
        >>> len(log.presented([o], customer="c"))
        1
        >>> _ = log.presented(OfferList([o, o], policy="upsell@1a2b3c4d", segment="loyal"))
        >>> [(e.position, e.policy, e.segment, e.propensity) for e in log.events()[1:]]
        [(0, 'upsell@1a2b3c4d', 'loyal', 1.0), (1, 'upsell@1a2b3c4d', 'loyal', 1.0)]
        """
        t = _event_time(time)
        if offers is None or isinstance(offers, (str, bytes)) or not hasattr(offers, "__iter__"):
            raise UpsellDataError(f"`offers` must be an iterable of Offer (from "
                                  f"Recommender.recommend); got {type(offers).__name__}")
        offers_in = offers
        offers = list(offers)
        for i, o in enumerate(offers):
            srcs = getattr(o, "sources", None)
            if not all(hasattr(o, a) for a in ("item", "kind", "channel")) or not isinstance(
                    srcs, (tuple, list)) or not all(isinstance(x, str) for x in srcs):
                raise UpsellDataError(f"`offers` position {i}: expected an Offer (from "
                                      f"Recommender.recommend); got {type(o).__name__} "
                                      f"{str(o)[:80]!r}; use record() for single events")
        pol = _policy(getattr(offers_in, "policy", None) if policy is None else policy)
        seg = _text(getattr(offers_in, "segment", None) if segment is None else segment,
                    "segment", optional=True)
        request = uuid.uuid4().hex
        rows = []
        for i, o in enumerate(offers):
            try:
                loop = (request, i, pol,
                        _propensity(getattr(o, "propensity", 1.0)),
                        _explored(getattr(o, "explored", False)), seg,
                        _probability(getattr(o, "probability", None)))
            except UpsellDataError as exc:
                raise UpsellDataError(f"`offers` position {i}: {exc}") from None
            rows.append(self._row("presented", item=o.item, customer=customer, kind=o.kind,
                                  channel=channel or o.channel, source="+".join(o.sources),
                                  offer_id=None, time=t, revenue=None, loop=loop))
        if rows:
            self._insert(rows)
        return [str(r[0]) for r in rows]

    def _follow_up(self, event: str, offer_id: str, time: Any, revenue: float | None) -> None:
        oid = str(_text(offer_id, "offer_id"))
        first = self._find(oid)
        if first is None:
            raise UpsellDataError(f"`offer_id` {oid!r} was never presented in this offer log")
        self._check_new(oid, event)
        row = self._row(event, item=first.item, customer=first.customer, kind=first.kind,
                        channel=first.channel, source=first.source, offer_id=oid, time=time,
                        revenue=revenue, loop=_loop_of(first))
        self._insert([self._not_before(row, first.time)])

    #: answers (accepted / declined / follow-up records) this object logged at their
    #: presentation's time because they came timed earlier (a clock behind the one that
    #: logged the presentation): the repair :meth:`accepted` describes, counted
    answers_retimed: int = 0

    def _not_before(self, row: tuple[Any, ...], presented: float) -> tuple[Any, ...]:
        """An answer's row timed no earlier than its presentation (counted in
        ``answers_retimed``): what lets ``outcomes(since=)`` bound the answers by time."""
        if row[2] >= presented:
            return row
        with _RETIMED_LOCK:
            self.answers_retimed += 1
        return (*row[:2], float(presented), *row[3:])

    def accepted(self, offer_id: str, *, revenue: float | None = None, time: Any = None) -> None:
        """Log that a presented offer was taken (``revenue`` it brought, optional).

        An answer (accepted or declined, here or through :meth:`record`) is never
        logged before its presentation: a ``time`` earlier than the presentation's
        (a clock behind the one that logged it) is logged as the presentation's
        time, and counted in ``answers_retimed``.

        Examples
        --------
        >>> log = OfferLog.in_memory()
        >>> log.accepted("nope")
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: `offer_id` 'nope' was never presented in this offer log
        """
        self._follow_up("accepted", offer_id, time, revenue)

    def declined(self, offer_id: str, *, time: Any = None) -> None:
        """Log that a presented offer was explicitly turned down.

        Examples
        --------
        >>> log = OfferLog.in_memory()
        >>> log.declined(log.record("presented", item="a", customer="c"))
        >>> [e.event for e in log.events()]
        ['presented', 'declined']
        """
        self._follow_up("declined", offer_id, time, None)

    # ------------------------------------------------------------------ reading
    def history(self, customer: Any, *, since: Any = None) -> list[tuple[str, str, float]]:
        """``(item, event, time)`` of one customer's events at or after ``since``, oldest first.

        Examples
        --------
        >>> log = OfferLog.in_memory()
        >>> _ = log.record("presented", item="a", customer="c", time=5.0)
        >>> log.history("c", since=0.0)
        [('a', 'presented', 5.0)]
        """
        cust = _text(customer, "customer")
        return self._history(str(cust), -np.inf if since is None else _seconds(since, "since"))

    def _table_rows(self) -> list[tuple[Any, ...]]:
        """Every event as a tuple of the table's columns, in :meth:`events` order."""
        return [_tuple(e) for e in self.events()]

    def to_offer_table(self) -> dict[str, np.ndarray]:
        """The log as the columns :func:`upsell.kpi.conversion` reads.

        Returns
        -------
        dict of str to ndarray
            Exactly ``upsell.kpi.OFFER_LOG_COLUMNS``: event, kind, channel,
            customer ("" for anonymous), item, offer_id, time (datetime64[us]),
            revenue (NaN where none), then the loop fields: request_id ("" where
            none), position (int64, -1 where none), policy (""), propensity
            (NaN), explored (bool, False where none), segment (""), probability
            (NaN).

        Examples
        --------
        >>> from upsell.kpi import OFFER_LOG_COLUMNS
        >>> tuple(OfferLog.in_memory().to_offer_table()) == OFFER_LOG_COLUMNS
        True
        """
        cols = _transpose(self._table_rows(), len(_COLUMNS))
        c = dict(zip(_COLUMNS, cols, strict=True))
        return {
            "event": _strings(c["event"]), "kind": _strings(c["kind"]),
            "channel": _strings(c["channel"]), "customer": _strings(c["customer"]),
            "item": _strings(c["item"]), "offer_id": _strings(c["offer_id"]),
            "time": _times(c["time"]), "revenue": _floats(c["revenue"]),
            "request_id": _strings(c["request_id"]), "position": _ints(c["position"]),
            "policy": _strings(c["policy"]), "propensity": _floats(c["propensity"]),
            "explored": _flags(c["explored"]), "segment": _strings(c["segment"]),
            "probability": _floats(c["probability"]),
        }

    def _outcome_parts(self, since: float, names: Sequence[str], answers: bool
                       ) -> tuple[dict[str, np.ndarray], list[tuple[Any, ...]]]:
        """The presented rows at or after ``since`` as the :data:`_PRESENTED` columns
        ``names`` (text or float64 arrays, logging order) and, when ``answers``, every
        answer ``(offer_id, event, revenue)`` (else none)."""
        events = self.events()
        rows = [tuple(getattr(e, f) for f in names) for e in events
                if e.event == "presented" and e.time >= since]
        return (_arrays(rows, names),
                [(e.offer_id, e.event, e.revenue) for e in events
                 if answers and e.event != "presented"])

    def outcomes(self, since: Any = None, *, columns: Iterable[str] | None = None
                 ) -> dict[str, np.ndarray]:
        """One row per presented offer with its outcome: what a learner or an evaluator reads.

        Parameters
        ----------
        since : time, optional
            Only offers presented at or after it (datetime, datetime64, ISO
            string or epoch seconds); default all.
        columns : iterable of str, optional
            The columns to return, a subset of :data:`OUTCOME_COLUMNS` (in the
            order given); default all. Equal to the same columns of the full
            read, but SQL backends select only what they need (``time`` for the
            order and, for ``revenue``/``accepted``/``declined``, ``offer_id``
            and the answers): a learner that reads four columns reads the log
            several times faster.

        Returns
        -------
        dict of str to ndarray
            The columns :data:`OUTCOME_COLUMNS` (or ``columns``), oldest presentation first (ties
            in logging order): offer_id, request_id ("" where not logged), time
            (of the presentation, datetime64[us]), customer ("" for anonymous),
            item, kind, channel, segment (""), policy (""), position
            (int64, -1 where not logged), propensity (NaN where not logged),
            explored (bool), probability (NaN), revenue (float64: the revenue
            logged with the acceptance, NaN when not accepted or none was
            logged), accepted (bool), declined (bool).

        Notes
        -----
        SQL backends read the presented rows and the answers (two plain scans,
        no per-row join in the database: SQLite's LEFT JOIN cost more than
        everything else) and join them on the offer id in a hash table holding
        only the answered offers, so a log of a million events is read in a few
        seconds (benchmarks/bench_offer_log.py). With ``since`` the database
        returns only the answers logged since then: an answer is never logged
        before its presentation (:meth:`accepted`), so these are all the
        answers of the offers presented since. ``accepted`` and ``declined`` are both True only when two
        processes answered the same offer at the same instant (the log refuses
        it otherwise).

        Examples
        --------
        >>> log = OfferLog.in_memory()
        >>> a = log.record("presented", item="mug", customer="c", time=10.0, position=0,
        ...                propensity=0.9, policy="upsell@1a2b3c4d")
        >>> b = log.record("presented", item="tea", customer="c", time=10.0, position=1)
        >>> log.accepted(a, revenue=8.0, time=20.0)
        >>> log.declined(b, time=21.0)
        >>> out = log.outcomes()
        >>> out["item"].tolist(), out["accepted"].tolist(), out["declined"].tolist()
        (['mug', 'tea'], [True, False], [False, True])
        >>> out["propensity"].tolist(), out["policy"].tolist(), out["revenue"].tolist()
        ([0.9, nan], ['upsell@1a2b3c4d', ''], [8.0, nan])
        >>> len(log.outcomes(since=15.0)["item"])
        0
        >>> {name: v.tolist() for name, v in log.outcomes(columns=["item", "accepted"]).items()}
        {'item': ['mug', 'tea'], 'accepted': [True, False]}
        >>> log.outcomes(columns=["item", "price"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: `columns`: 'price' is not an outcome column; ...
        """
        lo = _LOWEST if since is None else _seconds(since, "since")
        names = _outcome_names(columns)
        need = bool(_ANSWERED.intersection(names))
        read = tuple(c for c in _PRESENTED
                     if c in names or c == "time" or (c == "offer_id" and need))
        cols, answers = self._outcome_parts(lo, read, need)
        seconds = cols["time"]
        out = {c: _CONVERT.get(c, _same)(cols[c]) for c in names if c in cols}
        if need:
            out.update(_answered(cols["offer_id"], answers))
        out = {c: out[c] for c in names}
        if seconds.size > 1 and np.any(seconds[1:] < seconds[:-1]):
            order = np.argsort(seconds, kind="stable")
            out = {k: v[order] for k, v in out.items()}
        return out


_RETIMED_LOCK = threading.Lock()  # answers_retimed counts writes of every thread


def _answered(offer_ids: np.ndarray, answers: Sequence[tuple[Any, ...]]
              ) -> dict[str, np.ndarray]:
    """``revenue``, ``accepted`` and ``declined`` of each presented offer, from the answers."""
    n = len(offer_ids)
    # answers counted per offer id (an offer answered twice by two racing processes stays
    # one row), then looked up for each presented offer: a hash join on the few answered
    slot: dict[str, int] = {}
    n_acc: list[int] = []
    n_dec: list[int] = []
    acc_rev: list[float] = []
    for oid, event, revenue in answers:
        j = slot.get(oid)
        if j is None:
            j = slot[oid] = len(n_acc)
            n_acc.append(0)
            n_dec.append(0)
            acc_rev.append(math.nan)
        if event == "accepted":
            n_acc[j] += 1
            if revenue is not None:
                acc_rev[j] = revenue if acc_rev[j] != acc_rev[j] else acc_rev[j] + revenue
        else:
            n_dec[j] += 1
    hit = np.fromiter(map(slot.get, offer_ids.tolist(), itertools.repeat(-1)),
                      dtype=np.int64, count=n)  # -1: unanswered, the sentinel appended last
    accepted = np.array([*n_acc, 0], dtype=np.int64)[hit] > 0
    return {"revenue": np.where(accepted, np.array([*acc_rev, np.nan])[hit], np.nan),
            "accepted": accepted,
            "declined": np.array([*n_dec, 0], dtype=np.int64)[hit] > 0}


def _outcome_names(columns: Any) -> tuple[str, ...]:
    """``columns`` of :meth:`OfferLog.outcomes` checked: known names, each once, in order."""
    if columns is None:
        return OUTCOME_COLUMNS
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
        raise UpsellDataError(f"`columns` must be a list of outcome column names; got "
                              f"{columns!r}")
    names = tuple(dict.fromkeys(columns))
    for c in names:
        if c not in OUTCOME_COLUMNS:
            raise UpsellDataError(f"`columns`: {c!r} is not an outcome column; choose from "
                                  f"{', '.join(OUTCOME_COLUMNS)}")
    return names


def _same(values: np.ndarray) -> np.ndarray:
    return values


#: Columns of a presented row that :meth:`OfferLog.outcomes` reads.
_PRESENTED = ("offer_id", "request_id", "time", "customer", "item", "kind", "channel",
              "segment", "policy", "position", "propensity", "explored", "probability")
#: Below every time a log holds (binding a finite number works on every database).
_LOWEST = -1e300
#: The outcome columns that need the answers (accepted / declined events).
_ANSWERED = frozenset(("revenue", "accepted", "declined"))


_PRESENTED_TEXT = frozenset(("offer_id", "request_id", "customer", "item", "kind", "channel",
                             "segment", "policy"))


def _arrays(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Rows of :data:`_PRESENTED` columns as arrays: text ("" for NULL) or float64 (NaN)."""
    cols = _transpose(list(rows), len(names))
    return {n: _strings(c) if n in _PRESENTED_TEXT else _floats(c)
            for n, c in zip(names, cols, strict=True)}


def _tuple(e: OfferEvent) -> tuple[Any, ...]:
    return tuple(getattr(e, f) for f in _COLUMNS)


def _loop_of(e: OfferEvent) -> tuple[Any, ...]:
    return (e.request_id, e.position, e.policy, e.propensity, e.explored, e.segment,
            e.probability)


def _transpose(rows: Sequence[Sequence[Any]], width: int) -> list[Any]:
    """The columns of equal-length rows (object arrays: numpy transposes faster than zip)."""
    if not rows:
        return [()] * width
    table = np.empty((len(rows), width), dtype=object)
    table[:] = rows
    return [table[:, i] for i in range(width)]


def _strings(values: Any) -> np.ndarray:
    """Text column, "" for NULL."""
    if len(values) == 0:
        return np.zeros(0, dtype=str)
    arr = np.asarray(values, dtype=object)
    none = arr == None  # noqa: E711 - elementwise test for SQL NULL
    if none.any():
        arr = arr.copy()
        arr[none] = ""
    return arr.astype(str)


def _floats(values: Any) -> np.ndarray:
    """float64 column, NaN for NULL (numpy reads None as NaN)."""
    return np.asarray(values, dtype=np.float64) if len(values) else np.zeros(0, np.float64)


def _ints(values: Any) -> np.ndarray:
    """int64 column, -1 for NULL."""
    f = _floats(values)
    return np.where(np.isnan(f), -1, f).astype(np.int64)


def _flags(values: Any) -> np.ndarray:
    """bool column, False for NULL."""
    return _floats(values) == 1.0


def _times(values: Any) -> np.ndarray:
    """Epoch seconds as datetime64[us] (rounded to the microsecond)."""
    return np.round(_floats(values) * 1e6).astype(np.int64).astype("datetime64[us]")


#: How :meth:`OfferLog.outcomes` converts a read column (the others are returned as read).
_CONVERT: dict[str, Callable[[Any], np.ndarray]] = {"time": _times, "position": _ints,
                                                    "explored": _flags}


class MemoryOfferLog(OfferLog):
    """An offer log in process memory, safe for threads.

    Examples
    --------
    >>> log = MemoryOfferLog()
    >>> _ = log.record("presented", item=7, customer=1)
    >>> log.events()[0].item, log.events()[0].customer
    ('7', '1')
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[OfferEvent] = []
        self._by_customer: dict[str, list[tuple[str, str, float]]] = {}
        self._first: dict[str, OfferEvent] = {}
        self._by_offer: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"MemoryOfferLog(events={len(self._rows):,})"

    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        with self._lock:
            for r in rows:
                e = OfferEvent(*r)
                self._rows.append(e)
                if e.customer is not None:
                    self._by_customer.setdefault(e.customer, []).append((e.item, e.event, e.time))
                self._first.setdefault(e.offer_id, e)
                self._by_offer.setdefault(e.offer_id, []).append(e.event)

    def _find(self, offer_id: str) -> OfferEvent | None:
        return self._first.get(offer_id)

    def _offer_events(self, offer_id: str) -> list[str]:
        with self._lock:
            return list(self._by_offer.get(offer_id, ()))

    def _history(self, customer: str, since: float) -> list[tuple[str, str, float]]:
        with self._lock:
            rows = list(self._by_customer.get(customer, ()))
        return sorted((r for r in rows if r[2] >= since), key=lambda r: r[2])

    def events(self) -> list[OfferEvent]:
        """Every event, in insertion order."""
        with self._lock:
            return list(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


