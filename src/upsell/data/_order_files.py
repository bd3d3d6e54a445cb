"""Reading an orders file (CSV, Parquet or a workbook) for :mod:`upsell.data._order_headers`.

Above the three readers (it reads with them) and below :class:`Transactions`, which
hands the result to the reader of the order lines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from upsell.data._order_headers import HEADER_ROLES, OrderHeaders
from upsell.data._sources import _pa
from upsell.exceptions import UpsellDataError

__all__ = ["maybe_read_order_headers", "read_order_headers"]


def maybe_read_order_headers(orders_file: Any, orders_columns: Any, *, delimiter: str = ",",
                             encoding: str = "utf-8") -> OrderHeaders | None:
    """:func:`read_order_headers` when an orders file is given (None when neither is)."""
    if orders_file is None and orders_columns is None:
        return None
    if orders_file is None:
        raise UpsellDataError("`orders_columns` goes with `orders_file` (the orders file "
                              "whose columns they name)")
    return read_order_headers(orders_file, orders_columns, delimiter=delimiter,
                              encoding=encoding)


def read_order_headers(path: Any, columns: Any, *, delimiter: str = ",",
                       encoding: str = "utf-8") -> OrderHeaders:
    """Read ``columns`` (role -> header: ``order`` and some of :data:`HEADER_ROLES`) of an
    orders file: a CSV (plain or gzip; its columns as text), a Parquet file or folder, or a
    workbook's first sheet (their columns typed as ``read_parquet`` and ``read_excel`` type
    them)."""
    import pyarrow.compute as pc  # only with an orders file: its set lookup is not wrapped

    from upsell.data.io import TABLE_KINDS, file_kind

    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    if isinstance(columns, Mapping):
        columns = dict(columns)
    if not isinstance(columns, dict) or not columns:
        raise UpsellDataError("`orders_columns` must map roles to the orders file's headers, "
                              "e.g. {'order': 'order_id', 'customer': 'customer_id', "
                              "'time': 'order_purchase_timestamp'}")
    unknown = [r for r in columns if r != "order" and r not in HEADER_ROLES]
    if unknown:
        raise UpsellDataError(f"`orders_columns`: {unknown[0]!r} cannot come from an orders "
                              f"file; it gives {', '.join(HEADER_ROLES)} (and `order`, the key)")
    if "order" not in columns or len(columns) < 2:
        raise UpsellDataError("`orders_columns` needs `order` (the key the lines share) and "
                              f"at least one of {', '.join(HEADER_ROLES)}")
    for role, header in columns.items():
        if not isinstance(header, str) or not header:
            raise UpsellDataError(f"`orders_columns[{role!r}]` must be a header name; "
                                  f"got {header!r}")
    if not os.path.exists(label):
        raise UpsellDataError(f"orders file not found: {label}")
    kind = file_kind(label)
    if kind in TABLE_KINDS:
        cols = _table_columns(label, kind, columns)
    else:
        cols = _csv_columns(label, columns, delimiter, encoding)
    order = pc.utf8_trim_whitespace(cols.pop("order"))
    return OrderHeaders(label=label, order=order, columns=cols)


def _csv_columns(label: str, columns: dict[str, str], delimiter: str,
                 encoding: str) -> dict[str, Any]:
    """role -> the CSV orders file's column, as text."""
    pa, _, pacsv = _pa()
    heads = list(dict.fromkeys(columns.values()))
    try:
        with pa.input_stream(label, compression="detect") as stream:
            table = pacsv.read_csv(
                stream, read_options=pacsv.ReadOptions(encoding=encoding),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in heads}, include_columns=heads,
                    strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError, UnicodeError, LookupError) as exc:
        _refuse_missing_headers(label, columns, delimiter, encoding)
        raise UpsellDataError(f"{label} (the orders file): {exc}") from None
    return {role: table.column(h).combine_chunks() for role, h in columns.items()}


def _table_columns(label: str, kind: str, columns: dict[str, str]) -> dict[str, Any]:
    """role -> the Parquet or workbook orders file's column, typed as the lines' readers
    type them (ids as text, times as timestamps or text)."""
    from upsell.data._parquet import _open, _text, _typed

    if kind in ("parquet", "folder"):
        names, load = _open(label)
        where = label
    else:
        from upsell.data._excel import sheet_table

        where, names, load = sheet_table(label, 0)
    for role, header in columns.items():
        if header not in names:
            raise UpsellDataError(
                f"orders file {where} has no column {header!r} (for `{role}`); it has "
                f"{', '.join(repr(h) for h in names[:20])}")
    heads = list(dict.fromkeys(columns.values()))
    table = load(heads)
    out = {}
    for role, header in columns.items():
        col = table.column(heads.index(header))
        what = f"column {header!r} (for `{role}`) of the orders file {where}"
        out[role] = (_text(col, what) if role == "order" else _typed(col, role, what))
        if hasattr(out[role], "combine_chunks"):
            out[role] = out[role].combine_chunks()
    return out


def _refuse_missing_headers(label: str, columns: dict[str, str], delimiter: str,
                            encoding: str) -> None:
    """After a failed read: the error naming a mapped header the file does not have (its
    headers listed), if that was the failure."""
    import csv
    import io

    pa = _pa()[0]
    with pa.input_stream(label, compression="detect") as stream:
        text = stream.read(1 << 16).decode(encoding, "replace").lstrip("\ufeff")
    have = [h.strip() for h in next(csv.reader(io.StringIO(text, newline=""),
                                               delimiter=delimiter), [])]
    for role, header in columns.items():
        if header not in have:
            raise UpsellDataError(
                f"orders file {label} has no column {header!r} (for `{role}`); it has "
                f"{', '.join(repr(h) for h in have[:20])}")
