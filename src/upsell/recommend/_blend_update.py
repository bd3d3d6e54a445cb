"""The learned blend learns from the offer log: a small second LightGBM stage on accepted offers.

:meth:`LearnedBlend.update <upsell.recommend.LearnedBlend.update>` calls
:func:`fit_stage`; serving reads the result through :func:`stage_adjust` and
:func:`stage_contributions`. The history-trained rankers (``boosters_``) never change.

**Rows and labels.** One row per presented offer of a known customer and an item the
blend knows: label 1 when it was accepted, 0 otherwise (declined or left
unanswered). Rows are grouped by ``request_id`` (rows logged without one: by
(customer, time)). A row's features are the blend's own serving features for that
customer and item at the logged time (:meth:`OneCustomer.features`, the path every
request takes; the request's basket is not logged, so the rows are computed as for a
request without one). The regime is the one the request was most likely served
by: ``"owned"`` when the list holds an item the customer bought, else ``"new"``
(the default ``include_owned=False``). Explored offers are ordinary rows: they are
the ones the history ranker would not have shown, the least biased evidence.

**Model.** Per regime, LightGBM boosting continued from the base ranker: a binary
stage whose ``init_score`` is ``a * s + b``, with ``s`` the base ranker's raw score
and ``(a, b)`` a one-feature logistic fit of the labels on ``s`` (Platt scaling: the
base scores of a lambdarank model are not log-odds). Depth-2 trees (4 leaves),
learning rate 0.1, L2 10, at most 100 rounds. The served score is
``s + (b + f(x)) / a``: the base score plus the stage's correction in the base's
units, so an update without a stage leaves every score, offer and reason unchanged,
and the sum keeps the base's scale for the rules that read it.
``objective="lambdarank"`` is available (init score ``s``, groups the requests).

**How many rounds, and whether any.** The requests are split in time: the most
recent quarter chooses the number of rounds (early stopping after 10 without gain);
a stage whose best round does not beat the base alone on those requests (log loss,
or NDCG for lambdarank) is not used. The stage is then refitted on every request
with that number of rounds.

**Minimum evidence** (derived, not tuned to a shop). A leaf of the stage should
rest on at least ``10`` acceptances (``MIN_POSITIVES_PER_LEAF``), so a regime gets
a stage only with at least ``max(4 leaves x 10, features used)`` acceptances (one per
feature the stage may split on) in at least half as many distinct requests, and
``min_data_in_leaf = ceil(10 / acceptance rate)`` rows (at least 20, at most rows /
8). With fewer outcomes the blend stays the history ranker.

**Weights.** By default every row weighs 1: the label is the acceptance of an item
given its features, and which offers the logging policy showed depends on those
features (and on exploration's coin), not on the outcome, so the conditional
acceptance rate is learned without re-weighting; inverse-propensity weights only
add variance (an explored offer shown with probability 0.004 would weigh 250
shown ones). ``weights="propensity"`` weighs each row by ``1 / propensity``
(missing propensity: 1), capped at 20.

**Idempotent.** Each call refits every stage from the outcomes it is given
(deterministic LightGBM, fixed seed): the same log gives the same stage, and a row
is never counted twice. Pass the whole log, or the window to learn from. At most the
newest ``MAX_REQUESTS`` (20,000) requests are used, a time budget: each costs one
serving-path feature call (~1 ms); older rows are counted in ``info["dropped"]``.

**Serving.** The stage is compiled to numpy tables (:class:`Forest`): its scores are
added to the base ranker's, and its exact TreeSHAP contributions to the base's
(Shapley values are additive over trees, and ``b / a`` joins the expected value),
so reasons stay exact. A stage too large for the tables would be scored and
explained by LightGBM itself (``pred_contrib`` of each model, summed: the same).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from upsell._validation import check_choice
from upsell.exceptions import UpsellDataError
from upsell.recommend._blend_features import CATEGORICAL, feature_names
from upsell.recommend._forest import Forest
from upsell.recommend._outcome_arrays import outcome_column, outcome_items

__all__ = ["UPDATE_COLUMNS", "Stage", "fit_stage", "stage_adjust", "stage_contributions"]

log = logging.getLogger("upsell")

#: The columns of ``OfferLog.outcomes()`` that ``LearnedBlend.update`` reads.
UPDATE_COLUMNS = ("request_id", "time", "customer", "item", "accepted", "propensity")
MIN_POSITIVES_PER_LEAF = 10
NUM_LEAVES = 4
MAX_ROUNDS = 100
EARLY_STOPPING = 10
VALID_SHARE = 0.25
MAX_WEIGHT = 20.0
#: The newest requests a stage learns from at most: a time budget (each logged request
#: costs one serving-path feature call, ~1 ms), not a statistical limit.
MAX_REQUESTS = 20_000
OBJECTIVES = ("binary", "lambdarank")
WEIGHTS = (None, "propensity")
_TIMES_BOUGHT = feature_names().index("times_bought")


@dataclass(frozen=True)
class Stage:
    """The second stage of a learned blend: one small booster per regime, read-only.

    Attributes
    ----------
    base : dict
        The ``boosters_`` it was trained on (a refitted blend ignores the stage).
    boosters : dict of str to lightgbm.Booster
        Per regime with a stage (``"owned"``, ``"new"``); regimes without one are absent.
    scale : dict of str to (float, float)
        ``(a, b)`` per regime: served score = base + (b + stage) / a.
    forests : dict of str to Forest
        The boosters compiled for scoring and contributions.
    info : dict of str to dict
        Per regime: status ("fitted", "too few outcomes", "no gain"), rows,
        accepted, requests, rounds, validation losses.
    version : str
        8 hex characters of a digest of the stage ("" without a booster).
    """

    base: Any
    boosters: Mapping[str, Any]
    scale: Mapping[str, tuple[float, float]]
    forests: Mapping[str, Forest]
    info: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""

    @classmethod
    def build(cls, base: Any, boosters: Mapping[str, Any],
              scale: Mapping[str, tuple[float, float]], info: Mapping[str, Any]) -> Stage:
        """A stage with compiled forests and its version digest."""
        forests = {r: Forest(b) for r, b in boosters.items()}
        h = hashlib.sha256()
        for r in sorted(boosters):
            h.update(r.encode())
            h.update(boosters[r].model_to_string().encode())
            h.update(repr(tuple(float(v) for v in scale[r])).encode())
        return cls(base, dict(boosters), dict(scale), forests, dict(info),
                   h.hexdigest()[:8] if boosters else "")


def stage_adjust(stage: Stage | None, Xc: np.ndarray, regime: str) -> np.ndarray | None:
    """The stage's correction of the base raw scores (base units), None without a stage."""
    if stage is None or regime not in stage.forests:
        return None
    a, b = stage.scale[regime]
    f = stage.forests[regime]
    raw = f.predict(Xc) if f.tables_ok else np.asarray(
        stage.boosters[regime].predict(Xc, raw_score=True, num_threads=1), dtype=np.float64)
    return (b + raw) / a


def stage_contributions(stage: Stage | None, Xc: np.ndarray, regime: str
                        ) -> np.ndarray | None:
    """The stage's TreeSHAP contributions in base units ``(n, F + 1)``, None without one."""
    if stage is None or regime not in stage.forests:
        return None
    a, b = stage.scale[regime]
    c = stage.forests[regime].contributions(Xc) / a
    c[:, -1] += b / a
    return c


# ---------------------------------------------------------------------- the rows
@dataclass
class _Rows:
    X: np.ndarray  # float32 (n, all features), rows grouped by request, requests by time
    y: np.ndarray  # float64 0/1
    w: np.ndarray  # float64
    request: np.ndarray  # int64 request number per row (0, 1, ... in time order)
    regime: np.ndarray  # per request: True "owned"
    dropped: dict[str, int]


def stage_rows(blend: Any, outcomes: Mapping[str, Any], weights: str | None) -> _Rows:
    """The training rows of a stage (see the module doc), from ``OfferLog.outcomes()`` arrays."""
    item = outcome_items(outcomes, ("customer", "item", "accepted"))
    n = item.shape[0]
    cust = outcome_column(outcomes, "customer", n)
    acc = outcome_column(outcomes, "accepted", n)
    assert cust is not None and acc is not None
    if acc.dtype.kind not in "bui" and not (acc.dtype.kind == "f" and np.isin(
            acc, (0.0, 1.0)).all()):
        raise UpsellDataError(f"`outcomes['accepted']` must be booleans; got dtype {acc.dtype}")
    when = outcome_column(outcomes, "time", n)
    if when is not None:
        try:
            t = np.asarray(when).astype("datetime64[s]").astype(np.int64)
        except (ValueError, TypeError):
            raise UpsellDataError(f"`outcomes['time']` must be datetimes; got dtype "
                                  f"{when.dtype}") from None
        t = np.where(np.isnat(np.asarray(when).astype("datetime64[s]")),
                     np.iinfo(np.int64).min, t)
    else:
        t = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    req = outcome_column(outcomes, "request_id", n)
    prop = outcome_column(outcomes, "propensity", n)
    dropped = {"anonymous or unknown customer": 0, "item unknown to the blend": 0,
               f"older than the newest {MAX_REQUESTS:,} requests": 0}
    cust_s = np.asarray(cust, dtype=object)
    named = np.array([c is not None and str(c) != "" for c in cust_s.tolist()], dtype=bool)
    c_idx = np.full(n, -1, dtype=np.int64)
    if named.any():
        c_idx[named] = blend.customers_.encode(cust_s[named].tolist(), unknown="mask")
    i_idx = blend.items_.encode(item.tolist(), unknown="mask").astype(np.int64) if n else \
        np.empty(0, np.int64)
    dropped["anonymous or unknown customer"] = int((c_idx < 0).sum())
    dropped["item unknown to the blend"] = int(((c_idx >= 0) & (i_idx < 0)).sum())
    keep = (c_idx >= 0) & (i_idx >= 0)
    # the request of each row: its request_id, else (customer, time)
    rid = np.array([""] * n, dtype=object) if req is None else np.asarray(req, dtype=object)
    keys = [r if isinstance(r, str) and r else f"\x00{c}\x00{tt}"
           for r, c, tt in zip(rid.tolist(), c_idx.tolist(), t.tolist(), strict=True)]
    kk = np.asarray(keys, dtype=object)[keep]
    rows = np.flatnonzero(keep)
    _, first, code = np.unique(kk.astype(str), return_index=True, return_inverse=True)
    # requests in time order (then first row), rows by request (stable: logged order)
    req_order = np.lexsort((rows[first], t[rows[first]]))
    rank = np.empty(req_order.size, dtype=np.int64)
    rank[req_order] = np.arange(req_order.size)
    rq = rank[code.ravel()]
    old = rq < req_order.size - MAX_REQUESTS
    dropped[f"older than the newest {MAX_REQUESTS:,} requests"] = int(old.sum())
    rows, rq = rows[~old], rq[~old] - max(0, req_order.size - MAX_REQUESTS)
    order = np.argsort(rq, kind="stable")
    rows, rq = rows[order], rq[order]
    starts = np.flatnonzero(np.r_[True, rq[1:] != rq[:-1]]) if rq.size else \
        np.empty(0, np.int64)
    ends = np.r_[starts[1:], rq.size] if rq.size else np.empty(0, np.int64)
    one = blend._one()
    X = np.empty((rows.size, len(feature_names())), dtype=np.float32)
    owned = np.zeros(starts.size, dtype=bool)
    for g, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        r = rows[a:b]
        ci, inv = np.unique(i_idx[r], return_inverse=True)
        at = int(t[r[0]])
        Xg, _ = one.features(int(c_idx[r[0]]), ci, at=None if at == np.iinfo(np.int64).min
                             else at)
        X[a:b] = Xg[inv.ravel()]
        owned[g] = bool((Xg[:, _TIMES_BOUGHT] > 0).any())
    y = np.asarray(acc, dtype=np.float64)[rows]
    w = np.ones(rows.size)
    if weights == "propensity" and prop is not None:
        p = np.asarray(prop, dtype=np.float64)[rows]
        ok = np.isfinite(p) & (p > 0)
        w[ok] = np.minimum(1.0 / p[ok], MAX_WEIGHT)
    return _Rows(X, y, w, rq, owned, dropped)


# ---------------------------------------------------------------------- fitting
def _platt(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(a, b) of a weighted logistic fit of y on s (Newton; a kept >= 1e-3 / scale of s)."""
    sd = float(np.sqrt(np.average((s - np.average(s, weights=w)) ** 2, weights=w))) or 1.0
    rate = float(np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6))
    beta = np.array([0.0, math.log(rate / (1 - rate))])
    Z = np.column_stack([(s - np.average(s, weights=w)) / sd, np.ones(s.size)])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(Z @ beta)))
        g = Z.T @ (w * (p - y)) + 1e-6 * beta
        H = (Z * (w * p * (1 - p))[:, None]).T @ Z + 1e-6 * np.eye(2)
        step = np.linalg.solve(H, g)
        beta -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    a = max(float(beta[0]) / sd, 1e-3 / sd)
    b = float(beta[1]) - a * float(np.average(s, weights=w))
    return a, b


def _logloss(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    return float(np.average(np.logaddexp(0.0, z) - y * z, weights=w))


def _ndcg(score: np.ndarray, y: np.ndarray, sizes: np.ndarray, k: int) -> float:
    """Mean NDCG@k over the requests with an acceptance (ties: logged order)."""
    grp = np.repeat(np.arange(sizes.size), sizes)
    order = np.lexsort((np.arange(score.size), -score, grp))
    pos = np.arange(score.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    gain = np.where(pos < k, y[order] / np.log2(pos + 2.0), 0.0)
    dcg = np.bincount(grp, weights=gain, minlength=sizes.size)
    ideal_order = np.lexsort((-y, grp))
    ideal = np.bincount(grp, weights=np.where(pos < k, y[ideal_order] / np.log2(pos + 2.0),
                                              0.0), minlength=sizes.size)
    ok = ideal > 0
    return float((dcg[ok] / ideal[ok]).mean()) if ok.any() else math.nan


def _params(objective: str, min_leaf: int, seed: int, threads: int, k: int) -> dict[str, Any]:
    p: dict[str, Any] = {
        "objective": objective, "learning_rate": 0.1, "num_leaves": NUM_LEAVES,
        "max_depth": 2, "min_data_in_leaf": min_leaf, "lambda_l2": 10.0,
        "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "max_bin": 63,
        "seed": seed, "deterministic": True, "force_row_wise": True, "num_threads": threads,
        "verbose": -1, "boost_from_average": False,
    }
    if objective == "lambdarank":
        p.update({"metric": "ndcg", "eval_at": [k], "lambdarank_truncation_level": k})
    else:
        p["metric"] = "binary_logloss"
    return p


def _dataset(X: np.ndarray, y: np.ndarray, w: np.ndarray, init: np.ndarray,
             sizes: np.ndarray | None, names: list[str], reference: Any = None) -> Any:
    import lightgbm as lgb

    cat = [n for n in CATEGORICAL if n in names]
    return lgb.Dataset(X, label=y, weight=w, init_score=init, group=sizes, feature_name=names,
                       categorical_feature=cat, reference=reference, free_raw_data=True,
                       params={"verbose": -1})


def _fit_regime(blend: Any, rows: _Rows, sel: np.ndarray, regime: str, objective: str,
                random_state: int) -> tuple[Any, tuple[float, float], dict[str, Any]]:
    """One regime's stage (booster or None), its (a, b) and what happened."""
    import lightgbm as lgb

    cols = blend.columns_
    names = [feature_names()[j] for j in cols]
    Xc = np.ascontiguousarray(rows.X[sel][:, cols], dtype=np.float64)
    y, w, rq = rows.y[sel], rows.w[sel], rows.request[sel]
    n_acc = int(y.sum())
    req_acc = int(np.unique(rq[y > 0]).size)
    need = max(NUM_LEAVES * MIN_POSITIVES_PER_LEAF, len(names))
    info: dict[str, Any] = {"rows": int(y.size), "accepted": n_acc,
                            "requests": int(np.unique(rq).size),
                            "requests_with_acceptance": req_acc, "needs_accepted": need,
                            "needs_requests": need // 2, "rounds": 0}
    if n_acc < need or req_acc < need // 2:
        info["status"] = "too few outcomes"
        return None, (1.0, 0.0), info
    s = np.asarray(blend.boosters_[regime].predict(Xc, raw_score=True, num_threads=1),
                   dtype=np.float64)
    sizes_all = np.diff(np.flatnonzero(np.r_[True, rq[1:] != rq[:-1], True]))
    k = max(1, int(np.median(sizes_all)))
    u = np.unique(rq)
    cut = u[int(np.floor(u.size * (1 - VALID_SHARE)))] if u.size > 1 else u[-1] + 1
    tr, va = rq < cut, rq >= cut
    rate = float(np.average(y, weights=w))
    min_leaf = int(np.clip(math.ceil(MIN_POSITIVES_PER_LEAF / max(rate, 1e-9)), 20,
                           max(20, y.size // (2 * NUM_LEAVES))))
    params = _params(objective, min_leaf, random_state, int(blend.num_threads), k)
    info.update({"min_data_in_leaf": min_leaf, "objective": objective})

    def groups(mask: np.ndarray) -> np.ndarray | None:
        if objective != "lambdarank":
            return None
        r = rq[mask]
        return np.diff(np.flatnonzero(np.r_[True, r[1:] != r[:-1], True]))

    def init_of(mask: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        if objective == "lambdarank":
            return s[mask], (1.0, 0.0)
        a, b = _platt(s[mask], y[mask], w[mask])
        return a * s[mask] + b, (a, b)

    if va.any() and tr.any() and y[va].sum() > 0 and y[tr].sum() > 0:
        init_tr, _ = init_of(tr)
        init_va = init_tr[:0]
        if objective == "lambdarank":
            init_va = s[va]
        else:
            a, b = _platt(s[tr], y[tr], w[tr])
            init_va = a * s[va] + b
        dtr = _dataset(Xc[tr], y[tr], w[tr], init_tr, groups(tr), names)
        dva = _dataset(Xc[va], y[va], w[va], init_va, groups(va), names, reference=dtr)
        bst = lgb.train(params, dtr, num_boost_round=MAX_ROUNDS, valid_sets=[dva],
                        callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)])
        rounds = int(bst.best_iteration or 0)
        f_va = bst.predict(Xc[va], raw_score=True, num_iteration=rounds) if rounds else 0.0
        if objective == "lambdarank":
            sz = groups(va)
            assert sz is not None
            before, after = (_ndcg(init_va, y[va], sz, k), _ndcg(init_va + f_va, y[va], sz, k))
            gain = after > before
        else:
            before, after = (_logloss(init_va, y[va], w[va]),
                             _logloss(init_va + f_va, y[va], w[va]))
            gain = after < before
        info.update({"valid_before": before, "valid_after": after, "valid_rounds": rounds})
    else:
        gain, rounds = False, 0
    if not gain or rounds == 0:
        info["status"] = "no gain"
        return None, (1.0, 0.0), info
    everything = np.ones(y.size, dtype=bool)
    init_all, scale = init_of(everything)
    booster = lgb.train(params, _dataset(Xc, y, w, init_all, groups(everything), names),
                        num_boost_round=rounds)
    info.update({"status": "fitted", "rounds": rounds, "a": scale[0], "b": scale[1]})
    return booster, scale, info


def fit_stage(blend: Any, outcomes: Mapping[str, Any], *, objective: str = "binary",
              weights: str | None = None, random_state: int = 0) -> Stage:
    """Fit the second stage of ``blend`` from the outcome arrays (see the module doc)."""
    check_choice(objective, "objective", OBJECTIVES)
    if weights not in WEIGHTS:
        raise UpsellDataError(f'`weights` must be None or "propensity"; got {weights!r}')
    rows = stage_rows(blend, outcomes, weights)
    boosters: dict[str, Any] = {}
    scale: dict[str, tuple[float, float]] = {}
    info: dict[str, Any] = {"dropped": rows.dropped}
    owned_row = rows.regime[rows.request] if rows.request.size else np.zeros(0, dtype=bool)
    for regime in ("owned", "new"):
        sel = owned_row if regime == "owned" else ~owned_row
        b, sc, inf = _fit_regime(blend, rows, sel, regime, objective, random_state)
        info[regime] = inf
        log.info("learned blend stage (%s): %s", regime, inf)
        if b is not None:
            boosters[regime], scale[regime] = b, sc
    return Stage.build(blend.boosters_, boosters, scale, info)
