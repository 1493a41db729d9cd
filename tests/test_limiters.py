"""Pacing against the rate limiters real APIs deploy, started on 127.0.0.1 (tests/limiter_apps.py).

Windows are scaled down (1 s) and the data small (a few pages a window), so each case takes a
few seconds. Assertions are on rows and on the servers' own 429 counts, never on wall time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import callcov_analytics as cca
from callcov_analytics import CallCovClient
from tests import limiter_apps

N, PAGE = 250, 50  # 6 requests: two windows of 3 (1 s windows, each ending 1-2 s late)


def crawl(tmp_path: Path, kind: str, limits: str, **options: object) -> tuple[bool, int, int]:
    """Load everything from one fresh server: (rows exact, requests, 429s) from its log."""
    with limiter_apps.serve(kind, tmp_path, limits=limits, n=N, **options) as server:
        with CallCovClient(server.key, server.url) as client:
            df = cca.load_calls(client=client, limit=PAGE, cache=False, progress=False)
        log = server.log()
        exact = df["id"].tolist() == server.ids()
    return exact, len(log), sum(e["status"] == 429 for e in log)


@pytest.mark.parametrize(
    ("kind", "limits", "strategy", "most_429s"),
    [
        ("slowapi", "3/1 second", "fixed-window", 0),
        ("flask", "3 per 1 second", "fixed-window", 0),
        ("slowapi", "3/1 second", "moving-window", 1),
        ("flask", "3 per 1 second", "moving-window", 1),
        ("slowapi", "3/1 second", "sliding-window-counter", 1),
        ("flask", "3 per 1 second", "sliding-window-counter", 1),
    ],
)
def test_each_strategy_loads_every_row_with_at_most_its_429s(
    tmp_path: Path, kind: str, limits: str, strategy: str, most_429s: int
) -> None:
    exact, requests, throttled = crawl(tmp_path, kind, limits, strategy=strategy)
    assert exact
    assert throttled <= most_429s, f"{throttled} x 429 in {requests} requests"


@pytest.mark.parametrize(
    ("kind", "limits"),
    [("slowapi", "3/1 second;4/4 seconds"), ("flask", "3 per 1 second;4 per 4 seconds")],
)
def test_a_hidden_second_limit_costs_one_429(tmp_path: Path, kind: str, limits: str) -> None:
    # The headers show only the 1 s limit until the 4 s one is breached; its 429 is remembered.
    exact, requests, throttled = crawl(tmp_path, kind, limits)
    assert exact
    assert throttled <= 1, f"{throttled} x 429 in {requests} requests"


@pytest.mark.parametrize("headers", ["draft", "structured"])
def test_ietf_draft_headers_pace_like_the_classic_ones(tmp_path: Path, headers: str) -> None:
    exact, requests, throttled = crawl(tmp_path, "slowapi", "3/1 second", headers=headers)
    assert exact
    assert throttled == 0, f"{throttled} x 429 in {requests} requests"


@pytest.mark.slow  # the bench's case as it is: about 20 s of real 4-s windows
def test_a_moving_window_with_slow_answers_costs_at_most_one_429(tmp_path: Path) -> None:
    # Answers that take 0.9 s spread the requests over the window, so its slots free one by
    # one, and requests of the window before still hold slots when the reset passes (the
    # client sent 2-4 x 429 here when it counted only the ending window's requests).
    with limiter_apps.serve(
        "flask", tmp_path, limits="6 per 4 seconds", strategy="moving-window", n=12_000,
        latency=0.9,
    ) as server:  # fmt: skip
        with CallCovClient(server.key, server.url) as client:
            df = cca.load_calls(client=client, limit=500, cache=False, progress=False)
        log = server.log()
        assert df["id"].tolist() == server.ids()
    throttled = sum(e["status"] == 429 for e in log)
    assert throttled <= 1, f"{throttled} x 429 in {len(log)} requests"
