"""The ``callcov-analytics`` command: fetch, report, quota, sandbox, demo and notebook.

The API key comes only from ``CALLCOV_API_KEY`` (or a ``.env`` file in the working directory),
never from a command-line flag: a process's arguments are visible to every user through ``ps``
and are saved in shell history. ``--api-url`` (or ``CALLCOV_API_URL``) picks the server.

Progress goes to stderr, results to stdout. A failure is one line ``error: ...`` on stderr
(``--debug`` adds the traceback and debug logging). Exit codes: 0 success; 1 the API, network
or disk failed (bad key, quota, unreachable server, disk full); 2 a usage error (bad arguments,
dates or status, no key configured, an existing output folder); 130 interrupted (Ctrl-C).
The key is never printed; ``sandbox`` prints its own throwaway sandbox key by design.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from .._config import KEY_ENV
from .._load.options import STATUSES
from .._version import __version__
from .commands import (
    EXIT_OK,
    NOTEBOOK,
    UsageError,
    run_demo,
    run_fetch,
    run_notebook,
    run_quota,
    run_report,
)

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and an exit code, not usage text and exit()."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add_api_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-url",
        metavar="URL",
        help="API base URL (default: CALLCOV_API_URL or the CallCov API)",
    )


def _parser() -> _Parser:
    debug = _Parser(add_help=False)
    # SUPPRESS: a subcommand's default must not overwrite a --debug given before it.
    debug.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logs (the key stays masked)",
    )
    query = _Parser(add_help=False)
    filters = query.add_argument_group("filters")
    filters.add_argument("--status", choices=STATUSES, help="only calls with this status")
    filters.add_argument("--agent-id", help="only this agent (exact match)")
    filters.add_argument("--contact-id", help="only this contact (exact match)")
    filters.add_argument(
        "--search",
        help="substring of agent_id or contact_id (the API never searches transcripts)",
    )
    filters.add_argument(
        "--since",
        metavar="DATE",
        help="created at or after: 2026-11-01, 2026-11-01T09:00, 7d, 24h, 2w, 30min, today, "
        "yesterday, or @<Unix seconds>",
    )
    filters.add_argument(
        "--until", metavar="DATE", help="created at or before, same forms (a day: the whole day)"
    )
    filters.add_argument(
        "--tz",
        metavar="ZONE",
        help="time zone of dates, days and 'today', e.g. Europe/London (default UTC)",
    )
    query.add_argument("--transcripts", action="store_true", help="add the transcript_text column")
    _add_api_url(query)
    key_note = (
        "The key is read from CALLCOV_API_KEY or a .env file, never from an argument "
        "(arguments show in `ps` and shell history). Behind a corporate proxy, set "
        "CALLCOV_PROXY (and CALLCOV_CA_BUNDLE if it inspects TLS)."
    )

    parser = _Parser(
        prog="callcov-analytics",
        parents=[debug],
        epilog=key_note,
        description="CallCov call analyses as CSV/Parquet files and reports.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    fetch = commands.add_parser(
        "fetch",
        parents=[debug, query],
        epilog=key_note,
        help="download calls to a .csv or .parquet file",
        description="Download call analyses to one file.",
    )
    machine_help = (
        "CSV for programs: no byte-order mark, ISO 8601 times with offset, full precision "
        "(default: for a spreadsheet: BOM, wall-clock times, rounded figures)"
    )
    fetch.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="calls.csv (formula-safe) or calls.parquet; replaced if it exists",
    )
    fetch.add_argument("--machine", action="store_true", help=machine_help)
    fetch.set_defaults(run=run_fetch)

    report = commands.add_parser(
        "report",
        parents=[debug, query],
        epilog=key_note,
        help="download calls and write a workbook (.xlsx), one CSV or a report folder",
        description="Download call analyses and write the manager's workbook (--out "
        "report.xlsx), the calls as one CSV a spreadsheet opens by double-click (--out "
        "calls.csv) or a report folder (the workbook, five CSVs, charts, manifest.json).",
    )
    report.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="report.xlsx, calls.csv, or a report folder to create",
    )
    report.add_argument("--machine", action="store_true", help=machine_help)
    report.add_argument("--parquet", action="store_true", help="also write calls.parquet (folder)")
    report.add_argument(
        "--no-charts", dest="charts", action="store_false", help="no charts (PNGs or in the .xlsx)"
    )
    report.add_argument(
        "--min-calls",
        type=int,
        default=5,
        metavar="N",
        help="analysed calls an agent needs to be ranked (default 5)",
    )
    report.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing report folder, .xlsx or .csv (never any other file or folder)",
    )
    report.set_defaults(run=run_report)

    # Listed for --help only: main() hands `sandbox ...` to the sandbox's own parser.
    commands.add_parser("sandbox", add_help=False, help="run the local CallCov sandbox server")

    demo = commands.add_parser(
        "demo",
        parents=[debug],
        help="sandbox → fetch → report, with a summary (no key needed)",
        description="Start a sandbox with a scaled-down rate-limit "
        "window, load every call over HTTP and write a report.",
    )
    demo.add_argument(
        "--out",
        default="demo-output",
        metavar="DIR",
        help="report folder (default: demo-output; a previous one is replaced)",
    )
    demo.add_argument(
        "--n-analyses", type=int, default=5000, help="made-up calls in the sandbox (default: 5000)"
    )
    demo.add_argument(
        "--window-seconds",
        type=float,
        default=2.0,
        help="rate-limit window length in seconds (default: 2; the real API: 60)",
    )
    demo.add_argument("--limit", type=int, default=2, help="requests per window (default: 2)")
    demo.add_argument(
        "--arrivals-per-minute",
        type=float,
        default=0.0,
        metavar="N",
        help="new calls arriving in the sandbox while the demo runs (default: 0)",
    )
    demo.set_defaults(run=run_demo)

    quota = commands.add_parser(
        "quota",
        parents=[debug],
        epilog=key_note,
        help="how much quota is left today and in this window, and when each resets",
        description="One request to /billing/usage; prints the day's quota and reset, the "
        "month's requests and the rate-limit window in one line.",
    )
    quota.add_argument("--json", action="store_true", help="print the figures as JSON instead")
    _add_api_url(quota)
    quota.set_defaults(run=run_quota)

    notebook = commands.add_parser(
        "notebook",
        parents=[debug],
        help="open the quickstart notebook against a sandbox",
        description="Start a sandbox and JupyterLab with "
        "CALLCOV_API_URL/CALLCOV_API_KEY set for it.",
    )
    notebook.add_argument(
        "--plan",
        default="starter",
        choices=("free", "starter", "business", "enterprise"),
        help="the sandbox's plan and rate limits (default: starter)",
    )
    notebook.add_argument(
        "--arrivals-per-minute",
        type=float,
        default=20.0,
        metavar="N",
        help="new calls arriving in the sandbox while it runs, so changes() finds some "
        "(default: 20; 0 keeps the data static)",
    )
    notebook.add_argument(
        "--notebook",
        default=str(NOTEBOOK),
        metavar="PATH",
        help=f"the notebook to open (default: {NOTEBOOK})",
    )
    notebook.add_argument(
        "jupyter_args", nargs=argparse.REMAINDER, help="passed on to `jupyter lab` (after --)"
    )
    notebook.set_defaults(run=run_notebook)
    return parser


def _one_line(exc: BaseException) -> str:
    """The exception as one line with the key (and anything key-shaped) masked."""
    from .._secrets import redact_text

    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text, os.environ.get(KEY_ENV, ""))


def _interrupted(exc: BaseException) -> str:
    """Ctrl-C: what was kept and how to go on, not just that it stopped."""
    partial = getattr(exc, "partial", None)
    if partial is None:  # not during a load (JupyterLab's end, a report being written)
        return (
            "interrupted (Ctrl-C). Calls already fetched are kept in the local store: the same "
            "command run again does not fetch them twice."
        )
    return (
        f"interrupted (Ctrl-C) after {len(partial):,} calls. Nothing was written to --out. The "
        "pages fetched so far are kept in the local store (except the demo's): run the same "
        "command again and it continues where it stopped, asking the API only for what is "
        "missing."
    )


def _fail(code: int, message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).

    Example:
        $ CALLCOV_API_KEY=sk_live_... callcov-analytics report --since 2026-11-01 --out nov
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if first is not None and argv[first] == "sandbox":
        from ..sandbox.cli import main as sandbox_main

        return _run(lambda: sandbox_main(argv[first + 1 :]), debug="--debug" in argv[:first])
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    debug = getattr(args, "debug", False)
    if debug:
        from .._secrets import guard_logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
        guard_logging()
    if getattr(args, "jupyter_args", [])[:1] == ["--"]:
        args.jupyter_args = args.jupyter_args[1:]
    run: Callable[[argparse.Namespace], int] = args.run
    return _run(lambda: run(args), debug=debug)


def _run(command: Callable[[], int], *, debug: bool) -> int:
    """Run a command, turning every failure into one line and an exit code."""
    from .._errors import CallCovError, ConfigurationError, ValidationError

    try:
        return command()
    except SystemExit as exc:  # the sandbox's own argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except BaseException as exc:
        if debug:
            traceback.print_exc()
        if isinstance(exc, UsageError | ValidationError | ConfigurationError):
            return _fail(EXIT_USAGE, _one_line(exc))
        if isinstance(exc, KeyboardInterrupt):
            return _fail(EXIT_INTERRUPTED, _interrupted(exc))
        if isinstance(exc, CallCovError | OSError | RuntimeError):
            return _fail(EXIT_FAILURE, _one_line(exc))
        if isinstance(exc, Exception):
            hint = "" if debug else " (run with --debug for the traceback)"
            return _fail(
                EXIT_FAILURE, f"internal error: {type(exc).__name__}: {_one_line(exc)}{hint}"
            )
        raise
