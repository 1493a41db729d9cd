"""What an analyst sees for their everyday questions: what is new, how the load went, where a
word was said, how much quota is left. Against the sandbox over real sockets."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics import QuotaReading, SearchNote, quota
from callcov_analytics._load.quota import Quota
from callcov_analytics.sandbox import Sandbox
from tests.clients import client_for

# 2026-12-01 08:02:37 UTC: a pinned moment for the quota line.
NOON_ISH = 1_796_112_157.0


@pytest.fixture
def api(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(plan="enterprise", n_analyses=600, window_seconds=60)


def load(api: Sandbox, **kwargs: object) -> pd.DataFrame:
    kwargs.setdefault("limit", 100)
    return cca.load_calls(client=client_for(api), progress=False, **kwargs)  # type: ignore[arg-type]


# -- what is new ----------------------------------------------------------------------------------


def test_a_repeat_load_says_what_is_new_and_what_changed(api: Sandbox) -> None:
    first = load(api)
    assert first.attrs["new"] == first["id"].tolist() and first.attrs["updated"] == []
    assert first.attrs["summary"].startswith(f"{len(first):,} new, 0 updated, 0 from the local")
    processing = [r["id"] for r in api.records() if r["status"] == "processing"][:2]
    for analysis_id in processing:
        api.set_status(analysis_id, "completed")
    added = [r["id"] for r in api.insert(4, status="completed")]
    api.clear_log()
    # "recheck": every stored processing analysis is read again whatever its age (a plain
    # refresh re-checks old ones with back-off, so which are due depends on the clock).
    again = load(api, refresh="recheck")
    requests = len(api.log)
    assert sorted(again.attrs["new"]) == sorted(added)
    assert sorted(again.attrs["updated"]) == sorted(processing)
    kept = len(again) - len(added) - len(processing)
    plural = "request" if requests == 1 else "requests"
    assert again.attrs["summary"] == (
        f"4 new, 2 updated, {kept:,} from the local store, {requests} {plural}"
    )
    changes = again.callcov.changes()
    assert dict(zip(changes["id"], changes["change"], strict=True)) == {
        **dict.fromkeys(added, "new"),
        **dict.fromkeys(processing, "updated"),
    }


def test_nothing_new_says_so(api: Sandbox) -> None:
    first = load(api)
    again = load(api)
    assert again.attrs["new"] == [] and again.attrs["updated"] == []
    assert again.attrs["summary"].startswith(f"0 new, 0 updated, {len(first):,} from the local")


def test_load_segments_has_the_same_attrs(api: Sandbox) -> None:
    segs = cca.load_segments(client=client_for(api), limit=100, progress=False)
    assert segs.attrs["summary"].startswith(f"{segs['id'].nunique():,} new, 0 updated")


# -- progress -------------------------------------------------------------------------------------


def test_a_load_with_since_ends_on_a_full_bar_that_says_what_it_brought(
    api: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = pd.Timestamp(api.records()[120]["created"], unit="s", tz="UTC")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    df = cca.load_calls(client=client_for(api), since=since, limit=50, progress=True, cache=False)
    last = err.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert f"{len(df)}/{len(df)}" in last and "100%" in last
    assert df.attrs["summary"] in last
    assert f"/{len(api.ids())}" not in err.getvalue()  # never the whole list's total


# -- transcripts ----------------------------------------------------------------------------------


def test_an_id_search_that_finds_nothing_points_to_transcript_search(api: Sandbox) -> None:
    with pytest.warns(SearchNote, match="matches agent and contact ids only"):
        df = load(api, search="refund")
    assert len(df) == 0 and "search_transcripts('refund')" in df.attrs["note"]


def test_a_hit_carries_the_second_the_speaker_and_the_audio_link(api: Sandbox) -> None:
    segs = cca.load_segments(client=client_for(api), limit=100, progress=False)
    hits = segs.callcov.search_transcripts("refund")
    truth = [
        (r["id"], s["start"], s["speaker"])
        for r in api.records()
        if r.get("transcript")
        for s in r["transcript"]["segments"]
        if "refund" in s["text"].lower()
    ]
    assert len(hits) == len(truth) > 0  # the sandbox's customers ask for refunds
    assert sorted(zip(hits["id"], hits["start"], hits["speaker"], strict=True)) == sorted(truth)
    first = hits.iloc[0]
    assert re.fullmatch(r".+#t=\d+", first["link"]) and first["link"].endswith(
        f"#t={first['start']:.0f}"
    )
    for word in ("cancel", "complaint", "escalation"):
        assert len(segs.callcov.search_transcripts(word)) > 0, word


def test_context_shows_the_exchange_around_each_hit(api: Sandbox) -> None:
    segs = cca.load_segments(client=client_for(api), limit=100, progress=False)
    call = segs.callcov.search_transcripts("refund")["id"].iloc[0]
    around = segs.callcov.transcript_context("refund", call, around=2)
    turns = segs[segs["id"] == call].sort_values("start", ignore_index=True)
    hit = int(turns.index[turns["text"].str.contains("refund", case=False)][0])
    expected = turns.iloc[max(hit - 2, 0) : hit + 3]
    first = around[around["hit"] == 1]
    assert first["text"].tolist() == expected["text"].tolist()
    assert first["is_hit"].tolist() == [i == hit for i in expected.index]
    assert set(first["speaker"]) == {"A", "B"}  # an exchange, both sides


# -- quota ----------------------------------------------------------------------------------------


def reading(at: float, **kwargs: object) -> QuotaReading:
    values: dict[str, object] = {"server_at": at, "status": 200, "limit": 60, "remaining": 11}
    values.update(kwargs)
    values.setdefault("reset", at + 42)
    values.setdefault("reset_local", at + 42)
    return QuotaReading(at=at, **values)  # type: ignore[arg-type]


def test_quota_from_a_fresh_reading_makes_no_request() -> None:
    last = reading(NOON_ISH - 5)
    now = quota([last], clock=lambda: NOON_ISH)
    assert isinstance(now, Quota) and not now.requested
    line = str(now)
    # The API never says what is left of the day: the line says so, and what bounds it.
    assert line.startswith(
        "today: what is left is not reported by the API (10,000 a day on this plan; these "
        "requests sent 1 since 00:00 UTC), resets 00:00 UTC (in 15 h"
    )
    assert "this window 49/60, resets 08:03:14 UTC (in 37 s)" in line
    assert line.endswith("from the last response, 5.0 s ago (no request made)")
    assert now.to_dict()["window_reset"] == "2026-12-01T08:03:14+00:00"


def test_quota_asks_once_when_the_reading_is_stale(api: Sandbox) -> None:
    df = load(api)
    api.clear_log()
    later = df.attrs["quota"][-1]["at"] + 3600  # an hour on: the window has reset
    now = quota(df, api_key=api.key, clock=lambda: later)
    assert now.requested and [e.path.rsplit("/", 2)[-2:] for e in api.log] == [["billing", "usage"]]
    usage = client_for(api).usage()
    assert now.month_requests == usage["metrics"]["api_requests"] - 1  # before this request
    assert now.month_limit == usage["limits"]["requests_limit"]
    assert "one request to /billing/usage" in str(now) and "this month" in str(now)
    # What this load sent today is counted from its own readings (all were sent "today").
    assert now.sent_today == len(df.attrs["quota"]) and now.sent_by == "this load"
    assert f"this load sent {len(df.attrs['quota'])} since 00:00 UTC" in str(now)


def test_the_month_bounds_the_day_when_less_is_left_of_it() -> None:
    last = reading(NOON_ISH - 5)
    now = quota([last], clock=lambda: NOON_ISH)
    tight = dataclasses.replace(now, month_requests=99_500, month_limit=100_000)
    assert "at most 500 left this month" in str(tight)
    assert "left this month" not in str(now)  # unknown month: no bound claimed


def test_the_day_used_up_says_so() -> None:
    last = reading(NOON_ISH, status=429, remaining=0, code="daily_quota_exceeded")
    line = str(quota([last], clock=lambda: NOON_ISH))
    assert line.startswith("today: used up (the API said so), resets 00:00")


def test_the_quota_command_prints_one_line_and_json(api: Sandbox) -> None:
    env = {"CALLCOV_API_KEY": api.key, "CALLCOV_API_URL": api.url, "PATH": ""}
    run = [sys.executable, "-m", "callcov_analytics._cli", "quota"]
    line = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert line.count("\n") == 1 and line.startswith("today") and "this window" in line
    data = subprocess.run([*run, "--json"], env=env, capture_output=True, text=True, check=True)
    assert '"requested": true' in data.stdout and api.key not in data.stdout + line


# -- the command line and filters -----------------------------------------------------------------


def cli(api: Sandbox, *args: str, tmp: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCOV_")}
    env.update({"CALLCOV_API_KEY": api.key, "CALLCOV_API_URL": api.url, "CALLCOV_CACHE_DIR": tmp})
    command = [sys.executable, "-m", "callcov_analytics._cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_fetch_with_since_reports_pages_without_the_whole_lists_total(
    api: Sandbox, tmp_path: Path
) -> None:
    since = pd.Timestamp(api.records()[150]["created"], unit="s", tz="UTC").isoformat()
    out = tmp_path / "calls.csv"
    done = cli(api, "fetch", "--since", since, "--out", str(out), tmp=str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    pages = [line for line in done.stderr.splitlines() if line.startswith("page ")]
    assert pages and all(" of " not in line for line in pages)
    rows = len(pd.read_csv(out))
    assert f"fetched {rows:,} calls in " in done.stderr
    assert f": {rows:,} new, 0 updated, 0 from the local store, 1 request" in done.stderr


def test_every_command_line_option_says_what_it_does() -> None:
    from callcov_analytics._cli import parser as main_cli
    from callcov_analytics.sandbox import cli as sandbox_cli

    parsers = [sandbox_cli._parser()]
    for action in main_cli._parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += list(action.choices.values())
    silent = [
        f"{parser.prog} {action.dest}"
        for parser in parsers
        for action in parser._actions
        if not (action.help or "").strip()
    ]
    assert silent == []


def test_the_sandbox_prints_a_ready_to_paste_export_line() -> None:
    from callcov_analytics.sandbox import cli as sandbox_cli

    stop = threading.Event()
    out = io.StringIO()
    original = sys.stdout
    sys.stdout = out
    try:
        server = threading.Thread(
            target=sandbox_cli.main, args=(["--plan", "free"],), kwargs={"stop": stop}
        )
        server.start()
        deadline = time.monotonic() + 30
        while "export " not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        server.join(10)
        sys.stdout = original
    line = next(x for x in out.getvalue().splitlines() if "export " in x).strip()
    match = re.fullmatch(
        r"export CALLCOV_API_URL=(http://127\.0\.0\.1:\d+/\S+) CALLCOV_API_KEY=(\S+)", line
    )
    assert match and re.search(r"sk_test_", match.group(2))


def test_load_segments_rejects_a_mistyped_filter_like_load_calls(api: Sandbox) -> None:
    for load_fn in (cca.load_calls, cca.load_segments):
        with pytest.raises(cca.ValidationError, match="did you mean 'agent_id'") as info:
            load_fn(client=client_for(api), agnet_id="agent_001", progress=False)
        assert info.value.param == "agnet_id"
