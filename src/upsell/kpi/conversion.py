"""Offer conversion: accepted / presented with Wilson intervals, and revenue per offer shown.

The offer log is any table of events. Until :class:`upsell.recommend.OfferLog`
exists, pass a mapping of equal-length arrays or a pandas DataFrame with these
columns (the contract OfferLog will hand over, e.g. via an ``events()`` or
``to_dict()`` method returning exactly this mapping):

===============  =========  ==================================================
column           required   meaning
===============  =========  ==================================================
``event``        yes        "presented", "accepted" or "declined"
``kind``         by="kind"  offer kind: "cross_sell", "upsell", "bundle", ...
``channel``      by=...     channel the offer was shown in ("web", "app", ...)
``customer``     segments   customer id (for ``by="segment"``)
``item``         no         offered item id
``offer_id``     no         id tying an offer's events together
``time``         no         event time
``revenue``      no         revenue of an accepted offer (0 / NaN elsewhere)
``policy``       by=...     "name@version" of the policy that made the offer
``explored``     by=...     the slot was filled by exploration (bool)
===============  =========  ==================================================

:meth:`upsell.recommend.OfferLog.to_offer_table` also hands over ``request_id``,
``position``, ``propensity``, ``segment`` and ``probability`` (any of them works
as ``by``). Follow-up events carry the policy and exploration flag of the
presented offer, so ``by="policy"`` and ``by="explored"`` compare policy
versions and exploration with exploitation.

Each ``presented`` row is one offer shown; each ``accepted`` row one offer
taken. ``declined`` rows are counted but do not enter the rate (an offer shown
and ignored is neither accepted nor declined).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._validation import as_segments
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError
from upsell.kpi._common import as_label_array, encode_labels, wilson_interval, z_value

__all__ = ["EVENTS", "EXPLORED_GROUPS", "NO_POLICY", "OFFER_LOG_COLUMNS", "ConversionResult",
           "conversion"]

#: Event names an offer log may hold.
EVENTS = ("presented", "accepted", "declined")
#: Columns :func:`conversion` reads from an offer log (only ``event`` is required).
OFFER_LOG_COLUMNS = ("event", "kind", "channel", "customer", "item", "offer_id", "time",
                     "revenue", "request_id", "position", "policy", "propensity", "explored",
                     "segment", "probability")


@dataclass(frozen=True, slots=True)
class ConversionResult(TableResult):
    """Offer conversion per group (one group "all" when not grouped).

    Attributes
    ----------
    by : str or None
    groups : ndarray
    presented, accepted, declined : ndarray of int64
    rate : ndarray of float64
        accepted / presented (NaN with nothing presented).
    low, high : ndarray of float64
        Wilson score interval of the rate at ``confidence``.
    revenue : ndarray of float64
        Revenue of accepted offers.
    revenue_per_offer : ndarray of float64
        revenue / presented.
    confidence : float

    Notes
    -----
    ``to_pandas()`` gives one row per group; ``plot()`` draws
    :func:`upsell.kpi.plots.plot_conversion` (the rate with its interval).

    Examples
    --------
    >>> r = conversion({"event": ["presented", "presented", "accepted"]})
    >>> r.to_pandas()[["presented", "accepted", "rate"]].values.tolist()
    [[2.0, 1.0, 0.5]]
    """

    by: str | None
    groups: np.ndarray
    presented: np.ndarray
    accepted: np.ndarray
    declined: np.ndarray
    rate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    revenue: np.ndarray
    revenue_per_offer: np.ndarray
    confidence: float

    _title = "ConversionResult"
    _plot_function = "upsell.kpi.plots:plot_conversion"

    def __len__(self) -> int:
        return int(self.rate.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cols = {self.by or "group": self.groups, "presented": self.presented,
                "accepted": self.accepted, "declined": self.declined, "rate": self.rate,
                "low": self.low, "high": self.high, "revenue": self.revenue,
                "revenue_per_offer": self.revenue_per_offer}
        if rows is not None:  # a notebook shows the main columns
            del cols["declined"], cols["revenue_per_offer"]
        return cols

    def _summary(self) -> str:
        return f"{len(self):,} group(s), {self.confidence:.0%} Wilson intervals"


def _columns(offer_log: Any) -> dict[str, np.ndarray]:
    if hasattr(offer_log, "to_offer_table"):  # the OfferLog hand-over, when it exists
        offer_log = offer_log.to_offer_table()
    if isinstance(offer_log, Mapping):
        cols = {str(k): np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v)
                for k, v in offer_log.items()}
    elif hasattr(offer_log, "columns") and hasattr(offer_log, "to_numpy"):
        cols = {str(c): offer_log[c].to_numpy() for c in offer_log.columns}
    else:
        raise UpsellDataError(
            "`offer_log` must be a mapping of equal-length arrays or a DataFrame with an "
            f"'event' column; got {type(offer_log).__name__}")
    for name, col in cols.items():
        if col.ndim != 1:  # a scalar, a 2-D array, or a DataFrame with a repeated column
            raise UpsellDataError(
                f"`offer_log` column {name!r} must be one-dimensional (one value per event; "
                f"a DataFrame must not repeat a column name); got shape {col.shape}")
    if "event" not in cols:
        raise UpsellDataError(
            f"`offer_log` needs an 'event' column ({', '.join(EVENTS)}); "
            f"it has {', '.join(repr(c) for c in cols) or 'no columns'}")
    lengths = {k: v.shape[0] if v.ndim else 1 for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise UpsellDataError(f"`offer_log` columns must have the same length; got {desc}")
    return cols


def _per_row(segments: Any, cols: dict[str, np.ndarray]) -> bool:
    """Whether ``segments`` gives one label per event row rather than per customer."""
    if isinstance(segments, Mapping):
        return False
    if isinstance(segments, tuple) and len(segments) == 2 and all(
            hasattr(part, "__len__") and not isinstance(part, (str, bytes)) for part in segments):
        return False  # (customer ids, labels)
    if isinstance(segments, (list, tuple, np.ndarray)):
        return True
    if hasattr(segments, "customers"):  # a segmenter's result
        return False
    return "customer" not in cols  # a pandas Series: keyed by customer when the log has them


def _segment_labels(segments: Any, cols: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Segment label of every event row ("" for none), read by :func:`as_segments`:
    keyed by the log's ``customer`` column, or one label per row."""
    if _per_row(segments, cols):
        if hasattr(segments, "to_numpy") and not isinstance(segments, np.ndarray):
            segments = segments.to_numpy()  # a Series aligned by position, not by its index
        labels, _ = as_segments(segments, IdIndex(np.arange(n), name="row"), "segments")
        return labels
    if "customer" not in cols:
        raise UpsellDataError("by='segment' with a mapping needs a 'customer' column")
    cust = cols["customer"]
    row = np.arange(n)
    if cust.dtype.kind in "iu":
        key = cust
    elif cust.dtype.kind == "f":  # a pandas column with missing customers: ids are whole
        whole = np.isfinite(cust) & (cust == np.round(cust))
        key, row = cust[whole].astype(np.int64), row[whole]
    else:
        key = cust.astype(str)
        if hasattr(segments, "items") and not isinstance(segments, np.ndarray):
            # text ids: a mapping's keys are compared as text, as the column is
            segments = {str(k): v for k, v in segments.items()}
    uniq, inv = np.unique(key, return_inverse=True)
    by_customer, _ = as_segments(segments, IdIndex(uniq, name="customer"), "segments")
    labels = np.full(n, "", dtype=by_customer.dtype if by_customer.size else str)
    labels[row] = by_customer[inv.reshape(-1)]
    return labels


def conversion(offer_log: Any, *, by: str | None = None, segments: Any = None,
               confidence: float = 0.95) -> ConversionResult:
    """Conversion rate of offers: accepted / presented, overall or by group.

    Parameters
    ----------
    offer_log : mapping of arrays or pandas.DataFrame
        Events with the columns listed in the module docstring.
    by : str, optional
        "kind", "channel", "segment", "policy" (policy version: offers logged
        without one form the group "(none)"), "explored" (groups "exploit" and
        "explore": offers the policy chose vs slots filled by exploration; a
        missing flag is exploitation), or any other column of the log (e.g. "item").
    segments : mapping, Series, pair, segmenter result or array-like, optional
        With ``by="segment"``: labels keyed by the log's ``customer`` column (a
        mapping or pandas Series customer id -> label, a ``(customer ids, labels)``
        pair, a segmenter's result), or a list or array with one label per event
        row. Labels are read as text; events without a label are left out.
    confidence : float, default 0.95
        Level of the Wilson intervals.

    Returns
    -------
    ConversionResult

    Raises
    ------
    UpsellDataError
        Unknown events (naming the row and value), missing columns, a group with
        more acceptances than presentations.

    Notes
    -----
    ``rate = accepted / presented`` with the Wilson (1927) score interval
    ``(p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, which stays
    inside [0, 1] and behaves at rates near 0 or 1 where the Wald interval fails.
    Revenue per offer shown = revenue of accepted offers / presented.

    Examples
    --------
    >>> log = {"event": ["presented"] * 4 + ["accepted", "accepted", "declined"],
    ...        "kind": ["upsell", "upsell", "cross_sell", "cross_sell", "upsell",
    ...                 "cross_sell", "upsell"],
    ...        "revenue": [0, 0, 0, 0, 30.0, 12.0, 0]}
    >>> r = conversion(log, by="kind")
    >>> r.groups.tolist(), r.rate.tolist(), r.revenue_per_offer.tolist()
    (['cross_sell', 'upsell'], [0.5, 0.5], [6.0, 15.0])
    >>> bool(r.low[0] < 0.5 < r.high[0])
    True
    >>> log = {"event": ["presented", "presented", "presented", "accepted"],
    ...        "policy": ["upsell@a1", "upsell@b2", "upsell@b2", "upsell@b2"],
    ...        "explored": [False, False, True, True]}
    >>> r = conversion(log, by="policy")
    >>> r.groups.tolist(), r.rate.tolist()
    (['upsell@a1', 'upsell@b2'], [0.0, 0.5])
    >>> r = conversion(log, by="explored")
    >>> r.groups.tolist(), r.presented.tolist(), r.rate.tolist()
    (['exploit', 'explore'], [2, 1], [0.0, 1.0])
    """
    z = z_value(confidence)
    cols = _columns(offer_log)
    event = np.asarray(cols["event"]).astype(str)
    n = event.size
    bad = ~np.isin(event, EVENTS)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        v = cols["event"][i]
        v = v.item() if isinstance(v, np.generic) else v
        raise UpsellDataError(
            f"offer_log row {i}: `event` {v!r} is not one of {', '.join(EVENTS)}")
    if by is None:
        if segments is not None:
            raise UpsellDataError("`segments` is only used with by='segment'; got by=None")
        codes = np.zeros(n, dtype=np.int64)
        groups = np.array(["all"])
    elif by == "segment":
        if segments is None:
            raise UpsellDataError("by='segment' needs `segments` (customer id -> label)")
        labels = _segment_labels(segments, cols, n)
        has = labels != ""
        codes = np.full(n, -1, dtype=np.int64)
        groups, sub = encode_labels(labels[has])
        codes[has] = sub
    elif by == "explored" and "explored" in cols:
        groups, codes = _explored_codes(cols["explored"])
    elif by == "policy" and "policy" in cols:
        groups, codes = encode_labels(_policy_labels(cols["policy"]))
    else:
        if not isinstance(by, str) or by not in cols or by == "event":
            raise UpsellDataError(
                f"`by` must be None, 'segment', 'policy', 'explored' or a column of the offer log "
                f"({', '.join(c for c in cols if c != 'event')}); got {by!r}")
        col = cols[by]
        if col.dtype.kind in "OfcM":  # a row without a label would be dropped or unsortable
            missing = np.array([v is None or (isinstance(v, float) and v != v)
                                or (isinstance(v, np.generic) and bool(np.isnan(v)))
                                if not isinstance(v, (str, bytes)) else False
                                for v in col.tolist()], dtype=bool) if col.dtype.kind == "O" \
                else (np.isnat(col) if col.dtype.kind == "M" else np.isnan(col))
            if missing.any():
                i = int(np.flatnonzero(missing)[0])
                raise UpsellDataError(f"offer_log row {i}: `{by}` has no value ({col[i]!r}); "
                                      f"every event needs one to be grouped by {by!r}")
        groups, codes = encode_labels(as_label_array(col))
    k = groups.size
    keep = codes >= 0
    if "offer_id" in cols:
        _check_offer_ids(cols["offer_id"], event)
    cnt = {e: np.bincount(codes[keep & (event == e)], minlength=k).astype(np.int64)
           for e in EVENTS}
    over = cnt["accepted"] > cnt["presented"]
    if over.any():  # name the first acceptance beyond the group's presentations
        g = int(np.flatnonzero(over)[0])
        rows = np.flatnonzero(keep & (codes == g) & (event == "accepted"))
        i = int(rows[int(cnt["presented"][g])])
        label = groups[g].item() if isinstance(groups[g], np.generic) else groups[g]
        where = "" if by is None else f" ({by} {label!r})"
        raise UpsellDataError(
            f"offer_log row {i}: {int(cnt['presented'][g]) + 1} accepted but only "
            f"{int(cnt['presented'][g])} presented events{where} by this row; log a "
            f"'presented' event for every offer shown, and accept an offer at most once")
    if "revenue" in cols:
        rev_all = _revenue(cols["revenue"])
        acc = keep & (event == "accepted")
        revenue = np.bincount(codes[acc], weights=rev_all[acc], minlength=k)
    else:
        revenue = np.full(k, np.nan)
    return _from_counts(by, groups, cnt, revenue, z, confidence)


#: Group labels of ``by="explored"``: offers the policy chose, slots filled by exploration.
EXPLORED_GROUPS = ("exploit", "explore")
_EXPLORED_GROUPS = EXPLORED_GROUPS
#: Group label of ``by="policy"`` for offers logged without a policy.
NO_POLICY = "(none)"


def _missing(col: np.ndarray) -> np.ndarray:
    """Rows without a value: None / NaN (object or float columns), NaT."""
    if col.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, (float, np.floating)) and v != v)
                         for v in col.tolist()], dtype=bool)
    if col.dtype.kind == "f":
        return np.isnan(col)
    if col.dtype.kind == "M":
        return np.isnat(col)
    return np.zeros(col.size, dtype=bool)


def _explored_codes(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0 (exploit) / 1 (explore) per row from a bool, 0/1 or text flag; missing is exploit."""
    if col.dtype.kind == "b":
        flag = col.astype(bool)
    else:
        missing = _missing(col)
        vals = col.tolist()
        text = {"true": True, "1": True, "false": False, "0": False, "": False}
        flag = np.zeros(col.size, dtype=bool)
        for i, v in enumerate(vals):
            if missing[i]:
                continue
            if isinstance(v, (bool, np.bool_)) or (isinstance(v, numbers.Real) and v in (0, 1)):
                flag[i] = bool(v)
            elif isinstance(v, str) and v.strip().lower() in text:
                flag[i] = text[v.strip().lower()]
            else:
                raise UpsellDataError(f"offer_log row {i}: `explored` {v!r} is not a flag "
                                      f"(True / False, 1 / 0)")
    return np.array(_EXPLORED_GROUPS), flag.astype(np.int64)


def _policy_labels(col: np.ndarray) -> np.ndarray:
    """Policy labels as text; offers logged without a policy (None, NaN, "") are "(none)"."""
    missing = _missing(col)
    labels = np.array(["" if m else str(v) for v, m in zip(col.tolist(), missing, strict=True)]
                      ) if col.dtype.kind not in "US" else col.astype(str)
    if labels.size == 0:
        return labels.astype(str)
    return np.where(labels == "", NO_POLICY, labels)


def _check_offer_ids(ids: np.ndarray, event: np.ndarray) -> None:
    """Each offer id presented at most once and answered (accepted or declined) at most once."""
    key = ids.astype(str) if ids.dtype.kind == "O" else ids
    # rows without an id (None, NaN, "") tie nothing together: not compared
    if ids.dtype.kind == "O":
        has = np.array([not (v is None or v == "" or (isinstance(v, float) and v != v))
                        for v in ids.tolist()], dtype=bool)
    elif ids.dtype.kind == "f":
        has = ~np.isnan(ids)
    elif ids.dtype.kind in "US":
        has = ids != ids.dtype.type()
    else:
        has = np.ones(ids.size, dtype=bool)
    for what, mask in (("presented", has & (event == "presented")),
                       ("answered", has & ((event == "accepted") | (event == "declined")))):
        rows = np.flatnonzero(mask)
        if rows.size < 2:
            continue
        order = np.argsort(key[rows], kind="stable")
        sk = key[rows][order]
        dup = np.flatnonzero(sk[1:] == sk[:-1])
        if dup.size:
            # the later of the first repeated pair, in row order
            first, second = np.sort(rows[order[[dup[0], dup[0] + 1]]])
            v = ids[second].item() if isinstance(ids[second], np.generic) else ids[second]
            raise UpsellDataError(
                f"offer_log row {int(second)}: offer_id {v!r} was already {what} at row "
                f"{int(first)} ({event[first]}); an offer is presented once and accepted or "
                f"declined at most once")


def _revenue(values: np.ndarray) -> np.ndarray:
    """Revenue as float64: NaN means none (0); text, complex and infinite values are refused."""
    if values.dtype.kind == "c":
        i = int(np.flatnonzero(np.imag(values) != 0)[0]) if (np.imag(values) != 0).any() else 0
        raise UpsellDataError(f"offer_log row {i}: `revenue` must be real numbers; "
                              f"got {values[i].item()!r}")
    try:
        rev = values.astype(np.float64) if values.dtype.kind in "biuf" else np.array(
            [float(v) if v is not None else np.nan for v in values.tolist()], dtype=np.float64)
    except (TypeError, ValueError):
        for i, v in enumerate(values.tolist()):
            try:
                if isinstance(v, complex):
                    raise TypeError(v)
                float(v) if v is not None else None
            except (TypeError, ValueError):
                raise UpsellDataError(f"offer_log row {i}: `revenue` {v!r} is not a number"
                                      ) from None
        raise  # pragma: no cover - some value failed above
    if np.isinf(rev).any():
        i = int(np.flatnonzero(np.isinf(rev))[0])
        raise UpsellDataError(f"offer_log row {i}: `revenue` {float(rev[i])!r} is not finite")
    return np.where(np.isnan(rev), 0.0, rev)


def _from_counts(by: str | None, groups: np.ndarray, cnt: dict[str, np.ndarray],
                 revenue: np.ndarray, z: float, confidence: float) -> ConversionResult:
    """Rates, intervals and revenue per offer from per-group event counts.

    Shared with :func:`upsell.spark.conversion`, which counts in Spark.
    """
    pres, accd = cnt["presented"], cnt["accepted"]
    over = accd > pres
    if over.any():
        g = int(np.flatnonzero(over)[0])
        raise UpsellDataError(
            f"offer_log group {groups[g]!r}: {int(accd[g])} accepted but only {int(pres[g])} "
            f"presented events; log a 'presented' event for every offer shown")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(pres > 0, accd / np.maximum(pres, 1), np.nan)
        rpo = np.where(pres > 0, revenue / np.maximum(pres, 1), np.nan)
    low, high = wilson_interval(accd, pres, z)
    return ConversionResult(by=by, groups=groups, presented=pres, accepted=accd,
                            declined=cnt["declined"], rate=rate, low=low, high=high,
                            revenue=revenue, revenue_per_offer=rpo,
                            confidence=float(confidence))
