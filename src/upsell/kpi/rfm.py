"""Repeat-purchase summaries, the input of the CLV models: :func:`rfm_summary`.

Each customer's history is reduced to ``(x, t_x, T)`` (repeat purchase days,
time to the last one, time to the calibration end) and the mean value of the
repeat days, optionally with a holdout period after the calibration end (the
calibration/holdout split of Fader, Hardie & Lee 2005, sec. 4).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._extras import require
from upsell._validation import as_time, as_transactions
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["FREQ_DAYS", "RFMSummary", "rfm_summary"]

#: Length in days of the time units ``rfm_summary`` understands.
FREQ_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0, "Y": 365.25}


@dataclass(frozen=True, slots=True)
class RFMSummary(TableResult):
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

    ``to_pandas()`` gives one row per customer, indexed by customer id, with the
    holdout columns when there is a holdout period.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["a"] * 3, customer=["x", "x", "y"],
    ...     price=[5.0, 7.0, 2.0], time=["2020-01-01", "2020-01-15", "2020-01-08"])
    >>> s = rfm_summary(tx, calibration_end="2020-01-29")
    >>> s.frequency.tolist(), s.recency.tolist(), s.T.tolist(), s.monetary_value.tolist()
    ([1, 0], [2.0, 0.0], [4.0, 3.0], [7.0, 0.0])
    >>> s.to_pandas().columns.tolist()
    ['frequency', 'recency', 'T', 'monetary_value']
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

    _title = "RFMSummary"

    def __len__(self) -> int:
        return int(self.frequency.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cols: dict[str, Any] = {"frequency": self.frequency, "recency": self.recency,
                                "T": self.T, "monetary_value": self.monetary_value}
        if rows is not None:  # a notebook shows the customer as a column, not the holdout
            return {"customer": self.customers, **cols}
        if self.frequency_holdout is not None:
            cols["frequency_holdout"] = self.frequency_holdout
            cols["monetary_value_holdout"] = self.monetary_value_holdout
            cols["duration_holdout"] = np.full(len(self), self.duration_holdout)
        return cols

    def _index(self) -> Any:
        pd = require("pandas", f"{type(self).__name__}.to_pandas")
        return pd.Index(self.customers, name="customer")

    def _summary(self) -> str:
        return (f"{len(self):,} customers, calibration to {self.calibration_end}, "
                f"time unit {self.freq}")


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
    cal_end = as_time(calibration_end, "calibration_end", unit="D")
    obs_end = as_time(observation_end, "observation_end", unit="D", allow_none=True)
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
    tx = as_transactions(tx, "tx")
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
