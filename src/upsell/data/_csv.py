"""Fast CSV reader behind :meth:`Transactions.read_csv`: numpy byte operations on large blocks.

The stdlib-based ``io._read_csv_reference`` defines the semantics; this module
reproduces them exactly, block by block:

* the file is read as UTF-8 bytes in blocks of ``_BLOCK`` bytes (gzip detected by
  its magic bytes, a UTF-8 BOM dropped, other encodings transcoded to UTF-8), each
  block cut after the last line end that lies outside quotes;
* line ends (``\\n``, ``\\r\\n``, ``\\r``) and delimiters are located with one
  comparison over the block, those inside quotes discarded by quote parity;
* a block without quotes or CRs whose lines all have every field is split by one
  search for delimiters and line ends together (no per-line search);
* fields are gathered into fixed-width byte arrays; plain decimals ("-12", "107.99")
  are parsed by digit arithmetic and ``YYYY-MM-DD HH:MM:SS`` timestamps by date
  arithmetic, both exactly as the reference's parsers read them, other text by
  numpy's C casts (the parsers the reference uses); id columns of at most 8 bytes
  become integer keys, factorized in one pass when a block is sorted and through a
  hash table (:mod:`upsell.data._keys`) otherwise, wider ids per block with
  ``np.unique``; only the distinct values are decoded and normalised the way the
  reference does;
* blocks after the header are parsed on two threads and taken in file order.

Whatever the vectorised split cannot reproduce exactly (a quote inside an
unquoted field, text after a closing quote, an unterminated quote, NUL bytes,
fields over the csv module's size limit, a non-ASCII delimiter) raises
``_Fallback``, and the caller reads the file with the reference instead.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

import numpy as np

from upsell.data._keys import KeyTable
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

_BLOCK = 1 << 24
_THREADS = 2  # blocks parsed at once; numpy releases the GIL in the heavy kernels
_MAX_GATHER = 256  # widest field gathered vectorised; the block is padded by this many bytes
_CELLS_PER_GATHER = 1 << 23  # bounds the (rows x width) index matrix of one gather
_QUOTE, _LF, _CR = 0x22, 0x0A, 0x0D
_TABLE_MAX = 1 << 20  # distinct keys a hash table may hold before blocks are sorted instead
_ID_ROLES = ("order", "item", "customer", "channel")
# bytes that may appear in a number numpy's cast parses like float(); anything else goes
# through float() cell by cell
_NUMBER_BYTES = np.zeros(256, dtype=bool)
_NUMBER_BYTES[list(b"0123456789+-.eE")] = True
# _KEEP_BYTES[n] keeps the first n bytes of a big-endian 8-byte word
_KEEP_BYTES = np.array([((1 << (8 * n)) - 1) << (8 * (8 - n)) for n in range(9)], dtype=np.uint64)


class _Fallback(Exception):
    """The input needs the reference reader to be read exactly (reason in the message)."""


def utf8_chunks(raw: IO[bytes], encoding: str, label: str) -> Iterator[bytes]:
    """Yield the file's content as UTF-8 byte chunks: BOM dropped, other encodings transcoded."""
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "utf-8-sig"):
        first = True
        while True:
            chunk = raw.read(_BLOCK)
            if first:
                first = False
                if chunk.startswith(codecs.BOM_UTF8):
                    chunk = chunk[len(codecs.BOM_UTF8):]
                    if not chunk:
                        chunk = raw.read(_BLOCK)
            if not chunk:
                return
            yield chunk
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    while True:
        chunk = raw.read(_BLOCK)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise UpsellDataError(
                f"{label} is not valid {encoding} text ({exc.reason} at byte "
                f"{offset + exc.start:,}); pass the right `encoding`"
            ) from None
        offset += len(chunk)
        if text:
            yield text.encode("utf-8", "surrogatepass")
        if not chunk:
            return


def record_blocks(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Regroup chunks into blocks that end after a line end outside quotes; flag the last."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = _last_record_end(data)
        if cut < 0:
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut], False
    yield carry, True


def _last_record_end(data: bytes) -> int:
    """Offset just past the last line end outside quotes, or -1 when there is none yet."""
    hi = len(data)
    # a \r in the last byte may be the first half of a \r\n split between chunks
    hi_cr = hi - 1
    while True:
        i = max(data.rfind(b"\n", 0, hi), data.rfind(b"\r", 0, min(hi, hi_cr)))
        if i < 0:
            return -1
        if data.find(b'"', 0, i) < 0 or data.count(b'"', 0, i) % 2 == 0:
            return i + 1
        hi = i


def _gather(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Fixed-width bytes array (dtype S<w>) of the fields ``buf[start:start+length]``."""
    m = start.size
    w = int(length.max()) if m else 0
    if w == 0:
        return np.zeros(m, dtype="S1")
    if w > _MAX_GATHER:
        # rare (free text in an id column): Python slices, still one array at the end
        return np.array([buf[s:s + n].tobytes() for s, n in zip(start.tolist(), length.tolist(), strict=True)],
                        dtype=f"S{w}")
    # a window of w bytes starting at every offset: one row copy per field, no index matrix
    window = np.ndarray(shape=(buf.size - w + 1,), dtype=f"S{w}", buffer=buf, strides=(1,))
    out = window[start]
    if (length != w).any():
        mat = out.view(np.uint8).reshape(m, w)
        mat *= np.arange(w) < length[:, None]
    return out


def _keys8(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Fields of at most 8 bytes as uint64 keys that sort like the bytes (zero padded)."""
    # native-order loads swapped in place: cheaper than arithmetic on a big-endian dtype
    window = np.ndarray(shape=(buf.size - 7,), dtype=np.uint64, buffer=buf, strides=(1,))
    keys = window[start]
    if sys.byteorder == "little":
        keys.byteswap(inplace=True)
    keys &= _KEEP_BYTES[length]
    return keys


def _is_sorted(a: np.ndarray) -> bool:
    return a.size < 2 or bool((a[1:] >= a[:-1]).all())


class _IdColumn:
    """Codes of one id column, block by block, and its distinct values at the end.

    Fields of at most 8 bytes become uint64 keys that sort like the bytes: a block
    whose keys are already sorted (order numbers in a file grouped by order) is
    factorized in one pass; other blocks go through a hash table shared by the
    blocks, so no block is sorted. Wider fields are factorized per block with
    ``np.unique``. :meth:`finish` sorts the distinct values of all blocks once.
    """

    def __init__(self, role: str) -> None:
        self.role = role
        # per block: (distinct values, or None for codes into the hash table; codes)
        self.parts: list[tuple[np.ndarray | None, np.ndarray]] = []
        self.table: KeyTable | None = None

    @staticmethod
    def split(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> tuple[Any, ...]:
        """The per-block work that needs no shared state (safe on a worker thread).

        Returns ``("wide", uniq, codes)`` or ``("sorted", uniq, codes)`` for
        blocks factorized on their own, ``("keys", keys)`` for the hash table.
        """
        if length.size and int(length.max()) > 8:
            uniq, inv = np.unique(_gather(buf, start, length), return_inverse=True)
            return ("wide", uniq, inv.astype(np.int32).reshape(-1))
        keys = _keys8(buf, start, length)
        if _is_sorted(keys):
            new = np.empty(keys.size, dtype=bool)
            new[:1] = True
            np.not_equal(keys[1:], keys[:-1], out=new[1:])
            codes = np.cumsum(new, dtype=np.int32)
            codes -= 1
            return ("sorted", keys[new], codes)
        return ("keys", keys)

    def add(self, part: tuple[Any, ...]) -> None:
        """Take one block's :meth:`split`, in block order."""
        if part[0] != "keys":
            self.parts.append((part[1], part[2]))
            return
        keys = part[1]
        if self.table is None:
            self.table = KeyTable()
        if self.table.n > _TABLE_MAX:
            # too many distinct values for a cache-friendly table: sort the block
            uk, inv = np.unique(keys, return_inverse=True)
            self.parts.append((uk, inv.astype(np.int32).reshape(-1)))
            return
        self.parts.append((None, self.table.encode(keys)))

    def _distinct(self) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Sorted distinct values (S dtype), and where each part's codes land in them.

        Returns the values, the map from the concatenated per-part values to them,
        and each part's offset into that concatenation.
        """
        table = (self.table.keys_in_code_order() if self.table is not None
                 else np.zeros(0, dtype=np.uint64))
        pieces = [table]
        offsets = []
        for uniq, _ in self.parts:
            if uniq is None:
                offsets.append(0)
            else:
                offsets.append(sum(p.size for p in pieces))
                pieces.append(uniq)
        if all(p.dtype == np.uint64 for p in pieces):
            keys = np.concatenate(pieces)
            if _is_sorted(keys):  # a file sorted by this column: one pass
                new = np.empty(keys.size, dtype=bool)
                new[:1] = True
                np.not_equal(keys[1:], keys[:-1], out=new[1:])
                ginv = np.cumsum(new, dtype=np.int64) - 1
                gk = keys[new]
            else:
                gk, ginv = np.unique(keys, return_inverse=True)
            return gk.astype(">u8").view("S8"), ginv.reshape(-1), offsets
        wide = [p.astype(">u8").view("S8") if p.dtype == np.uint64 else p for p in pieces]
        gu, ginv = np.unique(np.concatenate(wide), return_inverse=True)
        return gu, ginv.reshape(-1), offsets

    def finish(self, index: IdIndex | None) -> tuple[np.ndarray, IdIndex | None, np.ndarray]:
        """Codes (int32, -1 missing or unknown), the index (None if given) and the unknown mask.

        Distinct values are normalised exactly as the reference normalises every
        value (strip, then integers when all are plain integers), so the result
        is the same while only the distinct values pass through Python-level code.
        """
        from upsell.data.io import maybe_int_ids

        gu, ginv, offsets = self._distinct()
        plain = _plain_integers(gu)
        sorted_text = _sorted_text_ids(gu) if plain is None else None
        if plain is not None:
            # digits only, no leading zero: what io._csv_ids turns into int64, minus the
            # decode/strip/unique round trip over millions of distinct order numbers
            miss = plain < 0
            present = plain[~miss]
        elif sorted_text is not None:
            present, miss = sorted_text
        else:
            text = np.strings.decode(gu, "utf-8") if gu.size else np.zeros(0, dtype="U1")
            stripped = np.char.strip(text)
            # the reference's rule (io._csv_ids) applied to the distinct values only
            miss = np.char.str_len(stripped) == 0
            present = maybe_int_ids(stripped[~miss])
        code_map = np.full(gu.size, -1, dtype=np.int32)
        unknown_map = np.zeros(gu.size, dtype=bool)
        out_index: IdIndex | None
        if index is None:
            sub: np.ndarray
            if present.size < 2 or bool((present[1:] > present[:-1]).all()):
                # distinct byte strings in byte order are distinct ids in id order
                out_index = IdIndex._from_sorted_unique(present, name=self.role)
                sub = np.arange(present.size, dtype=np.int32)
            else:
                ids, sub = np.unique(present, return_inverse=True)
                out_index = IdIndex(ids, name=self.role)
            code_map[~miss] = sub.reshape(-1)
        else:
            if present.size and (present.dtype.kind == "i") != (index.kind == "int"):
                got = "int" if present.dtype.kind == "i" else "str"
                raise UpsellDataError(
                    f"column `{self.role}` holds {got} ids but the given {self.role} index "
                    f"holds {index.kind} ids"
                )
            sub = index.encode(present, unknown="mask") if present.size else np.zeros(0, int)
            code_map[~miss] = sub
            unknown_map[~miss] = sub < 0
            out_index = None
        part_code = code_map[ginv]  # concatenated per-part values -> final code
        part_unknown = unknown_map[ginv] if index is not None else None
        n = sum(c.size for _, c in self.parts)
        codes = np.empty(n, dtype=np.int32)
        unknown = np.zeros(n, dtype=bool)
        at = 0
        for (_, c), off in zip(self.parts, offsets, strict=True):
            np.take(part_code[off:], c, out=codes[at:at + c.size])
            if part_unknown is not None:
                np.take(part_unknown[off:], c, out=unknown[at:at + c.size])
            at += c.size
        self.parts, self.table = [], None
        return codes, out_index, unknown


class _BlockError(Exception):
    """An error found in one block whose message needs the counts of the blocks before it."""

    def __init__(self, make: Callable[[FastReader], UpsellDataError]) -> None:
        super().__init__()
        self.error = make


class _Parsed:
    """One block's rows, lines and converted columns, waiting for :meth:`FastReader.commit`."""

    __slots__ = ("ids", "lines", "n", "rows", "values")

    def __init__(self, n: int) -> None:
        self.n = n  # bytes
        self.rows = 0  # data rows
        self.lines = 0  # physical line ends
        self.ids: dict[str, tuple[Any, ...]] = {}
        self.values: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _check_utf8(block: bytes) -> None:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason, start = exc.reason, exc.start
        line = block.count(b"\n", 0, start) + 1
        raise _BlockError(lambda rd: UpsellDataError(
            f"{rd.label} line {rd.lines + line:,} is not valid {rd.encoding} text ({reason} "
            f"at byte {rd.offset + start:,}); pass the right `encoding`"
        )) from None


def _field_count_error(rd: FastReader, *, row: int, line: int, fields: int, width: int
                       ) -> UpsellDataError:
    return UpsellDataError(
        f"{rd.label} row {rd.rows + row:,} (line {rd.lines + line:,}): has {fields} fields; "
        f"the header has {width}"
    )


class FastReader:
    """One read of a CSV file: header and roles, per-column results, counts for messages.

    Feed it the blocks of :func:`record_blocks` in order, then call :meth:`finish`.
    """

    def __init__(self, *, label: str, delimiter: str, encoding: str, header: bool,
                 columns: Any) -> None:
        raw = delimiter.encode("utf-8")
        if len(raw) != 1 or raw in (b'"', b"\r", b"\n", b"\0"):
            raise _Fallback(f"delimiter {delimiter!r} is not a plain ASCII character")
        self.label = label
        self.delimiter = delimiter
        self.delim = raw[0]
        self.encoding = encoding
        self.header = header
        self.columns = columns
        self.roles: dict[str, int] | None = None
        self.wanted: list[tuple[str, int]] = []
        self.width = 0
        self.rows = 0  # data rows in earlier blocks
        self.lines = 0  # physical lines in earlier blocks, for "line N" in messages
        self.offset = 0  # bytes in earlier blocks
        self.ids: dict[str, _IdColumn] = {}
        self.values: dict[str, list[np.ndarray]] = {}
        self.bad_rows: dict[str, list[np.ndarray]] = {}
        self.first_bad: dict[str, tuple[int, str]] = {}

    # ------------------------------------------------------------------ blocks
    def feed(self, block: bytes) -> None:
        """Parse one block of whole records (the last one may lack its line end)."""
        self.commit(self.parse_or_error(block))

    def parse_or_error(self, block: bytes) -> _Parsed | _BlockError:
        """:meth:`parse`, with an error that needs the earlier blocks' counts as a value."""
        try:
            return self.parse(block)
        except _BlockError as err:
            return err

    def parse(self, block: bytes) -> _Parsed:
        """Split and convert one block; touches no shared state once the header is read.

        Several blocks may be parsed at once on worker threads (numpy releases the
        GIL in its kernels); :meth:`commit` then takes the results in block order.
        """
        n = len(block)
        out = _Parsed(n)
        if n == 0:
            return out
        if block.find(b"\0") >= 0:
            raise _Fallback("NUL byte in the data")
        buf = np.frombuffer(block + bytes(_MAX_GATHER + 8), dtype=np.uint8)
        core = buf[:n]
        if core.max() >= 0x80:
            _check_utf8(block)
        has_q = block.find(b'"') >= 0
        simple = None
        if not has_q and self.width > 1 and block.find(b"\r") < 0:
            simple = self._simple_fields(block, buf, core)
        if simple is not None:
            out.lines, col_starts, col_ends = simple
            out.rows = int(col_starts[0].size)
            for role, j in self.wanted:
                self._convert(out, role, buf, col_starts[j], col_ends[j])
            return out
        qpos = np.flatnonzero(core == _QUOTE) if has_q else np.zeros(0, dtype=np.intp)
        if has_q:
            self._check_quotes(buf, qpos, n)
        term, tlen = self._line_ends(block, buf, core)
        all_term = term
        if has_q:
            outside = (np.searchsorted(qpos, term) & 1) == 0
            term, tlen = term[outside], tlen[outside]
        starts = np.empty(term.size, dtype=np.int64)
        nxt = term + tlen
        starts[:1] = 0
        starts[1:] = nxt[:-1]
        ends = term.astype(np.int64)
        tail = int(nxt[-1]) if term.size else 0
        if tail < n:  # last line of the file without a line end
            starts = np.append(starts, tail)
            ends = np.append(ends, n)
        if starts.size and int((ends - starts).max()) > csv.field_size_limit():
            raise _Fallback("a line is longer than the csv module's field size limit")
        dpos = np.flatnonzero(core == self.delim)
        if has_q and dpos.size:
            dpos = dpos[(np.searchsorted(qpos, dpos) & 1) == 0]
        k0 = np.searchsorted(dpos, starts)
        nf = np.searchsorted(dpos, ends) - k0 + 1
        nf[starts == ends] = 0
        first = 0
        if self.roles is None:
            first = self._read_header(block, int(starts[0]), int(ends[0]))
        if first:
            starts, ends, k0, nf = starts[first:], ends[first:], k0[first:], nf[first:]
        ok = nf == self.width
        if not ok.all():
            ok = self._check_rows(block, starts, ends, nf, ok, all_term)
            starts, ends, k0 = starts[ok], ends[ok], k0[ok]
        m = int(starts.size)
        if m:
            for role, j in self.wanted:
                fs = starts if j == 0 else dpos[k0 + (j - 1)] + 1
                fe = ends if j == self.width - 1 else dpos[k0 + j]
                src = buf
                if has_q:
                    src, fs, fe = _unquote(block, buf, qpos, fs, fe)
                self._convert(out, role, src, fs, fe)
        out.rows = m
        out.lines = int(all_term.size)
        return out

    def _simple_fields(self, block: bytes, buf: np.ndarray, core: np.ndarray
                       ) -> tuple[int, list[np.ndarray], list[np.ndarray]] | None:
        """Field bounds of a block without quotes or CRs whose every line has all fields.

        One search finds delimiters and line ends together; when every ``width``-th
        of them is a line end and there are no others, the matrix of their positions
        holds every field's end, with no per-line search. Returns the number of
        line ends with each column's starts and ends, or None for the general path
        (blank lines, wrong field counts, very long lines).
        """
        n = core.size
        w = self.width
        is_lf = core == _LF
        lines = int(np.count_nonzero(is_lf))
        is_lf |= core == self.delim
        sep = np.flatnonzero(is_lf)
        rows = lines
        if core[-1] != _LF:  # last line of the file without a line end
            sep = np.append(sep, n)
            rows += 1
        if rows == 0 or sep.size != rows * w:
            return None
        grid = sep.reshape(rows, w)
        ends = grid[:, -1]
        # every w-th separator a line end, as many as there are: no other line ends
        if not (buf[ends[:rows - 1]] == _LF).all():
            return None
        line_start = np.empty(rows, dtype=np.intp)
        line_start[0] = 0
        line_start[1:] = ends[:-1] + 1
        if int((ends - line_start).max()) > csv.field_size_limit():
            return None
        starts = [line_start] + [grid[:, j - 1] + 1 for j in range(1, w)]
        return lines, starts, [grid[:, j] for j in range(w)]

    def _convert(self, out: _Parsed, role: str, src: np.ndarray, fs: np.ndarray,
                 fe: np.ndarray) -> None:
        if role in _ID_ROLES:
            out.ids[role] = _IdColumn.split(src, fs, fe - fs)
        elif role == "time":
            out.values[role] = _timestamps(_gather(src, fs, fe - fs))
        else:
            out.values[role] = _numbers(_gather(src, fs, fe - fs))

    def commit(self, parsed: _Parsed | _BlockError) -> None:
        """Take one block's results, in block order; raise its error with file-wide counts."""
        if isinstance(parsed, _BlockError):
            raise parsed.error(self)
        for role, part in parsed.ids.items():
            self.ids.setdefault(role, _IdColumn(role)).add(part)
        for role, result in parsed.values.items():
            self._keep(role, *result)
        self.rows += parsed.rows
        self.lines += parsed.lines
        self.offset += parsed.n

    def _check_quotes(self, buf: np.ndarray, qpos: np.ndarray, n: int) -> None:
        """Refuse quoting the parity split would misread (the reference reads it leniently)."""
        if qpos.size % 2:
            raise _Fallback("unterminated quoted field")
        d = self.delim
        opening, closing = qpos[0::2], qpos[1::2]
        prev = buf[opening - 1]
        ok_open = ((opening == 0) | (prev == d) | (prev == _LF) | (prev == _CR)
                   | (prev == _QUOTE))
        nxt = buf[closing + 1]
        ok_close = ((closing + 1 == n) | (nxt == d) | (nxt == _LF) | (nxt == _CR)
                    | (nxt == _QUOTE))
        if not (ok_open.all() and ok_close.all()):
            raise _Fallback("a quote inside an unquoted field or text after a closing quote")

    @staticmethod
    def _line_ends(block: bytes, buf: np.ndarray, core: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Positions of line ends (LF, CR LF counted once, lone CR) and their lengths."""
        is_lf = core == _LF
        if block.find(b"\r") < 0:
            term = np.flatnonzero(is_lf)
            return term, np.ones(term.size, dtype=np.int64)
        is_cr = core == _CR
        mask = is_cr.copy()
        mask[0] |= is_lf[0]
        mask[1:] |= is_lf[1:] & ~is_cr[:-1]
        term = np.flatnonzero(mask)
        tlen = 1 + ((buf[term] == _CR) & (buf[term + 1] == _LF)).astype(np.int64)
        return term, tlen

    def _read_header(self, block: bytes, start: int, end: int) -> int:
        """Resolve the roles from the first record; return 1 if it is a header, else 0."""
        from upsell.data.io import _positional, resolve_columns

        text = block[start:end].decode("utf-8")
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter), [])
        if self.header:
            names = [h.strip().lstrip("\ufeff") for h in first]
        else:
            names = [str(i) for i in range(len(first))]
        self.roles = resolve_columns(names, _positional(self.columns, self.header),
                                     source=self.label)
        self.width = len(names)
        # order first: error messages of later columns name the row's order
        self.wanted = sorted(self.roles.items(), key=lambda kv: kv[0] != "order")
        return 1 if self.header else 0

    def _check_rows(self, block: bytes, starts: np.ndarray, ends: np.ndarray, nf: np.ndarray,
                    ok: np.ndarray, all_term: np.ndarray) -> np.ndarray:
        """Skip blank lines, raise on the first row with the wrong number of fields."""
        for r in np.flatnonzero(~ok).tolist():
            fields = int(nf[r])
            if fields == 0:
                continue
            if fields == 1:
                raw = block[int(starts[r]):int(ends[r])]
                if raw.startswith(b'"'):
                    raw = raw[1:-1].replace(b'""', b'"')
                if not raw.decode("utf-8").strip():
                    continue
            row = int(ok[:r].sum()) + 1
            line = int(np.searchsorted(all_term, ends[r])) + 1
            raise _BlockError(functools.partial(_field_count_error, row=row, line=line,
                                                fields=fields, width=self.width))
        return ok

    def _keep(self, role: str, values: np.ndarray, bad: np.ndarray, raw: np.ndarray) -> None:
        self.values.setdefault(role, []).append(values)
        if bad.size:
            self.bad_rows.setdefault(role, []).append(self.rows + bad)
            if role not in self.first_bad:
                i = int(bad[0])
                self.first_bad[role] = (self.rows + i, raw[i].decode("utf-8", "replace"))

    # ------------------------------------------------------------------ result
    def finish(self, *, invalid: str, item_index: IdIndex | None,
               customer_index: IdIndex | None) -> Any:
        """Assemble the ``_Prepared`` columns, raising value errors in the reference's order."""
        from upsell.data.transactions import _Prepared

        if self.roles is None:
            raise UpsellDataError(f"{self.label} is empty: no header and no data rows")
        if self.rows == 0:
            raise UpsellDataError(f"{self.label} has a header but no data rows")
        n = self.rows
        bad: dict[str, np.ndarray] = {}
        o_codes, o_index, _ = self.ids["order"].finish(None)
        assert o_index is not None
        i_codes, i_index, i_unknown = self.ids["item"].finish(item_index)
        prep = _Prepared(
            n=n, order=o_codes, order_index=o_index,
            item=i_codes, item_index=item_index if item_index is not None else i_index,  # type: ignore[arg-type]
            unknown_item=i_unknown, fixed_items=item_index is not None, bad=bad,
            source=self.label,
        )
        if "customer" in self.ids:
            c_codes, c_index, c_unknown = self.ids["customer"].finish(customer_index)
            prep.customer = c_codes
            prep.customer_index = customer_index if customer_index is not None else c_index
            prep.unknown_customer = c_unknown
            prep.fixed_customers = customer_index is not None
        for role, what in (("quantity", "not a number"), ("price", "not a number"),
                           ("time", "not a timestamp")):
            if role not in self.values:
                continue
            parts = self.values.pop(role)
            values = parts[0] if len(parts) == 1 else np.concatenate(parts)
            setattr(prep, role, values)
            if role in self.first_bad:
                if invalid == "raise":
                    row, raw = self.first_bad[role]
                    code = int(o_codes[row])
                    order = f" (order {o_index.ids[code].item()!r})" if code >= 0 else ""
                    expected = (" (expected ISO 8601, e.g. '2011-12-09 12:50:00')"
                                if role == "time" else "")
                    raise UpsellDataError(
                        f"{self.label} row {row + 1:,}{order}: `{role}` {raw!r} is {what}"
                        f"{expected}; pass invalid='drop' to drop such rows"
                    )
                mask = np.zeros(n, dtype=bool)
                mask[np.concatenate(self.bad_rows[role])] = True
                bad[f"{role} {what}"] = mask
        if "channel" in self.ids:
            prep.channel, prep.channel_index, _ = self.ids["channel"].finish(None)
        return prep


def _unquote(block: bytes, buf: np.ndarray, qpos: np.ndarray, fs: np.ndarray, fe: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Field bounds without their surrounding quotes; fields with doubled quotes are rewritten.

    Returns the buffer to gather from (the block's, or a copy with the rewritten
    fields appended) and the new start and end offsets.
    """
    quoted = ((fe > fs) & (buf[fs] == _QUOTE)).astype(np.int64)
    if not quoted.any():
        return buf, fs, fe
    fs = fs + quoted
    fe = fe - quoted
    inner = np.searchsorted(qpos, fe) - np.searchsorted(qpos, fs)
    esc = np.flatnonzero(inner > 0)
    if not esc.size:
        return buf, fs, fe
    pieces = [block[a:b].replace(b'""', b'"') for a, b in zip(fs[esc].tolist(), fe[esc].tolist(), strict=True)]
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    n = len(block)
    src = np.frombuffer(block + b"".join(pieces) + bytes(_MAX_GATHER + 8), dtype=np.uint8)
    fs = fs.copy()
    fe = fe.copy()
    fs[esc] = n + np.cumsum(lengths) - lengths
    fe[esc] = fs[esc] + lengths
    return src, fs, fe


def _numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse fixed-width byte cells as float64 like ``float()``; blank cells are NaN.

    Returns the values, the positions of unparseable cells and the raw cells.
    Plain decimals are parsed by digit arithmetic (:func:`_plain_decimals`); the
    other cells by numpy's cast, or cell by cell.
    """
    out, done = _plain_decimals(values)
    if done.all():
        return out, np.zeros(0, dtype=np.int64), values
    rest = np.flatnonzero(~done)
    if rest.size == values.size:
        return _cast_numbers(values)
    sub, bad, _ = _cast_numbers(values[rest])
    out[rest] = sub
    return out, rest[bad], values


# 10**k for the number of fraction digits a plain decimal can have (15), and a spare
_POW10 = 10.0 ** np.arange(18)


def _plain_decimals(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse cells of the form ``[+-]digits[.digits]`` (at most 15 digits) and blank cells.

    Returns the values (NaN for blanks) and a mask of the cells parsed; others are
    left for the caller. With a mantissa below 2**53 and an exact power of ten,
    one IEEE division is correctly rounded, so the result is exactly ``float()``'s
    (Clinger's fast path), while a block costs a few passes over its bytes.
    """
    m, w = values.size, values.itemsize
    out = np.full(m, np.nan)
    if m == 0 or w > 24:
        return out, np.zeros(m, dtype=bool)
    # byte position x cell: every pass below reads contiguous memory
    t = values.view(np.uint8).reshape(m, w).T.copy()
    digit = t - np.uint8(0x30)
    is_digit = digit < 10
    digit *= is_digit
    factor = is_digit * np.uint8(9)
    factor += 1  # 10 at a digit, 1 elsewhere: dots and signs leave the mantissa alone
    is_dot = t == 0x2E
    first = t[0]
    neg = first == 0x2D
    ok = is_digit | is_dot
    ok |= t == 0
    ok[0] |= neg | (first == 0x2B)
    acc = np.zeros(m)
    n_digits = np.zeros(m, dtype=np.uint8)
    n_dots = np.zeros(m, dtype=np.uint8)
    dot_end = np.zeros(m, dtype=np.uint8)  # 1 + position of the dot, 0 without one
    length = np.zeros(m, dtype=np.uint8)
    for j in range(w):  # exact in float64: 15 digits stay below 2**53
        acc *= factor[j]
        acc += digit[j]
        n_digits += is_digit[j]
        n_dots += is_dot[j]
        dot_end += is_dot[j] * np.uint8(j + 1)
        length += t[j] != 0
    done = ok.all(axis=0)
    done &= n_dots <= 1
    done &= n_digits >= 1
    done &= n_digits <= 15
    # (cells with two dots wrap around here; they are not done anyway)
    acc /= _POW10[np.minimum(np.where(dot_end > 0, length - dot_end, 0), 17)]
    np.negative(acc, out=acc, where=neg)
    out[done] = acc[done]
    return out, done | (length == 0)  # an empty cell is NaN, as the reference reads it


def _cast_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's bytes-to-float cast, which accepts and rounds what ``float()`` does.

    Only blocks holding something it refuses go cell by cell.
    """
    # "1e400" is inf for float() too, without a warning
    with np.errstate(over="ignore"):
        try:
            return values.astype(np.float64), np.zeros(0, dtype=np.int64), values
        except (ValueError, TypeError):
            pass
        out = np.full(values.size, np.nan)
        mat = values.view(np.uint8).reshape(values.size, values.itemsize)
        simple = (_NUMBER_BYTES[mat] | (mat == 0)).all(axis=1) & (mat[:, 0] != 0)
        idx = np.flatnonzero(simple)
        try:
            out[idx] = values[idx].astype(np.float64)
            rest = np.flatnonzero(~simple)
        except (ValueError, TypeError):
            rest = np.arange(values.size)
    bad: list[int] = []
    for i, cell in zip(rest.tolist(), values[rest].tolist(), strict=True):
        text = cell.decode("utf-8")
        if not text.strip():
            continue
        try:
            out[i] = float(text)
        except ValueError:
            bad.append(i)
    return out, np.array(bad, dtype=np.int64), values


def _timestamps(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse fixed-width byte cells as datetime64[s] with numpy's ISO 8601 parser; blank is NaT.

    Blocks with a cell the cast refuses are parsed per distinct value.
    """
    fixed = _fixed_timestamps(values)
    if fixed is not None:
        return fixed, np.zeros(0, dtype=np.int64), values
    try:
        return values.astype("datetime64[s]"), np.zeros(0, dtype=np.int64), values
    except (ValueError, TypeError, OverflowError):
        pass
    uniq, inv = np.unique(values, return_inverse=True)
    parsed = np.empty(uniq.size, dtype="datetime64[s]")
    wrong = np.zeros(uniq.size, dtype=bool)
    for k, cell in enumerate(uniq.tolist()):
        try:
            parsed[k] = np.datetime64(cell.decode("utf-8"), "s")
        except (TypeError, ValueError, OverflowError):
            parsed[k] = np.datetime64("NaT")
            wrong[k] = True
    inv = inv.reshape(-1)
    return parsed[inv], np.flatnonzero(wrong[inv]), values


def read_prepared(raw: IO[bytes], *, label: str, columns: Any, delimiter: str, encoding: str,
                  header: bool, invalid: str, item_index: IdIndex | None,
                  customer_index: IdIndex | None) -> Any:
    """Read an open binary file into a ``_Prepared``; raises ``_Fallback`` when it cannot.

    Blocks after the header are parsed on up to ``_THREADS`` worker threads while
    this thread reads ahead and takes the results in order; at most a few blocks
    are in flight, so memory stays bounded.
    """
    reader = FastReader(label=label, delimiter=delimiter, encoding=encoding, header=header,
                        columns=columns)
    blocks = record_blocks(utf8_chunks(raw, encoding, label))
    threads = min(_THREADS, os.cpu_count() or 1)
    if threads < 2:
        for block, _ in blocks:
            reader.feed(block)
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="upsell-csv") as pool:
            pending: deque[Future[_Parsed | _BlockError]] = deque()
            try:
                for block, _ in blocks:
                    if reader.roles is None:  # the header decides how every block is read
                        reader.feed(block)
                        continue
                    pending.append(pool.submit(reader.parse_or_error, block))
                    if len(pending) > threads:
                        reader.commit(pending.popleft().result())
                while pending:
                    reader.commit(pending.popleft().result())
            finally:
                for fut in pending:
                    fut.cancel()
    return reader.finish(invalid=invalid, item_index=item_index, customer_index=customer_index)


def _plain_integers(values: np.ndarray) -> np.ndarray | None:
    """int64 of byte strings that are all plain integers (digits, no leading zero), else None.

    Empty strings (missing ids) become -1. Anything else (signs, spaces, "17850.0",
    more than 18 digits) returns None and takes the general path.
    """
    if values.size == 0 or values.itemsize > 18:
        return None
    mat = values.view(np.uint8).reshape(values.size, values.itemsize)
    lead = mat[:, 0]
    if not (((lead >= 0x30) & (lead <= 0x39)) | (lead == 0)).all():  # cheap early "no"
        return None
    length = np.count_nonzero(mat, axis=1)
    digit = (mat >= 0x30) & (mat <= 0x39)
    if not (digit | (mat == 0)).all() or (digit.sum(axis=1) != length).any():
        return None
    if ((mat[:, 0] == 0x30) & (length > 1)).any():
        return None
    present = length > 0
    if not present.any():  # only blanks: the reference keeps such a column as strings
        return None
    out = np.full(values.size, -1, dtype=np.int64)
    out[present] = values[present].astype(np.int64)
    return out


# bytes a text id may start or end with for strip() to leave it alone: printable ASCII
_EDGE_OK = np.zeros(256, dtype=bool)
_EDGE_OK[0x21:0x7F] = True
# bytes every integer-looking id is made of (io.maybe_int_ids: sign, digits, ".0")
_INT_BYTES = np.zeros(256, dtype=bool)
_INT_BYTES[list(b"0123456789-.")] = True
_INT_BYTES[0] = True  # padding


def _sorted_text_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Decoded ids of sorted distinct byte strings that normalise to themselves, else None.

    Applies when no value has whitespace at either end (strip is a no-op) and some
    value has a byte no integer id has (so the column stays text): then the
    reference's strip / integer test / ``np.unique`` leave the values as they are,
    and UTF-8 byte order is code point order, so the decoded values are already
    sorted and distinct. Returns them with the mask of missing (empty) values.
    """
    if values.size == 0:
        return None
    w = values.itemsize
    # only the first value can be b"" (it sorts first); the rest have a first byte
    first = int(values[0] == b"")
    mat = values.view(np.uint8).reshape(values.size, w)[first:]
    if not _EDGE_OK[mat[:, 0]].all():
        return None
    last = np.count_nonzero(mat, axis=1) - 1  # NUL bytes never reach here (see feed)
    if not _EDGE_OK[mat[np.arange(mat.shape[0]), last]].all():
        return None
    # one value with a byte no integer has keeps the column text; the first byte usually tells
    if _INT_BYTES[mat[:, 0]].all() and _INT_BYTES[mat].all():
        return None
    miss = np.zeros(values.size, dtype=bool)
    miss[:first] = True
    if int(mat.max()) < 0x80:
        # ASCII: each byte is its code point; widening is far cheaper than a decode
        return mat.astype(np.uint32).view(f"U{w}").reshape(-1), miss
    present = values[first:]
    return np.strings.decode(present, "utf-8"), miss


_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


def _fixed_timestamps(values: np.ndarray) -> np.ndarray | None:
    """datetime64[s] of cells that are all ``YYYY-MM-DD HH:MM:SS`` (or ``T``), else None.

    The digits are read by arithmetic on the byte matrix and the date turned into
    days by the civil-calendar formula, instead of numpy's parser cell by cell.
    Any cell of another shape or out of range (month 13, February 30, second 60)
    returns None, so the caller's parser decides, as numpy's does for such text.
    """
    m = values.size
    if values.itemsize != 19 or m == 0:
        return None
    t = values.view(np.uint8).reshape(m, 19).T.copy()  # byte position x cell
    if not ((t[4] == 0x2D).all() and (t[7] == 0x2D).all() and (t[13] == 0x3A).all()
            and (t[16] == 0x3A).all() and ((t[10] == 0x54) | (t[10] == 0x20)).all()):
        return None
    d = t[_DATE_DIGITS]
    d -= np.uint8(0x30)
    if (d > 9).any():
        return None
    pairs = d[0::2] * np.uint8(10)  # 7 two-digit numbers, each below 100
    pairs += d[1::2]
    p = pairs.astype(np.int32)
    year = p[0] * 100 + p[1]
    month, day, hour, minute, second = p[2], p[3], p[4], p[5], p[6]
    ok = (month >= 1) & (month <= 12) & (day >= 1) & (hour < 24) & (minute < 60) & (second < 60)
    if not ok.all():
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if (day > _DAYS_IN_MONTH[month] + (leap & (month == 2))).any():
        return None
    # days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = (era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468).astype(np.int64)
    seconds = days * 86400
    seconds += hour * 3600 + minute * 60 + second
    return seconds.view("datetime64[s]")
