"""Customer lifetime value: RFM summaries, historic and simple CLV, BG/NBD, Pareto/NBD, Gamma-Gamma.

The probabilistic models follow the papers closely and are fitted by maximum
likelihood over log-parameters: BG/NBD and Gamma-Gamma by damped Newton steps
on their analytic gradient and Hessian (with :func:`scipy.optimize.minimize`'s
BFGS as the fallback), Pareto/NBD with BFGS on numerical gradients. The likelihood is evaluated once
per *distinct* ``(x, t_x, T)`` row, weighted by how many customers share it, so
a million customers whose times lie on a daily grid cost about as much as the
hundred thousand distinct rows they produce. The grouping is exact: rows merge
only when their floats are equal.

References
----------
- Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers"
  the Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science* 24(2),
  275-284. (BG/NBD; equation numbers below refer to this paper.)
- Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting Your
  Customers: Who Are They and What Will They Do Next? *Management Science* 33(1), 1-24.
- Fader, P. S. & Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model
  and Related Expressions. (Pareto/NBD likelihood, eq. 22-24.)
- Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma Model of Monetary Value.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
from scipy import optimize, special

from upsell._estimator import Estimator
from upsell._validation import as_floats, check_float, to_datetime64
from upsell.data.transactions import Transactions
from upsell.exceptions import ConvergenceError, UpsellDataError
from upsell.persist import (
    CONTENT_ERRORS,
    check_array,
    corrupted,
    fail,
    read_model,
    write_model,
)

__all__ = [
    "BetaGeo",
    "CLVTable",
    "GammaGamma",
    "ParetoNBD",
    "RFMSummary",
    "customer_lifetime_value",
    "historic_clv",
    "rfm_summary",
    "simple_clv",
]

#: Length in days of the time units ``rfm_summary`` understands.
FREQ_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0, "Y": 365.25}

_M = TypeVar("_M", bound="_Model")


# ---------------------------------------------------------------------------- RFM summary
@dataclass(frozen=True, slots=True)
class RFMSummary:
    """Per-customer repeat-purchase summary, the input of the CLV models.

    Attributes
    ----------
    customers : ndarray
        External customer ids (customers whose first purchase is on or before
        ``calibration_end``).
    frequency : ndarray of int64
        ``x``: number of repeat purchase days in the calibration period (purchase
        days after the first one).
    recency : ndarray of float64
        ``t_x``: time from the first to the last purchase day, in ``freq`` units.
    T : ndarray of float64
        Time from the first purchase day to ``calibration_end``, in ``freq`` units.
    monetary_value : ndarray of float64
        Mean net value of the repeat purchase days (the first purchase is left
        out, as in Fader & Hardie 2013); 0 when ``frequency`` is 0.
    first_purchase : ndarray of datetime64[D]
    frequency_holdout, monetary_value_holdout : ndarray or None
        Purchase days in ``(calibration_end, observation_end]`` and their mean value.
    duration_holdout : float or None
        Length of the holdout period in ``freq`` units.
    freq : str
        Time unit: "D", "W", "M" (365.25/12 days) or "Y" (365.25 days).
    calibration_end, observation_end : numpy.datetime64 or None

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["a"] * 3, customer=["x", "x", "y"],
    ...     price=[5.0, 7.0, 2.0], time=["2020-01-01", "2020-01-15", "2020-01-08"])
    >>> s = rfm_summary(tx, calibration_end="2020-01-29")
    >>> s.frequency.tolist(), s.recency.tolist(), s.T.tolist(), s.monetary_value.tolist()
    ([1, 0], [2.0, 0.0], [4.0, 3.0], [7.0, 0.0])
    """

    customers: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray
    first_purchase: np.ndarray
    frequency_holdout: np.ndarray | None
    monetary_value_holdout: np.ndarray | None
    duration_holdout: float | None
    freq: str
    calibration_end: np.datetime64
    observation_end: np.datetime64 | None

    def __len__(self) -> int:
        return int(self.frequency.size)

    def to_pandas(self) -> Any:
        """One row per customer, indexed by customer id (needs pandas).

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1], item=["a"], customer=["x"],
        ...                               time=["2020-01-01"])
        >>> rfm_summary(tx, calibration_end="2020-01-08").to_pandas().columns.tolist()
        ['frequency', 'recency', 'T', 'monetary_value']
        """
        from upsell._extras import require

        pd = require("pandas", "RFMSummary.to_pandas")
        data: dict[str, Any] = {"frequency": self.frequency, "recency": self.recency,
                                "T": self.T, "monetary_value": self.monetary_value}
        if self.frequency_holdout is not None:
            data["frequency_holdout"] = self.frequency_holdout
            data["monetary_value_holdout"] = self.monetary_value_holdout
            data["duration_holdout"] = np.full(len(self), self.duration_holdout)
        return pd.DataFrame(data, index=pd.Index(self.customers, name="customer"))

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        return html_table("RFMSummary", {
            "customer": self.customers, "frequency": self.frequency, "recency": self.recency,
            "T": self.T, "monetary_value": self.monetary_value,
        }, summary=f"{len(self):,} customers, calibration to {self.calibration_end}, "
                   f"time unit {self.freq}")


def _as_day(value: Any, name: str) -> np.datetime64:
    out = to_datetime64(value, "D")
    if np.isnat(out):  # a time of day: keep its date
        out = to_datetime64(value, "s").astype("datetime64[D]")
    if np.isnat(out):
        raise UpsellDataError(f"`{name}` must be a date or ISO 8601 string; got {value!r}")
    return out


def _freq_days(freq: Any) -> float:
    if isinstance(freq, str) and freq in FREQ_DAYS:
        return FREQ_DAYS[freq]
    if isinstance(freq, numbers.Real) and not isinstance(freq, bool) and 0 < float(freq) < np.inf:
        return float(freq)
    raise UpsellDataError(
        f"`freq` must be one of 'D', 'W', 'M', 'Y' or a positive number of days; got {freq!r}")


def _window(calibration_end: Any, observation_end: Any, freq: str | float
            ) -> tuple[float, np.datetime64, np.datetime64 | None]:
    """Days per time unit and the checked calibration / observation end days of a summary."""
    unit = _freq_days(freq)
    cal_end = _as_day(calibration_end, "calibration_end")
    obs_end = None if observation_end is None else _as_day(observation_end, "observation_end")
    if obs_end is not None and obs_end <= cal_end:
        raise UpsellDataError(
            f"`observation_end` must be after `calibration_end` ({cal_end}); got {obs_end}")
    return unit, cal_end, obs_end


def rfm_summary(tx: Transactions, *, calibration_end: Any, observation_end: Any = None,
                freq: str | float = "W") -> RFMSummary:
    """Summarise each customer's purchases as ``(x, t_x, T)`` and mean repeat spend.

    Parameters
    ----------
    tx : Transactions
        Needs the ``customer`` and ``time`` columns; ``price`` for monetary values
        (without it they are NaN). Order values are net of returns as the
        Transactions report says (with the default ``returns="net"``).
    calibration_end : date-like
        Last day of the calibration period (inclusive: purchases on that day count).
    observation_end : date-like, optional
        Last day of a holdout period; adds the holdout columns.
    freq : {"W", "D", "M", "Y"} or float, default "W"
        Time unit of ``recency``, ``T`` and ``duration_holdout`` (or its length in days).

    Returns
    -------
    RFMSummary
        Customers in index order, restricted to those whose first purchase is on
        or before ``calibration_end``.

    Raises
    ------
    UpsellDataError
        Missing columns, an ``observation_end`` not after ``calibration_end``,
        no customer purchasing before ``calibration_end``.

    Notes
    -----
    Purchases on the same calendar day are merged into one purchase (their values
    summed), as in Fader, Hardie & Lee (2005, sec. 4). With first purchase day
    ``d_0``, last calibration purchase day ``d_x`` and ``u`` days per unit:
    ``x`` = number of distinct purchase days in ``[d_0, calibration_end]`` minus 1,
    ``t_x = (d_x - d_0) / u`` and ``T = (calibration_end - d_0) / u``. The monetary
    value is the mean value of the ``x`` repeat days (Fader & Hardie 2013 model
    the spend of repeat transactions). Anonymous orders are left out.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 2, 3, 4], item=["a"] * 4,
    ...     customer=["x"] * 4, price=[5.0, 7.0, 1.0, 3.0],
    ...     time=["2020-01-01", "2020-01-15", "2020-01-15", "2020-02-05"])
    >>> s = rfm_summary(tx, calibration_end="2020-01-29", observation_end="2020-02-26")
    >>> int(s.frequency[0]), float(s.monetary_value[0]), int(s.frequency_holdout[0])
    (1, 8.0, 1)
    """
    if not isinstance(tx, Transactions):
        raise UpsellDataError(f"`tx` must be Transactions; got {type(tx).__name__}")
    unit, cal_end, obs_end = _window(calibration_end, observation_end, freq)
    tx.require("customer", "rfm_summary")
    tx.require("time", "rfm_summary")
    ot = tx.order_table()
    known = ot.customer >= 0
    cust = ot.customer[known].astype(np.int64)
    day = ot.time[known].astype("datetime64[D]").astype(np.int64)
    value = ot.value[known]
    # merge same-day orders of a customer
    key = cust * (1 << 32) + (day - day.min() if day.size else day)
    ukey, inv = np.unique(key, return_inverse=True)
    dval = np.bincount(inv, weights=value, minlength=ukey.size) if not np.isnan(value).all() \
        else np.full(ukey.size, np.nan)
    dcust = ukey >> 32
    dday = (ukey & ((1 << 32) - 1)) + (day.min() if day.size else 0)
    cal = dday <= cal_end.astype(np.int64)
    n_cust = len(tx.customers)
    first = np.full(n_cust, np.iinfo(np.int64).max)
    np.minimum.at(first, dcust, dday)
    in_cal = first <= cal_end.astype(np.int64)
    if not dday.size:
        raise UpsellDataError("`tx` has no purchase by a known customer: nothing to summarise")
    if not in_cal.any():
        raise UpsellDataError(
            f"no customer purchases on or before `calibration_end` {cal_end}; "
            f"the data start at {np.datetime64(int(dday.min()), 'D') if dday.size else 'nothing'}")
    n_days = np.bincount(dcust[cal], minlength=n_cust)
    last = np.full(n_cust, np.iinfo(np.int64).min)
    np.maximum.at(last, dcust[cal], dday[cal])
    total = np.bincount(dcust[cal], weights=dval[cal], minlength=n_cust)
    first_val = np.zeros(n_cust)
    is_first = cal & (dday == first[dcust])
    first_val[dcust[is_first]] = dval[is_first]
    sel = np.flatnonzero(in_cal)
    x = (n_days[sel] - 1).astype(np.int64)
    t_x = (last[sel] - first[sel]) / unit
    T = (cal_end.astype(np.int64) - first[sel]) / unit
    with np.errstate(invalid="ignore", divide="ignore"):
        mon = np.where(x > 0, (total[sel] - first_val[sel]) / np.maximum(x, 1), 0.0)
    f_h = m_h = None
    dur = None
    if obs_end is not None:
        hold = (~cal) & (dday <= obs_end.astype(np.int64))
        n_h = np.bincount(dcust[hold], minlength=n_cust)
        v_h = np.bincount(dcust[hold], weights=dval[hold], minlength=n_cust)
        f_h = n_h[sel].astype(np.int64)
        m_h = np.where(f_h > 0, v_h[sel] / np.maximum(f_h, 1), 0.0)
        dur = float((obs_end - cal_end).astype(np.int64) / unit)
    return RFMSummary(
        customers=tx.customers.ids[sel], frequency=x, recency=t_x.astype(np.float64),
        T=T.astype(np.float64), monetary_value=mon.astype(np.float64),
        first_purchase=first[sel].astype("datetime64[D]"), frequency_holdout=f_h,
        monetary_value_holdout=m_h, duration_holdout=dur,
        freq=freq if isinstance(freq, str) else f"{float(freq):g}D",
        calibration_end=cal_end, observation_end=obs_end,
    )


# ---------------------------------------------------------------------------- historic / simple
@dataclass(frozen=True, slots=True)
class CLVTable:
    """Per-customer value: historic CLV or a model's discounted forecast.

    Attributes
    ----------
    customers : ndarray
        External customer ids.
    orders : ndarray of int64
        Orders counted per customer (0 for a forecast).
    revenue : ndarray of float64
        Net revenue (historic) or expected revenue (forecast).
    value : ndarray of float64
        ``revenue`` x margin: the customer lifetime value.

    Examples
    --------
    >>> t = CLVTable(np.array(["a"]), np.array([2]), np.array([10.0]), np.array([3.0]))
    >>> t.to_pandas().loc["a", "value"]
    np.float64(3.0)
    """

    customers: np.ndarray
    orders: np.ndarray
    revenue: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return int(self.value.size)

    def to_pandas(self) -> Any:
        """One row per customer, indexed by customer id (needs pandas)."""
        from upsell._extras import require

        pd = require("pandas", "CLVTable.to_pandas")
        return pd.DataFrame({"orders": self.orders, "revenue": self.revenue, "value": self.value},
                            index=pd.Index(self.customers, name="customer"))

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        total = float(np.nansum(self.value))
        return html_table("CLVTable", {
            "customer": self.customers, "orders": self.orders, "revenue": self.revenue,
            "value": self.value,
        }, summary=f"{len(self):,} customers, total value {total:,.2f}")

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the distribution of CLV per customer (log-spaced bins) with matplotlib; see :func:`upsell.report.plots.plot_clv`.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; default a new figure (pyplot is used only if already imported).
        **kwargs
            ``title`` and the other options of :func:`~upsell.report.plots.plot_clv`;
            the rest go to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes

        Raises
        ------
        MissingExtraError
            If matplotlib (the ``plots`` extra) is not installed.

        Examples
        --------
        >>> ax = historic_clv(tx).plot()  # doctest: +SKIP
        """
        from upsell.kpi.plots import plot_clv

        return plot_clv(self, ax=ax, **kwargs)


def historic_clv(tx: Transactions, *, margin: float = 1.0, catalog: Any = None,
                 end: Any = None) -> CLVTable:
    """Historic CLV: each customer's net revenue so far, times a margin.

    Parameters
    ----------
    tx : Transactions
        Needs ``customer`` and ``price``; returns are netted as the report says.
    margin : float, default 1.0
        Margin rate in [0, 1] applied to revenue (1 gives revenue).
    catalog : Catalog, optional
        When given, the margin of each line is ``quantity x (price - cost)`` with
        the catalog's unit cost (lines whose item has no cost use ``margin``).
    end : date-like, optional
        Count only orders before this time.

    Returns
    -------
    CLVTable
        One row per customer in index order (customers without orders get 0).

    Notes
    -----
    ``CLV_hist(c) = sum over c's orders of margin x net order value``. It measures
    the past and makes no forecast; see :func:`simple_clv` and the models.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["a"] * 3,
    ...     customer=["x", "x", "y"], price=[10.0, 20.0, 5.0])
    >>> historic_clv(tx, margin=0.5).value.tolist()
    [15.0, 2.5]
    """
    margin = check_float(margin, "margin", low=0, high=1)
    tx.require("customer", "historic_clv")
    price = tx.require("price", "historic_clv")
    keep = tx.customer >= 0
    if end is not None:
        keep &= tx.require("time", "historic_clv(end=...)") < _as_day(end, "end").astype("datetime64[s]")
    rev_line = tx.quantity * price
    val_line = rev_line * margin
    if catalog is not None:
        cost = catalog.align(tx.items).cost[tx.item]
        val_line = np.where(np.isnan(cost), val_line, tx.quantity * (price - cost))
    n = len(tx.customers)
    c = tx.customer[keep]
    revenue = np.bincount(c, weights=rev_line[keep], minlength=n)
    value = np.bincount(c, weights=val_line[keep], minlength=n)
    ot = tx.order_table()
    okeep = ot.customer >= 0
    if end is not None:
        okeep &= ot.time < _as_day(end, "end").astype("datetime64[s]")
    orders = np.bincount(ot.customer[okeep], minlength=n).astype(np.int64)
    return CLVTable(customers=tx.customers.ids, orders=orders, revenue=revenue, value=value)


def simple_clv(*, atv: Any, frequency: Any, margin: Any, lifetime: Any,
               discount_rate: float = 0.0) -> np.ndarray:
    """The textbook CLV: ATV x purchase frequency x margin x expected lifetime, discounted.

    Parameters
    ----------
    atv : float or array-like
        Average transaction value.
    frequency : float or array-like
        Purchases per period (e.g. per year).
    margin : float or array-like
        Margin rate in [0, 1].
    lifetime : float or array-like
        Expected customer lifetime, in periods (may be fractional).
    discount_rate : float, default 0.0
        Discount rate per period.

    Returns
    -------
    ndarray of float64
        Broadcast shape of the inputs (0-d for scalars).

    Notes
    -----
    With yearly value ``V = atv x frequency x margin`` received at the end of each
    period, ``CLV = V x sum_{k=1..L} (1 + d)^-k = V (1 - (1 + d)^-L) / d`` (an
    annuity; ``V x L`` when ``d = 0``). Fractional ``L`` uses the same closed form.

    Examples
    --------
    >>> float(simple_clv(atv=50, frequency=4, margin=0.3, lifetime=3))
    180.0
    >>> round(float(simple_clv(atv=50, frequency=4, margin=0.3, lifetime=3, discount_rate=0.1)), 2)
    149.21
    """
    d = check_float(discount_rate, "discount_rate", low=0)
    arrays = {}
    for name, v in (("atv", atv), ("frequency", frequency), ("margin", margin),
                    ("lifetime", lifetime)):
        a = as_floats(v, name)
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise UpsellDataError(f"`{name}` must be finite and >= 0; got {v!r}")
        arrays[name] = a
    if np.any(arrays["margin"] > 1):
        raise UpsellDataError(f"`margin` must be in [0, 1]; got {margin!r}")
    value = arrays["atv"] * arrays["frequency"] * arrays["margin"]
    life = arrays["lifetime"]
    factor = life if d == 0 else -np.expm1(-life * math.log1p(d)) / d
    return np.asarray(value * factor, dtype=np.float64)


# ---------------------------------------------------------------------------- input checks
def _column(data: Any, name: str) -> Any:
    if isinstance(data, RFMSummary):
        return getattr(data, name)
    if isinstance(data, Mapping):
        return data.get(name)
    if hasattr(data, "columns") and name in data.columns:
        return data[name].to_numpy()
    return None


#: Largest frequency or customer age (T) the CLV models take.
_MAX_RFM = 1e12


def _rfm_arrays(data: Any, frequency: Any, recency: Any, T: Any
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return validated float64 (x, t_x, T) from a summary/table or keyword arrays."""
    if data is not None:
        cols = [_column(data, n) for n in ("frequency", "recency", "T")]
        if any(c is None for c in cols):
            raise UpsellDataError(
                "`data` must be an RFMSummary, a DataFrame or a mapping with columns "
                f"'frequency', 'recency' and 'T'; got {type(data).__name__}")
        frequency, recency, T = cols
    elif frequency is None or recency is None or T is None:
        raise UpsellDataError("pass an RFMSummary as `data`, or `frequency`, `recency` and `T`")
    x = _floats(frequency, "frequency")
    t_x = _floats(recency, "recency")
    tt = _floats(T, "T")
    if not (x.size == t_x.size == tt.size):
        raise UpsellDataError(
            f"`frequency`, `recency` and `T` must have the same length; "
            f"got {x.size}, {t_x.size}, {tt.size}")
    _first_bad(x, (x < 0) | (x != np.round(x)), "frequency", "must be a whole number >= 0")
    # counts and times beyond 1e12 are not customer data (and overflow the closed forms)
    _first_bad(x, x > _MAX_RFM, "frequency", f"must be at most {_MAX_RFM:g}")
    _first_bad(tt, tt > _MAX_RFM, "T", f"must be at most {_MAX_RFM:g}")
    # T = 0 is a customer whose first purchase is on the calibration end day (rfm_summary
    # keeps them): x = t_x = 0 and the likelihood factor is 1, so they add nothing to a
    # fit, and their predictions are those of a new customer
    _first_bad(tt, tt < 0, "T", "must be >= 0")
    _first_bad(tt, (tt == 0) & (x > 0), "T", "must be > 0 when frequency > 0")
    _first_bad(t_x, (t_x < 0) | (t_x > tt * (1 + 1e-12)), "recency", "must be in [0, T]")
    _first_bad(t_x, (x == 0) & (t_x != 0), "recency", "must be 0 when frequency is 0")
    return x, t_x, tt


def _floats(v: Any, name: str) -> np.ndarray:
    a = as_floats(v, name, ndim=1)
    _first_bad(a, ~np.isfinite(a), name, "must be finite")
    return a


def _first_bad(a: np.ndarray, bad: np.ndarray, name: str, what: str) -> None:
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise UpsellDataError(f"`{name}` {what}; position {i} holds {a[i]!r}")


def _times(t: Any, name: str = "t") -> np.ndarray:
    a = as_floats(t, name)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise UpsellDataError(f"`{name}` must be finite and >= 0; got {t!r}")
    return a


def _distinct(col: np.ndarray, whole: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``col`` and each entry's index among them (exact).

    Whole numbers >= 0 below 2**20 (frequencies, packed codes) are ranked by
    counting. Other values are sorted once (:func:`numpy.unique` without an
    inverse, which needs no argsort); when ``v -> rint((v - min) / step)``, with
    ``step`` the smallest gap between distinct values, is one-to-one on them (times
    on a daily or hourly grid), every entry is ranked through a lookup table.
    The map is monotone, so it is one-to-one exactly when the mapped distinct
    values are strictly increasing: equal codes then mean equal floats. Otherwise
    :func:`numpy.unique` ranks them with an argsort.
    """
    if whole and col.size and float(col.max()) < (1 << 20):
        ci = col.astype(np.int64)
        present = np.bincount(ci) > 0
        rank = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(col.dtype), rank[ci]
    u = np.unique(col)
    if u.size == 1:
        return u, np.zeros(col.size, dtype=np.int64)
    lo = u[0]
    step = float(np.min(np.diff(u)))
    if step > 0 and float(u[-1] - lo) < step * (1 << 20):
        ku = np.rint((u - lo) / step).astype(np.int64)
        if np.all(np.diff(ku) > 0):
            lut = np.zeros(int(ku[-1]) + 1, dtype=np.int64)
            lut[ku] = np.arange(u.size)
            return u, lut[np.rint((col - lo) / step).astype(np.int64)]
    u, inv = np.unique(col, return_inverse=True)
    return u, inv.reshape(-1)


#: Packed rank keys must stay below this (int64, with a bit to spare).
_MAX_KEY = 1 << 62


@dataclass(frozen=True, slots=True)
class _Groups:
    """Distinct rows of aligned columns: per column its sorted distinct values and,
    per distinct row, the index of its value among them; and each row's weight."""

    values: list[np.ndarray]
    codes: list[np.ndarray]
    w: np.ndarray

    def column(self, j: int) -> np.ndarray:
        return self.values[j][self.codes[j]]

    def subset(self, keep: np.ndarray) -> _Groups:
        return _Groups(self.values, [c[keep] for c in self.codes], self.w[keep])


def _group_rows(cols: list[np.ndarray], whole: list[bool],
                weights: np.ndarray | None = None) -> _Groups:
    """Group customers into distinct rows of ``cols``, exactly (no rounding of values).

    Each column is replaced by the dense rank of its value; the ranks are packed
    into one int64 key, so a single sort of integers (:func:`numpy.unique`) finds
    the distinct rows, and the ranks are unpacked from the distinct keys. Two rows
    share a key exactly when every column holds equal floats. When the ranks do not
    fit in 63 bits, a :func:`numpy.lexsort` of the ranks does the same job.
    """
    values, codes = zip(*(_distinct(c, wh) for c, wh in zip(cols, whole, strict=True)),
                        strict=True)
    sizes = [max(v.size, 1) for v in values]
    n = cols[0].size
    if math.prod(sizes) < _MAX_KEY:
        key = codes[0].astype(np.int64)
        w: np.ndarray
        for c, k in zip(codes[1:], sizes[1:], strict=True):
            key = key * k + c
        if weights is None:
            ukey, counts = np.unique(key, return_counts=True)
            w = counts.astype(np.float64)
        else:
            ukey, inv = np.unique(key, return_inverse=True)
            w = np.bincount(inv.reshape(-1), weights=weights, minlength=ukey.size)
        out: list[np.ndarray] = []
        for k in sizes[:0:-1]:
            ukey, rem = np.divmod(ukey, k)
            out.append(rem)
        out.append(ukey)
        return _Groups(list(values), out[::-1], w)
    order = np.lexsort(codes[::-1])
    sorted_codes = [c[order] for c in codes]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any([np.diff(c) != 0 for c in sorted_codes], axis=0)
    starts = np.flatnonzero(new)
    wts = np.ones(n) if weights is None else weights[order]
    w = np.add.reduceat(wts, starts)
    return _Groups(list(values), [c[starts] for c in sorted_codes], w)


def _wdot(a: np.ndarray, b: np.ndarray) -> float:
    """Weighted sum without BLAS: waking BLAS threads for one dot product costs
    milliseconds on a busy machine, far more than the sum itself."""
    return float(np.add.reduce(a * b))


@dataclass(frozen=True, slots=True)
class _Rows:
    """Distinct (x, t_x, T) rows with weights, and gather indices into their distinct parts.

    Functions of x alone, of t_x alone, of T alone, or of the pairs (x, t_x) and
    (x, T) are evaluated once per distinct value and gathered; on a daily grid
    these have far fewer values than the rows.
    """

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    w: np.ndarray
    xs: np.ndarray
    xi: np.ndarray
    ts: np.ndarray
    ti: np.ndarray
    Ts: np.ndarray
    Ti: np.ndarray
    xt_x: np.ndarray
    xt_t: np.ndarray
    xt_i: np.ndarray
    xT_x: np.ndarray
    xT_T: np.ndarray
    xT_i: np.ndarray

    @classmethod
    def build(cls, g: _Groups, scale: float) -> _Rows:
        """Rows from grouped ``(x, t_x, T)`` with times multiplied by ``scale``."""
        (xs, ts, Ts), (xi, ti, Ti) = g.values, g.codes
        ts, Ts = ts * scale, Ts * scale
        x, t_x, T = xs[xi], ts[ti], Ts[Ti]
        # the pairs (x, t_x) and (x, T) as packed rank keys, unpacked after np.unique
        k1, i1 = _distinct(xi * ts.size + ti, whole=True)
        k2, i2 = _distinct(xi * Ts.size + Ti, whole=True)
        return cls(x=x, t_x=t_x, T=T, w=g.w, xs=xs, xi=xi, ts=ts, ti=ti, Ts=Ts, Ti=Ti,
                   xt_x=xs[k1 // ts.size], xt_t=ts[k1 % ts.size], xt_i=i1,
                   xT_x=xs[k2 // Ts.size], xT_T=Ts[k2 % Ts.size], xT_i=i2)


# ---------------------------------------------------------------------------- model base
class _Model(Estimator):
    """Shared fitting, parameter access, persistence and repr of the CLV models."""

    _fitted_attr = "params_"

    _model_params: ClassVar[tuple[str, ...]] = ()
    _time_params: ClassVar[tuple[str, ...]] = ()  # parameters measured in time units
    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: int
    n_unique_: int
    n_iter_: int

    def __init__(self, *, penalizer_coef: float = 0.0, max_iter: int = 2000) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, as scikit-learn's ``get_params`` (``deep`` changes nothing)."""
        return super().get_params()

    def __repr__(self) -> str:
        # every parameter, then the fitted ones: unlike the Estimator repr
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        fitted = ""
        if hasattr(self, "params_"):
            fitted = " fitted: " + ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{type(self).__name__}({args}){fitted}"

    def _check_fitted(self) -> dict[str, float]:  # type: ignore[override]
        super()._check_fitted()
        return self.params_

    def _check_init(self) -> tuple[float, int]:
        pen = check_float(self.penalizer_coef, "penalizer_coef", low=0)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral) \
                or self.max_iter < 1:
            raise UpsellDataError(f"`max_iter` must be an integer >= 1; got {self.max_iter!r}")
        return pen, int(self.max_iter)

    def _optimize(self, fun: Callable[[np.ndarray], tuple[float, np.ndarray] | float],
                  x0: np.ndarray, *, jac: bool, advice: str) -> np.ndarray:
        """Minimise over log-parameters; raise ConvergenceError instead of returning garbage."""
        _, max_iter = self._check_init()
        name = type(self).__name__
        with np.errstate(all="ignore"):
            # BFGS, not L-BFGS-B: with 3-4 parameters its dense update is cheaper than
            # L-BFGS-B's per-iteration overhead
            res = optimize.minimize(fun, x0, jac=True if jac else "3-point", method="BFGS",
                                    options={"maxiter": max_iter, "gtol": 1e-9 if jac else 1e-8})
            nit = int(res.nit)
            grad = getattr(res, "jac", None)
            if not res.success and grad is not None and np.all(np.isfinite(grad)) \
                    and float(np.max(np.abs(grad))) < 1e-6 and res.nit > 0:
                # BFGS stops with "precision loss" when the line search can no longer
                # improve an objective that is flat to rounding: converged
                res.success = True
            if not res.success:
                # polish: a simplex search copes with flat valleys where BFGS loses precision
                def value(z: np.ndarray) -> float:
                    out = fun(z)
                    return float(out[0]) if isinstance(out, tuple) else float(out)

                res2 = optimize.minimize(
                    value, res.x, method="Nelder-Mead",
                    options={"maxiter": max_iter, "xatol": 1e-9, "fatol": 1e-13,
                             "adaptive": True})
                nit += int(res2.nit)
                if np.isfinite(res2.fun) and res2.fun <= res.fun:
                    res = res2
                    res.success = res2.success
        self.n_iter_ = nit
        z = np.asarray(res.x, dtype=np.float64)
        f = float(res.fun)
        if not np.isfinite(f) or not np.all(np.isfinite(z)):
            raise ConvergenceError(
                f"{name} fit failed: the log-likelihood is not finite at the optimum "
                f"(log-parameters {z.tolist()}); {advice}")
        # data are rescaled to O(10) before the fit, so sensible parameters lie well
        # inside exp(+-12); beyond it the likelihood has no interior maximum
        if np.any(np.abs(z) > 12):
            params = dict(zip(self._model_params, np.exp(z).tolist(), strict=True))
            raise ConvergenceError(
                f"{name} fit diverged: parameters {params} run to 0 or infinity; {advice}")
        if not res.success:
            raise ConvergenceError(
                f"{name} fit did not converge after {nit} iterations ({res.message}); "
                f"raise `max_iter`, or {advice}")
        return z

    def _newton(self, fun: Callable[..., Any], z0: np.ndarray, *, advice: str) -> np.ndarray:
        """Minimise by damped Newton steps over log-parameters, else fall back to BFGS.

        ``fun(z, 2)`` returns the objective, its gradient and Hessian. Each step
        solves with the Hessian's eigenvalues replaced by their absolute values
        (so a step never climbs where the Hessian is indefinite), is capped at 2
        in log space and halved until the objective decreases enough (Armijo). A
        few steps reach the optimum to rounding; when they do not (a step cannot
        decrease the objective, parameters leave exp(+-12), 50 steps pass) the
        fit restarts from the last point with :meth:`_optimize`, which raises
        ``ConvergenceError`` with ``advice`` if that fails too.
        """
        _, max_iter = self._check_init()
        z = np.asarray(z0, dtype=np.float64).copy()
        with np.errstate(all="ignore"):
            f, g, h = fun(z, 2)
            for it in range(1, min(max_iter, 50) + 1):
                if h is None or not (np.isfinite(f) and np.all(np.isfinite(h))):
                    break
                ev, vec = np.linalg.eigh(h)
                scale = float(np.max(np.abs(ev)))
                step = -vec @ ((vec.T @ g) / np.maximum(np.abs(ev), 1e-10 * max(scale, 1e-300)))
                big = float(np.max(np.abs(step)))
                if big > 2.0:
                    step *= 2.0 / big
                slope = float(g @ step)
                t, accepted = 1.0, False
                while t > 1e-8:
                    f_new, g_new, h_new = fun(z + t * step, 2)
                    if f_new <= f + 1e-4 * t * slope:
                        accepted = True
                        break
                    t *= 0.5
                if not accepted:
                    break
                z = z + t * step
                f, g, h = f_new, g_new, h_new
                if np.any(np.abs(z) > 12):
                    break
                # converged: the gradient is at rounding level and the Hessian shows a
                # strict minimum (mean objective of O(1), so 1e-9 is near machine precision
                # after summing thousands of rows)
                if float(np.max(np.abs(g))) < 1e-9 and h is not None \
                        and float(np.linalg.eigvalsh(h)[0]) > 0:
                    self.n_iter_ = it
                    return z
        return self._optimize(lambda v: fun(v, 1), z, jac=True, advice=advice)

    @classmethod
    def from_params(cls: type[_M], **params: float) -> _M:
        """A model with the given parameters, as if fitted (e.g. published estimates).

        Examples
        --------
        >>> BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426).params_["a"]
        0.793
        """
        names = cls._model_params
        if set(params) != set(names):
            raise UpsellDataError(
                f"{cls.__name__}.from_params needs exactly {', '.join(names)}; "
                f"got {', '.join(params) or 'nothing'}")
        model = cls()
        model.params_ = {n: check_float(params[n], n, low=0, low_open=True) for n in names}
        model.log_likelihood_ = math.nan
        model.n_customers_ = model.n_unique_ = model.n_iter_ = 0
        return model

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the fitted model as ``.npz`` + JSON (no pickle), atomically.

        Examples
        --------
        >>> import tempfile, os
        >>> d = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5).sample(
        ...     2000, T=39.0, random_state=1)
        >>> m = BetaGeo().fit(d)
        >>> p = os.path.join(tempfile.mkdtemp(), "bg.npz")
        >>> m.save(p)
        >>> BetaGeo.load(p).params_ == m.params_
        True
        """
        params = self._check_fitted()
        write_model(path, kind=type(self).__name__, params=self.get_params(),
                    arrays={"params": np.array([params[n] for n in self._model_params])},
                    meta={"param_names": list(self._model_params),
                          # JSON has no NaN: a model made by from_params has no likelihood
                          "log_likelihood": (self.log_likelihood_
                                             if math.isfinite(self.log_likelihood_) else None),
                          "n_customers": self.n_customers_, "n_unique": self.n_unique_,
                          "n_iter": self.n_iter_})

    @classmethod
    def load(cls: type[_M], path: str | os.PathLike[str]) -> _M:
        """Load a model saved by :meth:`save`.

        Raises
        ------
        ModelFileError
            Missing or corrupted file, or a file holding another model kind.
        """
        doc, arrays = read_model(path, kind=cls.__name__)
        f = os.fspath(path)
        try:
            model = cls(**doc["params"])
            model._check_init()  # untrusted file: parameters through fit's checks
            meta = doc["meta"]
            names = meta["param_names"]
            if not isinstance(names, list) or sorted(names) != sorted(cls._model_params):
                raise fail(f, "param_names", f"must name {', '.join(cls._model_params)}; got "
                                             f"{names!r}")
            # a fit's parameters are positive and finite; bounded so predictions cannot overflow
            values = check_array(arrays.get("params"), file=f, member="params",
                                 shape=(len(names),), low=1e-300, high=_MAX_PARAM)
            model.params_ = dict(zip(names, values.astype(float).tolist(), strict=True))
            ll = meta["log_likelihood"]
            if ll is not None and (type(ll) not in (int, float) or not math.isfinite(ll)):
                raise fail(f, "log_likelihood", f"must be a finite number or null; got {ll!r}")
            model.log_likelihood_ = math.nan if ll is None else float(ll)
            for key in ("n_customers", "n_unique", "n_iter"):
                if type(meta[key]) is not int or meta[key] < 0:
                    raise fail(f, key, f"must be an integer >= 0; got {meta[key]!r}")
            model.n_customers_ = meta["n_customers"]
            model.n_unique_ = meta["n_unique"]
            model.n_iter_ = meta["n_iter"]
        except CONTENT_ERRORS as exc:
            raise corrupted(f, cls.__name__, exc) from None
        return model


#: Largest model parameter accepted on load (shape and scale parameters of fitted
#: BG/NBD, Pareto/NBD and Gamma-Gamma models are many orders of magnitude smaller).
_MAX_PARAM = 1e12


class _CountModel(_Model):
    """Transaction models over (x, t_x, T): fit and the per-customer predictions."""

    def _loglik_and_grad(self, p: np.ndarray, rows: _Rows,
                         grad: bool) -> tuple[float, np.ndarray | None]:
        raise NotImplementedError

    def _row_loglik(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _loglik_grad_hess(self, p: np.ndarray, rows: _Rows
                          ) -> tuple[float, np.ndarray, np.ndarray]:
        raise NotImplementedError

    _analytic_grad: ClassVar[bool] = True
    _analytic_hess: ClassVar[bool] = False
    _advice: ClassVar[str] = ""

    def fit(self: _M, data: Any = None, *, frequency: Any = None, recency: Any = None,
            T: Any = None, weights: Any = None) -> _M:
        """Fit by maximum likelihood.

        Parameters
        ----------
        data : RFMSummary, DataFrame or mapping, optional
            With ``frequency``, ``recency`` and ``T`` (as from :func:`rfm_summary`).
        frequency, recency, T : array-like, optional
            The same columns given directly (when ``data`` is None).
        weights : array-like of float, optional
            Number of customers each row stands for (default 1 each).

        Returns
        -------
        self

        Raises
        ------
        UpsellDataError
            Invalid summaries (negative or fractional frequency, recency > T, ...).
        ConvergenceError
            The likelihood has no interior maximum or the optimiser did not converge;
            the message says what to try.
        """
        assert isinstance(self, _CountModel)
        pen, _ = self._check_init()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        if weights is None:
            w0 = np.ones(x.size)
        else:
            w0 = _floats(weights, "weights")
            if w0.size != x.size:
                raise UpsellDataError(f"`weights` must have {x.size} values; got {w0.size}")
            _first_bad(w0, w0 < 0, "weights", "must be >= 0")
        if x.size == 0 or w0.sum() <= 0:
            raise UpsellDataError("no customers to fit: the summary is empty")
        if not np.any(x > 0):
            raise ConvergenceError(
                f"{type(self).__name__} cannot be fitted: no customer made a repeat purchase "
                "(all frequency == 0); lengthen the calibration period")
        # distinct rows, weighted by how many customers (or how much weight) they stand for
        groups = _group_rows([x, t_x, tt], [True, False, False],
                             None if weights is None else w0)
        if weights is not None:
            groups = groups.subset(groups.w > 0)
        uw = groups.w
        n_total = float(uw.sum())
        # rescale time so that the largest T is 10: keeps alpha and beta near 1
        scale = 10.0 / float(groups.values[2][groups.codes[2]].max())
        tp = [i for i, n in enumerate(self._model_params) if n in self._time_params]
        rows = _Rows.build(groups, scale)
        ux, ut, uT = groups.column(0), groups.column(1), groups.column(2)

        def fun(z: np.ndarray, order: int = 1) -> Any:
            p = np.exp(z)
            g: np.ndarray | None
            h: np.ndarray | None = None
            if order == 2:
                ll, g, h = self._loglik_grad_hess(p, rows)
            else:
                ll, g = self._loglik_and_grad(p, rows, self._analytic_grad)
            f = -ll / n_total + pen * float(np.sum(p ** 2))
            if not self._analytic_grad:
                return f if np.isfinite(f) else 1e300
            assert g is not None
            gz = -g * p / n_total + pen * 2 * p ** 2
            if not np.isfinite(f):
                return (1e300, np.zeros_like(z)) if order == 1 else (1e300, np.zeros_like(z), None)
            if order == 1:
                return f, gz
            # chain rule to log-parameters: d2/dz_i dz_j = p_i p_j H_ij + [i = j] p_i g_i
            assert h is not None
            hz = -(h * np.outer(p, p) + np.diag(g * p)) / n_total + np.diag(pen * 4 * p ** 2)
            return f, gz, hz

        z0 = np.zeros(len(self._model_params))
        if self._analytic_hess:
            z = self._newton(fun, z0, advice=self._advice)
        else:
            z = self._optimize(fun, z0, jac=self._analytic_grad, advice=self._advice)
        p = np.exp(z)
        p[tp] /= scale
        self.params_ = dict(zip(self._model_params, p.tolist(), strict=True))
        self.log_likelihood_ = float(np.sum(uw * self._row_loglik(p, ux, ut, uT)))
        self.n_customers_ = round(n_total)
        self.n_unique_ = int(ux.size)
        return self

    def _p(self) -> np.ndarray:
        params = self._check_fitted()
        return np.array([params[n] for n in self._model_params])

    def log_likelihood(self, data: Any = None, *, frequency: Any = None, recency: Any = None,
                       T: Any = None) -> np.ndarray:
        """Log-likelihood of each customer's ``(x, t_x, T)`` at the fitted parameters.

        Examples
        --------
        >>> d = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5).sample(
        ...     2000, T=39.0, random_state=1)
        >>> m = BetaGeo().fit(d)
        >>> bool(np.isclose(m.log_likelihood(d).sum(), m.log_likelihood_))
        True
        """
        p = self._p()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        return self._row_loglik(p, x, t_x, tt)

    def predict(self, t: float, data: Any = None, *, frequency: Any = None,
                recency: Any = None, T: Any = None) -> np.ndarray:
        """Expected purchases in the next ``t`` time units, per customer (alias of
        :meth:`conditional_expected_purchases`, clipped at 0 against rounding)."""
        return np.maximum(self.conditional_expected_purchases(t, data, frequency=frequency,
                                                              recency=recency, T=T), 0.0)

    def conditional_expected_purchases(self, t: float, data: Any = None, *,
                                       frequency: Any = None, recency: Any = None,
                                       T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in ``(T, T + t]`` for each customer."""
        raise NotImplementedError

    def probability_alive(self, data: Any = None, *, frequency: Any = None,
                          recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T) for each customer."""
        raise NotImplementedError


# ---------------------------------------------------------------------------- BG/NBD
class BetaGeo(_CountModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    While alive, a customer buys as a Poisson process with rate ``lambda ~
    Gamma(r, alpha)``; after each purchase they drop out with probability ``p ~
    Beta(a, b)``.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty on the parameters (added to the mean negative log-likelihood);
        a small value (0.001-0.1) keeps fits on thin data from diverging.
    max_iter : int, default 2000
        Optimiser iteration limit.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b`` (``alpha`` in the time unit of the data).
    log_likelihood_ : float
        Total log-likelihood at the optimum (Fader et al.'s LL).
    n_customers_, n_unique_ : int
        Customers fitted and distinct ``(x, t_x, T)`` rows evaluated.
    n_iter_ : int

    Notes
    -----
    Likelihood of one customer (eq. 6)::

        L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
          + 1{x>0} B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))

    evaluated in log form with ``logaddexp``; the gradient in ``(r, alpha, a, b)``
    and Hessian are analytic (digamma and trigamma functions), and the fit runs
    damped Newton steps over log-parameters on the distinct rows (about 7 steps;
    BFGS takes over when a step fails). Predictions: E[X(t)] (eq. 7), P(X(t) = n)
    (eq. 8), E[Y(t) | x, t_x, T] (eq. 10), and P(alive) from Fader, Hardie & Lee's
    note "Computing P(alive) Using the BG/NBD Model" (2008):
    ``1 / (1 + 1{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``.

    Examples
    --------
    >>> truth = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5)
    >>> m = BetaGeo().fit(truth.sample(2000, T=39.0, random_state=1))
    >>> sorted(m.params_)
    ['a', 'alpha', 'b', 'r']
    >>> bool(np.all(np.diff(m.expected_purchases([1, 10, 50])) > 0))
    True
    >>> p = m.probability_alive(frequency=[2], recency=[30], T=[39])
    >>> bool(0 <= p[0] <= 1)
    True
    """

    _model_params = ("r", "alpha", "a", "b")
    _time_params = ("alpha",)
    _analytic_hess = True
    _advice = ("check that `freq` gives sensible time units and that enough customers repeat; "
               "a small `penalizer_coef` (e.g. 0.01) stabilises thin data")

    def _parts(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r, alpha, a, b = p
        c1 = -(r + x) * np.log(alpha + T)
        pos = x > 0
        c2 = np.full(x.shape, -np.inf)
        xp = x[pos]
        c2[pos] = np.log(a) - np.log(b + xp - 1) - (r + xp) * np.log(alpha + t_x[pos])
        return c1, c2, np.logaddexp(c1, c2)

    def _row_loglik(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = p
        _, _, tail = self._parts(p, x, t_x, T)
        return (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
                + special.betaln(a, b + x) - special.betaln(a, b) + tail)

    def _loglik_and_grad(self, p: np.ndarray, rows: _Rows,
                         grad: bool) -> tuple[float, np.ndarray | None]:
        r, alpha, a, b = p
        x, w, xs, xi = rows.x, rows.w, rows.xs, rows.xi
        # logs of alpha + t are taken once per distinct time and gathered
        la_T = np.log(alpha + rows.Ts)[rows.Ti]
        la_t = np.log(alpha + rows.ts)[rows.ti]
        rx = r + x
        c1 = -rx * la_T
        with np.errstate(divide="ignore"):
            lb = np.where(xs > 0, np.log(a) - np.log(np.maximum(b + xs - 1, 1e-300)), -np.inf)[xi]
        c2 = lb - rx * la_t
        d = c2 - c1
        tail = c1 + np.logaddexp(0.0, d)
        lg = (special.gammaln(r + xs) + special.gammaln(b + xs) - special.gammaln(a + b + xs))[xi]
        ll_rows = lg + tail
        ll = float(_wdot(w, ll_rows)) + float(w.sum()) * (
            -special.gammaln(r) + r * np.log(alpha) + special.gammaln(a) - special.betaln(a, b))
        if not grad:
            return ll, None
        w2 = special.expit(d)
        w1 = 1.0 - w2
        wsum = float(w.sum())
        dr = (_wdot(w, special.digamma(r + xs)[xi] - w1 * la_T - w2 * la_t)
              + wsum * (np.log(alpha) - special.digamma(r)))
        dalpha = wsum * r / alpha - _wdot(w * rx, w1 / (alpha + rows.Ts)[rows.Ti]
                                           + w2 / (alpha + rows.ts)[rows.ti])
        dab = (special.digamma(a + b) - special.digamma(a + b + xs))[xi]
        da = _wdot(w, dab + w2 / a)
        with np.errstate(divide="ignore"):
            inv_b = np.where(xs > 0, 1.0 / np.maximum(b + xs - 1, 1e-300), 0.0)[xi]
        db = _wdot(w, special.digamma(b + xs)[xi] + dab - w2 * inv_b) - wsum * special.digamma(b)
        return ll, np.array([dr, dalpha, da, db])

    def _loglik_grad_hess(self, p: np.ndarray, rows: _Rows
                          ) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, gradient and Hessian in ``(r, alpha, a, b)``.

        With ``tail = logaddexp(c1, c2)`` and ``w2 = expit(c2 - c1)``, ``w1 = 1 - w2``:
        ``d2 tail = w1 d2c1 + w2 d2c2 + w1 w2 (dc2 - dc1)(dc2 - dc1)^T``; the terms in
        x alone (gamma functions) and the constants add their trigamma terms.
        """
        r, alpha, a, b = p
        x, w, xs, xi = rows.x, rows.w, rows.xs, rows.xi
        ll, g = self._loglik_and_grad(p, rows, True)
        assert g is not None
        rx = r + x
        la_T = np.log(alpha + rows.Ts)[rows.Ti]
        la_t = np.log(alpha + rows.ts)[rows.ti]
        i_T = (1.0 / (alpha + rows.Ts))[rows.Ti]
        i_t = (1.0 / (alpha + rows.ts))[rows.ti]
        with np.errstate(divide="ignore"):
            inv_bx = np.where(xs > 0, 1.0 / np.maximum(b + xs - 1, 1e-300), 0.0)
            lb = np.where(xs > 0, np.log(a) + np.log(inv_bx), -np.inf)[xi]
        d = lb - rx * (la_t - la_T)
        w2 = special.expit(d)
        w1 = 1.0 - w2
        ww = w * w1 * w2
        ib = inv_bx[xi]
        # dc2 - dc1 per parameter
        dr, dal = la_T - la_t, rx * (i_T - i_t)
        da, db = np.where(xs > 0, 1.0 / a, 0.0)[xi], -ib
        diffs = (dr, dal, da, db)
        h = np.empty((4, 4))
        for i in range(4):
            for j in range(i, 4):
                h[i, j] = h[j, i] = _wdot(ww, diffs[i] * diffs[j])
        wsum = float(w.sum())
        t_rx = special.polygamma(1, r + xs)[xi]
        t_abx = special.polygamma(1, a + b + xs)[xi]
        t_bx = special.polygamma(1, b + xs)[xi]
        t_ab = float(special.polygamma(1, a + b))
        h[0, 0] += _wdot(w, t_rx) - wsum * float(special.polygamma(1, r))
        h[0, 1] += -_wdot(w, w1 * i_T + w2 * i_t) + wsum / alpha
        h[1, 0] = h[0, 1]
        h[1, 1] += _wdot(w * rx, w1 * i_T * i_T + w2 * i_t * i_t) - wsum * r / alpha ** 2
        h[2, 2] += -_wdot(w, t_abx) - _wdot(w, w2) / a ** 2 + wsum * t_ab
        h[2, 3] += -_wdot(w, t_abx) + wsum * t_ab
        h[3, 2] = h[2, 3]
        h[3, 3] += (_wdot(w, t_bx - t_abx + w2 * ib * ib)
                    + wsum * (t_ab - float(special.polygamma(1, b))))
        return ll, g, h

    def sample(self, n_customers: int, *, T: Any,
               random_state: int | np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """Draw customers' ``(x, t_x, T)`` from the model (for simulation and tests).

        Parameters
        ----------
        n_customers : int
        T : float or array-like of shape (n_customers,)
            Observation length of each customer after their first purchase.
        random_state : int or numpy Generator, optional

        Returns
        -------
        dict
            ``frequency``, ``recency`` and ``T`` arrays, usable as ``data``.

        Notes
        -----
        ``lambda ~ Gamma(r, 1/alpha)``, ``p ~ Beta(a, b)``; the number of repeat
        purchases before drop-out is ``J ~ Geometric(p)`` and an immortal customer
        would make ``N ~ Poisson(lambda T)`` purchases, so ``x = min(N, J)``; the
        ``x``-th of ``N`` uniform event times gives ``t_x = T Beta(x, N - x + 1)``.

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> d = m.sample(3000, T=39.0, random_state=0)
        >>> bool(np.all(d["recency"] <= d["T"]))
        True
        >>> fit = BetaGeo().fit(d)
        >>> abs(fit.params_["r"] - 0.243) < 0.05
        True
        """
        from upsell._validation import check_int

        r, alpha, a, b = self._p()
        n = check_int(n_customers, "n_customers", minimum=1)
        tt = np.broadcast_to(_times(T, "T"), (n,)).astype(np.float64)
        _first_bad(tt, tt <= 0, "T", "must be > 0")
        rng = np.random.default_rng(random_state)
        lam = rng.gamma(r, 1.0 / alpha, n)
        p = rng.beta(a, b, n)
        j = rng.geometric(p)
        big_n = rng.poisson(lam * tt)
        x = np.minimum(big_n, j)
        t_x = np.zeros(n)
        pos = x > 0
        t_x[pos] = tt[pos] * rng.beta(x[pos], big_n[pos] - x[pos] + 1)
        return {"frequency": x.astype(np.int64), "recency": t_x, "T": tt.copy()}

    def expected_purchases(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected purchases of a new customer in ``t`` time units (eq. 7).

        Parameters
        ----------
        t : float or array-like
            Horizon(s) in the time unit of the fitted data.

        Returns
        -------
        ndarray of float64, the shape of ``t``.

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> np.round(m.expected_purchases([1, 78]), 4).tolist()
        [0.0533, 1.8605]
        """
        r, alpha, a, b = self._p()
        t = _times(t)
        z = t / (alpha + t)
        am1 = a - 1 if abs(a - 1) > 1e-9 else 1e-9
        h = special.hyp2f1(r, b, a + b - 1, z)
        return np.asarray((a + b - 1) / am1 * (1 - (alpha / (alpha + t)) ** r * h))

    def probability_of_purchases(self, n: Any, t: float) -> np.ndarray:
        """P(X(t) = n): probability that a new customer buys ``n`` times in ``t`` (eq. 8).

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> p = m.probability_of_purchases(np.arange(200), 39.0)
        >>> round(float(p.sum()), 6)
        1.0
        """
        r, alpha, a, b = self._p()
        n_arr = np.asarray(n, dtype=np.float64)
        _first_bad(n_arr.reshape(-1), ((n_arr < 0) | (n_arr != np.round(n_arr))).reshape(-1),
                   "n", "must be a whole number >= 0")
        t = float(_times(t))
        lq = math.log(alpha / (alpha + t))
        lz = math.log(t / (alpha + t)) if t > 0 else -np.inf
        base = (special.betaln(a, b + n_arr) - special.betaln(a, b)
                + special.gammaln(r + n_arr) - special.gammaln(r) - special.gammaln(n_arr + 1)
                + r * lq + np.where(n_arr > 0, n_arr * lz, 0.0))
        first = np.exp(base)
        # 1 - (alpha/(alpha+t))^r sum_{j<n} G(r+j)/(G(r) j!) (t/(alpha+t))^j
        nmax = int(n_arr.max()) if n_arr.size else 0
        j = np.arange(max(nmax, 1), dtype=np.float64)
        terms = np.exp(special.gammaln(r + j) - special.gammaln(r) - special.gammaln(j + 1)
                       + r * lq + np.where(j > 0, j * lz, 0.0))
        cum = np.concatenate([[0.0], np.cumsum(terms)])
        idx = n_arr.astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            second = np.where(
                n_arr > 0,
                np.exp(special.betaln(a + 1, b + n_arr - 1) - special.betaln(a, b))
                * np.maximum(1.0 - cum[np.minimum(idx, cum.size - 1)], 0.0),
                0.0)
        return np.asarray(first + second)

    def conditional_expected_purchases(self, t: float, data: Any = None, *,
                                       frequency: Any = None, recency: Any = None,
                                       T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` units (eq. 10).

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> round(float(m.conditional_expected_purchases(39, frequency=[2], recency=[30.43],
        ...                                               T=[38.86])[0]), 3)
        1.226
        """
        r, alpha, a, b = self._p()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        t = float(_times(t))
        am1 = a - 1 if abs(a - 1) > 1e-9 else 1e-9
        # eq. 10 has ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z), z = t/(alpha+T+t),
        # which overflows to inf * 0 = NaN for heavy buyers (x in the hundreds). Euler's
        # transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the product
        # into (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose series converges fast
        # whatever x, but overflows in turn for a very large `a`; each row takes the form
        # that is finite.
        one_z = (alpha + tt) / (alpha + tt + t)
        z = t / (alpha + tt + t)
        with np.errstate(all="ignore"):
            prod = one_z ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
            bad = ~np.isfinite(prod)
            if bad.any():
                prod[bad] = (one_z[bad] ** (a - 1)
                             * special.hyp2f1(a + b - 1 - r, a - 1, a + b + x[bad] - 1, z[bad]))
        num = (a + b + x - 1) / am1 * (1 - prod)
        return np.asarray(num * self.probability_alive(frequency=x, recency=t_x, T=tt))

    def probability_alive(self, data: Any = None, *, frequency: Any = None,
                          recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive | x, t_x, T) (Fader, Hardie & Lee 2008 note, eq. 2).

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> m.probability_alive(frequency=[0, 2], recency=[0, 5], T=[30, 30]).round(3).tolist()
        [1.0, 0.191]
        """
        r, alpha, a, b = self._p()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        out = np.ones(x.shape)
        pos = x > 0
        xp = x[pos]
        log_odds = (np.log(a) - np.log(b + xp - 1)
                    + (r + xp) * (np.log(alpha + tt[pos]) - np.log(alpha + t_x[pos])))
        out[pos] = special.expit(-log_odds)
        return out


# ---------------------------------------------------------------------------- Pareto/NBD
class ParetoNBD(_CountModel):
    """Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

    While alive, a customer buys as a Poisson process with rate ``lambda ~
    Gamma(r, alpha)``; their lifetime is exponential with rate ``mu ~ Gamma(s, beta)``.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty on the parameters.
    max_iter : int, default 2000

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta`` (``alpha`` and ``beta`` in time units).
    log_likelihood_, n_customers_, n_unique_, n_iter_
        As for :class:`BetaGeo`.

    Notes
    -----
    Likelihood (Fader & Hardie 2005 note, eq. 22)::

        L = G(r+x) alpha^r beta^s / G(r) * [ 1/((alpha+T)^(r+x) (beta+T)^s)
                                             + s/(r+s+x) A0 ]

    where, for ``alpha >= beta`` (eq. 23),
    ``A0 = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t_x)) / (alpha+t_x)^(r+s+x)
    - 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+T)) / (alpha+T)^(r+s+x)``
    and for ``alpha < beta`` (eq. 24) the same with ``s+1 -> r+x`` and ``alpha``,
    ``beta`` swapped. The two terms are combined in log space (``logaddexp``,
    and ``log(p1 - p2) = log p1 + log1p(-p2/p1)``) so neither underflow nor a
    negative difference from rounding reaches the log. The gradient is taken
    numerically (no closed form for the derivatives of 2F1 in its parameters).
    E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] (Schmittlein et
    al. 1987, eq. 17); P(alive) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0)
    (Fader & Hardie 2005 note, eq. 18); E[Y(t) | x, t_x, T] = (r+x)(beta+T) /
    ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive) (eq. 25);
    P(X(t) = n) integrates the NBD count over the lifetime distribution.

    Examples
    --------
    >>> truth = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5)
    >>> m = ParetoNBD().fit(truth.sample(2000, T=39.0, random_state=1))
    >>> sorted(m.params_)
    ['alpha', 'beta', 'r', 's']
    >>> bool(0 <= m.probability_alive(frequency=[1], recency=[2], T=[39])[0] <= 1)
    True
    """

    _model_params = ("r", "alpha", "s", "beta")
    _time_params = ("alpha", "beta")
    _analytic_grad = False
    _advice = BetaGeo._advice

    @staticmethod
    def _log_a0(p: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = p
        rsx = r + s + x
        if alpha >= beta:
            big, b2 = alpha, s + 1.0
        else:
            big, b2 = beta, r + x
        z_t = abs(alpha - beta) / (big + t_x)
        z_T = abs(alpha - beta) / (big + T)
        lp1 = np.log(special.hyp2f1(rsx, b2, rsx + 1, z_t)) - rsx * np.log(big + t_x)
        lp2 = np.log(special.hyp2f1(rsx, b2, rsx + 1, z_T)) - rsx * np.log(big + T)
        # both terms -inf (hyp2f1 underflows for a large frequency): A0 = 0, set below
        with np.errstate(invalid="ignore"):
            diff = np.minimum(lp2 - lp1, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = lp1 + np.log(-np.expm1(diff))
        return np.where(lp2 >= lp1, -np.inf, out)

    def _row_loglik(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = p
        first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        second = np.log(s) - np.log(r + s + x) + self._log_a0(p, x, t_x, T)
        return (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
                + s * np.log(beta) + np.logaddexp(first, second))

    def _loglik_and_grad(self, p: np.ndarray, rows: _Rows,
                         grad: bool) -> tuple[float, np.ndarray | None]:
        r, alpha, s, beta = p
        x = rows.x
        rsx = r + s + x
        big, sec = (alpha, s + 1.0) if alpha >= beta else (beta, None)
        diff = abs(alpha - beta)

        def log_term(xv: np.ndarray, tv: np.ndarray) -> np.ndarray:
            # log 2F1(r+s+x, b2; r+s+x+1; |alpha-beta|/(big+t)) - (r+s+x) log(big+t),
            # once per distinct (x, t) pair
            a1 = r + s + xv
            b2 = sec if sec is not None else r + xv
            return np.log(special.hyp2f1(a1, b2, a1 + 1, diff / (big + tv))) - a1 * np.log(big + tv)

        lp1 = log_term(rows.xt_x, rows.xt_t)[rows.xt_i]
        lp2 = log_term(rows.xT_x, rows.xT_T)[rows.xT_i]
        dl = np.minimum(lp2 - lp1, 0.0)
        with np.errstate(divide="ignore"):
            log_a0 = np.where(lp2 >= lp1, -np.inf, lp1 + np.log(-np.expm1(dl)))
        first = -(r + x) * np.log(alpha + rows.Ts)[rows.Ti] - s * np.log(beta + rows.Ts)[rows.Ti]
        second = np.log(s) - np.log(rsx) + log_a0
        xs, xi = rows.xs, rows.xi
        ll_rows = special.gammaln(r + xs)[xi] + np.logaddexp(first, second)
        ll = float(_wdot(rows.w, ll_rows)) + float(rows.w.sum()) * (
            -special.gammaln(r) + r * np.log(alpha) + s * np.log(beta))
        return ll, None

    def expected_purchases(self, t: Any) -> np.ndarray:
        """E[X(t)] for a new customer (Schmittlein et al. 1987, eq. 17).

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> bool(m.expected_purchases(39.0) > m.expected_purchases(1.0))
        True
        """
        r, alpha, s, beta = self._p()
        t = _times(t)
        return np.asarray(r * beta / alpha * _pow_term(s - 1, np.log1p(t / beta)))

    def probability_alive(self, data: Any = None, *, frequency: Any = None,
                          recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive | x, t_x, T) (Fader & Hardie 2005 note, eq. 18).

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> p = m.probability_alive(frequency=[0, 5, 5], recency=[0, 38, 5], T=[39, 39, 39])
        >>> bool(p[1] > p[2])
        True
        """
        p = self._p()
        r, alpha, s, beta = p
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + tt)
                    + s * np.log(beta + tt) + self._log_a0(p, x, t_x, tt))
        return np.asarray(special.expit(-log_odds))

    def conditional_expected_purchases(self, t: float, data: Any = None, *,
                                       frequency: Any = None, recency: Any = None,
                                       T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T] (Fader & Hardie 2005 note, eq. 25).

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> e = m.conditional_expected_purchases(39, frequency=[0, 2], recency=[0, 30.43],
        ...                                      T=[38.86, 38.86])
        >>> bool(e[1] > e[0] > 0)
        True
        """
        r, alpha, s, beta = self._p()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        t = float(_times(t))
        factor = (r + x) * (beta + tt) / (alpha + tt) * _pow_term(s - 1, np.log1p(t / (beta + tt)))
        return np.asarray(factor * self.probability_alive(frequency=x, recency=t_x, T=tt))

    def probability_of_purchases(self, n: Any, t: float) -> np.ndarray:
        """P(X(t) = n) for a new customer.

        Notes
        -----
        With the purchase rate independent of the lifetime ``tau``,
        ``P(X(t) = n) = S(t) NBD(n; t) + int_0^t g(u) NBD(n; u) du`` where
        ``S(t) = (beta/(beta+t))^s``, ``g(u) = (s/beta) (beta/(beta+u))^(s+1)`` and
        ``NBD(n; u) = G(r+n)/(G(r) n!) (alpha/(alpha+u))^r (u/(alpha+u))^n``; the
        integral is computed by adaptive quadrature.

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> round(float(m.probability_of_purchases(np.arange(200), 39.0).sum()), 6)
        1.0
        """
        from scipy import integrate

        r, alpha, s, beta = self._p()
        n_arr = np.asarray(n, dtype=np.float64)
        _first_bad(n_arr.reshape(-1), ((n_arr < 0) | (n_arr != np.round(n_arr))).reshape(-1),
                   "n", "must be a whole number >= 0")
        t = float(_times(t))
        lc = special.gammaln(r + n_arr) - special.gammaln(r) - special.gammaln(n_arr + 1)

        def nbd(u: float) -> np.ndarray:
            lz = math.log(u / (alpha + u)) if u > 0 else -np.inf
            with np.errstate(invalid="ignore"):
                ln = np.where(n_arr > 0, n_arr * lz, 0.0)
            return np.asarray(np.exp(lc + r * math.log(alpha / (alpha + u)) + ln))

        surv = (beta / (beta + t)) ** s
        if t == 0:
            return np.asarray(nbd(0.0))
        integral, _ = integrate.quad_vec(
            lambda u: s / beta * (beta / (beta + u)) ** (s + 1) * nbd(u), 0.0, t,
            epsabs=1e-12, epsrel=1e-10)
        return np.asarray(surv * nbd(t) + integral)


def _pow_term(e: float, log_base: Any) -> np.ndarray:
    """``(1 - exp(-e * log_base)) / e``, continuous at ``e = 0`` (where it is ``log_base``)."""
    lb = np.asarray(log_base, dtype=np.float64)
    if abs(e) < 1e-10:
        return lb
    return np.asarray(-np.expm1(-e * lb) / e)


# ---------------------------------------------------------------------------- Gamma-Gamma
def _spend_arrays(data: Any, frequency: Any, monetary_value: Any
                  ) -> tuple[np.ndarray, np.ndarray]:
    if data is not None:
        frequency = _column(data, "frequency")
        monetary_value = _column(data, "monetary_value")
        if frequency is None or monetary_value is None:
            raise UpsellDataError(
                "`data` must be an RFMSummary, a DataFrame or a mapping with columns "
                f"'frequency' and 'monetary_value'; got {type(data).__name__}")
    elif frequency is None or monetary_value is None:
        raise UpsellDataError("pass an RFMSummary as `data`, or `frequency` and `monetary_value`")
    x = _floats(frequency, "frequency")
    m = _floats(monetary_value, "monetary_value")
    if x.size != m.size:
        raise UpsellDataError(
            f"`frequency` and `monetary_value` must have the same length; got {x.size}, {m.size}")
    _first_bad(x, (x < 0) | (x != np.round(x)), "frequency", "must be a whole number >= 0")
    return x, m


class GammaGamma(_Model):
    """Gamma-Gamma model of spend per transaction (Fader & Hardie 2013; Colombo & Jiang 1999).

    A customer's transaction values are Gamma(p, nu) with ``nu ~ Gamma(q, gamma)``
    across customers, independent of the purchase process.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
    max_iter : int, default 2000

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``gamma``.
    log_likelihood_ : float
        Log-likelihood of the mean spends of the customers fitted.
    n_customers_, n_unique_, n_iter_ : int
        ``n_customers_`` counts the repeat customers used (``x > 0`` and ``m > 0``).

    Notes
    -----
    Density of the mean spend ``m`` over ``x`` transactions (Fader & Hardie 2013, eq. 3)::

        f(m | p, q, gamma, x) = G(px+q) / (G(px) G(q)) * gamma^q m^(px-1) x^(px)
                                / (gamma + m x)^(px+q)

    fitted over the distinct ``(x, m)`` rows, weighted by their counts, by damped
    Newton steps in ``log(p, q, gamma)`` with the analytic gradient and Hessian
    (digamma and trigamma functions, evaluated once per distinct ``x``); it
    usually converges in 5-8 steps, and falls back to BFGS when a step fails.
    Expected spend given ``(x, m)`` (eq. 5):
    ``E[M | p, q, gamma, m, x] = p (gamma + m x) / (p x + q - 1)``; for ``x = 0``
    the population mean ``p gamma / (q - 1)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(1, 6, 500)
    >>> nu = rng.gamma(4.0, 1 / 20.0, 500)                      # q = 4, gamma = 20
    >>> m = rng.gamma(6.0 * x, 1 / (nu * x))                    # mean of x Gamma(6, nu)
    >>> gg = GammaGamma().fit(frequency=x, monetary_value=m)
    >>> sorted(gg.params_)
    ['gamma', 'p', 'q']
    >>> bool(gg.expected_spend(frequency=[0], monetary_value=[0.0])[0] > 0)
    True
    """

    _model_params = ("p", "q", "gamma")

    def fit(self, data: Any = None, *, frequency: Any = None,
            monetary_value: Any = None) -> GammaGamma:
        """Fit by maximum likelihood on the customers with ``frequency > 0``.

        Customers with no repeat purchase, or with a mean repeat spend that is not
        positive, carry no information about spend and are left out.

        Returns
        -------
        self

        Raises
        ------
        UpsellDataError, ConvergenceError
        """
        pen, _ = self._check_init()
        x, m = _spend_arrays(data, frequency, monetary_value)
        use = (x > 0) & (m > 0)
        if use.sum() < 2:
            raise ConvergenceError(
                f"GammaGamma needs at least 2 customers with a repeat purchase and positive "
                f"spend; got {int(use.sum())}")
        groups = _group_rows([x[use], m[use]], [True, False])
        (xs, ms), (xi, mi), w = groups.values, groups.codes, groups.w
        ux, um = xs[xi], ms[mi]
        scale = 10.0 / float(np.median(um))  # spend in units near 10 keeps gamma near 1
        n_total = float(w.sum())
        # per-row constants; functions of x alone are evaluated per distinct x
        log_xm = (np.log(ms * scale)[mi] + np.log(xs)[xi])
        sxm = ms[mi] * scale * ux
        wx = w * ux
        cw = np.bincount(xi, weights=w, minlength=xs.size)      # weight per distinct x
        cwx, cwx2 = cw * xs, cw * xs * xs
        lm_const = float(_wdot(w, np.log(ms * scale)[mi]))      # sum w log m

        def fun(z: np.ndarray, order: int = 1) -> Any:
            """Mean negative log-likelihood (+ penalty) in log-parameters, its
            gradient, and with ``order=2`` its Hessian."""
            pz = np.exp(z)
            p, q, g = pz
            pxs = p * xs
            lgm = np.log(g + sxm)
            ll = (_wdot(cw, special.gammaln(pxs + q) - special.gammaln(pxs))
                  + n_total * (q * math.log(g) - special.gammaln(q))
                  + p * _wdot(wx, log_xm) - lm_const - _wdot(w * (p * ux + q), lgm))
            f = -ll / n_total + pen * float(np.sum(pz ** 2))
            if not np.isfinite(f):
                return (1e300, np.zeros(3)) if order == 1 else (1e300, np.zeros(3), None)
            d_pq = special.digamma(pxs + q)
            d_px = special.digamma(pxs)
            inv = 1.0 / (g + sxm)
            sw_inv = _wdot(w, inv)
            lp = (_wdot(cwx, d_pq - d_px) + _wdot(wx, log_xm) - _wdot(wx, lgm))
            lq = (_wdot(cw, d_pq) - n_total * (special.digamma(q) - math.log(g))
                  - _wdot(w, lgm))
            lg = n_total * q / g - p * _wdot(wx, inv) - q * sw_inv
            grad_p = np.array([lp, lq, lg])
            gz = -grad_p * pz / n_total + pen * 2 * pz ** 2
            if order == 1:
                return f, gz
            t_pq = special.polygamma(1, pxs + q)
            t_px = special.polygamma(1, pxs)
            inv2 = inv * inv
            hpp = _wdot(cwx2, t_pq - t_px)
            hpq = _wdot(cwx, t_pq)
            hpg = -_wdot(wx, inv)
            hqq = _wdot(cw, t_pq) - n_total * float(special.polygamma(1, q))
            hqg = n_total / g - sw_inv
            hgg = -n_total * q / g ** 2 + p * _wdot(wx, inv2) + q * _wdot(w, inv2)
            h = np.array([[hpp, hpq, hpg], [hpq, hqq, hqg], [hpg, hqg, hgg]])
            # chain rule to log-parameters: d2/dz_i dz_j = th_i th_j H_ij + [i = j] th_i g_i
            hz = -(h * np.outer(pz, pz) + np.diag(grad_p * pz)) / n_total \
                + np.diag(pen * 4 * pz ** 2)
            return f, gz, hz

        # start where E[spend] = p gamma / (q - 1) matches the mean spend (q = 3, p = 2)
        mean_spend = float(_wdot(w, ms[mi] * scale) / n_total)
        z0 = np.log([2.0, 3.0, max(mean_spend, 1e-3)])
        advice = ("spend may not follow the Gamma-Gamma assumptions (check for outliers, "
                  "zero-value orders and a correlation between frequency and spend); try a "
                  "small `penalizer_coef`")
        z = self._newton(fun, z0, advice=advice)
        p, q, g = np.exp(z)
        g /= scale
        self.params_ = {"p": float(p), "q": float(q), "gamma": float(g)}
        self.log_likelihood_ = float(_wdot(w, self._row_loglik(ux, um)))
        self.n_customers_ = round(n_total)
        self.n_unique_ = int(ux.size)
        return self

    def _row_loglik(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        p, q, g = (self.params_[k] for k in self._model_params)
        px = p * x
        return (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
                + q * np.log(g) + (px - 1) * np.log(m) + px * np.log(x)
                - (px + q) * np.log(g + m * x))

    def expected_spend(self, data: Any = None, *, frequency: Any = None,
                       monetary_value: Any = None) -> np.ndarray:
        """E[M | x, m]: expected value of a customer's future transactions (eq. 5).

        Examples
        --------
        >>> gg = GammaGamma.from_params(p=6.25, q=3.74, gamma=15.44)
        >>> gg.expected_spend(frequency=[0, 2], monetary_value=[0.0, 40.0]).round(2).tolist()
        [35.22, 39.14]
        """
        p, q, g = (self._check_fitted()[k] for k in self._model_params)
        x, m = _spend_arrays(data, frequency, monetary_value)
        if q <= 1:
            raise UpsellDataError(
                f"expected spend is infinite for q <= 1 (fitted q = {q:.4g}); the spend data "
                "are too heavy-tailed for the Gamma-Gamma model")
        mm = np.where(x > 0, m, 0.0)
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.asarray(p * (g + mm * x) / (p * x + q - 1))
        _first_bad(out, ~np.isfinite(out), "monetary_value",
                   "is too large: the expected spend overflows float64")
        return out

    def customer_lifetime_value(self, transaction_model: BetaGeo | ParetoNBD, data: Any = None,
                                *, horizon: float, step: float = 1.0, discount_rate: float = 0.0,
                                margin: float = 1.0, frequency: Any = None, recency: Any = None,
                                T: Any = None, monetary_value: Any = None) -> np.ndarray:
        """Discounted CLV over ``horizon`` from a transaction model and this spend model.

        See :func:`customer_lifetime_value`.

        Examples
        --------
        >>> bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> gg = GammaGamma.from_params(p=6.25, q=3.74, gamma=15.44)
        >>> v = gg.customer_lifetime_value(bg, frequency=[2], recency=[30.43], T=[38.86],
        ...                                monetary_value=[40.0], horizon=52, step=4)
        >>> bool(v[0] > 0)
        True
        """
        if data is not None:
            spend = self.expected_spend(data)
        else:
            spend = self.expected_spend(frequency=frequency, monetary_value=monetary_value)
        return customer_lifetime_value(transaction_model, data, spend=spend, horizon=horizon,
                                       step=step, discount_rate=discount_rate, margin=margin,
                                       frequency=frequency, recency=recency, T=T)


def customer_lifetime_value(transaction_model: BetaGeo | ParetoNBD, data: Any = None, *,
                            spend: Any, horizon: float, step: float = 1.0,
                            discount_rate: float = 0.0, margin: float = 1.0,
                            frequency: Any = None, recency: Any = None,
                            T: Any = None) -> np.ndarray:
    """Discounted expected value of each customer's purchases over ``horizon``.

    Parameters
    ----------
    transaction_model : BetaGeo or ParetoNBD
        Fitted.
    data : RFMSummary, DataFrame or mapping, optional
        ``frequency``, ``recency``, ``T`` (or pass them as keywords).
    spend : float or array-like
        Expected value per purchase (e.g. :meth:`GammaGamma.expected_spend`).
    horizon : float
        Forecast horizon in the model's time unit.
    step : float, default 1.0
        Length of one discounting period in the same unit (e.g. ``52/12`` weeks).
    discount_rate : float, default 0.0
        Discount rate per ``step``.
    margin : float, default 1.0
        Margin rate applied to revenue.

    Returns
    -------
    ndarray of float64, one value per customer.

    Notes
    -----
    ``CLV = margin x spend x sum_k [E[Y(t_k)] - E[Y(t_{k-1})]] / (1 + d)^k`` with
    ``t_k = min(k step, horizon)``, ``k = 1..ceil(horizon/step)``, and E[Y(t)] the
    model's conditional expected purchases (the approach of Fader, Hardie & Lee
    2005b, "RFM and CLV", discretised).

    Examples
    --------
    >>> bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> v0 = customer_lifetime_value(bg, frequency=[2], recency=[30.43], T=[38.86], spend=10.0,
    ...                              horizon=39)
    >>> round(float(v0[0]), 2)
    12.26
    """
    if not isinstance(transaction_model, (BetaGeo, ParetoNBD)):
        raise UpsellDataError(
            f"`transaction_model` must be a fitted BetaGeo or ParetoNBD; "
            f"got {type(transaction_model).__name__}")
    horizon = check_float(horizon, "horizon", low=0, low_open=True)
    step = check_float(step, "step", low=0, low_open=True)
    d = check_float(discount_rate, "discount_rate", low=0)
    margin = check_float(margin, "margin", low=0)
    x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
    spend_arr = np.broadcast_to(np.asarray(spend, dtype=np.float64), x.shape)
    n_steps = math.ceil(horizon / step - 1e-12)
    prev = np.zeros(x.shape)
    total = np.zeros(x.shape)
    for k in range(1, n_steps + 1):
        tk = min(k * step, horizon)
        cur = transaction_model.conditional_expected_purchases(tk, frequency=x, recency=t_x, T=tt)
        total += (cur - prev) / (1.0 + d) ** k
        prev = cur
    return np.asarray(margin * spend_arr * total)
