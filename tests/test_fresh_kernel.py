"""A fresh Jupyter kernel, as an analyst's own: the README's plot calls and a mistake's error.

No ``%matplotlib`` magic and no MPLBACKEND: the kernel's defaults. Each README plot line runs
in a cell of its own and must leave a picture (``image/png``) in the output, not the
``<Figure size ...>`` text. A wrong key must read as a few lines saying the key was rejected,
with the whole traceback one ``%xmode Verbose`` away.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from callcov_analytics.sandbox import Sandbox, serve
from tests.test_notebooks import execute

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_plot_lines() -> list[str]:
    """The code lines of the README's Plots section (comments stripped)."""
    section = README.split("\n## Plots\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    lines = [line.split("  #", 1)[0].rstrip() for line in block.splitlines()]
    return [line for line in lines if line]


@pytest.fixture
def fresh_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A kernelspec running this venv's ipykernel, with the environment a user's would have."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("CALLCOV_TRACEBACK", raising=False)
    with serve(plan="enterprise", n_analyses=400) as api:
        monkeypatch.setenv("CALLCOV_API_KEY", api.key)
        monkeypatch.setenv("CALLCOV_API_URL", api.url)
        yield api


def run(sources: list[str], cwd: Path) -> nbformat.NotebookNode:
    """A fresh kernel of this venv runs ``sources`` as cells, errors kept in the outputs."""
    return execute(new_notebook(cells=[new_code_cell(c) for c in sources]), cwd, allow_errors=True)


def test_the_readme_plots_show_as_pictures_without_a_magic(
    fresh_kernel: Sandbox, tmp_path: Path
) -> None:
    lines = readme_plot_lines()
    assert len([line for line in lines if "plot_" in line]) >= 4
    setup = "import callcov_analytics as cca\ndf = cca.load_calls(progress=False)"
    nb = run([setup, *lines], tmp_path)
    for cell in nb.cells[1:]:
        kinds = [o.get("output_type") for o in cell.outputs]
        assert "error" not in kinds, cell.outputs
        if "plot_" not in cell.source:
            continue
        data = [o.get("data", {}) for o in cell.outputs if "data" in o]
        assert any("image/png" in d for d in data), (cell.source, cell.outputs)
        shown = next(d for d in data if "image/png" in d)
        assert "<Figure size" not in shown.get("text/plain", "") or "image/png" in shown
        png = next(o for o in cell.outputs if "image/png" in o.get("data", {}))
        width = png.get("metadata", {}).get("image/png", {}).get("width")
        assert width is not None and 300 < width < 1200  # shown at a readable size


def test_a_wrong_key_is_a_few_lines_and_the_whole_traceback_is_one_switch_away(
    fresh_kernel: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sk_test_" + "w" * 40
    monkeypatch.setenv("CALLCOV_API_KEY", wrong)  # a mistyped key in the environment
    load = "import callcov_analytics as cca\ncca.load_calls(progress=False)"
    nb = run([load, "%xmode Verbose", load.split("\n", 1)[1]], tmp_path)
    short = next(o for o in nb.cells[0].outputs if o.get("output_type") == "error")
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(short["traceback"]))
    assert short["ename"] == "AuthenticationError"
    assert text.startswith("AuthenticationError: The API rejected the key")
    assert len(text.splitlines()) <= 5, text
    assert "%xmode Verbose" in text and "CALLCOV_TRACEBACK=full" in text
    assert "/analysis/" not in text and "File " not in text
    assert wrong not in json.dumps(nb.cells[0].outputs)
    full = next(o for o in nb.cells[2].outputs if o.get("output_type") == "error")
    assert len(full["traceback"]) > 3  # the frames, as IPython shows them
    assert wrong[12:] not in json.dumps(nb.cells[2].outputs)  # masked even there
