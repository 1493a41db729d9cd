"""A live sandbox: new calls arrive while it runs, and processing analyses complete.

Off by default (``arrivals_per_minute=0``), so tests see the same data on every request unless
they ask for churn. On, each arrival is a new analysis in ``processing`` created at its own
arrival time, evenly spaced at the given rate, and every processing analysis completes (a few
fail) 20-90 seconds after it arrived, or after the sandbox started for those in the generated
history. The work happens when a request comes in, so an idle sandbox costs nothing.
"""

from __future__ import annotations

import random
import threading

from .data import Dataset

FAIL_SHARE = 0.04  # analyses that end "failed" (audio that cannot be decoded, ...)
PROCESSING_SECONDS = (20.0, 90.0)
MAX_BURST = 500  # arrivals added by one request after a long idle spell


class Arrivals:
    """The clock-driven changes of a live sandbox's dataset."""

    def __init__(self, data: Dataset, per_minute: float, started: float, seed: int) -> None:
        """Start counting arrivals at server time `started`."""
        self.data, self.per_minute, self.started = data, per_minute, started
        self.arrived = 0
        self._rng = random.Random(seed + 3)
        self._lock = threading.Lock()
        self._done_at: dict[int, float] = {}  # processing key -> when it completes
        if per_minute > 0:
            for key in data.live_keys():
                if data.meta(key).status == "processing":
                    self._done_at[key] = started + self._rng.uniform(*PROCESSING_SECONDS)

    def advance(self, now: float) -> None:
        """Add the calls that arrived by `now`, then complete the analyses that are done."""
        if self.per_minute <= 0:
            return
        with self._lock:
            due = int((now - self.started) * self.per_minute / 60) - self.arrived
            first = max(self.arrived + 1, self.arrived + due - MAX_BURST + 1)
            for n in range(first, self.arrived + due + 1):
                at = self.started + n * 60 / self.per_minute
                (key,) = self.data.insert(1, at, "processing")
                self._done_at[key] = at + self._rng.uniform(*PROCESSING_SECONDS)
            self.arrived = max(self.arrived, self.arrived + due)
            for key, done in sorted(self._done_at.items(), key=lambda kv: kv[1]):
                if done > now:
                    continue
                del self._done_at[key]
                if self.data.key_of(self.data.id_of(key)) is not None:  # not deleted since
                    failed = self._rng.random() < FAIL_SHARE
                    self.data.set_status(key, "failed" if failed else "completed", done)
