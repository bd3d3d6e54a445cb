"""Reading an orders file or a customers file (CSV, Parquet or a workbook) for
:mod:`upsell.data._order_headers`.

Above the three readers (it reads with them) and below :class:`Transactions`, which
hands the result to the reader of the order lines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from upsell.data._order_headers import HEADER_ROLES, STATUS, WHERE, OrderHeaders, side_header
from upsell.data._sources import _pa
from upsell.data._suggest import header_list
from upsell.exceptions import UpsellDataError

__all__ = ["maybe_read_order_headers", "orders_columns_advice", "read_customer_map",
           "read_order_headers", "side_files"]

#: an orders file's common headers, compared as :func:`~upsell.data._suggest.suggest_columns`
#: compares them (Olist's, Instacart's, an ERP's order headers)
_ORDER_SYNONYMS = {
    "days_since_prior": ("dayssincepriororder", "dayssinceprior", "dayssincelastorder",
                         "dayssincepreviousorder", "dayssinceprevious"),
    "sequence": ("ordernumber", "ordersequence", "orderseq", "sequence", "ordercount"),
}


def side_files(orders_file: Any, orders_columns: Any, customers_file: Any = None,
               customers_columns: Any = None, *, delimiter: str = ",",
               encoding: str = "utf-8", where: dict[str, tuple[str, ...]] | None = None,
               time_format: str | None = None) -> list[OrderHeaders] | None:
    """The files beside the order lines, in the order they are joined: the orders file
    (:func:`read_order_headers`, with the ``where`` headers it has), then the customers
    file (:func:`read_customer_map`); None when neither is given."""
    files = []
    orders = maybe_read_order_headers(orders_file, orders_columns, delimiter=delimiter,
                                      encoding=encoding, where=where, time_format=time_format)
    if orders is not None:
        files.append(orders)
    if customers_file is not None or customers_columns is not None:
        if customers_file is None:
            raise UpsellDataError("`customers_columns` goes with `customers_file` (the "
                                  "customers file whose columns they name)")
        left = {h: v for h, v in (where or {}).items()
                if orders is None or h not in orders.where}  # the orders file's come first
        files.append(read_customer_map(customers_file, customers_columns,
                                       delimiter=delimiter, encoding=encoding,
                                       where=left or None))
    return files or None


def read_customer_map(path: Any, columns: Any, *, delimiter: str = ",",
                      encoding: str = "utf-8",
                      where: dict[str, tuple[str, ...]] | None = None) -> OrderHeaders:
    """Read a customers file's ``columns``: ``customer`` (the ids the lines or their orders
    hold) and ``person`` (the id that customer stands for: Olist's ``customer_unique_id``),
    as :func:`read_order_headers` reads an orders file; ``where``: those of its headers the
    file has (a customer's state, group or test flag) are read too, as text, to filter each
    line by its customer's value."""
    import pyarrow.compute as pc

    if isinstance(columns, Mapping):
        columns = dict(columns)
    if not isinstance(columns, dict) or set(columns) != {"customer", "person"}:
        raise UpsellDataError(
            "`customers_columns` must map `customer` (the ids the lines hold) and `person` "
            "(the id each stands for) to the customers file's headers, e.g. {'customer': "
            f"'customer_id', 'person': 'customer_unique_id'}}; got {columns!r}")
    notes: dict[str, str] = {}
    label, cols, files = _read_side(path, columns, delimiter, encoding, "customers file",
                                    "customer", notes, optional=list(where or {}))
    key = pc.utf8_trim_whitespace(cols.pop("customer"))
    mine = {h: v for h, v in (where or {}).items() if f"{WHERE}{h}" in cols}
    return OrderHeaders(label=label, key=key,
                        columns={"customer": cols["person"],
                                 **{f"{WHERE}{h}": cols[f"{WHERE}{h}"] for h in mine}},
                        key_role="customer", files=files, not_read=notes, where=mine)


def orders_columns_advice(path: Any, delimiter: str = ",", encoding: str = "utf-8") -> str:
    """What ``orders_columns`` an orders file's headers suggest, as an error's advice:
    ``"; its headers look like orders_columns={...}"`` ('' when the file cannot be read or
    suggests no ``order`` and one more role). A header counting days since the customer's
    previous order (Instacart's ``days_since_prior_order``) suggests the ``sequence`` and
    ``days_since_prior`` roles.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "orders.csv"
    >>> _ = p.write_text("order_id,user_id,order_number,days_since_prior_order\\n1,7,1,\\n")
    >>> print(orders_columns_advice(p)[24:157])
    orders_columns={'order': 'order_id', 'customer': 'user_id', 'sequence': 'order_number', 'days_since_prior': 'days_since_prior_order'}
    """
    from upsell.data._suggest import _SYNONYMS, suggest_columns

    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else ""
    names: list[str] = []
    try:
        if os.path.isfile(label):
            from upsell.data.io import TABLE_KINDS, file_kind

            kind = file_kind(label)
            if kind in ("parquet", "folder"):
                from upsell.data._parquet import _open

                names = _open(label)[0]
            elif kind not in TABLE_KINDS:
                names = _header_line(label, {}, delimiter, encoding)[1]
    except UpsellDataError:
        return ""
    days = suggest_columns(names, synonyms={"days_since_prior":
                                            _ORDER_SYNONYMS["days_since_prior"]})
    table = {r: _SYNONYMS[r] for r in ("order", "customer")}
    if days:  # the time counted back from each customer's last order
        table["sequence"] = _ORDER_SYNONYMS["sequence"]
    else:
        table.update({r: _SYNONYMS[r] for r in ("time", "channel")})
    got = suggest_columns([n for n in names if n not in days.values()], synonyms=table)
    if "sequence" in got:
        got.update(days)
    if "order" not in got or len(got) < 2:
        return ""
    return f"; its headers look like orders_columns={got!r}" + (
        ", with time_format='days_since:YYYY-MM-DD' (the day of each customer's last order)"
        if "days_since_prior" in got else "") + _status_advice(label, names, delimiter, encoding)


def _status_advice(label: str, names: list[str], delimiter: str, encoding: str) -> str:
    """The ``where`` that keeps an orders file's sold orders (a CSV or a Parquet file) when
    its status column holds unsold ones in its first rows (Olist's ``order_status``:
    canceled, unavailable), as the order lines' advice gives it; '' otherwise."""
    from upsell.data._first_rows import _status_advice as advice
    from upsell.data._parts import status_column
    from upsell.data._sources import text_rows

    pa = _pa()[0]
    if not names or status_column(names, {}) is None:
        return ""
    from upsell.data.io import file_kind

    if file_kind(label) == "parquet":  # its first rows, typed
        from upsell.data._parquet import _open

        load = _open(label)[1]

        def typed(header: str) -> list[str]:
            got = load([header], limit=5_000)
            col = (got[0] if isinstance(got, tuple) else got).column(0)
            return ["" if v is None else str(v).strip() for v in col.to_pylist()]

        return advice(names, typed, {})
    try:
        with pa.input_stream(label, compression="detect") as stream:
            text = stream.read(1 << 20).decode(encoding, "replace").lstrip("\ufeff")
    except (OSError, LookupError, pa.ArrowInvalid):
        return ""
    rows = text_rows(text, delimiter)
    if not rows or [h.strip() for h in rows[0]] != names:
        return ""  # title lines above the header: no advice
    body = rows[1:] if text.endswith("\n") else rows[1:-1]  # whole rows (1 MB may cut one)

    def texts(header: str) -> list[str]:
        j = names.index(header)
        return [r[j].strip() for r in body if len(r) > j]

    return advice(names, texts, {})


def maybe_read_order_headers(orders_file: Any, orders_columns: Any, *, delimiter: str = ",",
                             encoding: str = "utf-8",
                             where: dict[str, tuple[str, ...]] | None = None,
                             time_format: str | None = None) -> OrderHeaders | None:
    """:func:`read_order_headers` when an orders file is given (None when neither is)."""
    if orders_file is None and orders_columns is None:
        return None
    if orders_file is None:
        raise UpsellDataError("`orders_columns` goes with `orders_file` (the orders file "
                              "whose columns they name)")
    return read_order_headers(orders_file, orders_columns, delimiter=delimiter,
                              encoding=encoding, where=where, time_format=time_format)


def read_order_headers(path: Any, columns: Any, *, delimiter: str = ",",
                       encoding: str = "utf-8",
                       where: dict[str, tuple[str, ...]] | None = None,
                       time_format: str | None = None) -> OrderHeaders:
    """Read ``columns`` (role -> header: ``order`` and some of :data:`HEADER_ROLES`) of an
    orders file: a CSV (plain or gzip; its columns as text), a Parquet file or folder, or a
    workbook's first sheet (their columns typed as ``read_parquet`` and ``read_excel`` type
    them). ``where`` (:func:`~upsell.data._parts.check_where`): those of its headers the
    file has (an order's status) are read too, as text, to filter each line by its order's
    value (``OrderHeaders.where``). ``sequence`` and ``days_since_prior`` instead of
    ``time`` (:mod:`upsell.data._timeline`) give each order a time back from its customer's
    last order, on the day ``time_format="days_since:YYYY-MM-DD"`` names."""
    import pyarrow.compute as pc  # only with an orders file: its set lookup is not wrapped

    from upsell.data._timeline import TIMELINE_ROLES, check_timeline_roles, timeline_times

    if isinstance(columns, Mapping):
        columns = dict(columns)
    if columns is None or columns == {}:
        raise UpsellDataError(
            "`orders_file` needs `orders_columns`: `order` (the key the lines share) and some "
            f"of {', '.join(HEADER_ROLES)} (or {' and '.join(TIMELINE_ROLES)} for the time)"
            f"{orders_columns_advice(path, delimiter, encoding)}")
    if not isinstance(columns, dict):
        raise UpsellDataError("`orders_columns` must map roles to the orders file's headers, "
                              "e.g. {'order': 'order_id', 'customer': 'customer_id', "
                              "'time': 'order_purchase_timestamp'}")
    unknown = [r for r in columns
               if r != "order" and r not in HEADER_ROLES and r not in TIMELINE_ROLES]
    if unknown:
        raise UpsellDataError(f"`orders_columns`: {unknown[0]!r} cannot come from an orders "
                              f"file; it gives {', '.join(HEADER_ROLES)} (and `order`, the key;"
                              f" or {' and '.join(TIMELINE_ROLES)} for the time)")
    origin = check_timeline_roles(columns, time_format)
    if "order" not in columns or len(columns) < 2:
        raise UpsellDataError("`orders_columns` needs `order` (the key the lines share) and "
                              f"at least one of {', '.join(HEADER_ROLES)}")
    notes: dict[str, str] = {}
    label, cols, files = _read_side(path, columns, delimiter, encoding, "orders file", "order",
                                    notes, optional=[*(where or {}), STATUS])
    order = pc.utf8_trim_whitespace(cols.pop("order"))
    if origin is not None:
        cols["time"] = timeline_times(
            cols["customer"], cols.pop("sequence"), cols.pop("days_since_prior"),
            origin=origin, headers=columns, label=label, files=files, key=order)
    mine = {h: v for h, v in (where or {}).items() if f"{WHERE}{h}" in cols}
    return OrderHeaders(label=label, key=order, columns=cols, files=files, not_read=notes,
                        where=mine)


def _read_side(path: Any, columns: dict[str, str], delimiter: str, encoding: str, what: str,
               key_role: str, notes: dict[str, str], optional: list[str] | None = None
               ) -> tuple[str, dict[str, Any], list[tuple[int, str]] | None]:
    """(label, role -> column, each file's first row and label or None) of a side file, or
    of several read as one (a list, a folder of CSV files or workbooks, a glob pattern:
    monthly exports of the orders, as of their lines). Title lines above a file's header
    and a workbook's sheets before its table are skipped and added to ``notes`` (the data
    report's ``not_read``). ``optional``: headers read too when the (first) file has them,
    as the columns ``WHERE + header`` (``where``'s headers: an order's status)."""
    from upsell.data._parts import (
        TEXT_SUFFIXES,
        WORKBOOK_SUFFIXES,
        concat_columns,
        input_files,
        several_label,
    )
    from upsell.data.io import folder_kind

    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    folders = os.path.isdir(label) and folder_kind(label) != "parquet"  # else one dataset
    files = input_files(path, suffixes=(*TEXT_SUFFIXES, ".parquet", ".pq", *WORKBOOK_SUFFIXES),
                        what=f"{what}s", folders=folders)
    if files is None or len(files) == 1:
        one = label if files is None else files[0]
        return one, _read_columns(one, columns, delimiter, encoding, what, key_role, notes,
                                  optional or []), None
    first = _read_columns(files[0], columns, delimiter, encoding, what, key_role, notes,
                          optional or [])
    # a status column read for its flag only: the other files need not have it
    first = {r: c for r, c in first.items() if not r.startswith(STATUS)}
    # the optional headers the first file has, the others must have too
    columns = {**columns, **{r: side_header(r) for r in first if r not in columns}}
    parts = [first] + [_read_columns(f, columns, delimiter, encoding, what, key_role, notes, [])
                       for f in files[1:]]
    sizes = [len(next(iter(p.values()))) for p in parts]
    starts = [sum(sizes[:j]) for j in range(len(files))]
    cols = {role: concat_columns([p[role] for p in parts]).combine_chunks() for role in columns}
    return several_label(path, files), cols, list(zip(starts, files, strict=True))


def _read_columns(label: str, columns: dict[str, str], delimiter: str, encoding: str,
                  what: str, key_role: str, notes: dict[str, str], optional: list[str]
                  ) -> dict[str, Any]:
    """role -> the side file's column, by the file's kind (its bytes); the ``optional``
    headers it has too, as ``WHERE + header``."""
    from upsell.data.io import TABLE_KINDS, file_kind

    for role, header in columns.items():
        if not isinstance(header, str) or not header:
            raise UpsellDataError(f"`{what.split()[0]}_columns[{role!r}]` must be a header "
                                  f"name; got {header!r}")
    if not os.path.exists(label):
        raise UpsellDataError(f"{what} not found: {label}")
    kind = file_kind(label)
    if kind in TABLE_KINDS:
        return _table_columns(label, kind, columns, what, key_role, notes, optional)
    return _csv_columns(label, columns, delimiter, encoding, what, notes, optional)


def _role(role: str) -> str:
    """A column's role as messages name it (``where`` for a ``where`` header's column)."""
    return ("where" if role.startswith(WHERE) else "status" if role.startswith(STATUS)
            else role)


def _with_optional(columns: dict[str, str], names: list[str], optional: list[str]
                   ) -> dict[str, str]:
    """``columns`` and those of the ``optional`` headers that ``names`` holds, as
    ``WHERE + header`` (a header a role already reads is not read twice); ``STATUS`` among
    them: the file's status and currency columns (:func:`~upsell.data._parts.status_column`,
    :func:`~upsell.data._parts.currency_column`; not ``where`` headers) too, as ``STATUS +
    header``, to flag the lines of unsold orders and of other currencies."""
    from upsell.data._parts import currency_column, status_column

    out = {**columns, **{f"{WHERE}{h}": h for h in optional
                         if h != STATUS and h in names and h not in columns.values()}}
    if STATUS in optional:  # an order's status and currency, read for their flags
        where = dict.fromkeys(optional, ())
        for h in (status_column(names, where), currency_column(names, where)):
            if h is not None and h not in out.values():
                out[f"{STATUS}{h}"] = h
    return out


def _csv_columns(label: str, columns: dict[str, str], delimiter: str,
                 encoding: str, what: str, notes: dict[str, str], optional: list[str]
                 ) -> dict[str, Any]:
    """role -> the CSV side file's column, as text; title lines above its header (an ERP
    report's) are skipped and named in ``notes``."""
    pa, _, pacsv = _pa()
    skip, names = _header_line(label, columns, delimiter, encoding)
    columns = _with_optional(columns, names, optional)
    heads = list(dict.fromkeys(columns.values()))
    if skip:
        notes[f"{label} {'line 1' if skip == 1 else f'lines 1-{skip}'}"] = \
            "title lines above the header"
    try:
        with pa.input_stream(label, compression="detect") as stream:
            table = pacsv.read_csv(
                stream, read_options=pacsv.ReadOptions(encoding=encoding, skip_rows=skip),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in heads}, include_columns=heads,
                    strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError, UnicodeError, LookupError) as exc:
        for role, header in columns.items():  # a mapped header the file does not have
            if names and header not in names:
                raise UpsellDataError(
                    f"{what} {label} has no column {header!r} (for `{_role(role)}`); it has "
                    f"{header_list(names)}") from None
        raise UpsellDataError(f"{label} (the {what}): {exc}") from None
    return {role: table.column(h).combine_chunks() for role, h in columns.items()}


def _header_line(label: str, columns: dict[str, str], delimiter: str, encoding: str
                 ) -> tuple[int, list[str]]:
    """(the lines above a CSV side file's header, the header's fields): 0 lines when its
    first line names the mapped headers, else the lines above the first of its first 31
    that names them all (a report's title), else 0 (the read then names the headers it
    lacks)."""
    from upsell.data._columns import header_row
    from upsell.data._sources import text_rows

    pa = _pa()[0]
    try:
        with pa.input_stream(label, compression="detect") as stream:
            text = stream.read(1 << 16).decode(encoding, "replace").lstrip("\ufeff")
    except (OSError, LookupError, pa.ArrowInvalid):
        return 0, []  # the read reports it
    rows = text_rows(text, delimiter)[:31]
    wanted = set(columns.values())
    if not rows or wanted <= {h.strip() for h in rows[0]}:
        return 0, [h.strip() for h in rows[0]] if rows else []
    at = header_row(rows, {h: h for h in wanted})
    # lines, not records: title lines hold no line break inside quotes
    if at is None or any("\n" in f or "\r" in f for r in rows[:at] for f in r):
        return 0, [h.strip() for h in rows[0]]
    return at, [h.strip() for h in rows[at]]


def _table_columns(label: str, kind: str, columns: dict[str, str], what: str,
                   key_role: str, notes: dict[str, str], optional: list[str]
                   ) -> dict[str, Any]:
    """role -> the Parquet or workbook side file's column, typed as the lines' readers
    type them (ids as text, times as timestamps or text)."""
    from upsell.data._parquet import _open, _text, _typed

    if kind in ("parquet", "folder"):
        names, load = _open(label)
        where = label
    else:
        from upsell.data._excel import side_sheet

        where, names, load = side_sheet(label, list(dict.fromkeys(columns.values())), notes)
    columns = _with_optional(columns, names, optional)
    for role, header in columns.items():
        if header not in names:
            raise UpsellDataError(
                f"{what} {where} has no column {header!r} (for `{_role(role)}`); it has "
                f"{header_list(names)}")
    heads = list(dict.fromkeys(columns.values()))
    table = load(heads)
    out = {}
    for role, header in columns.items():
        col = table.column(heads.index(header))
        name = f"column {header!r} (for `{_role(role)}`) of the {what} {where}"
        out[role] = (_text(col, name) if role == key_role else _typed(col, role, name))
        if hasattr(out[role], "combine_chunks"):
            out[role] = out[role].combine_chunks()
    return out
