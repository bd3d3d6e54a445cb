"""The SQL backends of the offer log: any DB-API 2.0 connection, and SQLite files.

Private: import :class:`SQLOfferLog` and :class:`SQLiteOfferLog` from
:mod:`upsell.recommend.offerlog`.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float
from upsell.exceptions import UpsellDataError, UpsellWarning
from upsell.recommend._offerlog_base import (
    _COLUMNS,
    _INDEXES,
    _LOOP,
    _NEW_COLUMNS,
    _TABLE,
    MIGRATION,
    OUTCOME_COLUMNS,
    SCHEMA,
    OfferEvent,
    OfferLog,
    _arrays,
)

__all__ = ["SQLOfferLog", "SQLiteOfferLog"]

#: Rows :meth:`OfferLog.outcomes` converts to arrays at a time.
_CHUNK = 65_536


def _select_list(have: frozenset[str], names: Sequence[str]) -> str:
    """Column names, those missing from the table as NULL (names of the table's own columns
    only: they are written into the SQL text)."""
    bad = [c for c in names if c not in _COLUMNS and c not in OUTCOME_COLUMNS]
    if bad:
        raise UpsellDataError(f"`columns`: unknown outcome column {bad[0]!r}; choose from "
                              f"{', '.join(OUTCOME_COLUMNS)}")
    return ", ".join(c if c in have else f"NULL AS {c}" for c in names)


_PARAMSTYLES = ("qmark", "format", "pyformat", "numeric", "named")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class SQLOfferLog(OfferLog):
    """An offer log in any DB-API 2.0 database (PostgreSQL, MySQL, SQLite, ...).

    Values are always bound as parameters; only the table name is written into
    the SQL, and it must be a plain identifier. The table (see :data:`SCHEMA`
    and docs/recommend.md) is created when missing unless ``create=False``;
    with ``create=True`` a table written by an earlier version gains the columns
    it lacks (:data:`MIGRATION`, see :meth:`migrate`). With ``create=False`` the
    table is used as it is: columns it lacks are read as NULL and not written
    (an :class:`~upsell.exceptions.UpsellWarning` says so once).

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
        self._present: frozenset[str] | None = None
        self._warned = False
        if create:
            self._create()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table={self.table!r})"

    # placeholders written as "?" and translated for the driver; {columns} is the select
    # list (a column the table lacks read as NULL), {insert} the insert list
    def _sql(self, text: str) -> str:
        text = text.replace("{table}", self.table)
        if "{columns}" in text or "{insert}" in text:
            have = self._columns_present()
            text = text.replace("{columns}", _select_list(have, _COLUMNS))
            ins = [c for c in _COLUMNS if c in have]
            text = text.replace("{insert}", f"({', '.join(ins)}) VALUES "
                                            f"({', '.join('?' * len(ins))})")
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
        self.migrate()

    def _probe(self, conn: Any) -> frozenset[str] | None:
        """The table's column names (lower case), None when it cannot be read."""
        cur = conn.cursor()
        try:
            cur.execute(self._sql("SELECT * FROM {table} WHERE 1 = 0"))
            names = frozenset(str(d[0]).lower() for d in cur.description or ())
            cur.fetchall()
            conn.commit()
            return names
        except Exception:  # any driver's error: a missing table reads as "unknown"
            conn.rollback()
            return None
        finally:
            cur.close()

    def _columns_present(self) -> frozenset[str]:
        """Columns the table has (probed once); all of them when the table cannot be read yet."""
        have = self._present
        if have is None:
            probed = self._run(self._probe)
            if probed is None:
                return frozenset(_COLUMNS)
            have = self._present = frozenset(probed)
        return have

    def migrate(self) -> tuple[str, ...]:
        """Add the columns this version writes to a table created by an earlier version.

        Runs the statements of :data:`MIGRATION` whose column is missing, each
        committed on its own. Idempotent and safe when several processes open the
        same old log at once: a column another process added meanwhile (the
        database's "duplicate column" error) is checked for and accepted. Called
        by the constructor unless ``create=False``; old rows read NULL (see
        :meth:`OfferLog.outcomes`).

        Returns
        -------
        tuple of str
            The columns this call added (empty when the table was up to date).

        Raises
        ------
        UpsellDataError
            A column could not be added (e.g. no ALTER privilege), naming it and
            the statement to run by hand.

        Examples
        --------
        >>> import sqlite3
        >>> conn = sqlite3.connect(":memory:", check_same_thread=False)
        >>> _ = conn.execute("CREATE TABLE upsell_offer_events (offer_id VARCHAR(64) NOT NULL, "
        ...                  "event VARCHAR(16) NOT NULL, time DOUBLE PRECISION NOT NULL, "
        ...                  "customer VARCHAR(255), item VARCHAR(255) NOT NULL, "
        ...                  "kind VARCHAR(32) NOT NULL, channel VARCHAR(32) NOT NULL, "
        ...                  "source VARCHAR(255) NOT NULL, revenue DOUBLE PRECISION)")
        >>> log = SQLOfferLog(conn, create=False)
        >>> log.migrate()
        ('request_id', 'position', 'policy', 'propensity', 'explored', 'segment', 'probability')
        >>> log.migrate()
        ()
        """
        added = tuple(self._run(self._migrate))
        self._present = None
        return added

    def _migrate(self, conn: Any) -> list[str]:
        have = self._probe(conn)
        if have is None:
            raise UpsellDataError(f"table {self.table!r} cannot be read; create it first "
                                  f"(SCHEMA) or open the log with create=True")
        added = []
        for (name, _), stmt in zip(_NEW_COLUMNS, MIGRATION, strict=True):
            if name in have:
                continue
            cur = conn.cursor()
            try:
                cur.execute(self._sql(stmt))
                conn.commit()
                added.append(name)
            except Exception as exc:
                conn.rollback()
                now = self._probe(conn)
                if now is None or name not in now:  # not another process's duplicate column
                    raise UpsellDataError(
                        f"table {self.table!r}: cannot add column {name!r} "
                        f"({type(exc).__name__}: {exc}); run "
                        f"{stmt.replace('{table}', self.table)!r} by hand") from None
            finally:
                cur.close()
        return added

    def _insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        have = self._columns_present()
        lacking = [i for i, c in enumerate(_COLUMNS) if c not in have and i >= _LOOP.start]
        if lacking:  # an old table opened with create=False: the loop fields cannot be kept
            if not self._warned and any(r[i] is not None for r in rows for i in lacking):
                self._warned = True
                warnings.warn(
                    f"offer log table {self.table!r} lacks the columns "
                    f"{', '.join(_COLUMNS[i] for i in lacking)}: they are not stored; run "
                    f"log.migrate() or the ALTER TABLE statements of "
                    f"upsell.recommend.offerlog.MIGRATION", UpsellWarning, stacklevel=3)
            keep = [i for i in range(len(_COLUMNS)) if i not in lacking]
            rows = [tuple(r[i] for i in keep) for r in rows]
        sql = self._sql("INSERT INTO {table} {insert}")

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
        text = self._sql(sql)

        def go(conn: Any) -> list[tuple[Any, ...]]:
            cur = conn.cursor()
            try:
                cur.execute(text, self._params(params))
                out = [tuple(r) for r in cur.fetchall()]
                conn.commit()  # end the read transaction: later reads see new rows
                return out
            finally:
                cur.close()

        return list(self._run(go))

    def _find(self, offer_id: str) -> OfferEvent | None:
        rows = self._select("SELECT {columns} FROM {table} WHERE offer_id = ? AND event = ? "
                            "ORDER BY time", [offer_id, "presented"])
        return _event(rows[0]) if rows else None

    def _offer_events(self, offer_id: str) -> list[str]:
        return [str(r[0]) for r in self._select(
            "SELECT event FROM {table} WHERE offer_id = ? ORDER BY time", [offer_id])]

    def _history(self, customer: str, since: float) -> list[tuple[str, str, float]]:
        rows = self._select("SELECT item, event, time FROM {table} WHERE customer = ? AND "
                            "time >= ? ORDER BY time", [customer, since])
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    def _table_rows(self) -> list[tuple[Any, ...]]:
        order = "time, rowid" if isinstance(self, SQLiteOfferLog) else "time"
        return self._select(f"SELECT {{columns}} FROM {{table}} ORDER BY {order}", [])

    def events(self) -> list[OfferEvent]:
        """Every event, oldest first."""
        return [_event(r) for r in self._table_rows()]

    def _outcome_parts(self, since: float, names: Sequence[str], answers: bool
                       ) -> tuple[dict[str, np.ndarray], list[tuple[Any, ...]]]:
        # presented first: an answer logged between the two reads is one more answer, never
        # an answer without its presentation
        order = " ORDER BY rowid" if isinstance(self, SQLiteOfferLog) else " ORDER BY time"
        # only the columns asked for: SQLite's cost is per column produced (bench_offer_log)
        # column names only from the constant lists (_select_list checks), never from input
        select_list = _select_list(self._columns_present(), names)
        text = self._sql(f"SELECT {select_list} FROM "
                         "{table} WHERE event = ? AND time >= ?" + order)

        def go(conn: Any) -> dict[str, np.ndarray]:
            # converted to arrays a chunk at a time: the rows of a million offers as Python
            # tuples would hold several times the memory of the arrays
            cur = conn.cursor()
            try:
                cur.execute(text, self._params(["presented", since]))
                parts = []
                while True:
                    rows = cur.fetchmany(_CHUNK)
                    if not rows:
                        break
                    parts.append(_arrays(rows, names))
                conn.commit()
            finally:
                cur.close()
            if len(parts) == 1:
                return parts[0]
            if not parts:
                return _arrays([], names)
            return {c: np.concatenate([p[c] for p in parts]) for c in names}

        shown = self._run(go)
        if not answers:
            return shown, []
        # only the answers that can belong to offers presented since then, filtered in the
        # database: an answer is logged no earlier than its presentation (OfferLog times it
        # so), so its own time bounds it. (A join on the offer id, `offer_id IN (SELECT ...)`
        # or a correlated EXISTS, probes the offer-id index once per row: 2-15x slower than
        # the whole scan on a million events.)
        return shown, self._select("SELECT offer_id, event, revenue FROM {table} WHERE "
                                   "event <> ? AND time >= ?", ["presented", since])

    def __len__(self) -> int:
        return int(self._select("SELECT COUNT(*) FROM {table}", [])[0][0])


def _event(r: tuple[Any, ...]) -> OfferEvent:
    def opt(v: Any, kind: Callable[[Any], Any]) -> Any:
        return None if v is None else kind(v)

    return OfferEvent(str(r[0]), str(r[1]), float(r[2]), opt(r[3], str), str(r[4]), str(r[5]),
                      str(r[6]), str(r[7]), opt(r[8], float), opt(r[9], str), opt(r[10], int),
                      opt(r[11], str), opt(r[12], float), opt(r[13], lambda v: bool(int(v))),
                      opt(r[14], str), opt(r[15], float))


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
    read_only : bool, default False
        Open an existing log for reading only (reports, off-policy evaluation):
        the file is never created, migrated or switched to WAL; an old table's
        loop columns read as NULL.

    Examples
    --------
    >>> import os, tempfile
    >>> log = SQLiteOfferLog(os.path.join(tempfile.mkdtemp(), "offers.db"))
    >>> _ = log.record("presented", item="a", customer="c", time=1.0)
    >>> len(log), log.journal_mode
    (1, 'wal')
    """

    def __init__(self, path: str | os.PathLike[str], *, table: str = _TABLE,
                 timeout: float = 30.0, synchronous: str = "NORMAL",
                 read_only: bool = False) -> None:
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
        if not isinstance(read_only, bool):
            raise UpsellDataError(f"`read_only` must be True or False; got {read_only!r}")
        self.read_only = read_only
        if read_only and not os.path.isfile(self.path):
            raise UpsellDataError(f"`path` {self.path!r}: no such offer log file (read_only=True "
                                  "never creates one)")
        _check_sqlite_file(self.path)
        try:
            super().__init__(connect=self._open, paramstyle="qmark", table=table,
                             create=not read_only)
            if read_only and not self._run(lambda conn: conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (self.table,)).fetchone()):
                raise UpsellDataError(f"`path` {self.path!r} holds no offer log (no table "
                                      f"{self.table!r}); it is an SQLite file of something else")
        except sqlite3.Error as exc:
            raise UpsellDataError(f"`path` {self.path!r} cannot hold an offer log "
                                  f"({type(exc).__name__}: {exc})") from None

    def _open(self) -> sqlite3.Connection:
        try:
            if self.read_only:  # nothing written: no table, no migration, no WAL switch
                uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
                conn = sqlite3.connect(uri, timeout=self.timeout, uri=True)
            else:
                conn = sqlite3.connect(self.path, timeout=self.timeout)
        except sqlite3.Error as exc:
            raise UpsellDataError(f"`path` {self.path!r}: cannot open the SQLite offer log "
                                  f"({exc})") from None
        return conn

    def _prepare(self, conn: Any) -> None:
        if self.read_only:
            return
        # switching a rollback-journal file to WAL needs an exclusive lock, and SQLite can
        # answer "database is locked" at once (without its busy handler) while another
        # process opens or migrates the same file: retried until `timeout`
        deadline = time.monotonic() + self.timeout
        wait = 0.005
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc).lower() and time.monotonic() < deadline:
                    time.sleep(wait)
                    wait = min(wait * 2, 0.2)
                    continue
                conn.close()
                raise UpsellDataError(f"`path` {self.path!r} is not a usable SQLite database "
                                      f"({exc})") from None
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise UpsellDataError(f"`path` {self.path!r} is not a usable SQLite database "
                                      f"({exc})") from None
        if str(mode).lower() != "wal":
            raise UpsellDataError(f"SQLite file {self.path!r} cannot use WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")

    def _migrate(self, conn: Any) -> list[str]:
        # under SQLite's write lock: one process adds the columns, the others wait for it
        # (up to `timeout`) and then find them; no half-migrated table is ever visible
        if conn.in_transaction:
            conn.commit()
        added: list[str] = []
        try:
            have = {str(r[1]).lower() for r in conn.execute(f"PRAGMA table_info({self.table})")}
            if all(name in have for name, _ in _NEW_COLUMNS):
                return added  # up to date: no write lock taken
            conn.execute("BEGIN IMMEDIATE")
            have = {str(r[1]).lower() for r in conn.execute(f"PRAGMA table_info({self.table})")}
            for (name, _), stmt in zip(_NEW_COLUMNS, MIGRATION, strict=True):
                if name not in have:
                    conn.execute(self._sql(stmt))
                    added.append(name)
            conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            if "duplicate column" in str(exc).lower():  # a writer without the lock won
                return super()._migrate(conn)
            raise UpsellDataError(f"`path` {self.path!r}: cannot add the offer-loop columns to "
                                  f"table {self.table!r} ({type(exc).__name__}: {exc})") from None
        return added

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


OfferLog._backends.update(sql=SQLOfferLog, sqlite=SQLiteOfferLog)
