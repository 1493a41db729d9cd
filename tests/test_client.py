"""CallCovClient against the sandbox over real sockets: auth, errors, retries, redirects."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import traceback
from collections.abc import Callable

import pytest

from callcov_analytics import (
    APIConnectionError,
    AuthenticationError,
    CallCovClient,
    Config,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExhaustedError,
    ServerError,
    UnprocessableEntityError,
    UnsafeRedirectError,
    ValidationError,
)
from callcov_analytics._clock import SystemClock
from callcov_analytics.sandbox import Sandbox
from tests.clients import client_for
from tests.sandbox_fixtures import FakeClock


def test_health_and_usage(sandbox: Sandbox) -> None:
    with client_for(sandbox) as client:
        assert client.health()["status"] == "ok"
        assert "metrics" in client.usage()
    (entry,) = [e for e in sandbox.log if e.path.endswith("/health")]
    assert entry.auth == "x-api-key" and entry.plan == "starter"


def test_wrong_key_is_never_retried(sandbox: Sandbox) -> None:
    with (
        client_for(sandbox, key="sk_test_" + "0" * 48) as client,
        pytest.raises(AuthenticationError, match="CALLCOV_API_KEY") as info,
    ):
        client.list_page(offset=0, limit=10)
    assert info.value.status_code == 401 and info.value.code == "unauthorized"
    assert len(sandbox.log) == 1


def test_forbidden_key(sandbox: Sandbox) -> None:
    with (
        client_for(sandbox, key=sandbox.keys["forbidden"]) as client,
        pytest.raises(PermissionDeniedError),
    ):
        client.list_page(offset=0, limit=10)
    assert len(sandbox.log) == 1


def test_422_names_the_parameter_and_is_not_retried(sandbox: Sandbox) -> None:
    with client_for(sandbox) as client, pytest.raises(UnprocessableEntityError) as info:
        client.get("/analysis/", {"limit": 0})
    assert isinstance(info.value, ValidationError)
    assert info.value.param == "limit" and "limit" in str(info.value)
    assert len(sandbox.log) == 1


def test_unknown_analysis_is_not_found(sandbox: Sandbox) -> None:
    with client_for(sandbox) as client, pytest.raises(NotFoundError):
        client.analysis("00000000-0000-0000-0000-000000000000")


def test_calls_404_falls_back_to_analysis_once(sandbox: Sandbox) -> None:
    sandbox.faults.calls_404 = True
    with client_for(sandbox) as client:
        first = client.list_page(offset=0, limit=10)
        second = client.list_page(offset=9, limit=10)
    assert len(first.ids) == 10 and second.ids[0] == first.ids[-1]
    paths = [e.path for e in sandbox.log]
    assert paths == ["/api/v1/calls", "/api/v1/analysis/", "/api/v1/analysis/"]


@pytest.mark.parametrize(
    "kind",
    ["server_error:503", "html_error", "captive_portal", "reset", "truncate", "truncate_close"],
)
def test_transient_faults_are_retried(sandbox: Sandbox, kind: str) -> None:
    kind, _, status = kind.partition(":")
    sandbox.faults.next(kind, times=2, status=int(status) if status else None)
    with client_for(sandbox) as client:
        page = client.list_page(offset=0, limit=5)
        assert len(page.ids) == 5
        assert len(client.waits) == 2  # two backoff sleeps, never real ones
    assert [e.fault is not None for e in sandbox.log] == [True, True, False]


def test_stalled_answer_times_out_and_is_retried(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = sandbox_factory()
    api.faults.stall_seconds = 1.5
    api.faults.next("stall")
    config = dataclasses.replace(Config.resolve(api.key, api.url), read_timeout=0.3)
    with CallCovClient(config=config, clock=SystemClock(sleep=lambda s: None)) as client:
        assert len(client.list_page(offset=0, limit=5).ids) == 5
    # The stalled request is logged when it finally answers, after the retry.
    deadline = time.monotonic() + 5
    while len(api.log) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(str(e.fault) for e in api.log) == ["None", "stall"]


@pytest.mark.parametrize("load", [2.0, 4.0])
def test_a_late_answer_on_a_busy_machine_is_waited_for_not_paid_twice(
    sandbox_factory: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch, load: float
) -> None:
    # Fast answers, then one that takes 1.5 s, with the machine loaded to `load` times its
    # cores: the read timeout judges the server, so the answer is read, not asked again.
    cores = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (load * cores, load * cores, load * cores))
    api = sandbox_factory()
    with client_for(api) as client:
        for offset in (0, 5, 10):
            client.list_page(offset=offset, limit=5)
        api.faults.stall_seconds = 1.5
        api.faults.next("stall")
        assert len(client.list_page(offset=15, limit=5).ids) == 5
    assert [e.query.get("offset") for e in api.log] == ["0", "5", "10", "15"]
    assert api.log[-1].fault == "stall"


def test_persistent_server_errors_give_up_with_server_error(sandbox: Sandbox) -> None:
    sandbox.faults.server_error_rate = 1.0
    with client_for(sandbox) as client, pytest.raises(ServerError) as info:
        client.list_page(offset=0, limit=5)
    assert info.value.status_code == 500
    assert len(sandbox.log) == client.config.max_retries + 1
    assert all(w <= 30 for w in client.waits)  # capped backoff


def test_dead_network_is_a_connection_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    client = CallCovClient(
        "sk_test_x" * 3, f"http://127.0.0.1:{port}/api/v1", clock=SystemClock(sleep=waits.append)
    )
    with pytest.raises(APIConnectionError, match="cannot reach"):
        client.health()
    assert len(waits) == client.config.max_retries


def test_daily_quota_raises_at_once_with_the_reset_time(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    api = sandbox_factory(daily_limit=2)
    with client_for(api) as client:
        client.list_page(offset=0, limit=5)
        client.list_page(offset=4, limit=5)
        with pytest.raises(QuotaExhaustedError, match="UTC") as info:
            client.list_page(offset=8, limit=5)
    assert info.value.code == "daily_quota_exceeded"
    assert client.waits == []  # no sleeping until midnight
    assert len(api.log) == 3


def test_redirect_to_another_origin_never_carries_the_key(
    sandbox: Sandbox, other_origin: Sandbox
) -> None:
    sandbox.faults.redirect_to = other_origin.origin
    with client_for(sandbox) as client, pytest.raises(UnsafeRedirectError, match=r"127\.0\.0\.2"):
        client.list_page(offset=0, limit=5)
    assert other_origin.log == []


@pytest.mark.parametrize("url", ["http://api.callcov.com/api/v1", "http://192.0.2.1/api/v1"])
def test_plain_http_to_a_remote_host_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(ConfigurationError, match="unencrypted"):
        CallCovClient("sk_test_" + "a" * 48, url)


def test_key_never_appears_in_logs_reprs_errors_or_tracebacks(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    key = sandbox.key
    sandbox.faults.next("server_error", times=1)
    sandbox.faults.next("reset", times=1)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        with client_for(sandbox) as client:
            texts += [repr(client), str(client.config), repr(client.config.api_key)]
            client.list_page(offset=0, limit=5)
        for bad in ("sk_test_" + "9" * 48, sandbox.keys["forbidden"]):
            try:
                with client_for(sandbox, key=bad) as other:
                    other.list_page(offset=0, limit=5)
            except Exception as exc:
                texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    texts.append(caplog.text)
    assert caplog.records, "DEBUG logging was on; something should have been logged"
    for text in texts:
        assert key not in text
        assert sandbox.keys["forbidden"] not in text


def test_clients_of_one_key_share_a_budget_unless_their_clock_is_fake(
    sandbox: Sandbox, fake_clock: FakeClock
) -> None:
    """Budgets keep local times: system-clock clients share the key's, a fake one's is its own."""
    one, two = client_for(sandbox), CallCovClient(sandbox.key, sandbox.url)
    fake = client_for(sandbox, clock=fake_clock)
    assert one.limiter.budget is two.limiter.budget
    assert fake.limiter.budget is not one.limiter.budget
    assert client_for(sandbox, clock=fake_clock).limiter.budget is not fake.limiter.budget
    # Every reader of time in the client reads its clock: the limiter and the latency record.
    assert fake.limiter.now() == fake_clock.now
    fake.health()
    assert fake.latency == 0.0  # no fake time passed during the exchange
