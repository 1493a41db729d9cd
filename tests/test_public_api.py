"""The public surface: importable, documented, and light to import."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics import SCHEMA

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


PACKAGE = Path(cca.__file__).resolve().parent
DESIGN = (PACKAGE.parent / "docs" / "design.md").read_text()

# The pinned public surface: a change here is a change of the API users rely on.
PUBLIC_NAMES = {
    "__version__", "load_calls", "load_segments", "scan_calls", "quota", "to_frame", "SCHEMA",
    "export_report", "cache_info", "clear_cache", "CallCovClient", "Config", "set_session_key",
    "CallCovError", "ConfigurationError", "ValidationError", "UnsupportedEngineError",
    "StorageError", "StoreLockedError", "MissingDependencyError", "LoadInterrupted",
    "APIError", "APIConnectionError", "APITimeoutError", "TLSVerificationError",
    "ProxyAuthenticationError", "ResponseDecodeError", "ResponseTooLargeError",
    "UnsafeRedirectError", "ServerMisbehaviourError", "InvalidRecordError", "ListOrderError",
    "PagingStalledError", "APIStatusError", "AuthenticationError", "PermissionDeniedError",
    "NotFoundError", "UnprocessableEntityError", "RateLimitError", "QuotaExhaustedError",
    "ServerError", "CallCovWarning", "QuotaWarning", "StoreWarning",
    "SearchNote", "Observer", "QuotaReading",
}  # fmt: skip
# Submodules users import by name; every other module is private (a leading underscore).
PUBLIC_MODULES = {"charts", "metrics", "notebook", "plots", "report", "sandbox", "segments",
                  "widgets"}  # fmt: skip


def test_the_public_surface_is_pinned() -> None:
    assert set(cca.__all__) == PUBLIC_NAMES
    assert len(cca.__all__) == len(PUBLIC_NAMES), "a name is listed twice in __all__"


def test_every_module_is_private_or_a_pinned_public_one() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")
    }
    public = {m for m in modules if not m.startswith("_")}
    assert public == PUBLIC_MODULES


@pytest.mark.parametrize("name", sorted(PUBLIC_NAMES - {"__version__"}))
def test_every_public_name_is_exported_and_documented(name: str) -> None:
    value = getattr(cca, name)
    # Defined inside the package (httpx's test_exported_members): nothing re-exported by accident.
    if hasattr(value, "__module__"):
        assert value.__module__.startswith("callcov_analytics"), value.__module__
    assert re.search(rf"\b{re.escape(name)}\b", README), f"{name} is not in the README"


def test_the_layout_in_the_docs_names_every_module_and_only_those() -> None:
    """Each folder and root module has its paragraph; a folder's names each of its modules."""
    layout = DESIGN.split("## Layout", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"\*\*`([a-z_/]+)`\*\*", layout))
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "_version"}
    folders = {p.parent for p in PACKAGE.glob("*/__init__.py")}
    assert documented == modules | {f"{folder.name}/" for folder in folders}
    for folder in folders - {PACKAGE / "sandbox", PACKAGE / "widgets"}:
        paragraph = layout.split(f"**`{folder.name}/`**", 1)[1].split("\n\n", 1)[0]
        named = set(re.findall(r"`([a-z_]+)`", paragraph))
        inside = {p.stem for p in folder.glob("*.py")} - {"__init__", "__main__"}
        assert inside <= named, folder.name


def imports_of(path: Path, module: str, modules: set[str]) -> set[str]:
    """The package modules ``module`` imports anywhere in its file, function bodies included."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # "from . import x" imports the module x when there is one, else a name of base.
            targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            targets = targets or [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def test_no_import_cycles_among_the_package_modules() -> None:
    """Counting imports inside functions too: the layers point one way."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: imports_of(p, m, set(files)) for m, p in files.items()}
    # A module is on a cycle when it can reach itself.
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            assert module != start, f"{start} imports itself through {sorted(seen)}"
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])


def test_the_column_table_matches_the_schema() -> None:
    """The column table lives in docs/dataframe.md (the README links to it)."""
    columns = (PACKAGE.parent / "docs" / "dataframe.md").read_text()
    assert "docs/dataframe.md" in README
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| ([^|]+?) \|", columns, flags=re.M))
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
    from callcov_analytics import _accessor as accessor
    from callcov_analytics import metrics, segments
    from callcov_analytics._decode import frame as frame

    methods = [m for m in vars(accessor.CallCovAccessor) if not m.startswith("_")]
    for name in methods:
        if name == "changes":  # reads the load's attrs; no function of the frame alone
            continue
        function = next(getattr(m, name) for m in (metrics, segments, frame) if hasattr(m, name))
        assert callable(function), name
        doc = getattr(accessor.CallCovAccessor, name).__doc__ or ""
        assert "Example" in doc and len(doc.split()) > 12, f"{name} needs a real docstring"


@pytest.mark.parametrize("entry", ["load_calls", "load_segments", "scan_calls"])
def test_help_spells_out_every_keyword_of_the_entry_points(entry: str) -> None:
    params = inspect.signature(getattr(cca, entry)).parameters
    assert not [p for p in params.values() if p.kind is p.VAR_KEYWORD]
    for name in ("status", "agent_id", "contact_id", "search", "since", "until", "tz"):
        assert params[name].default is None, name
    if entry != "scan_calls":
        assert (params["limit"].default, params["refresh"].default) == (1000, True)


def test_the_readme_shows_load_calls_with_its_real_keywords() -> None:
    block = README.split("cca.load_calls(\n", 1)[1].split("\n)", 1)[0]
    shown = set(re.findall(r"(\w+)=", block))
    assert shown == set(inspect.signature(cca.load_calls).parameters)


def test_errors_and_warnings_show_the_public_path() -> None:
    assert repr(cca.RateLimitError) == "<class 'callcov_analytics.RateLimitError'>"
    assert issubclass(cca.SearchNote, cca.CallCovWarning)


def test_tab_completion_finds_the_lazily_loaded_names() -> None:
    assert {"load_calls", "scan_calls", "Observer", "QuotaReading"} <= set(dir(cca))
