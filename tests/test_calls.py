"""load_calls() end to end against the sandbox over real sockets."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter
from collections.abc import Callable
from statistics import mean
from typing import Any

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics import CallCovClient, Config
from callcov_analytics._clock import SystemClock
from callcov_analytics._store.crawl import page_size
from callcov_analytics.sandbox import Sandbox
from callcov_analytics.segments import segments
from tests.clients import client_for

# New rows a page of limit=100 brings: the overlap row rides in one more (`page_size`).
NEW = page_size(100) - 1


def list_requests(api: Sandbox) -> list:
    return [e for e in api.log if e.path.endswith(("/calls", "/analysis/"))]


def reset_gaps(api: Sandbox) -> list[float]:
    """Seconds between each window's reset and the first request of the next window."""
    entries = api.log
    gaps = []
    for before, after in itertools.pairwise(entries):
        if after.reset != before.reset and before.reset is not None:
            gaps.append(after.time - before.reset)
    return gaps


@pytest.mark.parametrize("clock_offset", [0.0, 3600.0, -3600.0])
def test_multi_window_crawl_is_exact_and_never_throttled(
    inprocess: Callable[..., Sandbox], fake_clock: Any, clock_offset: float
) -> None:
    # In-process on one fake clock: the client sleeps to each reset and the window has reset.
    api = inprocess(plan="free", window_seconds=1, limit=4, n_analyses=1000)
    api.faults.clock_offset = clock_offset
    client = client_for(api, clock=fake_clock)
    df = cca.load_calls(client=client, limit=100, cache=False, progress=False)
    assert df["id"].tolist() == api.ids()
    # No more requests than pages of new rows: the overlap row rides in a page of 101.
    assert len(list_requests(api)) == math.ceil(len(api.ids()) / 100)
    assert [e.status for e in api.log] == [200] * len(api.log)
    gaps = reset_gaps(api)
    assert len(gaps) >= 2, "the crawl should span several windows"
    assert min(gaps) >= 0 and mean(gaps) < 1.0
    assert df.attrs["throttled"] == 0 and df.attrs["requests"] == len(api.log)


def test_retry_after_without_rate_headers(
    inprocess: Callable[..., Sandbox], fake_clock: Any
) -> None:
    api = inprocess(plan="free", window_seconds=1, limit=4, n_analyses=600)
    api.faults.ratelimit_headers = "missing"
    api.faults.retry_after = True
    client = client_for(api, clock=fake_clock)
    df = cca.load_calls(client=client, limit=100, cache=False, progress=False)
    assert df["id"].tolist() == api.ids()
    throttled = sum(e.status == 429 for e in api.log)
    windows = len({e.reset for e in api.log})
    assert throttled <= windows  # at most one refused request per window


def test_garbled_headers_fall_back_to_backoff(
    inprocess: Callable[..., Sandbox], fake_clock: Any
) -> None:
    api = inprocess(plan="free", window_seconds=1, limit=5, n_analyses=400)
    api.faults.ratelimit_headers = "garbled"
    client = client_for(api, clock=fake_clock)
    df = cca.load_calls(client=client, limit=100, cache=False, progress=False)
    assert df["id"].tolist() == api.ids()


def test_fault_matrix_returns_ground_truth(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = sandbox_factory(plan="enterprise", n_analyses=900, window_seconds=60)
    api.faults.server_error_rate = 0.1
    api.faults.html_error_rate = 0.1
    api.faults.reset_rate = 0.1
    api.faults.truncate_rate = 0.1
    client = client_for(api)
    df = cca.load_calls(client=client, limit=50, cache=False, progress=False)
    assert df["id"].tolist() == api.ids()
    assert any(e.fault for e in api.log), "the faults should have fired"


@pytest.mark.parametrize(
    "knob",
    [
        {"server_error_rate": 0.3},
        {"html_error_rate": 0.3},
        {"reset_rate": 0.3},
        {"truncate_rate": 0.3},
        {"truncate_rate": 0.3, "truncate_mode": "close"},
        {"stall_rate": 0.3, "stall_seconds": 1.0},
        {"ratelimit_headers": "missing"},
        {"ratelimit_headers": "garbled"},
        {"ratelimit_headers": "delta"},
        {"ratelimit_headers": "millis"},
        {"retry_after": True},
        {"clock_offset": -3600.0},
        {"calls_404": True},
        {"envelope": "minimal"},
    ],
    ids=lambda knob: ",".join(f"{k}={v}" for k, v in knob.items()),
)
def test_each_fault_knob_alone_returns_ground_truth(
    sandbox_factory: Callable[..., Sandbox], knob: dict
) -> None:
    api = sandbox_factory(plan="enterprise", n_analyses=500, window_seconds=60)
    for name, value in knob.items():
        setattr(api.faults, name, value)
    config = dataclasses.replace(Config.resolve(api.key, api.url), read_timeout=0.3)
    client = CallCovClient(config=config, clock=SystemClock(sleep=lambda s: None))
    df = cca.load_calls(client=client, limit=50, cache=False, progress=False)
    assert df["id"].tolist() == api.ids()


def test_churn_during_the_crawl_returns_each_stable_row_once(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    api = sandbox_factory(plan="enterprise", n_analyses=800, window_seconds=60)
    api.mark()
    api.faults.churn_inserts = 3
    api.faults.churn_deletes = 4
    df = cca.load_calls(client=client_for(api), limit=60, cache=False, progress=False)
    ids = df["id"].tolist()
    assert len(ids) == len(set(ids))
    assert api.stable_ids() <= set(ids) <= api.ever_ids()


def test_since_stops_paging_early_and_until_cuts(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = sandbox_factory(plan="enterprise", n_analyses=1000, window_seconds=60)
    records = api.records()
    since = pd.Timestamp(records[299]["created"], unit="s", tz="UTC")
    until = pd.Timestamp(records[50]["created"], unit="s", tz="UTC")
    df = cca.load_calls(
        client=client_for(api), since=since, until=until, limit=100, cache=False, progress=False
    )
    expected = [r["id"] for r in records if since.timestamp() <= r["created"] <= until.timestamp()]
    assert df["id"].tolist() == expected
    assert len(list_requests(api)) <= 4  # not the 11 pages of the whole history


def test_filters_are_sent_to_the_api(sandbox: Sandbox) -> None:
    df = cca.load_calls(client=client_for(sandbox), status="failed", cache=False, progress=False)
    assert set(df["status"]) <= {"failed"}
    assert list_requests(sandbox)[0].query["status_filter"] == "failed"
    assert len(df) == sum(r["status"] == "failed" for r in sandbox.records())


def test_transcript_only_when_asked(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    plain = cca.load_calls(client=client, cache=False, progress=False)
    with_text = cca.load_calls(client=client, include_transcript=True, cache=False, progress=False)
    assert "transcript_text" not in plain.columns
    assert with_text["transcript_text"].notna().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"status": "done"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"since": "yesterday-ish"}, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "since"),
        ({"agent": "agent_001"}, "agent"),
    ],
)
def test_bad_arguments_fail_before_any_request(sandbox: Sandbox, kwargs: dict, param: str) -> None:
    with pytest.raises(cca.ValidationError) as info:
        cca.load_calls(api_key=sandbox.key, base_url=sandbox.url, progress=False, **kwargs)
    assert info.value.param == param and param in str(info.value)
    assert sandbox.log == []


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(cca.ConfigurationError, match="CALLCOV_API_KEY"):
        cca.load_calls(progress=False)


def test_quota_exhausted_mid_crawl_keeps_the_rows(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    # Starter's pace never needs fetching ahead, so exactly three pages get through.
    api = sandbox_factory(plan="starter", n_analyses=500, daily_limit=3, window_seconds=60)
    with pytest.raises(cca.QuotaExhaustedError) as info:
        cca.load_calls(client=client_for(api), limit=100, cache=False, progress=False)
    partial = info.value.partial
    assert partial is not None and len(partial) == 3 * NEW + 1
    assert partial["id"].tolist() == api.ids()[: len(partial)]
    assert list(partial.columns[: len(cca.SCHEMA)]) == list(cca.SCHEMA)


def test_empty_result_keeps_columns_and_dtypes(sandbox: Sandbox) -> None:
    df = cca.load_calls(client=client_for(sandbox), agent_id="nobody", cache=False, progress=False)
    assert len(df) == 0
    assert {c: str(t) for c, t in df.dtypes.items()} == {
        c: str(pd.Series(dtype=t).dtype) for c, t in cca.SCHEMA.items()
    }


@pytest.mark.slow
def test_latency_bound_plan_fetches_ahead_and_fills_every_window(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    # 30 requests per 3 s window but 250 ms per request: one connection manages ~12 a window.
    api = sandbox_factory(
        plan="business", window_seconds=3, limit=30, latency=0.25, n_analyses=4000
    )
    df = cca.load_calls(api_key=api.key, base_url=api.url, limit=100, cache=False, progress=False)
    assert df["id"].tolist() == api.ids()
    assert [e.status for e in api.log] == [200] * len(api.log)
    per_window = Counter(e.reset for e in api.log)
    assert max(per_window.values()) <= 30, per_window  # the shared budget is never overrun
    # Each request is logged after the server's 250 ms of latency, so one connection can never
    # log two within 250 ms: a closer pair proves requests were in flight together. (How full
    # each window gets depends on the machine's speed, so that is measured in bench/, not here.)
    times = sorted(e.time for e in api.log)
    assert min(b - a for a, b in itertools.pairwise(times)) < 0.25
    assert len(api.log) == math.ceil(3999 / NEW)  # 4,000 rows: nothing fetched twice


@pytest.mark.parametrize("load", [cca.load_calls, cca.load_segments])
def test_a_store_that_cannot_open_leaves_the_client_as_it_was(sandbox: Sandbox, load: Any) -> None:
    client = client_for(sandbox)
    mine = object()
    client.observer = mine  # type: ignore[assignment]
    with pytest.raises(cca.StorageError):
        load(client=client, cache_dir="/proc/no-such-dir", progress=False)
    assert client.observer is mine and sandbox.log == []


def test_load_segments_keeps_what_it_read_when_the_quota_runs_out(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    api = sandbox_factory(plan="starter", n_analyses=500, daily_limit=3, window_seconds=60)
    with pytest.raises(cca.QuotaExhaustedError) as info:
        cca.load_segments(client=client_for(api), limit=100)
    partial = info.value.partial
    first = {r["id"]: r for r in api.records()[: 3 * NEW + 1]}  # three pages got through
    expected = sum(len((r.get("transcript") or {}).get("segments") or []) for r in first.values())
    assert partial is not None and len(partial) == expected > 0
    assert set(partial["id"]) <= set(first)
    assert dict(partial.dtypes) == dict(segments([]).dtypes)


def test_load_segments_equals_segments_of_the_records(sandbox: Sandbox) -> None:
    # Every record, the sandbox's hostile ones included; through the store and the fast path.
    loaded = cca.load_segments(client=client_for(sandbox), limit=100, agent_speaker="B")
    expected = segments(sandbox.records(), agent_speaker="B")
    pd.testing.assert_frame_equal(loaded, expected)


def test_load_segments_stores_its_pages_and_asks_only_for_what_is_new(sandbox: Sandbox) -> None:
    first = cca.load_segments(client=client_for(sandbox), limit=100)
    sandbox.clear_log()
    again = cca.load_segments(client=client_for(sandbox), limit=100)
    assert len(sandbox.log) == 1  # the newest analysis: nothing new
    pd.testing.assert_frame_equal(again, first)
    # A new completed analysis costs one page; the calls' own store is a separate dataset.
    new = sandbox.insert(1, status="completed")[0]
    sandbox.clear_log()
    third = cca.load_segments(client=client_for(sandbox), limit=100)
    assert len(sandbox.log) <= 2 and len(third) > len(first)
    assert set(third["id"]) - set(first["id"]) == {new["id"]}
    assert cca.load_segments(client=client_for(sandbox), refresh=False).equals(third)
    assert len(cca.cache_info()) == 1
    cca.load_calls(client=client_for(sandbox), limit=100, progress=False)
    assert len(cca.cache_info()) == 2


def test_load_segments_since_and_until(sandbox: Sandbox) -> None:
    records = sandbox.records()
    since, until = records[150]["created"], records[50]["created"]
    window = [r for r in records if since <= r["created"] <= until]
    loaded = cca.load_segments(
        client=client_for(sandbox),
        since=pd.Timestamp(since, unit="s", tz="UTC"),
        until=pd.Timestamp(until, unit="s", tz="UTC"),
    )
    pd.testing.assert_frame_equal(loaded, segments(window))


def test_load_segments_reads_every_transcript_once(sandbox: Sandbox) -> None:
    segs = cca.load_segments(client=client_for(sandbox), limit=100, status="completed")
    records = [r for r in sandbox.records() if r["status"] == "completed"]
    expected = sum(len((r.get("transcript") or {}).get("segments") or []) for r in records)
    assert len(segs) == expected > 0
    assert set(segs["id"]) <= {r["id"] for r in records}
    assert set(segs["role"].dropna()) <= {"agent", "customer"}
