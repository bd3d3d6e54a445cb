"""Splits: no leakage, options, alignment with the input's indexes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Transactions, UpsellDataError
from upsell.evaluate import (
    Split,
    leave_last_n_split,
    random_basket_split,
    temporal_split,
)

T0 = np.datetime64("2011-01-01T00:00:00", "s")


def make_tx(seed: int, n_orders: int = 40, spread: bool = True) -> Transactions:
    """Random order history; with ``spread`` some orders have lines on different days."""
    rng = np.random.default_rng(seed)
    n_cust, n_items = 8, 15
    order, item, cust, when = [], [], [], []
    for o in range(n_orders):
        c = f"c{rng.integers(n_cust)}"
        day = int(rng.integers(0, 60))
        for it in rng.choice(n_items, size=int(rng.integers(1, 5)), replace=False):
            order.append(f"o{o:03d}")
            item.append(f"i{it:02d}")
            cust.append(c if rng.random() > 0.05 else None)  # a few anonymous lines
            when.append(T0 + np.timedelta64(day + (int(rng.integers(0, 3)) if spread else 0),
                                            "D"))
    return Transactions.from_arrays(order=order, item=item, customer=cust,
                                    time=np.array(when))


def order_sets(split: Split) -> tuple[set[int], set[int]]:
    return set(split.train.order.tolist()), set(split.test.order.tolist())


def check_common(tx: Transactions, split: Split) -> None:
    """Invariants every customer split keeps."""
    train_orders, test_orders = order_sets(split)
    assert not train_orders & test_orders  # no order on both sides
    assert split.train.items is tx.items and split.test.items is tx.items
    assert split.train.customers is tx.customers
    assert split.relevant.shape == (len(tx.customers), len(tx.items))
    rel = split.relevant.toarray() > 0
    # relevant is exactly what the test lines say
    np.testing.assert_array_equal(rel, split.test.customer_items("binary").toarray() > 0)
    assert split.requests.tolist() == np.flatnonzero(rel.any(axis=1)).tolist()
    # every line of the input is in train, in test, or filtered out; never duplicated
    assert len(split.train) + len(split.test) <= len(tx)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 55), st.sampled_from(["seen", "all"]),
       st.sampled_from(["next_basket", "all"]), st.booleans(), st.booleans())
def test_temporal_split_never_leaks(seed, day, test_customers, target, drop_unseen, excl):
    tx = make_tx(seed)
    at = T0 + np.timedelta64(day, "D")
    split = temporal_split(tx, at=at, test_customers=test_customers, target=target,
                           drop_unseen_items=drop_unseen, exclude_train_items=excl)
    check_common(tx, split)
    assert split.at == at
    assert (split.test.time >= at).all()
    # train orders started before the cut (their first line is before it)
    ot = tx.order_table()
    assert (ot.time[split.train.order] < at).all()
    # every train line of the input before the cut is kept, anonymous ones included
    assert len(split.train) == int((ot.time[tx.order] < at).sum())
    assert (split.test.customer >= 0).all()
    if test_customers == "seen":
        train_customers = set(split.train.customer[split.train.customer >= 0].tolist())
        assert set(split.requests.tolist()) <= train_customers
    if target == "next_basket":
        # one test order per customer: the customer's first order at or after the cut
        for c in np.unique(split.test.customer):
            mine = np.unique(split.test.order[split.test.customer == c])
            assert mine.size == 1
            later = (ot.customer == c) & (ot.time >= at)
            assert ot.time[mine[0]] == ot.time[later].min()
    if drop_unseen:
        seen = set(split.train.item.tolist())
        assert set(split.test.item.tolist()) <= seen
    if excl:
        owned = split.train.customer_items("binary").toarray() > 0
        assert not (owned & (split.relevant.toarray() > 0)).any()


def test_temporal_split_by_hand():
    tx = Transactions.from_arrays(
        order=[1, 1, 2, 3, 3, 4, 5],
        item=["a", "b", "a", "c", "a", "b", "d"],
        customer=["x", "x", "y", "x", "x", "y", "z"],
        time=["2011-01-01", "2011-01-01", "2011-01-02", "2011-02-01", "2011-02-01",
              "2011-03-01", "2011-02-02"])
    s = temporal_split(tx, at="2011-01-15")
    # z is new after the cut (not seen); x's next basket {c, a}, c unseen in train -> {a}
    # y's next basket is order 4 {b}
    assert s.request_ids.tolist() == ["x", "y"]
    assert s.relevant_sets() == [{"a"}, {"b"}]
    assert s.train.orders.ids[np.unique(s.train.order)].tolist() == [1, 2]
    s = temporal_split(tx, at="2011-01-15", test_customers="all", drop_unseen_items=False)
    assert s.request_ids.tolist() == ["x", "y", "z"]
    assert s.relevant_sets() == [{"a", "c"}, {"b"}, {"d"}]
    s = temporal_split(tx, at="2011-01-15", exclude_train_items=True)
    # x bought a before: nothing new that train knows; y bought a before, b is new
    assert s.request_ids.tolist() == ["y"]
    s = temporal_split(tx, at="2011-01-15", target="all", horizon="20D")
    # only orders before 2011-02-04 count: y's order 4 (March) is out
    assert s.request_ids.tolist() == ["x"]


def test_order_spanning_the_cut_stays_in_train():
    tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
                                  customer=["x", "x", "x"],
                                  time=["2011-01-01", "2011-01-20", "2011-02-01"])
    s = temporal_split(tx, at="2011-01-15", drop_unseen_items=False)
    assert len(s.train) == 2 and len(s.test) == 1
    assert s.relevant_sets() == [{"a"}]


def test_temporal_split_fraction_at():
    tx = make_tx(1, spread=False)
    s = temporal_split(tx, at=0.75, target="all", test_customers="all",
                       drop_unseen_items=False)
    ot = tx.order_table()
    assert (ot.time < s.at).mean() == pytest.approx(0.75, abs=0.1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(at="not a date"), "`at` must be a datetime"),
    (dict(at=1.5), "`at` must be a number in \\(0, 1\\)"),
    (dict(at="2011-01-15", target="last"), "`target` must be one of 'next_basket', 'all'"),
    (dict(at="2011-01-15", test_customers="x"), "`test_customers` must be one of"),
    (dict(at="2011-01-15", horizon="soon"), "`horizon` must be a positive duration"),
])
def test_temporal_split_errors(kwargs, match):
    with pytest.raises(UpsellDataError, match=match):
        temporal_split(make_tx(0), **kwargs)


def test_splits_need_time_and_customer():
    tx = Transactions.from_arrays(order=[1, 2], item=["a", "b"], customer=["x", "y"])
    with pytest.raises(UpsellDataError, match="temporal_split needs the `time` column"):
        temporal_split(tx, at="2011-01-01")
    with pytest.raises(UpsellDataError, match="leave_last_n_split needs the `time` column"):
        leave_last_n_split(tx)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.integers(0, 2), st.booleans())
def test_leave_last_n_never_leaks(seed, n, min_train, drop_unseen):
    tx = make_tx(seed)
    split = leave_last_n_split(tx, n=n, min_train_baskets=min_train,
                               drop_unseen_items=drop_unseen)
    check_common(tx, split)
    ot = tx.order_table()
    test_orders = set(split.test.order.tolist())
    for c in range(len(tx.customers)):
        mine = np.flatnonzero(ot.customer == c)
        mine = mine[np.lexsort((mine, ot.time[mine].astype(np.int64)))]
        held = set(mine[-n:].tolist()) if mine.size >= n + min_train else set()
        in_test = {o for o in test_orders if ot.customer[o] == c}
        assert in_test <= held
        # the held-out orders are out of train
        assert not held & set(split.train.order.tolist())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 0.9), st.floats(0.1, 1.0), st.booleans())
def test_random_basket_split_never_leaks(seed, hide, test_size, drop_unseen):
    tx = make_tx(seed)
    split = random_basket_split(tx, hide=hide, test_size=test_size, random_state=seed,
                                drop_unseen_items=drop_unseen)
    train_orders, test_orders = order_sets(split)
    assert not train_orders & test_orders
    assert split.request_kind == "basket"
    assert split.query is not None
    rel = split.relevant.toarray() > 0
    query = split.query.toarray() > 0
    baskets = tx.baskets().toarray() > 0
    assert not (rel & query).any()
    assert not (rel | query)[list(train_orders)].any() if train_orders else True
    for r in split.requests.tolist():
        assert query[r].any()  # there is always something to complete
        assert (rel[r] | query[r]).sum() <= baskets[r].sum()
        if not drop_unseen:
            np.testing.assert_array_equal(rel[r] | query[r], baskets[r])
    # relevant is exactly the test lines
    test_pairs = set(zip(split.test.order.tolist(), split.test.item.tolist(), strict=True))
    rel_pairs = set(zip(*np.nonzero(rel), strict=True))
    assert {(int(a), int(b)) for a, b in rel_pairs} == test_pairs
    if drop_unseen and len(split.test):
        assert set(split.test.item.tolist()) <= set(split.train.item.tolist())


def test_random_basket_split_is_deterministic():
    tx = make_tx(3)
    a = random_basket_split(tx, random_state=7)
    b = random_basket_split(tx, random_state=7)
    assert (a.relevant != b.relevant).nnz == 0
    assert (a.query != b.query).nnz == 0
    c = random_basket_split(tx, random_state=np.random.default_rng(7))
    assert (a.relevant != c.relevant).nnz == 0
    with pytest.raises(UpsellDataError, match="`hide` must be a number in \\(0, 1\\); got 1"):
        random_basket_split(tx, hide=1)


def test_split_repr_and_pandas():
    s = temporal_split(make_tx(2), at="2011-01-20", target="all")
    assert "temporal_split" in repr(s) and "requests" in repr(s)
    frame = s.to_pandas()
    assert len(frame) == s.relevant[s.requests].nnz
    assert set(frame["role"]) <= {"relevant"}
