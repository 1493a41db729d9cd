"""Rate-limit answers that used to mislead: past resets, long Retry-After, a second load, silence.

Small scripted servers on 127.0.0.1 (stdlib http.server) play the answer under test; the client
gets a fake sleep where it waits, so nothing here sleeps except on real sockets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import callcov_analytics as cca
from callcov_analytics import APITimeoutError, CallCovClient, Config, RateLimitError
from callcov_analytics._clock import Clock, SystemClock
from tests.sandbox_fixtures import FAKE_EPOCH, FakeClock, Sandbox


@contextlib.contextmanager
def scripted(answer: Callable[[int], tuple[int, dict[str, str], bytes]]) -> Iterator[list[float]]:
    """Serve ``answer(n)`` for the n-th request; yield the arrival times (monotonic)."""
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            arrivals.append(time.monotonic())
            status, headers, body = answer(len(arrivals))
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        arrivals.append(float(server.server_address[1]))  # the port, popped by the caller
        yield arrivals
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def client_for(
    arrivals: list[float], sleeps: list[float], clock: Clock | None = None, **config: object
) -> CallCovClient:
    """A client of the scripted server; its sleeps recorded in ``sleeps`` (or on ``clock``)."""
    port = int(arrivals.pop(0))
    key = "sk_test_" + secrets.token_hex(16)  # a fresh key: a budget of its own
    settings = dataclasses.replace(Config.resolve(key, f"http://127.0.0.1:{port}"), **config)
    return CallCovClient(config=settings, clock=clock or SystemClock(sleep=sleeps.append))


def too_many(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": "rate_limit_exceeded", "message": "slow down"}})
    return 429, {"Date": formatdate(usegmt=True), **headers}, body.encode()


def test_a_reset_in_the_past_backs_off_instead_of_bursting() -> None:
    past = str(int(time.time()) - 120)
    headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": past}
    ok = (200, {"X-RateLimit-Limit": "5", "X-RateLimit-Reset": past}, b'{"status": "ok"}')
    sleeps: list[float] = []
    with scripted(lambda n: too_many(headers) if n <= 3 else ok) as arrivals:
        client = client_for(arrivals, sleeps)
        assert client.health() == {"status": "ok"}
    assert len(arrivals) == 4
    # One backoff sleep per 429 (jittered exponential: uniform up to 0.5, 1, 2 s), not retries
    # at once (a wait of 0) nor polls of the budget every 50 ms.
    assert len(sleeps) == 3, sleeps
    assert all(0 < s <= cap for s, cap in zip(sleeps, (0.5, 1, 2), strict=True)), sleeps


def test_retry_after_a_day_fails_fast_with_the_real_figure_and_a_true_message() -> None:
    sleeps: list[float] = []
    with scripted(lambda n: too_many({"Retry-After": "86400"})) as arrivals:
        client = client_for(arrivals, sleeps)
        with pytest.raises(RateLimitError) as info:
            client.health()
    assert len(arrivals) == 1 and sleeps == []  # no day-long sleep, no second try
    assert info.value.retry_after == 86400
    message = str(info.value)
    assert "86400 s" in message
    assert "waits and retries on its own" not in message  # it did not: it stopped
    assert "run the same load again" in message


def test_a_second_load_right_after_the_first_shares_the_keys_budget(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    api = sandbox_factory(plan="free", window_seconds=2, limit=4, n_analyses=200)
    for _ in range(2):  # 3 requests each: the second load needs the next window
        df = cca.load_calls(
            api_key=api.key, base_url=api.url, limit=100, cache=False, progress=False
        )
        assert df["id"].tolist() == api.ids()
    assert [e.status for e in api.log] == [200] * len(api.log)  # the second waited, no 429
    from callcov_analytics._http.ratelimit import BUDGETS

    assert api.key not in repr(BUDGETS.__dict__)  # held by fingerprint, never by the key


class Watch:
    """An observer that keeps the waits the client announces."""

    def __init__(self) -> None:
        self.waits: list[tuple[float, str]] = []

    def on_response(self, reading: object) -> None:
        pass

    def on_wait(self, seconds: float, reason: str) -> None:
        self.waits.append((seconds, reason))

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        pass


def test_a_server_that_never_answers_fails_and_says_so(fake_clock: FakeClock) -> None:
    """A real socket the kernel accepts and nobody answers, with a short read timeout: the
    client's real read timeouts end in APITimeoutError, its waits say why (the bound of the
    default settings is the next test's, on the client's clock)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepted by the kernel, never read or answered
    try:
        port = float(listener.getsockname()[1])
        # Tries of 0.2 s; the silence is reckoned on the fake clock, whose sleeps pass at once.
        client = client_for([port], [], clock=fake_clock, read_timeout=0.6)
        client.observer = watch = Watch()
        with pytest.raises(APITimeoutError, match="sent no answer"):
            client.health()
    finally:
        listener.close()
    assert watch.waits and all(reason == "server not answering" for _, reason in watch.waits)


def test_with_default_settings_a_silent_server_is_reported_within_a_minute(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default bound, on the client's clock: each try that gets no answer passes the read
    timeout it was given (requests is stubbed to do just that), each retry its sleep."""
    client = CallCovClient(
        "sk_test_" + secrets.token_hex(16), "http://127.0.0.1:9/api/v1", clock=fake_clock
    )
    timeouts: list[float] = []

    def no_answer(*args: object, timeout: tuple[float, float], **kwargs: object) -> None:
        timeouts.append(timeout[1])
        fake_clock.advance(timeout[1])
        raise requests.ReadTimeout("read timed out")

    monkeypatch.setattr(client.session, "request", no_answer)
    client.observer = watch = Watch()
    with pytest.raises(APITimeoutError, match="sent no answer") as raised:
        client.health()
    elapsed = fake_clock.now - FAKE_EPOCH
    # Three tries of a third of the 30 s read timeout, then the 30 s of silence end it.
    assert timeouts == [client.config.read_timeout / 3] * 3
    assert client.latencies.silence == client.config.read_timeout == 30
    assert "the client stops retrying after 30 s of silence" in str(raised.value)
    assert elapsed < 60  # on the client's clock: the tries' timeouts and the retries' sleeps
    assert [reason for _, reason in watch.waits] == ["server not answering"] * 2
