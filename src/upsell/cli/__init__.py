"""The ``upsell`` command line.

``upsell demo`` runs the whole handbook on the built-in demo shop and writes an
HTML report; ``upsell report ORDERS.csv`` does the same on a user's own data.
``mine``, ``segment``, ``kpi``, ``clv``, ``evaluate``, ``fit`` and ``recommend``
each run one part and write CSV or JSON. ``inspect`` prints a file's data report.

The work happens in the library (:func:`upsell.report.analyse` and the modules);
this package only parses options (``_parser``), reads and writes files (``_io``) and runs
the subcommands (``_commands``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from upsell.cli._io import _cli_words, _round, _Steps  # noqa: F401 - _round re-exported
from upsell.cli._parser import build_parser
from upsell.exceptions import UpsellError

__all__ = ["build_parser", "main"]

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
    orders = getattr(args, "orders", None)
    if isinstance(orders, list):  # ORDERS ...: several files read as one history
        args.orders = orders[0] if len(orders) == 1 else (orders or None)
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
