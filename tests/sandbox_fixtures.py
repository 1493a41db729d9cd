"""Sandbox fixtures (owned by the sandbox work; other tests use them).

- `sandbox`: a running starter-plan sandbox with a 2 s window and 250 analyses.
- `sandbox_factory`: `sandbox_factory(**serve_kwargs)` starts more; all stop at teardown.
- `other_origin`: a second sandbox on 127.0.0.2, to catch keys leaked across origins.
- `fake_clock`: a settable `FakeClock` for `serve(clock=...)`; it never sleeps.
- `sandbox_app`: the WSGI app alone (no socket), for in-process tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from callcov_analytics.sandbox import Sandbox, SandboxApp, make_app, serve

# 2023-11-14 22:13:20 UTC: a fixed, ordinary weekday moment.
FAKE_EPOCH = 1_700_000_000.0


class FakeClock:
    """A server clock that moves only when told to."""

    def __init__(self, now: float = FAKE_EPOCH) -> None:
        """Start at `now` (Unix seconds)."""
        self.now = now

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds

    def set(self, now: float) -> None:
        """Jump to `now`."""
        self.now = now


@pytest.fixture
def fake_clock() -> FakeClock:
    """A FakeClock at FAKE_EPOCH."""
    return FakeClock()


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with `serve()` arguments (small defaults); stop them all afterwards."""
    started: list[Sandbox] = []

    def start(plan: str = "starter", **kwargs: Any) -> Sandbox:
        kwargs.setdefault("n_analyses", 250)
        kwargs.setdefault("window_seconds", 2.0)
        api = serve(plan, **kwargs).start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.close()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A running starter-plan sandbox: 2 s window, 250 analyses, seed 7."""
    return sandbox_factory()


@pytest.fixture
def other_origin(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A second sandbox on another loopback address; its log shows any auth it received."""
    return sandbox_factory(host="127.0.0.2", n_analyses=5)


@pytest.fixture
def sandbox_app(fake_clock: FakeClock) -> SandboxApp:
    """The WSGI app with a fake clock, for tests that call it in-process."""
    return make_app("starter", n_analyses=50, clock=fake_clock)
