"""A small fitted recommender saved once per session, and an app over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import upsell as us
from upsell.bundles import BundleRecommender, association_rules, frequent_itemsets
from upsell.cf import ItemKNN
from upsell.segments import Personas
from upsell.tiers import UpsellRanker

AT = "2025-01-10T12:00:00"
KEY = "test-key-0123456789"


def fit(shop: Any, *, with_bundles: bool = True) -> us.Recommender:
    tx, cat = shop.transactions, shop.catalog
    personas = Personas().fit(tx, catalog=cat)
    cross: list[Any] = [ItemKNN().fit(tx)]
    if with_bundles:
        rules = association_rules(frequent_itemsets(tx, min_support=3, max_len=3),
                                  min_confidence=0.05)
        cross.insert(0, BundleRecommender(rules))
    return us.Recommender(catalog=cat, cross_sell=cross,
                          upsell=UpsellRanker().fit(tx, cat, segments=personas),
                          segments=personas, history=tx)


@pytest.fixture(scope="session")
def shop() -> Any:
    return us.datasets.make_shop(n_customers=300, n_items=80, n_orders=2000, random_state=1)


@pytest.fixture(scope="session")
def model_dirs(shop: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two different models of the same shop (the second without bundle rules)."""
    root = tmp_path_factory.mktemp("models")
    fit(shop).save(root / "a")
    fit(shop, with_bundles=False).save(root / "b")
    return root / "a", root / "b"


@pytest.fixture
def client_factory(model_dirs: tuple[Path, Path], tmp_path: Path) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from upsell.serve import ServeConfig, create_app

    clients: list[Any] = []

    def make(**kw: Any) -> Any:
        kw.setdefault("offer_log", f"sqlite:{tmp_path / 'log.db'}")
        app = create_app(ServeConfig(str(model_dirs[0]), **kw))
        c = TestClient(app, raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)
