"""Offer log backends: memory, SQLite (several processes, killed writers), any DB-API."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell.exceptions import UpsellDataError
from upsell.kpi import OFFER_LOG_COLUMNS, conversion
from upsell.recommend import MemoryOfferLog, OfferLog, SQLiteOfferLog, SQLOfferLog
from upsell.recommend.offerlog import TIME_RANGE


def fill_log(log: OfferLog) -> None:
    a = log.record("presented", customer="c1", item="mug", kind="cross_sell", channel="web",
                   source="bundles", time=10.0)
    b = log.record("presented", customer="c1", item="pro", kind="upsell", channel="email",
                   source="upsell", time=20.0)
    log.record("presented", customer=None, item="mug", kind="cross_sell", channel="store",
               source="popular", time=30.0)
    log.accepted(a, revenue=8.0, time=40.0)
    log.declined(b, time=50.0)


@pytest.mark.parametrize("backend", ["memory", "sqlite", "dbapi"])
def test_backends_agree(backend: str, tmp_path: Path) -> None:
    if backend == "memory":
        log: OfferLog = OfferLog.in_memory()
    elif backend == "sqlite":
        log = OfferLog.sqlite(tmp_path / "o.db")
    else:
        log = OfferLog.from_connection(sqlite3.connect(":memory:", check_same_thread=False),
                                       table="shop_offers")
    fill_log(log)
    assert len(log) == 5
    table = log.to_offer_table()
    assert tuple(table) == OFFER_LOG_COLUMNS
    assert table["event"].tolist() == ["presented", "presented", "presented", "accepted",
                                       "declined"]
    assert table["customer"].tolist() == ["c1", "c1", "", "c1", "c1"]
    assert np.isnan(table["revenue"][0]) and table["revenue"][3] == 8.0
    assert str(table["time"][3]) == "1970-01-01T00:00:40.000000"
    res = conversion(log, by="kind")
    assert res.groups.tolist() == ["cross_sell", "upsell"]
    assert res.rate.tolist() == [0.5, 0.0]
    assert log.history("c1", since=15.0) == [("pro", "presented", 20.0),
                                             ("mug", "accepted", 40.0),
                                             ("pro", "declined", 50.0)]
    with pytest.raises(UpsellDataError, match="never presented"):
        log.accepted("zzz")
    with pytest.raises(UpsellDataError, match="`event`"):
        log.record("clicked", item="a")


def test_values_are_bound_and_table_names_checked(tmp_path: Path) -> None:
    log = OfferLog.sqlite(tmp_path / "o.db")
    evil = "x'); DROP TABLE upsell_offer_events; --"
    log.record("presented", customer=evil, item=evil, time=1.0)
    assert log.history(evil) == [(evil, "presented", 1.0)]
    with pytest.raises(UpsellDataError, match="identifier"):
        SQLOfferLog(sqlite3.connect(":memory:"), table="offers; DROP TABLE x")


def test_paramstyles_are_translated() -> None:
    log = SQLOfferLog.__new__(SQLOfferLog)
    log.table = "t"
    for style, want in [("qmark", "a = ? AND b = ?"), ("format", "a = %s AND b = %s"),
                        ("numeric", "a = :1 AND b = :2"), ("named", "a = :p1 AND b = :p2")]:
        log.paramstyle = style
        assert log._sql("a = ? AND b = ?") == want
    log.paramstyle = "named"
    assert log._params(["x", 1]) == {"p1": "x", "p2": 1}


def test_memory_log_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    log = MemoryOfferLog()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: log.record("presented", customer=f"c{i % 5}", item=str(i),
                                           time=float(i)), range(800)))
    assert len(log) == 800
    assert sum(len(log.history(f"c{j}")) for j in range(5)) == 800


WRITER = textwrap.dedent("""
    import sys
    from upsell.recommend import SQLiteOfferLog
    log = SQLiteOfferLog(sys.argv[1])
    i = 0
    while True:
        oid = log.record("presented", customer=f"c{i % 97}", item=f"i{i}", source=sys.argv[2],
                         offer_id=f"{sys.argv[2]}-{i}", time=float(i))
        print(oid, flush=True)   # printed only after the commit returned
        i += 1
""")


def test_sqlite_log_survives_writers_killed_mid_write(tmp_path: Path) -> None:
    db = tmp_path / "offers.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    SQLiteOfferLog(db)  # create the table before the writers race
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs = [subprocess.Popen([sys.executable, str(script), str(db), f"w{j}"],
                              stdout=subprocess.PIPE, text=True, env=env) for j in range(2)]
    committed: list[str] = []
    try:
        for p in procs:
            assert p.stdout is not None
            deadline = time.monotonic() + 30
            got = 0
            while got < 150 and time.monotonic() < deadline:
                line = p.stdout.readline()
                if line:
                    committed.append(line.strip())
                    got += 1
            assert got == 150
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait(timeout=30)
            assert p.returncode == -signal.SIGKILL
            assert p.stdout is not None
            committed.extend(x.strip() for x in p.stdout.read().splitlines() if x.strip())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = {r[0] for r in con.execute("SELECT offer_id FROM upsell_offer_events")}
    finally:
        con.close()
    missing = set(committed) - stored
    assert not missing, sorted(missing)[:5]
    assert len(stored) >= len(committed) >= 300
    # the log still works after the crash, from a fresh object
    log = SQLiteOfferLog(db)
    log.record("presented", item="after", customer="c1", time=1e9)
    assert log.history("c1", since=1e9 - 1) == [("after", "presented", 1e9)]
    assert len(log) == len(stored) + 1


def test_sqlite_log_threads_share_one_file(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    log = SQLiteOfferLog(tmp_path / "o.db")

    def write(i: int) -> Any:
        return log.record("presented", customer="c", item=str(i), time=float(i))

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(write, range(200)))
    assert len(set(ids)) == 200 and len(log) == 200


# ---------------------------------------------------------------------------- hostile use
_PROPERTY = settings(max_examples=40, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_PROPERTY
@given(ops=st.lists(st.tuples(st.sampled_from(["present", "accept", "decline", "record_accept",
                                               "record_present"]),
                              st.integers(0, 3)), max_size=25),
       backend=st.sampled_from(["memory", "sqlite"]))
def test_an_offer_has_at_most_one_outcome(tmp_path_factory, ops, backend) -> None:
    """Any sequence of answers: a second answer (or presentation) is refused when recorded."""
    log: OfferLog = OfferLog.in_memory() if backend == "memory" else OfferLog.sqlite(
        tmp_path_factory.mktemp("log") / "o.db")
    ids: list[str] = []
    t = 1_000.0
    for op, k in ops:
        t += 1.0
        try:
            if op == "present" or not ids:
                ids.append(log.record("presented", item=f"i{k}", customer="c", time=t))
            elif op == "record_present":
                log.record("presented", item="x", customer="c", offer_id=ids[k % len(ids)],
                           time=t)
            elif op == "record_accept":
                log.record("accepted", item="x", customer="c", offer_id=ids[k % len(ids)],
                           time=t)
            elif op == "accept":
                log.accepted(ids[k % len(ids)], revenue=1.0, time=t)
            else:
                log.declined(ids[k % len(ids)], time=t)
        except UpsellDataError as exc:
            assert "offer_id" in str(exc)
    per_offer: dict[str, list[str]] = {}
    for e in log.events():
        per_offer.setdefault(e.offer_id, []).append(e.event)
    for events in per_offer.values():
        assert events.count("presented") <= 1
        assert len(events) - events.count("presented") <= 1
    conversion(log)  # no raw exception from the KPIs either


def test_accepted_twice_then_declined_is_refused_at_record_time() -> None:
    log = OfferLog.in_memory()
    oid = log.record("presented", item="a", customer="c", time=10.0)
    log.accepted(oid, time=11.0)
    with pytest.raises(UpsellDataError, match="already accepted"):
        log.accepted(oid, time=12.0)
    with pytest.raises(UpsellDataError, match="already accepted"):
        log.declined(oid, time=13.0)
    assert [e.event for e in log.events()] == ["presented", "accepted"]
    assert float(conversion(log).rate[0]) == 1.0


@_PROPERTY
@given(t=st.one_of(st.floats(), st.integers(-10**30, 10**30)))
def test_implausible_times_are_refused(t: Any) -> None:
    log = OfferLog.in_memory()
    lo, hi = TIME_RANGE
    ok = bool(np.isfinite(float(t))) and lo <= float(t) < hi
    try:
        log.record("presented", item="a", time=t)
    except UpsellDataError as exc:
        assert not ok and "time" in str(exc)
    else:
        assert ok


@pytest.mark.parametrize("t", [1e20, -1.0, float("nan"), float("inf"), 1_700_000_000_000,
                               "10000-01-01", "1900-01-01"])
def test_issue_time_examples_are_refused(t: Any) -> None:
    with pytest.raises(UpsellDataError, match="time"):
        OfferLog.in_memory().record("presented", item="a", time=t)


@_PROPERTY
@given(content=st.binary(max_size=200))
def test_sqlite_on_a_file_that_is_not_a_database(tmp_path_factory, content: bytes) -> None:
    p = tmp_path_factory.mktemp("f") / "offers.db"
    p.write_bytes(content)
    try:
        log = OfferLog.sqlite(p)
    except UpsellDataError as exc:
        assert str(p) in str(exc)
        assert p.read_bytes() == content  # nothing written into a file that is not ours
        return
    assert content == b""  # an empty file is a new database
    assert len(log) == 0


def test_sqlite_on_a_folder_or_a_text_file(tmp_path: Path) -> None:
    with pytest.raises(UpsellDataError, match="folder"):
        OfferLog.sqlite(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database\n" * 100, "utf-8")
    with pytest.raises(UpsellDataError, match="not an SQLite database"):
        OfferLog.sqlite(text)
    assert text.read_text("utf-8").startswith("hello")
