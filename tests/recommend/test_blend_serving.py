"""LearnedBlend's one-request path: the same features, scores and reasons as the batch path."""

from __future__ import annotations

import numpy as np
import pytest

from upsell.datasets import make_shop
from upsell.recommend._blend_one import OneCustomer, _gather_pos, _score_rank, _top_k
from upsell.recommend._blend_reasons import DeferredReasons
from upsell.recommend.blend import LearnedBlend
from upsell.recommend.blending import BlendRequest

FAST = {"param_grid": [(7, 0.01)], "max_rounds": 15, "n_cuts": 3, "max_customers": 200,
        "n_candidates": 30}


@pytest.fixture(scope="module")
def shop():
    return make_shop(n_customers=250, n_items=50, n_orders=2200, random_state=1)


@pytest.fixture(scope="module")
def fitted(shop):
    return LearnedBlend(**FAST).fit(shop.transactions, catalog=shop.catalog, random_state=0)


def _batch(st, c, ci, at, basket):
    """The batch path's features of (c, ci) (the reference the one-request path must equal)."""
    import scipy.sparse as sp

    B = None
    if basket is not None:
        B = sp.csr_matrix((np.ones(basket.size, dtype=np.float32), basket, [0, basket.size]),
                          shape=(1, st.n_items))
    st._cache.clear()
    return st.features(np.full(ci.size, c, dtype=np.int64), ci, at=at, basket=B)


@pytest.mark.parametrize("with_basket", [False, True])
def test_one_customer_features_equal_the_batch(fitted, with_basket):
    st = fitted.state_
    one = OneCustomer(st)
    rng = np.random.default_rng(0)
    known = np.flatnonzero(st.cust["orders"] > 0)
    for c in rng.choice(known, 25, replace=False).tolist():
        ci = rng.choice(st.n_items, 20, replace=False).astype(np.int64)
        basket = np.unique(rng.choice(st.n_items, 3)) if with_basket else None
        at = None if c % 2 else st.cut + 40 * 86_400
        X1, best1 = one.features(c, ci, at=at, basket=basket)
        X0, best0 = _batch(st, c, ci, at, basket)
        np.testing.assert_array_equal(X1, X0)
        np.testing.assert_array_equal(best1, best0)


def test_blend_scores_and_reasons_equal_the_batch_ranker(fitted, shop):
    """What blend() returns is the batch features' prediction, and the reasons of its best."""
    bound = fitted.bind(shop.catalog, ("a",))
    st = fitted.state_
    rng = np.random.default_rng(1)
    cmap = bound._catalog_map
    for c in np.flatnonzero(st.cust["orders"] > 0)[:12].tolist():
        items = rng.choice(cmap.size, 15, replace=False).astype(np.int32)
        inc = bool(c % 2)
        req = BlendRequest(customer=fitted.customers_.ids[c], customer_index=0,
                           basket=np.zeros(0, np.int32), owned=np.zeros(0, np.int32),
                           owned_time=np.zeros(0, "datetime64[s]"),
                           at=np.datetime64("NaT", "s"), segment=None, moment=None,
                           channel="web", k=4, include_owned=inc)
        scores, reasons = bound.blend(req, items, np.full((15, 1), np.nan), ("a",))
        ci = cmap[items]
        kn = np.flatnonzero(ci >= 0)
        X, best = _batch(st, c, ci[kn], None, None)
        regime = "owned" if inc else "new"
        s = fitted._predict(X, regime)
        np.testing.assert_array_equal(np.asarray(scores)[kn], s)
        top = np.argsort(-s, kind="stable")[:4 + 3]
        want = fitted._reasons(X[top], regime, best[top])
        assert [reasons[int(kn[j])] for j in top] == want
        assert reasons.resolve([int(kn[j]) for j in top[::-1]]) == want[::-1]
        # exact contributions: the compiled forest is LightGBM's TreeSHAP
        Xc = X[:, fitted.columns_]
        np.testing.assert_allclose(
            fitted._forest(regime).contributions(Xc),
            fitted.boosters_[regime].predict(Xc, pred_contrib=True), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(
            fitted._forest(regime).predict(Xc), fitted.boosters_[regime].predict(Xc))


def test_gather_pos_dense_and_sorted_paths_agree():
    import scipy.sparse as sp

    from upsell.cf.base import gather_rows

    rng = np.random.default_rng(2)
    M = sp.random(400, 300, density=0.3, format="csr", random_state=3, dtype=np.float32)
    M.data -= 0.3  # negative weights too (EASE): only positive sums are kept
    for rows in (np.array([0, 5, 7, 39]), np.arange(0, 400, 3), np.array([11])):
        w = rng.random(rows.size)
        ref_c, ref_v = gather_rows(M, rows, w)
        keep = ref_v > 0
        for n_cols in (300, 10**6):  # the dense scratch, then the sorted path
            c, v = _gather_pos(M, rows, w, n_cols)
            np.testing.assert_array_equal(c, ref_c[keep])
            np.testing.assert_array_equal(v, ref_v[keep])


def test_history_conf_by_rows_and_by_columns(fitted):
    """Long histories read conf by column, short ones by row: both equal a dense max."""
    st = fitted.state_
    one = OneCustomer(st)
    dense = st.conf.toarray()
    ci = np.arange(0, st.n_items, 2, dtype=np.int64)
    for hist in (np.array([3], dtype=np.int32), np.arange(st.n_items, dtype=np.int32)):
        got, _ = one._conf(hist, np.empty(0, np.int64), ci)
        np.testing.assert_array_equal(got, dense[hist][:, ci].max(axis=0).astype(np.float64))


def test_top_k_equals_a_full_lexsort():
    """The partitioned top k: the same rows in the same order as sorting everything."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(2, 2000))
        k = int(rng.integers(1, n))
        cols = np.sort(rng.choice(10**5, n, replace=False))
        vals = (rng.integers(0, int(rng.integers(1, 40)), n) / 7).astype(np.float32)
        np.testing.assert_array_equal(_top_k(cols, vals, k), np.lexsort((cols, -vals))[:k])


def test_score_rank_sorted_keys_equal_the_stable_sort():
    """Positive float32 rows rank by an int64 key sort; others by a stable argsort: equal."""
    rng = np.random.default_rng(6)
    for _ in range(200):
        n = int(rng.integers(1, 500))
        cols = np.sort(rng.choice(10**5, n, replace=False))
        vals = (rng.integers(1, int(rng.integers(2, 30)), n) / 7).astype(np.float32)
        ci = np.unique(np.concatenate([rng.choice(cols, min(n, 20)), rng.integers(0, 10**5, 20)]))
        got = _score_rank(cols, vals, ci)
        ref = _score_rank(cols, vals.astype(np.float64), ci)  # the stable-sort path
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def test_score_rank_breaks_ties_by_column():
    cols = np.array([1, 3, 4, 8, 9])
    vals = np.array([0.5, 0.9, 0.5, 0.5, 0.1], dtype=np.float32)
    score, rank = _score_rank(cols, vals, np.array([8, 1, 3, 2, 9, 4]))
    np.testing.assert_array_equal(rank, [4, 2, 1, np.nan, 5, 3])
    np.testing.assert_allclose(score, [0.5, 0.5, 0.9, 0.0, 0.1, 0.5])


def _req(customer, k=4, include_owned=False):
    return BlendRequest(customer=customer, customer_index=0, basket=np.zeros(0, np.int32),
                        owned=np.zeros(0, np.int32), owned_time=np.zeros(0, "datetime64[s]"),
                        at=np.datetime64("NaT", "s"), segment=None, moment=None,
                        channel="web", k=k, include_owned=include_owned)


def test_explain_changes_reasons_never_scores(shop):
    tx = shop.transactions
    got = {}
    for explain in ("contributions", "features", "none"):
        b = LearnedBlend(**FAST, explain=explain).fit(tx, catalog=shop.catalog)
        b = b.bind(shop.catalog, ("a",))
        items = np.arange(20, dtype=np.int32)
        got[explain] = [b.blend(_req(c, include_owned=bool(j % 2)), items,
                                np.full((20, 1), np.nan), ("a",))
                        for j, c in enumerate(tx.customers.ids[:8])]
    for explain in ("features", "none"):
        for (s0, _), (s1, _) in zip(got["contributions"], got[explain], strict=True):
            np.testing.assert_array_equal(s0, s1)
    assert all(r is None for _, r in got["none"])
    for _, r in got["features"]:
        assert isinstance(r, DeferredReasons) and len(r) == 20
        assert not r._done  # nothing put in words until asked
        r.resolve([0, 3])
        assert sorted(r._done) == [0, 3]  # only the rows asked for
        assert all(isinstance(x, str) for x in r)
    # a repeat candidate speaks of timing first under "features"
    assert any(x.startswith("bought ") for _, r in got["features"] for x in r)


def test_explain_is_validated_and_saved(fitted, tmp_path):
    from upsell.exceptions import ModelFileError, UpsellDataError

    with pytest.raises(UpsellDataError, match="explain"):
        LearnedBlend(explain="shap").fit(None)
    import json

    fitted.save(tmp_path / "b")
    assert LearnedBlend.load(tmp_path / "b").explain == "contributions"
    assert LearnedBlend.load(tmp_path / "b", explain="none").explain == "none"
    meta = json.loads((tmp_path / "b" / "blend.json").read_text())
    # a parameter the file lacks (written before it existed) takes today's default
    del meta["params"]["explain"]
    (tmp_path / "b" / "blend.json").write_text(json.dumps(meta))
    assert LearnedBlend.load(tmp_path / "b").explain == "contributions"
    meta["params"]["explain"] = "shap"  # a value this upsell does not know is refused
    (tmp_path / "b" / "blend.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="explain"):
        LearnedBlend.load(tmp_path / "b")


# ---------------------------------------------------------------------- in the Recommender
@pytest.fixture(scope="module")
def rec(shop, fitted):
    from upsell.recommend import Recommender
    from upsell.recommend.blend import history_parts

    parts = history_parts(shop.transactions, shop.catalog, blend="weighted")
    return Recommender(**{**parts, "blend": fitted}).fit()


def _offers(rec, customers, **kw):
    return [[(o.item, o.score, o.kind, o.reason.summary, o.cue) for o in
             rec.recommend(customer=c, k=4, at="2011-01-01", **kw)] for c in customers]


def test_reasons_of_the_chosen_offers_only_and_exact(rec, fitted, shop, monkeypatch):
    """Deferred reasons are the eager ones: LightGBM's own pred_contrib gives the same texts."""
    ids = list(shop.transactions.customers.ids[:12])
    calls = []
    real = fitted._reasons

    def counting(X, *a, **kw):
        calls.append(X.shape[0])
        return real(X, *a, **kw)

    monkeypatch.setattr(fitted, "_reasons", counting)
    got = [_offers(rec, ids, include_owned=inc) for inc in (False, True)]
    assert calls and max(calls) <= 4  # one batch per request, the shown offers only
    assert any(r[3] for lists in got for row in lists for r in [row[0]] if row)

    def lgb_contrib(X, regime):
        Xc = np.ascontiguousarray(X[:, fitted.columns_])
        c = fitted.boosters_[regime].predict(Xc, pred_contrib=True)
        full = np.zeros((X.shape[0], X.shape[1]))
        full[:, fitted.columns_] = c[:, :-1]
        return full

    monkeypatch.setattr(fitted, "_contrib", lgb_contrib)
    assert [_offers(rec, ids, include_owned=inc) for inc in (False, True)] == got


def test_offers_identical_across_explain_modes(rec, fitted, shop):
    ids = list(shop.transactions.customers.ids[:15])
    seen = {}
    try:
        for explain in ("contributions", "features", "none", "paths"):
            fitted.explain = explain
            seen[explain] = [[x[:3] for x in lst] for inc in (False, True)
                             for lst in _offers(rec, ids, include_owned=inc)]
    finally:
        fitted.explain = "contributions"
    assert seen["contributions"] == seen["features"] == seen["none"] == seen["paths"]


def test_buy_again_offers_are_replenish(rec, shop):
    from upsell.recommend import OFFER_KINDS, CueTemplates

    assert "replenish" in OFFER_KINDS
    tx = shop.transactions
    H = tx.customer_items()
    n_replenish = 0
    for r in range(20):
        c = tx.customers.ids[r]
        owned = set(tx.items.ids[H[r].indices].tolist())
        for o in rec.recommend(customer=c, k=5, include_owned=True, at="2011-01-01"):
            assert (o.kind == "replenish") == (o.item in owned and o.kind != "upsell")
            if o.kind == "replenish":
                n_replenish += 1
                assert o.cue == CueTemplates().render("web", "replenish", {"name": o.name})
        for o in rec.recommend(customer=c, k=5, at="2011-01-01"):
            assert o.kind != "replenish"  # owned items are not offered by default
    assert n_replenish > 0


def test_reasons_use_dates_when_the_request_is_far_past_the_history(fitted, shop):
    """'last 16 years ago' from an old history replayed at today's date: a date instead."""
    bound = fitted.bind(shop.catalog, ("a",))
    items = np.arange(20, dtype=np.int32)
    end = np.datetime64(int(fitted.state_.cut), "s")
    texts = {}
    for label, at in (("soon", end + np.timedelta64(1, "D")),
                      ("late", np.datetime64("2040-01-01T00:00:00"))):
        req = BlendRequest(customer=shop.transactions.customers.ids[2], customer_index=0,
                           basket=np.zeros(0, np.int32), owned=np.zeros(0, np.int32),
                           owned_time=np.zeros(0, "datetime64[s]"), at=at, segment=None,
                           moment=None, channel="web", k=20, include_owned=True)
        _, r = bound.blend(req, items, np.full((20, 1), np.nan), ("a",))
        texts[label] = " ".join(r)
    assert ("last " in texts["soon"] and " ago" in texts["soon"]) or "today" in texts["soon"]
    assert "years ago" not in texts["late"] and "last on 20" in texts["late"]


def test_clock_rule():
    from upsell.recommend._blend_reasons import Clock

    day = 86_400.0
    assert not Clock(now=100 * day, end=40 * day, window=30 * day).absolute  # 2 windows
    assert Clock(now=101 * day, end=40 * day, window=30 * day).absolute
    assert Clock(now=101 * day, end=40 * day, window=30 * day).ago(1.0) == "on 1970-04-11"


def test_customers_without_history_get_worded_reasons(rec, fitted, shop):
    """A visitor the blend does not know is ranked by basket co-purchase, then popularity:
    the reason says which, in words (not a source's raw score)."""
    st = fitted.state_
    basket = [shop.transactions.items.ids[int(np.argmax(st.item["buyers"]))]]
    offers = rec.recommend(customer=None, basket=basket, k=4, at="2011-01-01")
    blended = [o for o in offers if "fill" not in o.components]
    assert blended
    for o in blended:
        s = o.reason.summary
        if s.startswith("popular: "):
            i = int(fitted.items_.encode([o.item])[0])
            assert f"{st.item['buyers'][i]:,.0f} buyers" in s
        else:
            assert s.startswith("bought with an item in your basket in "), s
    assert any(o.reason.summary.startswith("bought with an item in your basket")
               for o in blended)
    try:
        fitted.explain = "none"
        quiet = rec.recommend(customer=None, basket=basket, k=4, at="2011-01-01")
    finally:
        fitted.explain = "contributions"
    assert [o.item for o in quiet] == [o.item for o in offers]
    assert not any(o.reason.summary.startswith(("popular: ", "bought with an item in your"))
                   for o in quiet if "fill" not in o.components)


def _reason_texts_reference(X, contrib, best_last, names, max_parts=2):
    """reason_texts as first written: every group's sum and top feature, every phrase."""
    from upsell.recommend import _blend_reasons as br

    G = np.zeros((X.shape[0], len(br._SPOKEN)))
    top_feat = []
    for gi, cols in enumerate(br._GROUP_COLS):
        sub = contrib[:, cols]
        G[:, gi] = sub.sum(axis=1)
        top_feat.append([br._NAMES[cols[j]] for j in np.argmax(sub, axis=1).tolist()])
    out = []
    order = np.argsort(-G, axis=1, kind="stable")
    for r in range(X.shape[0]):
        parts = []
        for gi in order[r].tolist():
            if G[r, gi] <= 0:
                break
            text = br._phrase(br._SPOKEN[gi], top_feat[gi][r], X[r], int(best_last[r]), names)
            if text and text not in parts:
                parts.append(text)
        parts.sort(key=lambda t: t == br._GENERIC)
        out.append("; ".join(parts[:max_parts]) if parts else "ranked by the learned blend")
    return out


def test_reason_texts_stop_early_with_the_same_texts(fitted):
    """reason_texts stops once ``max_parts`` concrete phrases are found: same texts."""
    from upsell.recommend._blend_reasons import priority_contrib, reason_texts

    st = fitted.state_
    one = OneCustomer(st)
    rng = np.random.default_rng(3)
    for c in np.flatnonzero(st.cust["orders"] > 0)[:20].tolist():
        ci = rng.choice(st.n_items, 25, replace=False).astype(np.int64)
        X, best = one.features(c, ci)
        for contrib in (fitted._contrib(X, "owned"), fitted._contrib(X, "new"),
                        priority_contrib(X.shape[0]),
                        rng.normal(size=(X.shape[0], X.shape[1])) * (rng.random(X.shape) < .5)):
            for mp in (1, 2, 3):
                assert reason_texts(X, contrib, best, fitted.item_names_, max_parts=mp) == \
                    _reason_texts_reference(X, contrib, best, fitted.item_names_, mp)


def test_warm_compiles_without_changing_offers(rec, shop):
    from upsell.recommend._kernels import kernels

    tx = shop.transactions
    ids = [tx.customers.ids[r] for r in range(5)]

    def offers():
        return [[(o.item, o.score, o.reason) for o in rec.recommend(customer=c, k=5,
                                                                    at="2011-01-01")]
                for c in ids]

    before = offers()
    assert rec.warm() is rec
    assert offers() == before
    k = kernels()
    if k is not None:  # every kernel a request takes has been compiled
        for name in ("gather_rank", "gather_top", "score_rank", "conf_max", "own_block",
                     "forest_raw"):
            assert getattr(k, name).signatures, name
