"""CSV parsing by ``pyarrow.csv`` behind :meth:`Transactions.read_csv`, upsell's rules after it.

pyarrow splits the file (quotes, CRLF, threads) and converts the clean columns
in C++: id columns as dictionaries (only the distinct values are looked at
afterwards), quantity and price as float64, time as ISO 8601 ``timestamp[s]``.
A column that pyarrow's strict converters refuse is read again as text and
converted by upsell's own rules on its distinct values (``float()`` for numbers,
ISO 8601 with UTC offsets for times), so a dirty file costs a second parse while
a clean one costs one.

What pyarrow would accept but upsell does not:

* a row with the wrong number of fields: an error naming its data row and
  physical line (found again with the csv module, only when there is one);
* a quoted field that never closes: pyarrow swallows the rest of the file into
  it; when the rows found do not account for every physical line, the file is
  scanned for a quote that opens a field and never closes, an error naming its line.
"""

from __future__ import annotations

import csv
import io
import mmap
import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np

from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

_ID_ROLES = ("order", "item", "customer", "channel", "name")
_NUMBER_ROLES = ("quantity", "price", "value")
_BLOCK = 1 << 24  # pyarrow's block size for files it streams: bounds the per-thread buffers
# for bytes already in memory (gzip, other encodings) smaller blocks keep the parser's own
# buffers small next to them
_BLOCK_IN_MEMORY = 1 << 20
# gzip files inflated while parsed: the same small blocks (4 MB blocks measured 40 MB more
# peak on Online Retail and no faster)
_BLOCK_GZIP = 1 << 20


class _Kernels:
    """The pyarrow compute kernels used here, called through ``pyarrow._compute``.

    ``import pyarrow.compute`` generates a Python wrapper for each of its hundreds
    of functions (a tenth of a second per process); ``call_function`` needs none.
    Array methods such as ``take`` and ``filter`` import it, so they are called here too.
    """

    def __init__(self) -> None:
        try:
            # the same objects pyarrow.compute re-exports (call_function and the option
            # classes), without building its wrappers
            import pyarrow._compute as c

            c.call_function, c.MatchSubstringOptions, c.ReplaceSubstringOptions  # noqa: B018
        except (ImportError, AttributeError):  # a pyarrow that moved them: the public module
            import pyarrow.compute as c

        self._c = c

    def _call(self, name: str, *args: Any, options: Any = None) -> Any:
        return self._c.call_function(name, list(args), options)

    def not_equal(self, a: Any, b: Any) -> Any:
        return self._call("not_equal", a, b)

    def less(self, a: Any, b: Any) -> Any:
        return self._call("less", a, b)

    def sum(self, a: Any) -> Any:
        return self._call("sum", a)

    def all(self, a: Any) -> Any:
        return self._call("all", a)

    def any(self, a: Any) -> Any:
        return self._call("any", a)

    def take(self, a: Any, indices: Any) -> Any:
        return self._call("take", a, indices)

    def filter(self, a: Any, mask: Any) -> Any:
        return self._call("filter", a, mask)

    def dictionary_encode(self, a: Any) -> Any:
        return self._call("dictionary_encode", a)

    def array_sort_indices(self, a: Any) -> Any:
        return self._call("array_sort_indices", a)

    def utf8_trim_whitespace(self, a: Any) -> Any:
        return self._call("utf8_trim_whitespace", a)

    def binary_length(self, a: Any) -> Any:
        return self._call("binary_length", a)

    def match_substring_regex(self, a: Any, pattern: str) -> Any:
        return self._call("match_substring_regex", a,
                          options=self._c.MatchSubstringOptions(pattern))

    def ends_with(self, a: Any, pattern: str) -> Any:
        return self._call("ends_with", a, options=self._c.MatchSubstringOptions(pattern))

    def replace_substring_regex(self, a: Any, pattern: str, replacement: str) -> Any:
        return self._call("replace_substring_regex", a,
                          options=self._c.ReplaceSubstringOptions(pattern, replacement))

    def cast(self, a: Any, target: Any) -> Any:
        return self._call("cast", a, options=self._c.CastOptions.safe(target))


_KERNELS: list[_Kernels] = []


def _pa() -> tuple[Any, Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not _KERNELS:
        _KERNELS.append(_Kernels())
    return pa, _KERNELS[0], pacsv


def _header(data: bytes, delimiter: str, header: bool) -> list[str]:
    """The first record's fields (the header names, or the width without a header)."""
    end = 0
    while True:  # the first line end outside quotes
        nl = data.find(b"\n", end)
        if nl < 0:
            nl = len(data)
            break
        if data.count(b'"', 0, nl) % 2 == 0:
            break
        end = nl + 1
    text = data[:nl].decode("utf-8", "replace")
    first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    if header:
        return [h.strip().lstrip("\ufeff") for h in first]
    return [str(i) for i in range(len(first))]


def _line_ends(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _count_line_ends(chunk: bytes) -> int:
    """:func:`_line_ends` with numpy (bytes.count is slow on large chunks)."""
    a = np.frombuffer(chunk, dtype=np.uint8)
    ends = int(np.count_nonzero(a == 0x0A))
    if chunk.find(b"\r") >= 0:
        cr = a == 0x0D
        ends += int(np.count_nonzero(cr)) - int(np.count_nonzero(cr[:-1] & (a[1:] == 0x0A)))
    return ends


def _locate_bad_row(data: bytes, label: str, delimiter: str, width: int, header: bool
                    ) -> UpsellDataError:
    """The error for the first row with the wrong number of fields (csv module, error path)."""
    text = data.decode("utf-8", "replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    if header:
        next(reader, None)
    row_no = 0
    for row in reader:
        if len(row) == width:
            row_no += 1
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        return UpsellDataError(
            f"{label} row {row_no + 1:,} (line {reader.line_num:,}): has {len(row)} fields; "
            f"the header has {width}"
        )
    return UpsellDataError(f"{label}: a row has the wrong number of fields")


def _unterminated_quote(data: bytes, delimiter: str) -> int | None:
    """Line number of a quote that opens a field and never closes, else None."""
    d = re.escape(delimiter.encode("ascii"))
    pattern = re.compile(rb'(?:\A|(?<=[' + d + rb'\r\n]))"(?:[^"]|"")*("?)')
    last = None
    for m in pattern.finditer(data):
        last = m
    if last is not None and not last.group(1):
        return _line_ends(data[:last.start()]) + 1
    return None


class Source:
    """The CSV content: UTF-8 bytes in memory, or a plain UTF-8 file pyarrow streams itself.

    A plain file is never held in memory whole: one streaming pass finds what
    the parser's settings and the checks need (blank file, quotes, line ends).
    """

    _SCAN = 1 << 24

    def __init__(self, *, data: bytes | None = None, path: str | None = None) -> None:
        self.data, self.path = data, path
        self.blank = True
        self.quotes = False
        self.odd_quotes = False  # an odd count: some quote is unpaired (or literal)
        self.lines = 0  # physical lines, the last one counted without a line end too
        if data is not None:
            self.blank = not data[:1 << 16].strip() and not data.strip()
            self.quotes = data.find(b'"') >= 0
            if self.quotes:
                a = np.frombuffer(data, dtype=np.uint8)
                self.odd_quotes = int(np.count_nonzero(a == 0x22)) % 2 == 1
                ends = _count_line_ends(data)
                self.lines = ends + (0 if data.endswith((b"\n", b"\r")) else 1)
            return
        assert path is not None
        if not self._mapped_scan(path):
            self._scan(path)
        if self.quotes:
            self._count(path)

    def _mapped_scan(self, path: str) -> bool:
        """Any quote: memchr over the mapped file, no copy; False when not mappable or blank-headed.

        The file is searched window by window, each window's pages dropped from
        the process once searched, so that it never holds more of it than a read would.
        """
        try:
            with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
                start = 3 if m[:3] == b"\xef\xbb\xbf" else 0
                if not m[start:start + (1 << 16)].strip():
                    return False  # blank or nearly: the plain scan decides
                self.blank = False
                size = len(m)
                for lo in range(0, size, self._SCAN):
                    hi = min(lo + self._SCAN, size)
                    found = m.find(b'"', max(lo, start), hi) >= 0
                    if hasattr(m, "madvise"):
                        m.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
                    if found:
                        self.quotes = True
                        break
        except (OSError, ValueError):  # empty files, pipes, devices
            return False
        return True

    def _scan(self, path: str) -> None:
        with open(path, "rb") as fh:  # memchr-speed pass: anything to read, any quote?
            first = True
            while True:
                chunk = fh.read(self._SCAN)
                if not chunk:
                    break
                if first and chunk.startswith(b"\xef\xbb\xbf"):
                    chunk = chunk[3:]
                first = False
                if self.blank and chunk.strip():
                    self.blank = False
                if chunk.find(b'"') >= 0:
                    self.quotes = True
                    break

    def _count(self, path: str) -> None:
        """Physical lines and the parity of the quotes (files with quotes only)."""
        ends = n_quotes = 0
        last = b""
        tail_cr = False
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(self._SCAN)
                if not chunk:
                    break
                if not self.blank or chunk.strip():
                    self.blank = False
                n_quotes += int(np.count_nonzero(np.frombuffer(chunk, np.uint8) == 0x22))
                # a CR LF split between two chunks is one line end
                ends += _count_line_ends(chunk) - (1 if tail_cr and chunk[:1] == b"\n" else 0)
                tail_cr = chunk[-1:] == b"\r"
                last = chunk[-1:]
        self.lines = ends + (0 if last in (b"\n", b"\r", b"") else 1)
        self.odd_quotes = n_quotes % 2 == 1

    def head(self) -> bytes:
        """The first bytes (at least the first record, as far as headers go), BOM dropped."""
        if self.data is not None:
            return self.data[:1 << 20]
        assert self.path is not None
        with open(self.path, "rb") as fh:
            head = fh.read(1 << 20)
        return head[3:] if head.startswith(b"\xef\xbb\xbf") else head

    def whole(self) -> bytes:
        """All the bytes (error paths only), BOM dropped."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        with open(self.path, "rb") as fh:
            data = fh.read()
        return data[3:] if data.startswith(b"\xef\xbb\xbf") else data

    def arrow(self) -> Any:
        pa, _, _ = _pa()
        return pa.py_buffer(self.data) if self.data is not None else pa.OSFile(self.path)

    def block(self) -> int:
        """pyarrow's block size for this content."""
        return _BLOCK if self.data is None else min(_BLOCK, _BLOCK_IN_MEMORY)

    def settle(self, label: str) -> None:
        """After a parse: what only the parse's own pass could learn (nothing here)."""


class _Inflating:
    """A gzip file's inflated bytes as a read-only stream for pyarrow, counted as they pass.

    Every gzip member in turn, as ``gzip`` reads them; a UTF-8 BOM dropped. pyarrow
    reads it on its I/O thread while its other threads parse the blocks already
    read (zlib and numpy release the GIL), so inflating overlaps parsing and the
    whole text is never in memory. Quotes and line ends are counted on the way. A
    truncated or damaged stream ends the text early and is kept in ``error`` for
    the reader to raise (pyarrow sees an end of file).
    """

    _STEP = 1 << 18  # compressed bytes inflated at a time

    def __init__(self, path: str) -> None:
        self._fh = open(path, "rb")  # closed by close(), as pyarrow closes its files
        self._d = zlib.decompressobj(wbits=31)
        self._buf = bytearray()
        self._done = False
        self._first = True
        self.error: str | None = None
        self.quotes = 0
        self.ends = 0
        self.last = b""
        self._tail_cr = False
        self.closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._fh.close()

    def _fill(self, n: int) -> None:
        while len(self._buf) < n and not self._done:
            raw = self._fh.read(self._STEP)
            try:
                if not raw:
                    if not self._d.eof:
                        raise EOFError("compressed file ended before the end-of-stream marker")
                    self._done = True
                    break
                while raw:
                    if self._d.eof:
                        if not raw.lstrip(b"\0"):  # zero padding after the last member
                            break
                        self._d = zlib.decompressobj(wbits=31)  # the next member
                    self._buf += self._d.decompress(raw)
                    raw = self._d.unused_data if self._d.eof else b""
            except (EOFError, zlib.error) as exc:
                self.error = str(exc)
                self._done = True

    def read(self, n: int | None = -1) -> bytes:
        want = n if n is not None and n >= 0 else 1 << 62
        self._fill(want)
        out = bytes(self._buf[:want])
        del self._buf[:len(out)]
        if self._first and out:
            self._first = False
            if out.startswith(b"\xef\xbb\xbf"):
                out = out[3:]
        if out:
            self.quotes += int(np.count_nonzero(np.frombuffer(out, np.uint8) == 0x22))
            # a CR LF split between two reads is one line end
            self.ends += _count_line_ends(out) - (1 if self._tail_cr and out[:1] == b"\n"
                                                  else 0)
            self._tail_cr = out[-1:] == b"\r"
            self.last = out[-1:]
        return out


class GzipSource(Source):
    """UTF-8 text in a gzip file, inflated while pyarrow parses it (see :class:`_Inflating`).

    Whether it has quotes is known only after the parse: the parse is quote-aware,
    and :meth:`settle` then sets ``quotes``, ``odd_quotes`` and ``lines`` from the
    stream's counts (and raises for a truncated or damaged file).
    """

    def __init__(self, path: str, head: bytes) -> None:
        self.data, self.path = None, path
        self.blank = False
        self.quotes = True
        self.odd_quotes = False
        self.lines = 0
        self._head = head
        self._stream: _Inflating | None = None

    @classmethod
    def open(cls, path: str) -> GzipSource | None:
        """The source, or None when the first inflated bytes are blank or damaged.

        The whole-file reader then decides what to report.
        """
        stream = _Inflating(path)
        try:
            head = stream.read(1 << 20)
        finally:
            stream.close()
        if stream.error is not None or not head.strip():
            return None
        return cls(path, head)

    def head(self) -> bytes:
        return self._head

    def whole(self) -> bytes:
        stream = _Inflating(self.path)  # type: ignore[arg-type]
        try:
            return stream.read()
        finally:
            stream.close()

    def block(self) -> int:
        return _BLOCK_GZIP

    def arrow(self) -> Any:
        pa, _, _ = _pa()
        self._stream = _Inflating(self.path)  # type: ignore[arg-type]
        return pa.PythonFile(self._stream, mode="r")

    def settle(self, label: str) -> None:
        stream = self._stream
        if stream is None:
            return
        self._stream = None
        stream.close()
        if stream.error is not None:
            raise UpsellDataError(
                f"{label} is a truncated or damaged gzip file ({stream.error}); nothing was read"
            )
        self.quotes = stream.quotes > 0
        self.odd_quotes = stream.quotes % 2 == 1
        self.lines = stream.ends + (0 if stream.last in (b"\n", b"\r", b"") else 1)


class _Read:
    """One pyarrow read of the wanted columns, with the rows it skipped."""

    def __init__(self, src: Source, *, label: str, delimiter: str, encoding: str,
                 header: bool, width: int, wanted: dict[str, int], text_roles: set[str]
                 ) -> None:
        pa, pc, pacsv = _pa()
        self.bad: list[Any] = []
        names = [f"c{i}" for i in range(width)]
        types: dict[str, Any] = {}
        for role, pos in wanted.items():
            if role in _ID_ROLES or role in text_roles:
                # plain strings, hashed afterwards: pyarrow's dictionary conversion while
                # parsing is slower than one dictionary_encode of the whole column
                types[names[pos]] = pa.string()
            elif role in _NUMBER_ROLES:
                types[names[pos]] = pa.float64()
            else:
                types[names[pos]] = pa.timestamp("s")
        include = sorted(set(names[p] for p in wanted.values()), key=names.index)
        has_quotes = src.quotes

        def handler(row: Any) -> str:
            body = row.text.strip()
            if body and body != '""':
                self.bad.append(row)
            return "skip"

        block = src.block()
        read = pacsv.ReadOptions(column_names=names, skip_rows=1 if header else 0,
                                 block_size=block)
        parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=has_quotes,
                                   invalid_row_handler=handler)
        convert = pacsv.ConvertOptions(column_types=types, include_columns=include,
                                       strings_can_be_null=False, null_values=[""],
                                       quoted_strings_can_be_null=False, check_utf8=True)
        from upsell.data._columns import utf8_error

        try:
            self.table = pacsv.read_csv(src.arrow(), read_options=read, parse_options=parse,
                                        convert_options=convert)
        except pa.ArrowInvalid as exc:
            src.settle(label)  # a truncated gzip file is the error to report
            msg = str(exc)
            if "UTF8" in msg or "UTF-8" in msg or "utf8" in msg:
                raise utf8_error(src.whole(), label, encoding) from None
            if "conversion error" in msg.lower() or "timestamp" in msg.lower():
                raise _Redo(msg) from None
            if "Empty CSV file" in msg or "empty" in msg.lower():
                raise UpsellDataError(f"{label} has a header but no data rows") from None
            raise UpsellDataError(f"{label}: {msg}") from None
        src.settle(label)
        if src.quotes and (self.bad or src.odd_quotes
                           or self.table.num_rows + int(header) != src.lines):
            # some record spans lines, a line was blank or had the wrong number of fields:
            # a quote that never closes would explain it, and is the error to report
            line = _unterminated_quote(src.whole(), delimiter)
            if line is not None:
                raise UpsellDataError(
                    f"{label} line {line:,}: a quoted field opens here and never closes "
                    f"(unterminated quote); nothing was read"
                )
        if self.bad:
            raise _locate_bad_row(src.whole(), label, delimiter, width, header)
        self.names = names
        self.pc = pc


class _Redo(Exception):
    """pyarrow's strict converters refused a value: read the value columns as text."""


def read_prepared(data: bytes | Source | list[Any], *, label: str, columns: Any, delimiter: str,
                  encoding: str, header: bool, invalid: str, item_index: IdIndex | None,
                  customer_index: IdIndex | None) -> Any:
    """Parse UTF-8 CSV bytes (or a :class:`Source`) into a ``_Prepared`` (see the module docstring)."""
    from upsell.data._clean import Prepared as _Prepared
    from upsell.data._columns import _positional, resolve_columns

    given: Any = data.pop() if isinstance(data, list) else data  # [bytes]: no caller keeps them
    del data
    src = given if isinstance(given, Source) else Source(data=given)
    del given
    if src.blank:
        raise UpsellDataError(f"{label} is empty: no header and no data rows")
    names = _header(src.head(), delimiter, header)
    roles = resolve_columns(names, _positional(columns, header), source=label)
    width = len(names)
    try:
        rd = _Read(src, label=label, delimiter=delimiter, encoding=encoding, header=header,
                   width=width, wanted=roles, text_roles=set())
    except _Redo:
        text = {r for r in roles if r in _NUMBER_ROLES or r == "time"}
        rd = _Read(src, label=label, delimiter=delimiter, encoding=encoding, header=header,
                   width=width, wanted=roles, text_roles=text)
    del src
    table = rd.table
    n = table.num_rows
    if n == 0:
        raise UpsellDataError(f"{label} has a header but no data rows")
    cols = {role: table.column(rd.names[pos]) for role, pos in roles.items()}
    del table, rd
    pool = _pa()[0].default_memory_pool()
    prep = _Prepared(n=n, order=np.zeros(0, np.int32), order_index=IdIndex([], name="order"),
                     item=np.zeros(0, np.int32), item_index=IdIndex([], name="item"),
                     source=label, exact_ids=True, owned=True)
    done = _convert_columns(cols, prep, pool, item_index=item_index,
                            customer_index=customer_index)
    prep.order, o_index, _ = done["order"]
    assert o_index is not None
    prep.order_index = o_index
    prep.item, i_index, prep.unknown_item = done["item"]
    prep.item_index = item_index if item_index is not None else i_index
    prep.fixed_items = item_index is not None
    if "customer" in done:
        c_codes, c_index, c_unknown = done["customer"]
        prep.customer = c_codes
        prep.customer_index = customer_index if customer_index is not None else c_index
        prep.unknown_customer = c_unknown
        prep.fixed_customers = customer_index is not None
    if "channel" in done:
        prep.channel, prep.channel_index, _ = done["channel"]
    if "name" in done:
        prep.name, prep.name_index, _ = done["name"]
    first_bad: dict[str, tuple[int, str]] = {}
    for role in ("quantity", "price", "value", "time"):
        if role in done:
            values, bad_mask, first = done[role]
            setattr(prep, role, values)
            if bad_mask is not None:
                what = "not a timestamp" if role == "time" else "not a number"
                prep.bad[f"{role} {what}"] = bad_mask
                first_bad[role] = first
    del done
    # the columns are numpy arrays now; hand the parser's freed buffers back to the OS
    # before the cleaning rules allocate theirs
    pool.release_unused()
    if invalid == "raise" and first_bad:
        from upsell.data import _columns as C

        role = next(r for r in ("quantity", "price", "value", "time") if r in first_bad)
        row, raw = first_bad[role]
        what = "not a timestamp" if role == "time" else "not a number"
        expected = " (expected ISO 8601, e.g. '2011-12-09 12:50:00')" if role == "time" else ""
        raise UpsellDataError(
            f"{C.row_label(row, _order_ids(prep))}: `{role}` {raw!r} is {what}{expected}; "
            f"pass invalid='drop' to drop such rows"
        )
    return prep


def _convert_columns(cols: dict[str, Any], prep: Any, pool: Any, *,
                     item_index: IdIndex | None, customer_index: IdIndex | None
                     ) -> dict[str, Any]:
    """Each parsed column as numpy (codes and indexes for ids, values for the rest).

    The columns are independent and pyarrow's kernels and numpy's sorts release the
    GIL, so two columns convert at a time when the machine has two cores or more:
    the largest (the hashed id columns) first, so the two workers finish together. A
    column's text is dropped as soon as it is converted, so at most two columns'
    intermediates are alive at once.
    """
    # each id column records its repairs apart; they are merged in the file's role order
    # so the report reads the same however the threads ran
    repairs = {role: SimpleNamespace(repairs={}) for role in _ID_ROLES}
    jobs: list[tuple[str, Any]] = []
    for role, index, as_text in (("item", item_index, False),
                                 ("customer", customer_index, False),
                                 ("order", None, False), ("name", None, True),
                                 ("channel", None, False)):
        if role in cols:
            jobs.append((role, partial(_ids, cols.pop(role), role, index, repairs[role],
                                       text=as_text)))
    for role in ("time", "quantity", "price", "value"):
        if role in cols:
            jobs.append((role, partial(_values, cols.pop(role), role)))

    def run(job: Any) -> Any:
        out = job()
        pool.release_unused()
        return out

    # results (and the first error) are taken in the sequential reader's role order
    order = ("order", "item", "customer", "channel", "name", "quantity", "price", "value",
             "time")
    workers = min(2, os.cpu_count() or 1, len(jobs))
    if workers < 2:
        results = {role: run(job) for role, job in jobs}
        done = {role: results[role] for role in order if role in results}
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upsell-csv") as ex:
            futures = {role: ex.submit(run, job) for role, job in jobs}
            del jobs
            done = {role: futures[role].result() for role in order if role in futures}
    for role in _ID_ROLES:
        prep.repairs.update(repairs[role].repairs)
    return done


class _OrderIds:
    """Order id of a row, looked up lazily (for one message)."""

    def __init__(self, prep: Any) -> None:
        self.prep = prep

    def __getitem__(self, pos: int) -> Any:
        code = int(self.prep.order[pos])
        if code < 0:
            raise IndexError(pos)
        return self.prep.order_index.ids[code]


def _order_ids(prep: Any) -> _OrderIds:
    return _OrderIds(prep)


_INT_ID = r"^-?(0|[1-9][0-9]{0,17})(\.0)?$"  # io.maybe_int_ids's rule


# Arrays go between numpy and pyarrow through their buffers: pyarrow's own converters
# (pa.array, pa.scalar, to_numpy with copies) import pandas, a quarter second per process.
_NUMPY_TYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
                "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
                "uint64": np.uint64, "double": np.float64}


def _numpy(arr: Any) -> np.ndarray:
    """A primitive pyarrow array without nulls as a read-only numpy view of its buffer."""
    n = len(arr)
    dtype = _NUMPY_TYPES[str(arr.type)]
    if n == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset:arr.offset + n]


def _with_nulls(arr: Any, dtype: Any, fill: Any, copy: bool = True) -> np.ndarray:
    """A primitive pyarrow array as a numpy copy, ``fill`` where it is null.

    With ``copy=False`` an array without nulls comes as a read-only view of its buffer.
    """
    n, off = len(arr), arr.offset
    bufs = arr.buffers()
    if n == 0:
        return np.zeros(0, dtype=dtype)
    out = np.frombuffer(bufs[1], dtype=dtype)[off:off + n]
    if not copy and not arr.null_count:
        return out
    out = out.copy()
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(bufs[0], dtype=np.uint8), bitorder="little")
        out[~bits[off:off + n].astype(bool)] = fill
    return out


def _arrow_ints(values: np.ndarray) -> Any:
    pa, _, _ = _pa()
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), values.size, [None, pa.py_buffer(values)])


def _arrow_mask(mask: np.ndarray) -> Any:
    pa, _, _ = _pa()
    bits = np.packbits(mask, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), mask.size, [None, pa.py_buffer(bits)])


def _increasing(arr: Any) -> bool:
    """Whether a pyarrow string array is strictly increasing (so its values are distinct)."""
    _, pc, _ = _pa()
    n = len(arr)
    return n < 2 or bool(pc.all(pc.less(arr.slice(0, n - 1), arr.slice(1))).as_py())


def _sorted_runs(arr: Any) -> bool:
    """Whether values come in runs (at most 3/4 as many runs as values) in increasing order.

    That is an order column of a file written order by order: cutting it at the
    value changes gives its distinct values already sorted, with no hashing. Other
    columns (customers, low-cardinality channels) are cheaper to hash at once.
    """
    _, pc, _ = _pa()
    n = len(arr)
    if n < 3:
        return False
    change = pc.not_equal(arr.slice(1), arr.slice(0, n - 1))
    if (1 + int(pc.sum(change).as_py() or 0)) * 4 > n * 3:
        return False
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = np.unpackbits(np.frombuffer(change.buffers()[1], dtype=np.uint8),
                            bitorder="little")[change.offset:change.offset + n - 1]
    return _increasing(pc.take(arr, _arrow_ints(np.flatnonzero(new))))


def _distinct_source(col: Any) -> tuple[np.ndarray, Any, bool]:
    """Row codes (int32) into candidate values (pyarrow strings); whether they may repeat.

    A column grouped in runs (order numbers of a file written order by order) is
    cut at the value changes, without hashing; other columns are dictionary-encoded
    in one hash pass (the chunks share one growing memo table, so the last
    chunk's dictionary holds every value).
    """
    _, pc, _ = _pa()
    if col.num_chunks == 0:  # never: read_prepared refuses files without rows first
        raise UpsellDataError("no rows")
    n = len(col)
    # a sample first: only an order-like column is cut at its value changes
    if n > 2 and _sorted_runs(col.slice(0, min(n, 1 << 16)).combine_chunks()):
        whole = col.combine_chunks() if col.num_chunks > 1 else col.chunk(0)
        change = pc.not_equal(whole.slice(1), whole.slice(0, n - 1))
        n_runs = 1 + int(pc.sum(change).as_py() or 0)
        if n_runs * 4 <= n * 3:  # enough repeats in a row to pay off
            new = np.empty(n, dtype=bool)
            new[0] = True
            new[1:] = np.unpackbits(np.frombuffer(change.buffers()[1], dtype=np.uint8),
                                    bitorder="little")[change.offset:change.offset + n - 1]
            codes = np.cumsum(new, dtype=np.int32)
            codes -= 1
            return codes, pc.take(whole, _arrow_ints(np.flatnonzero(new))), True
    if col.num_chunks == 1 or n == 0:
        whole = col.combine_chunks() if col.num_chunks > 1 else col.chunk(0)
        if n == 0:
            return np.zeros(0, np.int32), whole, False
        enc = pc.dictionary_encode(whole)
        return _numpy(enc.indices).astype(np.int32, copy=False), enc.dictionary, False
    # the chunks hashed in turn without a combined copy of their text: they share one
    # growing memo table, so every chunk's codes index the last chunk's dictionary
    enc = pc.dictionary_encode(col)
    codes = np.concatenate([_numpy(c.indices) for c in enc.chunks]).astype(np.int32,
                                                                        copy=False)
    return codes, enc.chunk(enc.num_chunks - 1).dictionary, False


def _strings(arr: Any, role: str) -> np.ndarray:
    """A pyarrow string array as a numpy str array, without a Python object per value."""
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype="U1")
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    base = int(offsets[0])
    end = int(offsets[-1])
    data = (np.frombuffer(bufs[2], dtype=np.uint8)[base:end] if bufs[2] is not None
            else np.zeros(0, np.uint8))
    lengths = np.diff(offsets)
    w = max(int(lengths.max()), 1)
    if data.size and not data.all():
        raise UpsellDataError(f"a `{role}` value contains a NUL character, which ids may not hold")
    ascii_ = not data.size or int(data.max()) < 0x80
    if ascii_ and data.size == n * w:  # all of one width (codes like 'O0000001'): no gather
        out_u = np.empty((n, w), dtype=np.uint32)
        out_u[...] = data.reshape(n, w)
        return out_u.view(f"U{w}").reshape(-1)
    padded = np.zeros(data.size + w, dtype=np.uint8)
    padded[:data.size] = data
    window = np.ndarray(shape=(padded.size - w + 1,), dtype=f"S{w}", buffer=padded,
                        strides=(1,))
    out = window[offsets[:-1] - base]
    if (lengths != w).any():
        mat = out.view(np.uint8).reshape(n, w)
        mat *= np.arange(w) < lengths[:, None]
    if ascii_:
        # ASCII: each byte is its code point; widening is far cheaper than a decode
        return out.view(np.uint8).reshape(n, w).astype(np.uint32).view(f"U{w}").reshape(-1)
    return np.strings.decode(out, "utf-8")


def _all_ints(values: Any) -> bool:
    """Whether every value is a plain integer id (a sample first: text ids fail fast)."""
    _, pc, _ = _pa()
    for part in (values.slice(0, 1000), values):
        if not pc.all(pc.match_substring_regex(part, _INT_ID)).as_py():
            return False
    return True


def _ids(col: Any, role: str, index: IdIndex | None, prep: Any, *, text: bool = False
         ) -> tuple[np.ndarray, IdIndex | None, np.ndarray]:
    """Codes (int32, -1 missing or unknown), the index (None if given), the unknown mask.

    Only the distinct values of the column are normalised, in pyarrow: stripped
    (rows whose id had spaces around it are counted as repaired), blank = missing,
    customer null markers ("NULL", "nan", ...) = anonymous (counted), integers when
    every id is a plain integer (:func:`upsell.data.io.maybe_int_ids`'s rule).
    """
    from upsell.data._columns import null_markers

    pa, pc, _ = _pa()
    codes, values, may_repeat = _distinct_source(col)
    stripped = pc.utf8_trim_whitespace(values)
    slen = _numpy(pc.binary_length(stripped))
    rlen = _numpy(pc.binary_length(values))
    miss = slen == 0
    if role == "customer" and len(values):
        short = np.flatnonzero((slen <= 4) & ~miss)
        if short.size:
            marker = np.zeros(len(values), dtype=bool)
            marker[short] = null_markers(_strings(pc.take(stripped, _arrow_ints(short)), role))
            if marker.any():
                prep.repairs["customer id 'NULL', 'nan', 'None' ... read as anonymous"] = \
                    marker[codes]
                miss |= marker
    changed = (slen != rlen) & ~miss
    if changed.any():
        if not text:  # a product name's spaces are layout, not a repaired id
            prep.repairs[f"{role} id stripped of surrounding spaces"] = changed[codes]
        may_repeat = True
    present = pc.filter(stripped, _arrow_mask(~miss)) if miss.any() else stripped
    ids: np.ndarray
    if not text and len(present) and _all_ints(present):
        # "17850.0" is 17850 (spreadsheets); most columns have no such value to rewrite
        plain = (pc.replace_substring_regex(present, r"\.0$", "")
                 if pc.any(pc.ends_with(present, pattern=".0")).as_py() else present)
        ints = _numpy(pc.cast(plain, pa.int64()))
        if ints.size < 2 or bool((ints[1:] > ints[:-1]).all()):
            ids, inv = ints, np.arange(ints.size)
        else:
            ids, inv = np.unique(ints, return_inverse=True)
            inv = inv.reshape(-1)
    elif _increasing(present):
        ids, inv = _strings(present, role), np.arange(len(present))
        if index is None and not miss.any():  # the codes are the index's already
            return codes, IdIndex._from_sorted_unique(ids, name=role), np.zeros(codes.size,
                                                                                dtype=bool)
    else:
        if may_repeat:
            enc = pc.dictionary_encode(present)
            distinct, first = enc.dictionary, _numpy(enc.indices)
        else:
            distinct, first = present, np.arange(len(present))
        order = _numpy(pc.array_sort_indices(distinct))
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        inv = rank[first]
        ids = _strings(pc.take(distinct, _arrow_ints(order)), role)
    code_map = np.full(len(values), -1, dtype=np.int32)
    unknown_map = np.zeros(len(values), dtype=bool)
    out_index: IdIndex | None = None
    if index is None:
        out_index = IdIndex._from_sorted_unique(ids, name=role)
        code_map[~miss] = inv
    else:
        if ids.size and (ids.dtype.kind == "i") != (index.kind == "int"):
            got = "int" if ids.dtype.kind == "i" else "str"
            raise UpsellDataError(
                f"column `{role}` holds {got} ids but the given {role} index holds "
                f"{index.kind} ids"
            )
        sub = index.encode(ids, unknown="mask") if ids.size else np.zeros(0, np.int32)
        code_map[~miss] = sub[inv]
        unknown_map[~miss] = sub[inv] < 0
    out = code_map[codes]
    unknown = unknown_map[codes] if index is not None else np.zeros(out.size, dtype=bool)
    return out, out_index, unknown


def _values(col: Any, role: str) -> tuple[np.ndarray, np.ndarray | None, tuple[int, str] | None]:
    """float64 or datetime64[s] values of a column; for text columns also the bad rows.

    Returns the values (NaN / NaT where blank or bad), the mask of bad rows (None
    when there is none) and the first bad row with its text.
    """
    pa, _, _ = _pa()
    if not pa.types.is_string(col.type):
        # several chunks: concatenate makes the one copy, chunks without nulls are views
        views = col.num_chunks > 1
        if role == "time":  # NaT is int64's minimum
            parts = [_with_nulls(c, np.int64, np.iinfo(np.int64).min, copy=not views)
                     for c in col.chunks]
            out = np.concatenate(parts) if views else (parts[0] if parts
                                                       else np.zeros(0, np.int64))
            return out.view("datetime64[s]"), None, None
        parts = [_with_nulls(c, np.float64, np.nan, copy=not views) for c in col.chunks]
        return (np.concatenate(parts) if views else (parts[0] if parts else np.zeros(0))
                ), None, None
    codes, values, _ = _distinct_source(col)
    raw = _strings(values, role)
    from upsell.data import _columns as C

    if role == "time":
        parsed, bad = C.parse_times(raw)
    else:
        parsed, bad = C.parse_numbers(raw)
    values = parsed[codes]
    if not bad.any():
        return values, None, None
    rows_bad = bad[codes]
    first = int(np.flatnonzero(rows_bad)[0])
    return values, rows_bad, (first, str(raw[codes[first]]))
