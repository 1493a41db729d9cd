"""The one clock of a client: wall time, monotonic time and sleep, injected from the client down.

Every reader of time in a load takes it from the client's `Clock`: the rate limiter and the
store's processing back-off (wall time), the latency record, the body deadline, fetch-ahead and
the progress bar's countdown (monotonic time), and the pauses (sleep). A test passes a fake one
whose sleep moves its own time forward at once; the sandbox can read the same fake, so a wait
for a rate-limit window takes no real time and still finds the window reset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["SYSTEM", "Clock", "SystemClock"]


class Clock(Protocol):
    """Where a client reads the time and how it waits."""

    def time(self) -> float:
        """Wall time, Unix seconds (compared with the server's clock)."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go back (durations, deadlines)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The machine's clock; ``sleep`` may be replaced (a test that records pauses).

    Only a system clock tells the real time, so only its clients share the key's rate-limit
    budget (`ratelimit.BUDGETS`): a budget keeps local times, which a fake clock's would spoil.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sleep = sleep

    def __repr__(self) -> str:
        return "SystemClock()" if self.sleep is time.sleep else f"SystemClock(sleep={self.sleep!r})"

    def time(self) -> float:
        """`time.time`."""
        return time.time()

    def monotonic(self) -> float:
        """`time.monotonic`."""
        return time.monotonic()


SYSTEM = SystemClock()
