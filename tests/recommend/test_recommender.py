"""Contract, property and brute-force tests of Recommender.recommend."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.exceptions import UpsellDataError
from upsell.recommend import (
    Candidate,
    CueTemplates,
    Diversity,
    Exclude,
    FrequencyCap,
    InStock,
    MomentPolicy,
    NotOwned,
    OfferList,
    OfferLog,
    Promote,
    Recommender,
    Where,
)

from .conftest import AT, build

MOMENTS = (None, "product_page", "cart", "checkout", "post_purchase")


def check_offers(rec: Recommender, offers: OfferList, *, k: int, customer: Any, basket: list[Any],
                 moment: str | None, exclude: tuple[Any, ...] = (), where: Any = None) -> None:
    cat = rec.catalog
    assert isinstance(offers, OfferList)
    assert len(offers) <= k
    items = [o.item for o in offers]
    assert len(set(items)) == len(items)
    scores = [o.score for o in offers]
    assert all(a >= b for a, b in itertools.pairwise(scores)), scores
    owned = set(rec.history_.owned(customer)[0]) if rec.history_ is not None else set()
    policy = rec.moments_
    fam: Counter[str] = Counter()
    catg: Counter[str] = Counter()
    promoted = 0
    for o in offers:
        i = cat.items.index(o.item)
        assert o.item not in basket
        assert o.item not in exclude
        if o.item in owned:
            assert str(cat.kind[i]) == "value_pack"
        s = cat.stock[i]
        assert math.isnan(s) or s >= 1
        if moment is not None:
            assert policy[moment].allows(o.kind, str(cat.kind[i]))
        assert o.reason.summary and o.reason.rules and o.cue
        assert o.kind in ("cross_sell", "upsell")
        assert math.isclose(o.score, sum(o.components.values()), rel_tol=1e-9, abs_tol=1e-9)
        if cat.family[i]:
            fam[str(cat.family[i])] += 1
        if cat.category[i]:
            catg[str(cat.category[i])] += 1
        promoted += any(r == "promote" and "promoted slot" in e for r, e in o.reason.rules)
        if where is not None:
            assert where["price"][0] <= cat.price[i] <= where["price"][1]
    assert max(fam.values(), default=0) <= 1
    assert max(catg.values(), default=0) <= 3
    assert promoted <= 1


def test_contract_over_customers_moments_channels(parts: Any, rec: Recommender) -> None:
    tx = parts.tx
    customers = [*tx.customers.ids[:25].tolist(), None, "never-seen"]
    n_offers = 0
    for j, cust in enumerate(customers):
        owned = rec.history_.owned(cust)[0] if cust is not None else ()
        basket = list(owned[:1]) if j % 2 else [parts.cat.items.ids[j].item()]
        moment = MOMENTS[j % len(MOMENTS)]
        channel = ("web", "email", "store")[j % 3]
        for fill in (False, True):
            offers = rec.recommend(cust, basket=basket, k=5, moment=moment, channel=channel,
                                   at=AT, fill=fill)
            check_offers(rec, offers, k=5, customer=cust, basket=basket, moment=moment)
            n_offers += len(offers)
            if fill:
                assert all(o.channel == channel for o in offers)
    assert n_offers > 50


def test_fill_only_when_asked_and_then_k(parts: Any) -> None:
    rec = build(parts, rules=[NotOwned(), InStock(), Diversity(by="family", max_per=1)])
    plain = rec.recommend(None, basket=[], k=6, at=AT, fill=False)
    assert len(plain) == 0  # anonymous, empty basket, no fill: nothing shown, and said why
    assert "anonymous" in plain.note and "fill=False" in plain.note
    filled = rec.recommend(None, basket=[], k=6, at=AT, fill=True)
    assert len(filled) == 6
    assert all(o.sources == ("popular",) for o in filled)
    assert all("fill" in o.components for o in filled)
    assert all("(fill)" in o.reason.summary for o in filled)


def test_cold_requests_get_popular_fill_by_default(parts: Any, rec: Recommender) -> None:
    # the documented behaviour: unknown or anonymous customer and an empty basket -> popular
    # items of the segment, with a reason and a note; the same list as fill=True
    for cust in (None, "never-seen", 10**9):
        auto = rec.recommend(cust, basket=[], k=4, at=AT)
        asked = rec.recommend(cust, basket=[], k=4, at=AT, fill=True)
        assert [o.item for o in auto] == [o.item for o in asked]
        assert len(auto) == 4
        filled = [o for o in auto if "fill" in o.components]  # the rest: injected promotions
        assert len(filled) >= 3
        assert all("popular" in o.reason.summary and "(fill)" in o.reason.summary
                   for o in filled)
        assert "basket is empty" in auto.note and "popular" in auto.note
    # a known customer is not cold: no fill unless asked, and no note when there are offers
    known = parts.tx.customers.ids[0].item()
    offers = rec.recommend(known, k=4, at=AT)
    assert not any(o.reason.rules and ("fill", "popular in segment (fill)") in o.reason.rules
                   for o in offers)
    assert offers.note == "" or not offers


def test_a_basket_of_items_new_since_the_fit_serves_as_an_empty_one(
        parts: Any, rec: Recommender) -> None:
    """A product page for a product added after the fit (an id the model has never seen) is
    a cold request for an unknown visitor: the segment's popular items, not an empty list; the
    note names the unknown items. Known items beside them serve as before, the unknown ones
    named as ignored."""
    for cust in (None, "never-seen"):
        empty = rec.recommend(cust, basket=[], k=4, at=AT)
        new = rec.recommend(cust, basket=["NEW-SKU-1"], k=4, at=AT)
        assert [o.item for o in new] == [o.item for o in empty] and len(new) == 4
        assert "no basket item is known to the model (NEW-SKU-1)" in new.note
        assert "popular" in new.note
    item = parts.tx.items.ids[0].item()
    both = rec.recommend(None, basket=[item, "NEW-SKU-1"], k=4, at=AT)
    alone = rec.recommend(None, basket=[item], k=4, at=AT)
    assert [o.item for o in both] == [o.item for o in alone]
    assert both.note.startswith("basket item(s) not among the model's items, ignored: "
                                "NEW-SKU-1")
    assert "NEW-SKU-1" not in alone.note


def test_ids_as_a_web_request_sends_them() -> None:
    # int customer and item ids (Online Retail's CustomerID; a numeric StockCode): the
    # spellings a web request or a spreadsheet sends find them
    rng = np.random.default_rng(0)
    n = 400
    order = np.arange(n) // 3
    cust = 17000 + order % 40
    item = 22000 + rng.integers(0, 15, n)
    tx = us.Transactions.from_arrays(order=order, item=item, customer=cust,
                                     time=np.datetime64("2024-01-01") + order)
    cat = us.Catalog.from_arrays(item=np.arange(22000, 22015))
    rec = Recommender(catalog=cat, cross_sell=[us.cf.ItemKNN().fit(tx)], history=tx)
    want = [o.item for o in rec.recommend(17003, k=4, at=AT)]
    assert want and rec.recommend(17003, k=4, at=AT).note == ""
    for spelling in ("17003", " 17003 ", "17003.0", 17003.0, np.int64(17003)):
        got = rec.recommend(spelling, k=4, at=AT)
        assert [o.item for o in got] == want, spelling
        assert got.note == ""
    by_basket = [o.item for o in rec.recommend(basket=[22001], k=4, at=AT)]
    assert by_basket
    assert [o.item for o in rec.recommend(basket=["22001"], k=4, at=AT)] == by_basket
    assert 22001 not in [o.item for o in rec.recommend(17003, k=4, at=AT, exclude=["22001"])]
    ((cid, offers),) = rec.recommend_batch(["17003"], k=4, at=AT, moment=None, channel="web")
    assert cid == "17003" and [o.item for o in offers] == want
    unknown = rec.recommend("99999", k=4, at=AT)
    assert "99999" in unknown.note and "not in the history" in unknown.note

def test_unknown_and_anonymous_customers_get_segment_popularity(rec: Recommender) -> None:
    a = rec.recommend("never-seen", basket=[], k=3, at=AT, fill=True)
    b = rec.recommend(None, basket=[], k=3, at=AT, fill=True)
    assert [o.item for o in a] == [o.item for o in b]
    assert a[0].reason.segment == "new"


def test_min_score_floor_hides_weak_offers_even_below_k(parts: Any) -> None:
    rec0 = build(parts, rules=[NotOwned()], upsell=None, cross_sell=[parts.bundles])
    basket = [parts.tx.items.ids[int(np.argmax(parts.tx.baskets().sum(axis=0)))].item()]
    base = rec0.recommend(None, basket=basket, k=10, at=AT)
    raw = sorted(e.raw for o in base for e in o.reason.evidence)
    assert len(raw) >= 3
    floor = raw[len(raw) // 2]
    rec1 = build(parts, rules=[NotOwned()], upsell=None, cross_sell=[parts.bundles],
                 min_score={"bundles": floor})
    got = rec1.recommend(None, basket=basket, k=10, at=AT)
    assert 0 < len(got) < len(base)
    assert all(e.raw >= floor for o in got for e in o.reason.evidence)
    assert got.removed["min_score"] >= 1


def test_frequency_caps_from_the_log(parts: Any) -> None:
    log = OfferLog.in_memory()
    rec = build(parts, log=log, rules=[NotOwned(), FrequencyCap(max_presented=2, within_days=7,
                                                               declined_days=30)])
    cust = parts.tx.customers.ids[0].item()
    first = rec.recommend(cust, k=3, at=AT)
    assert first
    top = first[0]
    for day in ("2025-01-08", "2025-01-09"):
        log.presented([top], customer=cust, time=day)
    again = rec.recommend(cust, k=3, at=AT)
    assert top.item not in [o.item for o in again]
    assert again.removed["frequency_cap"] >= 1
    later = rec.recommend(cust, k=3, at="2025-01-20")  # both showings are older than 7 days
    assert top.item in [o.item for o in later]
    oid = log.presented([later[1]], customer=cust, time="2025-01-20")[0]
    log.declined(oid, time="2025-01-20")
    assert later[1].item not in [o.item for o in rec.recommend(cust, k=3, at="2025-02-10")]
    assert later[1].item in [o.item for o in rec.recommend(cust, k=3, at="2025-02-25")]


def test_segment_strategy_is_favoured_and_visible(parts: Any, rec: Recommender) -> None:
    seen = 0
    for cust in parts.tx.customers.ids[:60].tolist():
        for o in rec.recommend(cust, k=5, at=AT):
            if "segment" in o.components:
                seen += 1
                assert o.reason.strategy
                strat = rec.opportunity_.strategy(o.reason.segment, o.kind)
                assert o.item_kind in strat.kinds
    assert seen > 0


def test_offers_have_money_reason_and_channel_cues(parts: Any, rec: Recommender) -> None:
    cust = parts.tx.customers.ids[1].item()
    web, email, store = (rec.recommend(cust, k=3, channel=c, at=AT) for c in
                         ("web", "email", "store"))
    assert [o.item for o in web] == [o.item for o in email] == [o.item for o in store]
    for a, b, c in zip(web, email, store, strict=True):
        assert len({a.cue, b.cue, c.cue}) == 3
        assert b.cue.endswith(".")
        assert a.expected_revenue == pytest.approx(a.probability * (
            a.expected_revenue / a.probability))
        d = a.to_dict()
        assert d["reason"]["evidence"] and d["item"] == a.item


def test_cue_templates_are_overridable(parts: Any) -> None:
    rec = build(parts, cue_templates={"web": {"bundle": "Pairs with {because}!",
                                              "cf": "Pick: {name}", "sequence": "Next: {name}",
                                              "upsell": "Up: {name}", "default": "Try {name}"}})
    offers = rec.recommend(parts.tx.customers.ids[2].item(), k=5, at=AT)
    assert offers and all(o.cue.startswith(("Pairs with", "Pick:", "Next:", "Up:", "Try "))
                          for o in offers if "fill" not in o.components)
    with pytest.raises(UpsellDataError, match="price_usd"):
        CueTemplates({"web": {"cf": "{price_usd}"}})


def test_moment_policy_is_editable(parts: Any) -> None:
    policy = MomentPolicy().with_moment("cart", cross_sell=("warranty",), upsell=())
    rec = build(parts, moments=policy)
    for cust in parts.tx.customers.ids[:20].tolist():
        for o in rec.recommend(cust, k=5, moment="cart", at=AT):
            assert o.kind == "cross_sell" and o.item_kind == "warranty"


def test_batch_equals_single_requests_and_times_offers(parts: Any, rec: Recommender) -> None:
    custs = parts.tx.customers.ids[:15].tolist()
    batch = list(rec.recommend_batch(custs, k=4, at=AT))
    assert [c for c, _ in batch] == custs
    timed = 0
    for c, offers in batch:
        single = rec.recommend(c, k=4, channel="email", moment="post_purchase", at=AT)
        assert [o.to_dict() for o in offers] == [o.to_dict() for o in single]
        timed += sum(o.due is not None for o in offers)
    assert timed > 0


def test_where_and_exclude_per_request(parts: Any, rec: Recommender) -> None:
    cust = parts.tx.customers.ids[5].item()
    base = rec.recommend(cust, k=5, at=AT)
    ex = tuple(o.item for o in base[:2])
    where = {"price": (0.0, 20.0)}
    got = rec.recommend(cust, k=5, at=AT, exclude=list(ex), where=where)
    check_offers(rec, got, k=5, customer=cust, basket=[], moment=None, exclude=ex, where=where)
    with pytest.raises(UpsellDataError, match="colour"):
        rec.recommend(cust, where={"colour": ["red"]})


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"k": 0}, "`k`"), ({"channel": "sms"}, "`channel`"), ({"moment": "lunch"}, "`moment`"),
    ({"basket": [1.5]}, "`basket`"), ({"fill": 1}, "`fill`"), ({"context": 3}, "`context`"),
])
def test_bad_arguments_name_the_argument(rec: Recommender, kwargs: dict[str, Any],
                                         match: str) -> None:
    with pytest.raises(UpsellDataError, match=match):
        rec.recommend(**kwargs)


def test_parameter_checks_run_at_fit_and_first_use(parts: Any) -> None:
    # the constructor only stores parameters (scikit-learn's habit); fit() or the first
    # request assembles the pipeline and names the bad parameter
    for kwargs, match in [({"weights": {"nope": 1.0}}, "weights"),
                          ({"cross_sell": [parts.knn, parts.knn]}, "unique"),
                          ({"normalize": "zscore"}, "normalize"),
                          ({"cross_sell": [object()]}, "cross_sell")]:
        rec = build(parts, **kwargs)
        with pytest.raises(UpsellDataError, match=match):
            rec.fit()
        with pytest.raises(UpsellDataError, match=match):
            rec.recommend(basket=[], k=3)


# --------------------------------------------------------------------------- properties
class ListSource:
    """A source returning a fixed scored list (proposals for the hypothesis tests)."""

    def __init__(self, name: str, pairs: list[tuple[str, float]], kind: str = "cross_sell"):
        self.name = name
        self.pairs = pairs
        self.kind = kind

    def candidates(self, request: Any, n: int) -> list[Candidate]:
        return [Candidate(i, s, self.kind) for i, s in self.pairs[:n]]


def tiny_catalog(n: int, seed: int) -> us.Catalog:
    rng = np.random.default_rng(seed)
    return us.Catalog.from_arrays(
        item=[f"i{j:02d}" for j in range(n)],
        family=rng.choice(["", "f1", "f2", "f3"], n),
        category=rng.choice(["a", "b"], n),
        kind=rng.choice(["product", "accessory", "warranty"], n),
        price=rng.uniform(1, 100, n).round(2), cost=rng.uniform(0, 1, n).round(2),
        stock=rng.choice([0.0, 1.0, 5.0, 50.0, np.nan], n))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(3, 25), k=st.integers(1, 8),
       max_per=st.integers(1, 3), slots=st.integers(0, 2), n_sources=st.integers(1, 3),
       normalize=st.sampled_from(["max", "minmax", "rank"]), fill=st.booleans(),
       moment=st.sampled_from([None, "cart", "checkout", "post_purchase"]))
def test_invariants_hold_for_any_input(seed: int, n: int, k: int, max_per: int, slots: int,
                                       n_sources: int, normalize: str, fill: bool,
                                       moment: str | None) -> None:
    rng = np.random.default_rng(seed)
    cat = tiny_catalog(n, seed)
    ids = cat.items.ids.tolist()
    sources = []
    for s in range(n_sources):
        pick = rng.choice(n, size=rng.integers(0, n + 1), replace=False)
        pairs = [(ids[j], float(rng.normal())) for j in pick]
        sources.append(ListSource(f"s{s}", pairs, "upsell" if s == 2 else "cross_sell"))
    basket = [ids[j] for j in rng.choice(n, size=rng.integers(0, 3), replace=False)]
    excluded = [ids[j] for j in rng.choice(n, size=rng.integers(0, 3), replace=False)]
    promoted = [ids[j] for j in rng.choice(n, size=rng.integers(0, 4), replace=False)]
    floor = float(rng.normal()) if rng.random() < 0.5 else None
    tx = us.Transactions.from_arrays(order=np.arange(2 * n), item=ids + ids,
                                     customer=[f"c{j % 4}" for j in range(2 * n)])
    rec = Recommender(
        catalog=cat, cross_sell=sources[:2], upsell=sources[2] if n_sources == 3 else None,
        history=tx, normalize=normalize, min_score=floor,
        rules=[NotOwned(), InStock(), Exclude(excluded), Diversity(by="family", max_per=max_per),
               Promote(promoted, slots=slots, boost=float(rng.uniform(0, 2)),
                       inject=bool(rng.random() < 0.5))])
    offers = rec.recommend("c1", basket=basket, k=k, moment=moment, fill=fill, at=AT)
    assert len(offers) <= k
    got = [o.item for o in offers]
    assert len(set(got)) == len(got)
    owned = set(rec.history_.owned("c1")[0])
    for o in offers:
        i = cat.items.index(o.item)
        assert o.item not in basket and o.item not in excluded and o.item not in owned
        assert not (cat.stock[i] < 1)
        assert o.reason.rules and o.reason.summary
        if moment is not None:
            assert rec.moments_[moment].allows(o.kind, str(cat.kind[i]))
        if floor is not None and not o.components.get("fill"):
            assert all(e.raw >= floor for e in o.reason.evidence if e.source.startswith("s"))
    scores = [o.score for o in offers]
    assert scores == sorted(scores, reverse=True)
    fams = Counter(str(cat.family[cat.items.index(i)]) for i in got)
    fams.pop("", None)
    assert max(fams.values(), default=0) <= max_per
    boosted = sum(any(r == "promote" and "promoted slot" in e for r, e in o.reason.rules) for o in offers)
    assert boosted <= slots


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), k=st.integers(1, 10))
def test_brute_force_twin_single_source(seed: int, n: int, k: int) -> None:
    """One source, no rules but an exclusion: the top k by score (ties by catalog order)."""
    rng = np.random.default_rng(seed)
    cat = us.Catalog.from_arrays(item=[f"i{j:02d}" for j in range(n)])
    ids = cat.items.ids.tolist()
    pairs = [(ids[j], float(rng.integers(1, 5))) for j in rng.permutation(n)]
    excluded = set(ids[j] for j in rng.choice(n, size=min(n, 2), replace=False))
    rec = Recommender(catalog=cat, cross_sell=[ListSource("s", pairs)], rules=[Exclude(excluded)])
    got = [o.item for o in rec.recommend(k=k, at=AT)]
    top = max(s for _, s in pairs)
    want = sorted(((-s / top, i) for i, s in pairs if i not in excluded))[:k]
    assert got == [i for _, i in want]


# ---------------------------------------------------------------------- offer sanity (issue 17)
def _upgrade_base(cat: Any, item: Any, held: list[Any]) -> int:
    """Catalog position of the nearest lower tier of ``item``'s family among ``held``, or -1."""
    i = cat.items.index(item)
    if not cat.family[i] or np.isnan(cat.tier[i]):
        return -1
    below = [cat.items.index(h) for h in held]
    below = [b for b in below if cat.family[b] == cat.family[i] and cat.tier[b] < cat.tier[i]]
    return max(below, key=lambda b: (cat.tier[b], cat.price[b])) if below else -1


def test_offer_sanity_upgrades_add_ons_and_price_jumps(
        parts: Any) -> None:
    from upsell.tiers import UpsellRanker

    limit = 1.3
    ranker = UpsellRanker(price_jump={"price_sensitive": limit, "default": 2.5}).fit(
        parts.tx, parts.cat, segments=parts.personas)
    rec = build(parts, upsell=ranker, rules=[NotOwned(), InStock()])
    cat = parts.cat
    seg = parts.personas.predict()
    n_upgrades = n_sensitive = n_add_ons = 0
    for cust, label in zip(seg.customers.tolist(), seg.persona.tolist(), strict=True):
        owned = list(rec.history_.owned(cust)[0])
        for basket in ([], owned[:1]):
            for fill in (False, True):
                offers = rec.recommend(cust, basket=basket, k=8, at=AT, fill=fill)
                for o in offers:
                    i = cat.items.index(o.item)
                    serves = str(cat.attaches_to[i])
                    if serves and serves in set(cat.family.tolist()):  # an add-on: its product
                        held_fams = {str(cat.family[cat.items.index(h)]) for h in owned + basket}
                        held_fams |= {str(cat.attaches_to[cat.items.index(h)])
                                      for h in owned + basket}
                        assert serves in held_fams, (cust, o.item, serves)
                        n_add_ons += 1
                    if cat.family[i] and not np.isnan(cat.tier[i]):
                        held = [cat.items.index(h) for h in owned + basket]
                        assert not any(cat.family[h] == cat.family[i] and cat.tier[h] > cat.tier[i]
                                       for h in held), (cust, o.item)  # never a downgrade
                    b = _upgrade_base(cat, o.item, owned + basket)
                    if b < 0:
                        continue
                    n_upgrades += 1
                    assert o.kind == "upsell", (cust, o.item, o.sources)
                    if label == "price_sensitive":
                        n_sensitive += 1
                        ratio = cat.price[cat.items.index(o.item)] / cat.price[b]
                        assert ratio <= limit + 1e-9, (cust, o.item, ratio)
    assert n_upgrades > 20 and n_sensitive > 0 and n_add_ons > 20


def test_a_cf_upgrade_above_the_limit_is_dropped_and_said(parts: Any) -> None:
    # a source that only proposes the top tier of a family the customer owns at tier 1
    from upsell.tiers import UpsellRanker

    cat = parts.cat
    fam = next(f for f in np.unique(cat.family[~np.isnan(cat.tier)]).tolist()
               if (cat.family == f).sum() >= 3)
    rows = np.flatnonzero(cat.family == fam)
    lo, hi = rows[np.argmin(cat.tier[rows])], rows[np.argmax(cat.tier[rows])]
    ratio = cat.price[hi] / cat.price[lo]
    top_id, base_id = cat.items.ids[hi].item(), cat.items.ids[lo].item()

    class Top:
        name = "top"

        def candidates(self, request: Any, n: int) -> list[Candidate]:
            return [Candidate(top_id, 1.0)]

    ranker = UpsellRanker(price_jump=float(ratio) * 0.9).fit(parts.tx, cat)
    rec = us.Recommender(catalog=cat, cross_sell=[Top()], upsell=ranker)
    offers = rec.recommend(basket=[base_id], k=3, at=AT, fill=False)
    assert top_id not in [o.item for o in offers]
    assert offers.removed.get("price_jump") == 1
    ok = us.Recommender(catalog=cat, cross_sell=[Top()],
                        upsell=UpsellRanker(price_jump=float(ratio) * 1.1).fit(parts.tx, cat))
    got = [o for o in ok.recommend(basket=[base_id], k=3, at=AT, fill=False) if o.item == top_id]
    assert got and got[0].kind == "upsell"
    assert ("upgrade", f"a higher tier of {cat.name[lo]}") in got[0].reason.rules


@pytest.mark.parametrize("where, match", [
    ({"price": "x"}, r"`where\['price'\]`: column 'price' is numeric.*got 'x'"),
    ({"price": (50, 10)}, r"range \(50, 10\) is empty"),
    ({"price": ["cheap"]}, r"numeric.*got 'cheap'"),
    ({"category": "Audoi"}, r"'Audoi' is not a value of column 'category'"),
    ({"category": 3}, r"column 'category' holds text; got 3"),
    ({"category": []}, r"empty list"),
    ({"colour": "red"}, r"catalog has no column 'colour'"),
])
def test_where_that_can_never_match_is_an_error_naming_field_and_value(
        rec: Recommender, where: Any, match: str) -> None:
    with pytest.raises(UpsellDataError, match=match):
        rec.recommend(basket=[rec.catalog.items.ids[0].item()], k=3, at=AT, where=where)


def test_where_with_some_unknown_values_still_serves(rec: Recommender) -> None:
    cat = rec.catalog
    real = str(cat.category[0])
    offers = rec.recommend(None, k=5, at=AT, where={"category": [real, "no such category"]})
    assert all(cat.category[cat.items.index(o.item)] == real for o in offers)


def test_reasons_and_cues_show_names_and_cut_long_baskets() -> None:
    cat = us.Catalog.from_records(
        [{"item": f"S{i:02d}", "name": f"Product {i}"} for i in range(12)]
        + [{"item": "X", "name": "Mug", "price": 8.0}])
    basket = [f"S{i:02d}" for i in range(12)]

    class After:
        name = "bundles_like"
        cue_style = "bundle"

        def candidates(self, request: Any, n: int) -> list[Candidate]:
            return [Candidate("X", 1.0, detail={"because": tuple(request.basket)})]

    for channel in ("web", "email", "store"):
        (offer,) = Recommender(catalog=cat, cross_sell=[After()]).recommend(
            basket=basket, k=1, channel=channel, at=AT)
        assert offer.name == "Mug"
        assert "S0" not in offer.reason.summary and "S0" not in offer.cue  # names, not codes
        assert "Product 0, Product 1, Product 2 \u2026and 9 more" in offer.reason.summary
        assert "Product 0, Product 1 and 10 more" in offer.cue
        assert "Product 5" not in offer.cue + offer.reason.summary
    (short,) = Recommender(catalog=cat, cross_sell=[After()]).recommend(
        basket=basket[:2], k=1, at=AT)
    assert short.cue == "Frequently bought with Product 0 and Product 1"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(col=st.sampled_from(["price", "cost", "stock", "tier", "category", "kind", "family"]),
       value=st.one_of(st.text(max_size=6), st.integers(-5, 500), st.floats(allow_nan=True),
                       st.lists(st.text(max_size=4), max_size=3),
                       st.tuples(st.floats(0, 500), st.floats(0, 500)), st.none()))
def test_where_is_applied_or_refused_never_silently_impossible(rec: Recommender, col: str,
                                                                value: Any) -> None:
    cat = rec.catalog
    numeric = cat.column(col).dtype.kind == "f"
    try:
        offers = rec.recommend(None, k=5, at=AT, where={col: value}, fill=True)
    except UpsellDataError as exc:
        assert col in str(exc)  # the message names the field
        return
    # accepted: the condition has the column's type, so it can match items
    items = value if isinstance(value, list) else [value]
    if numeric and not isinstance(value, tuple):
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
                   for v in items)
    if not numeric:
        assert all(isinstance(v, str) for v in items)
        assert any(v in set(cat.column(col).tolist()) for v in items)
    for o in offers:
        assert Where(**{col: value}).keeps(cat, cat.items.index(o.item))


@pytest.fixture(scope="module")
def int_rec() -> Recommender:
    rng = np.random.default_rng(1)
    order = np.arange(600) // 3
    tx = us.Transactions.from_arrays(order=order, item=22000 + rng.integers(0, 20, 600),
                                     customer=17000 + order % 60,
                                     time=np.datetime64("2024-01-01") + order)
    return Recommender(catalog=us.Catalog.from_arrays(item=np.arange(22000, 22020)),
                       cross_sell=[us.cf.ItemKNN().fit(tx)], history=tx)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, 59), spell=st.sampled_from(["str", "pad", "dot0", "float", "np"]))
def test_any_spelling_of_a_known_id_gives_the_same_offers(int_rec: Recommender, pos: int,
                                                          spell: str) -> None:
    cid = int(int_rec.history_.customers.ids[pos])
    sent = {"str": str(cid), "pad": f"  {cid} ", "dot0": f"{cid}.0", "float": float(cid),
            "np": np.int32(cid)}[spell]
    want = int_rec.recommend(cid, k=4, at=AT)
    got = int_rec.recommend(sent, k=4, at=AT)
    assert got == want and got.note == ""


def test_cold_requests_share_one_computation_but_not_a_frequency_cap(parts: Any) -> None:
    log = OfferLog.in_memory()
    rec = build(parts, log=log)  # all rules, FrequencyCap(max_presented=2, within_days=7)
    fresh = build(parts, log=OfferLog.in_memory())
    a = rec.recommend("cold-a", k=4, at=AT)
    b = rec.recommend("cold-b", k=4, at=AT)  # served from the cache
    assert a == b and a == list(fresh.recommend("cold-b", k=4, at=AT))
    assert "'cold-a'" in a.note and "'cold-b'" in b.note and a.removed == b.removed
    # a customer unknown to the history but with logged offers is capped, not cached
    top = a[0].item
    for t in ("2025-01-09T10:00:00", "2025-01-09T11:00:00"):
        log.record("presented", item=top, customer="cold-c", time=t)
    c = rec.recommend("cold-c", k=4, at=AT)
    assert top not in [o.item for o in c] and c.removed.get("frequency_cap") == 1
    assert [o.item for o in rec.recommend("cold-d", k=4, at=AT)] == [o.item for o in a]
    # request rules are part of the key
    w = rec.recommend("cold-e", k=4, at=AT, exclude=[top])
    assert top not in [o.item for o in w]
    assert [o.item for o in rec.recommend("cold-f", k=4, at=AT)] == [o.item for o in a]
    # other k, channel, moment: other entries
    assert len(rec.recommend("cold-g", k=2, at=AT)) == 2
    assert rec.recommend("cold-h", k=4, at=AT, channel="store")[0].channel == "store"
