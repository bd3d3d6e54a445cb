"""Times written as a date column and a time-of-day column, joined by the CSV reader.

Dunnhumby writes a day number (``DAY``) and ``TRANS_TIME`` (``HHMM``); till exports write
``Date`` and ``Time``. ``read_csv(columns={"time": ("DAY", "TRANS_TIME")})`` joins their texts
as ``"date|clock"`` (see ``_columns.split_joined``) and ``_columns.parse_times`` hands such
texts here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

_CLOCK = re.compile(r"^\s*(?:(\d{1,2}):(\d{2})(?::(\d{2}))?|(\d{1,4}))\s*$")


def date_and_clock(text: np.ndarray, time_format: str | None, parse: Callable[..., Any],
                   sep: str = "|") -> tuple[np.ndarray, np.ndarray]:
    """``"date|clock"`` texts (``sep`` between): the date read by ``parse``
    (``_columns.parse_times``), plus the time of day (``HH:MM``, ``HH:MM:SS`` or ``HHMM``;
    blank: the date alone).

    Returns datetime64[s] values (NaT where bad or blank) and the mask of bad texts.

    Examples
    --------
    >>> def iso(d, fmt):  # the dates, as parse_times reads them
    ...     t = d.astype("datetime64[s]")
    ...     return t, np.zeros(d.size, dtype=bool)
    >>> v, bad = date_and_clock(np.array(["2016-10-30|09:58:11", "2016-10-30|", "|0826"]),
    ...                         None, iso)
    >>> [str(t) for t in v], bad.tolist()
    (['2016-10-30T09:58:11', '2016-10-30T00:00:00', 'NaT'], [False, False, True])
    """
    date, _, clock = (np.char.partition(text, sep)[:, j] for j in range(3))
    # ``parse`` reads distinct texts: each date once (Dunnhumby: 711 days under ~1M
    # distinct date-and-clock texts)
    dates, at_d = np.unique(date, return_inverse=True)
    day_u, bad_d = parse(dates, time_format)
    day, bad = day_u[at_d.ravel()], bad_d[at_d.ravel()].copy()
    # a day has at most 1,440 distinct clocks: read each once
    clocks, at = np.unique(clock, return_inverse=True)
    sec_u = np.zeros(clocks.size, dtype=np.int64)
    bad_u = np.zeros(clocks.size, dtype=bool)
    for j, c in enumerate(clocks.tolist()):
        if not c.strip():  # no time of day: the date alone
            continue
        m = _CLOCK.match(c)
        if m is None:
            bad_u[j] = True
            continue
        if m.group(4) is not None:  # HHMM as a number: 826 is 08:26
            h, mi, s = (*divmod(int(m.group(4)), 100), 0)
        else:
            h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h > 23 or mi > 59 or s > 59:
            bad_u[j] = True
        else:
            sec_u[j] = 3600 * h + 60 * mi + s
    at = at.ravel()
    sec = sec_u[at]
    bad |= bad_u[at]
    blank = np.char.strip(date) == ""
    bad |= blank & (np.char.strip(clock) != "")  # a clock without its date
    out = day.astype(np.int64)
    ok = ~bad & ~np.isnat(day)
    out[ok] += sec[ok]
    out[~ok] = np.iinfo(np.int64).min
    return out.view("datetime64[s]"), bad
