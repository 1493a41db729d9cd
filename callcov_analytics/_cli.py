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
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._config import KEY_ENV, URL_ENV
from ._options import STATUSES
from ._version import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
NOTEBOOK = Path("notebooks") / "01_quickstart.ipynb"


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and an exit code, not usage text and exit()."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _say(message: str) -> None:
    """Progress and notes: stderr, so stdout stays the result."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class _Waits:
    """Observer that reports rate-limit waits on stderr (the bar does that on a terminal)."""

    def on_response(self, reading: Any) -> None:
        """Ignore responses: only waits are news worth a line."""

    def on_wait(self, seconds: float, reason: str) -> None:
        """Say why the load pauses."""
        _say(f"waiting {seconds:.1f} s ({reason})")

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        """Report pages as they arrive (against a total only when the load reads it all)."""
        _say(f"page {pages}: {rows:,}{f' of {total:,}' if total is not None else ''} calls")


def _load(args: argparse.Namespace) -> Any:
    """Run load_calls() with the command's filters; progress on stderr."""
    from ._loaders import load_calls

    started = time.monotonic()
    df = load_calls(
        base_url=args.api_url,
        status=args.status,
        agent_id=args.agent_id,
        contact_id=args.contact_id,
        search=args.search,
        since=args.since,
        until=args.until,
        tz=args.tz,
        include_transcript=args.transcripts,
        observer=None if sys.stderr.isatty() else _Waits(),
    )
    throttled = df.attrs.get("throttled", 0)
    _say(
        f"fetched {len(df):,} calls in {time.monotonic() - started:.1f} s: "
        f"{df.attrs.get('summary', '')}{f', {throttled} throttled' if throttled else ''}"
    )
    return df


def check_output(out: Path, formats: Sequence[str] | None = None) -> None:
    """Refuse an --out the command could not write, before any request spends quota.

    ``formats``: the file extensions allowed (None: ``out`` is a folder to create). The
    nearest existing folder above ``out`` must be a folder we may write in; ``out`` itself,
    if it exists, must be of the right kind.
    """
    if formats is not None and out.suffix.lower() not in formats:
        allowed = " or ".join(formats)
        raise UsageError(f"--out must end in {allowed}, not {out.name!r}")
    if formats is not None and out.is_dir():
        raise UsageError(f"--out {out} is a folder; name a file, e.g. {out / 'calls.csv'}")
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(
            f"--out {out}: {parent} is a file, not a folder, so nothing can be written under "
            "it; choose another --out (nothing was fetched)"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(
            f"--out {out}: no permission to write in {parent}; choose another --out "
            "(nothing was fetched)"
        )


def _quota(args: argparse.Namespace) -> int:
    import json

    from ._quota import quota

    now = quota(base_url=args.api_url)  # a new process holds no fresh reading: one request
    print(json.dumps(now.to_dict(), indent=2) if args.json else str(now))
    return EXIT_OK


def _fetch(args: argparse.Namespace) -> int:
    from .report import FILE_SUFFIXES, write_csv, write_parquet

    out = Path(args.out)
    check_output(out, FILE_SUFFIXES)  # before spending quota on the fetch
    if args.excel and out.suffix.lower() != ".csv":
        raise UsageError("--excel applies to .csv output only")
    df = _load(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        write_csv(df, out, excel=args.excel)
    else:
        write_parquet(df, out)
    print(f"wrote {len(df)} calls to {out}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from .report import check_target, export_report

    out = Path(args.out).absolute()
    # Before spending quota on the fetch: the name, what is already there, the permissions.
    check_target(out, overwrite=args.overwrite, parquet=args.parquet, excel=args.excel)
    check_output(out)
    df = _load(args)
    written = export_report(
        df,
        out,
        excel=args.excel,
        parquet=args.parquet,
        charts=args.charts,
        overwrite=args.overwrite,
        min_calls=args.min_calls,
    )
    _print_report(written)
    return EXIT_OK


def _rate_limit_floor(readings: list[dict[str, Any]]) -> tuple[int, float]:
    """Full windows and the seconds from each one's first response to its reset: no client
    could have finished sooner."""
    first: dict[float, tuple[float, float]] = {}
    for r in readings:
        if r.get("reset") is not None and r.get("reset_local") is not None:
            first.setdefault(r["reset"], (r["at"], r["reset_local"]))
    spans = [reset_local - at for _, (at, reset_local) in sorted(first.items())][:-1]
    return len(spans), sum(spans)


def _print_report(written: Path) -> None:
    """The files written, then, last, the one to open."""
    if written.is_file():
        print(f"workbook: {written}")
        return
    print(f"report: {written}")
    for path in sorted(written.iterdir()):
        print(f"  {path.name}")
    from .report import REPORT_FILE

    if (written / REPORT_FILE).is_file():
        print(f"open {written / REPORT_FILE} first: the summary, agents and exceptions")


def _demo(args: argparse.Namespace) -> int:
    from . import sandbox
    from ._loaders import load_calls
    from .report import check_target, export_report

    out = Path(args.out).absolute()
    check_target(out, overwrite=True)  # a previous demo report is replaced, nothing else
    if args.n_analyses < 1 or args.window_seconds <= 0 or args.limit < 1:
        raise UsageError("--n-analyses and --limit must be >= 1, --window-seconds > 0")
    if out.suffix.lower() == ".xlsx":
        raise UsageError("demo --out is a folder: it holds report.xlsx and the CSVs")
    _say(
        f"starting a sandbox: {args.n_analyses} analyses, plan 'free' scaled to "
        f"{args.limit} requests per {args.window_seconds:g} s window"
    )
    with sandbox.serve(
        plan="free",
        n_analyses=args.n_analyses,
        window_seconds=args.window_seconds,
        limit=args.limit,
    ) as api:
        started = time.monotonic()
        df = load_calls(
            api.key,
            api.url,
            cache=False,  # a fresh sandbox key each run: nothing to keep in the user's cache
            observer=None if sys.stderr.isatty() else _Waits(),
        )
        elapsed = time.monotonic() - started
    folder = export_report(df, out, overwrite=True)
    requests = int(df.attrs.get("requests", 0))
    windows, floor = _rate_limit_floor(df.attrs.get("quota", []))
    print(f"CallCov demo against a local sandbox ({api.url})")
    print(f"  rows         {len(df)}")
    print(f"  requests     {requests} (429 responses: {df.attrs.get('throttled', 0)})")
    print(
        f"  wall time    {elapsed:.1f} s; the rate limit alone forces {floor:.1f} s "
        f"(waiting out {windows} full window{'s' if windows != 1 else ''}, each from its first "
        "request to its reset)"
    )
    _print_report(folder)
    return EXIT_OK


def _notebook(args: argparse.Namespace) -> int:
    from . import sandbox

    notebook = Path(args.notebook)
    if not notebook.is_file() and not notebook.is_absolute():
        notebook = Path(__file__).resolve().parents[1] / args.notebook  # a source checkout
    if not notebook.is_file():
        raise UsageError(f"notebook not found: {args.notebook}")
    search = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])
    jupyter = shutil.which("jupyter", path=search)
    if jupyter is None:
        raise RuntimeError("JupyterLab is not installed: pip install 'callcov-analytics[dev]'")
    with sandbox.serve(plan=args.plan) as api:
        env = {**os.environ, URL_ENV: api.url, KEY_ENV: api.key}
        _say(f"sandbox ({args.plan} plan) at {api.url}; starting JupyterLab, Ctrl-C to stop")
        # Jupyter refuses to run as root without being told; containers and CI run as root.
        as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        command = [jupyter, "lab", str(notebook), *as_root, *args.jupyter_args]
        return subprocess.call(command, env=env)


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
    query.add_argument(
        "--api-url",
        metavar="URL",
        help="API base URL (default: CALLCOV_API_URL or the CallCov API)",
    )
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
    fetch.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="calls.csv (formula-safe) or calls.parquet; replaced if it exists",
    )
    fetch.add_argument("--excel", action="store_true", help="CSV with BOM and Excel-style dates")
    fetch.set_defaults(run=_fetch)

    report = commands.add_parser(
        "report",
        parents=[debug, query],
        epilog=key_note,
        help="download calls and write a workbook (.xlsx) or a report folder",
        description="Download call analyses and write the manager's workbook (--out "
        "report.xlsx) or a report folder (the workbook, CSVs, charts, manifest.json).",
    )
    report.add_argument(
        "--out", required=True, metavar="PATH", help="report.xlsx, or a report folder to create"
    )
    report.add_argument(
        "--excel", action="store_true", help="folder CSVs with BOM, Excel-style dates"
    )
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
        help="replace an existing report folder or .xlsx (never any other file or folder)",
    )
    report.set_defaults(run=_report)

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
    demo.set_defaults(run=_demo)

    quota = commands.add_parser(
        "quota",
        parents=[debug],
        epilog=key_note,
        help="how much quota is left today and in this window, and when each resets",
        description="One request to /billing/usage; prints the day's quota and reset, the "
        "month's requests and the rate-limit window in one line.",
    )
    quota.add_argument("--json", action="store_true", help="print the figures as JSON instead")
    quota.add_argument(
        "--api-url",
        metavar="URL",
        help="API base URL (default: CALLCOV_API_URL or the CallCov API)",
    )
    quota.set_defaults(run=_quota)

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
        "--notebook",
        default=str(NOTEBOOK),
        metavar="PATH",
        help=f"the notebook to open (default: {NOTEBOOK})",
    )
    notebook.add_argument(
        "jupyter_args", nargs=argparse.REMAINDER, help="passed on to `jupyter lab` (after --)"
    )
    notebook.set_defaults(run=_notebook)
    return parser


def _one_line(exc: BaseException) -> str:
    """The exception as one line with the key (and anything key-shaped) masked."""
    from ._secrets import redact_text

    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text, os.environ.get(KEY_ENV, ""))


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
        from .sandbox.cli import main as sandbox_main

        return _run(lambda: sandbox_main(argv[first + 1 :]), debug="--debug" in argv[:first])
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    debug = getattr(args, "debug", False)
    if debug:
        from ._secrets import guard_logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
        guard_logging()
    if getattr(args, "jupyter_args", [])[:1] == ["--"]:
        args.jupyter_args = args.jupyter_args[1:]
    run: Callable[[argparse.Namespace], int] = args.run
    return _run(lambda: run(args), debug=debug)


def _run(command: Callable[[], int], *, debug: bool) -> int:
    """Run a command, turning every failure into one line and an exit code."""
    from ._errors import CallCovError, ConfigurationError, ValidationError

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
            return _fail(EXIT_INTERRUPTED, "interrupted")
        if isinstance(exc, CallCovError | OSError | RuntimeError):
            return _fail(EXIT_FAILURE, _one_line(exc))
        if isinstance(exc, Exception):
            hint = "" if debug else " (run with --debug for the traceback)"
            return _fail(
                EXIT_FAILURE, f"internal error: {type(exc).__name__}: {_one_line(exc)}{hint}"
            )
        raise


if __name__ == "__main__":
    sys.exit(main())
