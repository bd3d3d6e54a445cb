"""A learned recommender's cold start: what ``Recommender.load`` does, what the first request
and ``warm`` do, and ``without_compiling`` (the numpy path: the same offers, nothing compiled)."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from upsell.recommend import Recommender, _kernels, without_compiling
from upsell.recommend.blend import LearnedBlend, history_parts

from ._blend_data import FAST, small_shop


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    shop = small_shop()
    tx = shop.transactions
    parts = history_parts(tx, shop.catalog, blend="weighted")
    parts["blend"] = LearnedBlend(**FAST).fit(tx, catalog=shop.catalog,
                                              segments=parts["segments"])
    folder = tmp_path_factory.mktemp("cold") / "rec"
    Recommender(**parts).fit().save(folder)
    return folder, [tx.customers.ids[c] for c in range(0, 60, 3)]


def _offers(rec, customers):
    got = []
    for c in customers:
        for include_owned in (False, True):
            offers = rec.recommend(c, k=5, include_owned=include_owned)
            got.append([(o.item, float(o.score), o.reason.summary) for o in offers])
    return got


def test_load_builds_no_reason_tables_and_warm_does(saved):
    folder, _ = saved
    rec = Recommender.load(folder)
    forests = rec.blend._forests
    assert forests and all(f._pending is not None for f in forests.values())
    rec.warm()
    assert all(f._pending is None for f in rec.blend._forests.values())


def test_load_imports_no_numba(saved):
    """``Recommender.load`` compiles nothing and imports no numba: that waits for the first
    request (or ``warm``), which compiles after an install."""
    folder, _ = saved
    code = ("import sys\nfrom upsell.recommend import Recommender\n"
            f"rec = Recommender.load({str(folder)!r})\n"
            "print('numba' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip() == "False", out.stderr


def test_without_compiling_serves_the_same_offers(saved, monkeypatch):
    folder, customers = saved
    compiled = _offers(Recommender.load(folder).warm(), customers)
    assert _kernels.kernels() is not None

    def no_build():  # inside the block nothing may ask numba for its loops
        raise AssertionError("compiled inside without_compiling()")

    rec = Recommender.load(folder)
    with monkeypatch.context() as m:
        m.setattr(_kernels, "_STATE", {})
        m.setattr(_kernels, "_build", no_build)
        with without_compiling():
            assert _kernels.kernels() is None
            plain = _offers(rec, customers)
            assert rec.blend._one().kernels is None
    assert _kernels.kernels() is not None  # the block ended: compiled again
    assert len(plain) == len(compiled)
    for p, c in zip(plain, compiled, strict=True):
        assert [x[0] for x in p] == [x[0] for x in c]
        np.testing.assert_allclose([x[1] for x in p], [x[1] for x in c], rtol=1e-12)
        assert [x[2] for x in p] == [x[2] for x in c]


def test_without_compiling_holds_for_its_thread_only():
    seen: dict[str, object] = {}
    inside = threading.Event()
    done = threading.Event()

    def other() -> None:
        inside.wait(10)
        seen["other"] = _kernels.numpy_only_now()
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with without_compiling():
        inside.set()
        done.wait(10)
        seen["this"] = _kernels.numpy_only_now()
    t.join(10)
    assert seen == {"this": True, "other": False}
    assert not _kernels.numpy_only_now()


def test_first_reasons_from_racing_threads_build_the_tables_once(saved):
    folder, customers = saved
    want = _offers(Recommender.load(folder).warm(), customers[:6])
    rec = Recommender.load(folder)
    forest = next(iter(rec.blend._forests.values()))
    calls = []
    build = forest._build_tables

    def counted(*a, **kw):
        calls.append(1)
        return build(*a, **kw)

    forest._build_tables = counted
    got: list[object] = [None] * 4
    start = threading.Barrier(4)

    def run(i: int) -> None:
        start.wait(10)
        got[i] = _offers(rec, customers[:6])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(calls) == 1
    for g in got:
        assert g == want
