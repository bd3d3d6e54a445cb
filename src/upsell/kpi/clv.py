"""Customer lifetime value: RFM summaries, historic and simple CLV, BG/NBD, Pareto/NBD, Gamma-Gamma.

Historic and textbook CLV live here (:func:`historic_clv`, :func:`simple_clv`); the
summary and the models have a module each, all re-exported here:
:mod:`upsell.kpi.rfm` (:func:`rfm_summary`), :mod:`upsell.kpi.bgnbd` (:class:`BetaGeo`),
:mod:`upsell.kpi.paretonbd` (:class:`ParetoNBD`) and :mod:`upsell.kpi.gammagamma`
(:class:`GammaGamma`, :func:`customer_lifetime_value`), on the shared fitting machinery of
``upsell.kpi._likelihood``.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._extras import require
from upsell._validation import as_floats, as_time, as_transactions, check_float
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

# the summary and the models live one per module (as lifetimes does); every name this
# module exported stays importable from here
from upsell.kpi._likelihood import _group_rows as _group_rows  # benchmarks/bench_clv.py
from upsell.kpi.bgnbd import BetaGeo
from upsell.kpi.gammagamma import GammaGamma, customer_lifetime_value
from upsell.kpi.paretonbd import ParetoNBD
from upsell.kpi.rfm import FREQ_DAYS as FREQ_DAYS
from upsell.kpi.rfm import RFMSummary, rfm_summary

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


# ---------------------------------------------------------------------------- historic / simple
@dataclass(frozen=True, slots=True)
class CLVTable(TableResult):
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

    ``to_pandas()`` gives one row per customer, indexed by customer id; ``plot()``
    draws :func:`upsell.kpi.plots.plot_clv` (the distribution of CLV, log-spaced bins).

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

    _title = "CLVTable"
    _plot_function = "upsell.kpi.plots:plot_clv"

    def __len__(self) -> int:
        return int(self.value.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cols = {"orders": self.orders, "revenue": self.revenue, "value": self.value}
        # a notebook shows the customer as a column; the frame has it as its index
        return cols if rows is None else {"customer": self.customers, **cols}

    def _index(self) -> Any:
        pd = require("pandas", f"{type(self).__name__}.to_pandas")
        return pd.Index(self.customers, name="customer")

    def _summary(self) -> str:
        return f"{len(self):,} customers, total value {float(np.nansum(self.value)):,.2f}"


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
    tx = as_transactions(tx, "tx")
    margin = check_float(margin, "margin", low=0, high=1)
    end_s = None if end is None else as_time(end, "end", unit="D").astype("datetime64[s]")
    tx.require("customer", "historic_clv")
    price = tx.require("price", "historic_clv")
    keep = tx.customer >= 0
    if end_s is not None:
        keep &= tx.require("time", "historic_clv(end=...)") < end_s
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
    if end_s is not None:
        okeep &= ot.time < end_s
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
