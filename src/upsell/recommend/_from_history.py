"""The recipe of :meth:`Recommender.from_history`: every part fitted from one shop's history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from upsell._validation import check_choice
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellTypeError

__all__ = ["parts_from_history"]


def parts_from_history(tx: Transactions, catalog: Any = None, *, blend: str = "learned",
                       fit_learned: Callable[[Transactions, Any, Any], Any] | None = None
                       ) -> dict[str, Any]:
    """Keyword arguments of ``Recommender(**parts)`` with every part fitted from ``tx``.

    What :meth:`Recommender.from_history` assembles: bundle rules (support chosen
    under the itemset budget, pruned, significant at 5%), EASE (item-KNN above
    20,000 items) and :class:`~upsell.cf.RepeatBlend` as cross-sell sources,
    customer types (:class:`~upsell.segments.Personas`) when the lines have
    customers and times, the upsell ranker when a catalog is given, and the blend:
    ``"learned"`` a :class:`LearnedBlend` fitted on the same history (with the
    customer types as segments), ``"weighted"`` the fixed weighted sum (``None``).

    Parameters
    ----------
    tx : Transactions
    catalog : Catalog, optional
        Default: built from the transactions (names, median unit prices).
    blend : {"learned", "weighted"}, default "learned"
    fit_learned : callable (tx, catalog, segments) -> fitted blend
        How the learned blend is fitted (``blend="learned"``).

    Returns
    -------
    dict of str to object
    """
    from upsell import bundles, segments
    from upsell.cf import EASE, ItemKNN, RepeatBlend
    from upsell.data.catalog import Catalog

    check_choice(blend, "blend", ("learned", "weighted"))
    cross: list[Any] = []
    fi = bundles.frequent_itemsets(tx, min_support="auto", max_len=3)
    rules = bundles.association_rules(fi, min_confidence=0.1, prune=True, max_p=0.05)
    if len(rules):
        cross.append(bundles.BundleRecommender(rules))
    personas = None
    if tx.has("customer"):
        cf = EASE() if len(tx.items) <= 20_000 else ItemKNN()
        cross.append(cf.fit(tx))
        cross.append(RepeatBlend(num_threads=1).fit(tx))
        if tx.has("time"):
            personas = segments.Personas().fit(tx, catalog=catalog)
    cat = catalog.align(tx.items) if catalog is not None else Catalog.from_transactions(tx)
    ranker = None
    if catalog is not None:
        from upsell.tiers import UpsellRanker

        objective = "margin" if np.isfinite(catalog.cost).any() else "revenue"
        ranker = UpsellRanker(objective=objective).fit(tx, cat, segments=personas)
    learned = None
    if blend == "learned":
        if fit_learned is None:
            raise UpsellTypeError("blend='learned' needs fit_learned=")
        learned = fit_learned(tx, catalog, personas)
    return {"catalog": cat, "cross_sell": cross, "upsell": ranker, "segments": personas,
            "history": tx if tx.has("customer") else None, "blend": learned}
