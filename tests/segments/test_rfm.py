"""rfm: scores, segments, invariants, and a brute-force pandas twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from upsell.data import Transactions
from upsell.exceptions import UpsellDataError
from upsell.segments import RFM_SEGMENTS, quantile_scores, rfm

BASE = np.datetime64("2024-01-01T00:00:00")


@st.composite
def order_data(draw, max_customers=12, max_orders=40):
    n = draw(st.integers(1, max_orders))
    n_c = draw(st.integers(1, max_customers))
    cust = draw(st.lists(st.integers(0, n_c - 1), min_size=n, max_size=n))
    day = draw(st.lists(st.integers(0, 120), min_size=n, max_size=n))
    price = draw(st.lists(st.sampled_from([1.0, 2.5, 10.0, 99.0]), min_size=n, max_size=n))
    qty = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    return {"order": [f"o{i}" for i in range(n)], "item": ["a"] * n,
            "customer": [f"c{c}" for c in cust], "quantity": qty, "price": price,
            "time": [BASE + np.timedelta64(d, "D") + np.timedelta64(3600, "s") for d in day]}


def twin(d: dict, at: np.datetime64, bins: int = 5) -> pd.DataFrame:
    """RFM the obvious pandas way."""
    df = pd.DataFrame(d)
    df["value"] = df["quantity"] * df["price"]
    df = df[df["time"] < at]
    g = df.groupby("customer").agg(last=("time", "max"), frequency=("order", "nunique"),
                                   monetary=("value", "sum"))
    g["recency"] = (at - g["last"].to_numpy()) // np.timedelta64(1, "D")
    n = len(g)

    def score(s):
        below = s.rank(method="min") - 1
        span = n - (s == s.max()).sum()
        if span == 0:
            return pd.Series((bins + 1) // 2, index=s.index)
        return np.clip(np.floor(bins * below / span) + 1, 1, bins).astype(int)

    g["r"], g["f"], g["m"] = score(-g["recency"]), score(g["frequency"]), score(g["monetary"])
    return g.sort_index()


@settings(max_examples=60, deadline=None)
@given(order_data())
def test_against_pandas_twin(d):
    at = np.datetime64("2024-04-15T00:00:00")
    # rfm refuses an `at` before every sale (its own test covers that); the twin needs one
    assume(any(t < at for t in d["time"]))
    res = rfm(Transactions.from_arrays(**d), at=at)
    ref = twin(d, at)
    assert res.customers.tolist() == ref.index.tolist()
    assert res.recency.tolist() == ref["recency"].tolist()
    assert res.frequency.tolist() == ref["frequency"].tolist()
    np.testing.assert_allclose(res.monetary, ref["monetary"])
    assert res.r.tolist() == ref["r"].tolist()
    assert res.f.tolist() == ref["f"].tolist()
    assert res.m.tolist() == ref["m"].tolist()


@settings(max_examples=50, deadline=None)
@given(order_data(), st.randoms(use_true_random=False))
def test_invariants_and_row_order(d, rnd):
    tx = Transactions.from_arrays(**d)
    res = rfm(tx)
    # every customer exactly once, with one known segment, scores in range
    assert len(set(res.customers.tolist())) == len(res) == len(tx.customers)
    assert set(res.segment.tolist()) <= set(RFM_SEGMENTS)
    for s in (res.r, res.f, res.m):
        assert s.min() >= 1 and s.max() <= 5
    # equal values share a score
    for v, s in ((res.recency, res.r), (res.frequency, res.f), (res.monetary, res.m)):
        for x in np.unique(v):
            assert np.unique(s[v == x]).size == 1
    perm = list(range(len(d["order"])))
    rnd.shuffle(perm)
    shuffled = {k: [v[i] for i in perm] for k, v in d.items()}
    res2 = rfm(Transactions.from_arrays(**shuffled))
    for name in ("customers", "recency", "frequency", "monetary", "r", "f", "m", "segment"):
        assert np.array_equal(getattr(res, name), getattr(res2, name))


@settings(max_examples=50, deadline=None)
@given(order_data(), st.data())
def test_more_recent_purchase_never_lowers_recency_score(d, data):
    at = np.datetime64("2024-06-01T00:00:00")
    before = rfm(Transactions.from_arrays(**d), at=at)
    who = data.draw(st.sampled_from(sorted(set(d["customer"]))))
    day = data.draw(st.integers(0, 140))
    d2 = {k: [*v] for k, v in d.items()}
    d2["order"].append("new-order")
    d2["item"].append("a")
    d2["customer"].append(who)
    d2["quantity"].append(1)
    d2["price"].append(1.0)
    d2["time"].append(BASE + np.timedelta64(day, "D"))
    after = rfm(Transactions.from_arrays(**d2), at=at)
    i = before.customers.tolist().index(who)
    j = after.customers.tolist().index(who)
    if after.recency[j] <= before.recency[i]:
        assert after.r[j] >= before.r[i]


def test_quantile_scores_ties_and_small_populations():
    assert quantile_scores([5, 5, 5]).tolist() == [3, 3, 3]
    assert quantile_scores([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).tolist() == [
        1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quantile_scores([3.0], bins=4).tolist() == [2]
    assert quantile_scores([1, 2, 3], bins=5).tolist() == [1, 3, 5]
    assert quantile_scores([1, 2], bins=5).tolist() == [1, 5]
    # a big block of ties at the bottom stays at 1; the best value always gets the top
    assert quantile_scores([1] * 6 + [2, 3, 4, 5]).tolist() == [1] * 6 + [4, 4, 5, 5]
    assert quantile_scores([], bins=5).tolist() == []


def test_default_map_covers_grid_once():
    from upsell.segments.rfm import _grid

    names, table = _grid(RFM_SEGMENTS, 5)
    assert len(names) == 11 and (table >= 0).all()
    assert names[table[4, 4]] == "champions" and names[table[0, 0]] == "lost"
    assert names[table[0, 4]] == "cannot lose" and names[table[4, 0]] == "recent"
    assert names[table[2, 2]] == "need attention"


def test_custom_score_map_and_bins():
    tx = Transactions.from_arrays(order=[1, 2, 3], item=["a"] * 3, customer=["x", "y", "z"],
                                  price=[1.0, 2.0, 3.0],
                                  time=["2024-01-01", "2024-02-01", "2024-03-01"])
    res = rfm(tx, bins=2, score_map={"good": ["2."], "bad": ["1."]})
    # the middle of three customers has one of two others behind it: the upper half
    assert res.segment.tolist() == ["bad", "good", "good"]
    assert res.summary().segment.tolist() == ["good", "bad"]


@pytest.mark.parametrize("kwargs, match", [
    ({"bins": 4}, "`bins` must be 5 for the default score map"),
    ({"bins": 2, "score_map": {"a": ["1."]}}, "leaves cell R=2 F=1"),
    ({"bins": 2, "score_map": {"a": [".."], "b": ["11"]}}, "matches both"),
    ({"bins": 0}, "`bins` must be an integer"),
    ({"at": "not a time"}, "`at` must be a datetime"),
    ({"at": "1999-01-01"}, "no customer has a sale order before"),
])
def test_errors(kwargs, match):
    tx = Transactions.from_arrays(order=[1], item=["a"], customer=["x"], price=[1.0],
                                  time=["2024-01-01"])
    with pytest.raises(UpsellDataError, match=match):
        rfm(tx, **kwargs)


def test_needs_time_and_customer():
    with pytest.raises(UpsellDataError, match="`time` column"):
        rfm(Transactions.from_arrays(order=[1], item=["a"], customer=["x"]))


def test_returns_reduce_monetary_and_frequency_counts_sales_only():
    tx = Transactions.from_arrays(
        order=["1", "2", "C3"], item=["a", "b", "a"], customer=["x", "x", "x"],
        quantity=[2, 1, -1], price=[10.0, 5.0, 10.0],
        time=["2024-01-01", "2024-01-05", "2024-01-06"], returns="keep", cancel_prefix="C")
    res = rfm(tx, at="2024-02-01")
    assert res.frequency.tolist() == [2] and res.monetary.tolist() == [15.0]
    assert res.recency.tolist() == [27]


def test_to_pandas_and_summary():
    tx = Transactions.from_arrays(order=[1, 2, 3], item=["a"] * 3, customer=["x", "y", "y"],
                                  price=[1.0, 2.0, 3.0],
                                  time=["2024-01-01", "2024-02-01", "2024-03-01"])
    res = rfm(tx)
    df = res.to_pandas()
    assert df["segment"].tolist() == res.segment.tolist()
    s = res.summary()
    assert s.customers.sum() == 2 and abs(s.revenue_share.sum() - 1) < 1e-12
    assert "<table>" in res._repr_html_() and "<table>" in s._repr_html_()
    assert s.to_pandas().shape[0] == len(s)
