"""Shared fixtures. Sandbox fixtures live in tests/sandbox_fixtures.py (loaded as a plugin)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["tests.sandbox_fixtures"]

# The files that take longest (seconds each on a quiet 2-core machine), run first: with one file
# per process (`--dist loadfile --no-loadscope-reorder`, see the Makefile), a long file started
# last keeps the suite waiting on one process while the others sit idle. The two browser files
# are apart, so two Chromiums and Jupyter servers rarely compete. An entry out of date costs
# only speed; files not named keep their order after these.
LONGEST_FIRST = (
    "test_limiters.py",  # ~58: real limiters' windows
    "test_browser_notebooks.py",  # ~51
    "test_engines.py",  # ~43: Spark
    "test_report.py",  # ~35: LibreOffice
    "test_metrics_engines.py",  # ~34: Spark
    "test_browser.py",  # ~37
    "test_store.py",
    "test_metrics.py",
    "test_notebooks.py",
    "test_gateways.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files as LONGEST_FIRST says (a stable sort: tests keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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
