"""Time formats beyond ISO 8601: the number formats (``epoch``, ``epoch_ms``, ``epoch_us``,
``epoch_ns``, ``days_since:YYYY-MM-DD``, ``excel``) and the advice for time texts that are
neither ISO 8601 nor day/month dates (the one common export format that reads them all, or why none is read).

The advice is for an error only, never to read silently: the user passes the format.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

import numpy as np

from upsell.exceptions import UpsellDataError

__all__ = ["EPOCH", "TIME_OF_DAY", "check_time_format", "number_time_advice", "numeric_times",
           "other_format_advice"]

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


#: a time of day without a date: ``08:26``, ``8:26:05``, ``8:26 PM``
TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?( ?[AaPp][Mm])?$")


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
    >>> other_format_advice(["2022-09-12 09:35:35 UTC"])  # (read as it is)
    ''
    >>> other_format_advice(["08:26", "17:05"])
    '; these are times of day without a date: map time to the date column and this one joined (a tuple of the two headers, DATE+TIME on the command line)'
    """
    sample = [str(t).strip() for t in list(texts)[:_SAMPLE] if str(t).strip()]
    if not sample:
        return ""
    if all(TIME_OF_DAY.match(t) for t in sample):  # a bakery's "date" and "time" columns
        return ("; these are times of day without a date: map time to the date column and "
                "this one joined (a tuple of the two headers, DATE+TIME on the command line)")
    zone = _ZONE_NAME.search(sample[0])
    if zone and zone.group(1) not in ("AM", "PM", "UTC"):  # (UTC is read: one zone)
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


#: time formats that are numbers, not text: seconds, milliseconds, microseconds (Google
#: Analytics 4's ``event_timestamp``) or nanoseconds since 1970-01-01 UTC
EPOCH = {"epoch": 1, "epoch_ms": 1000, "epoch_us": 1_000_000, "epoch_ns": 1_000_000_000}
#: Excel's serial date: days since 1899-12-30 (its day 60 is the 1900-02-29 that never was;
#: from 1900-03-01 on, the count is right), the time of day as the fraction
EXCEL_ORIGIN = np.datetime64("1899-12-30", "D")
_DAYS_SINCE = re.compile(r"^days_since:(\d{4}-\d{2}-\d{2})$")


def check_time_format(time_format: Any) -> str | None:
    """``time_format`` validated: None, a strptime format (at least one directive), or a
    number format: ``"epoch"`` (seconds since 1970-01-01 UTC), ``"epoch_ms"``
    (milliseconds), ``"epoch_us"`` (microseconds), ``"epoch_ns"`` (nanoseconds) or ``"days_since:YYYY-MM-DD"`` (day numbers: N is that date + N days).

    Examples
    --------
    >>> check_time_format("%d/%m/%Y %H:%M"), check_time_format("days_since:2020-01-01")
    ('%d/%m/%Y %H:%M', 'days_since:2020-01-01')
    >>> check_time_format("dd/mm/yyyy")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `time_format` must be a strptime format such as '%d/%m/%Y %H:%M' (%d day, %m month, %Y year, %H hour, %M minute, %S second, %z UTC offset), or 'epoch', 'epoch_ms', 'epoch_us', 'epoch_ns', 'days_since:YYYY-MM-DD' or 'excel' for numbers; got 'dd/mm/yyyy'
    """
    if time_format is None:
        return None
    ok = isinstance(time_format, str) and (
        "%" in time_format or time_format in EPOCH or time_format == "excel"
        or _day_origin(time_format) is not None)
    if not ok:
        raise UpsellDataError(
            "`time_format` must be a strptime format such as '%d/%m/%Y %H:%M' (%d day, "
            "%m month, %Y year, %H hour, %M minute, %S second, %z UTC offset), or 'epoch', "
            f"'epoch_ms', 'epoch_us', 'epoch_ns', 'days_since:YYYY-MM-DD' or 'excel' for numbers; "
            f"got {time_format!r}")
    if "%" in time_format and not any(d in time_format for d in _YEARS):
        raise UpsellDataError(
            f"`time_format` {time_format!r} reads no year, so every time would fall in 1900: "
            "give the year a directive (%Y 2011, %y 11); when the file's times name no year "
            "(Tmall's user log writes 1111 for 11 November), write the year into the column "
            "first")
    return str(time_format)


#: strptime directives that read a year (or a whole instant)
_YEARS = ("%Y", "%y", "%G", "%g", "%F", "%D", "%c", "%x", "%s")


def _day_origin(time_format: str) -> np.datetime64 | None:
    m = _DAYS_SINCE.match(time_format)
    if m is None:
        return None
    try:
        return np.datetime64(m.group(1), "D")
    except ValueError:
        return None


def numeric_times(values: np.ndarray, time_format: str) -> tuple[np.ndarray, np.ndarray]:
    """datetime64[s] of numbers read by a number ``time_format`` (``"epoch"``,
    ``"epoch_ms"``, ``"days_since:..."``), and the mask of values that are not
    (NaN: missing; fractions of a day with ``days_since``; out of range).

    Examples
    --------
    >>> t, bad = numeric_times(np.array([1.3e9, 1, 2.5]), "days_since:2000-01-01")
    >>> [str(x) for x in t[1:2]], bad.tolist()
    (['2000-01-02T00:00:00'], [True, False, True])
    >>> str(numeric_times(np.array([1291191960000.0]), "epoch_ms")[0][0])
    '2010-12-01T08:26:00'
    >>> str(numeric_times(np.array([40513.35138888889]), "excel")[0][0])  # a serial date
    '2010-12-01T08:26:00'
    """
    v = np.asarray(values, dtype=np.float64)
    origin = _day_origin(time_format)
    if time_format == "excel":  # the fraction is the time of day, to the nearest second
        sec = np.round(v * 86_400.0) + float(EXCEL_ORIGIN.astype("datetime64[s]").astype(np.int64))
        bad = np.isfinite(v) & (v < 61)  # Excel's days before 1900-03-01 are off by one
    elif origin is not None:
        sec = v * 86_400.0 + float(origin.astype("datetime64[s]").astype(np.int64))
        bad = np.isfinite(v) & (v != np.round(v))
    else:
        sec = v / EPOCH[time_format]
        bad = np.zeros(v.size, dtype=bool)
    ok = np.isfinite(sec) & (np.abs(sec) < 2**40) & ~bad  # about 35,000 years either side
    bad |= np.isfinite(v) & ~ok
    out = np.full(v.size, np.iinfo(np.int64).min, dtype=np.int64)
    out[ok] = np.floor(sec[ok]).astype(np.int64)
    return out.view("datetime64[s]"), bad




def number_time_advice(values: Any) -> str:
    """What to pass when a time column holds numbers: epoch seconds, milliseconds,
    microseconds or nanoseconds by their size, small whole numbers as day numbers ('' when none fits).

    Examples
    --------
    >>> number_time_advice(np.array([1291191960, 1291195560]))
    "; pass time_format='epoch' (seconds since 1970-01-01 UTC)"
    >>> number_time_advice(np.array([1612069510766593]))  # GA4's event_timestamp
    "; pass time_format='epoch_us' (microseconds since 1970-01-01 UTC)"
    >>> number_time_advice(np.array([40513.35, 40514.5]))[:30]
    "; pass time_format='excel' (Ex"
    >>> number_time_advice(np.array([1, 711]))
    "; pass time_format='days_since:YYYY-MM-DD' (day numbers: N is that date + N days)"
    >>> number_time_advice(np.array([511, 630, 1111]))[:57]
    '; its times look like a month and a day without a year (M'
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return ""
    lo, hi = float(v.min()), float(v.max())
    if lo >= 1e8 and hi < 1e11:
        return "; pass time_format='epoch' (seconds since 1970-01-01 UTC)"
    if lo >= 1e11 and hi < 1e14:
        return "; pass time_format='epoch_ms' (milliseconds since 1970-01-01 UTC)"
    if lo >= 1e14 and hi < 1e17:
        return "; pass time_format='epoch_us' (microseconds since 1970-01-01 UTC)"
    if lo >= 1e17 and hi < 1e20:
        return "; pass time_format='epoch_ns' (nanoseconds since 1970-01-01 UTC)"
    if lo >= 20_000 and hi < 80_000 and not np.all(v == np.round(v)):
        return ("; pass time_format='excel' (Excel's serial dates: days since 1899-12-30, "
                "the time of day as the fraction)")
    whole = bool(np.all(v == np.round(v)))
    iv = v.astype(np.int64) if whole and lo >= 101 and hi <= 1231 else None  # (cast in range)
    if iv is not None and hi - lo > 100 and np.all(
            (iv // 100 <= 12) & (iv % 100 >= 1) & (iv % 100 <= 31)):
        return ("; its times look like a month and a day without a year (MMDD, as Tmall's "
                "1111 for 11 November; day numbers this wide would pass day 31): write the "
                "year into the column first, then pass time_format='%Y%m%d'")
    if lo >= 0 and hi < 1e5 and whole:
        return ("; pass time_format='days_since:YYYY-MM-DD' (day numbers: N is that date + "
                "N days)")
    return ""


#: Distinct time texts from which :func:`parse_times` reads the usual shapes at once.
ISO_AT_ONCE = 64
#: The usual shapes: ``2019-10-01 00:00:00``, a ``T`` between, no seconds, `` UTC`` or ``Z``,
#: a date alone.
_ISO_PLAIN = (r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([ T]([01]\d|2[0-3]):[0-5]\d"
              r"(:[0-5]\d)?( ?UTC|Z)?)?$")


def iso_times(text: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Read the texts of the usual ISO 8601 shapes (:data:`_ISO_PLAIN`, spaces around
    them aside) into ``out`` at once (pyarrow's ``strptime``); returns the mask of those
    read. The others (offsets, fractions, other shapes, impossible dates) are left to
    :func:`parse_times`' one-by-one reading, so each text gets the value it did alone.

    Examples
    --------
    >>> out = np.full(4, np.datetime64("NaT"), dtype="datetime64[s]")
    >>> iso_times(np.array(["2019-10-01 08:05:00 UTC", "2019-02-30 00:00", "2019-10-01T08:05",
    ...                      "2019-10-02"]), out).tolist()
    [True, False, True, True]
    >>> [str(t) for t in out]
    ['2019-10-01T08:05:00', 'NaT', '2019-10-01T08:05:00', '2019-10-02T00:00:00']
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from upsell.data._sources import _arrow_strings, _with_nulls, bool_mask

    t = pc.utf8_trim_whitespace(_arrow_strings(text).cast(pa.string()))
    shaped = pc.match_substring_regex(t, _ISO_PLAIN)
    core = pc.replace_substring_regex(t, r" ?UTC$|Z$", "")
    core = pc.replace_substring_regex(core, r"^(.{10})T", r"\1 ")
    core = pc.replace_substring_regex(core, r"^(.{16})$", r"\1:00")
    core = pc.replace_substring_regex(core, r"^(.{10})$", r"\1 00:00:00")
    got = pc.strptime(core, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    # (strptime rolls 2019-02-30 over into March: such a date is no date)
    same_day = pc.equal(pc.strftime(got, format="%Y-%m-%d"), pc.utf8_slice_codeunits(core, 0, 10))
    done = bool_mask(shaped) & bool_mask(pc.is_valid(got)) & bool_mask(same_day)
    seconds = _with_nulls(pc.cast(got, pa.int64()), np.int64, 0)
    out[done] = seconds[done].view("datetime64[s]")
    return done
