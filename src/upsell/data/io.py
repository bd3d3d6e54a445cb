"""Reading order lines and baskets from files, DataFrames, Arrow tables and records."""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import logging
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from upsell.data._columns import (  # noqa: F401 - moved below the readers; importable here
    _REQUIRED,
    _ROLES,
    NULL_CUSTOMERS,
    ColumnMap,
    _positional,
    null_markers,
    resolve_columns,
    utf8_error,
)
from upsell.data.ids import FirstSeen, IdIndex
from upsell.exceptions import UpsellDataError

if TYPE_CHECKING:
    from upsell.data._clean import Prepared as _Prepared


# lines of a basket file split at once (bounds the per-item Python objects alive)
_BASKET_BLOCK = 1 << 16

logger = logging.getLogger("upsell")


def check_options(options: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse keyword arguments ``where`` does not take, suggesting the close match.

    Examples
    --------
    >>> check_options({"retruns": "drop"}, ["returns", "invalid"], "Transactions.read_csv")
    Traceback (most recent call last):
    ...
    TypeError: Transactions.read_csv() got an unexpected keyword argument 'retruns'; did you mean 'returns'?
    """
    allowed = list(allowed)
    for key in options:
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else (
                f"; it takes {', '.join(sorted(allowed))}")
            raise TypeError(f"{where}() got an unexpected keyword argument {key!r}{hint}")


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
        return {"item": None, **out}  # no item: a purchase log (columns={"item": None})
    width = len(first)
    if width < 2:
        raise UpsellDataError("records as tuples need at least (order, item)")
    out = {}
    for i, r in enumerate(rows):
        if len(r) != width:
            raise UpsellDataError(f"record {i} has {len(r)} fields; record 0 has {width}")
    positional = _ROLES[:_ROLES.index("value") + 1]  # cost and profit by name only
    for pos in range(min(width, len(positional))):
        out[positional[pos]] = [r[pos] for r in rows]
    return out


def frame_columns(frame: Any, columns: ColumnMap | None, *, kind: str) -> dict[str, Any]:
    """Pick the role columns out of a pandas DataFrame or pyarrow Table as numpy arrays."""
    if kind == "pandas":
        if not hasattr(frame, "columns") or not hasattr(frame, "iloc"):
            raise UpsellDataError(f"`frame` must be a pandas DataFrame; got {type(frame).__name__}")
        names = [str(c) for c in frame.columns]
        roles = resolve_columns(names, columns, source="the DataFrame")
        out = {role: _pandas_column(frame.iloc[:, pos], role) for role, pos in roles.items()}
    else:
        if not hasattr(frame, "column_names") or not hasattr(frame, "column"):
            raise UpsellDataError(f"`table` must be a pyarrow Table; got {type(frame).__name__}")
        names = list(frame.column_names)
        roles = resolve_columns(names, columns, source="the Arrow table")
        out = {role: _arrow_column(frame.column(pos), role) for role, pos in roles.items()}
    return {"item": None, **out}  # no item: a purchase log (columns={"item": None})


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


def existing_path(path: Any) -> str:
    """``path`` as a string, checked to exist (an error naming it otherwise).

    Examples
    --------
    >>> existing_path(42)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `path` must be a file path; got int
    """
    try:
        fspath = os.fspath(path)
    except TypeError:
        raise UpsellDataError(f"`path` must be a file path; got {type(path).__name__}") from None
    if not os.path.exists(fspath):
        raise UpsellDataError(f"`path` {fspath!r} does not exist")
    return fspath


def folder_kind(path: Any) -> str:
    """What a folder of order lines holds, for a caller that picks the reader:
    ``"parquet"`` (Parquet files, or ``key=value`` sub-folders: one dataset), else
    ``"text"`` (CSV files), ``"workbook"`` or ``"json"`` (JSON Lines), by its files' names;
    ``"parquet"`` when it holds none of these (the Parquet reader names what is wrong).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "2011-01.csv.gz").write_bytes(b"")
    >>> _ = (d / "part-00000-1b2c.csv").write_bytes(b"")  # Spark writes CSV parts too
    >>> folder_kind(d)
    'text'
    >>> e = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (e / "part-00000-1b2c-c000.json").write_bytes(b"")  # and JSON parts
    >>> folder_kind(e)
    'json'
    """
    from upsell.data._parts import JSON_SUFFIXES, TEXT_SUFFIXES, WORKBOOK_SUFFIXES, named

    names = [n for n in os.listdir(os.fspath(path)) if not n.startswith((".", "~$", "_"))]
    if any(named(n, (".parquet", ".pq")) or "=" in n or (  # Spark's parts: part-00000-...
            n.startswith("part-")
            and not named(n, (*TEXT_SUFFIXES, *WORKBOOK_SUFFIXES, *JSON_SUFFIXES)))
           for n in names):
        return "parquet"
    for kind, suffixes in (("text", TEXT_SUFFIXES), ("workbook", WORKBOOK_SUFFIXES),
                           ("json", JSON_SUFFIXES)):
        if any(named(n, suffixes) for n in names):
            return kind
    return "parquet"


def open_binary(path: Any) -> IO[bytes]:
    """Open a file for reading bytes, decompressing gzip content whatever the file name."""
    fspath = existing_path(path)
    if os.path.isdir(fspath):
        raise UpsellDataError(f"`path` {fspath!r} is a directory, not a file")
    kind = file_kind(fspath)
    if kind in _NOT_TEXT:
        raise UpsellDataError(f"{fspath} is {_NOT_TEXT[kind]}, not text: {_ADVICE[kind]}")
    fh: Any = gzip.open(fspath, "rb") if kind == "gzip" else open(fspath, "rb")
    return fh


_NOT_TEXT = {"parquet": "a Parquet file", "xlsx": "an Excel workbook",
             "xls": "an Excel 97-2003 workbook (or another OLE file)",
             "ods": "an OpenDocument spreadsheet", "zip": "a ZIP archive"}
_SHEET = ("read order lines with Transactions.read_excel, a catalog with Catalog.read_table "
          "(the command line reads a workbook as it is)")
_ADVICE = {"parquet": "read order lines with Transactions.read_parquet, a catalog with "
                      "Catalog.read_table (the command line reads Parquet as it is)",
           "xlsx": _SHEET, "xls": _SHEET, "ods": _SHEET,
           "zip": "Transactions.read_csv reads the CSV files inside it; else unpack the "
                  "archive, then read the file inside"}


#: :func:`file_kind`'s kinds that the typed readers take (``read_parquet`` for the first
#: two, ``read_excel`` and ``Catalog.read_table`` for the rest): a folder is Spark's parts
TABLE_KINDS = ("parquet", "folder", "xlsx", "xls", "ods")


def is_json_lines(path: Any) -> bool:
    """True when a file's first non-blank byte (gzip decompressed) opens a JSON object (JSON
    Lines, or one document), or opens an array whose first value is an object (an API's
    list of orders): JSON records, for :meth:`Transactions.read_json`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "lines.jsonl"
    >>> _ = p.write_text('{"order": 1, "item": "A"}\\n')
    >>> is_json_lines(p), is_json_lines(p.parent)
    (True, False)
    >>> _ = p.write_text('[\\n  {"order": 1, "item": "A"}\\n]'); is_json_lines(p)
    True
    """
    import pyarrow as pa

    label = os.fspath(path)
    if not os.path.isfile(label):
        return False
    try:
        with pa.input_stream(label, compression="detect") as stream:
            head = stream.read(4096)
    except (OSError, pa.ArrowInvalid):
        return False
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] == b"{" or (head[:1] == b"[" and head[1:].lstrip(b" \t\r\n")[:1] == b"{")


def file_kind(path: Any) -> str:
    """What a file holds, by its first (and last) bytes: ``"gzip"``, ``"parquet"``,
    ``"xlsx"``, ``"ods"``, ``"zip"`` (another ZIP archive), ``"xls"`` (an OLE file), or
    ``"text"``; a folder is ``"folder"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "orders.csv"
    >>> _ = p.write_text("order,item\\n1,A\\n")
    >>> file_kind(p), file_kind(p.parent)
    ('text', 'folder')
    """
    fspath = os.fspath(path)
    if os.path.isdir(fspath):
        return "folder"
    with open(fspath, "rb") as fh:
        head = fh.read(8)
        if head[:4] == b"PAR1" and os.path.getsize(fspath) >= 12:
            fh.seek(-4, os.SEEK_END)
            if fh.read(4) == b"PAR1":  # the magic opens and closes a Parquet file
                return "parquet"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"PK\x03\x04":
        import zipfile

        try:
            with zipfile.ZipFile(fspath) as zf:
                names = set(zf.namelist())
                kind = ("xlsx" if "xl/workbook.xml" in names else
                        "ods" if b"opendocument.spreadsheet" in (zf.read("mimetype")
                                                                 if "mimetype" in names
                                                                 else b"") else "zip")
        except (zipfile.BadZipFile, OSError):
            kind = "zip"
        return kind
    if head == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    return "text"


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


def read_source(path: Any, encoding: str, label: str) -> bytes:
    """The whole file as UTF-8 bytes (:func:`text_bytes`); the path is checked first (a
    folder, a Parquet file or a workbook is refused with advice)."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise UpsellDataError(f"`encoding` {encoding!r} is not a known text encoding") from None
    with open_binary(path):  # checks the path and what the file holds
        pass
    with open(os.fspath(path), "rb") as fh:
        return text_bytes(fh.read(), encoding, label)


def text_bytes(raw: bytes, encoding: str, label: str) -> bytes:
    """A file's bytes (a ZIP member's too) as UTF-8 text: gzip (by magic bytes) inflated, a
    BOM dropped, other encodings decoded and re-encoded. Text that is not valid in
    ``encoding`` raises an :class:`UpsellDataError` naming the line and byte offset, as
    does UTF-16 read as UTF-8 (its byte order mark) and a truncated or damaged gzip stream
    (never a raw ``EOFError``). UTF-8 content is checked later, by the parser, only where
    it is read.

    Examples
    --------
    >>> text_bytes("£2".encode("cp1252"), "cp1252", "f")
    b'\\xc2\\xa32'
    """
    data = _gunzip(raw, label) if raw[:2] == b"\x1f\x8b" else raw
    del raw
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: Excel's "Unicode Text"
            raise utf8_error(data[:2], label, encoding)
        return data[3:] if data.startswith(codecs.BOM_UTF8) else data
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UpsellDataError(
            f"{label} line {line:,} is not valid {encoding} text ({exc.reason} at byte "
            f"{exc.start:,}); pass the right `encoding`"
        ) from None
    return text.lstrip("\ufeff").encode("utf-8", "surrogatepass")


def _gunzip(raw: bytes, label: str) -> bytes:
    """Inflate every gzip member in one C call each (faster than GzipFile's reads)."""
    out = []
    rest = raw
    try:
        while rest:
            d = zlib.decompressobj(wbits=31)
            out.append(d.decompress(rest))
            if not d.eof:
                raise EOFError("compressed file ended before the end-of-stream marker")
            rest = d.unused_data
            if rest and not rest.lstrip(b"\0"):
                break  # zero padding after the last member
    except (EOFError, zlib.error) as exc:
        raise UpsellDataError(
            f"{label} is a truncated or damaged gzip file ({exc}); nothing was read"
        ) from None
    return out[0] if len(out) == 1 else b"".join(out)


def check_skip_rows(skip_rows: Any) -> int:
    """``skip_rows`` as an int, or an error naming it.

    Examples
    --------
    >>> check_skip_rows(3)
    3
    """
    if isinstance(skip_rows, bool) or not isinstance(skip_rows, (int, np.integer)) \
            or skip_rows < 0:
        raise UpsellDataError(f"`skip_rows` must be a whole number of lines >= 0 (the lines "
                              f"above the table); got {skip_rows!r}")
    return int(skip_rows)


#: ``delimiter`` for text whose columns are aligned by runs of spaces or tabs (CDNOW).
WHITESPACE = "whitespace"


def whitespace_fields(data: bytes, label: str) -> tuple[bytes, str]:
    r"""Text whose fields are separated by runs of spaces or tabs (spaces at either end of a
    line dropped) as the same lines with one separator byte between fields: a comma, or the
    unit separator when the text holds commas. Quotes are not read in such text: refused.

    Examples
    --------
    >>> whitespace_fields(b" customer_id  date number_of_cds\n 00001 19970101  1\n", "f")
    (b'customer_id,date,number_of_cds\n00001,19970101,1\n', ',')
    """
    if data.find(b'"') >= 0:
        line = data.count(b"\n", 0, data.find(b'"')) + 1
        raise UpsellDataError(
            f"{label} line {line:,} has a quote: text whose columns are aligned by spaces "
            f"cannot quote a field; pass a delimiter (a comma, a tab) if the file has one")
    sep = b"\x1f" if data.find(b",") >= 0 else b","
    data = re.sub(rb"(?m)^[ \t]+|[ \t]+(?=\r?$)", b"", data)
    return re.sub(rb"[ \t]+", sep, data), sep.decode()


def read_csv_prepared(path: Any, *, columns: ColumnMap | None, delimiter: str, encoding: str,
                      header: bool, invalid: str, item_index: IdIndex | None = None,
                      customer_index: IdIndex | None = None,
                      time_format: str | None = None, decimal: str = ".",
                      order_headers: Any = None, skip_rows: int = 0,
                      where: Any = None) -> _Prepared:
    """Read a CSV file, or several read as one history (a list of paths, a folder of CSV
    files, a glob pattern: :mod:`upsell.data._parts`), into prepared columns for
    :meth:`Transactions._from_prepared`; ``where``: the rows to keep
    (:func:`upsell.data._parts.check_where`), the others dropped and counted.

    Parsing is pyarrow's (:mod:`upsell.data._arrow`); ids, numbers and times then
    follow upsell's own rules, column by column. ``order_headers``: an orders file's
    columns that give every line its order's customer, time or channel
    (:mod:`upsell.data._order_headers`).
    """
    from upsell.data import _arrow
    from upsell.data._columns import check_decimal, check_time_format
    from upsell.data._parts import TEXT_SUFFIXES, check_where, input_files, several_label

    where = check_where(where)
    aligned = delimiter == WHITESPACE
    if not aligned and (not isinstance(delimiter, str) or len(delimiter) != 1
                        or not delimiter.isascii() or delimiter in '"\r\n\0'):
        raise UpsellDataError(
            f"`delimiter` must be a single ASCII character other than a quote or a line "
            f"break, or {WHITESPACE!r}; got {delimiter!r}")
    time_format = check_time_format(time_format)
    decimal = check_decimal(decimal)
    try:
        utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except (LookupError, TypeError):
        raise UpsellDataError(f"`encoding` {encoding!r} is not a known text encoding") from None
    skip_rows = check_skip_rows(skip_rows)
    files = input_files(path, suffixes=TEXT_SUFFIXES, what="CSV files")
    paths: list[Any] = [path] if files is None else files
    paths = [m for p in paths for m in _zip_members(p)]  # CSV files in a ZIP archive
    several = len(paths) > 1
    parts = [_csv_part(f, columns=columns, delimiter=delimiter, encoding=encoding, utf8=utf8,
                       header=header, time_format=time_format, decimal=decimal,
                       skip_rows=skip_rows, empty_ok=several, where=where) for f in paths]
    label = (several_label(path, [getattr(p, "label", p) for p in paths]) if several
             else parts[0].label)
    return _arrow.prepare_parts(parts, label=label, order_headers=order_headers,
                                invalid=invalid, item_index=item_index,
                                customer_index=customer_index, time_format=time_format,
                                decimal=decimal)


def _csv_part(path: Any, *, columns: ColumnMap | None, delimiter: str, encoding: str,
              utf8: bool, header: bool, time_format: str | None, decimal: str,
              skip_rows: int, empty_ok: bool, where: Any = None) -> Any:
    """One CSV file's parsed columns (:func:`upsell.data._arrow.read_part`), streamed from
    the file when it is UTF-8 (plain or gzip), else decoded first."""
    from upsell.data import _arrow, _sources

    kw: dict[str, Any] = dict(columns=columns, delimiter=delimiter, encoding=encoding,
                              header=header, time_format=time_format, decimal=decimal,
                              skip_rows=skip_rows, empty_ok=empty_ok, where=where)
    if hasattr(path, "archive"):  # a member of a ZIP archive
        label = path.label
        if utf8 and delimiter != WHITESPACE:  # inflated while pyarrow parses it
            member = _sources.ZipMemberSource.open_member(path)
            if member is not None:
                return _arrow.read_part(member, label=label, **kw)
        # gzip inside, another encoding, aligned text, a damaged member: whole, then parsed
        data = text_bytes(path.read(), encoding, label)
        if delimiter == WHITESPACE:
            data, kw["delimiter"] = whitespace_fields(data, label)
        return _arrow.read_part([data], label=label, **{**kw, "encoding": "utf-8"})
    label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    kw["label"] = label
    with open_binary(path) as fh:
        plain = not isinstance(fh, gzip.GzipFile)
        try:
            bom = fh.read(2) if utf8 else b""
        except (EOFError, OSError, zlib.error):
            bom = b""  # a damaged gzip stream: the read below names it
    if bom in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: Excel's "Unicode Text"
        raise utf8_error(bom, label, encoding)
    if delimiter == WHITESPACE:  # aligned by spaces: read whole, split as a CSV of one separator
        data, kw["delimiter"] = whitespace_fields(read_source(path, encoding, label), label)
        kw["encoding"] = "utf-8"
        return _arrow.read_part([data], **kw)
    if utf8 and plain:  # pyarrow streams the file itself: it is never in memory whole
        return _arrow.read_part(_sources.Source(path=os.fspath(path)), **kw)
    if utf8:  # gzip: inflated while pyarrow parses, never in memory whole
        gz = _sources.GzipSource.open(os.fspath(path))
        if gz is not None:
            return _arrow.read_part(gz, **kw)
    # handed over in a list the parser empties: no frame holds the bytes once pyarrow has them
    return _arrow.read_part([read_source(path, encoding, label)], **kw)


def _zip_members(path: Any) -> list[Any]:
    """The CSV members of ``path`` when it is a ZIP archive (not a workbook, which is one
    too: :mod:`upsell.data._zip`), else ``[path]``."""
    if not (isinstance(path, (str, os.PathLike)) and os.path.isfile(path)
            and file_kind(path) == "zip"):
        return [path]
    from upsell.data._parts import TEXT_SUFFIXES
    from upsell.data._zip import members

    return list(members(path, TEXT_SUFFIXES))


def strip_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strip id strings; return them with the mask of those that changed.

    Examples
    --------
    >>> ids, changed = strip_ids(np.array([" 7", "a"]))
    >>> ids.tolist(), changed.tolist()
    (['7', 'a'], [True, False])
    """
    arr = np.char.strip(values)
    return arr, np.char.str_len(arr) != np.char.str_len(values)


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
    # gzip by magic bytes (a truncated stream is a clear error), a BOM dropped, the
    # byte offset named when the text is not valid in `encoding`
    raw = read_source(path, encoding, label)
    try:
        text = raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise utf8_error(raw, label, encoding) from None
    del raw
    lines = text.splitlines()
    del text
    n = len(lines)
    if n == 0:
        raise UpsellDataError(f"{label} is empty: no baskets")
    if delimiter is None:
        sample = next((ln for ln in lines if ln.strip()), "")
        delimiter = "," if "," in sample else ""
    elif delimiter == WHITESPACE:
        delimiter = ""  # any run of whitespace, as for a FIMI file
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

    Columns are order, item (not for a purchase log read without items), then customer,
    quantity, price, time, channel when present, headed by their role names or by
    ``columns`` (role -> header name).
    Numbers are written in their shortest round-tripping form, times as ISO 8601,
    anonymous customers as empty cells; ids holding the delimiter, a quote or a
    line break are quoted.
    """
    from upsell._atomic import atomic_write_bytes

    names = dict(columns or {})
    unknown = sorted(set(names) - set(_ROLES))
    if unknown:
        raise UpsellDataError(
            f"`columns` has unknown role {unknown[0]!r}; roles are {', '.join(_ROLES)}"
        )
    roles = [r for r in _ROLES if r in ("order", "quantity")  # (a purchase log: no item)
             or (r not in ("value", "profit") and tx.has(r))]  # (profit: read as cost)
    head = ",".join(_quote_cells(np.array([str(names.get(r, r)) for r in roles])).tolist())
    id_text = {"order": _quote_cells(tx.orders.ids.astype(str)),
               "item": _quote_cells(tx.items.ids.astype(str))}
    if tx.has("customer"):
        # one spare slot at the end holds the empty cell of anonymous lines (code -1)
        id_text["customer"] = np.append(_quote_cells(tx.customers.ids.astype(str)), "")
    if tx.has("channel") and tx.channels is not None:
        id_text["channel"] = _quote_cells(tx.channels.ids.astype(str))

    if tx.has("name"):
        id_text["name"] = _quote_cells(tx.item_names())
    costs = tx.item_costs()

    def cells(role: str, lo: int, hi: int) -> np.ndarray:
        if role == "name":
            return id_text["name"][tx.item[lo:hi]]
        if role == "cost":  # the item's unit cost on each of its lines, blank where unknown
            c = costs[tx.item[lo:hi]]
            return np.where(np.isfinite(c), _number_text(c), "")
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
