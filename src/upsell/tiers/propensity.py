"""Upgrade propensity: "had the chance / took it" events, a small L2 logistic model, calibration.

An *upgrade chance* is a repeat purchase in a tier ladder: a customer who has
bought tier ``t`` of a family (below its top tier) buys in that family again.
They *took it* when that purchase is of a higher tier than any they had bought
in the family before. :func:`fit_logistic` fits P(took it) from per-event
features with scipy's L-BFGS and an analytic gradient; :func:`reliability_table`
checks how well predicted probabilities match observed rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from upsell._display import TableResult
from upsell._validation import check_choice, check_float, check_int
from upsell.exceptions import UpsellDataError

__all__ = ["LogisticFit", "Reliability", "fit_logistic", "reliability_table"]


@dataclass(frozen=True, slots=True)
class LogisticFit(TableResult):
    """A fitted L2-regularised logistic model on standardised features.

    ``to_pandas()`` gives one row per feature (by position): coef (standardised),
    raw_coef, mean and scale; the intercept, convergence and iteration count are
    attributes.

    Attributes
    ----------
    coef : ndarray of float64, shape (n_features,)
        Weights on the *standardised* features.
    intercept : float
    mean, scale : ndarray of float64, shape (n_features,)
        Standardisation: ``z = (x - mean) / scale`` (scale 1 for constant columns).
    converged : bool
    n_iter : int

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> m = fit_logistic(X, np.array([0, 0, 1, 1]), l2=0.1)
    >>> bool(m.predict_proba(np.array([[3.0]]))[0] > 0.5)
    True
    >>> m.to_pandas().columns.tolist()
    ['feature', 'coef', 'raw_coef', 'mean', 'scale']
    """

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    converged: bool
    n_iter: int

    _title: ClassVar[str] = "LogisticFit"

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Linear score (log-odds) of raw feature rows ``X`` (n, n_features)."""
        return ((X - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(y = 1) for raw feature rows ``X`` (n, n_features).

        Examples
        --------
        >>> m = fit_logistic(np.zeros((4, 1)), np.array([0, 1, 0, 1]))
        >>> m.predict_proba(np.zeros((1, 1))).round(2).tolist()
        [0.5]
        """
        return expit(self.decision(X))

    def raw_coef(self) -> tuple[np.ndarray, float]:
        """Weights and intercept on the raw (unstandardised) features."""
        w = self.coef / self.scale
        return w, float(self.intercept - w @ self.mean)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cut = slice(None) if rows is None else slice(rows.start, rows.stop)
        return {"feature": np.arange(self.coef.size)[cut], "coef": self.coef[cut],
                "raw_coef": self.raw_coef()[0][cut], "mean": self.mean[cut],
                "scale": self.scale[cut]}

    def _n_rows(self) -> int:
        return int(self.coef.size)

    def _summary(self) -> str:
        state = "converged" if self.converged else "not converged"
        return (f"{self.coef.size:,} feature(s), intercept {self.intercept:.4g}, {state} "
                f"in {self.n_iter} iteration(s)")


def fit_logistic(X: np.ndarray, y: np.ndarray, *, l2: float = 1.0,
                 sample_weight: np.ndarray | None = None, max_iter: int = 200) -> LogisticFit:
    """Fit P(y = 1 | x) = sigmoid(w.z + b) with an L2 penalty on ``w`` (not on ``b``).

    Parameters
    ----------
    X : ndarray, shape (n, n_features)
        Raw features; standardised inside (mean 0, unit variance).
    y : ndarray of {0, 1}, shape (n,)
    l2 : float, default 1.0
        Penalty ``l2 / 2 * ||w||^2`` added to the summed log loss.
    sample_weight : ndarray, shape (n,), optional
    max_iter : int, default 200

    Returns
    -------
    LogisticFit

    Raises
    ------
    UpsellDataError
        Shapes that disagree, non-finite features, labels other than 0/1.

    Notes
    -----
    Loss ``L(w, b) = -sum_i s_i [y_i log p_i + (1 - y_i) log(1 - p_i)] + l2/2 ||w||^2``
    with gradient ``Z^T (s (p - y)) + l2 w`` and ``sum_i s_i (p_i - y_i)`` for ``b``,
    minimised by L-BFGS-B (:func:`scipy.optimize.minimize`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 1))
    >>> y = (rng.random(2000) < 1 / (1 + np.exp(-(2 * x[:, 0] - 1)))).astype(int)
    >>> w, b = fit_logistic(x, y, l2=1e-3).raw_coef()
    >>> round(float(w[0]), 1), round(b, 1)
    (2.0, -1.0)
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise UpsellDataError(f"`X` must be (n, f) and `y` (n,); got {X.shape} and {y.shape}")
    if not np.isfinite(X).all():
        raise UpsellDataError("`X` holds non-finite values")
    if not np.isin(y, (0.0, 1.0)).all():
        raise UpsellDataError("`y` must hold only 0 and 1")
    l2 = check_float(l2, "l2", low=0)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    s = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    mean = X.mean(axis=0) if X.size else np.zeros(X.shape[1])
    scale = X.std(axis=0) if X.size else np.ones(X.shape[1])
    scale = np.where(scale > 1e-12, scale, 1.0)
    Z = (X - mean) / scale
    n_f = X.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:n_f], theta[n_f]
        z = Z @ w + b
        # log(1 + e^z) - y z, stable for large |z|
        nll = float(np.sum(s * (np.logaddexp(0.0, z) - y * z))) + 0.5 * l2 * float(w @ w)
        r = s * (expit(z) - y)
        grad = np.empty(n_f + 1)
        grad[:n_f] = Z.T @ r + l2 * w
        grad[n_f] = r.sum()
        return nll, grad

    p0 = (float(np.sum(s * y)) + 0.5) / (float(s.sum()) + 1.0)
    theta0 = np.zeros(n_f + 1)
    theta0[n_f] = np.log(p0 / (1 - p0))
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": 1e-7})
    coef = np.asarray(res.x[:n_f], dtype=np.float64)
    return LogisticFit(coef=coef, intercept=float(res.x[n_f]), mean=mean, scale=scale,
                       converged=bool(res.success), n_iter=int(res.nit))


@dataclass(frozen=True, slots=True)
class Reliability(TableResult):
    """Calibration of predicted probabilities: one row per bin of predicted value.

    ``to_pandas()`` gives the table; ``plot()`` draws the calibration curve against
    the diagonal (:func:`upsell.tiers.plots.plot_reliability`).

    Attributes
    ----------
    bin_low, bin_high : ndarray of float64
        Predicted-probability range of each bin.
    mean_predicted : ndarray of float64
        Mean predicted probability in the bin.
    observed : ndarray of float64
        Observed rate of y = 1 in the bin.
    count : ndarray of int64
        Events in the bin.

    Examples
    --------
    >>> r = reliability_table(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.2]), n_bins=2)
    >>> r.observed.tolist(), r.count.tolist()
    ([0.0, 1.0], [2, 2])
    >>> r.to_pandas().columns.tolist()
    ['bin_low', 'bin_high', 'mean_predicted', 'observed', 'count']
    """

    bin_low: np.ndarray
    bin_high: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    count: np.ndarray

    _title: ClassVar[str] = "Reliability"
    _plot_function: ClassVar[str] = "upsell.tiers.plots:plot_reliability"

    def __len__(self) -> int:
        return int(self.count.size)

    @property
    def ece(self) -> float:
        """Expected calibration error: count-weighted mean |predicted - observed|."""
        n = self.count.sum()
        if n == 0:
            return float("nan")
        return float(np.sum(self.count * np.abs(self.mean_predicted - self.observed)) / n)

    def __str__(self) -> str:
        lines = ["predicted range   mean pred  observed  events"]
        for lo, hi, mp, ob, c in zip(self.bin_low, self.bin_high, self.mean_predicted,
                                     self.observed, self.count, strict=True):
            lines.append(f"[{lo:.3f}, {hi:.3f}]   {mp:9.3f}  {ob:8.3f}  {int(c):6d}")
        lines.append(f"ECE {self.ece:.4f}")
        return "\n".join(lines)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cut = slice(None) if rows is None else slice(rows.start, rows.stop)
        return {"bin_low": self.bin_low[cut], "bin_high": self.bin_high[cut],
                "mean_predicted": self.mean_predicted[cut], "observed": self.observed[cut],
                "count": self.count[cut]}

    def _summary(self) -> str:
        return f"{len(self):,} bins, ECE {self.ece:.4f}"


def reliability_table(y: np.ndarray, p: np.ndarray, *, n_bins: int = 10,
                      strategy: str = "quantile") -> Reliability:
    """Bin predictions and compare the mean prediction with the observed rate per bin.

    Parameters
    ----------
    y : array of {0, 1}
    p : array of float in [0, 1], same length
    n_bins : int, default 10
    strategy : {"quantile", "uniform"}, default "quantile"
        Equal-count bins, or equal-width bins on [0, 1]. Empty bins are left out.

    Returns
    -------
    Reliability

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> p = rng.random(5000)
    >>> r = reliability_table((rng.random(5000) < p).astype(int), p, n_bins=5)
    >>> bool(r.ece < 0.03)
    True
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise UpsellDataError(f"`y` and `p` must be 1-d of equal length; got {y.shape}, {p.shape}")
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    strategy = check_choice(strategy, "strategy", ("quantile", "uniform"))
    if strategy == "quantile" and p.size:
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    else:
        edges = np.linspace(0, 1, n_bins + 1)
    if edges.size < 2:
        edges = np.array([edges[0] if edges.size else 0.0, 1.0])
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
    m = edges.size - 1
    cnt = np.bincount(b, minlength=m)
    sp = np.bincount(b, weights=p, minlength=m)
    sy = np.bincount(b, weights=y, minlength=m)
    keep = cnt > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mp = sp / cnt
        ob = sy / cnt
    return Reliability(bin_low=edges[:-1][keep], bin_high=edges[1:][keep],
                       mean_predicted=mp[keep], observed=ob[keep],
                       count=cnt[keep].astype(np.int64))


# ---------------------------------------------------------------------- events (private)
@dataclass(frozen=True)
class _Chances:
    """Upgrade chances: one row per repeat purchase in a ladder below its top tier."""

    customer: np.ndarray   # int64
    family: np.ndarray     # ladder family code
    base: np.ndarray       # item held before (cheapest item of the held tier)
    target: np.ndarray     # next-tier item (cheapest of the next tier)
    took: np.ndarray       # bool
    time: np.ndarray       # int64 seconds


def _group_starts(key: np.ndarray) -> np.ndarray:
    return np.r_[True, key[1:] != key[:-1]] if key.size else np.zeros(0, dtype=bool)


def ladder_chances(c: np.ndarray, i: np.ndarray, t: np.ndarray, o: np.ndarray,
                   fam: np.ndarray, level: np.ndarray, rep: np.ndarray, top: np.ndarray
                   ) -> tuple[_Chances, np.ndarray]:
    """Chance events and, per first purchase in a family, (customer, family, level).

    ``fam[i]`` ladder family code of item (-1 off ladder), ``level[i]`` 0-based tier
    rank inside its family, ``rep[f, l]`` cheapest item of level ``l`` (-1 none),
    ``top[f]`` highest level. Lines ``c, i, t, o`` (customer, item, time, order).
    Returns the chances and an array (n_first, 3) of first purchases.
    """
    keep = (c >= 0) & (i >= 0)
    keep[keep] = fam[i[keep]] >= 0
    c, i, t, o = c[keep], i[keep], t[keep], o[keep]
    f = fam[i]
    lv = level[i]
    # one purchase per (customer, family, order): its highest level
    srt = np.lexsort((-lv, o, t, f, c))
    c, f, t, o, lv = c[srt], f[srt], t[srt], o[srt], lv[srt]
    first_line = _group_starts(c * (fam.max() + 2) + f) | _group_starts(o)
    c, f, t, lv = c[first_line], f[first_line], t[first_line], lv[first_line]
    gkey = c * (int(fam.max()) + 2) + f
    start = _group_starts(gkey)
    gid = np.cumsum(start) - 1
    big = int(level.max()) + 2
    cm = np.maximum.accumulate(gid * big + lv) - gid * big       # level held after each
    prev = np.r_[-1, cm[:-1]]
    chance = ~start & (prev < top[f])
    took = chance & (lv > prev)
    sel = np.flatnonzero(chance)
    pf, pl = f[sel], prev[sel]
    base = rep[pf, pl]
    nxt = np.minimum(pl + 1, rep.shape[1] - 1)
    target = rep[pf, nxt]
    ev = _Chances(customer=c[sel], family=pf, base=base, target=target, took=took[sel],
                  time=t[sel])
    firsts = np.stack([c[start], f[start], lv[start]], axis=1)
    return ev, firsts
