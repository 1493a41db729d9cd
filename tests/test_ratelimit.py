"""Tests for callcov_analytics._http.ratelimit: parsers, server clock, budget, tenacity wait."""

from __future__ import annotations

import math
import threading
from email.utils import formatdate

import pytest
import tenacity
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

from callcov_analytics._http.ratelimit import (
    POLL_INTERVAL,
    RateLimiter,
    ServerClock,
    daily_quota_for,
    parse_http_date,
    parse_reset,
    parse_retry_after,
    wait_rate_limit,
)
from tests.sandbox_fixtures import FAKE_EPOCH, FakeClock

T0 = FAKE_EPOCH  # 2023-11-14 22:13:20 UTC, a whole second
IMF_1994 = 784_111_777.0  # Sun, 06 Nov 1994 08:49:37 GMT (the RFC 9110 example)


def http_date(ts: float) -> str:
    """An IMF-fixdate, truncated to the second like a real server's."""
    return formatdate(ts, usegmt=True)


def rl_headers(
    *, server_now: float, remaining: int, reset: float, limit: int = 3
) -> dict[str, str]:
    """Honest rate-limit headers as the API sends them."""
    return {
        "Date": http_date(server_now),
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(int(reset)),
    }


# --- parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", IMF_1994),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", IMF_1994),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", IMF_1994),  # obsolete asctime (no zone: GMT)
        ("  Sun, 06 Nov 1994 08:49:37 GMT ", IMF_1994),
        ("Sun, 06 Nov 1994 09:49:37 +0100", IMF_1994),
        ("Sun, 32 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 25:49:37 GMT", None),
        ("1699564800", None),
        ("tomorrow", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_http_date(value: str | None, expected: float | None) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("1.5", 1.5),  # urllib3 rejects fractions; we accept them
        (" 7 ", 7.0),
        ("99999999", 99_999_999.0),  # capping is the caller's job
        (http_date(T0 + 30), 30.0),
        (http_date(T0 - 30), 0.0),  # a past date means "now"
        ("-5", None),
        ("-0.5", None),
        ("1e3", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, server_now=T0) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1700000060", T0 + 60),  # absolute Unix seconds (documented)
        ("1700000060.5", T0 + 60.5),
        ("37", T0 + 37),  # IETF draft: delta seconds
        ("0", T0),
        ("1700000060000", T0 + 60),  # milliseconds
        ("1700000060500", T0 + 60.5),
        ("-1", None),
        ("1700000060s", None),
        ("garbled", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_reset(value: str | None, expected: float | None) -> None:
    assert parse_reset(value, server_now=T0) == expected


@pytest.mark.parametrize(
    ("limit", "daily"), [(10, 1_000), (60, 10_000), (300, 100_000), (1000, None), (None, None)]
)
def test_daily_quota_for(limit: int | None, daily: int | None) -> None:
    assert daily_quota_for(limit) == daily


# --- ServerClock ---------------------------------------------------------------------------


def test_server_clock_without_dates_is_identity() -> None:
    clock = ServerClock()
    clock.observe(None, T0)
    clock.observe("garbled", T0)
    assert not clock.observed
    assert clock.offset() == 0.0
    assert clock.to_local(T0 + 60) == T0 + 60


@pytest.mark.parametrize("true_offset", [3600.0, -3600.0, 3600.37, -3600.81, 0.5])
@pytest.mark.parametrize("latency", [0.0, 0.08])
def test_server_clock_converted_reset_is_never_early_and_at_most_1s_late(
    true_offset: float, latency: float
) -> None:
    clock = ServerClock()
    reset_server = T0 + true_offset + 120
    true_local = reset_server - true_offset
    for i in range(10):
        sent_local = T0 + i * 0.731  # varied sub-second phases, like real traffic
        clock.observe(http_date(sent_local + true_offset), sent_local + latency)
        converted = clock.to_local(reset_server)
        assert converted >= true_local  # never wake early into a 429
        assert converted <= true_local + 1.0 + latency
    assert clock.to_local(reset_server) - true_local <= 1.0


def test_server_clock_heals_after_a_server_clock_jump() -> None:
    clock = ServerClock()
    for i in range(5):
        clock.observe(http_date(T0 + i + 100), T0 + i)
    assert clock.offset() == 100.0
    for i in range(40):  # the server corrected its clock back by 90 s
        clock.observe(http_date(T0 + i + 10), T0 + i)
    assert clock.offset() == 10.0


def _uvicorn_date(server_now: float, tick_phase: float) -> str:
    """Date as uvicorn sends it: the time of its last once-a-second tick, truncated."""
    last_tick = math.floor(server_now - tick_phase) + tick_phase
    return http_date(last_tick)


@pytest.mark.parametrize("tick_phase", [0.05, 0.5, 0.93])
@pytest.mark.parametrize("true_offset", [0.0, 7.3, -42.61])
def test_reset_echoes_pin_the_server_clock_where_a_lagging_date_cannot(
    tick_phase: float, true_offset: float
) -> None:
    # Answers as slowapi under uvicorn sends them: Date lags up to a second behind the tick,
    # X-RateLimit-Reset is precise and Retry-After is the whole seconds left until it.
    latency, reset_server = 0.02, T0 + true_offset + 2.738
    dated, echoed = ServerClock(), ServerClock()
    for i in range(12):
        sent = T0 + i * 0.173
        server_now = sent + true_offset + latency / 2
        date = _uvicorn_date(server_now, tick_phase)
        for clock in (dated, echoed):
            clock.observe(date, sent + latency)
        echoed.observe_echo(reset_server, int(reset_server - server_now), sent + latency)
    for clock in (dated, echoed):
        assert clock.offset() <= true_offset  # a lower bound: never early into a 429
    assert true_offset - echoed.offset() <= latency + 0.01
    # Date alone lags by the tick's phase (what the echo removes).
    assert true_offset - dated.offset() >= tick_phase - latency - 0.2


def test_an_echo_that_is_no_echo_is_ignored() -> None:
    clock = ServerClock()
    # Before any Date there is nothing to check an echo against.
    clock.observe_echo(T0 + 3600, 0, T0)
    assert clock.offset() == 0.0
    clock.observe(http_date(T0), T0 + 0.01)
    # A Retry-After counting to an earlier limit than the reset (a day's reset beside a
    # minute's delta) would put the server's clock an hour ahead: more than Date allows.
    clock.observe_echo(T0 + 3600, 30, T0 + 0.01)
    assert clock.offset() <= 0.0
    clock.observe_echo(T0 + 2.5, 2, T0 + 0.01)  # a true echo: the offset is above -0.51
    assert -0.52 < clock.offset() <= 0.0


# --- RateLimiter: one thread -------------------------------------------------------------


def test_budget_of_three_then_wait_exactly_until_reset_then_send_again() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    reset = T0 + 60
    for remaining in (2, 1, 0):
        assert limiter.reserve() == 0.0
        clock.now += 1
        limiter.observe(200, rl_headers(server_now=clock.now, remaining=remaining, reset=reset))
    assert (limiter.limit, limiter.remaining, limiter.window_end) == (3, 0, reset)
    assert limiter.reserve() == reset - clock.now == 57.0
    clock.now = reset - 0.25
    assert limiter.reserve() == 0.25
    clock.now = reset
    # The new window's budget and end are unknown until its first answer: one request alone
    # finds out whether it refilled (fixed window) or freed one slot (moving window).
    assert (limiter.remaining, limiter.window_end) == (None, None)
    # Its three requests were a second apart: their slots come back a second apart, as in a
    # moving window, until the new window's first answer says more.
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == POLL_INTERVAL
    limiter.observe(200, rl_headers(server_now=reset, remaining=2, reset=reset + 60))
    assert limiter.window_end == reset + 60
    assert limiter.reserve() == 0.0  # refilled: the rest of the window's budget goes
    assert (limiter.requests_sent, limiter.responses, limiter.throttled) == (5, 4, 0)
    assert [r.remaining for r in limiter.readings] == [2, 1, 0, 2]


def test_server_clock_skew_is_taken_from_date() -> None:
    for skew in (3600.0, -3600.0):
        clock = FakeClock()
        limiter = RateLimiter(clock=clock)
        limiter.reserve()
        reading = limiter.observe(
            200, rl_headers(server_now=T0 + skew, remaining=0, reset=T0 + skew + 60)
        )
        assert reading.server_at == T0 + skew
        assert reading.reset_local == T0 + 60
        assert limiter.reserve() == 60.0


def test_reserve_before_any_answer_allows_one_probe() -> None:
    limiter = RateLimiter(clock=FakeClock())
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == POLL_INTERVAL
    assert limiter.remaining is None and limiter.limit is None


def test_in_flight_requests_never_exceed_remaining() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    reset = T0 + 60
    limiter.reserve()
    limiter.observe(200, rl_headers(server_now=T0, remaining=2, reset=reset))
    assert [limiter.reserve() for _ in range(2)] == [0.0, 0.0]
    assert limiter.remaining == 0
    # The last slots are held by requests in flight, whose answers may still free one: poll.
    assert limiter.reserve() == POLL_INTERVAL
    # Answers arrive out of order: the lowest Remaining wins.
    limiter.observe(200, rl_headers(server_now=T0, remaining=0, reset=reset))
    limiter.observe(200, rl_headers(server_now=T0, remaining=1, reset=reset))
    assert limiter.remaining == 0
    assert limiter.reserve() == 60.0
    assert limiter.requests_sent == 3


def test_late_answers_from_a_past_window_are_ignored() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    old_reset, new_reset = T0 + 60, T0 + 120
    limiter.reserve()
    limiter.observe(200, rl_headers(server_now=T0, remaining=2, reset=old_reset))
    limiter.reserve()
    limiter.reserve()
    clock.now = old_reset + 1  # the window rolled while two requests were in flight
    assert limiter.remaining is None  # unknown until an answer of the new window
    limiter.observe(200, rl_headers(server_now=T0 + 1, remaining=0, reset=old_reset))
    assert limiter.remaining is None  # the late answer was counted in the old window
    # Its three requests went out together, so their slots are back together; the one still
    # in flight may yet reach the server in the new window: two may go before its first answer.
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, POLL_INTERVAL]
    limiter.observe(200, rl_headers(server_now=clock.now, remaining=2, reset=new_reset))
    assert limiter.remaining == 0  # 2 left, 2 in flight
    limiter.observe(200, rl_headers(server_now=T0 + 2, remaining=1, reset=old_reset))
    assert limiter.remaining == 1  # the late answer only ended its reservation
    assert limiter.window_end == new_reset


def test_missing_headers_let_one_request_at_a_time_through() -> None:
    limiter = RateLimiter(clock=FakeClock())
    for _ in range(5):
        assert limiter.reserve() == 0.0
        reading = limiter.observe(200, {})
        assert (reading.limit, reading.remaining, reading.reset, reading.server_at) == (None,) * 4
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == POLL_INTERVAL
    assert limiter.retry_after({}) is None


def test_answer_without_headers_is_charged_to_the_current_window() -> None:
    limiter = RateLimiter(clock=FakeClock())
    limiter.reserve()
    limiter.observe(200, rl_headers(server_now=T0, remaining=2, reset=T0 + 60))
    limiter.reserve()
    limiter.observe(502, {"Content-Type": "text/html"})  # a proxy's page
    assert limiter.remaining == 1
    limiter.reserve()
    limiter.release()  # connection reset: the server may have counted it
    assert limiter.remaining == 0
    assert limiter.reserve() == 60.0


def test_headers_are_case_insensitive() -> None:
    limiter = RateLimiter(clock=FakeClock())
    lower = {k.lower(): v for k, v in rl_headers(server_now=T0, remaining=1, reset=T0 + 9).items()}
    assert limiter.observe(200, lower).remaining == 1
    upper = CaseInsensitiveDict({"X-RATELIMIT-REMAINING": "0", "x-ratelimit-reset": "1700000009"})
    assert limiter.observe(200, upper).remaining == 0
    assert limiter.reserve() == 9.0


def test_delta_style_reset() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.reserve()
    headers = {"Date": http_date(T0), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}
    # Counted from Date + 1 s: a Date can lag the answer by a second (uvicorn), never early.
    assert limiter.observe(200, headers).reset == T0 + 31
    clock.now = T0 + 1.4  # same window, re-anchored on the next Date: 30 s from T0 + 1 + 1
    later = {"Date": http_date(T0 + 1.4), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}
    limiter.observe(200, later)
    assert limiter.window_end == T0 + 32  # one window; its latest end
    assert limiter.reserve() == pytest.approx(30.6)


def test_429_sets_remaining_to_zero_and_retry_after_prefers_the_header() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.reserve()
    limiter.observe(200, rl_headers(server_now=T0, remaining=2, reset=T0 + 60))
    limiter.reserve()
    clock.now = T0 + 10
    headers = rl_headers(server_now=T0 + 10, remaining=0, reset=T0 + 60)
    reading = limiter.observe(429, headers, waited=1.5, code="rate_limit_exceeded")
    assert (reading.remaining, reading.code, reading.waited) == (0, "rate_limit_exceeded", 1.5)
    assert (limiter.throttled, limiter.waited_total) == (1, 1.5)
    assert limiter.reserve() == 50.0
    assert limiter.retry_after(headers) == 50.0  # no Retry-After: until the reset
    assert limiter.retry_after({**headers, "Retry-After": "5"}) == 5.0
    assert limiter.retry_after({**headers, "Retry-After": http_date(T0 + 20)}) == 10.0
    assert limiter.retry_after({**headers, "Retry-After": "-3"}) == 50.0  # garbled: use Reset
    assert limiter.retry_after({"Retry-After": "junk"}) is None  # caller backs off
    clock.now = T0 + 61
    assert limiter.retry_after(headers) is None  # the reset is already past: back off


def test_a_429_that_names_no_spent_window_is_paced_on_its_own() -> None:
    # A gateway's 429 (no rate-limit headers), or one whose headers show room left, is another
    # limit's: the window keeps its budget; the next request waits the refusal's backoff only.
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.reserve()
    limiter.observe(200, rl_headers(server_now=T0, remaining=250, reset=T0 + 60, limit=300))
    for refusal in (
        {"Date": http_date(T0)},
        rl_headers(server_now=T0, remaining=249, reset=T0 + 60, limit=300),
    ):
        assert limiter.reserve() == 0.0
        limiter.observe(429, refusal, sent=clock.now)
        assert limiter.remaining == 250  # nothing charged to the window
        assert 0 < limiter.reserve() <= 1.0  # a short backoff, not the window's 60 s
        clock.now += 1.0
    assert limiter.window_end == T0 + 60


def test_retry_after_on_a_503_holds_every_request_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.reserve()
    limiter.observe(503, {"Date": http_date(T0), "Retry-After": "12"}, sent=T0)
    assert limiter.reserve() == 12.0
    clock.now = T0 + 11.9
    assert limiter.reserve() == pytest.approx(0.1)
    clock.now = T0 + 12
    assert limiter.reserve() == 0.0
    limiter.observe(503, {"Date": http_date(T0 + 12), "Retry-After": http_date(T0 + 20)})
    assert limiter.reserve() == 8.0  # an HTTP date counts on the server's clock
    clock.now = T0 + 20
    assert limiter.reserve() == 0.0


def test_the_spacing_between_two_refusals_becomes_the_pace() -> None:
    # A gateway allowing 2 requests a second: refused, then 2 get through in the next second,
    # then refused again. From then on at most 2 go out in any such span: no third 429.
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    gateway_429 = {"Date": http_date(T0), "Retry-After": "1"}
    for at, status in ((0.0, 429), (1.0, 200), (1.01, 200), (1.02, 429)):
        clock.now = T0 + at
        assert limiter.reserve() == 0.0
        limiter.observe(status, gateway_429 if status == 429 else {}, sent=clock.now)
    assert limiter.budget.unnamed.rule == (2, pytest.approx(1.02))
    clock.now = T0 + 2.02
    sends = []
    while clock.now < T0 + 6.03:
        if limiter.reserve() == 0.0:
            sends.append(clock.now)
            limiter.observe(200, {}, sent=clock.now)
        clock.now += 0.01
    assert len(sends) == 8  # 2 per 1.02 s over 4 s: the gateway's own rate
    assert all(b - a >= 1.02 - 1e-9 for a, b in zip(sends, sends[2:], strict=False))


def test_refusals_in_a_row_back_off_doubling_and_capped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    waits = []
    for _ in range(9):
        while (wait := limiter.reserve()) > 0:
            clock.now += wait
        limiter.observe(429, {}, sent=clock.now)
        waits.append(limiter.unnamed_wait())
    assert waits == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    limiter.reserve()
    limiter.observe(200, {}, sent=clock.now)  # got through: the next refusal starts over
    clock.now += 30
    limiter.reserve()
    limiter.observe(429, {}, sent=clock.now)
    assert limiter.unnamed_wait() == 0.5


def test_retry_after_before_observe_uses_the_response_date() -> None:
    limiter = RateLimiter(clock=FakeClock())
    headers = rl_headers(server_now=T0 - 3600, remaining=0, reset=T0 - 3600 + 42)
    assert limiter.retry_after(headers) == 42.0


def test_waits_are_capped_at_max_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, max_wait=10.0)
    limiter.reserve()
    midnight = T0 + 6400  # the next 00:00 UTC
    headers = {**rl_headers(server_now=T0, remaining=0, reset=midnight), "Retry-After": "6400"}
    limiter.observe(429, headers, code="rate_limit_exceeded")
    assert limiter.reserve() == 10.0
    # Not capped: the caller compares it with what it may wait, and says the real figure.
    assert limiter.retry_after(headers) == 6400.0
    assert limiter.window_end == midnight


def test_a_spent_day_is_no_window_to_sleep_through() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.reserve()
    midnight = T0 + 6400
    headers = rl_headers(server_now=T0, remaining=0, reset=midnight)
    limiter.observe(429, headers, code="daily_quota_exceeded")
    # The load stops with QuotaExhaustedError; a later one asks once instead of sleeping.
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == POLL_INTERVAL


# --- RateLimiter against a simulated fixed-window server ---------------------------------


class FixedWindowServer:
    """The documented fixed window: it starts at the first request after a reset, honest headers."""

    def __init__(self, *, limit: int, window: float, skew: float, delta_reset: bool) -> None:
        self.limit, self.window, self.skew, self.delta_reset = limit, window, skew, delta_reset
        self.end = -math.inf
        self.count = 0
        self.rejected = 0

    def handle(self, local_now: float) -> tuple[int, dict[str, str]]:
        now = local_now + self.skew
        if now >= self.end:
            self.end, self.count = now + self.window, 0
        self.count += 1
        if self.count > self.limit:
            self.rejected += 1
        date = math.floor(now)  # what the Date header carries
        reset = math.ceil(self.end - date) if self.delta_reset else math.ceil(self.end)
        headers = {
            "Date": http_date(date),
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self.count)),
            "X-RateLimit-Reset": str(reset),
        }
        return (429 if self.count > self.limit else 200), headers


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    limit=st.integers(1, 5),
    window=st.sampled_from([2.0, 5.0, 60.0]),
    skew=st.sampled_from([0.0, 0.6, 3600.37, -3600.81, -12.2]),
    delta_reset=st.booleans(),
)
def test_simulated_server_never_sees_more_than_limit_per_window(
    data: st.DataObject, limit: int, window: float, skew: float, delta_reset: bool
) -> None:
    clock = FakeClock(T0 + data.draw(st.floats(0, 1)))
    limiter = RateLimiter(clock=clock)
    server = FixedWindowServer(limit=limit, window=window, skew=skew, delta_reset=delta_reset)
    sent = 0  # reserved requests still on their way to the server
    answers: list[tuple[int, dict[str, str]]] = []  # answers on their way back
    actions = st.sampled_from(["reserve", "serve", "deliver", "refused", "tick"])
    for _ in range(data.draw(st.integers(10, 150))):
        action = data.draw(actions)
        if action == "reserve":
            wait = limiter.reserve()
            if wait == 0.0:
                sent += 1
            elif data.draw(st.booleans()):
                clock.now += wait  # this caller sleeps as told
        elif action == "serve" and sent:
            sent -= 1
            answers.append(server.handle(clock.now))
        elif action == "deliver" and answers:
            status, headers = answers.pop(data.draw(st.integers(0, len(answers) - 1)))
            limiter.observe(status, headers)
        elif action == "refused" and sent:
            sent -= 1  # connection refused: the server never saw it
            limiter.release()
        elif action == "tick":
            clock.now += data.draw(st.floats(0, window))
    assert server.rejected == 0
    # Liveness: once everything has landed, one wait as told is enough to send again.
    while sent:
        sent -= 1
        answers.append(server.handle(clock.now))
    for status, headers in answers:
        limiter.observe(status, headers)
    wait = limiter.reserve()
    if wait > 0:
        clock.now += wait
        assert limiter.reserve() == 0.0
    server.handle(clock.now)
    assert server.rejected == 0


def test_threads_sharing_one_limiter_cause_no_429() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    server = FixedWindowServer(limit=5, window=60.0, skew=-3600.81, delta_reset=False)
    server_lock, clock_lock = threading.Lock(), threading.Lock()

    def worker() -> None:
        sent = 0
        while sent < 15:
            wait = limiter.reserve()
            if wait > 0:
                with clock_lock:  # "sleep"; the lock keeps the shared clock monotonic
                    clock.now += wait
                continue
            with server_lock:
                answer = server.handle(clock.now)
            limiter.observe(*answer)
            sent += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert (limiter.requests_sent, limiter.responses) == (120, 120)
    assert server.rejected == limiter.throttled == 0


# --- wait_rate_limit -----------------------------------------------------------------------


class Throttled(Exception):
    """A 429 as the client raises it."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("429 Too Many Requests")
        self.retry_after = retry_after


def run_retrying(wait: tenacity.wait.wait_base, retry_after: float | None) -> list[float]:
    """Run a real tenacity loop that fails once; return the recorded sleeps."""
    recorded: list[float] = []
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise Throttled(retry_after)
        return "ok"

    retrying = tenacity.Retrying(
        wait=wait, sleep=recorded.append, stop=tenacity.stop_after_attempt(3), reraise=True
    )
    assert retrying(flaky) == "ok"
    return recorded


def test_wait_rate_limit_uses_retry_after() -> None:
    assert run_retrying(wait_rate_limit(), 2.5) == [2.5]
    assert run_retrying(wait_rate_limit(), 0.0) == [0.0]  # the reset is already past
    assert run_retrying(wait_rate_limit(cap=60.0), 7200.0) == [60.0]


def test_wait_rate_limit_falls_back_and_caps_the_fallback() -> None:
    assert run_retrying(wait_rate_limit(fallback=tenacity.wait_fixed(7)), None) == [7.0]
    assert run_retrying(wait_rate_limit(tenacity.wait_fixed(7)), -1.0) == [7.0]
    assert run_retrying(wait_rate_limit(tenacity.wait_fixed(100), cap=30.0), None) == [30.0]


def test_wait_rate_limit_default_fallback_is_bounded_jittered_exponential() -> None:
    wait = wait_rate_limit()
    state = tenacity.RetryCallState(tenacity.Retrying(), fn=None, args=(), kwargs={})
    error = ValueError("connection reset")
    state.set_exception((ValueError, error, None))
    for attempt in (1, 5, 50):
        state.attempt_number = attempt
        assert 0.0 <= wait(state) <= 30.0


# --- header namings, window tolerance, hidden limits ------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-limit": "5", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "30"},
         (5, 2, T0 + 30, None)),
        ({"ratelimit-limit": "5", "ratelimit-remaining": "2", "ratelimit-reset": "30"},
         (5, 2, T0 + 30, None)),
        ({"ratelimit-limit": "5, 5;w=2", "ratelimit-remaining": "2", "ratelimit-reset": "3",
          "ratelimit-policy": "5;w=2"}, (5, 2, T0 + 3, 2.0)),
        ({"ratelimit": '"default";r=2;t=30', "ratelimit-policy": '"default";q=5;w=60'},
         (5, 2, T0 + 30, 60.0)),
        ({"ratelimit": '"default";r=0;t=7'}, (None, 0, T0 + 7, None)),
        ({"ratelimit": "garbage"}, (None, None, None, None)),
        ({}, (None, None, None, None)),
    ],
)  # fmt: skip
def test_every_header_naming_reads_the_same_numbers(
    headers: dict[str, str], expected: tuple[object, ...]
) -> None:
    from callcov_analytics._http.limit_headers import read_fields

    f = read_fields(headers, server_now=T0)
    assert (f.limit, f.remaining, f.reset, f.window) == expected


def test_resets_a_few_microseconds_apart_are_one_window() -> None:
    # slowapi's sliding-window counter moves Reset by ~10 us between answers of one window.
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    for i, remaining in enumerate((2, 1, 0)):
        assert limiter.reserve() == 0.0
        headers = rl_headers(server_now=T0, remaining=remaining, reset=0)
        headers["X-RateLimit-Reset"] = f"{T0 + 2 + i * 1e-5:.6f}"
        limiter.observe(200, headers)
    assert limiter.remaining == 0
    assert limiter.reserve() == pytest.approx(2 + 2e-5)  # the latest of the window's resets


def test_a_429_revealing_a_longer_limit_is_remembered() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    # Headers show 5 per 2 s; a hidden 6 per 10 s limit is breached by the 7th request.
    for i in range(6):
        assert limiter.reserve() == 0.0
        window = T0 + 2 if i < 5 else T0 + 4
        limiter.observe(
            200, rl_headers(server_now=clock.now, remaining=4 - i % 5, reset=window, limit=5)
        )
        clock.now += 0.1 if i != 4 else 2.0
    assert limiter.reserve() == 0.0
    hidden = rl_headers(server_now=clock.now, remaining=0, reset=T0 + 10, limit=6)
    limiter.observe(429, hidden)
    assert limiter.budget.hidden == [(6, pytest.approx(10.0))]  # from the first send
    clock.now = T0 + 10  # the hidden window is over; a new one starts with the next request
    sends = []
    for _ in range(6):
        while (wait := limiter.reserve()) > 0:
            clock.now += wait
        sends.append(clock.now)
        limiter.observe(200, rl_headers(server_now=clock.now, remaining=3, reset=clock.now + 2))
    # The 7th waits until the first of those six is 10 s old: no second 429 for that limit.
    wait = limiter.reserve()
    assert clock.now + wait == pytest.approx(sends[0] + 10.0, abs=1e-6)


def test_a_refusal_under_a_learnt_rule_tightens_it_by_one_request() -> None:
    # A gateway that counts refused requests too (an HAProxy stick table) refuses the first
    # request after its rule's wait: the span between those refusals is the rule's own wait,
    # so the rule loses one request per span, not its whole pace.
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    script = [(0.0, 429), (2.0, 200), (2.01, 200), (2.02, 200), (2.03, 200), (2.04, 429)]
    for at, status in script:
        clock.now = T0 + at
        assert limiter.reserve() == 0.0
        limiter.observe(status, {}, sent=clock.now)
    assert limiter.budget.unnamed.rule == (4, pytest.approx(2.04))
    clock.now = T0 + 4.1  # the rule's wait and the backoff are over: one gets through...
    assert limiter.reserve() == 0.0
    limiter.observe(200, {}, sent=clock.now)
    clock.now = T0 + 4.65  # ...and the next is refused: 1 through in 2.61 s between refusals
    assert limiter.reserve() == 0.0
    limiter.observe(429, {}, sent=clock.now)
    assert limiter.budget.unnamed.rule == (3, pytest.approx(2.04))


@pytest.mark.parametrize(
    ("reset", "retry_after", "ends"),
    [
        # slowapi: the `limits` window end + 1 s, unrounded, and Retry-After on every answer.
        (f"{T0 + 3.25:.4f}", "2", T0 + 2.25),
        # This API (and Flask-Limiter): a whole second, no Retry-After on a success: the end.
        (str(int(T0 + 3)), None, T0 + 3),
        (f"{T0 + 3.25:.4f}", None, T0 + 3.25),  # a fraction alone is not slowapi's mark
    ],
)
def test_a_window_ends_when_the_limiter_really_ends_it(
    reset: str, retry_after: str | None, ends: float
) -> None:
    limiter = RateLimiter(clock=FakeClock(T0 + 0.3))
    headers = {"Date": http_date(T0), "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4"}
    headers["X-RateLimit-Reset"] = reset
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    limiter.reserve()
    limiter.observe(200, headers, sent=T0 + 0.25)
    # The local clock runs with the server's; the client knows that only up to the 0.3 s
    # its Date allows (a truncated second, read 0.3 s in), and never errs early.
    assert limiter.window_end is not None
    assert ends <= limiter.window_end <= ends + 0.3


def test_a_refusal_s_retry_after_never_moves_its_reset_earlier() -> None:
    # A Retry-After on a refusal is ordinary (this API sends one on every 429), so a refusal
    # with a fractional reset is no limit library's mark: the reset is read as it is named,
    # not a second earlier (which would pace into the spent window).
    limiter = RateLimiter(clock=FakeClock(T0 + 0.3))
    refused = {
        "Date": http_date(T0),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{T0 + 3.25:.4f}",
        "Retry-After": "3",
    }
    limiter.reserve()
    reading = limiter.observe(429, refused, sent=T0 + 0.25)
    assert reading.reset == pytest.approx(T0 + 3.25, abs=0.01)


def test_flask_limiter_s_rounded_up_reset_is_placed_by_the_request_that_opened_the_window() -> None:
    # Flask-Limiter: a fixed window of 2 s opened by our request at T0 + 10.4 ends at
    # T0 + 12.4; the reset says int(end + 1) = T0 + 13, with Retry-After on every answer.
    clock = FakeClock(T0 + 0.001)
    limiter = RateLimiter(clock=clock)
    limiter.observe(200, {"Date": http_date(T0)})  # a Date read just after its second began
    clock.now = T0 + 10.4
    assert limiter.reserve() == 0.0
    clock.now = T0 + 10.42
    flask = {"Date": http_date(T0 + 10.4), "X-RateLimit-Limit": "5", "Retry-After": "2"}
    limiter.observe(
        200, {**flask, "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": str(int(T0 + 13))},
        sent=T0 + 10.4,
    )  # fmt: skip
    assert limiter.window_end is not None
    assert T0 + 12.4 <= limiter.window_end <= T0 + 12.45  # never early; the round trip late
    # The same headers on a later request of the window (not its first) place nothing.
    other = RateLimiter(clock=clock)
    other.observe(200, {"Date": http_date(T0)})
    other.observe(
        200, {**flask, "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": str(int(T0 + 13))},
        sent=T0 + 10.4,
    )  # fmt: skip
    assert other.window_end is not None and other.window_end >= T0 + 13
