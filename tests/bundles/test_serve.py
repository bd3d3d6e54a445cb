"""BundleRecommender and suggest_bundles."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Catalog, Transactions
from upsell.bundles import BundleRecommender, association_rules, frequent_itemsets, suggest_bundles
from upsell.exceptions import ModelFileError, UpsellDataError


def _rules(seed=0, n=400, m=15, min_conf=0.1):
    rng = np.random.default_rng(seed)
    pop = rng.dirichlet(np.full(m, 0.5))
    order, item = [], []
    for b in range(n):
        for i in set(rng.choice(m, size=int(rng.integers(1, 6)), p=pop).tolist()):
            order.append(b)
            item.append(f"i{i:02d}")
    tx = Transactions.from_arrays(order=order, item=item)
    fi = frequent_itemsets(tx, min_support=4)
    return fi, association_rules(fi, min_confidence=min_conf, consequent_len=2)


FI, RULES = _rules()
REC = BundleRecommender(RULES, metric="lift")
IDS = RULES.items.ids.tolist()


def _naive(rules, basket, k, exclude, metric):
    best = {}
    score = getattr(rules, metric)
    for r in range(len(rules)):
        if set(rules.antecedent(r)) <= set(basket):
            for it in rules.consequent(r):
                if it in basket or it in exclude:
                    continue
                if it not in best or score[r] > best[it]:
                    best[it] = score[r]
    return sorted(best.items(), key=lambda e: (-e[1], IDS.index(e[0])))[:k]


@settings(max_examples=60, deadline=None)
@given(basket=st.lists(st.sampled_from(IDS), max_size=6), exclude=st.lists(st.sampled_from(IDS),
       max_size=3), k=st.integers(1, 8), metric=st.sampled_from(["lift", "confidence", "jaccard"]))
def test_recommend_matches_a_scan_of_all_rules(basket, exclude, k, metric):
    rec = REC if metric == "lift" else BundleRecommender(RULES, metric=metric)
    out = rec.recommend(basket=[*basket, "unknown-item"], k=k, exclude=exclude)
    assert len(out) <= k
    assert not set(out.items.tolist()) & (set(basket) | set(exclude))
    assert len(set(out.items.tolist())) == len(out)
    assert (np.diff(out.scores) <= 0).all()
    want = _naive(RULES, basket, k, exclude, metric)
    assert [(i, round(s, 9)) for i, s in zip(out.items.tolist(), out.scores.tolist(), strict=True)
            ] == [(i, round(float(s), 9)) for i, s in want]
    for item, r, ante in zip(out.items.tolist(), out.rules.tolist(), out.antecedents, strict=True):
        assert set(ante) <= set(basket) and item in RULES.consequent(r)
        assert RULES.antecedent(r) == ante


def test_save_load_round_trip(tmp_path):
    path = tmp_path / "fbt.npz"
    REC.save(path)
    back = BundleRecommender.load(path)
    assert back.get_params() == REC.get_params()
    for basket in (IDS[:1], IDS[2:5], IDS[::3]):
        a, b = REC.recommend(basket, k=5), back.recommend(basket, k=5)
        assert a.items.tolist() == b.items.tolist() and np.array_equal(a.scores, b.scores)
        assert a.antecedents == b.antecedents
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelFileError):
        BundleRecommender.load(path)


def test_threads_share_one_recommender():
    baskets = [IDS[i:i + 3] for i in range(len(IDS) - 3)]
    want = [REC.recommend(b, k=4).items.tolist() for b in baskets]
    errors = []

    def work():
        for _ in range(20):
            if [REC.recommend(b, k=4).items.tolist() for b in baskets] != want:
                errors.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_bad_arguments():
    with pytest.raises(UpsellDataError, match="`metric`"):
        BundleRecommender(RULES, metric="p_value")
    with pytest.raises(UpsellDataError, match="`rules`"):
        BundleRecommender(FI)
    with pytest.raises(UpsellDataError, match="`k`"):
        REC.recommend(IDS[:2], k=0)


def test_suggest_bundles_ranks_by_lift_and_revenue():
    prices = {i: float(n + 1) for n, i in enumerate(IDS)}
    cat = Catalog.from_arrays(item=list(prices), price=list(prices.values()))
    b = suggest_bundles(FI, cat, k=50)
    assert 0 < len(b) <= 50
    assert (np.diff(b.lift) <= 1e-12).all() and (b.lift >= 1).all()
    n = FI.n_baskets
    for items, cnt, lift, price in zip(b.items, b.count, b.lift, b.list_price, strict=True):
        assert 2 <= len(items) <= 3
        assert price == sum(prices[i] for i in items)
        single = dict(zip(FI.tuples(), FI.counts.tolist(), strict=True))
        assert np.isclose(lift, (cnt / n) / np.prod([single[(i,)] / n for i in items]))
    assert np.allclose(b.joint_revenue, b.count * b.list_price)
    by_rev = suggest_bundles(FI, cat, k=10, rank_by="revenue", sizes=(2,))
    assert (np.diff(by_rev.joint_revenue) <= 0).all()
    assert all(len(i) == 2 for i in by_rev.items)
    assert by_rev.to_pandas().shape == (len(by_rev), 6)


# ---------------------------------------------------------------- compact index (issue 17)
def _write(path, arrays, meta=None, params=None):
    from upsell.persist import write_model

    write_model(path, kind="BundleRecommender", params=params or {"metric": "lift"},
                arrays=arrays, meta=meta if meta is not None else {"n_rules": len(RULES)})


def _saved_arrays(tmp_path):
    from upsell.persist import read_model

    path = tmp_path / "ok.npz"
    REC.save(path)
    doc, arrays = read_model(path, kind="BundleRecommender")
    return doc, {k: np.array(v) for k, v in arrays.items()}


@pytest.mark.parametrize(("member", "change", "match"), [
    ("entry_item", lambda a: a.__setitem__(0, 10_000), "entry_item"),
    ("entry_score", lambda a: a.__setitem__(0, np.nan), "entry_score"),
    ("entry_rule", lambda a: a.__setitem__(0, -1), "entry_rule"),
    ("node_item", lambda a: a.__setitem__(slice(0, 2), a[1::-1].copy()), "node_item"),
    ("node_parent", lambda a: a.__setitem__(-1, 10**6), "node_parent"),
    ("node_ptr", lambda a: a.__setitem__(-1, a[-1] + 5), "node_ptr"),
    ("level_ptr", lambda a: a.__setitem__(-1, a[-1] - 1), "level_ptr"),
])
def test_load_rejects_inconsistent_index(tmp_path, member, change, match):
    doc, arrays = _saved_arrays(tmp_path)
    change(arrays[member])
    path = tmp_path / "bad.npz"
    _write(path, arrays, meta=doc["meta"], params=doc["params"])
    with pytest.raises(ModelFileError, match=match) as err:
        BundleRecommender.load(path)
    assert "bad.npz" in str(err.value)


def test_load_rejects_missing_member_and_bad_metadata(tmp_path):
    doc, arrays = _saved_arrays(tmp_path)
    path = tmp_path / "bad.npz"
    _write(path, {k: v for k, v in arrays.items() if k != "entry_rule"}, meta=doc["meta"])
    with pytest.raises(ModelFileError, match=r"'entry_rule'.*missing"):
        BundleRecommender.load(path)
    _write(path, {**arrays, "entry_score": arrays["entry_score"].reshape(1, -1)},
           meta=doc["meta"])
    with pytest.raises(ModelFileError, match="entry_score"):
        BundleRecommender.load(path)
    _write(path, arrays, meta={**doc["meta"], "n_rules": "many"})
    with pytest.raises(ModelFileError, match="n_rules"):
        BundleRecommender.load(path)


def test_old_files_holding_the_rules_still_load(tmp_path):
    from upsell.persist import index_arrays

    path = tmp_path / "old.npz"
    score = RULES.lift
    _write(path, {"antecedent_indptr": RULES.antecedent_indptr,
                  "antecedent_index": RULES.antecedent_index,
                  "consequent_indptr": RULES.consequent_indptr,
                  "consequent_index": RULES.consequent_index,
                  "score": np.where(np.isnan(score), -np.inf, score),
                  **index_arrays(RULES.items, "items")}, meta={})
    old = BundleRecommender.load(path)
    for basket in (IDS[:1], IDS[2:5], IDS[::3]):
        a, b = REC.recommend(basket, k=6), old.recommend(basket, k=6)
        assert a.items.tolist() == b.items.tolist() and np.array_equal(a.scores, b.scores)


@settings(max_examples=30, deadline=None)
@given(basket=st.lists(st.sampled_from(IDS), min_size=1, max_size=6),
       budget=st.integers(1, 60), per=st.one_of(st.none(), st.integers(1, 4)))
def test_budget_bounds_the_index_and_results_stay_true(basket, budget, per):
    rec = BundleRecommender(RULES, max_entries=budget, max_consequents=per)
    assert rec.n_entries_ <= budget
    out = rec.recommend(basket, k=5)
    assert not set(out.items.tolist()) & set(basket)
    assert (np.diff(out.scores) <= 0).all()
    for item, score, r, ante in zip(out.items.tolist(), out.scores.tolist(), out.rules.tolist(),
                                    out.antecedents, strict=True):
        assert RULES.antecedent(r) == ante and set(ante) <= set(basket)
        assert item in RULES.consequent(r) and score == RULES.lift[r]
    # the full index's best item is kept when every antecedent keeps its best entry
    full = REC.recommend(basket, k=1)
    if per is None and budget >= REC.n_entries_:
        assert out.items[:1].tolist() == full.items.tolist()


def test_redundant_entries_are_dropped_without_changing_results():
    rec = BundleRecommender(RULES, metric="confidence")
    n_expanded = int(np.diff(RULES.consequent_indptr).sum())
    assert rec.n_entries_ < n_expanded and rec.n_dropped_ == 0
    assert "entries=" in repr(rec)
    with pytest.raises(UpsellDataError, match="`max_entries`"):
        BundleRecommender(RULES, max_entries=0)


def test_no_rules_gives_an_empty_index_that_round_trips(tmp_path):
    tx = Transactions.from_arrays(order=[1, 2, 3], item=["a", "b", "c"])
    rules = association_rules(frequent_itemsets(tx, min_support=1), min_confidence=0.5)
    rec = BundleRecommender(rules)
    assert len(rules) == 0 and len(rec.recommend(["a"])) == 0
    rec.save(tmp_path / "empty.npz")
    back = BundleRecommender.load(tmp_path / "empty.npz")
    assert back.n_entries_ == 0 and len(back.recommend(["a", "b"], k=3)) == 0


@settings(max_examples=40, deadline=None)
@given(baskets=st.lists(st.lists(st.sampled_from([*IDS, "unknown-item"]), max_size=5),
                        max_size=6),
       exclude=st.lists(st.sampled_from(IDS), max_size=3), k=st.integers(1, 8))
def test_baskets_plural_is_the_singular_call_per_basket(baskets, exclude, k):
    recs = REC.recommend(baskets=baskets, k=k, exclude=exclude or None)
    assert recs.request_kind == "basket" and recs.requests.tolist() == list(range(len(baskets)))
    assert recs.reasons is not None and len(recs.reasons) == recs.item_index.size
    for r, basket in enumerate(baskets):
        one = REC.recommend(basket, k=k, exclude=exclude or None)
        assert recs.lists()[r] == one.items.tolist() == one.lists()[0]
        np.testing.assert_array_equal(recs.request_scores(r), one.scores.astype(np.float32))
        assert recs.reasons_for(r) == one.reasons


def test_basket_recommendation_reads_like_the_family():
    basket = IDS[:3]
    one = REC.recommend(basket, k=4)
    assert len(one) and one.lists() == [one.items.tolist()]
    assert one.reasons == tuple("bought with " + (" and ".join(a) if len(a) <= 2
                                                  else f"{a[0]}, {a[1]} and {a[2]}")
                                for a in one.antecedents)
    assert one.to_pandas().columns.tolist() == ["item", "score", "because"]
    assert "BasketRecommendation" in one._repr_html_()
    df = REC.recommend(baskets=[basket], k=4).to_pandas()
    assert df.columns.tolist() == ["basket", "item", "score", "rank", "reason"]
    assert df["reason"].tolist() == list(one.reasons)


def test_customers_and_request_kind_errors_name_the_argument():
    from upsell.exceptions import UpsellValueError

    with pytest.raises(UpsellValueError, match=r"`customers`.*pass baskets="):
        REC.recommend(customers=["c1"])
    with pytest.raises(UpsellValueError, match="exactly one"):
        REC.recommend()
    with pytest.raises(UpsellValueError, match="exactly one"):
        REC.recommend(IDS[:1], baskets=[IDS[:1]])
    with pytest.raises(UpsellDataError, match="position 0"):
        REC.recommend(baskets=IDS[:2])
    with pytest.raises(UpsellDataError, match="`baskets`"):
        REC.recommend(baskets="abc")
