"""UpsellRanker: candidate upgrades under business constraints, ranked by expected gain, explained.

Fit learns, from a catalog and order history:

1. the ladders (:func:`~upsell.tiers.build_ladders`) and, per base item, the
   candidate offers that pass the fixed constraints: target in stock, price
   ratio known and within the largest price-jump limit, value added (see
   :class:`~upsell.tiers.ValueFunction`), a positive gain under the objective;
2. a logistic propensity model on upgrade chances (see
   :mod:`upsell.tiers.propensity`) with the customer's smoothed own upgrade rate,
   price position, segment premium affinity, price ratio, value added and,
   optionally, a CF affinity;
3. the share of (similar) customers who took each offer, for explanations and
   for the per-kind offsets of non-ladder offers.

``rank`` then costs a few small numpy operations on precomputed lists.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.special import expit, logit

from upsell._estimator import Estimator
from upsell._lookup import position
from upsell._validation import check_choice, check_float, check_int, check_k, is_one_id
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import (
    ModelFileError,
    NotFittedError,
    UpsellDataError,
    UpsellMemoryError,
)
from upsell.persist import (
    CONTENT_ERRORS,
    check_array,
    check_index,
    corrupted,
    fail,
    index_arrays,
    index_from_arrays,
    read_model,
    write_model,
)
from upsell.tiers.ladders import EDGE_KINDS, Ladders, LogGain, ValueFunction, build_ladders
from upsell.tiers.propensity import (
    LogisticFit,
    Reliability,
    fit_logistic,
    ladder_chances,
    reliability_table,
)

__all__ = ["DEFAULT_PRICE_JUMP", "OBJECTIVES", "AffinityScorer", "CFAffinity", "UpsellRanker",
           "Upsells"]

#: Objectives ``UpsellRanker`` ranks by.
OBJECTIVES = ("margin", "revenue", "probability")
#: Price-jump limit for segments a ``price_jump`` mapping does not name (and no "default").
DEFAULT_PRICE_JUMP = 2.0
_FEATURES = ("own_upgrade_rate", "price_position", "segment_affinity", "log_price_ratio",
             "value_gained", "cf_affinity")
_UNITS = frozenset({"gb", "mb", "tb", "kb", "mm", "cm", "m", "kg", "g", "w", "mah", "h",
                    "min", "l", "ml", "in", "hz", "mp", "px", "pct"})


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


@dataclass(frozen=True, slots=True)
class Upsells:
    """Ranked upsell offers for one request, best first, each with its reason as data.

    Attributes
    ----------
    item, base : ndarray
        Offered item ids and the base item each one upgrades.
    kind : ndarray of str
        "upgrade", "value_pack", "plan" or "alternative".
    score : ndarray of float64
        Ranking score: expected incremental margin (P x margin gain), expected
        incremental revenue, or P, by the objective.
    probability : ndarray of float64
        P(customer accepts), from the propensity model.
    price_diff, price_ratio : ndarray of float64
        Target price minus base price, and their ratio (unit-price ratio for value
        packs; plan price over base price for plans).
    value_gained : ndarray of float64
        Value function output (NaN when features cannot judge it).
    margin_gain : ndarray of float64
        Target margin minus base margin (the plan's margin for plans).
    similar_share : ndarray of float64
        Smoothed share of similar customers (same segment; everyone when unknown)
        who, coming back after buying the base, chose this item.
    cue : ndarray of str
        A short sales cue rendered from the reason.

    Examples
    --------
    >>> u = Upsells.empty()
    >>> len(u), u.to_pandas().columns.tolist()[:3]
    (0, ['item', 'base', 'kind'])
    """

    item: np.ndarray
    base: np.ndarray
    kind: np.ndarray
    score: np.ndarray
    probability: np.ndarray
    price_diff: np.ndarray
    price_ratio: np.ndarray
    value_gained: np.ndarray
    margin_gain: np.ndarray
    similar_share: np.ndarray
    cue: np.ndarray

    @classmethod
    def empty(cls) -> Upsells:
        """No offers."""
        f = np.empty(0)
        s = np.empty(0, dtype=str)
        return cls(s, s, s, f, f, f, f, f, f, f, s)

    def __len__(self) -> int:
        return int(self.item.size)

    def reasons(self) -> list[dict[str, Any]]:
        """One dict per offer with every field (Python scalars).

        Examples
        --------
        >>> Upsells.empty().reasons()
        []
        """
        names = [f for f in self.__slots__ if not f.startswith("_")]
        cols = [getattr(self, f).tolist() for f in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]

    def to_pandas(self) -> Any:
        """One row per offer (needs pandas).

        Examples
        --------
        >>> Upsells.empty().to_pandas().shape
        (0, 11)
        """
        from upsell._extras import require

        pd = require("pandas", "Upsells.to_pandas")
        names = [f for f in self.__slots__ if not f.startswith("_")]
        return pd.DataFrame({f: getattr(self, f) for f in names})

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        return html_table("Upsells", {
            "item": self.item, "base": self.base, "kind": self.kind, "score": self.score,
            "probability": self.probability, "cue": self.cue,
        }, summary=f"{len(self):,} offer(s)")

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw each offer's score, best on top with matplotlib; see :func:`upsell.report.plots.plot_upsells`.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; default a new figure (pyplot is used only if already imported).
        **kwargs
            ``title`` and the other options of :func:`~upsell.report.plots.plot_upsells`;
            the rest go to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes

        Raises
        ------
        MissingExtraError
            If matplotlib (the ``plots`` extra) is not installed.

        Examples
        --------
        >>> ax = UpsellRanker().fit(tx, catalog).rank(item=base).plot()  # doctest: +SKIP
        """
        from upsell.tiers.plots import plot_upsells

        return plot_upsells(self, ax=ax, **kwargs)


# ---------------------------------------------------------------------- helpers
def _logit(p: np.ndarray | float) -> Any:
    return logit(np.clip(p, 1e-4, 1 - 1e-4))


def _segment_labels(segments: Any, customers: IdIndex) -> np.ndarray:
    """Per-customer segment labels ('' = none) from any of the accepted forms."""
    n = len(customers)
    if segments is None:
        return np.full(n, "", dtype=str)
    if isinstance(segments, Mapping):
        vals = [segments.get(c, None) for c in customers.ids.tolist()]
    elif hasattr(segments, "predict") and callable(segments.predict):
        try:
            res = segments.predict(customers=customers.ids)
        except KeyError as exc:
            raise UpsellDataError(
                f"`segments` cannot label every customer of `tx` ({exc}); pass labels for "
                f"these transactions or a model fitted on them") from None
        if not isinstance(res, (np.ndarray, list, tuple)):
            for attr in ("labels", "segment", "segments", "persona", "label"):
                if hasattr(res, attr):
                    res = getattr(res, attr)
                    break
            else:
                raise UpsellDataError(
                    f"`segments.predict(customers=...)` returned a {type(res).__name__} with no "
                    f"labels, segment or persona attribute")
        vals = list(np.asarray(res).reshape(-1).tolist())
    else:
        try:
            vals = list(np.asarray(segments).reshape(-1).tolist())
        except (TypeError, ValueError):
            vals = []
        if not vals and n:
            raise UpsellDataError(
                f"`segments` must be None, a mapping customer -> label, labels aligned to "
                f"tx.customers, or an object with predict(customers=...); "
                f"got {type(segments).__name__}")
    if len(vals) != n:
        raise UpsellDataError(
            f"`segments` must give one label per customer ({n:,}); got {len(vals):,}")
    return np.array(["" if v is None or (isinstance(v, float) and v != v) else str(v)
                     for v in vals], dtype=str) if n else np.zeros(0, dtype=str)


def _feature_label(name: str) -> str:
    parts = name.lower().split("_")
    if len(parts) > 1 and parts[-1] in _UNITS:
        parts = parts[:-1]
    return " ".join(parts)


def _ratio_phrase(r: float, label: str) -> str:
    if r >= 1.95 and r <= 2.05:
        return f"twice the {label}"
    if r >= 2.9:
        return f"{r:.0f}x the {label}"
    if r >= 1.0:
        return f"{(r - 1) * 100:.0f}% more {label}"
    return f"{(1 - r) * 100:.0f}% less {label}"


def _money(x: float) -> str:
    return f"{x:,.2f}"


# ---------------------------------------------------------------------- the ranker
class UpsellRanker(Estimator):
    """Rank upgrades, value packs, plans and high-end alternatives by expected gain.

    Parameters
    ----------
    objective : {"margin", "revenue", "probability"}, default "margin"
        Rank by P(accept) x margin gain, P(accept) x revenue gain, or P(accept).
        Under "margin" (resp. "revenue") offers that do not raise margin (revenue)
        are never made; unknown costs make the margin unknown, so such offers are
        left out (use "revenue" for catalogs without costs).
    price_jump : float or mapping of str to float, default 2.0
        Largest allowed price ratio target / base (unit-price ratio for value packs,
        plan price / base price for plans). A mapping gives one limit per segment
        label; segments it does not name, and customers without a segment, get its
        ``"default"`` entry, or :data:`DEFAULT_PRICE_JUMP`.
    min_value : float, default 0.0
        An upgrade or alternative is offered only when its value gained exceeds
        this (so a dearer item that adds nothing never is).
    require_value : bool, default False
        Also drop upgrades and alternatives whose value cannot be judged (no shared
        feature known); by default a higher tier without features is kept.
    value : ValueFunction, optional
        Value of moving from base to target features; default :class:`LogGain`.
    kinds : sequence of str, default all of EDGE_KINDS
        Which kinds of offer to make.
    band_ratio, max_alternatives
        Passed to :func:`~upsell.tiers.build_ladders`.
    prior_strength : float, default 3.0
        Pseudo-chances shrinking a customer's own upgrade rate to the segment's.
    l2 : float, default 1.0
        L2 penalty of the logistic propensity model.
    affinity : AffinityScorer or callable, optional
        CF affinity of a customer for a target item (``score(customer, items)`` or
        ``f(customer, items)``), used as one more propensity feature. Default off.
    n_folds : int, default 5
        Folds (by customer) for the out-of-fold predictions behind :meth:`reliability`.
    random_state : int, default 0
        Seed of the fold assignment.
    max_memory_gb : float, default 4.0
        Working memory ``fit`` may use, in GB, on top of its inputs. It is estimated
        from the number of order lines, candidate offers and segments before any large
        allocation; a fit that would need more raises
        :class:`~upsell.exceptions.UpsellMemoryError` naming what to change. The
        (customer, base, candidate) combinations behind the shares are processed in
        chunks sized from this budget, so it bounds them too.

    Attributes
    ----------
    ladders_ : Ladders
    items_, customers_ : IdIndex
    coef_ : dict of str to float
        Propensity weights on the raw features (see :data:`_FEATURES` in the source).
    segments_ : ndarray of str
        Segment labels known at fit.
    n_events_ : int
        Upgrade chances the propensity model was fitted on.
    catalog_coverage_ : float
        Share of the customers' order lines whose item is in the catalog (set by
        :meth:`fit`; a catalog sharing no item with the orders raises instead).

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=200, n_items=80, n_orders=1500, random_state=0)
    >>> up = UpsellRanker(objective="margin").fit(shop.transactions, shop.catalog)
    >>> base = shop.catalog.items.ids[np.nanargmin(np.where(shop.catalog.tier == 1,
    ...                                                     shop.catalog.price, np.nan))]
    >>> offers = up.rank(item=base, k=3)
    >>> len(offers) <= 3, bool(np.all(np.diff(offers.score) <= 0))
    (True, True)
    """

    def __init__(self, *, objective: str = "margin",
                 price_jump: float | Mapping[str, float] = DEFAULT_PRICE_JUMP,
                 min_value: float = 0.0, require_value: bool = False,
                 value: ValueFunction | None = None,
                 kinds: tuple[str, ...] = EDGE_KINDS, band_ratio: float = 1.15,
                 max_alternatives: int = 3, prior_strength: float = 3.0, l2: float = 1.0,
                 affinity: AffinityScorer | Callable[..., Any] | None = None,
                 n_folds: int = 5, random_state: int = 0,
                 max_memory_gb: float = 4.0) -> None:
        self.objective = objective
        self.price_jump = price_jump
        self.min_value = min_value
        self.require_value = require_value
        self.value = value
        self.kinds = kinds
        self.band_ratio = band_ratio
        self.max_alternatives = max_alternatives
        self.prior_strength = prior_strength
        self.l2 = l2
        self.affinity = affinity
        self.n_folds = n_folds
        self.random_state = random_state
        self.max_memory_gb = max_memory_gb

    _fitted_attr = "ladders_"
    _fit_hint = "fit(tx, catalog)"

    def _checked_params(self) -> dict[str, Any]:
        p: dict[str, Any] = {}
        p["objective"] = check_choice(self.objective, "objective", OBJECTIVES)
        pj = self.price_jump
        if isinstance(pj, Mapping):
            jumps = {}
            for key, v in pj.items():
                jumps[str(key)] = check_float(v, f"price_jump[{key!r}]", low=1.0)
            p["price_jump"] = jumps
        else:
            p["price_jump"] = check_float(pj, "price_jump", low=1.0)
        p["min_value"] = check_float(self.min_value, "min_value")
        if not isinstance(self.require_value, (bool, np.bool_)):
            raise UpsellDataError(f"`require_value` must be True or False; got {self.require_value!r}")
        if self.value is not None and not callable(self.value):
            raise UpsellDataError(f"`value` must be a callable value function; got {self.value!r}")
        if not isinstance(self.kinds, str) and not hasattr(self.kinds, "__iter__"):
            raise UpsellDataError(f"`kinds` must be a kind of offer or a sequence of them "
                                  f"({', '.join(EDGE_KINDS)}); got {self.kinds!r}")
        kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        if not kinds:
            raise UpsellDataError("`kinds` must name at least one kind of offer; got ()")
        for k in kinds:
            check_choice(k, "kinds", EDGE_KINDS)
        p["kinds"] = kinds
        p["prior_strength"] = check_float(self.prior_strength, "prior_strength", low=0,
                                          low_open=True)
        p["l2"] = check_float(self.l2, "l2", low=0)
        p["n_folds"] = check_int(self.n_folds, "n_folds", minimum=2, maximum=50)
        p["random_state"] = check_int(self.random_state, "random_state", minimum=0)
        p["max_memory_gb"] = check_float(self.max_memory_gb, "max_memory_gb", low=0,
                                         low_open=True)
        a = self.affinity
        if a is not None and not (callable(a) or callable(getattr(a, "score", None))):
            raise UpsellDataError(
                f"`affinity` must have a score(customer, items) method or be callable; got {a!r}")
        return p

    def _jump_for(self, label: str) -> float:
        pj = self.price_jump
        if isinstance(pj, Mapping):
            return float(pj.get(label, pj.get("default", DEFAULT_PRICE_JUMP)))
        return float(pj)

    def price_jump_for(self, segment: str | None = None) -> float:
        """The largest price ratio (target / base) offered to a segment's customers.

        The same limit :meth:`rank` applies; the :class:`~upsell.recommend.Recommender`
        holds upgrades proposed by other sources (a CF model offering a higher
        tier of an owned family) to it too.

        Examples
        --------
        >>> UpsellRanker(price_jump={"price_sensitive": 1.3}).price_jump_for("price_sensitive")
        1.3
        >>> UpsellRanker(price_jump={"price_sensitive": 1.3}).price_jump_for("premium")
        2.0
        """
        return self._jump_for("" if segment is None else str(segment))

    def _affinity(self, customer: Any, items: np.ndarray) -> np.ndarray:
        a = self.affinity
        assert a is not None
        fn = a.score if hasattr(a, "score") else a
        out = np.asarray(fn(customer, items), dtype=np.float64).reshape(-1)
        if out.size != items.size:
            raise UpsellDataError(
                f"`affinity` returned {out.size} scores for {items.size} items")
        return np.nan_to_num(out)

    # ------------------------------------------------------------------ fit
    def fit(self, tx: Transactions, catalog: Catalog, segments: Any = None) -> UpsellRanker:
        """Learn ladders, candidate lists, propensity and shares from history.

        Parameters
        ----------
        tx : Transactions
            Order lines with ``customer`` and ``time`` columns.
        catalog : Catalog
            Every item that may be offered (items of ``tx`` missing from it are ignored).
        segments : optional
            Segment of each customer: labels aligned to ``tx.customers``, a mapping
            customer id -> label, or a fitted segmenter with
            ``predict(customers=...)`` returning labels (or an object with a
            ``labels``/``segment``/``persona`` attribute).

        Returns
        -------
        self

        Raises
        ------
        UpsellDataError
            Bad parameters, inputs of the wrong type, missing columns, and a
            catalog that shares no item with the orders (a wrong item column, or
            ids spelled differently): the ranker would learn nothing. A partial
            overlap is allowed; ``catalog_coverage_`` is the share of the
            customers' order lines whose item is in the catalog.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=600)
        >>> UpsellRanker().fit(shop.transactions, shop.catalog).n_events_ > 0
        True
        """
        p = self._checked_params()
        if not isinstance(tx, Transactions):
            raise UpsellDataError(f"`tx` must be Transactions; got {type(tx).__name__}")
        if not isinstance(catalog, Catalog):
            raise UpsellDataError(f"`catalog` must be a Catalog; got {type(catalog).__name__}")
        tx.require("customer", "UpsellRanker.fit")
        tx.require("time", "UpsellRanker.fit")
        lad = build_ladders(catalog, band_ratio=self.band_ratio,
                            max_alternatives=self.max_alternatives)
        n_items = len(catalog)
        customers = tx.customers
        n_cust = len(customers)
        labels = _segment_labels(segments, customers)
        seg_names = np.unique(labels[labels != ""])
        seg = np.searchsorted(seg_names, labels).astype(np.int64)
        seg[labels == ""] = -1
        n_seg = seg_names.size

        # ---- lines in catalog item space
        imap = catalog.items.encode(tx.items.ids, unknown="mask").astype(np.int64)
        li = imap[tx.item]
        lc = tx.customer.astype(np.int64)
        lt = tx.time.astype("datetime64[s]").astype(np.int64)
        lo = tx.order.astype(np.int64)
        ok = (li >= 0) & (lc >= 0) & (tx.quantity > 0)
        sold = (lc >= 0) & (tx.quantity > 0)
        if sold.any() and not ok.any():
            raise UpsellDataError(
                f"`tx` and `catalog` share no item (no order line is for a catalog item): "
                f"catalog items "
                f"{', '.join(map(repr, catalog.items.ids[:3].tolist()))}, ... and ordered items "
                f"{', '.join(map(repr, tx.items.ids[:3].tolist()))}, ...; check the catalog's "
                f"item column (and that both spell ids alike)")
        self.catalog_coverage_ = float(ok.sum() / sold.sum()) if sold.any() else float("nan")
        li, lc, lt, lo = li[ok], lc[ok], lt[ok], lo[ok]

        # ---- ladder levels
        fam_names, fam = np.unique(lad.family, return_inverse=True)
        fam = fam.astype(np.int64)
        on = lad.family != ""
        if fam_names.size and fam_names[0] == "":
            fam -= 1
        fam[~on] = -1
        n_fam = int(fam.max()) + 1 if on.any() else 0
        level = np.zeros(n_items, dtype=np.int64)
        price = catalog.price
        if n_fam:
            idx = np.flatnonzero(on)
            tiers_sorted = np.unique(np.c_[fam[idx], lad.tier[idx]], axis=0)
            lvl_start = _group_first(tiers_sorted[:, 0])
            lvl = np.arange(tiers_sorted.shape[0]) - lvl_start
            key_f = tiers_sorted[:, 0] * 1e6 + tiers_sorted[:, 1]
            pos = np.searchsorted(key_f, fam[idx] * 1e6 + lad.tier[idx])
            level[idx] = lvl[pos]
            top = np.zeros(n_fam, dtype=np.int64)
            np.maximum.at(top, fam[idx], level[idx])
            rep = np.full((n_fam, int(top.max()) + 1), -1, dtype=np.int64)
            pr = np.where(np.isnan(price[idx]), np.inf, price[idx])
            o2 = idx[np.lexsort((-pr, level[idx], fam[idx]))]   # cheapest written last
            rep[fam[o2], level[o2]] = o2
        else:
            top = np.zeros(0, dtype=np.int64)
            rep = np.full((0, 1), -1, dtype=np.int64)

        # ---- candidate edges and their fixed constraints
        feat_names = tuple(catalog.features)
        F = (np.stack([catalog.features[f] for f in feat_names], axis=1) if feat_names
             else np.zeros((n_items, 0)))
        vf: Any = self.value if self.value is not None else LogGain()
        src = lad.source.astype(np.int64)
        tgt = lad.target.astype(np.int64)
        kind = lad.kind.astype(np.int64)
        cost = catalog.cost
        margin = price - cost
        size = catalog.pack_size
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(kind == 1, (price[tgt] / size[tgt]) / (price[src] / size[src]),
                             price[tgt] / price[src])
        value = np.full(src.size, np.nan)
        feat_kind = (kind == 0) | (kind == 3)
        if feat_names and feat_kind.any():
            value[feat_kind] = np.asarray(vf(F[src[feat_kind]], F[tgt[feat_kind]], feat_names),
                                          dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            value[kind == 1] = -np.log2(ratio[kind == 1])
        add_on = kind == 2
        m_gain = np.where(add_on, margin[tgt], margin[tgt] - margin[src])
        r_gain = np.where(add_on, price[tgt], price[tgt] - price[src])
        max_jump = (max(p["price_jump"].values(), default=DEFAULT_PRICE_JUMP)
                    if isinstance(p["price_jump"], dict) else p["price_jump"])
        if isinstance(p["price_jump"], dict) and "default" not in p["price_jump"]:
            max_jump = max(max_jump, DEFAULT_PRICE_JUMP)
        keep = np.isin(kind, [EDGE_KINDS.index(k) for k in p["kinds"]])
        keep &= catalog.in_stock[tgt]
        keep &= np.isfinite(ratio) & (ratio <= max_jump)
        valued = np.where(np.isnan(value), not self.require_value, value > p["min_value"])
        keep &= np.where(feat_kind, valued, True)
        keep &= np.where(kind == 1, value > 0, True)
        if p["objective"] == "margin":
            keep &= m_gain > 0
        elif p["objective"] == "revenue":
            keep &= r_gain > 0
        e_src, e_tgt, e_kind = src[keep], tgt[keep], kind[keep]
        e_ratio, e_value = ratio[keep], value[keep]
        e_mgain, e_rgain = m_gain[keep], r_gain[keep]
        # the feature behind the cue: the largest improvement
        best_f = np.full(e_src.size, -1, dtype=np.int64)
        best_r = np.full(e_src.size, np.nan)
        if feat_names and e_src.size:
            fb, ft = F[e_src], F[e_tgt]
            okf = np.isfinite(fb) & np.isfinite(ft) & (fb > 0) & (ft > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                rr = np.where(okf, ft / np.where(okf, fb, 1.0), 0.0)
            j = np.argmax(rr, axis=1)
            rj = rr[np.arange(rr.shape[0]), j]
            has = (rj > 1.0) & ((e_kind == 0) | (e_kind == 3))
            best_f[has] = j[has]
            best_r[has] = rj[has]
        e_indptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(e_src, minlength=n_items), out=e_indptr[1:])
        chunk = _check_memory(n_lines=li.size, n_items=n_items, n_edges=e_src.size,
                              n_seg=n_seg, budget_gb=p["max_memory_gb"])

        # ---- upgrade chances, customer evidence, segment affinity, price position
        ev, firsts = ladder_chances(lc, li, lt, lo, fam, level, rep, top)
        n_ev = ev.took.size
        y = ev.took.astype(np.float64)
        ch_c = np.bincount(ev.customer, minlength=n_cust).astype(np.float64)
        up_c = np.bincount(ev.customer, weights=y, minlength=n_cust)
        g_rate = (up_c.sum() + 1.0) / (ch_c.sum() + 2.0)
        has_seg = seg >= 0
        ch_s = np.bincount(seg[has_seg], weights=ch_c[has_seg], minlength=n_seg)
        up_s = np.bincount(seg[has_seg], weights=up_c[has_seg], minlength=n_seg)
        a = p["prior_strength"]
        seg_rate = (up_s + 2.0 * g_rate) / (ch_s + 2.0)
        # the segment rate each customer sees, without the customer's own events (fit-time)
        sc = np.maximum(seg, 0)
        seg_rate_loo = np.where(has_seg, (up_s[sc] - up_c + 2.0 * g_rate)
                                / (ch_s[sc] - ch_c + 2.0), g_rate) if n_seg else np.full(
                                    n_cust, g_rate)
        seg_rate_c = np.where(has_seg, seg_rate[sc] if n_seg else g_rate, g_rate)
        # price position: normalised level of the first purchase in each family
        if firsts.size:
            fc, ff, fl = firsts[:, 0], firsts[:, 1], firsts[:, 2]
            multi = top[ff] > 0
            fc, ff = fc[multi], ff[multi]
            posv = fl[multi] / top[ff]
        else:
            fc = ff = np.zeros(0, dtype=np.int64)
            posv = np.zeros(0)
        pos_sum = np.bincount(fc, weights=posv, minlength=n_cust)
        pos_cnt = np.bincount(fc, minlength=n_cust).astype(np.float64)
        mu_pos = float(posv.mean()) if posv.size else 0.5
        pos_c = (pos_sum + mu_pos) / (pos_cnt + 1.0)
        seg_pos = (np.bincount(seg[has_seg], weights=pos_sum[has_seg], minlength=n_seg)
                   + mu_pos) / (np.bincount(seg[has_seg], weights=pos_cnt[has_seg],
                                            minlength=n_seg) + 1.0)

        # event features (leave the event out of its own evidence)
        ec = ev.customer
        prior_ev = seg_rate_loo[ec]
        r_loo = (up_c[ec] - y + a * prior_ev) / (ch_c[ec] - 1.0 + a)
        key_cf = fc * max(n_fam, 1) + ff
        o_cf = np.argsort(key_cf)
        key_cf, posv_s = key_cf[o_cf], posv[o_cf]
        q_cf = ec * max(n_fam, 1) + ev.family
        at_cf = np.minimum(np.searchsorted(key_cf, q_cf), max(key_cf.size - 1, 0))
        own = (np.where(key_cf[at_cf] == q_cf, posv_s[at_cf], np.nan) if key_cf.size
               else np.full(n_ev, np.nan))
        has_own = ~np.isnan(own)
        pos_loo = (pos_sum[ec] - np.where(has_own, own, 0.0) + mu_pos) / (
            pos_cnt[ec] - has_own + 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ev_ratio = price[ev.target] / price[ev.base]
        ev_lr = np.nan_to_num(np.log(np.where(ev_ratio > 0, ev_ratio, 1.0)))
        ev_val = (np.nan_to_num(np.asarray(vf(F[ev.base], F[ev.target], feat_names),
                                           dtype=np.float64)) if feat_names
                  else np.zeros(n_ev))
        cols = [_logit(r_loo), pos_loo, _logit(prior_ev), ev_lr, ev_val]
        use_cf = self.affinity is not None
        if use_cf:
            aff = np.zeros(n_ev)
            order = np.argsort(ec, kind="stable")
            starts = np.flatnonzero(_group_first_mask(ec[order]))
            for s0, s1 in zip(starts, np.r_[starts[1:], order.size], strict=True):
                rows = order[s0:s1]
                aff[rows] = self._affinity(customers.ids[ec[rows[0]]],
                                           catalog.items.ids[ev.target[rows]])
            cols.append(aff)
        X = np.stack(cols, axis=1) if n_ev else np.zeros((0, len(cols)))
        if n_ev == 0 or y.min() == y.max():
            model = LogisticFit(coef=np.zeros(X.shape[1]), intercept=float(_logit(g_rate)),
                                mean=np.zeros(X.shape[1]), scale=np.ones(X.shape[1]),
                                converged=True, n_iter=0)
        else:
            model = fit_logistic(X, y, l2=p["l2"])
        # out-of-fold predictions (folds by customer) for the reliability table
        oof = np.full(n_ev, np.nan)
        if n_ev and y.min() != y.max():
            rng = np.random.default_rng(p["random_state"])
            fold_of_c = rng.integers(0, p["n_folds"], size=n_cust)
            fold = fold_of_c[ec]
            for k in range(p["n_folds"]):
                te = fold == k
                tr = ~te
                if not te.any():
                    continue
                if not tr.any() or y[tr].min() == y[tr].max():
                    # nothing to fit outside the fold: the smoothed rate outside it
                    oof[te] = (y[tr].sum() + 1.0) / (tr.sum() + 2.0)
                    continue
                oof[te] = fit_logistic(X[tr], y[tr], l2=p["l2"]).predict_proba(X[te])
        w, b0 = model.raw_coef()

        # ---- shares of customers who took each offer (triples), kind offsets
        pair_key, pair_first, pair_last = _pair_table(lc, li, lt, n_items)
        took_e, had_e, took_se, had_se = _offer_shares(pair_key, pair_first, pair_last, seg,
                                                       e_indptr, e_tgt, n_items, n_seg, chunk)
        del pair_first, pair_last
        kind_took = np.bincount(e_kind, weights=took_e, minlength=4)
        kind_had = np.bincount(e_kind, weights=had_e, minlength=4)
        kind_share = (kind_took + 1.0) / (kind_had + 2.0)
        m = 5.0
        g_share = (took_e + m * kind_share[e_kind]) / (had_e + m)
        share = np.empty((n_seg + 1, e_src.size))
        share[n_seg] = g_share
        if n_seg:
            share[:n_seg] = (took_se + m * g_share[None, :]) / (had_se + m)
        offset = _logit(kind_share) - _logit(kind_share[0])
        offset[0] = 0.0

        # ---- precomputed terms: logit P = customer term + edge term (+ w_cf * affinity)
        with np.errstate(divide="ignore", invalid="ignore"):
            lr_e = np.log(e_ratio)
        val_e = np.nan_to_num(e_value) * (e_kind != 1) * (e_kind != 2)
        edge_term = b0 + w[3] * lr_e + w[4] * val_e + offset[e_kind]
        r_all = (up_c + a * seg_rate_c) / (ch_c + a)
        cust_term = w[0] * _logit(r_all) + w[1] * pos_c + w[2] * _logit(seg_rate_c)
        seg_term = (w[0] + w[2]) * _logit(seg_rate) + w[1] * seg_pos
        glob_term = float((w[0] + w[2]) * _logit(g_rate) + w[1] * mu_pos)
        jumps = np.array([self._jump_for(s) for s in seg_names.tolist()]
                         + [self._jump_for("")])

        # ---- per customer: owned items, bases for customer-only requests, engagement
        own_key = pair_key
        own_c = own_key // n_items
        own_i = own_key % n_items
        own_ptr = np.zeros(n_cust + 1, dtype=np.int64)
        np.cumsum(np.bincount(own_c, minlength=n_cust), out=own_ptr[1:])
        base_keep = np.ones(own_i.size, dtype=bool)
        lad_own = fam[own_i] >= 0
        if lad_own.any():
            ko = np.flatnonzero(lad_own)
            kk = own_c[ko] * max(n_fam, 1) + fam[own_i[ko]]
            best = np.full(ko.size, False)
            o3 = np.lexsort((level[own_i[ko]], kk))
            last = np.r_[kk[o3][1:] != kk[o3][:-1], True]
            best[o3[last]] = True
            base_keep[ko[~best]] = False
        b_c, b_i = own_c[base_keep], own_i[base_keep]
        b_ptr = np.zeros(n_cust + 1, dtype=np.int64)
        np.cumsum(np.bincount(b_c, minlength=n_cust), out=b_ptr[1:])
        # engagement: share of the customer's orders in the base's line (its family, or
        # the item itself); for ladder items, the share among orders with any ladder item,
        # i.e. how likely the next tiered purchase is in this family
        line_names, line = np.unique(np.where(catalog.family != "", np.char.add(
            "f:", catalog.family), np.char.add("i:", catalog.items.ids.astype(str))),
            return_inverse=True)
        line = line.astype(np.int64)
        n_line = line_names.size
        is_lad = fam[li] >= 0
        # an order belongs to one customer (Transactions checks it), so (order, line)
        # keys stand for (customer, order, line) triples
        ord_c = np.full(len(tx.orders), -1, dtype=np.int64)
        ord_c[lo] = lc
        co = _order_lines(lo, line[li], n_line, ord_c)
        co_lad = _order_lines(lo[is_lad], line[li[is_lad]], n_line, ord_c)
        u_o = _sorted_unique(lo)
        ords = np.c_[ord_c[u_o], u_o]
        u_o = _sorted_unique(lo[is_lad])
        ords_lad = np.c_[ord_c[u_o], u_o]
        del u_o, ord_c
        lad_base = fam[b_i] >= 0
        eng = np.empty(b_i.size)
        for mask, cnt, orders in ((~lad_base, co, ords), (lad_base, co_lad, ords_lad)):
            n_o = np.bincount(orders[:, 0], minlength=n_cust).astype(np.float64)
            pop_l = np.bincount(cnt[:, 2], minlength=n_line) / max(orders.shape[0], 1)
            ck, cc = _sorted_unique(cnt[:, 0] * n_line + cnt[:, 2], counts=True)
            bk = b_c[mask] * n_line + line[b_i[mask]]
            if ck.size:
                pk = np.minimum(np.searchsorted(ck, bk), ck.size - 1)
                n_cl = np.where(ck[pk] == bk, cc[pk], 0)
            else:
                n_cl = np.zeros(bk.size, dtype=np.int64)
            eng[mask] = (n_cl + 2.0 * pop_l[line[b_i[mask]]]) / (n_o[b_c[mask]] + 2.0)

        # ---- store (read-only)
        self.ladders_ = lad
        self.items_ = catalog.items
        self.customers_ = customers
        self.segments_ = seg_names
        self.feature_names_ = feat_names
        self.coef_ = dict(zip(_FEATURES[:X.shape[1]] if not use_cf else _FEATURES,
                              w.tolist(), strict=True))
        self.intercept_ = float(b0)
        self.kind_offset_ = dict(zip(EDGE_KINDS, offset.tolist(), strict=True))
        self.n_events_ = int(n_ev)
        self.model_ = model
        arrays = {
            "name": catalog.name.astype(str), "price": price.astype(np.float64),
            "cand_indptr": e_indptr, "cand_target": e_tgt.astype(np.int32),
            "cand_kind": e_kind.astype(np.int8), "cand_ratio": e_ratio,
            "cand_value": e_value, "cand_margin_gain": e_mgain, "cand_revenue_gain": e_rgain,
            "cand_best_feature": best_f.astype(np.int32), "cand_best_ratio": best_r,
            "cand_edge_term": edge_term, "cand_share": share,
            "cust_segment": seg.astype(np.int32), "cust_term": cust_term,
            "cust_chances": ch_c, "cust_upgrades": up_c,
            "seg_term": seg_term, "seg_jump": jumps,
            "glob_term": np.array([glob_term]), "w_cf": np.array([w[5] if use_cf else 0.0]),
            "mean_edge_term": np.array([float(np.mean(b0 + w[3] * ev_lr + w[4] * ev_val))
                                        if n_ev else float(b0)]),
            "own_ptr": own_ptr, "own_item": own_i.astype(np.int32),
            "base_ptr": b_ptr, "base_item": b_i.astype(np.int32),
            "base_engagement": eng.astype(np.float64),
            "ev_y": y, "ev_oof": oof,
        }
        self._set_arrays(arrays)
        return self

    def _set_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for v in arrays.values():
            v.flags.writeable = False
        self._a = dict(arrays)
        self._item_lookup = self.items_

    # ------------------------------------------------------------------ use
    def customer_propensity(self, customers: Any = None) -> np.ndarray:
        """P(accept) of each customer for a typical next-tier upgrade.

        The customer's own smoothed upgrade rate, price position and segment put
        through the fitted model with the average upgrade-chance edge features;
        monotone in the customer's part of the model, so it orders customers.

        Parameters
        ----------
        customers : id or sequence of ids, optional
            Default: every customer known at fit, in index order.

        Returns
        -------
        ndarray of float64

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=600)
        >>> up = UpsellRanker().fit(shop.transactions, shop.catalog)
        >>> up.customer_propensity().shape
        (100,)
        """
        self._check_fitted()
        a = self._a
        if customers is None:
            term = a["cust_term"]
        else:
            one = is_one_id(customers)
            idx = self.customers_.encode([customers] if one else customers)
            term = a["cust_term"][idx]
        return np.asarray(expit(term + a["mean_edge_term"][0]), dtype=np.float64)

    def reliability(self, *, n_bins: int = 10, strategy: str = "quantile") -> Reliability:
        """Calibration of the propensity model on its upgrade chances, out of fold.

        Predictions come from models fitted without the customer's fold
        (``n_folds`` folds by customer), so the table is not flattered by fitting.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=200, n_items=60, n_orders=2000)
        >>> r = UpsellRanker().fit(shop.transactions, shop.catalog).reliability(n_bins=3)
        >>> len(r) <= 3
        True
        """
        self._check_fitted()
        y, p = self._a["ev_y"], self._a["ev_oof"]
        ok = ~np.isnan(p)
        return reliability_table(y[ok], p[ok], n_bins=n_bins, strategy=strategy)

    def rank(self, item: Any = None, *, basket: Iterable[Any] | None = None,
             customer: Any = None, segment: str | None = None, k: int = 3,
             exclude_owned: bool = True) -> Upsells:
        """Rank upsell offers for an item, a basket, or what a customer owns.

        Parameters
        ----------
        item : item id, optional
            The item on the page (one base).
        basket : iterable of item ids, optional
            Items in the basket (each a base). Give ``item`` or ``basket``, not both;
            with neither, the bases are the customer's owned items (the highest tier
            owned per family) and each offer's P is weighted by the customer's
            engagement with the base's product line (share of their orders in it).
        customer : customer id, optional
            Known customers get their own propensity and segment; unknown or None
            get the segment's (``segment``) or the global propensity.
        segment : str, optional
            Segment label for a customer unknown at fit (ignored for known ones).
        k : int, default 3
        exclude_owned : bool, default True
            Leave out items the customer bought already (and basket items).

        Returns
        -------
        Upsells
            At most ``k`` offers, best first: score descending, then target item
            index (deterministic); one offer per target item.

        Raises
        ------
        NotFittedError
            Before fit.
        UnknownIdError
            For an item not in the catalog.
        UpsellDataError
            For bad arguments (both item and basket, neither without a known customer).

        Examples
        --------
        >>> from upsell import Catalog, Transactions
        >>> cat = Catalog.from_records([
        ...     {"item": "pro13", "name": "Pro 13", "family": "pro", "tier": 1,
        ...      "price": 160.0, "cost": 120.0, "storage_gb": 256},
        ...     {"item": "pro15", "name": "Pro 15", "family": "pro", "tier": 2,
        ...      "price": 200.0, "cost": 130.0, "storage_gb": 512}])
        >>> tx = Transactions.from_arrays(
        ...     order=[1, 2, 3, 4], item=["pro13", "pro15", "pro13", "pro13"],
        ...     customer=["a", "a", "b", "b"],
        ...     time=["2024-01-01", "2024-02-01", "2024-01-01", "2024-03-01"])
        >>> up = UpsellRanker().fit(tx, cat)
        >>> print(up.rank(item="pro13").cue[0])  # doctest: +ELLIPSIS
        Upgrade to Pro 15 for 40.00 more (+25%): twice the storage; ...% of customers chose it
        """
        self._check_fitted()
        k = check_k(k)
        a = self._a
        cust = -1
        if customer is not None:
            cust = position(self.customers_, customer)
            if cust < 0 and not isinstance(customer, (bool, np.bool_)):
                # the spellings a web request sends ("17850", "17850.0" for int ids)
                with contextlib.suppress(UpsellDataError, TypeError, ValueError):
                    cust = int(self.customers_.encode([customer], unknown="mask")[0])
        seg = -1
        if cust >= 0:
            seg = int(a["cust_segment"][cust])
            z_c = float(a["cust_term"][cust])
        else:
            if segment is not None:
                pos = int(np.searchsorted(self.segments_, str(segment)))
                if pos < self.segments_.size and self.segments_[pos] == str(segment):
                    seg = pos
            z_c = float(a["seg_term"][seg]) if seg >= 0 else float(a["glob_term"][0])
        if seg >= 0:
            jump = float(a["seg_jump"][seg])
        elif segment is not None:
            jump = self._jump_for(str(segment))
        else:
            jump = float(a["seg_jump"][-1])
        weights: np.ndarray | None = None
        if item is not None and basket is not None:
            raise UpsellDataError("give `item` or `basket`, not both")
        if item is not None:
            bases = np.array([self._item_lookup.index(item)], dtype=np.int64)
        elif basket is not None:
            if isinstance(basket, (str, bytes)):
                raise UpsellDataError(f"`basket` must be a list of item ids; got {basket!r}")
            bl = list(basket)
            bases = np.array([self._item_lookup.index(b) for b in bl], dtype=np.int64)
        else:
            if cust < 0:
                raise UpsellDataError(
                    f"give `item` or `basket`, or a `customer` known at fit; got customer "
                    f"{customer!r}")
            s0, s1 = int(a["base_ptr"][cust]), int(a["base_ptr"][cust + 1])
            bases = a["base_item"][s0:s1].astype(np.int64)
            weights = a["base_engagement"][s0:s1]
        ptr = a["cand_indptr"]
        if bases.size == 1:
            s0, s1 = int(ptr[bases[0]]), int(ptr[bases[0] + 1])
            sel = np.arange(s0, s1)
            base_of = np.full(sel.size, bases[0])
            wsel = None if weights is None else np.full(sel.size, weights[0])
        else:
            parts = [np.arange(ptr[b], ptr[b + 1]) for b in bases.tolist()]
            sel = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            lens = np.array([p.size for p in parts], dtype=np.int64)
            base_of = np.repeat(bases, lens)
            wsel = None if weights is None else np.repeat(weights, lens)
        if sel.size:
            keep = a["cand_ratio"][sel] <= jump
            tgt = a["cand_target"][sel]
            if exclude_owned:
                keep &= ~np.isin(tgt, bases)
                if cust >= 0:
                    o0, o1 = int(a["own_ptr"][cust]), int(a["own_ptr"][cust + 1])
                    keep &= ~np.isin(tgt, a["own_item"][o0:o1])
            sel, base_of = sel[keep], base_of[keep]
            if wsel is not None:
                wsel = wsel[keep]
        if not sel.size:
            return Upsells.empty()
        tgt = a["cand_target"][sel]
        z = z_c + a["cand_edge_term"][sel]
        if self.affinity is not None and a["w_cf"][0] != 0.0:
            cid = self.customers_.ids[cust] if cust >= 0 else customer
            z = z + a["w_cf"][0] * self._affinity(cid, self.items_.ids[tgt])
        prob = expit(z)
        if wsel is not None:
            prob = prob * wsel
        obj = self.objective
        if obj == "margin":
            score = prob * a["cand_margin_gain"][sel]
        elif obj == "revenue":
            score = prob * a["cand_revenue_gain"][sel]
        else:
            score = prob
        order = np.lexsort((tgt, -score))
        # one offer per target: its best-scoring base
        _, first = np.unique(tgt[order], return_index=True)
        order = order[np.sort(first)][:k]
        sel, base_of, tgt = sel[order], base_of[order], tgt[order]
        return self._build(sel, base_of, tgt, score[order], prob[order], seg, cust >= 0 or
                           seg >= 0)

    def _build(self, sel: np.ndarray, base_of: np.ndarray, tgt: np.ndarray, score: np.ndarray,
               prob: np.ndarray, seg: int, like_you: bool) -> Upsells:
        a = self._a
        ids = self.items_.ids
        price = a["price"]
        kind = a["cand_kind"][sel]
        diff = price[tgt] - price[base_of]
        share = a["cand_share"][seg if seg >= 0 else -1, sel]
        who = "customers like you" if like_you else "customers"
        cues = []
        names = a["name"]
        for j in range(sel.size):
            kd = int(kind[j])
            nm = str(names[tgt[j]])
            pb = float(price[base_of[j]])
            # social proof only when there is some: "0% of customers like you chose it" repels
            pct = f"; {share[j] * 100:.0f}% of {who} chose it" if share[j] >= 0.005 else ""
            if kd == 1:
                saving = 1.0 - float(a["cand_ratio"][sel[j]])
                cue = f"Save {saving * 100:.0f}% per unit with {nm}{pct}"
            elif kd == 2:
                cue = f"Add {nm} for {_money(float(price[tgt[j]]))}{pct}"
            else:
                verb = "Upgrade to" if kd == 0 else "Step up to"
                rel = f" (+{diff[j] / pb * 100:.0f}%)" if pb > 0 else ""
                cue = f"{verb} {nm} for {_money(float(diff[j]))} more{rel}"
                bf = int(a["cand_best_feature"][sel[j]])
                if bf >= 0:
                    label = _feature_label(self.feature_names_[bf])
                    cue += f": {_ratio_phrase(float(a['cand_best_ratio'][sel[j]]), label)}"
                cue += pct
            cues.append(cue)
        return Upsells(
            item=ids[tgt], base=ids[base_of], kind=np.asarray(EDGE_KINDS)[kind],
            score=np.asarray(score, dtype=np.float64), probability=np.asarray(prob, np.float64),
            price_diff=diff, price_ratio=a["cand_ratio"][sel].copy(),
            value_gained=a["cand_value"][sel].copy(),
            margin_gain=a["cand_margin_gain"][sel].copy(), similar_share=share.copy(),
            cue=np.array(cues, dtype=str))

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the fitted ranker as one ``.npz`` (arrays + JSON; no pickle).

        The value function and the affinity scorer are code, not data: candidate
        values are saved already computed; pass ``affinity=`` again to :meth:`load`.

        Examples
        --------
        >>> import tempfile, os
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=600)
        >>> up = UpsellRanker().fit(shop.transactions, shop.catalog)
        >>> p = os.path.join(tempfile.mkdtemp(), "up.npz")
        >>> up.save(p)
        >>> UpsellRanker.load(p).rank(item=shop.catalog.items.ids[0]).item.tolist() == \\
        ...     up.rank(item=shop.catalog.items.ids[0]).item.tolist()
        True
        """
        self._check_fitted()
        lad = self.ladders_
        arrays = dict(self._a)
        arrays.update({
            "lad_family": lad.family, "lad_tier": lad.tier, "lad_inferred": lad.inferred,
            "lad_indptr": lad.indptr, "lad_target": lad.target, "lad_kind": lad.kind,
            **index_arrays(self.items_, "items"), **index_arrays(self.customers_, "customers"),
            "segments": self.segments_,
        })
        params = {k: v for k, v in self.get_params().items() if k not in ("value", "affinity")}
        params["price_jump"] = (dict(self.price_jump) if isinstance(self.price_jump, Mapping)
                                else self.price_jump)
        params["kinds"] = list(params["kinds"])
        meta = {"feature_names": list(self.feature_names_), "coef": self.coef_,
                "intercept": self.intercept_, "kind_offset": self.kind_offset_,
                "n_events": self.n_events_, "has_affinity": self.affinity is not None,
                "value": repr(self.value)}
        write_model(path, kind="UpsellRanker", params=params, arrays=arrays, meta=meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *,
             affinity: AffinityScorer | Callable[..., Any] | None = None,
             ids: Sequence[IdIndex] = (), verify: bool = True,
             mmap: bool = False) -> UpsellRanker:
        """Load a ranker written by :meth:`save`.

        Parameters
        ----------
        path : path-like
        affinity : optional
            The CF affinity scorer, when the saved ranker was fitted with one.
        ids : sequence of IdIndex, optional
            Id maps already loaded; one equal to the saved customer or item map
            is reused instead of a copy.
        verify : bool, default True
            Check the arrays' SHA-256 (False when the caller checked the file).
        mmap : bool, default False
            Memory-map the large arrays read-only (see :func:`upsell.persist.read_model`).

        Raises
        ------
        ModelFileError
            Missing or corrupted file, another kind of model, or a ranker fitted with
            an affinity scorer loaded without one.

        Examples
        --------
        >>> UpsellRanker.load("/nonexistent.npz")
        Traceback (most recent call last):
        ...
        upsell.exceptions.ModelFileError: model file '/nonexistent.npz' does not exist
        """
        doc, arrs = read_model(path, kind="UpsellRanker", verify=verify, mmap=mmap)
        f = os.fspath(path)
        try:
            params = dict(doc["params"])
            params["kinds"] = tuple(params["kinds"])
            meta = doc["meta"]
            if meta.get("has_affinity") and affinity is None:
                raise ModelFileError(
                    f"model file {f!r} was fitted with an affinity scorer; "
                    f"pass it again: UpsellRanker.load(path, affinity=...)", file=f,
                    member="has_affinity", problem="needs the affinity scorer")
            obj = cls(**params, affinity=affinity)
            obj._checked_params()  # untrusted file: parameters through fit's checks
            items = index_from_arrays(arrs, "items", name="item", ids=ids)
            customers = index_from_arrays(arrs, "customers", name="customer", ids=ids)
            _check_ranker_arrays(arrs, len(items), len(customers), f)
            feature_names = meta["feature_names"]
            if not (isinstance(feature_names, list)
                    and all(isinstance(n, str) for n in feature_names)):
                raise fail(f, "feature_names", "must be a list of catalog feature names")
            for key in ("coef", "kind_offset"):
                if not (isinstance(meta[key], dict) and all(
                        type(v) in (int, float) and bool(np.isfinite(v))
                        for v in meta[key].values())):
                    raise fail(f, key, "must map names to finite numbers")
            if set(meta["kind_offset"]) - set(EDGE_KINDS):
                raise fail(f, "kind_offset", f"names kinds outside {EDGE_KINDS}")
            intercept, n_events = meta["intercept"], meta["n_events"]
            if type(intercept) not in (int, float) or not np.isfinite(intercept):
                raise fail(f, "intercept", f"must be a finite number; got {intercept!r}")
            if type(n_events) is not int or n_events < 0:
                raise fail(f, "n_events", f"must be an integer >= 0; got {n_events!r}")
            obj.items_ = items
            obj.customers_ = customers
            obj.segments_ = arrs.pop("segments").astype(str)
            lad = Ladders(items=items, family=arrs.pop("lad_family").astype(str),
                          tier=arrs.pop("lad_tier"), inferred=arrs.pop("lad_inferred"),
                          indptr=arrs.pop("lad_indptr"), target=arrs.pop("lad_target"),
                          kind=arrs.pop("lad_kind"))
            obj.ladders_ = lad
            obj.feature_names_ = tuple(feature_names)
            obj.coef_ = dict(meta["coef"])
            obj.intercept_ = float(intercept)
            obj.kind_offset_ = dict(meta["kind_offset"])
            obj.n_events_ = n_events
            arrs["name"] = arrs["name"].astype(str)
            obj._set_arrays(arrs)
        except CONTENT_ERRORS as exc:
            raise corrupted(f, "UpsellRanker", exc) from None
        for v in (lad.family, lad.tier, lad.inferred, lad.indptr, lad.target, lad.kind):
            v.flags.writeable = False
        return obj


#: Saved ranker arrays that may hold NaN after a fit (no price, no value function, no tier).
_MAY_BE_NAN = frozenset({"price", "cand_value", "cand_best_ratio", "cand_margin_gain",
                         "cand_revenue_gain", "cand_ratio", "lad_tier", "seg_jump"})


def _check_ranker_arrays(a: dict[str, np.ndarray], n_i: int, n_c: int, f: str) -> None:
    """A loaded ranker's arrays, checked for dtype, shape, index ranges and finiteness."""
    segs = check_array(a.get("segments"), file=f, member="segments", kind="U", ndim=1)
    n_seg = segs.shape[0]
    check_array(a.get("name"), file=f, member="name", kind="U", shape=(n_i,))
    check_array(a.get("lad_family"), file=f, member="lad_family", kind="U", shape=(n_i,))
    check_array(a.get("lad_inferred"), file=f, member="lad_inferred", kind="b", shape=(n_i,))
    for ptr, n_rows, kids in (("cand", n_i, ("target", "kind")), ("lad", n_i, ("target", "kind")),
                              ("own", n_c, ("item",)), ("base", n_c, ("item",))):
        key = f"{ptr}_indptr" if ptr in ("cand", "lad") else f"{ptr}_ptr"
        indptr = check_array(a.get(key), file=f, member=key, kind="i", shape=(n_rows + 1,),
                             low=0)
        if int(indptr[0]) != 0 or bool((np.diff(indptr) < 0).any()):
            raise fail(f, key, "does not start at 0 and never decrease")
        nnz = int(indptr[-1])
        for kid in kids:
            n_max = len(EDGE_KINDS) if kid == "kind" else n_i
            check_index(a.get(f"{ptr}_{kid}"), n_max, file=f, member=f"{ptr}_{kid}",
                        shape=(nnz,))
    n_e = int(a["cand_indptr"][-1])
    n_b = int(a["base_ptr"][-1])
    check_index(a.get("cand_best_feature"), len(_FEATURES), file=f,
                member="cand_best_feature", shape=(n_e,), allow_missing=True)
    check_index(a.get("cust_segment"), n_seg, file=f, member="cust_segment", shape=(n_c,),
                allow_missing=True)
    shapes: dict[str, tuple[int, ...]] = {
        "price": (n_i,), "lad_tier": (n_i,), "cand_ratio": (n_e,), "cand_value": (n_e,),
        "cand_margin_gain": (n_e,), "cand_revenue_gain": (n_e,), "cand_best_ratio": (n_e,),
        "cand_edge_term": (n_e,), "cand_share": (n_seg + 1, n_e), "cust_term": (n_c,),
        "cust_chances": (n_c,), "cust_upgrades": (n_c,), "seg_term": (n_seg,),
        "seg_jump": (n_seg + 1,), "glob_term": (1,), "w_cf": (1,), "mean_edge_term": (1,),
        "base_engagement": (n_b,)}
    for key, shape in shapes.items():
        v = check_array(a.get(key), file=f, member=key, shape=shape,
                        finite=key not in _MAY_BE_NAN)
        if key in _MAY_BE_NAN and v.size and (np.isinf(v) & (key != "seg_jump")).any():
            raise fail(f, key, "holds inf")
    n_ev = check_array(a.get("ev_y"), file=f, member="ev_y", ndim=1, low=0, high=1).shape[0]
    oof = check_array(a.get("ev_oof"), file=f, member="ev_oof", shape=(n_ev,), finite=False)
    if oof.size and (~np.isnan(oof) & ~((oof >= 0) & (oof <= 1))).any():
        raise fail(f, "ev_oof", "holds a probability outside [0, 1]")
    if np.isnan(a["seg_jump"]).any() or (a["seg_jump"] <= 0).any():
        raise fail(f, "seg_jump", "must hold price ratios > 0")
    known = {"segments", "name", "lad_family", "lad_inferred", "cand_indptr", "cand_target",
             "cand_kind", "lad_indptr", "lad_target", "lad_kind", "own_ptr", "own_item",
             "base_ptr", "base_item", "cand_best_feature", "cust_segment", "ev_y", "ev_oof",
             *shapes}
    for key, v in a.items():  # anything else a newer fit adds: finite real numbers
        if key not in known:
            check_array(v, file=f, member=key, kind="fb")


def _group_first(sorted_keys: np.ndarray) -> np.ndarray:
    """For keys sorted ascending, the position of the first row of each row's group."""
    starts = _group_first_mask(sorted_keys)
    return np.maximum.accumulate(np.where(starts, np.arange(sorted_keys.size), 0))


def _group_first_mask(keys: np.ndarray) -> np.ndarray:
    return np.r_[True, keys[1:] != keys[:-1]] if keys.size else np.zeros(0, dtype=bool)


def _sorted_unique(a: np.ndarray, counts: bool = False) -> Any:
    """``np.unique`` of a large int array by one in-place sort (no hash table, no inverse)."""
    a = np.sort(a)
    start = _group_first_mask(a)
    u = a[start]
    if not counts:
        return u
    return u, np.diff(np.r_[np.flatnonzero(start), a.size])


def _order_lines(lo: np.ndarray, ln: np.ndarray, n_line: int, ord_c: np.ndarray
                 ) -> np.ndarray:
    """Distinct (customer, order, line) rows, as an (n, 3) int64 array sorted by order."""
    key = _sorted_unique(lo * n_line + ln)
    o = key // n_line
    return np.c_[ord_c[o], o, key % n_line]


#: Working bytes per order line in fit (line arrays, sorts and keys): tracemalloc peaks
#: of 210-240 on make_shop at 100k-1M customers, plus a margin.
_BYTES_PER_LINE = 300
#: Bytes per (customer, base, candidate) combination in one chunk of the shares.
_BYTES_PER_COMBO = 96


def _check_memory(*, n_lines: int, n_items: int, n_edges: int, n_seg: int,
                  budget_gb: float) -> int:
    """Estimate fit's working memory; raise when over budget, else the chunk size in combos."""
    seg_bytes = 8 * (n_seg + 1) * (n_items + 6 * n_edges)
    fixed = _BYTES_PER_LINE * n_lines + seg_bytes + 64 * n_edges
    budget = budget_gb * 1e9
    chunk = int(min(max(0.1 * budget / _BYTES_PER_COMBO, 2**16), 2**23))
    need = fixed + chunk * _BYTES_PER_COMBO
    if need > budget:
        why = (f"{n_seg:,} segment labels x {n_edges:,} candidate offers take "
               f"~{seg_bytes / 1e9:.1f} GB; pass fewer segment labels (`segments`) or "
               if seg_bytes > 0.5 * fixed else
               f"{n_lines:,} order lines take ~{_BYTES_PER_LINE * n_lines / 1e9:.1f} GB; "
               f"fit on a sample of customers or a shorter period, or ")
        raise UpsellMemoryError(
            f"UpsellRanker.fit needs ~{need / 1e9:.1f} GB of working memory, more than "
            f"`max_memory_gb`={budget_gb:g}: {why}raise `max_memory_gb` if the memory is there")
    return chunk


def _pair_table(lc: np.ndarray, li: np.ndarray, lt: np.ndarray, n_items: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (customer, item) keys ``c * n_items + i``, sorted, with first and last time."""
    if not lc.size:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    key = lc * n_items + li
    order = np.argsort(key)
    key = key[order]
    ts = lt[order]
    del order
    start = np.flatnonzero(_group_first_mask(key))
    return key[start], np.minimum.reduceat(ts, start), np.maximum.reduceat(ts, start)


def _offer_shares(ukey: np.ndarray, first_t: np.ndarray, last_t: np.ndarray, seg: np.ndarray,
                  e_indptr: np.ndarray, e_tgt: np.ndarray, n_items: int, n_seg: int,
                  chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate edge (b -> t): customers who came back after buying b, and who chose t.

    A customer *had the chance* at edge (b, t) when, after their first purchase
    of b, they bought b again or any candidate of b; they *took* it when t is
    among those later purchases. Counted globally and per segment.

    ``ukey``, ``first_t``, ``last_t`` come from :func:`_pair_table`. "Had" depends
    only on the (customer, base) pair, so it is counted per base (and per segment
    and base) and spread to the base's edges; only the (customer, base, candidate)
    combinations needed to find "took" are built, ``chunk`` at a time, and only
    the taken ones are counted.
    """
    n_e = e_tgt.size
    zeros = np.zeros(n_e)
    if not ukey.size or not n_e:
        return zeros, zeros, np.zeros((n_seg, n_e)), np.zeros((n_seg, n_e))
    pb = ukey % n_items
    ncand = e_indptr[pb + 1] - e_indptr[pb]
    has = np.flatnonzero(ncand > 0)
    had_pair = np.zeros(has.size, dtype=bool)
    took_e = np.zeros(n_e)
    took_flat = np.zeros(n_seg * n_e) if n_seg else np.zeros(0)
    cum = np.cumsum(ncand[has])
    lo = 0
    while lo < has.size:
        done = int(cum[lo - 1]) if lo else 0
        hi = max(int(np.searchsorted(cum, done + chunk, side="right")), lo + 1)
        idx = has[lo:hi]
        nc = ncand[idx]
        pc = ukey[idx] // n_items
        rep = np.repeat(np.arange(idx.size), nc)
        e = (np.arange(rep.size) - np.repeat(np.cumsum(nc) - nc, nc)
             + np.repeat(e_indptr[pb[idx]], nc))
        tkey = pc[rep] * n_items + e_tgt[e]
        at = np.minimum(np.searchsorted(ukey, tkey), ukey.size - 1)
        took = (ukey[at] == tkey) & (last_t[at] > first_t[idx][rep])
        del tkey, at
        rt, et = rep[took], e[took]
        took_e += np.bincount(et, minlength=n_e)
        any_took = np.bincount(rt, minlength=idx.size) > 0
        had_pair[lo:hi] = any_took | (last_t[idx] > first_t[idx])
        if n_seg:
            st = seg[pc[rt]]
            ok = st >= 0
            took_flat += np.bincount(st[ok] * n_e + et[ok], minlength=n_seg * n_e)
        lo = hi
    e_src = np.repeat(np.arange(n_items), np.diff(e_indptr))
    hb = pb[has]
    had_e = np.bincount(hb, weights=had_pair, minlength=n_items)[e_src]
    took_se: np.ndarray = np.zeros((n_seg, n_e))
    had_se: np.ndarray = np.zeros((n_seg, n_e))
    if n_seg:
        took_se = took_flat.reshape(n_seg, n_e)
        s = seg[ukey[has] // n_items]
        ok = s >= 0
        had_sb = np.bincount(s[ok] * n_items + hb[ok], weights=had_pair[ok],
                             minlength=n_seg * n_items).reshape(n_seg, n_items)
        had_se = had_sb[:, e_src]
    return took_e, had_e, took_se, had_se
