"""The live quota panel: requests used and left, a countdown while waiting, pages, rows, ETA."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._http.ratelimit import QuotaReading, daily_quota_for
from .._load.quota import duration as _duration
from .._load.quota import next_utc_midnight
from ._ipy import ipywidgets as _ipywidgets

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# -- live quota panel ---------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class QuotaPanel:
    """Live quota and progress while ``load_calls(observer=panel)`` runs.

    Args:
        daily_quota: the plan's requests per day; default from the window limit of the
            documented plans (10 → 1,000, 60 → 10,000, 300 → 100,000).
        tick: seconds between countdown updates while waiting (1 s; shorter for short waits).
        clock: injectable for tests.

    Example::

        panel = QuotaPanel()
        display(panel)
        df = load_calls(observer=panel)
        panel.plot()
    """

    def __init__(
        self,
        *,
        daily_quota: int | None = None,
        tick: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        w = _ipywidgets()
        self._daily_quota = daily_quota
        self._tick = tick
        self._clock = clock
        self._lock = threading.RLock()
        self.readings: list[QuotaReading] = []
        self.waits: list[tuple[float, float, str]] = []  # (local start, seconds, reason)
        self.pages = 0
        self.rows = 0
        self.total: int | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.state = "ready"
        self.summary = ""  # what the load brought, once it is done (the frame's attrs)
        self._wait_until: float | None = None
        self._wait_reason = ""
        self._ticker: threading.Thread | None = None
        self._wake = threading.Event()
        self.heading = w.HTML(value="<b>CallCov load</b>")
        self.table = w.HTML()
        self.status = w.HTML()
        self.progress = w.IntProgress(
            value=0,
            min=0,
            max=1,
            description="rows",
            bar_style="info",
            layout=w.Layout(width="30em"),
        )
        self.box = w.VBox([self.heading, self.progress, self.table, self.status])
        self._render()

    # -- Observer -----------------------------------------------------------------------------

    def on_response(self, reading: QuotaReading) -> None:
        """One response arrived (called by the client)."""
        with self._lock:
            if self.started_at is None:
                self.started_at = reading.at - reading.waited
            self.state = "loading"
            self.readings.append(reading)
            self._wait_until = None
            self._render()

    def on_wait(self, seconds: float, reason: str) -> None:
        """The client is about to sleep ``seconds``; start the countdown."""
        now = self._clock()
        with self._lock:
            if self.started_at is None:
                self.started_at = now
            self.waits.append((now, seconds, reason))
            self._wait_until = now + seconds
            self._wait_reason = reason
            self._render()
            if self._ticker is None or not self._ticker.is_alive():
                self._wake.clear()
                self._ticker = threading.Thread(
                    target=self._count_down, daemon=True, name="callcov-quota-countdown"
                )
                self._ticker.start()

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        """A page was merged into the result."""
        with self._lock:
            self.pages, self.rows, self.total = pages, rows, total
            self._wait_until = None
            self._render()

    # -- running a load -----------------------------------------------------------------------

    def load(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """``load_calls(*args, observer=self, progress=False, **kwargs)``, then mark it done."""
        from .._load.loaders import load_calls

        kwargs.setdefault("progress", False)
        try:
            frame = load_calls(*args, observer=self, **kwargs)
        except BaseException as exc:
            self.finish(error=exc)
            raise
        self.finish(frame)
        return frame

    def finish(self, result: Any = None, *, error: BaseException | None = None) -> None:
        """Mark the load as ended: pass the frame (its summary is shown) or the error.

        ``load()`` does this; after ``load_calls(observer=panel)`` call ``panel.finish(df)``.
        """
        with self._lock:
            self.finished_at = self._clock()
            if isinstance(result, BaseException):
                error = result
            elif result is not None:
                self.summary = str(getattr(result, "attrs", {}).get("summary", ""))
            self.state = f"stopped: {type(error).__name__}" if error else "done"
            self._wait_until = None
            self._wake.set()
            self._render()

    def plot(self, **kwargs: Any) -> Figure:
        """The quota figure of this load (`plots.plot_quota`)."""
        from ..plots import plot_quota

        kwargs.setdefault("daily_quota", self.daily_quota)
        return plot_quota(self.readings, **kwargs)

    @property
    def daily_quota(self) -> int | None:
        """Requests per day of the plan (given, or inferred from the window limit)."""
        if self._daily_quota is not None:
            return self._daily_quota
        return daily_quota_for(self.readings[-1].limit if self.readings else None)

    @property
    def text(self) -> str:
        """The panel's current content as plain text."""
        with self._lock:
            return "\n".join(f"{k}: {v}" for k, v in self._lines())

    # -- display ------------------------------------------------------------------------------

    def _count_down(self) -> None:
        """Refresh the countdown until the wait ends or the next event arrives."""
        while True:
            with self._lock:
                if self._wait_until is None:
                    return
                left = self._wait_until - self._clock()
                if left <= 0:
                    self._wait_until = None
                    self._render()
                    return
                self._render()
                step = self._tick if left >= 3 * self._tick else min(self._tick, 0.25)
            if self._wake.wait(min(step, left)):
                return

    def _lines(self) -> list[tuple[str, str]]:
        now = self._clock()
        last = self.readings[-1] if self.readings else None
        lines = [("This window", self._window(last, now)), ("Today (UTC)", self._day(last, now))]
        throttled = sum(r.status == 429 for r in self.readings)
        waited = sum(s for _, s, _ in self.waits)
        lines.append(
            (
                "This load",
                f"{_count(len(self.readings), 'request')}, {throttled} rate-limited (429), "
                f"{_duration(waited)} waited",
            )
        )
        rows = f"{_count(self.pages, 'page')}, {_count(self.rows, 'row')}"
        if self.total is not None and self.finished_at is None:
            rows = f"{_count(self.pages, 'page')}, {self.rows:,} of {self.total:,} rows"
            eta = self._eta(now)
            if eta is not None:
                rows += f", about {_duration(eta)} to go"
        if self.finished_at is not None and "from the local store" in self.summary:
            rows = (
                f"{rows}; the rest came from the local store (see Status)"
                if self.rows
                else "no new rows: they came from the local store (see Status)"
            )
        # Labelled as what it counts: a store-only repeat reads 0 rows from the API, and the
        # summary beside it says where the rows came from.
        lines.append(("Read from the API", rows))
        lines.append(("Status", self._status(now)))
        return lines

    def _window(self, last: QuotaReading | None, now: float) -> str:
        if last is None or last.limit is None:
            return "no rate-limit headers yet"
        left = 0 if last.remaining is None else last.remaining
        window = f"{last.limit - left} of {last.limit} used, {left} left"
        if last.reset_local is None:
            return window
        at = datetime.fromtimestamp(last.reset_local, UTC).strftime("%H:%M:%S UTC")
        if last.reset_local <= now:
            return f"{window} when last asked; it reset at {at}"
        if self.finished_at is not None:  # no countdown once the load is over: a time
            return f"{window}, resets at {at}"
        return f"{window}, resets in {_duration(last.reset_local - now)}"

    def _day(self, last: QuotaReading | None, now: float) -> str:
        """The day's quota and its reset: the API reports no day count, so none is made up."""
        # Once the load is over nothing redraws the panel: a time, not a countdown that freezes.
        if self.finished_at is None:
            reset = f"resets 00:00 UTC (in {_duration(next_utc_midnight(now) - now)})"
        else:
            day = datetime.fromtimestamp(next_utc_midnight(now), UTC).strftime("%Y-%m-%d")
            reset = f"resets at {day} 00:00 UTC"
        if any(r.code == "daily_quota_exceeded" for r in self.readings):
            return f"the daily quota is used up (the API said so); {reset}"
        quota = self.daily_quota
        if not quota:
            return f"what is left is not reported by the API; {reset}"
        return (
            f"what is left is not reported by the API ({quota:,} requests a day on this plan; "
            f"this load used {len(self.readings):,}), {reset}"
        )

    def _eta(self, now: float) -> float | None:
        """Seconds to go at the rate so far, and never less than the wait under way."""
        if self.started_at is None or not self.rows or self.total is None:
            return None
        elapsed = now - self.started_at
        if self.rows >= self.total:
            return 0.0
        if elapsed <= 0:
            return None
        eta = (self.total - self.rows) * elapsed / self.rows
        if self._wait_until is not None:
            eta = max(eta, self._wait_until - now)
        return eta

    def _status(self, now: float) -> str:
        if self._wait_until is not None and self._wait_until > now:
            left = self._wait_until - now
            last = self.readings[-1] if self.readings else None
            if self._wait_reason == "rate limit":
                why = "for the rate-limit window to reset"
            elif last is not None and last.status == 429:
                why = "for the rate limit (the API answered 429), then retrying"
            elif last is not None and last.status >= 500:
                why = f"before retrying (the API answered {last.status})"
            else:
                why = f"before retrying ({self._wait_reason})"
            return f"Waiting {_duration(left)} {why}: the kernel is not stuck."
        if self.state == "done":
            took = (self.finished_at or now) - (self.started_at or now)
            return f"✓ done in {_duration(took)}" + (f": {self.summary}" if self.summary else "")
        if self.state.startswith("stopped"):
            return f"✗ {self.state}"
        return "loading…" if self.state == "loading" else "ready: pass observer=panel"

    def _render(self) -> None:
        lines = self._lines()
        self.table.value = (
            "<table>"
            + "".join(
                f"<tr><td style='padding-right:1em'><b>{html.escape(k)}</b></td>"
                f"<td>{html.escape(v)}</td></tr>"
                for k, v in lines[:-1]
            )
            + "</table>"
        )
        self.status.value = html.escape(lines[-1][1])
        # A bar needs a total: without one (a load of part of the list) it shows once done.
        known = bool(self.total) and self.finished_at is None
        self.progress.layout.display = "" if known or self.finished_at is not None else "none"
        self.progress.max = max(self.total if known and self.total else self.rows, 1)
        self.progress.value = self.progress.max if self.state == "done" else self.rows
        if self.state == "done":
            self.progress.bar_style = "success"
        elif self.state.startswith("stopped"):
            self.progress.bar_style = "danger"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.box._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = self.text
        return bundle

    def __repr__(self) -> str:
        return f"QuotaPanel({self.state}, {len(self.readings)} requests, {self.rows} rows)"
