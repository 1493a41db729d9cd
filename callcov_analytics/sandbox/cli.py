"""`python -m callcov_analytics.sandbox`: run a sandbox server in the foreground."""

from __future__ import annotations

import argparse
import errno
import sys
import threading
from typing import NoReturn

from .plans import PLANS
from .server import serve


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error: ...` line (exit 2), like our other errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="callcov-analytics sandbox",
        description="Serve a local CallCov stand-in with seeded data and real rate limits.",
    )
    parser.add_argument(
        "--plan",
        choices=list(PLANS),
        default="starter",
        help="the plan whose rate limits the sandbox enforces (default: starter, 60 a minute)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1 only)"
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--window-seconds",
        type=float,
        default=60.0,
        help="rate-limit window length in seconds (default: 60, as the real API)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="requests per window (default: the plan's)"
    )
    parser.add_argument(
        "--n-analyses",
        type=int,
        default=2500,
        help="made-up call analyses to serve (default: 2500)",
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="seed of the made-up data: same seed, same calls"
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to each request (default: 0)"
    )
    parser.add_argument(
        "--arrivals-per-minute",
        type=float,
        default=0.0,
        metavar="N",
        help="new calls arriving while it runs, completing 20-90 s later (default: 0, static)",
    )
    return parser


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 2


def main(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C (or until `stop` is set); return the exit code.

    Args:
        argv: command-line arguments without the program name.
        stop: lets a caller in the same process end the server (tests, the demo).

    Example:
        $ python -m callcov_analytics.sandbox --plan free --window-seconds 5
    """
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        return _fail(f"port must be 0..65535, not {args.port}")
    if args.window_seconds <= 0 or min(args.n_analyses, args.latency, args.arrivals_per_minute) < 0:
        return _fail(
            "--window-seconds must be > 0; --n-analyses, --latency and --arrivals-per-minute "
            "must be >= 0"
        )
    if args.limit is not None and args.limit < 1:
        return _fail("--limit must be >= 1")
    api = serve(**vars(args))  # the options are named as serve() names them
    try:
        api.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(f"port {args.port} on {args.host} is already in use")
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    try:
        sys.stdout.write(
            f"CallCov sandbox ({args.plan} plan) listening on {api.url}\n"
            f"API key (a throwaway sandbox key, valid only here): {api.key}\n"
            "In another terminal, paste this to point callcov-analytics at it:\n"
            f"  export CALLCOV_API_URL={api.url} CALLCOV_API_KEY={api.key}\n"
            "Press Ctrl-C to stop.\n"
        )
        sys.stdout.flush()
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        api.close()
    return 0
