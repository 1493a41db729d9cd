"""The notebooks, executed headless (nbclient + this venv's ipykernel) against the sandbox.

Each runs top to bottom with no key configured (so it starts its own sandbox), with widget state
stored as a frontend that saves it would; the saved file must hold no error and nothing shaped
like a key. A separate notebook types a generated key into the key widget and forces a
server error under ``%xmode Verbose``: the key must appear nowhere in the saved file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from callcov_analytics._secrets import KEY_PATTERN
from callcov_analytics.sandbox import Faults, serve

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_quickstart.ipynb", "02_quota.ipynb", "03_compliance_report.ipynb"]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 'python3' kernelspec that runs this interpreter (the venv's ipykernel), found first."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (callcov test venv)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    work = tmp_path / "work"
    work.mkdir()
    return work


def execute(nb: nbformat.NotebookNode, cwd: Path, **hooks: Any) -> nbformat.NotebookNode:
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] == sys.executable  # this venv's kernel, not one installed elsewhere
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=180,
        store_widget_state=True,
        resources={"metadata": {"path": str(cwd)}},
        **hooks,
    )
    client.execute()
    return nb


def errors(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_have_no_outputs_and_no_widget_state(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    raw = (NOTEBOOKS / name).read_text()
    assert WIDGET_STATE not in raw and "widgets" not in nb.metadata
    assert not KEY_PATTERN.search(raw)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    markdown = sum(cell.cell_type == "markdown" for cell in nb.cells)
    assert markdown >= 4  # a story an analyst can follow, not bare code


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_against_the_sandbox(
    name: str, kernel_env: Path, tmp_path: Path
) -> None:
    nb = execute(nbformat.read(NOTEBOOKS / name, as_version=4), kernel_env)
    assert errors(nb) == []
    saved = tmp_path / name
    nbformat.write(nb, saved)
    raw = saved.read_text()
    assert not KEY_PATTERN.search(raw), "a key-shaped string reached the saved notebook"
    outputs = json.dumps([cell.get("outputs", []) for cell in nb.cells], ensure_ascii=False)
    assert "uses the sandbox at http://127.0.0.1:" in outputs
    if name != "03_compliance_report.ipynb":
        assert WIDGET_STATE in json.dumps(nb.metadata)  # the state was saved, and is clean
        assert "image/png" in outputs
    if name == "01_quickstart.ipynb":
        # The sandbox receives calls while it runs: the repeat says what it brought, whatever.
        assert re.search(r"\d+ new, \d+ updated, [\d,]+ from the local store, \d+ request", outputs)
        assert "calls mention a refund" in outputs and "#t=" in outputs
        assert "dtypes" not in outputs and "%</td>" in outputs  # shares as percentages
    if name == "02_quota.ipynb":
        assert "25 requests, 0 rate-limited (429)" in outputs and "25 pages, 2,500 rows" in outputs
        assert "2,500 new, 0 updated" in outputs
        assert "today: what is left is not reported by the API (1,000 a day on this plan" in outputs
        # 2 s windows: by the last cell the reading may be stale; either way the line says which
        said = r"— from (the last response, [^)]+\(no request made\)|one request to)"
        assert re.search(said, outputs)
    if name == "03_compliance_report.ipynb":
        last = nb.cells[-1]["outputs"][-1]["data"]
        assert "Coach first" in last["text/markdown"]  # it ends on an answer
        assert "application/vnd.vegalite" in outputs.replace("v6", "v5")  # the interactive chart
        report = kernel_env / "callcov-report"
        assert {"agent_summary.csv", "compliance_exceptions.csv", "manifest.json"} <= {
            p.name for p in report.iterdir()
        }


TYPING_NOTEBOOK = [
    # CALLCOV_API_URL is set, no key: connect() shows the key entry
    "from callcov_analytics.notebook import connect\nconnection = connect()\nconnection",
    # what the frontend sends when a person types and presses Connect
    "import os\nentry = connection.entry\nentry.password.value = os.environ['TYPED_KEY']\n"
    "entry.button.click()\nentry",
    "from callcov_analytics import _config as config\n"
    "config.session_key(), connection, entry.password",
    "%xmode Verbose",
    # a forced HTTP 500 with verbose tracebacks, which print each frame's variables
    "from callcov_analytics import CallCovClient, load_calls\n"
    "from callcov_analytics._clock import SystemClock\n"
    "client = CallCovClient(clock=SystemClock(sleep=lambda seconds: None))\n"
    "load_calls(client=client, cache=False, progress=False)",
]


def test_typed_key_never_reaches_the_saved_notebook(
    kernel_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("starter", window_seconds=2, n_analyses=50, faults=Faults()) as api:
        monkeypatch.setenv("CALLCOV_API_URL", api.url)
        monkeypatch.setenv("TYPED_KEY", api.key)  # the canary: generated for this run only
        cells = [new_code_cell(src) for src in TYPING_NOTEBOOK]
        cells[-1].metadata["tags"] = ["raises-exception"]

        def break_the_server(cell: Any, cell_index: int) -> None:
            if cell_index == len(cells) - 1:
                api.faults.server_error_rate = 1.0

        nb = execute(new_notebook(cells=cells), kernel_env, on_cell_execute=break_the_server)
        saved = tmp_path / "typed.ipynb"
        nbformat.write(nb, saved)
        raw = saved.read_text()
        assert api.key not in raw
        assert not KEY_PATTERN.search(raw)
        outputs = json.dumps([cell.get("outputs", []) for cell in nb.cells], ensure_ascii=False)
        assert "✓ connected to " + api.url in outputs
        assert "ServerError" in outputs  # the traceback was really printed, verbosely
        state = json.dumps(nb.metadata["widgets"][WIDGET_STATE])
        assert '"value": ""' in state  # the Password model was saved, blank
