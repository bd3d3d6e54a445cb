"""Model files: numpy arrays and JSON metadata in one ``.npz``, written atomically, never pickled.

A model file is an uncompressed ``.npz`` archive whose entries are the model's
arrays plus ``__meta__``, the UTF-8 bytes of a JSON document holding the
format version, the model kind, its parameters and id maps. It is loaded with
``allow_pickle=False``: object arrays are refused, so loading never runs code.
Writes go to a temporary file in the same folder, are flushed to disk and
renamed over the target, so a crash mid-save leaves the previous file intact.

Id maps (:class:`~upsell.data.IdIndex`) are stored as arrays, not JSON: the
ids in index order plus the permutation that sorts them (``<key>`` and
``<key>.sorter``, see :func:`index_arrays`), so loading a million ids is a
read and a linear check instead of JSON parsing and a sort, and components
loaded together can share one index (:func:`index_from_arrays`, ``ids=``).
Version 1 files (ids as JSON lists or without a sorter) still load.
"""

from __future__ import annotations

import hashlib
import json
import mmap as _mmap
import os
import struct
import tempfile
import threading
import tokenize
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from upsell.data.ids import IdIndex
from upsell.exceptions import ModelFileError

__all__ = ["FORMAT_VERSION", "atomic_write_bytes", "index_arrays", "index_from_arrays",
           "read_model", "write_model"]

#: Version of the model file layout; files with a larger version are refused.
#: 2: id maps stored as arrays with their sort permutation (1: JSON lists).
FORMAT_VERSION = 2
_META = "__meta__"
_SORTER = ".sorter"
#: Arrays at least this large are memory-mapped by ``read_model(..., mmap=True)``.
_MMAP_MIN_BYTES = 1 << 16


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], writer: Any, *,
                       mode: int | None = None) -> None:
    """Call ``writer(fileobj)`` on a temporary file, then rename it over ``path``.

    The temporary file is private (``0o600``); ``mode`` sets other permission
    bits before the rename (e.g. ``0o644`` for a file others may read).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> atomic_write_bytes(p, lambda fh: fh.write(b"ok"))
    >>> p.read_bytes()
    b'ok'
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise ModelFileError(f"cannot write {target!r}: folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".upsell-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_model(path: str | os.PathLike[str], *, kind: str, params: Mapping[str, Any],
                arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> None:
    """Save arrays and JSON metadata as one ``.npz`` file, atomically.

    Parameters
    ----------
    path : path-like
        Target file (conventionally ending in ``.npz``).
    kind : str
        Model class name, checked on load.
    params : mapping
        Constructor parameters (JSON-serialisable).
    arrays : mapping of str to ndarray
        Learned arrays; object dtypes are refused.
    meta : mapping, optional
        Further JSON-serialisable data (id maps, ...).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> write_model(p, kind="Demo", params={"k": 3}, arrays={"w": np.arange(3.0)})
    >>> doc, arrs = read_model(p, kind="Demo")
    >>> doc["params"], arrs["w"].tolist()
    ({'k': 3}, [0.0, 1.0, 2.0])
    """
    clean: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        arr = np.asarray(a)
        if arr.dtype.kind == "O":
            raise ModelFileError(f"array {name!r} has object dtype; it cannot be saved without pickle")
        if name == _META:
            raise ModelFileError(f"array name {_META!r} is reserved")
        clean[name] = arr
    doc = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "params": dict(params),
        "meta": dict(meta or {}),
        "arrays_sha256": _digest(clean),
    }
    try:
        text = json.dumps(doc, ensure_ascii=False, allow_nan=True, default=_json_default)
    except TypeError as exc:
        raise ModelFileError(f"model metadata is not JSON-serialisable: {exc}") from None
    payload = dict(clean)
    payload[_META] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    atomic_write_bytes(path, lambda fh: np.savez(fh, **payload))  # type: ignore[arg-type]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def read_model(path: str | os.PathLike[str], *, kind: str | tuple[str, ...],
               verify: bool = True, mmap: bool = False
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load a file written by :func:`write_model`, checking kind, version and integrity.

    Parameters
    ----------
    path : path-like
    kind : str or tuple of str
        Model class name(s) accepted.
    verify : bool, default True
        Check the SHA-256 of the arrays against the one saved in the file. A
        caller that has already checked a digest of the whole file (as
        :meth:`upsell.Recommender.load` does with its manifest) passes False so
        that no byte is hashed twice; the zip structure is still checked.
    mmap : bool, default False
        Memory-map arrays of 64 KiB or more read-only instead of copying them
        into memory (files are stored uncompressed, so each array is a slice of
        the file). Loading then costs no copy, and processes serving the same
        files share the pages. Mapped arrays are read-only; the file's CRC-32s
        are not checked for them, so pair it with ``verify`` or a manifest digest.

    Returns
    -------
    doc : dict
        ``format_version``, ``kind``, ``params`` and ``meta``.
    arrays : dict of str to ndarray

    Raises
    ------
    ModelFileError
        Missing, truncated or corrupted file, another kind of model, or a newer format.

    Examples
    --------
    >>> read_model("/nonexistent/model.npz", kind="ALS")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file '/nonexistent/model.npz' does not exist
    """
    target = os.fspath(path)
    if not os.path.isfile(target):
        raise ModelFileError(f"model file {target!r} does not exist")
    try:
        with open(target, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            names = list(npz.files)
            if _META not in names:
                raise ModelFileError(f"{target!r} is not an upsell model file (no metadata)")
            text = npz[_META].tobytes().decode("utf-8")
            mapped = _map_members(fh, npz.zip) if mmap else {}
            arrays = {n: mapped[n] if n in mapped else npz[n] for n in names if n != _META}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError, KeyError,
            struct.error, NotImplementedError, tokenize.TokenError, SyntaxError) as exc:
        raise ModelFileError(
            f"model file {target!r} is truncated or corrupted ({type(exc).__name__}: {exc})"
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"model file {target!r} has corrupted metadata ({exc})") from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"model file {target!r} has corrupted metadata")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"model file {target!r} has format version {version!r}; this upsell reads versions "
            f"up to {FORMAT_VERSION}: upgrade upsell to load it"
        )
    kinds = (kind,) if isinstance(kind, str) else kind
    if doc.get("kind") not in kinds:
        raise ModelFileError(
            f"model file {target!r} holds a {doc.get('kind')!r} model, not {' or '.join(kinds)}"
        )
    if verify and doc.get("arrays_sha256") != _digest(arrays):
        raise ModelFileError(f"model file {target!r} is corrupted (array checksum mismatch)")
    return doc, arrays


def _map_members(fh: Any, zf: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """Read-only arrays viewing the file's pages, for the large stored ``.npy`` members."""
    mm: _mmap.mmap | None = None
    out: dict[str, np.ndarray] = {}
    for info in zf.infolist():
        if (info.compress_type != zipfile.ZIP_STORED or info.file_size < _MMAP_MIN_BYTES
                or not info.filename.endswith(".npy")):
            continue
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local header for {info.filename!r}")
        n_name, n_extra = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + n_name + n_extra
        fh.seek(start)
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            continue
        if dtype.hasobject:
            raise ValueError(f"{info.filename!r} holds objects, which are never loaded")
        offset = fh.tell()
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset - start + nbytes != info.file_size:
            raise zipfile.BadZipFile(f"member {info.filename!r} has an inconsistent size")
        if mm is None:
            mm = _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_READ)
        if offset + nbytes > len(mm):
            raise EOFError(f"member {info.filename!r} runs past the end of the file")
        out[info.filename[:-4]] = np.ndarray(shape, dtype=dtype, buffer=mm, offset=offset,
                                             order="F" if fortran else "C")
    return out


def index_arrays(index: IdIndex, key: str) -> dict[str, np.ndarray]:
    """The arrays that store an id map in a model file: ids and their sort permutation.

    Parameters
    ----------
    index : IdIndex
    key : str
        Array name of the ids; the permutation is stored as ``key + ".sorter"``.

    Returns
    -------
    dict of str to ndarray
        ``{key: ids in index order, key + ".sorter": int32 positions that sort them}``,
        ready to merge into the ``arrays`` of :func:`write_model`.

    Examples
    --------
    >>> from upsell import IdIndex
    >>> arrs = index_arrays(IdIndex(["b", "a", "c"], name="item"), "items")
    >>> sorted(arrs), arrs["items.sorter"].tolist()
    (['items', 'items.sorter'], [1, 0, 2])
    """
    # the index keeps the int32 permutation that sorts its (unique) ids: no sort on save
    return {key: index.ids, key + _SORTER: index._sorter}


def index_from_arrays(arrays: dict[str, np.ndarray], key: str, *, name: str,
                      ids: Iterable[IdIndex] = (), legacy: Any = None) -> IdIndex:
    """Rebuild an id map saved by :func:`index_arrays`, reusing an equal index when given one.

    Removes ``key`` and ``key + ".sorter"`` from ``arrays``. With the sort
    permutation saved, nothing is sorted: one linear pass checks that the ids
    are unique and the permutation sorts them. No dictionary is built (lookups
    use binary search until a caller asks for a dictionary-backed lookup).

    Parameters
    ----------
    arrays : dict of str to ndarray
        As returned by :func:`read_model`; the id arrays are popped.
    key : str
        Array name used when saving.
    name : str
        What the ids are ("customer", "item"), for messages.
    ids : iterable of IdIndex, optional
        Indexes already loaded (by the other components of a recommender, say).
        When one holds exactly the saved ids, it is returned instead of a new
        index, so one million customer ids are held once, not once per component.
        When ``ids`` is a list, an index built here is appended to it, so the
        components loaded after this one can share it too.
    legacy : array-like or dict, optional
        What version 1 files stored instead (a plain id array, or the JSON of
        :meth:`IdIndex.to_json`); used when ``key`` is absent.

    Returns
    -------
    IdIndex

    Raises
    ------
    ModelFileError
        The ids repeat, the permutation does not sort them, or neither the
        arrays nor ``legacy`` hold the ids.

    Examples
    --------
    >>> from upsell import IdIndex
    >>> shared = IdIndex([10, 30, 20], name="customer")
    >>> arrs = index_arrays(shared, "customers")
    >>> index_from_arrays(dict(arrs), "customers", name="customer") == shared
    True
    >>> index_from_arrays(dict(arrs), "customers", name="customer", ids=[shared]) is shared
    True
    >>> index_from_arrays({}, "items", name="item", legacy=["a", "b"]).ids.tolist()
    ['a', 'b']
    """
    stored = arrays.pop(key, None)
    sorter = arrays.pop(key + _SORTER, None)
    if stored is None:
        if legacy is None:
            raise ModelFileError(f"the file holds no {name} ids ({key!r})")
        if isinstance(legacy, Mapping):
            index = IdIndex.from_json(dict(legacy))
        else:
            index = IdIndex(legacy, name=name)
        found = _shared(index.ids, ids)
    else:
        found = _shared(stored, ids)
        if found is None:
            if sorter is None:  # version 1: ids without their permutation
                index = IdIndex(np.asarray(stored), name=name)
            else:
                index = _from_parts(np.asarray(stored), np.asarray(sorter), name)
    if found is not None:
        return found
    if isinstance(ids, list):
        ids.append(index)
    return index


def _shared(stored: np.ndarray, candidates: Iterable[IdIndex]) -> IdIndex | None:
    for cand in candidates:
        have = cand.ids
        if (have.shape == stored.shape and have.dtype.kind == stored.dtype.kind
                and np.array_equal(have, stored)):
            return cand
    return None


def _from_parts(stored: np.ndarray, sorter: np.ndarray, name: str) -> IdIndex:
    if stored.ndim != 1 or stored.dtype.kind not in "iU" or sorter.shape != stored.shape \
            or sorter.dtype.kind not in "iu":
        raise ModelFileError(f"the saved {name} ids are malformed")
    n = stored.size
    if n and (int(sorter.min()) < 0 or int(sorter.max()) >= n):
        raise ModelFileError(f"the saved {name} id permutation is out of range")
    ids = np.asarray(stored, dtype=np.int64 if stored.dtype.kind == "i" else stored.dtype)
    srt = ids[sorter]
    if n > 1 and not bool(np.all(srt[1:] > srt[:-1])):
        raise ModelFileError(f"the saved {name} ids repeat or their permutation does not sort "
                             f"them")
    ids.flags.writeable = False
    srt.flags.writeable = False
    try:
        # the constructor's argsort and duplicate scan are what the check above replaced
        out = IdIndex.__new__(IdIndex)
        out._ids = ids
        out._sorter = np.asarray(sorter, dtype=np.int32)
        out._sorted = srt
        out._name = name
        out._dict = None
        out._lock = threading.Lock()
        out.kind  # noqa: B018 - fails early if IdIndex's layout changed
    except AttributeError:  # pragma: no cover - IdIndex changed its private layout
        return IdIndex(ids, name=name)
    return out
