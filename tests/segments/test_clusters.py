"""Clusters: k-means fit, automatic k, profiles and labels, predict/assign, files."""

from __future__ import annotations

import numpy as np
import pytest

from upsell.datasets import make_shop
from upsell.exceptions import NotFittedError, UpsellDataError
from upsell.persist import read_model, write_model
from upsell.segments import Clusters
from upsell.segments.clusters import _silhouette


@pytest.fixture(scope="module")
def shop():
    return make_shop(n_customers=800, n_items=120, n_orders=3500, random_state=3)


@pytest.fixture(scope="module")
def fitted(shop):
    return Clusters(k=4, random_state=0).fit(shop.transactions, catalog=shop.catalog)


def test_fit_profile_and_labels(fitted, shop):
    n = len(shop.transactions.customers)
    prof = fitted.profile_
    assert fitted.k_ == 4 and fitted.centroids_.shape[0] == 4
    assert prof.size.sum() == n and abs(prof.share.sum() - 1) < 1e-12
    assert abs(np.nansum(prof.revenue_share) - 1) < 1e-9
    assert (np.diff(prof.size) <= 0).all()                 # largest first
    assert len(set(prof.label.tolist())) == 4 and all(prof.label)
    assert np.bincount(fitted.labels_, minlength=4).tolist() == prof.size.tolist()
    df = prof.to_pandas()
    assert df.shape[0] == 4 and "monetary" in df
    assert "<table>" in prof._repr_html_()


def test_deterministic_given_seed(shop, fitted):
    again = Clusters(k=4, random_state=0).fit(shop.transactions, catalog=shop.catalog)
    assert np.array_equal(again.labels_, fitted.labels_)


def test_auto_k_by_silhouette(shop):
    c = Clusters(k="auto", k_range=(2, 5), random_state=0, sample_size=600).fit(
        shop.transactions, catalog=shop.catalog)
    assert set(c.silhouette_) == {2, 3, 4, 5}
    assert c.k_ == max(c.silhouette_, key=c.silhouette_.get)


def test_silhouette_on_separated_blobs():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))]
    lab = np.r_[np.zeros(30, int), np.ones(30, int)]
    assert _silhouette(X, lab, 2) > 0.9
    assert _silhouette(X, rng.integers(0, 2, 60), 2) < 0.2


def test_predict_and_assign_agree(fitted, shop):
    tx = shop.transactions
    res = fitted.predict(tx, at=fitted.at_)
    assert np.array_equal(res.cluster, fitted.labels_)
    assert np.array_equal(fitted.predict().cluster, fitted.labels_)
    df = tx.to_pandas()
    for c in tx.customers.ids[:15]:
        lines = df[df["customer"] == c]
        hist = {"order": lines["order"].tolist(), "item": lines["item"].tolist(),
                "quantity": lines["quantity"].tolist(), "price": lines["price"].tolist(),
                "time": lines["time"].to_numpy().astype("datetime64[s]").tolist()}
        k, label = fitted.assign(hist, at=fitted.at_)
        assert k == fitted.labels_[tx.customers.index(c)]
        assert label == fitted.profile_.label[k]
    assert fitted.predict(customers=tx.customers.ids[0]).cluster.shape == (1,)
    assert fitted.predict().to_pandas().shape == (len(tx.customers), 4)


def test_contract_and_errors(shop):
    c = Clusters(k=3, n_init=2)
    assert repr(c) == "Clusters(k=3, n_init=2)"
    assert c.get_params()["k"] == 3
    with pytest.raises(NotFittedError):
        c.predict()
    with pytest.raises(UpsellDataError, match="`k_range`"):
        Clusters(k_range=(1, 3)).fit(shop.transactions)
    with pytest.raises(UpsellDataError, match="`k` must be an integer"):
        Clusters(k=0).fit(shop.transactions)
    with pytest.raises(UpsellDataError, match="unknown feature 'x'"):
        Clusters(k=2, features=["x"]).fit(shop.transactions)
    sub = Clusters(k=2, features=["orders", "monetary"]).fit(shop.transactions)
    assert sub.centroids_.shape == (2, 2)


def test_save_load(fitted, shop, tmp_path):
    p = tmp_path / "clusters.npz"
    fitted.save(p)
    back = Clusters.load(p)
    assert back.get_params() == {**fitted.get_params(), "k_range": fitted.k_range}
    assert np.array_equal(back.centroids_, fitted.centroids_)
    assert np.array_equal(back.predict(shop.transactions, at=fitted.at_).cluster,
                          fitted.labels_)
    assert back.profile_.label.tolist() == fitted.profile_.label.tolist()


def test_load_takes_the_keywords_of_every_model_load(fitted, shop, tmp_path):
    p = tmp_path / "clusters.npz"
    fitted.save(p)
    shared = [fitted.customers_]
    back = Clusters.load(p, ids=shared, verify=False, mmap=True)
    assert back.customers_ is fitted.customers_  # an equal loaded index is reused
    assert back.items_ == fitted.items_ and shared[-1] is back.items_
    assert np.array_equal(back.predict().cluster, fitted.predict().cluster)


def test_load_reads_files_with_plain_id_arrays(fitted, tmp_path):
    # files written before the ids were saved with their sort permutation
    p = tmp_path / "old.npz"
    fitted.save(p)
    doc, arrays = read_model(p, kind="Clusters")
    for key in ("customers", "items"):
        del arrays[key + ".sorter"]
    write_model(p, kind="Clusters", params=doc["params"], arrays=arrays, meta=doc["meta"])
    back = Clusters.load(p)
    assert back.customers_ == fitted.customers_ and back.items_ == fitted.items_
