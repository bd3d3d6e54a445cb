"""Side-by-side offline comparison of recommenders with paired bootstrap intervals."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult, data_frame
from upsell._extras import require
from upsell._results import Recommendations
from upsell._validation import as_csr, check_float, check_int, check_k
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.evaluate._core import (
    DEFAULT_METRICS,
    _context,
    _per_request,
    _top_matrix,
    check_metrics,
    item_popularity,
)
from upsell.evaluate.splits import Split
from upsell.exceptions import UpsellDataError

__all__ = ["Comparison", "compare"]

logger = logging.getLogger("upsell")

# bytes of resampling weights held at once by the bootstrap
_BOOTSTRAP_BYTES = 32 * 2**20


@dataclass(frozen=True, slots=True, repr=False)
class Comparison(TableResult):
    """Metric means of several models on the same test requests, with bootstrap intervals.

    Attributes
    ----------
    models : tuple of str
        Model names, in the order given.
    metrics : tuple of str
        Metric names, in the order given.
    k : int
        List length.
    baseline : str
        The model every other one is compared with.
    means : ndarray, shape (n_models, n_metrics)
        Mean of each metric over the test requests (NaN-skipping; see
        :mod:`upsell.evaluate.metrics`).
    ci_low, ci_high : ndarray, shape (n_models, n_metrics)
        Percentile bootstrap interval of each mean (NaN for "coverage" and
        when ``n_bootstrap == 0``).
    diff : ndarray, shape (n_models, n_metrics)
        ``means[m] - means[baseline]`` (0 for the baseline).
    diff_low, diff_high : ndarray, shape (n_models, n_metrics)
        Paired percentile bootstrap interval of ``diff``.
    diff_p : ndarray, shape (n_models, n_metrics)
        Two-sided bootstrap p-value of ``diff``: twice the smaller share of
        replicates on either side of 0 (at least ``1 / n_bootstrap``; NaN for
        the baseline).
    n_requests : int
        Test requests scored.
    n_bootstrap : int
        Bootstrap replicates drawn.
    confidence : float
        Interval level, e.g. 0.95.
    fit_seconds, recommend_seconds : ndarray, shape (n_models,)
        Wall time of ``fit`` (0 for models given fitted) and of all
        ``recommend`` calls.
    per_request : dict of str to ndarray, or None
        With ``keep_per_request=True``: per model, a (n_requests, n) float64
        array of the per-request metrics (``metrics`` without "coverage", in
        order; NaN where a request is skipped).

    Examples
    --------
    >>> c = Comparison(models=("a",), metrics=("recall",), k=5, baseline="a",
    ...                means=np.array([[0.5]]), ci_low=np.array([[0.4]]),
    ...                ci_high=np.array([[0.6]]), diff=np.zeros((1, 1)),
    ...                diff_low=np.zeros((1, 1)), diff_high=np.zeros((1, 1)),
    ...                diff_p=np.ones((1, 1)), n_requests=10, n_bootstrap=100,
    ...                confidence=0.95, fit_seconds=np.zeros(1),
    ...                recommend_seconds=np.zeros(1))
    >>> c.value("a", "recall")
    0.5
    """

    models: tuple[str, ...]
    metrics: tuple[str, ...]
    k: int
    baseline: str
    means: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    diff: np.ndarray
    diff_low: np.ndarray
    diff_high: np.ndarray
    diff_p: np.ndarray
    n_requests: int
    n_bootstrap: int
    confidence: float
    fit_seconds: np.ndarray
    recommend_seconds: np.ndarray
    per_request: Mapping[str, np.ndarray] | None = None

    _title = "Comparison"
    _plot_function = "upsell.evaluate.plots:plot_comparison"

    def _pos(self, model: str, metric: str) -> tuple[int, int]:
        if model not in self.models:
            raise UpsellDataError(f"`model` must be one of {list(self.models)}; got {model!r}")
        if metric not in self.metrics:
            raise UpsellDataError(f"`metric` must be one of {list(self.metrics)}; got {metric!r}")
        return self.models.index(model), self.metrics.index(metric)

    def value(self, model: str, metric: str) -> float:
        """Mean of one metric for one model (see the class example)."""
        i, j = self._pos(model, metric)
        return float(self.means[i, j])

    def __len__(self) -> int:
        return len(self.models)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        if rows is None:  # the wide frame: one column of means per metric, models as the index
            return {m: self.means[:, j] for j, m in enumerate(self.metrics)}

        def cell(i: int, j: int) -> str:
            text = f"{self.means[i, j]:.4f}"
            if self.models[i] != self.baseline and np.isfinite(self.diff_low[i, j]):
                text += (f" (Δ {self.diff[i, j]:+.4f} "
                         f"[{self.diff_low[i, j]:+.4f}, {self.diff_high[i, j]:+.4f}])")
            return text

        columns: dict[str, Any] = {
            "model": [self.models[i] + (" (baseline)" if self.models[i] == self.baseline else "")
                      for i in rows]}
        columns.update({f"{m}@{self.k}": [cell(i, j) for i in rows]
                        for j, m in enumerate(self.metrics)})
        return columns

    def _index(self) -> Any:
        pd = require("pandas", "Comparison.to_pandas")
        return pd.Index(list(self.models), name="model")

    def _summary(self) -> str:
        return (f"{self.n_requests:,} requests; Δ = difference to {self.baseline} with its "
                f"{self.confidence:.0%} paired bootstrap interval ({self.n_bootstrap} replicates)")

    def to_pandas(self, long: bool = False) -> Any:
        """The table as a DataFrame (needs pandas).

        Parameters
        ----------
        long : bool, default False
            False: one row per model, one column per metric (the means).
            True: one row per (model, metric) with columns mean, ci_low, ci_high,
            diff, diff_low, diff_high, p_value.

        Examples
        --------
        >>> c = Comparison(models=("a",), metrics=("recall",), k=5, baseline="a",
        ...                means=np.array([[0.5]]), ci_low=np.array([[0.4]]),
        ...                ci_high=np.array([[0.6]]), diff=np.zeros((1, 1)),
        ...                diff_low=np.zeros((1, 1)), diff_high=np.zeros((1, 1)),
        ...                diff_p=np.ones((1, 1)), n_requests=10, n_bootstrap=100,
        ...                confidence=0.95, fit_seconds=np.zeros(1),
        ...                recommend_seconds=np.zeros(1))
        >>> c.to_pandas().loc["a", "recall"].item()
        0.5
        >>> c.to_pandas(long=True).columns.tolist()[:4]
        ['model', 'metric', 'mean', 'ci_low']
        """
        if not long:
            return TableResult.to_pandas(self)
        n_mod, n_met = self.means.shape
        return data_frame({
            "model": np.repeat(np.array(self.models, dtype=object), n_met),
            "metric": np.tile(np.array(self.metrics, dtype=object), n_mod),
            "mean": self.means.ravel(), "ci_low": self.ci_low.ravel(),
            "ci_high": self.ci_high.ravel(), "diff": self.diff.ravel(),
            "diff_low": self.diff_low.ravel(), "diff_high": self.diff_high.ravel(),
            "p_value": self.diff_p.ravel(),
        }, "Comparison.to_pandas")

    def __repr__(self) -> str:
        width = max(10, *(len(m) for m in self.models))
        head = "model".ljust(width) + "".join(f"{m:>18}" for m in self.metrics)
        lines = [f"Comparison @{self.k} over {self.n_requests:,} requests "
                 f"(baseline {self.baseline!r}, {self.confidence:.0%} paired bootstrap, "
                 f"{self.n_bootstrap} replicates)", head]
        for i, name in enumerate(self.models):
            lines.append(name.ljust(width) + "".join(f"{v:>18.4f}" for v in self.means[i]))
            if name != self.baseline and self.n_bootstrap:
                cells = "".join(
                    f"{_fmt_interval(self.diff_low[i, j], self.diff_high[i, j]):>18}"
                    for j in range(len(self.metrics)))
                lines.append("  diff CI".ljust(width) + cells)
        return "\n".join(lines)


def _fmt_interval(lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "-"
    return f"[{lo:+.3f},{hi:+.3f}]"


# ---------------------------------------------------------------------------- helpers
def _is_fitted(model: Any) -> bool:
    """scikit-learn's rule: a public attribute ending in "_" has been set."""
    names: list[str] = list(vars(model)) if hasattr(model, "__dict__") else []
    for cls in type(model).__mro__:
        slots = getattr(cls, "__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return any(n.endswith("_") and not n.startswith("_") and hasattr(model, n) for n in names)


class _Task:
    """The requests to score: ids to pass to ``recommend`` and the relevance rows."""

    def __init__(self, train: Any, test: Any) -> None:
        if isinstance(train, Split):
            if test is not None:
                raise UpsellDataError(
                    "`test` must be None when `train` is a Split (it holds the test part)"
                )
            test, train = train, train.train
        if not isinstance(train, Transactions):
            raise UpsellDataError(
                f"`train` must be Transactions or a Split; got {type(train).__name__}"
            )
        self.train = train
        if isinstance(test, Split):
            self.kind = test.request_kind
            self.items: IdIndex = test.train.items
            self.rows = test.requests
            self.relevant = as_csr(test.relevant, "test.relevant")
            self.query = test.query
            self.ids = test.request_ids
        elif isinstance(test, Transactions):
            self.kind = "customer"
            self.items = test.items
            self.relevant = test.customer_items("binary")
            self.rows = np.flatnonzero(np.diff(self.relevant.indptr) > 0).astype(np.int32)
            self.query = None
            self.ids = test.customers.ids[self.rows]
        else:
            raise UpsellDataError(
                f"`test` must be Transactions or a Split; got {type(test).__name__}"
            )
        if self.rows.size == 0:
            raise UpsellDataError("the test data hold no request with a relevant item")

    def __len__(self) -> int:
        return int(self.rows.size)

    def recommend(self, model: Any, lo: int, hi: int, k: int, exclude_owned: bool) -> Any:
        if self.kind == "customer":
            return model.recommend(customers=self.ids[lo:hi], k=k, exclude_owned=exclude_owned)
        assert self.query is not None
        q = self.query
        ids = self.items.ids
        baskets = [ids[q.indices[q.indptr[r]:q.indptr[r + 1]]].tolist()
                   for r in self.rows[lo:hi].tolist()]
        return model.recommend(baskets=baskets, k=k, exclude_owned=exclude_owned)


def _validate_models(models: Any, fitted: Any) -> tuple[list[str], list[Any], set[str]]:
    if not isinstance(models, Mapping) or not models:
        raise UpsellDataError(
            f"`models` must be a non-empty dict of name to model; got {models!r}"
        )
    names = list(models)
    for name in names:
        if not isinstance(name, str):
            raise UpsellDataError(f"`models` keys must be strings; got {name!r}")
        if not callable(getattr(models[name], "recommend", None)):
            raise UpsellDataError(
                f"model {name!r} has no recommend(customers=..., k=..., exclude_owned=...) method"
            )
    if isinstance(fitted, bool):
        given = set(names) if fitted else set()
    elif isinstance(fitted, Collection) and not isinstance(fitted, str):
        given = set(fitted)
        unknown = given - set(names)
        if unknown:
            raise UpsellDataError(
                f"`fitted` names models not in `models`: {sorted(unknown)!r}"
            )
    else:
        raise UpsellDataError(f"`fitted` must be a bool or a list of model names; got {fitted!r}")
    return names, [models[n] for n in names], given


def _as_top(recs: Any, name: str, n_expected: int, k: int, items: IdIndex,
            remap: dict[int, np.ndarray]) -> np.ndarray:
    if not isinstance(recs, Recommendations):
        raise UpsellDataError(
            f"model {name!r}: recommend must return Recommendations; got {type(recs).__name__}"
        )
    if len(recs) != n_expected:
        raise UpsellDataError(
            f"model {name!r}: recommend returned {len(recs)} lists for {n_expected} requests"
        )
    top = _top_matrix(recs, k)
    if recs.items is not items and recs.items != items:
        key = id(recs.items)
        if key not in remap:
            remap[key] = items.encode(recs.items.ids, unknown="mask").astype(np.int64)
        mapping = remap[key]
        top = np.where(top >= 0, mapping[np.maximum(top, 0)], -1)
    return top


def _quantile_cols(boot: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles of each column, ignoring NaN; NaN for an all-NaN column (no warning)."""
    out = np.full((len(q), boot.shape[1]), np.nan)
    for j in range(boot.shape[1]):
        col = boot[:, j]
        col = col[~np.isnan(col)]
        if col.size:
            out[:, j] = np.quantile(col, q)
    return out


def _bootstrap(values: list[np.ndarray], n_bootstrap: int,
               rng: np.random.Generator) -> np.ndarray:
    """Means of each column of each model under shared resamples of the requests.

    Returns an array (n_bootstrap, n_models, n_cols). The same resample of
    requests is used for every model and metric (a paired bootstrap).
    """
    n = values[0].shape[0]
    stacked = np.concatenate(values, axis=1)
    valid = ~np.isnan(stacked)
    filled = np.where(valid, stacked, 0.0)
    weights_valid = valid.astype(np.float64)
    out = np.empty((n_bootstrap, stacked.shape[1]))
    chunk = max(1, min(n_bootstrap, _BOOTSTRAP_BYTES // (8 * max(n, 1))))
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        draws = rng.integers(0, n, size=(b, n))
        offsets = (np.arange(b, dtype=np.int64) * n)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=b * n)
        counts = counts.reshape(b, n).astype(np.float64)
        sums = counts @ filled
        denom = counts @ weights_valid
        out[start:start + b] = np.divide(sums, denom, out=np.full_like(sums, np.nan),
                                         where=denom > 0)
    return out.reshape(n_bootstrap, len(values), -1)


# ---------------------------------------------------------------------------- compare
def compare(models: Mapping[str, Any], train: Transactions | Split,
            test: Transactions | Split | None = None, *, k: int = 10,
            metrics: Sequence[str] = DEFAULT_METRICS, baseline: str | None = None,
            n_bootstrap: int = 1000, confidence: float = 0.95, random_state: int = 0,
            exclude_owned: bool = True, batch_size: int = 10_000,
            catalog: Catalog | None = None, fitted: bool | Collection[str] = False,
            keep_per_request: bool = False) -> Comparison:
    """Fit (if needed) and score several recommenders on the same test requests.

    Parameters
    ----------
    models : dict of str to model
        Each model has ``recommend(customers=<array of external ids>, k=k,
        exclude_owned=bool) -> Recommendations`` (for basket splits
        ``recommend(baskets=<list of item-id lists>, k=k, exclude_owned=bool)``)
        and, unless fitted, ``fit(train) -> self``. A model counts as fitted when
        it has a public attribute ending in "_" (scikit-learn's rule) or is
        named in ``fitted``.
    train : Transactions or Split
        Data to fit on; a :class:`~upsell.evaluate.Split` supplies train and test.
    test : Transactions or Split, optional
        Test data (omit when ``train`` is a Split). From Transactions, every
        customer with a purchase is a request and their items are relevant.
    k : int, default 10
        List length.
    metrics : sequence of str
        Names from :data:`~upsell.evaluate.METRICS`: "precision", "recall",
        "f1", "ndcg", "map", "mrr", "hit_rate", "coverage", "novelty",
        "diversity", "revenue", "margin".
    baseline : str, optional
        Model the others are compared with; default the first.
    n_bootstrap : int, default 1000
        Bootstrap replicates; 0 skips the intervals (and the memory they need).
    confidence : float, default 0.95
        Level of the intervals.
    random_state : int, default 0
        Seed of the bootstrap; the same seed gives the same intervals.
    exclude_owned : bool, default True
        Passed to every ``recommend``. With a temporal split, pair it with
        ``exclude_train_items=True`` or repeat purchases count as misses.
    batch_size : int, default 10000
        Requests per ``recommend`` call; bounds the memory of scoring.
    catalog : Catalog, optional
        Needed by "revenue", "margin" and "diversity".
    fitted : bool or collection of str, default False
        True: treat every model as fitted; or the names of the fitted ones.
    keep_per_request : bool, default False
        Keep the per-request values in the result.

    Returns
    -------
    Comparison

    Raises
    ------
    UpsellDataError
        Invalid arguments, a model without ``recommend``, or a ``recommend``
        that returns something other than one list per request.

    Notes
    -----
    Requests are scored in batches of ``batch_size``; per request only the
    per-request metric values are kept (8 bytes x metrics x models), and only
    when the bootstrap or ``keep_per_request`` needs them; without them,
    scoring memory is independent of the number of requests.

    The intervals come from a paired percentile bootstrap (Efron & Tibshirani
    1993, ch. 13): each replicate resamples the requests with replacement,
    the *same* resample for every model, and recomputes every mean. The
    interval of ``diff`` is the central ``confidence`` share of the
    replicated differences. Pairing removes the variance the models share
    (some customers are simply easy to predict), so it is much narrower than
    comparing two separate intervals. An interval that excludes 0 means the
    difference is unlikely to be resampling noise over these customers; it
    says nothing about other periods. "coverage" is not a mean over requests
    and gets no interval.

    Examples
    --------
    >>> from upsell import Recommendations
    >>> from upsell.evaluate import temporal_split
    >>> class TopItems:
    ...     def fit(self, train):
    ...         counts = np.bincount(train.item, minlength=len(train.items))
    ...         self.order_ = np.argsort(-counts, kind="stable")
    ...         self.items_ = train.items
    ...         return self
    ...     def recommend(self, customers, k=10, exclude_owned=True):
    ...         lists = [self.order_[:k]] * len(customers)
    ...         return Recommendations.from_lists(customers, lists,
    ...                                           [np.ones(min(k, len(self.order_)))] * len(customers),
    ...                                           items=self.items_)
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 1, 2, 3, 3, 4], item=["a", "b", "a", "a", "c", "b"],
    ...     customer=["x", "x", "y", "x", "x", "y"],
    ...     time=["2011-01-01"] * 3 + ["2011-02-01"] * 3)
    >>> split = temporal_split(tx, at="2011-01-15")
    >>> res = compare({"top": TopItems()}, split, k=1, metrics=["hit_rate"],
    ...               exclude_owned=False, n_bootstrap=200)
    >>> res.value("top", "hit_rate")
    0.5
    """
    task = _Task(train, test)
    names, objs, given_fitted = _validate_models(models, fitted)
    k = check_k(k)
    wanted = check_metrics(metrics)
    if baseline is None:
        baseline = names[0]
    elif baseline not in names:
        raise UpsellDataError(f"`baseline` must be one of {names!r}; got {baseline!r}")
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    confidence = check_float(confidence, "confidence", low=0, high=1, low_open=True,
                             high_open=True)
    random_state = check_int(random_state, "random_state", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not isinstance(exclude_owned, bool):
        raise UpsellDataError(f"`exclude_owned` must be True or False; got {exclude_owned!r}")
    per_names = tuple(m for m in wanted if m != "coverage")
    popularity = item_popularity(task.train, task.items) if "novelty" in wanted else None
    ctx = _context(per_names, len(task.items), task.items, catalog, popularity)
    keep_values = bool(per_names) and (n_bootstrap > 0 or keep_per_request)
    scores = _Scores(len(names), len(task), per_names, keep_values)
    for i, (name, model) in enumerate(zip(names, objs, strict=True)):
        if name not in given_fitted and not _is_fitted(model):
            model = _fit(scores, i, name, model, task.train)
        _score(scores, i, name, model, task, k, ctx, batch_size, exclude_owned)
    means, diff, ci = _summarise(scores, wanted, names.index(baseline), n_bootstrap,
                                 confidence, random_state)
    for a in (means, diff, *ci):
        a.flags.writeable = False
    kept = ({n: scores.values[i] for i, n in enumerate(names)}
            if keep_per_request and keep_values else None)
    return Comparison(
        models=tuple(names), metrics=wanted, k=k, baseline=baseline, means=means,
        ci_low=ci[0], ci_high=ci[1], diff=diff, diff_low=ci[2], diff_high=ci[3],
        diff_p=ci[4], n_requests=len(task), n_bootstrap=n_bootstrap if per_names else 0,
        confidence=confidence, fit_seconds=scores.fit_s, recommend_seconds=scores.rec_s,
        per_request=kept,
    )


# ---------------------------------------------------------------------------- compare stages
class _Scores:
    """Running metric sums per model, and the per-request values when they are kept."""

    def __init__(self, n_mod: int, n_req: int, per_names: tuple[str, ...],
                 keep_values: bool) -> None:
        n_per = len(per_names)
        self.per_names = per_names
        self.keep_values = keep_values
        self.sums = np.zeros((n_mod, n_per))
        self.counts = np.zeros((n_mod, n_per))
        self.values = [np.empty((n_req, n_per)) for _ in range(n_mod)] if keep_values else []
        self.coverage = np.full(n_mod, np.nan)
        self.fit_s = np.zeros(n_mod)
        self.rec_s = np.zeros(n_mod)
        self.remap: dict[int, np.ndarray] = {}


def _fit(scores: _Scores, i: int, name: str, model: Any, train: Transactions) -> Any:
    """Fit model ``i`` on ``train``, timing it; returns what ``fit`` returned (or the model)."""
    if not callable(getattr(model, "fit", None)):
        raise UpsellDataError(f"model {name!r} is not fitted and has no fit method")
    t0 = time.perf_counter()
    out = model.fit(train)
    scores.fit_s[i] = time.perf_counter() - t0
    logger.info("compare: fitted %s in %.2f s", name, scores.fit_s[i])
    return out if out is not None else model


def _score(scores: _Scores, i: int, name: str, model: Any, task: _Task, k: int, ctx: Any,
           batch_size: int, exclude_owned: bool) -> None:
    """Score model ``i`` on every request in batches of ``batch_size``."""
    n_items, n_req = len(task.items), len(task)
    per_names = scores.per_names
    seen = np.zeros(n_items, dtype=bool)
    for lo in range(0, n_req, batch_size):
        hi = min(lo + batch_size, n_req)
        t0 = time.perf_counter()
        recs = task.recommend(model, lo, hi, k, exclude_owned)
        scores.rec_s[i] += time.perf_counter() - t0
        top = _as_top(recs, name, hi - lo, k, task.items, scores.remap)
        seen[top[top >= 0]] = True
        if not per_names:
            continue
        rel = task.relevant[task.rows[lo:hi]]
        got = _per_request(top, rel, k, per_names, ctx)
        block = np.column_stack([got[m] for m in per_names])
        ok = ~np.isnan(block)
        scores.sums[i] += np.where(ok, block, 0.0).sum(axis=0)
        scores.counts[i] += ok.sum(axis=0)
        if scores.keep_values:
            scores.values[i][lo:hi] = block
    scores.coverage[i] = seen.sum() / n_items if n_items else math.nan
    logger.info("compare: scored %s on %d requests in %.2f s", name, n_req, scores.rec_s[i])


def _summarise(scores: _Scores, wanted: tuple[str, ...], b: int, n_bootstrap: int,
               confidence: float, random_state: int
               ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Means, differences to the baseline ``b`` and the bootstrap intervals.

    Returns ``(means, diff, (ci_low, ci_high, diff_low, diff_high, diff_p))``, each of
    shape (n_models, len(wanted)).
    """
    sums, counts, values, per_names = scores.sums, scores.counts, scores.values, scores.per_names
    n_mod = sums.shape[0]
    if scores.keep_values:
        # from the kept values, so the means do not depend on batch_size's summation order
        for i in range(n_mod):
            ok = ~np.isnan(values[i])
            sums[i] = np.where(ok, values[i], 0.0).sum(axis=0)
            counts[i] = ok.sum(axis=0)
    per_means = np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 0)
    shape = (n_mod, len(wanted))
    means = np.full(shape, np.nan)
    ci_low, ci_high = np.full(shape, np.nan), np.full(shape, np.nan)
    diff_low, diff_high = np.full(shape, np.nan), np.full(shape, np.nan)
    diff_p = np.full(shape, np.nan)
    cols = [per_names.index(m) if m != "coverage" else -1 for m in wanted]
    for j, c in enumerate(cols):
        means[:, j] = scores.coverage if c < 0 else per_means[:, c]
    diff = means - means[b]
    if n_bootstrap > 0 and per_names:
        rng = np.random.default_rng(random_state)
        boot = _bootstrap(values, n_bootstrap, rng)  # (B, models, per-metrics)
        alpha = (1.0 - confidence) / 2.0
        qs = (alpha, 1.0 - alpha)
        boot_diff = boot - boot[:, b:b + 1, :]
        for i in range(n_mod):
            q_mean = _quantile_cols(boot[:, i, :], qs)
            q_diff = _quantile_cols(boot_diff[:, i, :], qs)
            d = boot_diff[:, i, :]
            finite = ~np.isnan(d)
            n_fin = np.maximum(finite.sum(axis=0), 1)
            below = np.where(finite, d <= 0, False).sum(axis=0) / n_fin
            above = np.where(finite, d >= 0, False).sum(axis=0) / n_fin
            p = np.clip(2.0 * np.minimum(below, above), 1.0 / n_bootstrap, 1.0)
            for j, c in enumerate(cols):
                if c < 0:
                    continue
                ci_low[i, j], ci_high[i, j] = q_mean[0, c], q_mean[1, c]
                diff_low[i, j], diff_high[i, j] = q_diff[0, c], q_diff[1, c]
                diff_p[i, j] = p[c] if finite[:, c].any() else np.nan
        # the baseline's difference to itself is exactly 0
        diff_low[b] = np.where(np.isnan(diff_low[b]), np.nan, 0.0)
        diff_high[b] = np.where(np.isnan(diff_high[b]), np.nan, 0.0)
        diff_p[b] = np.nan
    return means, diff, (ci_low, ci_high, diff_low, diff_high, diff_p)
