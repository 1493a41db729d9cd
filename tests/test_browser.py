"""The quickstart in a real browser: JupyterLab + headless Chromium, driven like a person would.

The test starts a sandbox and JupyterLab on 127.0.0.1 (with widget-state saving on and
``CALLCOV_API_URL`` set but no key), opens a copy of ``01_quickstart.ipynb`` in Debian's
Chromium through Playwright, runs the first cell, types the sandbox's freshly generated key into
the key widget, presses Connect, sees the ✓, runs the rest, saves, and reads the saved file
from disk: the key must not be in it. Screenshots go to ``test-artifacts/``.

Chromium must be installed (``make test`` installs Debian's ``chromium`` when missing): without
it this test fails rather than skips, so CI cannot go green without the browser check.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from callcov_analytics._secrets import KEY_PATTERN
from callcov_analytics.sandbox import Sandbox, serve

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LAB_SETTINGS = {
    # "Save Jupyter widget state in notebooks": off by default; on here to prove the key
    # widget leaves nothing behind even when an analyst turns it on.
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
    # Start the notebook's kernel without asking: under load the kernel list can arrive after
    # the notebook opens, and JupyterLab then asks which kernel to start.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
    # No news or update checks: the machine has no network beyond loopback.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(request: pytest.FixtureRequest, line: str) -> None:
    """Write a line to the test run's output (the screenshot paths must be visible there)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # output during a test is captured
            reporter.write_line(line)


@pytest.fixture
def api() -> Iterator[Sandbox]:
    # One request per 3 s window: the load has to wait, so the countdown shows on screen.
    with serve("starter", n_analyses=2500, window_seconds=3, limit=1) as running:
        yield running


@contextlib.contextmanager
def jupyter_lab(root: Path, tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """JupyterLab on loopback serving `root`, with `env` on top of a CallCov-free environment;
    yields a notebook's URL with ``{name}`` to fill in (the token included)."""
    settings = tmp_path / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    kernels = tmp_path / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3",
                "language": "python",
            }
        )
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCOV_")}
    full_env.update(
        {
            "JUPYTER_PATH": str(tmp_path / "jupyter"),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "HOME": str(tmp_path / "home"),
            **env,
        }
    )
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            "--ServerApp.terminals_enabled=False",
            "--LabApp.extension_manager=readonly",  # no PyPI look-ups from the test
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        ],
        env=full_env,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n"
                        + (tmp_path / "jupyterlab.log").read_text()[-3000:]
                    )
                time.sleep(0.3)
        yield f"{base}/lab/tree/{{name}}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()


@pytest.fixture
def lab(api: Sandbox, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab on loopback serving a copy of the quickstart; yields (url, notebook path)."""
    root = tmp_path / "root"
    root.mkdir()
    notebook = root / "01_quickstart.ipynb"
    shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", notebook)
    env = {
        "CALLCOV_API_URL": api.url,  # a URL but no key: the quickstart shows the key box
        "CALLCOV_CACHE_DIR": str(tmp_path / "cache"),
    }
    with jupyter_lab(root, tmp_path, env) as url:
        yield url.format(name=notebook.name), notebook


def shot(target: Any, name: str, request: pytest.FixtureRequest) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    target.screenshot(path=str(path))
    say(request, f"screenshot: {path}")
    return path


def test_key_typed_in_the_browser_never_reaches_the_saved_notebook(
    api: Sandbox, lab: tuple[str, Path], request: pytest.FixtureRequest
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install chromium (make test does this as root)"
        )
    from playwright.sync_api import expect, sync_playwright

    # A kernel starting on a busy 2-core machine can take far longer than Playwright's 5 s.
    expect.set_options(timeout=90_000)
    url, notebook = lab
    key = api.key  # generated by this run's sandbox
    cells = json.loads(notebook.read_text())["cells"]
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            cell_nodes = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            expect(cell_nodes).to_have_count(len(cells))
            # Keys pressed before the kernel is up are lost: wait for it, as a person would.
            expect(page.get_by_text("Python 3 | Idle")).to_be_visible()

            # 1. run the connect cell: CALLCOV_API_URL is set but no key -> the key box
            cell_nodes.nth(first_code).locator(".jp-InputArea-prompt").click()
            page.keyboard.press("Shift+Enter")
            password = page.locator(".jp-OutputArea input[type='password']")
            expect(password).to_be_visible()
            entry = cell_nodes.nth(first_code).locator(".jp-OutputArea")
            shot(entry, "browser_key_widget_empty.png", request)

            # 2. type the key like a person, press Connect, see the check mark
            password.click()
            password.press_sequentially(key, delay=5)
            page.get_by_role("button", name="Connect").click()
            expect(entry).to_contain_text("✓ connected to " + api.url, timeout=30_000)
            expect(password).to_have_count(0)  # the field is gone once the key is accepted
            shot(entry, "browser_key_widget_connected.png", request)

            # 3. run the rest of the notebook, cell by cell, as Shift+Enter does
            cell_nodes.nth(first_code + 1).locator(".jp-InputArea-prompt").click()
            page.keyboard.press("Escape")
            for _ in range(first_code + 1, len(cells)):
                page.keyboard.press("Shift+Enter")
            panel = page.locator(".jp-OutputArea-output:has-text('This window')").first
            expect(panel).to_contain_text("the kernel is not stuck", timeout=30_000)
            shot(panel, "browser_quota_panel_waiting.png", request)
            expect(panel).to_contain_text("✓ done", timeout=60_000)
            # The count depends on the day and hour the sandbox anchors its data (and the
            # kernel's "four weeks ago"): take it from the sandbox's own records.
            summary = page.locator(".jp-OutputArea-output:has-text('calls since')")
            expect(summary).to_be_visible(timeout=30_000)
            shown = re.search(r"([\d,]+) calls since (\d{4}-\d{2}-\d{2})", summary.inner_text())
            assert shown, summary.inner_text()
            since = pd.Timestamp(shown[2], tz="UTC").timestamp()
            expected = sum(r["created"] >= since for r in api.records())
            assert int(shown[1].replace(",", "")) == expected > 0
            expect(panel).to_contain_text(f"{expected:,} rows")
            last_image = cell_nodes.nth(len(cells) - 2).locator(".jp-OutputArea img")
            expect(last_image).to_be_visible(timeout=60_000)  # the quota figure: last code cell
            panel.scroll_into_view_if_needed()
            shot(panel, "browser_quota_panel.png", request)
            shot(page, "browser_notebook.png", request)

            # 4. save (widget state included) and read the file the analyst would commit
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 30
            while WIDGET_STATE not in notebook.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            browser.close()

    saved = notebook.read_text()
    assert WIDGET_STATE in saved, "JupyterLab did not save widget state (saveState setting)"
    assert key not in saved
    assert not KEY_PATTERN.search(saved)
    nb = json.loads(saved)
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)
    assert "error" not in {o.get("output_type") for c in nb["cells"] for o in c.get("outputs", [])}
    assert "calls since" in outputs and "image/png" in outputs
    state = json.dumps(nb["metadata"]["widgets"][WIDGET_STATE], ensure_ascii=False)
    assert "✓ connected to" in state
