"""Order times from an orders file that dates its orders only relative to each other:
each customer's order number and the days since their previous order (Instacart's
``orders.csv``: ``order_number``, ``days_since_prior_order``), with no date at all.

:func:`timeline_times` lays each customer's orders out back from their last one, which
falls on the day ``time_format="days_since:YYYY-MM-DD"`` names; every customer's history
thus ends on the same day, as when a shop's orders are exported all at once. Read by
:func:`upsell.data._order_files.read_order_headers` before the lines take their order's
time, so the times are cleaned, counted and reported as any orders file's are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.data._sources import _pa, _with_nulls, empty_strings
from upsell.exceptions import UpsellDataError

__all__ = ["TIMELINE_ROLES", "timeline_times"]

#: The orders-file roles that give a time without a date: the customer's order number
#: (1, 2, ...) and the days since that customer's previous order (blank for the first).
TIMELINE_ROLES = ("sequence", "days_since_prior")

_ADVICE = ("pass time_format='days_since:YYYY-MM-DD', the day of each customer's last "
           "order (the day the orders were exported)")


def check_timeline_roles(columns: dict[str, str], time_format: str | None) -> Any:
    """The day each customer's last order falls on (``numpy.datetime64[D]``) when
    ``columns`` (an orders file's roles) map :data:`TIMELINE_ROLES`, else None; raises
    when they are mapped without one another, beside ``time``, without ``customer``, or
    without a ``days_since:`` ``time_format``."""
    mapped = [r for r in TIMELINE_ROLES if r in columns]
    if not mapped:
        return None
    if len(mapped) == 1:
        other = TIMELINE_ROLES[1 - TIMELINE_ROLES.index(mapped[0])]
        raise UpsellDataError(f"`orders_columns` maps `{mapped[0]}` without `{other}`: an "
                              "order's time is the days since the customer's previous order "
                              "(days_since_prior), taken in the customer's order of orders "
                              "(sequence); map both")
    if "time" in columns:
        raise UpsellDataError("`orders_columns` maps `time` beside `sequence` and "
                              "`days_since_prior`; map the time or the two, not both")
    if "customer" not in columns:
        raise UpsellDataError("`orders_columns` maps `sequence` and `days_since_prior`, "
                              "which count each customer's orders: map `customer` too")
    from upsell.data._time_formats import _day_origin

    origin = None if time_format is None else _day_origin(time_format)
    if origin is None:
        raise UpsellDataError(
            "the orders file dates its orders by the days since each customer's previous "
            f"order, not by a date: {_ADVICE}"
            + ("" if time_format is None else f"; got time_format={time_format!r}"))
    return origin


def _numbers(col: Any, header: str, where: Any) -> np.ndarray:
    """A side file's column (text or numbers) as float64, NaN where blank; a value that is
    not a number is refused, naming its row."""
    pa = _pa()[0]
    import pyarrow.compute as pc

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        text = pc.utf8_trim_whitespace(col)
        blank = pc.equal(text, empty_strings(1)[0])  # (a str scalar would import pandas)
        text = pc.if_else(blank, pa.nulls(len(text), text.type), text)
        try:
            col = pc.cast(text, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            for i, v in enumerate(text.to_pylist()):
                try:
                    float(v if v is not None else "nan")
                except ValueError:
                    raise UpsellDataError(f"{where(i)}: `{header}` {v!r} is not a "
                                          "number") from None
            raise
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        col = pc.cast(col, pa.float64())
    else:
        raise UpsellDataError(f"{where(0)}: `{header}` holds {col.type} values, not numbers")
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    return _with_nulls(col, np.float64, np.nan)


def timeline_times(customer: Any, sequence: Any, gap: Any, *, origin: Any,
                   headers: dict[str, str], label: str, files: Any = None,
                   key: Any = None) -> Any:
    """Each order's time (pyarrow ``timestamp[s]``) from its ``customer`` (text), its
    ``sequence`` (the customer's order number) and ``gap`` (days since the customer's
    previous order): every customer's orders are laid out back from their last one, on
    ``origin``. An order without a customer has no time (null: the cleaning rules count
    its lines). ``headers``: role -> header, and ``label`` (and ``files``, several files'
    first rows and labels), for messages. ``key``: the orders' ids; an order listed again
    (two exports that overlap) is not another order of its customer: it takes its first
    listing's time (and if its values differ, the join names the conflict).

    Raises when an order number is not a whole number or repeats for one customer, or
    when a gap is negative, or blank beyond a customer's first order (the row named).

    Examples
    --------
    >>> import numpy as np, pyarrow as pa
    >>> t = timeline_times(pa.array(["a", "a", "b", "a"]), pa.array(["1", "2", "1", "3"]),
    ...                    pa.array(["", "7", "", "3.0"]),
    ...                    origin=np.datetime64("2017-05-01"),
    ...                    headers={"sequence": "order_number",
    ...                             "days_since_prior": "days_since_prior_order"},
    ...                    label="orders.csv")
    >>> [str(v) for v in t.to_pylist()]
    ['2017-04-21 00:00:00', '2017-04-28 00:00:00', '2017-05-01 00:00:00', '2017-05-01 00:00:00']
    """
    pa = _pa()[0]
    import pyarrow.compute as pc

    from upsell.data._columns import row_name

    def where(i: int) -> str:
        return f"{row_name(i, files)} of the orders file {label}"

    seq = _numbers(sequence, headers["sequence"], where)
    days = _numbers(gap, headers["days_since_prior"], where)
    n = seq.size
    bad = np.flatnonzero(~np.isfinite(seq) | (seq != np.round(seq)))
    if bad.size:
        i = int(bad[0])
        raise UpsellDataError(f"{where(i)}: `{headers['sequence']}` "
                              f"{sequence[i].as_py()!r} is not an order number (1, 2, ...)")
    neg = np.flatnonzero(np.isfinite(days) & (days < 0) | np.isinf(days))
    if neg.size:
        i = int(neg[0])
        raise UpsellDataError(f"{where(i)}: "
                              f"`{headers['days_since_prior']}` {gap[i].as_py()!r} is not a "
                              "number of days (0 or more)")
    text = pc.utf8_trim_whitespace(customer)
    enc = pc.dictionary_encode(text.combine_chunks() if hasattr(text, "combine_chunks") else text)
    cust = _with_nulls(enc.indices, np.int32, -1).astype(np.int64)
    words = enc.dictionary.to_pylist()
    from upsell.data._columns import NULL_CUSTOMERS

    # by code (-1, a null, last): an anonymous order (blank, NULL, n/a) has no history
    blank = np.array([not w or w.lower() in NULL_CUSTOMERS for w in words] + [True])
    skip = blank[cust]  # rows whose gap is not read: anonymous orders, orders listed again
    if key is not None:
        key = key.combine_chunks() if hasattr(key, "combine_chunks") else key
        k = _with_nulls(pc.dictionary_encode(key).indices, np.int32, -1)
        codes, at_first = np.unique(k, return_index=True)
        listed = np.zeros(n, dtype=bool)
        listed[at_first] = True
        skip = skip | ~listed
        again = np.flatnonzero(~listed)
        if again.size:  # each listing again says what its first listing says
            one = np.empty(int(codes.max()) + 1, dtype=np.int64)
            one[codes] = at_first
            j = one[k[again]]
            same = ((cust[again] == cust[j]) & (seq[again] == seq[j])
                    & ((days[again] == days[j]) | (np.isnan(days[again]) & np.isnan(days[j]))))
            if not same.all():
                i, f = int(again[~same][0]), int(j[~same][0])
                raise UpsellDataError(
                    f"{where(i)}: order {key[i].as_py()!r} is listed again "
                    f"({row_name(f, files)} first) with another customer, order number or "
                    f"`{headers['days_since_prior']}`; an order has one of each")
    order = np.lexsort((seq, cust))  # stable: an order's first listing before the others
    c, s, d, sk = cust[order], seq[order], days[order], skip[order]
    first = np.ones(n, dtype=bool)
    first[1:] = c[1:] != c[:-1]
    again = np.flatnonzero(~first & (s == np.roll(s, 1)) & ~sk)
    if again.size:
        i, j = int(order[again[0]]), int(order[again[0] - 1])
        raise UpsellDataError(
            f"{where(i)}: customer {words[cust[i]]!r} has order number "
            f"{sequence[i].as_py()!r} twice ({row_name(min(i, j), files)} and "
            f"{row_name(max(i, j), files)}); `{headers['sequence']}` numbers each customer's "
            "orders")
    missing = np.flatnonzero(~first & np.isnan(d) & ~sk)
    if missing.size:
        i = int(order[missing[0]])
        raise UpsellDataError(
            f"{where(i)}: `{headers['days_since_prior']}` is blank, and "
            f"order number {sequence[i].as_py()!r} is not customer {words[cust[i]]!r}'s first")
    d = np.where(first | sk, 0.0, d)  # (an order listed again: its first listing's time)
    start = np.flatnonzero(first)
    total = np.cumsum(d)
    since_first = total - np.repeat(total[start], np.diff(np.append(start, n)))
    end = np.repeat(np.append(start[1:], n) - 1, np.diff(np.append(start, n)))
    back = since_first - since_first[end]  # <= 0: days before the customer's last order
    far = np.flatnonzero(back * 86_400.0 < -(2.0**40))  # about 35,000 years, as numeric_times
    if far.size:
        i = int(order[far[0]])
        raise UpsellDataError(
            f"{where(i)}: customer {words[cust[i]]!r}'s gaps in `{headers['days_since_prior']}`"
            f" add up to {-back[far[0]]:.3g} days before their last order: not a time")
    sec = np.empty(n, dtype=np.int64)
    sec[order] = np.round(back * 86_400.0).astype(np.int64)
    sec += int(np.datetime64(origin, "s").astype(np.int64))
    valid = ~blank[cust]
    # from buffers: pyarrow's numpy converter with a mask imports pandas
    bits = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.timestamp("s"), n, [bits, pa.py_buffer(sec)])
