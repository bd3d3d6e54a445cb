"""Training data of the learned blend: cut points, labelled candidates, the LightGBM ranker."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from upsell._lookup import find_sorted
from upsell._validation import as_segments, memory_budget
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError
from upsell.recommend._blend_features import (
    CATEGORICAL,
    BlendState,
    LineData,
    feature_names,
)

__all__ = ["CutRows", "NothingToLearn", "RecallAtK", "build_cut", "cut_points", "cut_workers",
           "eligible_customers", "fit_ranker", "halving_search", "labels_for", "make_dataset",
           "plan_cuts", "side_by_side", "source_recalls", "stack", "target_counts",
           "train_regime", "train_together", "training_cut"]

_DAY = 86_400.0
log = logging.getLogger("upsell")
CUT_SPACING = 0.5  # windows between training cuts
MAX_CUTS = 8  # cuts at most when the budget sets their number (more: the same customers again)
MIN_CUTS = 3  # two to learn from (the inner split), one held out
NEGATIVE_SHARE = 0.5  # share of the unbought candidates kept for training
RANKING = ("lambdarank", "rank_xendcg")  # objectives that learn from query groups
SELECT_K = 10  # the inner split reports recall at this k
SELECT_ON_RECALL = False  # measured: choosing by that recall was no better than by NDCG@10
RUNG_STEP = 2.0  # successive halving's first rung and patience: this many / learning_rate rounds
LEARNING_RATE = {"owned": 0.1, "new": 0.05}  # default per ranker (learning_rate=None)
CUT_BYTES_PER_LINE = 1000  # peak bytes of a cut being built, per order line (cut_workers)
#: The same, EASE aside (``EASE.affordable_items`` budgets it): 280 measured on a 31.8M-line,
#: 1.37M-customer H&M-shaped shop (a 16.1 GiB fit peak, 7 GiB of it data and sources), where
#: CUT_BYTES_PER_LINE's 1000 (Online Retail, EASE over every item) is cautious for how many
#: cuts run side by side but would refuse shops that fit (``choose_blend``'s memory check).
STATE_BYTES_PER_LINE = 300


_REGIME = {True: "offers of items the customer never bought",
           False: "offers that may repeat a purchase"}


class NothingToLearn(UpsellDataError):
    """No training query of a ranker has a bought candidate: there is nothing to learn.

    ``choose_blend(blend="auto")`` keeps the weighted sum then, saying why.
    """


def cut_points(lines: LineData, n_cuts: int, spacing: float = CUT_SPACING
               ) -> tuple[list[int], float]:
    """``n_cuts`` cut times (seconds, oldest first) and the label window length.

    The window is the median gap between a customer's consecutive orders (the
    shop's own purchase rhythm), bounded to [1 day, span / (2 n_cuts spacing + 2)] so
    that every cut keeps most of the history before it. The cuts lie ``spacing``
    windows apart, the last one ``spacing`` windows before the end of the data: cuts
    closer than a window see other next baskets of the same customers (more queries
    from the same history).
    """
    named = lines.customer >= 0
    t0, t1 = int(lines.time.min()), int(lines.time.max()) + 1
    span = float(t1 - t0)
    c, o, t = lines.customer[named], lines.order[named], lines.time[named]
    _ou, first = np.unique(o, return_index=True)
    oc, ot = c[first], t[first]
    order = np.lexsort((ot, oc))
    oc, ot = oc[order], ot[order]
    same = oc[1:] == oc[:-1]
    gaps = (ot[1:] - ot[:-1])[same].astype(np.float64)
    gaps = gaps[gaps > 0]
    gap = float(np.median(gaps)) if gaps.size else span / 10.0
    window = float(np.clip(gap, _DAY, max(_DAY, span / (2 * n_cuts * spacing + 2))))
    cuts = [int(t1 - window * spacing * k) for k in range(n_cuts, 0, -1)]
    return cuts, window


def plan_cuts(lines: LineData, *, n_cuts: int | None, max_rows: int, n_candidates: int,
              max_customers: int | None = None) -> tuple[list[int], float, int]:
    """(cut times, label window, customers sampled per cut) under a training-row budget.

    ``max_rows`` bounds the candidate rows of all cuts together, counted as customers x
    ``n_candidates`` (the cost of a fit grows with them: features, then boosting). With
    ``n_cuts=None`` the number of cuts follows the shop: as many (``MIN_CUTS`` to
    ``MAX_CUTS``) as the budget fills with the customers a cut can learn from (an order
    before the cut and one within two windows after it; their median over the cuts;
    rounded, so a cut may sample a few of them);
    a shop with many such customers gets fewer cuts, each sampling ``budget / cuts`` of
    them, a small shop up to ``MAX_CUTS`` cuts of all of them. Fewer cuts are spread
    over the span of :func:`cut_points`'s ``MAX_CUTS`` (the latest one kept): measured
    on Online Retail (5 cuts), the latest five cost 0.1 of the never-bought ratio to
    EASE (1.13x vs 1.22x; 8 cuts 1.21-1.24x), the spread five did not.
    ``max_customers`` caps the sample.
    """
    cuts, window = cut_points(lines, MAX_CUTS if n_cuts is None else n_cuts)
    budget = max(1, int(max_rows) // max(int(n_candidates), 1))  # customers over every cut
    if n_cuts is None:
        counts = [eligible_customers(lines, c, int(2 * window)).size for c in cuts]
        typical = max(float(np.median(counts)), 1.0)
        n = int(np.clip(round(budget / typical), MIN_CUTS, MAX_CUTS))
        cuts = [cuts[j] for j in np.round(np.linspace(0, MAX_CUTS - 1, n)).astype(int)]
    per_cut = max(1, budget // len(cuts))
    if max_customers is not None:
        per_cut = min(per_cut, int(max_customers))
    return cuts, window, per_cut


@dataclass
class CutRows:
    """Candidates of one cut with features (labels come from :func:`labels_for`)."""

    cut: int
    customer: np.ndarray  # int64
    item: np.ndarray  # int64
    owned: np.ndarray  # bool
    X: np.ndarray  # float32 (n, n_features)


def next_baskets(lines: LineData, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(customer, item) pairs of each customer's first order in [start, end)."""
    m = (lines.time >= start) & (lines.time < end) & (lines.customer >= 0)
    c, o, i, t = lines.customer[m], lines.order[m], lines.item[m], lines.time[m]
    if c.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ou, first = np.unique(o, return_index=True)
    ot = np.full(ou.size, np.iinfo(np.int64).max, dtype=np.int64)
    pos = np.searchsorted(ou, o)
    np.minimum.at(ot, pos, t)
    oc = c[first]
    best = np.full(lines.n_customers, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, oc, ot)
    keep = ot[pos] == best[c]  # every order at the customer's first time
    key = np.unique(c[keep].astype(np.int64) * lines.n_items + i[keep])
    return key // lines.n_items, key % lines.n_items


def build_cut(lines: LineData, cut: int, window: float, *, customers: np.ndarray,
              n_candidates: int, n_neighbors: int, half_life: float, use_ease: bool,
              thin: tuple[int, float, np.random.Generator] | None = None,
              ease_items: int | None = None) -> CutRows:
    """Fit the state before ``cut`` and featurise every candidate of ``customers``.

    ``thin=(label_end, share, rng)``: keep every candidate the customer bought in their
    next basket before ``label_end`` and a random ``share`` of the others (they are
    many and alike; the ranker learns as well from half of them, in half the time; 30%
    saved another 15% of the fit on Online Retail but cost (b) 1.230x -> 1.215x and
    1.211x -> 1.173x EASE on two outer splits).
    Every cut refits its item x item models (EASE, item-KNN, co-purchase): reusing an
    earlier cut's (about 10 days stale on Online Retail) was measured to cost recall,
    (a) 1.066x -> 1.060x RepeatBlend and (b) 1.235x -> 1.205x EASE: the ranker learns
    from fresh neighbours what it is served.
    """
    state = BlendState.build(lines, cut, window=window, half_life=half_life,
                             n_neighbors=n_neighbors, use_ease=use_ease, ease_items=ease_items)
    u = customers[state.cust["orders"][customers] > 0]
    bought = np.empty(0, dtype=np.int64)  # (customer, item) keys of the labels (thin)
    if thin is not None:
        bc, bi = next_baskets(lines, cut, thin[0])
        bought = np.unique(bc * lines.n_items + bi)  # sorted once: every chunk searches it
    # customers in chunks (BlendState.chunk_rows); every row is computed alone, and the
    # thinning draws run in the same order, so the rows are those of one batch
    step = state.chunk_rows()
    got: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for lo in range(0, u.size, step):
        cu, ci = state.candidates(u[lo:lo + step], n_candidates, include_owned=True)
        if thin is not None:
            drawn = thin[2].random(cu.size) < thin[1]
            keep = find_sorted(bought, cu * lines.n_items + ci)[1] | drawn
            cu, ci = cu[keep], ci[keep]
        got.append((cu, ci, state.features(cu, ci)[0]))
    if not got:  # no customer with history before the cut
        got.append((np.empty(0, np.int64), np.empty(0, np.int64),
                    np.empty((0, len(feature_names())), np.float32)))
    cu, ci, X = (np.concatenate([g[j] for g in got]) for j in range(3))
    owned = X[:, feature_names().index("times_bought")] > 0
    return CutRows(cut, cu, ci, owned, X)


def training_cut(lines: LineData, cut: int, window: float, rng: np.random.Generator, *,
                 end: int, per_cut: int, n_candidates: int, n_neighbors: int, half_life: float,
                 ease: dict[str, Any]) -> CutRows:
    """The training rows of one cut: ``per_cut`` customers sampled with ``rng``, which
    also thins their unbought candidates (:func:`build_cut`)."""
    cust = sample_customers(rng, lines, cut, int(2 * window), per_cut)
    if cust.size == 0:
        raise UpsellDataError(f"no customer ordered both before and after the time cut "
                              f"{str(np.datetime64(int(cut), 's'))[:10]}: the history "
                              f"is too short or too sparse to learn a blend")
    return build_cut(lines, cut, window, customers=cust, n_candidates=n_candidates,
                     n_neighbors=n_neighbors, half_life=half_life, **ease,
                     thin=(min(cut + int(2 * window), end), NEGATIVE_SHARE, rng))


def labels_for(rows: CutRows, lines: LineData, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(label per row, number of next-basket items per customer) for the window [cut, end)."""
    bc, bi = next_baskets(lines, rows.cut, end)
    y = find_sorted(np.sort(bc * lines.n_items + bi), rows.customer * lines.n_items + rows.item)[1]
    return y.astype(np.float32), np.bincount(bc, minlength=lines.n_customers)


def _kept(rows: CutRows, y: np.ndarray, new_only: bool) -> np.ndarray:
    """Rows of the queries (customers) with at least one positive, in the regime."""
    keep = ~rows.owned if new_only else np.ones(rows.owned.size, dtype=bool)
    c, yk = rows.customer[keep], y[keep]
    pos = np.bincount(c, weights=yk, minlength=int(c.max()) + 1 if c.size else 0)
    ok = keep.copy()
    ok[keep] = pos[c] > 0
    return ok


def stack(parts: list[CutRows], labels: list[np.ndarray], *, new_only: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, group sizes) of the queries with at least one positive, rows grouped by query.

    ``new_only``: keep only items the customer never bought (regime "cross-sell").
    """
    Xs, ys, gs = [], [], []
    for rows, y in zip(parts, labels, strict=False):
        ok = _kept(rows, y, new_only)
        c = rows.customer[ok]  # sorted by customer (candidates come sorted)
        Xs.append(rows.X[ok])
        ys.append(y[ok])
        _, cnt = np.unique(c, return_counts=True)
        gs.append(cnt)
    if not Xs:
        return (np.empty((0, len(feature_names())), np.float32), np.empty(0, np.float32),
                np.empty(0, np.int64))
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(gs)


def target_counts(lines: LineData, cut: int, end: int, *, new_only: bool) -> np.ndarray:
    """Per customer, the items of their next basket in [cut, end) (recall's denominator).

    ``new_only``: only items the customer did not buy before ``cut``.
    """
    bc, bi = next_baskets(lines, cut, end)
    if new_only and bc.size:
        # the earlier purchases of these customers only (a table lookup, not a sort of
        # every line), then a binary search of their basket's pairs among them
        m = (lines.time < cut) & np.isin(lines.customer, np.unique(bc), kind="table")
        before = np.unique(lines.customer[m] * lines.n_items + lines.item[m])
        bc = bc[~find_sorted(before, bc * lines.n_items + bi)[1]]
    return np.bincount(bc, minlength=lines.n_customers)


class RecallAtK:
    """Mean recall@k over the customers of one cut, for scores of its stacked rows.

    Recall of a customer: the next-basket items among their ``k`` best-scored rows
    over all items of that basket (items no source proposed count in the
    denominator). Customers with a next basket but no bought candidate score 0 and
    are counted, so the value reads like an offline recall@k of the served blend.
    Ties keep row order; NaN scores rank last.
    """

    def __init__(self, rows: CutRows, y: np.ndarray, counts: np.ndarray, *, new_only: bool,
                 k: int = 10) -> None:
        ok = _kept(rows, y, new_only)
        c = rows.customer[ok]
        cu, start, size = np.unique(c, return_index=True, return_counts=True)
        self.gid = np.repeat(np.arange(cu.size), size)
        self.top = (np.arange(c.size) - start[self.gid]) < k
        self.y = y[ok].astype(np.float64)
        self.weight = 1.0 / np.maximum(counts[cu], 1)
        asked = np.unique(rows.customer)
        self.n_queries = max(int((counts[asked] > 0).sum()), 1)
        self.k = k

    @property
    def n_rows(self) -> int:
        return int(self.y.size)

    def __call__(self, scores: np.ndarray, *, strict: bool = False) -> float:
        """Mean recall@k; ``strict``: a row with a NaN score is never a hit (a source
        that did not propose an item gets no credit for it from the row order)."""
        s = np.asarray(scores, dtype=np.float64)
        y = self.y * ~np.isnan(s) if strict else self.y
        s = np.where(np.isnan(s), -np.inf, s)
        order = np.lexsort((-s, self.gid))  # gid is sorted: order keeps the groups in place
        hits = np.bincount(self.gid[self.top], weights=y[order][self.top],
                           minlength=self.weight.size)
        return float((hits * self.weight).sum() / self.n_queries)

    def feval(self, preds: np.ndarray, data: Any) -> tuple[str, float, bool]:
        """LightGBM's custom-metric signature."""
        return f"recall@{self.k}", self(preds), True


RANK_FEATURES = ("ease_rank", "knn_rank", "cooc_rank", "uknn_rank", "repeat_rank", "pop_rank")


def source_recalls(metric: RecallAtK, X: np.ndarray, columns: np.ndarray) -> dict[str, float]:
    """Recall@k of each single source's own order (its rank feature) of the same rows.

    ``X``: the stacked rows ``metric`` was built for (every feature column). Items a
    source did not rank (NaN) are never its hits.
    """
    names = feature_names()
    used = {names[j] for j in columns}
    out = {}
    for name in RANK_FEATURES:
        if name in used:
            out[name[: -len("_rank")]] = metric(-X[:, names.index(name)].astype(np.float64),
                                                  strict=True)
    return out


def lgb_params(objective: str, num_leaves: int, min_data_in_leaf: int, learning_rate: float,
               random_state: int, num_threads: int) -> dict[str, Any]:
    """LightGBM parameters: deterministic (fixed threads and seeds), quiet."""
    p: dict[str, Any] = {
        "objective": objective, "learning_rate": learning_rate, "num_leaves": num_leaves,
        "min_data_in_leaf": min_data_in_leaf, "feature_fraction": 0.8,
        "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 63,
        "seed": random_state, "deterministic": True, "force_row_wise": True,
        "num_threads": num_threads, "verbose": -1,
    }
    if objective == "lambdarank":
        p.update({"metric": "ndcg", "eval_at": [10], "lambdarank_truncation_level": 20})
    elif objective in RANKING:
        p.update({"metric": "ndcg", "eval_at": [10]})
    else:
        p.update({"metric": "auc"})
    return p


def fit_ranker(X: np.ndarray, y: np.ndarray, groups: np.ndarray, params: dict[str, Any],
               num_rounds: int, columns: np.ndarray | None = None,
               valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
               early_stopping: int = 0) -> tuple[Any, int, float]:
    """Train one LightGBM model; returns (booster, best round count, validation score)."""
    import lightgbm as lgb

    names = list(feature_names())
    cols = np.arange(len(names)) if columns is None else columns
    used = [names[j] for j in cols]
    cat = [n for n in CATEGORICAL if n in used]
    ds = lgb.Dataset(X[:, cols], label=y, group=groups if params["objective"] in RANKING
                     else None, feature_name=used, categorical_feature=cat,
                     free_raw_data=True, params={"verbose": -1})
    valid_sets: list[Any] = []
    callbacks: list[Any] = []
    if valid is not None:
        Xv, yv, gv = valid
        valid_sets = [lgb.Dataset(Xv[:, cols], label=yv, group=gv if params["objective"] in
                                  RANKING else None, reference=ds)]
        if early_stopping:
            callbacks.append(lgb.early_stopping(early_stopping, verbose=False))
    booster = lgb.train(params, ds, num_boost_round=num_rounds, valid_sets=valid_sets,
                        callbacks=callbacks)
    best = int(booster.best_iteration or num_rounds)
    score = float("nan")
    if valid is not None and booster.best_score:
        score = float(next(iter(next(iter(booster.best_score.values())).values())))
    return booster, best, score


def make_dataset(X: np.ndarray, y: np.ndarray, groups: np.ndarray, params: dict[str, Any],
                 columns: np.ndarray, reference: Any = None) -> Any:
    """One LightGBM ``Dataset`` (binned once), reusable by boosters of other leaf settings.

    ``feature_pre_filter`` is off so that ``min_data_in_leaf`` may differ between the
    boosters that share the bins; ``reference``: a validation set binned like its
    training set.
    """
    import lightgbm as lgb

    names = list(feature_names())
    used = [names[j] for j in columns]
    cat = [n for n in CATEGORICAL if n in used]
    ds_params = {"max_bin": params["max_bin"], "feature_pre_filter": False, "verbose": -1,
                 "seed": params["seed"], "num_threads": params["num_threads"]}
    ds = lgb.Dataset(np.ascontiguousarray(X[:, columns]), label=y,
                     group=groups if params["objective"] in RANKING else None,
                     feature_name=used, categorical_feature=cat, free_raw_data=True,
                     params=ds_params, reference=reference)
    return ds.construct()


def halving_search(train: Any, valid: Any, candidates: list[dict[str, Any]], max_rounds: int,
                   *, patience: int = 40, first_rung: int = 40, feval: Any = None,
                   select_feval: bool = False
                   ) -> tuple[int, int, float, list[tuple[int, int, float, float]]]:
    """Successive halving over ``candidates`` (LightGBM parameter dicts) on one split.

    Every candidate boosts ``first_rung`` rounds on the shared binned ``train`` set and
    is scored on ``valid`` after each round; then the worse half (by best validation
    score so far) is dropped and the survivors go on to twice the rounds, until one is
    left, which runs to early stopping (``patience`` rounds without a better score) or
    ``max_rounds``. Same choice as a full grid when the ranking of the candidates is
    settled early, at about half its boosting rounds. ``feval``: a LightGBM custom
    metric (higher is better) scored beside the candidates' own first metric; it
    selects instead of that metric when ``select_feval``.

    Returns (index of the best candidate, its best round count, its best score,
    per candidate (index, rounds boosted, best score, ``feval`` at the best round
    (NaN without one))).
    """
    import lightgbm as lgb

    live: list[dict[str, Any]] = []
    for j, p in enumerate(candidates):
        b = lgb.Booster(params=p, train_set=train)
        b.add_valid(valid, "valid")
        live.append({"j": j, "b": b, "it": 0, "best": -math.inf, "best_it": 0, "done": False,
                     "aux": math.nan})
    trace: list[tuple[int, int, float, float]] = []
    rung = max(1, first_rung)
    while True:
        for s in live:
            while not s["done"] and s["it"] < rung:
                s["b"].update()
                s["it"] += 1
                got = s["b"].eval_valid(feval)
                aux = float(got[-1][2]) if feval is not None else math.nan
                score = aux if select_feval else float(got[0][2])
                if score > s["best"]:
                    s["best"], s["best_it"], s["aux"] = score, s["it"], aux
                if s["it"] - s["best_it"] >= patience or s["it"] >= max_rounds:
                    s["done"] = True
        if len(live) == 1 and live[0]["done"]:
            break
        if len(live) > 1:
            live.sort(key=lambda s: (-s["best"], s["j"]))
            keep = (len(live) + 1) // 2
            for s in live[keep:]:
                trace.append((s["j"], s["it"], s["best"], s["aux"]))
            live = live[:keep]
        rung *= 2
    s = live[0]
    trace.append((s["j"], s["it"], s["best"], s["aux"]))
    return s["j"], max(1, s["best_it"]), s["best"], sorted(trace)


def train_regime(parts: list[CutRows], lines: LineData, cuts: list[int], window: float,
                 end: int, *, new_only: bool, columns: np.ndarray,
                 grid: list[tuple[int, float]], objective: str, learning_rate: float | None,
                 max_rounds: int, num_threads: int, random_state: int
                 ) -> tuple[Any, dict[str, Any]]:
    """One ranker: hyper-parameters and rounds from an inner time split, then a refit.

    The last cut is held out (labels of the other cuts stop at it); every ``grid``
    candidate (num_leaves, min_leaf_share) is searched by :func:`halving_search` on
    the objective's own metric (NDCG@10 for the ranking objectives), and the
    chosen one is refitted on every cut with a few more rounds (more data). Its
    recall@``SELECT_K`` on the held-out customers (:class:`RecallAtK`) at the chosen
    round is recorded, with that of each source's own order of the same candidates.
    Selecting on that recall instead was measured: as good on one outer split, worse
    on another (a noisier metric: fewer rounds chosen).

    Returns the booster and its record: chosen parameters, ``inner_score`` and
    ``inner_recall`` (the chosen ranker's recall@10 on the held-out cut, at its best
    round), ``inner_source_recall`` (per source), ``inner_best_source`` and
    ``inner_best_source_recall``.
    """
    regime = "new" if new_only else "owned"
    if learning_rate is None:
        learning_rate = LEARNING_RATE[regime]
    horizon = int(2 * window)
    inner = [labels_for(p, lines, min(p.cut + horizon, cuts[-1]))[0] for p in parts[:-1]]
    Xt, yt, gt = stack(parts[:-1], inner, new_only=new_only)
    last = parts[-1]
    v_end = min(last.cut + horizon, end)
    yv = labels_for(last, lines, v_end)[0]
    valid = stack([last], [yv], new_only=new_only)
    metric = RecallAtK(last, yv, target_counts(lines, last.cut, v_end, new_only=new_only),
                       new_only=new_only, k=SELECT_K)
    cands = [lgb_params(objective, leaves, max(20, int(share * max(yt.size, 1))),
                        learning_rate, random_state, num_threads)
             for leaves, share in grid]
    best: dict[str, Any]
    sources: dict[str, float] = {}
    if gt.size == 0 or valid[2].size == 0:
        best = {"params": cands[0], "rounds": max_rounds, "score": math.nan, "share": grid[0][1],
                "recall": math.nan}
    else:  # one binned set shared by every candidate; successive halving picks one
        sources = source_recalls(metric, valid[0], columns)
        ds = make_dataset(Xt, yt, gt, cands[0], columns)
        dv = make_dataset(*valid, cands[0], columns, reference=ds)
        rung = max(5, round(RUNG_STEP / learning_rate))  # 40 rounds at 0.05
        j, rounds, score, trace = halving_search(
            ds, dv, cands, max_rounds, patience=rung, first_rung=rung, feval=metric.feval,
            select_feval=SELECT_ON_RECALL)
        for jj, it, sc, rec in trace:
            log.info("learned blend (%s): leaves %d, min leaf %d: %d rounds, valid %.4f, "
                     "recall@%d %.4f", regime, cands[jj]["num_leaves"],
                     cands[jj]["min_data_in_leaf"], it, sc, SELECT_K, rec)
        del ds, dv
        best = {"params": cands[j], "rounds": rounds, "score": score, "share": grid[j][1],
                "recall": next(t[3] for t in trace if t[0] == j)}
    labels = [labels_for(p, lines, min(p.cut + horizon, end))[0] for p in parts]
    X, y, g = stack(parts, labels, new_only=new_only)
    if g.size == 0:
        what = "an item new to them" if new_only else "a candidate"
        raise NothingToLearn(f"no customer bought {what} in the window after any training "
                             f"cut: the history is too short or too sparse to learn a "
                             f"blend ({_REGIME[new_only]})")
    params = dict(best["params"])
    params["min_data_in_leaf"] = max(20, int(best["share"] * y.size))
    # more data than the inner split: a few more rounds (measured: keeping the inner
    # split's ranker instead saves ~30% of the boosting but cost (b) 1.207x -> 1.179x EASE)
    rounds = max(1, round(best["rounds"] * len(parts) / max(len(parts) - 1, 1)))
    booster, _, _ = fit_ranker(X, y, g, params, rounds, columns)
    top = max(sources, key=lambda n: (sources[n], n)) if sources else None
    info = {"num_leaves": params["num_leaves"], "min_data_in_leaf": params["min_data_in_leaf"],
            "rounds": rounds, "inner_score": best["score"], "inner_recall": best["recall"],
            "inner_source_recall": sources, "inner_best_source": top,
            "inner_best_source_recall": sources[top] if top is not None else math.nan,
            "rows": int(y.size), "queries": int(g.size)}
    return booster, info


def line_data(tx: Transactions, catalog: Any, seg_codes: np.ndarray) -> LineData:
    """Purchase lines (quantity > 0) as :class:`LineData`, with catalog columns per item."""
    q = tx.quantity
    keep = q > 0
    n_i = len(tx.items)
    if tx.has("price"):
        unit = np.asarray(tx.price, dtype=np.float64)
    else:
        unit = np.full(q.size, np.nan)
    cost = np.full(n_i, np.nan)
    kind = np.full(n_i, -1, dtype=np.int64)
    tier = np.full(n_i, np.nan)
    if catalog is not None:
        cat = catalog.align(tx.items)
        for name, target in (("cost", cost), ("tier", tier)):
            try:
                target[:] = np.asarray(cat.column(name), dtype=np.float64)
            except (KeyError, UpsellDataError, ValueError, TypeError):
                pass
        try:
            kinds = np.asarray(cat.column("kind"), dtype=str)
            _, kind[:] = np.unique(kinds, return_inverse=True)
        except (KeyError, UpsellDataError, ValueError, TypeError):
            pass
    t = tx.time.astype("datetime64[s]").astype(np.int64)
    return LineData(customer=tx.customer[keep].astype(np.int64),
                    item=tx.item[keep].astype(np.int64), order=tx.order[keep].astype(np.int64),
                    time=t[keep], unit=unit[keep], value=(unit * q)[keep],
                    n_customers=len(tx.customers), n_items=n_i, item_cost=cost,
                    item_kind=kind, item_tier=tier, segment=seg_codes)


def segment_codes(segments: Any, customers: IdIndex) -> tuple[np.ndarray, IdIndex | None]:
    """One int code per customer (-1: none) and the label index, from ``segments=``."""
    codes = np.full(len(customers), -1, dtype=np.int64)
    if segments is None:
        return codes, None
    labels, names = as_segments(segments, customers)
    index = IdIndex(np.asarray(names, dtype=str), name="segment")
    has = labels != ""
    if len(index):
        codes[has] = index.encode(list(labels[has]), unknown="mask")
    return codes, index


def ease_plan(use_ease: Any, n_items: int, n_fits: int) -> dict[str, Any]:
    """``use_ease`` and ``ease_items`` (at most; None: all) of ``LearnedBlend(use_ease=)``.

    ``"auto"``: EASE over the items ``n_fits`` fits can afford together
    (:meth:`upsell.cf.EASE.affordable_items`), the most bought first; ``True``: every
    item; ``False``: none.
    """
    if use_ease == "auto":
        from upsell.cf import EASE

        cap = EASE.affordable_items(max(int(n_fits), 1))
        return {"use_ease": True, "ease_items": None if n_items <= cap else cap}
    return {"use_ease": bool(use_ease), "ease_items": None}


def eligible_customers(lines: LineData, cut: int, horizon: int) -> np.ndarray:
    """Customers with history before ``cut`` and an order in [cut, cut + horizon), sorted."""
    named = lines.customer >= 0
    before = np.unique(lines.customer[named & (lines.time < cut)])
    after = np.unique(lines.customer[named & (lines.time >= cut)
                                     & (lines.time < cut + horizon)])
    return np.intersect1d(before, after, assume_unique=True)


def sample_customers(rng: np.random.Generator, lines: LineData, cut: int, horizon: int,
            max_customers: int) -> np.ndarray:
    """:func:`eligible_customers`, at most ``max_customers`` of them drawn with ``rng``."""
    both = eligible_customers(lines, cut, horizon)
    if both.size > max_customers:
        both = np.sort(rng.choice(both, max_customers, replace=False))
    return both.astype(np.int64)


def _cores() -> int:
    """Processor cores this process may run on (the affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def side_by_side(jobs: Sequence[Callable[[], Any]], workers: int, name: str = "upsell-cut"
                 ) -> list[Any]:
    """``[job() for job in jobs]``, run by up to ``workers`` threads (in order with 1).

    For jobs that are deterministic on their own (no shared random stream) and spend
    most of their time in code that releases the GIL (numpy's sorts and gathers, BLAS):
    the results are those of the loop, in the jobs' order. The first failing job (in
    that order) raises, as in the loop, once the jobs already running finish; the jobs
    not yet started are dropped (an interrupt drops them too).
    """
    if workers <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    ex = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix=name)
    try:
        futures = [ex.submit(job) for job in jobs]
        return [f.result() for f in futures]
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def cut_workers(lines: LineData, n_jobs: int) -> int:
    """Threads building the learned blend's cuts: the cores, within a memory budget.

    A cut being built peaks at about ``CUT_BYTES_PER_LINE`` bytes per order line (measured:
    986 on Online Retail, where EASE spans every item, 377 on a 10M-line H&M-shaped shop);
    as many cuts run at a time as fit in a quarter of the physical memory
    (:func:`memory_budget` is half): on 24 GB, two up to ~3M lines, one above.
    """
    one = CUT_BYTES_PER_LINE * max(int(lines.customer.size), 1)
    fit = max(1, memory_budget() // 2 // one)
    return int(max(1, min(_cores(), n_jobs, fit)))


def train_together(train: Callable[[str], Any], regimes: Sequence[str], num_threads: int
                   ) -> dict[str, Any]:
    """``{r: train(r)}`` for every regime, the regimes side by side in threads when the
    cores allow (each ranker's LightGBM runs on ``num_threads`` of them).

    The rankers are independent and each is deterministic on its own threads, so this is
    the sequential result, model for model; LightGBM's boosting releases the GIL, so two
    regimes train in about the time of the longer (the fit's other steps use one core).
    """
    regimes = list(regimes)
    together = len(regimes) if num_threads * len(regimes) <= _cores() else 1
    got = side_by_side([partial(train, r) for r in regimes], together, name="upsell-rank")
    return dict(zip(regimes, got, strict=True))
