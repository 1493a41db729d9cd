"""What the default progress bar shows: a countdown during a wait, counts matching the summary."""

from __future__ import annotations

import re

import pytest

from callcov_analytics import load_calls
from callcov_analytics._http.observers import ProgressBar
from callcov_analytics.sandbox import serve


def test_a_wait_counts_down_as_the_clock_moves() -> None:
    now = [1000.0]
    bar = ProgressBar(clock=lambda: now[0], ticker=False)
    bar.on_page(1, 891, None)
    bar.on_wait(59.4, "rate limit")
    assert "CallCov (waiting 59 s: rate limit): 891 rows read from the API" in str(bar.bar)
    shown = []
    for _ in range(3):
        now[0] += 1.0
        bar.tick()  # what the ticker thread does each half second
        shown.append(re.search(r"waiting (\d+) s", str(bar.bar)).group(1))  # type: ignore[union-attr]
    assert shown == ["58", "57", "56"]
    bar.on_page(2, 1782, None)  # the wait is over: no countdown left behind
    now[0] += 5
    bar.tick()
    assert "waiting" not in str(bar.bar) and "1782 rows read from the API" in str(bar.bar)
    bar.close()


def test_a_real_window_wait_is_redrawn_and_the_bar_ends_with_the_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 2-second window (not a minute): the bar shows more than one countdown value."""
    with serve(plan="free", n_analyses=1500, window_seconds=2, limit=1) as api:
        df = load_calls(api.key, api.url, progress=True, limit=500)
        again = load_calls(api.key, api.url, progress=True, limit=500)
    err = capsys.readouterr().err
    counted = {int(s) for s in re.findall(r"waiting (\d+) s: rate limit", err)}
    assert len(counted) >= 2, err[-2000:]  # redrawn while waiting, not one frozen figure
    assert df.attrs["summary"].startswith("1,500 new")
    assert f"CallCov: {df.attrs['summary']}: " in err
    assert "| 1500/1500 rows read from the API [" in err
    # The repeat reads one page from the API and the rest from the store; the bar says which.
    assert "from the local store" in again.attrs["summary"]
    assert f"CallCov: {again.attrs['summary']}: " in err
