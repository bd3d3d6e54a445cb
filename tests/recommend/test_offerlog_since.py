"""OfferLog.outcomes(since=) on SQL backends: answers filtered in the database, same result."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell.recommend import OfferLog, SQLiteOfferLog, SQLOfferLog

_EVENT = st.tuples(st.sampled_from(["a", "b", "c"]),          # item
                   st.integers(10, 30),                        # presentation time
                   st.sampled_from([None, "accepted", "declined"]),
                   st.integers(-5, 10),                        # answer delay (may be < 0)
                   st.sampled_from([None, 3.0, 7.5]))          # revenue


def _fill(log: OfferLog, events: list[tuple[Any, ...]]) -> int:
    answered = 0
    for item, t, answer, delay, revenue in events:
        oid = log.record("presented", item=item, customer="c", time=float(t))
        if answer == "accepted":
            log.accepted(oid, revenue=revenue, time=float(t + delay))
        elif answer == "declined":
            log.declined(oid, time=float(t + delay))
        answered += answer is not None
    return answered


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        if a[k].dtype.kind == "f":
            np.testing.assert_array_equal(a[k], b[k])  # NaN equals NaN here
        else:
            assert a[k].tolist() == b[k].tolist(), k


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_EVENT, max_size=30), since=st.integers(9, 32),
       backend=st.sampled_from(["sqlite", "dbapi"]),
       columns=st.sampled_from([None, ("item", "accepted"), ("offer_id", "revenue",
                                                             "declined", "time")]))
def test_since_equals_the_full_read_filtered(events: list[tuple[Any, ...]], since: int,
                                             backend: str, columns: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log: OfferLog = SQLiteOfferLog(os.path.join(tmp, "o.db")) if backend == "sqlite" \
            else OfferLog.from_connection(sqlite3.connect(":memory:"))
        _fill(log, events)
        full = log.outcomes(columns=columns)
        every = log.outcomes()
        keep = every["time"] >= np.datetime64(since, "s")
        want = {k: v[keep] for k, v in full.items()}
        _same(log.outcomes(since=float(since), columns=columns), want)
        close = getattr(log, "close", None)
        if callable(close):
            close()


def test_answers_are_filtered_in_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    log = OfferLog.from_connection(sqlite3.connect(":memory:"))
    old = [(f"i{j}", j, "accepted", 1, 2.0) for j in range(50)]
    new = [(f"i{j}", 100 + j, "declined", 1, None) for j in range(5)]
    _fill(log, old + new)
    fetched: list[int] = []
    select = SQLOfferLog._select

    def counting(self: SQLOfferLog, sql: str, params: Any) -> list[tuple[Any, ...]]:
        rows = select(self, sql, params)
        if sql.startswith("SELECT offer_id, event, revenue"):
            fetched.append(len(rows))
        return rows

    monkeypatch.setattr(SQLOfferLog, "_select", counting)
    out = log.outcomes(since=100.0)
    assert out["declined"].tolist() == [True] * 5
    assert fetched == [5]  # the 5 answers to offers presented since, not all 55
    fetched.clear()
    log.outcomes()
    assert fetched == [55]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@pytest.mark.parametrize("how", ["accepted", "record"])
def test_an_answer_is_never_logged_before_its_presentation(backend: str, how: str) -> None:
    log = OfferLog.in_memory() if backend == "memory" else \
        OfferLog.from_connection(sqlite3.connect(":memory:"))
    oid = log.record("presented", item="a", customer="c", time=100.0)
    if how == "accepted":
        log.accepted(oid, revenue=2.0, time=90.0)  # a clock 10 s behind
    else:
        log.record("accepted", item="a", customer="c", offer_id=oid, time=90.0)
    assert [e.time for e in log.events()] == [100.0, 100.0]
    assert log.outcomes(since=100.0)["accepted"].tolist() == [True]
    later = log.record("presented", item="b", customer="c", time=200.0)
    log.declined(later, time=250.0)
    assert log.events()[-1].time == 250.0  # a later answer keeps its time
    assert log.answers_retimed == 1  # the repair is counted, the on-time answer is not
