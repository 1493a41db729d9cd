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


def test_accessor_is_registered_with_the_dataframe_api() -> None:
    cca.load_calls  # noqa: B018  touching the DataFrame API registers df.callcov
    assert hasattr(pd.DataFrame(), "callcov")
