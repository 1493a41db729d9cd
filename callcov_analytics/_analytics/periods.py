"""Periods of ``created`` in the analyst's zone, on pandas and on the other engines."""

from __future__ import annotations

from typing import Any

import narwhals as nw
import pandas as pd

from callcov_analytics._analytics.engines import Frame
from callcov_analytics._dates import check_tz
from callcov_analytics._errors import UnsupportedEngineError, ValidationError


def zone_of(df: Any, tz: str | None) -> str:
    """The zone to bucket in: ``tz``, else the one the frame was loaded with, else UTC."""
    attrs = df.attrs if isinstance(df, pd.DataFrame) else {}
    return check_tz(tz if tz is not None else attrs.get("tz"))


def in_zone(starts: Any, tz: str) -> Any:
    """Wall-clock period starts in ``tz`` as aware timestamps (DST gaps move forward)."""
    return starts.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")


def period_starts(created: pd.Series, freq: str, tz: str = "UTC") -> pd.Series:
    """The start (in ``tz``) of the ``freq`` period ("D", "W", "M", ...) holding each time."""
    starts: pd.Series = in_zone(to_periods(created, freq, tz).dt.start_time.dt, tz)
    return starts


def to_periods(created: pd.Series, freq: str, tz: str = "UTC") -> pd.Series:
    """``created`` as pandas Periods of ``freq`` on ``tz``'s wall clock; ValidationError if bad."""
    try:
        # to_period on a tz-aware column warns that it drops the zone: drop it ourselves.
        periods: pd.Series = created.dt.tz_convert(tz).dt.tz_localize(None).dt.to_period(freq)
        return periods
    except ValueError as exc:
        raise ValidationError(
            f"unknown period {freq!r}: use a pandas period alias such as 'D', 'W' or 'M'",
            param="freq",
        ) from exc


# The periods other engines bucket by (their date_trunc units); weeks start on Monday.
TRUNCATE = {"h": "1h", "D": "1d", "W": "1d", "M": "1mo", "Q": "1q", "Y": "1y"}


def with_period(frame: Frame, df: Any, freq: str, tz: str) -> Frame:
    """``frame`` plus ``period``: the start of the ``freq`` period of ``created`` in ``tz``.

    pandas buckets with its Periods (any alias, DST-aware wall clock); other engines with
    their own date_trunc, for the aliases in `TRUNCATE`.
    """
    if isinstance(df, pd.DataFrame):
        starts = period_starts(df["created"], freq, tz)
        return frame.with_columns(nw.from_native(starts.rename("period"), series_only=True))
    if freq not in TRUNCATE:
        raise ValidationError(
            f"period {freq!r} on this engine: use one of {', '.join(TRUNCATE)}", param="period"
        )
    created = nw.col("created")
    try:
        local = created if tz == "UTC" else created.dt.convert_time_zone(tz)
        day = local.dt.truncate(TRUNCATE[freq])
        if freq == "W":  # back to Monday
            # weekday() is 1 (Monday) to 7, but 0 for Sunday on Spark (Narwhals 2.29): % 7
            # makes Sunday 0 on every engine.
            weekday = day.dt.weekday() % 7
            start = day
            for back in range(1, 7):  # Tuesday (2) is 1 day back ... Sunday (0) is 6
                start = (
                    nw.when(weekday == (back + 1) % 7)
                    .then(day.dt.offset_by(f"-{back}d"))
                    .otherwise(start)
                )
            day = start
        return frame.with_columns(day.alias("period"))
    except NotImplementedError as exc:
        raise UnsupportedEngineError(
            f"tz={tz!r} on this engine: {exc} Bucket in UTC (tz='UTC'), or set the engine's "
            "session time zone and pass its local times",
            param="tz",
        ) from None
