"""``upsell serve MODEL_DIR``: the options, the checks before binding, and uvicorn.

The lead's ``upsell`` command wires :func:`add_arguments` and :func:`main` in as the ``serve``
subcommand; ``python -m upsell.serve MODEL_DIR ...`` runs the same.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import logging
import os
import shutil
import signal
import sys
import tempfile

from upsell.exceptions import UpsellError
from upsell.serve._state import CONFIG_ENV, KEY_ENV, open_offer_log, write_state

__all__ = ["add_arguments", "is_loopback", "main", "read_key"]


class _Stopped(Exception):
    """SIGTERM/SIGINT after uvicorn's graceful shutdown."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_arguments(p)
    >>> a = p.parse_args(["model", "--workers", "2"])
    >>> a.model_dir, a.host, a.port, a.workers
    ('model', '127.0.0.1', 8000, 2)
    """
    parser.add_argument("model_dir", metavar="MODEL_DIR",
                        help="folder written by `upsell fit` / Recommender.save")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; anything but loopback "
                             "needs an API key)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes; with 2 or more a supervisor replaces a worker "
                             "that dies (default 1)")
    parser.add_argument("--offer-log", metavar="sqlite:PATH | DB-URL",
                        help="where POST /v1/events records events (sqlite:PATH or "
                             "postgresql://...); without it /v1/events answers 503")
    parser.add_argument("--api-key-file", metavar="F",
                        help=f"file holding the API key (else ${KEY_ENV}); clients send "
                             f"Authorization: Bearer KEY")
    parser.add_argument("--max-body-bytes", type=int, default=1 << 20,
                        help="largest request body (default 1 MiB; 413 above)")
    parser.add_argument("--max-k", type=int, default=100,
                        help="largest k a request may ask for (default 100)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the SHA-256 check of the model files at load")
    parser.add_argument("--graceful-timeout", type=float, default=30.0,
                        help="seconds in-flight requests get to finish on shutdown (default 30)")
    parser.add_argument("--http", default="auto", choices=("auto", "h11", "httptools"),
                        help="uvicorn's HTTP parser (auto: httptools when installed)")
    parser.add_argument("--loop", default="auto", choices=("auto", "asyncio", "uvloop"),
                        help="event loop (auto: uvloop when installed)")
    parser.add_argument("--log-level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"))


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service on this machine.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("example.com")
    (False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_key(key_file: str | None) -> str | None:
    """The API key: the first line of ``key_file``, else ``$UPSELL_API_KEY``, else None."""
    if key_file:
        try:
            with open(key_file, encoding="utf-8") as fh:
                key = fh.read().strip()
        except OSError as exc:
            raise UpsellError(f"`--api-key-file` {key_file!r} cannot be read ({exc})") from None
        if not key:
            raise UpsellError(f"`--api-key-file` {key_file!r} is empty")
        return key
    return os.environ.get(KEY_ENV) or None


def _check(args: argparse.Namespace) -> str | None:
    """Everything that can be refused before binding: options, key, model, offer log."""
    if not 1 <= args.workers <= 64:
        raise UpsellError(f"`--workers` must be from 1 to 64; got {args.workers}")
    if not 0 <= args.port <= 65535:
        raise UpsellError(f"`--port` must be from 0 to 65535; got {args.port}")
    if args.max_body_bytes < 1024 or args.max_k < 1:
        raise UpsellError("`--max-body-bytes` must be at least 1024 and `--max-k` at least 1")
    key = read_key(args.api_key_file)
    if key is None and not is_loopback(args.host):
        raise UpsellError(f"refusing to bind {args.host!r} without an API key: give "
                          f"--api-key-file or ${KEY_ENV}, or bind 127.0.0.1")
    from upsell.recommend import Recommender

    # load once here so a broken folder fails now, with its message, not in every worker
    rec = Recommender.load(args.model_dir, verify=not args.no_verify)
    del rec
    gc.collect()
    open_offer_log(args.offer_log)  # creates the table once, before workers race for it
    return key


def main(args: argparse.Namespace) -> int:
    """Run the service until SIGINT/SIGTERM; returns the exit code (2: refused to start).

    Examples
    --------
    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> main(p.parse_args(["/nonexistent/model", "--host", "0.0.0.0"]))  # doctest: +SKIP
    2
    """
    try:
        import uvicorn
    except ImportError:
        sys.stderr.write('upsell serve: error: uvicorn is not installed; '
                         'pip install "upsell[serve]"\n')
        return 2
    try:
        _check(args)
    except (UpsellError, OSError) as exc:
        sys.stderr.write(f"upsell serve: error: {exc}\n")
        return 2
    runtime = tempfile.mkdtemp(prefix="upsell-serve-")
    try:
        write_state(runtime, args.model_dir, bump=False)
        os.environ[CONFIG_ENV] = json.dumps({
            "model_dir": os.path.abspath(args.model_dir), "offer_log": args.offer_log,
            "api_key_file": args.api_key_file and os.path.abspath(args.api_key_file),
            "max_body": args.max_body_bytes, "max_k": args.max_k, "runtime_dir": runtime,
            # the folder was verified above; workers (and their replacements) skip the hashing
            "verify": False})
        logging.getLogger("upsell").setLevel(args.log_level.upper())
        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again
        # with the handlers it found; these turn it into a clean return (runtime folder removed)
        stopped: list[int] = []

        def stop(signum: int, frame: object) -> None:
            stopped.append(signum)
            raise _Stopped

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            uvicorn.run("upsell.serve.app:app_from_env", factory=True, host=args.host,
                        port=args.port, workers=args.workers, log_level=args.log_level,
                        access_log=False, server_header=False, http=args.http, loop=args.loop,
                        timeout_graceful_shutdown=max(1, round(args.graceful_timeout)))
        except _Stopped:
            pass
        except SystemExit as exc:
            return int(exc.code or 0)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 130 if stopped == [signal.SIGINT] else 0
    finally:
        os.environ.pop(CONFIG_ENV, None)
        shutil.rmtree(runtime, ignore_errors=True)
