"""Reading order lines and baskets from files, DataFrames, Arrow tables and records."""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

if TYPE_CHECKING:
    from upsell.data.transactions import _Prepared

ColumnMap = Mapping[str, str | int]

_ROLES = ("order", "item", "customer", "quantity", "price", "time", "channel")
_REQUIRED = ("order", "item")


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


def open_text(path: Any, encoding: str = "utf-8") -> IO[str]:
    """Open a text file, decompressing gzip content whatever the file name."""
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
    raw: IO[bytes] = gzip.open(fspath, "rb") if magic == b"\x1f\x8b" else open(fspath, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


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
    """Read a CSV file into prepared columns for :meth:`Transactions._from_prepared`."""
    from upsell.data.transactions import _prepare

    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise UpsellDataError(f"`delimiter` must be a single character; got {delimiter!r}")
    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    try:
        fh = open_text(path, encoding)
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
            arr = maybe_int_ids(np.char.strip(arr))
        arrays[role] = arr
    return _prepare(arrays, invalid=invalid, item_index=item_index,
                    customer_index=customer_index, source=label)


def _positional(columns: ColumnMap | None, header: bool) -> ColumnMap | None:
    if header or columns is None:
        return columns
    return {k: (str(v) if isinstance(v, int) else v) for k, v in columns.items()}


def _chain(first: list[list[str]], rest: Iterable[list[str]]) -> Iterable[list[str]]:
    yield from first
    yield from rest


def read_basket_lines(path: Any, *, delimiter: str | None = None, encoding: str = "utf-8",
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """Read a one-basket-per-line file; return (basket number per item, item labels, n lines).

    Items inside a basket are separated by ``delimiter`` (auto: comma when the
    first non-empty line has one, else whitespace). Labels keep their inner
    and trailing spaces for comma files (Groceries has "cream cheese "), are
    split on any whitespace otherwise. Empty lines are empty baskets.
    """
    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    basket: list[int] = []
    items: list[str] = []
    n = 0
    try:
        with open_text(path, encoding) as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise UpsellDataError(
            f"{label} is not valid {encoding} text ({exc.reason} at byte {exc.start})"
        ) from None
    lines = text.splitlines()
    if delimiter is None:
        sample = next((ln for ln in lines if ln.strip()), "")
        delimiter = "," if "," in sample else ""
    for n, line in enumerate(lines, start=1):
        parts = line.split(delimiter) if delimiter else line.split()
        for p in parts:
            if delimiter and p == "":
                continue
            basket.append(n - 1)
            items.append(p)
    if n == 0:
        raise UpsellDataError(f"{label} is empty: no baskets")
    return np.array(basket, dtype=np.int64), np.array(items, dtype=str), n
