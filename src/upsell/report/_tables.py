"""Small display containers shared by the analysis and the HTML renderer."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from upsell._display import TableResult

__all__ = ["MAX_MARKS", "Chart", "Table", "fmt", "fmt_pct", "shorten_list"]

#: Most marks (points, bars, line vertices) one report chart draws; beyond it the
#: data are sampled, binned or aggregated and the chart's note says so.
MAX_MARKS = 2_000

# a cell longer than this is cut with an ellipsis: a table stays readable
_MAX_CELL = 240


def fmt(value: Any, digits: int = 3) -> str:
    """Format a cell for display: thousands separators, a few significant digits, "–" for missing.

    Examples
    --------
    >>> fmt(1234567), fmt(0.123456), fmt(float("nan")), fmt("a<b")
    ('1,234,567', '0.123', '–', 'a<b')
    >>> fmt(969.0), fmt(969.5), fmt(2.0), fmt(-3.0)
    ('969', '969.5', '2', '-3')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return "–"
        if abs(value) >= 1e15:
            return f"{value:.3g}"
        if abs(value) >= 1000 or (value.is_integer() and value != 0):
            # whole numbers read as counts, whatever their dtype (969 units, not 969.0)
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}g}" if value != 0 else "0"
    return str(value)


def _decimals(text: str) -> int:
    return len(text) - text.index(".") - 1 if "." in text and "e" not in text else 0


def _column_places(rows: Sequence[Sequence[Any]], pct: list[bool]) -> list[int | None]:
    """Per column of floats, the number of decimals that most (over half) of its cells have
    as ``fmt`` (``fmt_pct``) writes them, else those of its median cell (by size); None
    when the column holds anything but floats and blanks (a "what / value" table of unlike
    figures): then every cell keeps its own. So a money column reads "45.8, 30.0, 105.0"
    (not "45.8, 30, 105.0"), one of thousands "2,901, 441, 1,011" (not "2,901, 441.3,
    1,011") and lifts "13.9, 12.0, 10.0, 9.03" (not "13.9, 12, 10, 9.03")."""
    places: list[int | None] = []
    for j, p in enumerate(pct):
        show = fmt_pct if p else fmt
        if not all(r[j] is None or isinstance(r[j], float) for r in rows):
            places.append(None)
            continue
        cells = sorted((abs(float(r[j])), _decimals(show(r[j]).rstrip("%"))) for r in rows
                       if isinstance(r[j], float) and math.isfinite(r[j]))
        counts: dict[int, int] = {}
        for _, d in cells:
            counts[d] = counts.get(d, 0) + 1
        best = max(counts, key=lambda d: (counts[d], d)) if counts else 0
        if cells and 2 * counts[best] <= len(cells):  # no majority: the median cell's
            best = cells[len(cells) // 2][1]
        places.append(best if cells else None)
    return places


def _padded(value: Any, text: str, places: int | None, percent: bool = False) -> str:
    """``text`` of a float below 1,000 (1,000%) re-rounded to its column's ``places``: more
    decimals ("30" -> "30.0" among "45.8"; "0.3%" -> "0.30%" among "0.28%"), or fewer
    where three significant digits remain ("441.3" -> "441" among "2,901"; "0.004" and
    "0.75%" keep theirs)."""
    if places is None or not isinstance(value, float) or not math.isfinite(value):
        return text
    x = 100 * value if percent else value
    d = _decimals(text.rstrip("%"))
    if abs(x) >= 1000 or "e" in text or d == places or (d > places
                                                          and abs(x) < 10 ** (2 - places)):
        return text
    return f"{x:.{places}f}" + ("%" if percent else "")


def fmt_pct(value: Any, digits: int = 1) -> str:
    """Format a share as a percentage, "n/a" when missing or not finite.

    ``digits`` decimals, but shares below 1% keep two significant digits so
    small supports stay distinguishable.

    Examples
    --------
    >>> fmt_pct(0.1234), fmt_pct(float("nan")), fmt_pct(None), fmt_pct(float("inf"))
    ('12.3%', 'n/a', 'n/a', 'n/a')
    >>> fmt_pct(0.0028), fmt_pct(0.003378), fmt_pct(0.0000123), fmt_pct(0.0)
    ('0.28%', '0.34%', '0.0012%', '0.0%')
    >>> fmt_pct(1.7e308)
    '1.70e+310%'
    """
    if value is None or isinstance(value, bool):
        return "n/a"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if v != v or v in (float("inf"), float("-inf")):
        return "n/a"
    if 0 < abs(v) < 0.01:
        return f"{100 * v:.2g}%"
    if abs(v) >= 1e6:  # absurd shares, written without overflowing 100 * v
        mantissa, exponent = f"{v:.2e}".split("e")
        return f"{mantissa}e{int(exponent) + 2:+d}%"
    return f"{v:.{digits}%}"


def shorten_list(names: Any, limit: int = 5, sep: str = ", ") -> str:
    """Join the first ``limit`` names and count the rest: "a, b, c …and 74 more".

    Examples
    --------
    >>> shorten_list(["tea", "mug"]), shorten_list(list("abcdefg"), 3)
    ('tea, mug', 'a, b, c …and 4 more')
    >>> shorten_list([])
    '–'
    """
    names = [str(x) for x in names]
    if not names:
        return "–"
    head = sep.join(names[:limit])
    rest = len(names) - limit
    return f"{head} …and {rest:,} more" if rest > 0 else head


# numbers already formatted as text ("12.5%", "n/a") are aligned like numbers
_NUMERIC_TEXT = re.compile(r"^(?:[-+]?[\d,]*\.?\d+%?|n/a)$")
# ...but digits that fmt() never writes are ids ("0108775015", customer "14334"): text
_ID_TEXT = re.compile(r"^(?:0\d+|\d{4,})$")
_DIGITS = re.compile(r"^\d+$")
_LETTER = re.compile(r"[^\W\d_]")  # a cell with a letter: a column of names or ids
#: columns of products or customers: their digits are ids however short (Instacart's "2")
_ID_HEADERS = frozenset(("product", "item", "customer", "offer", "if bought", "also buy",
                         "bundle", "order"))
# a word this long (a hashed customer id) may wrap anywhere, or it would widen its column
_LONG_WORD = re.compile(r"\S{25}")


def _cut(text: str, limit: int = _MAX_CELL) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Table(TableResult):
    """A small display table: a title, column names and rows of plain Python values.

    Attributes
    ----------
    title : str
    columns : tuple of str
    rows : tuple of tuple
        One tuple per row, aligned with ``columns``.
    note : str
        A sentence shown under the table.
    percent : tuple of str
        Columns shown as percentages.
    total : int, optional
        Rows of the full result when ``rows`` hold only its top rows; the page
        then says "+ N more" (default: ``len(rows)``).
    unit : str
        What a row is, for that line ("rules", "customers"; default "rows").
    empty : str
        Why there are no rows, shown instead of an empty table (default: "none in
        these data").

    Examples
    --------
    >>> t = Table("Top", ("item", "lift"), (("a<b>", 2.5),))
    >>> "&lt;b&gt;" in t._repr_html_(), t.to_pandas().shape
    (True, (1, 2))
    >>> "+ 99 more rules" in Table("", ("a",), ((1,),), total=100, unit="rules").to_html()
    True
    >>> Table("Top", ("a",), (), unit="rules", empty="one item per order").to_html()
    '<p class="caption"><b>Top</b></p><p class="note">No rules: one item per order.</p>'
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""
    percent: tuple[str, ...] = ()
    total: int | None = None
    unit: str = "rows"
    empty: str = ""

    _title = "Table"

    def __len__(self) -> int:
        return len(self.rows)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        kept = self.rows if rows is None else self.rows[rows.start:rows.stop]
        if not kept:  # no values to infer a type from: object columns, as pandas makes them
            return {c: np.empty(0, dtype=object) for c in self.columns}
        return {c: [row[j] for row in kept] for j, c in enumerate(self.columns)}

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row.

        Examples
        --------
        >>> Table("t", ("a",), ((1,),)).to_records()
        [{'a': 1}]
        """
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_html(self, max_rows: int = 25) -> str:
        """An escaped HTML ``<table>`` of the first ``max_rows`` rows, with "+ N more" after.

        Numbers are right-aligned, percentages and missing values never read
        "nan", long cells are cut, and the table scrolls sideways inside its
        own box on a narrow screen instead of widening the page.

        Examples
        --------
        >>> html = Table("", ("x", "share"), ((1, float("nan")),), percent=("share",)).to_html()
        >>> "nan" in html, "n/a" in html, 'class="scroll"' in html
        (False, True, True)
        """
        # the title stays outside the scrolling box, so a narrow screen shows all of it
        cap = f'<p class="caption"><b>{escape(self.title)}</b></p>' if self.title else ""
        note = f'<p class="note">{escape(self.note)}</p>' if self.note else ""
        if not self.rows and not self.total:  # no empty table: say why there is nothing
            why = (self.empty or "none in these data").rstrip(".")
            return f'{cap}<p class="note">No {escape(self.unit)}: {escape(why)}.</p>{note}'
        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        pct = [c in self.percent for c in self.columns]
        body = []
        shown = self.rows[:max_rows]
        places = _column_places(shown, pct)
        # a column of ids (one reads as an id: "3103", "85123A") keeps its short ones
        # ("170") as text too, or they would stand right of the others
        by_col = list(zip(*shown, strict=True)) if shown else [()] * len(pct)
        named = [name.lower() in _ID_HEADERS for name in self.columns]
        ids = [n or any(isinstance(v, str) and v != "n/a"
                        and (_ID_TEXT.match(v) or _LETTER.search(v)) for v in col)
               for n, col in zip(named, by_col, strict=True)]
        for row in shown:
            cells = []
            for v, p, d, id_col, of_ids in zip(row, pct, places, ids, named, strict=True):
                if of_ids and isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                    v = str(v)  # an integer id: 25508, not "25,508" right-aligned
                num = isinstance(v, (int, float)) and not isinstance(v, bool)
                text = _padded(v, fmt_pct(v), d, True) if p and num else _padded(v, fmt(v), d)
                digits = isinstance(v, str) and id_col and _DIGITS.match(text)
                if num or (_NUMERIC_TEXT.match(text) and not _ID_TEXT.match(text)
                           and not digits):
                    cls = ' class="num"'
                else:
                    cls = ' class="long"' if _LONG_WORD.search(text) else ""
                cells.append(f"<td{cls}>{escape(_cut(text))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        total = len(self.rows) if self.total is None else max(int(self.total), len(shown))
        rest = total - len(shown)
        more = (f'<p class="more">+ {rest:,} more {escape(self.unit)}</p>' if rest > 0 else "")
        return (f'{cap}<div class="scroll" style="overflow-x:auto"><table><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table></div>{more}{note}")

    def _repr_html_(self) -> str:
        return self.to_html(max_rows=20)


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart to draw at render time: the name of a function in :mod:`upsell.report.plots`
    and its keyword arguments (plain arrays), so analysis never imports matplotlib.

    ``note`` is the caption under the chart: what was drawn when the data were
    sampled, binned or aggregated to stay within :data:`MAX_MARKS` marks.

    Examples
    --------
    >>> Chart("bar_chart", "Sizes", {"labels": ["a"], "values": [1.0]}).kind
    'bar_chart'
    """

    kind: str
    title: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""
