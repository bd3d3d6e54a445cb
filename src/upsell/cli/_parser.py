"""The argument parser of ``upsell``: options shared by the subcommands, argument types with one-line errors."""

from __future__ import annotations

import argparse
import math
from typing import Any, NoReturn

from upsell import __version__
from upsell.cli._commands import (
    _CF_MODELS,
    _MAX_P,
    _MAX_RULES,
    _cmd_clv,
    _cmd_demo,
    _cmd_evaluate,
    _cmd_evaluate_policy,
    _cmd_fit,
    _cmd_inspect,
    _cmd_kpi,
    _cmd_mine,
    _cmd_recommend,
    _cmd_report,
    _cmd_segment,
    _cmd_serve,
)
from upsell.cli._io import _ROLE_FLAGS
from upsell.serve.cli import add_arguments as serve_arguments

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and a hint), not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

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


#: --orders-file / --customers-file and their --*-columns: (kind, metavar, helps)
_SIDE_FILES = (
    ("orders", "ROLE=HEADER,...",
     "a file of orders (CSV, Parquet or a workbook; one row per order) that holds each "
     "order's customer, time or channel when the order lines do not (an ERP's order "
     "headers, Olist's orders file)",
     "the orders file's headers: order (the key the lines share) and some of customer, "
     "time, channel, e.g. order=order_id,customer=customer_id,time=order_purchase_timestamp; "
     "or sequence= and days_since_prior= for the time (Instacart's order_number and "
     "days_since_prior_order, with --time-format days_since:YYYY-MM-DD, the day of the "
     "last orders)"),
    ("customers", "customer=HEADER,person=HEADER",
     "a file of customers (CSV, Parquet or a workbook) that maps the customer ids of the "
     "lines or their orders to the person each stands for (Olist's customers file: "
     "customer_id -> customer_unique_id)",
     "the customers file's headers, e.g. customer=customer_id,person=customer_unique_id"),
)


def _skip_rows_arg(text: str) -> int:
    """``--skip-rows``: a whole number of lines, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of lines >= 0; got {text!r}")
    return int(text)


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
        p.add_argument("orders", nargs="*", metavar="ORDERS",
                       help="order lines to fit on now (or use --model); read like "
                            "`upsell fit` reads them")
    else:
        p.add_argument("orders", nargs="+", metavar="ORDERS",
                       help="order lines: CSV (gzip accepted), Parquet (a file or a folder "
                            "of them) or a workbook (.xlsx, .xls, .ods); several files, or a "
                            "folder of CSV files, are read as one history (monthly "
                            "exports); or one basket per line with --format baskets; - "
                            "reads standard input")
    if catalog:
        p.add_argument("--catalog", metavar="CSV", help="product catalog CSV (item, name, "
                       "family, tier, price, cost, kind, ...)")
        p.add_argument("--catalog-skip-rows", type=_skip_rows_arg, default=0, metavar="N",
                       help="lines above the catalog CSV's table, or rows above its sheet's, "
                            "that are not read (a price list's title)")
        p.add_argument("--catalog-columns", metavar="NAME=HEADER,...",
                       help="the catalog's headers for item, name, category, family, tier, "
                            "price, cost, stock, kind, ..., e.g. item=sku,name=title")
    p.add_argument("--columns", metavar="ROLE=HEADER,...",
                   help="map roles (order, item, customer, quantity, price, time, channel, "
                        "name, value) to your headers, e.g. order=InvoiceNo,item=StockCode,"
                        "name=Description; value= is a line total (unit price = value / "
                        "quantity)")
    for kind, columns_metavar, what, headers in _SIDE_FILES:  # files beside the lines
        p.add_argument(f"--{kind}-file", metavar="FILE", help=what)
        p.add_argument(f"--{kind}-columns", metavar=columns_metavar, help=headers)
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
                        "when the first line has one, else whitespace); 'whitespace': "
                        "columns aligned by runs of spaces or tabs (CDNOW's text files)")
    p.add_argument("--encoding", default="utf-8")
    p.add_argument("--no-header", action="store_true",
                   help="the CSV has no header line: --columns names its columns by 0-based "
                        "position, e.g. --columns customer=0,item=1,time=4")
    p.add_argument("--skip-rows", type=_skip_rows_arg, default=0, metavar="N",
                   help="lines above a CSV's table, or rows above a sheet's, that are not "
                        "read (a report's title, its date, a blank line)")
    p.add_argument("--no-items", action="store_true",
                   help="the file has no item column, as a purchase log (a customer, a time "
                        "and an amount per line: CDNOW's): each line is one purchase; ATV, "
                        "CLV and the segments work, the item sections and models do not")
    p.add_argument("--where", metavar="HEADER=VALUE", action="append",
                   help="read only the rows whose column HEADER holds VALUE (an event log's "
                        "purchases: --where event_type=purchase), or with HEADER!=VALUE the "
                        "rows that do not (--where status!=canceled); again for more values "
                        "or columns; the other rows are dropped and counted")
    p.add_argument("--sheet", metavar="NAME|N", action="append",
                   help="the sheet of an Excel or OpenDocument workbook: its name or its "
                        "number, 1 for the first; again for more sheets, read as one history "
                        "(default: the first sheet, and the sheets after it whose header "
                        "names the same columns: a table continued over sheets)")
    p.add_argument("--returns", default="net", choices=["net", "drop", "keep", "raise"])
    p.add_argument("--anonymous", default="keep", choices=["keep", "drop", "raise"])
    p.add_argument("--bad-prices", default="drop", choices=["keep", "drop", "raise"])
    p.add_argument("--duplicates", default="keep", choices=["keep", "drop", "raise"])
    p.add_argument("--invalid", default="raise", choices=["raise", "drop"],
                   help="bad values: stop with the row and column (raise) or drop the row")
    p.add_argument("--cancel-prefix", default=None, help='e.g. "C" for Online Retail')
    p.add_argument("--decimal", default=".", choices=[".", ","],
                   help="the decimal mark of numbers in the files (default: a point; a comma "
                        "for exports that write 15,3)")
    p.add_argument("--time-format", default=None, metavar="FMT",
                   help="how the time column is written, as a strptime format, e.g. "
                        "'%%d/%%m/%%Y %%H:%%M' for 31/12/2011 23:59, or for numbers epoch, "
                        "epoch_ms, epoch_us, epoch_ns, days_since:YYYY-MM-DD or excel (default: "
                        "ISO 8601)")


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


def _mine_options(p: argparse.ArgumentParser) -> None:
    """Options of ``upsell mine``."""
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


def _policy_options(p: argparse.ArgumentParser) -> None:
    """Options of ``upsell evaluate-policy``."""
    p.add_argument("--log", required=True, metavar="LOG",
                   help="SQLite offer log (upsell.recommend.OfferLog.sqlite) with logged "
                        "propensities")
    p.add_argument("--model", required=True, metavar="MODEL_DIR",
                   help="folder written by `upsell fit`: the candidate policy")
    p.add_argument("--estimator", default="ips,snips,dr", metavar="NAMES",
                   help="comma-separated, from ips, snips, dr (default all three)")
    p.add_argument("--since", metavar="DATE", help="only offers presented from this time on")
    p.add_argument("--reward", default="accepted", choices=["accepted", "revenue"],
                   help="acceptance rate per offer shown (default) or revenue per offer shown")
    p.add_argument("-k", "--k", type=_positive, default=None,
                   help="list length asked of the model (default: each logged list's length)")
    p.add_argument("--max-requests", type=_count, default=None, metavar="N",
                   help="replay at most N logged requests, a seeded random sample (default "
                        "20,000: a saved model answers in a few ms per request, so about a "
                        "minute or two; 0: all)")
    p.add_argument("--bootstrap", type=_count, default=1000,
                   help="bootstrap replicates of the intervals (default 1000; 0: none)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _fit_options(p: argparse.ArgumentParser) -> None:
    """Options of ``upsell fit``."""
    _data_options(p)
    p.add_argument("--out", "-o", "--output", dest="out", required=True, metavar="MODEL_DIR",
                   help="folder to write (-o/--output as in the other commands)")
    p.add_argument("--model", default="itemknn", choices=list(_CF_MODELS),
                   help="collaborative-filtering model")
    p.add_argument("--min-support", type=_support_arg, default="auto",
                   help="bundle rules: auto (default: the lowest support whose item sets fit "
                        "the budget), a share of orders or a count")
    p.add_argument("--min-confidence", type=float, default=0.1)
    p.add_argument("--max-rules", type=_count, default=_MAX_RULES,
                   help=f"rule budget while mining, the most confident kept (default "
                        f"{_MAX_RULES:,}; 0: none); the saved bundle index has its own budget")
    p.add_argument("--blend", default="auto", choices=("auto", "learned", "weighted"),
                   help="how the sources' scores are combined: auto (default: the learned "
                        "blend when it beats its best single source on its own held-out time "
                        "cut, else weighted; weighted too when the lines lack customers or "
                        "times or the history is too short; the output says which and why), "
                        "learned (a LightGBM ranker trained on time cuts of the history, "
                        "upsell.recommend.LearnedBlend; needs customers and times) or weighted "
                        "(a fixed sum of normalised scores; fits in seconds, serves in about a "
                        "millisecond). The learned blend fits in about a minute on Online "
                        "Retail (under a fixed training-row budget), loads in about half a "
                        "second and takes a few ms per request")
    p.add_argument("--explain", default="contributions",
                   choices=("contributions", "paths", "features", "none"),
                   help="how the learned blend words an offer's reason: contributions "
                        "(default: exact TreeSHAP of the ranker, the costliest step of a "
                        "request), paths (path attributions from a table per leaf: ~0.4 ms "
                        "per request instead of ~2-4; the same first phrase for 84-95%% of "
                        "Online Retail's offers), features (a fixed order of phrases) or "
                        "none; the offers are the same")
    _offer_options(p)


def _offer_options(p: argparse.ArgumentParser) -> None:
    """Which items may be offered (``fit``, ``recommend``, ``report``)."""
    p.add_argument("--offer-all-items", action="store_true",
                   help="also offer items that look like fees, shipping or adjustments "
                        "(default: never offered, said on stderr; they stay in the KPIs). "
                        "They are found by a catalog column of kinds (service, fee, "
                        "shipping, ...) or, without one, by item ids unlike the shop's "
                        "usual id pattern (upsell.data.non_product_items)")
    p.add_argument("--exclude-items", metavar="ID[,ID...]",
                   help="items never to offer (saved with the model by `upsell fit`)")


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
    p.add_argument("--log", metavar="LOG",
                   help="SQLite offer log (upsell.recommend.OfferLog.sqlite): the conversion "
                        "card and the section 'What the log says' (conversion by policy "
                        "version and by exploration)")
    p.add_argument("--model", metavar="MODEL_DIR",
                   help="with --log: a folder written by `upsell fit`, evaluated off-policy "
                        "on the logged requests")
    _offer_options(p)
    _report_options(p)

    p = cmd("inspect", _cmd_inspect, "read an order file and print its data report")
    _data_options(p, catalog=False)

    p = cmd("mine", _cmd_mine, "products bought together: rules, itemsets, bundles, sequences")
    _mine_options(p)

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

    p = cmd("evaluate-policy", _cmd_evaluate_policy,
            "estimate from an offer log how a saved model would have converted (off-policy "
            "evaluation: IPS, SNIPS, doubly robust) beside the logged policy")
    _policy_options(p)

    p = cmd("fit", _cmd_fit, "fit and save the models behind `upsell recommend --model`")
    _fit_options(p)

    p = cmd("recommend", _cmd_recommend, "offers for a customer and/or a basket")
    # the same reading options as `upsell fit` (a semicolon, Latin-1 or Online Retail file
    # could not be read here)
    _data_options(p, format_flag=False, orders_optional=True, role_flags=False)
    p.add_argument("--model", metavar="MODEL_DIR", help="folder written by `upsell fit`")
    p.add_argument("--customer", metavar="ID[,ID...]")
    p.add_argument("--basket", metavar="ITEM[:QTY][,ITEM...]",
                   help="items in the basket; ITEM:QTY gives a line's quantity, which adds "
                        "its next volume price when the shop has one (kind quantity_break)")
    p.add_argument("-k", "--k", type=int, default=5)
    p.add_argument("--cue-channel", default="web", choices=["web", "email", "store"],
                   help="channel the cue is worded for (default: web)")
    p.add_argument("--fill", action=argparse.BooleanOptionalAction, default=None,
                   help="top up with popular items of the customer's segment (default: only "
                        "for an unknown customer with no basket, said on stderr)")
    p.add_argument("--include-owned", action="store_true",
                   help="allow items the customer bought before (buy again: refills, "
                        "replenishment); default: only items new to the customer")
    p.add_argument("--moment", choices=["product_page", "cart", "checkout", "post_purchase"],
                   help="moment of the journey the offers are for (default: any)")
    p.add_argument("--at", metavar="TIME",
                   help="time of the request, e.g. 2011-10-01 (default: now); timing, "
                        "'last bought N days ago' and frequency caps count from it")
    _offer_options(p)
    p.set_defaults(cf_model="itemknn", min_support="auto", min_confidence=0.1,
                   max_rules=_MAX_RULES)
    _output_options(p)

    p = cmd("serve", _cmd_serve, "serve offers over HTTP/JSON to shop back ends in any "
                                 "language (needs the serve extra)")
    serve_arguments(p)
    return parser
