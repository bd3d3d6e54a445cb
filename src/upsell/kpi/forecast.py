"""A CLV forecast that works on any shop's history: :func:`clv_forecast`.

The textbook pair, BG/NBD for purchases and Gamma-Gamma for spend, is fitted
first. Real histories break each of them in a known way, and every break has a
defined answer that the forecast names in ``method`` and explains in ``note``:

- BG/NBD's drop-out parameters run to infinity when a history shows no
  drop-out (ten months of a wholesaler's shop): the likelihood's supremum is then
  the model's no-drop-out limit, the NBD (Gamma-Poisson) model, which is fitted
  instead; an L2-penalised BG/NBD competes on the unpenalised likelihood.
- Gamma-Gamma's expected spend ``p gamma / (q - 1)`` is infinite when the
  fitted ``q <= 1`` (spend per purchase heavier-tailed than the model allows), and
  the fit can fail outright; spend then comes from a log-normal empirical-Bayes
  model, which has a finite mean for any data.
- When no purchase model converges, each customer's run rate so far is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from scipy import special

from upsell._display import TableResult
from upsell._extras import require
from upsell._validation import as_time, as_transactions, check_float
from upsell.data.transactions import Transactions
from upsell.exceptions import ConvergenceError, UpsellDataError
from upsell.kpi._likelihood import _CountModel, _rfm_arrays, _Rows, _times, _wdot
from upsell.kpi.bgnbd import BetaGeo
from upsell.kpi.gammagamma import GammaGamma
from upsell.kpi.rfm import FREQ_DAYS, RFMSummary, _freq_days, rfm_summary

__all__ = ["ClvForecast", "clv_forecast"]

#: Half the 95% quantile of chi-square with 2 degrees of freedom: the log-likelihood a
#: BG/NBD (4 parameters) must gain over its no-drop-out limit NBD (2) to be preferred.
_LR_MARGIN = 0.5 * 5.991

#: Iteration limit of the fallback fits: a fit that needs more on data where BG/NBD has
#: already failed is not one to trust, and the simplex polish of a failing fit is what
#: costs time (seconds on a few customers at the default 2000).
_FALLBACK_ITER = 300

_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}


@dataclass(frozen=True, slots=True)
class ClvForecast(TableResult):
    """Per-customer CLV forecast and the models behind it (see :func:`clv_forecast`).

    Attributes
    ----------
    customers : ndarray
        External ids of the customers whose first purchase is on or before the
        calibration end.
    frequency, recency, T : ndarray
        The customers' ``(x, t_x, T)`` summary (repeat purchase days, and weeks or
        the ``freq`` unit from the first purchase to the last one and to the
        calibration end).
    p_alive : ndarray of float64
        Probability that the customer is still active at the calibration end
        (1 under a model without drop-out).
    expected_purchases : ndarray of float64
        Expected purchase days in the ``horizon`` after the calibration end.
    expected_spend : ndarray of float64
        Expected value of one future purchase day.
    clv : ndarray of float64
        Discounted expected value over ``horizon`` times the margin.
    method : str
        The models used, "<purchase model> x <spend model>", e.g.
        "BG/NBD x Gamma-Gamma" or "NBD x log-normal spend".
    note : str
        Why these models, in a few sentences (what failed and what replaced it).
    params : mapping
        Model name -> fitted parameters.
    horizon, step, discount_rate, margin : float
        The forecast's settings.
    freq : str
        Time unit of ``recency``, ``T``, ``horizon`` and ``step``.
    calibration_end : numpy.datetime64 or None

    ``to_pandas()`` gives one row per customer, indexed by customer id; ``plot()``
    draws :func:`upsell.kpi.plots.plot_clv` (the distribution of CLV per customer).

    Examples
    --------
    >>> import upsell as us
    >>> tx = us.datasets.make_shop(n_customers=300, n_items=60, n_orders=1500).transactions
    >>> f = us.kpi.clv_forecast(tx)
    >>> len(f) == f.clv.size, f.method
    (True, 'BG/NBD x Gamma-Gamma')
    >>> f.to_pandas().columns.tolist()[-3:]
    ['expected_purchases', 'expected_spend', 'clv']
    """

    customers: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    p_alive: np.ndarray
    expected_purchases: np.ndarray
    expected_spend: np.ndarray
    clv: np.ndarray
    method: str
    note: str
    params: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: MappingProxyType({}))
    horizon: float = 52.0
    step: float = 52.0 / 12
    discount_rate: float = 0.01
    margin: float = 1.0
    freq: str = "W"
    calibration_end: np.datetime64 | None = None

    _title = "ClvForecast"
    _plot_function = "upsell.kpi.plots:plot_clv"

    def __len__(self) -> int:
        return int(self.clv.size)

    @property
    def value(self) -> np.ndarray:
        """The CLV per customer (the name :func:`upsell.kpi.plots.plot_clv` reads)."""
        return self.clv

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        if rows is not None:  # a notebook shows the customer and the forecast
            return {"customer": self.customers, "frequency": self.frequency,
                    "p_alive": self.p_alive, "expected_purchases": self.expected_purchases,
                    "expected_spend": self.expected_spend, "clv": self.clv}
        return {"frequency": self.frequency, "recency": self.recency, "T": self.T,
                "p_alive": self.p_alive, "expected_purchases": self.expected_purchases,
                "expected_spend": self.expected_spend, "clv": self.clv}

    def _index(self) -> Any:
        pd = require("pandas", f"{type(self).__name__}.to_pandas")
        return pd.Index(self.customers, name="customer")

    def _summary(self) -> str:
        return (f"{len(self):,} customers, {self.method}, total CLV "
                f"{float(np.sum(self.clv)):,.2f}. {self.note}")


# ---------------------------------------------------------------------------- NBD
class _NBD(_CountModel):
    """BG/NBD's limit without drop-out: Poisson purchases at a Gamma(r, alpha) rate.

    Per customer ``L = G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))`` (the BG/NBD
    likelihood as ``b -> inf``), ``E[Y(t) | x, T] = (r + x) / (alpha + T) t`` and
    ``P(alive) = 1``.
    """

    _model_params = ("r", "alpha")
    _time_params = ("alpha",)
    _advice: ClassVar[str] = "the purchase counts may show no heterogeneity between customers"

    def _row_loglik(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray) -> np.ndarray:
        r, alpha = p
        return np.asarray(special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
                          - (r + x) * np.log(alpha + T))

    def _loglik_and_grad(self, p: np.ndarray, rows: _Rows,
                         grad: bool) -> tuple[float, np.ndarray | None]:
        r, alpha = p
        x, w, xs, xi = rows.x, rows.w, rows.xs, rows.xi
        la_T = np.log(alpha + rows.Ts)[rows.Ti]
        wsum = float(w.sum())
        ll = (_wdot(w, special.gammaln(r + xs)[xi] - (r + x) * la_T)
              + wsum * (r * math.log(alpha) - float(special.gammaln(r))))
        if not grad:
            return ll, None
        dr = _wdot(w, special.digamma(r + xs)[xi] - la_T) + wsum * (
            math.log(alpha) - float(special.digamma(r)))
        dalpha = wsum * r / alpha - _wdot(w * (r + x), (1.0 / (alpha + rows.Ts))[rows.Ti])
        return ll, np.array([dr, dalpha])

    def conditional_expected_purchases(self, t: float, data: Any = None, *,
                                       frequency: Any = None, recency: Any = None,
                                       T: Any = None) -> np.ndarray:
        r, alpha = self._p()
        x, _, tt = _rfm_arrays(data, frequency, recency, T)
        return np.asarray((r + x) / (alpha + tt) * float(_times(t)))

    def probability_alive(self, data: Any = None, *, frequency: Any = None,
                          recency: Any = None, T: Any = None) -> np.ndarray:
        x, _, _ = _rfm_arrays(data, frequency, recency, T)
        return np.ones(x.shape)


# ---------------------------------------------------------------------------- models
@dataclass(frozen=True, slots=True)
class _Purchases:
    name: str
    cum: Callable[[float], np.ndarray]   # expected purchases in (T, T + t]
    p_alive: np.ndarray
    params: dict[str, dict[str, float]]
    note: str


def _fmt_params(params: Mapping[str, float]) -> str:
    return ", ".join(f"{k} = {v:.4g}" for k, v in params.items())


def _purchase_model(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> _Purchases:
    """BG/NBD; when it cannot be fitted, the better (by likelihood) of its no-drop-out
    limit and a penalised BG/NBD; when neither can, the run rate."""
    kw = {"frequency": x, "recency": t_x, "T": T}
    try:
        bg = BetaGeo().fit(**kw)
    except ConvergenceError as exc:
        failure = ("BG/NBD's maximum-likelihood fit diverged (parameters run to 0 or infinity)"
                   if "diverged" in str(exc) else f"BG/NBD could not be fitted: "
                   f"{str(exc).split(';')[0]}")
    else:
        return _Purchases("BG/NBD", lambda t: bg.conditional_expected_purchases(t, **kw),
                          bg.probability_alive(**kw), {"BG/NBD": dict(bg.params_)},
                          f"Purchases: BG/NBD ({_fmt_params(bg.params_)}).")
    candidates: list[tuple[float, int, Any, str]] = []
    with_nbd = True
    try:
        nbd = _NBD(max_iter=_FALLBACK_ITER).fit(**kw)
        candidates.append((nbd.log_likelihood_, 1, nbd, "NBD"))
    except ConvergenceError:
        with_nbd = False
    for pen in (0.001, 0.01, 0.1):
        try:
            pbg = BetaGeo(penalizer_coef=pen, max_iter=_FALLBACK_ITER).fit(**kw)
        except ConvergenceError:
            continue
        candidates.append((pbg.log_likelihood_, 0, pbg, f"BG/NBD (L2 penalty {pen:g})"))
        break
    if candidates:
        # NBD is BG/NBD with two parameters fixed at a boundary: the penalised BG/NBD
        # must beat it by a likelihood-ratio margin (chi-square, 2 df, 5%) to be kept
        ll, _, model, name = max(
            candidates, key=lambda c: c[0] + (_LR_MARGIN if c[1] else 0.0))
        others = [f"{n}: {v:,.1f}" for v, _, m, n in candidates if m is not model]
        why = f"{failure}. "
        if isinstance(model, _NBD):
            why += ("The data show no measurable drop-out, so purchases follow BG/NBD's "
                    "no-drop-out limit, the NBD model: every customer stays active "
                    f"(P(alive) = 1); {_fmt_params(model.params_)}")
        else:
            why += f"Purchases: {name} ({_fmt_params(model.params_)})"
        why += f"; log-likelihood {ll:,.1f}"
        why += f" (vs {', '.join(others)})." if others else "."
        if not with_nbd and not isinstance(model, _NBD):
            why += " The NBD model did not converge either."
        return _Purchases("NBD" if isinstance(model, _NBD) else "BG/NBD",
                          lambda t: model.conditional_expected_purchases(t, **kw),
                          model.probability_alive(**kw), {name: dict(model.params_)}, why)
    # nothing converges: each customer's repeat purchases per time unit so far; customers
    # observed for no time at all get the population's rate
    pop = float(x.sum() / T.sum()) if T.sum() > 0 else 0.0
    rate = np.where(T > 0, x / np.where(T > 0, T, 1.0), pop)
    return _Purchases("run rate", lambda t: rate * t, np.ones(x.shape), {},
                      f"{failure}; no purchase model converged (BG/NBD with penalties up to "
                      "0.1, NBD), so expected purchases are each customer's run rate so far "
                      "(repeat purchase days / T) and every customer is assumed to stay.")


def _purchase_days(tx: Transactions, cal_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Customer index and net value of each calibration purchase day (same-day orders
    merged, as in :func:`~upsell.kpi.rfm_summary`)."""
    ot = tx.order_table()
    known = ot.customer >= 0
    cust = ot.customer[known].astype(np.int64)
    day = ot.time[known].astype("datetime64[D]").astype(np.int64)
    keep = day <= cal_end
    cust, day, value = cust[keep], day[keep], ot.value[known][keep]
    if not day.size:
        return cust, value
    key = cust * (1 << 32) + (day - day.min())
    ukey, inv = np.unique(key, return_inverse=True)
    return ukey >> 32, np.bincount(inv.reshape(-1), weights=value, minlength=ukey.size)


def _lognormal_spend(cust: np.ndarray, value: np.ndarray, n_customers: int
                     ) -> tuple[np.ndarray, dict[str, float], int]:
    """Empirical-Bayes log-normal spend: expected value of a customer's next purchase day.

    ``log v_ij ~ N(mu_i, sigma^2)``, ``mu_i ~ N(mu, tau^2)``; ``sigma^2`` is the pooled
    within-customer variance, ``mu`` and ``tau^2`` the moments of the customers'
    mean logs (``tau^2 = var(ybar) - mean(sigma^2 / n)``, at least 0). Each
    customer's mean log is shrunk by the credibility ``B = tau^2 / (tau^2 +
    sigma^2 / n)`` and the expected value is ``exp(m + (v + sigma^2) / 2)`` with the
    posterior mean ``m = mu + B (ybar - mu)`` and variance ``v = (1 - B) tau^2``.
    Days with a net value <= 0 (returns) are left out and counted.
    """
    pos = value > 0
    n_bad = int((~pos).sum())
    c, y = cust[pos], np.log(value[pos])
    if not y.size:
        raise UpsellDataError(
            "clv_forecast: no purchase day with a positive value; spend cannot be modelled")
    n = np.bincount(c, minlength=n_customers).astype(np.float64)
    s1 = np.bincount(c, weights=y, minlength=n_customers)
    s2 = np.bincount(c, weights=y * y, minlength=n_customers)
    has = n > 0
    ybar = np.where(has, s1 / np.maximum(n, 1), 0.0)
    within = np.maximum(s2 - n * ybar * ybar, 0.0)
    dof = float(np.sum(np.maximum(n - 1, 0)))
    sigma2 = float(within.sum() / dof) if dof > 0 else 0.0
    mu = float(ybar[has].mean())
    tau2 = max(float(np.mean((ybar[has] - mu) ** 2)) - float(np.mean(sigma2 / n[has])), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        credibility = np.where(has, tau2 / (tau2 + sigma2 / np.maximum(n, 1)), 0.0)
    credibility = np.nan_to_num(credibility, nan=1.0)   # tau2 = sigma2 = 0: own mean
    m = mu + credibility * (ybar - mu)
    v = (1.0 - credibility) * tau2
    spend = np.exp(m + (v + sigma2) / 2.0)
    params = {"mu": mu, "sigma": math.sqrt(sigma2), "tau": math.sqrt(tau2)}
    return spend, params, n_bad


def _spend_model(tx: Transactions, s: RFMSummary, cal_end: np.datetime64
                 ) -> tuple[str, np.ndarray, dict[str, dict[str, float]], str]:
    """Gamma-Gamma when defined, else the log-normal model: the spend model's name,
    each summary customer's expected spend per purchase day, the fitted parameters
    (model name -> parameters) and a note saying why."""
    x = s.frequency.astype(np.float64)
    why = ""
    # a customer whose repeat days net to <= 0 (returns) predicts from m = 0: the
    # population's spend shrunk by their x, not a negative spend
    m = np.maximum(s.monetary_value, 0.0)
    try:
        gg = GammaGamma().fit(frequency=x, monetary_value=m)
    except ConvergenceError as exc:
        why = ("Gamma-Gamma's maximum-likelihood fit diverged (parameters run to 0 or "
               "infinity)" if "diverged" in str(exc) else
               f"Gamma-Gamma could not be fitted ({str(exc).split(';')[0]})")
    else:
        q = gg.params_["q"]
        if q > 1:
            return ("Gamma-Gamma", gg.expected_spend(frequency=x, monetary_value=m),
                    {"Gamma-Gamma": dict(gg.params_)},
                    f"Spend: Gamma-Gamma ({_fmt_params(gg.params_)}).")
        why = (f"Gamma-Gamma's fitted q = {q:.3g} <= 1, so its expected spend is "
               "infinite (spend per purchase is too heavy-tailed for the model)")
    dc, dv = _purchase_days(tx, int(cal_end.astype(np.int64)))
    # the summary's customers are those with a purchase day by calibration_end,
    # in index order: exactly the distinct customers of these days
    sel = np.unique(dc)
    assert sel.size == len(s)
    spend, lparams, n_bad = _lognormal_spend(np.searchsorted(sel, dc), dv, len(s))
    note = (f"{why}; spend per purchase day is each customer's log-normal "
            f"empirical-Bayes estimate: the mean log value of their purchase days, "
            f"shrunk towards the population's ({_fmt_params(lparams)}), whose "
            "mean is finite.")
    if n_bad:
        note += f" {n_bad:,} purchase days with a net value <= 0 were left out of it."
    return "log-normal spend", spend, {"log-normal spend": lparams}, note


def _discounted(cum: Callable[[float], np.ndarray], horizon: float, step: float,
                d: float, shape: tuple[int, ...]) -> np.ndarray:
    """``sum_k [E[Y(t_k)] - E[Y(t_{k-1})]] / (1 + d)^k``, ``t_k = min(k step, horizon)``."""
    prev = np.zeros(shape)
    total = np.zeros(shape)
    for k in range(1, math.ceil(horizon / step - 1e-12) + 1):
        cur = cum(min(k * step, horizon))
        total += (cur - prev) / (1.0 + d) ** k
        prev = cur
    return total


def clv_forecast(transactions: Transactions, *, horizon: float = 52.0, step: float = 52.0 / 12,
                 discount_rate: float = 0.01, margin: float = 1.0, calibration_end: Any = None,
                 freq: str | float = "W") -> ClvForecast:
    """Forecast each customer's lifetime value with the best-defined models the data allow.

    Parameters
    ----------
    transactions : Transactions
        Needs ``customer``, ``time`` and ``price`` (unit prices, or derived from line
        totals); returns are netted as the data report says.
    horizon : float, default 52.0
        Forecast horizon in ``freq`` units (52 weeks).
    step : float, default 52/12
        Discounting period in ``freq`` units (a month of weeks).
    discount_rate : float, default 0.01
        Discount rate per ``step``.
    margin : float, default 1.0
        Margin rate in [0, 1] applied to revenue.
    calibration_end : date-like, optional
        Last day of the history used (default: the last day in the data). Customers
        whose first purchase is later are left out.
    freq : {"W", "D", "M", "Y"} or float, default "W"
        Time unit (or its length in days).

    Returns
    -------
    ClvForecast
        One row per customer; ``method`` names the models and ``note`` says why.

    Raises
    ------
    UpsellDataError
        Missing columns, bad settings, no customer purchasing before
        ``calibration_end``, no purchase with a positive value.

    Notes
    -----
    Purchases (repeat purchase days, same-day orders merged):

    1. BG/NBD (Fader, Hardie & Lee 2005), unpenalised.
    2. If it does not converge: the NBD model (BG/NBD with ``b -> inf``, no
       drop-out) and BG/NBD with the smallest L2 penalty (0.001, 0.01, 0.1) that
       converges compete on the unpenalised log-likelihood; BG/NBD, with two
       more parameters, must gain more than 3.0 (half the 95% quantile of
       chi-square with 2 degrees of freedom) to be preferred. A BG/NBD fit whose
       drop-out parameters run to infinity has its likelihood supremum at the
       NBD model.
    3. If neither converges: each customer's run rate ``x / T``, no drop-out.

    Spend per purchase day:

    1. Gamma-Gamma (Fader & Hardie 2013), unpenalised (a penalty pulls ``q`` towards
       0 and can itself make the mean infinite), when its fitted ``q > 1``.
    2. Otherwise (``q <= 1``: the model's expected spend ``p gamma / (q - 1)`` is
       infinite; or no convergence): a log-normal empirical-Bayes model of each
       purchase day's value, every calibration purchase day counted (the first
       too), each customer's mean log shrunk towards the population's by
       credibility (see the module source, ``_lognormal_spend``). Its mean is
       finite for any data.

    ``clv = margin x spend x sum_k [E[Y(t_k)] - E[Y(t_{k-1})]] / (1 + d)^k`` with
    ``t_k = min(k step, horizon)``, as :func:`customer_lifetime_value`.
    Customers whose first purchase is on ``calibration_end`` (``T = 0``) are kept;
    their forecast is a new customer's.

    Examples
    --------
    >>> import upsell as us
    >>> tx = us.datasets.make_shop(n_customers=300, n_items=60, n_orders=1500).transactions
    >>> f = us.kpi.clv_forecast(tx, horizon=26)
    >>> f.method
    'BG/NBD x Gamma-Gamma'
    >>> bool(np.all(f.clv >= 0)), bool(np.all((f.p_alive >= 0) & (f.p_alive <= 1)))
    (True, True)
    """
    tx = as_transactions(transactions, "transactions")
    horizon = check_float(horizon, "horizon", low=0, low_open=True)
    step = check_float(step, "step", low=0, low_open=True)
    d = check_float(discount_rate, "discount_rate", low=0)
    margin = check_float(margin, "margin", low=0, high=1)
    unit_days = _freq_days(freq)
    tx.require("customer", "clv_forecast")
    times = tx.require("time", "clv_forecast")
    tx.require("price", "clv_forecast")
    if calibration_end is None:
        known = tx.customer >= 0
        if not known.any():
            raise UpsellDataError("`transactions` has no purchase by a known customer")
        cal_end = times[known].max().astype("datetime64[D]")
    else:
        cal_end = as_time(calibration_end, "calibration_end", unit="D")
    s = rfm_summary(tx, calibration_end=cal_end, freq=freq)
    x, t_x, T = s.frequency.astype(np.float64), s.recency, s.T
    shape = x.shape

    purchases = _purchase_model(x, t_x, T)
    spend_name, spend, spend_params, spend_note = _spend_model(tx, s, cal_end)
    params = {**purchases.params, **spend_params}

    # a model's expectation is >= 0; rounding in 1 - (...) can leave -1e-11
    expected = np.maximum(purchases.cum(horizon), 0.0)
    disc = np.maximum(_discounted(purchases.cum, horizon, step, d, shape), 0.0)
    clv = margin * spend * disc
    unit = _UNIT_NAMES.get(freq, f"units of {unit_days:g} days") if isinstance(freq, str) \
        else f"units of {unit_days:g} days"
    discount = f"discounted {d:.3g} per {step:.3g} {unit}" if d > 0 else "undiscounted"
    note = (f"{purchases.note} {spend_note} CLV: expected spend x expected purchases over "
            f"the next {horizon:g} {unit}, {discount}, x margin {margin:g}.")
    freq_name = freq if isinstance(freq, str) and freq in FREQ_DAYS else f"{unit_days:g}D"
    return ClvForecast(
        customers=s.customers, frequency=s.frequency, recency=t_x, T=T,
        p_alive=np.asarray(purchases.p_alive, dtype=np.float64),
        expected_purchases=np.asarray(expected, dtype=np.float64),
        expected_spend=np.asarray(spend, dtype=np.float64), clv=np.asarray(clv, np.float64),
        method=f"{purchases.name} x {spend_name}", note=note,
        params=MappingProxyType({k: MappingProxyType(v) for k, v in params.items()}),
        horizon=horizon, step=step, discount_rate=d, margin=margin, freq=freq_name,
        calibration_end=cal_end)
