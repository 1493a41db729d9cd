"""Sandbox fixtures (owned by the sandbox work; other tests use them).

- `sandbox`: a running starter-plan sandbox with a 2 s window and 250 analyses.
- `sandbox_factory`: `sandbox_factory(**serve_kwargs)` starts more; all stop at teardown.
- `other_origin`: a second sandbox on 127.0.0.2, to catch keys leaked across origins.
- `fake_clock`: one `FakeClock` for both sides: the sandbox's (`serve(clock=...)`) and a
  client's (`client_for(api, clock=...)`), whose sleeps move it forward at once.
- `sandbox_app`: the WSGI app alone (no socket), for in-process tests.
- `inprocess`: `inprocess(plan, **app_kwargs)` makes sandboxes on the fake clock that never
  listen: `client_for` mounts their app into its Session (`tests.seam`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from callcov_analytics.sandbox import Sandbox, SandboxApp, make_app, serve
from tests.seam import in_process

# 2023-11-14 22:13:20 UTC: a fixed, ordinary weekday moment.
FAKE_EPOCH = 1_700_000_000.0


class FakeClock:
    """A clock that moves only when told to, or when a client sleeps on it.

    Called, it is the sandbox's clock; as a `Clock` (time, monotonic, sleep) it is a client's.
    A sleep moves the time to the sleeper's wake-up at once, so a client waiting for a window's
    reset finds the sandbox on the same clock past it. Sleeps of concurrent threads add up
    (fetch-ahead threads that would have slept side by side): time only runs later, never early.
    """

    def __init__(self, now: float = FAKE_EPOCH) -> None:
        """Start at `now` (Unix seconds)."""
        self.now = now
        self.slept: list[float] = []  # every sleep asked for, in order
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def time(self) -> float:
        """Wall time: the fake time."""
        return self.now

    def monotonic(self) -> float:
        """Monotonic time: the fake time (it never goes back unless a test `set`s it so)."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the pause and pass it at once."""
        with self._lock:
            self.slept.append(seconds)
            self.now += max(0.0, seconds)

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
def inprocess(fake_clock: FakeClock) -> Callable[..., Sandbox]:
    """Make in-process sandboxes on `fake_clock` (defaults as `sandbox_factory`'s)."""

    def make(plan: str = "starter", **kwargs: Any) -> Sandbox:
        kwargs.setdefault("n_analyses", 250)
        kwargs.setdefault("window_seconds", 2.0)
        return in_process(SandboxApp(plan, clock=fake_clock, **kwargs))

    return make


@pytest.fixture
def sandbox_app(fake_clock: FakeClock) -> SandboxApp:
    """The WSGI app with a fake clock, for tests that call it in-process."""
    return make_app("starter", n_analyses=50, clock=fake_clock)
