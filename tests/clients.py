"""The one client factory of the tests: a client of a sandbox whose pauses are never slept."""

from __future__ import annotations

from typing import Any

from callcov_analytics import CallCovClient
from callcov_analytics._clock import Clock, SystemClock
from callcov_analytics.sandbox import Sandbox
from tests.seam import is_in_process, mount


def client_for(
    api: Sandbox, key: str | None = None, *, clock: Clock | None = None, **kwargs: Any
) -> CallCovClient:
    """A client of ``api`` (its key unless ``key``); the pauses it asks for go to ``.waits``.

    With a ``clock`` (a `FakeClock`, say) the client times and sleeps on it; without, on the
    system's time with sleeps recorded, not slept. An in-process sandbox (`tests.seam`) is
    mounted into the client's Session.
    """
    waits: list[float] = []
    if clock is None:
        clock = SystemClock(sleep=waits.append)
    else:
        waits = clock.slept  # type: ignore[attr-defined]
    client = CallCovClient(key or api.key, api.url, clock=clock, **kwargs)
    if is_in_process(api):
        mount(client.session, api)
    client.waits = waits  # type: ignore[attr-defined]
    return client
