"""``python -m upsell.serve MODEL_DIR [options]``: the ``upsell serve`` command on its own."""

from __future__ import annotations

import argparse
import sys

from upsell.serve.cli import add_arguments, main


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the service; returns the exit code."""
    parser = argparse.ArgumentParser(prog="upsell serve",
                                     description="HTTP/JSON service for a saved recommender")
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run())
