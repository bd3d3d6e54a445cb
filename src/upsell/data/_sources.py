"""Where the CSV bytes come from, for :mod:`upsell.data._arrow`: a plain file pyarrow streams,
bytes in memory, or a gzip file inflated while pyarrow parses it; and the pyarrow kernels.

Split from ``_arrow`` (which reads the columns) to keep each module readable.
"""

from __future__ import annotations

import csv
import io
import mmap
import re
import zlib
from typing import Any

import numpy as np

from upsell.exceptions import UpsellDataError

_BLOCK = 1 << 24  # pyarrow's block size for files it streams: bounds the per-thread buffers
# for bytes already in memory (gzip, other encodings) smaller blocks keep the parser's own
# buffers small next to them
_BLOCK_IN_MEMORY = 1 << 20
# gzip files inflated while parsed: the same small blocks (4 MB blocks measured 40 MB more
# peak on Online Retail and no faster)
_BLOCK_GZIP = 1 << 20
#: The bytes of a file's start that ``head()`` gives (headers, title lines, a first look)
HEAD_BYTES = 1 << 20



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

            c.call_function, c.MatchSubstringOptions, c.ReplaceSubstringOptions, c.PadOptions  # noqa: B018
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

    def strptime(self, a: Any, time_format: str) -> Any:
        """Timestamps[s] of a string array read by ``time_format`` (null where it does not)."""
        return self._call("strptime", a,
                          options=self._c.StrptimeOptions(time_format, "s", True))

    def join(self, columns: list[Any], sep: str) -> Any:
        """Element-wise ``sep.join`` of string columns of one length (a null part: null)."""
        import pyarrow as pa

        n = len(columns[0])
        raw = sep.encode("utf-8")
        seps = pa.Array.from_buffers(  # one separator per row, built from buffers (no pandas)
            pa.string(), n, [None, pa.py_buffer(np.arange(n + 1, dtype=np.int32) * len(raw)),
                             pa.py_buffer(raw * n)])
        return self._call("binary_join_element_wise", *columns, seps)

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

    def min_max(self, a: Any) -> Any:
        return self._call("min_max", a)

    def ascii_rpad(self, a: Any, width: int, padding: str) -> Any:
        return self._call("ascii_rpad", a, options=self._c.PadOptions(width, padding))

    def cast(self, a: Any, target: Any) -> Any:
        return self._call("cast", a, options=self._c.CastOptions.safe(target))


_KERNELS: list[_Kernels] = []


def _pa() -> tuple[Any, Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not _KERNELS:
        _KERNELS.append(_Kernels())
    return pa, _KERNELS[0], pacsv


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


def _arrow_strings(values: np.ndarray) -> Any:
    """A numpy str array as a pyarrow string array, built from buffers (no pandas import)."""
    pa, _, _ = _pa()
    enc = [v.encode("utf-8") for v in np.asarray(values, dtype=str).tolist()]
    offsets = np.zeros(len(enc) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in enc], out=offsets[1:])
    return pa.Array.from_buffers(pa.large_string(), len(enc),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(enc))])


def bool_mask(arr: Any) -> np.ndarray:
    """A pyarrow boolean array (or chunked array) as numpy, null as False, without pyarrow's
    own converters (they import pandas).

    Examples
    --------
    >>> import pyarrow as pa
    >>> bool_mask(pa.chunked_array([[True, None], [False, True]])).tolist()
    [True, False, False, True]
    """
    import pyarrow.compute as pc

    pa = _pa()[0]
    chunks = arr.chunks if hasattr(arr, "chunks") else [arr]
    parts = [_with_nulls(pc.cast(c, pa.int8()), np.int8, 0) for c in chunks]
    return np.concatenate(parts).astype(bool) if parts else np.zeros(0, dtype=bool)


def arrow_bools(mask: np.ndarray) -> Any:
    """A numpy bool mask as a pyarrow boolean array (no pandas import).

    Examples
    --------
    >>> import numpy as np
    >>> arrow_bools(np.array([True, False])).to_pylist()
    [True, False]
    """
    import pyarrow.compute as pc

    pa = _pa()[0]
    bytes_ = np.ascontiguousarray(mask, dtype=np.uint8)
    return pc.cast(pa.Array.from_buffers(pa.uint8(), bytes_.size, [None, pa.py_buffer(bytes_)]),
                   pa.bool_())


def empty_strings(n: int) -> Any:
    """A pyarrow string array of ``n`` empty texts (blank fields), built from its buffers.

    Examples
    --------
    >>> empty_strings(2).to_pylist()
    ['', '']
    """
    pa = _pa()[0]
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(np.zeros(n + 1, np.int32)),
                                                 pa.py_buffer(b"")])


def _arrow_ints(values: np.ndarray) -> Any:
    """An integer numpy array as a pyarrow int64 array (no copy when already int64)."""
    pa, _, _ = _pa()
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), values.size, [None, pa.py_buffer(values)])


def text_rows(text: str, delimiter: str) -> list[list[str]]:
    r"""The records of a file's start (text), split by the csv module: for a first look
    (headers, title lines, an event column) before pyarrow parses the file.

    Examples
    --------
    >>> text_rows('a;b\r\n"x;y";2', ";")
    [['a', 'b'], ['x;y', '2']]
    """
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


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
    first = (text_rows(text, delimiter) or [[]])[0]
    if header:
        return [h.strip().lstrip("\ufeff") for h in first]
    return [str(i) for i in range(len(first))]


def skip_records(data: bytes, k: int) -> int:
    r"""The byte offset after the first ``k`` records (lines; a line end inside quotes does
    not end one), as pyarrow's ``skip_rows`` counts them; ``len(data)`` when there are fewer.

    Examples
    --------
    >>> data = b'Sales export\r\n"a\nb"\n\norder,item\n'
    >>> data[skip_records(data, 3):]
    b'order,item\n'
    """
    at = 0
    for _ in range(k):
        end = at
        while True:  # the next line end outside quotes
            nl = min((p for p in (data.find(b"\n", end), data.find(b"\r", end)) if p >= 0),
                     default=-1)
            if nl < 0:
                return len(data)
            if data.count(b'"', at, nl) % 2 == 0:
                break
            end = nl + 1
        at = nl + (2 if data[nl:nl + 2] == b"\r\n" else 1)
    return at


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


def _locate_bad_row(data: bytes, label: str, delimiter: str, width: int, header: bool,
                    skip: int = 0) -> UpsellDataError:
    """The error for the first row with the wrong number of fields (csv module, error path);
    ``skip``: the lines above the table (``skip_rows``)."""
    at = skip_records(data, skip)
    text = data[at:].decode("utf-8", "replace")
    lines_above = _line_ends(data[:at])
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
            f"{label} row {row_no + 1:,} (line {reader.line_num + lines_above:,}): has "
            f"{len(row)} fields; "
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
            return self.data[:HEAD_BYTES]
        assert self.path is not None
        with open(self.path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
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
    _MAX_OUT = 1 << 22  # inflated bytes per decompress call (4 MB)

    def __init__(self, path: str) -> None:
        self._fh = open(path, "rb")  # closed by close(), as pyarrow closes its files
        self._d = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._start()

    def _start(self) -> None:
        """An empty buffer and no bytes counted yet."""
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
            raw, self._pending = (self._pending or self._fh.read(self._STEP)), b""
            try:
                if not raw:
                    if not self._d.eof:  # output zlib still holds for input it consumed
                        self._buf += self._d.flush()
                    if not self._d.eof:
                        raise EOFError("compressed file ended before the end-of-stream marker")
                    self._done = True
                    break
                while raw:
                    if self._d.eof:
                        raw = raw.lstrip(b"\0")  # zero padding between or after members
                        if not raw:
                            break
                        self._d = zlib.decompressobj(wbits=31)  # the next member
                    # bounded output per call: a highly compressible step cannot inflate
                    # to hundreds of MB at once
                    self._buf += self._d.decompress(raw, self._MAX_OUT)
                    raw = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
                    if len(self._buf) >= n and raw and not self._d.eof:
                        self._pending = raw  # the rest of this step, inflated on next fill
                        return
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
            head = stream.read(HEAD_BYTES)
        finally:
            stream.close()
        if stream.error is not None or not head.strip():
            return None
        return cls(path, head)

    def head(self) -> bytes:
        return self._head

    def _new_stream(self) -> _Inflating:
        return _Inflating(self.path)  # type: ignore[arg-type]

    def _damaged(self, label: str, error: str) -> UpsellDataError:
        return UpsellDataError(
            f"{label} is a truncated or damaged gzip file ({error}); nothing was read")

    def whole(self) -> bytes:
        stream = self._new_stream()
        try:
            return stream.read()
        finally:
            stream.close()

    def block(self) -> int:
        return _BLOCK_GZIP

    def arrow(self) -> Any:
        pa, _, _ = _pa()
        self._stream = self._new_stream()
        return pa.PythonFile(self._stream, mode="r")

    def settle(self, label: str) -> None:
        stream = self._stream
        if stream is None:
            return
        self._stream = None
        stream.close()
        if stream.error is not None:
            raise self._damaged(label, stream.error)
        self.quotes = stream.quotes > 0
        self.odd_quotes = stream.quotes % 2 == 1
        self.lines = stream.ends + (0 if stream.last in (b"\n", b"\r", b"") else 1)


class _Passing(_Inflating):
    """A ZIP member's bytes as a read-only stream for pyarrow, counted as they pass:
    :mod:`zipfile` inflates them on the way (its own reads release the GIL in zlib), so the
    member is never in memory whole. A damaged member (a bad CRC, a truncated stream) ends
    the text early and is kept in ``error``, as :class:`_Inflating` does."""

    def __init__(self, member: Any) -> None:  # member: upsell.data._zip.Member
        import zipfile

        self._zip = zipfile.ZipFile(member.archive)
        try:
            self._fh = self._zip.open(member.name)  # type: ignore[assignment]
        except BaseException:
            self._zip.close()
            raise
        self._start()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._fh.close()
            self._zip.close()

    def _fill(self, n: int) -> None:
        import zipfile

        while len(self._buf) < n and not self._done:
            try:
                raw = self._fh.read(self._STEP)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as exc:
                self.error = str(exc)
                self._done = True
                break
            if not raw:
                self._done = True
                break
            self._buf += raw


class ZipMemberSource(GzipSource):
    """UTF-8 text in a ZIP archive's member, inflated while pyarrow parses it (see
    :class:`_Passing`): what :class:`GzipSource` does for a gzip file."""

    def __init__(self, member: Any, head: bytes) -> None:
        super().__init__(member.label, head)
        self._member = member

    @classmethod
    def open_member(cls, member: Any) -> ZipMemberSource | None:
        """The source, or None when the first bytes are blank, damaged, gzip or UTF-16 (the
        whole-member reader then decides)."""
        stream = _Passing(member)
        try:
            head = stream.read(HEAD_BYTES)
        finally:
            stream.close()
        if (stream.error is not None or not head.strip() or head[:2] == b"\x1f\x8b"
                or head[:2] in (b"\xff\xfe", b"\xfe\xff")):
            return None
        return cls(member, head)

    def _new_stream(self) -> _Inflating:
        return _Passing(self._member)

    def _damaged(self, label: str, error: str) -> UpsellDataError:
        return UpsellDataError(f"{label} cannot be read from the archive ({error}); unpack it "
                               "and read the file")
