"""All three notebooks in a real browser, as a new analyst runs them: JupyterLab + Chromium.

No key and no URL are configured, so each notebook's ``connect()`` starts its own sandbox.
Each notebook is opened, run cell by cell with Shift+Enter, and checked for what the analyst
should see (where the data comes from and how to switch, what the load brought, the answer
at the end); a screenshot of its end goes to ``test-artifacts/browser_<notebook>_end.png``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, ROOT, jupyter_lab, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

# What each notebook must show on screen once it has run, top to bottom.
EXPECTED = {
    "01_quickstart.ipynb": [
        "uses the sandbox at http://127.0.0.1:",
        "connect(sandbox=False)",  # how to switch to a key
        "from the local store",  # the repeat load says what it brought
        "calls mention a refund",
        "✓ done in",
    ],
    "02_quota.ipynb": ["25 requests, 0 rate-limited (429)", "not reported by the API (1,000 a day"],
    "03_compliance_report.ipynb": ["flagged, at most (95%)", "Coach first"],
}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab on loopback over copies of the three notebooks, with no CallCov settings;
    yields (URL with a ``{name}`` to fill in, root)."""
    root = tmp_path / "root"
    root.mkdir()
    for name in EXPECTED:
        (root / name).write_text((ROOT / "notebooks" / name).read_text())
    with jupyter_lab(root, tmp_path, {}) as url:
        yield url, root


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_notebook_runs_in_the_browser_and_ends_on_an_answer(
    name: str, lab: tuple[str, Path], request: pytest.FixtureRequest
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does this)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)  # a kernel on a busy 2-core machine starts slowly
    url, _root = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(60_000)
            page.goto(url.format(name=name))
            notebook = page.locator(".jp-NotebookPanel .jp-Notebook")
            expect(notebook.locator(".jp-Cell").first).to_be_visible()
            cells = notebook.locator(".jp-Cell")
            expect(cells).to_have_count(len(json.loads((_root / name).read_text())["cells"]))
            # Keys pressed before the kernel is up are lost: wait for it, as a person would.
            expect(page.get_by_text("Python 3 | Idle")).to_be_visible()
            # Shift+Enter through every cell, as an analyst does (it also renders markdown);
            # Ctrl+Enter on the last, which would otherwise add a new cell.
            cells.first.locator(".jp-InputArea-prompt").click()
            page.keyboard.press("Escape")
            for _ in range(cells.count() - 1):
                page.keyboard.press("Shift+Enter")
            page.keyboard.press("Control+Enter")
            last_code = notebook.locator(".jp-CodeCell").last
            # Done: the last cell has its output and no cell waits to run ("[*]").
            expect(last_code.locator(".jp-OutputArea-output").first).to_be_visible(timeout=100_000)
            expect(notebook.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(0)
            expect(
                notebook.locator(
                    ".jp-OutputArea-output", has_text="Traceback (most recent call last)"
                )
            ).to_have_count(0)
            for text in EXPECTED[name]:
                expect(notebook).to_contain_text(text)
            # Plots show as pictures (the notebooks carry no %matplotlib magic), never as text.
            pictures = notebook.locator(".jp-RenderedImage img")
            expect(pictures.first).to_be_visible()
            expect(
                notebook.locator(".jp-OutputArea-output", has_text="<Figure size")
            ).to_have_count(0)
            shot(pictures.first, f"browser_{name.removesuffix('.ipynb')}_plot.png", request)
            connected = notebook.locator(".jp-CodeCell").first.locator(".jp-OutputArea")
            expect(connected).to_contain_text("For your own data: set CALLCOV_API_KEY")
            shot(connected, f"browser_{name.removesuffix('.ipynb')}_connect.png", request)
        finally:
            # Also when something failed: the screenshot shows what the analyst would see.
            with contextlib.suppress(Exception):
                notebook.locator(".jp-Cell").last.scroll_into_view_if_needed(timeout=5_000)
                shot(page, f"browser_{name.removesuffix('.ipynb')}_end.png", request)
            browser.close()
