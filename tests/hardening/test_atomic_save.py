"""Saves are atomic: a process killed (SIGKILL) mid-save leaves the previous model loadable.

A real child process saves a large model over the same path in a loop; the test
kills it at random moments and loads the file each time. The number of kills is
``UPSELL_HARDENING_KILLS`` (default 6 per kind).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import upsell as us
from upsell.cf import Popular

KILLS = int(os.environ.get("UPSELL_HARDENING_KILLS", "6"))

CHILD = textwrap.dedent("""
    import sys, numpy as np, scipy.sparse as sp
    import upsell as us
    from upsell.cf import ItemKNN, Popular
    kind, target = sys.argv[1], sys.argv[2]
    if kind == "model":
        rng = np.random.default_rng(0)
        n, m, nnz = 60_000, 3_000, 3_000_000
        X = sp.csr_matrix((np.ones(nnz, np.float32), (rng.integers(0, n, nnz),
                           rng.integers(0, m, nnz))), shape=(n, m))
        obj = Popular().fit(X)
    else:
        shop = us.datasets.make_shop(n_customers=300, n_items=80, n_orders=1500, random_state=1)
        obj = us.Recommender(catalog=shop.catalog,
                             cross_sell=[ItemKNN(num_threads=1).fit(shop.transactions)],
                             history=shop.transactions)
    print("ready", flush=True)
    i = 0
    while True:
        obj.save(target)
        i += 1
        print(i, flush=True)
""")


def _spawn(script: Path, kind: str, target: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    errors = script.with_suffix(".err")
    with open(errors, "w") as err:
        proc = subprocess.Popen([sys.executable, str(script), kind, str(target)],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        _reap(proc)
        raise AssertionError(f"child failed: {errors.read_text()}")
    return proc


def _reap(proc: subprocess.Popen[str]) -> str:
    """SIGKILL the child (no-op when it is gone), wait for it, return and close its stdout."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    out = ""
    if proc.stdout is not None:
        out = proc.stdout.read()
        proc.stdout.close()
    return out


def _kill_loop(tmp_path: Path, kind: str, load, baseline) -> dict[str, int]:
    script = tmp_path / "child.py"
    script.write_text(CHILD, "utf-8")
    target = tmp_path / ("model.npz" if kind == "model" else "rec")
    rng = np.random.default_rng(2024)
    figures = {"kills": 0, "saves_completed": 0, "loads_ok": 0, "temp_files_left": 0}
    proc = _spawn(script, kind, target)
    try:
        # wait for the first complete save: from then on there is always a previous model
        assert proc.stdout is not None
        proc.stdout.readline()
        expected = baseline(load(target))
        for _ in range(KILLS):
            time.sleep(float(rng.uniform(0.0, 0.6)))
            out = _reap(proc)
            figures["kills"] += 1
            figures["saves_completed"] += len(out.split())
            assert baseline(load(target)) == expected  # the previous model, whole
            figures["loads_ok"] += 1
            proc = _spawn(script, kind, target)
            proc.stdout.readline()  # type: ignore[union-attr]
    finally:
        _reap(proc)
    figures["temp_files_left"] = sum(1 for p in tmp_path.rglob("*") if ".tmp" in p.name
                                     or p.name.startswith(".upsell-"))
    return figures


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_model_save_leaves_previous_file_loadable(tmp_path):
    figures = _kill_loop(tmp_path, "model", Popular.load,
                         lambda m: m.recommend([0, 1, 2], k=5).lists())
    assert figures["kills"] == figures["loads_ok"] == KILLS
    assert figures["saves_completed"] >= 1, figures


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_recommender_save_leaves_previous_directory_loadable(tmp_path):
    def offers(rec):
        return [o.item for o in rec.recommend(basket=["I00001"], k=5, at="2025-01-01")]

    figures = _kill_loop(tmp_path, "recommender", us.Recommender.load, offers)
    assert figures["kills"] == figures["loads_ok"] == KILLS
