"""Small LightGBM data and models shared by the forest, serving and training tests."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np


def forest_data(n: int, F: int, seed: int, nan: float = 0.15, zeros: float = 0.05,
                nan_category: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Features with NaNs and exact zeros, column 1 categorical (0-6, some NaN), and labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, F))
    X[rng.random(X.shape) < nan] = np.nan
    X[rng.random(X.shape) < zeros] = 0.0
    X[:, 1] = rng.integers(0, 7, n).astype(float)  # categorical
    X[rng.random(n) < nan_category, 1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + (X[:, 1] == 3) + np.nan_to_num(X[:, 2]) * np.nan_to_num(X[:, 3])
         + rng.normal(size=n) > 0.3).astype(float)
    return X, y


def forest_booster(params: dict[str, Any], X: np.ndarray, y: np.ndarray, rounds: int,
                   **extra: Any) -> Any:
    """A booster on ``(X, y)`` (queries of 50 rows for lambdarank), column 1 categorical."""
    rank = params["objective"] == "lambdarank"
    ds = lgb.Dataset(X, label=y, group=np.full(X.shape[0] // 50, 50) if rank else None,
                     categorical_feature=[1], params={"verbose": -1})
    return lgb.train({**params, "verbose": -1, "min_data_in_leaf": 20, "num_threads": 1,
                      **extra}, ds, rounds)


def ranking_data(n_queries: int, per: int, n_features: int, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X float32, y 0/1 from column 0 plus noise, group sizes) of ``n_queries`` x ``per`` rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_queries * per, n_features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=X.shape[0]) > 1.0).astype(np.float32)
    return X, y, np.full(n_queries, per)
