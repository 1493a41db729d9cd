"""The dates a caller gives for ``since``/``until``, and the analyst's time zone.

Accepted forms (``tz`` is the analyst's zone, UTC by default):

==========================  ==============================================================
``"2026-11-01"``            that day's midnight in ``tz`` (for ``until``: the whole day)
``"2026-11-01T09:00"``      that wall-clock time in ``tz``; with an offset or ``Z``, as given
``1795392000`` / ``"@..."``  Unix seconds (the API's own ``created`` format), int or float
date / datetime / Timestamp  naive ones are wall-clock times in ``tz``
``"7d"`` ``"24h"`` ``"2w"``  that many days / hours / weeks (or ``"30min"``) before now
``"today"`` ``"yesterday"``  midnight in ``tz`` (for ``until``: the end of that day)
``"now"``                   the current time
==========================  ==============================================================

Relative forms are computed from ``now``, a callable returning the current aware time, so
tests pin the clock instead of depending on the day they run.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from ._errors import ValidationError

__all__ = ["DateLike", "check_tz", "to_utc", "validate_range"]

DateLike = str | int | float | date | datetime | pd.Timestamp
Clock = Callable[[], datetime]

_AGO = re.compile(r"(\d+)\s*(min|h|d|w)", re.IGNORECASE)
_UNITS = {"min": 60, "h": 3600, "d": 86_400, "w": 604_800}  # seconds
_DAYS = {"today": 0, "yesterday": 1}
_ISO = re.compile(r"\d{4}-\d\d-\d\d([ T]|$)")
FORMS = "'2026-11-01', '2026-11-01T09:00:00Z', Unix seconds, '7d', '24h', '2w', 'today'"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def check_tz(tz: str | None) -> str:
    """The IANA zone name ``tz`` (None = "UTC"); ValidationError naming ``tz`` if unknown."""
    if tz is None:
        return "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationError(
            f"tz={tz!r} is not a time zone; use an IANA name such as 'Europe/London' or 'UTC'.",
            param="tz",
        ) from exc
    return tz


def to_utc(
    value: DateLike | None,
    name: str,
    *,
    tz: str | None = None,
    now: Clock = _utc_now,
    end_of_day: bool = False,
) -> pd.Timestamp | None:
    """``value`` (any form in the module table) as a UTC Timestamp; None stays None.

    Args:
        value: the date the caller gave.
        name: the parameter's name, for the error message.
        tz: the zone of naive and day-only values (default UTC).
        now: the clock for relative forms.
        end_of_day: a day-only value means its last second (how ``until`` reads a date).

    Example:
        >>> to_utc("2026-11-01", "since", tz="Europe/London").isoformat()
        '2026-11-01T00:00:00+00:00'
    """
    if value is None:
        return None
    zone = check_tz(tz)
    ts, day_only = _parse(value, name, zone, now)
    if end_of_day and day_only:
        ts = (ts.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(
            zone, ambiguous=True, nonexistent="shift_forward"
        ) - pd.Timedelta(seconds=1)
    return ts.tz_convert("UTC")


def _parse(value: DateLike, name: str, zone: str, now: Clock) -> tuple[pd.Timestamp, bool]:
    """(aware Timestamp, whether ``value`` named a whole day)."""

    def bad(why: str) -> ValidationError:
        return ValidationError(f"{name}={value!r} {why}; use e.g. {FORMS}.", param=name)

    if isinstance(value, bool):
        raise bad("is not a date")
    if isinstance(value, numbers.Real) and not isinstance(value, pd.Timestamp):
        return _unix(float(value), bad), False
    if isinstance(value, str):
        text = value.strip()
        word = text.lower()
        if text.startswith("@"):
            try:
                return _unix(float(text[1:]), bad), False
            except ValueError:
                raise bad("is not Unix seconds") from None
        current = pd.Timestamp(now()).tz_convert(zone)
        if word == "now":
            return current, False
        if word in _DAYS:
            day = current.tz_localize(None).normalize() - pd.Timedelta(days=_DAYS[word])
            return day.tz_localize(zone, ambiguous=True, nonexistent="shift_forward"), True
        ago = _AGO.fullmatch(word)
        if ago:
            span = pd.Timedelta(seconds=_UNITS[ago[2]] * int(ago[1]))
            return current - span, False
        if not text:
            raise bad("is empty")
        if not _ISO.match(text):  # dateutil would read "30m" or "5" as a time today
            raise bad("is not a date")
        day_only = len(text) == 10
    else:
        day_only = isinstance(value, date) and not isinstance(value, datetime)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise bad("is not a date") from None
    if pd.isna(ts):
        raise bad("is empty")
    if ts.tzinfo is None:
        ts = ts.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
    return ts, day_only


def _unix(seconds: float, bad: Callable[[str], ValidationError]) -> pd.Timestamp:
    if not math.isfinite(seconds):
        raise bad("is not a finite number of seconds")
    try:
        return pd.Timestamp(seconds, unit="s", tz="UTC")
    except (ValueError, OverflowError):
        raise bad("is out of range for Unix seconds") from None


def validate_range(
    since: DateLike | None,
    until: DateLike | None,
    *,
    tz: str | None = None,
    now: Clock = _utc_now,
) -> tuple[int | None, int | None]:
    """since/until as whole Unix seconds (a day-only ``until`` is its whole day).

    Raises:
        ValidationError: a value is not a date, or since is after until.

    Example:
        >>> validate_range(1795392000, "2026-11-30")
        (1795392000, 1796083199)
    """
    since_ts = to_utc(since, "since", tz=tz, now=now)
    until_ts = to_utc(until, "until", tz=tz, now=now, end_of_day=True)
    if since_ts is not None and until_ts is not None and since_ts > until_ts:
        raise ValidationError(
            f"since ({since_ts.isoformat()}) is after until ({until_ts.isoformat()}).",
            param="since",
        )
    return (
        None if since_ts is None else math.floor(since_ts.timestamp()),
        None if until_ts is None else math.floor(until_ts.timestamp()),
    )
