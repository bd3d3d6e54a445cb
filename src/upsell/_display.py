"""Notebook display shared by every result object: one compact HTML table, no pandas.

Each result's ``_repr_html_`` calls :func:`html_table` (or :func:`html_fields`
for one-row results) with its column arrays; only the first :data:`MAX_ROWS`
rows are read and formatted, so showing a result of millions of rows costs
nothing. Every title, summary, header and cell is escaped here, so callers pass
plain text and never build HTML themselves. ``to_pandas`` methods build their
frame through :func:`data_frame`, which imports pandas only when called.

Examples
--------
>>> print(html_table("Rules", {"item": ["<script>", "b"], "lift": [2.5, 1.0]},
...                  summary="2 rules"))  # doctest: +NORMALIZE_WHITESPACE
<div class="upsell-result" style="overflow-x:auto"><p><b>Rules</b>: 2 rules</p><table><thead>\
<tr><th>item</th><th>lift</th></tr></thead><tbody><tr><td>&lt;script&gt;</td>\
<td style="text-align:right">2.5</td></tr><tr><td>b</td><td style="text-align:right">1</td></tr>\
</tbody></table></div>
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, ClassVar

import numpy as np

from upsell._extras import require

__all__ = ["MAX_ROWS", "TableResult", "data_frame", "fmt", "head", "html_fields", "html_table"]

#: Rows a result shows in a notebook; the rest is counted in a footer line.
MAX_ROWS = 10

# a cell longer than this is cut with an ellipsis: the table stays compact
_MAX_CELL = 80


def fmt(value: Any) -> str:
    """Format one cell as plain text: thousands separators, 4 significant digits, "–" for missing.

    Parameters
    ----------
    value : object
        A Python or numpy scalar, a date or time, a tuple, list or set (joined
        with commas), a mapping (``key=value`` pairs) or anything with ``str``.

    Returns
    -------
    str
        Unescaped text (:func:`html_table` escapes it).

    Examples
    --------
    >>> fmt(1234567), fmt(np.float64(0.123456)), fmt(float("nan")), fmt(None)
    ('1,234,567', '0.1235', '–', '–')
    >>> fmt(("tea", "mug")), fmt(np.datetime64("2024-01-02")), fmt(np.bool_(True))
    ('tea, mug', '2024-01-02', 'True')
    >>> fmt(12345.678), fmt(-0.5), fmt({"a": 1})
    ('12,346', '-0.5', 'a=1')
    """
    if value is None:
        return "–"
    if isinstance(value, np.datetime64):
        return "–" if np.isnat(value) else str(value)
    if isinstance(value, np.timedelta64):
        return "–" if np.isnat(value) else str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value) or abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:,.0f}"
    if isinstance(value, str):
        return value
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):
        return str(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return ", ".join(sorted(fmt(v) for v in value))
    if isinstance(value, (tuple, list, np.ndarray)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def _numeric(values: Sequence[Any]) -> bool:
    if isinstance(values, np.ndarray):
        return values.dtype.kind in "iuf"
    return bool(len(values)) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in values)


def _cell(value: Any, numeric: bool) -> str:
    text = fmt(value)
    if len(text) > _MAX_CELL:
        text = text[:_MAX_CELL - 1] + "…"
    style = ' style="text-align:right"' if numeric else ""
    return f"<td{style}>{escape(text)}</td>"


def head(n: int, max_rows: int = MAX_ROWS) -> range:
    """Positions of the rows a notebook shows out of ``n``: ``range(min(n, max_rows))``.

    For columns a result computes per row (tuples of ids, reasons), so only the
    shown rows are computed.

    Examples
    --------
    >>> head(3), head(1_000_000)
    (range(0, 3), range(0, 10))
    """
    return range(min(int(n), max_rows))


def html_table(title: str, columns: Mapping[str, Any], *, summary: str = "",
               n_rows: int | None = None, max_rows: int = MAX_ROWS) -> str:
    """A compact, escaped HTML table: a title line, the first rows and a footer with the count.

    Parameters
    ----------
    title : str
        Name of the result, shown in bold.
    columns : mapping of str to array-like
        Column name -> values (numpy arrays, lists or tuples); only the first
        ``max_rows`` values of each are read. Numeric columns are right-aligned.
    summary : str, optional
        One line of plain text after the title (e.g. "1,204 rules from 9,835 baskets").
    n_rows : int, optional
        Total rows of the result, when ``columns`` hold fewer (computed for the
        shown rows only); default: the length of the shortest column.
    max_rows : int, default :data:`MAX_ROWS`
        Rows shown.

    Returns
    -------
    str
        ``<div>`` holding the title line, a ``<table>`` and, when rows are left
        out, a line saying how many are shown.

    Examples
    --------
    >>> html = html_table("Items", {"id": np.arange(25)}, summary="25 items")
    >>> html.count("<tr>"), "first 10 of 25 rows" in html
    (11, True)
    >>> "<tbody></tbody>" in html_table("Empty", {"id": []})
    True
    """
    cols = {str(k): v for k, v in columns.items()}
    total = min((len(v) for v in cols.values()), default=0)
    shown = min(total, max_rows)
    n_all = total if n_rows is None else int(n_rows)
    heads = "".join(f"<th>{escape(name)}</th>" for name in cols)
    cut = [(v[:shown], _numeric(v[:shown])) for v in cols.values()]
    body = "".join(
        "<tr>" + "".join(_cell(values[i], numeric) for values, numeric in cut) + "</tr>"
        for i in range(shown))
    line = f"<b>{escape(title)}</b>" + (f": {escape(summary)}" if summary else "")
    foot = (f"<p><small>first {shown:,} of {n_all:,} rows</small></p>" if n_all > shown
            else "")
    # a wide result scrolls inside its own box instead of widening a notebook page
    return (f'<div class="upsell-result" style="overflow-x:auto"><p>{line}</p><table><thead>'
            f"<tr>{heads}</tr></thead><tbody>{body}</tbody></table>{foot}</div>")


def html_fields(title: str, fields: Mapping[str, Any], *, summary: str = "") -> str:
    """A one-object result as a two-column (field, value) table; see :func:`html_table`.

    Examples
    --------
    >>> "<td>metric</td><td>atv</td>" in html_fields("ABTestResult", {"metric": "atv"})
    True
    """
    return html_table(title, {"field": list(fields), "value": [fmt(v) for v in fields.values()]},
                      summary=summary, max_rows=max(len(fields), 1))


def data_frame(columns: Mapping[str, Any], feature: str, *, index: Any = None) -> Any:
    """A pandas DataFrame of ``columns`` (pandas is imported here, through the ``pandas`` extra).

    Parameters
    ----------
    columns : mapping of str to array-like
    feature : str
        What needs pandas, quoted if it is missing (e.g. "Bundles.to_pandas").
    index : array-like, optional

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    MissingExtraError
        If pandas is not installed.

    Examples
    --------
    >>> data_frame({"a": [1, 2]}, "demo").shape
    (2, 1)
    """
    pd = require("pandas", feature)
    return pd.DataFrame(dict(columns), index=index)


class TableResult:
    """Mixin giving a result ``to_pandas``, ``_repr_html_`` and ``plot`` from one column spec.

    A result class sets ``_title`` (the bold name in a notebook) and implements
    ``_columns(rows)``: the table's columns, for every row when ``rows`` is None or
    for the positions in ``rows`` (a ``range`` of the first rows, so a notebook never
    formats millions of rows). It may override ``_summary()`` (one plain-text line),
    ``_n_rows()`` (default ``len(self)``) and ``_index()`` (a pandas index). A result
    with a chart names its drawing function in ``_plot_function`` as
    ``"module:function"``; the function lives in a leaf ``plots`` module beside the
    domain and is imported only when a chart is drawn.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, slots=True)
    ... class Sizes(TableResult):
    ...     values: tuple
    ...     _title = "Sizes"
    ...     def __len__(self):
    ...         return len(self.values)
    ...     def _columns(self, rows=None):
    ...         vals = self.values if rows is None else [self.values[i] for i in rows]
    ...         return {"size": list(vals)}
    >>> Sizes((1, 2, 3)).to_pandas()["size"].tolist()
    [1, 2, 3]
    >>> "<b>Sizes</b>" in Sizes((1,))._repr_html_()
    True
    """

    __slots__ = ()
    _title: ClassVar[str] = ""
    _plot_function: ClassVar[str] = ""

    def _columns(self, rows: range | None = None) -> Mapping[str, Any]:
        raise NotImplementedError(type(self).__name__ + "._columns")

    def _summary(self) -> str:
        return ""

    def _n_rows(self) -> int:
        return len(self)  # type: ignore[arg-type]

    def _index(self) -> Any:
        return None

    def to_pandas(self) -> Any:
        """The whole result as a pandas DataFrame, one row per table row (pandas extra).

        Returns
        -------
        pandas.DataFrame
            The columns a notebook shows, for every row.
        """
        return data_frame(self._columns(None), f"{type(self).__name__}.to_pandas",
                          index=self._index())

    def _repr_html_(self) -> str:
        n = self._n_rows()
        return html_table(self._title or type(self).__name__, self._columns(head(n)),
                          summary=self._summary(), n_rows=n)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the result with matplotlib (the ``plots`` extra).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; default a new figure (pyplot only if already imported).
        **kwargs
            ``title`` and the options of the drawing function named in the class
            docstring; the rest go to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
        """
        if not self._plot_function:
            raise AttributeError(f"{type(self).__name__} has no plot")
        module, name = self._plot_function.split(":")
        draw = getattr(importlib.import_module(module), name)
        return draw(self, ax=ax, **kwargs)
