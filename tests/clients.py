"""The one client factory of the tests: a client of a sandbox whose pauses are never slept."""

from __future__ import annotations

from typing import Any

from callcov_analytics import CallCovClient
from callcov_analytics.sandbox import Sandbox


def client_for(api: Sandbox, key: str | None = None, **kwargs: Any) -> CallCovClient:
    """A client of ``api`` (its key unless ``key``); the pauses it asks for go to ``.waits``."""
    waits: list[float] = []
    client = CallCovClient(key or api.key, api.url, sleep=waits.append, **kwargs)
    client.waits = waits  # type: ignore[attr-defined]
    return client
