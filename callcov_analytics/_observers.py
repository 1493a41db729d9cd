"""What a load tells its observers (`Observer`): fanned out to each, its readings kept, a bar."""

from __future__ import annotations

import sys
from typing import Any, Protocol

from ._ratelimit import QuotaReading


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
    """tqdm progress: rows read (against a total only when known), waits in the description."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(unit=" calls", desc="CallCov", file=sys.stderr)
        self.finished = False

    def on_response(self, reading: QuotaReading) -> None:
        self.bar.set_description("CallCov", refresh=False)
        if reading.remaining is not None:
            self.bar.set_postfix(window_left=reading.remaining)

    def on_wait(self, seconds: float, reason: str) -> None:
        self.bar.set_description(f"CallCov (waiting {seconds:.1f} s: {reason})")

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        self.bar.set_description("CallCov", refresh=False)
        if total is not None:
            self.bar.total = total
        self.bar.update(rows - self.bar.n)

    def finish(self, summary: str) -> None:
        """The load ended well: a full bar that says what the load brought."""
        self.finished = True
        self.bar.total = self.bar.n  # a complete load is 100%, whatever the list holds
        self.bar.set_postfix_str("", refresh=False)
        self.bar.set_description(f"CallCov: {summary}")

    def close(self) -> None:
        if not self.finished:
            self.bar.set_description("CallCov: stopped", refresh=False)
        self.bar.close()


def progress_bar(progress: bool | None) -> ProgressBar | None:
    """A bar when asked for; by default when interactive (a notebook or a terminal)."""
    if progress is None:
        progress = "ipykernel" in sys.modules or sys.stderr.isatty()
    return ProgressBar() if progress else None
