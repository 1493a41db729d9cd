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

import callcov_analytics as cca
from callcov_analytics import APITimeoutError, CallCovClient, Config, RateLimitError
from callcov_analytics._clock import SystemClock
from tests.sandbox_fixtures import Sandbox


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


def client_for(arrivals: list[float], sleeps: list[float], **config: object) -> CallCovClient:
    port = int(arrivals.pop(0))
    key = "sk_test_" + secrets.token_hex(16)  # a fresh key: a budget of its own
    settings = dataclasses.replace(Config.resolve(key, f"http://127.0.0.1:{port}"), **config)
    return CallCovClient(config=settings, clock=SystemClock(sleep=sleeps.append))


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


@pytest.mark.slow  # really waits: three 10 s tries on a socket that never answers
def test_a_server_that_never_answers_fails_within_a_minute_and_says_so() -> None:
    waits: list[tuple[float, str]] = []

    class Watch:
        def on_response(self, reading: object) -> None:
            pass

        def on_wait(self, seconds: float, reason: str) -> None:
            waits.append((seconds, reason))

        def on_page(self, pages: int, rows: int, total: int | None) -> None:
            pass

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepted by the kernel, never read or answered
    try:
        sleeps: list[float] = []
        client = client_for([float(listener.getsockname()[1])], sleeps)
        client.observer = Watch()
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="sent no answer"):
            client.health()
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert elapsed < 60
    assert waits and all(reason == "server not answering" for _, reason in waits)
