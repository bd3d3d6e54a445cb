"""CSV files inside a ZIP archive, read without unpacking it: an export as a shop's system
mails it, a data set as it is downloaded. One CSV member is read as the file; several are
read as one history (:mod:`upsell.data._parts`) when they share their header line (monthly
exports zipped together), else the archive is refused with its members named (a set of
different tables, such as Olist's, is unpacked and the lines file read).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from upsell.exceptions import UpsellDataError

__all__ = ["Member", "members"]


@dataclass(frozen=True)
class Member:
    """One file inside a ZIP archive.

    Examples
    --------
    >>> Member("exports.zip", "2011-01.csv").label
    'exports.zip:2011-01.csv'
    """

    archive: str
    name: str

    @property
    def label(self) -> str:
        """How messages name it: ``archive.zip:member.csv``."""
        return f"{self.archive}:{self.name}"

    def read(self) -> bytes:
        """The member's bytes (inflated); a damaged or encrypted one is an error naming it."""
        try:
            with zipfile.ZipFile(self.archive) as z:
                return z.read(self.name)
        except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:
            raise UpsellDataError(f"{self.label} cannot be read from the archive ({exc}); "
                                  "unpack it and read the file") from None


def members(path: Any, suffixes: tuple[str, ...]) -> list[Member]:
    """The CSV members (names ending in ``suffixes``) of the ZIP archive ``path``, by name:
    one, or several that share their header line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "exports.zip"
    >>> with zipfile.ZipFile(p, "w") as z:
    ...     z.writestr("2011-02.csv", "order,item\\n2,A\\n")
    ...     z.writestr("2011-01.csv", "order,item\\n1,A\\n")
    >>> [m.name for m in members(p, (".csv",))]
    ['2011-01.csv', '2011-02.csv']
    """
    from upsell.data._parts import named

    archive = os.fspath(path)
    try:
        with zipfile.ZipFile(archive) as z:
            infos = [i for i in z.infolist() if not i.is_dir()
                     and not i.filename.startswith("__MACOSX/")]
            names = [i.filename for i in infos]
            found = sorted(n for n in names
                           if named(os.path.basename(n), suffixes)
                           and not os.path.basename(n).startswith((".", "~$")))
            heads = {n: _first_line(z.open(n).read(1 << 16)) for n in found} \
                if len(found) > 1 else {}
    except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:
        raise UpsellDataError(f"{archive} is a damaged or encrypted ZIP archive ({exc}); "
                              "unpack it and read the file inside") from None
    if not found:
        shown = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        raise UpsellDataError(f"{archive} is a ZIP archive with no CSV file in it (it holds "
                              f"{shown or 'nothing'}): unpack it and read the file inside")
    if len(set(heads.values())) > 1:
        shown = ", ".join(repr(n) for n in found[:6]) + (" ..." if len(found) > 6 else "")
        raise UpsellDataError(
            f"{archive} holds {len(found):,} CSV files with different headers ({shown}): "
            "different tables, not one history; unpack it and read the order lines (beside "
            "an orders file with orders_file=, a customers file with customers_file=)")
    return [Member(archive, n) for n in found]


def _first_line(head: bytes) -> bytes:
    """The header line of a member's first bytes (a gzip member's inflated first)."""
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, 1 << 16)
        except zlib.error:
            return head  # (a damaged member: its read names it)
    return head.split(b"\n", 1)[0].strip().removeprefix(b"\xef\xbb\xbf")
