"""since/until in every form, read against a pinned clock, and days in the analyst's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from callcov_analytics import ValidationError, load_calls, metrics, sandbox
from callcov_analytics._dates import to_utc, validate_range

# A summer afternoon: London is UTC+1, so its days and UTC's differ by an hour.
NOW = datetime(2026, 7, 15, 14, 30, 5, tzinfo=UTC)
LONDON = "Europe/London"


def now() -> datetime:
    return NOW


def seconds(ts: str) -> int:
    return int(pd.Timestamp(ts).timestamp())


def test_unix_seconds_are_seconds_not_nanoseconds() -> None:
    epoch = 1_795_392_000  # 2026-11-23T00:00:00Z
    assert validate_range(epoch, epoch + 60) == (epoch, epoch + 60)
    assert validate_range(float(epoch) + 0.9, None) == (epoch, None)  # floats floor to seconds
    assert validate_range(f"@{epoch}", None) == (epoch, None)  # the CLI's spelling
    assert to_utc(epoch, "since") == pd.Timestamp("2026-11-23T00:00:00Z")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", "2026-07-08T14:30:05Z"),
        ("24h", "2026-07-14T14:30:05Z"),
        ("2w", "2026-07-01T14:30:05Z"),
        ("30min", "2026-07-15T14:00:05Z"),
        ("now", "2026-07-15T14:30:05Z"),
        (" 7D ", "2026-07-08T14:30:05Z"),
        ("today", "2026-07-14T23:00:00Z"),  # London midnight
        ("yesterday", "2026-07-13T23:00:00Z"),
        ("2026-07-01", "2026-06-30T23:00:00Z"),  # naive dates are London's
        ("2026-07-01T09:00", "2026-07-01T08:00:00Z"),
        ("2026-07-01T09:00Z", "2026-07-01T09:00:00Z"),  # an explicit zone wins
        (date(2026, 7, 1), "2026-06-30T23:00:00Z"),
        (datetime(2026, 7, 1, 9), "2026-07-01T08:00:00Z"),
    ],
)
def test_since_forms_in_london(value: object, expected: str) -> None:
    since, _ = validate_range(value, None, tz=LONDON, now=now)  # type: ignore[arg-type]
    assert since == seconds(expected)


def test_until_a_day_means_the_whole_day() -> None:
    assert validate_range(None, "yesterday", tz=LONDON, now=now)[1] == seconds(
        "2026-07-14T22:59:59Z"
    )
    assert validate_range(None, "today", now=now)[1] == seconds("2026-07-15T23:59:59Z")
    assert validate_range(None, "2026-07-01", tz=LONDON)[1] == seconds("2026-07-01T22:59:59Z")
    assert validate_range("yesterday", "yesterday", now=now) == (
        seconds("2026-07-14T00:00:00Z"),
        seconds("2026-07-14T23:59:59Z"),
    )
    assert validate_range(None, "24h", now=now)[1] == seconds("2026-07-14T14:30:05Z")


def test_utc_is_the_default_zone() -> None:
    assert validate_range("today", None, now=now)[0] == seconds("2026-07-15T00:00:00Z")
    assert validate_range("2026-07-01", None)[0] == seconds("2026-07-01T00:00:00Z")


@pytest.mark.parametrize(
    ("since", "until", "param"),
    [
        ("next tuesday", None, "since"),
        ("7 days", None, "since"),
        ("30m", None, "since"),  # minutes or months? refused
        ("", None, "since"),
        (True, None, "since"),
        (float("nan"), None, "since"),
        (10**20, None, "since"),
        ("@soon", None, "since"),
        (None, "2026-13-01", "until"),
        (None, "never", "until"),
        ("today", "7d", "since"),  # since after until
    ],
)
def test_bad_dates_name_the_parameter(since: object, until: object, param: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_range(since, until, now=now)  # type: ignore[arg-type]
    assert info.value.param == param
    assert param in str(info.value)


def test_unknown_zone_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="Europe/London") as info:
        validate_range("today", None, tz="Mars/Olympus")
    assert info.value.param == "tz"


def test_load_calls_reads_int_since_as_seconds_and_days_in_the_zone() -> None:
    with sandbox.serve(plan="enterprise", n_analyses=200) as api:
        full = load_calls(api.key, api.url, cache=False, progress=False)
        cut = full["created"].sort_values().iloc[len(full) // 2]
        epoch = int(cut.timestamp())
        since = load_calls(api.key, api.url, since=epoch, cache=False, progress=False)
        local = load_calls(api.key, api.url, tz=LONDON, cache=False, progress=False)
    expected = full[full["created"] >= pd.Timestamp(epoch, unit="s", tz="UTC")]
    assert 0 < len(since) == len(expected) < len(full)
    assert since.attrs["query"]["since"] == epoch
    assert local.attrs["tz"] == LONDON and full.attrs["tz"] == "UTC"

    # Days are London's when the frame was loaded with tz (or tz= is passed), UTC otherwise.
    for frame, zone in ((local, LONDON), (full, "UTC")):
        table = metrics.volume(frame)
        assert str(table["period"].dt.tz) == zone
        days = frame["created"].dt.tz_convert(zone).dt.date.value_counts()
        counted = dict(zip(table["period"].dt.date, table["calls"], strict=True))
        assert {d: n for d, n in counted.items() if n} == days.to_dict()
    from callcov_analytics.plots import plot_volume

    assert plot_volume(local).axes[0].get_xlabel() == f"Day ({LONDON})"
    assert plot_volume(full).axes[0].get_xlabel() == "Day (UTC)"
    explicit = metrics.volume(full, tz=LONDON)
    pd.testing.assert_frame_equal(explicit, metrics.volume(local))
    weekly = metrics.agent_scorecard(full, period="W", tz=LONDON, detail=True)
    assert str(weekly["period"].dt.tz) == LONDON
    starts = weekly["period"].dropna()  # calls without `created` have no week
    assert len(starts) and (starts.dt.day_of_week == 0).all() and (starts.dt.hour == 0).all()


def test_hours_are_wall_clock_across_both_clock_changes() -> None:
    with sandbox.serve(plan="enterprise", n_analyses=20) as api:
        base = load_calls(api.key, api.url, cache=False, progress=False).head(4).copy()
    times = ["2026-03-29T00:30Z", "2026-03-29T01:30Z", "2026-10-25T00:30Z", "2026-10-25T01:30Z"]
    base["created"] = pd.to_datetime(times, utc=True).astype(base["created"].dtype)
    spring = metrics.volume(base.head(2), "h", tz=LONDON)
    assert spring["period"].is_unique and spring["calls"].sum() == 2
    # 01:00-02:00 does not exist in London that night: 00:30 GMT, then 02:30 BST.
    hours = dict(zip(spring["period"].dt.strftime("%H:%M%z"), spring["calls"], strict=True))
    assert hours == {"00:00+0000": 1, "02:00+0100": 1}
    autumn = metrics.volume(base.tail(2), "h", tz=LONDON)
    assert autumn["calls"].tolist() == [2]  # 01:30 BST and 01:30 GMT: one wall-clock hour
