"""The Recommender: one offer list per request from every source, under business rules.

Per request: resolve the customer (owned items, segment) -> ask each source for
candidates -> drop raw scores under the source's ``min_score`` -> blend (default:
normalise each source's scores within the request and add them with ``weights``)
-> keep what fits the moment -> add the segment's opportunity bonus -> run the
rules in order (filters, re-rankers) -> pick the best ``k`` under diversity
limits and slot quotas -> optionally fill from popularity -> explain and render
cues. The steps live in :mod:`upsell.recommend._pipeline`, assembled once per
recommender; saving and loading in :mod:`upsell.recommend._persist`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from upsell._estimator import Estimator
from upsell._results import Recommendations
from upsell._validation import as_time
from upsell.data.catalog import Catalog
from upsell.exceptions import UpsellDataError
from upsell.recommend import _persist
from upsell.recommend._core import Candidate, OfferList, Rule
from upsell.recommend._offers import _names, _score
from upsell.recommend._pipeline import Pipeline, id_tuple, scalar_id
from upsell.recommend.blending import NORMALIZATIONS, Blend
from upsell.recommend.explain import CueTemplates
from upsell.recommend.moments import MomentPolicy
from upsell.recommend.offerlog import OfferLog
from upsell.recommend.outcomes import policy_name
from upsell.recommend.sources import PopularitySource

__all__ = ["NORMALIZATIONS", "Recommender"]

# the pipeline is assembled once per recommender; one lock for all (assembly is rare)
_BUILD_LOCK = threading.Lock()
#: Attributes the assembled pipeline provides (read through ``Recommender.__getattr__``).
_FITTED = frozenset({
    "sources_", "rules_", "history_", "segments_", "popularity_", "opportunity_", "weights_",
    "min_score_", "normalize_", "cues_", "moments_", "segment_boost_", "default_probability_",
    "n_candidates_", "blend_", "source_names_", "policy_", "quantity_breaks_"})
# names kept importable from this module for code written against it
_ = (_names, _score, Candidate)


def _now() -> np.datetime64:
    return np.datetime64(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "s")


def _as_time(value: Any, name: str) -> np.datetime64:
    """The request time: ``value`` parsed by the one time parser, or now when None."""
    return _now() if value is None else as_time(value, name)


class Recommender(Estimator):
    """One offer list per request, from every source, under the shop's business rules.

    Parameters
    ----------
    catalog : Catalog
        Every item that may be offered (kinds, families, tiers, prices, costs, stock).
    cross_sell : sequence of sources, default ()
        Candidate sources (:class:`CandidateSource`) or fitted models wrapped
        automatically: :class:`~upsell.bundles.BundleRecommender` ->
        :class:`BundleSource`, an upsell.cf model -> :class:`CFSource`,
        :class:`~upsell.bundles.SequenceRules` -> :class:`SequenceSource`.
    upsell : UpsellRanker or source, optional
        Its candidates are upsells.
    segments : Personas, mapping, SegmentMap or labels, optional
        Customer -> segment (labels aligned to the history's customers are accepted).
    opportunity : OpportunityMatrix, optional
        Which kinds to favour per segment; default the handbook's matrix when
        ``segments`` is given.
    rules : sequence of Rule, optional
        Filters and re-rankers in the order they run. Default
        ``[NotOwned(), InStock()]`` (plus ``FrequencyCap()`` when ``offer_log`` is given).
    weights : mapping of source name to float, optional
        Blending weight per source (default 1 each).
    min_score : float or mapping of source name to float, optional
        Relevance floor on each source's *raw* score: candidates below it are
        never shown, even when fewer than ``k`` offers remain.
    normalize : {"max", "minmax", "rank"}, default "max"
        Per-source normalisation within a request before blending (see Notes).
    cue_templates : mapping or CueTemplates, optional
        Overrides of the cue templates (see :class:`~upsell.recommend.CueTemplates`).
    moments : MomentPolicy or mapping, optional
        Which kinds fit which moment; default :class:`~upsell.recommend.MomentPolicy`.
    history : Transactions or CustomerHistory, optional
        What customers own and when (owned-item filter, sequence timing) and, from
        Transactions, the per-segment popularity used for unknown customers and fill.
    popularity : PopularitySource, optional
        Popularity for ``fill=True`` (default: fitted from ``history``).
    offer_log : OfferLog, optional
        Read by frequency caps.
    segment_boost : float, default 0.25
        Score bonus for an offer matching its segment's strategy.
    default_probability : float, default 0.02
        P(accept) used for expected revenue and margin when no source gives one.
    candidates_per_source : int, default 30
        Candidates asked of each source per request.
    blend : Blend, optional
        Turns the sources' raw scores into one score per candidate (see
        :class:`~upsell.recommend.Blend`); default :class:`~upsell.recommend.WeightedBlend`
        with ``weights`` and ``normalize`` (pass those to the blend instead when
        giving one).
    policy : str, optional
        Name of this policy (default "upsell"). ``policy_`` is
        ``"name@version"``, the version 8 hex characters of a digest of the
        configuration and of the learned outcome state (it changes with
        :meth:`update`); every :class:`OfferList` carries it as ``policy`` and
        the offer log records it.
    quantity_breaks : QuantityBreaks, optional
        The shop's volume prices (:func:`upsell.tiers.quantity_breaks`), for
        :meth:`quantity_offers`; saved with the recommender.

    Notes
    -----
    Normalisation, per source and request, over the candidates left after the
    ``min_score`` floor: "max" divides by the largest score (scores <= 0 become
    0), so a source's best candidate gets 1 and ratios are kept; "minmax" maps
    the range onto [0, 1] (a single candidate gets 1); "rank" gives
    ``1 - r / n`` to the ``r``-th best of ``n``. The blended relevance of an item
    is the sum over the sources proposing it of ``weight * normalised``, so
    agreement between sources counts. The final score adds the segment bonus
    and every rule's adjustment; :attr:`Offer.components` lists each part.

    The constructor only stores its parameters (scikit-learn's habit). The
    pipeline (sources, rules, blend, popularity, lookups) is assembled and
    checked once, thread-safely, by :meth:`fit`, by :meth:`load` or at the first
    request; malformed parameters raise then. Fitted attributes (``sources_``,
    ``rules_``, ``history_``, ``segments_``, ``popularity_``, ``blend_``, ...)
    come from that pipeline. Change parameters by building a new Recommender.

    Examples
    --------
    >>> from upsell import Catalog
    >>> cat = Catalog.from_records([
    ...     {"item": "tea", "kind": "product", "price": 4.0, "cost": 2.0},
    ...     {"item": "mug", "kind": "accessory", "price": 8.0, "cost": 3.0, "stock": 5},
    ...     {"item": "pot", "kind": "accessory", "price": 20.0, "cost": 9.0, "stock": 0}])
    >>> class Pairs:
    ...     name = "pairs"
    ...     def candidates(self, request, n):
    ...         if "tea" not in request.basket:
    ...             return []
    ...         return [Candidate("pot", 3.0, detail={"because": ("tea",)}),
    ...                 Candidate("mug", 2.0, detail={"because": ("tea",)})]
    >>> rec = Recommender(catalog=cat, cross_sell=[Pairs()])
    >>> offers = rec.recommend(basket=["tea"], k=2, moment="cart", at="2024-01-01")
    >>> [(o.item, o.kind, round(o.score, 3)) for o in offers], offers.removed
    ([('mug', 'cross_sell', 0.667)], {'in_stock': 1})
    >>> offers[0].reason.rules
    (('moment', 'accessory fits cart'), ('not_owned', 'passed'), ('in_stock', 'passed'))
    """

    def __init__(self, *, catalog: Catalog, cross_sell: Sequence[Any] = (), upsell: Any = None,
                 segments: Any = None, opportunity: Any = None,
                 rules: Sequence[Rule] | None = None, weights: Mapping[str, float] | None = None,
                 min_score: float | Mapping[str, float] | None = None, normalize: str = "max",
                 cue_templates: Mapping[Any, Any] | CueTemplates | None = None,
                 moments: MomentPolicy | Mapping[str, Any] | None = None, history: Any = None,
                 popularity: PopularitySource | None = None, offer_log: OfferLog | None = None,
                 segment_boost: float = 0.25, default_probability: float = 0.02,
                 candidates_per_source: int = 30, blend: Blend | None = None,
                 policy: str | None = None, quantity_breaks: Any = None) -> None:
        self.catalog = catalog
        self.cross_sell = cross_sell
        self.upsell = upsell
        self.segments = segments
        self.opportunity = opportunity
        self.rules = rules
        self.weights = weights
        self.min_score = min_score
        self.normalize = normalize
        self.cue_templates = cue_templates
        self.moments = moments
        self.history = history
        self.popularity = popularity
        self.offer_log = offer_log
        self.segment_boost = segment_boost
        self.default_probability = default_probability
        self.candidates_per_source = candidates_per_source
        self.blend = blend
        self.policy = policy
        self.quantity_breaks = quantity_breaks

    # ------------------------------------------------------------------ assembly
    _fitted_attr = "_built"

    def _pipeline(self) -> Pipeline:
        """The assembled pipeline, built on first use (once, whichever thread asks first)."""
        built = self.__dict__.get("_built")
        if built is None:
            with _BUILD_LOCK:
                built = self.__dict__.get("_built")
                if built is None:
                    if self.policy is not None and not isinstance(self.policy, str):
                        raise UpsellDataError(f"`policy` must be a name (str) or None; got "
                                              f"{self.policy!r}")
                    built = Pipeline(self)
                    built.policy_ = policy_name(self.policy, built)
                    self.__dict__["_built"] = built
        return built

    def __getattr__(self, name: str) -> Any:
        # only called for attributes not set on the instance: the fitted ones come from the
        # pipeline (assembled on first access)
        if name in _FITTED:
            return getattr(self._pipeline(), name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def fit(self, X: Any = None) -> Recommender:
        """Assemble and check the pipeline now (otherwise done at the first request).

        The sources and models are fitted already; ``fit`` validates every
        parameter, binds the rules and the blend to the catalog, fits the
        popularity of ``history=`` Transactions and builds the lookups. It runs
        once: later calls (and requests) reuse the pipeline.

        Parameters
        ----------
        X : ignored
            Present for scikit-learn's ``fit`` shape.

        Returns
        -------
        Recommender
            ``self``.

        Raises
        ------
        UpsellDataError
            A malformed parameter (the message names it).

        Examples
        --------
        >>> from upsell import Catalog
        >>> rec = Recommender(catalog=Catalog.from_records([{"item": "a"}]), rules=["x"])
        >>> rec.fit()
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: `rules` entries need a `name` and apply(pool, request); got 'x'
        """
        self._pipeline()
        return self

    @classmethod
    def from_history(cls, tx: Any, catalog: Catalog | None = None, *, blend: str = "auto",
                     random_state: int = 0, offer_non_products: bool = False) -> Recommender:
        """Every source, the segments and the blend fitted from one shop's history, in one call.

        Parameters
        ----------
        tx : Transactions
        catalog : Catalog, optional
            Default: built from the transactions.
        blend : {"auto", "learned", "weighted"}, default "auto"
            The learned blend (:class:`~upsell.recommend.LearnedBlend`), the
            fixed weighted sum, or ``"auto"``: the learned blend when it measures
            better than its best single source on its own inner held-out cut, else
            the weighted sum (also when the history is too short to learn one;
            :func:`~upsell.recommend.choose_blend` says why, the ``upsell`` logger
            logs it). The sources, segments and settings are the recipe of
            ``upsell.recommend.blend.history_parts``.
        random_state : int, default 0
        offer_non_products : bool, default False
            False: items that look like fees, shipping or adjustments
            (:func:`upsell.data.non_product_items`: a catalog column of kinds, else
            item ids unlike the shop's id pattern) get an
            :class:`~upsell.recommend.filters.Exclude` rule after the default rules
            (saved with the model; the ``upsell`` logger says which). They stay in
            the history, the sources and the KPIs. True: no such rule. Either way they
            have no quantity breaks: ``quantity_breaks`` (the shop's volume prices,
            :func:`upsell.tiers.quantity_breaks`, for :meth:`quantity_offers`) leaves them
            out.

        Returns
        -------
        Recommender
            Assembled (``fit()`` done).

        Examples
        --------
        >>> import upsell as us
        >>> shop = us.datasets.make_shop(random_state=0)  # doctest: +SKIP
        >>> rec = Recommender.from_history(shop.transactions, shop.catalog)  # doctest: +SKIP
        >>> rec.recommend(customer=shop.transactions.customers.ids[0], k=5,
        ...               include_owned=True)  # doctest: +SKIP
        """
        from upsell._validation import as_transactions
        from upsell.data import non_product_items
        from upsell.recommend.blend import history_parts
        from upsell.tiers import quantity_breaks

        tx = as_transactions(tx, "tx")
        parts = history_parts(tx, catalog, blend=blend, random_state=random_state)
        found = non_product_items(tx, catalog)
        if tx.has("price"):  # the shop's volume prices; a fee has none to offer
            parts["quantity_breaks"] = quantity_breaks(tx, exclude=found.items)
        if not offer_non_products:
            import logging

            from upsell.recommend.filters import default_rules

            if len(found):
                parts["rules"] = default_rules(exclude=found.items)
                logging.getLogger("upsell").info(
                    "from_history: %d items look like fees or services, never offered "
                    "(offer_non_products=True offers them): %s; %s", len(found),
                    ", ".join(map(str, found.items[:8].tolist())), found.note)
        return cls(**parts).fit()

    def quantity_offers(self, lines: Any) -> tuple[Any, ...]:
        """Offers to buy more of the basket's lines: each line's next quantity break in reach.

        They sit beside :meth:`recommend`'s offers (a cart page shows "buy 8 more, save 14%"
        next to "customers also bought"); empty when the recommender has no
        ``quantity_breaks``.

        Parameters
        ----------
        lines : mapping of item id to quantity, or sequence of (item, quantity) pairs

        Returns
        -------
        tuple of upsell.tiers.QuantityOffer

        Raises
        ------
        UpsellDataError
            A line that is not (item id, positive quantity), naming it; ``quantity_breaks``
            that is not a :class:`~upsell.tiers.QuantityBreaks`.

        Examples
        --------
        >>> import numpy as np
        >>> from upsell import Catalog
        >>> from upsell.tiers import QuantityBreaks
        >>> br = QuantityBreaks(np.array(["mug"]), np.array(["MUG"]), np.array([2.95]),
        ...                     np.array([32]), np.array([2.55]), np.array([0.136]),
        ...                     *[np.array([9])] * 4)
        >>> rec = Recommender(catalog=Catalog.from_records([{"item": "mug"}]),
        ...                   quantity_breaks=br)
        >>> [o.cue for o in rec.quantity_offers({"mug": 24})]
        ['Buy 32 for 2.55 each instead of 2.95 (save 14%)']
        """
        br = self._pipeline().quantity_breaks_  # checked once, as every part
        return () if br is None else br.offers(lines)

    # get_params comes from Estimator; the repr summarises the built state instead
    def __repr__(self) -> str:
        try:
            pipe = self._pipeline()
        except Exception:  # a malformed parameter: show the parameters instead
            return Estimator.__repr__(self)
        srcs = ", ".join(f"{s.name}" for s in pipe.sources_)
        rules = ", ".join(r.name for r in pipe.rules_)
        return (f"Recommender(items={len(pipe.catalog):,}, sources=[{srcs}], rules=[{rules}], "
                f"segments={'yes' if pipe.segments_ is not None else 'no'})")

    # ------------------------------------------------------------------ requests
    def recommend(self, customer: Any = None, *, basket: Any = (), k: int = 5,
                  channel: str = "web", moment: str | None = None,
                  context: Mapping[str, Any] | None = None, fill: bool | None = None,
                  exclude: Any = None, where: Mapping[str, Any] | None = None,
                  at: Any = None, include_owned: bool = False, customers: Any = None,
                  baskets: Any = None) -> Any:
        """The offers for one request, best first (or for many: ``customers=`` / ``baskets=``).

        Parameters
        ----------
        customer : id, optional
            As a web request sends it: for int customer ids, ``"17850"``,
            ``" 17850 "`` and ``"17850.0"`` find 17850 (every spelling
            :meth:`IdIndex.encode` accepts). None (anonymous) and customers
            unknown to the history work: they get the basket-based sources and,
            with an empty basket, their segment's popularity (see ``fill``);
            :attr:`OfferList.note` then says that the customer is unknown.
        basket : list of item ids, default ()
            Items in the basket, or the item on the product page (ids matched
            like ``customer``).
        k : int, default 5
            At most this many offers; fewer when fewer pass the rules and floors.
        channel : {"web", "email", "store"}, default "web"
            Selects the cue wording.
        moment : {"product_page", "cart", "checkout", "post_purchase"} or None
            Moment of the journey (see the moment policy); None: every kind fits.
        context : mapping, optional
            Passed to sources and rules unchanged.
        fill : bool or None, default None
            Top up from popularity within the segment when fewer than ``k``
            offers remain (fill offers still pass every rule; their reason says
            "popular ... (fill)"). None: only for a *cold* request, a customer
            unknown to the history (or anonymous) with an empty basket, which
            no other source can serve; True: always; False: never (a cold
            request then gets an empty list and a :attr:`OfferList.note`).
            Needs popularity (``history=`` Transactions or ``popularity=``);
            with None and no popularity, nothing is filled.
        exclude : list of item ids, optional
            Never offer these in this request.
        where : mapping, optional
            Catalog predicates for this request, e.g. ``{"category": ["Audio"],
            "price": (None, 50), "kind": ["accessory"]}`` (see :class:`Where`).
            A condition that cannot match (text for a numeric column, an empty
            range, only values a text column does not have) raises instead of
            returning no offers.
        at : datetime, ISO string or epoch seconds, optional
            Time of the request (default now): frequency caps and timing.
        include_owned : bool, default False
            Allow items the customer bought before ("buy again": refills,
            replenishment). The ``NotOwned`` rule then keeps them (items in the
            basket stay out), CF sources stop leaving them out and the popularity
            fill may offer them. Default: the owned-items rule as configured.
        customers : list of ids, optional
            Many customers at once (the recommender contract's plural form):
            returns :class:`upsell.Recommendations`, one request per customer
            (with ``baskets=`` too: customer ``i`` with basket ``i``).
        baskets : list of lists of item ids, optional
            Many anonymous baskets at once: returns :class:`upsell.Recommendations`.

        Returns
        -------
        OfferList
            A read-only list of :class:`Offer` with ``removed`` counts per rule.
        Recommendations
            With ``customers=`` or ``baskets=``: item indices into
            ``catalog.items``, scores (float32, non-increasing per request) and each
            offer's reason summary in ``reasons``.

        Raises
        ------
        UpsellDataError
            For malformed arguments (the message names the argument), and a
            ``where`` condition that can never match (it names the column and value).

        Examples
        --------
        >>> from upsell import Catalog
        >>> cat = Catalog.from_records([{"item": "a"}, {"item": "b", "category": "x"}])
        >>> class Two:
        ...     name = "two"
        ...     def candidates(self, request, n):
        ...         return [Candidate("a", 2.0), Candidate("b", 1.0)]
        >>> rec = Recommender(catalog=cat, cross_sell=[Two()])
        >>> [o.item for o in rec.recommend(k=5, where={"category": ["x"]})]
        ['b']
        >>> print(rec.recommend(k=1, channel="store")[0].cue)
        Suggest a.
        >>> rec.recommend(customers=["x", "y"], k=1).lists()
        [['a'], ['a']]
        """
        pipe = self._pipeline()
        k, channel, context, extra = pipe.check_common(k, channel, moment, context, fill,
                                                       exclude, where, include_owned)
        when = _as_time(at, "at")
        if customers is not None or baskets is not None:
            if customer is not None or not (basket is None or (
                    isinstance(basket, (tuple, list)) and len(basket) == 0)):
                raise UpsellDataError("pass either `customer`/`basket` (one request) or "
                                      "`customers`/`baskets` (many), not both")
            return self._many(pipe, customers, baskets, k, channel, moment, context, fill,
                              extra, when, bool(include_owned))
        bk = id_tuple(basket, "basket", self.catalog.items)
        req, mom = pipe.request(customer, bk, channel, moment, context, when,
                                bool(include_owned))
        return pipe.serve(req, mom, k, fill, extra)

    def _many(self, pipe: Pipeline, customers: Any, baskets: Any, k: int, channel: str,
              moment: str | None, context: Mapping[str, Any], fill: bool | None,
              extra: list[Any], when: np.datetime64, include_owned: bool) -> Recommendations:
        """The plural form of :meth:`recommend`: one request per customer or basket."""
        cs = None if customers is None else _id_list(customers, "customers")
        bs = None if baskets is None else _basket_list(baskets)
        n = len(cs) if cs is not None else len(bs)  # type: ignore[arg-type]
        if cs is not None and bs is not None and len(bs) != n:
            raise UpsellDataError(f"`baskets` must hold one basket per customer ({n:,}); "
                                  f"got {len(bs):,}")
        index_lists: list[list[int]] = []
        score_lists: list[list[float]] = []
        reasons: list[list[str]] = []
        for r in range(n):
            bk = () if bs is None else id_tuple(bs[r], f"baskets[{r}]", self.catalog.items)
            req, mom = pipe.request(None if cs is None else cs[r], bk, channel, moment,
                                    context, when, include_owned)
            offers = pipe.serve(req, mom, k, fill, extra)
            index_lists.append([pipe.pos(o.item) for o in offers])
            score_lists.append([o.score for o in offers])
            reasons.append([o.reason.summary for o in offers])
        requests = np.asarray(cs) if cs else np.arange(n, dtype=np.int64)
        return Recommendations.from_lists(
            requests, index_lists, score_lists, items=self.catalog.items,
            request_kind="customer" if cs is not None else "basket", reasons=reasons)

    def recommend_batch(self, customers: Any = None, *, k: int = 5, channel: str = "email",
                        moment: str | None = "post_purchase",
                        context: Mapping[str, Any] | None = None, fill: bool | None = None,
                        exclude: Any = None, where: Mapping[str, Any] | None = None,
                        at: Any = None, include_owned: bool = False
                        ) -> Iterator[tuple[Any, OfferList]]:
        """Offers for many customers (e-mail campaigns), one at a time: memory stays bounded.

        With the default moment "post_purchase" the sequence source times offers
        by the lags customers typically wait (``Offer.due`` says when), so a
        follow-up e-mail offers what customers buy next, when they buy it.

        Parameters
        ----------
        customers : iterable of ids, optional
            Default: every customer of the history. Ids are matched as in
            :meth:`recommend` ("17850" finds 17850) and yielded as given.
        k, channel, moment, context, fill, exclude, where, at, include_owned
            As in :meth:`recommend`; ``at`` is the send time, the same for all.

        Yields
        ------
        (customer, OfferList)
            Customers with no offers are yielded with an empty list.

        Examples
        --------
        >>> from upsell import Catalog
        >>> cat = Catalog.from_records([{"item": "a"}])
        >>> class One:
        ...     name = "one"
        ...     def candidates(self, request, n):
        ...         return [Candidate("a", 1.0)]
        >>> rec = Recommender(catalog=cat, cross_sell=[One()])
        >>> [(c, [o.item for o in offers]) for c, offers in
        ...  rec.recommend_batch(["x", "y"], moment=None)]
        [('x', ['a']), ('y', ['a'])]
        """
        pipe = self._pipeline()
        k, channel, context, extra = pipe.check_common(k, channel, moment, context, fill,
                                                       exclude, where, include_owned)
        when = _as_time(at, "at")
        if customers is None:
            if pipe.history_ is None:
                raise UpsellDataError("recommend_batch needs `customers` when the recommender "
                                      "has no history")
            ids: Iterable[Any] = pipe.history_.customers
        elif scalar_id(customers):
            ids = [customers]
        else:
            ids = customers
        return _batch(pipe, ids, k, channel, moment, context, fill, extra, when,
                      bool(include_owned))

    # ------------------------------------------------------------------ the offer loop
    def update(self, offer_log: Any = None, *, since: Any = None) -> Recommender:
        """Learn from the offer log: every rule with ``update`` gets its outcomes.

        Reads ``offer_log.outcomes(since=since)`` (one row per presented offer,
        with whether it was accepted) and passes the arrays to each rule that
        has ``update`` (:class:`~upsell.recommend.LearnFromOutcomes`) and to
        the blend when it has ``update(outcomes)``. No source is refitted.
        ``policy_`` gets the new version. Learners with ``learn(outcomes)`` /
        ``publish(state)`` (``LearnFromOutcomes``) build their new states
        first; the states and the policy version that names them are then
        published in one step, as one snapshot each request reads once when it
        starts: a request served meanwhile, in any thread, is ranked by the old
        states and labelled with the old version, or by the new ones with the
        new version, never a mix. A learner with only ``update(outcomes)``
        publishes its own state when that returns, just before the new version
        (a request served in between sees its new state under the old version). An :class:`~upsell.recommend.OfferLog` is asked only for the
        columns the learners declare in ``outcome_columns`` (their union; every
        column when one of them declares none).

        Parameters
        ----------
        offer_log : OfferLog or mapping of str to array, optional
            Default: the recommender's own ``offer_log``. A mapping is taken as
            the outcomes themselves (the arrays ``OfferLog.outcomes()`` returns).
        since : datetime, optional
            Learn only from offers presented since then (default: the whole log).

        Returns
        -------
        Recommender
            ``self``.

        Raises
        ------
        UpsellDataError
            No offer log, or a log without ``outcomes()``.

        Examples
        --------
        >>> from upsell import Catalog
        >>> from upsell.recommend import LearnFromOutcomes
        >>> rec = Recommender(catalog=Catalog.from_records([{"item": "a"}]),
        ...                   rules=[LearnFromOutcomes()], policy="shop")
        >>> before = rec.policy_
        >>> rec.update({"item": ["a", "a"], "accepted": [True, False]}) is rec
        True
        >>> rec.policy_.startswith("shop@"), rec.policy_ != before
        (True, True)
        """
        pipe = self._pipeline()
        log = self.offer_log if offer_log is None else offer_log
        # the rules that learn (LearnFromOutcomes) and a blend that offers update(outcomes)
        owners = list(pipe.learners)
        if isinstance(log, Mapping):
            outcomes = log
        else:
            read = getattr(log, "outcomes", None)
            if log is None or not callable(read):
                raise UpsellDataError(
                    "update needs an offer log with outcomes(): pass offer_log= or build the "
                    f"Recommender with offer_log=; got {type(log).__name__}")
            if not owners:  # nothing learns: do not read the log
                return self
            kw: dict[str, Any] = {} if since is None else {"since": since}
            wanted = _outcome_columns(owners)
            if wanted is not None and isinstance(log, OfferLog):  # a duck-typed log: all
                kw["columns"] = wanted
            outcomes = read(**kw)
        with pipe.update_lock:  # concurrent updates publish one after the other
            states = dict(pipe.snapshot_.states)
            for p in owners:
                if p in pipe.staged:  # learn without publishing: served from the snapshot
                    states[id(p)] = p.learn(outcomes)
                else:  # a plain update(outcomes) publishes its own state as it returns
                    p.update(outcomes)
            policy = policy_name(self.policy, pipe, states)
            pipe.publish(policy, states)  # the states and their version, one step
            for p in pipe.staged:
                p.publish(states[id(p)])  # the rule's own copy (save, n_outcomes_)
        return self

    def policy_distribution(self, customer: Any = None, *, basket: Any = (), k: int = 5,
                            at: Any = None, channel: str = "web", moment: str | None = None
                            ) -> dict[tuple[Any, int], float]:
        """The probability of each (item, position) this recommender shows for a request.

        A deterministic recommender gives 1.0 to each offer it would show, at
        its position; with :class:`~upsell.recommend.Explore` the exact
        marginals over the greedy list and its exploration set. Off-policy
        evaluation reads it as the target policy's propensities.

        Parameters
        ----------
        customer, basket, k, at, channel, moment
            As in :meth:`recommend`.

        Returns
        -------
        dict of (item id, int) to float
            Positions are 0-based; the probabilities of one position sum to 1.

        Notes
        -----
        With ``LearnFromOutcomes(thompson=True)`` the greedy list is itself a
        random draw; the distribution is then the one of that request's draw.

        Examples
        --------
        >>> from upsell import Catalog
        >>> from upsell.recommend import Explore
        >>> cat = Catalog.from_records([{"item": i} for i in "abc"])
        >>> class Three:
        ...     name = "three"
        ...     def candidates(self, request, n):
        ...         return [Candidate("a", 3.0), Candidate("b", 2.0), Candidate("c", 1.0)]
        >>> Recommender(catalog=cat, cross_sell=[Three()]).policy_distribution(k=1)
        {('a', 0): 1.0}
        >>> rec = Recommender(catalog=cat, cross_sell=[Three()], rules=[Explore(rate=0.1)])
        >>> {key: round(p, 3) for key, p in rec.policy_distribution(k=1).items()}
        {('a', 0): 0.9, ('b', 0): 0.05, ('c', 0): 0.05}
        """
        pipe = self._pipeline()
        k, channel, context, extra = pipe.check_common(k, channel, moment, None, None, None,
                                                       None)
        bk = id_tuple(basket, "basket", self.catalog.items)
        req, mom = pipe.request(customer, bk, channel, moment, context, _as_time(at, "at"))
        trace: dict[str, Any] = {}
        offers = pipe.serve(req, mom, k, None, extra, trace=trace)
        plan = trace.get("plan")
        if plan is None:
            return {(o.item, j): 1.0 for j, o in enumerate(offers)}
        return dict(plan.distribution())

    def warm(self) -> Recommender:
        """Do now what the first requests would: assemble the pipeline and compile the
        learned blend's serving kernels (numba: ~15 s once after an install, then ~0.4 s
        from its cache). A service calls it before it takes traffic. No offer is logged or
        counted against a cap (no customer is asked for). Returns ``self``.

        Examples
        --------
        >>> from upsell import Catalog
        >>> rec = Recommender(catalog=Catalog.from_records([{"item": "a"}])).fit()
        >>> rec.warm() is rec
        True
        """
        self.recommend(None, k=1)  # assembles the pipeline (as the first request would)
        from upsell.recommend._blend_one import warm
        from upsell.recommend.blend import LearnedBlend

        if isinstance(self.blend, LearnedBlend) and getattr(self.blend, "state_", None) is not None:
            warm(self.blend)
        return self

    # ------------------------------------------------------------------ files
    #: Where the offer log of a loaded recommender was when it was saved
    #: (``{"sqlite": path, "table": name}``), or None; :meth:`load` never opens it.
    saved_offer_log_: dict[str, str] | None = None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole recommender as one directory of ``.npz`` + JSON files, atomically.

        The directory holds ``recommender.json`` (format version, parameters,
        rules, moments, cue templates, opportunity matrix, file sizes and
        SHA-256), ``catalog.npz``, ``history.npz``, ``segments.npz``,
        ``popularity.npz``, one file per source under ``sources/`` and the
        blend's own files under ``blend/`` (when a blend is given). It is
        written next to ``path``, flushed to disk and swapped in, replacing an
        existing saved recommender atomically.

        Raises
        ------
        UpsellDataError
            A source without ``save``/``load`` (or not registered), or a rule that
            cannot be saved; the message names it.
        ModelFileError
            The folder does not exist, or ``path`` is something else than a saved
            recommender.

        Examples
        --------
        >>> import os, tempfile
        >>> from upsell import Catalog
        >>> rec = Recommender(catalog=Catalog.from_records([{"item": "a"}]))
        >>> p = os.path.join(tempfile.mkdtemp(), "rec")
        >>> rec.save(p)
        >>> sorted(os.listdir(p))
        ['catalog.npz', 'recommender.json']
        """
        _persist.save(self, path)

    @staticmethod
    def is_saved(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is a folder :meth:`save` wrote (it holds the manifest).

        A cheap look, not a check of the files (:meth:`load` does that): for a caller
        that takes order lines or a model and says which it was given.

        Examples
        --------
        >>> import tempfile
        >>> p = tempfile.mkdtemp()
        >>> Recommender.is_saved(p)
        False
        >>> Recommender(catalog=Catalog.from_records([{"item": "a"}])).save(p)
        >>> Recommender.is_saved(p)
        True
        """
        return _persist.is_saved(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, offer_log: OfferLog | None = None,
             verify: bool = True) -> Recommender:
        """Read a recommender written by :meth:`save`; it gives identical offers.

        The folder is untrusted input (see ``docs/hardening.md``): every path the
        manifest names must stay inside it (``..``, absolute paths and symbolic
        links that lead out are refused), every file the recommender needs must
        be listed and present, every array and parameter is checked as strictly
        as after a fresh fit, decompression is bounded, and loading has no side
        effect: nothing is written, no database is opened, nothing goes over the
        network.

        Parameters
        ----------
        path : path-like
            The directory.
        offer_log : OfferLog, optional
            The log for frequency caps. Attach it here: the SQLite log the saved
            recommender used is not opened on load (opening a database named in
            a file can create or change it). Its location, as saved, is in
            ``saved_offer_log_`` (``{"sqlite": path, "table": name}`` or None), so
            a caller who trusts the folder can reopen it with
            ``OfferLog.sqlite(rec.saved_offer_log_["sqlite"])``. Loading such a
            recommender without ``offer_log`` warns (:class:`UpsellWarning`) when
            its rules include a frequency cap, which then caps nothing.
        verify : bool, default True
            Check every file's SHA-256 against the manifest; each byte is hashed
            once (the ``.npz`` files then skip their own array digests). False
            skips hashing: sizes, the zip structure and every array's contents
            are still checked, so truncation and hostile contents are caught but
            not every flipped byte. The checksums sit in the same folder, so they
            catch damage, not a deliberate edit: the content checks do that.

        Notes
        -----
        Large arrays are memory-mapped read-only rather than copied (the files
        are uncompressed ``.npz``), and the customer and item id maps are loaded
        once and shared by the history, the segments and every source. The
        files must stay in place while the recommender is used; saving a new
        recommender over the directory is safe (on POSIX the mapped files live
        on until the old recommender is gone). A server that loads once and then
        serves should call :func:`gc.freeze` after loading, so that garbage
        collections do not walk the loaded objects on every request.

        Raises
        ------
        ModelFileError
            Missing, partial, corrupted or hostile directory (a path leaving it, a
            file it holds but the manifest does not list, contents a fit could not
            have produced), a newer format, unregistered source, rule or blend types.
            The message names the file, the entry and the problem.

        Examples
        --------
        >>> Recommender.load("/nonexistent/rec")
        Traceback (most recent call last):
        ...
        upsell.exceptions.ModelFileError: recommender directory '/nonexistent/rec' does not exist
        """
        return _persist.load(cls, path, offer_log=offer_log, verify=verify)


def _batch(pipe: Pipeline, ids: Iterable[Any], k: int, channel: str, moment: str | None,
           context: Mapping[str, Any], fill: bool | None, extra: list[Any],
           when: np.datetime64, include_owned: bool) -> Iterator[tuple[Any, OfferList]]:
    for cid in ids:
        req, mom = pipe.request(cid, (), channel, moment, context, when, include_owned)
        yield cid, pipe.serve(req, mom, k, fill, extra)


def _id_list(values: Any, name: str) -> list[Any]:
    """A list of customer ids (one id alone is a list of one)."""
    if scalar_id(values):
        return [values]
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise UpsellDataError(f"`{name}` must be a list of ids; got {values!r}")
    out = list(values)
    for v in out:
        if v is not None and not scalar_id(v):
            raise UpsellDataError(f"`{name}` must hold ids (str or int); got {v!r}")
    return out


def _basket_list(baskets: Any) -> list[Any]:
    """A list of baskets (each a list of item ids)."""
    if isinstance(baskets, (str, bytes)) or not isinstance(baskets, Iterable):
        raise UpsellDataError(f"`baskets` must be a list of baskets (lists of item ids); got "
                              f"{baskets!r}")
    out = list(baskets)
    for b in out:
        if scalar_id(b):
            raise UpsellDataError(f"`baskets` must hold baskets (lists of item ids), not single "
                                  f"ids; got {b!r} (use baskets=[[...]])")
    return out


def _outcome_columns(learners: Sequence[Any]) -> tuple[str, ...] | None:
    """The union of the ``outcome_columns`` the learners declare; None (every column) when
    one of them declares none."""
    wanted: dict[str, None] = {}
    for p in learners:
        cols = getattr(p, "outcome_columns", None)
        if cols is None:
            return None
        wanted.update(dict.fromkeys(cols))
    return tuple(wanted)
