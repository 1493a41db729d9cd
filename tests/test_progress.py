"""What the default progress bar shows: a countdown during a wait, counts matching the summary."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest

from callcov_analytics import load_calls
from callcov_analytics._http.observers import ProgressBar
from callcov_analytics.sandbox import Sandbox
from tests.clients import client_for
from tests.sandbox_fixtures import FakeClock


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


def test_the_ticker_thread_redraws_a_wait_as_the_clock_moves(fake_clock: FakeClock) -> None:
    bar = ProgressBar(clock=fake_clock.monotonic)  # the real ticker thread, a fake clock
    try:
        bar.on_wait(59.4, "rate limit")
        assert "waiting 59 s: rate limit" in str(bar.bar)
        fake_clock.advance(10)
        # Nothing but the ticker thread re-draws now: wait (polling) until it has.
        for _ in range(200):
            if "waiting 49 s" in str(bar.bar):
                break
            threading.Event().wait(0.05)
        assert "waiting 49 s: rate limit" in str(bar.bar)
    finally:
        bar.close()


def test_a_window_wait_is_shown_and_the_bar_ends_with_the_summary(
    capsys: pytest.CaptureFixture[str], inprocess: Callable[..., Sandbox], fake_clock: FakeClock
) -> None:
    """One request per 2-s window, in-process on one fake clock: the waits pass at once."""
    api = inprocess(plan="free", n_analyses=1500, window_seconds=2, limit=1)
    client = client_for(api, clock=fake_clock)
    df = load_calls(client=client, progress=True, limit=500)
    waits = list(fake_clock.slept)
    again = load_calls(client=client, progress=True, limit=500)
    err = capsys.readouterr().err
    shown = [int(s) for s in re.findall(r"waiting (\d+) s: rate limit", err)]
    # Each window wait the client slept is announced on the bar with its length; any redraw
    # of the ticker thread during a wait shows what is left of it, never more.
    assert waits and {round(w) for w in waits} <= set(shown)
    assert all(0 <= s <= max(waits) for s in shown) and len(shown) >= len(waits)
    assert df.attrs["summary"].startswith("1,500 new")
    assert f"CallCov: {df.attrs['summary']}: " in err
    assert "| 1500/1500 rows read from the API [" in err
    # The repeat reads one page from the API and the rest from the store; the bar says which.
    assert "from the local store" in again.attrs["summary"]
    assert f"CallCov: {again.attrs['summary']}: " in err
