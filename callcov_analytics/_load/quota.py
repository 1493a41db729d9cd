"""Quota at a glance: what is left of the day and of the rate-limit window, and when each resets.

What the API tells and what it does not: every response carries the window's limit, remaining
requests and reset (``X-RateLimit-*``); ``/billing/usage`` gives the billing period's requests
and limit; **how much of today's quota is left is never sent** (only a 429
``daily_quota_exceeded`` says the day is used up). So "left today" is answered as far as the
facts go and no further: "used up" when the API said so; otherwise that the API does not report
it, with what bounds it — the plan's daily size, the month's allowance left when that is
smaller, and the requests the readings we were given (a load, a client) sent since 00:00 UTC.
Other programs and people using the same key are invisible here, so no "N left" is made up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .._http.ratelimit import QuotaReading, daily_quota_for

__all__ = ["Quota", "duration", "quota"]

FRESH_SECONDS = 60.0  # a reading older than this (or past its window's reset) is not reused


def duration(seconds: float) -> str:
    """A wait or a time to go in words: "0.8 s", "42 s", "12 min 05 s", "5 h 12 min"."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 90:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def next_utc_midnight(now: float) -> float:
    """Unix time of the next 00:00 UTC after `now` (when the daily quota resets)."""
    day = datetime.fromtimestamp(now, UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _clock_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


@dataclass(frozen=True)
class Quota:
    """What is left of the quota, as data (`to_dict`) and as one line (``str``)."""

    now: float  # when this was put together (local Unix time)
    read_at: float  # when the API answered the reading it comes from
    requested: bool  # True: one request was made for it; False: an earlier response was reused
    window_limit: int | None
    window_remaining: int | None
    window_reset: float | None  # local Unix time
    day_limit: int | None  # the plan's requests per day; None for custom plans
    day_used_up: bool  # the API answered 429 daily_quota_exceeded
    day_reset: float  # the next 00:00 UTC, local Unix time
    month_requests: int | None = None  # from /billing/usage, when it was asked
    month_limit: int | None = None
    sent_today: int | None = None  # requests the given readings sent since 00:00 UTC
    sent_by: str = ""  # whose requests those are: "this load", "this client", ...

    @property
    def source(self) -> str:
        """Where the figures come from."""
        if self.requested:
            return "one request to /billing/usage just now"
        return f"the last response, {duration(self.now - self.read_at)} ago (no request made)"

    def __str__(self) -> str:
        parts = [self._day()]
        if self.month_requests is not None:
            month = f"this month {self.month_requests:,}"
            if self.month_limit:
                share = 100 * self.month_requests / self.month_limit
                month += f" of {self.month_limit:,} requests ({share:.0f}%)"
            parts.append(month)
        parts.append(self._window())
        return "; ".join(parts) + f" — from {self.source}"

    def _repr_markdown_(self) -> str:
        """In a notebook: the line as text that wraps between words, not mid-word."""
        return str(self)

    def _day(self) -> str:
        reset = f"resets 00:00 UTC (in {duration(self.day_reset - self.now)})"
        if self.day_used_up:
            return f"today: used up (the API said so), {reset}"
        bounds = []
        if self.day_limit is not None:
            bounds.append(f"{self.day_limit:,} a day on this plan")
        if self.month_limit and self.month_requests is not None:
            month_left = max(0, self.month_limit - self.month_requests)
            if self.day_limit is None or month_left < self.day_limit:
                bounds.append(f"at most {month_left:,} left this month")
        if self.sent_today is not None:
            bounds.append(f"{self.sent_by} sent {self.sent_today:,} since 00:00 UTC")
        known = f" ({'; '.join(bounds)})" if bounds else ""
        return f"today: what is left is not reported by the API{known}, {reset}"

    def _window(self) -> str:
        if self.window_limit is None:
            return "this window: no rate-limit headers"
        left = self.window_remaining or 0
        text = f"this window {self.window_limit - left}/{self.window_limit}"
        if self.window_reset is None:
            return text
        if self.window_reset <= self.now:
            return text + f", reset at {_clock_time(self.window_reset)} UTC (a new window is open)"
        return (
            text + f", resets {_clock_time(self.window_reset)} UTC "
            f"(in {duration(self.window_reset - self.now)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The figures with ISO-8601 UTC times, and ``line`` and ``source`` as text."""
        data = asdict(self)
        for name in ("now", "read_at", "window_reset", "day_reset"):
            if data[name] is not None:
                data[name] = datetime.fromtimestamp(data[name], UTC).isoformat()
        return {**data, "source": self.source, "line": str(self)}


def quota(
    last: Any = None,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    max_age: float = FRESH_SECONDS,
    clock: Callable[[], float] = time.time,
) -> Quota:
    """How much quota is left and when it resets, in one line (``print``) and as data.

    Reuses the last response when it is fresh (under ``max_age`` seconds old and its window
    not yet reset), else makes one request to ``/billing/usage`` (which adds the month's count);
    the result says which.

    Args:
        last: something that holds readings: a `load_calls` frame, a `CallCovClient`, a
            `widgets.QuotaPanel`, or a list of readings; None always asks the API.
        api_key, base_url: for the request, as in `CallCovClient` (default: the configured key;
            a frame's own API when ``last`` is a frame).
        max_age: seconds a reading counts as fresh.
        clock: the local clock (tests pin it).

    Example::

        print(cca.quota(df))
        # today: what is left is not reported by the API (10,000 a day on this plan; this load
        # sent 3 since 00:00 UTC), resets 00:00 UTC (in 5 h 12 min); this window 3/60, ...
    """
    now = clock()
    readings = _readings(last)
    sent = _sent_today(readings, now, _whose(last))
    reading = readings[-1] if readings else None
    if reading is not None and _fresh(reading, now, max_age):
        return _from(reading, now, requested=False, **sent)
    from .._http.client import CallCovClient

    if isinstance(last, CallCovClient) and api_key is None and base_url is None:
        usage = last.usage()  # the caller's client: its settings (retries, timeouts) apply
        reading = last.readings[-1]
    else:
        if base_url is None and isinstance(getattr(last, "attrs", None), Mapping):
            base_url = last.attrs.get("base_url")  # the API the frame came from
        with CallCovClient(api_key, base_url) as client:
            usage = client.usage()
            reading = client.readings[-1]
    metrics, limits = usage.get("metrics") or {}, usage.get("limits") or {}
    return _from(
        reading,
        clock(),
        requested=True,
        month_requests=_int(metrics.get("api_requests")),
        month_limit=_int(limits.get("requests_limit")),
        **sent,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _readings(last: Any) -> list[QuotaReading]:
    if last is None:
        return []
    readings: Any = last
    if hasattr(last, "attrs") and isinstance(last.attrs, Mapping):
        readings = last.attrs.get("quota") or []
    elif hasattr(last, "readings"):
        readings = last.readings
    if not isinstance(readings, Sequence):
        return []
    return [QuotaReading(**r) if isinstance(r, Mapping) else r for r in readings]


def _whose(last: Any) -> str:
    if hasattr(last, "attrs"):
        return "this load"
    if type(last).__name__ == "QuotaPanel":
        return "the loads this panel watched"
    return "this client" if hasattr(last, "readings") else "these requests"


def _sent_today(readings: list[QuotaReading], now: float, whose: str) -> dict[str, Any]:
    """How many of the readings' requests went out since 00:00 UTC (on the server's clock)."""
    if not readings:
        return {}
    last = readings[-1]
    offset = 0.0 if last.server_at is None else last.server_at - last.at
    midnight = next_utc_midnight(now + offset) - offset - 86400
    return {"sent_today": sum(r.at >= midnight for r in readings), "sent_by": whose}


def _fresh(reading: QuotaReading, now: float, max_age: float) -> bool:
    if reading.limit is None or now - reading.at > max_age:
        return False
    return reading.reset_local is None or reading.reset_local > now


def _from(reading: QuotaReading, now: float, *, requested: bool, **more: Any) -> Quota:
    # The day resets at the server's midnight: move it onto the local clock like the window.
    offset = 0.0 if reading.server_at is None else reading.server_at - reading.at
    return Quota(
        now=now,
        read_at=reading.at,
        requested=requested,
        window_limit=reading.limit,
        window_remaining=reading.remaining,
        window_reset=reading.reset_local,
        day_limit=daily_quota_for(reading.limit),
        day_used_up=reading.code == "daily_quota_exceeded",
        day_reset=next_utc_midnight(now + offset) - offset,
        **more,
    )
