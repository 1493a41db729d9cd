"""Rate-limit facts read from response headers, whichever naming the server uses.

Three namings are understood, first match wins:

* ``X-RateLimit-Limit/-Remaining/-Reset`` (this API, slowapi, Flask-Limiter): Reset is a Unix
  time (seconds, or milliseconds above 1e12) or, below 1e9, seconds from now;
* the IETF draft's ``RateLimit-Limit/-Remaining/-Reset``: Reset is seconds from now;
* the draft's structured fields ``RateLimit: "name";r=<remaining>;t=<seconds to reset>`` and
  ``RateLimit-Policy: "name";q=<quota>;w=<window seconds>`` (also the older ``10;w=60`` form).

Pure functions of the headers and a server time; no state.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC

__all__ = [
    "LimitFields",
    "parse_http_date",
    "parse_reset",
    "parse_retry_after",
    "read_fields",
    "reset_echo",
    "reset_lateness",
    "reset_rounded_up",
]

# Only ASCII digits: float() also takes "1_000", "nan", "inf" and non-ASCII digits.
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_COUNT = re.compile(r"[0-9]+")
_PARAM = re.compile(r";\s*([a-z]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)")
# A Reset below 1e9 (year 2001) cannot be a current Unix time, so it is a delta (IETF draft
# style); above 1e12 (year 33658 in seconds) it can only be milliseconds.
_DELTA_BELOW = 1e9
_MILLIS_ABOVE = 1e12


@dataclass(frozen=True)
class LimitFields:
    """One response's rate-limit numbers, normalized."""

    limit: int | None
    remaining: int | None
    reset: float | None  # absolute server Unix seconds
    window: float | None = None  # the policy's window in seconds, when the server says it
    rounded_up: bool = False  # the reset is a first-hit window's end + 1 s, truncated


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
    if value is None:
        return None
    # The draft allows a list ("10, 10;w=1, 50;w=60"): the first item is the one that applies.
    first = value.split(",")[0].split(";")[0].strip()
    return int(first) if _COUNT.fullmatch(first) else None


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


def _params(value: str | None) -> dict[str, float]:
    """The ``;key=number`` parameters of the first item of a structured field."""
    if value is None:
        return {}
    first = value.split(",")[0]
    found = {k: float(v) for k, v in _PARAM.findall(first)}
    bare = first.split(";")[0].strip()  # the older draft's "10;w=60": the quota comes first
    if _COUNT.fullmatch(bare):
        found.setdefault("q", float(bare))
    return found


def read_fields(headers: Mapping[str, str], *, server_now: float) -> LimitFields:
    """The rate-limit numbers of a response (lower-cased header names), any naming."""
    for prefix in ("x-ratelimit-", "ratelimit-"):
        if prefix + "limit" in headers or prefix + "remaining" in headers:
            raw = headers.get(prefix + "reset")
            # The draft's Reset is always seconds from now, whatever its size.
            reset = (
                parse_reset(raw, server_now=server_now)
                if prefix == "x-ratelimit-"
                else _delta(raw, server_now)
            )
            window = _params(headers.get("ratelimit-policy")).get("w")
            return LimitFields(
                _parse_count(headers.get(prefix + "limit")),
                _parse_count(headers.get(prefix + "remaining")),
                reset,
                window,
            )
    current, policy = _params(headers.get("ratelimit")), _params(headers.get("ratelimit-policy"))
    if not current and not policy:
        return LimitFields(None, None, None)
    quota, remaining = policy.get("q"), current.get("r")
    seconds = current.get("t")
    return LimitFields(
        None if quota is None else int(quota),
        None if remaining is None else int(remaining),
        None if seconds is None else server_now + seconds,
        policy.get("w"),
    )


def _delta(value: str | None, server_now: float) -> float | None:
    seconds = _parse_seconds(value)
    return None if seconds is None else server_now + seconds


def reset_echo(headers: Mapping[str, str]) -> tuple[float, int] | None:
    """(absolute X-RateLimit-Reset, whole seconds of Retry-After) when an answer has both.

    Lower-cased header names. None unless the reset is an absolute time and Retry-After a whole
    number of seconds: then the two are one instant told twice, once on the server's clock
    (see `ServerClock.observe_echo`).
    """
    raw, after = headers.get("x-ratelimit-reset"), headers.get("retry-after")
    reset = parse_reset(raw, server_now=0.0)
    if reset is None or reset < _DELTA_BELOW or after is None:
        return None
    after = after.strip()
    return (reset, int(after)) if _COUNT.fullmatch(after) else None


def reset_lateness(headers: Mapping[str, str]) -> float:
    """Seconds an ``X-RateLimit-Reset`` is announced after its window really ends.

    slowapi announces the `limits` library's window end plus one second, unrounded (a
    fraction of a second), with ``Retry-After`` on every answer: that pair on a success is its
    mark (the caller asks only of successes), and its windows end a second before the reset
    they name. Anything else: 0 (the reset is the end, as this API's is). Lower-cased header
    names.
    """
    raw = headers.get("x-ratelimit-reset")
    fraction = raw is not None and _SECONDS.fullmatch(raw.strip()) is not None and "." in raw
    return 1.0 if fraction and "retry-after" in headers else 0.0


def reset_rounded_up(headers: Mapping[str, str]) -> bool:
    """Is ``X-RateLimit-Reset`` Flask-Limiter's ``int(end + 1)``, of a window its first hit opened?

    Its mark: a whole-second Unix reset with ``Retry-After`` on a success (the caller asks only
    of successes; this API sends ``Retry-After`` on refusals only). The window's end is then
    somewhere in the second before the reset: `budget.Budget` places it from the answer that
    opened the window. Lower-cased header names.
    """
    raw = headers.get("x-ratelimit-reset")
    whole = raw is not None and _COUNT.fullmatch(raw.strip()) is not None
    return whole and float(raw or 0) >= _DELTA_BELOW and "retry-after" in headers
