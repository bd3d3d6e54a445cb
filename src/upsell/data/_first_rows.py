"""What else a file's first rows say it needs, beside the columns an error suggests: its
encoding and its time format, so one error gives the whole command.

A Kaggle copy of Online Retail (``data.csv``: cp1252 text, ``12/1/2010 8:26`` times) took
three errors to read: the columns, then the encoding, then the time format. The columns
error now names all three (:func:`first_rows_advice`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["first_rows_advice", "spread_sample"]

#: rows of the sample whose times are looked at (the guess needs a day above 12)
_ROWS = 5_000
#: a plain file's rows beyond its first megabyte: this many pieces of this many bytes
_PIECES, _PIECE = 8, 1 << 16


def spread_sample(path: str) -> bytes:
    """Whole lines from ``_PIECES`` places spread over a plain file (its first megabyte
    is the head already): the first month of a shop's history may not tell 12/1 from 1/12.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.csv"
    >>> _ = p.write_text("a,b\\n" + "1,x\\n" * 300_000)
    >>> set(spread_sample(str(p)).decode().split()) == {"1,x"}
    True
    """
    import os

    size = os.path.getsize(path)
    if size <= 1 << 20:
        return b""
    out = []
    with open(path, "rb") as fh:
        for k in range(1, _PIECES + 1):
            fh.seek(max(0, size * k // (_PIECES + 1) - _PIECE // 2))
            piece = fh.read(_PIECE)
            lo, hi = piece.find(b"\n") + 1, piece.rfind(b"\n") + 1
            if 0 < lo < hi:
                out.append(piece[lo:hi])
    return b"".join(out)


def first_rows_advice(head: bytes, names: Sequence[str], *, delimiter: str, encoding: str,
                      time_header: str | None, time_format: str | None,
                      more: bytes = b"", where: Any = None) -> str:
    """``"; pass encoding=...; pass time_format=..."`` for the file whose first bytes are
    ``head`` (about 1 MB) and whose headers are ``names``: the encoding its text reads in
    when it is not ``encoding`` (:func:`~upsell.data._columns.utf8_error`), and the time
    format of the column ``time_header`` (the one the columns advice maps to ``time``) when
    its first rows are not ISO 8601 and no ``time_format`` is given. '' when the first
    rows need neither. ``more``: whole lines from further into the file
    (:func:`spread_sample`), read too (without a header; rows of another width are left
    out: a piece may start inside a quoted field). An event log (an ``event`` column of
    page views and carts, :func:`~upsell.data._parts.event_column`) not filtered by
    ``where`` is told the ``where`` that reads its purchases.

    Examples
    --------
    >>> head = "Invoice,When,Name\\n1,12/1/2010 8:26,Tea\\n2,12/13/2010 9:01,Caf\\xe9\\n"
    >>> first_rows_advice(head.encode("cp1252"), ["Invoice", "When", "Name"], delimiter=",",
    ...                   encoding="utf-8", time_header="When", time_format=None)
    "; pass encoding='cp1252'; pass time_format='%m/%d/%Y %H:%M' (a second field above 12 (12/13/2010 9:01) is a day)"
    """
    from upsell.data._columns import time_advice, utf8_error
    from upsell.data._parts import BROWSE_EVENTS, BUY_EVENTS, event_column
    from upsell.data._sources import text_rows

    out = ""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        cut = (head[:head.rfind(b"\n") + 1] or head) + more  # whole lines: no character cut
        try:
            cut.decode("utf-8")
        except UnicodeDecodeError:
            advice = str(utf8_error(cut, "", encoding))
            if "pass encoding=" in advice:
                encoding = advice.rsplit("pass encoding=", 1)[1].strip("'")
                out += f"; pass encoding={encoding!r}"
    events = event_column(list(names), dict(where or {}))
    timed = time_header is not None and time_format is None and time_header in names
    if not timed and events is None:
        return out
    try:
        text = head.decode(encoding, "replace")
    except LookupError:
        return out
    rows = text_rows(text.lstrip("\ufeff"), delimiter)[1:]
    rows = rows[:_ROWS] if text.endswith("\n") else rows[:-1][:_ROWS]  # a cut last line
    if more:
        rows += [r for r in text_rows(more.decode(encoding, "replace"), delimiter)
                 if len(r) == len(names)]
    if events is not None:
        at = list(names).index(events)
        seen = {r[at].strip().lower(): r[at].strip() for r in rows if len(r) > at}
        if any(v in seen for v in BROWSE_EVENTS):  # views and carts: purchases by `where`
            buy = next((seen[v] for v in BUY_EVENTS if v in seen), None)
            out += (f"; read its purchases with where={{{events!r}: {buy!r}}} (--where "
                    f"{events}={buy})" if buy is not None else
                    f"; read its purchases with where={{{events!r}: <the purchase event>}} "
                    f"(--where {events}=...)")
    if not timed:
        return out
    at = list(names).index(str(time_header))
    values = [r[at].strip() for r in rows if len(r) > at and r[at].strip()]
    return out + (time_advice(values) if values else "")
