"""Model directories: written in a temporary sibling, flushed, then swapped in atomically."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable

from upsell.exceptions import ModelFileError

MANIFEST = "recommender.json"
_RENAME_EXCHANGE = 2


def fsync_path(path: str) -> None:
    """Flush a file or directory to disk (directories: where supported)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False when unavailable."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    res = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return int(res) == 0


def write_directory(path: str | os.PathLike[str], fill: Callable[[str], None]) -> None:
    """Call ``fill(tmpdir)``, flush everything, then put the directory at ``path`` atomically.

    An existing directory at ``path`` is replaced only if it is a saved
    recommender (holds the manifest) or empty; readers see the old or the new
    directory, never a mix (Linux: one ``renameat2`` exchange; elsewhere two
    renames, with a moment in which ``path`` is absent).
    """
    target = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise ModelFileError(f"cannot save to {target!r}: folder {parent!r} does not exist")
    if os.path.lexists(target):
        if not os.path.isdir(target) or os.path.islink(target):
            raise ModelFileError(f"cannot save to {target!r}: it exists and is not a directory")
        if os.listdir(target) and not os.path.isfile(os.path.join(target, MANIFEST)):
            raise ModelFileError(
                f"refusing to replace {target!r}: it is a non-empty directory that is not a "
                f"saved recommender")
    tmp = tempfile.mkdtemp(prefix=".upsell-save-", dir=parent)
    try:
        fill(tmp)
        for root, _dirs, files in os.walk(tmp):
            for f in files:
                fsync_path(os.path.join(root, f))
            fsync_path(root)
        if not os.path.exists(target):
            os.rename(tmp, target)
        elif _exchange(tmp, target):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old directory
        else:
            old = tempfile.mkdtemp(prefix=".upsell-old-", dir=parent)
            os.rmdir(old)
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        fsync_path(parent)
    except BaseException:
        with contextlib.suppress(OSError):
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        raise
