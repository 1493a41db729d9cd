"""Every metric on every engine: pandas, Polars, DuckDB and Spark give the same answer.

The rows are a real sandbox load (status mix, processing calls without results); the same rows
reach the other engines through ``scan_calls`` on the local store. The pandas answers of the
review queue and the volume are checked against the sandbox's raw records first, so agreeing
with pandas means agreeing with the data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics import metrics
from callcov_analytics.sandbox import Sandbox, serve
from tests.clients import client_for
from tests.test_engines import as_pandas
from tests.test_metrics_sandbox import raw_checks

# Each metric as an analyst calls it; all of them run on every engine.
METRICS: dict[str, Callable[[Any], Any]] = {
    "scorecard": lambda f: metrics.agent_scorecard(f, min_calls=3),
    # Every rule of the scorecard at once: Wilson bounds, min_calls, ranks within a week,
    # calls without results (Spark takes seconds to plan each scorecard).
    "scorecard_weekly_detail": lambda f: metrics.agent_scorecard(
        f, period="W", min_calls=2, detail=True
    ),
    "scorecard_monthly": lambda f: metrics.agent_scorecard(f, period="M", min_calls=2),
    "exceptions": metrics.compliance_exceptions,
    "volume_daily": metrics.volume,
    "volume_weekly": lambda f: metrics.volume(f, freq="W"),
    "volume_monthly": lambda f: metrics.volume(f, freq="M"),
    "sentiment_shift": metrics.sentiment_shift,
    "effort": metrics.effort_distribution,
}
# Rows a lazy engine may return in another order: sorted by these before comparing.
UNORDERED = {"sentiment_shift": ["agent_id"], "effort": ["agent_id"]}


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Sandbox, Path, pd.DataFrame]]:
    """A sandbox, a store holding its history, and load_calls' frame of it."""
    root = tmp_path_factory.mktemp("metrics-engines")
    with serve("enterprise", n_analyses=700, window_seconds=60) as api:
        api.insert(4, status="processing")
        df = cca.load_calls(client=client_for(api), cache_dir=root, progress=False)
        yield api, root, df


def frame_on(engine: str, stored: tuple[Sandbox, Path, pd.DataFrame], spark: Any) -> Any:
    api, root, df = stored
    if engine == "pandas":
        return df
    if engine == "spark":
        return cca.scan_calls(client=client_for(api), cache_dir=root, spark=spark)
    return cca.scan_calls(client=client_for(api), cache_dir=root, engine=engine)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["polars", "duckdb", "spark"])
def test_every_metric_is_equal_on_every_engine(
    stored: tuple[Sandbox, Path, pd.DataFrame], engine: str, request: pytest.FixtureRequest
) -> None:
    spark = request.getfixturevalue("spark") if engine == "spark" else None
    df = stored[2]
    frame = frame_on(engine, stored, spark)
    for name, metric in METRICS.items():
        want = metric(df).reset_index(drop=True)
        got = as_pandas(metric(frame), want)
        if name in UNORDERED:
            got = got.sort_values(UNORDERED[name], ignore_index=True)
            want = want.sort_values(UNORDERED[name], ignore_index=True)
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"{name} on {engine}")


def test_the_queue_holds_exactly_the_failed_checks_of_the_raw_records(
    stored: tuple[Sandbox, Path, pd.DataFrame],
) -> None:
    api, _, df = stored
    queue = metrics.compliance_exceptions(df)
    want = Counter(
        (record["id"], check)
        for record in api.records()
        for check, outcome in raw_checks(record).items()
        if outcome is False
    )
    assert want, "the sandbox's data has no failed check: nothing is tested"
    assert Counter(zip(queue["id"], queue["check"], strict=True)) == want
    # Most serious call first: no call's worst severity is below a later call's.
    rank = queue["severity"].map({"high": 0, "medium": 1, "low": 2})
    worst = rank.groupby(queue["id"], sort=False).min()
    assert worst.is_monotonic_increasing
    by_id = {r["id"]: r for r in api.records()}
    for row in queue.head(50).itertuples():
        url = (by_id[row.id].get("audio") or {}).get("url")
        second = "" if pd.isna(row.at_s) else f"#t={row.at_s:.0f}"
        assert (None if pd.isna(row.link) else row.link) == (url and url + second)


def test_volume_counts_the_raw_records_per_day(stored: tuple[Sandbox, Path, pd.DataFrame]) -> None:
    api, _, df = stored
    days = Counter(
        (pd.Timestamp(r["created"], unit="s", tz="UTC").floor("D"), r["status"])
        for r in api.records()
    )
    volume = metrics.volume(df).set_index("period")
    for (day, status), n in days.items():
        assert volume.loc[day, status] == n
    assert volume["calls"].sum() == len(api.records())
    span = pd.date_range(min(d for d, _ in days), max(d for d, _ in days), freq="D")
    assert list(volume.index) == list(span)  # days without calls are there, with zeros
