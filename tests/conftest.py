"""Shared fixtures. Sandbox fixtures live in tests/sandbox_fixtures.py (loaded as a plugin)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["tests.sandbox_fixtures"]

# How `make test` spreads the files over processes (`--dist loadfile --no-loadscope-reorder`,
# see the Makefile): each file stays in one process (its servers are started once), and the
# Spark files share one, so one JVM starts and warms up instead of three (`Scheduling`).
SHARED_PROCESS = {
    "test_engines.py": "spark",
    "test_metrics_engines.py": "spark",
    "test_store_engines.py": "spark",
}
LONGEST_FIRST = (
    "test_engines.py",  # the Spark group: ~50 with the two below
    "test_metrics_engines.py",
    "test_store_engines.py",
    "test_limiters.py",  # ~58: real limiters' windows
    "test_browser_notebooks.py",  # ~51
    "test_report.py",  # ~35: LibreOffice
    "test_store.py",  # ~32
    "test_browser.py",  # ~37
    "test_metrics.py",
    "test_notebooks.py",
    "test_gateways.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files as LONGEST_FIRST says (a stable sort: tests keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``--dist loadfile``: a file per process, the SHARED_PROCESS files in one.

    (xdist's own ``loadgroup`` marks do not take with this pytest: it renames node ids through
    an attribute pytest no longer reads.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return SHARED_PROCESS.get(file.rsplit("/", 1)[-1], file)

    return Scheduling(config, log)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's CallCov settings, proxies or .env."""
    for name in list(os.environ):
        if name == "CALLCOV_SANDBOX_ANCHOR":
            continue  # the sandbox's data anchor: set to run the suite as on another day
        if name.startswith("CALLCOV_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    # The local store of every test lives in its own folder, never the user's cache.
    monkeypatch.setenv("CALLCOV_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session per test process (Java needed: `make system-deps`)."""
    if shutil.which("java") is None:
        pytest.fail("Spark needs Java: run `make system-deps` as root (default-jre-headless).")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("callcov-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        # The scorecard's one wide aggregate is past Janino's method size: skip the attempt.
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
