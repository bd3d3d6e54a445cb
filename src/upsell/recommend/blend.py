"""Learned blend: a LightGBM ranker over the candidates of every source, trained on the shop's history."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from upsell._atomic import atomic_write_bytes
from upsell._estimator import Estimator
from upsell._implicit import blas_single_thread
from upsell._results import Recommendations
from upsell._validation import check_choice, check_float, check_int, check_k, is_one_id
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import ModelFileError, UpsellDataError, UpsellTypeError
from upsell.recommend._blend_features import (
    FEATURE_GROUPS,
    BlendState,
    LineData,
    feature_names,
)
from upsell.recommend._blend_one import (
    CASCADE,
    OneCustomer,
    cascade_keep,
    cascade_raw,
    cascade_trees,
    customer_row,
    finite_scores,
    used_trees,
)
from upsell.recommend._blend_reasons import (
    Clock,
    DeferredReasons,
    cold_reasons,
    priority_contrib,
    reason_texts,
)
from upsell.recommend._blend_state_io import REGIMES as _REGIMES
from upsell.recommend._blend_state_io import (
    names_and_columns,
    read_booster,
    read_meta,
    read_stage,
    state_arrays,
    state_from_arrays,
    with_defaults,
    write_models,
)
from upsell.recommend._blend_train import (
    cut_workers,
    ease_plan,
    line_data,
    plan_cuts,
    segment_codes,
    side_by_side,
    train_regime,
    train_together,
    training_cut,
)
from upsell.recommend._blend_update import (
    UPDATE_COLUMNS,
    Stage,
    fit_stage,
    stage_adjust,
    stage_contributions,
)
from upsell.recommend._forest import Forest
from upsell.recommend._from_history import parts_from_history
from upsell.recommend.blending import BlendRequest, register_blend

__all__ = ["LearnedBlend"]

log = logging.getLogger("upsell")
_FORMAT = 2  # 2: a second stage learned from outcomes (written only when there is one)
_FORMATS = (1, 2)
_EXPLAIN = ("contributions", "features", "none", "paths")


@register_blend
class LearnedBlend(Estimator):
    """Rank every source's candidates with a LightGBM model learned from the shop's own history.

    Two-stage ranking: candidate sources (EASE, cosine item-KNN, user-KNN, co-purchase
    with the last basket, the customer's own purchases, recent popularity) each propose their
    best items; a gradient-boosted ranker scores every proposal from the signals
    below and the best ``k`` are served. The ranker learns from history alone: the
    orders are cut at several points in time; for each cut every source is fitted on
    the lines before it, and its candidates are labelled by the customer's next basket
    after it. Two rankers are learned: one over every candidate (``include_owned=True``:
    buy-again offers allowed) and one over items the customer never bought.

    Parameters
    ----------
    n_candidates : int, default 150
        Candidate budget per customer: each of EASE, item-KNN, user-KNN and co-purchase proposes
        its best ``n_candidates // 2``, the customer's own items up to
        ``n_candidates``, recent popularity ``n_candidates // 5``; the union is ranked.
    n_cuts : int, optional
        Training cut points (see Notes); the last one is held out to choose the hyper-
        parameters, then the ranker is refitted on all. Default: from ``max_rows``.
    objective : {"rank_xendcg", "lambdarank", "binary"}, default "rank_xendcg"
        LightGBM objective of both rankers. ``"rank_xendcg"`` (listwise cross-entropy,
        Bruch 2021) needs ~20-30% less boosting time than lambdarank at the same recall
        (measured on two outer time splits of Online Retail).
    param_grid : sequence of (num_leaves, min_leaf_share), optional
        Hyper-parameters tried by the inner time split; ``min_leaf_share`` is the
        share of training rows a leaf must hold (at least 20 rows). Default
        ``((15, 0.002), (15, 0.0005), (31, 0.0005), (7, 0.005))``. Chosen by
        successive halving on the held-out cut: every candidate boosts 2 / learning
        rate rounds (20 at 0.1) on one shared binned set, the better half goes on to
        twice the rounds, until one is left and runs to early stopping (about half
        the rounds of a full grid).
    learning_rate : float, optional
        Of both rankers; default 0.1 buy-again, 0.05 never-bought (fewer rows: see Notes).
    max_rounds : int, default 400
        Boosting rounds at most; the inner split picks the number (early stopping).
    max_rows : int, default 600_000
        Training budget: customers x ``n_candidates`` over all cuts. It sets the cuts
        (``n_cuts=None``: as many as it fills with the customers a cut can learn from;
        Online Retail: 4) and the customers per cut; fit time follows it, not the shop.
    max_customers : int, optional
        Customers sampled per cut at most (default: ``max_rows`` over cuts).
    n_neighbors : int, default 100
        Neighbours kept per item by EASE, item-KNN and co-purchase.
    feature_groups : sequence of str, optional
        Feature groups the ranker sees (default all; see Notes); for ablations.
    use_ease : bool or "auto", default "auto"
        EASE inverts a dense items x items matrix at every cut (cubic in the items):
        "auto" fits it over the most-bought items the cuts can afford together
        (:meth:`upsell.cf.EASE.affordable_items`; every item of Online Retail).
    num_threads : int, default 1
        LightGBM threads per ranker (fixed, so results are reproducible); the two rankers
        train side by side when the process may use twice as many cores.
    explain : {"contributions", "features", "none", "paths"}, default "contributions"
        How a served offer's reason is found. ``"contributions"``: the ranker's
        per-feature contributions (exact TreeSHAP, as LightGBM's ``pred_contrib``) of
        the offers the business rules keep, put in words after the rules; the
        costliest step of a request (~0.2-1.5 ms per offer on Online Retail's rankers;
        computed from the ranker compiled to numpy tables when they fit 32 MB).
        ``"features"``: the
        same phrases chosen from the feature values alone, by a fixed order (timing,
        co-purchase, neighbours, popularity, price, segment, catalog); ~0.2 ms per
        request. ``"none"``: no blend reason (the offer's reason comes from its
        sources' evidence, as with any blend without reasons). Scores and offers are
        the same under all four. :meth:`recommend` has its own ``reasons=`` switch
        (contributions, or the feature phrases under ``"features"``). ``"paths"``: path
        attributions (Saabas) from a table per leaf instead of TreeSHAP; not Shapley values.
    cascade : float or None, default 1/3
        Serving (:meth:`blend`, one request): this share of the ranker's trees scores
        every candidate, the best ``max(4 k, 20)`` get the other trees; the rest rank
        below them in their first-pass order. None: every tree for every candidate (as
        :meth:`recommend` always does). On Online Retail (k=5) 99.5-99.9% of offer lists
        are the same as without it, recall unchanged; the ranker's time ~halves.

    Attributes
    ----------
    customers_, items_ : IdIndex
    state_ : the fitted history (sources and statistics over the whole history)
    boosters_ : dict of str to lightgbm.Booster
        ``"owned"`` (buy-again allowed) and ``"new"`` (never-bought items).
    params_ : dict of str to dict
        Per ranker: chosen LightGBM parameters and rounds, and the inner split's numbers
        (recall@10 on the held-out cut, every customer of the cut with a next basket
        counted): ``"inner_recall"`` of the chosen ranker, ``"inner_source_recall"``
        of each single source's own order of the same candidates, the best of them as
        ``"inner_best_source"`` and ``"inner_best_source_recall"``.
    measures_better_ : bool or None
        True when every ranker's inner recall@10 beats the best single source's (see
        :attr:`measures_better_`); what ``upsell fit`` may use to keep the learned blend.
    cuts_ : list of numpy.datetime64
        Training cut points; ``window_days_`` their spacing.

    Notes
    -----
    **Cuts.** The window is the median gap between a customer's consecutive orders
    (bounded to [1 day, span / (n_cuts + 2)]); the cuts lie half a window apart, the
    last half a window before the end of the data (``n_cuts=None``: ``max_rows`` keeps
    3 to 8 of 8 such cuts, spread). Labels of a cut: the items of each customer's first
    order in [cut, cut + 2 windows) (the inner split stops labels at the held-out cut).
    Training keeps every bought candidate and half of the others (drawn with
    ``random_state``). Nothing of a training row is computed from a line at or after its
    cut. The never-bought ranker learns at 0.05 (at 0.1 it stopped after 10-13 trees and
    lost up to 0.05 of its ratio to EASE).

    **Features** (``feature_groups`` names in brackets), for customer ``c``, item ``j``:

    - [sources] ``ease_score``/``ease_rank``: EASE score of ``j`` from ``c``'s history
      (binary) and its rank among ``c``'s EASE scores; ``knn_score``/``knn_rank``: the
      same for cosine item-KNN over ``c``'s decayed history (TIFU-KNN style);
      ``cooc_score``/``cooc_rank``: the highest share of orders holding an item ``X``
      of ``c``'s last basket that also hold ``j``; ``uknn_score``/``uknn_rank``: user-KNN,
      the sum of the ``n_neighbors`` most similar customers' L2-normalised decayed
      vectors, weighted by their cosine similarity to ``c`` (TIFU-KNN style); ``repeat_rank``: rank of ``j``
      among ``c``'s items by decayed count; ``pop_rank``: rank by buyers in the last
      window.
    - [repeat] ``times_bought`` (orders of ``c`` holding ``j``), ``decayed_count``
      (each such order counts ``0.5 ** (age / half_life)``, half-life 3 windows),
      ``days_since_bought``, ``repurchase_interval`` (mean days between ``c``'s
      purchases of ``j``; NaN below 2), ``since_over_interval`` (days since / interval:
      about 1 when a repeat is due), ``share_of_orders`` (times bought / orders),
      ``item_repeat_rate`` (share of the item's buyers who bought it in two orders or
      more), ``item_interval`` (median of its buyers' repurchase intervals),
      ``since_over_item_interval`` (days since / item interval). Counted in ``c``'s own
      orders (the same scale in every shop): ``orders_since_bought`` (orders of ``c``
      after the last one holding ``j``; 0: ``j`` was in the last order),
      ``in_last_2_orders``, ``in_last_4_orders`` (how many of ``c``'s last 2 / 4 orders
      hold ``j``), ``order_decayed_count`` (each order holding ``j`` counts
      ``0.5 ** (orders since / 3)``); ``item_next_order_rate`` (share of the item's
      purchases, by customers who ordered again, repeated in their next order).
    - [popularity] ``buyers_log`` (log 1 + buyers), ``recent_buyers_share`` (buyers in
      the last window / all buyers), ``popularity_trend`` (log of last window's buyers
      + 1 over the window before's + 1).
    - [copurchase] ``lift_last_basket`` (``cooc_score`` over the share of orders
      holding ``j``), ``conf_history_max`` (as ``cooc_score`` over every item ``c``
      ever bought).
    - [price] ``price`` (median unit price), ``price_vs_usual`` (over ``c``'s median unit
      price), ``price_vs_order_value`` (over ``c``'s mean order value), ``discount``
      (1 - last window's median price / median price), ``margin`` ((price - cost) /
      price, catalog ``cost``; NaN without).
    - [customer] ``orders``, ``tenure_days``, ``days_since_order``, ``basket_size``
      (distinct items per order), ``orders_per_window``, ``distinct_items``,
      ``repeat_share`` (share of ``c``'s purchases of an item bought before),
      ``next_order_overlap`` (share of ``c``'s basket lines after the first order that
      were in their previous order).
    - [spend] ``spend_share`` (``c``'s spend on ``j`` / ``c``'s whole spend),
      ``quantity_per_order`` (``c``'s units of ``j`` per order holding it), ``quantity_vs_item``
      (over the item's median of that among its buyers); 0 if never bought, NaN without prices.
    - [segment] ``segment``: the customer's segment (categorical; ``segments=``).
    - [catalog] ``kind`` (categorical) and ``tier`` of the catalog, when given.

    Missing values are NaN (LightGBM routes them). Reasons: LightGBM's per-feature
    contributions (``pred_contrib``) of an offer; the strongest positive group is put
    in words ("bought every ~30 days, last 34 days ago", "bought with X in 12% of
    orders").

    Unknown customers get the co-purchase-with-basket and recent popularity order
    (the ranker needs a history). Models are read-only after ``fit``.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=300, n_items=60, n_orders=2500, random_state=0)
    >>> blend = LearnedBlend(n_cuts=3, max_rounds=20, param_grid=[(7, 0.01)]).fit(
    ...     shop.transactions)
    >>> recs = blend.recommend(customers=shop.transactions.customers.ids[:2], k=3)
    >>> [len(x) for x in recs.lists()]
    [3, 3]
    """

    _fitted_attr = "state_"
    _stage: Stage | None = None  # set by update(): one attribute store per new stage
    _own_inputs = True  # blend() reads neither source_scores nor request.owned (the pipeline)

    def __init__(self, *, n_candidates: int = 150, n_cuts: int | None = None,
                 objective: str = "rank_xendcg", param_grid: Any = None,
                 learning_rate: float | None = None, max_rounds: int = 400, max_rows: int = 600_000,
                 max_customers: int | None = None, n_neighbors: int = 100,
                 feature_groups: Any = None, use_ease: Any = "auto",
                 num_threads: int = 1, explain: str = "contributions",
                 cascade: float | None = CASCADE) -> None:
        self.n_candidates = n_candidates
        self.n_cuts = n_cuts
        self.objective = objective
        self.param_grid = param_grid
        self.learning_rate = learning_rate
        self.max_rounds = max_rounds
        self.max_rows = max_rows
        self.max_customers = max_customers
        self.n_neighbors = n_neighbors
        self.feature_groups = feature_groups
        self.use_ease = use_ease
        self.num_threads = num_threads
        self.explain = explain
        self.cascade = cascade

    # ------------------------------------------------------------------ params
    def _grid(self) -> list[tuple[int, float]]:
        if self.param_grid is None:
            return [(15, 0.002), (15, 0.0005), (31, 0.0005), (7, 0.005)]
        return [(int(a), float(b)) for a, b in self.param_grid]

    def _columns(self) -> np.ndarray:
        names = feature_names()
        groups = set(FEATURE_GROUPS.values())
        chosen = groups if self.feature_groups is None else set(self.feature_groups)
        bad = chosen - groups
        if bad:
            raise UpsellDataError(f"`feature_groups` must name groups of {sorted(groups)}; "
                                  f"got {sorted(bad)}")
        return np.array([j for j, n in enumerate(names) if FEATURE_GROUPS[n] in chosen],
                        dtype=np.int64)

    def _validate(self) -> None:
        check_int(self.n_candidates, "n_candidates", minimum=2, maximum=100_000)
        if self.n_cuts is not None:
            check_int(self.n_cuts, "n_cuts", minimum=2, maximum=52)
        check_choice(self.objective, "objective", ("lambdarank", "rank_xendcg", "binary"))
        check_int(self.max_rounds, "max_rounds", minimum=1, maximum=100_000)
        check_int(self.max_rows, "max_rows", minimum=1)
        if self.max_customers is not None:
            check_int(self.max_customers, "max_customers", minimum=1)
        check_int(self.n_neighbors, "n_neighbors", minimum=1, maximum=100_000)
        check_int(self.num_threads, "num_threads", minimum=1, maximum=1024)
        check_choice(self.explain, "explain", _EXPLAIN)
        if self.cascade is not None:
            check_float(self.cascade, "cascade", low=0.0, high=1.0)
        lr = self.learning_rate
        if lr is not None and (not isinstance(lr, (int, float)) or isinstance(lr, bool)
                               or not 0 < lr <= 1):
            raise UpsellDataError(f"`learning_rate` must be in (0, 1]; got {lr!r}")
        if self.use_ease not in (True, False, "auto"):
            raise UpsellDataError(f'`use_ease` must be True, False or "auto"; got '
                                  f"{self.use_ease!r}")
        self._columns()
        for leaves, share in self._grid():
            if leaves < 2 or not 0 < share < 1:
                raise UpsellDataError("`param_grid` holds (num_leaves >= 2, min_leaf_share in "
                                      f"(0, 1)) pairs; got {(leaves, share)!r}")

    # ------------------------------------------------------------------ fit
    def fit(self, transactions: Transactions, *, catalog: Any = None, segments: Any = None,
            sources: Any = None, random_state: int = 0) -> LearnedBlend:
        """Learn the rankers from the order history alone (see Notes of the class).

        Parameters
        ----------
        transactions : Transactions
            Needs ``customer`` and ``time`` columns; ``price`` (or ``value``) enables
            the price features.
        catalog : Catalog, optional
            ``cost`` (margin), ``kind`` and ``tier`` features.
        segments : mapping customer id -> label, pandas Series, or a fitted segmenter
            result with ``customers`` and ``labels``, optional
        sources : None
            Reserved: the candidate sources are fitted here, from ``transactions``.
        random_state : int, default 0
            Seed of LightGBM and of the customer sample.

        Returns
        -------
        self
        """
        self._validate()
        if not isinstance(transactions, Transactions):
            raise UpsellTypeError(f"`transactions` must be a Transactions; got "
                                  f"{type(transactions).__name__}")
        if sources is not None:
            raise UpsellDataError("`sources` must be None: LearnedBlend fits its own sources")
        for col in ("customer", "time"):
            if not transactions.has(col):
                raise UpsellDataError(f"LearnedBlend needs Transactions with a `{col}` column")
        seg_labels, seg_index = segment_codes(segments, transactions.customers)
        lines = line_data(transactions, catalog, seg_labels)
        if lines.customer.size == 0 or not (lines.customer >= 0).any():
            raise UpsellDataError("`transactions` hold no purchase with a customer")
        cuts, window, per_cut = plan_cuts(
            lines, n_cuts=self.n_cuts, max_rows=self.max_rows, n_candidates=self.n_candidates,
            max_customers=self.max_customers)
        half_life, ease = 3.0 * window, ease_plan(self.use_ease, lines.n_items, len(cuts) + 1)
        end = int(lines.time.max()) + 1
        seeds = np.random.SeedSequence(random_state).spawn(len(cuts))  # a stream per cut
        jobs: list[Callable[[], Any]] = [
            partial(training_cut, lines, c, window, np.random.default_rng(sd), end=end,
                    per_cut=per_cut, n_candidates=int(self.n_candidates), half_life=half_life,
                    n_neighbors=int(self.n_neighbors), ease=ease)
            for c, sd in zip(cuts, seeds, strict=True)]
        jobs.append(partial(BlendState.build, lines, end, window=window, half_life=half_life,
                            n_neighbors=int(self.n_neighbors), **ease))
        # one BLAS thread each (a cut's EASE fit spent a second one mostly spinning beside its
        # single-threaded rest); the cuts and the served state are built side by side
        with blas_single_thread():
            *parts, state = side_by_side(jobs, cut_workers(lines, len(jobs)))
        cols = self._columns()
        trained = train_together(lambda r: self._train(parts, lines, cuts, window, end, r, cols,
                                                       random_state), _REGIMES, self.num_threads)
        self.customers_ = transactions.customers
        self.items_ = transactions.items
        self.item_names_ = np.asarray(transactions.item_names(), dtype=str)
        self.segments_ = seg_index
        self.columns_ = cols
        self.boosters_ = {r: b for r, (b, _) in trained.items()}
        self.params_ = {r: info for r, (_, info) in trained.items()}
        self.window_days_ = window / 86_400.0
        self.cuts_ = [np.datetime64(int(c), "s") for c in cuts]
        self.state_ = state
        return self

    def _train(self, parts: list[Any], lines: LineData, cuts: list[int], window: float,
               end: int, regime: str, cols: np.ndarray, random_state: int
               ) -> tuple[Any, dict[str, Any]]:
        """Inner time split (last cut held out) over the grid, then a refit on every cut."""
        return train_regime(parts, lines, cuts, window, end, new_only=regime == "new", columns=cols,
                            grid=self._grid(), objective=str(self.objective),
                            learning_rate=self.learning_rate,
                            max_rounds=int(self.max_rounds), num_threads=int(self.num_threads),
                            random_state=random_state)

    # ------------------------------------------------------------------ scoring
    def _one(self) -> OneCustomer:
        """The one-request feature view of ``state_`` (built once per fitted state)."""
        got = getattr(self, "_one_view", None)
        if got is None or got.st is not self.state_:
            got = OneCustomer(self.state_)
            self._one_view = got  # one assignment: a racing thread builds an equal view
        return got

    def _forest(self, regime: str) -> Forest:
        """The ranker compiled to arrays: scores and reasons (built once per booster)."""
        forests = getattr(self, "_forests", None)
        if forests is None or any(forests[r].booster is not self.boosters_[r] for r in forests):
            forests = {r: Forest.for_explain(b, self.explain) for r, b in self.boosters_.items()}
            self._forests = forests  # one assignment: a racing thread builds equal ones
        return forests[regime]

    def _predict(self, X: np.ndarray, regime: str, stage: Stage | None = None,
                 keep: int = 0) -> np.ndarray:
        """Scores of the rows ``X``; ``keep`` > 0: the serving cascade (``cascade``)."""
        Xc = np.ascontiguousarray(X[:, self.columns_])
        booster = self.boosters_[regime]
        adj = stage_adjust(stage, Xc, regime)
        first = cascade_trees(self.cascade, used_trees(booster), Xc.shape[0], keep)
        if adj is None and first == 0 and self.objective == "binary":  # LightGBM's sigmoid
            return np.asarray(booster.predict(Xc, num_threads=int(self.num_threads)))
        raw = self._forest(regime).raw(Xc, first, keep, adj)  # compiled; None: LightGBM's
        raw = cascade_raw(booster, Xc, first, keep, adj, int(self.num_threads)) \
            if raw is None else raw
        return 1.0 / (1.0 + np.exp(-raw)) if self.objective == "binary" else raw

    def _contrib(self, X: np.ndarray, regime: str, stage: Stage | None = None) -> np.ndarray:
        Xc = np.ascontiguousarray(X[:, self.columns_])
        c = self._forest(regime).attributions(Xc, self.explain)  # TreeSHAP or "paths"
        more = stage_contributions(stage, Xc, regime)  # Shapley values add over trees
        if more is not None:
            c = c + more
        full = np.zeros((X.shape[0], len(feature_names())), dtype=np.float64)
        full[:, self.columns_] = c[:, :-1]
        return full

    def _reasons(self, X: np.ndarray, regime: str, best_last: np.ndarray,
                 clock: Clock | None = None, stage: Stage | None = None) -> list[str]:
        if X.shape[0] == 0:
            return []
        if self.explain == "features":
            return reason_texts(X, priority_contrib(X.shape[0]), best_last, self.item_names_,
                                clock=clock)
        contrib = self._contrib(X, regime) if stage is None else self._contrib(X, regime, stage)
        return reason_texts(X, contrib, best_last, self.item_names_, clock=clock)

    # ------------------------------------------------------------------ learning from outcomes
    #: The columns of ``OfferLog.outcomes()`` that :meth:`update` reads (what
    #: :meth:`Recommender.update` asks the log for).
    outcome_columns = UPDATE_COLUMNS

    @property
    def measures_better_(self) -> bool | None:
        """Whether every trained ranker beat the best single source on the inner split.

        True when, for each regime, the ranker's recall@10 on the held-out cut of the
        inner time split (``params_[regime]["inner_recall"]``) exceeds that of the best
        single source's own order of the same candidates
        (``"inner_best_source_recall"``); None before :meth:`fit` and for a blend
        loaded from a file written without these numbers.
        """
        chosen = getattr(self, "params_", None)
        if not chosen:
            return None
        better = True
        for regime in _REGIMES:
            info = chosen.get(regime)
            if not isinstance(info, dict):
                return None
            mine, best = info.get("inner_recall"), info.get("inner_best_source_recall")
            if not isinstance(mine, (int, float)) or not isinstance(best, (int, float)):
                return None
            better = better and mine > best  # NaN (nothing to compare) is not better
        return better

    @property
    def stage_(self) -> Stage | None:
        """The second stage learned by :meth:`update` (None before one, or after a refit)."""
        return self._live(self._stage)

    def _live(self, st: Stage | None) -> Stage | None:
        """``st`` when it continues the current rankers (a refit drops it), else None."""
        return st if st is not None and st.base is getattr(self, "boosters_", None) else None

    @property
    def state_version(self) -> str | None:
        """8 hex characters of a digest of the learned stage (None without one): part of
        ``Recommender.policy_``."""
        st = self.stage_
        return st.version if st is not None and st.version else None

    def update(self, outcomes: Any, *, objective: str = "binary", weights: str | None = None,
               random_state: int = 0) -> LearnedBlend:
        """Learn what the shop's customers accept: refit the second stage from the outcomes.

        Called by :meth:`Recommender.update <upsell.recommend.Recommender.update>` with
        ``OfferLog.outcomes(columns=LearnedBlend.outcome_columns)``. Labels: accepted
        (1) against presented and not accepted (0), grouped by ``request_id`` (else by
        customer and time); features: this blend's own serving features of each
        presented (customer, item) at the logged time. Per regime (``owned``/``new``),
        a small binary LightGBM stage continues boosting from the history ranker's
        score (Platt-scaled ``init_score``): few depth-2 trees, their number chosen on
        the most recent quarter of the requests, used only when it beats the history
        ranker there and only with enough acceptances (at least ``max(40, features)``
        in at least half as many requests). With fewer outcomes, or no gain, the
        blend stays the history ranker. Every call refits from the outcomes it is
        given (the same log gives the same stage). The new stage is swapped in with
        one attribute store: requests see the old or the new model, never a mix.
        Details: ``upsell/recommend/_blend_update.py`` and docs/offer-loop.md.

        Parameters
        ----------
        outcomes : mapping of str to array
            ``customer``, ``item`` and ``accepted`` are required; ``request_id``,
            ``time`` and ``propensity`` are used when present.
        objective : {"binary", "lambdarank"}, default "binary"
            The stage's loss (lambdarank: init score the raw ranker score, requests as
            queries).
        weights : {None, "propensity"}, default None
            None: every presented offer weighs 1; "propensity": ``1 / propensity``
            capped at 20.
        random_state : int, default 0
            LightGBM's seed.

        Returns
        -------
        self

        Raises
        ------
        UpsellDataError
            A missing column, columns of different lengths, non-boolean ``accepted``.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=300, n_items=60, n_orders=2500, random_state=0)
        >>> blend = LearnedBlend(n_cuts=3, max_rounds=20, param_grid=[(7, 0.01)]).fit(
        ...     shop.transactions)
        >>> ids = shop.transactions.customers.ids[:3]
        >>> blend.update({"customer": ids, "item": shop.transactions.items.ids[:3],
        ...               "accepted": [True, False, False]}) is blend
        True
        >>> blend.stage_.info["new"]["status"], blend.state_version
        ('too few outcomes', None)
        """
        self.publish(self.learn(outcomes, objective=objective, weights=weights,
                                random_state=random_state))
        return self

    @property
    def learned_state(self) -> Stage | None:
        """The published second stage (opaque; see :meth:`learn`), or None."""
        return self._stage

    def learn(self, outcomes: Any, *, objective: str = "binary", weights: str | None = None,
              random_state: int = 0) -> Stage:
        """The second stage :meth:`update` would install, without installing it.

        ``update(outcomes)`` is ``publish(learn(outcomes))``. Inside a
        :class:`~upsell.recommend.Recommender`, ``Recommender.update`` learns
        first and publishes the stage with the new policy version as one
        snapshot that each request reads once, so a request's offers and the
        policy version logged with them always come from the same stage.

        Parameters
        ----------
        outcomes, objective, weights, random_state
            As in :meth:`update`.

        Returns
        -------
        Stage
            Opaque; pass it to :meth:`publish`.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=300, n_items=60, n_orders=2500, random_state=0)
        >>> blend = LearnedBlend(n_cuts=3, max_rounds=20, param_grid=[(7, 0.01)]).fit(
        ...     shop.transactions)
        >>> stage = blend.learn({"customer": shop.transactions.customers.ids[:2],
        ...                      "item": shop.transactions.items.ids[:2],
        ...                      "accepted": [True, False]})
        >>> blend.stage_ is None, stage.info["new"]["status"]
        (True, 'too few outcomes')
        >>> blend.publish(stage); blend.stage_ is stage
        True
        """
        self._check_fitted()
        return fit_stage(self, outcomes, objective=objective, weights=weights,
                         random_state=random_state)

    def publish(self, state: Stage | None) -> None:
        """Install a stage from :meth:`learn` (one attribute store: readers see the old or
        the new stage, never a mix).

        Parameters
        ----------
        state : Stage or None
            From :meth:`learn`; None drops the stage.

        Examples
        --------
        >>> LearnedBlend().publish(None)
        """
        if state is not None and not isinstance(state, Stage):
            raise UpsellDataError(f"`state` must come from LearnedBlend.learn; got "
                                  f"{type(state).__name__}")
        self._stage = state

    def recommend(self, customers: Any = None, *, baskets: Any = None, k: int = 10,
                  include_owned: bool = False, exclude: Any = None,
                  reasons: bool = True) -> Recommendations:
        """The ``k`` best items per customer by the learned ranker.

        Parameters
        ----------
        customers : sequence of customer ids
        baskets : None
            Not served (the ranker needs a history): raises.
        k : int, default 10
        include_owned : bool, default False
            True: buy-again offers (the ranker trained over every candidate); False:
            only items the customer never bought (the cross-sell ranker).
        exclude : sequence of item ids, optional
            Never recommended.
        reasons : bool, default True
            Put the top feature contributions in words (``Recommendations.reasons``).

        Returns
        -------
        Recommendations
            Unknown customers get recent popularity (reason "popular now").
        """
        self._check_fitted()
        if baskets is not None:
            raise UpsellDataError("LearnedBlend ranks a customer's history; pass customers= "
                                  "(baskets= is served by the Recommender and upsell.cf)")
        if customers is None:
            raise UpsellDataError("`customers` is required")
        k = check_k(k)
        ids = [customers] if np.ndim(customers) == 0 else list(customers)
        cidx = self.customers_.encode(ids, unknown="mask").astype(np.int64)
        banned = np.zeros(len(self.items_), dtype=bool)
        if exclude is not None:
            ex = self.items_.encode([exclude] if is_one_id(exclude) else list(exclude),
                                    unknown="mask")
            banned[ex[ex >= 0]] = True
        regime = "owned" if include_owned else "new"
        st = self.state_
        stage = self.stage_
        idx_lists: list[np.ndarray] = [np.empty(0, np.int32)] * len(ids)
        score_lists: list[np.ndarray] = [np.empty(0, np.float32)] * len(ids)
        why_lists: list[list[str]] = [[] for _ in ids]
        known = np.flatnonzero(cidx >= 0)
        for lo in range(0, known.size, step := st.chunk_rows(512)):  # bounded memory
            pos = known[lo:lo + step]
            u = np.unique(cidx[pos])
            cu, ci = st.candidates(u, int(self.n_candidates), include_owned=include_owned)
            ok = ~banned[ci]
            cu, ci = cu[ok], ci[ok]
            X, best_last = st.features(cu, ci)
            s = self._predict(X, regime, stage)
            order = np.lexsort((ci, -s, cu))
            cu_o = cu[order]
            starts = np.searchsorted(cu_o, u)
            ends = np.searchsorted(cu_o, u, side="right")
            take = np.concatenate([order[a:min(b, a + k)] for a, b in zip(starts, ends, strict=False)]) \
                if u.size else np.empty(0, np.int64)
            why = self._reasons(X[take], regime, best_last[take], stage=stage) \
                if reasons else []
            by_c: dict[int, tuple[np.ndarray, np.ndarray, list[str]]] = {}
            at = 0
            for c, a, b in zip(u.tolist(), starts.tolist(), ends.tolist(), strict=False):
                n = min(b - a, k)
                sel = take[at:at + n]
                by_c[c] = (ci[sel].astype(np.int32), s[sel].astype(np.float32),
                           why[at:at + n] if reasons else [])
                at += n
            for p in pos.tolist():
                idx_lists[p], score_lists[p], why_lists[p] = by_c[int(cidx[p])]
        fallback = [i for i in st.pop_order.tolist() if not banned[i]][:k]
        for p in np.flatnonzero(cidx < 0).tolist():
            idx_lists[p] = np.asarray(fallback, dtype=np.int32)
            score_lists[p] = -np.arange(1, len(fallback) + 1, dtype=np.float32)
            why_lists[p] = ["popular now"] * len(fallback)
        req = np.asarray(ids, dtype=object)
        if ids and all(isinstance(x, (int, np.integer)) for x in ids):
            req = np.asarray(ids)
        return Recommendations.from_lists(req, idx_lists, score_lists, items=self.items_,
                                          reasons=why_lists if reasons else None)

    # ------------------------------------------------------------------ Blend protocol
    def bind(self, catalog: Any, source_names: tuple[str, ...]) -> LearnedBlend:
        """Map the Recommender's catalog positions to this blend's item index (once)."""
        self._check_fitted()
        pos = self.items_.encode(list(catalog.items.ids), unknown="mask").astype(np.int64)
        self._catalog_map = pos
        self._one()
        self._forest(next(iter(self.boosters_)))  # scores (and reasons): every regime's
        return self

    def blend(self, request: BlendRequest, items: np.ndarray, source_scores: np.ndarray,
              source_names: tuple[str, ...]) -> tuple[np.ndarray, Any]:
        """Score the Recommender's candidates for one request (the ``Blend`` protocol).

        The ranker scores ``items`` from this blend's own fitted sources and
        statistics; ``source_scores`` are not used (their columns differ between
        recommenders). Items unknown to the history rank last; unknown customers
        get co-purchase with the basket, then recent popularity. The reasons are a
        sequence of texts (``DeferredReasons``): put in words when read, for the
        offers the recommender shows only.
        """
        self._check_fitted()
        cmap = getattr(self, "_catalog_map", None)
        ci = cmap[np.asarray(items, dtype=np.int64)] if cmap is not None else \
            np.asarray(items, dtype=np.int64)
        known_item = ci >= 0
        st = self.state_
        # one read: scores and reasons of this request from one model, the one published
        # with the request's policy version (Recommender.update) when it read a snapshot
        snap = getattr(request, "snapshot", None)
        stage = self.stage_ if snap is None else self._live(snap.state_of(self, self._stage))
        c = customer_row(self.customers_, request.customer)
        basket_i = np.asarray(request.basket, dtype=np.int64)
        if cmap is not None and basket_i.size:
            basket_i = cmap[basket_i]
        basket_i = np.unique(basket_i[basket_i >= 0])
        scores = np.full(ci.size, -np.inf)
        kn = np.flatnonzero(known_item)
        row_of = np.full(ci.size, -1, dtype=np.int64)  # candidate -> its row (reasons)
        row_of[kn] = np.arange(kn.size)
        if c < 0 or st.cust["orders"][c] == 0:
            one = self._one()
            conf = one.basket_conf(basket_i, ci[kn])
            scores[kn] = conf + 1.0 / (1.0 + one.pop_rank[ci[kn]])
            if self.explain != "none":  # the same two signals in words, for the shown only
                rows = np.column_stack([ci[kn].astype(np.float64), conf])
                return finite_scores(scores), DeferredReasons(
                    lambda Xr, br: cold_reasons(st, Xr[:, 0].astype(np.int64), Xr[:, 1]),
                    rows, np.full(kn.size, -1, dtype=np.int64), row_of)
        else:
            when = np.asarray(request.at).astype("datetime64[s]")
            at = None if np.isnat(when) else int(when.astype(np.int64))
            X, best_last = self._one().features(c, ci[kn], at=at,
                                                basket=basket_i if basket_i.size else None)
            regime = "owned" if request.include_owned else "new"
            scores[kn] = self._predict(X, regime, stage, cascade_keep(request.k))
            if self.explain != "none":
                # put in words only for the offers the rules choose (the pipeline resolves
                # them in one batch); indexing works too, row by row
                clock = Clock(st.cut if at is None else max(at, st.cut), st.cut, st.window)
                return finite_scores(scores), DeferredReasons(
                    lambda Xr, br: self._reasons(Xr, regime, br, clock, stage), X, best_last,
                    row_of)
        return finite_scores(scores), None  # explain="none": no reasons

    def get_config(self) -> dict[str, Any]:
        """Constructor parameters, JSON-ready."""
        p = self.get_params()
        for key in ("param_grid", "feature_groups"):
            if p[key] is not None:
                p[key] = [list(x) if isinstance(x, (tuple, list)) else x for x in p[key]]
        return p

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the blend into the folder ``path`` (created if missing).

        Files: ``blend.json`` (parameters, format version, feature names, chosen
        LightGBM parameters), ``state.npz`` (history statistics, source neighbour
        lists, id maps; no pickle), ``ranker_owned.txt`` and ``ranker_new.txt``
        (LightGBM's own text models) and, after an :meth:`update` that learned a
        second stage, ``stage_owned.txt`` / ``stage_new.txt`` (format version 2; a
        blend without a stage is written as format 1, which older upsell reads).
        Every write is atomic.
        """
        from upsell.persist import index_arrays

        self._check_fitted()
        folder = os.fspath(path)
        os.makedirs(folder, exist_ok=True)
        arrays = state_arrays(self.state_)
        arrays.update(index_arrays(self.customers_, "customers"))
        arrays.update(index_arrays(self.items_, "items"))
        arrays["item_names"] = self.item_names_
        arrays["columns"] = self.columns_.astype(np.int64)
        if self.segments_ is not None:
            arrays.update(index_arrays(self.segments_, "segments"))

        def write_npz(fh: Any) -> None:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

        atomic_write_bytes(os.path.join(folder, "state.npz"), write_npz)
        stage_doc = write_models(folder, self.boosters_, self.stage_)
        meta = {"format": "upsell.LearnedBlend",
                "format_version": _FORMAT if stage_doc is not None else 1,
                "params": {k: v for k, v in self.get_config().items()  # older upsell reads it
                           if k != "cascade" or v != CASCADE},
                "features": list(feature_names()),
                "chosen": self.params_, "window_days": self.window_days_,
                "cuts": [str(c) for c in self.cuts_],
                "state": {"cut": self.state_.cut, "window": self.state_.window,
                          "half_life": self.state_.half_life,
                          "n_customers": self.state_.n_customers,
                          "n_items": self.state_.n_items,
                          "knn_users": self.state_.knn_users},
                "has_segments": self.segments_ is not None}
        if stage_doc is not None:
            meta["stage"] = stage_doc
        blob = json.dumps(meta, indent=1, allow_nan=True).encode("utf-8")
        atomic_write_bytes(os.path.join(folder, "blend.json"), lambda fh: fh.write(blob))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             mmap: bool = False, **config: Any) -> LearnedBlend:
        """Read a blend written by :meth:`save`, validating every file (the folder is untrusted).

        ``ids``: id maps already loaded: a saved map equal to one is that object, not a
        copy. ``mmap``: map ``state.npz``'s large arrays read-only instead of copying them
        (processes share those pages). ``Recommender.load`` passes both.

        Raises
        ------
        ModelFileError
            A file is missing, malformed, or disagrees with the others.
        """
        from upsell.persist import index_from_arrays, read_arrays, resolve_inside

        folder = os.fspath(path)
        meta_file = resolve_inside(folder, "blend.json", what="blend file")
        meta = read_meta(meta_file, _FORMATS, list(feature_names()))
        version = meta["format_version"]
        params = with_defaults(cls, meta.get("params"))
        if not isinstance(params, dict) or set(params) != set(cls._param_names()):
            raise ModelFileError(f"{meta_file!r}: parameters {params!r} are not LearnedBlend's",
                                 file=meta_file, problem="params")
        params = {**params, **{k: v for k, v in config.items() if k in params}}
        try:
            self = cls(**params)
            self._validate()
        except UpsellDataError as exc:
            raise ModelFileError(f"{meta_file!r}: {exc}", file=meta_file,
                                 problem="params") from None
        st_meta = meta.get("state")
        npz = resolve_inside(folder, "state.npz", what="blend file")
        arrays = dict(read_arrays(npz, mmap=mmap))
        self.customers_ = index_from_arrays(arrays, "customers", name="customer", ids=ids)
        self.items_ = index_from_arrays(arrays, "items", name="item", ids=ids)
        self.segments_ = (index_from_arrays(arrays, "segments", name="segment")
                          if meta.get("has_segments") else None)
        if not isinstance(st_meta, dict):
            raise ModelFileError(f"{meta_file!r}: no state section", file=meta_file,
                                 problem="state")
        self.state_ = state_from_arrays(arrays, st_meta, file=npz,
                                        n_customers=len(self.customers_),
                                        n_items=len(self.items_))
        self.item_names_, self.columns_ = names_and_columns(arrays, npz, len(self.items_),
                                                            len(meta["features"]))
        used = [feature_names()[j] for j in self.columns_]
        self.boosters_ = {regime: read_booster(folder, f"ranker_{regime}.txt", used)
                          for regime in _REGIMES}
        self._stage = None if version == 1 else read_stage(folder, meta_file, meta.get("stage"),
                                                            used, self.boosters_)
        chosen = meta.get("chosen")
        self.params_ = chosen if isinstance(chosen, dict) else {}
        wd = meta.get("window_days")
        self.window_days_ = float(wd) if isinstance(wd, (int, float)) else math.nan
        self.cuts_ = [np.datetime64(str(c), "s") for c in meta.get("cuts", [])
                      if isinstance(c, str)]
        return self


def history_parts(tx: Transactions, catalog: Any = None, *, blend: str = "learned",
                  random_state: int = 0) -> dict[str, Any]:
    """Keyword arguments of ``Recommender(**parts)`` with every part fitted from ``tx``.

    The recipe is :func:`upsell.recommend._from_history.parts_from_history` (see there);
    ``blend="learned"`` fits a :class:`LearnedBlend` on the same history, ``"auto"`` keeps
    it when it measures better (:func:`upsell.recommend.choose_blend`).
    """
    return parts_from_history(tx, catalog, blend=blend, learned=LearnedBlend(),
                              random_state=random_state)
