"""The ``upsell`` command line.

``upsell demo`` runs the whole handbook on the built-in demo shop and writes an
HTML report; ``upsell report ORDERS.csv`` does the same on a user's own data.
``mine``, ``segment``, ``kpi``, ``clv``, ``evaluate``, ``fit`` and ``recommend``
each run one part and write CSV or JSON. ``inspect`` prints a file's data report.

The work happens in the library (:func:`upsell.report.analyse` and the modules);
this file only parses options, reads and writes files and shows progress.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, TextIO

import numpy as np

from upsell import __version__
from upsell.data import Catalog, Transactions
from upsell.exceptions import UpsellDataError, UpsellError

__all__ = ["build_parser", "main"]

_ROLE_FLAGS = ("order", "item", "customer", "quantity", "price", "time", "channel", "name",
               "value")
#: Columns written as money (two decimals); other floats keep ``--precision`` significant digits.
_MONEY = frozenset({"revenue", "monetary", "price", "list_price", "clv", "expected_spend",
                    "atv", "expected_revenue", "expected_margin", "margin", "price_diff",
                    "margin_gain", "spend"})
_MONEY_KPIS = frozenset({"atv"})


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and a hint), not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _progress_wanted(quiet: bool) -> bool:
    """Progress bars only for a person watching a terminal: never in logs, pipes or files
    (tqdm's carriage returns clutter them)."""
    if quiet:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False


class _Steps:
    """Progress on stderr: one tqdm bar per step (elapsed time), only on a terminal and
    never with ``--quiet``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = not _progress_wanted(quiet)

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        if self.quiet:
            yield
            return
        from tqdm import tqdm

        bar = tqdm(total=1, desc=what, bar_format="{desc}: {elapsed}", file=sys.stderr,
                   leave=False, mininterval=1.0, delay=1.0)
        try:
            yield
            bar.update(1)
        finally:
            bar.close()


# ---------------------------------------------------------------------- reading
def _parse_columns(text: str | None, args: argparse.Namespace) -> dict[str, str]:
    columns: dict[str, str] = {}
    if text:
        for part in text.split(","):
            if not part.strip():
                continue
            role, sep, header = part.partition("=")
            role = role.strip()
            if not sep or not header.strip():
                raise UpsellDataError(
                    f"--columns takes role=header pairs separated by commas; got {part!r}")
            if role not in _ROLE_FLAGS:
                raise UpsellDataError(
                    f"--columns: unknown role {role!r}; roles are {', '.join(_ROLE_FLAGS)}")
            columns[role] = header.strip()
    # the hidden --order/--item/... header flags; `upsell recommend` has none (its --customer
    # is a customer id, which used to be read as the customer column's header)
    for role in _ROLE_FLAGS if getattr(args, "role_flags", True) else ():
        value = getattr(args, role, None)
        if value:
            columns[role] = value
    return columns


@contextlib.contextmanager
def _local_path(path: str) -> Iterator[str]:
    """A file path for ``path``; ``-`` copies standard input to a temporary file."""
    if path != "-":
        if not os.path.exists(path):
            raise UpsellDataError(f"file not found: {path}")
        yield path
        return
    fd, tmp = tempfile.mkstemp(prefix="upsell-stdin-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh)
        yield tmp
    finally:
        os.unlink(tmp)


def _read_orders(args: argparse.Namespace, steps: _Steps) -> Transactions:
    columns = _parse_columns(getattr(args, "columns", None), args)
    label = "standard input" if args.orders == "-" else os.path.basename(args.orders)
    if getattr(args, "input_format", "lines") == "baskets":
        from upsell.datasets import read_baskets

        if columns:
            raise UpsellDataError("--columns goes with order-line files; a baskets file "
                                  "(--format baskets) has one basket of item labels per line")
        with _local_path(args.orders) as path, steps.step(f"reading {label}"):
            return read_baskets(path, args.delimiter, encoding=args.encoding)
    with _local_path(args.orders) as path, steps.step(f"reading {label}"):
        try:
            return Transactions.read_csv(
                path, columns=columns or None, delimiter=args.delimiter or ",",
                encoding=args.encoding, returns=args.returns, anonymous=args.anonymous,
                bad_prices=args.bad_prices, duplicates=args.duplicates, invalid=args.invalid,
                cancel_prefix=args.cancel_prefix)
        except UpsellDataError as exc:
            text = str(exc)
            if not columns and (text.startswith("no `order` column")
                                or text.startswith("no `item` column")):
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
        f"{os.path.basename(args.orders) if args.orders != '-' else 'standard input'} does not "
        "have mapped: name it with --columns " + ",".join(f"{r}=HEADER" for r in missing))


_LIBRARY_WORDS = (
    (re.compile(r"columns=\{'(\w+)': \.\.\.\}"), r"--columns \1=HEADER"),
    (re.compile(r"invalid='drop'"), "--invalid drop"),
    (re.compile(r"the right `encoding`"), "the right --encoding"),
    (re.compile(r"\bby='(\w+)'"), r"--by \1"),
)


def _cli_words(message: str) -> str:
    """An error of the library in the command line's words: ``columns={'order': ...}`` reads
    ``--columns order=HEADER``, ``invalid='drop'`` reads ``--invalid drop``.

    Examples
    --------
    >>> _cli_words("no `order` column: map one with columns={'order': ...}; pass invalid='drop'")
    'no `order` column: map one with --columns order=HEADER; pass --invalid drop'
    """
    for pattern, words in _LIBRARY_WORDS:
        message = pattern.sub(words, message)
    for pattern, hint in _FORMAT_HINTS:
        if pattern.search(message):
            message += hint
    return message


#: Formats read nowhere (decimal commas, day/month dates): the error says what to convert.
_FORMAT_HINTS = (
    (re.compile(r"'[-+]?\d[\d.]*,\d+' is not a number"),
     ". Numbers are read with a decimal point: decimal commas (1.234,5) need converting "
     "(1234.5) before reading"),
    (re.compile(r"'\d{1,2}[/.]\d{1,2}[/.]\d{2,4}[^']*' is not a timestamp"),
     ". Dates are read as ISO 8601 (2010-12-01 08:26): day/month or month/day dates are "
     "ambiguous and need converting before reading"),
)


def _read_catalog(args: argparse.Namespace, steps: _Steps) -> Catalog | None:
    path = getattr(args, "catalog", None)
    if not path:
        return None
    if not os.path.exists(path):
        raise UpsellDataError(f"catalog file not found: {path}")
    with steps.step(f"reading {os.path.basename(path)}"):
        return Catalog.read_csv(path, delimiter=args.delimiter or ",", encoding=args.encoding)


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


# ---------------------------------------------------------------------- commands
def _facts(tx: Transactions, out: TextIO) -> None:
    lines, orders, items = tx.shape
    out.write(f"  {lines:,} order lines, {orders:,} orders, {items:,} items")
    if tx.has("customer"):
        out.write(f", {len(tx.customers):,} customers")
    out.write("\n")
    table = tx.order_table()
    out.write(f"  units per order (UPT): {np.mean(table.units):.2f}\n")
    if tx.has("price"):
        out.write(f"  average transaction value (ATV): {np.nanmean(table.value):,.2f}\n")
    if tx.has("time"):
        t = tx.time
        out.write(f"  period: {str(t.min())[:10]} to {str(t.max())[:10]}\n")
    sizes = np.diff(tx.baskets().indptr)
    out.write(f"  baskets with 2+ items: {np.mean(sizes >= 2):.1%}\n")


def _analyse_and_write(tx: Transactions, catalog: Catalog | None, args: argparse.Namespace,
                       steps: _Steps, out: TextIO, source: str, **options: Any) -> int:
    from upsell.report import analyse

    started = time.perf_counter()
    analysis = analyse(tx, catalog, source=source, progress=_progress_wanted(args.quiet),
                       random_state=args.seed, **options)
    with steps.step("writing the report"):
        analysis.save_html(args.output, title=args.title, charts=not args.no_charts)
    for line in analysis.summary():
        out.write(line + "\n")
    out.write(f"\nReport: {os.path.abspath(args.output)} "
              f"({time.perf_counter() - started:.1f} s)\n")
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell.datasets import make_shop

    with steps.step("making the demo shop"):
        shop = make_shop(n_customers=args.customers, n_orders=5 * args.customers,
                         random_state=args.seed)
    tx = shop.transactions
    out.write(f"upsell {__version__} demo shop (random_state={args.seed})\n\n")
    out.write(str(tx.report) + "\n\nFacts:\n")
    _facts(tx, out)
    out.write("\n")
    return _analyse_and_write(tx, shop.catalog, args, steps, out, source="demo shop")


def _cmd_report(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    tx = _read_orders(args, steps)
    catalog = _read_catalog(args, steps)
    options: dict[str, Any] = {}
    if args.nps:
        options["nps_scores"] = _read_scores(args.nps)
    if args.offer_log:
        options["offer_log"] = _read_offer_log(args.offer_log)
    source = "standard input" if args.orders == "-" else os.path.basename(args.orders)
    return _analyse_and_write(tx, catalog, args, steps, out, source=source, **options)


def _cmd_inspect(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    tx = _read_orders(args, steps)
    out.write(str(tx.report) + "\n\nFacts:\n")
    _facts(tx, out)
    return 0


def _item_namer(tx: Transactions, catalog: Catalog | None = None) -> Any:
    """A function item ids -> product names when the lines' name column or the catalog know
    names, else None."""
    try:
        known = tx.has("name")
    except UpsellError:  # an upsell without the name role
        known = False
    if known:
        names = dict(zip(tx.items.ids.tolist(), tx.item_names().tolist(), strict=True))
    elif catalog is not None and (catalog.name != catalog.items.ids.astype(str)).any():
        names = dict(zip(catalog.items.ids.tolist(), catalog.name.tolist(), strict=True))
    else:
        return None
    return lambda ids: [names.get(i, str(i)) for i in ids]


def _support_note(obj: Any, what: str, args: argparse.Namespace) -> None:
    """Say the support that auto chose (the budget, not a magic threshold, decided it)."""
    if getattr(obj, "support_chosen", "given") == "auto" and not args.quiet:
        sup = float(getattr(obj, "min_support", float("nan")))
        sys.stderr.write(f"upsell: --min-support auto chose {sup:.4g} ({len(obj):,} {what})\n")


def _why_no_rules(tx: Transactions, fi: Any, args: argparse.Namespace) -> str:
    """Why mining found no rule: single-item orders, no item set of two at the support,
    or none passing the confidence and significance thresholds."""
    sizes = np.diff(tx.baskets().indptr)
    if not (sizes >= 2).any():
        return (f"no order holds two or more items ({len(tx.orders):,} orders), so nothing "
                "is bought together")
    pairs = int(np.count_nonzero(fi.lengths >= 2)) if len(fi) else 0
    where = (f"at support {float(fi.min_support):.4g} ({int(fi.min_count):,} of "
             f"{len(tx.orders):,} orders)")
    if pairs == 0:
        return (f"no set of two or more items is frequent {where}; lower --min-support")
    return (f"none of {pairs:,} frequent item sets of 2+ items {where} gives a rule with "
            f"confidence >= {args.min_confidence:g} and Holm-adjusted p <= {args.max_p:g}; "
            "lower --min-confidence or raise --max-p")


def _cmd_mine(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import bundles

    tx = _read_orders(args, steps)
    catalog = _read_catalog(args, steps)
    names = _item_namer(tx, catalog)
    top = args.top or None  # 0: every row
    if args.what == "sequences":
        support = 0.01 if args.min_support == "auto" else args.min_support
        with steps.step("mining purchase sequences"):
            seq = bundles.sequence_rules(tx, within=args.within, min_support=support,
                                         min_confidence=args.min_confidence)
        if len(seq.lift) == 0:
            sys.stderr.write(f"upsell: no sequence rules: no pair of products is bought one "
                             f"after the other within {args.within} by {support:g} of the "
                             "customers or more; lower --min-support or widen --within\n")
        order = np.argsort(-seq.lift, kind="stable")[:top]
        ids = seq.items.ids
        first = ids[seq.first[order]] if seq.first.dtype.kind in "iu" else seq.first[order]
        then = ids[seq.then[order]] if seq.then.dtype.kind in "iu" else seq.then[order]
        data: dict[str, Any] = {"first": first, "then": then}
        if names is not None:
            data["first_name"] = np.array(names(first.tolist()), dtype=object)
            data["then_name"] = np.array(names(then.tolist()), dtype=object)
        data.update({"customers": seq.count[order], "support": seq.support[order],
                     "confidence": seq.confidence[order], "lift": seq.lift[order],
                     "median_lag_days": seq.median_lag_days[order]})
        _write(data, args, out, total=len(seq.lift))
        return 0
    with steps.step("mining frequent itemsets"):
        fi = bundles.frequent_itemsets(tx, min_support=args.min_support, max_len=args.max_len)
    _support_note(fi, "itemsets", args)

    def named(row: dict[str, Any], key: str, ids: Sequence[Any]) -> None:
        row[key] = list(ids)
        if names is not None:
            row[f"{key}_names"] = names(ids)

    if args.what == "itemsets":
        if len(fi) == 0:
            sys.stderr.write(f"upsell: no itemsets: no item is in {int(fi.min_count):,} or "
                             f"more of the {len(tx.orders):,} orders (the support "
                             f"{float(fi.min_support):.4g}); lower --min-support\n")
        order = np.argsort(-fi.counts, kind="stable")[:top]
        rows = []
        for i in order.tolist():
            row: dict[str, Any] = {}
            named(row, "itemset", fi.itemset(i))
            row.update(count=int(fi.counts[i]), support=float(fi.support[i]))
            rows.append(row)
        _write(rows or {c: [] for c in ("itemset", "count", "support")}, args, out,
               total=len(fi.counts))
        return 0
    if args.what == "bundles":
        if catalog is None:
            if not tx.has("price"):
                raise UpsellDataError("`upsell mine --what bundles` needs list prices: give "
                                      "--catalog, or order lines with a price (or value) column")
            catalog = Catalog.from_transactions(tx)
        b = bundles.suggest_bundles(fi, catalog, k=max(len(fi.counts), 1), rank_by=args.rank_by)
        keep: list[int] | range = range(len(b.items))
        if args.max_p:
            # bundles shown are significant like rules: some rule over the set passes --max-p
            # (at an automatic support, sets seen twice would otherwise top the table by lift)
            sig = bundles.association_rules(fi, min_confidence=0.0, max_p=args.max_p,
                                            min_len=2, max_len=3)
            ok = {frozenset(sig.antecedent(r)) | frozenset(sig.consequent(r))
                  for r in range(len(sig))}
            keep = [i for i, items in enumerate(b.items) if frozenset(items) in ok]
        total = len(keep)
        if total == 0:
            sys.stderr.write(f"upsell: no bundles: {_why_no_rules(tx, fi, args)}\n")
        rows = []
        for i in list(keep)[:top]:
            items, c, sup, lf, pr = (b.items[i], b.count[i], b.support[i], b.lift[i],
                                     b.list_price[i])
            row = {}
            named(row, "bundle", items)
            row.update(count=int(c), support=float(sup), lift=float(lf), list_price=float(pr))
            rows.append(row)
        _write(rows or {c: [] for c in ("bundle", "count", "support", "lift", "list_price")},
               args, out, total=total)
        return 0
    with steps.step("generating rules"):
        # a table for people shows significant rules only (Holm-adjusted Fisher p <= --max-p):
        # at an automatic support, rare pairs seen twice would otherwise top it by lift
        rules = bundles.association_rules(fi, min_confidence=args.min_confidence,
                                          prune=args.prune, max_p=args.max_p or None)
    total = len(rules)
    if total == 0:  # an empty table says why, never a crash or a bare header
        sys.stderr.write(f"upsell: no rules: {_why_no_rules(tx, fi, args)}\n")
        _write({c: [] for c in ("antecedent", "consequent", "count", "support", "confidence",
                                "lift", "p_adjusted")}, args, out)
        return 0
    if top is not None and args.max_per_item:
        # one rule per item set (no permutations of one), and each item in at most
        # --max-per-item rows, so the top of the table shows different ideas, not one family
        shown = rules.top(top, by="lift", distinct=True, max_per_item=args.max_per_item)
        order = np.arange(len(shown))
    elif top is not None:
        shown = rules.top(top, by="lift", distinct=True)
        order = np.arange(len(shown))
    else:
        shown = rules
        order = np.argsort(-rules.lift, kind="stable")[:top]
    rows = []
    for r in order.tolist():
        row = {}
        named(row, "antecedent", shown.antecedent(r))
        named(row, "consequent", shown.consequent(r))
        row.update(count=int(shown.count[r]), support=float(shown.support[r]),
                   confidence=float(shown.confidence[r]), lift=float(shown.lift[r]),
                   p_adjusted=float(shown.p_adjusted[r]))
        rows.append(row)
    if names is not None:  # ids first, then names, then the numbers
        rows = [{k: r[k] for k in ("antecedent", "consequent", "antecedent_names",
                                   "consequent_names", *list(r)[4:])} for r in rows]
    _write(rows, args, out, total=total)
    return 0


def _cmd_segment(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import segments

    tx = _read_orders(args, steps)
    _need(tx, args, "`upsell segment`", "customer", "time")
    catalog = _read_catalog(args, steps)
    with steps.step(f"segmenting ({args.method})"):
        if args.method == "rfm":
            res: Any = segments.rfm(tx)
            frame = {"customer": res.customers, "recency": res.recency,
                     "frequency": res.frequency, "monetary": res.monetary, "r": res.r,
                     "f": res.f, "m": res.m, "segment": res.segment}
            summary = res.summary()
        elif args.method == "clusters":
            clusters = segments.Clusters(random_state=args.seed).fit(tx, catalog=catalog)
            res = clusters.predict()
            frame = {"customer": res.customers, "cluster": res.cluster, "segment": res.label}
            summary = None
        else:
            personas = segments.Personas().fit(tx, catalog=catalog)
            res = personas.predict()
            frame = {"customer": res.customers, "segment": res.persona,
                     "reason": res.reasons()}
            summary = res.summary()
    if args.summary:
        if summary is None:
            raise UpsellDataError("--summary is available for --method personas and rfm")
        frame = {"segment": summary.segment, "customers": summary.customers,
                 "customer_share": summary.customer_share, "revenue": summary.revenue,
                 "revenue_share": summary.revenue_share}
    _write(frame, args, out)
    return 0


def _cmd_kpi(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import kpi

    tx = _read_orders(args, steps)
    catalog = _read_catalog(args, steps)
    rows: list[dict[str, Any]] = []
    funcs: list[tuple[str, Any]] = [("upt", kpi.upt)]
    if tx.has("price"):
        funcs.insert(0, ("atv", kpi.atv))
    if catalog is not None:
        funcs.append(("attach_rate", lambda t, by=None: kpi.attach_rate(t, catalog, by=by)))
        funcs.append(("upsell_rate", lambda t, by=None: kpi.upsell_rate(t, catalog, by=by)))
    with steps.step("computing KPIs"):
        for name, f in funcs:
            res = f(tx, by=args.by)
            note = getattr(res, "note", "")
            if note and not args.quiet:
                sys.stderr.write(f"upsell kpi: {note}\n")
            for g, v, nu, de in zip(res.groups.tolist(), res.value.tolist(),
                                    res.numerator.tolist(), res.denominator.tolist(),
                                    strict=True):
                # a KPI that cannot be computed is written as n/a with the reason, never 0.0
                defined = v == v
                rows.append({"kpi": name, "group": str(g)[:10] if args.by else "all",
                             "value": v if defined else "n/a",
                             "numerator": nu if defined else "",
                             "denominator": de if defined else "",
                             "note": "" if defined else (note or "not computable")})
        if args.nps:
            r = kpi.nps(_read_scores(args.nps), invalid="drop")
            rows.append({"kpi": "nps", "group": "all", "value": float(r.nps[0]),
                         "numerator": int(r.promoters[0]) - int(r.detractors[0]),
                         "denominator": int(r.n[0]), "note": ""})
    _write(rows, args, out)
    return 0


def _cmd_clv(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import kpi

    tx = _read_orders(args, steps)
    _need(tx, args, "`upsell clv`", "customer",
          *(("time", "price") if args.method == "model" else ("price",)))
    if args.method == "historic":
        with steps.step("historic CLV"):
            t = kpi.historic_clv(tx, margin=args.margin)
        _write({"customer": t.customers, "orders": t.orders, "revenue": t.revenue,
                "clv": t.value}, args, out)
        return 0
    with steps.step("fitting the purchase and spend models"):
        f = kpi.clv_forecast(tx, horizon=args.horizon, step=52.0 / 12,
                             discount_rate=args.discount_rate, margin=args.margin, freq="W")
    # which models, and why (e.g. a fallback when Gamma-Gamma's mean spend is infinite)
    sys.stderr.write(f"upsell clv: {f.method}. {f.note}\n")
    _write({"customer": f.customers, "frequency": f.frequency, "recency_weeks": f.recency,
            "T_weeks": f.T, "p_alive": f.p_alive, "expected_purchases": f.expected_purchases,
            "expected_spend": f.expected_spend, "clv": f.clv}, args, out)
    return 0


_CF_MODELS = ("popular", "itemknn", "als", "bpr", "ease")
#: Rules ``upsell fit`` generates at most (the most confident; a memory guard for a low explicit
#: ``--min-support``). The model's size is bounded by the bundle index's own entry budget, which
#: keeps every antecedent's best items first; cutting rules by confidence would lose coverage.
_MAX_RULES = 2_000_000
#: Rules shown to people and served are significant: Holm-adjusted Fisher p-value at most this.
_MAX_P = 0.05


def _cf_model(name: str, seed: int) -> Any:
    from upsell import cf

    if name == "als":
        return cf.ALS(random_state=seed)
    if name == "bpr":
        return cf.BPR(random_state=seed)
    return {"popular": cf.Popular, "itemknn": cf.ItemKNN, "ease": cf.EASE}[name]()


def _model_names(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in _CF_MODELS]
    if bad or not names:
        raise UpsellDataError(f"--models must name some of {', '.join(_CF_MODELS)}; got {text!r}")
    return names


def _cmd_evaluate(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell import evaluate

    tx = _read_orders(args, steps)
    _need(tx, args, "`upsell evaluate`", "customer", "time")
    catalog = _read_catalog(args, steps)
    names = _model_names(args.models)
    at: Any = args.at
    with contextlib.suppress(ValueError):
        at = float(args.at)
    split = evaluate.temporal_split(tx, at=at, exclude_train_items=not args.repeat)
    if len(split.requests) == 0:
        when = str(split.at)[:16] if split.at is not None else args.at
        ot = tx.order_table()  # orders, not lines: a long order's lines span many times
        named = ot.customer >= 0
        later = ((ot.time >= split.at) & named if split.at is not None
                 else np.zeros_like(named))
        buyers = np.unique(ot.customer[later])
        known = int(np.intersect1d(buyers, ot.customer[named & ~later]).size)
        if not named.any() or not (np.bincount(ot.customer[named]) >= 2).any():
            raise UpsellDataError("nothing to evaluate: every customer has a single order, so "
                                  "no model can learn from a customer's past orders")
        why = (f"{buyers.size:,} named customers bought after the split ({when})"
               + (", none of whom had bought before it; move the split with --at"
                  if buyers.size and not known else
                  f", {known:,} of them returning, none buying a product new to them (count "
                  "repeat purchases with --repeat)" if known and not args.repeat else
                  "; move the split with --at"))
        raise UpsellDataError(f"nothing to evaluate: {why}")
    metrics = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"]
    with steps.step(f"fitting and scoring {len(names)} models"):
        comp = evaluate.compare({n: _cf_model(n, args.seed) for n in names}, split, k=args.k,
                                metrics=metrics, n_bootstrap=args.bootstrap,
                                random_state=args.seed, catalog=catalog)
    rows = []
    for i, m in enumerate(comp.models):
        row: dict[str, Any] = {"model": m}
        for j, met in enumerate(comp.metrics):
            row[met] = float(comp.means[i, j])
        for j, met in enumerate(comp.metrics):
            if met != "coverage":
                row[f"{met}_diff"] = float(comp.diff[i, j])
                row[f"{met}_diff_low"] = float(comp.diff_low[i, j])
                row[f"{met}_diff_high"] = float(comp.diff_high[i, j])
        row["fit_seconds"] = float(comp.fit_seconds[i])
        rows.append(row)
    _write(rows, args, out)
    return 0


def _fit_recommender(args: argparse.Namespace, tx: Transactions, catalog: Catalog | None,
                     steps: _Steps) -> Any:
    """Fit the parts (bundle rules, a CF model, customer types, upsell ranker) into a Recommender.

    Mining runs under budgets (``--min-support auto``: the lowest support whose
    item sets stay within the itemset budget; ``--max-rules``), so the fit time
    and the model size follow the budgets, not the shop's basket sizes. Without
    a catalog, one is derived from the lines (names, median unit prices), so
    offers and cues show product names and prices.
    """
    from upsell import bundles, segments
    from upsell.recommend import Recommender

    cross: list[Any] = []
    with steps.step("mining bundle rules"):
        support: Any = args.min_support
        if support != "auto":  # a count floor keeps rules out of a handful of orders
            support = max(float(support), 10 / max(len(tx.orders), 1))
        fi = bundles.frequent_itemsets(tx, min_support=support, max_len=3)
        # redundant rules add nothing the index would keep; the rule budget is a memory guard
        # (it cuts by confidence), the index's own entry budget sizes the model
        rules = bundles.association_rules(fi, min_confidence=args.min_confidence,
                                          max_rules=args.max_rules or None, prune=True,
                                          max_p=_MAX_P)
        if len(rules):
            cross.append(bundles.BundleRecommender(rules))
    _support_note(fi, "itemsets", args)
    if tx.has("customer"):
        with steps.step(f"fitting {args.model}"):
            cross.append(_cf_model(args.model, args.seed).fit(tx))
    personas = None
    if tx.has("customer") and tx.has("time"):
        with steps.step("fitting customer types"):
            personas = segments.Personas().fit(tx, catalog=catalog)
    # without a catalog, the lines give the items, their names and prices
    cat = catalog.align(tx.items) if catalog is not None else Catalog.from_transactions(tx)
    ranker = None
    if catalog is not None:
        from upsell.tiers import UpsellRanker

        with steps.step("fitting the upsell ranker"):
            objective = "margin" if np.isfinite(catalog.cost).any() else "revenue"
            ranker = UpsellRanker(objective=objective).fit(tx, cat, segments=personas)
    return Recommender(catalog=cat, cross_sell=cross, upsell=ranker, segments=personas,
                       history=tx if tx.has("customer") else None)


def _cmd_fit(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    tx = _read_orders(args, steps)
    catalog = _read_catalog(args, steps)
    rec = _fit_recommender(args, tx, catalog, steps)
    with steps.step("saving"):
        rec.save(args.out)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.out) for f in fs)
    out.write(f"saved {rec!r} to {args.out} ({size / 1e6:,.1f} MB)\n")
    return 0


def _coerce(ids: Any, values: list[str]) -> list[Any]:
    """Command-line ids as the id index's kind (int ids stay ints); the library matches
    "17850" to 17850 too, this only keeps the ids in the output as the data spell them."""
    if getattr(ids, "kind", "str") == "int":
        try:
            return [int(v) for v in values]
        except ValueError:
            return values
    return values


def _cmd_recommend(args: argparse.Namespace, out: TextIO, steps: _Steps) -> int:
    from upsell.recommend import Recommender

    if bool(args.model) == bool(args.orders):
        raise UpsellDataError("give either ORDERS (fit now) or --model MODEL_DIR (from `upsell fit`)")
    customers = [c.strip() for c in (args.customer or "").split(",") if c.strip()]
    basket = [b.strip() for b in (args.basket or "").split(",") if b.strip()]
    if not customers and not basket:
        raise UpsellDataError("give --customer ID and/or --basket ITEM,ITEM")
    if args.model:
        with steps.step("loading the model"):
            rec = Recommender.load(args.model)
    else:
        tx = _read_orders(args, steps)
        fit_args = argparse.Namespace(**{**vars(args), "model": args.cf_model})
        rec = _fit_recommender(fit_args, tx, _read_catalog(args, steps), steps)
    basket_ids = _coerce(rec.catalog.items, basket)
    unknown_items = [b for b in basket_ids if b not in rec.catalog.items]
    if unknown_items:
        sys.stderr.write(f"upsell: basket item(s) not in the catalog, ignored: "
                         f"{', '.join(map(str, unknown_items[:5]))}"
                         f"{' ...' if len(unknown_items) > 5 else ''}\n")
    known = rec.history_.customers if rec.history_ is not None else None
    rows: list[dict[str, Any]] = []
    for cust in (_coerce(known, customers) or [None]):
        offers = rec.recommend(cust, basket=basket_ids, k=args.k, channel=args.cue_channel,
                               fill=args.fill)
        if offers.note:  # an unknown customer, an empty list: never silent
            sys.stderr.write(f"upsell: {offers.note}\n")
        for offer in offers:
            rows.append({"customer": cust, "item": offer.item, "name": offer.name,
                         "kind": offer.kind, "source": "+".join(offer.sources),
                         "score": float(offer.score), "cue": offer.cue,
                         "reason": offer.reason.summary})
    _write(rows or {c: [] for c in ("customer", "item", "name", "kind", "source", "score",
                                     "cue", "reason")}, args, out)
    return 0


# ---------------------------------------------------------------------- parser
def _count(text: str) -> int:
    """A row count >= 0 (``--top``: 0 means every row)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0; got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 writes every row); got {n}")
    return n


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {n}")
    return n


def _support_arg(text: str) -> float | str:
    """``auto`` (a budget of item sets decides) or a share in (0, 1] / a count >= 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be auto, a share in (0, 1] or a count >= 1; got {text!r}") from None
    if not v > 0 or not math.isfinite(v):
        raise argparse.ArgumentTypeError(
            f"must be auto, a share in (0, 1] or a count >= 1; got {text!r}")
    return v


def _p_value(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a p-value in [0, 1]; got {text!r}") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must be a p-value in [0, 1]; got {text!r}")
    return v


def _precision_arg(text: str) -> int | None:
    if text.strip().lower() in ("full", "none"):
        return None
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of significant digits >= 1, or full; got {text!r}") from None
    if not 1 <= n <= 17:
        raise argparse.ArgumentTypeError(f"must be 1..17 or full; got {n}")
    return n


def _data_options(p: argparse.ArgumentParser, *, catalog: bool = True,
                  format_flag: bool = True, orders_optional: bool = False,
                  role_flags: bool = True) -> None:
    if orders_optional:  # recommend: ORDERS to fit on now, or a saved --model
        p.add_argument("orders", nargs="?", help="order lines CSV to fit on now (or use "
                                                 "--model); read like `upsell fit` reads it")
    else:
        p.add_argument("orders", help="order lines CSV (gzip accepted), or one basket per "
                                      "line with --format baskets; - reads standard input")
    if catalog:
        p.add_argument("--catalog", metavar="CSV", help="product catalog CSV (item, name, "
                       "family, tier, price, cost, kind, ...)")
    p.add_argument("--columns", metavar="ROLE=HEADER,...",
                   help="map roles (order, item, customer, quantity, price, time, channel, "
                        "name, value) to your headers, e.g. order=InvoiceNo,item=StockCode,"
                        "name=Description; value= is a line total (unit price = value / "
                        "quantity)")
    if role_flags:
        for role in _ROLE_FLAGS:
            p.add_argument(f"--{role}", metavar="HEADER", help=argparse.SUPPRESS)
    p.set_defaults(role_flags=role_flags)
    p.add_argument("--input-format", default="lines", choices=["lines", "baskets"],
                   help="ORDERS holds order lines with a header (default) or one basket of "
                        "item labels per line (Groceries, FIMI .dat)")
    if format_flag:  # commands without an output format: --format names the input's
        p.add_argument("--format", dest="input_format", choices=["lines", "baskets"],
                       help="same as --input-format")
    p.add_argument("--delimiter", default=None,
                   help="field separator (default: a comma; for --format baskets: a comma "
                        "when the first line has one, else whitespace)")
    p.add_argument("--encoding", default="utf-8")
    p.add_argument("--returns", default="net", choices=["net", "drop", "keep", "raise"])
    p.add_argument("--anonymous", default="keep", choices=["keep", "drop", "raise"])
    p.add_argument("--bad-prices", default="drop", choices=["keep", "drop", "raise"])
    p.add_argument("--duplicates", default="keep", choices=["keep", "drop", "raise"])
    p.add_argument("--invalid", default="raise", choices=["raise", "drop"],
                   help="bad values: stop with the row and column (raise) or drop the row")
    p.add_argument("--cancel-prefix", default=None, help='e.g. "C" for Online Retail')


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="csv", choices=["csv", "json", "baskets"],
                   help="output csv (default) or json; `baskets` reads ORDERS as one basket "
                        "per line (same as --input-format baskets) and writes csv")
    p.add_argument("--precision", type=_precision_arg, default=4, metavar="DIGITS",
                   help="significant digits of numbers (default 4; money columns keep two "
                        "decimals); full: unrounded")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")


def _report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="upsell-report.html", metavar="HTML",
                   help="report file (default upsell-report.html)")
    p.add_argument("--title", default="upsell report")
    p.add_argument("--no-charts", action="store_true", help="tables only (no matplotlib)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``upsell`` command.

    Examples
    --------
    >>> build_parser().parse_args(["demo", "--seed", "3"]).seed
    3
    >>> build_parser().parse_args(["mine", "orders.csv", "--format", "json"]).format
    'json'
    """
    def common_options(suppress: bool) -> _Parser:
        # sub-commands repeat the global options with suppressed defaults, so that
        # `upsell --quiet demo` and `upsell demo --quiet` both work
        p = _Parser(add_help=False)
        kw: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
        p.add_argument("--debug", action="store_true", help="show tracebacks on errors", **kw)
        p.add_argument("--quiet", action="store_true", help="no progress output", **kw)
        p.add_argument("--seed", type=int, help="random seed (default 0)",
                       **(kw or {"default": 0}))
        return p

    common = common_options(True)
    parser = _Parser(prog="upsell", parents=[common_options(False)],
                     description="Cross-sell and upsell offers, segments and KPIs from a "
                                 "shop's order history.")
    parser.add_argument("--version", action="version", version=f"upsell {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, func: Any, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    p = cmd("demo", _cmd_demo, "run the whole handbook on the built-in demo shop and write "
                               "an HTML report")
    p.add_argument("--customers", type=int, default=2000, help="customers in the demo shop")
    _report_options(p)

    p = cmd("report", _cmd_report, "run the whole handbook on your order file and write an "
                                   "HTML report")
    _data_options(p)
    p.add_argument("--nps", metavar="CSV", help="survey answers 0-10 (a score column)")
    p.add_argument("--offer-log", metavar="CSV",
                   help="offer log (event, kind, revenue, ...) for the conversion card")
    _report_options(p)

    p = cmd("inspect", _cmd_inspect, "read an order file and print its data report")
    _data_options(p, catalog=False)

    p = cmd("mine", _cmd_mine, "products bought together: rules, itemsets, bundles, sequences")
    _data_options(p, format_flag=False)
    p.add_argument("--what", default="rules",
                   choices=["rules", "itemsets", "bundles", "sequences"])
    p.add_argument("--min-support", type=_support_arg, default="auto",
                   help="auto (default: the lowest support whose item sets fit the budget), "
                        "a share of orders (or customers for sequences; auto means 0.01 "
                        "there), or a count >= 1")
    p.add_argument("--min-confidence", type=float, default=0.1)
    p.add_argument("--max-len", type=_positive, default=3)
    p.add_argument("--max-p", type=_p_value, default=_MAX_P,
                   help=f"rules: largest Holm-adjusted Fisher p-value shown (default {_MAX_P}; "
                        f"0: no test)")
    p.add_argument("--max-per-item", type=_count, default=2, metavar="N",
                   help="rules: show an item in at most N of the top rows (default 2; 0: no "
                        "limit), so the table is not one product family's permutations")
    p.add_argument("--no-prune", dest="prune", action="store_false",
                   help="keep redundant rules (a longer antecedent that adds nothing over a "
                        "shorter one); default: pruned")
    p.add_argument("--rank-by", default="lift", choices=["lift", "revenue"],
                   help="bundles: by lift (default) or by joint revenue")
    p.add_argument("--within", default="90D", help="sequence window, e.g. 30D")
    p.add_argument("--top", type=_count, default=100,
                   help="rows to write (default 100; rules: the best by lift, one per item "
                        "set); 0 writes every row")
    _output_options(p)

    p = cmd("segment", _cmd_segment, "customer segments: handbook types, RFM or clusters")
    _data_options(p, format_flag=False)
    p.add_argument("--method", default="personas", choices=["personas", "rfm", "clusters"])
    p.add_argument("--summary", action="store_true", help="one row per segment")
    _output_options(p)

    p = cmd("kpi", _cmd_kpi, "ATV, UPT, attach and upsell rates (and NPS), overall or by period")
    _data_options(p, format_flag=False)
    p.add_argument("--by", default=None, choices=["day", "week", "month", "channel"])
    p.add_argument("--nps", metavar="CSV", help="survey answers 0-10")
    _output_options(p)

    p = cmd("clv", _cmd_clv, "customer lifetime value per customer")
    _data_options(p, catalog=False, format_flag=False)
    p.add_argument("--method", default="model", choices=["model", "historic"],
                   help="BG/NBD + Gamma-Gamma forecast, or revenue so far")
    p.add_argument("--horizon", type=float, default=52.0, help="weeks ahead (model)")
    p.add_argument("--discount-rate", type=float, default=0.01, help="per month (model)")
    p.add_argument("--margin", type=float, default=1.0, help="margin rate applied to revenue")
    _output_options(p)

    p = cmd("evaluate", _cmd_evaluate, "compare recommenders on a temporal split")
    _data_options(p, format_flag=False)
    p.add_argument("--models", default="popular,itemknn,als",
                   help=f"comma-separated, from {', '.join(_CF_MODELS)}")
    p.add_argument("--at", default="0.8", help="split time (ISO date) or share of orders")
    p.add_argument("-k", "--k", type=int, default=10)
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates")
    p.add_argument("--repeat", action="store_true",
                   help="count repeat purchases as hits (default: new items only)")
    _output_options(p)

    p = cmd("fit", _cmd_fit, "fit and save the models behind `upsell recommend --model`")
    _data_options(p)
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder to write")
    p.add_argument("--model", default="itemknn", choices=list(_CF_MODELS),
                   help="collaborative-filtering model")
    p.add_argument("--min-support", type=_support_arg, default="auto",
                   help="bundle rules: auto (default: the lowest support whose item sets fit "
                        "the budget), a share of orders or a count")
    p.add_argument("--min-confidence", type=float, default=0.1)
    p.add_argument("--max-rules", type=_count, default=_MAX_RULES,
                   help=f"rule budget while mining, the most confident kept (default "
                        f"{_MAX_RULES:,}; 0: none); the saved bundle index has its own budget")

    p = cmd("recommend", _cmd_recommend, "offers for a customer and/or a basket")
    # the same reading options as `upsell fit` (a semicolon, Latin-1 or Online Retail file
    # could not be read here)
    _data_options(p, format_flag=False, orders_optional=True, role_flags=False)
    p.add_argument("--model", metavar="MODEL_DIR", help="folder written by `upsell fit`")
    p.add_argument("--customer", metavar="ID[,ID...]")
    p.add_argument("--basket", metavar="ITEM[,ITEM...]")
    p.add_argument("-k", "--k", type=int, default=5)
    p.add_argument("--cue-channel", default="web", choices=["web", "email", "store"],
                   help="channel the cue is worded for (default: web)")
    p.add_argument("--fill", action=argparse.BooleanOptionalAction, default=None,
                   help="top up with popular items of the customer's segment (default: only "
                        "for an unknown customer with no basket, said on stderr)")
    p.set_defaults(cf_model="itemknn", min_support="auto", min_confidence=0.1,
                   max_rules=_MAX_RULES)
    _output_options(p)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the ``upsell`` command; returns the exit code.

    Errors in the user's data or options print one line to stderr and return 2
    (1 for an unexpected error), without a traceback unless ``--debug`` is given.

    Examples
    --------
    >>> import io, os, tempfile
    >>> buf = io.StringIO()
    >>> report = os.path.join(tempfile.mkdtemp(), "r.html")
    >>> main(["demo", "--customers", "200", "--quiet", "--no-charts", "-o", report], out=buf)
    0
    >>> "DataReport" in buf.getvalue(), os.path.exists(report)
    (True, True)
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    stream = out if out is not None else sys.stdout
    if getattr(args, "format", None) == "baskets":  # the input's format, named on --format
        args.input_format, args.format = "baskets", "csv"
    if args.debug:
        logging.basicConfig(level=logging.DEBUG)
    steps = _Steps(args.quiet)
    try:
        return int(args.func(args, stream, steps))
    except BrokenPipeError:
        # the reader went away (`upsell ... | head`): stop quietly
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return 0
    except (UpsellError, OSError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"upsell: error: {_cli_words(str(exc))}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("upsell: interrupted\n")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        sys.stderr.write(f"upsell: error: {type(exc).__name__}: {exc} "
                         "(run with --debug for the traceback)\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
