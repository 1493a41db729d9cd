"""The sandbox server keeps the contract (docs/callcov-api.md) over real loopback sockets."""

from __future__ import annotations

import gzip
import http.client
import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import pytest
import requests

from callcov_analytics.sandbox import (
    PLANS,
    Faults,
    LogEntry,
    Sandbox,
    ScriptedFault,
    make_app,
    serve,
)
from tests.processes import ctrl_c_reaches_the_child
from tests.sandbox_fixtures import FAKE_EPOCH, FakeClock

Factory = Callable[..., Sandbox]
DAY = 86400


def call(
    api: Sandbox,
    path: str,
    *,
    key: str | None = "default",
    bearer: bool = False,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> requests.Response:
    """GET `path` under the API base, fully read and closed; no redirects followed."""
    sent = dict(headers or {})
    if key == "default":
        key = api.key
    if key is not None:
        sent["Authorization" if bearer else "X-API-Key"] = f"Bearer {key}" if bearer else key
    with requests.Session() as session:
        session.trust_env = False
        resp = session.get(
            api.url + path, params=params, headers=sent, timeout=timeout, allow_redirects=False
        )
        resp.close()
    return resp


def error_body(resp: requests.Response, code: str, message: str) -> None:
    """Assert the documented error shape, with the request id of the response."""
    assert resp.json() == {
        "error": {"code": code, "message": message, "request_id": resp.headers["X-Request-Id"]}
    }


def rl(resp: requests.Response) -> tuple[str, str, str]:
    """Return the three rate-limit headers."""
    h = resp.headers
    return h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"], h["X-RateLimit-Reset"]


# -- authentication and errors ----------------------------------------------------------------


def test_health_with_x_api_key_and_bearer(sandbox: Sandbox) -> None:
    assert call(sandbox, "/health").json() == {"status": "ok"}
    assert call(sandbox, "/health", bearer=True).status_code == 200
    assert [e.auth for e in sandbox.log] == ["x-api-key", "bearer"]
    assert [e.plan for e in sandbox.log] == ["starter", "starter"]


@pytest.mark.parametrize("key", [None, "sk_test_" + "0" * 48, ""])
def test_missing_or_wrong_key_is_401_without_limit_headers(sandbox: Sandbox, key: Any) -> None:
    resp = call(sandbox, "/calls", key=key)
    assert resp.status_code == 401
    error_body(resp, "unauthorized", "Invalid or missing API key")
    assert "X-RateLimit-Limit" not in resp.headers
    assert sandbox.log[-1].window_used is None  # 401s do not count


def test_forbidden_key_health_ok_data_403(sandbox: Sandbox) -> None:
    forbidden = sandbox.keys["forbidden"]
    assert call(sandbox, "/health", key=forbidden).status_code == 200
    for path in ("/calls", "/analysis/", "/billing/usage", f"/analysis/{sandbox.ids()[0]}"):
        resp = call(sandbox, path, key=forbidden)
        assert resp.status_code == 403
        error_body(resp, "forbidden", "Insufficient permissions for this resource")
        assert "X-RateLimit-Reset" in resp.headers


def test_not_found_bodies(sandbox: Sandbox) -> None:
    error_body(call(sandbox, "/nope"), "not_found", "Resource not found")
    assert call(sandbox, "/nope", key=None).status_code == 401  # auth first under /api/v1
    resp = call(sandbox, "/analysis/00000000-0000-4000-8000-000000000000")
    error_body(resp, "not_found", "Analysis not found")
    assert call(sandbox, "/analysis/not-a-uuid").status_code == 404
    with requests.get(sandbox.origin + "/other", timeout=5) as outside:
        assert outside.status_code == 404


@pytest.mark.parametrize(
    ("params", "loc", "type_", "msg"),
    [
        (
            {"limit": "0"},
            "limit",
            "greater_than_equal",
            "Input should be greater than or equal to 1",
        ),
        (
            {"limit": "1001"},
            "limit",
            "less_than_equal",
            "Input should be less than or equal to 1000",
        ),
        (
            {"offset": "-1"},
            "offset",
            "greater_than_equal",
            "Input should be greater than or equal to 0",
        ),
        (
            {"offset": "x"},
            "offset",
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"status_filter": "done"},
            "status_filter",
            "enum",
            "Input should be 'processing', 'completed' or 'failed'",
        ),
    ],
)
def test_422_names_the_parameter(
    sandbox: Sandbox, params: dict[str, str], loc: str, type_: str, msg: str
) -> None:
    resp = call(sandbox, "/calls", params=params)
    assert resp.status_code == 422
    (item,) = resp.json()["detail"]
    assert item["loc"] == ["query", loc]
    assert (item["type"], item["msg"], item["input"]) == (type_, msg, params[loc])
    assert "X-RateLimit-Remaining" in resp.headers


def test_slash_redirects_stay_on_origin(sandbox: Sandbox) -> None:
    resp = call(sandbox, "/analysis", params={"limit": "1"})
    assert resp.status_code == 307
    assert resp.headers["Location"] == sandbox.url + "/analysis/?limit=1"


# -- list endpoint ----------------------------------------------------------------------------


def test_envelope_and_paging(sandbox: Sandbox) -> None:
    first = call(sandbox, "/calls", params={"limit": 100}).json()
    assert set(first) == {"object", "data", "has_more", "total", "limit", "offset"}
    assert (first["object"], first["has_more"], first["total"]) == ("list", True, 250)
    last = call(sandbox, "/analysis/", params={"limit": 100, "offset": 200}).json()
    assert (len(last["data"]), last["has_more"], last["offset"]) == (50, False, 200)
    assert call(sandbox, "/calls", params={"offset": 999}).json()["data"] == []
    assert len(call(sandbox, "/calls").json()["data"]) == 100  # default limit


def test_minimal_envelope_knob(sandbox: Sandbox) -> None:
    sandbox.faults.envelope = "minimal"
    assert set(call(sandbox, "/calls", params={"limit": 3}).json()) == {"object", "data"}


def test_order_newest_first_ties_by_id_desc(
    sandbox_factory: Factory, fake_clock: FakeClock
) -> None:
    api = sandbox_factory(plan="enterprise", clock=fake_clock, n_analyses=1500)
    api.insert(4)  # same second: only the id orders them
    got = []
    for offset in (0, 1000):
        got += call(api, "/calls", params={"limit": 1000, "offset": offset}).json()["data"]
    pairs = [(r["created"], r["id"]) for r in got]
    assert pairs == sorted(pairs, reverse=True)
    assert len({p[0] for p in pairs[:4]}) == 1
    assert [r["id"] for r in got] == api.ids()


@pytest.mark.parametrize("status", ["processing", "completed", "failed"])
def test_status_filter(sandbox: Sandbox, status: str) -> None:
    body = call(sandbox, "/calls", params={"status_filter": status, "limit": 1000}).json()
    expected = [r["id"] for r in sandbox.records() if r["status"] == status]
    assert [r["id"] for r in body["data"]] == expected
    assert body["total"] == len(expected) > 0


def test_agent_contact_and_search_filters(sandbox: Sandbox) -> None:
    records = sandbox.records()
    agent, contact = records[5]["call"]["agent_id"], records[5]["call"]["contact_id"]
    by_agent = call(sandbox, "/calls", params={"agent_id": agent, "limit": 1000}).json()["data"]
    assert {r["call"]["agent_id"] for r in by_agent} == {agent}
    assert len(by_agent) == sum(r["call"]["agent_id"] == agent for r in records)
    by_contact = call(sandbox, "/calls", params={"contact_id": contact}).json()["data"]
    assert {r["call"]["contact_id"] for r in by_contact} == {contact}
    found = call(sandbox, "/calls", params={"search": "AGENT_00", "limit": 1000}).json()
    assert found["total"] == sum(r["call"]["agent_id"].startswith("agent_00") for r in records)
    tail = contact[-4:].upper()
    hits = call(sandbox, "/calls", params={"search": tail, "limit": 1000}).json()["data"]
    assert {r["id"] for r in by_contact} <= {r["id"] for r in hits}
    plus = call(sandbox, "/calls", params={"contact_id": "+15550100"}).json()["data"]
    assert [r["call"]["contact_id"] for r in plus] == ["+15550100"]


def test_detail_matches_list(sandbox: Sandbox) -> None:
    record = call(sandbox, "/calls", params={"limit": 1, "offset": 7}).json()["data"][0]
    assert call(sandbox, f"/analysis/{record['id']}").json() == record


def test_billing_usage_shape(sandbox: Sandbox) -> None:
    call(sandbox, "/health")
    body = call(sandbox, "/billing/usage").json()
    assert body["period"]["billing_cycle"] == "monthly"
    assert body["period"]["start"].endswith("Z")
    assert body["metrics"]["api_requests"] == 2
    assert isinstance(body["metrics"]["minutes_analyzed"], float)
    assert body["limits"]["requests_limit"] == PLANS["starter"].per_day * 30
    assert set(body["costs"]) == {"minutes_cost", "api_cost", "storage_cost", "total", "currency"}


# -- rate limits ------------------------------------------------------------------------------


def test_every_authenticated_response_has_limit_headers(sandbox: Sandbox) -> None:
    for path in ("/health", "/calls", "/nope", "/billing/usage", "/calls?limit=0"):
        resp = call(sandbox, path)
        limit, remaining, reset = rl(resp)
        assert (limit, int(reset) > FAKE_EPOCH) == ("60", True), path
    assert remaining == "55"


def test_acceptance_window_then_reset(sandbox_factory: Factory, fake_clock: FakeClock) -> None:
    api = sandbox_factory(plan="free", window_seconds=2, limit=3, clock=fake_clock)
    statuses = [call(api, "/calls", params={"limit": 1}) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    error_body(statuses[3], "rate_limit_exceeded", statuses[3].json()["error"]["message"])
    reset = int(statuses[0].headers["X-RateLimit-Reset"])
    assert reset == math.ceil(api.log[0].time + 2)
    assert [rl(r)[1] for r in statuses] == ["2", "1", "0", "0"]
    assert "Retry-After" not in statuses[3].headers
    fake_clock.set(reset)  # the window's end on the server's clock: a new window starts
    after = call(api, "/calls", params={"limit": 1})
    assert after.status_code == 200
    assert rl(after)[1] == "2"


def test_window_arithmetic_with_fake_clock(sandbox_factory: Factory, fake_clock: FakeClock) -> None:
    api = sandbox_factory(plan="free", window_seconds=2, limit=3, clock=fake_clock)
    fake_clock.set(FAKE_EPOCH + 0.3)
    first = call(api, "/health")
    assert first.headers["X-RateLimit-Reset"] == str(int(FAKE_EPOCH) + 3)  # ceil(t + 2)
    fake_clock.advance(1.6)
    for _ in range(4):  # 429s count too: a blind retrier keeps the window full
        last = call(api, "/health")
    assert (last.status_code, [e.window_used for e in api.log]) == (429, [1, 2, 3, 4, 5])
    fake_clock.set(FAKE_EPOCH + 3)  # exactly the reset: a new window starts
    fresh = call(api, "/health")
    assert (fresh.status_code, rl(fresh)) == (200, ("3", "2", str(int(FAKE_EPOCH) + 5)))


def test_daily_quota_resets_at_utc_midnight(
    sandbox_factory: Factory, fake_clock: FakeClock
) -> None:
    midnight = (int(FAKE_EPOCH) // DAY + 1) * DAY
    fake_clock.set(midnight - 5)
    api = sandbox_factory(plan="starter", daily_limit=3, clock=fake_clock)
    assert [call(api, "/health").status_code for _ in range(3)] == [200] * 3
    over = call(api, "/calls")
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "daily_quota_exceeded"
    assert rl(over)[1:] == ("0", str(midnight))
    fake_clock.set(midnight)
    assert call(api, "/calls", params={"limit": 1}).status_code == 200


def test_retry_after_knob(sandbox_factory: Factory, fake_clock: FakeClock) -> None:
    api = sandbox_factory(limit=1, clock=fake_clock, faults=Faults(retry_after=True))
    fake_clock.set(FAKE_EPOCH + 0.5)
    call(api, "/health")
    assert call(api, "/health").headers["Retry-After"] == "3"  # ceil(reset - now) = ceil(2.5)


def test_clock_offset_moves_date_and_reset(sandbox_factory: Factory, fake_clock: FakeClock) -> None:
    api = sandbox_factory(clock=fake_clock, faults=Faults(clock_offset=3600))
    resp = call(api, "/health")
    assert resp.headers["Date"] == formatdate(FAKE_EPOCH + 3600, usegmt=True)
    assert parsedate_to_datetime(resp.headers["Date"]).timestamp() == FAKE_EPOCH + 3600
    assert rl(resp)[2] == str(int(FAKE_EPOCH) + 3602)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("missing", None),
        ("garbled", ("60/min", "n/a", "soon")),
        ("delta", ("60", "59", "2")),
        ("millis", ("60", "59", str((int(FAKE_EPOCH) + 2) * 1000))),
    ],
)
def test_ratelimit_header_modes(
    sandbox_factory: Factory, fake_clock: FakeClock, mode: Any, expected: Any
) -> None:
    api = sandbox_factory(clock=fake_clock, faults=Faults(ratelimit_headers=mode))
    resp = call(api, "/health")
    if expected is None:
        assert "X-RateLimit-Limit" not in resp.headers
    else:
        assert rl(resp) == expected


# -- faults -----------------------------------------------------------------------------------


def test_scripted_503_for_the_next_two_list_requests(sandbox: Sandbox) -> None:
    sandbox.faults.next("server_error", 2, status=503, endpoint="list")
    detail = call(sandbox, f"/analysis/{sandbox.ids()[0]}")
    first, second, third = (call(sandbox, "/calls", params={"limit": 2}) for _ in range(3))
    assert (detail.status_code, first.status_code, second.status_code) == (200, 503, 503)
    assert first.json()["error"]["code"] == "service_unavailable"
    assert third.status_code == 200
    assert [e.fault for e in sandbox.log] == [None, "server_error:503", "server_error:503", None]


def test_server_error_rate_spares_health_and_billing(sandbox: Sandbox) -> None:
    sandbox.faults.server_error_rate = 1.0
    assert call(sandbox, "/calls").status_code == 500
    assert call(sandbox, "/health").status_code == 200
    assert call(sandbox, "/billing/usage").status_code == 200


def test_random_faults_repeat_with_the_seed() -> None:
    def run() -> list[str | None]:
        faults = Faults(seed=3, server_error_rate=0.3, reset_rate=0.2)
        return [None if (f := faults.draw("list")) is None else f.label for _ in range(40)]

    assert run() == run()
    assert {"server_error", "reset", None} == set(run())
    with pytest.raises(ValueError, match="unknown fault kind"):
        ScriptedFault("explode")


def test_html_502_proxy_page(sandbox: Sandbox) -> None:
    sandbox.faults.script.append("html_error")
    resp = call(sandbox, "/calls")
    assert resp.status_code == 502
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<html>" in resp.text


def test_reset_is_a_connection_error(sandbox: Sandbox) -> None:
    sandbox.faults.next("reset")
    with pytest.raises(requests.ConnectionError):
        call(sandbox, "/calls")
    assert (sandbox.log[-1].status, sandbox.log[-1].fault) == (0, "reset")
    assert call(sandbox, "/calls").status_code == 200


def test_truncate_with_content_length_is_incomplete(sandbox: Sandbox) -> None:
    sandbox.faults.truncate_rate = 1.0
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        call(sandbox, "/calls")


def test_truncate_close_delimited_is_200_with_cut_json(sandbox: Sandbox) -> None:
    sandbox.faults.next("truncate_close")
    resp = call(sandbox, "/calls")
    assert resp.status_code == 200
    assert "Content-Length" not in resp.headers
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)


def test_stall_triggers_read_timeout(sandbox: Sandbox) -> None:
    sandbox.faults.stall_seconds = 0.6
    sandbox.faults.next("stall")
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(sandbox, "/calls", timeout=0.2)
    deadline = time.monotonic() + 3
    while not sandbox.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.log[-1].fault == "stall"


def test_calls_404_leaves_analysis(sandbox: Sandbox) -> None:
    sandbox.faults.calls_404 = True
    error_body(call(sandbox, "/calls"), "not_found", "Resource not found")
    assert call(sandbox, "/analysis/").status_code == 200


def test_redirect_to_other_origin(sandbox: Sandbox, other_origin: Sandbox) -> None:
    sandbox.faults.redirect_to = other_origin.origin
    resp = call(sandbox, "/calls", params={"limit": 5})
    assert resp.status_code == 307
    assert resp.headers["Location"] == other_origin.url + "/calls?limit=5"
    assert sandbox.log[-1].fault == "redirect"
    # A naive client follows and leaks the key; the other origin's log makes that visible.
    with requests.get(
        sandbox.url + "/calls", headers={"X-API-Key": sandbox.key}, timeout=5
    ) as followed:
        assert followed.status_code == 401
    leaked = other_origin.log[-1]
    assert (leaked.auth, leaked.plan) == ("x-api-key", "invalid")
    assert sandbox.key not in repr(other_origin.log) + repr(sandbox.log)


def test_churn_shifts_pages_and_tracks_ids(sandbox_factory: Factory) -> None:
    api = sandbox_factory(n_analyses=300, faults=Faults(churn_inserts=2, churn_deletes=1, seed=5))
    api.mark()
    seen: list[str] = []
    for offset in range(0, 400, 50):
        seen += [
            r["id"]
            for r in call(api, "/calls", params={"limit": 50, "offset": offset}).json()["data"]
        ]
    faults = [e.fault for e in api.log]
    assert faults == [None] + ["churn:+2-1"] * 7
    assert len(seen) != len(set(seen))  # inserts at the top push seen items to later pages
    assert set(seen) <= api.ever_ids()
    assert len(api.stable_ids()) == 300 - 7
    assert api.stable_ids() <= api.ever_ids()
    assert len(api.ever_ids()) == 300 + 14
    assert api.stable_ids() <= set(api.ids()) <= api.ever_ids()


def test_insert_delete_set_status(sandbox_factory: Factory, fake_clock: FakeClock) -> None:
    api = sandbox_factory(clock=fake_clock)
    (new,) = api.insert()
    assert new["status"] == "processing" and new["transcript"] is None
    assert api.ids()[0] == new["id"]
    fake_clock.advance(30)
    api.set_status(new["id"], "completed")
    done = call(api, f"/analysis/{new['id']}").json()
    assert done["transcript"]["segments"] and done["results"]["compliance"]
    assert done["metadata"]["completed_at"] == int(fake_clock())
    api.delete([new["id"]])
    assert call(api, f"/analysis/{new['id']}").status_code == 404
    assert call(api, "/calls").json()["total"] == 250


def test_gzip_when_asked(sandbox: Sandbox) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    try:
        headers = {"X-API-Key": sandbox.key, "Accept-Encoding": "gzip"}
        conn.request("GET", "/api/v1/calls?limit=20", headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        assert resp.getheader("Content-Encoding") == "gzip"
        assert int(resp.getheader("Content-Length") or 0) == len(raw)
    finally:
        conn.close()
    assert len(json.loads(gzip.decompress(raw))["data"]) == 20
    assert (
        "Content-Encoding" not in call(sandbox, "/calls", headers={"Accept-Encoding": ""}).headers
    )


def test_latency_knob(sandbox_factory: Factory) -> None:
    api = sandbox_factory(latency=0.25, latency_jitter=0.05)
    started = time.monotonic()
    call(api, "/health")
    assert 0.25 <= time.monotonic() - started < 2


# -- data -------------------------------------------------------------------------------------


def test_same_seed_same_records() -> None:
    def records(seed: int) -> list[dict[str, Any]]:
        return Sandbox(make_app(seed=seed, n_analyses=200, anchor=int(FAKE_EPOCH))).records()

    assert records(7) == records(7)
    assert records(7) != records(8)


def test_record_shapes_follow_status(sandbox: Sandbox) -> None:
    records = sandbox.records()
    counts = {
        s: sum(r["status"] == s for r in records) for s in ("completed", "processing", "failed")
    }
    assert counts["completed"] > 0.75 * len(records) and counts["processing"] > 0
    assert counts["failed"] > 0
    for r in records:
        completed = r["status"] == "completed"
        assert (r["transcript"] is not None) == completed, r["id"]
        assert (r["results"] is not None) == completed
        assert (r["metadata"]["error_message"] is not None) == (r["status"] == "failed")
        assert r["livemode"] is False and r["object"] == "analysis"
    agents = {r["call"]["agent_id"] for r in records}
    assert len(agents) >= 10


def test_hostile_records_present(sandbox: Sandbox) -> None:
    records = sandbox.records()
    contacts = {r["call"]["contact_id"] for r in records}
    assert {'=HYPERLINK("http://x")', "+15550100", "-2+3", "@SUM(1,1)"} <= contacts
    assert any(r["call"]["agent_id"].startswith("@") for r in records)
    texts = [r["transcript"]["text"] for r in records if r["transcript"]]
    assert max(map(len, texts)) >= 50_000
    assert any("😀" in t and "مرحبا" in t for t in texts)
    assert any(t.startswith("=") for t in texts)
    odd = next(r for r in records if "sentiment_score" in r)
    assert odd["call"]["queue"] and odd["experimental"] == {"foo": 1}
    results = [r["results"] for r in records if r["results"]]
    assert any("quality" not in x for x in results)
    assert any(x["coaching"] is None for x in results)
    unicode = call(sandbox, "/calls", params={"search": "josé"}).json()["data"]
    assert unicode and "🎧" in unicode[0]["call"]["contact_id"]


def test_large_mode_serves_a_million_analyses() -> None:
    # How fast is bench/bench_scale.py's to measure: a timed assertion fails on a busy machine.
    with serve("enterprise", n_analyses=1_000_000) as api:
        first = call(api, "/calls", params={"limit": 1000}).json()
        assert (first["total"], len(first["data"])) == (1_000_000, 1000)
        tail = call(api, "/calls", params={"limit": 1000, "offset": 999_500}).json()
        assert (len(tail["data"]), tail["has_more"]) == (500, False)
        last = tail["data"][-1]
        assert call(api, f"/analysis/{last['id']}").json() == last


def test_log_entries_are_frozen_snapshots(sandbox: Sandbox) -> None:
    call(sandbox, "/calls", params={"limit": "2", "agent_id": "agent_001"})
    (entry,) = sandbox.log
    assert isinstance(entry, LogEntry)
    assert (entry.method, entry.path, entry.query) == (
        "GET",
        "/api/v1/calls",
        {"limit": "2", "agent_id": "agent_001"},
    )
    sandbox.clear_log()
    assert sandbox.log == []


def test_wsgi_app_in_process(sandbox_app: Any) -> None:
    seen: list[str] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/calls",
        "QUERY_STRING": "limit=2",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_X_API_KEY": sandbox_app.keys["starter"],
    }
    body = b"".join(sandbox_app(environ, lambda status, headers: seen.append(status)))
    assert seen == ["200 OK"]
    assert len(json.loads(body)["data"]) == 2


# -- CLI --------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callcov_analytics.sandbox", *args],
        capture_output=True,
        text=True,
        timeout=120,  # a backstop on a busy machine, not a timing
    )


def test_cli_unknown_plan_one_line_exit_2() -> None:
    done = run_cli("--plan", "nope")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


def test_cli_port_in_use_one_line_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = run_cli("--port", str(busy.getsockname()[1]))
    assert done.returncode == 2
    assert done.stderr.startswith("error: port") and done.stderr.count("\n") == 1


def test_cli_serves_until_interrupted() -> None:
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "callcov_analytics.sandbox", "--plan", "free", "--n-analyses", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_the_child,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        key = proc.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v1")
        with requests.get(url + "/health", headers={"X-API-Key": key}, timeout=5) as resp:
            assert resp.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_sandbox_imports_only_stdlib_and_itself() -> None:
    import ast
    import pathlib

    import callcov_analytics.sandbox as pkg

    for source in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, source  # never reaches into the client side
                names = [] if node.level else [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top == "__future__" or top in sys.stdlib_module_names, (source, name)


def test_no_key_shaped_literals_in_sandbox_sources() -> None:
    import pathlib
    import re

    import callcov_analytics.sandbox as pkg

    pattern = re.compile(r"sk_(live|test)_[A-Za-z0-9]{16,}")
    files = [*pathlib.Path(pkg.__file__).parent.glob("*.py"), pathlib.Path(__file__)]
    assert not [f for f in files if pattern.search(f.read_text())]
