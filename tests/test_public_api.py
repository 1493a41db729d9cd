"""The public surface: importable, documented, and light to import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics.schema import SCHEMA

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", cca.__all__)
def test_every_public_name_imports_and_is_documented(name: str) -> None:
    assert getattr(cca, name) is not None
    if name != "__version__":
        assert re.search(rf"\b{re.escape(name)}\b", README), f"{name} is not in the README"


def test_readme_column_table_matches_the_schema() -> None:
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| ([^|]+?) \|", README, flags=re.M))
    assert {c: rows.get(c) for c in SCHEMA} == SCHEMA


def test_schema_dtypes_are_real_pandas_dtypes() -> None:
    for dtype in SCHEMA.values():
        pd.Series([], dtype=dtype)


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import callcov_analytics.sandbox", ("pandas", "requests", "matplotlib", "ipywidgets")),
        ("import callcov_analytics", ("pandas", "matplotlib", "ipywidgets")),
        ("import callcov_analytics as c; c.load_calls", ("matplotlib", "ipywidgets")),
    ],
)
def test_imports_stay_light(statement: str, absent: tuple[str, ...]) -> None:
    code = f"{statement}; import sys; print([m for m in {absent!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_frame_the_package_builds_has_the_accessor() -> None:
    code = "import callcov_analytics as c; print(hasattr(c.to_frame([]), 'callcov'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_accessor_methods_are_the_functions_of_the_same_name() -> None:
    from callcov_analytics import accessor, frame, metrics, segments

    methods = [m for m in vars(accessor.CallCovAccessor) if not m.startswith("_")]
    for name in methods:
        if name == "changes":  # reads the load's attrs; no function of the frame alone
            continue
        function = next(getattr(m, name) for m in (metrics, segments, frame) if hasattr(m, name))
        assert callable(function), name
        doc = getattr(accessor.CallCovAccessor, name).__doc__ or ""
        assert "Example" in doc and len(doc.split()) > 12, f"{name} needs a real docstring"
