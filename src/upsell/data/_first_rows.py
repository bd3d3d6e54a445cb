"""What else a file's first rows say it needs, beside the columns an error suggests: its
encoding and its time format, so one error gives the whole command.

A Kaggle copy of Online Retail (``data.csv``: cp1252 text, ``12/1/2010 8:26`` times) took
three errors to read: the columns, then the encoding, then the time format. The columns
error now names all three (:func:`first_rows_advice`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from upsell.data._suggest import header_key
from upsell.data._time_formats import TIME_OF_DAY
from upsell.exceptions import UpsellDataError

__all__ = ["first_rows_advice", "spread_sample", "typed_advice", "values_advice"]

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
                      more: bytes = b"", where: Any = None, message: str = "",
                      columns: Any = None, decimal: str = ".") -> str:
    """``"; pass encoding=...; pass time_format=..."`` for the file whose first bytes are
    ``head`` (about 1 MB) and whose headers are ``names``: the encoding its text reads in
    when it is not ``encoding`` (:func:`~upsell.data._columns.utf8_error`), and the time
    format of the column ``time_header`` (the one the columns advice maps to ``time``) when
    its first rows are not ISO 8601 and no ``time_format`` is given. '' when the first
    rows need neither. ``more``: whole lines from further into the file
    (:func:`spread_sample`), read too (without a header; rows of another width are left
    out: a piece may start inside a quoted field). An event log (an ``event`` column of
    page views and carts, :func:`~upsell.data._parts.event_column`) not filtered by
    ``where`` is told the ``where`` that reads its purchases. With ``message`` (the
    columns error, ``columns`` the mapping it was given): that message with its advice
    redone (:func:`values_advice`) and this advice after it.

    Examples
    --------
    >>> head = "Invoice,When,Name\\n1,12/1/2010 8:26,Tea\\n2,12/13/2010 9:01,Caf\\xe9\\n"
    >>> first_rows_advice(head.encode("cp1252"), ["Invoice", "When", "Name"], delimiter=",",
    ...                   encoding="utf-8", time_header="When", time_format=None)
    "; pass encoding='cp1252'; pass time_format='%m/%d/%Y %H:%M' (a second field above 12 (12/13/2010 9:01) is a day)"
    """
    from upsell.data._columns import utf8_error
    from upsell.data._parts import event_column
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
    timed = time_header is not None and time_format is None and time_header in names
    if not message and not timed and event_column(list(names), dict(where or {})) is None:
        return out
    try:
        text = head.decode(encoding, "replace")
    except LookupError:
        return message + out
    rows = text_rows(text.lstrip("\ufeff"), delimiter)[1:]
    rows = rows[:_ROWS] if text.endswith("\n") else rows[:-1][:_ROWS]  # a cut last line
    if more:
        rows += [r for r in text_rows(more.decode(encoding, "replace"), delimiter)
                 if len(r) == len(names)]
    at = {h: j for j, h in reversed(list(enumerate(names)))}

    def texts(header: str) -> list[str]:
        j = at[header]
        return [r[j].strip() for r in rows if len(r) > j]

    return values_advice(message, list(names), columns, texts, time_format=time_format,
                         where=where, time_header=time_header, before=out, decimal=decimal)


def headerless_advice(head: bytes, names: Sequence[str], *, delimiter: str,
                      encoding: str) -> str:
    """``"; its first line looks like data ..."`` when most of a CSV's "headers" are numbers
    and none is a header of :func:`~upsell.data._suggest.suggest_columns` (Taobao's
    ``UserBehavior.csv``: user, item, category, behaviour, epoch seconds): read with
    ``header=False``, the columns are named by position; the purchase event and the time
    format its first rows show too. '' otherwise.

    Examples
    --------
    >>> head = b"1,2268318,2520377,pv,1511544070\\n1,2333346,2520771,buy,1511561733\\n"
    >>> print(headerless_advice(head, ["1", "2268318", "2520377", "pv", "1511544070"],
    ...                         delimiter=",", encoding="utf-8"))
    ... # doctest: +NORMALIZE_WHITESPACE
    ; its first line looks like data, not headers: a file without a header line is read with
    header=False, its columns named by position: 0 ('1'), 1 ('2268318'), 2 ('2520377'),
    3 ('pv'), 4 ('1511544070'), e.g. columns={'order': '0', 'item': '1', 'time': '4'}; read
    its purchases with where={'3': 'buy'} (--where 3=buy); column 4 holds times: pass
    time_format='epoch' (seconds since 1970-01-01 UTC)
    """
    import numpy as np

    from upsell.data._columns import parse_numbers, time_advice
    from upsell.data._parts import purchase_advice
    from upsell.data._sources import text_rows
    from upsell.data._suggest import suggest_columns

    words = parse_numbers(np.asarray([str(n).strip() for n in names], dtype=str))[1]
    if len(names) < 2 or 2 * int(words.sum()) > len(names) or suggest_columns(list(names)):
        return ""
    try:
        text = head.decode(encoding, "replace")
    except LookupError:
        return ""
    rows = text_rows(text.lstrip("\ufeff"), delimiter)
    rows = rows if text.endswith("\n") else rows[:-1]  # a cut last line
    rows = [r for r in rows[:_ROWS] if len(r) == len(names)]
    shown = ", ".join(f"{j} ({str(n).strip()!r})" for j, n in enumerate(names))
    ids: list[int] = []  # columns neither times, events nor decimal numbers: ids, in order
    example: dict[str, str] = {}
    tail = ""
    for j in range(len(names)):
        values = [v for v in (str(names[j]).strip(), *(r[j].strip() for r in rows)) if v]
        advice = purchase_advice(str(j), set(values))
        if advice:
            tail += f"; {advice}"
        elif values and all(v.isdigit() and len(v) >= 9 for v in values):
            got = time_advice(values)
            tail += f"; column {j} holds times: {got[2:]}" if got else ""
            example.setdefault("time", str(j))
        elif values and all(_ISO_DAY.match(v) for v in values):
            example.setdefault("time", str(j))
        elif values and all(_DECIMAL.match(v) for v in values):
            example.setdefault("price", str(j))
        elif values:
            ids.append(j)
    example = {**dict(zip(("order", "item"), map(str, ids), strict=False)), **example}
    return (f"; its first line looks like data, not headers: a file without a header line is "
            f"read with header=False, its columns named by position: {shown}, e.g. "
            f"columns={example!r}{tail}")


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]|$)")
_DECIMAL = re.compile(r"^-?\d*\.\d+$")


def typed_advice(message: str, names: list[str], load: Any, columns: Any, *,
                 time_format: str | None, where: Any) -> str:
    """:func:`values_advice` for a typed table (JSON Lines, Parquet): ``load(headers)``
    gives its columns (:func:`upsell.data._parquet.table_part`'s loader); the first
    ``_ROWS`` values of each are looked at, as text (a null as '')."""
    from upsell.data._sources import _pa

    pa = _pa()[0]
    cache: dict[str, list[str]] = {}

    def texts(header: str) -> list[str]:
        if header not in cache:
            try:  # the first rows only (a Parquet file's are not read whole)
                got = load([header], limit=_ROWS)
                col = (got[0] if isinstance(got, tuple) else got).column(0).slice(0, _ROWS)
                if pa.types.is_list(col.type) or pa.types.is_struct(col.type):
                    cache[header] = []
                else:
                    cache[header] = ["" if v is None else str(v)
                                     for v in col.cast(pa.string()).to_pylist()]
            except (UpsellDataError, pa.ArrowException):
                cache[header] = []
        return cache[header]

    return values_advice(message, names, columns, texts, time_format=time_format,
                         where=where)


def values_advice(message: str, names: list[str], columns: Any,
                  texts: Callable[[str], list[str]], *, time_format: str | None,
                  where: Any, time_header: str | None = None, before: str = "",
                  decimal: str = ".") -> str:
    """The columns error ``message`` (its headers' advice from
    :func:`~upsell.data._suggest.suggest_columns`) checked against the values
    ``texts(header)`` gives (a sample of a column, as text): a header advised for a role but
    empty in every row looked at gives way to another header for the role that is not
    (Google Analytics 4's ``user_id`` is empty when its ``user_pseudo_id`` is not; an event
    log's order id, empty but on its rare purchases, stays when no other fits);
    then ``before``, the purchase event of an event log (:func:`~upsell.data._parts.
    purchase_advice`), ``decimal=','`` when a number column writes decimal commas (and
    ``decimal`` is '.'), and the time format of the time column (``time_header``, default
    the advised one) when no ``time_format`` is given and it is not ISO 8601, or the date
    column to join to it when it holds times of day.

    Examples
    --------
    >>> cols = {"event_name": ["page_view", "purchase"], "ecommerce.transaction_id":
    ...         ["", "T1"], "items.item_id": ["", "A"], "user_id": ["", ""],
    ...         "user_pseudo_id": ["7.1", "7.1"], "event_timestamp": ["1612069510766593"] * 2}
    >>> msg = ("no `order` column in ga4.json: ...; its headers look like columns={'order': "
    ...        "'ecommerce.transaction_id', 'item': 'items.item_id', 'customer': 'user_id', "
    ...        "'time': 'event_timestamp'}")
    >>> print(values_advice(msg, list(cols), None, cols.get, time_format=None, where=None))
    ... # doctest: +NORMALIZE_WHITESPACE
    no `order` column in ga4.json: ...; its headers look like columns={'order':
    'ecommerce.transaction_id', 'item': 'items.item_id', 'customer': 'user_pseudo_id', 'time':
    'event_timestamp'} ('user_id' is empty in the rows looked at); read its purchases with
    where={'event_name': 'purchase'} (--where event_name=purchase); pass
    time_format='epoch_us' (microseconds since 1970-01-01 UTC)
    """
    from upsell.data._columns import mapping_text, time_advice
    from upsell.data._parts import event_column, purchase_advice
    from upsell.data._suggest import ROLES, suggest_columns

    given = dict(columns or {})
    taken = {r: names.index(h) for r, h in given.items() if isinstance(h, str) and h in names}
    taken.update({r: names.index(r) for r in ROLES if r in names and r not in given})
    guess = suggest_columns(names, taken)
    old = f"columns={mapping_text(guess)}"
    out = message
    if guess and old in message:
        empty = {r: h for r, h in guess.items() if not any(texts(h))}
        other = suggest_columns(names, {**taken, **{f"empty {h}": names.index(h)
                                                    for h in empty.values()}})
        swap = {r: other[r] for r in empty if r in other and any(texts(other[r]))}
        if swap:  # an empty header with no other for its role stays advised
            guess = {r: swap.get(r, h) for r, h in guess.items()}
            said = " and ".join(repr(empty[r]) for r in swap)
            out = out.replace(old, f"columns={mapping_text(guess)} ({said} "
                                   f"{'is' if len(swap) == 1 else 'are'} empty in the rows "
                                   "looked at)")
    out += before
    events = event_column(names, dict(where or {}))
    if events is not None:
        advice = purchase_advice(events, set(texts(events)))
        out += f"; {advice}" if advice else ""
    if decimal == ".":  # a price written "0,90 €"
        out += _comma_advice(names, {**guess, **given}, texts)
    out += _status_advice(names, texts, dict(where or {}))
    out += _currency_advice(names, texts, dict(where or {}))
    mapped = given.get("time")
    header = time_header or (mapped if isinstance(mapped, str) else guess.get("time"))
    if header is None and "time" in names:
        header = "time"  # taken by its own name
    if time_format is None and header in names:
        values = [v for v in texts(str(header)) if v]
        date = next((h for h in names if h != header and header_key(h) in _DATE_HEADERS), None)
        clock = next((h for h in names if h != header and header_key(h) in _TIME_HEADERS), None)
        if values and clock is not None and not any(":" in v for v in values[:_ROWS]):
            hours = [v for v in texts(clock) if v]  # a date column, and one of times of day
            if hours and all(TIME_OF_DAY.match(v) for v in hours[:_ROWS]):
                date, header, values = str(header), clock, hours
        if values and date is not None and all(TIME_OF_DAY.match(v) for v in values[:_ROWS]):
            now = f"columns={mapping_text(guess)}"
            joined = {**{r: h for r, h in guess.items() if h != date}, "time": (date, header)}
            if guess and now in out:  # the advised mapping takes the two joined
                out = out.replace(now, f"columns={mapping_text(joined)}")
                out += f"; {header!r} holds times of day: joined to {date!r}"
                values = [v for v in texts(date) if v]
                out += time_advice(values) if values else ""  # the date's, read first
            else:
                out += (f"; {header!r} holds times of day: join the date to it, "
                        f"columns={{'time': ({date!r}, {header!r})}}")
        else:
            out += time_advice(values) if values else ""
    return out


#: headers of a date column beside a time-of-day column (a till's "date" and "time")
_DATE_HEADERS = ("date", "orderdate", "transactiondate", "saledate", "day", "invoicedate",
                 "purchasedate", "receiptdate", "ticketdate")


#: headers of a time-of-day column beside a date column
_TIME_HEADERS = ("time", "ordertime", "transactiontime", "saletime", "receipttime",
                 "tickettime", "timeofday")


def _comma_advice(names: list[str], mapping: dict[str, Any],
                  texts: Callable[[str], list[str]]) -> str:
    """The decimal advice (:func:`~upsell.data._formatted.decimal_advice`) of the first
    number column (price, value, quantity) whose values a decimal point mostly does not
    read ("0,90 €")."""
    import numpy as np

    from upsell.data._columns import parse_numbers
    from upsell.data._formatted import decimal_advice

    for role in ("price", "value", "quantity"):
        header = mapping.get(role, role if role in names else None)
        if not isinstance(header, str) or header not in names:
            continue
        seen = [v for v in texts(header)[:1000] if v]
        bad = parse_numbers(np.asarray(seen, dtype=str))[1] if seen else np.zeros(0, bool)
        if seen and 2 * int(bad.sum()) >= len(seen):
            return decimal_advice([v for v, b in zip(seen, bad.tolist(), strict=True) if b])
    return ""


def _currency_advice(names: list[str], texts: Callable[[str], list[str]],
                     where: dict[str, Any]) -> str:
    """The ``where`` that reads one currency when a currency column holds several in the
    rows looked at: money figures would add them as they are."""
    import shlex
    from collections import Counter

    from upsell.data._parts import currency_column

    header = currency_column(names, where)
    seen = Counter(v for v in texts(header) if v) if header is not None else Counter()
    if len(seen) < 2 or len(seen) > 200:
        return ""
    total = sum(seen.values())
    said = ", ".join(f"{v!r} ({n / total:.1%})" for v, n in seen.most_common(5))
    top = seen.most_common(1)[0][0]
    return (f"; its {header!r} column holds {said} in the rows looked at: money figures "
            f"would add them as they are; read one with where={{{header!r}: {top!r}}} "
            f"(--where {shlex.quote(f'{header}={top}')})")


def _status_advice(names: list[str], texts: Callable[[str], list[str]],
                   where: dict[str, Any]) -> str:
    """The ``where`` that keeps the sold orders when a status column (a header ending in
    "status", not filtered already) holds cancelled, refunded or failed ones among a few
    statuses: read as they are, their lines would count as sales."""
    import shlex
    from collections import Counter

    from upsell.data._parts import MAX_STATUSES, not_sold, status_column

    header = status_column(names, where)
    seen = Counter(v for v in texts(header) if v) if header is not None else Counter()
    gone = [v for v in seen if not_sold(v)]
    kept = sorted((v for v in seen if v not in gone), key=lambda v: -seen[v])
    if len(seen) > MAX_STATUSES or not gone or not kept:
        return ""
    total = sum(seen.values())
    said = ", ".join(f"{v!r} ({seen[v] / total:.1%})" for v in gone)
    flags = " ".join(f"--where {shlex.quote(f'{header}!={v}')}" for v in gone)
    return (f"; its {header!r} column holds {said} in the rows looked at: to count only "
            f"sold orders, leave those out with where={{{header!r}: {{'not': {gone!r}}}}} "
            f"({flags})")

