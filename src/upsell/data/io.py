"""Reading order lines and baskets from files, DataFrames, Arrow tables and records."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import logging
import os
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from upsell.data.ids import FirstSeen, IdIndex
from upsell.exceptions import UpsellDataError

if TYPE_CHECKING:
    from upsell.data.transactions import _Prepared

ColumnMap = Mapping[str, str | int]

_ROLES = ("order", "item", "customer", "quantity", "price", "time", "channel")
_REQUIRED = ("order", "item")
# lines of a basket file split at once (bounds the per-item Python objects alive)
_BASKET_BLOCK = 1 << 16

logger = logging.getLogger("upsell")


def resolve_columns(available: list[str], columns: ColumnMap | None, *,
                    source: str) -> dict[str, int]:
    """Map each role to a position in ``available``.

    Roles named in ``columns`` must exist; other roles are picked up when a
    column carries the role's own name. ``order`` and ``item`` are required.
    """
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(_ROLES))
    if unknown:
        raise UpsellDataError(
            f"`columns` has unknown role {unknown[0]!r}; roles are {', '.join(_ROLES)}"
        )
    out: dict[str, int] = {}
    for role in _ROLES:
        if role in columns:
            name = columns[role]
            if isinstance(name, int) and not isinstance(name, bool):
                if not 0 <= name < len(available):
                    raise UpsellDataError(
                        f"column position {name} for `{role}` is out of range: {source} has "
                        f"{len(available)} columns"
                    )
                out[role] = name
                continue
            if name not in available:
                raise UpsellDataError(
                    f"column {name!r} (for `{role}`) is not in {source}; it has "
                    f"{', '.join(repr(a) for a in available[:20])}"
                )
            out[role] = available.index(name)
        elif role in available:
            out[role] = available.index(role)
    for role in _REQUIRED:
        if role not in out:
            raise UpsellDataError(
                f"no `{role}` column in {source}: map one with columns={{'{role}': ...}}; "
                f"it has {', '.join(repr(a) for a in available[:20])}"
            )
    return out


def records_to_columns(records: Iterable[Any], columns: ColumnMap | None) -> dict[str, Any]:
    """Turn records (dicts or tuples) into role -> list of values."""
    rows = list(records)
    if not rows:
        raise UpsellDataError("no order lines: `records` is empty")
    first = rows[0]
    if isinstance(first, Mapping):
        keys = list(dict.fromkeys(k for r in rows[:1000] for k in r))
        roles = resolve_columns([str(k) for k in keys], columns, source="the records")
        out: dict[str, Any] = {}
        for role, pos in roles.items():
            key = keys[pos]
            vals = []
            for i, r in enumerate(rows):
                if not isinstance(r, Mapping):
                    raise UpsellDataError(f"record {i}: expected a mapping like record 0; got {r!r}")
                vals.append(r.get(key))
            out[role] = vals
        return out
    width = len(first)
    if width < 2:
        raise UpsellDataError("records as tuples need at least (order, item)")
    out = {}
    for i, r in enumerate(rows):
        if len(r) != width:
            raise UpsellDataError(f"record {i} has {len(r)} fields; record 0 has {width}")
    for pos in range(min(width, len(_ROLES))):
        out[_ROLES[pos]] = [r[pos] for r in rows]
    return out


def frame_columns(frame: Any, columns: ColumnMap | None, *, kind: str) -> dict[str, Any]:
    """Pick the role columns out of a pandas DataFrame or pyarrow Table as numpy arrays."""
    if kind == "pandas":
        if not hasattr(frame, "columns") or not hasattr(frame, "iloc"):
            raise UpsellDataError(f"`frame` must be a pandas DataFrame; got {type(frame).__name__}")
        names = [str(c) for c in frame.columns]
        roles = resolve_columns(names, columns, source="the DataFrame")
        return {role: _pandas_column(frame.iloc[:, pos], role) for role, pos in roles.items()}
    if not hasattr(frame, "column_names") or not hasattr(frame, "column"):
        raise UpsellDataError(f"`table` must be a pyarrow Table; got {type(frame).__name__}")
    names = list(frame.column_names)
    roles = resolve_columns(names, columns, source="the Arrow table")
    return {role: _arrow_column(frame.column(pos), role) for role, pos in roles.items()}


def _pandas_column(series: Any, role: str) -> np.ndarray:
    dtype = str(series.dtype)
    if dtype.startswith("datetime64"):
        return series.to_numpy(dtype="datetime64[ns]")
    if dtype in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
                 "Float32", "Float64"):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    if dtype in ("string", "str") or dtype.startswith("string"):
        return series.to_numpy(dtype=object, na_value=None)
    if dtype == "category":
        return series.astype(object).to_numpy()
    return series.to_numpy()


def _arrow_column(col: Any, role: str) -> np.ndarray:
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = t.value_type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return np.asarray(col.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False),
                          dtype="datetime64[s]")
    if pa.types.is_integer(t) and col.null_count:
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(col.to_numpy(zero_copy_only=False))


def open_binary(path: Any) -> IO[bytes]:
    """Open a file for reading bytes, decompressing gzip content whatever the file name."""
    try:
        fspath = os.fspath(path)
    except TypeError:
        raise UpsellDataError(f"`path` must be a file path; got {type(path).__name__}") from None
    if not os.path.exists(fspath):
        raise UpsellDataError(f"`path` {fspath!r} does not exist")
    if os.path.isdir(fspath):
        raise UpsellDataError(f"`path` {fspath!r} is a directory, not a file")
    with open(fspath, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(fspath, "rb") if magic == b"\x1f\x8b" else open(fspath, "rb")


def open_text(path: Any, encoding: str = "utf-8") -> IO[str]:
    """Open a text file, decompressing gzip content whatever the file name."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding, newline="")


def maybe_int_ids(values: np.ndarray) -> np.ndarray:
    """Turn a column of id strings into int64 when every one is a plain integer.

    Plain means optional minus sign and digits without leading zeros (so "007"
    stays a string and never collides with "7"); "17850.0" also counts, since
    spreadsheets write integer ids that way.

    Examples
    --------
    >>> maybe_int_ids(np.array(["12", "7"])).tolist()
    [12, 7]
    >>> maybe_int_ids(np.array(["12", "007"])).tolist()
    ['12', '007']
    """
    if values.dtype.kind != "U" or values.size == 0:
        return values
    uniq, inv = np.unique(values, return_inverse=True)
    body = np.char.replace(uniq, ".0", "", count=1)
    body = np.where(np.char.endswith(uniq, ".0"), body, uniq)
    digits = np.char.lstrip(body, "-")
    ok = np.char.isdigit(digits) & (np.char.str_len(digits) <= 18)
    ok &= (np.char.str_len(digits) == 1) | ~np.char.startswith(digits, "0")
    ok &= np.char.count(body, "-") <= 1
    if not ok.all():
        return values
    return body.astype(np.int64)[inv.reshape(-1)]


def read_csv_prepared(path: Any, *, columns: ColumnMap | None, delimiter: str, encoding: str,
                      header: bool, invalid: str, item_index: IdIndex | None = None,
                      customer_index: IdIndex | None = None) -> _Prepared:
    """Read a CSV file into prepared columns for :meth:`Transactions._from_prepared`.

    Uses the vectorised reader of :mod:`upsell.data._csv`; the few inputs it
    cannot split exactly (see there) are read by :func:`_read_csv_reference`,
    which defines the semantics both follow.
    """
    from upsell.data import _csv

    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise UpsellDataError(f"`delimiter` must be a single character; got {delimiter!r}")
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise UpsellDataError(f"`encoding` {encoding!r} is not a known text encoding") from None
    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    try:
        with open_binary(path) as raw:
            return _csv.read_prepared(
                raw, label=label, columns=columns, delimiter=delimiter, encoding=encoding,
                header=header, invalid=invalid, item_index=item_index,
                customer_index=customer_index)
    except _csv._Fallback as why:
        logger.debug("%s: reading with the csv module (%s)", label, why)
    return _read_csv_reference(path, columns=columns, delimiter=delimiter, encoding=encoding,
                               header=header, invalid=invalid, item_index=item_index,
                               customer_index=customer_index)


def _read_csv_reference(path: Any, *, columns: ColumnMap | None, delimiter: str, encoding: str,
                        header: bool, invalid: str, item_index: IdIndex | None = None,
                        customer_index: IdIndex | None = None) -> _Prepared:
    """Read a CSV file with the stdlib csv module: slow, and the definition of the semantics."""
    from upsell.data.transactions import _prepare

    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise UpsellDataError(f"`delimiter` must be a single character; got {delimiter!r}")
    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    try:
        # a UTF-8 byte order mark is not data, with or without a header
        sig = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
        fh = open_text(path, sig)
    except LookupError:
        raise UpsellDataError(f"`encoding` {encoding!r} is not a known text encoding") from None
    with fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            first = next(reader, None)
            if first is None:
                raise UpsellDataError(f"{label} is empty: no header and no data rows")
            if header:
                names = [h.strip().lstrip("\ufeff") for h in first]
                pending: list[list[str]] = []
            else:
                names = [str(i) for i in range(len(first))]
                pending = [first]
            roles = resolve_columns(names, _positional(columns, header), source=label)
            width = len(names)
            wanted = list(roles.items())
            cols: dict[str, list[str]] = {role: [] for role, _ in wanted}
            row_no = 0
            for row in _chain(pending, reader):
                row_no += 1
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        row_no -= 1
                        continue
                    raise UpsellDataError(
                        f"{label} row {row_no:,} (line {reader.line_num:,}): has {len(row)} "
                        f"fields; the header has {width}"
                    )
                for role, pos in wanted:
                    cols[role].append(row[pos])
        except UnicodeDecodeError as exc:
            raise UpsellDataError(
                f"{label} is not valid {encoding} text ({exc.reason} at byte {exc.start}); "
                f"pass the right `encoding`"
            ) from None
        except csv.Error as exc:
            raise UpsellDataError(f"{label} line {reader.line_num:,}: {exc}") from None
    if row_no == 0:
        raise UpsellDataError(f"{label} has a header but no data rows")
    arrays: dict[str, np.ndarray] = {}
    for role, values in cols.items():
        arr = np.array(values, dtype=str)
        if role in ("order", "item", "customer", "channel"):
            arr = _csv_ids(arr)
        arrays[role] = arr
    return _prepare(arrays, invalid=invalid, item_index=item_index,
                    customer_index=customer_index, source=label)


def _csv_ids(values: np.ndarray) -> np.ndarray:
    """Strip id strings and turn them into integers when every non-blank one is plain.

    Blank cells are missing ids (anonymous customers), not values, so they do not
    keep a column of integer ids as strings; they come back as None.
    """
    arr = np.char.strip(values)
    blank = np.char.str_len(arr) == 0
    if not blank.any() or blank.all():
        return maybe_int_ids(arr)
    ints = maybe_int_ids(arr[~blank])
    if ints.dtype.kind != "i":
        return arr
    out = np.empty(arr.size, dtype=object)
    out[~blank] = ints.tolist()
    return out


def _positional(columns: ColumnMap | None, header: bool) -> ColumnMap | None:
    if header or columns is None:
        return columns
    return {k: (str(v) if isinstance(v, int) else v) for k, v in columns.items()}


def _chain(first: list[list[str]], rest: Iterable[list[str]]) -> Iterable[list[str]]:
    yield from first
    yield from rest


def read_basket_lines(path: Any, *, delimiter: str | None = None, encoding: str = "utf-8",
                      ) -> tuple[np.ndarray, list[Any], int]:
    """Read a one-basket-per-line file; return (basket number per item, item ids, n lines).

    Items inside a basket are separated by ``delimiter`` (auto: comma when the
    first non-empty line has one, else whitespace). Labels keep their inner
    and trailing spaces for comma files (Groceries has "cream cheese "), are
    split on any whitespace otherwise. Empty lines are empty baskets. The item
    ids come back as a Python list sharing one object per distinct id (ints when
    every label is a plain integer, see :func:`maybe_int_ids`), which
    :meth:`Transactions.from_arrays` hashes without building a string array.
    """
    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    try:
        with open_text(path, encoding) as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise UpsellDataError(
            f"{label} is not valid {encoding} text ({exc.reason} at byte {exc.start})"
        ) from None
    except LookupError:
        raise UpsellDataError(f"`encoding` {encoding!r} is not a known text encoding") from None
    lines = text.splitlines()
    del text
    n = len(lines)
    if n == 0:
        raise UpsellDataError(f"{label} is empty: no baskets")
    if delimiter is None:
        sample = next((ln for ln in lines if ln.strip()), "")
        delimiter = "," if "," in sample else ""
    # blocks of lines: one C-level split per line, each label hashed once, so only the
    # distinct labels are kept as objects
    seen = FirstSeen()
    counts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for b0 in range(0, n, _BASKET_BLOCK):
        block = lines[b0:b0 + _BASKET_BLOCK]
        parts = ([ln.split(delimiter) if ln else [] for ln in block] if delimiter
                 else [ln.split() for ln in block])
        size = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        counts.append(size)
        codes.append(seen.codes(itertools.chain.from_iterable(parts), int(size.sum())))
    del lines
    first = np.concatenate(codes)
    del codes
    basket = np.repeat(np.arange(n, dtype=np.int64), np.concatenate(counts))
    labels = seen.distinct
    which = seen.recode(first, np.arange(len(labels), dtype=np.int64), in_place=True)
    del first, seen
    if "" in labels:
        # "a,,b" and trailing commas hold empty labels: not items (and no bar to int ids)
        empty = labels.index("")
        keep = which != empty
        which, basket = which[keep], basket[keep]
        labels[empty] = next((x for x in labels if x), "0")  # any label: its rows are gone
    distinct = maybe_int_ids(np.array(labels, dtype=str)) if labels else np.array([], dtype=str)
    ids = np.empty(distinct.size, dtype=object)
    ids[:] = distinct.tolist()
    return basket, ids[which].tolist(), n


def write_csv(tx: Any, path: Any, columns: ColumnMap | None = None, *,
              chunk: int = 1_000_000) -> None:
    """Write order lines with external ids as CSV (gzip when the name ends in .gz), atomically.

    Columns are order, item, then customer, quantity, price, time, channel when
    present, headed by their role names or by ``columns`` (role -> header name).
    Numbers are written in their shortest round-tripping form, times as ISO 8601,
    anonymous customers as empty cells; ids holding the delimiter, a quote or a
    line break are quoted.
    """
    from upsell.persist import atomic_write_bytes

    names = dict(columns or {})
    unknown = sorted(set(names) - set(_ROLES))
    if unknown:
        raise UpsellDataError(
            f"`columns` has unknown role {unknown[0]!r}; roles are {', '.join(_ROLES)}"
        )
    roles = [r for r in _ROLES if r in ("order", "item", "quantity") or tx.has(r)]
    head = ",".join(_quote_cells(np.array([str(names.get(r, r)) for r in roles])).tolist())
    id_text = {"order": _quote_cells(tx.orders.ids.astype(str)),
               "item": _quote_cells(tx.items.ids.astype(str))}
    if tx.has("customer"):
        # one spare slot at the end holds the empty cell of anonymous lines (code -1)
        id_text["customer"] = np.append(_quote_cells(tx.customers.ids.astype(str)), "")
    if tx.has("channel") and tx.channels is not None:
        id_text["channel"] = _quote_cells(tx.channels.ids.astype(str))

    def cells(role: str, lo: int, hi: int) -> np.ndarray:
        if role in id_text:
            return id_text[role][getattr(tx, role)[lo:hi]]
        if role == "time":
            return np.datetime_as_string(tx.time[lo:hi], unit="s")
        return _number_text(getattr(tx, role)[lo:hi])

    def write(fh: Any) -> None:
        out = (gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=6, mtime=0)
               if os.fspath(path).endswith(".gz") else fh)
        try:
            out.write((head + "\n").encode("utf-8"))
            for lo in range(0, len(tx), chunk):
                hi = min(lo + chunk, len(tx))
                line = cells(roles[0], lo, hi)
                for role in roles[1:]:
                    line = np.strings.add(np.strings.add(line, ","), cells(role, lo, hi))
                out.write(("\n".join(line.tolist()) + "\n").encode("utf-8"))
        finally:
            if out is not fh:
                out.close()

    atomic_write_bytes(path, write)


def _quote_cells(text: np.ndarray) -> np.ndarray:
    """CSV-quote the cells that hold a comma, a quote or a line break."""
    need = np.zeros(text.size, dtype=bool)
    for ch in (",", '"', "\n", "\r"):
        need |= np.strings.find(text, ch) >= 0
    if not need.any():
        return text
    out = text.astype(object)
    out[need] = ['"' + t.replace('"', '""') + '"' for t in text[need].tolist()]
    return out.astype(str)


def _number_text(values: np.ndarray) -> np.ndarray:
    """Shortest round-tripping text of float64 values; whole numbers without ".0"."""
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2.0**53)
    text = values.astype(str)
    if whole.any():
        text = text.astype(f"U{max(text.dtype.itemsize // 4, 20)}")
        text[whole] = values[whole].astype(np.int64).astype(str)
    return text
