"""Plans, throwaway API keys and the per-key fixed-window and daily rate limiter."""

from __future__ import annotations

import math
import secrets
import string
import threading
from dataclasses import dataclass
from typing import Literal

DAY = 86400

Outcome = Literal["ok", "rate_limit_exceeded", "daily_quota_exceeded"]


@dataclass(frozen=True)
class Plan:
    """Request allowances of one plan (docs/api.md §4) plus its billing limits (docs/api.md §6)."""

    name: str
    per_window: int
    per_day: int
    minutes_limit: int
    storage_limit_gb: int


PLANS: dict[str, Plan] = {
    "free": Plan("free", 10, 1_000, 100, 1),
    "starter": Plan("starter", 60, 10_000, 1_000, 10),
    "business": Plan("business", 300, 100_000, 10_000, 100),
    # "custom" in the docs; the sandbox picks generous round numbers.
    "enterprise": Plan("enterprise", 1_000, 1_000_000, 100_000, 1_000),
}

# Authenticates, but every data endpoint answers 403; it is rate limited like starter.
FORBIDDEN = "forbidden"
KEY_NAMES = (*PLANS, FORBIDDEN)
# The name of the key of the sandbox's second account (see SandboxApp.other_key).
OTHER_ACCOUNT = "other_account"

_ALPHABET = string.ascii_letters + string.digits


def new_key(mode: str = "test") -> str:
    """Return a fresh random key in CallCov's format; keys never live in the repository."""
    return f"sk_{mode}_" + "".join(secrets.choice(_ALPHABET) for _ in range(48))


def new_keys() -> dict[str, str]:
    """Return one fresh key per plan name plus the forbidden key."""
    return {name: new_key() for name in KEY_NAMES}


def effective_plan(
    name: str, chosen: str, limit: int | None, daily_limit: int | None
) -> tuple[int, int]:
    """Return (per_window, per_day) for key `name`; overrides apply to the chosen plan only."""
    plan = PLANS.get(name, PLANS["starter"])
    per_window, per_day = plan.per_window, plan.per_day
    if name == chosen:
        per_window = per_window if limit is None else limit
        per_day = per_day if daily_limit is None else daily_limit
    return per_window, per_day


@dataclass(frozen=True)
class Decision:
    """What the limiter decided for one request, and the numbers for the headers."""

    outcome: Outcome
    limit: int
    remaining: int
    reset: int
    used: int
    wait: float


@dataclass
class _Counter:
    window_end: int | None = None
    used: int = 0
    day: int | None = None
    day_used: int = 0
    month: tuple[int, int] | None = None
    month_used: int = 0


class Limiter:
    """Fixed window per key, starting with the first request after the previous one ended."""

    def __init__(self, window_seconds: float, allowances: dict[str, tuple[int, int]]) -> None:
        """Create a limiter; `allowances` maps key name to (per_window, per_day)."""
        if window_seconds <= 0:
            raise ValueError("window_seconds must be > 0")
        self.window_seconds = window_seconds
        self.allowances = allowances
        self._counters = {name: _Counter() for name in allowances}
        self._lock = threading.Lock()

    def hit(self, name: str, now: float, month: tuple[int, int]) -> Decision:
        """Count one request by key `name` at server time `now` (every request counts, 429s too)."""
        per_window, per_day = self.allowances[name]
        with self._lock:
            c = self._counters[name]
            if c.window_end is None or now >= c.window_end:
                c.window_end = math.ceil(now + self.window_seconds)
                c.used = 0
            day = math.floor(now / DAY)
            if c.day != day:
                c.day, c.day_used = day, 0
            if c.month != month:
                c.month, c.month_used = month, 0
            c.used += 1
            c.day_used += 1
            c.month_used += 1
            if c.day_used > per_day:
                reset = (day + 1) * DAY
                return Decision("daily_quota_exceeded", per_window, 0, reset, c.used, reset - now)
            remaining = max(0, per_window - c.used)
            outcome: Outcome = "ok" if c.used <= per_window else "rate_limit_exceeded"
            return Decision(
                outcome, per_window, remaining, c.window_end, c.used, c.window_end - now
            )

    def month_requests(self, name: str) -> int:
        """Return how many requests key `name` made in its current billing month."""
        with self._lock:
            return self._counters[name].month_used
