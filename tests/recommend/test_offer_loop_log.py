"""The offer log of the closed offer loop (issue 22): loop columns, migration, outcomes()."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upsell.exceptions import UpsellDataError, UpsellWarning
from upsell.kpi import conversion
from upsell.recommend import Offer, OfferList, OfferLog, Reason, SQLOfferLog
from upsell.recommend.offerlog import MIGRATION, OUTCOME_COLUMNS, SCHEMA

#: The table as every version before issue 22 created it (copied, not imported: the test
#: must keep the old text when SCHEMA changes).
OLD_SCHEMA = """CREATE TABLE IF NOT EXISTS {table} (
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
OLD_INDEXES = (
    "CREATE INDEX IF NOT EXISTS {table}_by_customer ON {table} (customer, time)",
    "CREATE INDEX IF NOT EXISTS {table}_by_offer ON {table} (offer_id)",
)
LOOP = ("request_id", "position", "policy", "propensity", "explored", "segment", "probability")


def make_old_log(conn: sqlite3.Connection, table: str = "upsell_offer_events") -> None:
    """An offer log as an earlier version wrote it: two offers, one accepted."""
    conn.execute(OLD_SCHEMA.format(table=table))
    for ix in OLD_INDEXES:
        conn.execute(ix.format(table=table))
    conn.executemany(
        f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [("old1", "presented", 10.0, "c1", "mug", "cross_sell", "web", "bundles", None),
         ("old2", "presented", 10.0, "c1", "tea", "cross_sell", "web", "bundles", None),
         ("old1", "accepted", 20.0, "c1", "mug", "cross_sell", "web", "bundles", 8.0)])
    conn.commit()


def columns(conn: sqlite3.Connection, table: str = "upsell_offer_events") -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def offer(item: str, *, propensity: float = 1.0, explored: bool = False,
          probability: float = 0.2) -> Offer:
    return Offer(item, item.title(), "cross_sell", "product", 1.0, {}, ("bundles",),
                 probability, 1.0, 0.5, Reason("", (), None, None, None, ()), "", "web", None,
                 None, propensity=propensity, explored=explored)


# ------------------------------------------------------------------------ Offer / OfferList
def test_offer_has_propensity_and_explored_last_with_defaults() -> None:
    old_style = Offer("a", "A", "upsell", "product", 1.0, {}, ("s",), 0.1, 1.0, 0.5,
                      Reason("", (), None, None, None, ()), "", "web", None, None)
    assert old_style.propensity == 1.0 and old_style.explored is False
    new = offer("a", propensity=0.25, explored=True)
    assert new.to_dict()["propensity"] == 0.25 and new.to_dict()["explored"] is True
    assert new != offer("a", propensity=0.5, explored=True)
    assert offer("a") == offer("a")
    frame = OfferList([new]).to_pandas()
    assert frame[["propensity", "explored"]].values.tolist() == [[0.25, True]]


def test_offer_list_keeps_policy_and_segment_through_copies() -> None:
    offers = OfferList([offer("a"), offer("b")], removed={"x": 1}, note="n",
                       policy="upsell@1a2b3c4d", segment="loyal")
    for clone in (copy.copy(offers), copy.deepcopy(offers), pickle.loads(pickle.dumps(offers))):
        assert clone == offers
        assert (clone.policy, clone.segment, clone.removed, clone.note) == (
            "upsell@1a2b3c4d", "loyal", {"x": 1}, "n")
    assert OfferList([]).policy == "" and OfferList([]).segment is None
    assert OfferList([], segment=np.int64(3)).segment == "3"
    with pytest.raises(TypeError, match="immutable"):
        offers.policy = "x"  # type: ignore[misc]
    with pytest.raises(UpsellDataError, match="`policy`"):
        OfferList([], policy=3)  # type: ignore[arg-type]
    with pytest.raises(UpsellDataError, match="`segment`"):
        OfferList([], segment=1.5)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ writing
@pytest.fixture(params=["memory", "sqlite", "dbapi"])
def log(request: Any, tmp_path: Path) -> OfferLog:
    if request.param == "memory":
        return OfferLog.in_memory()
    if request.param == "sqlite":
        return OfferLog.sqlite(tmp_path / "o.db")
    return OfferLog.from_connection(sqlite3.connect(":memory:", check_same_thread=False))


def test_presented_logs_positions_policy_and_one_request(log: OfferLog) -> None:
    offers = OfferList([offer("a"), offer("b", propensity=0.05, explored=True),
                        offer("c", probability=float("nan"))],
                       policy="upsell@1a2b3c4d", segment="loyal")
    ids = log.presented(offers, customer="c1", time=100.0)
    log.accepted(ids[1], revenue=12.0, time=130.0)
    log.declined(ids[2], time=140.0)
    ev = log.events()
    assert [e.position for e in ev] == [0, 1, 2, 1, 2]
    assert {e.request_id for e in ev} == {ev[0].request_id} and len(ev[0].request_id or "") == 32
    assert [e.policy for e in ev] == ["upsell@1a2b3c4d"] * 5
    assert [e.segment for e in ev] == ["loyal"] * 5
    assert [e.propensity for e in ev] == [1.0, 0.05, 1.0, 0.05, 1.0]
    assert [e.explored for e in ev] == [False, True, False, True, False]
    assert [e.probability for e in ev] == [0.2, 0.2, None, 0.2, None]
    # the keywords win over the list's own attributes
    log.presented(offers[:1], customer="c2", time=200.0, policy="other@2", segment="new")
    last = log.events()[-1]
    assert (last.policy, last.segment, last.position) == ("other@2", "new", 0)
    table = log.to_offer_table()
    assert table["position"].tolist() == [0, 1, 2, 1, 2, 0]
    assert table["explored"].dtype == bool and table["explored"].tolist()[:4] == [
        False, True, False, True]
    assert np.isnan(table["probability"][2])
    by_policy = conversion(log, by="policy")
    assert by_policy.groups.tolist() == ["other@2", "upsell@1a2b3c4d"]
    assert by_policy.presented.tolist() == [1, 3] and by_policy.accepted.tolist() == [0, 1]
    by_explored = conversion(log, by="explored")
    assert by_explored.groups.tolist() == ["exploit", "explore"]
    assert by_explored.presented.tolist() == [3, 1] and by_explored.rate.tolist() == [0.0, 1.0]


def test_record_takes_the_loop_fields_and_follow_ups_inherit_them(log: OfferLog) -> None:
    oid = log.record("presented", item="a", customer="c", time=1.0, position=3,
                     policy="p@1", propensity=0.5, explored=True, segment="vip",
                     probability=0.1, request_id="r9")
    log.record("accepted", item="a", customer="c", offer_id=oid, time=2.0, revenue=4.0)
    _, answer = log.events()
    assert answer.request_id == "r9" and answer.position == 3 and answer.explored is True
    assert answer.propensity == 0.5 and answer.segment == "vip" and answer.policy == "p@1"
    # a presented event without a request id is a request of its own
    a = log.record("presented", item="b", time=3.0)
    b = log.record("presented", item="b", time=3.0)
    ra, rb = (e.request_id for e in log.events() if e.offer_id in (a, b))
    assert ra and rb and ra != rb


@pytest.mark.parametrize(("kw", "value", "message"), [
    ("propensity", 0, "`propensity` must be a number in (0, 1]; got 0"),
    ("propensity", 1.5, "`propensity` must be a number in (0, 1]; got 1.5"),
    ("propensity", -0.1, "`propensity`"),
    ("propensity", float("nan"), "`propensity`"),
    ("propensity", "0.5", "`propensity`"),
    ("propensity", True, "`propensity`"),
    ("position", -1, "`position` must be an integer >= 0 (the 0-based slot); got -1"),
    ("position", 1.0, "`position` must be an integer >= 0"),
    ("position", True, "`position`"),
    ("explored", 1, "`explored` must be True or False; got 1"),
    ("explored", "yes", "`explored`"),
    ("probability", 1.2, "`probability` must be a number in [0, 1]; got 1.2"),
    ("policy", 3, "`policy` must be a string"),
    ("segment", 1.5, "`segment`"),
    ("request_id", [], "`request_id`"),
])
def test_record_refuses_bad_loop_fields(log: OfferLog, kw: str, value: Any,
                                        message: str) -> None:
    with pytest.raises(UpsellDataError) as err:
        log.record("presented", item="a", time=1.0, **{kw: value})
    assert message in str(err.value)
    assert len(log) == 0


def test_presented_names_the_offer_with_a_bad_propensity(log: OfferLog) -> None:
    with pytest.raises(UpsellDataError, match=r"`offers` position 1: `propensity` must be a "
                                              r"number in \(0, 1\]; got 0.0"):
        log.presented([offer("a"), offer("b", propensity=0.0)], time=1.0)
    with pytest.raises(UpsellDataError, match=r"`offers` position 0: `explored`"):
        log.presented([offer("a", explored=1)], time=1.0)  # type: ignore[arg-type]
    with pytest.raises(UpsellDataError, match="`policy`"):
        log.presented([offer("a")], time=1.0, policy=7)  # type: ignore[arg-type]
    assert len(log) == 0  # nothing of a refused request is written


# ------------------------------------------------------------------------ outcomes
def test_outcomes_one_row_per_presented_offer(log: OfferLog) -> None:
    ids = log.presented(OfferList([offer("a"), offer("b", propensity=0.2, explored=True),
                                   offer("c")], policy="p@1", segment="s"),
                        customer="c1", time=100.0)
    log.accepted(ids[0], revenue=5.0, time=110.0)
    log.accepted(ids[1], time=111.0)  # accepted, revenue not logged
    log.declined(ids[2], time=112.0)
    anon = log.record("presented", item="d", time=50.0)
    out = log.outcomes()
    assert tuple(out) == OUTCOME_COLUMNS
    assert out["item"].tolist() == ["d", "a", "b", "c"]  # oldest presentation first
    assert out["offer_id"].tolist() == [anon, *ids]
    assert out["customer"].tolist() == ["", "c1", "c1", "c1"]
    assert out["accepted"].tolist() == [False, True, True, False]
    assert out["declined"].tolist() == [False, False, False, True]
    np.testing.assert_array_equal(out["revenue"], [np.nan, 5.0, np.nan, np.nan])
    assert out["position"].tolist() == [-1, 0, 1, 2]
    np.testing.assert_array_equal(out["propensity"], [np.nan, 1.0, 0.2, 1.0])
    assert out["explored"].tolist() == [False, False, True, False]
    assert out["policy"].tolist() == ["", "p@1", "p@1", "p@1"]
    assert out["segment"].tolist() == ["", "s", "s", "s"]
    assert out["time"].dtype == np.dtype("datetime64[us]")
    assert str(out["time"][1]) == "1970-01-01T00:01:40.000000"
    later = log.outcomes(since=60.0)
    assert later["item"].tolist() == ["a", "b", "c"] and later["accepted"].tolist() == [
        True, True, False]
    assert log.outcomes(since="1970-01-01T00:01:41")["item"].size == 0


def test_outcomes_of_an_empty_log_are_empty_columns(log: OfferLog) -> None:
    out = log.outcomes()
    assert tuple(out) == OUTCOME_COLUMNS and all(v.size == 0 for v in out.values())
    assert out["accepted"].dtype == bool and out["position"].dtype == np.int64


EVENTS = st.lists(st.tuples(
    st.integers(0, 3),                    # request size (0: answer an earlier offer)
    st.sampled_from(["a", "b", "c"]),     # item
    st.integers(0, 5),                    # time step
    st.floats(0.01, 1.0),                 # propensity
    st.booleans(),                        # explored / accept-or-decline
    st.sampled_from([None, "p@1", "p@2"]),
    st.sampled_from([None, 3.5, 0.0]),    # revenue
), max_size=25)


def replay(log: OfferLog, script: list[tuple[Any, ...]]) -> None:
    shown: list[str] = []
    answered: set[str] = set()
    for k, item, t, prop, flag, policy, revenue in script:
        if k == 0:
            todo = [o for o in shown if o not in answered]
            if todo:
                oid = todo[(t * 7) % len(todo)]
                answered.add(oid)
                if flag:
                    log.accepted(oid, revenue=revenue, time=100.0 + t)
                else:
                    log.declined(oid, time=100.0 + t)
            continue
        offers = OfferList([offer(item, propensity=prop, explored=flag and i == 0)
                            for i in range(k)], policy=policy or "", segment=item)
        shown += log.presented(offers, customer=None if flag else f"c{t}", time=float(t * 10))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=EVENTS, since=st.sampled_from([None, 0.0, 20.0, 45.0]))
def test_outcomes_agree_between_memory_and_sqlite(script: list[tuple[Any, ...]],
                                                  since: float | None) -> None:
    mem = OfferLog.in_memory()
    with tempfile.TemporaryDirectory() as tmp:
        lite = OfferLog.sqlite(Path(tmp) / "o.db")
        dbapi = SQLOfferLog(sqlite3.connect(":memory:", check_same_thread=False))
        for lg in (mem, lite, dbapi):
            replay(lg, script)
        # same offers, same order: the offer ids are random, so compare everything else and
        # map the ids through the items and times
        want = mem.outcomes(since=since)
        for other in (lite, dbapi):
            got = other.outcomes(since=since)
            assert tuple(got) == OUTCOME_COLUMNS
            for name in OUTCOME_COLUMNS:
                if name in ("offer_id", "request_id"):
                    assert got[name].size == want[name].size
                    continue
                np.testing.assert_array_equal(got[name], want[name], err_msg=name)
            # one request id per presented() call in every backend
            assert len(set(got["request_id"].tolist())) == len(set(want["request_id"].tolist()))
        assert int(want["accepted"].sum()) == sum(e.event == "accepted" for e in mem.events()
                                                  if since is None or _shown_after(mem, e, since))


def _shown_after(log: OfferLog, e: Any, since: float) -> bool:
    return any(p.offer_id == e.offer_id and p.event == "presented" and p.time >= since
               for p in log.events())


# ------------------------------------------------------------------------ migration
def test_an_old_sqlite_log_is_migrated_and_old_and_new_rows_read(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    make_old_log(conn)
    assert not set(LOOP) & set(columns(conn))
    conn.close()

    log = OfferLog.sqlite(path)
    conn = sqlite3.connect(path)
    assert columns(conn)[-7:] == list(LOOP)
    old = log.events()
    assert [e.offer_id for e in old] == ["old1", "old2", "old1"]
    assert all(getattr(e, f) is None for e in old for f in LOOP)
    # the old offer can still be answered; the new one carries the loop fields
    log.declined("old2", time=30.0)
    ids = log.presented(OfferList([offer("cup", propensity=0.5, explored=True)],
                                  policy="upsell@new", segment="vip"), customer="c2", time=40.0)
    log.accepted(ids[0], revenue=3.0, time=50.0)
    out = log.outcomes()
    assert out["offer_id"].tolist() == ["old1", "old2", ids[0]]
    assert out["accepted"].tolist() == [True, False, True]
    assert out["declined"].tolist() == [False, True, False]
    np.testing.assert_array_equal(out["revenue"], [8.0, np.nan, 3.0])
    assert out["policy"].tolist() == ["", "", "upsell@new"]
    assert out["position"].tolist() == [-1, -1, 0]
    np.testing.assert_array_equal(out["propensity"], [np.nan, np.nan, 0.5])
    res = conversion(log, by="policy")
    assert res.groups.tolist() == ["(none)", "upsell@new"] and res.rate.tolist() == [0.5, 1.0]
    # opening again adds nothing and loses nothing
    again = OfferLog.sqlite(path)
    assert again.migrate() == () and len(again) == 6
    assert columns(conn).count("policy") == 1
    conn.close()


def test_an_old_dbapi_table_is_migrated_by_create_and_by_migrate() -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    make_old_log(conn, "shop_offers")
    # create=False: the table is used as it is; the loop fields cannot be kept, and it says so
    plain = SQLOfferLog(conn, table="shop_offers", create=False)
    assert plain.outcomes()["offer_id"].tolist() == ["old1", "old2"]
    with pytest.warns(UpsellWarning, match="lacks the columns request_id"):
        plain.record("presented", item="x", time=60.0, position=0)
    plain.record("presented", item="y", time=61.0, position=0)  # warned once
    assert plain.events()[-1].position is None and len(plain) == 5
    assert plain.migrate() == LOOP
    assert plain.migrate() == ()
    plain.record("presented", item="z", time=62.0, position=4)
    assert plain.events()[-1].position == 4
    # create=True migrates a second old table straight away
    make_old_log(conn, "other_offers")
    SQLOfferLog(conn, table="other_offers")
    assert columns(conn, "other_offers")[-7:] == list(LOOP)


def test_migration_accepts_a_column_another_process_added_meanwhile() -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    make_old_log(conn)

    class Stale(SQLOfferLog):
        """Sees the table as it was before a racing process migrated it."""

        stale = True

        def _probe(self, c: Any) -> Any:
            if self.stale:
                self.stale = False
                return frozenset(("offer_id", "event", "time", "customer", "item", "kind",
                                  "channel", "source", "revenue"))
            return super()._probe(c)

    conn.execute(MIGRATION[0].format(table="upsell_offer_events"))  # the other process
    conn.commit()
    log = Stale(conn, create=False)
    assert log.migrate() == LOOP[1:]  # request_id: "duplicate column", checked and accepted
    assert columns(conn)[-7:] == list(LOOP)


def test_migration_that_fails_names_the_column_and_the_statement() -> None:
    class NoAlter:
        """A DB-API connection whose database refuses ALTER TABLE."""

        def __init__(self) -> None:
            self.inner = sqlite3.connect(":memory:", check_same_thread=False)
            make_old_log(self.inner)

        def cursor(self) -> Any:
            inner = self.inner.cursor()

            class Cur:
                description = property(lambda s: inner.description)

                def execute(s, sql: str, *a: Any) -> Any:
                    if sql.startswith("ALTER"):
                        raise sqlite3.OperationalError("permission denied")
                    return inner.execute(sql, *a)

                def __getattr__(s, name: str) -> Any:
                    return getattr(inner, name)

            return Cur()

        def commit(self) -> None:
            self.inner.commit()

        def rollback(self) -> None:
            self.inner.rollback()

    with pytest.raises(UpsellDataError, match=r"cannot add column 'request_id' .*permission "
                                              r"denied.*ALTER TABLE upsell_offer_events ADD "
                                              r"COLUMN request_id VARCHAR\(64\)"):
        SQLOfferLog(NoAlter())


def _open_and_write(path: str, i: int, barrier: Any, out: Any) -> None:
    try:
        barrier.wait(timeout=30)
        log = OfferLog.sqlite(path)
        log.record("presented", item=f"i{i}", time=100.0 + i, position=i, propensity=0.5)
        out.put(("ok", i))
    except BaseException as exc:  # reported to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def test_processes_opening_one_old_log_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    conn = sqlite3.connect(path)
    make_old_log(conn)
    conn.close()
    ctx = multiprocessing.get_context("fork")
    n = 4
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open_and_write, args=(path, i, barrier, out)) for i in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(r[0] == "ok" for r in results), results
    conn = sqlite3.connect(path)
    assert columns(conn)[-7:] == list(LOOP) and len(columns(conn)) == 16
    conn.close()
    log = OfferLog.sqlite(path)
    assert sorted(e.position for e in log.events() if e.position is not None) == [0, 1, 2, 3]
    assert log.outcomes()["item"].size == 2 + n


def test_schema_and_migration_texts_agree() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(SCHEMA.format(table="fresh"))
    conn.execute(OLD_SCHEMA.format(table="old"))
    for stmt in MIGRATION:
        conn.execute(stmt.format(table="old"))
    assert columns(conn, "fresh") == columns(conn, "old")


def test_outcomes_read_labels_holding_the_separator(log: OfferLog) -> None:
    odd = "p\x1fq"  # SQL backends join four label columns with this character
    log.presented(OfferList([offer("a")], policy=odd, segment="s\x1f"), time=1.0)
    log.presented(OfferList([offer("b")], policy="p@1"), time=2.0)
    out = log.outcomes()
    assert out["policy"].tolist() == [odd, "p@1"] and out["segment"].tolist() == ["s\x1f", ""]
    assert out["kind"].tolist() == ["cross_sell", "cross_sell"]


def test_outcomes_read_in_chunks_equal_one_read(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    import upsell.recommend._offerlog_sql as offerlog_sql

    lite, mem = OfferLog.sqlite(tmp_path / "o.db"), OfferLog.in_memory()
    for lg in (lite, mem):
        replay(lg, [(3, "a", 1, 0.5, True, "p@1", None), (0, "a", 2, 0.5, True, None, 2.0),
                    (2, "b", 3, 0.25, False, None, None), (1, "c", 4, 1.0, False, "p@2", None),
                    (0, "a", 5, 0.5, False, None, None)])
    whole = lite.outcomes()
    monkeypatch.setattr(offerlog_sql, "_CHUNK", 2)
    chunked = lite.outcomes()
    want = mem.outcomes()
    assert whole["item"].size == 6
    for name in OUTCOME_COLUMNS:
        np.testing.assert_array_equal(chunked[name], whole[name], err_msg=name)
        if name not in ("offer_id", "request_id"):
            np.testing.assert_array_equal(chunked[name], want[name], err_msg=name)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=EVENTS, since=st.sampled_from([None, 0.0, 20.0, 45.0]),
       names=st.lists(st.sampled_from(OUTCOME_COLUMNS), min_size=1, max_size=6))
def test_outcomes_of_some_columns_equal_those_columns_of_the_full_read(
        script: list[tuple[Any, ...]], since: float | None, names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        logs = (OfferLog.in_memory(), OfferLog.sqlite(Path(tmp) / "o.db"),
                SQLOfferLog(sqlite3.connect(":memory:", check_same_thread=False)))
        for lg in logs:
            replay(lg, script)
            full = lg.outcomes(since=since)
            some = lg.outcomes(since=since, columns=names)
            assert tuple(some) == tuple(dict.fromkeys(names))  # order given, each once
            for name in some:
                assert some[name].dtype == full[name].dtype, name
                np.testing.assert_array_equal(some[name], full[name], err_msg=name)


@pytest.mark.parametrize("columns, match", [
    (["item", "price"], "'price' is not an outcome column"),
    ("item", "list of outcome column names"),
    (3, "list of outcome column names"),
])
def test_outcomes_refuse_unknown_columns(log: OfferLog, columns: Any, match: str) -> None:
    with pytest.raises(UpsellDataError, match=match):
        log.outcomes(columns=columns)


def test_outcomes_of_no_column_is_empty(log: OfferLog) -> None:
    log.record("presented", item="a", time=1.0)
    assert log.outcomes(columns=[]) == {}
