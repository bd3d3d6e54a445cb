"""Numbers as spreadsheets show them: currency symbols or codes, thousands separators,
accounting parentheses (``£1,234.50``, ``(12.50)``, ``12,50 €``, ``USD 9.99``).

Excel's "Save as CSV" writes each cell as it is displayed, so a price column formatted as
currency arrives as text that ``float()`` refuses. The file readers try such texts again
here, after the plain reading, and count the rows read this way as repaired. Nothing is
guessed: a group separator that could be the decimal mark (``1,234`` when the decimal mark
is a point) is read only when the same column shows it grouping digits beside a decimal
mark too (``1,234.50``) or more than once (``1,234,567``); otherwise it stays "not a
number", with the decimal-comma advice where it fits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

__all__ = ["decimal_advice", "formatted_reason", "read_formatted", "strip_currency"]

_SPACES = " \u00a0\u202f\u2009"
_CODE_HEAD = re.compile(r"^([A-Z]{3})\s*(?=[\d(.,+-])")
_CODE_TAIL = re.compile(r"(?<=[\d).])\s*([A-Z]{3})$")


def _grouped(decimal: str) -> re.Pattern[str]:
    seps = re.escape(("," if decimal == "." else ".") + "'" + _SPACES)
    mark = re.escape(decimal)
    return re.compile(rf"^(\d{{1,3}})(?:([{seps}])\d{{3}})((?:\2\d{{3}})*)({mark}\d+)?$")


_PATTERNS = {d: _grouped(d) for d in ".,"}
_PLAIN = {".": re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$"), ",": re.compile(r"^(?:\d+(?:,\d*)?|,\d+)$")}


def strip_currency(text: str) -> tuple[str, bool]:
    """``text`` without a leading or trailing currency symbol or code; whether it had one.

    Examples
    --------
    >>> strip_currency("US$ 12.50"), strip_currency("12,50 €"), strip_currency("12.5")
    (('12.50', True), ('12,50', True), ('12.5', False))
    """
    s = text.strip()
    had = False
    for _ in range(2):  # "US$", "R$": letters then the symbol
        head = next((i for i, ch in enumerate(s[:4]) if unicodedata.category(ch) == "Sc"), -1)
        if head == 0 or (head > 0 and s[:head].isalpha() and s[:head].isupper()):
            s, had = s[head + 1:].strip(), True
        tail = len(s) - 1
        if s and unicodedata.category(s[tail]) == "Sc":
            s, had = s[:tail].strip(), True
    m = _CODE_HEAD.match(s)
    if m:
        s, had = s[m.end():].strip(), True
    m = _CODE_TAIL.search(s)
    if m:
        s, had = s[:m.start()].strip(), True
    return s, had


def _one(text: str, decimal: str) -> tuple[float, str, bool] | None:
    """(value, its group separator or "", whether that reading needs the column's support)
    or None."""
    s = text.strip()
    neg = len(s) > 2 and s[0] == "(" and s[-1] == ")"
    if neg:
        s = s[1:-1].strip()
    sign = ""
    if s[:1] in ("-", "+"):
        sign, s = s[0], s[1:].strip()
    s, had = strip_currency(s)
    if not sign and s[:1] in ("-", "+"):  # "$-12.99"
        sign, s = s[0], s[1:].strip()
    if not s or (neg and sign):
        return None
    negative = neg or sign == "-"
    if _PLAIN[decimal].match(s):
        if not (had or neg):  # a plain number: the plain reading refused it for a reason
            return None
        value = float(s.replace(",", "."))
        return (-value if negative else value), "", False
    m = _PATTERNS[decimal].match(s)
    if m is None:
        return None
    sep = m.group(2)
    digits = s.replace(sep, "")
    value = float(digits.replace(",", "."))
    # "1,234" (decimal point) could be 1.234 written with a decimal comma
    doubtful = sep in ".," and not m.group(3) and not m.group(4)
    return (-value if negative else value), sep, doubtful


def formatted_reason(role: str, example: str) -> str:
    """The data report's repair reason for values of ``role`` read as a spreadsheet shows
    numbers, with one of them (the order readers and the catalog readers alike).

    Examples
    --------
    >>> formatted_reason("price", "£2.55")
    "price read from a formatted number ('£2.55')"
    """
    return f"{role} read from a formatted number ({example!r})"


def read_formatted(texts: Sequence[str], decimal: str = ".") -> tuple[np.ndarray, np.ndarray]:
    """Values of ``texts`` read as formatted numbers (NaN where not), and the mask of those read.

    Parameters
    ----------
    texts : sequence of str
        Texts the plain number reading refused.
    decimal : {".", ","}
        The decimal mark.

    Examples
    --------
    >>> v, ok = read_formatted(["£1,234.50", "(12.50)", "USD 9.99", "-$3", "1,200", "abc"])
    >>> v[ok].tolist(), ok.tolist()
    ([1234.5, -12.5, 9.99, -3.0, 1200.0], [True, True, True, True, True, False])
    >>> read_formatted(["1,200"])[1].tolist()  # alone it could be 1.2 with a decimal comma
    [False]
    >>> read_formatted(["12,50 €", "1.234,5"], decimal=",")[0].tolist()
    [12.5, 1234.5]
    """
    out = np.full(len(texts), np.nan)
    ok = np.zeros(len(texts), dtype=bool)
    doubtful: dict[int, str] = {}
    sure: set[str] = set()
    for i, t in enumerate(texts):
        got = _one(str(t), decimal)
        if got is None:
            continue
        out[i], sep, doubt = got
        if doubt:
            doubtful[i] = sep
        else:
            ok[i] = True
            sure.add(sep)  # this separator groups digits in this column
    for i, sep in doubtful.items():
        ok[i] = sep in sure
    out[~ok] = np.nan
    return out, ok


_THOUSANDS = re.compile(r"^\s*[-+]?\d{1,3}(,\d{3})+\s*$")
_COMMA_NUMBER = re.compile(r"^\s*[-+]?[\d. \u00a0\u202f]*,\d+\s*$")  # 15,3 or 1.234,5 or 1 234,5


def decimal_advice(texts: Sequence[str]) -> str:
    """What to pass for number ``texts`` a decimal point does not read: ``decimal=','``
    when most are written with a decimal comma (``15,3``, ``0,90 €``), a question when
    each could be a thousands separator (``1,200``), else ''.

    Examples
    --------
    >>> decimal_advice(["0,90 €", "1,20 €"])
    "; the file writes decimal commas: pass decimal=','"
    >>> decimal_advice(["abc"])
    ''
    """
    seen = [strip_currency(str(t))[0] for t in list(texts)[:1000]]
    if seen and all(_THOUSANDS.match(t) for t in seen):  # 1,200: 1.2 or 1200?
        return ("; a decimal comma (pass decimal=',') or a thousands separator (write the "
                "column without them, or with a decimal point as in 1,200.00)?")
    if seen and 2 * sum(bool(_COMMA_NUMBER.match(t)) for t in seen) >= len(seen):
        return "; the file writes decimal commas: pass decimal=','"
    return ""
