"""Model files: numpy arrays and JSON metadata in one ``.npz``, written atomically, never pickled.

A model file is an uncompressed ``.npz`` archive whose entries are the model's
arrays plus ``__meta__``, the UTF-8 bytes of a JSON document holding the
format version, the model kind, its parameters and id maps. It is loaded with
``allow_pickle=False``: object arrays are refused, so loading never runs code.
Writes go to a temporary file in the same folder, are flushed to disk and
renamed over the target, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from upsell.exceptions import ModelFileError

__all__ = ["FORMAT_VERSION", "atomic_write_bytes", "read_model", "write_model"]

#: Version of the model file layout; files with a larger version are refused.
FORMAT_VERSION = 1
_META = "__meta__"


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], writer: Any) -> None:
    """Call ``writer(fileobj)`` on a temporary file, then rename it over ``path``.

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


def read_model(path: str | os.PathLike[str], *, kind: str | tuple[str, ...]
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load a file written by :func:`write_model`, checking kind, version and integrity.

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
            arrays = {n: npz[n] for n in names if n != _META}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError, KeyError) as exc:
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
    if doc.get("arrays_sha256") != _digest(arrays):
        raise ModelFileError(f"model file {target!r} is corrupted (array checksum mismatch)")
    return doc, arrays
