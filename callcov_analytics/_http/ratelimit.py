"""Rate-limit bookkeeping of one client: its answers' facts, over a budget shared per key.

Pure: no I/O and no sleeping. Time comes from an injected clock; the caller does the sleeping.
The window logic lives in `budget.Budget`, the header namings in `limit_headers`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import tenacity
from tenacity import RetryCallState

from .._secrets import Secret
from .budget import POLL_INTERVAL, Budget, ServerClock
from .limit_headers import (
    LimitFields,
    parse_http_date,
    parse_reset,
    parse_retry_after,
    read_fields,
    reset_echo,
    reset_lateness,
    reset_rounded_up,
)

__all__ = [
    "BUDGETS",
    "POLL_INTERVAL",
    "QuotaReading",
    "RateLimiter",
    "ServerClock",
    "SharedBudgets",
    "daily_quota_for",
    "parse_http_date",
    "parse_reset",
    "parse_retry_after",
    "wait_rate_limit",
]

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


def daily_quota_for(limit: int | None) -> int | None:
    """Requests per day of the documented plan with this per-minute limit; None if custom."""
    return None if limit is None else _DAILY_QUOTA.get(limit)


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, so a plain dict works like a CaseInsensitiveDict."""
    return {name.lower(): value for name, value in headers.items()}


class SharedBudgets:
    """The process's budgets, one per (API origin, key): the limit belongs to the key.

    Every client of the same key at the same API paces on one `Budget`, so a second load
    right after the first knows the window is spent. Keys are held as an HMAC fingerprint under
    a per-process random salt, never as the key. Lifetime: the process (the module-level
    `BUDGETS`); the least recently used budgets beyond ``keep`` are dropped.
    """

    def __init__(self, keep: int = 32) -> None:
        self._salt = secrets.token_bytes(16)
        self._keep = keep
        self._budgets: OrderedDict[tuple[str, str], Budget] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, origin: str, key: Secret) -> Budget:
        """The budget of this key at this origin (made on first use)."""
        print_ = hmac.new(self._salt, key.reveal().encode(), hashlib.sha256).hexdigest()
        with self._lock:
            budget = self._budgets.get((origin, print_))
            if budget is None:
                budget = self._budgets[(origin, print_)] = Budget()
            self._budgets.move_to_end((origin, print_))
            while len(self._budgets) > self._keep:
                self._budgets.popitem(last=False)
            return budget

    def clear(self) -> None:
        """Forget every budget (tests; a process that changes keys)."""
        with self._lock:
            self._budgets.clear()


BUDGETS = SharedBudgets()


class RateLimiter:
    """One client's view of its key's budget: asks it before each request, keeps the facts.

    Thread-safe. ``budget`` is shared with the other clients of the key (`BUDGETS`); a private
    one is made when none is given (tests with a fake clock). The counters and ``readings``
    describe this client's requests only.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        max_wait: float = 3600.0,
        budget: Budget | None = None,
    ) -> None:
        self._clock = clock
        self.max_wait = max_wait
        self.budget = budget or Budget()
        self._lock = threading.Lock()
        self._served = threading.local()  # per thread: the unnamed hold its retry slept out
        self.readings: list[QuotaReading] = []
        self.requests_sent = 0
        self.responses = 0
        self.throttled = 0
        self.waited_total = 0.0

    @property
    def _server_clock(self) -> ServerClock:
        return self.budget.clock

    @property
    def limit(self) -> int | None:
        """Requests per window, from the latest current-window answer."""
        return self.budget.limit

    @property
    def remaining(self) -> int | None:
        """Requests that may still be sent in this window (in-flight ones already deducted)."""
        return self.budget.remaining(self._clock())

    @property
    def window_end(self) -> float | None:
        """Local time the current window ends, or None when unknown."""
        return self.budget.window_end(self._clock())

    @property
    def window_length(self) -> float | None:
        """The window's length as observed: the longest time from a response to its reset."""
        with self._lock:
            recent = self.readings[-64:]
        spans = [r.reset_local - r.at for r in recent if r.reset_local is not None]
        return max(spans) if spans else None

    def now(self) -> float:
        """This limiter's clock (local Unix seconds, or a test's fake)."""
        return self._clock()

    def reserve(self) -> float:
        """Seconds to wait before the next request (0.0 = send now, a slot is reserved)."""
        served = getattr(self._served, "until", 0.0)
        wait = self.budget.reserve(self._clock(), self.max_wait, served)
        if wait == 0.0:
            self._served.until = 0.0
            with self._lock:
                self.requests_sent += 1
        return wait

    def release(self) -> None:
        """End a reservation whose request got no response (connection error)."""
        self.budget.release()

    def observe(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        waited: float = 0.0,
        code: str | None = None,
        sent: float | None = None,
    ) -> QuotaReading:
        """Record one response, end its reservation and update the budget.

        ``sent``: this clock's time when the request went out (see `now`).
        """
        now = self._clock()
        fields = _lower_keys(headers)
        date = fields.get("date")
        clock = self._server_clock
        clock.observe(date, now)
        echo = reset_echo(fields)
        if echo is not None:
            clock.observe_echo(*echo, now)
        server_at = parse_http_date(date)
        numbers = self._fields(fields, server_at, now, success=status < 400)
        day = status == 429 and code == "daily_quota_exceeded"
        asked = parse_retry_after(fields.get("retry-after"), server_now=now + clock.offset())
        self.budget.observe(
            now,
            status,
            None,
            numbers,
            day=day,
            sent=sent,
            retry_after=asked if status >= 400 else None,
        )
        reading = QuotaReading(
            at=now,
            server_at=server_at,
            status=status,
            limit=numbers.limit,
            remaining=0 if status == 429 else numbers.remaining,
            reset=numbers.reset,
            reset_local=None if numbers.reset is None else clock.to_local(numbers.reset),
            waited=waited,
            code=code,
        )
        with self._lock:
            self.responses += 1
            self.throttled += status == 429
            self.waited_total += waited
            self.readings.append(reading)
        return reading

    def _fields(
        self, fields: Mapping[str, str], server_at: float | None, now: float, *, success: bool
    ) -> LimitFields:
        # A delta reset counts from when the server answered, which its Date tells up to a
        # second (and uvicorn refreshes Date only once a second): so from Date + 1 s, never
        # early. Not from our arrival: a body that took long to arrive would make a late
        # answer look like one from a newer window.
        stamped = now + self._server_clock.offset() if server_at is None else server_at + 1.0
        numbers = read_fields(fields, server_now=stamped)
        # The limit libraries' marks are a Retry-After on a success; on a refusal it is normal,
        # and a reset read early there would send into a spent window.
        if not success:
            return numbers
        late = reset_lateness(fields)
        if late and numbers.reset is not None:
            numbers = replace(numbers, reset=numbers.reset - late)
        return replace(numbers, rounded_up=reset_rounded_up(fields))

    def unnamed_wait(self) -> float:
        """Seconds until the limit no header names lets the next request go (0 when it does)."""
        return self.budget.unnamed_wait(self._clock())[0]

    def serve_unnamed(self) -> float:
        """Seconds to wait for the unnamed limit before a retry; the retry then skips that hold.

        The retry's own sleep serves the hold, so the pacing before it does not wait for it
        again (with a test's sleep that passes no time, it would wait forever).
        """
        wait, until = self.budget.unnamed_wait(self._clock())
        self._served.until = until
        return wait

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        """Seconds a 429 asks us to wait: Retry-After, else until the reset, else None.

        Not capped: the caller decides whether the wait is too long (and says so). A reset
        already past gives None, so the caller backs off instead of retrying at once.
        """
        now = self._clock()
        fields = _lower_keys(headers)
        date_at = parse_http_date(fields.get("date"))
        if self._server_clock.observed:
            offset = self._server_clock.offset()
        else:  # called before observe(): this response's own Date is the best estimate we have
            offset = 0.0 if date_at is None else date_at - now
        seconds = parse_retry_after(fields.get("retry-after"), server_now=now + offset)
        if seconds is not None:
            return seconds
        stamped = date_at if date_at is not None else now + offset
        reset = read_fields(fields, server_now=stamped).reset
        if reset is None or reset - offset <= now:
            return None
        return reset - offset - now


class wait_rate_limit(tenacity.wait.wait_base):
    """Wait keyed to the rate-limit reset: the exception's retry_after if set, else fallback.

    Without one, ``pause`` (seconds the limit no header names still needs: a 503's
    Retry-After, a gateway's backoff) when it is positive. The fallback, for answers that say
    nothing usable (no headers, a reset already past), is capped jittered exponential backoff:
    0.5 s doubling up to 30 s.
    """

    def __init__(
        self,
        fallback: tenacity.wait.wait_base | None = None,
        cap: float = 3600.0,
        pause: Callable[[], float] | None = None,
    ) -> None:
        self.fallback = fallback or tenacity.wait_random_exponential(multiplier=0.5, max=30)
        self.cap = cap
        self.pause = pause

    def __call__(self, retry_state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt."""
        paused = self.pause() if self.pause is not None else 0.0
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            retry_after = getattr(outcome.exception(), "retry_after", None)
            if (
                isinstance(retry_after, int | float)
                and not isinstance(retry_after, bool)
                and math.isfinite(retry_after)
                and retry_after >= 0
            ):
                return min(max(float(retry_after), paused), self.cap)
        if paused > 0:
            return min(paused, self.cap)
        return min(self.fallback(retry_state), self.cap)
