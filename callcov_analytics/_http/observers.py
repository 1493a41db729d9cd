"""What a load tells its observers (`Observer`): fanned out to each, its readings kept, a bar."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from .._http.ratelimit import QuotaReading


class Observer(Protocol):
    """Receives live facts about a load (the progress bar and the quota panel implement it).

    Threading: with fetch-ahead, requests run on worker threads, and ``on_response`` and
    ``on_wait`` are called from them, one call at a time (the client serializes them with a
    lock), never concurrently. ``on_page`` comes from the loading thread. ``on_wait`` reasons:
    ``"rate limit"``, ``"retry"`` and ``"server not answering"``.
    """

    def on_response(self, reading: QuotaReading) -> None: ...
    def on_wait(self, seconds: float, reason: str) -> None: ...
    def on_page(self, pages: int, rows: int, total: int | None) -> None: ...


class Fanout:
    """Send observer events to several observers; the list's total only when it is the load's."""

    def __init__(self, observers: list[Any]) -> None:
        self.observers = observers
        self.totals = False  # set once the load knows whether it reads the whole list

    def on_response(self, reading: QuotaReading) -> None:
        for o in self.observers:
            o.on_response(reading)

    def on_wait(self, seconds: float, reason: str) -> None:
        for o in self.observers:
            o.on_wait(seconds, reason)

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        for o in self.observers:
            o.on_page(pages, rows, total if self.totals else None)


class Readings:
    """The rate-limit reading of each response of one load (its frame's attrs)."""

    def __init__(self) -> None:
        self.items: list[QuotaReading] = []

    def on_response(self, reading: QuotaReading) -> None:
        self.items.append(reading)

    def on_wait(self, seconds: float, reason: str) -> None:
        """Waits are not readings."""

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        """Pages are not readings."""


class ProgressBar:
    """tqdm progress: rows read from the API (against the list's total only when the load reads
    it all), and each wait counted down in the description, second by second.

    The count is labelled "read from the API" because it is not the frame's length: rows the
    local store already holds are not read again, and the bar's last words are the load's
    summary (``df.attrs["summary"]``: new, updated, from the local store). A wait is announced
    once (``on_wait``); a small thread re-draws the description each half second until the next
    response or page, so a minute's rate-limit wait counts down instead of looking hung.
    """

    TICK = 0.5  # seconds between re-draws during a wait
    UNKNOWN = "{desc}: {n_fmt} rows read from the API [{elapsed}{postfix}]"
    KNOWN = (
        "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} rows read from the API "
        "[{elapsed}{postfix}]"
    )

    def __init__(self, *, clock: Callable[[], float], ticker: bool = True) -> None:
        """``clock``: the client's monotonic time, which the countdown reads."""
        from tqdm.auto import tqdm

        self.bar = tqdm(desc="CallCov", bar_format=self.UNKNOWN, file=sys.stderr)
        self.finished = False
        self.clock = clock
        self._wait: tuple[float, str] | None = None  # (ends at, reason)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._tick_in_thread = ticker

    def on_response(self, reading: QuotaReading) -> None:
        self._waited()
        self.bar.set_description_str("CallCov", refresh=False)
        if reading.remaining is not None:
            self.bar.set_postfix(window_left=reading.remaining)

    def on_wait(self, seconds: float, reason: str) -> None:
        with self._lock:
            self._wait = (self.clock() + seconds, reason)
        self.tick()
        if self._tick_in_thread and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick_loop, daemon=True)
            self._ticker.start()

    def tick(self) -> None:
        """Re-draw the wait's countdown (the ticker thread calls this each `TICK`)."""
        with self._lock:
            if self._wait is None:
                return
            ends, reason = self._wait
            left = max(0.0, ends - self.clock())
            self.bar.set_description_str(f"CallCov (waiting {left:.0f} s: {reason})")

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.TICK):
            self.tick()

    def _waited(self) -> None:
        with self._lock:
            self._wait = None

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        self._waited()
        self.bar.set_description_str("CallCov", refresh=False)
        if total is not None:
            self.bar.total, self.bar.bar_format = total, self.KNOWN
        self.bar.update(rows - self.bar.n)

    def finish(self, summary: str) -> None:
        """The load ended well: a full bar that says what the load brought."""
        self._waited()
        self.finished = True
        self.bar.total = self.bar.n  # a complete load is 100%, whatever the list holds
        self.bar.bar_format = self.KNOWN if self.bar.n else self.UNKNOWN
        self.bar.set_postfix_str("", refresh=False)
        self.bar.set_description_str(f"CallCov: {summary}")

    def close(self) -> None:
        self._stop.set()
        self._waited()
        if not self.finished:
            self.bar.set_description_str("CallCov: stopped", refresh=False)
        self.bar.close()


def progress_bar(progress: bool | None, clock: Callable[[], float]) -> ProgressBar | None:
    """A bar when asked for; by default when interactive (a notebook or a terminal)."""
    if progress is None:
        progress = "ipykernel" in sys.modules or sys.stderr.isatty()
    return ProgressBar(clock=clock) if progress else None
