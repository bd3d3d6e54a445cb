"""One recommender contract, checked over every recommender upsell ships.

Every recommender answers ``recommend(customers=... | baskets=..., k=..., exclude=...)`` with an
:class:`upsell.Recommendations`: at most ``k`` distinct items per request, scores non-increasing,
excluded items never, unknown ids handled as the class documents (never a raw KeyError or
IndexError), the same answers after a save/load round trip and from 8 threads at once.
A recommender that cannot serve a request kind says so with an ``UpsellValueError`` naming the
argument. The CF models' own deeper contract (fold-in, ``recommend_all``, ``similar_items``,
file corruption) is tests/cf/test_contract.py.

Each recommender is fitted once per module on a small synthetic shop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

import upsell as us
from upsell import Recommendations
from upsell.bundles import BundleRecommender, association_rules, frequent_itemsets
from upsell.cf import ALS, BPR, EASE, CFModel, ItemKNN, Popular, RepeatBlend
from upsell.exceptions import UnknownIdError, UpsellError, UpsellValueError
from upsell.recommend.blend import history_parts
from upsell.tiers import UpsellRanker

AT = "2025-01-10T12:00:00"
NO_ITEM = "no-such-item"
NO_CUSTOMER = "no-such-customer"

# one factory per CF model exported by upsell.cf (small settings: the module stays fast)
CF_MODELS: dict[str, Callable[[], CFModel]] = {
    "Popular": lambda: Popular(),
    "EASE": lambda: EASE(regularization=10.0, n_neighbors=20),
    "ItemKNN": lambda: ItemKNN(n_neighbors=20, num_threads=1),
    "ALS": lambda: ALS(factors=8, iterations=5, num_threads=1, random_state=0),
    "BPR": lambda: BPR(factors=8, iterations=20, num_threads=1, random_state=0),
    "RepeatBlend": lambda: RepeatBlend(n_neighbors=20, num_threads=1),
}


@dataclass
class Case:
    """A fitted recommender and what its class documents for the request kinds and unknown ids."""

    name: str
    model: Any
    # request kinds served; the others raise UpsellValueError naming the argument
    serves: tuple[str, ...] = ("customers", "baskets")
    # what an unknown customer gets: an error class, or None when it is served
    unknown_customer: type[Exception] | None = UnknownIdError
    # what an unknown item in a basket gets: an error class, or None when it is ignored
    unknown_item: type[Exception] | None = None
    # keywords every call adds (a fixed request time, so answers are reproducible)
    fixed: dict[str, Any] = field(default_factory=dict)
    # a call with no request at all is an error (False: it is the singular anonymous request)
    needs_request: bool = True
    # customers= and baskets= together: an error, or (True) customer i with basket i
    pairs: bool = False
    # the singular call and how its result reads as lists: basket -> [[ids]]
    single: Callable[[Any, list[Any], int], list[list[Any]]] | None = None

    def __call__(self, model: Any = None, **kw: Any) -> Recommendations:
        return (self.model if model is None else model).recommend(**self.fixed, **kw)


@dataclass
class Shop:
    tx: Any
    catalog: Any
    customers: list[Any]
    baskets: list[list[Any]]
    items: list[Any]


@pytest.fixture(scope="module")
def shop() -> Shop:
    s = us.datasets.make_shop(n_customers=150, n_items=60, n_orders=1000, random_state=1)
    tx = s.transactions
    H = tx.customer_items()
    ids = tx.items.ids
    # baskets from real customers' purchases: rules, neighbours and upgrades fire on them
    baskets = [ids[H.indices[H.indptr[u]:H.indptr[u + 1]][:3]].tolist() for u in range(0, 60, 6)]
    return Shop(tx=tx, catalog=s.catalog, customers=tx.customers.ids[:12].tolist(),
                baskets=[b for b in baskets if b] + [[]], items=ids.tolist())


def _basket_rec(model: Any, basket: list[Any], k: int) -> list[list[Any]]:
    return model.recommend(basket, k=k).lists()


def _ranker_rank(model: Any, basket: list[Any], k: int) -> list[list[Any]]:
    return model.rank(basket=basket, k=k).lists()


def _offer_list(model: Any, basket: list[Any], k: int) -> list[list[Any]]:
    offers = model.recommend(basket=basket, k=k, at=AT)
    return [[o.item for o in offers]]


@pytest.fixture(scope="module")
def cases(shop: Shop) -> dict[str, Case]:
    tx, cat = shop.tx, shop.catalog
    out: dict[str, Case] = {}
    for name, make in CF_MODELS.items():
        out[name] = Case(name, make().fit(tx))
    rules = association_rules(frequent_itemsets(tx, min_support=3, max_len=3),
                              min_confidence=0.05)
    bundles = BundleRecommender(rules)
    out["BundleRecommender"] = Case("BundleRecommender", bundles, serves=("baskets",),
                                    single=_basket_rec)
    ranker = UpsellRanker().fit(tx, cat)
    out["UpsellRanker"] = Case("UpsellRanker", ranker, unknown_item=UnknownIdError,
                               single=_ranker_rank)
    rec = us.Recommender(catalog=cat, cross_sell=[bundles, out["ItemKNN"].model],
                         upsell=ranker, history=tx)
    out["Recommender"] = Case("Recommender", rec, unknown_customer=None, fixed={"at": AT},
                              needs_request=False, pairs=True, single=_offer_list)
    # the composed recommender with the learned blend (issue 20), fitted from history alone
    parts = history_parts(tx, cat, random_state=0)
    learned = us.Recommender(**parts)
    out["Recommender+LearnedBlend"] = Case("Recommender+LearnedBlend", learned,
                                           unknown_customer=None, fixed={"at": AT},
                                           needs_request=False, pairs=True, single=_offer_list)
    out["LearnedBlend"] = Case("LearnedBlend", parts["blend"], serves=("customers",),
                               unknown_customer=None)
    # the offer loop (issue 22): learned acceptance posteriors and seeded exploration
    from upsell.recommend import Explore, InStock, LearnFromOutcomes, NotOwned

    loop = us.Recommender(catalog=cat, cross_sell=[bundles, out["ItemKNN"].model],
                          upsell=ranker, history=tx,
                          rules=[NotOwned(), InStock(), LearnFromOutcomes(),
                                 Explore(rate=0.2, random_state=0)])
    rng = np.random.default_rng(0)
    loop.update({"item": rng.choice(cat.items.ids.astype(str), 5000),
                 "accepted": rng.random(5000) < 0.1})
    out["Recommender+Loop"] = Case("Recommender+Loop", loop, unknown_customer=None,
                                   fixed={"at": AT}, needs_request=False, pairs=True,
                                   single=_offer_list)
    return out


NAMES = [*CF_MODELS, "BundleRecommender", "UpsellRanker", "Recommender",
         "Recommender+LearnedBlend", "LearnedBlend", "Recommender+Loop"]
FOLDERS = ("Recommender", "Recommender+LearnedBlend", "LearnedBlend",
           "Recommender+Loop")  # saved as a folder


def _requests(case: Case, shop: Shop) -> list[dict[str, Any]]:
    """The requests a recommender serves: its customers, its baskets."""
    out = []
    if "customers" in case.serves:
        out.append({"customers": shop.customers})
    if "baskets" in case.serves:
        out.append({"baskets": shop.baskets})
    return out


def check_lists(recs: Recommendations, k: int, n_requests: int) -> None:
    """At most k distinct items per request, finite non-increasing scores, reasons aligned."""
    assert isinstance(recs, Recommendations)
    assert len(recs) == n_requests
    assert recs.indptr[0] == 0 and recs.indptr[-1] == recs.item_index.size == recs.scores.size
    if recs.reasons is not None:
        assert len(recs.reasons) == recs.item_index.size
    for r in range(len(recs)):
        idx, sc = recs.indices(r), recs.request_scores(r)
        assert idx.size <= k
        assert np.unique(idx).size == idx.size, recs.item_ids(r)
        assert np.all(np.isfinite(sc))
        assert np.all(np.diff(sc) <= 0), sc
        assert len(recs.reasons_for(r)) == idx.size


def same(a: Recommendations, b: Recommendations) -> None:
    assert a.lists() == b.lists()
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.reasons == b.reasons
    assert a.requests.tolist() == b.requests.tolist()


# ---------------------------------------------------------------------- the contract
@pytest.mark.parametrize("name", NAMES)
def test_at_most_k_distinct_items_scores_non_increasing(name: str, cases: dict[str, Case],
                                                        shop: Shop) -> None:
    case = cases[name]
    served = 0
    for req in _requests(case, shop):
        kind = next(iter(req))
        for k in (1, 3, 8):
            recs = case(k=k, **req)
            check_lists(recs, k, len(req[kind]))
            assert recs.request_kind == kind[:-1]
            if kind == "customers":
                assert recs.requests.tolist() == shop.customers
            else:
                assert recs.requests.tolist() == list(range(len(shop.baskets)))
            served += sum(len(x) for x in recs.lists())
            df = recs.to_pandas()
            assert df.columns.tolist() == [kind[:-1], "item", "score", "rank",
                                           *(["reason"] if recs.reasons is not None else [])]
            assert len(df) == recs.item_index.size
    assert served > 0, f"{name} recommended nothing at all"


@pytest.mark.parametrize("name", NAMES)
def test_exclude_is_respected(name: str, cases: dict[str, Case], shop: Shop) -> None:
    case = cases[name]
    for req in _requests(case, shop):
        first = case(k=5, **req)
        top = sorted({i for lst in first.lists() for i in lst[:2]})
        assert top, f"{name}: nothing to exclude"
        recs = case(k=5, exclude=[*top, NO_ITEM], **req)
        check_lists(recs, 5, len(first))
        for lst in recs.lists():
            assert not set(lst) & set(top)
        # one id instead of a list: excluded, or an error naming the argument
        try:
            one = case(k=5, exclude=top[0], **req)
        except UpsellError as exc:
            assert "exclude" in str(exc)
        else:
            assert all(top[0] not in lst for lst in one.lists())


@pytest.mark.parametrize("name", NAMES)
def test_unknown_ids_as_documented(name: str, cases: dict[str, Case], shop: Shop) -> None:
    case = cases[name]
    if "customers" in case.serves:
        if case.unknown_customer is None:
            recs = case(customers=[NO_CUSTOMER, shop.customers[0]], k=4)
            check_lists(recs, 4, 2)
            assert recs.requests.tolist() == [NO_CUSTOMER, shop.customers[0]]
        else:
            with pytest.raises(case.unknown_customer, match=NO_CUSTOMER):
                case(customers=[shop.customers[0], NO_CUSTOMER], k=4)
    else:
        with pytest.raises(UpsellValueError, match="customers"):
            case(customers=shop.customers[:2], k=4)
    if "baskets" in case.serves:
        basket = shop.baskets[0]
        if case.unknown_item is None:
            assert (case(baskets=[[*basket, NO_ITEM]], k=4).lists()
                    == case(baskets=[basket], k=4).lists())
        else:
            with pytest.raises(case.unknown_item, match=NO_ITEM):
                case(baskets=[[*basket, NO_ITEM]], k=4)
    # ids of another type or shape: an upsell error, never a raw KeyError or IndexError
    for bad in ({"customers": [12345678]}, {"customers": [None]}, {"baskets": [[12345678]]},
                {"baskets": [[("a", 1)]]}, {"customers": [shop.customers[0]], "exclude": [None]}):
        try:
            recs = case(k=3, **bad)
        except UpsellError:
            continue
        check_lists(recs, 3, 1)


@pytest.mark.parametrize("name", NAMES)
def test_exactly_one_request_kind(name: str, cases: dict[str, Case], shop: Shop) -> None:
    case = cases[name]
    if case.pairs:
        both = case(customers=shop.customers[:2], baskets=shop.baskets[:2], k=3)
        check_lists(both, 3, 2)
        assert both.requests.tolist() == shop.customers[:2]
    else:
        with pytest.raises(UpsellValueError):
            case(customers=shop.customers[:1], baskets=shop.baskets[:1], k=3)
    if case.needs_request:
        with pytest.raises(UpsellValueError):
            case(k=3)
    with pytest.raises(UpsellValueError, match="k"):
        case(k=0, **_requests(case, shop)[0])


@pytest.mark.parametrize("name", [n for n in NAMES if n in ("BundleRecommender", "UpsellRanker",
                                                            "Recommender",
                                                            "Recommender+LearnedBlend",
                                                            "Recommender+Loop")])
def test_singular_call_agrees_with_plural(name: str, cases: dict[str, Case], shop: Shop) -> None:
    case = cases[name]
    assert case.single is not None
    for basket in shop.baskets[:5]:
        assert case.single(case.model, basket, 4) == case(baskets=[basket], k=4).lists()


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(name: str, cases: dict[str, Case], shop: Shop,
                              tmp_path: Path) -> None:
    case = cases[name]
    path = tmp_path / ("rec" if name in FOLDERS else f"{name}.npz")
    case.model.save(path)
    back = type(case.model).load(path)
    for req in _requests(case, shop):
        same(case(k=5, **req), case(back, k=5, **req))
        excl = shop.items[:7]
        same(case(k=3, exclude=excl, **req), case(back, k=3, exclude=excl, **req))


@pytest.mark.parametrize("name", NAMES)
def test_eight_threads_agree_with_sequential(name: str, cases: dict[str, Case],
                                             shop: Shop) -> None:
    case = cases[name]
    jobs: list[dict[str, Any]] = []
    if "customers" in case.serves:
        jobs += [{"customers": [c]} for c in shop.customers[:8]]
    if "baskets" in case.serves:
        jobs += [{"baskets": [b]} for b in shop.baskets[:8]]

    def run(job: dict[str, Any]) -> tuple[list[Any], list[float], Any]:
        recs = case(k=5, **job)
        return recs.lists(), recs.scores.tolist(), recs.reasons

    expected = [run(j) for j in jobs]
    results: list[list[Any]] = [[None] * len(jobs) for _ in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(t: int) -> None:
        try:
            barrier.wait()
            # each thread in its own order, so different requests overlap
            for j in np.random.default_rng(t).permutation(len(jobs)).tolist():
                results[t][j] = run(jobs[j])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for t in range(8):
        assert results[t] == expected


@pytest.mark.parametrize("name", NAMES)
def test_property_random_k_and_exclusions(name: str, cases: dict[str, Case],
                                          shop: Shop) -> None:
    case = cases[name]
    kinds = [next(iter(r)) for r in _requests(case, shop)]

    @hyp_settings(max_examples=15 if name == "Recommender" else 25)
    @given(k=st.integers(1, 12), kind=st.sampled_from(kinds),
           picks=st.lists(st.integers(0, 11), min_size=1, max_size=4, unique=True),
           excl=st.lists(st.integers(0, len(shop.items) - 1), max_size=20, unique=True))
    def check(k: int, kind: str, picks: list[int], excl: list[int]) -> None:
        pool = shop.customers if kind == "customers" else shop.baskets
        req = [pool[p % len(pool)] for p in picks]
        banned = [shop.items[i] for i in excl]
        recs = case(k=k, exclude=banned or None, **{kind: req})
        check_lists(recs, k, len(req))
        for lst in recs.lists():
            assert not set(lst) & set(banned)
        if kind == "baskets" and name != "Recommender":
            for lst, b in zip(recs.lists(), req, strict=True):
                assert not set(lst) & set(b)  # a basket's own items are never recommended

    check()


def test_every_recommender_is_covered() -> None:
    """A CF model added to upsell.cf must join this suite."""
    import upsell.cf as cf

    exported = {n for n in cf.__all__ if isinstance(getattr(cf, n), type)
                and issubclass(getattr(cf, n), CFModel) and getattr(cf, n) is not CFModel}
    assert exported == set(CF_MODELS)
