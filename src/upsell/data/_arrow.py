"""CSV parsing by ``pyarrow.csv`` behind :meth:`Transactions.read_csv`, upsell's rules after it.

pyarrow splits the file (quotes, CRLF, threads) and converts the clean columns
in C++: id columns as dictionaries (only the distinct values are looked at
afterwards), quantity and price as float64, time as ISO 8601 ``timestamp[s]``.
A column that pyarrow's strict converters refuse is read again as text and
converted by upsell's own rules on its distinct values (``float()`` for numbers,
ISO 8601 with UTC offsets for times), so a dirty file costs a second parse while
a clean one costs one.

What pyarrow would accept but upsell does not:

* a row with the wrong number of fields: an error naming its data row and
  physical line (found again with the csv module, only when there is one);
* a quoted field that never closes: pyarrow swallows the rest of the file into
  it; when the rows found do not account for every physical line, the file is
  scanned for a quote that opens a field and never closes, an error naming its line.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np

from upsell.data._sources import (
    Source,
    _arrow_ints,
    _header,
    _line_ends,
    _locate_bad_row,
    _numpy,
    _pa,
    _unterminated_quote,
    _with_nulls,
    bool_mask,
    skip_records,
)
from upsell.data._suggest import header_list
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

_ID_ROLES = ("order", "item", "customer", "channel", "name")
_NUMBER_ROLES = ("quantity", "price", "value", "cost", "profit")
_STREAM_BLOCK = 1 << 20




class _Read:
    """One pyarrow read of the wanted columns, with the rows it skipped."""

    def __init__(self, src: Source, *, label: str, delimiter: str, encoding: str,
                 header: bool, width: int, wanted: dict[str, int], text_roles: set[str],
                 decimal: str = ".", skip: int = 0, keep: Any = None) -> None:
        pa, pc, pacsv = _pa()
        self.bad: list[Any] = []
        # with ``keep`` (a :class:`~upsell.data._parts.WhereFilter`), the rows it leaves out
        # are dropped block by block as they are parsed: the position of each row kept
        self.rows: np.ndarray | None = None
        self.left: dict[str, int] = {}
        names = [f"c{i}" for i in range(width)]
        types: dict[str, Any] = {}
        for role, pos in wanted.items():
            if types.get(names[pos]) == pa.string():
                continue  # a column two roles read (a joined id's part): text for both
            if role in _ID_ROLES or role in text_roles:
                # plain strings, hashed afterwards: pyarrow's dictionary conversion while
                # parsing is slower than one dictionary_encode of the whole column
                types[names[pos]] = pa.string()
            elif role in _NUMBER_ROLES:
                types[names[pos]] = pa.float64()
            else:
                types[names[pos]] = pa.timestamp("s")
        include = sorted(set(names[p] for p in wanted.values()), key=names.index)
        has_quotes = src.quotes

        def handler(row: Any) -> str:
            body = row.text.strip()
            if body and body != '""':
                self.bad.append(row)
            return "skip"

        # streamed through ``keep``: blocks of 1 MB (the reader reads ahead several blocks;
        # larger ones only add to the rows held before they are filtered)
        block = src.block() if keep is None else min(src.block(), _STREAM_BLOCK)
        read = pacsv.ReadOptions(column_names=names, skip_rows=skip + (1 if header else 0),
                                 block_size=block)
        parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=has_quotes,
                                   invalid_row_handler=handler)
        convert = pacsv.ConvertOptions(column_types=types, include_columns=include,
                                       strings_can_be_null=False, null_values=[""],
                                       quoted_strings_can_be_null=False, check_utf8=True,
                                       decimal_point=decimal)
        from upsell.data._columns import utf8_error

        try:
            try:
                if keep is None:
                    self.table = pacsv.read_csv(src.arrow(), read_options=read,
                                                parse_options=parse, convert_options=convert)
                else:
                    stream = pacsv.open_csv(src.arrow(), read_options=read,
                                            parse_options=parse, convert_options=convert)
                    self.table, self.rows = keep.table(stream, stream.schema)
                    self.left = keep.left
            finally:
                # the stream closed whatever happened; a truncated gzip file is the error
                # to report, before any parse error it caused
                src.settle(label)
        except pa.ArrowInvalid as exc:
            msg = str(exc)
            if "UTF8" in msg or "UTF-8" in msg or "utf8" in msg:
                raise utf8_error(src.whole(), label, encoding) from None
            if "conversion error" in msg.lower() or "timestamp" in msg.lower():
                raise _Redo(msg) from None
            if "Empty CSV file" in msg or "empty" in msg.lower():
                raise UpsellDataError(f"{label} has a header but no data rows") from None
            raise UpsellDataError(f"{label}: {msg}") from None
        rows_read = self.table.num_rows if keep is None else keep.read
        if src.quotes and (self.bad or src.odd_quotes
                           or rows_read + int(header) + skip != src.lines):
            # some record spans lines, a line was blank or had the wrong number of fields:
            # a quote that never closes would explain it, and is the error to report
            whole = src.whole()
            at = skip_records(whole, skip)
            line = _unterminated_quote(whole[at:], delimiter)
            if line is not None:
                line += _line_ends(whole[:at])
                raise UpsellDataError(
                    f"{label} line {line:,}: a quoted field opens here and never closes "
                    f"(unterminated quote); nothing was read"
                )
        if self.bad:
            raise _locate_bad_row(src.whole(), label, delimiter, width, header, skip)
        self.names = names
        self.pc = pc


def _events_in_head(head: bytes, label: str, delimiter: str, header: bool, pos: int,
                    events: str) -> None:
    """:func:`~upsell.data._parts.refuse_events` on the column ``events`` (at ``pos``) of the
    rows in ``head``, the file's start (below any rows ``skip_rows`` skips)."""
    from upsell.data._parts import refuse_events
    from upsell.data._sources import HEAD_BYTES, _arrow_strings, text_rows

    whole = len(head) < HEAD_BYTES - 3  # (a BOM dropped): the head holds the whole file
    rows = text_rows(head.decode("utf-8", "replace"), delimiter)[int(header):]
    if not whole:
        rows = rows[:-1]  # the last may be cut
    texts = [r[pos] for r in rows if len(r) > pos]
    if texts:
        refuse_events(label, events, _arrow_strings(np.array(texts, dtype=str)),
                      first=None if whole else len(texts))


def _header_below(head: bytes, delimiter: str, columns: Any, skip: int = 0) -> str:
    """Advice when a later line of the file's start reads as its header (a report's title
    lines above the table): that line, and the ``skip_rows`` that reads the file from it;
    else ``""``. ``head`` starts after the ``skip`` lines already skipped."""
    from upsell.data._columns import header_below, header_row
    from upsell.data._sources import text_rows

    rows = text_rows(head[:1 << 16].decode("utf-8", "replace"), delimiter)
    i = header_row(rows[:31], columns)
    if i is None:
        return ""
    above = skip + _line_ends(head[:skip_records(head, i)])
    return header_below(f"line {above + 1}", above, rows[i], delimiter)


def _aligned(head: bytes) -> str:
    """Advice when the file's columns are aligned by spaces (CDNOW's text files): its first
    two lines split at runs of spaces into as many fields, two or more; else ``""``."""
    lines = [ln.split() for ln in head[:1 << 16].decode("utf-8", "replace").splitlines()
             if ln.strip()][:2]
    if len(lines) < 2 or len(lines[0]) < 2 or len(lines[0]) != len(lines[1]):
        return ""
    return (f"; it splits at spaces into {', '.join(repr(h) for h in lines[0][:8])}: pass "
            f"delimiter='whitespace'")


def _known(names: list[str], header: str, role: str, label: str) -> int:
    """Position of ``header`` (a part of a joined ``role``), or an error naming the file's."""
    from upsell.data._columns import _only

    if header not in names:
        raise UpsellDataError(
            f"column {header!r} (joined into `{role}`) is not in {label}; it has "
            f"{header_list(names)}")
    return _only(names, header, role, label)


class _Redo(Exception):
    """pyarrow's strict converters refused a value: read the value columns as text."""


def prepare_parts(parts: list[Any], *, label: str, order_headers: Any, invalid: str,
                  item_index: IdIndex | None, customer_index: IdIndex | None,
                  time_format: str | None = None, decimal: str = ".") -> Any:
    """A ``_Prepared`` of one file's :class:`~upsell.data._parts.Part`, or of several
    read as one history (``label`` names them all)."""
    from upsell.data._parts import join_parts

    return join_parts(
        parts, label=label, order_headers=order_headers, invalid=invalid,
        time_format=time_format, decimal=decimal,
        prepare=lambda c, n, files: prepare_columns(
            c, n, label=label, invalid=invalid, item_index=item_index,
            customer_index=customer_index, time_format=time_format, decimal=decimal,
            files=files))


def read_part(data: bytes | Source | list[Any], *, label: str, columns: Any, delimiter: str,
              encoding: str, header: bool, time_format: str | None = None,
              decimal: str = ".", skip_rows: int = 0, empty_ok: bool = False,
              where: dict[str, tuple[str, ...]] | None = None) -> Any:
    """One CSV file's columns by role, parsed (a :class:`~upsell.data._parts.Part`); rows
    that repeat the header are blanked and marked. ``empty_ok``: a header without rows is
    a part of no rows (one month of several without sales), not an error. ``where``
    (:func:`~upsell.data._parts.check_where`): the rows it leaves out are marked too."""
    from upsell.data._columns import _positional, resolve_columns
    from upsell.data._parts import Part, WhereFilter, rows_left_out, status_flags, where_columns

    given: Any = data.pop() if isinstance(data, list) else data  # [bytes]: no caller keeps them
    del data
    src = given if isinstance(given, Source) else Source(data=given)
    del given
    if src.blank:
        raise UpsellDataError(f"{label} is empty: no header and no data rows")
    head = src.head()
    if skip_rows:
        head = head[skip_records(head, skip_rows):]
        if not head.strip():
            raise UpsellDataError(f"{label} has nothing below the {skip_rows:,} line(s) that "
                                  f"skip_rows={skip_rows} skips")
    first = head.lstrip()[:1]
    if first == b"{":  # not a CSV's header: JSON records
        raise UpsellDataError(f"{label} holds JSON Lines, not CSV: read it with "
                              "Transactions.read_json (the command line does by itself)")
    if first == b"[":
        raise UpsellDataError(f"{label} holds a JSON array, not CSV: read it with "
                              "Transactions.read_json (the command line does by itself)")
    names = _header(head, delimiter, header)
    from upsell.data._columns import split_joined

    plain, joined = split_joined(_positional(columns, header))
    try:
        roles = resolve_columns(names, plain, source=label, joins=True)
    except UpsellDataError as exc:
        below = (_header_below(head, delimiter, plain, skip_rows)
                 if header and len(names) <= 2 else "")
        if not below and len(names) == 1:
            below = _aligned(head)
        if not below and header and not plain:  # a first line of data: no header line
            from upsell.data._first_rows import headerless_advice

            below = headerless_advice(head, names, delimiter=delimiter, encoding=encoding)
        if not below and ("look like columns=" in str(exc)  # the rest of the command too
                          or "join those columns: columns=" in str(exc)):
            from upsell.data._first_rows import first_rows_advice, spread_sample

            mapped = (plain or {}).get("time")
            plain_file = type(src) is Source and src.path is not None and not skip_rows
            full = first_rows_advice(
                head, names, delimiter=delimiter, encoding=encoding, time_format=time_format,
                time_header=mapped if isinstance(mapped, str) else None,
                more=spread_sample(str(src.path)) if plain_file else b"",
                where=where, message=str(exc), columns=plain, decimal=decimal)
            below = full[len(str(exc)):] if full.startswith(str(exc)) else ""
            if full != str(exc) and not below:  # the columns advice itself redone
                raise UpsellDataError(full) from None
        if not below:
            raise
        raise UpsellDataError(f"{exc}{below}") from None
    parts = {role: [roles[role]] + [_known(names, h, role, label) for h in heads[1:]]
             for role, heads in joined.items()}  # joined role -> positions of its headers
    wanted = {**roles, **{f"{r}#{j}": p for r, ps in parts.items() for j, p in enumerate(ps)}}
    where = where or {}
    # where's columns are read as text, after any role that reads them (text for both)
    where_at, events = where_columns(names, where, label)
    wanted.update({f"where#{h}": p for h, p in where_at.items()})
    if events is not None:  # an event log is stopped by its start, before a long parse
        _events_in_head(head, label, delimiter, header, names.index(events), events)
    width = len(names)
    first_text = ({"time"} if time_format is not None else set()) | set(wanted) - set(roles)

    def keep() -> WhereFilter | None:  # a new count for each parse
        return WhereFilter(where, {h: f"c{p}" for h, p in where_at.items() if h in where}
                           ) if where else None

    try:
        rd = _Read(src, label=label, delimiter=delimiter, encoding=encoding, header=header,
                   width=width, wanted=wanted, text_roles=first_text, decimal=decimal,
                   skip=skip_rows, keep=keep())
    except _Redo:
        text = first_text | {r for r in roles if r in _NUMBER_ROLES or r == "time"}
        rd = _Read(src, label=label, delimiter=delimiter, encoding=encoding, header=header,
                   width=width, wanted=wanted, text_roles=text, decimal=decimal,
                   skip=skip_rows, keep=keep())
    del src
    table = rd.table
    n = table.num_rows
    if n == 0 and not empty_ok and not rd.left:
        raise UpsellDataError(f"{label} has a header but no data rows")
    cols = {role: table.column(rd.names[pos]) for role, pos in roles.items()}
    if parts:
        pc = _pa()[1]
        from upsell.data._columns import JOIN_SEP

        for role, ps in parts.items():  # the texts of the headers, joined: one id
            cols[role] = pc.join([table.column(rd.names[p]) for p in ps], JOIN_SEP)
    texts = {h: table.column(rd.names[p]) for h, p in where_at.items()}
    left, kept_rows = rd.left, rd.rows
    del table, rd
    again = (_header_again(cols, {r: names[p] for r, p in roles.items() if r not in parts})
             if header and n else None)
    bad = {} if again is None else {HEADER_AGAIN: again}
    repairs: dict[str, np.ndarray] = {}
    if n:  # a repeated header is counted as such, not as a row where leaves out
        out, repairs = rows_left_out(label, cols, texts, where, events)
        bad.update({r: m if again is None else m & ~again for r, m in out.items()})
    return Part(label=label, cols=cols, n=n, bad=bad, repairs=repairs, left=left,
                rows=kept_rows, flags=status_flags(texts, where) if n else {})


#: The data report's reason for the header line found again among the rows.
HEADER_AGAIN = "header line repeated (files joined into one)"


def _header_again(cols: dict[str, Any], heads: dict[str, str]) -> np.ndarray | None:
    """Rows that repeat the header (monthly exports joined with ``cat``: each brings its
    header along), found by their order and item fields; their fields are blanked in
    ``cols`` so that no rule reads them. None when there are none."""
    pa, _, _ = _pa()
    import pyarrow.compute as pc

    checks = [(r, heads[r]) for r in ("order", "item") if r in heads and r in cols]
    if not checks or any(not pa.types.is_string(cols[r].type) for r, _ in checks):
        return None
    # the rows whose fields hold the headers (a bit per row: no trimmed copy of a column), then
    # those whose fields are the headers, spaces aside
    found_in = [pc.match_substring(cols[role], name) for role, name in checks]
    if not all(pc.any(m).as_py() for m in found_in):  # the usual file: a bit per row, no more
        return None
    hit: np.ndarray | None = None
    for m in found_in:
        rows = bool_mask(m)
        hit = rows if hit is None else hit & rows
        if not hit.any():
            return None
    assert hit is not None
    for role, name in checks:
        at = np.flatnonzero(hit)
        texts = cols[role].take(_arrow_ints(at)).to_pylist()
        hit[at[[t.strip() != name for t in texts]]] = False
    if not hit.any():
        return None
    from upsell.data._parts import blank_rows

    blank_rows(cols, hit)
    return hit


def prepare_columns(cols: dict[str, Any], n: int, *, label: str, invalid: str,
                    item_index: IdIndex | None, customer_index: IdIndex | None,
                    time_format: str | None = None, decimal: str = ".",
                    files: Any = None) -> Any:
    """A ``_Prepared`` from pyarrow columns by role (``cols`` is emptied); ``files``: the
    first row and label of each file, when the rows came from several (errors name them).

    Id columns (and joined ones) are text; quantity, price and value are float64 or
    text; time is ``timestamp[s]`` or text (read by ``time_format``). The CSV reader
    and :func:`upsell.data._parquet.read_prepared` hand their columns over here.
    """
    from upsell.data._clean import Prepared as _Prepared

    pool = _pa()[0].default_memory_pool()
    prep = _Prepared(n=n, order=np.zeros(0, np.int32), order_index=IdIndex([], name="order"),
                     item=np.zeros(0, np.int32), item_index=IdIndex([], name="item"),
                     source=label, exact_ids=True, owned=True)
    done = _convert_columns(cols, prep, pool, item_index=item_index,
                            customer_index=customer_index, time_format=time_format,
                            decimal=decimal)
    prep.order, o_index, _ = done["order"]
    assert o_index is not None
    prep.order_index = o_index
    if "item" in done:
        prep.item, i_index, prep.unknown_item = done["item"]
        prep.item_index = item_index if item_index is not None else i_index
        prep.fixed_items = item_index is not None
    else:  # a purchase log read without items (columns={"item": None})
        from upsell.data._clean import no_items

        prep.item, prep.item_index, _ = no_items(n, item_index)
        prep.no_items = True
    if "customer" in done:
        c_codes, c_index, c_unknown = done["customer"]
        prep.customer = c_codes
        prep.customer_index = customer_index if customer_index is not None else c_index
        prep.unknown_customer = c_unknown
        prep.fixed_customers = customer_index is not None
    if "channel" in done:
        prep.channel, prep.channel_index, _ = done["channel"]
    if "name" in done:
        prep.name, prep.name_index, _ = done["name"]
    first_bad: dict[str, tuple[int, str, str]] = {}
    for role in ("quantity", "price", "value", "cost", "profit", "time"):
        if role in done:
            values, bad_mask, first, *formatted = done[role]
            setattr(prep, role, values)
            if formatted:  # (rows, an example): '£1,234.50' read as 1234.5
                from upsell.data._formatted import formatted_reason

                prep.repairs[formatted_reason(role, formatted[1])] = formatted[0]
            if bad_mask is not None:
                what = "not a timestamp" if role == "time" else "not a number"
                prep.bad[f"{role} {what}"] = bad_mask
                first_bad[role] = first  # (row, its text, advice)
    del done
    # the columns are numpy arrays now; hand the parser's freed buffers back to the OS
    # before the cleaning rules allocate theirs
    pool.release_unused()
    if invalid == "raise" and first_bad:
        from upsell.data import _columns as C

        role = next(r for r in ("quantity", "price", "value", "cost", "profit", "time")
                    if r in first_bad)
        row, raw, advice = first_bad[role]
        what = "not a timestamp" if role == "time" else "not a number"
        expected = ""
        if role == "time":
            expected = (f" (expected time_format {time_format!r})" if time_format is not None
                        else " (expected ISO 8601, e.g. '2011-12-09 12:50:00')")
        raise UpsellDataError(
            f"{C.row_label(row, _order_ids(prep), files)}: `{role}` {raw!r} is {what}{expected}"
            f"{advice}; {'or ' if advice else ''}pass invalid='drop' to drop such rows"
        )
    return prep


def _convert_columns(cols: dict[str, Any], prep: Any, pool: Any, *,
                     item_index: IdIndex | None, customer_index: IdIndex | None,
                     time_format: str | None = None, decimal: str = ".") -> dict[str, Any]:
    """Each parsed column as numpy (codes and indexes for ids, values for the rest).

    The columns are independent and pyarrow's kernels and numpy's sorts release the
    GIL, so two columns convert at a time when the machine has two cores or more:
    the largest (the hashed id columns) first, so the two workers finish together. A
    column's text is dropped as soon as it is converted, so at most two columns'
    intermediates are alive at once.
    """
    # each id column records its repairs apart; they are merged in the file's role order
    # so the report reads the same however the threads ran
    repairs = {role: SimpleNamespace(repairs={}, placeholders={}) for role in _ID_ROLES}
    jobs: list[tuple[str, Any]] = []
    for role, index, as_text in (("item", item_index, False),
                                 ("customer", customer_index, False),
                                 ("order", None, False), ("name", None, True),
                                 ("channel", None, False)):
        if role in cols:
            jobs.append((role, partial(_ids, cols.pop(role), role, index, repairs[role],
                                       text=as_text)))
    for role in ("time", "quantity", "price", "value", "cost", "profit"):
        if role in cols:
            jobs.append((role, partial(_values, cols.pop(role), role, time_format, decimal)))

    def run(role: str, job: Any) -> Any:
        out = job()
        pool.release_unused()
        # the column's range for the cleaning rules, taken here on the worker thread
        col = out[0]
        if col is not None and col.size:
            ints = col.view(np.int64) if col.dtype.kind == "M" else col
            spans[role] = (col, ints.min(), None if role in _ID_ROLES else ints.max())
        return out

    # results (and the first error) are taken in the sequential reader's role order
    order = ("order", "item", "customer", "channel", "name", "quantity", "price", "value",
             "cost", "profit", "time")
    workers = min(2, os.cpu_count() or 1, len(jobs))
    spans: dict[str, tuple[np.ndarray, Any, Any]] = {}
    if workers < 2:
        results = {role: run(role, job) for role, job in jobs}
        done = {role: results[role] for role in order if role in results}
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upsell-csv") as ex:
            futures = {role: ex.submit(run, role, job) for role, job in jobs}
            del jobs
            done = {role: futures[role].result() for role in order if role in futures}
    for role in _ID_ROLES:
        prep.repairs.update(repairs[role].repairs)
        prep.placeholders.update(repairs[role].placeholders)
    prep.spans = spans
    return done


class _OrderIds:
    """Order id of a row, looked up lazily (for one message)."""

    def __init__(self, prep: Any) -> None:
        self.prep = prep

    def __getitem__(self, pos: int) -> Any:
        code = int(self.prep.order[pos])
        if code < 0:
            raise IndexError(pos)
        return self.prep.order_index.ids[code]


def _order_ids(prep: Any) -> _OrderIds:
    return _OrderIds(prep)


_INT_ID = r"^-?(0|[1-9][0-9]{0,17})(\.0)?$"  # io.maybe_int_ids's rule


def _arrow_mask(mask: np.ndarray) -> Any:
    pa, _, _ = _pa()
    bits = np.packbits(mask, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), mask.size, [None, pa.py_buffer(bits)])


def _increasing(arr: Any) -> bool:
    """Whether a pyarrow string array is strictly increasing (so its values are distinct)."""
    _, pc, _ = _pa()
    n = len(arr)
    return n < 2 or bool(pc.all(pc.less(arr.slice(0, n - 1), arr.slice(1))).as_py())


def _sorted_runs(arr: Any) -> bool:
    """Whether values come in runs (at most 3/4 as many runs as values) in increasing order.

    That is an order column of a file written order by order: cutting it at the
    value changes gives its distinct values already sorted, with no hashing. Other
    columns (customers, low-cardinality channels) are cheaper to hash at once.
    """
    _, pc, _ = _pa()
    n = len(arr)
    if n < 3:
        return False
    change = pc.not_equal(arr.slice(1), arr.slice(0, n - 1))
    if (1 + int(pc.sum(change).as_py() or 0)) * 4 > n * 3:
        return False
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = np.unpackbits(np.frombuffer(change.buffers()[1], dtype=np.uint8),
                            bitorder="little")[change.offset:change.offset + n - 1]
    return _increasing(pc.take(arr, _arrow_ints(np.flatnonzero(new))))


def _distinct_source(col: Any) -> tuple[np.ndarray, Any, bool]:
    """Row codes (int32) into candidate values (pyarrow strings); whether they may repeat.

    A column grouped in runs (order numbers of a file written order by order) is
    cut at the value changes, without hashing; other columns are dictionary-encoded
    in one hash pass (the chunks share one growing memo table, so the last
    chunk's dictionary holds every value). Values of at most 8 bytes are compared
    and hashed as integers (:func:`_short_keys`).
    """
    _, pc, _ = _pa()
    if col.num_chunks == 0:  # never: join_parts refuses files without rows first
        raise UpsellDataError("no rows")
    n = len(col)
    if n == 0:
        return np.zeros(0, np.int32), col.combine_chunks(), False
    keys = _short_keys(col)
    # a sample first: only an order-like column is cut at its value changes
    if n > 2 and _sorted_runs(col.slice(0, min(n, 1 << 16)).combine_chunks()):
        if keys is not None:
            k = np.concatenate([_numpy(c) for c in keys.chunks])
            new = np.empty(n, dtype=bool)
            new[0] = True
            np.not_equal(k[1:], k[:-1], out=new[1:])
            n_runs = int(np.count_nonzero(new))
            whole = None
        else:
            whole = col.combine_chunks() if col.num_chunks > 1 else col.chunk(0)
            change = pc.not_equal(whole.slice(1), whole.slice(0, n - 1))
            n_runs = 1 + int(pc.sum(change).as_py() or 0)
        if n_runs * 4 <= n * 3:  # enough repeats in a row to pay off
            if whole is not None:
                new = np.empty(n, dtype=bool)
                new[0] = True
                new[1:] = np.unpackbits(np.frombuffer(change.buffers()[1], dtype=np.uint8),
                                        bitorder="little")[change.offset:change.offset + n - 1]
            codes = np.cumsum(new, dtype=np.int32)
            codes -= 1
            heads = np.flatnonzero(new)
            if whole is None:
                return codes, _key_strings(k[heads]), True
            return codes, pc.take(whole, _arrow_ints(heads)), True
    if keys is not None:
        # ids of at most 8 bytes hashed as integers: about twice as fast as their text
        enc = pc.dictionary_encode(keys)
        codes = np.concatenate([_numpy(c.indices) for c in enc.chunks]).astype(np.int32,
                                                                            copy=False)
        return codes, _key_strings(_numpy(enc.chunk(enc.num_chunks - 1).dictionary)), False
    if col.num_chunks == 1:
        whole = col.chunk(0)
        enc = pc.dictionary_encode(whole)
        return _numpy(enc.indices).astype(np.int32, copy=False), enc.dictionary, False
    # the chunks hashed in turn without a combined copy of their text: they share one
    # growing memo table, so every chunk's codes index the last chunk's dictionary
    enc = pc.dictionary_encode(col)
    codes = np.concatenate([_numpy(c.indices) for c in enc.chunks]).astype(np.int32,
                                                                        copy=False)
    return codes, enc.chunk(enc.num_chunks - 1).dictionary, False


def _short_keys(col: Any) -> Any:
    """Each value of a string column as a uint64 (its bytes, NUL-padded), or None.

    Only when every value has at most 8 bytes and none holds a NUL byte: then the
    padding cannot make two values equal, and the key is the value.
    """
    pa, pc, _ = _pa()
    span = pc.min_max(pc.binary_length(col)).as_py()
    if span["max"] is None or span["max"] > 8:
        return None
    for c in col.chunks:
        if len(c) and c.buffers()[2] is not None:
            offsets = np.frombuffer(c.buffers()[1], dtype=np.int32)
            data = np.frombuffer(c.buffers()[2], dtype=np.uint8)
            if not data[offsets[c.offset]:offsets[c.offset + len(c)]].all():
                return None  # a NUL byte: the ids are refused later, with their own message
    # every value 8 bytes long: the padded text is an array of uint64, without a copy
    padded = col if span["min"] == 8 else pc.ascii_rpad(col, 8, "\0")
    chunks = []
    for c in padded.chunks:
        bufs = c.buffers()
        start = int(np.frombuffer(bufs[1], dtype=np.int32)[c.offset]) if len(c) else 0
        data = (bufs[2].slice(start, 8 * len(c)) if bufs[2] is not None
                else pa.py_buffer(b""))
        chunks.append(pa.Array.from_buffers(pa.uint64(), len(c), [None, data]))
    return pa.chunked_array(chunks, type=pa.uint64())


def _key_strings(keys: np.ndarray) -> Any:
    """The pyarrow strings of :func:`_short_keys`' keys (trailing NUL padding dropped)."""
    pa, _, _ = _pa()
    raw = np.ascontiguousarray(keys, dtype=np.uint64).view(np.uint8).reshape(-1, 8)
    used = raw != 0  # no value holds a NUL byte, so only the padding is zero
    offsets = np.zeros(keys.size + 1, dtype=np.int32)
    # a value's length: its used bytes, each a 1 byte of a uint64 (a bit count: a sum along
    # the rows is ten times slower; numpy before 2.0 has no bit count)
    count = getattr(np, "bitwise_count", None)
    lengths = (count(used.view(np.uint64).reshape(-1)) if count is not None
               else used.sum(axis=1))
    np.cumsum(lengths, out=offsets[1:])
    data = np.ascontiguousarray(raw[used])
    return pa.Array.from_buffers(pa.string(), keys.size,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _edges_may_be_space(arr: Any, lengths: np.ndarray) -> bool:
    """Whether some value of a string array starts or ends with a byte that may be white space.

    Those are every byte outside printable ASCII (0x21-0x7E): controls, space, DEL
    and the bytes of multi-byte characters (U+00A0, U+3000, ...). False proves that
    ``utf8_trim_whitespace`` would change no value.
    """
    n = len(arr)
    if n == 0:
        return False
    bufs = arr.buffers()
    if bufs[2] is None:
        return False  # every value empty
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8)
    start, end = offsets[:-1], offsets[1:] - 1
    used = lengths > 0
    if not used.all():
        start, end = start[used], end[used]
    for edge in (data[start], data[end]):
        # outside printable ASCII (0x21-0x7E): below 0x21 wraps around to 0xDF and above
        edge -= 0x21
        if edge.size and int(edge.max()) > 0x7E - 0x21:
            return True
    return False


def _strings(arr: Any, role: str, *, packed: bool = False) -> np.ndarray:
    """A pyarrow string array as a numpy str array, without a Python object per value.

    ``packed``: ASCII text comes as bytes (``S``, one byte a character), as an
    :class:`~upsell.data.IdIndex` holds it, instead of numpy's 4-byte characters.
    """
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype="U1")
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    base = int(offsets[0])
    end = int(offsets[-1])
    data = (np.frombuffer(bufs[2], dtype=np.uint8)[base:end] if bufs[2] is not None
            else np.zeros(0, np.uint8))
    lengths = np.diff(offsets)
    w = max(int(lengths.max()), 1)
    if data.size and not data.all():
        raise UpsellDataError(f"a `{role}` value contains a NUL character, which ids may not hold")
    ascii_ = not data.size or int(data.max()) < 0x80
    if ascii_ and data.size == n * w:  # all of one width (codes like 'O0000001'): no gather
        if packed:
            return data.reshape(n, w).copy().view(f"S{w}").reshape(-1)
        out_u = np.empty((n, w), dtype=np.uint32)
        out_u[...] = data.reshape(n, w)
        return out_u.view(f"U{w}").reshape(-1)
    padded = np.zeros(data.size + w, dtype=np.uint8)
    padded[:data.size] = data
    window = np.ndarray(shape=(padded.size - w + 1,), dtype=f"S{w}", buffer=padded,
                        strides=(1,))
    out = window[offsets[:-1] - base]
    if (lengths != w).any():
        mat = out.view(np.uint8).reshape(n, w)
        mat *= np.arange(w) < lengths[:, None]
    if ascii_ and packed:
        return out
    if ascii_:
        # ASCII: each byte is its code point; widening is far cheaper than a decode
        return out.view(np.uint8).reshape(n, w).astype(np.uint32).view(f"U{w}").reshape(-1)
    return np.strings.decode(out, "utf-8")


def _all_ints(values: Any) -> bool:
    """Whether every value is a plain integer id (a sample first: text ids fail fast)."""
    _, pc, _ = _pa()
    for part in (values.slice(0, 1000), values):
        if not pc.all(pc.match_substring_regex(part, _INT_ID)).as_py():
            return False
    return True


def _ids(col: Any, role: str, index: IdIndex | None, prep: Any, *, text: bool = False
         ) -> tuple[np.ndarray, IdIndex | None, np.ndarray]:
    """Codes (int32, -1 missing or unknown), the index (None if given), the unknown mask.

    Only the distinct values of the column are normalised, in pyarrow: stripped
    (rows whose id had spaces around it are counted as repaired), blank = missing,
    customer null markers ("NULL", "nan", ...) = anonymous (counted), integers when
    every id is a plain integer (:func:`upsell.data.io.maybe_int_ids`'s rule).
    """
    from upsell.data._columns import NOT_SET, null_markers

    pa, pc, _ = _pa()
    codes, values, may_repeat = _distinct_source(col)
    rlen = _numpy(pc.binary_length(values))
    # stripped only when some value may start or end with white space
    stripped = pc.utf8_trim_whitespace(values) if _edges_may_be_space(values, rlen) else values
    slen = rlen if stripped is values else _numpy(pc.binary_length(stripped))
    miss = slen == 0
    if role == "customer" and len(values):
        short = np.flatnonzero((slen <= 4) & ~miss)
        if short.size:
            marker = np.zeros(len(values), dtype=bool)
            marker[short] = null_markers(_strings(pc.take(stripped, _arrow_ints(short)), role))
            if marker.any():
                prep.repairs["customer id 'NULL', 'nan', 'None' ... read as anonymous"] = \
                    marker[codes]
                miss |= marker
    if role in ("order", "item", "customer") and len(values):
        # Google Analytics' "(not set)": no id at all (a GA4 export's transaction_id)
        nine = np.flatnonzero((slen == len(NOT_SET)) & ~miss)
        if nine.size:
            same = pc._call("starts_with", pc.take(stripped, _arrow_ints(nine)),
                            options=pc._c.MatchSubstringOptions(NOT_SET))  # (and 9 long)
            hit = np.zeros(len(values), dtype=bool)  # in pyarrow: ids of 9 are no strings here
            hit[nine] = _numpy(pc._call("cast", same, options=pc._c.CastOptions.unsafe(
                pa.uint8()))).astype(bool)
            if hit.any():
                if role == "customer":
                    prep.repairs[f"customer id {NOT_SET!r} read as anonymous"] = hit[codes]
                else:  # named by the error of the line left without its id
                    prep.placeholders[role] = hit[codes]
                miss |= hit
    changed = (slen != rlen) & ~miss
    if changed.any():
        if not text:  # a product name's spaces are layout, not a repaired id
            prep.repairs[f"{role} id stripped of surrounding spaces"] = changed[codes]
        may_repeat = True
    present = pc.filter(stripped, _arrow_mask(~miss)) if miss.any() else stripped
    ids: np.ndarray
    if not text and len(present) and _all_ints(present):
        # "17850.0" is 17850 (spreadsheets); most columns have no such value to rewrite
        plain = (pc.replace_substring_regex(present, r"\.0$", "")
                 if pc.any(pc.ends_with(present, pattern=".0")).as_py() else present)
        ints = _numpy(pc.cast(plain, pa.int64()))
        if ints.size < 2 or bool((ints[1:] > ints[:-1]).all()):
            ids, inv = ints, np.arange(ints.size)
        else:
            ids, inv = np.unique(ints, return_inverse=True)
            inv = inv.reshape(-1)
    elif _increasing(present):
        ids, inv = _strings(present, role, packed=index is None), np.arange(len(present))
        if index is None and not miss.any():  # the codes are the index's already
            return codes, IdIndex._from_sorted_unique(ids, name=role), np.zeros(codes.size,
                                                                                dtype=bool)
    else:
        if may_repeat:
            enc = pc.dictionary_encode(present)
            distinct, first = enc.dictionary, _numpy(enc.indices)
        else:
            distinct, first = present, np.arange(len(present))
        order = _numpy(pc.array_sort_indices(distinct))
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        inv = rank[first]
        ids = _strings(pc.take(distinct, _arrow_ints(order)), role, packed=index is None)
    code_map = np.full(len(values), -1, dtype=np.int32)
    unknown_map = np.zeros(len(values), dtype=bool)
    out_index: IdIndex | None = None
    if index is None:
        out_index = IdIndex._from_sorted_unique(ids, name=role)
        code_map[~miss] = inv
    else:
        if ids.size and (ids.dtype.kind == "i") != (index.kind == "int"):
            got = "int" if ids.dtype.kind == "i" else "str"
            raise UpsellDataError(
                f"column `{role}` holds {got} ids but the given {role} index holds "
                f"{index.kind} ids"
            )
        sub = index.encode(ids, unknown="mask") if ids.size else np.zeros(0, np.int32)
        code_map[~miss] = sub[inv]
        unknown_map[~miss] = sub[inv] < 0
    out = code_map[codes]
    unknown = unknown_map[codes] if index is not None else np.zeros(out.size, dtype=bool)
    return out, out_index, unknown


def _values(col: Any, role: str, time_format: str | None = None, decimal: str = "."
            ) -> tuple[Any, ...]:
    """float64 or datetime64[s] values of a column; for text columns also the bad rows.

    A number text that ``float()`` refuses is tried again as a spreadsheet shows numbers
    (:mod:`upsell.data._formatted`); the rows read so, with one of their texts, come as a
    fourth element (repairs).

    Returns the values (NaN / NaT where blank or bad), the mask of bad rows (None
    when there is none) and the first bad row with its text and the advice for the
    error (a ``time_format`` that reads the bad times, when one does; ``decimal=','``
    when most bad numbers are written with a decimal comma).
    """
    pa, _, _ = _pa()
    if not pa.types.is_string(col.type):
        # several chunks: concatenate makes the one copy, chunks without nulls are views
        views = col.num_chunks > 1
        if role == "time":  # NaT is int64's minimum
            parts = [_with_nulls(c, np.int64, np.iinfo(np.int64).min, copy=not views)
                     for c in col.chunks]
            out = np.concatenate(parts) if views else (parts[0] if parts
                                                       else np.zeros(0, np.int64))
            return out.view("datetime64[s]"), None, None
        parts = [_with_nulls(c, np.float64, np.nan, copy=not views) for c in col.chunks]
        return (np.concatenate(parts) if views else (parts[0] if parts else np.zeros(0))
                ), None, None
    codes, values, _ = _distinct_source(col)
    raw = _strings(values, role)
    from upsell.data import _columns as C

    formatted: tuple[np.ndarray, str] | tuple[()] = ()
    if role == "time":
        parsed, bad = C.parse_times(raw, time_format)
    else:
        parsed, bad = C.parse_numbers(raw, decimal)
        if bad.any():  # a spreadsheet's display: currency, thousands, (negatives)
            from upsell.data._formatted import read_formatted

            at = np.flatnonzero(bad)
            got, ok = read_formatted(raw[at].tolist(), decimal)
            if ok.any():
                parsed[at[ok]] = got[ok]
                bad[at[ok]] = False
                mask = np.zeros(raw.size, dtype=bool)
                mask[at[ok]] = True
                rows = mask[codes]
                formatted = (rows, str(raw[codes[int(np.argmax(rows))]]))
    values = parsed[codes]
    if not bad.any():
        return (values, None, None, *formatted)
    rows_bad = bad[codes]
    first = int(np.flatnonzero(rows_bad)[0])
    advice = ""
    if role == "time" and time_format is None:
        advice = C.time_advice(raw[bad])
    elif role != "time" and decimal == ".":
        from upsell.data._formatted import decimal_advice

        advice = decimal_advice(raw[bad][:1000].tolist())
    return (values, rows_bad, (first, str(raw[codes[first]]), advice), *formatted)
