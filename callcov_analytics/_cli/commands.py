"""What each subcommand of ``callcov-analytics`` does (the parser and exit codes: `parser`).

Each command imports what it needs when it runs, so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._config import KEY_ENV, URL_ENV
from .._load.options import Filters

EXIT_OK = 0
NOTEBOOK = Path("notebooks") / "01_quickstart.ipynb"


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2)."""


def _show(result: str) -> None:
    """Results: stdout (the package's one other writer to a terminal is _say)."""
    sys.stdout.write(result + "\n")


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
    from .._http.client import CallCovClient
    from .._load.loaders import load_calls

    with CallCovClient(base_url=args.api_url) as client:  # its clock times the load
        started = client.clock.monotonic()
        df = load_calls(
            client=client,
            include_transcript=args.transcripts,
            observer=None if sys.stderr.isatty() else _Waits(),
            **{name: getattr(args, name) for name in Filters.__annotations__},  # same dests
        )
        elapsed = client.clock.monotonic() - started
    throttled = df.attrs.get("throttled", 0)
    _say(
        f"fetched {len(df):,} calls in {elapsed:.1f} s: "
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


def run_quota(args: argparse.Namespace) -> int:
    """Print the quota line (or its figures as JSON)."""
    import dataclasses
    import json

    from .._config import Config
    from .._http.client import CallCovClient
    from .._load.quota import quota

    # One question, one request (a new process holds no fresh reading): an API that does not
    # answer fails within seconds, and each retry says so on stderr, instead of a silent wait.
    config = Config.resolve(base_url=args.api_url)
    config = dataclasses.replace(config, max_retries=2, connect_timeout=3.0)
    _say(f"asking {config.origin} for the quota (GET /billing/usage)")
    with CallCovClient(config=config, observer=_Waits()) as client:
        now = quota(client)
    _show(json.dumps(now.to_dict(), indent=2) if args.json else str(now))
    return EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    """Load the calls into one .csv or .parquet file."""
    from ..report import FILE_SUFFIXES, write_csv, write_parquet

    out = Path(args.out)
    check_output(out, FILE_SUFFIXES)  # before spending quota on the fetch
    if args.machine and out.suffix.lower() != ".csv":
        raise UsageError("--machine applies to .csv output only")
    df = _load(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        write_csv(df, out, machine=args.machine)
    else:
        write_parquet(df, out)
    _show(f"wrote {len(df)} calls to {out}")
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    """Load the calls and write the workbook, one CSV, or the report folder."""
    from ..report import check_target, export_report

    out = Path(args.out).absolute()
    # Before spending quota on the fetch: the name, what is already there, the permissions.
    check_target(out, overwrite=args.overwrite, parquet=args.parquet, machine=args.machine)
    check_output(out)
    df = _load(args)
    written = export_report(
        df,
        out,
        machine=args.machine,
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
        _show(f"{'workbook' if written.suffix.lower() == '.xlsx' else 'csv'}: {written}")
        return
    _show(f"report: {written}")
    for path in sorted(written.iterdir()):
        _show(f"  {path.name}")
    from ..report import REPORT_FILE

    if (written / REPORT_FILE).is_file():
        _show(f"open {written / REPORT_FILE} first: the summary, agents and exceptions")


def run_demo(args: argparse.Namespace) -> int:
    """Sandbox, load over HTTP, report, and what the rate limit alone cost."""
    from .. import sandbox
    from .._http.client import CallCovClient
    from .._load.loaders import load_calls
    from ..report import REPORT_SUFFIXES, check_target, export_report

    out = Path(args.out).absolute()
    check_target(out, overwrite=True)  # a previous demo report is replaced, nothing else
    if args.n_analyses < 1 or args.window_seconds <= 0 or args.limit < 1:
        raise UsageError("--n-analyses and --limit must be >= 1, --window-seconds > 0")
    if args.arrivals_per_minute < 0:
        raise UsageError("--arrivals-per-minute must be >= 0")
    if out.suffix.lower() in REPORT_SUFFIXES:
        raise UsageError("demo --out is a folder: it holds report.xlsx and the CSVs")
    _say(
        f"starting a sandbox: {args.n_analyses} analyses, plan 'free' scaled to "
        f"{args.limit} requests per {args.window_seconds:g} s window"
    )
    with (
        sandbox.serve(
            plan="free",
            n_analyses=args.n_analyses,
            window_seconds=args.window_seconds,
            limit=args.limit,
            arrivals_per_minute=args.arrivals_per_minute,
        ) as api,
        CallCovClient(api.key, api.url) as client,
    ):
        started = client.clock.monotonic()  # the client's clock times the load
        df = load_calls(
            client=client,
            cache=False,  # a fresh sandbox key each run: nothing to keep in the user's cache
            observer=None if sys.stderr.isatty() else _Waits(),
        )
        elapsed = client.clock.monotonic() - started
    folder = export_report(df, out, overwrite=True)
    requests = int(df.attrs.get("requests", 0))
    windows, floor = _rate_limit_floor(df.attrs.get("quota", []))
    _show(f"CallCov demo against a local sandbox ({api.url})")
    _show(f"  rows         {len(df)}")
    _show(f"  requests     {requests} (429 responses: {df.attrs.get('throttled', 0)})")
    _show(
        f"  wall time    {elapsed:.1f} s; the rate limit alone forces {floor:.1f} s "
        f"(waiting out {windows} full window{'s' if windows != 1 else ''}, each from its first "
        "request to its reset)"
    )
    _print_report(folder)
    return EXIT_OK


def run_notebook(args: argparse.Namespace) -> int:
    """A sandbox, and JupyterLab on the quickstart notebook pointed at it."""
    from .. import sandbox

    notebook = Path(args.notebook)
    if not notebook.is_file() and not notebook.is_absolute():
        notebook = Path(__file__).resolve().parents[1] / args.notebook  # a source checkout
    if not notebook.is_file():
        raise UsageError(f"notebook not found: {args.notebook}")
    search = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])
    jupyter = shutil.which("jupyter", path=search)
    if jupyter is None:
        raise RuntimeError("JupyterLab is not installed: pip install 'callcov-analytics[notebook]'")
    with sandbox.serve(plan=args.plan, arrivals_per_minute=args.arrivals_per_minute) as api:
        # CALLCOV_SANDBOX_URL lets connect() say "the sandbox", not "your account's data".
        env = {**os.environ, URL_ENV: api.url, KEY_ENV: api.key, "CALLCOV_SANDBOX_URL": api.url}
        _say(f"sandbox ({args.plan} plan) at {api.url}; starting JupyterLab, Ctrl-C to stop")
        # Jupyter refuses to run as root without being told; containers and CI run as root.
        as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        command = [jupyter, "lab", str(notebook), *as_root, *args.jupyter_args]
        return subprocess.call(command, env=env)
