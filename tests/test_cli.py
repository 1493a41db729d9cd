"""The callcov-analytics command against a sandbox: in this process (`run`), and as a user would
run it, a child process, where the process is the point (its exit, Ctrl-C, a traceback)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from callcov_analytics import SCHEMA, CallCovClient, sandbox
from callcov_analytics._cli import parser as cli
from callcov_analytics.report import read_report_csv
from callcov_analytics.sandbox import Sandbox
from tests.processes import ctrl_c_reaches_the_child
from tests.sandbox_fixtures import FakeClock

N = 300


@pytest.fixture(scope="module")
def api() -> Iterator[Sandbox]:
    """A sandbox with room for every test's requests (enterprise plan: no waiting)."""
    with sandbox.serve(plan="enterprise", n_analyses=N) as server:
        yield server


def run(
    *args: str,
    key: str | None = None,
    url: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    child: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a clean environment; the key only ever travels in the environment.

    In this process (`parser.main(argv)`, stdout and stderr captured) unless ``child``: then
    as a user would, ``python -m`` in a child process. In this process every client the command
    makes, and every sandbox it starts (the demo's), read one `FakeClock` started at now: a
    rate-limit window or a retry's backoff is waited out at once.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLCOV_")}
    # The store of this test run, never the user's cache (another run may have left anything).
    base["CALLCOV_CACHE_DIR"] = os.environ["CALLCOV_CACHE_DIR"]
    base.update(env or {})
    if key is not None:
        base["CALLCOV_API_KEY"] = key
    if url is not None:
        base["CALLCOV_API_URL"] = url
    command = [sys.executable, "-m", "callcov_analytics._cli", *args]
    if child:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=base,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    clock = FakeClock(time.time())
    real_init, real_serve = CallCovClient.__init__, sandbox.serve

    def on_the_clock(self: CallCovClient, *a: Any, **kw: Any) -> None:
        kw.setdefault("clock", clock)
        real_init(self, *a, **kw)

    def serve_on_the_clock(plan: str = "starter", **kw: Any) -> Sandbox:
        return real_serve(plan, **{"clock": clock, **kw})

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name not in base:
                patch.delenv(name)
        for name, value in base.items():
            patch.setenv(name, value)
        if cwd is not None:
            patch.chdir(cwd)
        patch.setattr(CallCovClient, "__init__", on_the_clock)
        patch.setattr(sandbox, "serve", serve_on_the_clock)
        # A fresh process has no notebook kernel loaded (another test file's may be here): the
        # progress display is chosen as on a command line.
        patch.delitem(sys.modules, "ipykernel", raising=False)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    return subprocess.CompletedProcess(command, code, out.getvalue(), err.getvalue())


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a failed run must be exactly one `error: ...` line."""
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: "), done.stderr
    progress = ("page ", "waiting ", "asking ")
    assert len([line for line in lines if not line.startswith(progress)]) == 1
    assert "Traceback" not in done.stderr
    return lines[-1]


def test_fetch_csv(api: Sandbox, tmp_path: Path) -> None:
    done = run(
        "fetch", "--out", "out/calls.csv", key=api.key, url=api.url, cwd=tmp_path, child=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {N} calls to out/calls.csv"
    assert "fetched" in done.stderr
    back = read_report_csv(tmp_path / "out" / "calls.csv", schema=SCHEMA)
    assert len(back) == N and set(back["id"]) == set(api.ids())
    assert api.key not in done.stdout + done.stderr


def test_report_one_csv_for_a_spreadsheet(api: Sandbox, tmp_path: Path) -> None:
    done = run(
        "report", "--out", "calls.csv", "--tz", "Europe/London", key=api.key, url=api.url,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = tmp_path / "calls.csv"
    assert done.stdout.strip() == f"csv: {path}"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only behind a BOM
    header = raw.decode("utf-8-sig").split("\r\n", 1)[0]
    assert '"created (Europe/London)"' in header
    back = read_report_csv(path, schema=SCHEMA)
    assert len(back) == N and set(back["id"]) == set(api.ids())
    again = run("report", "--out", "calls.csv", key=api.key, url=api.url, cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in one_error_line(again)


def test_report_advice_names_only_what_the_command_line_has(tmp_path: Path) -> None:
    done = run("report", "--out", "calls.parquet", key="sk_test_x", cwd=tmp_path)
    assert done.returncode == 2
    line = one_error_line(done)
    assert "--parquet" in line and "write_csv" not in line and "write_parquet" not in line


def test_fetch_parquet_with_filters(api: Sandbox, tmp_path: Path) -> None:
    done = run(
        "fetch",
        "--status",
        "completed",
        "--since",
        "2000-01-01",
        "--out",
        "calls.parquet",
        key=api.key,
        url=api.url,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    df = pd.read_parquet(tmp_path / "calls.parquet")
    assert len(df) > 0 and set(df["status"].astype(str)) == {"completed"}
    assert {c: str(t) for c, t in df.dtypes.items() if c in SCHEMA} == SCHEMA


def test_report(api: Sandbox, tmp_path: Path) -> None:
    done = run(
        "report", "--out", "rep", "--machine", "--parquet", key=api.key, url=api.url, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "rep"
    assert done.stdout.splitlines()[0] == f"report: {folder}"
    for name in (
        "calls.csv",
        "agent_summary.csv",
        "daily_volume.csv",
        "compliance_exceptions.csv",
        "calls.parquet",
        "manifest.json",
    ):
        assert (folder / name).is_file() and f"  {name}" in done.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["calls.csv"]["rows"] == N
    assert not (folder / "calls.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # --machine
    assert manifest["csv"]["for"] == "programs"
    for path in folder.iterdir():
        assert api.key.encode() not in path.read_bytes(), path.name

    again = run("report", "--out", "rep", key=api.key, url=api.url, cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in one_error_line(again)
    assert (
        run(
            "report",
            "--out",
            "rep",
            "--overwrite",
            "--no-charts",
            key=api.key,
            url=api.url,
            cwd=tmp_path,
        ).returncode
        == 0
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["fetch"], "required: --out"),
        (["fetch", "--out", "calls.txt"], ".csv or .parquet"),
        (["fetch", "--out", "c.csv", "--since", "not-a-date"], "not a date"),
        (["fetch", "--out", "c.csv", "--since", "2026-02-01", "--until", "2026-01-01"], "after"),
        (["fetch", "--out", "c.csv", "--status", "archived"], "invalid choice: 'archived'"),
        (["fetch", "--out", "c.csv", "--api-key", "sk_test_x"], "unrecognized arguments"),
        (["frobnicate"], "invalid choice"),
        ([], "required: COMMAND"),
        (["demo", "--limit", "0"], "--limit must be >= 1"),
    ],
)
def test_usage_errors_exit_2_in_one_line(
    api: Sandbox, tmp_path: Path, args: list[str], says: str
) -> None:
    done = run(*args, key=api.key, url=api.url, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert says in one_error_line(done)
    assert done.stdout == ""


def test_no_key_is_a_usage_error(tmp_path: Path) -> None:
    done = run("fetch", "--out", "c.csv", cwd=tmp_path)
    assert done.returncode == 2
    assert "CALLCOV_API_KEY" in one_error_line(done)


def test_bad_key_exits_1_without_showing_it(api: Sandbox, tmp_path: Path) -> None:
    wrong = "sk_test_" + secrets.token_urlsafe(32).replace("-", "a").replace("_", "b")
    done = run("report", "--out", "rep", key=wrong, url=api.url, cwd=tmp_path)
    assert done.returncode == 1
    line = one_error_line(done)
    assert "401" in line or "Invalid or missing API key" in line
    assert wrong not in done.stdout + done.stderr and wrong[8:] not in done.stderr
    assert not (tmp_path / "rep").exists()

    debug = run(  # a child: --debug configures logging for the whole process
        "--debug", "fetch", "--out", "c.csv", key=wrong, url=api.url, cwd=tmp_path, child=True
    )
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and wrong not in debug.stdout + debug.stderr


def test_unreachable_server_exits_1(tmp_path: Path) -> None:
    done = run(
        "fetch",
        "--out",
        "c.csv",
        "--api-url",
        "http://127.0.0.1:9/api/v1",
        key="sk_test_" + "x" * 40,
        cwd=tmp_path,
        timeout=180,
    )
    assert done.returncode == 1
    assert "127.0.0.1:9" in one_error_line(done)


def test_quota_on_an_unreachable_server_says_what_it_does(tmp_path: Path) -> None:
    """Not a silent pause then one line: it says whom it asks and each retry, then fails."""
    done = run(
        "quota", "--api-url", "http://127.0.0.1:9/api/v1", key="sk_test_" + "x" * 40, cwd=tmp_path
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "asking http://127.0.0.1:9 for the quota (GET /billing/usage)"
    assert len([line for line in lines if line.startswith("waiting ")]) == 2  # two retries
    assert "127.0.0.1:9" in one_error_line(done)


def test_ctrl_c_says_what_was_kept_and_how_to_go_on(tmp_path: Path) -> None:
    import signal

    with sandbox.serve(plan="free", n_analyses=2500, window_seconds=60, limit=1) as slow:
        base = {k: v for k, v in os.environ.items() if not k.startswith("CALLCOV_")}
        base.update(
            CALLCOV_API_KEY=slow.key,
            CALLCOV_API_URL=slow.url,
            CALLCOV_CACHE_DIR=os.environ["CALLCOV_CACHE_DIR"],
        )
        command = [sys.executable, "-m", "callcov_analytics._cli", "fetch", "--out", "c.csv"]
        proc = subprocess.Popen(
            command,
            env=base,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ctrl_c_reaches_the_child,
        )
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # the first page, then a wait for the next window
            seen.append(line)
            if line.startswith("waiting "):
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, "".join(seen) + rest
    error = rest.strip().splitlines()[-1]
    assert error.startswith("error: interrupted (Ctrl-C) after 1,000 calls.")
    assert "kept in the local store" in error and "run the same command again" in error
    assert not (tmp_path / "c.csv").exists()


@pytest.mark.parametrize(
    "command", [[], ["fetch"], ["report"], ["sandbox"], ["demo"], ["notebook"]]
)
def test_help_for_every_command(command: list[str], tmp_path: Path) -> None:
    done = run(*command, "--help", cwd=tmp_path, child=command == [])  # one as a real child
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: callcov-analytics")
    if command in ([], ["fetch"], ["report"]):
        assert "CALLCOV_API_KEY" in done.stdout  # where the key comes from, and why not argv


def test_demo(tmp_path: Path) -> None:
    # The demo's sandbox and client on one fake clock: its windows are waited out at once.
    done = run("demo", "--out", "demo-output", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    folder = tmp_path / "demo-output"
    assert "rows         5000" in out and "429 responses: 0" in out
    requests = int(out.split("requests     ")[1].split()[0])
    assert requests > 2 * 2  # more than two windows' worth at 2 per window
    assert f"report: {folder}" in out
    for name in (
        "report.xlsx",
        "calls.csv",
        "agent_summary.csv",
        "daily_volume.csv",
        "compliance_exceptions.csv",
        "manifest.json",
    ):
        assert (folder / name).is_file()
    assert not (folder / "quota.png").exists()  # the quota stays in this console summary
    assert out.splitlines()[-1].startswith(f"open {folder / 'report.xlsx'} first")
    assert "sk_test_" not in out + done.stderr
    again = run("demo", "--out", "demo-output", "--n-analyses", "50", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # a previous demo report is replaced


def test_notebook_starts_jupyter_with_sandbox_env(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "jupyter.json"
    fake = bin_dir / "jupyter"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, urllib.request\n"
        "req = urllib.request.Request(os.environ['CALLCOV_API_URL'] + '/health',\n"
        "                             headers={'X-API-Key': os.environ['CALLCOV_API_KEY']})\n"
        "status = urllib.request.urlopen(req).status\n"
        f"json.dump({{'argv': sys.argv[1:], 'health': status}}, open({str(record)!r}, 'w'))\n"
    )
    fake.chmod(0o755)
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    done = run(
        "notebook",
        "--notebook",
        str(notebook),
        "--",
        "--no-browser",
        cwd=tmp_path,
        env={"PATH": path},
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(record.read_text())
    as_root = ["--allow-root"] if os.geteuid() == 0 else []  # jupyter refuses root otherwise
    assert seen == {"argv": ["lab", str(notebook), *as_root, "--no-browser"], "health": 200}


def test_notebook_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    done = run("notebook", "--notebook", "nope.ipynb", cwd=tmp_path)
    assert done.returncode == 2
    assert "notebook not found" in one_error_line(done)
