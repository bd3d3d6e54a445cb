"""Small display containers shared by the analysis and the HTML renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

__all__ = ["Chart", "Table", "fmt"]


def fmt(value: Any, digits: int = 3) -> str:
    """Format a cell for display: thousands separators, a few significant digits, "–" for missing.

    Examples
    --------
    >>> fmt(1234567), fmt(0.123456), fmt(float("nan")), fmt("a<b")
    ('1,234,567', '0.123', '–', 'a<b')
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
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}g}" if value != 0 else "0"
    return str(value)


@dataclass(frozen=True, slots=True)
class Table:
    """A small display table: a title, column names and rows of plain Python values.

    Attributes
    ----------
    title : str
    columns : tuple of str
    rows : tuple of tuple
        One tuple per row, aligned with ``columns``.
    note : str
        A sentence shown under the table.

    Examples
    --------
    >>> t = Table("Top", ("item", "lift"), (("a<b>", 2.5),))
    >>> "&lt;b&gt;" in t._repr_html_(), t.to_pandas().shape
    (True, (1, 2))
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""
    percent: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def to_pandas(self) -> Any:
        """The rows as a DataFrame (needs pandas)."""
        from upsell._extras import require

        pd = require("pandas", "Table.to_pandas")
        return pd.DataFrame(list(self.rows), columns=list(self.columns))

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row.

        Examples
        --------
        >>> Table("t", ("a",), ((1,),)).to_records()
        [{'a': 1}]
        """
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_html(self, max_rows: int = 50) -> str:
        """An escaped HTML ``<table>`` (numbers right-aligned)."""
        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        pct = [c in self.percent for c in self.columns]
        body = []
        for row in self.rows[:max_rows]:
            cells = []
            for v, p in zip(row, pct, strict=True):
                num = isinstance(v, (int, float)) and not isinstance(v, bool)
                cls = ' class="num"' if num else ""
                text = f"{v:.1%}" if p and num and v == v else fmt(v)
                cells.append(f"<td{cls}>{escape(text)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        more = (f'<p class="note">{len(self.rows) - max_rows:,} more rows not shown.</p>'
                if len(self.rows) > max_rows else "")
        note = f'<p class="note">{escape(self.note)}</p>' if self.note else ""
        cap = f"<caption>{escape(self.title)}</caption>" if self.title else ""
        table = (f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
                 f"</tbody></table>{more}")
        if len(self.rows) > 16:
            # long tables fold away (native <details>, no script)
            label = escape(self.title or "table")
            table = (f"<details><summary>{label}: {len(self.rows):,} rows</summary>"
                     f"{table}</details>")
        return table + note

    def _repr_html_(self) -> str:
        return self.to_html(max_rows=20)


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart to draw at render time: the name of a function in :mod:`upsell.report.plots`
    and its keyword arguments (plain arrays), so analysis never imports matplotlib.

    Examples
    --------
    >>> Chart("bar_chart", "Sizes", {"labels": ["a"], "values": [1.0]}).kind
    'bar_chart'
    """

    kind: str
    title: str
    kwargs: dict[str, Any] = field(default_factory=dict)
