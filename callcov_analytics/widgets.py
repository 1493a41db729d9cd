"""Notebook widgets: a key entry that never leaves the key in the notebook, and a live quota panel.

Key entry (`key_entry`): a masked ``Password`` field and a Connect button. On Connect the value
is copied out and the field is blanked *first* (a notebook saved with widget state stores the
last synced value of every widget, closed ones included), then the key is checked against
``/health`` and one list request, and on success becomes this Python session's default key
(`config.set_session_key`). The key is never shown: not in the status line, a repr, an output
or a log. Where widgets don't render, ``key_entry(use_widgets=False)`` asks with `getpass`; the
non-interactive ways are the ``CALLCOV_API_KEY`` environment variable or a ``.env`` file.

Quota panel (`QuotaPanel`): pass it as ``load_calls(observer=panel)`` and display it; it shows
requests used and left in the current rate-limit window and today, a countdown while the load
waits for a window to reset (ticking from a background thread, so waiting never looks like a
hung kernel), and pages, rows and an ETA. Afterwards ``panel.plot()`` draws the quota figure.

ipywidgets is imported inside functions only, so ``import callcov_analytics`` works without it.
"""

from __future__ import annotations

import getpass
import html
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .client import CallCovClient
from .config import URL_ENV, Config, set_session_key
from .errors import (
    APIConnectionError,
    AuthenticationError,
    CallCovError,
    MissingDependencyError,
    PermissionDeniedError,
    ProxyAuthenticationError,
    QuotaExhaustedError,
    RateLimitError,
    TLSVerificationError,
)
from .ratelimit import QuotaReading, daily_quota_for
from .redact import Secret, redact_text

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["KeyCheck", "KeyEntry", "QuotaPanel", "check_key", "key_entry"]

INSTALL_HINT = "pip install 'callcov-analytics[widgets]'"
OTHER_WAYS = (
    "Other ways to give the key: the <code>CALLCOV_API_KEY</code> environment variable, a "
    "<code>.env</code> file beside the notebook (keep it out of git), or "
    "<code>key_entry(use_widgets=False)</code> for a hidden text prompt."
)


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:
        raise MissingDependencyError(INSTALL_HINT) from exc
    return ipywidgets


def _has_ipywidgets() -> bool:
    try:
        _ipywidgets()
    except MissingDependencyError:
        return False
    return True


# -- checking a key -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of checking a key: ``ok`` and a message that never contains the key."""

    ok: bool
    message: str
    base_url: str | None = None

    def __str__(self) -> str:
        return self.message


def _check(key: Secret, base_url: str | None) -> tuple[KeyCheck, Secret | None]:
    """Check a key against /health and one list request; return the result and the Secret.

    The key arrives as a `Secret`, so even a ``%xmode Verbose`` traceback through here shows
    only its mask; nothing escapes: every failure becomes a `KeyCheck`.
    """
    value = key.reveal()
    if not value or any(ch.isspace() or not ch.isprintable() for ch in value):
        return KeyCheck(
            False,
            "✗ The API key contains spaces or control characters; copy it "
            "again from the CallCov dashboard.",
            base_url,
        ), None
    try:
        config = Config.resolve(key, base_url)
    except CallCovError as exc:
        return KeyCheck(False, f"✗ {_safe(exc, key)}", base_url), None
    # A key check must answer in seconds, not ride out a long rate-limit wait.
    config = replace(config, connect_timeout=3.0, read_timeout=10.0, deadline=20.0, max_retries=1)
    url = config.base_url
    client = CallCovClient(config=config)
    try:
        client.health()
        # /health accepts any valid key; a key without read access is only refused on data.
        client.list_raw(offset=0, limit=1, params=None, parse=lambda body: None)
    except AuthenticationError:
        return KeyCheck(
            False,
            "✗ invalid key: the API does not know this key (401). Copy it "
            "again from the CallCov dashboard.",
            url,
        ), None
    except PermissionDeniedError:
        return KeyCheck(
            False,
            "✗ no permission: the key is valid but may not read call "
            "analyses (403). Ask your CallCov admin for a key with read "
            "access.",
            url,
        ), None
    except QuotaExhaustedError:
        return KeyCheck(
            False, "✗ the key's daily quota is used up (429); it resets at 00:00 UTC.", url
        ), None
    except RateLimitError:
        return KeyCheck(False, "✗ rate limited (429): try again in a minute.", url), None
    except TLSVerificationError:
        return KeyCheck(
            False,
            f"✗ the API's certificate at {url} is not trusted: if your network inspects TLS, "
            "set CALLCOV_CA_BUNDLE to your organisation's root certificate.",
            url,
        ), None
    except ProxyAuthenticationError:
        return KeyCheck(
            False, "✗ the proxy refused the user name and password in CALLCOV_PROXY.", url
        ), None
    except APIConnectionError:
        return KeyCheck(
            False,
            f"✗ cannot reach the API at {url}: check the network, VPN, CALLCOV_API_URL and "
            "CALLCOV_PROXY.",
            url,
        ), None
    except Exception as exc:  # a widget callback must not raise: tracebacks show locals
        return KeyCheck(False, f"✗ {type(exc).__name__}: {_safe(exc, key)}", url), None
    finally:
        client.close()
    limit = client.limiter.limit
    plan = f" ({limit} request{'s' if limit != 1 else ''} per rate-limit window)" if limit else ""
    return KeyCheck(
        True, f"✓ connected to {url}{plan}. The key is kept in memory for this session only.", url
    ), config.api_key


def _safe(exc: BaseException, key: Secret) -> str:
    return redact_text(str(exc), key.reveal())


def _secret(value: str | Secret) -> Secret:
    """Wrap a typed key at once (surrounding spaces and newlines from pasting dropped)."""
    return value if isinstance(value, Secret) else Secret(value.strip())


def _use(secret: Secret, base_url: str | None) -> None:
    """Make the key (and an explicitly chosen URL) this session's defaults."""
    set_session_key(secret)
    if base_url:
        os.environ[URL_ENV] = base_url  # a URL is not secret; load_calls() reads it from here


def check_key(api_key: str | Secret, base_url: str | None = None) -> KeyCheck:
    """Check a key against the API without storing it anywhere.

    Returns a `KeyCheck`; ``ok`` is False for an invalid key, a key without permission or an
    unreachable API, and the message says which (it never contains the key).
    """
    return _check(_secret(api_key), base_url)[0]


# -- key entry ----------------------------------------------------------------------------------


class KeyEntry:
    """A masked key field and a Connect button; display it as a cell's last expression.

    Attributes:
        password, button, status: the ipywidgets (tests drive them like a person would).
        result: the last `KeyCheck`, or None before the first Connect.
    """

    def __init__(self, base_url: str | None = None) -> None:
        w = _ipywidgets()
        self.base_url = base_url
        self.result: KeyCheck | None = None
        self.password = w.Password(
            description="API key",
            placeholder="sk_live_… or sk_test_…",
            continuous_update=False,  # the value syncs once, on Connect, not per keystroke
            layout=w.Layout(width="26em"),
        )
        self.button = w.Button(
            description="Connect",
            button_style="primary",
            icon="plug",
            tooltip="Check the key against the CallCov API",
        )
        self.status = w.HTML(value=_html_status("Paste your CallCov API key and press Connect."))
        self.row = w.HBox([self.password, self.button])
        self.box = w.VBox(
            [
                w.HTML(
                    value="<b>CallCov API key</b> (checked against the API, kept in memory "
                    "only, never saved in the notebook)"
                ),
                self.row,
                self.status,
                w.HTML(value=f"<small>{OTHER_WAYS}</small>"),
            ]
        )
        self.button.on_click(lambda _button: self.submit())

    @property
    def connected(self) -> bool:
        """True once a key was accepted."""
        return self.result is not None and self.result.ok

    @property
    def status_text(self) -> str:
        """The status line as plain text."""
        return self.result.message if self.result else "waiting for a key"

    def submit(self) -> KeyCheck:
        """What Connect does: take the typed key, blank the field, check the key, use it."""
        typed = _secret(self.password.value)  # never a plain str in a local variable
        self.password.value = ""  # before anything else, so no saved state can hold the key
        if not typed.reveal():
            self.result = KeyCheck(False, "Type or paste your key first.")
            self.status.value = _html_status(self.result.message)
            return self.result
        self.button.disabled = True
        self.status.value = _html_status("checking the key…")
        result, secret = _check(typed, self.base_url)
        self.result = result
        self.status.value = _html_status(result.message, ok=result.ok)
        if secret is None:
            self.button.disabled = False
            return result
        _use(secret, self.base_url)
        # The field and button are done: take them out of the view, then close them.
        self.row.children = ()
        self.password.close()
        self.button.close()
        return result

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.box._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"KeyEntry({self.status_text})"


def _html_status(message: str, ok: bool | None = None) -> str:
    colour = {True: "#009E73", False: "#D55E00", None: "inherit"}[ok]
    return f'<span style="color:{colour}">{html.escape(message)}</span>'


def key_entry(base_url: str | None = None, *, use_widgets: bool | None = None) -> Any:
    """Ask for the CallCov key in a notebook; the key becomes this session's default.

    Args:
        base_url: the API to check against; default CALLCOV_API_URL, then the real API.
        use_widgets: None uses ipywidgets when installed, else a hidden ``getpass`` prompt;
            False always prompts with ``getpass`` (for frontends without widgets).

    Returns:
        A `KeyEntry` to display (widgets), or the `KeyCheck` of the prompted key.

    Example::

        from callcov_analytics.widgets import key_entry
        key_entry()          # type the key, press Connect, see ✓
        df = load_calls()    # uses the key
    """
    if use_widgets is None:
        use_widgets = _has_ipywidgets()
    if use_widgets:
        return KeyEntry(base_url)
    try:
        typed = _secret(getpass.getpass("CallCov API key (input hidden): "))
    except Exception:  # StdinNotImplementedError, EOFError: this frontend has no prompt
        return KeyCheck(
            False,
            "✗ this frontend cannot prompt for input: set the "
            "CALLCOV_API_KEY environment variable or put it in a .env file.",
        )
    if not typed.reveal():
        return KeyCheck(False, "No key typed.")
    result, secret = _check(typed, base_url)
    if secret is not None:
        _use(secret, base_url)
    return result


# -- live quota panel ---------------------------------------------------------------------------

_day_lock = threading.Lock()
_day_count: dict[str, int] = {}  # UTC date -> requests seen by quota panels in this session


def _count_today(now: float) -> int:
    day = datetime.fromtimestamp(now, UTC).date().isoformat()
    with _day_lock:
        _day_count[day] = _day_count.get(day, 0) + 1
        return _day_count[day]


def requests_today(now: float | None = None) -> int:
    """Requests that quota panels saw today (UTC) in this Python session."""
    day = datetime.fromtimestamp(time.time() if now is None else now, UTC).date().isoformat()
    with _day_lock:
        return _day_count.get(day, 0)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 90:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


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
        self.today = 0
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
            self.today = _count_today(reading.at)
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
        from .calls import load_calls

        kwargs.setdefault("progress", False)
        try:
            frame = load_calls(*args, observer=self, **kwargs)
        except BaseException as exc:
            self.finish(error=exc)
            raise
        self.finish()
        return frame

    def finish(self, error: BaseException | None = None) -> None:
        """Mark the load as ended (``load()`` does this; call it after ``load_calls``)."""
        with self._lock:
            self.finished_at = self._clock()
            self.state = f"stopped: {type(error).__name__}" if error else "done"
            self._wait_until = None
            self._wake.set()
            self._render()

    def plot(self, **kwargs: Any) -> Figure:
        """The quota figure of this load (`plots.plot_quota`)."""
        from .plots import plot_quota

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
        lines = []
        if last is None or last.limit is None:
            window = "no rate-limit headers yet"
        else:
            left = 0 if last.remaining is None else last.remaining
            window = f"{last.limit - left} of {last.limit} used, {left} left"
            if last.reset_local is not None and last.reset_local > now:
                window += f", resets in {_duration(last.reset_local - now)}"
        lines.append(("This window", window))
        quota = self.daily_quota
        today = f"{_count(self.today, 'request')} this session"
        if quota:
            today += f" of {quota:,} per day ({100 * self.today / quota:.1f}%)"
        lines.append(("Today (UTC)", today))
        throttled = sum(r.status == 429 for r in self.readings)
        waited = sum(s for _, s, _ in self.waits)
        lines.append(
            (
                "This load",
                f"{_count(len(self.readings), 'request')}, {throttled} rate-limited (429), "
                f"{_duration(waited)} waited",
            )
        )
        rows = f"{self.pages:,} pages, {self.rows:,}"
        if self.total is None:
            rows += " rows"
        elif self.finished_at is not None and self.rows < self.total:
            rows += f" rows (the list holds {self.total:,}; since/until kept these)"
        else:
            rows += f" of {self.total:,} rows"
        eta = self._eta(now)
        if eta is not None and self.finished_at is None:
            rows += f", about {_duration(eta)} to go"
        lines.append(("Progress", rows))
        lines.append(("Status", self._status(now)))
        return lines

    def _eta(self, now: float) -> float | None:
        if self.started_at is None or not self.rows or self.total is None:
            return None
        elapsed = now - self.started_at
        if elapsed <= 0 or self.rows >= self.total:
            return 0.0 if self.total is not None and self.rows >= self.total else None
        return (self.total - self.rows) * elapsed / self.rows

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
            return f"✓ done in {_duration(took)}"
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
        total = self.total if self.total and self.finished_at is None else max(self.rows, 1)
        self.progress.max = max(total, 1)
        self.progress.value = min(self.rows, self.progress.max)
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
