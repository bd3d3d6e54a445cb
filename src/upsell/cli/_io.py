"""Files in and out of the command line: reading orders, catalogs, scores and offer logs; writing tables as CSV or JSON; progress lines; library errors in the command line's words."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

import numpy as np

from upsell.data import Catalog, Transactions
from upsell.data.io import TABLE_KINDS, file_kind, is_json_lines
from upsell.data.report import SPLIT_ORDER, duplicate_reason, one_workbook_sheets
from upsell.exceptions import UpsellDataError

_ROLE_FLAGS = ("order", "item", "customer", "quantity", "price", "time", "channel", "name",
               "value", "cost", "profit")

#: Columns written as money (two decimals); other floats keep ``--precision`` significant digits.
_MONEY = frozenset({"revenue", "monetary", "price", "list_price", "clv", "expected_spend",
                    "atv", "expected_revenue", "expected_margin", "margin", "price_diff",
                    "margin_gain", "spend"})

_MONEY_KPIS = frozenset({"atv"})

def _progress_wanted(quiet: bool) -> bool:
    """Progress bars only for a person watching a terminal: never in logs, pipes or files
    (tqdm's carriage returns clutter them)."""
    return not quiet and _is_terminal(sys.stderr)

class _Steps:
    """Progress on stderr, only on a terminal and never with ``--quiet``: a step still
    running after ``delay`` seconds shows its name, then its time when it ends ("fitting
    itemknn: 12.3 s"); shorter steps print nothing. (A step is one blocking call: a timer
    thread writes the line, as nothing in the step can.)"""

    def __init__(self, quiet: bool, delay: float = 1.0, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet or not _is_terminal(self.stream)
        self.delay = float(delay)

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        if self.quiet:
            yield
            return
        start = time.perf_counter()
        lock = threading.Lock()
        state = {"done": False, "shown": False}

        def show() -> None:
            with lock:  # never after the step ended
                if not state["done"]:
                    self.stream.write(f"{what} ...")
                    self.stream.flush()
                    state["shown"] = True

        timer = threading.Timer(self.delay, show)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            with lock:
                state["done"] = True
            if state["shown"]:
                self.stream.write(f"\r{what}: {time.perf_counter() - start:.1f} s\n")
                self.stream.flush()


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------- reading
def _pairs(text: str | None, option: str, what: str) -> list[tuple[str, str]]:
    """``name=header,...`` of ``option`` as (name, header) pairs, stripped."""
    out = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, header = part.partition("=")
        if not sep or not name.strip() or not header.strip():
            raise UpsellDataError(
                f"{option} takes {what}=header pairs separated by commas; got {part!r}")
        out.append((name.strip(), header.strip()))
    return out


def _where(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--where HEADER=VALUE`` (repeated): the rows to read, e.g. the purchases of an event
    log; a header given twice keeps the rows holding either value. ``HEADER!=VALUE`` leaves
    out the rows holding it (an order status: ``status!=canceled``)."""
    out: dict[str, list[str]] = {}
    negated: dict[str, bool] = {}
    for text in getattr(args, "where", None) or []:
        header, sep, value = text.partition("=")
        neg = header.endswith("!")
        header = header[:-1] if neg else header
        if not sep or not header.strip() or not value.strip():
            raise UpsellDataError(f"--where takes HEADER=VALUE (the rows to read, e.g. "
                                  f"event_type=purchase) or HEADER!=VALUE (the rows to leave "
                                  f"out, e.g. status!=canceled); got {text!r}")
        if negated.setdefault(header.strip(), neg) != neg:
            raise UpsellDataError(f"--where: {header.strip()!r} is given with both = and !=; "
                                  "use one (= keeps the values named, != the others)")
        out.setdefault(header.strip(), []).append(value.strip())
    return {h: ({"not": v} if negated[h] else v) for h, v in out.items()} or None


def _parse_columns(text: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """``--columns role=header,...``; ``order=A+B`` joins the headers A and B into the id."""
    columns: dict[str, Any] = {}
    for role, header in _pairs(text, "--columns", "role"):
        if role not in _ROLE_FLAGS:
            raise UpsellDataError(
                f"--columns: unknown role {role!r}; roles are {', '.join(_ROLE_FLAGS)}")
        if role == "item" and header.strip().lower() in ("none", "null", "nan", "-"):
            raise UpsellDataError(f"--columns item={header}: a file without an item column (a "
                                  "purchase log) is read with --no-items")
        heads = tuple(h.strip() for h in header.split("+"))
        if len(heads) > 1 and not all(heads):
            raise UpsellDataError(f"--columns: {role}={header} joins an empty header")
        columns[role] = heads if len(heads) > 1 else heads[0]
    if getattr(args, "no_items", False):  # a purchase log: no item column
        if "item" in columns or getattr(args, "item", None):
            raise UpsellDataError("--no-items says the file has no item column; "
                                  "--columns names one (item=...): give one of them")
        columns["item"] = None
    # the hidden --order/--item/... header flags; `upsell recommend` has none (its --customer
    # is a customer id, which used to be read as the customer column's header)
    for role in _ROLE_FLAGS if getattr(args, "role_flags", True) else ():
        value = getattr(args, role, None)
        if value:
            columns[role] = value
    return columns

@contextlib.contextmanager
def _local_path(path: Any) -> Iterator[Any]:
    """A file path for ``path`` (or the paths of a list); ``-`` copies standard input to
    a temporary file. Paths are taken literally (docs/hardening.md): a pattern the shell
    left alone is not expanded, and the error says how to name its files."""
    if path != "-":
        for p in path if isinstance(path, list) else [path]:
            if not os.path.exists(p):
                how = ("; paths are taken literally: let the shell expand the pattern "
                       "(unquoted), or give the folder that holds the files"
                       if any(c in str(p) for c in "*?[") else "")
                raise UpsellDataError(f"file not found: {p}{how}")
        yield path
        return
    fd, tmp = tempfile.mkstemp(prefix="upsell-stdin-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh)
        yield tmp
    finally:
        os.unlink(tmp)

def _orders_file(args: argparse.Namespace) -> dict[str, Any]:
    """``--orders-file`` / ``--orders-columns`` and ``--customers-file`` /
    ``--customers-columns`` as ``read_csv``'s keywords (none: {})."""
    out: dict[str, Any] = {}
    # no --orders-columns: the reader's error suggests them from the orders file's headers
    for kind, needs in (("orders", None), ("customers", "customer=HEADER,person=HEADER")):
        path = getattr(args, f"{kind}_file", None)
        text = getattr(args, f"{kind}_columns", None)
        if path is None and text is None:
            continue
        if path is None:
            raise UpsellDataError(f"--{kind}-columns goes with --{kind}-file (the {kind} file "
                                  "whose headers it names)")
        pairs = dict(_pairs(text, f"--{kind}-columns", "role"))
        if not pairs and needs:
            raise UpsellDataError(f"--{kind}-file needs --{kind}-columns: {needs}")
        out.update({f"{kind}_file": path, f"{kind}_columns": pairs or None})
    return out


def _sheet(texts: list[str] | None) -> int | str | list[int | str] | None:
    """``--sheet``: a sheet's name, or its 1-based number as a spreadsheet shows them;
    given again, several sheets; not given, None (the first and those continuing it)."""
    if not texts:
        return None
    out: list[int | str] = [int(t) - 1 if t.isdigit() and int(t) >= 1 else t for t in texts]
    return out[0] if len(out) == 1 else out


def orders_label(args: argparse.Namespace) -> str:
    """ORDERS as messages and titles name it: a file's (or folder's) name, ``standard
    input``, or the first and last of several files."""
    orders = args.orders
    if isinstance(orders, list):
        return f"{os.path.basename(orders[0])} ... {os.path.basename(orders[-1])}"
    return "standard input" if orders == "-" else os.path.basename(os.path.normpath(orders))


def parts_read(tx: Transactions) -> str:
    """The files read as one history, counted: ``"10 files"``, or ``"2 sheets"`` when they
    are the sheets of one workbook ("" for one input)."""
    files = tx.report.files
    if not files:
        return ""
    return f"{len(files):,} " + ("files" if one_workbook_sheets(files) is None else "sheets")


def _read_orders(args: argparse.Namespace, steps: _Steps) -> Transactions:
    tx = _read_lines(args, steps)
    split = tx.report.flagged.get(SPLIT_ORDER, 0)
    dups = tx.report.flagged.get(duplicate_reason(tx.has("quantity"))[0], 0)
    if split and dups:  # several files whose orders overlap, duplicate lines kept
        sys.stderr.write(
            f"upsell: {split:,} lines belong to orders found in more than one of the "
            f"{parts_read(tx)} (exports that overlap?); a line repeated in two of them "
            f"counts twice: --duplicates drop reads it once\n")
    return tx


def _read_lines(args: argparse.Namespace, steps: _Steps) -> Transactions:
    columns = _parse_columns(getattr(args, "columns", None), args)
    label = orders_label(args)
    if isinstance(args.orders, list):  # several files: one history
        if "-" in args.orders:
            raise UpsellDataError("- (standard input) is read alone, not among several files")
        if getattr(args, "input_format", "lines") == "baskets":
            raise UpsellDataError("--format baskets reads one file; join the baskets files "
                                  "first (one basket per line)")
    if getattr(args, "input_format", "lines") == "baskets":
        from upsell.datasets import read_baskets

        if columns:
            raise UpsellDataError("--columns goes with order-line files; a baskets file "
                                  "(--format baskets) has one basket of item labels per line")
        with _local_path(args.orders) as path, steps.step(f"reading {label}"):
            return read_baskets(path, args.delimiter, encoding=args.encoding)
    with _local_path(args.orders) as path, steps.step(f"reading {label}"):
        rules = dict(returns=args.returns, anonymous=args.anonymous, bad_prices=args.bad_prices,
                     duplicates=args.duplicates, invalid=args.invalid,
                     cancel_prefix=args.cancel_prefix,
                     time_format=getattr(args, "time_format", None),
                     decimal=getattr(args, "decimal", "."), where=_where(args))
        first = path[0] if isinstance(path, list) else path
        kind = file_kind(first)
        if kind == "folder":  # a folder of CSV files or workbooks, or one Parquet dataset
            from upsell.data.io import folder_kind
            from upsell.recommend import Recommender

            if Recommender.is_saved(first):  # `upsell recommend MODEL --customer ...`
                how = (f"pass it as --model {first}" if args.command == "recommend"
                       else f"`upsell recommend --model {first}` gives its offers")
                raise UpsellDataError(f"{first} is a model folder written by `upsell fit`, "
                                      f"not order lines: {how}")

            kind = {"text": "text", "workbook": "xlsx", "json": "json"}.get(
                folder_kind(first), "folder")
        headers = _orders_file(args)
        # JSON Lines: an API's or a warehouse's export, told by its first byte
        json_lines = kind == "json" or (kind in ("text", "gzip") and is_json_lines(first))
        if json_lines or kind in TABLE_KINDS:
            what = ("JSON Lines" if json_lines else
                    "Parquet" if kind in TABLE_KINDS[:2] else "a workbook")
            skip = getattr(args, "skip_rows", 0)
            # (a CSV orders file beside them is read as "," and UTF-8)
            for flag, value, default, goes_with in (
                    ("--delimiter", args.delimiter, None, "CSV files"),
                    ("--encoding", args.encoding, "utf-8", "CSV files"),
                    ("--skip-rows", skip if what != "a workbook" else 0, 0,
                     "CSV files and workbooks"),
                    ("--no-header", getattr(args, "no_header", False), False, "CSV files")):
                if value not in (None, default):
                    raise UpsellDataError(f"{flag} goes with {goes_with}; {label} is {what}")
            if json_lines:
                return Transactions.read_json(path, columns=columns or None, **headers, **rules)
            if what == "Parquet":
                return Transactions.read_parquet(path, columns=columns or None, **headers,
                                                 **rules)
            return Transactions.read_excel(path, sheet=_sheet(getattr(args, "sheet", None)),
                                           columns=columns or None, skip_rows=skip, **headers,
                                           **rules)
        try:
            return Transactions.read_csv(
                path, columns=columns or None, delimiter=args.delimiter or ",",
                encoding=args.encoding, skip_rows=getattr(args, "skip_rows", 0), **headers,
                header=not getattr(args, "no_header", False), **rules)
        except UpsellDataError as exc:
            text = str(exc)
            advised = ("headers look like" in text or "join those columns" in text
                       or "pass delimiter=" in text or "header seems to be below" in text
                       or "first line looks like data" in text)
            if not columns and not advised and (
                    text.startswith("no `order` column") or text.startswith("no `item` column")):
                # Groceries-like files have no header: one basket of item labels per line
                raise UpsellDataError(f"{text}. If the file holds one basket of items per line, "
                                      "add --format baskets") from exc
            raise

def _need(tx: Transactions, args: argparse.Namespace, what: str, *roles: str) -> None:
    """Refuse, in the command line's words, a command whose data lack ``roles``: a baskets
    file holds only items, order lines need the column mapped with ``--columns``."""
    missing = [r for r in roles if not tx.has(r)]
    if not missing:
        return
    if "item" in missing:  # read with --no-items
        raise UpsellDataError(f"{what} needs the items of each order; --no-items read "
                              f"{orders_label(args)} as a purchase log without them (ATV, CLV "
                              "and the segments need no items)")
    cols = ", ".join(missing)
    if "price" in missing:  # a line total gives the unit price too
        cols += " (or value, a line total)"
    if getattr(args, "input_format", "lines") == "baskets":
        raise UpsellDataError(
            f"{what} needs {cols} columns; a baskets file (--format baskets) holds only the "
            "items of each basket: give order lines with those columns (--columns "
            + ",".join(f"{r}=HEADER" for r in missing) + ")")
    raise UpsellDataError(
        f"{what} needs the {cols} column{'s' if len(missing) > 1 else ''}, which "
        f"{orders_label(args)} does not "
        "have mapped: name it with --columns " + ",".join(f"{r}=HEADER" for r in missing))

_LIBRARY_WORDS = (
    (re.compile(r"columns=\{'item': None\}"), "--no-items"),
    (re.compile(r"invalid='drop'"), "--invalid drop"),
    (re.compile(r"`customers_columns`"), "--customers-columns"),
    (re.compile(r"`customers_file`"), "--customers-file"),
    (re.compile(r"`orders_columns`"), "--orders-columns"),
    (re.compile(r"`orders_file`"), "--orders-file"),
    (re.compile(r"the right `encoding`"), "the right --encoding"),
    (re.compile(r"pass encoding='([\w-]+)'"), r"pass --encoding \1"),
    (re.compile(r"time_format=('[^']*')"), r"--time-format \1"),
    (re.compile(r"\bpass time_format\b"), "pass --time-format"),
    (re.compile(r"expected time_format"), "expected --time-format"),
    (re.compile(r"pass decimal=','"), "pass --decimal ,"),
    (re.compile(r"read with header=False"), "read with --no-header"),
    (re.compile(r"\bby='(\w+)'"), r"--by \1"),
    (re.compile(r"pass delimiter='\\t'"), lambda m: "pass --delimiter $'\\t'"),
    (re.compile(r"pass delimiter=('[^']*')"), r"pass --delimiter \1"),
)

_QUOTED = re.compile(r"'([^']*)'")
_SKIP_ROWS = re.compile(r"\bskip_rows=(\d+)")
_ONE_ROLE = re.compile(r"columns=\{'(\w+)': \.\.\.\}")
_MAPPING = re.compile(r"((?:orders|customers)_)?columns="
                      r"\{((?:'\w+': (?:'[^']*'|\((?:'[^']*'(?:, )?)+\))(?:, )?)+)\}")


def _mapping_words(m: re.Match[str], flag: str) -> str:
    """``columns={'order': 'Invoice', 'customer': 'Customer ID'}`` as the ``flag`` option;
    a tuple of headers (joined into one id) reads ``order=A+B``."""
    if m.group(1):  # an orders or customers file's mapping: its own option
        flag = f"--{m.group(1)[:-1]}-columns"
    pairs = re.findall(r"'(\w+)': ('[^']*'|\((?:'[^']*'(?:, )?)+\))", m.group(2))
    arg = ",".join(f"{role}={'+'.join(_QUOTED.findall(v))}" for role, v in pairs)
    if re.fullmatch(r"[\w=,.%+:/@-]+", arg):
        return f"{flag} {arg}"
    return f"{flag} '{arg}'" if "'" not in arg else f'{flag} "{arg}"'  # for a shell


def _cli_words(message: str, columns_flag: str = "--columns",
               skip_flag: str = "--skip-rows") -> str:
    """An error of the library in the command line's words: ``columns={'order': ...}`` reads
    ``--columns order=HEADER`` and ``skip_rows=2`` reads ``--skip-rows 2`` (``columns_flag``,
    ``skip_flag``: the options of the file at hand), ``invalid='drop'`` reads ``--invalid drop``.

    Examples
    --------
    >>> _cli_words("no `order` column: map one with columns={'order': ...}; pass invalid='drop'")
    'no `order` column: map one with --columns order=HEADER; pass --invalid drop'
    >>> _cli_words("look like columns={'order': 'Invoice', 'customer': 'Customer ID'}")
    "look like --columns 'order=Invoice,customer=Customer ID'"
    >>> _cli_words("join: columns={'order': ('CUST', 'DAY'), 'item': 'SKU'}")
    'join: --columns order=CUST+DAY,item=SKU'
    >>> _cli_words("look like orders_columns={'order': 'order_id', 'customer': 'user_id'}")
    'look like --orders-columns order=order_id,customer=user_id'
    """
    message = _MAPPING.sub(lambda m: _mapping_words(m, columns_flag), message)
    message = _ONE_ROLE.sub(rf"{columns_flag} \1=HEADER", message)
    message = _SKIP_ROWS.sub(rf"{skip_flag} \1", message)
    for pattern, words in _LIBRARY_WORDS:
        message = pattern.sub(words, message)
    for pattern, hint in _FORMAT_HINTS:  # once: a message may come through here twice
        if pattern.search(message) and hint not in message \
                and "--time-format" not in message and "--decimal" not in message:
            message += hint
    return message

#: Formats read only when told (--decimal, --time-format): when the library's error
#: holds no advice of its own, the hint says what to pass or convert.
_FORMAT_HINTS = (
    (re.compile(r"'[-+]?\d[\d.]*,\d+' is not a number"),
     ". Numbers are read with a decimal point unless --decimal , says they write a comma"),
    (re.compile(r"' is not a timestamp \(expected ISO 8601"),
     ". Dates are read as ISO 8601 (2010-12-01 08:26) unless --time-format says how they "
     "are written, e.g. --time-format '%d/%m/%Y %H:%M' for 31/12/2011 23:59"),
)

def _read_catalog(args: argparse.Namespace, steps: _Steps) -> Catalog | None:
    path = getattr(args, "catalog", None)
    if not path:
        return None
    if not os.path.exists(path):
        raise UpsellDataError(f"catalog file not found: {path}")
    columns = dict(_pairs(getattr(args, "catalog_columns", None), "--catalog-columns", "name"))
    with steps.step(f"reading {os.path.basename(path)}"):
        try:
            skip = getattr(args, "catalog_skip_rows", 0)
            if file_kind(path) in TABLE_KINDS or is_json_lines(path):  # (JSON: products.json)
                return Catalog.read_table(path, columns=columns or None, skip_rows=skip,
                                          decimal=getattr(args, "decimal", "."))
            return Catalog.read_csv(path, columns=columns or None, skip_rows=skip,
                                    delimiter=args.delimiter or ",", encoding=args.encoding,
                                    decimal=getattr(args, "decimal", "."))
        except UpsellDataError as exc:  # its options are --catalog-columns and --catalog-skip-rows
            raise UpsellDataError(_cli_words(str(exc), "--catalog-columns",
                                             "--catalog-skip-rows")) from None

def _read_scores(path: str) -> np.ndarray:
    """NPS answers: a CSV with a ``score`` (or ``nps``) column, or one number per line."""
    if not os.path.exists(path):
        raise UpsellDataError(f"NPS file not found: {path}")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if not rows:
        raise UpsellDataError(f"NPS file {path} is empty")
    head = [h.strip().lower() for h in rows[0]]
    col = next((head.index(n) for n in ("score", "nps") if n in head), None)
    body = rows[1:] if col is not None else rows
    col = col or 0
    try:
        return np.array([float(r[col]) for r in body])
    except (ValueError, IndexError) as exc:
        raise UpsellDataError(f"NPS file {path}: every answer must be a number 0-10 ({exc})") from exc

def _read_offer_log(path: str) -> dict[str, np.ndarray]:
    if not os.path.exists(path):
        raise UpsellDataError(f"offer log file not found: {path}")
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        names = reader.fieldnames or []
    if not rows:
        raise UpsellDataError(f"offer log {path} has no rows")
    out: dict[str, np.ndarray] = {}
    for name in names:
        values = [r[name] for r in rows]
        try:
            out[name] = np.array([float(v) for v in values])
        except ValueError:
            out[name] = np.array(values)
    return out

# ---------------------------------------------------------------------- writing
def _records(obj: Any) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of a Table, a list of dicts, or a dict of equal-length arrays."""
    from upsell.report import Table

    if isinstance(obj, Table):
        return list(obj.columns), [list(r) for r in obj.rows]
    if isinstance(obj, dict):
        cols = list(obj)
        arrays = [np.asarray(obj[c]) for c in cols]
        n = len(arrays[0]) if arrays else 0
        return cols, [[a[i] for a in arrays] for i in range(n)]
    cols = list(obj[0]) if obj else []
    return cols, [[r.get(c) for c in cols] for r in obj]

def _round(x: float, digits: int | None, money: bool) -> float:
    """``digits`` significant digits, never dropping integer digits (425431.61199999985 ->
    425432 at 4); money keeps two decimals (425431.61). None: unchanged."""
    if digits is None or x == 0 or not math.isfinite(x):
        return x
    if money:
        return round(x, 2) + 0.0
    mag = math.floor(math.log10(abs(x)))
    return round(x, max(digits - 1 - mag, 0)) + 0.0

def _plain(v: Any, digits: int | None = None, money: bool = False) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if v != v or v in (math.inf, -math.inf):
            return None
        r = _round(v, digits, money)
        # a rounded whole number reads as one (7076259, not 7076259.0)
        return int(r) if digits is not None and r.is_integer() and abs(r) < 2**53 else r
    if isinstance(v, (tuple, list)):
        return [_plain(x, digits, money) for x in v]
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    return str(v)

def _write(obj: Any, args: argparse.Namespace, out: TextIO, *, total: int | None = None
           ) -> None:
    """Write a table as CSV or JSON; ``total``: rows before ``--top`` cut the output (the
    cut is then said on stderr, "100 of 2,960 rows", so CSV and JSON stay plain data)."""
    cols, rows = _records(obj)
    target = getattr(args, "output", None)
    digits = getattr(args, "precision", None)
    money = [c in _MONEY for c in cols]
    # KPI tables: the value (and numerator) of a money KPI is money
    kpi_col = cols.index("kpi") if "kpi" in cols else -1
    kpi_money = [c in ("value", "numerator") for c in cols]

    def flags(r: list[Any]) -> list[bool]:
        if kpi_col >= 0 and r[kpi_col] in _MONEY_KPIS:
            return [m or k for m, k in zip(money, kpi_money, strict=True)]
        return money

    fh = open(target, "w", encoding="utf-8", newline="") if target else out
    try:
        if args.format == "json":
            data = [{c: _plain(v, digits, m) for c, v, m in zip(cols, r, flags(r), strict=True)}
                    for r in rows]
            fh.write(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        else:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(cols)
            for r in rows:
                cells = []
                for v, m in zip(r, flags(r), strict=True):
                    p = _plain(v, digits, m)
                    # " + ": item labels may hold spaces ("red/blush wine")
                    cells.append(" + ".join(map(str, p)) if isinstance(p, list) else
                                 ("" if p is None else p))
                w.writerow(cells)
    finally:
        if target:
            fh.close()
    cut = total is not None and total > len(rows)
    if cut:
        # said even with --quiet: it is about the data, not progress
        where = f" to {target}" if target else ""
        sys.stderr.write(f"upsell: wrote {len(rows):,} of {total:,} rows{where} "
                         f"(--top 0 writes all)\n")
    elif target and not args.quiet:
        sys.stderr.write(f"wrote {len(rows):,} rows to {target}\n")
