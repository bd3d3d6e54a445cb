"""Atomic file writes, shared by the model files (:mod:`upsell.persist`), the data writers and
the report; public as :func:`upsell.persist.atomic_write_bytes`.

It lives below :mod:`upsell.data` and :mod:`upsell.persist` so that writing a file does not tie
the data layer to the model files (which read ``IdIndex`` from data).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from upsell.exceptions import ModelFileError

__all__ = ["atomic_write_bytes"]


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
