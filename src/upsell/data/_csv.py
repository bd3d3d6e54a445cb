"""Fast CSV reader behind :meth:`Transactions.read_csv`: numpy byte operations on large blocks.

The stdlib-based ``io._read_csv_reference`` defines the semantics; this module
reproduces them exactly, block by block:

* the file is read as UTF-8 bytes in blocks of ``_BLOCK`` bytes (gzip detected by
  its magic bytes, a UTF-8 BOM dropped, other encodings transcoded to UTF-8), each
  block cut after the last line end that lies outside quotes;
* line ends (``\\n``, ``\\r\\n``, ``\\r``) and delimiters are located with one
  comparison over the block, those inside quotes discarded by quote parity;
* fields are gathered into fixed-width byte arrays; numbers and timestamps are
  parsed by numpy's C casts (the same parsers the reference uses), id columns are
  factorized on 8-byte integer keys or fixed-width bytes, and only the distinct
  values are decoded and normalised the way the reference does.

Whatever the vectorised split cannot reproduce exactly (a quote inside an
unquoted field, text after a closing quote, an unterminated quote, NUL bytes,
fields over the csv module's size limit, a non-ASCII delimiter) raises
``_Fallback``, and the caller reads the file with the reference instead.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

_BLOCK = 1 << 24
_MAX_GATHER = 256  # widest field gathered vectorised; the block is padded by this many bytes
_CELLS_PER_GATHER = 1 << 23  # bounds the (rows x width) index matrix of one gather
_QUOTE, _LF, _CR = 0x22, 0x0A, 0x0D
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
        if data.count(b'"', 0, i) % 2 == 0:
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
    window = np.ndarray(shape=(buf.size - 7,), dtype=">u8", buffer=buf, strides=(1,))
    return window[start] & _KEEP_BYTES[length]


class _IdColumn:
    """Per-block distinct values and codes of one id column, merged at the end."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.uniques: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []

    def add(self, buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> None:
        if not length.size or int(length.max()) <= 8:
            # big-endian 8-byte keys sort like the bytes, and integers sort fast
            uk, inv = np.unique(_keys8(buf, start, length), return_inverse=True)
            uniq = uk.astype(">u8").view("S8")
        else:
            uniq, inv = np.unique(_gather(buf, start, length), return_inverse=True)
        self.uniques.append(uniq)
        self.codes.append(inv.astype(np.int32).reshape(-1))

    def finish(self, index: IdIndex | None) -> tuple[np.ndarray, IdIndex | None, np.ndarray]:
        """Codes (int64, -1 missing or unknown), the index (None if given) and the unknown mask.

        Distinct values are normalised exactly as the reference normalises every
        value (strip, then integers when all are plain integers), so the result
        is the same while only the distinct values pass through Python-level code.
        """
        from upsell.data.io import maybe_int_ids

        allu = np.concatenate(self.uniques) if self.uniques else np.zeros(0, dtype="S1")
        if allu.itemsize <= 8:
            keys = allu.astype("S8").view(">u8").astype(np.uint64)
            gk, ginv = np.unique(keys, return_inverse=True)
            gu = gk.astype(">u8").view("S8")
        else:
            gu, ginv = np.unique(allu, return_inverse=True)
        plain = _plain_integers(gu)
        if plain is not None:
            # digits only, no leading zero: what io._csv_ids turns into int64, minus the
            # decode/strip/unique round trip over millions of distinct order numbers
            miss = plain < 0
            present = plain[~miss]
        else:
            text = np.strings.decode(gu, "utf-8") if gu.size else np.zeros(0, dtype="U1")
            stripped = np.char.strip(text)
            # the reference's rule (io._csv_ids) applied to the distinct values only
            miss = np.char.str_len(stripped) == 0
            present = maybe_int_ids(stripped[~miss])
        code_map = np.full(gu.size, -1, dtype=np.int64)
        unknown_map = np.zeros(gu.size, dtype=bool)
        out_index: IdIndex | None
        if index is None:
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
        ginv = ginv.reshape(-1)
        n = sum(c.size for c in self.codes)
        rows = np.empty(n, dtype=np.int64)
        at = off = 0
        for u, c in zip(self.uniques, self.codes, strict=True):
            rows[at:at + c.size] = ginv[off + c]
            at += c.size
            off += u.size
        self.uniques, self.codes = [], []
        codes = code_map[rows]
        unknown = unknown_map[rows] if index is not None else np.zeros(n, dtype=bool)
        return codes, out_index, unknown


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
        n = len(block)
        if n == 0:
            return
        if block.find(b"\0") >= 0:
            raise _Fallback("NUL byte in the data")
        buf = np.frombuffer(block + bytes(_MAX_GATHER + 8), dtype=np.uint8)
        core = buf[:n]
        if core.max() >= 0x80:
            self._check_utf8(block)
        has_q = block.find(b'"') >= 0
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
                if role in _ID_ROLES:
                    self.ids.setdefault(role, _IdColumn(role)).add(src, fs, fe - fs)
                elif role == "time":
                    self._keep(role, *_timestamps(_gather(src, fs, fe - fs)))
                else:
                    self._keep(role, *_numbers(_gather(src, fs, fe - fs)))
        self.rows += m
        self.lines += int(all_term.size)
        self.offset += n

    def _check_utf8(self, block: bytes) -> None:
        try:
            block.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = self.lines + block.count(b"\n", 0, exc.start) + 1
            raise UpsellDataError(
                f"{self.label} line {line:,} is not valid {self.encoding} text ({exc.reason} "
                f"at byte {self.offset + exc.start:,}); pass the right `encoding`"
            ) from None

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
            row = self.rows + int(ok[:r].sum()) + 1
            line = self.lines + int(np.searchsorted(all_term, ends[r])) + 1
            raise UpsellDataError(
                f"{self.label} row {row:,} (line {line:,}): has {fields} fields; "
                f"the header has {self.width}"
            )
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
    numpy's bytes-to-float cast accepts and rounds exactly what ``float()`` does on
    such text; only blocks holding something it refuses go cell by cell.
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
    """Read an open binary file into a ``_Prepared``; raises ``_Fallback`` when it cannot."""
    reader = FastReader(label=label, delimiter=delimiter, encoding=encoding, header=header,
                        columns=columns)
    for block, _ in record_blocks(utf8_chunks(raw, encoding, label)):
        reader.feed(block)
    return reader.finish(invalid=invalid, item_index=item_index, customer_index=customer_index)


def _plain_integers(values: np.ndarray) -> np.ndarray | None:
    """int64 of byte strings that are all plain integers (digits, no leading zero), else None.

    Empty strings (missing ids) become -1. Anything else (signs, spaces, "17850.0",
    more than 18 digits) returns None and takes the general path.
    """
    if values.size == 0 or values.itemsize > 18:
        return None
    mat = values.view(np.uint8).reshape(values.size, values.itemsize)
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
