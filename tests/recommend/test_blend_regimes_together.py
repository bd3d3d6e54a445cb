"""The learned blend builds its training cuts and trains its two rankers side by side when the
cores (and, for the cuts, the memory) allow: the same models, byte for byte, as one after the
other."""

from __future__ import annotations

import threading
import time

import pytest

import upsell.recommend._blend_train as train_mod
from upsell.recommend._blend_train import cut_workers, line_data, side_by_side, train_together
from upsell.recommend.blend import LearnedBlend

from ._blend_data import FAST, small_shop


def test_rankers_side_by_side_equal_one_after_the_other(monkeypatch):
    tx = small_shop().transactions
    monkeypatch.setattr(train_mod, "_cores", lambda: 2)
    together = LearnedBlend(**FAST).fit(tx, random_state=3)
    monkeypatch.setattr(train_mod, "_cores", lambda: 1)
    alone = LearnedBlend(**FAST).fit(tx, random_state=3)
    assert set(together.boosters_) == set(alone.boosters_) == {"owned", "new"}
    for r, b in together.boosters_.items():
        assert b.model_to_string() == alone.boosters_[r].model_to_string(), r
        assert together.params_[r] == alone.params_[r], r
    a, b = together.state_, alone.state_
    assert a.H.nnz == b.H.nnz and a.decayed.tobytes() == b.decayed.tobytes()
    assert all(a.entry[k].tobytes() == b.entry[k].tobytes() for k in a.entry)


def test_side_by_side_keeps_the_jobs_order_and_passes_an_error_on():
    names: list[str] = []

    def job(i: int):
        def run() -> int:
            names.append(threading.current_thread().name)
            return i * i
        return run

    assert side_by_side([job(i) for i in range(5)], 2) == [0, 1, 4, 9, 16]
    assert all(n.startswith("upsell-cut") for n in names)
    names.clear()
    assert side_by_side([job(i) for i in range(3)], 1) == [0, 1, 4]
    assert names == [threading.current_thread().name] * 3  # in this thread, in order

    def bad() -> int:
        raise ValueError("cut 2 has no customer")

    with pytest.raises(ValueError, match="cut 2 has no customer"):
        side_by_side([job(1), bad, job(3)], 2)
    # the first failure in the jobs' order is raised, and jobs not yet started are dropped
    started: list[int] = []
    gate = threading.Event()

    def slow_bad() -> int:
        gate.wait(5)
        raise ValueError("first")

    def later(i: int):
        def run() -> int:
            started.append(i)
            if i == 1:
                gate.set()
                raise ValueError("second")
            time.sleep(0.05)  # 38 of them: ~2 s if the queue ran to its end
            return i
        return run

    with pytest.raises(ValueError, match="first"):
        side_by_side([slow_bad, later(1), *[later(i) for i in range(2, 40)]], 2)
    assert len(started) < 20  # the queue was cancelled, not run to its end


def test_cut_workers_follow_the_cores_and_the_memory_budget(monkeypatch):
    lines = line_data(small_shop().transactions, None, None)
    n = int(lines.customer.size)
    monkeypatch.setattr(train_mod, "_cores", lambda: 2)
    monkeypatch.setattr(train_mod, "memory_budget", lambda: 2**40)
    assert cut_workers(lines, 5) == 2 and cut_workers(lines, 1) == 1
    monkeypatch.setattr(train_mod, "_cores", lambda: 1)
    assert cut_workers(lines, 5) == 1
    monkeypatch.setattr(train_mod, "_cores", lambda: 8)
    # room for three cuts at once in a quarter of the memory: three threads
    monkeypatch.setattr(train_mod, "memory_budget",
                        lambda: 2 * 3 * train_mod.CUT_BYTES_PER_LINE * n)
    assert cut_workers(lines, 5) == 3
    monkeypatch.setattr(train_mod, "memory_budget", lambda: 1)  # no room: one at a time
    assert cut_workers(lines, 5) == 1


@pytest.mark.parametrize(("cores", "threads", "side_by_side"),
                         [(2, 1, True), (1, 1, False), (2, 2, False), (8, 2, True)])
def test_train_together_uses_threads_only_when_the_cores_allow(monkeypatch, cores, threads,
                                                                side_by_side):
    monkeypatch.setattr(train_mod, "_cores", lambda: cores)
    seen: dict[str, str] = {}

    def train(r: str) -> str:
        seen[r] = threading.current_thread().name
        return r.upper()

    got = train_together(train, ["owned", "new"], threads)
    assert got == {"owned": "OWNED", "new": "NEW"} and list(got) == ["owned", "new"]
    assert all(n.startswith("upsell-rank") for n in seen.values()) == side_by_side
    assert train_together(train, ["owned"], 1) == {"owned": "OWNED"}


def test_train_together_passes_an_error_on():
    def train(r: str) -> str:
        if r == "new":
            raise ValueError("no rows for new")
        return r

    with pytest.raises(ValueError, match="no rows for new"):
        train_together(train, ["owned", "new"], 1)
