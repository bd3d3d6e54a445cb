"""sequence_rules against a per-customer brute-force twin."""

from __future__ import annotations

import datetime as dt
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Transactions
from upsell.bundles import sequence_rules
from upsell.exceptions import UpsellDataError, UpsellMemoryError

lines_st = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4), st.integers(0, 40)),
                    min_size=1, max_size=40)


def _tx(lines):
    day0 = np.datetime64("2024-01-01")
    return Transactions.from_arrays(
        order=[f"{c}-{d}" for c, _, d in lines], item=[f"i{i}" for _, i, _ in lines],
        customer=[f"c{c}" for c, _, _ in lines],
        time=[day0 + np.timedelta64(d, "D") for _, _, d in lines], duplicates="drop")


def _brute(lines, window_days, min_count):
    first: dict[tuple[int, int], int] = {}
    for c, i, d in lines:
        first[(c, i)] = min(first.get((c, i), d), d)
    customers = {c for c, _, _ in lines}
    base = {i: sum(1 for (c, j) in first if j == i) for _, i, _ in lines}
    pairs: dict[tuple[int, int], list[int]] = {}
    for (c, a), ta in first.items():
        for (c2, b), tb in first.items():
            if c2 == c and a != b and ta < tb <= ta + window_days:
                pairs.setdefault((a, b), []).append(tb - ta)
    n = len(customers)
    return {(f"i{a}", f"i{b}"): (len(v), len(v) / base[a], len(v) / base[a] / (base[b] / n),
                                 statistics.median(v))
            for (a, b), v in pairs.items() if len(v) >= min_count}


@settings(max_examples=60, deadline=None)
@given(lines=lines_st, window=st.integers(1, 30), min_count=st.integers(1, 3))
def test_equals_brute_force(lines, window, min_count):
    seq = sequence_rules(_tx(lines), within=f"{window}D", min_support=min_count)
    got = {(a, b): (c, conf, lift, lag) for a, b, c, conf, lift, lag in zip(
        seq.items.ids[seq.first].tolist(), seq.items.ids[seq.then].tolist(), seq.count.tolist(),
        seq.confidence.tolist(), seq.lift.tolist(), seq.median_lag_days.tolist(), strict=True)}
    want = _brute(lines, window, min_count)
    assert got.keys() == want.keys()
    for key, (c, conf, lift, lag) in want.items():
        assert got[key][0] == c
        assert np.allclose(got[key][1:], (conf, lift, lag))
    assert ((seq.confidence >= 0) & (seq.confidence <= 1)).all()


def test_window_forms_and_errors():
    tx = _tx([(0, 0, 0), (0, 1, 3), (1, 0, 0), (1, 1, 10)])
    assert len(sequence_rules(tx, within="5D", min_support=1)) == 1
    assert len(sequence_rules(tx, within=dt.timedelta(days=10), min_support=1)) == 1
    assert sequence_rules(tx, within=np.timedelta64(2, "W"), min_support=1).count.tolist() == [2]
    with pytest.raises(UpsellDataError, match="`within`"):
        sequence_rules(tx, within="soon")
    with pytest.raises(UpsellMemoryError, match="`max_pairs`"):
        sequence_rules(tx, within="30D", min_support=1, max_pairs=1)
    with pytest.raises(UpsellDataError, match="`time`"):
        sequence_rules(Transactions.from_arrays(order=[1], item=[1], customer=[1]))
    assert "SequenceRules(n=1" in repr(sequence_rules(tx, within="5D", min_support=1))
    df = sequence_rules(tx, within="5D", min_support=1).to_pandas()
    assert df.columns.tolist() == ["first", "then", "count", "support", "confidence", "lift",
                                   "median_lag_days"]
