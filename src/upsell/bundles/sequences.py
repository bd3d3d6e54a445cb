"""Purchase sequences: customers who bought A and later, within a window, bought B."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._validation import as_transactions, check_float, support_count
from upsell.bundles._rulegen import _fraction, _ratio_at_least
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError, UpsellMemoryError

__all__ = ["SequenceRules", "sequence_rules"]

_SECONDS = {"D": 86400, "W": 604800, "h": 3600, "H": 3600, "min": 60, "m": 60, "s": 1}


@dataclass(frozen=True, slots=True)
class SequenceRules(TableResult):
    """Rules "bought A, later bought B", one per ordered item pair, ordered by (A, B).

    Attributes
    ----------
    items : IdIndex
    first, then : ndarray of int32
        Item indices of A and B.
    count : ndarray of int64
        Customers who bought B for the first time after, and within the window of,
        their first purchase of A.
    support, confidence, lift : ndarray of float64
        See :func:`sequence_rules`.
    median_lag_days : ndarray of float64
        Median time from the first A to the first B among those customers, in days.
    n_customers : int

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 2, 3, 4], item=["phone", "case", "phone", "case"],
    ...     customer=["ann", "ann", "bob", "bob"],
    ...     time=["2024-01-01", "2024-01-11", "2024-02-01", "2024-02-03"])
    >>> seq = sequence_rules(tx, within="30D", min_support=1)
    >>> seq.to_pandas()[["first", "then", "count", "median_lag_days"]].values.tolist()
    [['phone', 'case', 2, 6.0]]
    >>> seq.to_pandas().columns.tolist()
    ['first', 'then', 'count', 'support', 'confidence', 'lift', 'median_lag_days']
    """

    items: IdIndex
    first: np.ndarray
    then: np.ndarray
    count: np.ndarray
    support: np.ndarray
    confidence: np.ndarray
    lift: np.ndarray
    median_lag_days: np.ndarray
    n_customers: int

    _title = "SequenceRules"

    def __len__(self) -> int:
        return int(self.count.size)

    def __repr__(self) -> str:
        return f"SequenceRules(n={len(self):,}, n_customers={self.n_customers:,})"

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        """Every column for ``to_pandas()``; the shown rows without ``support``."""
        ids = self.items.ids
        if rows is None:
            return {"first": ids[self.first], "then": ids[self.then], "count": self.count,
                    "support": self.support, "confidence": self.confidence, "lift": self.lift,
                    "median_lag_days": self.median_lag_days}
        n = len(rows)
        return {"first": ids[self.first[:n]], "then": ids[self.then[:n]],
                "count": self.count[:n], "confidence": self.confidence[:n],
                "lift": self.lift[:n], "median_lag_days": self.median_lag_days[:n]}

    def _summary(self) -> str:
        return f"{len(self):,} rules over {self.n_customers:,} customers"


def _window(within: Any) -> int:
    """The window in whole seconds."""
    if isinstance(within, np.timedelta64):
        out = int(within.astype("timedelta64[s]").astype(np.int64))
    elif isinstance(within, dt.timedelta):
        out = int(within.total_seconds())
    elif isinstance(within, str) and (m := re.fullmatch(r"\s*(\d+)\s*(D|W|h|H|min|m|s)\s*", within)):
        out = int(m.group(1)) * _SECONDS[m.group(2)]
    else:
        raise UpsellDataError(
            f"`within` must be a duration such as '90D', '2W', '12h' or a timedelta; got {within!r}")
    if out <= 0:
        raise UpsellDataError(f"`within` must be positive; got {within!r}")
    return out


def sequence_rules(tx: Transactions, *, within: Any = "90D", min_support: float = 0.01,
                   min_confidence: float = 0.0, max_pairs: int = 50_000_000) -> SequenceRules:
    """Find "bought A, later bought B" patterns across customers, with their timing.

    For each customer, only the first purchase of each item counts. The customer
    supports A => B when their first B is strictly later than their first A and no
    more than ``within`` after it (B bought in the same order as A is not "later").

    Parameters
    ----------
    tx : Transactions
        Needs the ``customer`` and ``time`` columns; anonymous lines are ignored.
    within : str or timedelta, default "90D"
        Window after the first A: "<n>D", "<n>W", "<n>h", "<n>min", "<n>s", or a
        ``datetime.timedelta`` / ``numpy.timedelta64``.
    min_support : float or int, default 0.01
        Share of customers (or a count of customers) that must follow A => B.
    min_confidence : float, default 0.0
        Keep rules with confidence >= this.
    max_pairs : int, default 50,000,000
        Stop with :class:`~upsell.exceptions.UpsellMemoryError` rather than build
        more (A, B) occurrences than this (about 40 bytes each).

    Returns
    -------
    SequenceRules

    Raises
    ------
    UpsellDataError
        Missing columns or malformed arguments.
    UpsellMemoryError
        When the window holds more than ``max_pairs`` pairs of first purchases.

    Notes
    -----
    With :math:`C` customers, :math:`n_A` those who bought A, :math:`n_B` those who
    bought B, and :math:`n_{A \\to B}` those who bought B within the window after A:
    support :math:`n_{A \\to B} / C`, confidence :math:`n_{A \\to B} / n_A`, lift
    :math:`\\text{confidence} / (n_B / C)` (against B's base rate), and the median
    of :math:`t_B - t_A` over the supporting customers. Computed with sorts and
    binary searches over all customers at once.

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 2, 3, 4, 5], item=["tent", "stove", "tent", "stove", "stove"],
    ...     customer=["a", "a", "b", "b", "c"],
    ...     time=["2024-05-01", "2024-05-20", "2024-06-01", "2024-12-01", "2024-07-01"])
    >>> seq = sequence_rules(tx, within="90D", min_support=1)
    >>> int(seq.count[0]), float(seq.confidence[0]), float(seq.lift[0])
    (1, 0.5, 0.5)
    """
    tx = as_transactions(tx, "tx")
    cust = tx.require("customer", "sequence_rules")
    time = tx.require("time", "sequence_rules").astype("datetime64[s]").astype(np.int64)
    window = _window(within)
    min_confidence = check_float(min_confidence, "min_confidence", low=0, high=1)
    ok = (cust >= 0) & (tx.quantity > 0)
    c, item, t = cust[ok].astype(np.int64), tx.item[ok].astype(np.int64), time[ok]
    m = len(tx.items)
    if c.size == 0:
        raise UpsellDataError("`tx` has no lines with a customer (every line is anonymous); "
                              "sequence_rules needs customers")
    # first purchase of each (customer, item)
    order = np.lexsort((t, item, c))
    c, item, t = c[order], item[order], t[order]
    head = np.ones(c.size, dtype=bool)
    head[1:] = (c[1:] != c[:-1]) | (item[1:] != item[:-1])
    c, item, t = c[head], item[head], t[head]
    n_cust = int(np.unique(c).size)
    min_count = support_count(min_support, n_cust)
    base = np.bincount(item, minlength=m).astype(np.int64)
    keep = base[item] >= min_count
    c, item, t = c[keep], item[keep], t[keep]
    # events sorted by (customer, time); partners of an event lie in (t, t + window]
    order = np.lexsort((item, t, c))
    c, item, t = c[order], item[order], t[order]
    t0 = t - (t.min() if t.size else 0)
    span = (int(t0.max()) if t0.size else 0) + window + 1
    if c.size and (int(c.max()) + 1) * span >= 2**62:
        raise UpsellDataError("the time span of `tx` is too long for sequence_rules")
    comp = c * span + t0
    lo = np.searchsorted(comp, comp, side="right")
    hi = np.searchsorted(comp, comp + window, side="right")
    n_partners = hi - lo
    total = int(n_partners.sum())
    if total > max_pairs:
        raise UpsellMemoryError(
            f"the window `within`={within!r} holds {total:,} pairs of first purchases, more than "
            f"`max_pairs`={max_pairs:,}; shorten `within`, raise `min_support` or `max_pairs`")
    src = np.repeat(np.arange(c.size, dtype=np.int64), n_partners)
    dst = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n_partners) - n_partners - lo,
                                                       n_partners)
    keys = item[src] * m + item[dst]
    lag = t[dst] - t[src]
    uk, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
    first_i, then_i = uk // m, uk % m
    good = cnt >= min_count
    conf = cnt / base[first_i]
    good &= _ratio_at_least(cnt, base[first_i], _fraction(min_confidence))
    sel = np.flatnonzero(good)
    # median lag per kept pair
    mask = good[inv.reshape(-1)]
    g = inv.reshape(-1)[mask]
    lg = lag[mask]
    o = np.lexsort((lg, g))
    lg = lg[o]
    gsize = cnt[sel]
    gstart = np.cumsum(gsize) - gsize
    med = (lg[gstart + (gsize - 1) // 2] + lg[gstart + gsize // 2]) / 2.0 / 86400.0
    support = cnt[sel] / n_cust
    return SequenceRules(items=tx.items, first=first_i[sel].astype(np.int32),
                         then=then_i[sel].astype(np.int32), count=cnt[sel].astype(np.int64),
                         support=support, confidence=conf[sel],
                         lift=conf[sel] / (base[then_i[sel]] / n_cust),
                         median_lag_days=np.asarray(med, dtype=np.float64), n_customers=n_cust)
