"""RFM: recency, frequency and monetary value per customer, quantile scores and named segments."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._validation import as_floats, as_transactions, check_int
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError
from upsell.segments._base import SegmentSummary, summarise
from upsell.segments._features import as_time, default_at

__all__ = ["RFM_SEGMENTS", "RFMResult", "quantile_scores", "rfm"]

_DAY = 86_400

#: The widely used RF-score grid: segment -> patterns matched against the two-digit
#: string "<R score><F score>" (regular expressions, whole match). Every one of the
#: 25 cells of the 5 x 5 grid belongs to exactly one segment::
#:
#:            F=1             F=2 F=3            F=4 F=5
#:     R=5    recent          potential loyalist champions
#:     R=4    promising       potential loyalist loyal
#:     R=3    about to sleep  (F=3: need attention) loyal
#:     R=2    hibernating     at risk (F=3, 4)   cannot lose (F=5)
#:     R=1    lost (F=1), hibernating (F=2), at risk (F=3, 4), cannot lose (F=5)
RFM_SEGMENTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "champions": ("5[4-5]",),
    "loyal": ("[3-4][4-5]",),
    "potential loyalist": ("[4-5][2-3]",),
    # one order, very recently; named "new" in upsell 0.1, renamed so that it does not
    # clash with the persona "new" (short tenure, which includes repeat buyers)
    "recent": ("51",),
    "promising": ("41",),
    "need attention": ("33",),
    "about to sleep": ("3[1-2]",),
    "at risk": ("[1-2][3-4]",),
    "cannot lose": ("[1-2]5",),
    "hibernating": ("12", "2[1-2]"),
    "lost": ("11",),
})


@dataclass(frozen=True, slots=True)
class RFMResult(TableResult):
    """Recency, frequency, monetary value, their scores and the named segment per customer.

    Attributes
    ----------
    customers : ndarray
        External ids of the customers with at least one sale order before ``at``.
    recency : ndarray of int64
        Whole days from the customer's last sale order to ``at``.
    frequency : ndarray of int64
        Sale orders (orders with positive net units).
    monetary : ndarray of float64
        Net value: summed quantity x price of every line (returns netted).
    r, f, m : ndarray of int8
        Quantile scores 1 (worst) to ``bins`` (best); recent is good for R.
    segment : ndarray of str
        Named segment from the RF grid of ``score_map``.
    at : numpy.datetime64
        Reference time.
    bins : int
    segments : tuple of str
        Segment names in the order of the score map.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["a", "b", "a"],
    ...     customer=["x", "x", "y"], price=[10.0, 5.0, 2.0],
    ...     time=["2024-01-01", "2024-03-01", "2024-01-15"])
    >>> res = rfm(tx, at="2024-03-02")
    >>> res.recency.tolist(), res.frequency.tolist(), res.monetary.tolist()
    ([1, 47], [2, 1], [15.0, 2.0])
    >>> res.r.tolist(), res.segment.tolist()
    ([5, 1], ['champions', 'lost'])
    >>> res.to_pandas().columns.tolist()
    ['customer', 'recency', 'frequency', 'monetary', 'r', 'f', 'm', 'score', 'segment']
    """

    customers: np.ndarray
    recency: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray
    r: np.ndarray
    f: np.ndarray
    m: np.ndarray
    segment: np.ndarray
    at: np.datetime64
    bins: int
    segments: tuple[str, ...]

    _title = "RFMResult"
    _plot_function = "upsell.segments.plots:plot_rfm"

    def __len__(self) -> int:
        return int(self.customers.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cols: dict[str, Any] = {"customer": self.customers, "recency": self.recency,
                                "frequency": self.frequency, "monetary": self.monetary}
        if rows is None:
            cols.update(r=self.r, f=self.f, m=self.m, score=self.score)
        else:  # a notebook shows the three-digit code of the shown rows
            cols["rfm"] = [f"{a}{b}{c}" for a, b, c in zip(
                self.r[rows].tolist(), self.f[rows].tolist(), self.m[rows].tolist(), strict=True)]
        cols["segment"] = self.segment
        return cols

    def _summary(self) -> str:
        return f"{len(self):,} customers at {self.at}"

    @property
    def score(self) -> np.ndarray:
        """The usual three-digit RFM code, e.g. ``"545"`` (bins up to 9).

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1], item=["a"], customer=["x"],
        ...                               price=[1.0], time=["2024-01-01"])
        >>> rfm(tx).score.tolist()
        ['333']
        """
        digits = np.char.add(np.char.add(self.r.astype(str), self.f.astype(str)),
                             self.m.astype(str))
        return digits

    def summary(self) -> SegmentSummary:
        """Segment sizes and revenue shares, in score-map order, with mean R, F and M values.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 2], item=["a", "a"], customer=["x", "y"],
        ...     price=[3.0, 1.0], time=["2024-01-01", "2024-02-01"])
        >>> s = rfm(tx, at="2024-02-02").summary()
        >>> s.segment.tolist(), s.revenue_share.tolist()
        (['potential loyalist', 'at risk'], [0.25, 0.75])
        """
        return summarise(self.segment, self.monetary,
                         {"recency": self.recency.astype(np.float64),
                          "frequency": self.frequency.astype(np.float64),
                          "monetary": self.monetary}, order=self.segments)


def quantile_scores(values: Any, bins: int = 5) -> np.ndarray:
    """Rank-based scores 1..bins: equal values get equal scores, the best value gets ``bins``.

    A value's score is ``1 + floor(bins * below / (n - top))``, where ``below``
    counts the values strictly smaller and ``top`` the values tied with the
    largest: the smallest value scores 1, the largest ``bins``, and the scores in
    between follow the share of customers strictly behind. Ties share a score
    whatever their size (on retail data about 40% of customers have one order:
    they all get F = 1), and scores never decrease as a value grows. When all
    values are equal (one customer, for instance) they get the middle score
    ``ceil(bins / 2)``; with fewer distinct values than bins some scores are
    simply not used.

    Parameters
    ----------
    values : array-like of float
        Larger is better; negate a "smaller is better" quantity first.
    bins : int, default 5

    Returns
    -------
    ndarray of int8

    Examples
    --------
    >>> quantile_scores([10, 20, 20, 30, 40]).tolist()
    [1, 2, 2, 4, 5]
    >>> quantile_scores([7.0]).tolist(), quantile_scores([1, 2, 3]).tolist()
    ([3], [1, 3, 5])
    """
    bins = check_int(bins, "bins", minimum=1, maximum=100)
    x = as_floats(values, "values", ndim=1)
    if x.size == 0:
        return np.empty(0, dtype=np.int8)
    s = np.sort(x)
    below = np.searchsorted(s, x, side="left")
    top = x.size - int(np.searchsorted(s, s[-1], side="left"))
    span = x.size - top
    if span == 0:
        return np.full(x.size, (bins + 1) // 2, dtype=np.int8)
    return np.clip(1 + np.floor(bins * below / span), 1, bins).astype(np.int8)


def _grid(score_map: Mapping[str, Sequence[str] | str], bins: int) -> tuple[tuple[str, ...],
                                                                           np.ndarray]:
    """Compile a score map into a (bins, bins) table of segment codes, checking coverage."""
    if not isinstance(score_map, Mapping) or not score_map:
        raise UpsellDataError(
            f"`score_map` must be a non-empty mapping of segment -> RF patterns; got {score_map!r}")
    if bins > 9:
        raise UpsellDataError(f"`bins` must be at most 9 to use a score map; got {bins}")
    names = tuple(str(k) for k in score_map)
    table = np.full((bins, bins), -1, dtype=np.int16)
    cells = [f"{r}{f}" for r in range(1, bins + 1) for f in range(1, bins + 1)]
    for code, (name, pats) in enumerate(score_map.items()):
        plist = [pats] if isinstance(pats, str) else list(pats)
        for pat in plist:
            try:
                rx = re.compile(str(pat))
            except re.error as exc:
                raise UpsellDataError(
                    f"`score_map` pattern {pat!r} of segment {name!r} is not a regular "
                    f"expression ({exc})") from None
            for cell in cells:
                if rx.fullmatch(cell):
                    r, f = int(cell[0]) - 1, int(cell[1]) - 1
                    if table[r, f] >= 0 and table[r, f] != code:
                        raise UpsellDataError(
                            f"`score_map`: cell R={cell[0]} F={cell[1]} matches both "
                            f"{names[table[r, f]]!r} and {name!r}; each cell needs one segment")
                    table[r, f] = code
    if (table < 0).any():
        r, f = (int(v) + 1 for v in np.argwhere(table < 0)[0])
        raise UpsellDataError(
            f"`score_map` leaves cell R={r} F={f} without a segment; every one of the "
            f"{bins * bins} cells needs one")
    return names, table


def rfm(tx: Transactions, at: Any = None, bins: int = 5,
        score_map: Mapping[str, Sequence[str] | str] | None = None) -> RFMResult:
    """Recency, frequency and monetary value per customer, scored and segmented.

    Parameters
    ----------
    tx : Transactions
        Needs ``customer`` and ``time``; ``price`` for monetary value (0 without).
    at : datetime or str, optional
        Reference time; orders at or after it are ignored. Default: the day after
        the last order line (midnight).
    bins : int, default 5
        Number of score levels.
    score_map : mapping, optional
        Segment name -> regular expressions matched against ``"<R><F>"`` (e.g.
        ``"[1-2]5"``); every cell of the ``bins x bins`` grid must match exactly one
        segment. Default :data:`RFM_SEGMENTS` (needs ``bins=5``).

    Returns
    -------
    RFMResult
        Customers with at least one sale order before ``at``, in customer-index order.

    Raises
    ------
    UpsellDataError
        Missing columns, a bad ``at`` or ``bins``, a score map that leaves a cell
        uncovered or covers one twice, no customer with an order before ``at``.

    Notes
    -----
    Recency is whole days from the last sale order to ``at``; frequency counts
    orders with positive net units; monetary sums quantity x price over every
    line (returns kept as negative lines reduce it), rounded to 6 decimals so that
    equal spends stay tied whatever the summation order. The R, F and M scores are
    :func:`quantile_scores` of -recency, frequency and monetary: rank-based, so
    ties share a score (every one-order customer gets F = 1) and a customer whose
    last purchase is more recent never gets a lower R score. Segments follow the RF grid popularised by RFM
    practitioners (champions ... lost); M is reported but does not enter it.

    The cell R=5, F=1 (one order, very recently) is the segment "recent". In
    upsell 0.1 it was called "new", which clashed with the persona "new" of
    :class:`Personas` (short tenure, repeat buyers included: 611 customers of
    ``make_shop(random_state=0)`` against 38 here). The old name is one mapping away:
    ``rfm(tx, score_map={("new" if k == "recent" else k): v for k, v in
    RFM_SEGMENTS.items()})``.

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 2, 3, 4], item=["a", "a", "b", "a"], customer=["x", "x", "y", "z"],
    ...     price=[10.0, 10.0, 4.0, 1.0],
    ...     time=["2024-01-05", "2024-03-30", "2024-03-29", "2023-11-02"])
    >>> res = rfm(tx, at="2024-04-01")
    >>> res.segment.tolist()
    ['champions', 'about to sleep', 'lost']
    >>> print(res.summary().to_markdown().splitlines()[2])
    | champions | 1 | 33.3 | 20 | 80.0 | 2.0 | 2.0 | 20.0 |
    """
    as_transactions(tx, "tx")
    bins = check_int(bins, "bins", minimum=1, maximum=100)
    if score_map is None:
        if bins != 5:
            raise UpsellDataError(
                f"`bins` must be 5 for the default score map; got {bins}: pass a "
                f"`score_map` for a {bins} x {bins} grid")
        score_map = RFM_SEGMENTS
    names, table = _grid(score_map, bins)
    tx.require("customer", "rfm")
    tx.require("time", "rfm")
    when = default_at(tx) if at is None else as_time(at)
    ot = tx.order_table()
    n = len(tx.customers)
    ok = (ot.customer >= 0) & (ot.time < when)
    cust = ot.customer[ok]
    value = np.nan_to_num(ot.value[ok])
    sale = ot.units[ok] > 0
    monetary = np.bincount(cust, weights=value, minlength=n)
    frequency = np.bincount(cust[sale], minlength=n)
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, cust[sale], ot.time[ok][sale].astype(np.int64))
    have = frequency > 0
    if not have.any():
        raise UpsellDataError(f"no customer has a sale order before `at` ({when})")
    idx = np.flatnonzero(have)
    recency = (when.astype(np.int64) - last[idx]) // _DAY
    freq = frequency[idx].astype(np.int64)
    # float sums in another order differ in the last bits; rounding keeps equal spends tied
    mon = np.round(monetary[idx], 6)
    r = quantile_scores(-recency, bins)
    f = quantile_scores(freq, bins)
    m = quantile_scores(mon, bins)
    seg = np.asarray(names)[table[r.astype(np.int64) - 1, f.astype(np.int64) - 1]]
    out = RFMResult(customers=tx.customers.ids[idx], recency=recency.astype(np.int64),
                    frequency=freq, monetary=mon, r=r, f=f, m=m, segment=seg, at=when,
                    bins=bins, segments=names)
    for a in (out.recency, out.frequency, out.monetary, out.r, out.f, out.m, out.segment):
        a.flags.writeable = False
    return out
