"""Replay an offer log through a candidate recommender: would it have converted better?

:func:`evaluate_policy` reads the offers a logging policy showed (one row per
presented offer, with the probability that policy showed that item at that
position), asks the candidate what it would show for each logged request, and
estimates the candidate's acceptance rate (or revenue) per slot with
:func:`upsell.evaluate.off_policy_value`, next to the logging policy's own
observed value on the same rows.

Examples
--------
>>> import numpy as np
>>> from upsell.recommend import evaluate_policy
>>> log = {"request_id": ["r1", "r1", "r2", "r2"], "customer": ["a", "a", "b", "b"],
...        "time": np.array(["2024-05-01"] * 4, dtype="datetime64[us]"),
...        "item": ["tea", "mug", "tea", "cup"], "position": [0, 1, 0, 1],
...        "propensity": [1.0, 0.5, 1.0, 0.5], "accepted": [True, False, False, True],
...        "revenue": [4.0, np.nan, np.nan, 6.0], "segment": ["", "", "", ""]}
>>> class ShowsTeaAndCup:
...     def policy_distribution(self, customer=None, *, basket=(), k=5, at=None,
...                             channel="web"):
...         return {("tea", 0): 1.0, ("cup", 1): 1.0}
>>> ev = evaluate_policy(log, ShowsTeaAndCup(), n_bootstrap=0)
>>> ev.names, ev.value("logged"), ev.value("ips")
(('logged', 'ips', 'snips', 'dr'), 0.5, 0.75)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._validation import as_time, check_choice, check_float, check_int, to_datetime64
from upsell.evaluate import ESTIMATORS, PolicyValue, off_policy_value
from upsell.exceptions import UpsellDataError

__all__ = ["PolicyEvaluation", "evaluate_policy"]

#: Columns :func:`evaluate_policy` reads from ``offer_log.outcomes()`` (``revenue`` for
#: ``reward="revenue"``; ``time``, ``segment`` and ``channel`` when present).
REPLAY_COLUMNS = ("request_id", "customer", "item", "position", "propensity", "accepted")


@dataclass(frozen=True, slots=True, repr=False)
class PolicyEvaluation(TableResult):
    """Off-policy estimates of a candidate's value on a log, beside the logged policy's own.

    Attributes
    ----------
    estimates : tuple of PolicyValue
        First the logging policy's observed mean reward on the evaluated rows
        (``estimator == "logged"``), then one per estimator asked for.
    reward : {"accepted", "revenue"}
        What a row's reward is: 1/0 accepted, or the revenue of an accepted offer.
    candidate : str
        The candidate's policy name ("" when it has none).
    logging_policies : tuple of str
        Policy names found on the evaluated rows.
    n_rows : int
        Presented offers read from the log.
    n_excluded : int
        Of them, left out because they carry no logged propensity (rows written
        before propensities were logged) or no request id / position.
    n_requests : int
        Requests replayed through the candidate.
    note : str
        What was left out and why, and how the target policy was read.

    Examples
    --------
    >>> from upsell.evaluate import PolicyValue
    >>> v = PolicyValue("logged", 0.1, 0.08, 0.12, 100, 100.0, 1.0, 1.0, 0.95, 200, 40)
    >>> ev = PolicyEvaluation((v,), "accepted", "new@1", ("old@1",), 100, 0, 40)
    >>> ev.to_pandas()["value"].tolist()
    [0.1]
    """

    estimates: tuple[PolicyValue, ...]
    reward: str
    candidate: str
    logging_policies: tuple[str, ...]
    n_rows: int
    n_excluded: int
    n_requests: int
    note: str = ""

    _title = "PolicyEvaluation"

    @property
    def names(self) -> tuple[str, ...]:
        """Row names: "logged", then the estimators."""
        return tuple(e.estimator for e in self.estimates)

    def value(self, name: str) -> float:
        """The value of one row ("logged", "ips", "snips" or "dr")."""
        return self[name].value

    def __getitem__(self, name: str) -> PolicyValue:
        for e in self.estimates:
            if e.estimator == name:
                return e
        raise KeyError(f"no row {name!r}; rows: {list(self.names)}")

    def __len__(self) -> int:
        return len(self.estimates)

    def _policy(self, e: PolicyValue) -> str:
        if e.estimator == "logged":
            return ", ".join(self.logging_policies) or "(not logged)"
        return self.candidate or "(candidate)"

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        shown = list(self.estimates if rows is None else
                     [self.estimates[i] for i in rows])
        return {"estimator": [e.estimator for e in shown],
                "policy": [self._policy(e) for e in shown],
                "value": np.array([e.value for e in shown]),
                "ci_low": np.array([e.ci_low for e in shown]),
                "ci_high": np.array([e.ci_high for e in shown]),
                "n": np.array([e.n for e in shown], dtype=np.int64),
                "effective_sample_size": np.array([e.effective_sample_size for e in shown]),
                "rewarded_ess": np.array([e.rewarded_ess for e in shown]),
                "top_share": np.array([e.top_share for e in shown]),
                "reliable": np.array([e.reliable for e in shown], dtype=bool)}

    def _summary(self) -> str:
        conf = self.estimates[0].confidence if self.estimates else 0.95
        how = ("empirical likelihood" if self.estimates and self.estimates[0].interval == "el"
               else "bootstrap")
        text = (f"{self._what()} per offer shown, {self.n_requests:,} requests, "
                f"{conf:.0%} {how} intervals over requests")
        return text + (f"; {self.note}" if self.note else "")

    def _what(self) -> str:
        return "acceptance rate" if self.reward == "accepted" else "revenue"

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row (JSON-ready floats; NaN as None)."""
        cols = self._columns(None)
        out = []
        for i in range(len(self)):
            row: dict[str, Any] = {}
            for k, v in cols.items():
                x = v[i]
                x = x.item() if isinstance(x, np.generic) else x
                row[k] = None if isinstance(x, float) and math.isnan(x) else x
            out.append(row)
        return out

    def __repr__(self) -> str:
        head = (f"PolicyEvaluation: {self._what()} per offer shown, "
                f"{self.n_requests:,} requests, {self.n_rows - self.n_excluded:,} offers")
        lines = [head, f"{'estimator':<10}{'policy':<24}{'value':>10}{'ci_low':>10}"
                       f"{'ci_high':>10}{'n':>10}{'ess':>12}{'accepted':>10}{'top1%':>7}"
                       f"{'reliable':>9}"]
        for e in self.estimates:
            pol = self._policy(e)
            pol = pol if len(pol) <= 22 else pol[:21] + "…"
            top = f"{e.top_share:.0%}" if math.isfinite(e.top_share) else "–"
            lines.append(f"{e.estimator:<10}{pol:<24}{e.value:>10.4g}{e.ci_low:>10.4g}"
                         f"{e.ci_high:>10.4g}{e.n:>10,}{e.effective_sample_size:>12,.1f}"
                         f"{e.rewarded_ess:>10,.1f}{top:>7}{'yes' if e.reliable else 'NO':>9}")
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- reading
#: Requests the command line and the report replay at most (a seeded sample beyond): a saved
#: model answers in a few ms per request, so a long log stays a minute or two.
REPLAY_MAX_REQUESTS = 20_000


def _read(offer_log: Any, since: Any) -> dict[str, np.ndarray]:
    if hasattr(offer_log, "outcomes"):
        cols = offer_log.outcomes(since=since)
    elif isinstance(offer_log, Mapping):
        cols = offer_log
    else:
        raise UpsellDataError("`offer_log` must be an OfferLog (with outcomes()) or a mapping "
                              f"of the outcome columns; got {type(offer_log).__name__}")
    out = {str(k): np.asarray(v) for k, v in cols.items()}
    missing = [c for c in REPLAY_COLUMNS if c not in out]
    if missing:
        raise UpsellDataError(f"`offer_log` outcomes lack the column(s) {', '.join(missing)} "
                              f"(it has {', '.join(out) or 'none'})")
    n = {k: v.shape[0] if v.ndim else -1 for k, v in out.items()}
    if len(set(n.values())) > 1:
        raise UpsellDataError("`offer_log` outcome columns must have one value per presented "
                              f"offer; got lengths {n}")
    if since is not None and not hasattr(offer_log, "outcomes") and "time" in out:
        keep = _times(out["time"]) >= as_time(since, "since", unit="us")
        out = {k: v[keep] for k, v in out.items()}
    return out


def _times(col: np.ndarray) -> np.ndarray:
    """Times as datetime64[us] (epoch seconds and ISO text accepted)."""
    if col.dtype.kind == "M":
        return col.astype("datetime64[us]")
    if col.dtype.kind in "iuf":
        secs = col.astype(np.float64)
        out = np.full(col.shape, np.datetime64("NaT", "us"))
        ok = np.isfinite(secs)
        out[ok] = np.round(secs[ok] * 1e6).astype(np.int64).astype("datetime64[us]")
        return out
    return np.array([to_datetime64(v, "us") for v in col.tolist()], dtype="datetime64[us]")


def _text(col: np.ndarray | None, n: int) -> np.ndarray:
    if col is None:
        return np.full(n, "", dtype=object)
    if col.dtype.kind == "U":  # text already: no None or NaN to blank
        return col.astype(object)
    return np.array(["" if v is None or (isinstance(v, float) and v != v) else str(v)
                     for v in col.tolist()], dtype=object)


def _floats(col: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.array([np.nan if v is None else v for v in col.tolist()], dtype=np.float64)
    except (TypeError, ValueError):
        raise UpsellDataError(f"`offer_log` column {name!r} must be numbers") from None


# ---------------------------------------------------------------------------- reward model
class _RewardModel:
    """Per-(segment, item) mean reward, shrunk to the item's and then the log's mean.

    ``q(s, i) = (sum_si + m q(i)) / (n_si + m)`` with ``q(i) = (sum_i + m g) / (n_i + m)``
    and ``g`` the log's mean reward, ``m`` the smoothing strength (in pseudo-offers).
    """

    def __init__(self, segment: np.ndarray, item: np.ndarray, reward: np.ndarray,
                 m: float) -> None:
        self.g = float(reward.mean())
        items, inv = np.unique(item.astype(str), return_inverse=True)
        inv = inv.reshape(-1)
        s = np.bincount(inv, weights=reward)
        c = np.bincount(inv)
        q_item = (s + m * self.g) / (c + m)
        self.item: dict[str, float] = dict(zip(items.tolist(), q_item.tolist(), strict=True))
        keys = np.char.add(np.char.add(segment.astype(str), "\x1f"), item.astype(str))
        _, first, pinv = np.unique(keys, return_index=True, return_inverse=True)
        pinv = pinv.reshape(-1)
        ps = np.bincount(pinv, weights=reward)
        pc = np.bincount(pinv)
        prior = q_item[inv[first]]
        q_pair = (ps + m * prior) / (pc + m)
        #: the model's estimate for each row it was fitted on (DR's q_logged)
        self.rows = q_pair[pinv]
        self.pair: dict[tuple[str, str], float] = {(str(segment[f]), str(item[f])): float(q)
                     for f, q in zip(first.tolist(), q_pair.tolist(), strict=True)}

    def __call__(self, segment: str, item: str) -> float:
        q = self.pair.get((segment, item))
        if q is None:
            q = self.item.get(item, self.g)
        return q


class _CrossFitModel:
    """:class:`_RewardModel` cross-fitted over whole requests (``folds`` folds, seeded).

    Request ``g``'s rows are answered by the model fitted on the other folds'
    requests (DR's ``q_logged`` and ``q_target`` alike), so a row's own reward
    never enters its model (Chernozhukov et al. 2018's cross-fitting). ``folds``
    of 1, or a log of one request, fits one model on every row (no cross-fitting).
    """

    def __init__(self, segment: np.ndarray, item: np.ndarray, reward: np.ndarray, m: float,
                 request: np.ndarray, folds: int, seed: Any) -> None:
        n_req = int(request.max()) + 1 if request.size else 0
        k = min(folds, n_req)
        if k < 2:
            self.fold = np.zeros(n_req, dtype=np.int64)
            self.models = [_RewardModel(segment, item, reward, m)]
            self.rows = self.models[0].rows
            return
        self.fold = np.random.default_rng(seed).permutation(n_req) % k
        row_fold = self.fold[request]
        self.models = []
        self.rows = np.empty(reward.size)
        for f in range(k):
            out = np.flatnonzero(row_fold == f)
            train = row_fold != f
            model = _RewardModel(segment[train], item[train], reward[train], m)
            self.models.append(model)
            self.rows[out] = [model(s, i) for s, i in zip(segment[out].tolist(),
                                                          item[out].tolist(), strict=True)]

    def __call__(self, segment: str, item: str, request: int) -> float:
        return self.models[self.fold[request]](segment, item)


# ---------------------------------------------------------------------------- target policy
def _distribution(candidate: Any, customer: Any, at: Any, k: int,
                  channel: str) -> dict[tuple[str, int], float]:
    """The candidate's probability of each (item, position) for one request."""
    get = getattr(candidate, "policy_distribution", None)
    if get is not None:
        dist = get(customer=customer, at=at, k=k, channel=channel)
        key = next(iter(dist), None)
        if key is None or (type(key[0]) is str and type(key[1]) is int):
            return dict(dist)  # text ids and int positions already, as the log holds them
        return {(str(item), int(pos)): float(p) for (item, pos), p in dist.items()}
    offers = candidate.recommend(customer, k=k, at=at, channel=channel)
    return {(str(getattr(o, "item", o)), pos): 1.0 for pos, o in enumerate(offers)}


def _replay(candidate: Any, inv: np.ndarray, item: np.ndarray, pos: np.ndarray,
            seg: np.ndarray, cust: np.ndarray, times: np.ndarray | None,
            chan: np.ndarray | None, k: int | None, channel: str,
            model: _CrossFitModel | None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the candidate's probability of the logged (item, position), and (with a
    reward model) its expected modelled reward at that position; one call per request."""
    n = inv.size
    order = np.argsort(inv, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(inv[order])) + 1]
    ends = np.r_[starts[1:], n].tolist()
    first = order[starts]
    sizes = (np.maximum.reduceat(pos[order], starts) + 1).tolist()
    at_l = ([None if np.isnat(t) else t for t in times[first]] if times is not None
            else [None] * len(sizes))
    ch_l = ([c or channel for c in chan[first].tolist()] if chan is not None
            else [channel] * len(sizes))
    cust_l, seg_l = cust[first].tolist(), seg[first].tolist()
    order_l, item_l, pos_l = order.tolist(), item.tolist(), pos.tolist()
    p_tgt, q_tgt = [0.0] * n, [0.0] * n
    for g, start in enumerate(starts.tolist()):
        rows = order_l[start:ends[g]]
        dist = _distribution(candidate, cust_l[g] or None, at_l[g],
                             k if k is not None else sizes[g], ch_l[g])
        for j in rows:
            p_tgt[j] = dist.get((item_l[j], pos_l[j]), 0.0)
        if model is not None:
            by_pos: dict[int, float] = {}
            for (it, ps), p in dist.items():
                if p > 0:
                    by_pos[ps] = by_pos.get(ps, 0.0) + p * model(seg_l[g], it, g)
            for j in rows:
                q_tgt[j] = by_pos.get(pos_l[j], 0.0)
    return np.array(p_tgt), np.array(q_tgt)


def _usable_rows(cols: dict[str, np.ndarray], since: Any, max_requests: int | None,
                 random_state: Any, notes: list[str]) -> tuple[Any, ...]:
    """The logged rows :func:`evaluate_policy` can replay (a propensity, a position and a
    request id), sampled to ``max_requests`` requests: (rows in the log, rows left out,
    requests replayed, kept row positions, their request codes, positions, propensities)."""
    n_rows = int(cols["request_id"].shape[0])
    req = _text(cols["request_id"], n_rows)
    pos = _floats(cols["position"], "position")
    prop = _floats(cols["propensity"], "propensity")
    usable = np.isfinite(prop) & np.isfinite(pos) & (pos >= 0) & (req != "")
    bad = usable & ((prop <= 0) | (prop > 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        oid = f" (offer_id {cols['offer_id'][i]})" if "offer_id" in cols else ""
        raise UpsellDataError(f"`offer_log` row {i:,}{oid}: propensity {float(prop[i])!r} is not in "
                              "(0, 1]")
    n_excluded = int((~usable).sum())
    if n_excluded:
        notes.append(f"{n_excluded:,} of {n_rows:,} offers left out: logged without a "
                     "propensity (before propensities were logged) or without a request id")
    if n_rows == 0:
        raise UpsellDataError("no offer to evaluate: the log holds no presented offer"
                              + (f" since {since}" if since is not None else ""))
    if not usable.any():
        raise UpsellDataError(f"no offer to evaluate: none of the {n_rows:,} presented offers "
                              "in the log carries a logged propensity, request id and position")
    keep = np.flatnonzero(usable)
    uniq, inv = np.unique(req[keep], return_inverse=True)
    inv = inv.reshape(-1)
    if max_requests is not None and uniq.size > max_requests:
        rng = np.random.default_rng(random_state)
        chosen = np.zeros(uniq.size, dtype=bool)
        chosen[rng.choice(uniq.size, size=max_requests, replace=False)] = True
        notes.append(f"a random sample of {max_requests:,} of {uniq.size:,} requests replayed")
        keep, inv = keep[chosen[inv]], inv[chosen[inv]]
        _, inv = np.unique(inv, return_inverse=True)
        inv = inv.reshape(-1)
    n_requests = int(uniq.size if max_requests is None else min(uniq.size, max_requests))
    return n_rows, n_excluded, n_requests, keep, inv, pos, prop


def _not_reliable(estimates: Sequence[PolicyValue]) -> list[str]:
    """The note of the estimates whose interval is not reliable (empty when all are)."""
    weak = [e for e in estimates if not e.reliable and "not reliable" in e.note]
    if not weak:
        return []
    why = weak[0].note[weak[0].note.index("not reliable"):]
    return [f"{', '.join(e.estimator for e in weak)} {why}"]


def evaluate_policy(offer_log: Any, candidate: Any, *,
                    estimators: Sequence[str] = ("ips", "snips", "dr"), since: Any = None,
                    k: int | None = None, reward: str = "accepted", channel: str = "web",
                    smoothing: float = 10.0, max_requests: int | None = None,
                    n_bootstrap: int = 1000, confidence: float = 0.95,
                    interval: str = "studentized", random_state: int = 0,
                    dr_folds: int = 5) -> PolicyEvaluation:
    """Estimate how a candidate recommender would have done on the requests of an offer log.

    Parameters
    ----------
    offer_log : OfferLog or mapping of arrays
        An :class:`~upsell.recommend.OfferLog` (read with ``outcomes(since=)``:
        one row per presented offer) or that mapping itself: ``request_id``,
        ``customer``, ``item``, ``position``, ``propensity`` (the logging
        policy's probability of that item at that position), ``accepted``;
        ``time``, ``segment``, ``policy``, ``channel`` and ``revenue`` when present.
    candidate : Recommender or object
        Its ``policy_distribution(customer=, at=, k=, channel=)`` gives the
        probability of each ``(item, position)`` for a request. Without that
        method, ``recommend(customer, k=, at=, channel=)`` is called and its
        list read as a deterministic policy (probability 1 at each position shown).
    estimators : sequence of {"ips", "snips", "dr"}, default all three
    since : time, optional
        Only offers presented at or after this time.
    k : int, optional
        List length asked of the candidate; default per request, the logged
        list's length (largest logged position + 1).
    reward : {"accepted", "revenue"}, default "accepted"
        1/0 per offer shown, or the revenue of accepted offers (0 otherwise).
    channel : str, default "web"
        Channel of the replayed requests when the log has no ``channel`` column.
    smoothing : float, default 10
        Strength (in pseudo-offers) of the DR reward model's shrinkage, see Notes.
    max_requests : int, optional
        Replay at most this many requests, a seeded random sample (the note says so).
    n_bootstrap, confidence, interval, random_state
        As in :func:`upsell.evaluate.off_policy_value`; the bootstrap resamples
        whole requests.
    dr_folds : int, default 5
        Folds of whole requests the DR reward model is cross-fitted over (see
        Notes); 1 fits it once on every evaluated row. ``random_state`` seeds
        the folds.

    Returns
    -------
    PolicyEvaluation

    Raises
    ------
    UpsellDataError
        A log without the needed columns, no row with a logged propensity, a
        propensity outside (0, 1] (naming the row), unknown estimators or reward.

    Notes
    -----
    Rows whose logged propensity is missing (offers logged before propensities
    were) are counted in ``n_excluded`` and named in the note, never dropped
    silently; the logged value is computed on the same rows as the estimates.

    Each request is replayed with the logged customer and time (the basket of
    the request is not in the log, so a basket-driven candidate sees none). The
    target propensity of a logged row is the candidate's probability of the
    logged item at the logged position (0 when it would not show it there).

    The DR reward model is a per-(segment, item) mean reward, shrunk towards
    the item's mean and that towards the log's mean with ``smoothing``
    pseudo-offers; it ignores position. DR stays unbiased when it is wrong
    (the IPS correction), and has lower variance the better it is. The model
    is cross-fitted: the requests are split at random into ``dr_folds`` folds
    and each request's rows (their ``q_logged`` and the target's ``q_target``)
    are answered by the model fitted on the other folds, so no row's own
    reward enters its correction (fitted on the same rows, as with
    ``dr_folds=1``, DR leans towards the logged rewards when (segment, item)
    pairs have few offers, and its interval is too narrow).

    Examples
    --------
    See the module docstring.
    """
    est = tuple(check_choice(e, "estimators", ESTIMATORS) for e in estimators)
    if not est:
        raise UpsellDataError(f"`estimators` must name some of {', '.join(ESTIMATORS)}; got none")
    reward = check_choice(reward, "reward", ("accepted", "revenue"))
    smoothing = check_float(smoothing, "smoothing", low=0)
    dr_folds = check_int(dr_folds, "dr_folds", minimum=1)
    if k is not None:
        k = check_int(k, "k", minimum=1)
    if max_requests is not None:
        max_requests = check_int(max_requests, "max_requests", minimum=1)
    cols = _read(offer_log, since)
    notes: list[str] = []
    n_rows, n_excluded, n_requests, keep, inv, pos, prop = _usable_rows(
        cols, since, max_requests, random_state, notes)
    n = keep.size
    item = _text(cols["item"][keep], n)
    posk = pos[keep].astype(np.int64)
    p_log = prop[keep]
    seg = _text(cols["segment"][keep] if "segment" in cols else None, n)
    cust = _text(cols["customer"][keep], n)
    chan = _text(cols["channel"][keep], n) if "channel" in cols else None
    times = _times(cols["time"][keep]) if "time" in cols else None
    if reward == "accepted":
        r = _floats(cols["accepted"][keep], "accepted")
    else:
        if "revenue" not in cols:
            raise UpsellDataError("reward='revenue' needs a `revenue` column in the outcomes")
        r = np.nan_to_num(_floats(cols["revenue"][keep], "revenue"), nan=0.0)
        r = np.where(_floats(cols["accepted"][keep], "accepted") > 0, r, 0.0)
    r = np.nan_to_num(r, nan=0.0)

    model = (_CrossFitModel(seg, item, r, smoothing, inv, dr_folds, random_state)
             if "dr" in est else None)
    p_tgt, q_tgt = _replay(candidate, inv, item, posk, seg, cust, times, chan, k, channel,
                           model)
    if np.any((p_tgt < 0) | (p_tgt > 1)):
        j = int(np.flatnonzero((p_tgt < 0) | (p_tgt > 1))[0])
        raise UpsellDataError(f"the candidate's policy_distribution gave probability "
                              f"{float(p_tgt[j])!r} for item {item[j]!r} at position {posk[j]}")
    if not hasattr(candidate, "policy_distribution"):
        notes.append("the candidate has no policy_distribution: its recommend() lists read "
                     "as a deterministic policy")

    common: dict[str, Any] = {"groups": inv, "n_bootstrap": n_bootstrap,
                              "confidence": confidence, "interval": interval,
                              "random_state": random_state}
    logged = off_policy_value(r, p_log, p_log, "ips", **common)
    out = [PolicyValue("logged", logged.value, logged.ci_low, logged.ci_high, logged.n,
                       logged.effective_sample_size, 1.0, 1.0, logged.confidence,
                       logged.n_bootstrap, logged.n_groups, note=logged.note,
                       interval=logged.interval, rewarded_ess=logged.rewarded_ess,
                       top_share=logged.top_share, reliable=logged.reliable)]
    for e in est:
        rm = None
        if e == "dr" and model is not None:
            rm = (model.rows, q_tgt)
        out.append(off_policy_value(r, p_log, p_tgt, e, rm, **common))
    notes += _not_reliable(out[1:])
    ess = out[-1].effective_sample_size
    if ess < max(10.0, 0.01 * n):
        notes.append(f"the candidate rarely shows what the log shows (effective sample size "
                     f"{ess:,.1f} of {n:,} offers): the estimates are uncertain")
    pols = tuple(sorted({p for p in _text(cols["policy"][keep], n).tolist() if p})) \
        if "policy" in cols else ()
    name = getattr(candidate, "policy_", None) or getattr(candidate, "policy", None)
    return PolicyEvaluation(estimates=tuple(out), reward=reward,
                            candidate=name if isinstance(name, str) else "",
                            logging_policies=pols, n_rows=n_rows, n_excluded=n_excluded,
                            n_requests=n_requests,
                            note="; ".join(notes))
