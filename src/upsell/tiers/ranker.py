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

``rank`` then costs a few small numpy operations on precomputed lists. The fit
stages live in :mod:`upsell.tiers._fit`, the result and its cues in
:mod:`upsell.tiers._offers`, the model file in :mod:`upsell.tiers._files` and the
CF affinity in :mod:`upsell.tiers.affinity`; the public names stay importable from
here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import expit

from upsell._estimator import Estimator
from upsell._lookup import position
from upsell._results import Recommendations
from upsell._validation import (
    as_transactions,
    check_choice,
    check_float,
    check_int,
    check_k,
    is_one_id,
)
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UnknownIdError, UpsellDataError, UpsellValueError
from upsell.tiers import _fit
from upsell.tiers._files import load_ranker, save_ranker
from upsell.tiers._fit import DEFAULT_PRICE_JUMP
from upsell.tiers._fit import FEATURES as _FEATURES
from upsell.tiers._offers import Upsells, build_upsells
from upsell.tiers.affinity import AffinityScorer, CFAffinity
from upsell.tiers.ladders import EDGE_KINDS, LogGain, ValueFunction, build_ladders
from upsell.tiers.propensity import Reliability, ladder_chances, reliability_table

__all__ = ["DEFAULT_PRICE_JUMP", "OBJECTIVES", "AffinityScorer", "CFAffinity", "UpsellRanker",
           "Upsells"]

#: Objectives ``UpsellRanker`` ranks by.
OBJECTIVES = ("margin", "revenue", "probability")


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
    >>> len(offers) <= 3, bool(np.all(np.diff(offers.scores) <= 0))
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
            Segment of each customer, in any form :func:`upsell._validation.as_segments`
            reads: labels aligned to ``tx.customers``, a mapping customer id -> label
            (or a pandas Series), a ``(customer ids, labels)`` pair, a segmenter result
            (``customers`` + ``labels``/``segment``/``persona``), or a fitted segmenter
            with ``predict(customers=...)``. Customers it does not label have no segment.

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
        UpsellMemoryError
            When the working memory would exceed ``max_memory_gb``.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=600)
        >>> UpsellRanker().fit(shop.transactions, shop.catalog).n_events_ > 0
        True
        """
        p = self._checked_params()
        tx = as_transactions(tx, "tx")
        if not isinstance(catalog, Catalog):
            raise UpsellDataError(f"`catalog` must be a Catalog; got {type(catalog).__name__}")
        tx.require("customer", "UpsellRanker.fit")
        tx.require("time", "UpsellRanker.fit")
        lad = build_ladders(catalog, band_ratio=self.band_ratio,
                            max_alternatives=self.max_alternatives)
        n_items = len(catalog)
        customers = tx.customers
        n_cust = len(customers)
        seg, seg_names = _fit.segment_codes(segments, customers)
        n_seg = seg_names.size
        lines = _fit.catalog_lines(tx, catalog)
        self.catalog_coverage_ = lines.coverage
        levels = _fit.ladder_levels(lad, catalog.price, n_items)
        feat_names, F = _fit.feature_matrix(catalog)
        vf: Any = self.value if self.value is not None else LogGain()
        cand = _fit.candidate_offers(
            lad, catalog, vf, feat_names, F, kinds=p["kinds"],
            max_jump=_fit.max_price_jump(p["price_jump"]), min_value=p["min_value"],
            require_value=bool(self.require_value), objective=p["objective"])
        chunk = _fit.check_fit_memory(n_lines=lines.item.size, n_items=n_items,
                                      n_edges=cand.src.size, n_seg=n_seg,
                                      budget_gb=p["max_memory_gb"])
        # upgrade chances, customer evidence, the propensity model
        ev, firsts = ladder_chances(lines.customer, lines.item, lines.time, lines.order,
                                    levels.fam, levels.level, levels.rep, levels.top)
        y = ev.took.astype(np.float64)
        evd = _fit.customer_evidence(ev, firsts, seg, n_seg, n_cust, levels.top)
        use_cf = self.affinity is not None
        X, ev_lr, ev_val = _fit.event_features(
            ev, evd, prior_strength=p["prior_strength"], n_fam=levels.n_fam,
            price=catalog.price, F=F, feat_names=feat_names, vf=vf,
            affinity=self._affinity if use_cf else None, customer_ids=customers.ids,
            item_ids=catalog.items.ids)
        model, oof = _fit.fit_propensity(X, y, ev.customer, g_rate=evd.g_rate, l2=p["l2"],
                                         n_folds=p["n_folds"], random_state=p["random_state"],
                                         n_cust=n_cust)
        w, b0 = model.raw_coef()
        share, offset, pair_key = _fit.offer_share_table(lines, seg, cand, n_items, n_seg,
                                                         chunk)
        terms = _fit.score_terms(w, b0, cand, offset, evd, p["prior_strength"], ev_lr, ev_val)
        jumps = np.array([self._jump_for(s) for s in seg_names.tolist()]
                         + [self._jump_for("")])
        owned = _fit.owned_bases(pair_key, lines, levels, catalog, n_cust, len(tx.orders))

        # store (read-only)
        self.ladders_ = lad
        self.items_ = catalog.items
        self.customers_ = customers
        self.segments_ = seg_names
        self.feature_names_ = feat_names
        self.coef_ = dict(zip(_FEATURES[:X.shape[1]] if not use_cf else _FEATURES,
                              w.tolist(), strict=True))
        self.intercept_ = float(b0)
        self.kind_offset_ = dict(zip(EDGE_KINDS, offset.tolist(), strict=True))
        self.n_events_ = int(y.size)
        self.model_ = model
        self._set_arrays({
            "name": catalog.name.astype(str), "price": catalog.price.astype(np.float64),
            "cand_indptr": cand.indptr, "cand_target": cand.target.astype(np.int32),
            "cand_kind": cand.kind.astype(np.int8), "cand_ratio": cand.ratio,
            "cand_value": cand.value, "cand_margin_gain": cand.margin_gain,
            "cand_revenue_gain": cand.revenue_gain,
            "cand_best_feature": cand.best_feature.astype(np.int32),
            "cand_best_ratio": cand.best_ratio,
            "cand_edge_term": terms.edge, "cand_share": share,
            "cust_segment": seg.astype(np.int32), "cust_term": terms.customer,
            "cust_chances": evd.chances, "cust_upgrades": evd.upgrades,
            "seg_term": terms.segment, "seg_jump": jumps,
            "glob_term": np.array([terms.glob]), "w_cf": np.array([w[5] if use_cf else 0.0]),
            "mean_edge_term": np.array([terms.mean_edge]),
            "own_ptr": owned.own_ptr, "own_item": owned.own_item.astype(np.int32),
            "base_ptr": owned.base_ptr, "base_item": owned.base_item.astype(np.int32),
            "base_engagement": owned.engagement.astype(np.float64),
            "ev_y": y, "ev_oof": oof,
        })
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
             exclude_owned: bool = True, exclude: Iterable[Any] | None = None) -> Upsells:
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
        exclude : iterable of item ids, optional
            Items never to offer (ids the catalog does not hold are ignored).

        Returns
        -------
        Upsells
            At most ``k`` offers, best first: score descending, then target item
            index (deterministic); one offer per target item. :meth:`recommend`
            answers many customers or baskets at once.

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
        excl = self._excluded(exclude)
        cust = self._customer_position(customer)
        seg, z_c, jump = self._request_terms(cust, segment)
        if item is not None and basket is not None:
            raise UpsellDataError("give `item` or `basket`, not both")
        weights: np.ndarray | None = None
        if item is not None:
            bases = np.array([self._item_lookup.index(item)], dtype=np.int64)
        elif basket is not None:
            bases = self._basket_bases(basket, "basket")
        else:
            if cust < 0:
                raise UpsellDataError(
                    f"give `item` or `basket`, or a `customer` known at fit; got customer "
                    f"{customer!r}")
            bases, weights = self._owned_bases(cust)
        return self._offers(bases, weights, cust, customer, seg, z_c, jump, k, exclude_owned,
                            excl)

    def recommend(self, customers: Any = None, *, baskets: Any = None, k: int = 3,
                  exclude: Iterable[Any] | None = None, exclude_owned: bool = True,
                  segment: str | None = None) -> Recommendations:
        """Upsell offers for several customers or baskets at once, as one ``Recommendations``.

        The recommender contract every upsell recommender shares: one request per
        customer (the upgrades of what the customer bought, as ``rank(customer=c)``)
        or per basket (the upgrades of the basket's items, as ``rank(basket=b)``),
        each list best first with one reason text (the sales cue) per item.

        Parameters
        ----------
        customers : id or sequence of ids, optional
            Customers known at fit; their bases are their owned items.
        baskets : sequence of sequences of item ids, optional
            Anonymous baskets (each item a base). Exactly one of ``customers`` and
            ``baskets``.
        k : int, default 3
            Most offers per request; a list is shorter when fewer offers pass.
        exclude : iterable of item ids, optional
            Items never offered, to any request (ids not in the catalog are ignored).
        exclude_owned : bool, default True
            Leave out what the customer bought (and the basket's items).
        segment : str, optional
            Segment label of the basket requests (its price-jump limit and propensity).

        Returns
        -------
        Recommendations
            ``request_kind`` "customer" (requests are the customer ids) or "basket"
            (requests numbered 0..n-1); ``scores`` non-increasing per request;
            ``reasons`` one cue per item.

        Raises
        ------
        NotFittedError
            Before fit.
        UnknownIdError
            A customer not known at fit, or a basket item not in the catalog.
        UpsellValueError
            Neither or both of ``customers`` and ``baskets``, or ``customers`` for a
            ranker with no customer history.

        Examples
        --------
        >>> from upsell import Catalog, Transactions
        >>> cat = Catalog.from_records([
        ...     {"item": "s", "family": "f", "tier": 1, "price": 100.0, "cost": 80.0},
        ...     {"item": "l", "family": "f", "tier": 2, "price": 150.0, "cost": 90.0}])
        >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["s", "l", "s"],
        ...     customer=["a", "a", "b"], time=["2024-01-01", "2024-02-01", "2024-01-05"])
        >>> up = UpsellRanker().fit(tx, cat)
        >>> up.recommend(["a", "b"]).lists()
        [[], ['l']]
        >>> recs = up.recommend(baskets=[["s"], ["l"]])
        >>> recs.lists(), recs.reasons_for(0)[0].startswith("Upgrade to l")
        ([['l'], []], True)
        """
        self._check_fitted()
        k = check_k(k)
        excl = self._excluded(exclude)
        if (customers is None) == (baskets is None):
            raise UpsellValueError("give exactly one of `customers` and `baskets`; got "
                                   + ("both" if customers is not None else "neither"))
        results: list[Upsells] = []
        if customers is not None:
            if not len(self.customers_) or not int(self._a["base_ptr"][-1]):
                raise UpsellValueError(
                    "UpsellRanker has no customer history (it was fitted or loaded without "
                    "purchases of catalog items), so `customers` cannot be answered; pass "
                    "baskets=")
            ids = [customers] if is_one_id(customers) else list(customers)
            for cid in ids:
                cust = self._customer_position(cid)
                if cust < 0:
                    raise UnknownIdError(f"customer {cid!r} is not in the ranker's customer "
                                         f"index; pass their items with `baskets=`")
                seg, z_c, jump = self._request_terms(cust, None)
                bases, weights = self._owned_bases(cust)
                results.append(self._offers(bases, weights, cust, cid, seg, z_c, jump, k,
                                            exclude_owned, excl))
            requests: Any = np.asarray(ids)
            kind = "customer"
        else:
            if isinstance(baskets, (str, bytes)) or not hasattr(baskets, "__iter__"):
                raise UpsellValueError(f"`baskets` must be a list of lists of item ids; "
                                       f"got {baskets!r}")
            seg, z_c, jump = self._request_terms(-1, segment)
            for basket in baskets:
                bases = self._basket_bases(basket, "baskets")
                results.append(self._offers(bases, None, -1, None, seg, z_c, jump, k,
                                            exclude_owned, excl))
            requests = np.arange(len(results))
            kind = "basket"
        pos = self.items_
        return Recommendations.from_lists(
            requests, [pos.encode(u.item) if len(u) else [] for u in results],
            [u.scores for u in results], items=self.items_, request_kind=kind,
            reasons=[list(u.cue.tolist()) for u in results])

    # ------------------------------------------------------------------ rank's steps
    def _customer_position(self, customer: Any) -> int:
        """Index of a customer known at fit, or -1 (also for None)."""
        if customer is None:
            return -1
        cust = position(self.customers_, customer)
        if cust < 0 and not isinstance(customer, (bool, np.bool_)):
            # the spellings a web request sends ("17850", "17850.0" for int ids)
            with contextlib.suppress(UpsellDataError, TypeError, ValueError):
                cust = int(self.customers_.encode([customer], unknown="mask")[0])
        return cust

    def _request_terms(self, cust: int, segment: str | None) -> tuple[int, float, float]:
        """Segment code, customer part of logit P and price-jump limit of a request."""
        a = self._a
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
        return seg, z_c, jump

    def _basket_bases(self, basket: Any, name: str) -> np.ndarray:
        if isinstance(basket, (str, bytes)) or not hasattr(basket, "__iter__"):
            what = "a list of item ids" if name == "basket" else "lists of item ids"
            raise UpsellDataError(f"`{name}` must be {what}; got {basket!r}")
        return np.array([self._item_lookup.index(b) for b in list(basket)], dtype=np.int64)

    def _owned_bases(self, cust: int) -> tuple[np.ndarray, np.ndarray]:
        """A known customer's bases (highest tier owned per family) and engagement weights."""
        a = self._a
        s0, s1 = int(a["base_ptr"][cust]), int(a["base_ptr"][cust + 1])
        return a["base_item"][s0:s1].astype(np.int64), a["base_engagement"][s0:s1]

    def _excluded(self, exclude: Iterable[Any] | None) -> np.ndarray | None:
        """Catalog indices of ``exclude`` (unknown ids ignored), or None."""
        if exclude is None:
            return None
        if isinstance(exclude, (str, bytes)) or not hasattr(exclude, "__iter__"):
            raise UpsellDataError(f"`exclude` must be a list of item ids; got {exclude!r}")
        ids = list(exclude)
        if not ids:
            return None
        idx = np.asarray(self.items_.encode(ids, unknown="mask"), dtype=np.int64)
        return idx[idx >= 0]

    def _offers(self, bases: np.ndarray, weights: np.ndarray | None, cust: int, customer: Any,
                seg: int, z_c: float, jump: float, k: int, exclude_owned: bool,
                excl: np.ndarray | None) -> Upsells:
        """The best ``k`` candidate offers of ``bases`` for one request, as Upsells."""
        a = self._a
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
            if excl is not None:
                keep &= ~np.isin(tgt, excl)
            sel, base_of = sel[keep], base_of[keep]
            if wsel is not None:
                wsel = wsel[keep]
        if not sel.size:
            return Upsells.empty()
        tgt = a["cand_target"][sel]
        z = z_c + a["cand_edge_term"][sel]
        if self.affinity is not None and a["w_cf"][0] != 0.0:
            cid = self.customers_.decode(cust).item() if cust >= 0 else customer
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
        return build_upsells(a, self.items_.ids, self.feature_names_, sel, base_of, tgt,
                             score[order], prob[order], seg, cust >= 0 or seg >= 0)

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
        save_ranker(self, path)

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
        obj: UpsellRanker = load_ranker(cls, path, affinity=affinity, ids=ids, verify=verify,
                                        mmap=mmap)
        return obj
