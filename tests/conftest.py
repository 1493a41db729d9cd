"""Shared fixtures. Sandbox fixtures live in tests/sandbox_fixtures.py (loaded as a plugin)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["tests.sandbox_fixtures"]

# How `make test` spreads the files over processes (`--dist loadgroup --no-loadscope-reorder`,
# see the Makefile): each file is a group that stays in one process (its servers are started
# once), and the Spark files share one, so one JVM starts and warms up instead of three.
SHARED_PROCESS = {
    "test_engines.py": "spark",
    "test_metrics_engines.py": "spark",
    "test_store_engines.py": "spark",
}
# The longest groups first (seconds on a quiet 2-core machine): a long one started last keeps
# the suite waiting on one process while the others sit idle. The two browser files are apart,
# so two Chromiums and Jupyter servers rarely compete. An entry out of date costs only speed;
# files not named keep their order after these.
LONGEST_FIRST = (
    "test_engines.py",  # the Spark group: ~95 with the two below
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


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files as LONGEST_FIRST says (a stable sort) and mark each item's group."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
    for item in items:
        group = SHARED_PROCESS.get(item.path.name, item.path.name)
        item.add_marker(pytest.mark.xdist_group(group))


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
