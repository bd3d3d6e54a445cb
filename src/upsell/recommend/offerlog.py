"""The offer log: which offers were presented, accepted and declined, when, to whom, where.

Backends: in memory (:class:`MemoryOfferLog`), SQLite through the standard
library (:class:`SQLiteOfferLog`: a real database file in WAL mode, safe for
several processes), and any DB-API 2.0 connection (:class:`SQLOfferLog`) for a
shop's own database. Frequency caps read it, and
:func:`upsell.kpi.conversion` reads :meth:`OfferLog.to_offer_table`.

Ids are stored as text: item and customer ids come back as strings. Times are
seconds since 1970-01-01 UTC (double precision).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float, to_datetime64
from upsell.exceptions import UpsellDataError

__all__ = ["EVENTS", "SCHEMA", "TIME_RANGE", "MemoryOfferLog", "OfferEvent", "OfferLog",
           "SQLOfferLog", "SQLiteOfferLog"]

#: Event names.
EVENTS = ("presented", "accepted", "declined")
_TABLE = "upsell_offer_events"
_COLUMNS = ("offer_id", "event", "time", "customer", "item", "kind", "channel", "source",
            "revenue")

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
    revenue   DOUBLE PRECISION
)"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS {table}_by_customer ON {table} (customer, time)",
    "CREATE INDEX IF NOT EXISTS {table}_by_offer ON {table} (offer_id)",
)


@dataclass(frozen=True, slots=True)
class OfferEvent:
    """One row of the offer log.

    Examples
    --------
    >>> OfferEvent("o1", "presented", 0.0, "c1", "mug", "cross_sell", "web", "bundles", None).event
    'presented'
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
    """

    # ------------------------------------------------------------------ factories
    @staticmethod
    def in_memory() -> MemoryOfferLog:
        """A process-local log (lost when the process ends)."""
        return MemoryOfferLog()

    @staticmethod
    def sqlite(path: str | os.PathLike[str], *, table: str = _TABLE, timeout: float = 30.0,
               synchronous: str = "NORMAL") -> SQLiteOfferLog:
        """A log in an SQLite database file (created when missing); see :class:`SQLiteOfferLog`."""
        return SQLiteOfferLog(path, table=table, timeout=timeout, synchronous=synchronous)

    @staticmethod
    def from_connection(connection: Any = None, *, connect: Callable[[], Any] | None = None,
                        paramstyle: str = "qmark", table: str = _TABLE, create: bool = True
                        ) -> SQLOfferLog:
        """A log in any DB-API 2.0 database; see :class:`SQLOfferLog`."""
        return SQLOfferLog(connection, connect=connect, paramstyle=paramstyle, table=table,
                           create=create)

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
               time: Any = None, revenue: float | None = None) -> str:
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

        Examples
        --------
        >>> OfferLog.in_memory().record("presented", item="a", offer_id="x1")
        'x1'
        """
        row = self._row(event, item=item, customer=customer, kind=kind, channel=channel,
                        source=source, offer_id=offer_id, time=time, revenue=revenue)
        if offer_id is not None:
            self._check_new(str(row[0]), event)
        self._insert([row])
        return str(row[0])

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
             offer_id: str | None, time: Any, revenue: float | None) -> tuple[Any, ...]:
        check_choice(event, "event", EVENTS)
        oid = uuid.uuid4().hex if offer_id is None else _text(offer_id, "offer_id")
        rev = None if revenue is None else check_float(revenue, "revenue")
        return (oid, event, _event_time(time), _text(customer, "customer", optional=True),
                _text(item, "item"), str(_text(kind, "kind")), str(_text(channel, "channel")),
                str(source), rev)

    def presented(self, offers: Iterable[Any], *, customer: Any = None, channel: str | None = None,
                  time: Any = None) -> list[str]:
        """Log that offers were shown (one transaction) and return their new offer ids.

        Parameters
        ----------
        offers : iterable of Offer
        customer : id, optional
        channel : str, optional
            Default: each offer's own channel.
        time : optional
            Default now.

        Examples
        --------
        >>> from upsell.recommend import Offer, Reason
        >>> o = Offer("a", "A", "upsell", "product", 1.0, {}, ("upsell",), 0.1, 1.0, 0.5,
        ...           Reason("", (), None, None, None, ()), "", "web", None, None)
        >>> len(OfferLog.in_memory().presented([o], customer="c"))
        1
        """
        t = _event_time(time)
        if offers is None or isinstance(offers, (str, bytes)) or not hasattr(offers, "__iter__"):
            raise UpsellDataError(f"`offers` must be an iterable of Offer (from "
                                  f"Recommender.recommend); got {type(offers).__name__}")
        offers = list(offers)
        for i, o in enumerate(offers):
            srcs = getattr(o, "sources", None)
            if not all(hasattr(o, a) for a in ("item", "kind", "channel")) or not isinstance(
                    srcs, (tuple, list)) or not all(isinstance(x, str) for x in srcs):
                raise UpsellDataError(f"`offers` position {i}: expected an Offer (from "
                                      f"Recommender.recommend); got {type(o).__name__} "
                                      f"{str(o)[:80]!r}; use record() for single events")
        rows = [self._row("presented", item=o.item, customer=customer, kind=o.kind,
                          channel=channel or o.channel, source="+".join(o.sources),
                          offer_id=None, time=t, revenue=None) for o in offers]
        if rows:
            self._insert(rows)
        return [str(r[0]) for r in rows]

    def _follow_up(self, event: str, offer_id: str, time: Any, revenue: float | None) -> None:
        oid = str(_text(offer_id, "offer_id"))
        first = self._find(oid)
        if first is None:
            raise UpsellDataError(f"`offer_id` {oid!r} was never presented in this offer log")
        self._check_new(oid, event)
        self._insert([self._row(event, item=first.item, customer=first.customer,
                                kind=first.kind, channel=first.channel, source=first.source,
                                offer_id=oid, time=time, revenue=revenue)])

    def accepted(self, offer_id: str, *, revenue: float | None = None, time: Any = None) -> None:
        """Log that a presented offer was taken (``revenue`` it brought, optional).

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

    def to_offer_table(self) -> dict[str, np.ndarray]:
        """The log as the columns :func:`upsell.kpi.conversion` reads.

        Returns
        -------
        dict of str to ndarray
            Exactly ``upsell.kpi.OFFER_LOG_COLUMNS``: event, kind, channel,
            customer ("" for anonymous), item, offer_id, time (datetime64[us]),
            revenue (NaN where none).

        Examples
        --------
        >>> from upsell.kpi import OFFER_LOG_COLUMNS
        >>> tuple(OfferLog.in_memory().to_offer_table()) == OFFER_LOG_COLUMNS
        True
        """
        ev = self.events()
        n = len(ev)

        def col(f: Callable[[OfferEvent], Any]) -> np.ndarray:
            return np.array([f(e) for e in ev], dtype=str) if n else np.zeros(0, dtype=str)

        t = np.array([round(e.time * 1e6) for e in ev], dtype=np.int64).astype("datetime64[us]")
        return {
            "event": col(lambda e: e.event), "kind": col(lambda e: e.kind),
            "channel": col(lambda e: e.channel), "customer": col(lambda e: e.customer or ""),
            "item": col(lambda e: e.item), "offer_id": col(lambda e: e.offer_id), "time": t,
            "revenue": np.array([np.nan if e.revenue is None else e.revenue for e in ev],
                                dtype=np.float64),
        }


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


_PARAMSTYLES = ("qmark", "format", "pyformat", "numeric", "named")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class SQLOfferLog(OfferLog):
    """An offer log in any DB-API 2.0 database (PostgreSQL, MySQL, SQLite, ...).

    Values are always bound as parameters; only the table name is written into
    the SQL, and it must be a plain identifier. The table (see :data:`SCHEMA`
    and docs/recommend.md) is created when missing unless ``create=False``.

    Parameters
    ----------
    connection : DB-API connection, optional
        Shared by all threads behind a lock. Give either this or ``connect``.
    connect : callable, optional
        Returns a new connection; each thread opens its own (better for servers).
    paramstyle : {"qmark", "format", "pyformat", "numeric", "named"}, default "qmark"
        The driver module's ``paramstyle`` (psycopg and MySQLdb: "format").
    table : str, default "upsell_offer_events"
    create : bool, default True

    Examples
    --------
    >>> import sqlite3
    >>> log = SQLOfferLog(sqlite3.connect(":memory:", check_same_thread=False))
    >>> log.history("c", since=0) == []
    True
    """

    def __init__(self, connection: Any = None, *, connect: Callable[[], Any] | None = None,
                 paramstyle: str = "qmark", table: str = _TABLE, create: bool = True) -> None:
        if (connection is None) == (connect is None):
            raise UpsellDataError("give exactly one of `connection` and `connect`")
        if connect is not None and not callable(connect):
            raise UpsellDataError(f"`connect` must be callable; got {connect!r}")
        if connection is not None and not callable(getattr(connection, "cursor", None)):
            raise UpsellDataError(f"`connection` must be a DB-API 2.0 connection (with a "
                                  f"cursor() method); got {type(connection).__name__}")
        self.paramstyle = check_choice(paramstyle, "paramstyle", _PARAMSTYLES)
        if not isinstance(table, str) or not _IDENT.fullmatch(table):
            raise UpsellDataError(
                f"`table` must be a plain SQL identifier (letters, digits, '_'); got {table!r}")
        self.table = table
        self._shared = connection
        self._connect = connect
        self._lock = threading.RLock()
        self._local = threading.local()
        if create:
            self._create()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table={self.table!r})"

    # placeholders written as "?" and translated for the driver
    def _sql(self, text: str) -> str:
        text = text.replace("{table}", self.table)
        if self.paramstyle == "qmark":
            return text
        parts = text.split("?")
        out = [parts[0]]
        for i, p in enumerate(parts[1:], start=1):
            mark = {"format": "%s", "pyformat": "%s", "numeric": f":{i}",
                    "named": f":p{i}"}[self.paramstyle]
            out.append(mark + p)
        return "".join(out)

    def _params(self, values: Sequence[Any]) -> Any:
        if self.paramstyle == "named":
            return {f"p{i}": v for i, v in enumerate(values, start=1)}
        return tuple(values)

    def _conn(self) -> Any:
        if self._connect is None:
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._prepare(conn)
            self._local.conn = conn
        return conn

    def _prepare(self, conn: Any) -> None:
        """Per-connection setup (SQLite pragmas)."""

    def _run(self, fn: Callable[[Any], Any]) -> Any:
        if self._connect is None:
            with self._lock:
                return fn(self._shared)
        return fn(self._conn())

    def _create(self) -> None:
        def go(conn: Any) -> None:
            cur = conn.cursor()
            try:
                cur.execute(SCHEMA.format(table=self.table))
                for ix in _INDEXES:
                    cur.execute(ix.format(table=self.table))
                conn.commit()
            finally:
                cur.close()

        self._run(go)

    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        sql = self._sql(f"INSERT INTO {{table}} ({', '.join(_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(_COLUMNS))})")

        def go(conn: Any) -> None:
            cur = conn.cursor()
            try:
                cur.executemany(sql, [self._params(r) for r in rows])
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cur.close()

        self._run(go)

    def _select(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        def go(conn: Any) -> list[tuple[Any, ...]]:
            cur = conn.cursor()
            try:
                cur.execute(self._sql(sql), self._params(params))
                out = [tuple(r) for r in cur.fetchall()]
                conn.commit()  # end the read transaction: later reads see new rows
                return out
            finally:
                cur.close()

        return list(self._run(go))

    def _find(self, offer_id: str) -> OfferEvent | None:
        rows = self._select(f"SELECT {', '.join(_COLUMNS)} FROM {{table}} WHERE offer_id = ? "
                            f"AND event = ? ORDER BY time", [offer_id, "presented"])
        return _event(rows[0]) if rows else None

    def _offer_events(self, offer_id: str) -> list[str]:
        return [str(r[0]) for r in self._select(
            "SELECT event FROM {table} WHERE offer_id = ? ORDER BY time", [offer_id])]

    def _history(self, customer: str, since: float) -> list[tuple[str, str, float]]:
        rows = self._select("SELECT item, event, time FROM {table} WHERE customer = ? AND "
                            "time >= ? ORDER BY time", [customer, since])
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    def events(self) -> list[OfferEvent]:
        """Every event, oldest first."""
        order = "time, rowid" if isinstance(self, SQLiteOfferLog) else "time"
        return [_event(r) for r in self._select(
            f"SELECT {', '.join(_COLUMNS)} FROM {{table}} ORDER BY {order}", [])]

    def __len__(self) -> int:
        return int(self._select("SELECT COUNT(*) FROM {table}", [])[0][0])


def _event(r: tuple[Any, ...]) -> OfferEvent:
    return OfferEvent(str(r[0]), str(r[1]), float(r[2]), None if r[3] is None else str(r[3]),
                      str(r[4]), str(r[5]), str(r[6]), str(r[7]),
                      None if r[8] is None else float(r[8]))


class SQLiteOfferLog(SQLOfferLog):
    """An offer log in an SQLite file: WAL mode, one connection per thread, safe for processes.

    Every write is one transaction, committed before the call returns; a process
    killed mid-write loses at most the event it was writing, never a committed one,
    and the file stays consistent (SQLite's write-ahead log).

    Parameters
    ----------
    path : path-like
        Database file (created when missing).
    table : str, default "upsell_offer_events"
    timeout : float, default 30.0
        Seconds to wait for another process's write lock.
    synchronous : {"NORMAL", "FULL"}, default "NORMAL"
        "NORMAL" survives process crashes; "FULL" also survives power loss
        (an fsync per commit).

    Examples
    --------
    >>> import os, tempfile
    >>> log = SQLiteOfferLog(os.path.join(tempfile.mkdtemp(), "offers.db"))
    >>> _ = log.record("presented", item="a", customer="c", time=1.0)
    >>> len(log), log.journal_mode
    (1, 'wal')
    """

    def __init__(self, path: str | os.PathLike[str], *, table: str = _TABLE,
                 timeout: float = 30.0, synchronous: str = "NORMAL") -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise UpsellDataError(f"`path` must be a file path; got {type(path).__name__}")
        self.path = os.fspath(path)
        if not isinstance(self.path, str) or not self.path or "\x00" in self.path:
            raise UpsellDataError(f"`path` must be a non-empty file path; got {self.path!r}")
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise UpsellDataError(f"`path` {self.path!r}: folder {folder!r} does not exist")
        self.timeout = check_float(timeout, "timeout", low=0)
        self.synchronous = check_choice(synchronous, "synchronous", ("NORMAL", "FULL"))
        _check_sqlite_file(self.path)
        try:
            super().__init__(connect=self._open, paramstyle="qmark", table=table, create=True)
        except sqlite3.Error as exc:
            raise UpsellDataError(f"`path` {self.path!r} cannot hold an offer log "
                                  f"({type(exc).__name__}: {exc})") from None

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout)
        except sqlite3.Error as exc:
            raise UpsellDataError(f"`path` {self.path!r}: cannot open the SQLite offer log "
                                  f"({exc})") from None
        return conn

    def _prepare(self, conn: Any) -> None:
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise UpsellDataError(f"`path` {self.path!r} is not a usable SQLite database "
                                  f"({exc})") from None
        if str(mode).lower() != "wal":
            raise UpsellDataError(f"SQLite file {self.path!r} cannot use WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")

    @property
    def journal_mode(self) -> str:
        """The database's journal mode ("wal")."""
        return str(self._run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]))


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_sqlite_file(path: str) -> None:
    """Refuse a folder or an existing file that is not an SQLite database, before opening it."""
    if os.path.isdir(path):
        raise UpsellDataError(f"`path` {path!r} is a folder; give a database file name")
    if os.path.exists(path) and not os.path.isfile(path):
        raise UpsellDataError(f"`path` {path!r} is not a regular file")
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise UpsellDataError(f"`path` {path!r} cannot be read ({exc})") from None
        if head != _SQLITE_MAGIC:
            raise UpsellDataError(f"`path` {path!r} exists and is not an SQLite database; "
                                  f"refusing to write an offer log into it")
