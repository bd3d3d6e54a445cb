"""Several files of order lines read as one history: monthly exports, a folder of them.

Each file is parsed on its own (its header resolved, its lines numbered, a repeated
header found) into a :class:`Part`; the parts' columns are then joined into one table
that the cleaning rules see once, so ids share one index, a return in March finds its
January purchase and a line repeated in two exports is a duplicate line. Messages name
a row by its file (``feb.csv row 12``); the data report counts each file's rows and flags
the lines of an order found in more than one file (exports that overlap).

This module sits below the readers (:mod:`upsell.data.io`, ``_arrow``, ``_parquet``,
``_excel``), which hand it their parts and their own ``prepare`` step.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from upsell.data._sources import arrow_bools, empty_strings
from upsell.data.report import SPLIT_ORDER
from upsell.exceptions import UpsellDataError

__all__ = [
    "MAX_STATUSES",
    "NOT",
    "NOT_SOLD",
    "SPLIT_ORDER",
    "TEXT_SUFFIXES",
    "WORKBOOK_SUFFIXES",
    "Part",
    "blank_rows",
    "check_where",
    "concat_columns",
    "currency_column",
    "currency_flags",
    "event_column",
    "input_files",
    "join_parts",
    "named",
    "not_sold",
    "purchase_advice",
    "refuse_events",
    "several_label",
    "status_column",
    "status_flags",
    "where_mask",
    "where_reason",
    "where_rows",
]

#: Names of the text files a folder of order lines is read for (gzip too: ``.csv.gz``).
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".dat")
#: Names of the workbooks a folder of them is read for.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
#: Names of the JSON Lines files a folder of them is read for.
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass
class Part:
    """One file's columns, parsed and not yet prepared.

    ``cols``: role -> pyarrow column (text, float64 or ``timestamp[s]``, as the reader's
    ``prepare_columns`` takes them); ``bad``: rows the reader found unusable, by reason.
    """

    label: str
    cols: dict[str, Any]
    n: int
    bad: dict[str, np.ndarray] = field(default_factory=dict)
    # rows whose fields the reader repaired, by reason (counted among the rows kept)
    repairs: dict[str, np.ndarray] = field(default_factory=dict)
    # rows the reader left out as it parsed them (``where``), counted by reason, and each
    # kept row's 0-based data row in the file (None: every row was kept)
    left: dict[str, int] = field(default_factory=dict)
    rows: np.ndarray | None = None
    # rows kept that are worth knowing about (an order status of an unsold order), by reason
    flags: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def read(self) -> int:
        """The file's data rows, those left out while parsing included."""
        return self.n + sum(self.left.values())


def input_files(path: Any, *, suffixes: Sequence[str], what: str,
                folders: bool = True) -> list[str] | None:
    """The files ``path`` names when it may name several: a list or tuple of paths (in its
    order), a folder (with ``folders``: its files whose names end in ``suffixes``, gzip
    ones too, by name) or a glob pattern such as ``"exports/2011-*.csv"`` (by name). None
    when ``path`` names one file. Without ``folders`` a folder is one file (a Parquet
    dataset), in a list too.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for m in ("2011-02", "2011-01"):
    ...     _ = (d / f"{m}.csv").write_text("order,item\\n1,A\\n")
    >>> [os.path.basename(f) for f in input_files(d, suffixes=TEXT_SUFFIXES, what="CSV files")]
    ['2011-01.csv', '2011-02.csv']
    >>> input_files(d / "2011-01.csv", suffixes=TEXT_SUFFIXES, what="CSV files") is None
    True
    """
    if isinstance(path, (list, tuple)):
        if not path:
            raise UpsellDataError("`path` is an empty list: name at least one file")
        files = [_existing(p, folders_ok=not folders) for p in path]
        seen: set[str] = set()
        for f in files:
            key = os.path.realpath(f)
            if key in seen:
                raise UpsellDataError(f"`path` names {f!r} twice: each file is read once")
            seen.add(key)
        return files
    try:
        fspath = os.fspath(path)
    except TypeError:
        return None  # the reader names it
    if not isinstance(fspath, str):
        return None
    if folders and os.path.isdir(fspath):
        names = sorted(os.listdir(fspath))
        files = [os.path.join(fspath, n) for n in names
                 if not n.startswith((".", "~$")) and named(n, suffixes)
                 and os.path.isfile(os.path.join(fspath, n))]
        others = [n for n in names if not n.startswith((".", "~$")) and not named(n, suffixes)
                  and named(n, (*TEXT_SUFFIXES, *WORKBOOK_SUFFIXES, ".parquet", ".pq"))]
        if files and others:  # a month exported in another format would be left out
            raise UpsellDataError(
                f"`path` {fspath!r} holds {len(files):,} {what} and {len(others):,} other "
                f"data file(s) ({', '.join(repr(n) for n in others[:3])}"
                f"{' ...' if len(others) > 3 else ''}), which would not be read: read them apart, "
                f"or give the files as a list")
        if not files:
            shown = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
            raise UpsellDataError(
                f"`path` {fspath!r} is a folder with no {what} in it (names ending in "
                f"{', '.join(suffixes)}, or those with .gz); it holds "
                f"{shown or 'nothing'}"
                + ("; a folder of Parquet files is read by read_parquet"
                   if any(named(n, (".parquet", ".pq")) for n in names) else ""))
        return files
    if not os.path.exists(fspath) and any(c in fspath for c in "*?["):
        files = sorted(f for f in glob.glob(fspath)
                       if os.path.isfile(f) or (not folders and os.path.isdir(f)))
        if not files:
            raise UpsellDataError(f"`path` {fspath!r} matches no file")
        return files
    return None


def several_label(path: Any, files: list[str]) -> str:
    """How the report and messages name several files read as one.

    Examples
    --------
    >>> several_label(["a.csv", "b.csv"], ["a.csv", "b.csv"])
    'a.csv, b.csv'
    >>> several_label("exports", ["exports/1.csv", "exports/2.csv", "exports/3.csv"])
    'exports (3 files)'
    """
    if isinstance(path, (list, tuple)):
        if len(files) <= 3:
            return ", ".join(files)
        return f"{files[0]} ... {files[-1]} ({len(files):,} files)"
    return f"{os.fspath(path)} ({len(files):,} files)"


def join_parts(parts: list[Part], *, label: str, order_headers: Any, invalid: str,
               prepare: Callable[[dict[str, Any], int, Any], Any],
               time_format: str | None = None, decimal: str = ".") -> Any:
    """The ``_Prepared`` of the parts read as one table: ``prepare(cols, n, files)`` (the
    reader's ``prepare_columns``; ``files``: each file's first row and label, or None for
    one part) after the side files' columns are joined (``order_headers``,
    :func:`upsell.data._order_headers.prepared_with_headers`)."""
    from upsell.data._order_headers import prepared_with_headers

    if len(parts) == 1:
        one = parts[0]
        cols, n, bad, files = one.cols, one.n, one.bad, None
    else:
        cols, n, bad, files = _joined(parts, time_format, decimal)
        if n == 0 and not any(p.left for p in parts):
            raise UpsellDataError(f"{label} has headers but no data rows")
    names: Any = files
    if any(p.rows is not None for p in parts):  # rows were left out while parsing
        from upsell.data._columns import RowMap

        names = RowMap(np.concatenate([np.arange(p.n) if p.rows is None else p.rows
                                       for p in parts]), files)
    by_order: dict[str, np.ndarray] = {}
    unsold: dict[str, np.ndarray] = {}

    def joined(c: dict[str, Any]) -> Any:  # the lines with their side files' columns
        by_order.update(_where_by_order(c, order_headers))
        unsold.update(_status_by_order(c))
        return prepare(c, n, names)

    prep = prepared_with_headers(cols, order_headers, invalid=invalid, label=label,
                                 prepare=joined, files=names)
    bad = {**bad, **by_order}
    if bad:
        prep.bad = {**bad, **prep.bad}  # dropped and counted first
    repairs = parts[0].repairs if len(parts) == 1 else _stacked(parts, "repairs")
    if repairs:
        prep.repairs = {**repairs, **prep.repairs}
    prep.flags.update(parts[0].flags if len(parts) == 1 else _stacked(parts, "flags"))
    prep.flags.update(unsold)
    for p in parts:
        for reason, count in p.left.items():
            prep.left[reason] = prep.left.get(reason, 0) + count
    prep.files = names
    if files:
        prep.file_rows = {p.label: p.read for p in parts}
        split = _split_orders(prep.order, [p.n for p in parts])
        if split is not None:
            prep.flags[SPLIT_ORDER] = split
    return prep


def _existing(path: Any, folders_ok: bool = False) -> str:
    try:
        fspath = os.fspath(path)
    except TypeError:
        raise UpsellDataError(
            f"`path` must be file paths; got {type(path).__name__} in the list") from None
    if not isinstance(fspath, str):
        fspath = os.fsdecode(fspath)
    if not os.path.exists(fspath):
        raise UpsellDataError(f"`path` {fspath!r} does not exist")
    if os.path.isdir(fspath) and not folders_ok:  # (a Parquet folder is one dataset: fine)
        raise UpsellDataError(f"`path` {fspath!r} in the list is a folder; name its files")
    return fspath


def named(name: str, suffixes: Sequence[str]) -> bool:
    """Whether a file's name ends in one of ``suffixes``, or in one of them and ``.gz``."""
    low = name.lower()
    low = low[:-3] if low.endswith(".gz") else low
    return low.endswith(tuple(suffixes))


def _joined(parts: list[Part], time_format: str | None, decimal: str
            ) -> tuple[dict[str, Any], int, dict[str, np.ndarray], list[tuple[int, str]]]:
    """(columns, rows, bad rows by reason, each file's first row and label) of the parts."""
    first = parts[0]
    for p in parts[1:]:
        odd = sorted(set(p.cols) ^ set(first.cols))
        if odd:
            has, lacks = (p, first) if odd[0] in p.cols else (first, p)
            raise UpsellDataError(
                f"{has.label} has a `{odd[0]}` column and {lacks.label} has none: files read "
                f"as one history need the same roles (name the column of each with "
                f"`columns`, or read the files apart)")
    # each file's columns leave its part as they are joined: the reader frees a column's
    # text as soon as it is converted, which it could not while a part still held it
    cols = {role: concat_columns([p.cols.pop(role) for p in parts], time_format, decimal)
            for role in list(first.cols)}
    starts = np.concatenate([[0], np.cumsum([p.n for p in parts])]).astype(np.int64)
    return (cols, int(starts[-1]), _stacked(parts, "bad"),
            [(int(starts[j]), p.label) for j, p in enumerate(parts)])


def _where_by_order(cols: dict[str, Any], sides: Any) -> dict[str, np.ndarray]:
    """The lines ``where`` leaves out by their order's value in an orders file (an order's
    status), by reason, their fields blanked: the ``where`` columns the side files gave the
    lines (:class:`~upsell.data._order_headers.OrderHeaders`) are taken out of ``cols``."""
    from upsell.data._order_headers import WHERE

    out: dict[str, np.ndarray] = {}
    for side in sides or []:
        if side.where:
            anon = _anonymous(cols) if side.key_role == "customer" else None
            texts = {h: cols.pop(f"{WHERE}{h}") for h in side.where}
            got = where_rows(cols, texts, side.where)[0]
            if anon is not None and anon.any():  # nobody to look up: said so, not "not SP"
                gone = np.logical_or.reduce(list(got.values())) & anon if got else anon[:0]
                got = {r: m & ~anon for r, m in got.items()}
                if gone.any():
                    heads = " and ".join(f"`{h}`" for h in side.where)
                    got[f"anonymous: no customer to look up {heads} in the customers file "
                        "(where=)"] = gone
            out.update({r: m for r, m in got.items() if m.any()})
    return out


def _status_by_order(cols: dict[str, Any]) -> dict[str, np.ndarray]:
    """The lines whose order an orders file gives an unsold status (:func:`status_flags`),
    by reason; its status column (``STATUS + header``) is taken out of ``cols``."""
    from upsell.data._order_headers import STATUS

    out: dict[str, np.ndarray] = {}
    for key in [k for k in cols if k.startswith(STATUS)]:
        out.update(status_flags({key[len(STATUS):]: cols.pop(key)}, {}))
    return out


def _anonymous(cols: dict[str, Any]) -> np.ndarray:
    """The lines without a customer after the customers file's join (blank or missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from upsell.data._sources import bool_mask

    cust = cols["customer"]
    missing = bool_mask(pc.is_null(cust))
    if pa.types.is_string(cust.type):
        missing |= bool_mask(pc.is_in(pc.utf8_trim_whitespace(cust), value_set=_texts([""])))
    return missing


def _stacked(parts: list[Part], masks: str) -> dict[str, np.ndarray]:
    """The parts' row masks by reason (their ``bad``, ``repairs`` or ``flags``) over all
    their rows."""
    starts = np.concatenate([[0], np.cumsum([p.n for p in parts])]).astype(np.int64)
    out: dict[str, np.ndarray] = {}
    for j, p in enumerate(parts):
        for reason, mask in getattr(p, masks).items():
            whole = out.setdefault(reason, np.zeros(int(starts[-1]), dtype=bool))
            whole[starts[j]:starts[j + 1]] = mask
    return out


def concat_columns(cols: list[Any], time_format: str | None = None, decimal: str = ".") -> Any:
    """One chunked column of the files' columns of a role; when their types differ (a file
    whose prices are all numbers beside one with a dirty price, a typed time beside a text
    one), each is read as text, as the reader reads a dirty column: times written in
    ``time_format``, numbers with the ``decimal`` mark."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def chunks(col: Any) -> list[Any]:
        return list(col.chunks) if hasattr(col, "chunks") else [col]

    def blank(c: Any) -> Any:  # a missing value cast to text: the empty text a CSV cell is
        return pc.coalesce(c, empty_strings(len(c))) if c.null_count else c

    types = {c.type for c in cols if not pa.types.is_null(c.type)}
    if len(types) <= 1:
        kind = types.pop() if types else cols[0].type
        same = [c if c.type == kind else  # a column of one file with no value: pyarrow's null
                blank(pc.cast(c, kind)) if pa.types.is_string(kind) else pc.cast(c, kind)
                for c in cols]
        return pa.chunked_array([k for c in same for k in chunks(c)], type=kind)
    text = []
    for c in cols:
        if not pa.types.is_string(c.type):
            number = pa.types.is_floating(c.type) or pa.types.is_integer(c.type)
            if pa.types.is_timestamp(c.type) and time_format is not None:
                c = pc.strftime(c, format=time_format)
            elif pa.types.is_dictionary(c.type):
                c = pc.cast(c, c.type.value_type)
            c = blank(pc.cast(c, pa.string()) if not pa.types.is_string(c.type) else c)
            if number and decimal != ".":
                c = pc.replace_substring(c, ".", decimal)
        text.append(c)
    return pa.chunked_array([k for c in text for k in chunks(c)], type=pa.string())


def _split_orders(order: np.ndarray, sizes: list[int]) -> np.ndarray | None:
    """Rows whose order id occurs in more than one file (None when there are none)."""
    if order.size == 0:
        return None
    part = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    known = order >= 0
    codes = order[known].astype(np.intp)
    m = int(codes.max()) + 1 if codes.size else 0
    lo = np.full(m, len(sizes), dtype=np.int32)
    hi = np.full(m, -1, dtype=np.int32)
    np.minimum.at(lo, codes, part[known])
    np.maximum.at(hi, codes, part[known])
    spans = lo < hi
    if not spans.any():
        return None
    rows = np.zeros(order.size, dtype=bool)
    rows[known] = spans[codes]
    return rows


#: The first of a ``where`` header's values when the others are the values it leaves out
#: (``{"status": {"not": [...]}}``), as :func:`check_where` returns them.
NOT = "\x00not"


def check_where(where: Any) -> dict[str, tuple[str, ...]]:
    """``where`` as {column header: the values a row is kept for}, checked; ``{"not":
    [...]}`` for a header keeps the rows whose value is none of those (a blank one too),
    returned after :data:`NOT`.

    Examples
    --------
    >>> check_where({"event_type": "purchase", "status": ["paid", "shipped"]})
    {'event_type': ('purchase',), 'status': ('paid', 'shipped')}
    >>> check_where({"status": {"not": ["canceled", "refund"]}})["status"][1:]
    ('canceled', 'refund')
    >>> check_where(None)
    {}
    """
    if where is None:
        return {}
    if not isinstance(where, dict) or not where:
        raise UpsellDataError(f"`where` maps column headers to the values a row is kept for, "
                              f"e.g. {{'event_type': 'purchase'}}; got {where!r}")
    out: dict[str, tuple[str, ...]] = {}
    for header, values in where.items():
        negated = isinstance(values, dict) and set(values) == {"not"}
        if negated:
            values = values["not"]
            values = (values,) if isinstance(values, (str, int)) else values
            if isinstance(values, (list, tuple)) and values and values[0] == NOT:
                raise UpsellDataError(f"`where`: {header!r} is negated twice")
        vals = (values,) if isinstance(values, (str, int)) else values
        if (not isinstance(header, str) or isinstance(vals, (bytes, dict))
                or not isinstance(vals, (list, tuple, set, frozenset)) or not vals
                or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                           for v in vals)):
            raise UpsellDataError(f"`where` maps column headers to the values a row is kept "
                                  f"for (a text or a list of texts, or {{'not': [...]}}, the "
                                  f"values it leaves out); got {header!r}: {values!r}")
        kept = tuple(dict.fromkeys(str(v).strip() for v in vals))
        out[header] = (NOT, *kept) if negated else kept
    return out


def where_mask(text: Any, values: tuple[str, ...]) -> np.ndarray:
    """The rows ``where``'s ``values`` for a header (:func:`check_where`) keep, given the
    header's column as trimmed pyarrow text: those holding one of them, or under
    :data:`NOT` those holding none of the others.

    Examples
    --------
    >>> import pyarrow as pa
    >>> col = pa.array(["paid", "canceled", ""])
    >>> where_mask(col, ("paid",)).tolist(), where_mask(col, (NOT, "canceled")).tolist()
    ([True, False, False], [True, False, True])
    """
    import pyarrow.compute as pc

    from upsell.data._sources import bool_mask

    if values and values[0] == NOT:
        return ~bool_mask(pc.is_in(text, value_set=_texts(list(values[1:]))))
    return bool_mask(pc.is_in(text, value_set=_texts(list(values))))


def _texts(values: Any) -> Any:
    """Texts as a pyarrow string array, for ``value_set=`` (built from buffers: a
    ``pa.array`` of a list imports pandas)."""
    import pyarrow as pa

    from upsell.data._sources import _arrow_strings

    return _arrow_strings(np.array(values, dtype=str)).cast(pa.string())


def where_reason(header: str, values: tuple[str, ...]) -> str:
    """The data report's reason for the rows ``where`` leaves out.

    Examples
    --------
    >>> where_reason("event_type", ("purchase",))
    "`event_type` is not 'purchase' (where=)"
    >>> where_reason("status", (NOT, "canceled", "refund"))
    "`status` is 'canceled' or 'refund' (where=)"
    """
    if values and values[0] == NOT:
        return f"`{header}` is {' or '.join(repr(v) for v in values[1:])} (where=)"
    return f"`{header}` is not {' or '.join(repr(v) for v in values)} (where=)"


class MissingWhereColumn(UpsellDataError):
    """A ``where`` header the lines file does not have (the readers add the side files
    they looked in too: :func:`upsell.data._readers.read_orders`)."""


def where_columns(names: list[str], where: dict[str, tuple[str, ...]], label: str
                  ) -> tuple[dict[str, int], str | None]:
    """(the position of each header a reader reads as text for ``where``, and the header of
    an event log's event column, read to check it: :func:`event_column`)."""
    from upsell.data._columns import _only
    from upsell.data._suggest import header_list

    at = {}
    for h in where:
        if h not in names:
            raise MissingWhereColumn(f"column {h!r} (of `where`) is not in {label}; it has "
                                  f"{header_list(names)}")
        at[h] = _only(names, h, "where", label)
    events = event_column(names, where)
    if events is not None:
        at[events] = names.index(events)
    for flagged in (status_column(names, where), currency_column(names, where)):
        if flagged is not None and flagged not in at:  # read to flag unsold orders, currencies
            at[flagged] = names.index(flagged)
    return at, events


#: headers of a line's or order's currency, compared as :func:`header_key` compares them
#: (Shopify's "Currency", Amazon's "currency", GA4's "ecommerce.currency")
CURRENCY_HEADERS = ("currency", "currencycode", "ordercurrency", "presentmentcurrency",
                    "transactioncurrency", "ecommercecurrency", "itemcurrency")


def currency_column(names: list[str], where: dict[str, Any]) -> str | None:
    """The first currency header (:data:`CURRENCY_HEADERS`) not filtered by ``where``.

    >>> currency_column(["Name", "Currency"], {}), currency_column(["Currency"], {"Currency": ()})
    ('Currency', None)
    """
    from upsell.data._suggest import header_key

    return next((h for h in names if h not in where
                 and header_key(str(h)) in CURRENCY_HEADERS), None)


def currency_flags(texts: dict[str, Any], where: dict[str, Any]) -> dict[str, np.ndarray]:
    """The rows kept whose currency (:func:`currency_column`) is not the most common one,
    when the rows hold several: money figures add prices of several currencies as they are,
    and ``where`` reads one. Nothing with one currency, or over 200 distinct values.

    Examples
    --------
    >>> import pyarrow as pa
    >>> f = currency_flags({"Currency": pa.array(["USD", "EUR", "USD", ""])}, {})
    >>> {k: v.tolist() for k, v in f.items()}
    {"price in 'EUR', not the most lines' 'USD' (money figures add currencies as they are: where= on 'Currency' reads one)": [False, True, False, False]}
    """
    from upsell.data._sources import _numpy, _pa

    header = currency_column(list(texts), where)
    if header is None:
        return {}
    counts: dict[str, int] = {}
    parts = []
    for chunk in getattr(texts[header], "chunks", [texts[header]]):  # each chunk's own codes
        enc = _pa()[1]._call("dictionary_encode", chunk)
        words = [str(v).strip() for v in enc.dictionary.to_pylist()]
        codes = _numpy(enc.indices)
        for w, n in zip(words, np.bincount(codes, minlength=len(words)).tolist(), strict=True):
            counts[w] = counts.get(w, 0) + n
        if len(counts) > 200:
            return {}
        parts.append((words, codes))
    named = sorted((w for w in counts if w and counts[w]), key=lambda w: -counts[w])
    if len(named) < 2:
        return {}
    others = named[1:]
    mask = np.concatenate([np.isin(codes, [j for j, w in enumerate(words) if w in others])
                           for words, codes in parts])
    return {f"price in {', '.join(map(repr, others))}, not the most lines' {named[0]!r} "
            f"(money figures add currencies as they are: where= on {header!r} reads one)":
            mask}


#: distinct values a status column holds at most (more: not a status); Magento's order
#: states and statuses (Pakistan's e-commerce data) are about 16
MAX_STATUSES = 24
#: order statuses of what was not sold (Kaggle's sales sample, WooCommerce, Olist, Shopify)
NOT_SOLD = ("cancelled", "canceled", "cancel", "voided", "void", "refunded", "refund", "failed",
            "declined", "rejected", "unavailable", "returned", "fraud", "chargeback")


def not_sold(status: str) -> bool:
    """Whether an order status says the order was not sold: one of its words is one of
    :data:`NOT_SOLD` (WooCommerce's ``wc-cancelled``, Amazon's ``Shipped - Returned to
    Seller``), and none says "partial" (Shopify's ``partially_refunded`` was sold).

    Examples
    --------
    >>> [not_sold(s) for s in ("Cancelled", "wc-cancelled", "partially_refunded", "paid")]
    [True, True, False, False]
    """
    import re

    words = re.split(r"[^a-z]+", status.lower())
    return any(w in NOT_SOLD for w in words) and not any(w.startswith("partial") for w in words)


def status_column(names: list[str], where: dict[str, Any]) -> str | None:
    """The first header ending in "status" (``STATUS``, ``Order Status``, ``financial_status``)
    that ``where`` does not filter on, else None.

    Examples
    --------
    >>> status_column(["Order ID", "Financial Status"], {})
    'Financial Status'
    >>> status_column(["STATUS"], {"STATUS": ("Shipped",)}) is None
    True
    """
    from upsell.data._suggest import header_key

    return next((h for h in names if h not in where and header_key(str(h)).endswith("status")),
                None)


def status_flags(texts: dict[str, Any], where: dict[str, Any]) -> dict[str, np.ndarray]:
    """The rows kept whose order status (:func:`status_column`, among the headers read as
    ``texts``) is one of an unsold order (:data:`NOT_SOLD`), flagged by their statuses:
    read as they are, their lines count as sales; ``where`` leaves them out. Nothing when
    the column holds more than :data:`MAX_STATUSES` distinct values (not a status). The
    rows of a currency other than the most common one too (:func:`currency_flags`).

    Examples
    --------
    >>> import pyarrow as pa
    >>> f = status_flags({"STATUS": pa.array(["Shipped", "Cancelled", "Shipped"])}, {})
    >>> {k: v.tolist() for k, v in f.items()}
    {"order status 'Cancelled' (not sold, kept: where= on 'STATUS' leaves it out)": [False, True, False]}
    """
    return {**_unsold(texts, where), **currency_flags(texts, where)}


def _unsold(texts: dict[str, Any], where: dict[str, Any]) -> dict[str, np.ndarray]:
    """:func:`status_flags`' rows of unsold orders."""
    from upsell.data._sources import _numpy, _pa

    header = status_column(list(texts), where)
    if header is None:
        return {}
    col = texts[header]
    seen: set[str] = set()
    gone: list[str] = []
    masks = []
    for chunk in getattr(col, "chunks", [col]):  # a few statuses: each chunk's own codes
        enc = _pa()[1]._call("dictionary_encode", chunk)
        values = [str(v).strip() for v in enc.dictionary.to_pylist()]
        seen.update(values)
        if len(seen) > MAX_STATUSES:
            return {}
        at = [j for j, v in enumerate(values) if not_sold(v)]
        gone += [values[j] for j in at if values[j] not in gone]
        masks.append(np.isin(_numpy(enc.indices), at))
    if not gone:
        return {}
    said = ", ".join(repr(v) for v in gone)
    return {f"order status {said} (not sold, kept: where= on {header!r} leaves it out)":
            np.concatenate(masks)}


def rows_left_out(label: str, cols: dict[str, Any], texts: dict[str, Any],
                  where: dict[str, tuple[str, ...]], events: str | None
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """After a reader read ``texts`` (:func:`where_columns`' headers, as text): stop an event
    log read without a ``where`` on its events (:func:`refuse_events`), then (the rows
    ``where`` leaves out, the rows whose blank field took their order's value), by reason
    (:func:`where_rows`)."""
    if events is not None:
        refuse_events(label, events, texts[events])
    return where_rows(cols, texts, where) if where else ({}, {})


class WhereFilter:
    """``where`` applied to each block of rows as a reader parses it, so that the rows it
    leaves out (an event log's views and carts) are never held: called with a block
    (``pyarrow.RecordBatch``), it returns the mask of the rows kept and counts the others
    by reason (a row under the first header it fails, as the cleaning counts).

    ``names``: the block's column name of each ``where`` header. A row whose field holds
    the header itself is kept (a header line repeated in the file, files joined with
    ``cat``, is counted as such by the reader, not as a row ``where`` leaves out), and so
    is a row whose field is blank (it takes its order's value: :func:`where_rows`).

    Examples
    --------
    >>> import pyarrow as pa
    >>> keep = WhereFilter({"event": ("buy",)}, {"event": "c0"})
    >>> keep(pa.record_batch([pa.array(["view", "buy ", "event", ""])], names=["c0"])).tolist()
    [False, True, True, True]
    >>> keep.read, keep.left
    (4, {"`event` is not 'buy' (where=)": 1})
    """

    def __init__(self, where: dict[str, tuple[str, ...]], names: dict[str, str],
                 text: Callable[[Any, str], Any] | None = None) -> None:
        self.names = names
        # a column as text, given its header (a Parquet column may be numbers)
        self.text = text if text is not None else (lambda col, header: col)
        # (the values kept, the header itself and a blank, the reason the others are left out)
        self.wanted = {h: (v, _texts([h.strip(), ""]), where_reason(h, v))
                       for h, v in where.items()}
        self.read = 0
        self.left: dict[str, int] = {}

    def __call__(self, batch: Any) -> np.ndarray:
        import pyarrow.compute as pc

        from upsell.data._sources import bool_mask

        self.read += batch.num_rows
        keep = np.ones(batch.num_rows, dtype=bool)
        for header, (wanted, itself, reason) in self.wanted.items():
            text = pc.utf8_trim_whitespace(self.text(batch.column(self.names[header]), header))
            ok = where_mask(text, wanted)
            if ok.all():
                continue
            # a repeated header line, counted as such by the reader; a blank field, which
            # takes its order's value (where_rows decides once the orders are read)
            ok |= bool_mask(pc.is_in(text, value_set=itself))
            out = np.count_nonzero(keep & ~ok)
            if out:
                self.left[reason] = self.left.get(reason, 0) + int(out)
            keep &= ok
        return keep

    def table(self, batches: Any, schema: Any) -> tuple[Any, np.ndarray]:
        """(the table of the rows kept of ``batches``, a reader's blocks of rows, and the
        position of each among all the rows read); the others are never held."""
        import pyarrow as pa

        kept, rows = [], []
        for batch in batches:
            mask = self(batch)
            at = np.flatnonzero(mask)
            rows.append(at + (self.read - batch.num_rows))
            kept.append(batch.filter(arrow_bools(mask)) if at.size < batch.num_rows else batch)
        return (pa.Table.from_batches(kept, schema=schema),
                np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64))


def where_rows(cols: dict[str, Any], texts: dict[str, Any], where: dict[str, tuple[str, ...]]
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the rows ``where`` leaves out, the rows it keeps for their order), by reason; the
    fields of the rows left out are blanked in ``cols`` so that no rule reads them (a page
    view has no order id); ``texts``: each ``where`` header's column as text. (The cleaning
    counts a row once, under the first reason that drops it.)

    A row whose field is blank takes its order's value: Shopify's export writes an order's
    ``Financial Status`` on its first line only, and ``where={"Financial Status": "paid"}``
    keeps the order's other lines with it (a repair, counted).
    """
    import pyarrow.compute as pc

    from upsell.data._sources import bool_mask

    out: dict[str, np.ndarray] = {}
    filled: dict[str, np.ndarray] = {}
    order = pc.utf8_trim_whitespace(cols["order"]) if "order" in cols else None
    blank = _texts([""])
    for header, values in where.items():
        text = pc.utf8_trim_whitespace(texts[header])
        keep = where_mask(text, values)
        if keep.all():
            continue
        empty = bool_mask(pc.is_in(text, value_set=blank))
        if order is not None and empty.any() and keep.any():
            named = ~bool_mask(pc.is_in(order, value_set=blank))
            kept_orders = pc.unique(order.filter(arrow_bools(keep & named)))
            takes = empty & named & bool_mask(pc.is_in(order, value_set=kept_orders))
            if takes.any():
                filled[f"`{header}` blank: its order's value (where=)"] = takes
                keep |= takes
        if not keep.all():
            out[where_reason(header, values)] = ~keep
    if out:
        blank_rows(cols, np.logical_or.reduce(list(out.values())))
    return out, filled


def blank_rows(cols: dict[str, Any], rows: np.ndarray) -> None:
    """Blank the fields of ``rows`` in every column of ``cols`` (an empty text, or null):
    rows the reader drops (a repeated header, a row ``where`` leaves out) that no rule
    must read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from upsell.data._sources import arrow_bools

    found = arrow_bools(rows)
    n = rows.size
    empty = empty_strings(n)
    for key, col in cols.items():  # blank: no pa.scalar (it imports pandas)
        blank = empty if pa.types.is_string(col.type) else pa.nulls(n, col.type)
        whole = col.combine_chunks() if hasattr(col, "chunks") else col
        cols[key] = pa.chunked_array([pc.if_else(found, blank, whole)])


#: Headers of an event log's event column (web-shop exports of views, carts and purchases).
EVENT_HEADERS = ("event", "event_type", "eventtype", "event_name", "eventname", "events",
                 "behavior", "behaviour", "behavior_type", "behaviour_type", "action",
                 "action_type", "interaction", "interaction_type")
#: Event names that are not purchases, and those that are (lower case).
BROWSE_EVENTS = ("view", "views", "pv", "page_view", "pageview", "detail", "product_view",
                 "click", "cart", "addtocart", "add_to_cart", "remove_from_cart",
                 "removefromcart", "fav", "favorite", "favourite", "wishlist",
                 "add_to_wishlist", "search", "impression")
BUY_EVENTS = ("purchase", "purchased", "transaction", "buy", "order", "checkout", "sale",
              "paid")


def event_column(names: list[str], where: dict[str, tuple[str, ...]]) -> str | None:
    """The header of an event log's event column among ``names`` (none when ``where``
    already filters on it).

    Examples
    --------
    >>> event_column(["event_time", "event_type", "product_id"], {})
    'event_type'
    >>> event_column(["event_time", "event_type"], {"event_type": ("purchase",)}) is None
    True
    """
    for h in names:
        if h.strip().lower() in EVENT_HEADERS and h not in where:
            return h
    return None


def purchase_advice(header: str, values: Any) -> str:
    """``"read its purchases with where=..."`` when the event column ``header`` holds page
    views or carts among ``values`` (its texts), naming the purchase event when one is
    among them; '' when it holds no views or carts (not an event log).

    Examples
    --------
    >>> purchase_advice("event_name", ["page_view", "add_to_cart", "purchase"])
    "read its purchases with where={'event_name': 'purchase'} (--where event_name=purchase)"
    >>> purchase_advice("status", ["paid", "shipped"])
    ''
    """
    low = {str(v).strip().lower(): str(v).strip() for v in values}
    if not any(v in low for v in BROWSE_EVENTS):  # number codes: under an event header only
        coded = str(header).strip().lower() in EVENT_HEADERS
        return _coded_advice(header, [v for v in low if v]) if coded else ""
    buys = [low[v] for v in BUY_EVENTS if v in low]
    return (f"read its purchases with where={{{header!r}: {buys[0]!r}}} (--where "
            f"{header}={buys[0]})" if buys else
            f"read its purchases with where={{{header!r}: <the purchase event>}} "
            f"(--where {header}=...)")


def _coded_advice(header: str, codes: list[str]) -> str:
    """The ``where`` to read an event column that holds 2-10 number codes (Tmall's user logs:
    0 click, 1 cart, 2 purchase, 3 favourite): which code is the purchase the file does not
    say. '' for other values.

    >>> _coded_advice("action_type", ["0", "2", "1"])
    "its events are number codes (0, 1, 2): read its purchases with where={'action_type': <the purchase code>} (--where action_type=CODE; Tmall's user logs: 2)"
    """
    if not 2 <= len(codes) <= 10 or not all(c.isdigit() and len(c) <= 2 for c in codes):
        return ""
    return (f"its events are number codes ({', '.join(sorted(codes, key=int))}): read its "
            f"purchases with where={{{header!r}: <the purchase code>}} (--where "
            f"{header}=CODE; Tmall's user logs: 2)")


def refuse_events(label: str, header: str, text: Any, first: int | None = None) -> None:
    """Stop the read when the column ``header`` holds page views, carts and purchases: an
    event log read as order lines would count every view as a purchase. ``first``: the
    column's ``text`` is that of the file's first rows only (a long file is judged by its
    start before it is parsed whole).

    Examples
    --------
    >>> import pyarrow as pa
    >>> refuse_events("log.csv", "event", pa.array(["paid", "shipped"]))  # not events
    >>> refuse_events("log.csv", "event", pa.array(["view", "view", "purchase"]))
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: log.csv is an event log, not order lines: its column 'event' holds 'view' (66.7%), 'purchase' (33.3%); read its purchases with where={'event': 'purchase'} (--where event=purchase)
    """
    import pyarrow.compute as pc

    counts = pc.value_counts(pc.utf8_trim_whitespace(text)).to_pylist()
    found = {str(c["values"]): int(c["counts"]) for c in counts if c["values"]}
    low = {v.lower(): v for v in found}
    if not any(v in low for v in BROWSE_EVENTS) and not purchase_advice(header, found):
        return
    total = max(sum(found.values()), 1)
    top = sorted(found.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{v!r} ({n / total:.1%})" for v, n in top[:5]) + (
        ", ..." if len(top) > 5 else "")
    advice = purchase_advice(header, found)
    within = f" in its first {first:,} rows" if first is not None else ""
    raise UpsellDataError(f"{label} is an event log, not order lines: its column {header!r} "
                          f"holds {shown}{within}; {advice}")
