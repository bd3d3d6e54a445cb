"""The ``upsell`` command line.

``upsell demo`` builds the built-in demo shop and prints what upsell sees in it.
``upsell inspect ORDERS.csv`` reads a user's order file and prints its data report.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from upsell import __version__
from upsell.data import Transactions
from upsell.exceptions import UpsellError

__all__ = ["main"]

_ROLE_FLAGS = ("order", "item", "customer", "quantity", "price", "time", "channel")


def _facts(tx: Transactions, out: TextIO) -> None:
    """Print a few facts about a Transactions object."""
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


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from upsell.datasets import make_shop

    shop = make_shop(n_customers=args.customers, random_state=args.seed)
    tx = shop.transactions
    out.write(f"upsell {__version__} demo shop (random_state={args.seed})\n\n")
    out.write(str(tx.report) + "\n\n")
    out.write("Facts:\n")
    _facts(tx, out)
    cat = shop.catalog
    kinds, counts = np.unique(cat.kind, return_counts=True)
    out.write("  catalog: " + ", ".join(f"{n:,} {k}" for k, n in zip(kinds, counts, strict=True)) + "\n")
    personas, pc = np.unique(shop.truth.persona, return_counts=True)
    out.write("  customers by handbook type: "
              + ", ".join(f"{k} {n:,}" for k, n in zip(personas, pc, strict=True)) + "\n")
    return 0


def _cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    columns = {role: getattr(args, role) for role in _ROLE_FLAGS if getattr(args, role)}
    tx = Transactions.read_csv(
        args.orders, columns=columns or None, delimiter=args.delimiter,
        encoding=args.encoding, returns=args.returns, anonymous=args.anonymous,
        bad_prices=args.bad_prices, duplicates=args.duplicates, invalid=args.invalid,
        cancel_prefix=args.cancel_prefix,
    )
    out.write(str(tx.report) + "\n\nFacts:\n")
    _facts(tx, out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``upsell`` command.

    Examples
    --------
    >>> build_parser().parse_args(["demo", "--seed", "3"]).seed
    3
    """
    parser = argparse.ArgumentParser(
        prog="upsell", description="Cross-sell and upsell offers from a shop's order history.")
    parser.add_argument("--version", action="version", version=f"upsell {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run upsell on the built-in demo shop")
    demo.add_argument("--customers", type=int, default=2000, help="customers in the demo shop")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the demo shop")
    demo.set_defaults(func=_cmd_demo)

    ins = sub.add_parser("inspect", help="read an order CSV and print its data report")
    ins.add_argument("orders", help="order lines CSV (gzip accepted)")
    for role in _ROLE_FLAGS:
        ins.add_argument(f"--{role}", metavar="COLUMN", help=f"header of the {role} column")
    ins.add_argument("--delimiter", default=",")
    ins.add_argument("--encoding", default="utf-8")
    ins.add_argument("--returns", default="net", choices=["net", "drop", "keep", "raise"])
    ins.add_argument("--anonymous", default="keep", choices=["keep", "drop", "raise"])
    ins.add_argument("--bad-prices", default="drop", choices=["keep", "drop", "raise"])
    ins.add_argument("--duplicates", default="keep", choices=["keep", "drop", "raise"])
    ins.add_argument("--invalid", default="raise", choices=["raise", "drop"])
    ins.add_argument("--cancel-prefix", default=None, help='e.g. "C" for Online Retail')
    ins.set_defaults(func=_cmd_inspect)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the ``upsell`` command; returns the exit code.

    Errors in the user's data or options print one line to stderr and exit 2,
    without a traceback unless ``--debug`` is given.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> main(["demo", "--customers", "200"], out=buf)
    0
    >>> "DataReport" in buf.getvalue()
    True
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out if out is not None else sys.stdout
    if args.debug:
        logging.basicConfig(level=logging.DEBUG)
    try:
        return int(args.func(args, stream))
    except (UpsellError, OSError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"upsell: error: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
