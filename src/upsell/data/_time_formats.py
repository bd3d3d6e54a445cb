"""Advice for time texts that are neither ISO 8601 nor day/month dates: the one common
export format that reads them all, or why none is read (zone names).

Used for the advice of an error only, never to read silently: the user passes the format.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

__all__ = ["other_format_advice"]

_SAMPLE = 2_000  # texts tried per format: a strptime call each
#: unambiguous formats of shop exports and spreadsheets (year first, or a month name)
FORMATS = (
    "%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S",
    "%d-%b-%Y", "%d-%b-%Y %H:%M", "%d-%b-%Y %H:%M:%S", "%d-%b-%y", "%d-%b-%y %H:%M",
    "%d %b %Y", "%d %b %Y %H:%M", "%d %B %Y", "%d %B %Y %H:%M",
    "%b %d, %Y", "%b %d, %Y %H:%M", "%b %d, %Y %I:%M %p", "%B %d, %Y", "%B %d, %Y %I:%M %p",
    "%A, %B %d, %Y", "%a, %d %b %Y %H:%M:%S",
    "%Y-%m-%d %I:%M %p", "%Y-%m-%d %I:%M:%S %p", "%Y%m%d%H%M%S", "%Y%m%d %H%M%S",
)
_ZONE_NAME = re.compile(r"\d\s+([A-Z]{2,5})$")


def other_format_advice(texts: Any) -> str:
    """``"; pass time_format=..."`` when exactly one of :data:`FORMATS` reads every text,
    a word on zone names (``EST``) when the texts end with one, else ``""``.

    Examples
    --------
    >>> other_format_advice(["2021/03/04 10:15", "2021/12/31 08:00"])
    "; pass time_format='%Y/%m/%d %H:%M'"
    >>> other_format_advice(["04-Mar-2021"])
    "; pass time_format='%d-%b-%Y'"
    >>> other_format_advice(["2021-03-04 10:15:32 EST"])[:40]
    '; a time zone name (EST) is not read (on'
    """
    sample = [str(t).strip() for t in list(texts)[:_SAMPLE] if str(t).strip()]
    if not sample:
        return ""
    zone = _ZONE_NAME.search(sample[0])
    if zone and zone.group(1) not in ("AM", "PM"):
        return (f"; a time zone name ({zone.group(1)}) is not read (one name means several "
                "zones): export times with UTC offsets (-0500) or in UTC")
    fits = []
    for fmt in FORMATS:
        try:
            for t in sample:
                _dt.datetime.strptime(t, fmt)
        except ValueError:
            continue
        fits.append(fmt)
    return f"; pass time_format={fits[0]!r}" if len(fits) == 1 else ""
