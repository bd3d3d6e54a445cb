"""Memory guards: inputs that would need many GB stop fast with an UpsellMemoryError naming the knob.

Each case runs in one child process whose address space is capped (RLIMIT_AS,
3 GiB), so a missing guard shows up as a raw MemoryError in the child instead
of swapping the machine. (How long a guard takes is reported, never asserted: the suite has no
timing assertions.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")

CAP_BYTES = 3 * 2**30

CHILD = textwrap.dedent("""
    import json, resource, sys, time, warnings
    warnings.simplefilter("error")
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    import numpy as np, scipy.sparse as sp
    import upsell as us
    from upsell.exceptions import UpsellMemoryError

    def sparse(n, m, per_row, seed=0):
        rng = np.random.default_rng(seed)
        rows = np.repeat(np.arange(n), per_row)
        cols = rng.integers(0, m, rows.size)
        return sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, m))

    def many_customers(n, lines_each=1):
        t = np.datetime64("2024-01-01") + (np.arange(n) % 300).astype("timedelta64[D]")
        return us.Transactions.from_arrays(
            order=np.arange(n), item=np.arange(n) % 100, customer=np.arange(n) // lines_each,
            quantity=np.ones(n), price=np.full(n, 5.0) + (np.arange(n) % 7), time=t)

    def dense_baskets():
        # 300 baskets of the same 40 items: every one of 2**40 itemsets is frequent
        return sp.csr_matrix(np.ones((300, 40), dtype=np.float32))

    CASES = {{
        "frequent_itemsets (max_itemsets)": (
            "max_itemsets",
            lambda: us.bundles.frequent_itemsets(dense_baskets(), min_support=1,
                                                 max_itemsets=1_000_000)),
        "EASE (max_items)": (
            "max_items", lambda: us.cf.EASE().fit(sparse(200, 60_000, 5))),
        "ALS factors": (
            "factors", lambda: us.cf.ALS(factors=200_000, iterations=1,
                                          num_threads=1).fit(sparse(2_000, 10_000, 5))),
        "batch scoring (batch_size)": (
            "batch_size", lambda: us.cf.Popular().fit(sparse(30_000, 200_000, 2))
                .recommend_all(k=5, batch_size=30_000, num_threads=1)),
        "Clusters silhouette (sample_size)": (
            "sample_size", lambda: us.segments.Clusters(k="auto", sample_size=100_000,
                                                         n_init=1, max_iter=2)
                .fit(many_customers(40_000))),
        "sequence_rules (max_pairs)": (
            "max_pairs", lambda: us.bundles.sequence_rules(
                many_customers(4_000, 100), within="3650D", min_support=1, max_pairs=10)),
        "UpsellRanker (max_memory_gb)": (
            "max_memory_gb", lambda: us.tiers.UpsellRanker(max_memory_gb=1e-4).fit(
                SHOP.transactions, SHOP.catalog)),
        "list metrics (k)": (
            "k", lambda: us.evaluate.precision_at_k([["a"]] * 1000, [["a"]] * 1000, 10**9)),
    }}
    SHOP = us.datasets.make_shop(n_customers=200, n_items=60, n_orders=800, random_state=0)
    out = {{}}
    for name, (param, fn) in CASES.items():
        t0 = time.perf_counter()
        try:
            fn()
            res = {{"outcome": "no error"}}
        except UpsellMemoryError as exc:
            res = {{"outcome": "UpsellMemoryError", "message": str(exc),
                    "names": "`" + param + "`" in str(exc)}}
        except BaseException as exc:
            res = {{"outcome": type(exc).__name__, "message": str(exc)[:300]}}
        res["seconds"] = round(time.perf_counter() - t0, 3)
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        out[name] = res
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def guards(tmp_path_factory) -> dict[str, dict[str, object]]:
    script = tmp_path_factory.mktemp("mem") / "child.py"
    script.write_text(CHILD.format(cap=CAP_BYTES), "utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, check=False,
                          env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CASES = ["frequent_itemsets (max_itemsets)", "EASE (max_items)", "ALS factors",
         "batch scoring (batch_size)", "Clusters silhouette (sample_size)",
         "sequence_rules (max_pairs)", "UpsellRanker (max_memory_gb)", "list metrics (k)"]


@pytest.mark.parametrize("case", CASES)
def test_memory_guard_stops_fast_and_names_the_parameter(guards, case):
    res = guards[case]
    assert res["outcome"] == "UpsellMemoryError", res
    assert res["names"], res["message"]
    assert res["peak_rss_mb"] < CAP_BYTES // 2**20, res
