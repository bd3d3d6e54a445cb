"""Argument checks shared by the public entry points.

Each helper validates one kind of argument and returns it normalised, so code
past the entry point can trust it. Messages name the argument, say what is
allowed and show what came.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import re
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from upsell.exceptions import UpsellDataError

if TYPE_CHECKING:
    import scipy.sparse as sp


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


_UTC_OFFSET = re.compile(r"[T ]\d\d(:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d(:?\d\d)?)$")


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
    >>> to_datetime64("19970101")            # ISO 8601 basic form
    np.datetime64('1997-01-01T00:00:00')
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
        elif _UTC_OFFSET.search(text):
            try:
                value = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z")
                                                   else text)
            except ValueError:
                return nat
    if isinstance(value, _dt.datetime) and value.tzinfo is not None:
        offset = value.utcoffset()
        value = value.replace(tzinfo=None) - (offset or _dt.timedelta(0))
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
