"""How fast the server answers this client: the smoothed round trip and the read timeout.

A stalled answer (a load balancer holding the connection) should cost seconds, not the full
configured read timeout, and a server that answers nothing should be reported within a minute.
So the read timeout adapts to what this client has seen:

* before any answer: a third of the configured ``read_timeout`` (10 s by default);
* after answers: ``MULTIPLE`` (5) x the slowest time-to-headers seen, at least ``FLOOR`` (1 s)
  times how many times over its cores this machine is loaded (the 1-minute load average), and
  at most the configured ``read_timeout`` (30 s by default). The floor judges the server, not
  this machine: on a laptop loaded to several times its cores an answer that is on its way can
  take seconds to be read, and abandoning it pays for the same page twice (on the Free plan,
  possibly a whole 60-s window); on a quiet machine a stall still costs only a second;
* the client stops retrying once nothing has answered for ``SILENCE`` seconds: the configured
  ``read_timeout``, at least 20 s (30 s by default: three 10 s tries against a server that
  never answers, so it fails in about half a minute and says so). The 20 s keep a short
  configured timeout from giving up on a few stalls in a row.

Thread-safe: the fetch-ahead threads share one instance through their client. ``clock`` is
the client's monotonic time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["FLOOR", "MULTIPLE", "SILENCE_FLOOR", "Latency"]

MULTIPLE = 5.0
FLOOR = 1.0
SILENCE_FLOOR = 20.0


class Latency:
    """Round trips of one client, and the read timeout they justify."""

    def __init__(self, read_timeout: float, clock: Callable[[], float]) -> None:
        self.ceiling = read_timeout
        self.silence = max(read_timeout, SILENCE_FLOOR)  # unanswered this long: stop retrying
        self._now = clock
        self._lock = threading.Lock()
        self._smoothed: float | None = None
        self._slowest = 0.0
        self._last_answer: float | None = None
        self._silent_since: float | None = None  # first unanswered try since the last answer

    @property
    def smoothed(self) -> float | None:
        """Seconds per request, body included, smoothed (None before any answer)."""
        with self._lock:
            return self._smoothed

    def answered(self, to_headers: float, total: float) -> None:
        """Record one answer: seconds until its headers, and until its body was read."""
        with self._lock:
            self._slowest = max(self._slowest, to_headers)
            s = self._smoothed
            self._smoothed = total if s is None else 0.8 * s + 0.2 * total
            self._last_answer, self._silent_since = self._now(), None

    def read_timeout(self) -> float:
        """Seconds to wait for the next answer's headers."""
        with self._lock:
            if self._last_answer is None and self._slowest == 0.0:
                return self.ceiling / 3
            return min(self.ceiling, max(FLOOR * busy(), MULTIPLE * self._slowest))

    def unanswered(self, waited: float) -> None:
        """Record a try that got no answer within ``waited`` seconds (it timed out)."""
        with self._lock:
            if self._silent_since is None:
                self._silent_since = self._now() - waited

    def silent_for(self) -> float:
        """Seconds of unanswered tries since the last answer (0 when the last try answered)."""
        with self._lock:
            return 0.0 if self._silent_since is None else self._now() - self._silent_since


def busy() -> float:
    """How many times over its cores this machine is loaded: at least 1.0 (also when unknown)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return 1.0
    return max(1.0, load / (os.cpu_count() or 1))
