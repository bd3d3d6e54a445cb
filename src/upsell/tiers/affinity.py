"""CF affinity for the upsell ranker: the plug-in protocol and the adapter of a fitted CF model.

Public as :class:`upsell.tiers.AffinityScorer` and :class:`upsell.tiers.CFAffinity` (also
importable from :mod:`upsell.tiers.ranker`, where they lived before).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from upsell._validation import check_float
from upsell.exceptions import NotFittedError, UpsellDataError

__all__ = ["AffinityScorer", "CFAffinity"]


@runtime_checkable
class AffinityScorer(Protocol):
    """A CF affinity plug-in: anything with ``score(customer, items)``.

    ``customer`` is an external customer id, ``items`` an array of external item
    ids; the result is one float per item (higher = more affine). Unknown
    customers may return zeros.

    Examples
    --------
    >>> class Flat:
    ...     def score(self, customer, items):
    ...         return np.zeros(len(items))
    >>> isinstance(Flat(), AffinityScorer)
    True
    """

    def score(self, customer: Any, items: np.ndarray) -> np.ndarray: ...


class CFAffinity:
    """A fitted :mod:`upsell.cf` model (ALS, BPR, ItemKNN, EASE, ...) as the ranker's affinity.

    ``score(customer, items)`` asks the model, through its public
    ``recommend(customers=customer, candidates=items, k=len(items),
    exclude_owned=False)``, for the customer's score of just those items: a
    factor model takes dot products with the few candidate vectors, a neighbour
    model sums the similarities of the customer's own items, so a call costs
    nothing proportional to the catalog.

    Parameters
    ----------
    model : upsell.cf.CFModel
        A fitted model; its customer and item ids must be those of the ranker's data.
    unknown : float, default 0.0
        Score of customers the model does not know and of items it never saw
        (items it knows but scores nothing for the customer get the model's own
        fallback score, 0 for the built-in models).

    Raises
    ------
    UpsellDataError
        When ``model`` has no ``recommend`` method.
    NotFittedError
        When ``model`` is not fitted.

    Notes
    -----
    The scale of the scores does not matter: the propensity model standardises
    its features and learns the weight of this one (``coef_["cf_affinity"]``).
    ``fit`` calls ``score`` once per customer with upgrade chances.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from upsell.cf import ItemKNN
    >>> knn = ItemKNN(similarity="cosine").fit(
    ...     sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]])))
    >>> aff = CFAffinity(knn)
    >>> s = aff.score(0, np.array([2, 1, 7]))
    >>> bool(s[0] > 0), float(s[2])
    (True, 0.0)
    >>> isinstance(aff, AffinityScorer)
    True
    """

    def __init__(self, model: Any, *, unknown: float = 0.0) -> None:
        if not callable(getattr(model, "recommend", None)):
            raise UpsellDataError(
                f"`model` must be a fitted upsell.cf model with recommend(); got "
                f"{type(model).__name__}")
        if not hasattr(model, "items_") or not hasattr(model, "customers_"):
            raise NotFittedError(f"{type(model).__name__} is not fitted yet; call fit first")
        self.model = model
        self.unknown = check_float(unknown, "unknown")

    def __repr__(self) -> str:
        return f"CFAffinity({type(self.model).__name__})"

    def score(self, customer: Any, items: np.ndarray) -> np.ndarray:
        """The model's score of ``customer`` for each of ``items`` (external ids).

        Parameters
        ----------
        customer : customer id
        items : array of item ids, shape (n,)

        Returns
        -------
        ndarray of float64, shape (n,)
        """
        m = self.model
        items = np.asarray(items).reshape(-1)
        out = np.full(items.size, self.unknown, dtype=np.float64)
        if not items.size or customer is None or customer not in m.customers_:
            return out
        idx = m.items_.encode(items, unknown="mask").astype(np.int64)
        known = np.flatnonzero(idx >= 0)
        if not known.size:
            return out
        want = np.unique(idx[known])
        rec = m.recommend(customers=customer, candidates=m.items_.ids[want], k=int(want.size),
                          exclude_owned=False)
        got = np.asarray(rec.item_index[rec.indptr[0]:rec.indptr[1]], dtype=np.int64)
        val = np.asarray(rec.scores[rec.indptr[0]:rec.indptr[1]], dtype=np.float64)
        srt = np.argsort(got)
        got, val = got[srt], val[srt]
        at = np.minimum(np.searchsorted(got, idx[known]), max(got.size - 1, 0))
        hit = got[at] == idx[known] if got.size else np.zeros(known.size, dtype=bool)
        out[known[hit]] = val[at[hit]]
        return out
