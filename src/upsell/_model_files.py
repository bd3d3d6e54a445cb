"""Untrusted model files: bounded reading of ``.npz`` members and JSON, confined paths, checkers.

A model folder is untrusted input (docs/hardening.md, "Trust model"). :func:`read_arrays`
checks every ``.npy`` header (dtype, shape, size against a budget, inflate ratio) before
reading or inflating a byte, :func:`load_json` bounds size and nesting, the checkers
:func:`check_array`, :func:`check_csr`, :func:`check_index` and :func:`check_params` let a
model's ``load`` check its contents as strictly as a fit leaves them, and
:func:`resolve_inside` confines paths named in a manifest to the model folder. Every failure
is a :class:`~upsell.exceptions.ModelFileError` naming the file, the member and the problem
(:func:`fail`, :func:`corrupted`).

A library-wide internal below :mod:`upsell.data`: it imports only numpy and
:mod:`upsell.exceptions`. Users reach these names through :mod:`upsell.persist`, which
re-exports them.
"""

from __future__ import annotations

import json
import math
import mmap as _mmap
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from upsell._validation import memory_budget
from upsell.exceptions import ModelFileError

__all__ = ["CONTENT_ERRORS", "MAX_INFLATE_RATIO", "MAX_JSON_BYTES", "MAX_JSON_DEPTH",
           "MAX_MEMBERS", "check_array", "check_csr", "check_index", "check_params", "corrupted",
           "fail", "load_json", "memory_budget", "read_arrays", "read_json", "resolve_inside"]

#: Arrays at least this large are memory-mapped by ``read_arrays(..., mmap=True)``.
_MMAP_MIN_BYTES = 1 << 16
#: Compressed members may inflate to at most this many times their stored size.
#: upsell never compresses (members are stored, so the file itself bounds them);
#: numeric arrays from other tools compress far less than this, a zip bomb far more.
MAX_INFLATE_RATIO = 64
#: Largest JSON document read from a model folder (manifest, metadata), in bytes.
MAX_JSON_BYTES = 256 * 2**20
#: Deepest nesting of lists and objects accepted in that JSON.
MAX_JSON_DEPTH = 64
#: Most members an ``.npz`` may hold.
MAX_MEMBERS = 10_000
_ALLOWED_KINDS = frozenset("biufcUSMm")
_CHUNK = 1 << 24


def fail(file: str | os.PathLike[str], member: str | None, problem: str) -> ModelFileError:
    """The error for a bad model file: names the file, the member and the problem.

    Examples
    --------
    >>> str(fail("m.npz", "scores", "holds NaN"))
    "model file 'm.npz', member 'scores': holds NaN"
    """
    f = os.fspath(file)
    where = f"model file {f!r}" + ("" if member is None else f", member {member!r}")
    return ModelFileError(f"{where}: {problem}", file=f, member=member, problem=problem)


#: The exceptions a loader turns into :class:`ModelFileError` via :func:`corrupted`.
CONTENT_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError,
                  RecursionError)


def corrupted(file: str | os.PathLike[str], kind: str, exc: BaseException) -> ModelFileError:
    """The error for saved contents that do not make a ``kind``; a ModelFileError passes through.

    Loaders wrap their rebuilding code in ``except CONTENT_ERRORS as exc: raise
    corrupted(path, "ALS", exc) from None``, so no raw exception escapes.

    Examples
    --------
    >>> str(corrupted("m.npz", "ALS", KeyError("user_factors")))
    "model file 'm.npz' is corrupted: its content does not make a ALS (KeyError: 'user_factors')"
    """
    if isinstance(exc, ModelFileError):
        return exc
    f = os.fspath(file)
    problem = f"{type(exc).__name__}: {exc}"
    return ModelFileError(f"model file {f!r} is corrupted: its content does not make a {kind} "
                          f"({problem})", file=f, problem=problem)


def resolve_inside(root: str | os.PathLike[str], rel: Any, *, what: str = "path") -> str:
    """The real path of ``rel`` inside the folder ``root``; refuses anything that leaves it.

    ``rel`` must be a relative path written with ``/``; after resolving ``..``
    and every symbolic link (of the folder too), it must still lie inside the
    folder. Absolute paths, drive letters, backslashes, NUL and empty names are
    refused. Whether the target exists is the caller's business.

    Parameters
    ----------
    root : path-like
        The model folder.
    rel : str
        A path read from the folder's manifest.
    what : str
        What the path is, for the message (``"files entry"``, ``"source file"``).

    Raises
    ------
    ModelFileError
        The path leaves the folder or is malformed; the message quotes it.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> resolve_inside(root, "sources/a.npz").endswith("sources/a.npz")
    True
    >>> resolve_inside(root, "../../etc/hostname")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: path '../../etc/hostname' leaves the model folder
    """
    if not isinstance(rel, str) or not rel or len(rel) > 4096:
        raise ModelFileError(f"{what} {rel!r} is not a relative path inside the model folder",
                             member=str(rel)[:200], problem="malformed path")
    if ("\x00" in rel or "\\" in rel or rel.startswith("/") or ":" in rel.split("/")[0]
            or any(p in ("", ".", "..") for p in rel.split("/"))):
        if ".." in rel.split("/") or rel.startswith("/"):
            raise ModelFileError(f"{what} {rel!r} leaves the model folder", member=rel,
                                 problem="leaves the model folder")
        raise ModelFileError(f"{what} {rel!r} is not a plain relative path inside the model "
                             f"folder", member=rel, problem="malformed path")
    base = os.path.realpath(os.fspath(root))
    full = os.path.realpath(os.path.join(base, *rel.split("/")))
    if os.path.commonpath([base, full]) != base or full == base:
        raise ModelFileError(f"{what} {rel!r} leaves the model folder (it resolves to "
                             f"{full!r})", member=rel, problem="leaves the model folder")
    return full


def load_json(data: str | bytes, *, file: str | os.PathLike[str], member: str | None = None,
              max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse untrusted JSON: size and nesting bounded, NaN and duplicate keys refused.

    Examples
    --------
    >>> load_json('{"a": [1, 2]}', file="x.json")
    {'a': [1, 2]}
    >>> load_json("[" * 1000 + "]" * 1000, file="x.json")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file 'x.json': JSON nested 1,000 deep (limit 64)
    """
    if not isinstance(data, (str, bytes, bytearray, memoryview)):  # bytes(n) is n zero bytes
        raise fail(file, member, f"JSON must be text or bytes; got {type(data).__name__}")
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise fail(file, member, f"JSON of {len(raw):,} bytes exceeds the limit of "
                                 f"{max_bytes:,}")
    depth = _json_depth(raw)
    if depth > max_depth:
        raise fail(file, member, f"JSON nested {depth:,} deep (limit {max_depth})")
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except ModelFileError as exc:
        raise fail(file, member, exc.problem or str(exc)) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise fail(file, member, f"corrupted JSON ({type(exc).__name__}: {exc})") from None


def read_json(path: str | os.PathLike[str], *, max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Read an untrusted JSON file with :func:`load_json`'s limits (size checked before reading).

    Examples
    --------
    >>> read_json("/nonexistent.json")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file '/nonexistent.json': does not exist
    """
    target = os.fspath(path)
    _regular_file(target)
    try:
        with open(target, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise fail(target, None, "does not exist") from None
    except IsADirectoryError:
        raise fail(target, None, "is a directory, not a file") from None
    except OSError as exc:
        raise fail(target, None, f"cannot be read ({type(exc).__name__}: {exc})") from None
    return load_json(data, file=target, max_bytes=max_bytes, max_depth=max_depth)


def _regular_file(target: str) -> None:
    """Refuse what is not a regular file before opening it (a FIFO would block, a device never end)."""
    if not os.path.lexists(target):
        raise fail(target, None, "does not exist")
    if os.path.isdir(target):
        raise fail(target, None, "is a directory, not a file")
    if not os.path.isfile(target):
        raise fail(target, None, "is not a regular file")


def _no_constant(name: str) -> Any:
    raise ModelFileError(f"JSON holds {name}, which is not a number", problem=f"JSON holds {name}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ModelFileError(f"JSON repeats the key {dup!r}", problem=f"repeated key {dup!r}")
    return out


def _json_depth(raw: bytes, chunk: int = 1 << 22) -> int:
    """Deepest bracket nesting outside strings: O(n) numpy passes over 4 MB chunks, no recursion.

    A quote opens or closes a string unless an odd run of backslashes precedes it; the
    string state, the depth and a trailing backslash run carry over between chunks, so the
    temporary arrays stay a few times the chunk size whatever the document's size.
    """
    b_all = np.frombuffer(raw, dtype=np.uint8)
    n_open = int(np.count_nonzero((b_all == ord("[")) | (b_all == ord("{"))))
    if n_open <= MAX_JSON_DEPTH:  # cannot nest deeper than it opens: nothing to scan
        return n_open
    in_str, depth, deepest, carry_bs = False, 0, 0, 0
    for start in range(0, b_all.size, chunk):
        b = b_all[start:start + chunk]
        n = b.size
        bs = b == ord("\\")
        quote = np.flatnonzero(b == ord('"'))
        toggles = np.zeros(n + 1, dtype=np.int32)
        if quote.size:
            last_non = np.maximum.accumulate(np.where(bs, -1, np.arange(n, dtype=np.int64)))
            before = quote - 1
            run = np.where(before >= 0, before - last_non[np.maximum(before, 0)], 0)
            run = run + np.where((before < 0) | (last_non[np.maximum(before, 0)] < 0),
                                 carry_bs, 0)
            toggles[quote[run % 2 == 0]] = 1
        inside = (np.cumsum(toggles[:-1]) + int(in_str)) % 2 == 1
        step = np.zeros(n, dtype=np.int32)
        step[(b == ord("[")) | (b == ord("{"))] = 1
        step[(b == ord("]")) | (b == ord("}"))] = -1
        step[inside] = 0
        levels = np.cumsum(step, dtype=np.int64) + depth
        deepest = max(deepest, int(levels.max(initial=depth)))
        depth = int(levels[-1]) if n else depth
        in_str = bool(inside[-1]) if n else in_str
        tail = n - 1 - int(np.flatnonzero(~bs)[-1]) if (~bs).any() else n + carry_bs
        carry_bs = tail
    return deepest


def read_arrays(path: str | os.PathLike[str], *, mmap: bool = False,
                max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Every array of an untrusted ``.npz``, each header checked before its data are read.

    Refuses: object or record dtypes, shapes that disagree with the member's
    stored size, arrays beyond ``max_bytes`` (default :func:`memory_budget`) in
    total, compressed members declaring more than :data:`MAX_INFLATE_RATIO`
    times their compressed size, compression methods other than stored and
    deflate, encrypted or repeated members, and CRC mismatches (unless mapped).

    Parameters
    ----------
    path : path-like
    mmap : bool, default False
        Map the large stored members read-only instead of reading them.
    max_bytes : int, optional

    Returns
    -------
    dict of str to ndarray
        Keyed by member name without ``.npy``.

    Raises
    ------
    ModelFileError

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> np.savez_compressed(p, x=np.zeros(10**6))   # 8 MB of zeros deflate to 8 kB
    >>> read_arrays(p)
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file ... 'x': would inflate 7,862 bytes to 8,000,128 (more than 64x): refused as a decompression bomb
    >>> np.savez(p, x=np.zeros(1000))
    >>> read_arrays(p, max_bytes=1000)
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file ... 'x': declares 8,000 bytes, more than the budget of 1,000 bytes
    """
    target = os.fspath(path)
    budget = memory_budget() if max_bytes is None else int(max_bytes)
    _regular_file(target)
    try:
        with open(target, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            with zipfile.ZipFile(fh) as zf:
                return _read_members(fh, zf, target, size, budget, mmap)
    except ModelFileError:
        raise
    except FileNotFoundError:
        raise fail(target, None, "does not exist") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            UnicodeDecodeError, KeyError, struct.error, NotImplementedError, OverflowError,
            tokenize.TokenError, SyntaxError, TypeError, RuntimeError, zlib.error) as exc:
        raise ModelFileError(
            f"model file {target!r} is truncated or corrupted ({type(exc).__name__}: {exc})",
            file=target, problem=f"truncated or corrupted ({type(exc).__name__})") from None


def _read_members(fh: Any, zf: zipfile.ZipFile, target: str, size: int, budget: int,
                  mmap: bool) -> dict[str, np.ndarray]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise fail(target, None, f"holds {len(infos):,} members (limit {MAX_MEMBERS:,})")
    plan = []
    total = 0
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        if not name.endswith(".npy"):
            raise fail(target, name, "is not a .npy array")
        key = name[:-4]
        if key in seen:
            raise fail(target, key, "appears twice in the archive")
        seen.add(key)
        if info.flag_bits & 0x1:
            raise fail(target, key, "is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise fail(target, key, f"uses compression method {info.compress_type}; only "
                                    f"stored and deflate are read")
        if info.compress_size > size or info.header_offset + info.compress_size > size:
            raise fail(target, key, "runs past the end of the file")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise fail(target, key, "has an inconsistent size")
        if (info.compress_type == zipfile.ZIP_DEFLATED
                and info.file_size > MAX_INFLATE_RATIO * info.compress_size + 4096):
            raise fail(target, key, f"would inflate {info.compress_size:,} bytes to "
                                    f"{info.file_size:,} (more than {MAX_INFLATE_RATIO}x): "
                                    f"refused as a decompression bomb")
        with zf.open(info) as stream:
            shape, fortran, dtype, header = _header(stream, target, key)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > budget:
            raise fail(target, key, f"declares {nbytes:,} bytes, more than the budget of "
                                    f"{budget:,} bytes")
        if header + nbytes != info.file_size:
            raise fail(target, key, f"declares shape {shape} of {dtype} ({nbytes:,} bytes) "
                                    f"but holds {info.file_size - header:,} bytes")
        total += nbytes
        if total > budget:
            raise fail(target, key, f"the arrays declare {total:,} bytes in all, more than the "
                                    f"budget of {budget:,} bytes")
        plan.append((info, key, shape, fortran, dtype, header, nbytes))
    out: dict[str, np.ndarray] = {}
    mm: _mmap.mmap | None = None
    for info, key, shape, fortran, dtype, header, nbytes in plan:
        order: Literal["C", "F"] = "F" if fortran else "C"
        if mmap and info.compress_type == zipfile.ZIP_STORED and info.file_size >= _MMAP_MIN_BYTES:
            start = _data_start(fh, info, target, key)
            offset = start + header
            if offset + nbytes > size:
                raise fail(target, key, "runs past the end of the file")
            if mm is None:
                mm = _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_READ)
            out[key] = _native(np.ndarray(shape, dtype=dtype, buffer=mm, offset=offset,
                                          order=order))
            continue
        buf = np.empty(nbytes, dtype=np.uint8)
        with zf.open(info) as stream:
            stream.read(header)
            view = buf.data
            got = 0
            while got < nbytes:
                n = stream.readinto(view[got:got + _CHUNK])  # type: ignore[attr-defined]
                if not n:
                    raise fail(target, key, f"ends after {got:,} of {nbytes:,} bytes")
                got += n
            if stream.read(1):  # reaching the end checks the CRC-32 too
                raise fail(target, key, "holds more bytes than its header declares")
        out[key] = _native(np.ndarray(shape, dtype=dtype, buffer=buf, order=order))
    return out


def _native(a: np.ndarray) -> np.ndarray:
    """``a`` in the machine's byte order (a big-endian member must not leak ``>f8`` into results).

    A byte-swapped array holds the same values, but its dtype would travel into
    results (``dtype='>U6'``) and into pyarrow, which refuses byte-swapped data.
    """
    if a.dtype.isnative:
        return a
    return a.astype(a.dtype.newbyteorder("="))


def _header(stream: Any, target: str, key: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran flag, dtype and header length of a ``.npy`` stream; hostile ones refused."""
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(stream)
    else:
        raise fail(target, key, f".npy format version {version} is not read")
    header = stream.tell()
    if dtype.hasobject:
        raise fail(target, key, "holds Python objects, which are never loaded (no pickle)")
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in _ALLOWED_KINDS:
        raise fail(target, key, f"has dtype {dtype}; only plain numbers, booleans, text and "
                                f"times are read")
    if dtype.itemsize == 0:
        raise fail(target, key, f"has the zero-size dtype {dtype}")
    if not isinstance(shape, tuple) or len(shape) > 32 or any(
            type(d) is not int or d < 0 for d in shape):
        raise fail(target, key, f"declares the invalid shape {shape!r}")
    return shape, bool(fortran), dtype, header


def _data_start(fh: Any, info: zipfile.ZipInfo, target: str, key: str) -> int:
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise fail(target, key, "has a bad local header")
    n_name, n_extra = struct.unpack("<HH", local[26:30])
    return int(info.header_offset + 30 + n_name + n_extra)


# --------------------------------------------------------------------------- content checks
def check_array(a: Any, *, file: str | os.PathLike[str], member: str, kind: str = "f",
                ndim: int | None = None, shape: tuple[int | None, ...] | None = None,
                finite: bool = True, low: float | None = None, high: float | None = None
                ) -> np.ndarray:
    """Check a loaded array as strictly as a freshly fitted one; return it unchanged.

    Parameters
    ----------
    a : ndarray
    file, member : str
        For the message.
    kind : str, default "f"
        Allowed dtype kinds: ``"f"`` real floats (integers accepted too),
        ``"i"`` integers (``i`` or ``u``), ``"b"`` booleans, ``"U"`` text,
        ``"M"`` datetimes, or several (``"iU"``). Complex is never a float.
    ndim : int, optional
    shape : tuple, optional
        Expected shape; None entries match any length.
    finite : bool, default True
        Floats must be finite (no NaN, no inf).
    low, high : float, optional
        Inclusive bounds on the values (numbers only).

    Raises
    ------
    ModelFileError
        Names the file, the member and what is wrong.

    Examples
    --------
    >>> check_array(np.array([0.5, np.nan]), file="m.npz", member="scores")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file 'm.npz', member 'scores': holds NaN or inf
    >>> check_array(np.array([1, 7]), file="m.npz", member="codes", kind="i", high=3)
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file 'm.npz', member 'codes': holds 7, above 3
    """
    if not isinstance(a, np.ndarray):
        raise fail(file, member, f"is missing or not an array ({type(a).__name__})")
    allowed = set(kind)
    if "i" in allowed:
        allowed.add("u")
    if "f" in allowed:
        allowed |= {"i", "u"}
    if a.dtype.kind not in allowed:
        raise fail(file, member, f"has dtype {a.dtype}; expected {_KIND_NAMES.get(kind, kind)}")
    if ndim is not None and a.ndim != ndim:
        raise fail(file, member, f"has {a.ndim} dimension(s), expected {ndim}")
    if shape is not None and (a.ndim != len(shape) or any(
            want is not None and have != want for have, want in zip(a.shape, shape, strict=True))):
        raise fail(file, member, f"has shape {a.shape}, expected "
                                 f"{tuple('any' if w is None else w for w in shape)}")
    if a.size and a.dtype.kind in "fiu":
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            raise fail(file, member, "holds NaN or inf")
        if low is not None or high is not None:
            # compared as Python numbers: a float16 member against a bound like 1e12
            # overflows numpy's cast (RuntimeWarning), and uint64 vs float loses digits
            lo, hi = a.min().item(), a.max().item()
            if low is not None and lo < low:
                raise fail(file, member, f"holds {lo!r}, below {low!r}")
            if high is not None and hi > high:
                raise fail(file, member, f"holds {hi!r}, above {high!r}")
    return a


_KIND_NAMES = {"f": "real numbers", "i": "integers", "b": "booleans", "U": "text",
               "M": "datetimes", "iU": "integer or text ids", "S": "ASCII bytes"}


def check_csr(arrays: Mapping[str, Any], prefix: str, shape: tuple[int, int], *,
              file: str | os.PathLike[str], low: float | None = None) -> Any:
    """Check a saved sparse matrix (``<prefix>indptr``, ``indices``, ``data``) and build it.

    ``indptr`` must start at 0, never decrease and end at the number of stored
    entries; ``indices`` lie in ``[0, shape[1])``; ``data`` are finite real
    numbers (at least ``low`` when given). O(nnz) numpy passes, no copies of
    memory-mapped arrays beyond what scipy makes.

    Returns
    -------
    scipy.sparse.csr_matrix

    Examples
    --------
    >>> arrs = {"indptr": np.array([0, 1]), "indices": np.array([5]), "data": np.ones(1)}
    >>> check_csr(arrs, "", (1, 3), file="m.npz")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file 'm.npz', member 'indices': holds 5, above 2
    """
    import scipy.sparse as sp

    n_rows, n_cols = shape
    indptr = check_array(arrays.get(prefix + "indptr"), file=file, member=prefix + "indptr",
                         kind="i", shape=(n_rows + 1,), low=0)
    nnz = int(indptr[-1])
    indices = check_array(arrays.get(prefix + "indices"), file=file, member=prefix + "indices",
                          kind="i", shape=(nnz,), low=0, high=n_cols - 1)
    data = check_array(arrays.get(prefix + "data"), file=file, member=prefix + "data",
                       kind="f", shape=(nnz,), low=low)
    if int(indptr[0]) != 0 or (n_rows and bool((np.diff(indptr) < 0).any())):
        raise fail(file, prefix + "indptr", "does not start at 0 and never decrease")
    return sp.csr_matrix((data, indices, indptr), shape=shape)


def check_index(a: Any, n: int, *, file: str | os.PathLike[str], member: str,
                shape: tuple[int | None, ...] | None = None, allow_missing: bool = False
                ) -> np.ndarray:
    """Check integer positions into something of length ``n`` (``-1`` allowed when asked).

    Examples
    --------
    >>> check_index(np.array([0, 2]), 2, file="m.npz", member="codes")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file 'm.npz', member 'codes': holds 2, above 1
    """
    return check_array(a, file=file, member=member, kind="i", ndim=None if shape else 1,
                       shape=shape, low=-1 if allow_missing else 0, high=n - 1)


def check_params(model: Any, params: Any, *, file: str | os.PathLike[str],
                 fit_state: Mapping[str, Any] | None = None) -> Any:
    """Rebuild an estimator from saved parameters and run its own parameter checks.

    ``model`` is the class; ``params`` the saved mapping. The estimator's
    ``_validate_params`` (the checks ``fit`` runs) must accept them.
    ``fit_state``: attributes ``fit`` would have set before its checks (the
    check may read them); removed again afterwards.

    Examples
    --------
    >>> from upsell.cf import ItemKNN
    >>> check_params(ItemKNN, {"n_neighbors": -5}, file="m.npz")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file 'm.npz', member 'params': `n_neighbors` must be an integer in [1, 2147483647]; got -5
    """
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise fail(file, "params", "must be a JSON object")
    try:
        obj = model(**params)
        validate = getattr(obj, "_validate_params", None)
        if callable(validate):
            state = dict(fit_state or {})
            for k, v in state.items():
                setattr(obj, k, v)
            try:
                validate()
            finally:
                for k in state:
                    delattr(obj, k)
    except ModelFileError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise fail(file, "params", str(exc)) from None
    return obj
