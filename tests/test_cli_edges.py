"""The command line refuses an output it cannot write before it spends a single request."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcov_analytics._cli import commands as commands
from callcov_analytics._cli import parser as cli
from callcov_analytics.report import FILE_SUFFIXES
from callcov_analytics.sandbox import Sandbox


@pytest.mark.parametrize(
    ("command", "out", "says"),
    [
        ("fetch", "/etc/passwd/x.csv", "is a file, not a folder"),
        ("fetch", "{tmp}/calls.xlsx", "must end in .csv or .parquet"),
        ("fetch", "{tmp}/folder.csv", "is a folder; name a file"),
        ("fetch", "{tmp}/file.txt/deeper/calls.parquet", "is a file, not a folder"),
        ("report", "/etc/passwd/report", "is a file, not a folder"),
    ],
)
def test_an_output_that_cannot_be_written_costs_no_request(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    out: str,
    says: str,
) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    (tmp_path / "folder.csv").mkdir()
    monkeypatch.setenv("CALLCOV_API_KEY", sandbox.key)
    code = cli.main([command, "--api-url", sandbox.url, "--out", out.format(tmp=tmp_path)])
    assert code == cli.EXIT_USAGE
    assert says in capsys.readouterr().err
    assert sandbox.log == []


def test_a_writable_output_in_a_new_folder_is_accepted(tmp_path: Path) -> None:
    commands.check_output(tmp_path / "new" / "deeper" / "calls.csv", FILE_SUFFIXES)
    commands.check_output(tmp_path / "new-report")
