"""LearnedBlend [spend] features: hand counts, no leakage, one-request path, saved state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from upsell import Transactions
from upsell.datasets import make_shop
from upsell.recommend._blend_features import FEATURE_GROUPS, BlendState, feature_names
from upsell.recommend._blend_one import OneCustomer
from upsell.recommend._blend_state_io import state_arrays, state_from_arrays
from upsell.recommend._blend_train import line_data

DAY = 86_400
NEW = ("spend_share", "quantity_per_order", "quantity_vs_item")
T0 = np.datetime64("2024-01-01T00:00:00")


def _state(rows, *, prices=True, cut_day=30):
    """A BlendState at ``cut_day`` of rows (order, customer, item, day, quantity, price)."""
    tx = Transactions.from_arrays(
        order=[r[0] for r in rows], customer=[r[1] for r in rows], item=[r[2] for r in rows],
        time=[T0 + np.timedelta64(r[3] * DAY, "s") for r in rows],
        quantity=[r[4] for r in rows], price=[r[5] for r in rows] if prices else None)
    lines = line_data(tx, None, np.full(len(tx.customers), -1))
    cut = int(T0.astype("datetime64[s]").astype(np.int64)) + cut_day * DAY
    st = BlendState.build(lines, cut, window=10 * DAY, half_life=10 * DAY, n_neighbors=10,
                          use_ease=True)
    return tx, st


# customer a: x (2 units, then 4, price 1.5) and y (1 unit, price 3); b: x (10 units, price 1.5);
# b's z on day 40 is after the cut and must not count
_ROWS = [("o1", "a", "x", 0, 2, 1.5), ("o2", "a", "x", 10, 4, 1.5), ("o2", "a", "y", 10, 1, 3.0),
         ("o3", "b", "x", 5, 10, 1.5), ("o4", "b", "z", 12, 1, 2.0), ("o5", "b", "z", 40, 99, 2.0)]


def _features(st, tx, pairs):
    cu = np.array([tx.customers.encode([c])[0] for c, _ in pairs], dtype=np.int64)
    ci = np.array([tx.items.encode([i])[0] for _, i in pairs], dtype=np.int64)
    X, _ = st.features(cu, ci)
    return {n: X[:, j].astype(float) for j, n in enumerate(feature_names())}, cu, ci, X


def test_spend_features_match_a_hand_count():
    tx, st = _state(_ROWS)
    cols, _, _, _ = _features(st, tx, [("a", "x"), ("a", "y"), ("b", "x"), ("a", "z")])
    # a spent 2 * 1.5 + 4 * 1.5 = 9 on x and 3 on y: 12 in all; z never bought by a
    np.testing.assert_allclose(cols["spend_share"], [0.75, 0.25, 15 / 17, 0.0])
    # units per order holding the item: a's x 6 / 2, a's y 1, b's x 10; 0 when never bought
    np.testing.assert_allclose(cols["quantity_per_order"], [3.0, 1.0, 10.0, 0.0])
    # x's median over its buyers of units per order: (3 + 10) / 2; y's: 1
    np.testing.assert_allclose(cols["quantity_vs_item"], [3 / 6.5, 1.0, 10 / 6.5, 0.0])


def test_without_prices_the_spend_features_are_unknown():
    tx, st = _state(_ROWS, prices=False)
    cols, _, _, _ = _features(st, tx, [("a", "x"), ("a", "z")])
    for name in NEW:
        assert math.isnan(cols[name][0]), name
    for name in NEW:  # never bought: nothing spent, known without prices
        assert cols[name][1] == 0.0, name


def test_lines_at_or_after_the_cut_do_not_count():
    tx, st = _state(_ROWS)
    later = [*_ROWS, ("o6", "a", "x", 31, 50, 9.0), ("o7", "b", "x", 35, 1, 1.0)]
    tx2, st2 = _state(later)
    pairs = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "z")]
    np.testing.assert_array_equal(_features(st, tx, pairs)[3], _features(st2, tx2, pairs)[3])


def test_groups_and_one_request_path_equal_the_batch():
    assert all(FEATURE_GROUPS[n] == "spend" for n in NEW)
    tx, st = _state(_ROWS)
    one = OneCustomer(st)
    for c in ("a", "b"):
        pairs = [(c, i) for i in ("x", "y", "z")]
        _, cu, ci, X = _features(st, tx, pairs)
        Xo, _ = one.features(int(cu[0]), ci)
        np.testing.assert_array_equal(Xo, X)


@pytest.fixture(scope="module")
def shop_state():
    shop = make_shop(n_customers=200, n_items=40, n_orders=1500, random_state=3)
    tx = shop.transactions
    lines = line_data(tx, None, np.full(len(tx.customers), -1))
    cut = int(lines.time.max()) - 20 * DAY
    st = BlendState.build(lines, cut, window=10 * DAY, half_life=30 * DAY, n_neighbors=10,
                          use_ease=True)
    return st


def test_spend_shares_of_a_customer_add_up_to_one(shop_state):
    st = shop_state
    H = st.H
    c = np.repeat(np.arange(H.shape[0]), np.diff(H.indptr))
    X, _ = st.features(c.astype(np.int64), H.indices.astype(np.int64))
    share = X[:, feature_names().index("spend_share")].astype(float)
    total = np.bincount(c, weights=share, minlength=H.shape[0])
    buyers = np.diff(H.indptr) > 0
    np.testing.assert_allclose(total[buyers], 1.0, rtol=1e-5)
    q = X[:, feature_names().index("quantity_per_order")]
    assert np.all(q >= 1)  # make_shop buys whole units


def test_saved_state_keeps_the_features_and_older_files_read_as_unknown(shop_state):
    st = shop_state
    arrays = state_arrays(st)
    meta = {"cut": st.cut, "window": st.window, "half_life": st.half_life,
            "n_customers": st.n_customers, "n_items": st.n_items, "knn_users": st.knn_users}
    kw = {"file": "m.npz", "n_customers": st.n_customers, "n_items": st.n_items}
    back = state_from_arrays(arrays, meta, **kw)
    H = st.H
    cu = np.repeat(np.arange(H.shape[0]), np.diff(H.indptr)).astype(np.int64)[:300]
    ci = H.indices.astype(np.int64)[:300]
    np.testing.assert_array_equal(back.features(cu, ci)[0], st.features(cu, ci)[0])
    old = {k: v for k, v in arrays.items()
           if k not in ("entry.spend", "entry.quantity", "cust.spend", "item.quantity")}
    X = state_from_arrays(old, meta, **kw).features(cu, ci)[0]
    for name in NEW:
        j = feature_names().index(name)
        assert not np.isfinite(X[:, j]).any(), name
