"""One contract every recommender in upsell.cf must keep (fold-in, recommend_all, similar_items,
model files); the contract every recommender shares is tests/test_contract.py."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from upsell import ModelFileError, NotFittedError, Transactions
from upsell._results import Recommendations
from upsell.cf import CFModel
from upsell.exceptions import UnknownIdError, UpsellDataError

from .conftest import MODELS

NAMES = sorted(MODELS)


def check_lists(recs: Recommendations, k: int) -> None:
    for r in range(len(recs)):
        idx = recs.indices(r)
        sc = recs.request_scores(r)
        assert idx.size <= k
        assert np.unique(idx).size == idx.size
        assert np.all(np.isfinite(sc))
        assert np.all(np.diff(sc) <= 0), sc


def owned(tx: Transactions, cid: str) -> set[str]:
    H = tx.customer_items()
    u = tx.customers.index(cid)
    return set(tx.items.ids[H.indices[H.indptr[u]:H.indptr[u + 1]]].tolist())


@pytest.mark.parametrize("name", NAMES)
def test_not_fitted_params_repr(name: str) -> None:
    model = MODELS[name]()
    with pytest.raises(NotFittedError, match="not fitted"):
        model.recommend(customers=["x"])
    with pytest.raises(NotFittedError):
        model.save("unused.npz")
    params = model.get_params()
    assert type(model)(**params).get_params() == params
    assert repr(model).startswith(type(model).__name__ + "(")
    assert isinstance(model, CFModel)


@pytest.mark.parametrize("name", NAMES)
def test_recommend_customers(name: str, fitted: dict, shop_tx: Transactions) -> None:
    model = fitted[name]
    assert "fitted" in repr(model)
    cids = shop_tx.customers.ids[:25].tolist()
    recs = model.recommend(customers=cids, k=7)
    assert recs.request_kind == "customer" and len(recs) == 25
    assert recs.requests.tolist() == cids
    check_lists(recs, 7)
    n_items = len(shop_tx.items)
    for r, cid in enumerate(cids):
        got = set(recs.item_ids(r).tolist())
        mine = owned(shop_tx, cid)
        assert not got & mine
        # never short unless the candidates ran out
        assert len(got) == min(7, n_items - len(mine))
    # one request: same shape, same answer as inside the batch
    one = model.recommend(customers=cids[3], k=7)
    assert len(one) == 1
    assert one.item_ids(0).tolist() == recs.item_ids(3).tolist()
    np.testing.assert_allclose(one.request_scores(0), recs.request_scores(3), rtol=1e-4,
                               atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_exclude_candidates_owned(name: str, fitted: dict, shop_tx: Transactions) -> None:
    model = fitted[name]
    items = shop_tx.items.ids.tolist()
    cids = shop_tx.customers.ids[:10].tolist()
    excl = [*items[:5], "not-an-item"]
    cand = items[3:15]
    recs = model.recommend(customers=cids, k=5, exclude=excl, candidates=cand)
    check_lists(recs, 5)
    for r, cid in enumerate(cids):
        got = set(recs.item_ids(r).tolist())
        assert got <= set(cand) - set(excl) - owned(shop_tx, cid)
        assert len(got) == min(5, len(set(cand) - set(excl) - owned(shop_tx, cid)))
    kept = model.recommend(customers=cids, k=len(items), exclude_owned=False)
    for r in range(len(cids)):
        assert len(kept.item_ids(r)) == len(items)
    none = model.recommend(customers=cids[:2], k=3, candidates=[])
    assert none.lists() == [[], []]


@pytest.mark.parametrize("name", NAMES)
def test_fold_in_baskets_and_history(name: str, fitted: dict, shop_tx: Transactions) -> None:
    model = fitted[name]
    items = shop_tx.items.ids.tolist()
    baskets = [items[:3], [items[5], items[5], "unknown-item"], []]
    recs = model.recommend(baskets=baskets, k=6)
    assert recs.request_kind == "basket" and recs.requests.tolist() == [0, 1, 2]
    check_lists(recs, 6)
    assert not set(recs.item_ids(0).tolist()) & set(items[:3])
    assert items[5] not in recs.item_ids(1).tolist()
    assert [len(x) for x in recs.lists()] == [6, 6, 6]
    # an unseen customer with a history is folded in like a basket
    new = model.recommend(customers=["newcomer"], history=[items[:3]], k=6)
    assert new.item_ids(0).tolist() == recs.item_ids(0).tolist()
    with pytest.raises(UnknownIdError, match="newcomer"):
        model.recommend(customers=["newcomer"], k=6)
    # a seen customer whose history grew: the new items are owned now
    cid = shop_tx.customers.ids[0]
    fresh = [i for i in items if i not in owned(shop_tx, cid)][:2]
    grown = model.recommend(customers=[cid], history=[fresh], k=6)
    check_lists(grown, 6)
    assert not set(grown.item_ids(0).tolist()) & (owned(shop_tx, cid) | set(fresh))
    with pytest.raises(UpsellDataError, match="baskets"):
        model.recommend(baskets=items[:2])
    with pytest.raises(UpsellDataError, match="exactly one"):
        model.recommend()


@pytest.mark.parametrize("name", NAMES)
def test_similar_items(name: str, fitted: dict, shop_tx: Transactions) -> None:
    model = fitted[name]
    items = shop_tx.items.ids[:6].tolist()
    sim = model.similar_items(items, k=4)
    assert sim.request_kind == "source_item" and sim.requests.tolist() == items
    check_lists(sim, 4)
    for r, it in enumerate(items):
        assert it not in sim.item_ids(r).tolist()
    assert sum(len(x) for x in sim.lists()) > 0
    with pytest.raises(UnknownIdError):
        model.similar_items(["nope"])


@pytest.mark.parametrize("name", NAMES)
def test_recommend_all(name: str, fitted: dict, shop_tx: Transactions) -> None:
    model = fitted[name]
    everyone = model.recommend_all(k=5, batch_size=17)
    assert len(everyone) == len(shop_tx.customers)
    check_lists(everyone, 5)
    some = model.recommend(customers=shop_tx.customers.ids[:30].tolist(), k=5)
    assert everyone.lists()[:30] == some.lists()


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(name: str, fitted: dict, shop_tx: Transactions,
                              tmp_path: Path) -> None:
    model = fitted[name]
    path = tmp_path / f"{name}.npz"
    model.save(path)
    back = type(model).load(path)
    assert back.get_params() == model.get_params()
    cids = shop_tx.customers.ids[:20].tolist()
    a, b = model.recommend(customers=cids, k=5), back.recommend(customers=cids, k=5)
    assert a.lists() == b.lists()
    np.testing.assert_array_equal(a.scores, b.scores)
    items = shop_tx.items.ids[:4].tolist()
    assert (model.recommend(baskets=[items], k=5).lists()
            == back.recommend(baskets=[items], k=5).lists())
    assert model.similar_items(items, k=3).lists() == back.similar_items(items, k=3).lists()
    # wrong kind
    other = ("ALS" if type(model).__name__ != "ALS" else "BPR")
    from upsell import cf
    with pytest.raises(ModelFileError, match="holds a"):
        getattr(cf, other).load(path)
    # truncated
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        type(model).load(cut)


def test_corrupted_and_wrong_version(fitted: dict, tmp_path: Path) -> None:
    model = fitted["knn-cosine"]
    path = tmp_path / "m.npz"
    model.save(path)
    # flip one array byte: the checksum catches it
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("m_nb_data.npy")
    pos = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw[pos] ^= 0xFF
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="corrupted"):
        type(model).load(bad)
    # a newer format version
    import json
    with np.load(path, allow_pickle=False) as npz:
        arrays = {n: npz[n] for n in npz.files}
    doc = json.loads(arrays["__meta__"].tobytes())
    doc["format_version"] = 99
    arrays["__meta__"] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    newer = tmp_path / "newer.npz"
    with open(newer, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ModelFileError, match="version 99"):
        type(model).load(newer)


@pytest.mark.parametrize("name", NAMES)
def test_threads_agree_with_sequential(name: str, fitted: dict, shop_tx: Transactions) -> None:
    model = fitted[name]
    cids = shop_tx.customers.ids.tolist()
    items = shop_tx.items.ids.tolist()
    jobs = [("c", [c]) for c in cids[:40]] + [("b", [items[i:i + 3]]) for i in range(0, 30, 3)]

    def run(job: tuple[str, list]) -> list:
        kind, arg = job
        recs = (model.recommend(customers=arg, k=5) if kind == "c"
                else model.recommend(baskets=arg, k=5))
        return [recs.lists(), recs.scores.tolist()]

    expected = [run(j) for j in jobs]
    results: list[list] = [[None] * len(jobs) for _ in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for j, job in enumerate(jobs):
                results[t][j] = run(job)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for t in range(8):
        assert results[t] == expected


@pytest.mark.parametrize("name", [n for n in NAMES if n != "popular-decayed"])
def test_fit_sparse_matrix_ids_are_positions(name: str) -> None:
    from .conftest import fit_model, random_matrix

    X = random_matrix(50, 15, 0.1, seed=1)
    model = fit_model(name, sp.coo_matrix(X))
    assert model.items_.ids.tolist() == list(range(15))
    recs = model.recommend(customers=[0, 49], k=3)
    assert recs.requests.tolist() == [0, 49]
    check_lists(recs, 3)
    # ids as a web request sends them find the int ids; an id no spelling of which is known raises
    assert model.recommend(customers=["0", "49.0"], k=3).lists() == recs.lists()
    assert model.recommend(customers="0", k=3).lists() == recs.lists()[:1]
    with pytest.raises(UnknownIdError):
        model.recommend(customers=["x0"])
    sim = model.similar_items(items=[3], k=2).lists()
    assert model.similar_items(items=["3"], k=2).lists() == sim
    assert model.recommend(baskets=[["3", "4"]], k=3).lists() == \
        model.recommend(baskets=[[3, 4]], k=3).lists()


def test_bad_arguments(fitted: dict) -> None:
    model = fitted["als"]
    with pytest.raises(UpsellDataError, match="`k`"):
        model.recommend(customers=["c000"], k=0)
    with pytest.raises(UpsellDataError, match="weighting"):
        type(model)().fit(sp.csr_matrix(np.eye(3)), weighting="nope")
    with pytest.raises(UpsellDataError, match="needs Transactions"):
        type(model)().fit(sp.csr_matrix(np.eye(3)), weighting="value")
    with pytest.raises(UpsellDataError, match="non-negative"):
        type(model)().fit(sp.csr_matrix(-np.eye(3)))
    with pytest.raises(UpsellDataError, match="history"):
        model.recommend(customers=["c000", "c001"], history=[["i01"]])
