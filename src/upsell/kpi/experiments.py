"""A/B test analysis of offers: ATV, conversion and revenue per customer; sample sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from upsell._display import TableResult, html_fields
from upsell._validation import check_choice, check_float, check_int
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["METRICS", "ABTestResult", "ab_test", "sample_size"]

#: Metrics :func:`ab_test` compares.
METRICS = ("atv", "conversion", "revenue_per_customer")


@dataclass(frozen=True, slots=True)
class ABTestResult(TableResult):
    """Comparison of a treatment group with a control group.

    Attributes
    ----------
    metric : str
    test : str
        "welch_t" or "two_proportion_z".
    control, treatment : float
        The metric in each group (mean order value, conversion rate, or mean
        revenue per customer).
    difference : float
        treatment - control.
    relative_uplift : float
        difference / control (NaN when control is 0).
    statistic, p_value : float
        Test statistic and two-sided p-value.
    low, high : float
        ``1 - alpha`` confidence interval of the difference (Welch's t, or the
        unpooled normal interval for proportions).
    bootstrap_low, bootstrap_high : float
        Percentile bootstrap interval of the difference (NaN for conversion).
    n_control, n_treatment : int
    alpha : float

    ``to_pandas()`` gives a one-row frame of every field.

    Examples
    --------
    >>> r = ab_test([10, 12, 11, 13], [14, 15, 13, 16], metric="atv", random_state=0)
    >>> r.difference, r.test, r.to_pandas().shape
    (3.0, 'welch_t', (1, 15))
    """

    metric: str
    test: str
    control: float
    treatment: float
    difference: float
    relative_uplift: float
    statistic: float
    p_value: float
    low: float
    high: float
    bootstrap_low: float
    bootstrap_high: float
    n_control: int
    n_treatment: int
    alpha: float

    _title = "ABTestResult"

    @property
    def significant(self) -> bool:
        """Whether ``p_value < alpha``."""
        return bool(self.p_value < self.alpha)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        # one row: every field
        return {f: [getattr(self, f)] for f in self.__dataclass_fields__}

    def _n_rows(self) -> int:
        return 1

    def _summary(self) -> str:
        verdict = "significant" if self.significant else "not significant"
        return (f"{self.metric}: difference {self.difference:.4g}, "
                f"p = {self.p_value:.3g} ({verdict} at {self.alpha:g})")

    def _repr_html_(self) -> str:
        # a (field, value) table of all 15 fields: more rows than a result table shows
        return html_fields(self._title, {f: getattr(self, f) for f in self.__dataclass_fields__},
                           summary=self._summary())


#: Largest magnitude ab_test accepts: its square times the sample size stays finite.
_MAX_VALUE = 1e150


def _values(group: Any, name: str, metric: str) -> np.ndarray:
    if isinstance(group, Transactions):
        if metric == "atv":
            group.require("price", "ab_test(metric='atv')")
            return np.asarray(group.order_table().value, dtype=np.float64)
        group.require("price", "ab_test(metric='revenue_per_customer')")
        ot = group.order_table()
        known = ot.customer >= 0
        rev = np.bincount(ot.customer[known], weights=ot.value[known],
                          minlength=len(group.customers))
        return np.asarray(rev[np.bincount(ot.customer[known],
                                          minlength=len(group.customers)) > 0])
    try:
        a = np.asarray(group.to_numpy() if hasattr(group, "to_numpy") else group,
                       dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UpsellDataError(f"`{name}` must be numbers or Transactions; got {group!r}") from None
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UpsellDataError(f"`{name}` position {i} holds {a[i]!r}; values must be finite")
    huge = np.abs(a) > _MAX_VALUE
    if huge.any():  # means and variances of such values overflow float64
        i = int(np.flatnonzero(huge)[0])
        raise UpsellDataError(f"`{name}` position {i} holds {a[i]!r}; values beyond "
                              f"{_MAX_VALUE:.0e} overflow the variance: rescale them")
    if a.size < 2:
        raise UpsellDataError(f"`{name}` needs at least 2 values; got {a.size}")
    return a


def _counts(group: Any, name: str) -> tuple[int, int]:
    if isinstance(group, tuple) and len(group) == 2:
        k = check_int(group[0], f"{name}[0] (conversions)", minimum=0)
        n = check_int(group[1], f"{name}[1] (trials)", minimum=1)
        if k > n:
            raise UpsellDataError(f"`{name}` has {k} conversions out of {n} trials")
        return k, n
    a = np.asarray(group, dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.all(np.isin(a, (0.0, 1.0))):
        raise UpsellDataError(
            f"`{name}` must be a (conversions, trials) tuple or an array of 0/1 outcomes; "
            f"got {group!r}")
    return int(a.sum()), int(a.size)


def _bootstrap(c: np.ndarray, t: np.ndarray, n_boot: int, alpha: float,
               rng: np.random.Generator) -> tuple[float, float]:
    diffs = np.empty(n_boot)
    # replicate in chunks so that memory stays near 8 MB per array whatever the sample size
    chunk = max(1, 1_000_000 // max(c.size, t.size))
    for s in range(0, n_boot, chunk):
        m = min(chunk, n_boot - s)
        mc = c[rng.integers(0, c.size, (m, c.size))].mean(axis=1)
        mt = t[rng.integers(0, t.size, (m, t.size))].mean(axis=1)
        diffs[s:s + m] = mt - mc
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def ab_test(control: Any, treatment: Any, *, metric: str = "atv", alpha: float = 0.05,
            n_boot: int = 2000, random_state: int | np.random.Generator | None = None
            ) -> ABTestResult:
    """Compare a treatment group with a control group on one metric.

    Parameters
    ----------
    control, treatment : array-like, tuple or Transactions
        ``metric="atv"``: order values (or Transactions, whose order values are
        used). ``"revenue_per_customer"``: one revenue per customer, zeros
        included (Transactions give only customers with orders: pass arrays to
        count customers who bought nothing). ``"conversion"``: a
        ``(conversions, trials)`` tuple or an array of 0/1 outcomes.
    metric : {"atv", "conversion", "revenue_per_customer"}
    alpha : float, default 0.05
        Significance level; intervals have level ``1 - alpha``.
    n_boot : int, default 2000
        Bootstrap replicates (means metrics).
    random_state : int or numpy Generator, optional
        Seed of the bootstrap.

    Returns
    -------
    ABTestResult

    Notes
    -----
    Means (ATV, revenue per customer): Welch's t test, ``t = (m_T - m_C) / se``
    with ``se = sqrt(s_C^2/n_C + s_T^2/n_T)`` and Welch-Satterthwaite degrees of
    freedom (Welch 1947); the interval is ``diff +- t_{1-alpha/2, df} se``. The
    percentile bootstrap (Efron & Tibshirani 1993, ch. 13) resamples each group
    independently. Conversion: the two-proportion z test with pooled variance
    ``z = (p_T - p_C) / sqrt(p(1-p)(1/n_C + 1/n_T))``, and the unpooled
    interval ``diff +- z_{1-alpha/2} sqrt(p_C(1-p_C)/n_C + p_T(1-p_T)/n_T)``.
    Relative uplift = difference / control.

    Examples
    --------
    >>> r = ab_test((120, 1000), (150, 1000), metric="conversion")
    >>> round(r.difference, 3), round(r.p_value, 3), r.significant
    (0.03, 0.05, True)
    """
    check_choice(metric, "metric", METRICS)
    alpha = check_float(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
    n_boot = check_int(n_boot, "n_boot", minimum=1)
    if metric == "conversion":
        kc, nc = _counts(control, "control")
        kt, nt = _counts(treatment, "treatment")
        pc, pt = kc / nc, kt / nt
        diff = pt - pc
        pool = (kc + kt) / (nc + nt)
        se0 = math.sqrt(pool * (1 - pool) * (1 / nc + 1 / nt))
        if se0 > 0:
            zstat = diff / se0
            p = float(2 * stats.norm.sf(abs(zstat)))
        else:
            zstat, p = 0.0, 1.0
        se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
        zq = float(stats.norm.ppf(1 - alpha / 2))
        return ABTestResult(
            metric=metric, test="two_proportion_z", control=pc, treatment=pt, difference=diff,
            relative_uplift=diff / pc if pc > 0 else math.nan, statistic=float(zstat),
            p_value=p, low=diff - zq * se, high=diff + zq * se, bootstrap_low=math.nan,
            bootstrap_high=math.nan, n_control=nc, n_treatment=nt, alpha=alpha)
    c = _values(control, "control", metric)
    t = _values(treatment, "treatment", metric)
    mc, mt = float(c.mean()), float(t.mean())
    diff = mt - mc
    vc, vt = float(c.var(ddof=1)) / c.size, float(t.var(ddof=1)) / t.size
    se = math.sqrt(vc + vt)
    if se > 0:
        tstat = diff / se
        # Welch-Satterthwaite in shares of the variance: tiny variances would underflow
        # when squared
        sc, st = vc / (vc + vt), vt / (vc + vt)
        df = 1.0 / (sc ** 2 / (c.size - 1) + st ** 2 / (t.size - 1))
        p = float(2 * stats.t.sf(abs(tstat), df))
        half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    else:
        tstat, p, half = (0.0, 1.0, 0.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0, 0.0)
    rng = np.random.default_rng(random_state)
    b_lo, b_hi = _bootstrap(c, t, n_boot, alpha, rng)
    return ABTestResult(
        metric=metric, test="welch_t", control=mc, treatment=mt, difference=diff,
        relative_uplift=diff / mc if mc != 0 else math.nan, statistic=float(tstat), p_value=p,
        low=diff - half, high=diff + half, bootstrap_low=min(b_lo, diff),
        bootstrap_high=max(b_hi, diff), n_control=int(c.size), n_treatment=int(t.size),
        alpha=alpha)


def sample_size(*, baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8,
                kind: str = "proportion", sd: float | None = None,
                relative: bool = False) -> int:
    """Customers (or orders) needed per group to detect a minimum effect.

    Parameters
    ----------
    baseline : float
        Control conversion rate (``kind="proportion"``) or control mean (``"mean"``).
    mde : float
        Minimum detectable effect: an absolute difference, or a fraction of
        ``baseline`` when ``relative=True``.
    alpha : float, default 0.05
        Two-sided significance level.
    power : float, default 0.8
    kind : {"proportion", "mean"}
    sd : float, optional
        Standard deviation of the metric (required for ``kind="mean"``).
    relative : bool, default False

    Returns
    -------
    int
        Size of each group (equal groups).

    Notes
    -----
    Proportions (Fleiss, Levin & Paik 2003, eq. 4.14 without continuity correction):
    ``n = (z_{1-a/2} sqrt(2 pbar (1-pbar)) + z_{1-b} sqrt(p1(1-p1) + p2(1-p2)))^2
    / (p2 - p1)^2`` with ``p2 = p1 + mde`` and ``pbar = (p1 + p2)/2``. Means:
    ``n = 2 (z_{1-a/2} + z_{1-b})^2 sd^2 / mde^2``. Rounded up.

    Examples
    --------
    >>> sample_size(baseline=0.10, mde=0.02)
    3841
    >>> sample_size(baseline=50.0, mde=0.05, relative=True, kind="mean", sd=40.0)
    4019
    """
    check_choice(kind, "kind", ("proportion", "mean"))
    alpha = check_float(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
    power = check_float(power, "power", low=0, high=1, low_open=True, high_open=True)
    baseline = check_float(baseline, "baseline")
    mde = check_float(mde, "mde")
    effect = mde * baseline if relative else mde
    if effect == 0:
        raise UpsellDataError(f"`mde` must not be 0 (no effect can be detected); got {mde!r}")
    za = float(stats.norm.ppf(1 - alpha / 2))
    zb = float(stats.norm.ppf(power))
    if kind == "proportion":
        p1 = baseline
        p2 = p1 + effect
        if not (0 < p1 < 1) or not (0 < p2 < 1):
            raise UpsellDataError(
                f"`baseline` and `baseline + mde` must be in (0, 1) for proportions; "
                f"got {p1!r} and {p2!r}")
        pbar = (p1 + p2) / 2
        n = (za * math.sqrt(2 * pbar * (1 - pbar))
             + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / effect ** 2
    else:
        if sd is None:
            raise UpsellDataError("kind='mean' needs `sd`, the metric's standard deviation")
        sdv = check_float(sd, "sd", low=0, low_open=True)
        n = 2 * (za + zb) ** 2 * sdv ** 2 / effect ** 2
    return math.ceil(n - 1e-9)
