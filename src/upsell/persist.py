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

A model file is untrusted input (docs/hardening.md, "Trust model"). Reading is
bounded: :func:`read_arrays` checks every ``.npy`` header (dtype, shape, size
against a budget, inflate ratio) before reading or inflating a byte, and
:func:`load_json` bounds size and nesting. The checkers :func:`check_array`,
:func:`check_csr`, :func:`check_index` and :func:`check_params` let each
model's ``load`` check its contents as strictly as a fit leaves them, and
:func:`resolve_inside` confines paths named in a manifest to the model folder.
Every failure is a :class:`~upsell.exceptions.ModelFileError` naming the file,
the member and the problem (:func:`fail`, :func:`corrupted`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from upsell._atomic import atomic_write_bytes
from upsell._model_files import (
    CONTENT_ERRORS,
    MAX_INFLATE_RATIO,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_MEMBERS,  # noqa: F401 - re-exported
    _json_depth,  # noqa: F401 - re-exported for tests
    check_array,
    check_csr,
    check_index,
    check_params,
    corrupted,
    fail,
    load_json,
    memory_budget,
    read_arrays,
    read_json,
    resolve_inside,
)
from upsell.data.ids import IdIndex
from upsell.exceptions import ModelFileError

__all__ = ["CONTENT_ERRORS", "FORMAT_VERSION", "MAX_INFLATE_RATIO", "MAX_JSON_BYTES",
           "MAX_JSON_DEPTH", "atomic_write_bytes", "check_array", "check_csr", "check_index",
           "check_params", "corrupted", "fail", "index_arrays", "index_from_arrays", "load_json",
           "memory_budget", "read_arrays", "read_json", "read_model", "resolve_inside",
           "write_model"]

#: Version of the model file layout; files with a larger version are refused.
#: 2: id maps stored as arrays with their sort permutation (1: JSON lists).
#: 3: ASCII text ids stored as bytes (``<key>.ascii``); a file without them is written as 2,
#: so an older upsell still reads it.
FORMAT_VERSION = 3
_IDS_AS_ARRAYS = 2
_META = "__meta__"
_SORTER = ".sorter"
_ASCII = ".ascii"


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


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
        "format_version": (FORMAT_VERSION if any(k.endswith(_ASCII) for k in arrays)
                           else _IDS_AS_ARRAYS),
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
               verify: bool = True, mmap: bool = False, max_bytes: int | None = None
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load a file written by :func:`write_model`, checking kind, version and integrity.

    The file is untrusted input. Every ``.npy`` header is read and checked
    (dtype: numbers, booleans, text or times, never objects or records; shape
    consistent with the member's stored size; size within the budget) before a
    byte of its data is read or inflated, and compressed members are inflated
    as a stream that stops at the declared size. Nothing is unpickled.

    Parameters
    ----------
    path : path-like
    kind : str or tuple of str
        Model class name(s) accepted.
    verify : bool, default True
        Check the SHA-256 of the arrays against the one saved in the file. A
        caller that has already checked a digest of the whole file (as
        :meth:`upsell.Recommender.load` does with its manifest) passes False so
        that no byte is hashed twice; the zip structure is still checked. The
        checksum guards against damage, not against a deliberate edit (it is
        stored in the same file): the callers validate the contents.
    mmap : bool, default False
        Memory-map arrays of 64 KiB or more read-only instead of copying them
        into memory (files are stored uncompressed, so each array is a slice of
        the file). Loading then costs no copy, and processes serving the same
        files share the pages. Mapped arrays are read-only; the file's CRC-32s
        are not checked for them, so pair it with ``verify`` or a manifest digest.
        Compressed members are never mapped; they are inflated within the budget.
    max_bytes : int, optional
        Most bytes the arrays may take in memory once read (mapped members
        count too). Default: :func:`memory_budget`. Compressed members may in
        addition inflate to at most :data:`MAX_INFLATE_RATIO` times their size.

    Returns
    -------
    doc : dict
        ``format_version``, ``kind``, ``params`` and ``meta``.
    arrays : dict of str to ndarray

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted or hostile file (object arrays, sizes
        beyond the budget, a decompression bomb), another kind of model, or a
        newer format. ``file``, ``member`` and ``problem`` say which and why.

    Examples
    --------
    >>> read_model("/nonexistent/model.npz", kind="ALS")
    Traceback (most recent call last):
    ...
    upsell.exceptions.ModelFileError: model file '/nonexistent/model.npz' does not exist
    """
    target = os.fspath(path)
    if not os.path.isfile(target):
        raise ModelFileError(f"model file {target!r} does not exist", file=target,
                             problem="does not exist")
    arrays = read_arrays(target, mmap=mmap, max_bytes=max_bytes)
    meta = arrays.pop(_META, None)
    if meta is None:
        raise ModelFileError(f"{target!r} is not an upsell model file (no metadata)",
                             file=target, member=_META, problem="no metadata")
    if meta.dtype != np.uint8 or meta.ndim != 1:
        raise fail(target, _META, f"must be a 1-D uint8 array; got {meta.dtype} {meta.shape}")
    doc = load_json(meta.tobytes(), file=target, member=_META)
    if not isinstance(doc, dict):
        raise ModelFileError(f"model file {target!r} has corrupted metadata", file=target,
                             member=_META, problem="not a JSON object")
    version = doc.get("format_version")
    if type(version) is not int or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"model file {target!r} has format version {version!r}; this upsell reads versions "
            f"up to {FORMAT_VERSION}: upgrade upsell to load it", file=target,
            member="format_version", problem=f"format version {version!r}")
    kinds = (kind,) if isinstance(kind, str) else kind
    if doc.get("kind") not in kinds:
        raise ModelFileError(
            f"model file {target!r} holds a {doc.get('kind')!r} model, not {' or '.join(kinds)}",
            file=target, member="kind", problem=f"kind {doc.get('kind')!r}")
    for key in ("params", "meta"):
        if not isinstance(doc.setdefault(key, {}), dict):
            raise fail(target, key, f"must be a JSON object; got {type(doc[key]).__name__}")
    if verify and doc.get("arrays_sha256") != _digest(arrays):
        raise ModelFileError(f"model file {target!r} is corrupted (array checksum mismatch)",
                             file=target, problem="array checksum mismatch")
    return doc, arrays


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
        ready to merge into the ``arrays`` of :func:`write_model`. Text ids that are
        all ASCII are stored as bytes instead, under ``key + ".ascii"``: numpy holds
        text as 4 bytes per character, so a million 64-character hashed customer ids
        take 64 MB on disk instead of 256 MB.

    Examples
    --------
    >>> from upsell import IdIndex
    >>> arrs = index_arrays(IdIndex(["b", "a", "c"], name="item"), "items")
    >>> sorted(arrs), arrs["items.ascii"].dtype.str, arrs["items.sorter"].tolist()
    (['items.ascii', 'items.sorter'], '|S1', [1, 0, 2])
    >>> sorted(index_arrays(IdIndex(["café", "tea"], name="item"), "items"))
    ['items', 'items.sorter']
    """
    # the index keeps the int32 permutation that sorts its (unique) ids: no sort on save,
    # and holds ASCII text as bytes already (IdIndex): written as it is held
    held = index._ids
    return {key + (_ASCII if held.dtype.kind == "S" else ""): held, key + _SORTER: index._sorter}


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
    >>> text = IdIndex(["c-1", "c-22"], name="customer")  # stored as ASCII bytes
    >>> arrs = index_arrays(text, "customers")
    >>> index_from_arrays(dict(arrs), "customers", name="customer", ids=[text]) is text
    True
    >>> index_from_arrays({}, "items", name="item", legacy=["a", "b"]).ids.tolist()
    ['a', 'b']
    """
    stored = arrays.pop(key, None)
    sorter = arrays.pop(key + _SORTER, None)
    packed = arrays.pop(key + _ASCII, None)
    if packed is not None:
        stored = _unpack_ascii(stored, packed, name)
    if stored is None:
        if legacy is None:
            raise ModelFileError(f"the file holds no {name} ids ({key!r})")
        if isinstance(legacy, Mapping):
            index = IdIndex.from_json(dict(legacy))
        else:
            index = IdIndex(legacy, name=name)
        found = _shared(index._ids, ids)
    else:
        stored = np.asarray(stored)
        if stored.dtype.kind == "U" and stored.dtype.itemsize:  # files before version 3
            try:  # ASCII text is held as bytes (IdIndex)
                stored = stored.astype(f"S{stored.dtype.itemsize // 4}")
            except UnicodeEncodeError:
                pass
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


def _unpack_ascii(stored: Any, packed: np.ndarray, name: str) -> np.ndarray:
    """Text ids as their ASCII bytes (``index_arrays``; an IdIndex holds them so), checked as
    untrusted input."""
    if stored is not None or packed.ndim != 1 or packed.dtype.kind != "S" \
            or packed.dtype.itemsize == 0:
        raise ModelFileError(f"the saved {name} ids are malformed")
    codes = np.ascontiguousarray(packed).view(np.uint8)
    step = 1 << 24
    if any(int(codes[i:i + step].max(initial=0)) >= 0x80 for i in range(0, codes.size, step)):
        raise ModelFileError(f"the saved {name} ids are malformed (not ASCII)")
    return packed


def _shared(stored: np.ndarray, candidates: Iterable[IdIndex]) -> IdIndex | None:
    """The candidate that holds exactly ``stored`` (compared as held: ASCII text as bytes)."""
    for cand in candidates:
        have = cand._ids
        if (have.shape == stored.shape and have.dtype.kind == stored.dtype.kind
                and np.array_equal(have, stored)):
            return cand
    return None


def _from_parts(stored: np.ndarray, sorter: np.ndarray, name: str) -> IdIndex:
    if stored.ndim != 1 or stored.dtype.kind not in "iUS" or sorter.shape != stored.shape \
            or sorter.dtype.kind not in "iu":
        raise ModelFileError(f"the saved {name} ids are malformed")
    n = stored.size
    if n and (int(sorter.min()) < 0 or int(sorter.max()) >= n):
        raise ModelFileError(f"the saved {name} id permutation is out of range")
    ids = np.asarray(stored, dtype=np.int64 if stored.dtype.kind == "i" else stored.dtype)
    # ids saved in sorted order (as Transactions builds them) are their own sorted copy:
    # no second array (116 MB for 454,545 64-character ids)
    srt = ids if np.array_equal(sorter, np.arange(n)) else ids[sorter]
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
        out._text = None
        out._lock = threading.Lock()
        out.kind  # noqa: B018 - fails early if IdIndex's layout changed
    except AttributeError:  # pragma: no cover - IdIndex changed its private layout
        return IdIndex(ids, name=name)
    return out
