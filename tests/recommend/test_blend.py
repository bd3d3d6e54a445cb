"""LearnedBlend: training without leakage, every feature against a hand count, serving, files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Catalog, Transactions
from upsell.exceptions import ModelFileError, NotFittedError, UpsellDataError
from upsell.recommend._blend_features import FEATURE_GROUPS, BlendState, feature_names
from upsell.recommend._blend_train import (
    build_cut,
    cut_points,
    halving_search,
    labels_for,
    lgb_params,
    make_dataset,
    next_baskets,
)
from upsell.recommend._blend_train import line_data as _line_data
from upsell.recommend._blend_train import segment_codes as _segment_codes
from upsell.recommend.blend import LearnedBlend
from upsell.recommend.blending import Blend, BlendRequest

from ._blend_data import FAST, small_shop
from ._forest_data import ranking_data

DAY = 86_400


@pytest.fixture(scope="module")
def shop():
    return small_shop()


@pytest.fixture(scope="module")
def fitted(shop):
    return LearnedBlend(**FAST).fit(shop.transactions, catalog=shop.catalog, random_state=0)


# ---------------------------------------------------------------------- hand-made history
def _hand_tx() -> Transactions:
    # customer a: item x on days 0, 10, 20; y with x on day 20; z on day 5 (price 4)
    # customer b: x and y on day 2; w on day 18
    rows = [
        ("o1", "a", "x", 0, 2.0), ("o2", "a", "z", 5, 4.0), ("o3", "a", "x", 10, 2.0),
        ("o4", "a", "x", 20, 1.0), ("o4", "a", "y", 20, 6.0), ("o5", "b", "x", 2, 2.0),
        ("o5", "b", "y", 2, 6.0), ("o6", "b", "w", 18, 8.0),
        ("o7", "b", "x", 40, 2.0),  # after the cut: must not matter
    ]
    t0 = np.datetime64("2024-01-01T00:00:00")
    return Transactions.from_arrays(
        order=[r[0] for r in rows], customer=[r[1] for r in rows], item=[r[2] for r in rows],
        time=[t0 + np.timedelta64(r[3] * DAY, "s") for r in rows], price=[r[4] for r in rows])


def _hand_features():
    tx = _hand_tx()
    cat = Catalog.from_records([{"item": "x", "cost": 1.0, "kind": "accessory", "attaches_to": "f"},
                                {"item": "y", "cost": 3.0, "tier": 2, "family": "f"},
                                {"item": "z"}, {"item": "w"}])
    seg, _ = _segment_codes({"a": "vip", "b": "new"}, tx.customers)
    lines = _line_data(tx, cat, seg)
    t0 = int(np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64))
    cut = t0 + 30 * DAY
    st = BlendState.build(lines, cut, window=10 * DAY, half_life=10 * DAY, n_neighbors=10,
                          use_ease=True)
    a, b = (int(tx.customers.encode([c])[0]) for c in ("a", "b"))
    ix = {i: int(tx.items.encode([i])[0]) for i in ("w", "x", "y", "z")}
    cu = np.array([a, a, a, b], dtype=np.int64)
    ci = np.array([ix["x"], ix["w"], ix["y"], ix["z"]], dtype=np.int64)
    X, best = st.features(cu, ci)
    return {n: X[:, j].astype(float) for j, n in enumerate(feature_names())}, best, ix, cat


# expected value of each feature for the rows (a, x), (a, w), (a, y), (b, z); None = not checked
_EXPECTED = {
    "times_bought": [3, 0, 1, 0],
    "days_since_bought": [10, math.nan, 10, math.nan],
    "repurchase_interval": [10, math.nan, math.nan, math.nan],
    "since_over_interval": [1.0, math.nan, math.nan, math.nan],
    "share_of_orders": [3 / 4, 0, 1 / 4, 0],
    "item_repeat_rate": [0.5, 0.0, 0.0, 0.0],
    "item_interval": [10, math.nan, math.nan, math.nan],
    "since_over_item_interval": [1.0, math.nan, math.nan, math.nan],
    "repeat_share": [0.4, 0.4, 0.4, 0.0],
    # a's orders from the latest: o4 (x, y) 0, o3 (x) 1, o2 (z) 2, o1 (x) 3; b's: o6 (w) 0, o5 1
    "orders_since_bought": [0, math.nan, 0, math.nan],
    "in_last_2_orders": [2, 0, 1, 0],
    "in_last_4_orders": [3, 0, 1, 0],
    "order_decayed_count": [1 + 0.5 ** (1 / 3) + 0.5, 0, 1, 0],
    # purchases followed by another order: x in o3 (again in o4), o1 (not in o2), o5 (not
    # in o6) -> 1/3; w never; y in o5 (not in o6) -> 0; z in o2 (not in o3) -> 0
    "item_next_order_rate": [1 / 3, math.nan, 0.0, 0.0],
    # a's lines after o1: z (not in o1), x (not in o2), x (in o3), y (not) -> 1/4; b's: w -> 0
    "next_order_overlap": [0.25, 0.25, 0.25, 0.0],
    "decayed_count": [0.5 ** 3 + 0.5 ** 2 + 0.5 ** 1, 0, 0.5, 0],
    # buyers before the cut: x 2 (a, b), w 1, y 2, z 1
    "buyers_log": [math.log(3), math.log(2), math.log(3), math.log(2)],
    # last window [20, 30): buyers x 1 (a), w 0, y 1, z 0; window before [10, 20): x 1, w 1
    "recent_buyers_share": [0.5, 0.0, 0.5, 0.0],
    "popularity_trend": [0.0, math.log(1 / 2), math.log(2), 0.0],
    # a's last basket {x, y}; pairs seen in >= 2 orders: (x, y) in o4, o5 -> conf(y->x)=1,
    # conf(x->y) = 2/4 (x is in 4 orders before the cut)
    "cooc_score": [1.0, 0.0, 0.5, 0.0],
    "lift_last_basket": [1.0 / (4 / 6), 0.0, 0.5 / (2 / 6), 0.0],
    "conf_history_max": [1.0, 0.0, 0.5, 0.0],
    "price": [2.0, 8.0, 6.0, 4.0],
    # a's unit prices 2, 4, 2, 1, 6 -> median 2; b's 2, 6, 8 -> 6
    "price_vs_usual": [1.0, 4.0, 3.0, 4 / 6],
    # a's order values 2, 4, 2, 7 -> mean 3.75; b's 8, 8 -> 8
    "price_vs_order_value": [2 / 3.75, 8 / 3.75, 6 / 3.75, 4 / 8],
    # last window's median price: x 1 (day 20) vs median 2 -> 50 % off
    "discount": [0.5, math.nan, 0.0, math.nan],
    "margin": [0.5, math.nan, 0.5, math.nan],
    "orders": [4, 4, 4, 2],
    "tenure_days": [30, 30, 30, 28],
    "days_since_order": [10, 10, 10, 12],
    "basket_size": [5 / 4, 5 / 4, 5 / 4, 3 / 2],
    "orders_per_window": [4 / 3, 4 / 3, 4 / 3, 2 / 2.8],
    "distinct_items": [3, 3, 3, 3],
    "tier": [math.nan, math.nan, 2.0, math.nan],
}


@pytest.mark.parametrize("name", sorted(_EXPECTED))
def test_feature_value_matches_a_hand_count(name):
    cols, _, _, _ = _hand_features()
    np.testing.assert_allclose(cols[name], _EXPECTED[name], rtol=1e-5, atol=1e-6)


def test_source_scores_and_ranks():
    cols, _, _, _ = _hand_features()
    # ranks are 1-based within the customer, NaN where the source did not score the item
    for src in ("ease", "knn", "cooc", "uknn"):
        s, r = cols[f"{src}_score"], cols[f"{src}_rank"]
        assert np.all((s > 0) == np.isfinite(r)), src
        assert np.all(r[np.isfinite(r)] >= 1)
    # a's repeat rank: x (decayed 0.875) before y (0.5); w never bought
    assert cols["repeat_rank"][0] == 1 and cols["repeat_rank"][2] == 2
    assert math.isnan(cols["repeat_rank"][1])
    assert np.all(cols["pop_rank"] >= 1)
    assert cols["cooc_rank"][0] == 1  # x is a's best co-purchase
    # user-KNN: a's only neighbour is b, who bought w, x, y (not z): a's scores follow b's
    # decayed vector, so w (bought by b on day 18) beats x and y (day 2)
    assert cols["uknn_score"][1] > cols["uknn_score"][0] > 0
    assert cols["uknn_rank"][1] == 1
    assert cols["uknn_score"][3] > 0  # (b, z): z comes from a


def test_categorical_segment_and_kind():
    cols, _, _, _ = _hand_features()
    # segments are coded in label order: "new" 0, "vip" 1
    np.testing.assert_array_equal(cols["segment"], [1, 1, 1, 0])
    # kinds "accessory" and "product" (the catalog default)
    assert cols["kind"][0] != cols["kind"][1] and cols["kind"][1] == cols["kind"][3]


def test_every_feature_is_checked_and_grouped():
    checked = set(_EXPECTED) | {"ease_score", "ease_rank", "knn_score", "knn_rank",
                                "cooc_score", "cooc_rank", "repeat_rank", "pop_rank",
                                "uknn_score", "uknn_rank",
                                # hand-counted in test_blend_features_new.py
                                "spend_share", "quantity_per_order", "quantity_vs_item",
                                "segment", "kind"}
    assert checked == set(feature_names())
    assert set(FEATURE_GROUPS) == set(feature_names())


def test_best_last_item_names_the_co_purchase():
    _, best, ix, _ = _hand_features()
    assert best[0] == ix["y"]  # (a, x) is explained by y in a's last basket
    assert best[1] == -1


# ---------------------------------------------------------------------- training data
def test_no_feature_of_a_training_row_uses_a_line_at_or_after_its_cut(shop):
    tx = shop.transactions
    seg = np.full(len(tx.customers), -1)
    lines = _line_data(tx, shop.catalog, seg)
    cuts, window = cut_points(lines, 3)
    cut = cuts[1]
    cust = np.unique(lines.customer[(lines.customer >= 0) & (lines.time < cut)])[:80]
    kw = {"customers": cust, "n_candidates": 20, "n_neighbors": 20, "half_life": 3 * window,
          "use_ease": True}
    base = build_cut(lines, cut, window, **kw)
    # scramble everything at or after the cut: other items, customers and prices
    rng = np.random.default_rng(0)
    after = lines.time >= cut
    moved = type(lines)(
        customer=np.where(after, rng.permutation(lines.customer), lines.customer),
        item=np.where(after, rng.integers(0, lines.n_items, lines.item.size), lines.item),
        order=lines.order, time=lines.time,
        unit=np.where(after, lines.unit * 7.0, lines.unit),
        value=np.where(after, lines.value * 3.0, lines.value),
        n_customers=lines.n_customers, n_items=lines.n_items, item_cost=lines.item_cost,
        item_kind=lines.item_kind, item_tier=lines.item_tier, segment=lines.segment)
    other = build_cut(moved, cut, window, **kw)
    deleted = build_cut(lines.before(cut), cut, window, **kw)
    for rows in (other, deleted):
        np.testing.assert_array_equal(rows.customer, base.customer)
        np.testing.assert_array_equal(rows.item, base.item)
        np.testing.assert_array_equal(rows.X, base.X)
    # while the labels do come from after the cut
    y, _ = labels_for(base, lines, cut + int(2 * window))
    assert y.sum() > 0


def test_halving_search_keeps_the_best_of_a_full_grid():
    pytest.importorskip("lightgbm")
    n_q, per = 120, 20
    X, y, g = ranking_data(n_q, per, len(feature_names()))
    cols = np.arange(5)
    cands = [lgb_params("lambdarank", leaves, leaf, 0.1, 0, 1)
             for leaves, leaf in ((3, 20), (7, 20), (15, 5), (7, 200))]
    tr = make_dataset(X[: 80 * per], y[: 80 * per], g[:80], cands[0], cols)
    va = make_dataset(X[80 * per:], y[80 * per:], g[80:], cands[0], cols, reference=tr)
    j, rounds, score, trace = halving_search(tr, va, cands, 60, patience=10, first_rung=5)
    assert 1 <= rounds <= 60 and 0 <= j < len(cands)
    assert sorted(t[0] for t in trace) == list(range(len(cands)))
    assert score == max(t[2] for t in trace)  # the survivor has the best score seen
    again = halving_search(tr, va, cands, 60, patience=10, first_rung=5)
    assert again[:3] == (j, rounds, score)  # deterministic


def test_row_ranks_and_row_max_product_match_plain_definitions():
    import scipy.sparse as sp

    from upsell.recommend._blend_features import _row_max_product, _row_ranks

    rng = np.random.default_rng(3)
    # short rows (one sort over every entry) and long ones with empty rows (a sort per row)
    for shape, density in (((40, 30), 0.4), ((25, 300), 0.3)):
        m = sp.random(*shape, density=density, format="csr", random_state=1, dtype=np.float32)
        m.data = np.round(m.data * 4).astype(np.float32) + 1  # many ties
        if shape[1] > 30:
            m = sp.csr_matrix(sp.vstack([m[:5], sp.csr_matrix((3, shape[1])), m[5:]]))
        m.sort_indices()
        ranks = _row_ranks(m)
        for r in range(m.shape[0]):
            lo, hi = m.indptr[r], m.indptr[r + 1]
            order = sorted(range(lo, hi), key=lambda e: (-m.data[e], m.indices[e]))
            assert [int(ranks[e]) for e in order] == list(range(1, hi - lo + 1))
    m = sp.random(40, 30, density=0.4, format="csr", random_state=1, dtype=np.float32)
    m.data = np.round(m.data * 4).astype(np.float32) + 1
    m.sort_indices()
    L = sp.csr_matrix((rng.random((15, 30)) < 0.2).astype(np.float32))
    got = _row_max_product(L, m).toarray()
    dense = m.toarray()
    want = np.array([dense[L[r].indices].max(axis=0) if L[r].nnz else np.zeros(30)
                     for r in range(15)])
    np.testing.assert_array_equal(got, want)


def test_next_baskets_take_the_first_order_only():
    tx = _hand_tx()
    lines = _line_data(tx, None, np.full(len(tx.customers), -1))
    t0 = int(np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64))
    c, i = next_baskets(lines, t0 + 3 * DAY, t0 + 60 * DAY)
    pairs = {(tx.customers.ids[a], tx.items.ids[b]) for a, b in zip(c, i, strict=True)}
    assert pairs == {("a", "z"), ("b", "w")}


def test_cut_points_follow_the_data():
    tx = _hand_tx()
    lines = _line_data(tx, None, np.full(len(tx.customers), -1))
    cuts, window = cut_points(lines, 2)
    assert cuts == sorted(cuts) and window >= DAY
    assert cuts[-1] < int(lines.time.max()) + 1


# ---------------------------------------------------------------------- serving
def test_recommend_contract(fitted, shop):
    tx = shop.transactions
    ids = tx.customers.ids[:20]
    owned = tx.customer_items()
    banned = list(tx.items.ids[:3])
    for include_owned in (False, True):
        recs = fitted.recommend(customers=ids, k=5, include_owned=include_owned,
                                exclude=banned)
        assert len(recs) == 20
        for r in range(len(recs)):
            items = recs.indices(r)
            assert items.size <= 5 and np.unique(items).size == items.size
            assert np.all(np.diff(recs.request_scores(r)) <= 0)
            assert not set(tx.items.ids[items]) & set(banned)
            if not include_owned:
                row = owned[int(tx.customers.encode([ids[r]])[0])]
                assert not set(items.tolist()) & set(row.indices.tolist())
        assert recs.reasons is not None and len(recs.reasons) == recs.item_index.size
        assert all(isinstance(x, str) and x for x in recs.reasons)


def test_buy_again_reasons_speak_of_timing(fitted, shop):
    recs = fitted.recommend(customers=shop.transactions.customers.ids[:40], k=5,
                            include_owned=True)
    assert any("days ago" in r for r in recs.reasons)


def test_unknown_customers_get_popular_items(fitted):
    recs = fitted.recommend(customers=["nobody"], k=4)
    assert len(recs.indices(0)) == 4 and recs.reasons[0] == "popular now"


def test_fit_is_deterministic(shop, fitted):
    again = LearnedBlend(**FAST).fit(shop.transactions, catalog=shop.catalog, random_state=0)
    ids = shop.transactions.customers.ids[:15]
    a = fitted.recommend(customers=ids, k=5)
    b = again.recommend(customers=ids, k=5)
    assert a.lists() == b.lists()
    np.testing.assert_array_equal(a.scores, b.scores)


def test_errors_before_fit_and_for_bad_params(shop):
    with pytest.raises(NotFittedError):
        LearnedBlend().recommend(customers=["x"])
    with pytest.raises(UpsellDataError, match="feature_groups"):
        LearnedBlend(feature_groups=["nope"]).fit(shop.transactions)
    with pytest.raises(UpsellDataError, match="objective"):
        LearnedBlend(objective="xendcg").fit(shop.transactions)


def test_feature_groups_restrict_the_ranker(shop):
    m = LearnedBlend(**FAST, feature_groups=["repeat", "sources"]).fit(shop.transactions)
    used = m.boosters_["owned"].feature_name()
    assert used and all(FEATURE_GROUPS[n] in ("repeat", "sources") for n in used)


# ---------------------------------------------------------------------- Blend protocol
def _request(customer, basket=(), include_owned=False):
    return BlendRequest(customer=customer, customer_index=0,
                        basket=np.asarray(basket, dtype=np.int32),
                        owned=np.zeros(0, np.int32), owned_time=np.zeros(0, "datetime64[s]"),
                        at=np.datetime64("2025-01-01T00:00:00"), segment=None, moment=None,
                        channel="web", k=5, include_owned=include_owned)


def test_blend_protocol(fitted, shop):
    assert isinstance(fitted, Blend)
    bound = fitted.bind(shop.catalog, ("a", "b"))
    items = np.arange(10, dtype=np.int32)
    scores, reasons = bound.blend(_request(shop.transactions.customers.ids[0], [11]), items,
                                  np.full((10, 2), np.nan), ("a", "b"))
    assert np.asarray(scores).shape == (10,) and np.all(np.isfinite(scores))
    assert reasons is not None and len(reasons) == 10
    # same ranking as recommend's features: an unknown customer still gets finite scores
    s2, _ = bound.blend(_request("nobody", [11]), items, np.full((10, 2), np.nan), ("a", "b"))
    assert np.all(np.isfinite(s2))


# ---------------------------------------------------------------------- files
def test_save_load_round_trip(fitted, shop, tmp_path):
    fitted.save(tmp_path / "blend")
    back = LearnedBlend.load(tmp_path / "blend")
    ids = shop.transactions.customers.ids[:10]
    for inc in (False, True):
        a = fitted.recommend(customers=ids, k=5, include_owned=inc)
        b = back.recommend(customers=ids, k=5, include_owned=inc)
        assert a.lists() == b.lists() and a.reasons == b.reasons
        np.testing.assert_allclose(a.scores, b.scores)


def test_the_state_is_stored_narrow_and_loads_bit_for_bit(fitted, tmp_path):
    from upsell.recommend._blend_state_io import state_arrays

    fitted.save(tmp_path / "blend")
    with np.load(tmp_path / "blend" / "state.npz") as z:
        stored = {k: z[k] for k in z.files}
    assert stored["entry.in_last_2"].dtype == np.uint8  # flags
    assert stored["last_t"].dtype == np.int32  # epoch seconds before 2038
    back = LearnedBlend.load(tmp_path / "blend").state_
    a, b = fitted.state_, back
    for name in ("decayed", "first_t", "last_t"):
        assert getattr(a, name).dtype == getattr(b, name).dtype
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    # the fitted state holds them as narrow as the file (memory), and the loaded one too
    assert a.entry["in_last_2"].dtype == np.uint8 and a.last_t.dtype == np.int32
    for group in ("entry", "cust", "item"):
        for k, v in getattr(a, group).items():
            w = getattr(b, group)[k]
            assert v.dtype == w.dtype and v.tobytes() == w.tobytes(), (group, k)
    # saving the loaded state writes the same arrays again
    again = state_arrays(back)
    assert all(again[k].dtype == stored[k].dtype and np.array_equal(again[k], stored[k],
                                                                     equal_nan=True)
               for k in again)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                          st.integers(-300, 70_000).map(float), st.sampled_from([0.0, -0.0, 1.0])),
                min_size=1, max_size=40),
       st.lists(st.integers(-2**40, 2**40), min_size=1, max_size=20))
def test_lossless_gives_every_array_back_bit_for_bit(floats, ints):
    from upsell.recommend._blend_features import lossless

    for a in (np.array(floats, dtype=np.float64), np.array(ints, dtype=np.int64),
              np.array(ints, dtype=np.int64) % 100, np.array(floats, dtype=np.float64)[:1]):
        n = lossless(a)
        assert n.dtype.itemsize <= a.dtype.itemsize
        assert n.astype(a.dtype).tobytes() == a.tobytes()


def test_a_file_written_before_the_newest_features_loads(shop, tmp_path):
    from upsell.recommend._blend_features import FEATURE_GROUPS, feature_names

    # a blend without the newest group ([spend], last in the list) is what an older upsell
    # wrote: its feature list is a prefix of today's
    groups = sorted(set(FEATURE_GROUPS.values()) - {"spend"})
    old = LearnedBlend(**{**FAST, "feature_groups": groups}).fit(
        shop.transactions, catalog=shop.catalog, random_state=0)
    folder = tmp_path / "blend"
    old.save(folder)
    meta = json.loads((folder / "blend.json").read_text())
    n_old = int(old.columns_.max()) + 1
    assert n_old < len(feature_names())
    meta["features"] = list(feature_names())[:n_old]
    (folder / "blend.json").write_text(json.dumps(meta))
    back = LearnedBlend.load(folder)
    ids = shop.transactions.customers.ids[:10]
    assert back.recommend(customers=ids, k=5).lists() == old.recommend(
        customers=ids, k=5).lists()


def test_a_file_written_before_a_parameter_existed_loads_with_its_default(fitted, shop,
                                                                         tmp_path):
    # session 7's files have no max_rows (the training-row budget came later)
    folder = tmp_path / "blend"
    fitted.save(folder)
    meta = json.loads((folder / "blend.json").read_text())
    del meta["params"]["max_rows"]
    (folder / "blend.json").write_text(json.dumps(meta))
    back = LearnedBlend.load(folder)
    assert back.max_rows == LearnedBlend().max_rows
    ids = shop.transactions.customers.ids[:10]
    assert back.recommend(customers=ids, k=5).lists() == fitted.recommend(
        customers=ids, k=5).lists()
    meta["params"]["max_trees"] = 5  # a name this upsell does not know is refused
    (folder / "blend.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="parameters"):
        LearnedBlend.load(folder)


def test_load_refuses_tampered_files(fitted, tmp_path):
    folder = tmp_path / "blend"
    fitted.save(folder)
    meta = json.loads((folder / "blend.json").read_text())
    meta["features"] = meta["features"][::-1]
    (folder / "blend.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="feature"):
        LearnedBlend.load(folder)
    # a shorter list is a file written before the newest features: it loads only when its
    # rankers' columns stay inside it
    cut = int(fitted.columns_.max())
    meta["features"] = meta["features"][::-1][:cut]
    (folder / "blend.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="columns"):
        LearnedBlend.load(folder)
    fitted.save(folder)
    (folder / "ranker_new.txt").write_text("not a model")
    with pytest.raises(ModelFileError):
        LearnedBlend.load(folder)
    fitted.save(folder)
    (folder / "state.npz").write_bytes(b"garbage")
    with pytest.raises(ModelFileError):
        LearnedBlend.load(folder)


# ---------------------------------------------------------------------- Recommender
def test_recommender_serves_with_the_learned_blend(shop, tmp_path):
    from upsell.recommend import Recommender
    from upsell.recommend.blend import history_parts

    tx = shop.transactions
    parts = history_parts(tx, shop.catalog, blend="weighted")
    assert parts["blend"] is None and parts["cross_sell"]
    parts["blend"] = LearnedBlend(**FAST).fit(tx, catalog=shop.catalog,
                                              segments=parts["segments"])
    rec = Recommender(**parts).fit()
    c = tx.customers.ids[3]
    owned = set(tx.items.ids[tx.customer_items()[3].indices])
    offers = rec.recommend(customer=c, k=5)
    assert 0 < len(offers) <= 5 and not {o.item for o in offers} & owned
    again = rec.recommend(customer=c, k=5, include_owned=True)
    assert 0 < len(again) <= 5
    assert any(o.reason.summary for o in offers)
    rec.save(tmp_path / "rec")
    back = Recommender.load(tmp_path / "rec")
    assert [o.item for o in back.recommend(customer=c, k=5)] == [o.item for o in offers]
    # one customer map and one item map in memory, shared by the history and the blend
    assert back.blend.customers_ is back.history_.customers
    assert back.blend.items_ is back.history_.items


def test_one_customer_path_matches_the_batch(fitted, shop):
    st = fitted.state_
    u = np.flatnonzero(st.cust["orders"] > 0)[:12].astype(np.int64)
    cu, ci = st.candidates(u, 30, include_owned=True)
    X, best = st.features(cu, ci)
    for c in u[:6].tolist():
        cu1, ci1 = st.candidates(np.array([c]), 30, include_owned=True)
        np.testing.assert_array_equal(ci1, ci[cu == c])
        X1, best1 = st.features(cu1, ci1)
        np.testing.assert_allclose(X1, X[cu == c], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(best1, best[cu == c])


def test_repeat_reason_reads_as_people_say_it():
    from upsell.recommend._blend_reasons import _ago, _span

    assert _span(33) == "33 days" and _span(1) == "1 day"
    assert _span(150) == "5 months" and _span(5847) == "16 years"
    assert _ago(0.2) == "today" and _ago(1.5) == "yesterday" and _ago(34) == "34 days ago"
