"""Table-driven hostile-input harness: input kinds, entry points, and the outcome check.

A *kind* is one sort of bad (or odd) argument, e.g. "k zero" or "id with control
characters"; it belongs to a *category* (what the argument means: a list length,
a fraction, an id list, a time ...). An *entry* is one public call with a factory
of valid arguments and the categories of the arguments it takes. The harness
calls every entry with every kind of its arguments' categories, one argument
mutated at a time, in a thread bounded by a timeout, and accepts exactly two
outcomes: a result, or an ``UpsellError`` whose message names the argument.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

import upsell as us
from upsell.exceptions import UpsellError

#: Seconds any one hostile call may take before it counts as a hang.
TIMEOUT = 30.0


class Hang(AssertionError):
    """A call did not return within the timeout."""


def bounded(fn: Callable[[], Any], timeout: float = TIMEOUT) -> tuple[bool, Any]:
    """Run ``fn`` in a daemon thread; ``(True, result)`` or ``(False, exception)``.

    Raises :class:`Hang` when it is still running after ``timeout`` seconds (the
    thread is abandoned; it is a daemon, so it cannot keep the interpreter alive).
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # the caller judges every exception
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True, name="hardening-call")
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise Hang(f"call did not return within {timeout:.0f} s")
    if "error" in box:
        return False, box["error"]
    return True, box.get("value")


def outcome(fn: Callable[[], Any], names: tuple[str, ...], where: str,
            timeout: float = TIMEOUT) -> str:
    """Call ``fn`` and return "ok" or the UpsellError class name; fail on anything else.

    An error must derive from ``UpsellError`` and its message must contain one of
    ``names`` (the argument's name and its aliases, case-insensitive).
    """
    ok, value = bounded(fn, timeout)
    if ok:
        return "ok"
    exc = value
    if not isinstance(exc, UpsellError):
        raise AssertionError(
            f"{where}: raw {type(exc).__module__}.{type(exc).__name__}: {exc}") from exc
    text = str(exc).lower()
    if not any(n.lower() in text for n in names):
        raise AssertionError(
            f"{where}: {type(exc).__name__} does not name {' / '.join(names)}: {exc}") from exc
    return type(exc).__name__


# ---------------------------------------------------------------------------- kinds
@dataclass(frozen=True)
class Kind:
    """One sort of hostile argument."""

    name: str
    category: str
    make: Callable[[Any], Any]  # world -> value
    note: str = ""


def _unknown_tx() -> Any:
    return us.Transactions.from_arrays(order=["o1"], item=["zz"], customer=["c?"],
                                       quantity=[1.0], price=[1.0],
                                       time=np.array(["2024-01-01"], dtype="datetime64[s]"))


def _empty_tx(w: Any) -> Any:
    # from_arrays refuses zero rows; filtering everything away is how an empty one arises
    return w.tx.filter(np.zeros(len(w.tx.order), dtype=bool))


def _nan_matrix() -> sp.csr_matrix:
    m = sp.random(20, 10, density=0.3, format="csr", random_state=0, dtype=np.float32)
    m.data[0] = np.nan
    return m


CONTROL = "a\x00b\r\n\t\x1b[31m\u202e\ufeff"
UNICODE = "产品🎁é\u0301Ω"
HUGE_INT = 2**80

KINDS: list[Kind] = [
    # list lengths and counts
    Kind("k zero", "k", lambda w: 0),
    Kind("k negative", "k", lambda w: -3),
    Kind("k float", "k", lambda w: 2.5),
    Kind("k bool", "k", lambda w: True),
    Kind("k string", "k", lambda w: "5"),
    Kind("k None", "k", lambda w: None),
    Kind("k NaN", "k", lambda w: math.nan),
    Kind("k huge (1e12)", "k", lambda w: 10**12),
    Kind("k beyond int64", "k", lambda w: 2**70),
    Kind("k numpy int", "k", lambda w: np.int64(3), "valid: numpy integers are integers"),
    # fractions and thresholds
    Kind("threshold NaN", "fraction", lambda w: math.nan),
    Kind("threshold +inf", "fraction", lambda w: math.inf),
    Kind("threshold -inf", "fraction", lambda w: -math.inf),
    Kind("threshold negative", "fraction", lambda w: -0.1),
    Kind("threshold above 1", "fraction", lambda w: 1.5),
    Kind("threshold string", "fraction", lambda w: "0.5"),
    Kind("threshold None", "fraction", lambda w: None),
    Kind("threshold complex", "fraction", lambda w: 1j),
    Kind("threshold array", "fraction", lambda w: np.array([0.1, 0.2])),
    # positive model parameters
    Kind("parameter zero", "positive", lambda w: 0),
    Kind("parameter negative", "positive", lambda w: -1),
    Kind("parameter NaN", "positive", lambda w: math.nan),
    Kind("parameter +inf", "positive", lambda w: math.inf),
    Kind("parameter string", "positive", lambda w: "3"),
    # one id
    Kind("unknown id", "id", lambda w: "no-such-id"),
    Kind("id with control characters", "id", lambda w: CONTROL),
    Kind("unicode id", "id", lambda w: UNICODE),
    Kind("huge int id (2**80)", "id", lambda w: HUGE_INT),
    Kind("id None", "id", lambda w: None),
    Kind("id NaN", "id", lambda w: math.nan),
    Kind("id bool", "id", lambda w: True),
    Kind("id bytes", "id", lambda w: b"\xff\xfe"),
    Kind("id dict", "id", lambda w: {"a": 1}),
    Kind("id float", "id", lambda w: 1.5),
    Kind("id of the wrong kind (int for str ids)", "id", lambda w: 7),
    # id lists (customers, items, baskets)
    Kind("empty id list", "ids", lambda w: []),
    Kind("unknown ids", "ids", lambda w: ["no-such-id", "nope"]),
    Kind("mixed-type ids", "ids", lambda w: [w.item, 3, None]),
    Kind("duplicated ids", "ids", lambda w: [w.item, w.item, w.item2, w.item]),
    Kind("ids with control characters", "ids", lambda w: [CONTROL, w.item]),
    Kind("unicode ids", "ids", lambda w: [UNICODE, w.item]),
    Kind("huge int ids", "ids", lambda w: [HUGE_INT, 1]),
    Kind("ids with None", "ids", lambda w: [w.item, None]),
    Kind("ids with NaN", "ids", lambda w: [math.nan]),
    Kind("nested id lists", "ids", lambda w: [[w.item, w.item2]]),
    Kind("id list given as a string", "ids", lambda w: w.item),
    Kind("ids as a set", "ids", lambda w: {w.item, w.item2}),
    Kind("ids as a 2-D array", "ids", lambda w: np.array([[w.item, w.item2]])),
    Kind("ids as float array", "ids", lambda w: np.array([0.5, 1.0])),
    Kind("ids as bool array", "ids", lambda w: np.array([True, False])),
    Kind("100k-item basket", "ids", lambda w: [w.item, w.item2] * 50_000),
    Kind("100k distinct unknown ids", "ids", lambda w: [f"x{i}" for i in range(100_000)]),
    Kind("ids as a generator", "ids", lambda w: (i for i in [w.item, w.item2])),
    # times
    Kind("time in the future (2100)", "time", lambda w: "2100-01-01"),
    Kind("time before the data (1970)", "time", lambda w: "1970-01-01"),
    Kind("unparseable time", "time", lambda w: "yesterday-ish"),
    Kind("NaT", "time", lambda w: np.datetime64("NaT")),
    Kind("time NaN", "time", lambda w: math.nan),
    Kind("time as a list", "time", lambda w: ["2024-01-01"]),
    Kind("time with a UTC offset", "time", lambda w: "2024-06-01T00:00:00+05:00"),
    Kind("time with control characters", "time", lambda w: "2024-01-01\x00"),
    # time columns
    Kind("timestamps out of order", "times",
         lambda w: ["2024-03-01", "2024-01-01", "2024-02-01"]),
    Kind("timestamps in the future", "times",
         lambda w: ["2100-01-01", "2100-01-02", "2999-12-31"]),
    Kind("timestamps of mixed types", "times",
         lambda w: [np.datetime64("2024-01-01"), "2024-01-02", 1_700_000_000]),
    Kind("timestamps with NaT", "times", lambda w: ["2024-01-01", "NaT", "2024-01-03"]),
    Kind("timestamps unparseable", "times", lambda w: ["2024-01-01", "soon", "2024-01-03"]),
    Kind("timestamps as epoch floats", "times", lambda w: [1.7e9, 1.7e9 + 60, math.nan]),
    # choice strings
    Kind("unknown choice", "choice", lambda w: "fax"),
    Kind("empty string choice", "choice", lambda w: ""),
    Kind("choice of the wrong type", "choice", lambda w: 3),
    Kind("choice with control characters", "choice", lambda w: CONTROL),
    # data arguments (Transactions, matrices)
    Kind("empty Transactions", "data", _empty_tx),
    Kind("single-row Transactions", "data", lambda w: _unknown_tx()),
    Kind("empty sparse matrix (0 x 0)", "data", lambda w: sp.csr_matrix((0, 0))),
    Kind("sparse matrix holding NaN", "data", lambda w: _nan_matrix()),
    Kind("dense ndarray instead of data", "data", lambda w: np.ones((4, 3))),
    Kind("list of lists instead of data", "data", lambda w: [[1, 2], [3]]),
    Kind("None instead of data", "data", lambda w: None),
    Kind("path string instead of data", "data", lambda w: "/nonexistent/orders.csv"),
    # column arrays for constructors
    Kind("column with NaN", "column", lambda w: [1.0, math.nan, 2.0]),
    Kind("column with inf", "column", lambda w: [1.0, math.inf, 2.0]),
    Kind("column with strings", "column", lambda w: ["1", "two", "3"]),
    Kind("column of the wrong length", "column", lambda w: [1.0]),
    Kind("column 2-D", "column", lambda w: np.ones((3, 2))),
    Kind("column of objects", "column", lambda w: [object(), object(), object()]),
    Kind("column with huge values", "column", lambda w: [1e308, 1e308, -1e308]),
    Kind("column of None", "column", lambda w: [None, None, None]),
]

KIND_BY_NAME = {k.name: k for k in KINDS}


def kinds_of(category: str) -> list[Kind]:
    return [k for k in KINDS if k.category == category]


# ---------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class Entry:
    """One public call: ``call(world, **kwargs)`` with ``valid(world)`` as default kwargs."""

    name: str
    call: Callable[..., Any]
    valid: Callable[[Any], dict[str, Any]]
    args: dict[str, str]  # argument -> category
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def names(self, arg: str) -> tuple[str, ...]:
        out = [arg, arg.rstrip("s")]
        out += list(self.aliases.get(arg, ()))
        return tuple(out)
