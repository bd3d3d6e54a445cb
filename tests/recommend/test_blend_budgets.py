"""The learned blend's fit budgets: EASE's work (most-bought items, from_history's fallback)
and the memory of a cut's source matrices (customers in chunks)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from upsell.cf import EASE, ItemKNN
from upsell.exceptions import UpsellDataError
from upsell.recommend import _blend_features
from upsell.recommend._blend_features import BlendState, _ease_lambda
from upsell.recommend._blend_train import build_cut, ease_plan, line_data, segment_codes
from upsell.recommend._from_history import choose_blend, parts_from_history
from upsell.recommend.blend import LearnedBlend

from ._blend_data import FAST, small_shop

DAY = 86_400


@pytest.fixture(scope="module")
def shop():
    return small_shop()


def _cap(n: int):
    return staticmethod(lambda n_fits=1, work=0.0: n)


def test_affordable_items_follow_the_work_budget():
    assert EASE.affordable_items() == 10_000
    assert EASE.affordable_items(8) == 5_000
    assert EASE.affordable_items(1, work=8e9) == 2_000
    with pytest.raises(UpsellDataError, match="n_fits"):
        EASE.affordable_items(0)
    with pytest.raises(UpsellDataError, match="work"):
        EASE.affordable_items(1, work=-1.0)


def test_ease_plan_caps_only_auto_above_the_budget():
    assert ease_plan("auto", 3_739, 5) == {"use_ease": True, "ease_items": None}
    assert ease_plan("auto", 15_000, 5) == {"use_ease": True, "ease_items": 5_848}
    assert ease_plan("auto", 15_000, 9) == {"use_ease": True, "ease_items": 4_807}
    assert ease_plan(True, 15_000, 5) == {"use_ease": True, "ease_items": None}
    assert ease_plan(False, 10, 5) == {"use_ease": False, "ease_items": None}


def test_state_fits_ease_over_the_most_bought_items_only(shop):
    tx = shop.transactions
    seg, _ = segment_codes(None, tx.customers)
    lines = line_data(tx, None, seg)
    end = int(lines.time.max()) + 1
    kw = {"window": 14 * DAY, "half_life": 42 * DAY, "n_neighbors": 20, "use_ease": True}
    full = BlendState.build(lines, end, **kw)
    part = BlendState.build(lines, end, ease_items=12, **kw)
    buyers = full.item["buyers"]
    top = np.sort(np.argsort(-buyers, kind="stable")[:12])
    rows, cols = part.ease.nonzero()
    assert part.ease.nnz > 0 and part.ease.shape == full.ease.shape
    assert set(rows.tolist()) | set(cols.tolist()) <= set(top.tolist())
    # the weights are EASE's on those items' columns alone, at their item positions
    sub = sp.csr_matrix((np.ones(full.H.nnz, np.float32), full.H.indices, full.H.indptr),
                        shape=full.H.shape)[:, top]
    want = EASE(n_neighbors=20, regularization=_ease_lambda(sub)).fit(sub).neighbors_
    np.testing.assert_allclose(part.ease[top][:, top].toarray(), want.toarray(), rtol=1e-6)
    # every other statistic and source is the full state's
    assert (part.knn != full.knn).nnz == 0 and (part.conf != full.conf).nnz == 0
    assert full.ease.nnz > part.ease.nnz


def test_learned_blend_keeps_ease_within_the_budget(shop, monkeypatch):
    monkeypatch.setattr(EASE, "affordable_items", _cap(15))
    b = LearnedBlend(**FAST).fit(shop.transactions, random_state=0)
    rows, cols = b.state_.ease.nonzero()
    assert 0 < np.unique(np.r_[rows, cols]).size <= 15
    recs = b.recommend(customers=shop.transactions.customers.ids[:5], k=3)
    assert all(len(x) == 3 for x in recs.lists())
    # use_ease=True spans every item whatever the budget
    every = LearnedBlend(**FAST, use_ease=True).fit(shop.transactions, random_state=0)
    r2, c2 = every.state_.ease.nonzero()
    assert np.unique(np.r_[r2, c2]).size > 15


def test_from_history_uses_item_knn_above_one_ease_fit(shop, monkeypatch):
    tx = shop.transactions
    kinds = [type(s) for s in parts_from_history(tx, blend="weighted")["cross_sell"]]
    assert EASE in kinds and ItemKNN not in kinds
    monkeypatch.setattr(EASE, "affordable_items", _cap(len(tx.items) - 1))
    kinds = [type(s) for s in parts_from_history(tx, blend="weighted")["cross_sell"]]
    assert ItemKNN in kinds and EASE not in kinds


def test_choose_blend_says_when_ease_leaves_items_out(shop, monkeypatch):
    tx = shop.transactions
    full = choose_blend(tx, LearnedBlend(**FAST), blend="learned")
    assert "EASE" not in full.reason
    monkeypatch.setattr(EASE, "affordable_items", _cap(15))
    capped = choose_blend(tx, LearnedBlend(**FAST), blend="learned")
    assert capped.reason.endswith(f"its EASE spans the 15 most-bought of {len(tx.items)} items "
                                  f"(the work budget of 4 fits)")


def test_auto_keeps_the_weighted_blend_when_the_learned_one_would_not_fit(shop, monkeypatch):
    from upsell.recommend import _from_history

    tx = shop.transactions
    held = _from_history.resident_bytes()
    if held is None:
        pytest.skip("the resident memory is not known on this system")
    # a machine whose memory the process already fills: 300 bytes per line do not fit
    monkeypatch.setattr(_from_history, "memory_budget", lambda: held // 2)
    auto = choose_blend(tx, LearnedBlend(**FAST), blend="auto")
    assert auto.kind == "weighted" and auto.blend is None
    assert auto.reason.startswith("weighted blend: the learned one would need about ")
    assert f"for its {len(tx):,} order lines" in auto.reason
    assert auto.reason.endswith("(asked for, it is fitted anyway)")
    assert choose_blend(tx, LearnedBlend(**FAST), blend="learned").kind == "learned"
    # with room for the lines the learned blend is fitted
    monkeypatch.setattr(_from_history, "memory_budget",
                        lambda: held + _from_history.STATE_BYTES_PER_LINE * len(tx))
    assert _from_history._too_big(tx) is None


def test_a_cut_in_customer_chunks_gives_the_rows_of_one_batch(shop, monkeypatch):
    tx = shop.transactions
    seg, _ = segment_codes(None, tx.customers)
    lines = line_data(tx, None, seg)
    end = int(lines.time.max()) + 1
    cut = end - 30 * DAY
    customers = np.arange(len(tx.customers), dtype=np.int64)

    def rows():
        return build_cut(lines, cut, 14 * DAY, customers=customers, n_candidates=20,
                         n_neighbors=20, half_life=42 * DAY, use_ease=True,
                         thin=(end, 0.5, np.random.default_rng(7)))

    one = rows()
    monkeypatch.setattr(_blend_features, "CHUNK_CELLS",
                        7 * max(len(tx.items), len(tx.customers)))
    chunked = rows()  # chunks of 7 customers
    assert one.customer.size > 100 and np.unique(one.customer).size > 7
    for a, b in ((one.customer, chunked.customer), (one.item, chunked.item),
                 (one.owned, chunked.owned)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one.X, chunked.X)


def test_batch_recommend_in_customer_chunks_gives_the_same_lists(shop, monkeypatch):
    b = LearnedBlend(**FAST).fit(shop.transactions, random_state=0)
    ids = shop.transactions.customers.ids[:60]
    for owned in (False, True):
        one = b.recommend(customers=ids, k=4, include_owned=owned)
        monkeypatch.setattr(_blend_features, "CHUNK_CELLS", 7 * b.state_.n_customers)
        chunked = b.recommend(customers=ids, k=4, include_owned=owned)
        monkeypatch.undo()
        assert one.lists() == chunked.lists()
        np.testing.assert_array_equal(one.scores, chunked.scores)
