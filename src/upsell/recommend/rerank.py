"""Re-ranking rules: margin or revenue weight, inventory push, diversity, promoted items.

Adjustments are added to an offer's score and recorded as ``rule:<name>``
components, so the final score is always the sum of its parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float, check_int
from upsell.data.catalog import Catalog
from upsell.recommend._core import OfferPool, PoolItem, Request
from upsell.recommend.filters import _id_list, _ids, register_rule

__all__ = ["Diversity", "InventoryPush", "MarginWeight", "Promote"]


@register_rule
class MarginWeight:
    """Favour offers that earn more: ``+ weight * expected / max expected`` within the request.

    ``expected`` is the offer's expected margin (``by="margin"``) or expected
    revenue (``by="revenue"``): P(accept) times the margin or revenue of
    accepting. Unknown or negative values add nothing.

    Parameters
    ----------
    weight : float, default 0.3
    by : {"margin", "revenue"}, default "margin"

    Examples
    --------
    >>> MarginWeight(weight=0.5, by="revenue").to_config()
    {'weight': 0.5, 'by': 'revenue'}
    """

    name = "margin"

    def __init__(self, *, weight: float = 0.3, by: str = "margin") -> None:
        self.weight = check_float(weight, "weight", low=0)
        self.by = check_choice(by, "by", ("margin", "revenue"))

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Add the normalised expected margin (revenue)."""
        items = list(pool)
        vals = [c.expected_margin if self.by == "margin" else c.expected_revenue for c in items]
        vals = [v if v == v and v > 0 else 0.0 for v in vals]
        top = max(vals, default=0.0)
        if top <= 0:
            return
        for c, v in zip(items, vals, strict=True):
            pool.adjust(c, self.weight * v / top, self.name)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"weight": self.weight, "by": self.by}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MarginWeight:
        """Inverse of :meth:`to_config`."""
        return cls(**config)


@register_rule
class InventoryPush:
    """Boost overstocked items by ``boost``.

    An item is overstocked when its stock is at least ``threshold`` units; with
    no threshold, at least the ``quantile`` of the catalog's known stock levels
    (computed once when the recommender is built).

    Parameters
    ----------
    boost : float, default 0.1
    threshold : float, optional
    quantile : float, default 0.9

    Examples
    --------
    >>> from upsell import Catalog
    >>> cat = Catalog.from_arrays(item=list("abcd"), stock=[1, 2, 3, 100])
    >>> InventoryPush(quantile=0.75).bind(cat).threshold
    27.25
    """

    name = "inventory"

    def __init__(self, *, boost: float = 0.1, threshold: float | None = None,
                 quantile: float = 0.9) -> None:
        self.boost = check_float(boost, "boost", low=0)
        self.threshold = None if threshold is None else check_float(threshold, "threshold", low=0)
        self.quantile = check_float(quantile, "quantile", low=0, high=1)

    def bind(self, catalog: Catalog) -> InventoryPush:
        """A copy with the threshold fixed from the catalog (when none was given)."""
        if self.threshold is not None:
            return self
        s = catalog.stock[~np.isnan(catalog.stock)]
        thr = float(np.quantile(s, self.quantile)) if s.size else float("inf")
        return InventoryPush(boost=self.boost, threshold=thr, quantile=self.quantile)

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Add ``boost`` to overstocked items."""
        thr = self.threshold if self.threshold is not None else float("inf")
        stock = pool.catalog.stock
        for c in pool:
            s = float(stock[c.index])
            if s == s and s >= thr:
                pool.adjust(c, self.boost, self.name)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"boost": self.boost, "threshold": self.threshold, "quantile": self.quantile}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InventoryPush:
        """Inverse of :meth:`to_config`."""
        return cls(**config)


@register_rule
class Diversity:
    """At most ``max_per`` offers per product family (or category, or any catalog column).

    Items with an empty value are not limited.

    Parameters
    ----------
    by : str, default "family"
    max_per : int, default 2

    Examples
    --------
    >>> Diversity(by="category", max_per=1).name
    'diversity_category'
    """

    def __init__(self, *, by: str = "family", max_per: int = 2) -> None:
        if not isinstance(by, str) or not by:
            from upsell.exceptions import UpsellDataError

            raise UpsellDataError(f"`by` must name a catalog column; got {by!r}")
        self.by = by
        self.max_per = check_int(max_per, "max_per", minimum=1)
        self.name = f"diversity_{by}"

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Register the limit; the final selection enforces it."""
        col = pool.catalog.column(self.by)

        def key(c: PoolItem) -> Any:
            v = col[c.index]
            v = v.item() if isinstance(v, np.generic) else v
            return None if v == "" or v != v else v

        pool.limit(self.name, key, self.max_per)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"by": self.by, "max_per": self.max_per}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Diversity:
        """Inverse of :meth:`to_config`."""
        return cls(**config)


@register_rule
class Promote:
    """Promoted items get ``boost``, in at most ``slots`` places of the list.

    The ``slots`` best-scoring promoted candidates are boosted; further promoted
    candidates compete without the boost, and the final list never holds more
    than ``slots`` boosted items. With ``inject=True`` promoted items no source
    proposed join the candidates (with score 0, source "promotion") and pass
    through every filter like the rest; those that get no slot are dropped.

    Parameters
    ----------
    items : list of item ids
    slots : int, default 1
    boost : float, default 0.5
    inject : bool, default False

    Examples
    --------
    >>> Promote(["x"], slots=2).to_config()
    {'items': ['x'], 'slots': 2, 'boost': 0.5, 'inject': False}
    """

    name = "promote"

    def __init__(self, items: Any, *, slots: int = 1, boost: float = 0.5,
                 inject: bool = False) -> None:
        self.items = _ids(items, "items")
        self.slots = check_int(slots, "slots", minimum=0)
        self.boost = check_float(boost, "boost", low=0)
        self.inject = bool(inject)

    def injected(self, request: Request) -> list[Any]:
        """Items to add as candidates before the rules run (``inject=True``)."""
        return _id_list(self.items) if self.inject else []

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Boost the best ``slots`` promoted candidates and cap them in the list."""
        promoted = sorted((c for c in pool if c.item in self.items),
                          key=lambda c: (-c.score, c.index))
        for rank, c in enumerate(promoted):
            if rank < self.slots:
                c.promoted = True
                slot = f"promoted slot {rank + 1} of {self.slots}"
                if self.boost:
                    pool.adjust(c, self.boost, self.name)
                    c.effects[-1] = (self.name, f"{self.boost:+.3f} ({slot})")
                else:
                    pool.note(c, self.name, slot)
            elif all(e.source == "promotion" for e in c.evidence):
                pool.drop(c, self.name)  # injected only to be promoted: no slot, no offer
            else:
                pool.note(c, self.name, f"promoted, beyond the {self.slots} slot(s): not boosted")
        pool.quota(self.name, lambda c: c.promoted, self.slots)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"items": _id_list(self.items), "slots": self.slots, "boost": self.boost,
                "inject": self.inject}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Promote:
        """Inverse of :meth:`to_config`."""
        c = dict(config)
        return cls(c.pop("items"), **c)
