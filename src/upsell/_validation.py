"""Argument checks shared by the public entry points.

Each helper validates one kind of argument and returns it normalised, so code
past the entry point can trust it. Messages name the argument, say what is
allowed and show what came.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import numbers
import os
import re
import sys
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from upsell.exceptions import UpsellDataError, UpsellMemoryError, UpsellTypeError, UpsellValueError

if TYPE_CHECKING:
    import scipy.sparse as sp

    from upsell.data.ids import IdIndex
    from upsell.data.transactions import Transactions


def check_choice(value: Any, name: str, allowed: Collection[str]) -> str:
    """Return ``value`` if it is one of ``allowed``.

    Examples
    --------
    >>> check_choice("net", "returns", ("net", "drop"))
    'net'
    >>> check_choice("x", "returns", ("net", "drop"))
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `returns` must be one of 'net', 'drop'; got 'x'
    """
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise UpsellDataError(f"`{name}` must be one of {options}; got {value!r}")
    return value


def check_int(value: Any, name: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` after checking its type and range.

    Examples
    --------
    >>> check_int(5, "k", minimum=1)
    5
    >>> check_int(0, "k", minimum=1)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `k` must be an integer >= 1; got 0
    """
    bound = ""
    if minimum is not None and maximum is not None:
        bound = f" in [{minimum}, {maximum}]"
    elif minimum is not None:
        bound = f" >= {minimum}"
    elif maximum is not None:
        bound = f" <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UpsellDataError(f"`{name}` must be an integer{bound}; got {value!r}")
    out = int(value)
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise UpsellDataError(f"`{name}` must be an integer{bound}; got {out}")
    return out


def check_k(k: Any, name: str = "k") -> int:
    """Return a positive list length ``k``.

    Examples
    --------
    >>> check_k(10)
    10
    """
    return check_int(k, name, minimum=1)


def check_float(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """Return a finite float within the given interval.

    Examples
    --------
    >>> check_float(0.5, "min_confidence", low=0, high=1)
    0.5
    >>> check_float(1.5, "min_confidence", low=0, high=1)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `min_confidence` must be a number in [0, 1]; got 1.5
    """
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    if low is not None and high is not None:
        where = f" in {lo}{_num(low)}, {_num(high)}{hi}"
    elif low is not None:
        where = f" {'>' if low_open else '>='} {_num(low)}"
    elif high is not None:
        where = f" {'<' if high_open else '<='} {_num(high)}"
    else:
        where = ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UpsellDataError(f"`{name}` must be a number{where}; got {value!r}")
    out = float(value)
    bad = not math.isfinite(out)
    if low is not None:
        bad |= out <= low if low_open else out < low
    if high is not None:
        bad |= out >= high if high_open else out > high
    if bad:
        raise UpsellDataError(f"`{name}` must be a number{where}; got {value!r}")
    return out


# a clock with a zone: "Z", "UTC"/"GMT" or an offset, the offset perhaps after a space
# (Shopify's "2021-03-04 10:15:32 -0500")
_UTC_OFFSET = re.compile(r"[T ]\d\d(?::\d\d(?::\d\d(?:\.\d+)?)?)?"
                         r"(?:(?P<z>\s*(?:Z|UTC|GMT))|\s*(?P<off>[+-]\d\d(?::?\d\d)?))$")


# the only texts handed to numpy: a year, a month, a date, a date and clock, with no zone (a
# zone was converted above). numpy would also read "today" and "now" as the run's own time, and
# warn (no error) on zones it reads itself; neither is a time of the shop's.
_PLAIN_ISO = re.compile(r"\s*\d{4}(-\d\d(-\d\d([T ]\d\d(:\d\d(:\d\d(\.\d+)?)?)?)?)?)?\s*$")


def to_datetime64(value: Any, unit: str = "s") -> np.datetime64:
    """Convert a time to a naive UTC ``numpy.datetime64``; NaT when it cannot.

    numpy has no time zones and only warns when given an offset, so times with
    an offset (``"2024-06-01T00:00:00+05:00"``, ``"...Z"``, aware ``datetime``)
    are converted to UTC here first. Callers turn NaT into an error naming
    their argument.

    Examples
    --------
    >>> to_datetime64("2024-06-01T05:00:00+05:00")
    np.datetime64('2024-06-01T00:00:00')
    >>> to_datetime64("2024-06-01", "D")
    np.datetime64('2024-06-01')
    >>> bool(np.isnat(to_datetime64("soon")))
    True
    >>> bool(np.isnat(to_datetime64("today"))), bool(np.isnat(to_datetime64("now")))
    (True, True)
    >>> to_datetime64("19970101")            # ISO 8601 basic form
    np.datetime64('1997-01-01T00:00:00')
    >>> to_datetime64("2021-03-04 10:15:32 -0500"), to_datetime64("2021-03-04 10:15 UTC")
    (np.datetime64('2021-03-04T15:15:32'), np.datetime64('2021-03-04T10:15:00'))
    """
    u: Any = unit  # numpy's stubs want a literal unit
    nat = np.datetime64("NaT", u)
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        return nat
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 8 and text.isdigit():
            # ISO 8601 basic date (CDNOW's 19970101): numpy would read the year 19,970,101
            try:
                value = _dt.datetime.strptime(text, "%Y%m%d")
            except ValueError:
                return nat
        else:
            m = _UTC_OFFSET.search(text)
            if m:
                zone = "z" if m.group("z") else "off"
                text = text[:m.start(zone)].rstrip() + (m.group("off") or "+00:00")
                try:
                    value = _dt.datetime.fromisoformat(text)
                except ValueError:
                    return nat
    if isinstance(value, _dt.datetime) and value.tzinfo is not None:
        offset = value.utcoffset()
        value = value.replace(tzinfo=None) - (offset or _dt.timedelta(0))
    if isinstance(value, str):
        if not _PLAIN_ISO.match(value):
            return nat  # no warning filter: they are not thread-safe in a shop's back end
        value = value.strip()  # numpy reads no space around a time
    try:
        return np.datetime64(value, u)
    except (TypeError, ValueError, OverflowError):
        return nat


def as_floats(value: Any, name: str, *, ndim: int | None = None) -> np.ndarray:
    """Convert numbers (scalar or array-like) to a float64 array, naming ``name`` when it cannot.

    NaN and inf pass through: callers decide what non-finite values mean.
    ``ndim=1`` flattens scalars and columns to one dimension.

    Examples
    --------
    >>> as_floats([1, 2.5], "atv").tolist()
    [1.0, 2.5]
    >>> as_floats(["1", "two"], "atv")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `atv` must be numbers; got ['1', 'two']
    """
    if isinstance(value, (str, bytes)):
        raise UpsellDataError(f"`{name}` must be numbers; got {_short(value)}")
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise UpsellDataError(f"`{name}` must be numbers; got {_short(value)}") from None
    return out.reshape(-1) if ndim == 1 else out


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def support_count(min_support: Any, n: int, name: str = "min_support") -> int:
    """Turn a support given as a fraction in (0, 1] or a positive count into a count.

    A fraction ``f`` gives ``ceil(f * n)`` computed so that floating-point noise
    never raises the count (``0.001 * 9835`` gives 10, not 11).

    Examples
    --------
    >>> support_count(0.001, 9835)
    10
    >>> support_count(25, 9835)
    25
    >>> support_count(1.5, 10)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `min_support` must be in (0, 1] or a positive count; got 1.5
    """
    msg = f"`{name}` must be in (0, 1] or a positive count; got {min_support!r}"
    if isinstance(min_support, bool) or not isinstance(min_support, numbers.Real):
        raise UpsellDataError(msg)
    if isinstance(min_support, numbers.Integral) and int(min_support) >= 1:
        return int(min_support)
    value = float(min_support)
    if not math.isfinite(value) or value <= 0 or value > 1:
        if value > 1 and value.is_integer():
            return int(value)
        raise UpsellDataError(msg)
    raw = value * n
    count = math.ceil(raw - 1e-9 * max(1.0, raw))
    return max(count, 1)


def is_one_id(value: Any) -> bool:
    """Whether an ids argument holds a single id rather than a collection of them.

    Unlike ``np.ndim(value) == 0`` it never converts a list to an array, so a list
    holding bytes, huge integers or mixed values is answered (and then refused by
    the id lookup with a clear message) instead of raising from numpy.

    Examples
    --------
    >>> is_one_id("C1"), is_one_id(7), is_one_id(["C1"]), is_one_id(np.array(3))
    (True, True, False, True)
    """
    if isinstance(value, np.ndarray):
        return value.ndim == 0
    return isinstance(value, (str, bytes)) or not hasattr(value, "__iter__")


def is_sparse(obj: Any) -> bool:
    """Whether ``obj`` is a scipy sparse matrix or array, without importing scipy.

    An object can only be one if ``scipy.sparse`` has been imported already, so a
    process that never touches scipy (mining plain lists of baskets) does not pay
    for loading it.

    Examples
    --------
    >>> is_sparse([[1, 2]])
    False
    >>> import scipy.sparse as sp
    >>> is_sparse(sp.eye(2, format="csr"))
    True
    """
    module = sys.modules.get("scipy.sparse")
    return module is not None and bool(module.issparse(obj))


def as_csr(matrix: Any, name: str = "matrix") -> sp.csr_matrix:
    """Convert any scipy sparse matrix or array to canonical CSR.

    Canonical means float32 data, int32 indices, sorted indices, duplicates
    summed and no stored zeros. Dense input is refused: converting it silently
    could hide a huge allocation.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = as_csr(sp.coo_matrix(([1, 2, 0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2)))
    >>> m.toarray().tolist(), m.dtype.name, m.nnz
    ([[0.0, 3.0], [0.0, 0.0]], 'float32', 1)
    """
    if not is_sparse(matrix):
        raise UpsellDataError(
            f"`{name}` must be a scipy sparse matrix or Transactions; got {type(matrix).__name__}"
        )
    if matrix.ndim != 2:
        raise UpsellDataError(f"`{name}` must be 2-dimensional; got shape {matrix.shape}")
    import scipy.sparse as sp  # local: scipy loads only for sparse input

    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.sort_indices()
    if not np.all(np.isfinite(out.data)):
        bad = int(np.flatnonzero(~np.isfinite(out.data))[0])
        row = int(np.searchsorted(out.indptr, bad, side="right") - 1)
        raise UpsellDataError(
            f"`{name}` holds a non-finite value {out.data[bad]!r} at row {row}, "
            f"column {int(out.indices[bad])}"
        )
    out.indices = out.indices.astype(np.int32, copy=False)
    out.indptr = out.indptr.astype(np.int64 if out.nnz > np.iinfo(np.int32).max else np.int32,
                                   copy=False)
    return out


# ------------------------------------------------------------------ transactions
def as_transactions(value: Any, name: str = "transactions") -> Transactions:
    """Return ``value`` if it is a :class:`~upsell.data.Transactions`, else raise naming ``name``.

    The one type check of a Transactions argument. ``_validation`` sits below
    ``upsell.data``, so the class is looked up among the loaded modules rather
    than imported: a Transactions object can only exist once its module is loaded.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str, default "transactions"
        The argument's name, used in the message.

    Returns
    -------
    Transactions
        ``value`` itself.

    Raises
    ------
    UpsellTypeError
        (an ``UpsellDataError``, ``ValueError`` and ``TypeError``) if ``value`` is
        anything else; the message names ``name`` and the type that came.

    Examples
    --------
    >>> from upsell import Transactions
    >>> tx = Transactions.from_arrays(order=[1], item=["a"])
    >>> as_transactions(tx, "tx") is tx
    True
    >>> as_transactions([("1", "a")], "tx")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellTypeError: `tx` must be Transactions; got list
    """
    module = sys.modules.get("upsell.data.transactions")
    cls = getattr(module, "Transactions", None) if module is not None else None
    if cls is None or not isinstance(value, cls):
        raise UpsellTypeError(f"`{name}` must be Transactions; got {type(value).__name__}")
    return value


# -------------------------------------------------------------------------- time
_TIME_WHAT = "a datetime, date, ISO 8601 string or epoch seconds"


@overload
def as_time(value: Any, name: str, *, unit: str = ...,
            allow_none: Literal[False] = ...) -> np.datetime64: ...
@overload
def as_time(value: Any, name: str, *, unit: str = ...,
            allow_none: bool) -> np.datetime64 | None: ...
def as_time(value: Any, name: str, *, unit: str = "s",
            allow_none: bool = False) -> np.datetime64 | None:
    """Parse one point in time to a naive UTC ``numpy.datetime64`` of ``unit``.

    The one parser of a single time argument (``at=``, ``start=``, ``calibration_end=``
    ...). Accepted: ISO 8601 strings (date, date and time, ``"Z"`` or ``+hh:mm``
    offsets, the basic form ``"19970101"``), :class:`datetime.datetime` (aware ones
    converted to UTC), :class:`datetime.date`, ``numpy.datetime64``,
    ``pandas.Timestamp``, and int or float epoch seconds (whatever ``unit``).

    Parameters
    ----------
    value : time-like or None
        The argument to parse.
    name : str
        The argument's name, used in the message.
    unit : str, default "s"
        numpy datetime unit of the result ("D" keeps the date of a time of day).
    allow_none : bool, default False
        Return None for None instead of raising.

    Returns
    -------
    numpy.datetime64 or None

    Raises
    ------
    UpsellValueError
        (an ``UpsellDataError``, ``ValueError``) naming ``name`` and the value for
        anything else: text that is no time, bool, NaN, NaT, a time difference
        (``timedelta``), or a year outside 1000..9999 (epoch milliseconds passed
        as seconds land there).

    Examples
    --------
    >>> as_time("2024-06-01T05:00:00+05:00", "at")
    np.datetime64('2024-06-01T00:00:00')
    >>> as_time("2024-06-01 18:30", "calibration_end", unit="D")
    np.datetime64('2024-06-01')
    >>> as_time(86_400, "at")
    np.datetime64('1970-01-02T00:00:00')
    >>> as_time(None, "at", allow_none=True) is None
    True
    >>> as_time("soon", "at")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `at` must be a datetime, date, ISO 8601 string or epoch seconds; got 'soon'
    """
    u: Any = unit  # numpy's stubs want a literal unit
    if value is None:
        if allow_none:
            return None
        raise UpsellValueError(f"`{name}` must be {_TIME_WHAT}; got None")
    out = _parse_time(value, u)
    if out is None or np.isnat(out):
        raise UpsellValueError(f"`{name}` must be {_TIME_WHAT}; got {_short(value)}")
    year = int(out.astype("datetime64[Y]").astype(np.int64)) + 1970
    if not 1000 <= year <= 9999:
        raise UpsellValueError(
            f"`{name}` must be {_TIME_WHAT} with a year in 1000..9999; got {_short(value)} "
            f"(year {year:,})")
    return out


def _parse_time(value: Any, unit: Any) -> np.datetime64 | None:
    """The time ``value`` stands for (None or NaT when it is not one)."""
    if isinstance(value, (bool, np.bool_, _dt.timedelta, np.timedelta64)):
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, np.datetime64):
        seconds = float(value)
        if not math.isfinite(seconds) or abs(seconds) > 1e15:
            return None
        try:
            if isinstance(value, numbers.Integral):
                t = np.datetime64(int(value), "s")
            else:
                t = np.datetime64(math.floor(seconds * 1_000_000), "us")
            return t.astype(f"datetime64[{unit}]")
        except (TypeError, ValueError, OverflowError):
            return None
    try:
        if isinstance(value, _dt.datetime) and value != value:  # pandas NaT
            return None
    except TypeError:
        return None
    out = to_datetime64(value, unit)
    if np.isnat(out) and unit != "s":  # a time of day given where a date is asked
        out = to_datetime64(value, "s")
        if not np.isnat(out):
            out = out.astype(f"datetime64[{unit}]")
    return out


# ---------------------------------------------------------------------- segments
_LABEL_ATTRS = ("labels", "segment", "persona", "label")


def as_segments(segments: Any, customers: IdIndex, name: str = "segments", *,
                report: dict[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``segments=`` argument as one label per customer of ``customers``.

    The one reading of ``segments=``; accepted forms:

    * None: no customer has a label;
    * a mapping customer id -> label, or a pandas Series indexed by customer id;
    * a ``(customer ids, labels)`` pair of equal-length sequences;
    * a segmenter result with ``customers`` and ``labels``, ``segment``,
      ``persona`` or ``label`` (RFM, Personas, Clusters results);
    * a fitted segmenter (``customers_`` plus ``assignments_`` or ``predict()``,
      or just ``predict(customers=...)``), or a recommender ``SegmentMap``;
    * labels aligned to ``customers`` (a list or array of the same length).

    Labels become text; None, NaN and missing customers become ``""``.

    Parameters
    ----------
    segments : see above
    customers : IdIndex
        The customers to label, in index order.
    name : str, default "segments"
        The argument's name, used in messages.
    report : dict, optional
        If given, ``report["unknown customers"]`` is set to the number of
        customers the argument labels that are not in ``customers`` (they are
        counted and left out, not an error).

    Returns
    -------
    labels : ndarray of str, shape (len(customers),)
        Each customer's label, ``""`` for none.
    names : ndarray of str
        The distinct labels, sorted (``""`` left out).

    Raises
    ------
    UpsellDataError
        If ``segments`` is none of the forms, or aligned labels have the wrong length.

    Examples
    --------
    >>> from upsell import IdIndex
    >>> customers = IdIndex(["c1", "c2", "c3"])
    >>> labels, names = as_segments({"c1": "gold", "c3": "new", "zz": "gold"}, customers)
    >>> labels.tolist(), names.tolist()
    (['gold', '', 'new'], ['gold', 'new'])
    >>> as_segments((["c2"], ["vip"]), customers)[0].tolist()
    ['', 'vip', '']
    >>> as_segments(["a", None, "b"], customers)[0].tolist()
    ['a', '', 'b']
    >>> as_segments(["a"], customers)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `segments` must give one label per customer (3); got 1
    """
    n = len(customers)
    unknown = 0
    if segments is None:
        labels = np.full(n, "", dtype=str)
    elif callable(getattr(segments, "labels_for", None)):  # recommend's SegmentMap
        labels = _label_strings(segments.labels_for(customers), name)
    else:
        pair = _segment_pair(segments, customers, name)
        if pair is None:
            labels = _aligned_labels(segments, n, name)
        else:
            labels, unknown = _labels_from_pair(pair[0], pair[1], customers, name)
    if report is not None:
        report["unknown customers"] = unknown
    names = np.unique(labels[labels != ""]) if labels.size else np.zeros(0, dtype=str)
    return labels, names


def _segment_pair(segments: Any, customers: IdIndex, name: str) -> tuple[Any, Any] | None:
    """``(customer ids, labels)`` of a keyed form; None for labels aligned to ``customers``."""
    if isinstance(segments, Mapping):
        return list(segments.keys()), list(segments.values())
    if (hasattr(segments, "index") and hasattr(segments, "to_numpy")
            and not isinstance(segments, np.ndarray) and getattr(segments, "ndim", 1) == 1):
        return segments.index.to_numpy(), segments.to_numpy()  # pandas Series
    if (isinstance(segments, tuple) and len(segments) == 2
            and all(_is_sequence(part) for part in segments)):
        return segments[0], segments[1]
    ids = getattr(segments, "customers", None)
    if ids is not None and not isinstance(segments, (np.ndarray, list, tuple)):
        for attr in _LABEL_ATTRS:
            if hasattr(segments, attr):
                return ids, getattr(segments, attr)
    model_ids = getattr(segments, "customers_", None)
    if model_ids is not None:  # a fitted segmenter
        res = getattr(segments, "assignments_", None)
        if res is None:
            res = segments.predict()
        return _result_pair(res, model_ids, name)
    if callable(getattr(segments, "predict", None)):
        try:
            res = segments.predict(customers=customers.ids)
        except KeyError as exc:
            raise UpsellDataError(
                f"`{name}` cannot label every customer ({exc}); pass labels for these "
                f"customers or a model fitted on them") from None
        return _result_pair(res, customers, name)
    return None


def _result_pair(res: Any, ids: Any, name: str) -> tuple[Any, Any]:
    """``(customer ids, labels)`` of what a segmenter's ``predict`` returned."""
    if isinstance(res, (np.ndarray, list, tuple)):
        return ids, res
    for attr in _LABEL_ATTRS:
        if hasattr(res, attr):
            return getattr(res, "customers", ids), getattr(res, attr)
    raise UpsellDataError(
        f"`{name}`: the segmenter's predictions ({type(res).__name__}) have no labels, "
        f"segment, persona or label attribute")


def _is_sequence(value: Any) -> bool:
    return (not isinstance(value, (str, bytes)) and hasattr(value, "__len__")
            and hasattr(value, "__iter__"))


def _labels_from_pair(ids: Any, values: Any, customers: IdIndex,
                      name: str) -> tuple[np.ndarray, int]:
    """Labels per customer from keyed labels, and how many keys are not customers."""
    ids = getattr(ids, "ids", ids)  # an IdIndex
    vals = _label_strings(values, name).reshape(-1)
    keys = np.asarray(ids, dtype=object).reshape(-1) if not isinstance(ids, np.ndarray) \
        else ids.reshape(-1)
    if keys.size != vals.size:
        raise UpsellDataError(
            f"`{name}` must pair each customer with one label; got {keys.size:,} customers "
            f"and {vals.size:,} labels")
    out = np.full(len(customers), "", dtype=vals.dtype if vals.size else "<U1")
    if keys.size:
        pos = customers.encode(keys, unknown="mask")
        ok = pos >= 0
        out[pos[ok]] = vals[ok]
        unknown = int((~ok).sum())
    else:
        unknown = 0
    return out, unknown


def _aligned_labels(segments: Any, n: int, name: str) -> np.ndarray:
    if isinstance(segments, (str, bytes)) or not hasattr(segments, "__iter__"):
        raise UpsellDataError(
            f"`{name}` must be None, a mapping customer -> label, a pandas Series, a "
            f"(customers, labels) pair, a segmenter or its result, or one label per "
            f"customer; got {type(segments).__name__}")
    vals = _label_strings(segments, name)
    if vals.ndim != 1 or vals.size != n:
        got = f"{vals.size:,}" if vals.ndim == 1 else f"shape {vals.shape}"
        raise UpsellDataError(f"`{name}` must give one label per customer ({n:,}); got {got}")
    return vals


def _label_strings(values: Any, name: str) -> np.ndarray:
    """Labels as a new str array (a scalar or 1-d input gives 1-d); None, NaN, pandas NA and
    NaT as ''. Arrays of text, integers, bools and floats convert without a Python loop."""
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    if isinstance(values, np.ndarray):
        arr = values.reshape(-1) if values.ndim <= 1 else values
        kind = arr.dtype.kind
        if kind == "U":
            return arr.copy()
        if kind in "iubf":
            out = arr.astype(str)
            if kind == "f":
                out[np.isnan(arr)] = ""
            # numbers' text is at most 32 characters wide; the labels' own width sorts faster
            width = int(np.char.str_len(out).max(initial=1)) if out.size else 1
            return out.astype(f"<U{max(width, 1)}")
        obj = arr.astype(object)
    else:
        try:
            seq = list(values)
            obj = np.empty(len(seq), dtype=object)
            obj[:] = seq
        except (TypeError, ValueError):
            raise UpsellDataError(
                f"`{name}` labels must be one value per customer; got {_short(values)}"
            ) from None
    text = [_one_label(v) for v in obj.reshape(-1).tolist()]
    out = np.array(text, dtype=str) if text else np.zeros(0, dtype=str)
    return out.reshape(obj.shape)


def _one_label(v: Any) -> str:
    if v is None or isinstance(v, str):
        return v or ""
    try:
        if v != v:  # NaN, NaT
            return ""
    except (TypeError, ValueError):  # pandas NA refuses a truth value
        return ""
    return str(v)


# ------------------------------------------------------------------------ memory
@functools.lru_cache(maxsize=1)
def memory_budget() -> int:
    """Default memory budget of one allocation: half the physical memory (read once).

    Falls back to 4 GiB where the physical memory size is unknown.

    Examples
    --------
    >>> memory_budget() > 0
    True
    """
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return int(pages) * int(size) // 2
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        pass
    return 4 * 2**30  # pragma: no cover


def resident_bytes() -> int | None:
    """Memory this process holds now (its resident set), or None where unknown (not Linux).

    Examples
    --------
    >>> got = resident_bytes()
    >>> got is None or got > 0
    True
    """
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def format_bytes(n_bytes: float) -> str:
    """A byte count for people: ``1.5 GiB``, ``640 MiB``, ``12 KiB``, ``80 bytes``.

    Examples
    --------
    >>> format_bytes(3 * 2**29), format_bytes(640 * 2**20), format_bytes(80)
    ('1.5 GiB', '640 MiB', '80 bytes')
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size:
            value = n_bytes / size
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.3g} {unit}"
    return f"{int(n_bytes)} bytes"


def check_memory(n_bytes: float, name: str, *, budget: float | None = None,
                 hint: str | None = None) -> None:
    """Refuse an allocation of ``n_bytes`` that would exceed the memory budget, before it happens.

    The one memory guard: callers estimate what they are about to allocate and
    call this first, so a too-large request is an error naming what to change
    instead of the machine swapping or the process being killed.

    Parameters
    ----------
    n_bytes : int or float
        The bytes about to be allocated (an estimate counting temporaries).
    name : str
        What would be allocated, said the way a user set it, e.g.
        ``"`batch_size`=4,096 x 100,000 items"``.
    budget : int or float, optional
        Limit in bytes; default :func:`memory_budget` (half the physical memory).
    hint : str, optional
        How to lower it (``"lower `batch_size`"``); default: lower ``name`` or
        pass a larger budget.

    Raises
    ------
    UpsellMemoryError
        (an ``UpsellError`` and ``MemoryError``) if ``n_bytes > budget``.

    Examples
    --------
    >>> check_memory(2**20, "a 1 MiB table")
    >>> check_memory(3 * 2**30, "`factors`=512 for 1,000,000 customers", budget=2**30,
    ...              hint="lower `factors`")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellMemoryError: `factors`=512 for 1,000,000 customers needs 3 GiB of memory, more than the budget of 1 GiB; lower `factors`
    """
    limit = memory_budget() if budget is None else budget
    if isinstance(n_bytes, bool) or not isinstance(n_bytes, numbers.Real) or not n_bytes >= 0:
        raise UpsellValueError(f"`n_bytes` must be a number >= 0; got {n_bytes!r}")
    if n_bytes > limit:
        what = "half the physical memory" if budget is None else None
        limit_text = format_bytes(limit) + (f" ({what})" if what else "")
        advice = hint or f"lower {name} or pass a larger budget"
        raise UpsellMemoryError(
            f"{name} needs {format_bytes(n_bytes)} of memory, more than the budget of "
            f"{limit_text}; {advice}")
