"""Rate-limit bookkeeping for one API key: header parsing, server clock, request budget, waits.

Pure: no I/O and no sleeping. Time comes from an injected clock; the caller does the sleeping.
"""

from __future__ import annotations

import email.utils
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC

import tenacity
from tenacity import RetryCallState

__all__ = [
    "POLL_INTERVAL",
    "QuotaReading",
    "RateLimiter",
    "ServerClock",
    "daily_quota_for",
    "parse_http_date",
    "parse_reset",
    "parse_retry_after",
    "wait_rate_limit",
]

# Short wait while another request's answer is pending and will change the picture.
POLL_INTERVAL = 0.05

# Only ASCII digits: float() also takes "1_000", "nan", "inf" and non-ASCII digits.
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_COUNT = re.compile(r"[0-9]+")
# A Reset below 1e9 (year 2001) cannot be a current Unix time, so it is a delta (IETF draft
# style); above 1e12 (year 33658 in seconds) it can only be milliseconds.
_DELTA_BELOW = 1e9
_MILLIS_ABOVE = 1e12
# Delta-style resets are re-anchored on a 1 s-resolution Date, so one window's reset can wobble
# by a second between responses; real windows are a minute or a day apart.
_DELTA_SAME_WINDOW = 1.0
_ABSOLUTE_SAME_WINDOW = 1e-6
_DAILY_QUOTA = {10: 1_000, 60: 10_000, 300: 100_000}


@dataclass(frozen=True)
class QuotaReading:
    """One response's rate-limit facts (kept for the quota plot)."""

    at: float  # local Unix time the response arrived
    server_at: float | None  # server time from the Date header
    status: int  # HTTP status
    limit: int | None  # X-RateLimit-Limit
    remaining: int | None  # X-RateLimit-Remaining (0 for any 429)
    reset: float | None  # X-RateLimit-Reset as absolute server Unix seconds (normalized)
    reset_local: float | None  # the same instant on the local clock
    waited: float = 0.0  # seconds the client paused before sending this request
    code: str | None = None  # error code of a 429 (rate_limit_exceeded / daily_quota_exceeded)


def parse_http_date(value: str | None) -> float | None:
    """Unix seconds of an HTTP date (IMF-fixdate, RFC 850 or asctime); None if absent or garbled."""
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # asctime and "-0000" carry no zone; HTTP dates are always GMT
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _parse_seconds(value: str | None) -> float | None:
    """A non-negative decimal number of seconds, or None."""
    if value is None or not _SECONDS.fullmatch(value.strip()):
        return None
    return float(value.strip())


def _parse_count(value: str | None) -> int | None:
    """A non-negative integer header such as X-RateLimit-Remaining, or None."""
    if value is None or not _COUNT.fullmatch(value.strip()):
        return None
    return int(value.strip())


def parse_retry_after(value: str | None, *, server_now: float) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP-date); None if absent/negative/garbled."""
    seconds = _parse_seconds(value)
    if seconds is not None:
        return seconds
    when = parse_http_date(value)
    if when is None:
        return None
    return max(0.0, when - server_now)  # a date in the past means "go ahead"


def parse_reset(value: str | None, *, server_now: float) -> float | None:
    """X-RateLimit-Reset as absolute server Unix seconds; None if absent, negative or garbled."""
    number = _parse_seconds(value)
    if number is None:
        return None
    if number < _DELTA_BELOW:
        return server_now + number
    if number > _MILLIS_ABOVE:
        return number / 1000.0
    return number


def _is_delta_reset(value: str | None) -> bool:
    """Whether a Reset header is in delta-seconds form."""
    number = _parse_seconds(value)
    return number is not None and number < _DELTA_BELOW


def daily_quota_for(limit: int | None) -> int | None:
    """Requests per day of the documented plan with this per-minute limit; None if custom."""
    return None if limit is None else _DAILY_QUOTA.get(limit)


class ServerClock:
    """Estimates server_time - local_time from Date headers, never early."""

    # Date has 1 s resolution and is stamped before the response travels, so
    # `Date - local_receive_time` is a LOWER bound of the true offset. The max of the recent lower
    # bounds converges on the true offset; keeping only the last 32 lets a clock jump heal. Using a
    # lower bound makes a converted reset never earlier than the real one (so we never wake early
    # into a 429) and at most ~1 s late.
    _KEEP = 32

    def __init__(self) -> None:
        self._bounds: deque[float] = deque(maxlen=self._KEEP)
        self._lock = threading.Lock()

    def observe(self, date_header: str | None, local_now: float) -> None:
        """Record a response's Date against its local arrival time; a garbled Date is ignored."""
        server = parse_http_date(date_header)
        if server is not None:
            with self._lock:
                self._bounds.append(server - local_now)

    @property
    def observed(self) -> bool:
        """Whether any Date has been seen yet."""
        with self._lock:
            return bool(self._bounds)

    def offset(self) -> float:
        """Estimated server_time - local_time (a lower bound); 0.0 when never observed."""
        with self._lock:
            return max(self._bounds, default=0.0)

    def to_local(self, server_ts: float) -> float:
        """The local time of a server timestamp, never earlier than the true instant."""
        return server_ts - self.offset()


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, so a plain dict works like a CaseInsensitiveDict."""
    return {name.lower(): value for name, value in headers.items()}


class RateLimiter:
    """Shared request budget for one API key; thread-safe; the client asks it before every request.

    Windows are identified by their reset value. A response whose reset is newer than the current
    window's opens a new window with its Remaining; the same reset lowers the window's remaining
    to the minimum seen (answers can arrive out of order); an older reset is a late answer from a
    window that is over and is ignored. A 429 means remaining 0 for its window.

    The budget is ``left = remaining_min - in_flight``, where in_flight counts reserved requests
    with no answer yet. Every request the server counted after the lowest Remaining we saw is
    still in flight, so ``left`` never exceeds what the server has left; in-flight requests it
    counted earlier are subtracted twice, which only makes us conservative. ``reserve()`` sends
    while ``left > 0``. When ``left <= 0`` it waits until the window's end (the reset put on the
    local clock by `ServerClock`, never early); once the local clock passes it, the next window
    starts with ``remaining_min = limit`` and an unknown end until its first answer arrives.

    Without a budget (before the first answer, or when the headers are missing or garbled) and
    with a spent budget whose end is unknown, one request at a time is let through as a probe: a
    single thread never waits, many threads cannot cause a burst of 429s, and the caller's 429
    handling (`retry_after`, `wait_rate_limit`) does the pacing. A request that ends without
    rate-limit headers (a proxy error, a connection error) may still have been counted, so it is
    charged to the current window. The one 429 this cannot rule out: answers lost after the
    server counted them, in a new window whose end no answer has told us yet.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, max_wait: float = 3600.0) -> None:
        self._clock = clock
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._server_clock = ServerClock()
        self.readings: list[QuotaReading] = []
        self.requests_sent = 0
        self.responses = 0
        self.throttled = 0
        self.waited_total = 0.0
        self._limit: int | None = None
        self._window_reset: float | None = None  # server seconds; the current window's identity
        self._window_open = False  # False once the local clock has passed the window's end
        self._remaining_min: int | None = None
        self._in_flight = 0

    @property
    def limit(self) -> int | None:
        """Requests per window, from the latest current-window answer."""
        return self._limit

    @property
    def remaining(self) -> int | None:
        """Requests that may still be sent in this window (in-flight ones already deducted)."""
        with self._lock:
            self._roll(self._clock())
            if self._remaining_min is None:
                return None
            return max(0, self._remaining_min - self._in_flight)

    @property
    def window_end(self) -> float | None:
        """Local time the current window ends, or None when unknown."""
        with self._lock:
            self._roll(self._clock())
            return self._window_end()

    @property
    def window_length(self) -> float | None:
        """The window's length as observed: the longest time from a response to its reset."""
        spans = [r.reset_local - r.at for r in self.readings[-64:] if r.reset_local is not None]
        return max(spans) if spans else None

    def reserve(self) -> float:
        """Seconds to wait before the next request (0.0 = send now, a slot is reserved)."""
        now = self._clock()
        with self._lock:
            self._roll(now)
            budget = self._remaining_min
            left = None if budget is None else budget - self._in_flight
            end = self._window_end()
            probe = self._in_flight == 0 and (left is None or end is None)
            if (left is not None and left > 0) or probe:
                self._in_flight += 1
                self.requests_sent += 1
                return 0.0
            if budget is None or end is None:
                wait = POLL_INTERVAL  # the in-flight probe's answer will tell us more
            elif budget > 0:
                # The budget is held by in-flight requests; answers arriving out of order can
                # hand slots back, so look again soon rather than sleep to the reset.
                wait = min(POLL_INTERVAL, end - now)
            else:
                wait = end - now
            return min(wait, self.max_wait)

    def release(self) -> None:
        """End a reservation whose request got no response (connection error)."""
        with self._lock:
            if self._in_flight > 0:
                self._in_flight -= 1
                self._charge_one()

    def observe(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        waited: float = 0.0,
        code: str | None = None,
    ) -> QuotaReading:
        """Record one response, end its reservation and update the budget."""
        now = self._clock()
        fields = _lower_keys(headers)
        date = fields.get("date")
        raw_reset = fields.get("x-ratelimit-reset")
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self.responses += 1
            if status == 429:
                self.throttled += 1
            self.waited_total += waited
            self._server_clock.observe(date, now)
            server_at = parse_http_date(date)
            stamped = server_at if server_at is not None else now + self._server_clock.offset()
            reset = parse_reset(raw_reset, server_now=stamped)
            limit = _parse_count(fields.get("x-ratelimit-limit"))
            remaining = 0 if status == 429 else _parse_count(fields.get("x-ratelimit-remaining"))
            self._roll(now)
            tolerance = _DELTA_SAME_WINDOW if _is_delta_reset(raw_reset) else _ABSOLUTE_SAME_WINDOW
            self._update_budget(limit, remaining, reset, tolerance)
            reading = QuotaReading(
                at=now,
                server_at=server_at,
                status=status,
                limit=limit,
                remaining=remaining,
                reset=reset,
                reset_local=None if reset is None else self._server_clock.to_local(reset),
                waited=waited,
                code=code,
            )
            self.readings.append(reading)
        return reading

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        """Seconds a 429 asks us to wait: Retry-After, else until the reset, else None; capped."""
        now = self._clock()
        fields = _lower_keys(headers)
        date_at = parse_http_date(fields.get("date"))
        if self._server_clock.observed:
            offset = self._server_clock.offset()
        else:  # called before observe(): this response's own Date is the best estimate we have
            offset = 0.0 if date_at is None else date_at - now
        seconds = parse_retry_after(fields.get("retry-after"), server_now=now + offset)
        if seconds is None:
            stamped = date_at if date_at is not None else now + offset
            reset = parse_reset(fields.get("x-ratelimit-reset"), server_now=stamped)
            if reset is None:
                return None
            seconds = max(0.0, reset - offset - now)
        return min(seconds, self.max_wait)

    def _window_end(self) -> float | None:
        """Local end of the current window, or None when unknown or over."""
        if not self._window_open or self._window_reset is None:
            return None
        return self._server_clock.to_local(self._window_reset)

    def _roll(self, now: float) -> None:
        """Start the next window once the local clock has passed the current one's end."""
        end = self._window_end()
        if end is not None and now >= end:
            self._window_open = False
            # Same limit assumed until an answer says otherwise; the end is unknown until then.
            self._remaining_min = self._limit

    def _charge_one(self) -> None:
        """Count a request we got no numbers for against the current window."""
        if self._remaining_min is not None:
            self._remaining_min = max(0, self._remaining_min - 1)

    def _update_budget(
        self, limit: int | None, remaining: int | None, reset: float | None, tolerance: float
    ) -> None:
        """Fold one answer's numbers into the window state (see the class docstring)."""
        current = self._window_reset
        if reset is None:
            # No way to tell the window: assume the current one, which can only lower the budget.
            if limit is not None:
                self._limit = limit
            if remaining is None:
                self._charge_one()
            elif self._remaining_min is not None:
                self._remaining_min = min(self._remaining_min, remaining)
            return
        if current is None or reset > current + tolerance:
            self._window_reset = reset
            self._window_open = True
            self._remaining_min = remaining
        elif self._window_open and reset >= current - tolerance:
            if remaining is None:
                self._charge_one()
            elif self._remaining_min is None:
                self._remaining_min = remaining
            else:
                self._remaining_min = min(self._remaining_min, remaining)
        else:
            return  # a late answer from a window that is over: its request was counted there
        if limit is not None:
            self._limit = limit


class wait_rate_limit(tenacity.wait.wait_base):
    """Wait keyed to the rate-limit reset: the exception's retry_after if set, else fallback."""

    def __init__(
        self, fallback: tenacity.wait.wait_base | None = None, cap: float = 3600.0
    ) -> None:
        if fallback is None:
            fallback = tenacity.wait_random_exponential(multiplier=0.5, max=30)
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt."""
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            retry_after = getattr(outcome.exception(), "retry_after", None)
            if (
                isinstance(retry_after, int | float)
                and not isinstance(retry_after, bool)
                and math.isfinite(retry_after)
                and retry_after >= 0
            ):
                return min(float(retry_after), self.cap)
        return min(self.fallback(retry_state), self.cap)
