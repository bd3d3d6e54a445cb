"""LearnedBlend.update: the second stage learned from offer outcomes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from upsell.datasets import make_shop
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.recommend import InStock, NotOwned, OfferLog, Recommender
from upsell.recommend._blend_update import Stage, stage_contributions
from upsell.recommend.blend import LearnedBlend
from upsell.recommend.blending import BlendRequest

FAST = {"param_grid": [(7, 0.01)], "max_rounds": 15, "n_cuts": 3, "max_customers": 200,
        "n_candidates": 30}


@pytest.fixture(scope="module")
def shop():
    return make_shop(n_customers=250, n_items=50, n_orders=2200, random_state=1)


@pytest.fixture(scope="module")
def base(shop):
    return LearnedBlend(**FAST).fit(shop.transactions, catalog=shop.catalog, random_state=0)


def _copy(blend, tmp_path, name="copy"):
    blend.save(tmp_path / name)
    return LearnedBlend.load(tmp_path / name)


def _outcomes(blend, *, requests=500, seed=0, liked=None):
    """Presented offers of never-bought items, 5 per request; the ``liked`` items (default:
    the dearer half) are accepted 40% of the time, the others 1%."""
    rng = np.random.default_rng(seed)
    st = blend.state_
    known = np.flatnonzero(st.cust["orders"] > 0)
    price = st.item["price"]
    if liked is None:
        liked = np.flatnonzero(price > np.nanmedian(price))
    like = np.zeros(st.n_items, dtype=bool)
    like[liked] = True
    cust, item, req, t, acc = [], [], [], [], []
    t0 = np.datetime64(int(st.cut), "s") + np.timedelta64(3600, "s")
    H = st.H
    for r in range(requests):
        c = int(rng.choice(known))
        owned = set(H.indices[H.indptr[c]:H.indptr[c + 1]].tolist())
        free = np.array([i for i in range(st.n_items) if i not in owned])
        for i in rng.choice(free, 5, replace=False).tolist():
            cust.append(blend.customers_.ids[c])
            item.append(blend.items_.ids[i])
            req.append(f"r{r}")
            t.append(t0 + np.timedelta64(600 * r, "s"))
            acc.append(rng.random() < (0.4 if like[i] else 0.01))
    return {"customer": np.asarray(cust, dtype=object), "item": np.asarray(item, dtype=object),
            "request_id": np.asarray(req), "time": np.asarray(t, dtype="datetime64[us]"),
            "accepted": np.asarray(acc), "propensity": np.full(len(acc), 0.95)}, like


def _scores(blend, customers, regime="new"):
    st = blend.state_
    one = blend._one()
    out = []
    for c in customers:
        X, _ = one.features(int(c), np.arange(st.n_items))
        out.append(blend._predict(X, regime, blend.stage_))
    return np.array(out)


def test_few_outcomes_leave_the_history_ranker(base, tmp_path):
    blend = _copy(base, tmp_path)
    before = _scores(blend, [0, 1, 2])
    data, _ = _outcomes(blend, requests=8)
    assert blend.update(data) is blend
    assert blend.stage_.info["new"]["status"] == "too few outcomes"
    assert not blend.stage_.boosters and blend.state_version is None
    np.testing.assert_array_equal(_scores(blend, [0, 1, 2]), before)
    blend.save(tmp_path / "again")  # nothing learned: an older upsell can read it
    meta = json.loads((tmp_path / "again" / "blend.json").read_text())
    assert meta["format_version"] == 1 and "stage" not in meta


@pytest.fixture(scope="module")
def learned(base, tmp_path_factory):
    blend = _copy(base, tmp_path_factory.mktemp("learned"))
    data, like = _outcomes(blend)
    blend.update(data)
    return blend, data, like


def test_the_stage_learns_what_customers_accept(base, learned):
    blend, _, like = learned
    st = blend.stage_
    assert st.info["new"]["status"] == "fitted", st.info
    assert "owned" not in st.boosters  # no list held an owned item
    assert st.info["new"]["valid_after"] < st.info["new"]["valid_before"]
    customers = np.flatnonzero(base.state_.cust["orders"] > 0)[:30]
    old, new = _scores(base, customers), _scores(blend, customers)
    # the liked items climb: their mean rank improves for the average customer
    rank_old = np.argsort(np.argsort(-old, axis=1), axis=1)
    rank_new = np.argsort(np.argsort(-new, axis=1), axis=1)
    assert rank_new[:, like].mean() < rank_old[:, like].mean() - 3
    # the owned regime is untouched
    np.testing.assert_array_equal(_scores(blend, customers[:3], "owned"),
                                  _scores(base, customers[:3], "owned"))


def test_update_is_idempotent_and_versioned(base, learned, tmp_path):
    blend, data, _ = learned
    other = _copy(base, tmp_path)
    other.update(data)
    other.update(data)  # the same log twice: the same stage
    assert other.state_version == blend.state_version and len(blend.state_version) == 8
    np.testing.assert_array_equal(_scores(other, [0, 3]), _scores(blend, [0, 3]))
    more, _ = _outcomes(base, seed=1)
    other.update(more)
    assert other.state_version != blend.state_version


def test_scores_and_contributions_add_up(learned):
    """Served score = base raw + stage correction; exact contributions sum to it."""
    blend, _, _ = learned
    st = blend.stage_
    X, _ = blend._one().features(0, np.arange(blend.state_.n_items))
    Xc = np.ascontiguousarray(X[:, blend.columns_], dtype=np.float64)
    served = blend._predict(X, "new", st)
    base_raw = blend.boosters_["new"].predict(Xc, raw_score=True)
    a, b = st.scale["new"]
    f = st.boosters["new"].predict(Xc, raw_score=True)
    np.testing.assert_allclose(served, base_raw + (b + f) / a, rtol=0, atol=1e-9)
    total = blend._forest("new").contributions(Xc) + stage_contributions(st, Xc, "new")
    np.testing.assert_allclose(total.sum(axis=1), served, rtol=0, atol=1e-6)
    lgb_stage = st.boosters["new"].predict(Xc, pred_contrib=True) / a
    lgb_stage[:, -1] += b / a
    np.testing.assert_allclose(stage_contributions(st, Xc, "new"), lgb_stage, atol=1e-6)


def test_a_request_sees_one_stage(learned, shop):
    """Scores and deferred reasons of a request come from the stage it started with."""
    blend, _, _ = learned
    bound = blend.bind(shop.catalog, ("a",))
    items = np.arange(len(shop.catalog.items), dtype=np.int32)[:25]
    req = BlendRequest(customer=blend.customers_.ids[0], customer_index=0,
                       basket=np.zeros(0, np.int32), owned=np.zeros(0, np.int32),
                       owned_time=np.zeros(0, "datetime64[s]"), at=np.datetime64("NaT", "s"),
                       segment=None, moment=None, channel="web", k=4)
    scores, reasons = bound.blend(req, items, np.full((25, 1), np.nan), ("a",))
    want = [reasons[j] for j in range(25)]
    kept = blend._stage
    try:
        s2, r2 = bound.blend(req, items, np.full((25, 1), np.nan), ("a",))
        blend._stage = None  # an update lands between the scores and the reasons
        assert [r2[j] for j in range(25)] == want
        s3, _ = bound.blend(req, items, np.full((25, 1), np.nan), ("a",))
        assert not np.array_equal(s3, scores)
    finally:
        blend._stage = kept
    np.testing.assert_array_equal(s2, scores)


def test_save_load_round_trip_and_old_format(learned, base, tmp_path):
    blend, _, _ = learned
    blend.save(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "blend.json").read_text())
    assert meta["format_version"] == 2 and set(meta["stage"]["scale"]) == {"new"}
    assert sorted(os.listdir(tmp_path / "b")) == ["blend.json", "ranker_new.txt",
                                                 "ranker_owned.txt", "stage_new.txt",
                                                 "state.npz"]
    back = LearnedBlend.load(tmp_path / "b")
    assert back.state_version == blend.state_version
    np.testing.assert_array_equal(_scores(back, [0, 5]), _scores(blend, [0, 5]))
    # format 1 (saved before stages existed) still loads, without a stage
    base.save(tmp_path / "old")
    meta_old = json.loads((tmp_path / "old" / "blend.json").read_text())
    assert meta_old["format_version"] == 1
    assert LearnedBlend.load(tmp_path / "old").stage_ is None


@pytest.mark.parametrize("tamper", ["scale", "regime", "file", "features", "version"])
def test_a_tampered_stage_is_refused(learned, tmp_path, tamper):
    blend, _, _ = learned
    folder = tmp_path / tamper
    blend.save(folder)
    meta_file = folder / "blend.json"
    meta = json.loads(meta_file.read_text())
    if tamper == "scale":
        meta["stage"]["scale"]["new"] = [0.0, 1.0]
    elif tamper == "regime":
        meta["stage"]["scale"]["../x"] = [1.0, 0.0]
    elif tamper == "file":
        (folder / "stage_new.txt").write_text("not a model")
    elif tamper == "features":
        text = (folder / "stage_new.txt").read_text()
        (folder / "stage_new.txt").write_text(text.replace("price_vs_usual", "price_vs_other"))
    else:
        meta["format_version"] = 3
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError):
        LearnedBlend.load(folder)


def test_refit_drops_the_stage(learned, shop):
    blend, _, _ = learned
    kept = (blend.boosters_, blend._stage)
    try:
        blend.fit(shop.transactions, catalog=shop.catalog, random_state=0)
        assert blend.stage_ is None and blend.state_version is None
    finally:
        blend.boosters_, blend._stage = kept
    assert blend.stage_ is not None


def test_rows_unknown_are_counted_and_bad_input_named(base, tmp_path):
    blend = _copy(base, tmp_path)
    data = {"customer": ["nobody", "", blend.customers_.ids[0]],
            "item": [blend.items_.ids[0], blend.items_.ids[1], "no-such-item"],
            "accepted": [True, False, False]}
    blend.update(data)
    assert blend.stage_.info["dropped"] == {"anonymous or unknown customer": 2,
                                            "item unknown to the blend": 1,
                                            "older than the newest 20,000 requests": 0}
    with pytest.raises(UpsellDataError, match="'accepted'"):
        blend.update({"customer": ["a"], "item": ["b"]})
    with pytest.raises(UpsellDataError, match="one value per row"):
        blend.update({"customer": ["a", "b"], "item": ["b", "c"], "accepted": [True]})
    with pytest.raises(UpsellDataError, match="booleans"):
        blend.update({"customer": ["a"], "item": ["b"], "accepted": ["yes"]})
    with pytest.raises(UpsellDataError, match="objective"):
        blend.update({"customer": ["a"], "item": ["b"], "accepted": [True]}, objective="x")
    with pytest.raises(UpsellDataError, match="weights"):
        blend.update({"customer": ["a"], "item": ["b"], "accepted": [True]}, weights="x")


def test_only_the_newest_requests(base, tmp_path, monkeypatch):
    import upsell.recommend._blend_update as bu

    data, _ = _outcomes(base, requests=30)
    monkeypatch.setattr(bu, "MAX_REQUESTS", 10)
    rows = bu.stage_rows(base, data, None)
    assert rows.y.size == 50 and rows.request.max() == 9
    newest = bu.stage_rows(base, {k: v[-50:] for k, v in data.items()}, None)
    np.testing.assert_array_equal(rows.X, newest.X)
    assert rows.dropped["older than the newest 10 requests"] == 100


def test_weights_and_lambdarank_fit_too(base, tmp_path):
    data, _ = _outcomes(base)
    for kw in ({"weights": "propensity"}, {"objective": "lambdarank"}):
        blend = _copy(base, tmp_path, name=str(sorted(kw.items())))
        blend.update(data, **kw)
        assert blend.stage_.info["new"]["status"] in ("fitted", "no gain")
        assert isinstance(blend.stage_, Stage)


def test_recommender_update_feeds_the_blend(base, shop, tmp_path):
    blend = _copy(base, tmp_path)
    from upsell.cf import Popular

    rec = Recommender(catalog=shop.catalog, history=shop.transactions, blend=blend,
                      cross_sell=[Popular().fit(shop.transactions)],
                      rules=[NotOwned(), InStock()], policy="shop").fit()
    log = OfferLog.in_memory()
    seen = {}

    def spy(outcomes, **kw):
        seen.update(outcomes)
        return LearnedBlend.learn(blend, outcomes, **kw)

    # Recommender.update learns the stage unpublished and publishes it with the policy version
    blend.learn = spy  # type: ignore[method-assign]
    for c in shop.transactions.customers.ids[:5]:
        ids = log.presented(rec.recommend(customer=c, k=3), customer=c)
        log.accepted(ids[0])
    rec.update(log)
    assert set(seen) >= set(LearnedBlend.outcome_columns)
    assert set(seen) <= set(LearnedBlend.outcome_columns) | {"time"}
    assert blend.stage_ is not None and blend.stage_.info["new"]["rows"] == 15


def test_the_policy_version_names_the_stage(base, shop, tmp_path):
    from upsell.cf import Popular

    blend = _copy(base, tmp_path)
    rec = Recommender(catalog=shop.catalog, history=shop.transactions, blend=blend,
                      cross_sell=[Popular().fit(shop.transactions)], policy="shop").fit()
    first = rec.policy_
    few, _ = _outcomes(base, requests=8)
    assert rec.update(few).policy_ == first  # nothing learned: the same policy
    many, _ = _outcomes(base)
    assert rec.update(many).policy_ != first
    assert blend.state_version is not None
