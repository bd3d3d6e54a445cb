"""Checks shared by everything that learns from ``OfferLog.outcomes()`` arrays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from upsell.exceptions import UpsellDataError

__all__ = ["outcome_column", "outcome_items"]


def outcome_items(outcomes: Any, required: Iterable[str]) -> np.ndarray:
    """``outcomes['item']`` (1-D) after checking ``outcomes`` is a mapping with ``required``."""
    if not isinstance(outcomes, Mapping):
        raise UpsellDataError(f"`outcomes` must be a mapping of column -> array "
                              f"(OfferLog.outcomes()); got {type(outcomes).__name__}")
    for key in required:
        if key not in outcomes or outcomes[key] is None:
            raise UpsellDataError(f"`outcomes` lacks the column {key!r}; it has "
                                  f"{sorted(map(str, outcomes))}")
    item = np.asarray(outcomes["item"])
    if item.ndim != 1:
        raise UpsellDataError(f"`outcomes['item']` must be 1-D; got shape {item.shape}")
    return item


def outcome_column(outcomes: Mapping[str, Any], key: str, n: int) -> np.ndarray | None:
    """``outcomes[key]`` as an array of ``n`` values (None when the column is absent)."""
    if key not in outcomes or outcomes[key] is None:
        return None
    a = np.asarray(outcomes[key])
    if a.ndim != 1 or a.shape[0] != n:
        raise UpsellDataError(f"`outcomes[{key!r}]` must be one value per row ({n:,}); got "
                              f"shape {a.shape}")
    return a
