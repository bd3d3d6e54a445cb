"""Fixtures for the collaborative-filtering tests: small random shops, one model per kind."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from upsell import Transactions
from upsell.cf import ALS, BPR, EASE, ItemKNN, Popular, RepeatBlend


def random_matrix(n_customers: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    """Power-law-ish random purchase counts with every customer owning at least one item."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** 0.8
    p /= p.sum()
    nnz = max(int(n_customers * n_items * density), n_customers)
    rows = np.concatenate([np.arange(n_customers), rng.integers(0, n_customers, nnz)])
    cols = rng.choice(n_items, size=rows.size, p=p)
    m = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)),
                      shape=(n_customers, n_items))
    m.sum_duplicates()
    return m


# one factory per model: small settings so the suite stays fast
MODELS = {
    "als": lambda: ALS(factors=8, iterations=4, num_threads=1, random_state=0),
    "bpr": lambda: BPR(factors=8, iterations=20, random_state=0),
    "knn-cosine": lambda: ItemKNN(similarity="cosine", n_neighbors=20, num_threads=1),
    "knn-bm25": lambda: ItemKNN(similarity="bm25", n_neighbors=20, num_threads=1),
    "knn-tfidf": lambda: ItemKNN(similarity="tfidf", n_neighbors=20, num_threads=1),
    "ease": lambda: EASE(regularization=10.0, n_neighbors=20),
    "popular": lambda: Popular(),
    "popular-personal": lambda: Popular(mode="personal"),
    "popular-decayed": lambda: Popular(mode="decayed", half_life_days=10.0),
    "popular-segment": lambda: Popular(mode="segment"),
    "blend": lambda: RepeatBlend(n_neighbors=20, num_threads=1),
    "blend-cf-only": lambda: RepeatBlend(cf_weight=5.0, half_life_days=7.0, similarity="cosine",
                                         n_neighbors=20, num_threads=1),
}


@pytest.fixture(scope="session")
def shop_tx() -> Transactions:
    """A small shop with string ids, times, and 120 customers x 40 items."""
    rng = np.random.default_rng(7)
    X = random_matrix(120, 40, 0.06, seed=3).tocoo()
    n = X.nnz
    order = [f"o{r}-{int(t)}" for r, t in zip(X.row, rng.integers(0, 3, n), strict=False)]
    time = (np.datetime64("2011-01-01") + rng.integers(0, 200, n).astype("timedelta64[D]"))
    return Transactions.from_arrays(
        order=order, item=[f"i{c:02d}" for c in X.col], customer=[f"c{r:03d}" for r in X.row],
        quantity=np.ones(n), time=time)


def fit_model(name: str, data: object) -> object:
    model = MODELS[name]()
    if name == "popular-segment":
        n = data.shape[0] if sp.issparse(data) else len(data.customers)  # type: ignore[attr-defined]
        return model.fit(data, segments=np.arange(n) % 3)  # type: ignore[attr-defined]
    return model.fit(data)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def fitted(shop_tx: Transactions) -> dict[str, object]:
    return {name: fit_model(name, shop_tx) for name in MODELS}
