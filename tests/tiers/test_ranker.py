"""UpsellRanker: constraints (hypothesis), determinism, save/load, API habits, make_shop evidence."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from upsell import Catalog, Transactions
from upsell.datasets import make_shop
from upsell.exceptions import ModelFileError, NotFittedError, UnknownIdError, UpsellDataError
from upsell.tiers import UpsellRanker, Upsells


# ---------------------------------------------------------------------- random shops
@st.composite
def shops(draw):
    """A small random catalog (families, tiers some missing, duds, stock-outs) and history."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    n_fam = draw(st.integers(1, 3))
    rows = []
    for f in range(n_fam):
        n = int(rng.integers(1, 5))
        price = np.sort(rng.uniform(10, 100, n)) * np.cumprod(rng.uniform(1.0, 1.6, n))
        storage = 32.0 * 2.0 ** np.arange(n)
        if n >= 2 and rng.random() < 0.4:
            storage[-1] = storage[-2]                 # a dearer tier that adds nothing
        no_tiers = rng.random() < 0.3
        for t in range(n):
            rows.append({
                "item": f"f{f}t{t}", "family": f"F{f}", "category": "c" if f < 2 else "d",
                "tier": np.nan if no_tiers else t + 1, "price": round(float(price[t]), 2),
                "cost": round(float(price[t] * rng.uniform(0.4, 0.9)), 2),
                "stock": float(rng.choice([0.0, 5.0, 50.0], p=[0.2, 0.3, 0.5])),
                "storage_gb": storage[t]})
    rows.append({"item": "plan", "kind": "subscription", "attaches_to": "c", "price": 9.0,
                 "cost": 1.0, "tier": np.nan, "stock": np.nan, "storage_gb": np.nan})
    cat = Catalog.from_records(rows)
    ladder = [r["item"] for r in rows if r["item"] != "plan"]
    n_lines = int(rng.integers(5, 60))
    cust = rng.integers(0, 8, n_lines)
    item = rng.choice([*ladder, "plan"], n_lines)
    day = rng.integers(0, 300, n_lines)
    tx = Transactions.from_arrays(
        order=np.arange(n_lines), item=item.tolist(), customer=[f"u{c}" for c in cust],
        time=(np.datetime64("2024-01-01") + day.astype("timedelta64[D]")).astype(str))
    return cat, tx


def _check_offers(up: UpsellRanker, cat: Catalog, offers: Upsells, jump: float) -> None:
    lad = up.ladders_
    items = cat.items
    assert len(offers) <= 3 and len(set(offers.item.tolist())) == len(offers)
    assert np.all(np.diff(offers.scores) <= 1e-12)
    for j in range(len(offers)):
        b, t = items.index(offers.base[j]), items.index(offers.item[j])
        kind = offers.kind[j]
        assert cat.in_stock[t], "out-of-stock item offered"
        assert offers.price_ratio[j] <= jump + 1e-12, "price jump exceeded"
        if kind in ("upgrade", "alternative"):
            assert lad.tier[t] > lad.tier[b], "lower or equal tier offered"
            assert cat.price[t] / cat.price[b] <= jump + 1e-12
            assert offers.value_gained[j] > 0, "no added value"
            fb, ft = cat.features["storage_gb"][b], cat.features["storage_gb"][t]
            assert ft > fb
        if kind == "upgrade":
            assert lad.family[t] == lad.family[b]
        if kind == "alternative":
            assert lad.family[t] != lad.family[b]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shops(), st.sampled_from(["margin", "revenue", "probability"]),
       st.sampled_from([1.2, 1.5, 2.5]))
def test_never_offers_lower_tier_out_of_stock_too_dear_or_valueless(shop, objective, jump):
    cat, tx = shop
    segs = {f"u{i}": ("a" if i % 2 else "b") for i in range(8)}
    pj = {"a": jump, "default": min(jump * 1.3, 3.0)}
    up = UpsellRanker(objective=objective, price_jump=pj).fit(tx, cat, segments=segs)
    for item in cat.items.ids.tolist():
        for customer in (None, "u1", "u2", "stranger"):
            offers = up.rank(item=item, customer=customer, k=3)
            known_a = customer == "u1" and "u1" in tx.customers
            limit = jump if known_a else pj["default"]
            _check_offers(up, cat, offers, limit)
            again = up.rank(item=item, customer=customer, k=3)
            assert offers.item.tolist() == again.item.tolist()
            np.testing.assert_array_equal(offers.scores, again.scores)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shop=shops())
def test_fit_is_deterministic_and_save_load_round_trips(shop, tmp_path_factory):
    cat, tx = shop
    a = UpsellRanker(objective="revenue").fit(tx, cat)
    b = UpsellRanker(objective="revenue").fit(tx, cat)
    path = tmp_path_factory.mktemp("m") / "up.npz"
    a.save(path)
    c = UpsellRanker.load(path)
    assert c.get_params() == a.get_params()
    for item in cat.items.ids.tolist():
        ra, rb, rc = (m.rank(item=item, customer="u1") for m in (a, b, c))
        assert ra.item.tolist() == rb.item.tolist() == rc.item.tolist()
        np.testing.assert_array_equal(ra.scores, rc.scores)
        assert ra.cue.tolist() == rc.cue.tolist()
    np.testing.assert_array_equal(a.customer_propensity(), c.customer_propensity())


# ---------------------------------------------------------------------- API habits
def _tiny() -> tuple[Transactions, Catalog]:
    cat = Catalog.from_records([
        {"item": "s", "name": "Small", "family": "f", "tier": 1, "price": 100.0, "cost": 70.0,
         "storage_gb": 64},
        {"item": "m", "name": "Medium", "family": "f", "tier": 2, "price": 140.0, "cost": 90.0,
         "storage_gb": 128},
        {"item": "l", "name": "Large", "family": "f", "tier": 3, "price": 190.0, "cost": 120.0,
         "storage_gb": 128},                                   # adds nothing over m
    ])
    tx = Transactions.from_arrays(
        order=[1, 2, 3, 4, 5], item=["s", "m", "s", "s", "m"],
        customer=["a", "a", "b", "b", "c"],
        time=["2024-01-01", "2024-03-01", "2024-01-05", "2024-04-01", "2024-02-01"])
    return tx, cat


def test_not_fitted_params_repr_and_validation():
    up = UpsellRanker(objective="revenue", price_jump=1.5)
    with pytest.raises(NotFittedError):
        up.rank(item="s")
    assert up.get_params()["price_jump"] == 1.5
    assert repr(up) == "UpsellRanker(objective='revenue', price_jump=1.5)"
    tx, cat = _tiny()
    with pytest.raises(UpsellDataError, match="`objective` must be one of"):
        UpsellRanker(objective="profit").fit(tx, cat)
    with pytest.raises(UpsellDataError, match=r"`price_jump` must be a number >= 1; got 0\.5"):
        UpsellRanker(price_jump=0.5).fit(tx, cat)
    with pytest.raises(UpsellDataError, match="kinds"):
        UpsellRanker(kinds=("upgrade", "teleport")).fit(tx, cat)
    with pytest.raises(UpsellDataError, match="segments"):
        UpsellRanker().fit(tx, cat, segments=["x"])


def test_dud_tier_never_offered_and_cue_reads_well():
    tx, cat = _tiny()
    up = UpsellRanker(price_jump=1.5).fit(tx, cat)
    offers = up.rank(item="s", k=5)
    assert offers.item.tolist() == ["m"]                       # l: 1.9 times the price of s
    assert len(up.rank(item="m", k=5)) == 0                    # l adds nothing over m
    wider = UpsellRanker(price_jump=2.0).fit(tx, cat).rank(item="s", k=5)
    assert sorted(wider.item.tolist()) == ["l", "m"]           # but l adds value over s
    assert offers.cue[0].startswith("Upgrade to Medium for 40.00 more (+40%): twice the storage")
    rec = offers.records()[0]
    assert rec["price_diff"] == pytest.approx(40.0)
    assert rec["margin_gain"] == pytest.approx(20.0)
    assert 0 < rec["probability"] < 1
    assert offers.to_pandas().shape == (1, 11)


def test_owned_items_excluded_unknown_customers_work_and_segments_forms():
    tx, cat = _tiny()
    up = UpsellRanker(price_jump=1.5).fit(tx, cat, segments={"a": "premium", "b": "thrifty"})
    assert len(up.rank(item="s", customer="a")) == 0           # a owns m already
    assert up.rank(item="s", customer="nobody").item.tolist() == ["m"]
    assert up.rank(item="s", customer="nobody", segment="premium").item.tolist() == ["m"]
    assert up.rank(customer="b").item.tolist() == ["m"]        # from what b owns
    with pytest.raises(UnknownIdError):
        up.rank(item="zz")
    with pytest.raises(UpsellDataError, match="not both"):
        up.rank(item="s", basket=["s"])
    with pytest.raises(UpsellDataError, match="known at fit"):
        up.rank(customer="nobody")

    class Seg:
        def predict(self, *, customers):
            return np.array(["x"] * len(customers))

    labels = UpsellRanker().fit(tx, cat, segments=Seg()).segments_
    assert labels.tolist() == ["x"]
    arr = UpsellRanker().fit(tx, cat, segments=np.array(["p", "q", "p"])).segments_
    assert arr.tolist() == ["p", "q"]


def test_per_segment_price_jump():
    tx, cat = _tiny()
    up = UpsellRanker(price_jump={"thrifty": 1.2, "default": 1.5}).fit(
        tx, cat, segments={"a": "premium", "b": "thrifty", "c": "premium"})
    assert up.rank(item="s", customer="b").item.tolist() == []      # 1.4 > 1.2
    assert up.rank(item="s", customer="c", exclude_owned=False).item.tolist() == ["m"]


def test_read_only_and_thread_safe():
    shop = make_shop(n_customers=200, n_items=80, n_orders=2000, random_state=1)
    up = UpsellRanker().fit(shop.transactions, shop.catalog)
    with pytest.raises(ValueError):
        up._a["cand_edge_term"][0] = 1.0
    items = shop.catalog.items.ids[:40].tolist()
    custs = shop.transactions.customers.ids[:40].tolist()
    serial = [up.rank(item=i, customer=c).item.tolist() for i, c in zip(items, custs, strict=True)]
    out: dict[int, list] = {}

    def work(t: int) -> None:
        out[t] = [up.rank(item=i, customer=c).item.tolist() for i, c in zip(items, custs, strict=True)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(v == serial for v in out.values())


def test_load_refuses_other_files_and_missing_affinity(tmp_path):
    tx, cat = _tiny()

    class Aff:
        def score(self, customer, items):
            return np.ones(len(items))

    up = UpsellRanker(affinity=Aff(), price_jump=1.5).fit(tx, cat)
    up.save(tmp_path / "a.npz")
    with pytest.raises(ModelFileError, match="affinity"):
        UpsellRanker.load(tmp_path / "a.npz")
    assert UpsellRanker.load(tmp_path / "a.npz", affinity=Aff()).rank(item="s").item.size == 1


# ---------------------------------------------------------------------- make_shop evidence
@pytest.fixture(scope="module")
def big_shop():
    return make_shop(n_customers=2000, n_items=300, n_orders=40_000, random_state=0)


def test_recovers_true_propensity_ordering(big_shop):
    shop = big_shop
    tr = shop.truth
    up = UpsellRanker().fit(shop.transactions, shop.catalog)
    p = up.customer_propensity()
    chances = np.asarray(up._a["cust_chances"])
    # the unit: customers with at least one observed upgrade chance (see docs/tiers.md)
    seen = chances >= 1
    assert spearmanr(p[seen], tr.p_upgrade[seen])[0] >= 0.75
    dec = np.digitize(tr.p_upgrade, np.quantile(tr.p_upgrade, np.linspace(0, 1, 11)[1:-1]))
    by_decile = [p[dec == d].mean() for d in range(10)]
    assert spearmanr(by_decile, np.arange(10))[0] >= 0.95
    with_segments = UpsellRanker().fit(shop.transactions, shop.catalog, segments=tr.persona)
    p2 = with_segments.customer_propensity()
    assert spearmanr(p2[seen], tr.p_upgrade[seen])[0] >= 0.8
    rel = up.reliability(n_bins=10)
    assert rel.ece < 0.06


def test_beats_rule_baselines_on_held_out_upgrades(big_shop):
    tx, cat = big_shop.transactions, big_shop.catalog
    at = tx.time.min() + (tx.time.max() - tx.time.min()) * 0.75
    train, test = tx.split_at(at)
    up = UpsellRanker(objective="probability", kinds=("upgrade", "alternative")).fit(train, cat)
    a, lad = up._a, up.ladders_
    imap = cat.items.encode(tx.items.ids, unknown="mask")
    pop = np.bincount(imap[train.item], minlength=len(cat))
    bought: dict[int, set] = {}
    for c, i in zip(test.customer.tolist(), imap[test.item].tolist(), strict=True):
        if c >= 0:
            bought.setdefault(c, set()).add(i)
    hits = np.zeros(3)
    n = 0
    for c, got in bought.items():
        bases = a["base_item"][a["base_ptr"][c]:a["base_ptr"][c + 1]].tolist()
        owned = set(a["own_item"][a["own_ptr"][c]:a["own_ptr"][c + 1]].tolist())
        higher, nxt = set(), set()
        for b in bases:
            s0, s1 = lad.indptr[b], lad.indptr[b + 1]
            tg, kd = lad.target[s0:s1], lad.kind[s0:s1]
            higher.update(tg[(kd == 0) | (kd == 3)].tolist())
            ups = tg[kd == 0]
            if ups.size:
                low = ups[lad.tier[ups] == lad.tier[ups].min()]
                nxt.add(int(low[np.argmin(cat.price[low])]))
        relevant = (got & higher) - owned
        if not relevant:
            continue
        n += 1
        ours = set(cat.items.encode(up.rank(customer=tx.customers.ids[c], k=3).item).tolist())
        cand = sorted(x for x in higher - owned if cat.in_stock[x])
        nt = sorted((x for x in nxt - owned if cat.in_stock[x]), key=lambda x: (cat.price[x], x))
        popular = sorted(cand, key=lambda x: (-pop[x], x))
        hits += [bool(ours & relevant), bool(set(nt[:3]) & relevant),
                 bool(set(popular[:3]) & relevant)]
    hit = hits / n
    assert n > 200
    assert hit[0] > hit[1] and hit[0] > hit[2]


# ---------------------------------------------------------------------- scale: shares, memory
def _naive_shares(lc, li, lt, seg, e_src, e_tgt, n_seg):
    """Per edge (b -> t): customers who came back after buying b (had) and chose t (took)."""
    n_e = e_src.size
    took, had = np.zeros(n_e), np.zeros(n_e)
    took_s, had_s = np.zeros((n_seg, n_e)), np.zeros((n_seg, n_e))
    for c in np.unique(lc).tolist():
        mine = lc == c
        first = {i: lt[mine & (li == i)].min() for i in np.unique(li[mine]).tolist()}
        last = {i: lt[mine & (li == i)].max() for i in first}
        for b in first:
            es = np.flatnonzero(e_src == b)
            if not es.size:
                continue
            t_took = [last.get(int(e_tgt[e]), -1) > first[b] for e in es]
            came_back = any(t_took) or last[b] > first[b]
            for e, tk in zip(es.tolist(), t_took, strict=True):
                took[e] += tk
                had[e] += came_back
                if seg[c] >= 0:
                    took_s[seg[c], e] += tk
                    had_s[seg[c], e] += came_back
    return took, had, took_s, had_s


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 7))
def test_offer_shares_chunked_match_naive_twin(seed, chunk):
    from upsell.tiers._fit import _offer_shares, _pair_table

    rng = np.random.default_rng(seed)
    n_items, n_cust, n_seg = 6, 5, 2
    n = int(rng.integers(1, 40))
    lc, li, lt = (rng.integers(0, n_cust, n), rng.integers(0, n_items, n),
                  rng.integers(0, 10, n))
    seg = rng.integers(-1, n_seg, n_cust)
    e_src = np.sort(rng.integers(0, n_items, int(rng.integers(0, 12))))
    e_tgt = rng.integers(0, n_items, e_src.size)
    e_indptr = np.r_[0, np.cumsum(np.bincount(e_src, minlength=n_items))]
    got = _offer_shares(*_pair_table(lc, li, lt, n_items), seg, e_indptr, e_tgt, n_items,
                        n_seg, chunk)
    for g, w in zip(got, _naive_shares(lc, li, lt, seg, e_src, e_tgt, n_seg), strict=True):
        np.testing.assert_array_equal(g, w)


def test_memory_estimate_raises_naming_the_parameter():
    from upsell.exceptions import UpsellMemoryError

    shop = make_shop(n_customers=200, n_items=80, n_orders=2000, random_state=1)
    with pytest.raises(UpsellMemoryError, match=r"`max_memory_gb`=0\.0001"):
        UpsellRanker(max_memory_gb=1e-4).fit(shop.transactions, shop.catalog)
    wide = make_shop(n_customers=500, n_items=2000, n_orders=3000, random_state=1)
    many = wide.transactions.customers.ids        # one segment per customer
    with pytest.raises(UpsellMemoryError, match="fewer segment labels"):
        UpsellRanker(max_memory_gb=0.05).fit(wide.transactions, wide.catalog, segments=many)
    with pytest.raises(UpsellDataError, match="max_memory_gb"):
        UpsellRanker(max_memory_gb=0).fit(shop.transactions, shop.catalog)


# ---------------------------------------------------------------------- CF affinity
def test_cf_affinity_scores_candidates_through_the_model_api():
    from upsell.cf import EASE, ItemKNN
    from upsell.tiers import AffinityScorer, CFAffinity

    shop = make_shop(n_customers=300, n_items=80, n_orders=3000, random_state=2)
    tx, cat = shop.transactions, shop.catalog
    for model in (ItemKNN().fit(tx), EASE().fit(tx)):
        aff = CFAffinity(model)
        assert isinstance(aff, AffinityScorer)
        cid = tx.customers.ids[3]
        items = cat.items.ids[[5, 1, 40, 5]]
        s = aff.score(cid, items)
        assert s.shape == (4,) and s[0] == s[3]
        rec = model.recommend(customers=cid, k=len(model.items_), exclude_owned=False)
        full = dict(zip(rec.to_pandas()["item"], rec.to_pandas()["score"], strict=True))
        np.testing.assert_allclose(s, [full.get(i, 0.0) for i in items], rtol=1e-6)
        np.testing.assert_array_equal(aff.score("nobody", items), np.zeros(4))
        np.testing.assert_array_equal(aff.score(cid, np.array(["no-such-item"])), [0.0])
    up = UpsellRanker(affinity=CFAffinity(ItemKNN().fit(tx))).fit(tx, cat)
    assert "cf_affinity" in up.coef_
    assert len(up.rank(customer=tx.customers.ids[0])) <= 3
    with pytest.raises(NotFittedError):
        CFAffinity(ItemKNN())
    with pytest.raises(UpsellDataError, match="recommend"):
        CFAffinity(object())


def test_a_catalog_sharing_no_item_with_the_orders_is_refused() -> None:
    from upsell import Catalog, Transactions
    from upsell.exceptions import UpsellDataError
    from upsell.tiers import UpsellRanker

    cat = Catalog.from_records([
        {"item": "s", "family": "f", "tier": 1, "price": 100.0, "cost": 80.0},
        {"item": "l", "family": "f", "tier": 2, "price": 150.0, "cost": 90.0}])
    tx = Transactions.from_arrays(order=[1, 2, 3], item=["x", "y", "x"],
                                  customer=["a", "a", "b"],
                                  time=["2024-01-01", "2024-02-01", "2024-01-05"])
    with pytest.raises(UpsellDataError, match=r"`tx` and `catalog` share no item.*'s'.*'x'"):
        UpsellRanker().fit(tx, cat)
    half = Transactions.from_arrays(order=[1, 2, 3, 4], item=["s", "l", "x", "s"],
                                    customer=["a", "a", "b", "b"],
                                    time=["2024-01-01", "2024-02-01", "2024-01-05",
                                          "2024-01-06"])
    assert UpsellRanker().fit(half, cat).catalog_coverage_ == 0.75


def test_rank_takes_ids_as_a_web_request_sends_them() -> None:
    from upsell import Catalog, Transactions
    from upsell.tiers import UpsellRanker

    cat = Catalog.from_records([
        {"item": 101, "family": "f", "tier": 1, "price": 100.0, "cost": 80.0},
        {"item": 102, "family": "f", "tier": 2, "price": 150.0, "cost": 90.0}])
    tx = Transactions.from_arrays(order=[1, 2, 3, 4], item=[101, 102, 101, 101],
                                  customer=[17850, 17850, 12347, 12347],
                                  time=["2024-01-01", "2024-02-01", "2024-01-05",
                                        "2024-03-01"])
    up = UpsellRanker().fit(tx, cat)
    want = up.rank(customer=12347, k=3)
    assert want.item.tolist() == [102]
    for spelling in ("12347", " 12347 ", "12347.0", 12347.0):
        got = up.rank(customer=spelling, k=3)
        assert got.item.tolist() == want.item.tolist() and np.allclose(got.scores, want.scores)
    assert up.rank(item="101", k=3).item.tolist() == up.rank(item=101, k=3).item.tolist()
    assert up.customer_propensity(["12347"]).tolist() == up.customer_propensity([12347]).tolist()


def test_cues_never_claim_that_nobody_chose_it() -> None:
    from upsell.datasets import make_shop
    from upsell.tiers import UpsellRanker

    shop = make_shop(n_customers=300, n_items=90, n_orders=1500, random_state=4)
    up = UpsellRanker().fit(shop.transactions, shop.catalog)
    cues = [c for cust in shop.transactions.customers.ids[:150].tolist()
            for c in up.rank(customer=cust, k=5).cue.tolist()]
    assert cues
    assert not [c for c in cues if " 0% of" in c or c.startswith("0% of")]
