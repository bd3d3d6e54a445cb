"""compare(): fitting, batching, metrics and the paired bootstrap, with two tiny models."""

from __future__ import annotations

import numpy as np
import pytest

from upsell import Catalog, IdIndex, Transactions, UpsellDataError
from upsell._results import Recommendations
from upsell.evaluate import (
    Comparison,
    compare,
    item_popularity,
    metrics_at_k,
    random_basket_split,
    temporal_split,
)


class Popular:
    """Global popularity: the same best-selling items for everyone (owned ones skipped)."""

    def __init__(self) -> None:
        self.n_fits = 0

    def fit(self, train: Transactions) -> Popular:
        self.n_fits += 1
        counts = np.bincount(train.item, minlength=len(train.items))
        self.ranking_ = np.argsort(-counts, kind="stable")
        self.scores_ = counts[self.ranking_].astype(np.float32)
        self.owned_ = train.customer_items("binary")
        self.items_ = train.items
        self.customers_ = train.customers
        return self

    def _lists(self, owned_rows: list[np.ndarray], k: int, exclude: bool):
        lists, scores = [], []
        for owned in owned_rows:
            keep = ~np.isin(self.ranking_, owned) if exclude else slice(None)
            lists.append(self.ranking_[keep][:k])
            scores.append(self.scores_[keep][:k])
        return lists, scores

    def recommend(self, customers=None, baskets=None, k=10, exclude_owned=True):
        if baskets is not None:
            owned = [self.items_.encode(b, unknown="skip") for b in baskets]
            requests, kind = np.arange(len(baskets)), "basket"
        else:
            rows = self.customers_.encode(customers)
            owned = [self.owned_.indices[self.owned_.indptr[r]:self.owned_.indptr[r + 1]]
                     for r in rows]
            requests, kind = np.asarray(customers), "customer"
        lists, scores = self._lists(owned, k, exclude_owned)
        return Recommendations.from_lists(requests, lists, scores, items=self.items_,
                                          request_kind=kind)


class RandomModel:
    """Random items, deterministic per request."""

    def __init__(self, random_state: int = 0, items: IdIndex | None = None) -> None:
        self.random_state = random_state
        self.items = items

    def fit(self, train: Transactions) -> RandomModel:
        self.items_ = self.items if self.items is not None else train.items
        return self

    def recommend(self, customers=None, baskets=None, k=10, exclude_owned=True):
        n = len(baskets) if baskets is not None else len(customers)
        # seeded by the request itself, so results do not depend on how requests are batched
        keys = range(n) if baskets is not None else [int(c) for c in customers]
        lists = [np.random.default_rng([self.random_state, key]).permutation(
            len(self.items_))[:k] for key in keys]
        scores = [np.linspace(1, 0, len(x)) for x in lists]
        requests = np.arange(n) if baskets is not None else np.asarray(customers)
        return Recommendations.from_lists(requests, lists, scores, items=self.items_,
                                          request_kind="basket" if baskets is not None
                                          else "customer")


class NotAModel:
    pass


def make_shop(seed: int = 0, n_customers: int = 150, n_orders: int = 700) -> Transactions:
    """Orders with a skewed item popularity, spread over 100 days."""
    rng = np.random.default_rng(seed)
    n_items = 25
    weights = 1.0 / np.arange(1, n_items + 1) ** 1.1
    weights /= weights.sum()
    order, item, cust, when = [], [], [], []
    for o in range(n_orders):
        c = int(rng.integers(n_customers))
        day = np.datetime64("2011-01-01", "D") + np.timedelta64(int(rng.integers(100)), "D")
        for it in rng.choice(n_items, size=int(rng.integers(1, 5)), replace=False, p=weights):
            order.append(o)
            item.append(f"i{it:02d}")
            cust.append(c)
            when.append(day)
    return Transactions.from_arrays(order=order, item=item, customer=cust,
                                    time=np.array(when, dtype="datetime64[s]"))


@pytest.fixture(scope="module")
def split():
    return temporal_split(make_shop(), at="2011-03-15", target="all")


METRICS = ["precision", "recall", "f1", "ndcg", "map", "mrr", "hit_rate", "coverage", "novelty"]


def test_compare_matches_metrics_at_k(split):
    pop = Popular()
    res = compare({"pop": pop, "rnd": RandomModel(1)}, split, k=5, metrics=METRICS,
                  n_bootstrap=200, exclude_owned=False)
    assert isinstance(res, Comparison)
    assert res.models == ("pop", "rnd") and res.baseline == "pop"
    assert res.means.shape == (2, len(METRICS))
    assert res.n_requests == len(split)
    assert pop.n_fits == 1
    # the same numbers straight from the metric functions
    recs = pop.recommend(customers=split.request_ids, k=5, exclude_owned=False)
    direct = metrics_at_k(recs, split.relevant[split.requests], 5, metrics=METRICS,
                          popularity=item_popularity(split.train))
    for j, m in enumerate(METRICS):
        assert res.means[0, j] == pytest.approx(direct[m]), m
    # popularity beats random on this skewed shop
    assert res.value("pop", "hit_rate") > res.value("rnd", "hit_rate")
    assert res.value("pop", "novelty") < res.value("rnd", "novelty")


def test_bootstrap_interval_contains_point_and_is_deterministic(split):
    models = {"pop": Popular(), "rnd": RandomModel(2)}
    a = compare(models, split, k=5, metrics=METRICS, n_bootstrap=300, random_state=3)
    per = [j for j, m in enumerate(METRICS) if m != "coverage"]
    eps = 1e-12
    assert (a.ci_low[:, per] <= a.means[:, per] + eps).all()
    assert (a.means[:, per] <= a.ci_high[:, per] + eps).all()
    assert (a.diff_low[:, per] <= a.diff[:, per] + eps).all()
    assert (a.diff[:, per] <= a.diff_high[:, per] + eps).all()
    assert np.isnan(a.ci_low[:, METRICS.index("coverage")]).all()
    # baseline against itself: exactly 0
    assert (a.diff[0] == 0).all() and (a.diff_low[0, per] == 0).all()
    assert ((a.diff_p[1, per] > 0) & (a.diff_p[1, per] <= 1)).all()
    assert np.isnan(a.diff_p[0]).all()
    # same seed, same intervals; also with other batch sizes (models fitted by now)
    b = compare(models, split, k=5, metrics=METRICS, n_bootstrap=300, random_state=3,
                batch_size=7)
    for field in ("means", "ci_low", "ci_high", "diff_low", "diff_high", "diff_p"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c = compare(models, split, k=5, metrics=METRICS, n_bootstrap=300, random_state=4)
    np.testing.assert_array_equal(a.means, c.means)
    assert not np.array_equal(a.ci_low[:, per], c.ci_low[:, per])


def test_paired_interval_is_narrower_than_separate_ones(split):
    # two nearly identical models: their difference is tightly around 0
    res = compare({"a": Popular(), "b": Popular()}, split, k=5, metrics=["recall"],
                  n_bootstrap=200)
    assert res.diff_low[1, 0] == res.diff_high[1, 0] == 0.0
    assert res.ci_high[1, 0] - res.ci_low[1, 0] > 0


def test_fitted_models_are_not_refit(split):
    pop = Popular().fit(split.train)
    compare({"pop": pop}, split, k=3, metrics=["recall"], n_bootstrap=0)
    assert pop.n_fits == 1

    class NoUnderscore:
        """Fitted, but nothing ends in '_': needs the fitted= escape."""

        def __init__(self, inner):
            self.inner = inner

        def fit(self, train):
            raise AssertionError("must not be refit")

        def recommend(self, **kwargs):
            return self.inner.recommend(**kwargs)

    wrapped = NoUnderscore(pop)
    res = compare({"w": wrapped}, split, k=3, metrics=["recall"], n_bootstrap=0,
                  fitted=["w"])
    assert np.isnan(res.ci_low).all() and res.n_bootstrap == 0
    res2 = compare({"w": wrapped}, split, k=3, metrics=["recall"], n_bootstrap=0, fitted=True)
    assert res2.means[0, 0] == res.means[0, 0]


def test_test_as_transactions_and_exclude_owned(split):
    res = compare({"pop": Popular()}, split.train, split.test, k=5,
                  metrics=["recall", "hit_rate"], n_bootstrap=0, exclude_owned=True)
    assert res.n_requests == len(split)
    res_all = compare({"pop": Popular()}, split.train, split.test, k=5,
                      metrics=["recall", "hit_rate"], n_bootstrap=0, exclude_owned=False)
    # repeat purchases are relevant in this split: hiding owned items cannot help recall
    assert res_all.value("pop", "recall") >= res.value("pop", "recall")


def test_items_of_another_index_are_reencoded(split):
    # the random model speaks a reversed item index; compare maps it back by id
    items = split.train.items
    rev = IdIndex(items.ids[::-1].copy(), name="item")
    a = compare({"r": RandomModel(5, items=rev)}, split, k=4, metrics=["recall", "coverage"],
                n_bootstrap=0)
    recs = RandomModel(5, items=rev).fit(split.train).recommend(
        customers=split.request_ids, k=4)
    lists = recs.lists()
    from upsell.evaluate import recall_at_k
    assert a.value("r", "recall") == pytest.approx(recall_at_k(lists, split.relevant_sets(), 4))


def test_business_metrics_and_diversity_need_a_catalog(split):
    ids = split.train.items.ids
    cat = Catalog.from_arrays(item=ids, price=np.arange(1.0, ids.size + 1),
                              cost=np.full(ids.size, 0.5),
                              category=[f"c{i % 4}" for i in range(ids.size)])
    res = compare({"pop": Popular(), "rnd": RandomModel(0)}, split, k=5,
                  metrics=["revenue", "margin", "diversity"], catalog=cat, n_bootstrap=100)
    assert (res.means >= 0).all()
    assert (res.means[:, 2] <= 1).all()
    with pytest.raises(UpsellDataError, match="needs a `catalog`"):
        compare({"pop": Popular()}, split, k=5, metrics=["margin"])


def test_basket_split_compare():
    tx = make_shop(1, n_orders=300)
    bsplit = random_basket_split(tx, hide=0.5, test_size=0.3, random_state=0)
    res = compare({"pop": Popular(), "rnd": RandomModel(0)}, bsplit, k=5,
                  metrics=["recall", "hit_rate"], n_bootstrap=100)
    assert res.n_requests == len(bsplit)
    assert res.value("pop", "recall") > res.value("rnd", "recall")


def test_results_render(split):
    res = compare({"pop": Popular(), "rnd": RandomModel(0)}, split, k=5,
                  metrics=["recall", "coverage"], n_bootstrap=50, keep_per_request=True)
    wide = res.to_pandas()
    assert wide.index.tolist() == ["pop", "rnd"] and wide.columns.tolist() == ["recall",
                                                                              "coverage"]
    long = res.to_pandas(long=True)
    assert len(long) == 4 and "diff_high" in long.columns
    html = res._repr_html_()
    assert "pop" in html and "baseline" in html and "<table>" in html
    assert "Comparison @5" in repr(res)
    assert res.per_request is not None and res.per_request["pop"].shape == (len(split), 1)
    assert np.nanmean(res.per_request["pop"][:, 0]) == pytest.approx(res.value("pop", "recall"))


@pytest.mark.parametrize("kwargs, match", [
    (dict(models={}), "`models` must be a non-empty dict"),
    (dict(models={"x": NotAModel()}), "model 'x' has no recommend"),
    (dict(baseline="zz"), "`baseline` must be one of"),
    (dict(k=0), "`k` must be an integer >= 1; got 0"),
    (dict(n_bootstrap=-1), "`n_bootstrap` must be an integer >= 0"),
    (dict(confidence=1.0), "`confidence` must be a number in \\(0, 1\\)"),
    (dict(metrics=["precision", "precision"]), "names a metric twice"),
    (dict(fitted=["nope"]), "`fitted` names models not in `models`"),
    (dict(batch_size=0), "`batch_size` must be an integer >= 1"),
])
def test_compare_errors(split, kwargs, match):
    args = dict(models={"pop": Popular()}, k=5, metrics=["recall"], n_bootstrap=0)
    args.update(kwargs)
    models = args.pop("models")
    with pytest.raises(UpsellDataError, match=match):
        compare(models, split, **args)


def test_compare_rejects_bad_recommend_output(split):
    class Short(Popular):
        def recommend(self, customers=None, baskets=None, k=10, exclude_owned=True):
            return super().recommend(customers=customers[:1], k=k, exclude_owned=exclude_owned)

    with pytest.raises(UpsellDataError, match="recommend returned 1 lists for"):
        compare({"s": Short()}, split, k=5, metrics=["recall"], n_bootstrap=0)
    with pytest.raises(UpsellDataError, match="`test` must be None when `train` is a Split"):
        compare({"p": Popular()}, split, split.test)
