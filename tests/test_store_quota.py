"""The store's quota economy: filtered loads from a superset, key rotation, processing by age.

Every expected row set is the sandbox's own answer to the same filtered request (ground truth,
fetched after the load under test); every request count is read from the sandbox's log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

import callcov_analytics as cca
from callcov_analytics import CallCovClient
from callcov_analytics._clock import SystemClock
from callcov_analytics._store import sync as sync
from callcov_analytics.sandbox import Sandbox
from tests.clients import client_for


def load(api: Sandbox, key: str | None = None, clock: Any = None, **kwargs: Any) -> pd.DataFrame:
    """load_calls through `client_for` (on ``clock`` when given: a fake one for `aged`)."""
    kwargs.setdefault("limit", 100)
    return cca.load_calls(client=client_for(api, key, clock=clock), progress=False, **kwargs)


def served_ids(api: Sandbox, key: str | None = None, **params: str) -> list[str]:
    """The ids the sandbox itself answers for these list parameters (every page)."""
    ids: list[str] = []
    while True:
        body = requests.get(
            f"{api.url}/calls",
            params={**params, "limit": "1000", "offset": str(len(ids))},
            headers={"X-API-Key": key or api.key},
            timeout=30,
        ).json()
        ids += [r["id"] for r in body["data"]]
        if not body["has_more"]:
            return ids


@pytest.fixture
def big(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(plan="enterprise", n_analyses=1200, window_seconds=60)


def test_filtered_loads_are_answered_from_a_stored_superset(big: Sandbox) -> None:
    load(big)
    records = big.records()
    contact = records[7]["call"]["contact_id"]
    since = pd.Timestamp(records[600]["created"], unit="s", tz="UTC")
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"status": "completed"}, {"status_filter": "completed"}),
        ({"status": "processing"}, {"status_filter": "processing"}),
        ({"agent_id": "agent_003"}, {"agent_id": "agent_003"}),
        ({"contact_id": contact}, {"contact_id": contact}),
        ({"search": "AGENT_01"}, {"search": "AGENT_01"}),  # case-insensitive substring
        ({"search": contact[-5:].upper()}, {"search": contact[-5:].upper()}),
        (
            {"status": "failed", "agent_id": "agent_002"},
            {"status_filter": "failed", "agent_id": "agent_002"},
        ),
    ]
    for kwargs, params in cases:
        big.clear_log()
        df = load(big, **kwargs)
        assert len(big.log) <= 1, (kwargs, len(big.log))
        assert df["id"].tolist() == served_ids(big, **params), kwargs
    big.clear_log()
    df = load(big, status="completed", since=since)
    assert len(big.log) <= 1
    truth = [
        r["id"]
        for r in big.records()
        if r["status"] == "completed" and r["created"] >= since.timestamp()
    ]
    assert df["id"].tolist() == truth


def test_a_transcript_store_answers_loads_without_transcripts(big: Sandbox) -> None:
    with_text = load(big, include_transcript=True)
    big.clear_log()
    df = load(big, status="completed")
    assert len(big.log) <= 1
    assert df["id"].tolist() == served_ids(big, status_filter="completed")
    assert "transcript_text" not in df.columns and "transcript_text" in with_text.columns
    # Not the other way round: a store without transcripts cannot answer for them.
    big.clear_log()
    load(big, include_transcript=True, agent_id="agent_004")
    assert len(big.log) <= 1  # the transcript store is a superset of this one too


def test_a_new_key_of_the_same_account_adopts_the_store(big: Sandbox) -> None:
    first = load(big)
    big.clear_log()
    rotated = big.keys["business"]  # another key of the same account
    df = load(big, key=rotated)
    assert len(big.log) <= 2  # the probe of the newest stored id, then the refresh
    assert big.log[0].path.endswith(f"/analysis/{first['id'][0]}")
    assert df["id"].tolist() == big.ids()
    info = cca.cache_info()
    assert len(info) == 1  # taken over, not copied
    assert info["key_hint"].tolist() == [CallCovClient(rotated, big.url).config.api_key.hint]
    for path in Path(info["path"][0]).rglob("*.json"):
        assert rotated not in path.read_text() and big.key not in path.read_text()


def test_another_accounts_key_never_sees_the_store(big: Sandbox) -> None:
    load(big)
    big.clear_log()
    theirs = load(big, key=big.other_key)
    assert theirs["id"].tolist() == served_ids(big, key=big.other_key)
    assert not set(theirs["id"]) & set(big.ids())
    probes = [
        e for e in big.log if "/analysis/" in e.path and e.path.rstrip("/") != "/api/v1/analysis"
    ]
    assert [e.status for e in probes] == [404]  # asked once, refused: a full fetch of its own
    assert len(cca.cache_info()) == 2
    big.clear_log()
    assert load(big)["id"].tolist() == big.ids()  # the first account's store is intact
    assert len(big.log) <= 2


@pytest.fixture
def aged(inprocess: Callable[..., Sandbox], fake_clock: Any) -> Sandbox:
    """A store whose processing analyses are of every age, minutes to weeks (in-process, on the
    fake clock that its loads, ``load(aged, clock=fake_clock)``, read as well)."""
    api = inprocess(plan="enterprise", n_analyses=1200, window_seconds=60)
    for hours in (24 * 21, 24 * 6, 24 * 2, 30, 9, 3, 1):
        api.insert(2, status="processing")
        api.insert(40, status="completed")
        fake_clock.advance(hours * 3600)
    api.insert(2, status="processing")  # young: minutes old
    return api


def test_a_repeat_costs_at_most_two_requests_whatever_the_processing_ages(
    aged: Sandbox, fake_clock: Any
) -> None:
    processing = [r for r in aged.records() if r["status"] == "processing"]
    ages = {fake_clock() - r["created"] for r in processing}
    assert min(ages) < 3600 < 24 * 3600 * 20 < max(ages)
    load(aged, clock=fake_clock)
    for step in (0, 600, 3600, 6 * 3600, 36 * 3600):
        fake_clock.advance(step)
        aged.clear_log()
        assert load(aged, clock=fake_clock)["id"].tolist() == aged.ids()
        assert len(aged.log) <= 2, (step, [e.path + "?" + str(e.query) for e in aged.log])
        aged.clear_log()  # and what was checked is not due again straight away
        assert load(aged, clock=fake_clock)["id"].tolist() == aged.ids()
        assert len(aged.log) == 1, (step, [e.path + "?" + str(e.query) for e in aged.log])


def test_old_processing_analyses_are_rechecked_with_back_off(
    aged: Sandbox, fake_clock: Any
) -> None:
    load(aged, clock=fake_clock)
    now = fake_clock()
    by_age = sorted(
        (r for r in aged.records() if r["status"] == "processing"), key=lambda r: r["created"]
    )
    oldest, young = by_age[0]["id"], by_age[-1]["id"]
    assert now - by_age[0]["created"] > 20 * 86400 and now - by_age[-1]["created"] < 3600
    aged.set_status(oldest, "completed")
    aged.set_status(young, "completed")
    status = load(aged, clock=fake_clock).set_index("id")["status"]
    assert status[young] == "completed"  # young: re-checked on every refresh
    assert status[oldest] == "processing"  # weeks old, checked moments ago: not yet due
    assert not sync.due(now - by_age[0]["created"], 23 * 3600)
    fake_clock.advance(86400)  # an old one is checked at least daily
    assert load(aged, clock=fake_clock).set_index("id")["status"][oldest] == "completed"


def test_recheck_forces_every_processing_analysis(aged: Sandbox, fake_clock: Any) -> None:
    load(aged, clock=fake_clock)
    old = sorted(
        (r for r in aged.records() if r["status"] == "processing"), key=lambda r: r["created"]
    )
    for r in old[:3]:
        aged.set_status(r["id"], "failed")
    assert (
        load(aged, clock=fake_clock).set_index("id").loc[[r["id"] for r in old[:3]], "status"]
        == "processing"
    ).all()
    aged.clear_log()
    df = load(aged, clock=fake_clock, refresh="recheck").set_index("id")
    assert (df.loc[[r["id"] for r in old[:3]], "status"] == "failed").all()
    assert df.index.tolist() == aged.ids()


def test_sync_counts_rows_new_refreshed_and_from_the_store(big: Sandbox, tmp_path: Path) -> None:
    from callcov_analytics._store.catalog import open_store
    from callcov_analytics._store.sync import Sync

    client = CallCovClient(big.key, big.url, clock=SystemClock(sleep=lambda s: None))

    def run() -> dict[str, int]:
        store = open_store(client.config.account, {}, {}, since=None, root=tmp_path)
        with store.locked():
            Sync(client, store, limit=100).run(None)
        return store.counts

    assert run() == {"new": len(big.ids()), "refreshed": 0, "stored": 0}
    young = [r["id"] for r in big.insert(2, status="processing")]
    run()
    big.set_status(young[0], "completed")
    big.insert(3, status="completed")
    counts = run()
    # The 3 new ones and, on the one page re-read down to the processing ones, stored rows.
    assert counts["new"] == 3 and counts["refreshed"] >= 2
    assert sum(counts.values()) == len(big.ids())
