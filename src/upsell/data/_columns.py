"""Normalising raw columns (ids, numbers, timestamps) with row-precise errors.

Private helpers shared by the Transactions and Catalog constructors and every reader:
which column holds which role, and the value rules. Nothing here imports the readers
(:mod:`upsell.data.io`, :mod:`upsell.data._arrow`), so they may all use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from upsell.data._suggest import (  # noqa: F401 - the readers take them from here
    CATALOG_SYNONYMS,
    ROLES,
    category_note,
    header_list,
    suggest_columns,
)
from upsell.data._time_formats import (  # noqa: F401 - number time formats live there
    EPOCH,
    ISO_AT_ONCE,
    check_time_format,
    iso_times,
    number_time_advice,
    numeric_times,
)
from upsell.data.ids import FirstSeen, IdIndex, _refuse_nul, _to_id_array
from upsell.exceptions import UpsellDataError


def py(value: Any) -> Any:
    """A numpy scalar as the Python value, so messages show 2 rather than np.int64(2)."""
    return value.item() if isinstance(value, np.generic) else value


class RowMap:
    """Where each row kept by a read lies in its file, when the read left rows out as it
    parsed them (``where=``): ``rows``, each kept row's 0-based data row in its file;
    ``files``, each file's first kept row and label, in order (None for one file).

    Examples
    --------
    >>> import numpy as np
    >>> row_name(1, RowMap(np.array([4, 9, 0]), [(0, "jan.csv"), (2, "feb.csv")]))
    'jan.csv row 10'
    """

    def __init__(self, rows: np.ndarray, files: list[tuple[int, str]] | None = None) -> None:
        self.rows = rows
        self.files = files


def row_name(pos: int, files: Any = None) -> str:
    """A data row as messages name it: ``row 12`` (1-based), or ``feb.csv row 12`` when
    the rows came from several files (``files``: each file's first row and label, in order,
    or a :class:`RowMap` when the read left rows out).

    Examples
    --------
    >>> row_name(11), row_name(11, [(0, "jan.csv"), (10, "feb.csv")])
    ('row 12', 'feb.csv row 2')
    >>> import numpy as np
    >>> row_name(0, RowMap(np.array([6])))
    'row 7'
    """
    mapped = isinstance(files, RowMap)
    row = int(files.rows[pos]) if mapped else pos
    starts = files.files if mapped else files
    if not starts:
        return f"row {row + 1:,}"
    import bisect

    start, label = starts[bisect.bisect_right([s for s, _ in starts], pos) - 1]
    return f"{label} row {(row if mapped else row - start) + 1:,}"


def row_label(pos: int, order_ids: Any = None, files: Any = None) -> str:
    """Human row label: 1-based data row (in its file, when there are several:
    :func:`row_name`), with the order id when known."""
    label = row_name(pos, files)
    if order_ids is not None:
        try:
            label += f" (order {py(order_ids[pos])!r})"
        except (IndexError, TypeError):
            pass
    return label


def as_array(values: Any, name: str) -> np.ndarray:
    """One-dimensional numpy view of a column (lists, tuples, arrays, pandas/arrow columns)."""
    if isinstance(values, np.ndarray):
        arr = values
    elif hasattr(values, "to_numpy"):
        arr = values.to_numpy()
    else:
        try:
            seq = list(values)
        except TypeError:
            raise UpsellDataError(
                f"column `{name}` must be a sequence or array; got {type(values).__name__}"
            ) from None
        arr = np.empty(len(seq), dtype=object)
        arr[:] = seq
        arr = _tighten(arr)
    if arr.ndim != 1:
        raise UpsellDataError(f"column `{name}` must be one-dimensional; got shape {arr.shape}")
    return arr


def _tighten(arr: np.ndarray) -> np.ndarray:
    """Give an object array built from a Python list a concrete dtype when it is uniform."""
    if arr.size == 0:
        return arr
    types = {type(v) for v in arr}
    if types <= {bool}:
        return arr.astype(bool)
    if types <= {int}:
        try:
            return arr.astype(np.int64)
        except OverflowError:
            return arr
    if types <= {float, int}:
        return arr.astype(np.float64)
    if types <= {str}:
        return arr.astype(str)
    return arr


def missing_mask(arr: np.ndarray) -> np.ndarray:
    """True where an id column holds no value: None, NaN, NaT or an empty/blank string."""
    kind = arr.dtype.kind
    if kind == "f":
        return np.isnan(arr)
    if kind == "U":
        return np.char.str_len(np.char.strip(arr)) == 0
    if kind == "S":
        return np.char.str_len(np.char.strip(arr)) == 0
    if kind == "O":
        return np.fromiter(
            (v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())
             or (v.__class__.__name__ in ("NAType", "NaTType"))
             for v in arr),
            dtype=bool, count=arr.size,
        )
    return np.zeros(arr.size, dtype=bool)


def ids_with_missing(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (valid_ids, missing_mask): ids of the present rows, normalised to int64 or str."""
    miss = missing_mask(values)
    present = values[~miss] if miss.any() else values
    try:
        ids = _to_id_array(present, name)
    except UpsellDataError as exc:
        raise UpsellDataError(f"column {exc}") from None
    return ids, miss


def factorize_column(values: Any, name: str, index: IdIndex | None = None,
                     ) -> tuple[np.ndarray, IdIndex | None, np.ndarray, np.ndarray]:
    """Encode an id column.

    Returns
    -------
    codes : int64 array, -1 where missing or unknown
    index : the IdIndex of distinct ids (None when ``index`` was given)
    missing : bool mask of rows with no id
    unknown : bool mask of rows whose id is not in the given ``index``
    """
    if index is None and isinstance(values, (list, tuple)):
        fast = _factorize_list(values, name)
        if fast is not None:
            return fast
    arr = as_array(values, name)
    ids, miss = ids_with_missing(arr, name)
    codes = np.full(arr.size, -1, dtype=np.int64)
    unknown = np.zeros(arr.size, dtype=bool)
    if index is None:
        out_index, sub = IdIndex.factorize(ids, name=name)
        codes[~miss] = sub
        return codes, out_index, miss, unknown
    if ids.size and (ids.dtype.kind == "i") != (index.kind == "int"):
        got = "int" if ids.dtype.kind == "i" else "str"
        raise UpsellDataError(
            f"column `{name}` holds {got} ids but the given {name} index holds {index.kind} ids"
        )
    sub = index.encode(ids, unknown="mask")
    codes[~miss] = sub
    unknown[~miss] = sub < 0
    return codes, None, miss, unknown


def _kind_check(arr: np.ndarray, name: str, want: str) -> None:
    """Refuse dtypes that would silently turn into something else."""
    kind = arr.dtype.kind
    if kind == "c":
        raise UpsellDataError(
            f"column `{name}` holds complex numbers ({arr.dtype}); pass real numbers")
    if kind == "m":
        raise UpsellDataError(
            f"column `{name}` holds time spans ({arr.dtype}), not {want}; pass "
            f"{'datetime64 values or ISO 8601 strings' if want == 'timestamps' else 'numbers'}")
    if kind == "O" and arr.size:
        odd = next((v for v in arr.tolist() if isinstance(v, (complex, np.complexfloating))
                    or type(v).__name__ in ("timedelta", "Timedelta")), None)
        if odd is not None:
            raise UpsellDataError(
                f"column `{name}` holds {type(odd).__name__} values ({odd!r}), not {want}")


#: a number whose one point cannot group thousands: not three digits after it, no comma
_POINT_NOT_GROUPING = re.compile(r"^\s*[-+]?(\d*\.(\d{0,2}|\d{4,})|\d{4,}\.\d*)\s*$")


def parse_numbers(text: np.ndarray, decimal: str = ".") -> tuple[np.ndarray, np.ndarray]:
    """float64 of distinct number texts as ``float()`` reads them; blank is NaN, not bad.

    Returns the values and the mask of texts that are not numbers. ``decimal=","``:
    the texts write a decimal comma (``15,3``); a text with a point is not a number
    then (``1.234,5``: thousands separators are not read, rather than misread), unless
    its point cannot group thousands (``6.0``, ``2.55``: one point, no comma, not three
    digits after it), as a file whose prices write commas may write its quantities
    (a French bakery's ``"0,90 €"`` beside ``1.0``).

    Examples
    --------
    >>> v, bad = parse_numbers(np.array(["1.5", " 2 ", "", "abc"]))
    >>> v[:2].tolist(), bad.tolist()
    ([1.5, 2.0], [False, False, False, True])
    >>> v, bad = parse_numbers(np.array(["15,3", "-2", "1.234,5", "6.0", "1.234"]), decimal=",")
    >>> v[[0, 1, 3]].tolist(), bad.tolist()
    ([15.3, -2.0, 6.0], [False, False, True, False, True])
    """
    out = np.full(text.size, np.nan)
    bad = np.zeros(text.size, dtype=bool)
    comma = decimal == ","
    for i, v in enumerate(text.tolist()):
        if not v.strip():
            continue
        try:
            if comma:
                if "." in v and not _POINT_NOT_GROUPING.match(v):
                    raise ValueError(v)
                v = v.replace(",", ".")
            out[i] = float(v)
        except ValueError:
            bad[i] = True
    return out, bad


def check_decimal(decimal: Any) -> str:
    """``decimal`` validated: the decimal mark of numbers in a file, "." or ",".

    >>> check_decimal(",")
    ','
    """
    if decimal not in (".", ","):
        raise UpsellDataError(f"`decimal` is the decimal mark, '.' or ','; got {decimal!r}")
    return str(decimal)


def parse_times(text: np.ndarray, time_format: str | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """datetime64[s] of distinct time texts (ISO 8601, UTC offsets converted); blank is NaT.

    Returns the values and the mask of texts that are not timestamps. No numpy
    warning escapes for offsets: they are converted to UTC first. With
    ``time_format`` (a strptime format, :func:`check_time_format`) the texts are
    read by it instead (pyarrow's ``strptime``; ``%z`` offsets become UTC), after
    stripping spaces at either end.

    Examples
    --------
    >>> v, bad = parse_times(np.array(["2011-12-09 12:50:00+01:00", "", "soon"]))
    >>> str(v[0]), bad.tolist()
    ('2011-12-09T11:50:00', [False, False, True])
    >>> v, bad = parse_times(np.array(["9/12/2011 12:50", "31/12/2011 8:05", "12/31/2011 8:05"]),
    ...                      "%d/%m/%Y %H:%M")
    >>> [str(t) for t in v], bad.tolist()
    (['2011-12-09T12:50:00', '2011-12-31T08:05:00', 'NaT'], [False, False, True])

    A date column joined with a time-of-day column (``columns={"time": ("DAY",
    "TRANS_TIME")}``) arrives as ``"date|clock"``: the date is read as above (by
    ``time_format`` when given) and the clock, ``HH:MM``, ``HH:MM:SS`` or ``HHMM``
    (Dunnhumby's ``0826``), is added to it; a blank clock leaves the date alone.

    >>> v, bad = parse_times(np.array(["1|0826", "2|17:05", "2|2460"]), "days_since:2010-01-01")
    >>> [str(t) for t in v], bad.tolist()
    (['2010-01-02T08:26:00', '2010-01-03T17:05:00', 'NaT'], [False, False, True])
    """
    if text.size and bool((np.char.find(text.astype(str), JOIN_SEP) >= 0).any()):
        from upsell.data._clock import date_and_clock

        return date_and_clock(text.astype(str), time_format, parse_times, JOIN_SEP)
    if time_format is not None:
        if "%" not in time_format:  # a number format
            stripped = np.char.strip(text.astype(str)) if text.size else text.astype(str)
            nums, not_num = parse_numbers(stripped)
            out, bad = numeric_times(nums, time_format)
            return out, bad | not_num
        return _strptime(text, time_format)
    from upsell._validation import to_datetime64

    out = np.full(text.size, np.datetime64("NaT"), dtype="datetime64[s]")
    bad = np.zeros(text.size, dtype=bool)
    todo = range(text.size)
    if text.size >= ISO_AT_ONCE:  # the usual times at once, the others one by one
        done = iso_times(text, out)
        todo = np.flatnonzero(~done).tolist()
    values = text.tolist()
    for i in todo:
        v = values[i]
        w = v.strip()
        if not w:
            continue
        if w.isdigit() and len(w) not in (4, 8):  # a number (epoch, day number), not a year
            bad[i] = True  # or a basic date: numpy would read "711" as the year 711
            continue
        t = to_datetime64(v, "s")
        if np.isnat(t):
            bad[i] = True
        else:
            out[i] = t
    return out, bad


def _strptime(text: np.ndarray, time_format: str) -> tuple[np.ndarray, np.ndarray]:
    """pyarrow's ``strptime`` on the texts (spaces at either end stripped), through the
    readers' kernels: no ``pyarrow.compute`` wrappers, no pandas import."""
    import pyarrow as pa

    from upsell.data._sources import _arrow_strings, _pa, _with_nulls

    stripped = np.char.strip(text.astype(str)) if text.size else text.astype(str)
    try:
        got = _pa()[1].strptime(_arrow_strings(stripped), time_format)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise UpsellDataError(f"`time_format` {time_format!r} cannot be used: {exc}") from None
    # timestamp[s] values are int64 seconds (UTC when %z read an offset)
    out = _with_nulls(got, np.int64, np.iinfo(np.int64).min).view("datetime64[s]")
    return out, np.isnat(out) & (stripped != "")


_GUESS_TEXTS = 200_000  # distinct texts an error's advice reads (a regex each)
#: day, month and year with one separator, an optional clock time (the formats a shop's
#: export writes when it does not write ISO 8601)
_DMY = re.compile(r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})"
                  r"(?:([ T])(\d{1,2}):(\d{2})(:\d{2})?)?\s*$")


def guess_time_format(texts: Any) -> tuple[str | None, str]:
    """The strptime format that reads every one of ``texts`` (day/month or month/day dates).

    Returns ``(format, why)``: the format when exactly one of day-first and
    month-first reads every text (a first field above 12 is a day; a second one, a
    day too); None with both candidates in ``why`` when no text tells them apart;
    ``(None, "")`` for texts of other or mixed shapes. Used for the advice of an
    error, never to read silently. At most ``_GUESS_TEXTS`` texts are looked at.

    Examples
    --------
    >>> guess_time_format(["12/1/2010 8:26", "12/13/2010 9:01"])
    ('%m/%d/%Y %H:%M', 'a second field above 12 (12/13/2010 9:01) is a day')
    >>> guess_time_format(["01.02.2011"])[0] is None
    True
    """
    found = [_DMY.match(str(t)) for t in list(texts)[:_GUESS_TEXTS] if str(t).strip()]
    if not found or not all(found):
        return None, ""
    ms = [m for m in found if m is not None]
    shapes = {(m.group(2), len(m.group(4)), m.group(5), m.group(8) is not None) for m in ms}
    if len(shapes) != 1:
        return None, ""
    sep, ylen, clock_sep, secs = shapes.pop()
    year = "%Y" if ylen == 4 else "%y"
    clock = "" if clock_sep is None else f"{clock_sep}%H:%M" + (":%S" if secs else "")
    day_first = f"%d{sep}%m{sep}{year}{clock}"
    month_first = f"%m{sep}%d{sep}{year}{clock}"
    first_day = next((m for m in ms if int(m.group(1)) > 12), None)
    second_day = next((m for m in ms if int(m.group(3)) > 12), None)
    if first_day is not None and second_day is None:
        return day_first, f"a first field above 12 ({first_day.group(0).strip()}) is a day"
    if second_day is not None and first_day is None:
        return month_first, f"a second field above 12 ({second_day.group(0).strip()}) is a day"
    if first_day is None and second_day is None:
        return None, (f"no field above 12 tells day/month from month/day: "
                      f"{day_first!r} or {month_first!r}")
    return None, ""


def time_advice(texts: Any) -> str:
    """What to pass when ``texts`` are not ISO 8601 timestamps ('' when no day/month shape).

    Examples
    --------
    >>> time_advice(["31/12/2011 23:59"])
    "; pass time_format='%d/%m/%Y %H:%M' (a first field above 12 (31/12/2011 23:59) is a day)"
    """
    fmt, why = guess_time_format(texts)
    if fmt is not None:
        return f"; pass time_format={fmt!r} ({why})"
    if why:
        return f"; pass time_format ({why})"
    nums, not_num = parse_numbers(np.asarray(list(texts)[:_GUESS_TEXTS], dtype=str))
    from upsell.data._time_formats import other_format_advice

    if nums.size and not not_num.any():  # 20210304101532 is a time of day, not epoch_ms
        digits14 = all(len(str(t).strip()) == 14 for t in list(texts)[:_GUESS_TEXTS])
        return (digits14 and other_format_advice(texts)) or number_time_advice(nums)
    return other_format_advice(texts)


def numbers(values: Any, name: str, *, invalid: str, rows_bad: dict[str, np.ndarray]
            ) -> np.ndarray:
    """Convert a numeric column to float64; unparseable entries raise or become NaN."""
    arr = as_array(values, name)
    _kind_check(arr, name, "numbers")
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "b":
        raise UpsellDataError(f"column `{name}` must be numeric; got booleans")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        pass
    out = np.empty(arr.size, dtype=np.float64)
    bad = np.zeros(arr.size, dtype=bool)
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, str) and not v.strip()):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError, OverflowError):
            if invalid == "raise":
                raise UpsellDataError(
                    f"{row_label(i)}: `{name}` {py(v)!r} is not a number"
                ) from None
            out[i] = np.nan
            bad[i] = True
    if bad.any():
        rows_bad[f"{name} not a number"] = bad
    return out


def timestamps(values: Any, name: str, *, invalid: str, rows_bad: dict[str, np.ndarray],
               time_format: str | None = None) -> np.ndarray:
    """Convert a time column to datetime64[s]; unparseable entries raise or become NaT.

    Strings with UTC offsets are converted to UTC (no numpy warning); time spans
    (timedelta) and numbers are refused. ``time_format``: texts are read by that
    strptime format (:func:`parse_times`); datetime values are taken as they are.
    """
    from upsell._validation import to_datetime64

    arr = as_array(values, name)
    _kind_check(arr, name, "timestamps")
    kind = arr.dtype.kind
    if kind == "M":
        return arr.astype("datetime64[s]")
    if time_format is not None and "%" not in time_format and kind in "iuf":
        out, bad = numeric_times(arr, time_format)
        _not_formatted(bad, arr, name, invalid, rows_bad, time_format)
        return out
    if time_format is not None and kind in "UO":
        return _formatted(arr, name, invalid, rows_bad, time_format)
    basic = _basic_dates(arr)
    if basic is not None:
        return basic
    if kind in "iufb":
        raise UpsellDataError(
            f"column `{name}` holds numbers ({arr.dtype}); pass datetime64 values or "
            f"ISO 8601 strings such as '2011-12-09 12:50:00'"
            f"{number_time_advice(arr) if kind in 'iuf' else ''}"
        )
    if kind == "U" and not _may_have_offset(arr):
        try:
            return arr.astype("datetime64[s]")
        except (TypeError, ValueError, OverflowError):
            pass
    out = np.empty(arr.size, dtype="datetime64[s]")
    bad = np.zeros(arr.size, dtype=bool)
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, str) and not v.strip()) or (
                isinstance(v, float) and v != v) or type(v).__name__ == "NaTType":
            out[i] = np.datetime64("NaT")
            continue
        t = to_datetime64(v, "s")
        if np.isnat(t):
            if invalid == "raise":
                texts = [x for x in arr if isinstance(x, str)]
                advice = time_advice(np.unique(np.asarray(texts, dtype=str))) if texts else ""
                raise UpsellDataError(
                    f"{row_label(i)}: `{name}` {py(v)!r} is not a timestamp (expected ISO 8601, "
                    f"e.g. '2011-12-09 12:50:00'){advice}"
                )
            bad[i] = True
        out[i] = t
    if bad.any():
        rows_bad[f"{name} not a timestamp"] = bad
    return out


def _formatted(arr: np.ndarray, name: str, invalid: str, rows_bad: dict[str, np.ndarray],
               time_format: str) -> np.ndarray:
    """Texts read by ``time_format`` (distinct texts parsed once); None/NaN/blank are NaT."""
    text = np.array(["" if v is None or (isinstance(v, float) and v != v) else str(v)
                     for v in arr.tolist()], dtype=str) if arr.dtype.kind == "O" else arr
    uniq, inv = np.unique(text, return_inverse=True)
    parsed, bad_u = parse_times(uniq, time_format)
    _not_formatted(bad_u[inv.reshape(-1)], text, name, invalid, rows_bad, time_format)
    return parsed[inv.reshape(-1)]


def _not_formatted(bad: np.ndarray, values: np.ndarray, name: str, invalid: str,
                   rows_bad: dict[str, np.ndarray], time_format: str) -> None:
    """The rows ``time_format`` does not read: an error at the first, or counted (drop)."""
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    if invalid == "raise":
        raise UpsellDataError(f"{row_label(i)}: `{name}` {py(values[i])!r} is not a "
                              f"timestamp (expected time_format {time_format!r})")
    rows_bad[f"{name} not a timestamp"] = bad


def _basic_dates(arr: np.ndarray) -> np.ndarray | None:
    """ISO 8601 basic dates (``19970101``, as text or as integers) as datetime64[s], else None.

    numpy reads the text ``"19970101"`` as the year 19,970,101 and a CSV reader makes the column
    integers; a column is taken as basic dates only when every entry has eight digits forming a
    real calendar date between 1900 and 2199 (epoch seconds with eight digits would all fall in
    1970, so the two cannot be confused in practice).
    """
    if arr.size == 0 or arr.dtype.kind not in "iuU":
        return None
    if arr.dtype.kind == "U":
        if arr.dtype.itemsize // 4 != 8 or not np.all(np.char.isdigit(arr)):
            return None
        num = arr.astype(np.int64)
    else:
        num = arr.astype(np.int64, copy=False)
    year, month, day = num // 10000, num // 100 % 100, num % 100
    if not (np.all((year >= 1900) & (year < 2200)) and np.all((month >= 1) & (month <= 12))
            and np.all((day >= 1) & (day <= 31))):
        return None
    months = ((year - 1970) * 12 + (month - 1)).astype("datetime64[M]")
    out = months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    if np.any(out.astype("datetime64[M]") != months):  # 31 February and the like
        return None
    return out.astype("datetime64[s]")


def _may_have_offset(arr: np.ndarray) -> bool:
    """Whether a time text may end in a UTC offset, Z, UTC or GMT (numpy would warn on it)."""
    if arr.size == 0 or arr.dtype.itemsize // 4 <= 10:
        return False
    tail = np.array([v[10:] for v in arr.tolist()]) if arr.size <= 64 else None
    if tail is None:
        end = np.char.strip(arr)
        return bool((np.char.find(arr, "+", 10) >= 0).any() or (np.char.rfind(arr, "-") > 10).any()
                    or any(np.char.endswith(end, z).any() for z in ("Z", "UTC", "GMT")))
    return any(("+" in t) or t.strip().endswith(("Z", "UTC", "GMT")) or ("-" in t)
               for t in tail.tolist())


def _factorize_list(values: list[Any] | tuple[Any, ...], name: str,
                    ) -> tuple[np.ndarray, IdIndex, np.ndarray, np.ndarray] | None:
    """:func:`factorize_column` for a Python list of all-str or all-int ids, by hashing.

    Each value is hashed once, in C (``map`` over ``dict.setdefault``); only the
    distinct ids are then checked, sorted and turned into an array, so no object
    or fixed-width string array of the whole column is built. Returns None for any
    other content (None, floats, mixed types, unhashable values), which the general
    path handles and reports.
    """
    seen = FirstSeen()
    try:
        first = seen.codes(values, len(values))
    except TypeError:
        return None
    keys = seen.distinct
    # the types of every value, not of the distinct keys: True == 1 and 1.0 == 1 share a key
    kinds = set(map(type, values))
    if kinds <= {str}:
        _refuse_nul(keys, name)
        blank = np.fromiter((not k.strip() for k in keys), dtype=bool, count=len(keys))
        present = [k for k, b in zip(keys, blank, strict=True) if not b]
        ids = np.array(present, dtype=str) if present else np.array([], dtype=str)
    elif kinds <= {int}:
        try:
            ids = np.array(keys, dtype=np.int64)
        except OverflowError:
            return None
        blank = np.zeros(len(keys), dtype=bool)
    else:
        return None
    index, sub = IdIndex.factorize(ids, name=name)
    code_of = np.full(len(keys), -1, dtype=np.int64)
    code_of[~blank] = sub
    codes = seen.recode(first, code_of)
    miss = codes < 0
    return codes, index, miss, np.zeros(len(values), dtype=bool)


# ---------------------------------------------------------------------- roles and ids
ColumnMap = Mapping[str, str | int]


_ROLES = ROLES
_REQUIRED = ("order", "item")
#: The one item id of a purchase log read without items (``columns={"item": None}``).
NO_ITEM = "(no item column)"


def resolve_columns(available: list[str], columns: ColumnMap | None, *,
                    source: str, joins: bool = False) -> dict[str, int]:
    """Map each role to a position in ``available``.

    Roles named in ``columns`` must exist; other roles are picked up when a
    column carries the role's own name; a role mapped to None is not read (``item``: a
    purchase log without items, see :data:`NO_ITEM`). ``order`` and ``item`` are required.
    ``joins``: the reader can join headers into an order id (:func:`split_joined`),
    so a file without an order column but with customers and times is told how.
    """
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(_ROLES))
    if unknown:
        raise UpsellDataError(
            f"`columns` has unknown role {unknown[0]!r}; roles are {', '.join(_ROLES)}"
        )
    out: dict[str, int] = {}
    for role in _ROLES:
        if role in columns:
            name = columns[role]
            if name is None:  # the file has no such column: not picked up by its name either
                if role == "order":
                    raise UpsellDataError(
                        "`columns['order']` is None: every line needs its order (when a "
                        "customer's lines of one time are one order, join those columns)")
                continue
            if isinstance(name, (tuple, list)):
                raise UpsellDataError(
                    f"`columns[{role!r}]` joins headers {tuple(name)!r} into one id, which "
                    f"Transactions.read_csv does; for {source} build the column first, e.g. "
                    f"frame[{role!r}] = frame[{name[0]!r}].astype(str) + '|' + "
                    f"frame[{name[-1]!r}].astype(str)")
            if isinstance(name, int) and not isinstance(name, bool):
                if not 0 <= name < len(available):
                    raise UpsellDataError(
                        f"column position {name} for `{role}` is out of range: {source} has "
                        f"{len(available)} columns"
                    )
                out[role] = name
                continue
            if name not in available:
                heads = name.split("+") if isinstance(name, str) else []
                hint = (f"; to join {' and '.join(map(repr, heads))} into one id pass a tuple, "
                        f"columns={{{role!r}: {tuple(heads)!r}}}"
                        if joins and len(heads) > 1 and all(h in available for h in heads)
                        else "")
                raise UpsellDataError(
                    f"column {name!r} (for `{role}`) is not in {source}; it has "
                    f"{header_list(available)}{hint}"
                )
            out[role] = _only(available, name, role, source)
        elif role in available:
            out[role] = _only(available, role, role, source)
    for role in _REQUIRED:
        if role not in out and not (role in columns and columns[role] is None):
            guess = suggest_columns(available, out)
            hint = ""
            known = {**{r: available[p] for r, p in out.items()}, **guess}
            if role in guess:
                hint = f"; its headers look like columns={mapping_text(guess)}"
                hint += category_note(guess)
            elif role == "order" and joins and "customer" in known and "time" in known:
                hint = ("; when a customer's lines of one time are one order, join those "
                        "columns: columns=" + mapping_text(
                            {"order": (known["customer"], known["time"]), **guess}))
                if "item" not in known and "item" not in columns:
                    hint += (", and with no item column (a purchase log, as CDNOW's) "
                             "columns={'item': None}")
            sep = next((c for c in ";\t|" if len(available) == 1 and c in available[0]), None)
            if sep is not None:  # one header holding the names: another field separator
                hint = (f"; it splits at {sep!r} into "
                        f"{', '.join(repr(h.strip()) for h in available[0].split(sep)[:8])}: "
                        f"pass delimiter={sep!r}")
            if role == "item" and not hint and "order" in known:
                hint = ("; a purchase log without items (a customer, a time and an amount "
                        "per line, as CDNOW's): columns={'item': None} reads each line as one "
                        "purchase, for ATV, CLV and RFM")
            raise UpsellDataError(
                f"no `{role}` column in {source}: map one with columns={{'{role}': ...}}; "
                f"it has {header_list(available) or 'no columns'}{hint}"
            )
    return out


def header_row(rows: list[list[str]], columns: Any = None,
               synonyms: Mapping[str, tuple[str, ...]] | None = None,
               need: tuple[str, ...] = ("order", "item")) -> int | None:
    """The index of the first row after the first that reads as a table's header (the
    headers ``columns`` maps, or the ``need`` roles' columns by their names, ``synonyms``
    as :func:`suggest_columns` takes them), else None: a report's title lines stand above
    its table.

    Examples
    --------
    >>> header_row([["Sales report"], [], ["Invoice", "SKU", "Qty"], ["1", "A", "2"]])
    2
    """
    given = {h for h in dict(columns or {}).values() if isinstance(h, str)}
    for i, fields in enumerate(rows):
        fields = [str(f).strip() for f in fields]
        if i == 0 or len([f for f in fields if f]) < 2:
            continue
        roles = set(suggest_columns(fields, synonyms=synonyms)) | (set(need) & set(fields))
        if (given and given <= set(fields)) or set(need) <= roles:
            return i
    return None


def header_below(place: str, skip: int, fields: list[str], sep: str = ", ") -> str:
    """The advice that ends an error when a row below reads as the table's header (found by
    :func:`header_row`): where it is and the ``skip_rows`` that reads from it.

    Examples
    --------
    >>> header_below("line 3", 2, ["Invoice", "SKU", ""], ",")
    "; the table's header seems to be below, on line 3 ('Invoice,SKU'): pass skip_rows=2 to read from it"
    """
    shown = sep.join(f.strip() for f in fields if f.strip())
    return (f"; the table's header seems to be below, on {place} ({shown[:80]!r}): pass "
            f"skip_rows={skip} to read from it")


def mapping_text(mapping: Mapping[str, Any]) -> str:
    """``{'order': 'A', 'item': ('B', 'C')}`` as Python writes it, headers joined as tuples."""
    parts = [f"{r!r}: {tuple(h)!r}" if isinstance(h, (tuple, list)) else f"{r!r}: {h!r}"
             for r, h in mapping.items()]
    return "{" + ", ".join(parts) + "}"


#: the roles whose column may be several headers joined (see :func:`split_joined`):
#: ids, and a time written as a date column and a time-of-day column
JOINABLE = ("order", "item", "customer", "time")
JOIN_SEP = "|"


def split_joined(columns: Any) -> tuple[Any, dict[str, tuple[str, ...]]]:
    """``columns`` with each joined role (a tuple of headers) cut to its first header, and
    the joined roles.

    A file without an order id (Ta-Feng: one order per customer and day) names its
    order as several columns, ``columns={"order": ("CUSTOMER_ID", "TRANSACTION_DT")}``:
    the reader joins their texts with ``"|"`` into the order id. Only ``order``,
    ``item`` and ``customer`` may be joined, from two headers or more, and ``time``
    from exactly two: a date (or day number) and the time of day, as Dunnhumby's
    ``("DAY", "TRANS_TIME")`` (see :func:`parse_times`).

    Examples
    --------
    >>> split_joined({"order": ("CUST", "DAY"), "item": "SKU"})
    ({'order': 'CUST', 'item': 'SKU'}, {'order': ('CUST', 'DAY')})
    >>> split_joined({"time": ("DAY", "TRANS_TIME")})[1]
    {'time': ('DAY', 'TRANS_TIME')}
    """
    if not columns:
        return columns, {}
    plain: dict[str, Any] = {}
    joined: dict[str, tuple[str, ...]] = {}
    for role, name in dict(columns).items():
        if not isinstance(name, (tuple, list)):
            plain[role] = name
            continue
        parts = tuple(name)
        if role not in JOINABLE or len(parts) < 2 or not all(
                isinstance(h, str) and h for h in parts):
            raise UpsellDataError(
                f"`columns[{role!r}]` joins two or more headers into one id, and only for "
                f"{', '.join(JOINABLE[:-1])} (or a date and a time-of-day header for time); "
                f"got {name!r}")
        if role == "time" and len(parts) != 2:
            raise UpsellDataError(
                f"`columns['time']` joins exactly two headers, a date (or day number) and "
                f"the time of day, such as ('DAY', 'TRANS_TIME'); got {name!r}")
        plain[role], joined[role] = parts[0], parts
    return plain, joined


def _only(available: list[str], name: str, role: str, source: str) -> int:
    """Position of the one column called ``name``; two of that name are an error."""
    pos = available.index(name)
    if name in available[pos + 1:]:
        raise UpsellDataError(
            f"{source} has two columns named {name!r} (for `{role}`); rename one, since "
            f"which to read would be a guess"
        )
    return pos


def utf8_error(data: bytes, label: str, encoding: str) -> UpsellDataError:
    """The error for UTF-8 content that is not valid, naming its line and byte offset, and
    the encoding the text reads in when it is a usual other one: UTF-16 (a byte order mark:
    Excel's "Unicode Text"), or Windows' cp1252 (Excel's CSV on Windows: ``£``, ``é``).

    Examples
    --------
    >>> str(utf8_error(b"order,item\\n1,Caf\\xe9\\n", "f.csv", "utf-8")).split(": ")[-1]
    "it reads as cp1252 (Windows' Western encoding, as Excel saves a CSV there; 'Café'); pass encoding='cp1252'"
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return UpsellDataError(
            f"{label} is UTF-16 text (it opens with UTF-16's byte order mark, as Excel's "
            f"\"Unicode Text\" export does); pass encoding='utf-16'")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = (f"{label} line {line:,} is not valid {encoding} text ({exc.reason} at byte "
                 f"{exc.start:,})")
        try:
            data.decode("cp1252")
        except UnicodeDecodeError:
            return UpsellDataError(f"{where}; pass the right `encoding`")
        lo = data.rfind(b"\n", 0, exc.start) + 1
        hi = data.find(b"\n", exc.start)
        text = data[lo:hi if hi >= 0 else len(data)].decode("cp1252")  # a byte a character
        at = exc.start - lo
        start = max((text.rfind(c, 0, at) for c in ",;\t|"), default=-1) + 1
        ends = [e for e in (text.find(c, at) for c in ",;\t|\r") if e >= 0]
        shown = text[start:min(ends, default=len(text))][:40]  # the field that holds it
        return UpsellDataError(
            f"{where}: it reads as cp1252 (Windows' Western encoding, as Excel saves a CSV "
            f"there; {shown.strip()!r}); pass encoding='cp1252'")
    return UpsellDataError(f"{label} is not valid {encoding} text; pass the right `encoding`")


#: Customer id texts read as "no customer" (anonymous), case-insensitive, besides blanks:
#: what databases, spreadsheets and ``str(None)`` / ``str(float("nan"))`` write for none.
NULL_CUSTOMERS = ("nan", "null", "none", "na", "n/a", "#n/a", "nil")
#: Google Analytics' value of a field it has none for: no id (an order, item or customer)
NOT_SET = "(not set)"


def null_markers(values: np.ndarray) -> np.ndarray:
    """True where a (stripped) customer id text is one of :data:`NULL_CUSTOMERS`.

    Examples
    --------
    >>> null_markers(np.array(["NULL", "17850", "nan", "None"])).tolist()
    [True, False, True, True]
    """
    if values.dtype.kind != "U" or values.size == 0:
        return np.zeros(values.size, dtype=bool)
    short = np.char.str_len(values) <= 4
    out = np.zeros(values.size, dtype=bool)
    if short.any():
        low = np.char.lower(values[short])
        out[short] = np.isin(low, np.array(NULL_CUSTOMERS))
    return out


def _positional(columns: ColumnMap | None, header: bool) -> ColumnMap | None:
    if header or columns is None:
        return columns

    def name(v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    return {k: (tuple(name(h) for h in v) if isinstance(v, (tuple, list)) else name(v))
            for k, v in columns.items()}
