"""Observers the tests and benchmarks share (plain Python: no pytest, importable from bench/)."""

from __future__ import annotations

from callcov_analytics import QuotaReading


class StopAfter:
    """An observer that presses Ctrl-C once ``pages`` pages have been read."""

    def __init__(self, pages: int) -> None:
        self.pages = pages

    def on_response(self, reading: QuotaReading) -> None:
        """Responses do not stop a load."""

    def on_wait(self, seconds: float, reason: str) -> None:
        """Waits do not stop a load."""

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        if pages >= self.pages:
            raise KeyboardInterrupt


class Waits:
    """An observer that keeps every wait the client chose: ``(seconds, reason)``."""

    def __init__(self) -> None:
        self.waits: list[tuple[float, str]] = []

    def on_response(self, reading: QuotaReading) -> None:
        """Responses are not waits."""

    def on_wait(self, seconds: float, reason: str) -> None:
        self.waits.append((seconds, reason))

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        """Pages are not waits."""
