"""CALLCOV_SANDBOX_ANCHOR: the sandbox's data as on another day, for running the suite so."""

from __future__ import annotations

import pytest

from callcov_analytics.sandbox import serve
from callcov_analytics.sandbox.app import ANCHOR_ENV, anchor_from_env

NOW = 1_764_000_000.0  # 2025-11-24 16:00 UTC, a Monday


@pytest.mark.parametrize(
    ("value", "anchor"),
    [
        ("", NOW),
        ("1700000000", 1_700_000_000),
        ("2026-11-28T07:30:00Z", 1_795_851_000),
        ("2026-11-28T07:30:00", 1_795_851_000),
        ("-3d", NOW - 3 * 86400),
        ("+30h", NOW + 30 * 3600),
        ("-1.5d", NOW - 1.5 * 86400),
    ],
)
def test_the_anchor_variable_takes_seconds_iso_or_a_shift(
    monkeypatch: pytest.MonkeyPatch, value: str, anchor: float
) -> None:
    monkeypatch.setenv(ANCHOR_ENV, value)
    assert anchor_from_env(NOW) == int(anchor)


def test_a_bad_anchor_says_what_it_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ANCHOR_ENV, "last tuesday")
    with pytest.raises(ValueError, match=r"ISO-8601.*-3d"):
        anchor_from_env(NOW)


def test_serve_anchors_its_data_where_the_variable_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ANCHOR_ENV, "1700000000")
    with serve(n_analyses=200) as api:
        created = [r["created"] for r in api.records()]
    assert max(created) <= 1_700_000_000 and min(created) > 1_700_000_000 - 7 * 7 * 86400
    # the same seed and anchor: the same data, whatever day the test runs
    with serve(n_analyses=200) as again:
        assert again.ids() == api.ids()
