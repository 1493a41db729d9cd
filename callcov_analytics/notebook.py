"""`connect()`: the first cell of every notebook — a configured key, a key prompt, or the sandbox.

Which one, in order:

1. ``sandbox=True``: start a sandbox with the plan asked for and use it for every following
   load of this session, whatever key the environment holds (the analyst asked for it just now).
2. A key is already configured (a key entered in this session, ``CALLCOV_API_KEY`` or a
   ``.env`` file): use it with the configured URL (``CALLCOV_API_URL``, else the CallCov API).
3. ``CALLCOV_API_URL`` is set but no key: show the key entry widget for that API.
4. Nothing is set: start the bundled sandbox on 127.0.0.1 (made-up data, a throwaway key) and
   make it this session's fallback (`config.Session`), so the notebook runs top to bottom with
   no account. A key configured later wins over it: real keys never go to the sandbox.

What the answer says is what the next load uses (it is read from `Config.resolve()`), and it
names the data truthfully: the CallCov API is "your account's data"; a server on this machine
never is (``callcov-analytics notebook`` marks its sandbox in ``CALLCOV_SANDBOX_URL``).

The sandbox lives as long as the kernel. Its data is made up and new each time, so unless
CALLCOV_CACHE_DIR is set, load_calls() keeps its store in a temporary directory that goes
with the sandbox. Nothing here prints or returns the key, or writes to ``os.environ``.
"""

from __future__ import annotations

import atexit
import html
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import sandbox as sandbox_server
from ._config import (
    DEFAULT_BASE_URL,
    KEY_ENV,
    SESSION,
    URL_ENV,
    Config,
    configured_url,
    is_loopback,
    key_source,
)
from ._secrets import Secret
from ._store.cache import CACHE_ENV
from .widgets import KeyCheck, KeyEntry, key_entry

__all__ = ["Connection", "connect", "stop_sandboxes"]

SANDBOX_URL_ENV = "CALLCOV_SANDBOX_URL"  # set by `callcov-analytics notebook` for its sandbox
_SANDBOXES: list[sandbox_server.Sandbox] = []
_CACHES: list[tempfile.TemporaryDirectory[str]] = []  # the sandboxes' stores, see _start_sandbox


SWITCH = {
    "sandbox": (
        "For your own data: set <code>CALLCOV_API_KEY</code> (and <code>CALLCOV_API_URL</code> "
        "if your API is not the default) before starting Jupyter, or run "
        "<code>connect(sandbox=False)</code> for a key box, then re-run this notebook."
    ),
    "command sandbox": (
        "For your own data: start Jupyter yourself (not through <code>callcov-analytics "
        "notebook</code>) with <code>CALLCOV_API_KEY</code> set, then re-run this notebook."
    ),
    "key": (
        "To try the sandbox's made-up data instead: <code>connect(sandbox=True)</code>. Your key "
        "is never sent to it."
    ),
}


@dataclass(frozen=True)
class Connection:
    """Where this notebook's requests go; displays as a short HTML note, or as the key widget."""

    base_url: str
    source: str  # "sandbox", "session key", "environment", ".env file" or "key entry"
    detail: str
    entry: KeyEntry | KeyCheck | None = field(default=None, repr=False)
    sandbox: sandbox_server.Sandbox | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        """True when load_calls() has a key to use."""
        if isinstance(self.entry, KeyEntry):
            return self.entry.connected
        if isinstance(self.entry, KeyCheck):
            return self.entry.ok
        return True

    @property
    def switch(self) -> str:
        """How to change to the other source (HTML)."""
        if self.source == "sandbox":  # one connect() started, or the notebook command's
            return SWITCH["sandbox" if self.sandbox is not None else "command sandbox"]
        return SWITCH["key"]

    def _repr_html_(self) -> str:
        check = f"<br>{html.escape(self.entry.message)}" if isinstance(self.entry, KeyCheck) else ""
        # No emoji: fonts lack them.
        mark = "Sandbox" if self.source == "sandbox" else "CallCov API"
        if self.source != "sandbox" and is_loopback(urlsplit(self.base_url).hostname or ""):
            mark = "Local server"
        return (
            '<div style="font-family:var(--jp-ui-font-family,sans-serif);line-height:1.45;'
            'max-width:48em"><b>'
            + mark
            + "</b>: "
            + html.escape(self.detail)
            + check
            + '<br><small style="font-size:0.9em">'
            + self.switch
            + "</small></div>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if isinstance(self.entry, KeyEntry):
            return self.entry._repr_mimebundle_(**kwargs)
        return {"text/plain": str(self), "text/html": self._repr_html_()}

    def __str__(self) -> str:
        if isinstance(self.entry, KeyCheck):
            return f"{self.detail}\n{self.entry.message}"
        return self.detail


_FROM = {
    "session key": "the key you entered",
    "environment": f"the key in {KEY_ENV}",
    ".env file": "the key in the .env file",
}


def _configured_source() -> str | None:
    """Where a configured key comes from; None when only a sandbox could answer."""
    found = key_source()  # a chosen sandbox was forgotten before this is asked
    return None if found is None or found.where == "sandbox" else found.where


def connect(
    *,
    sandbox: bool | None = None,
    plan: str = "free",
    window_seconds: float = 60.0,
    n_analyses: int = 2500,
    arrivals_per_minute: float = 20.0,
    use_widgets: bool | None = None,
) -> Connection:
    """Choose where this notebook's data comes from (see the module docstring).

    Args:
        sandbox: None decides as above; True always starts a fresh sandbox (used only while
            no key is configured); False never starts one (asks for a key instead).
        plan, window_seconds, n_analyses: the sandbox's plan, rate-limit window and size
            (a short window shows rate limiting within seconds).
        arrivals_per_minute: new calls arriving in the sandbox while it runs (and processing
            analyses completing), so "what is new" has an answer; 0 keeps it static.
        use_widgets: for the key prompt, see `widgets.key_entry`.

    Example::

        from callcov_analytics.notebook import connect
        connect()   # shows what it chose and how to switch; never the key
    """
    if sandbox:
        return _start_sandbox(plan, window_seconds, n_analyses, arrivals_per_minute, chosen=True)
    SESSION.forget_chosen_sandbox()
    source = _configured_source()
    if source is not None:
        return _configured(source)
    if sandbox is None or sandbox is False:
        env_url = configured_url()
        if env_url or sandbox is False:
            entry = key_entry(env_url or None, use_widgets=use_widgets)
            url = env_url or DEFAULT_BASE_URL
            return Connection(
                url, "key entry", f"No key configured for {url}: enter it below.", entry=entry
            )
    return _start_sandbox(plan, window_seconds, n_analyses, arrivals_per_minute)


def _configured(source: str) -> Connection:
    """The configured key's connection, saying whose data the server holds."""
    url = Config.resolve().base_url
    host = urlsplit(url).hostname or ""
    if url == os.environ.get(SANDBOX_URL_ENV, "").strip().rstrip("/"):
        return Connection(
            url,
            "sandbox",
            f"using the sandbox `callcov-analytics notebook` started at {url} (its throwaway "
            f"key is in {KEY_ENV}): made-up call analyses, not your account's, with new calls "
            "arriving while it runs.",
        )
    if is_loopback(host):
        data = "a server on this machine, not the CallCov API: not your account's data."
    else:
        data = "your CallCov account's data."
    where = "the CallCov API" if url == DEFAULT_BASE_URL else url
    unset = "" if configured_url() else f" ({URL_ENV} is not set)"
    return Connection(url, source, f"using {_FROM[source]} with {where}{unset}: {data}")


def _start_sandbox(
    plan: str,
    window_seconds: float,
    n_analyses: int,
    arrivals_per_minute: float,
    *,
    chosen: bool = False,
) -> Connection:
    api = sandbox_server.serve(
        plan=plan,
        window_seconds=window_seconds,
        n_analyses=n_analyses,
        arrivals_per_minute=arrivals_per_minute,
    ).start()
    _SANDBOXES.append(api)
    cache_dir = None
    if not os.environ.get(CACHE_ENV):  # a store of made-up data is no use after the kernel
        cache = tempfile.TemporaryDirectory(prefix="callcov-sandbox-", ignore_cleanup_errors=True)
        _CACHES.append(cache)
        cache_dir = cache.name
    SESSION.use_sandbox(Secret(api.key), api.url, cache_dir, chosen=chosen)
    limits = sandbox_server.PLANS[plan]
    window = f"{window_seconds:g} s" if window_seconds != 60 else "minute"
    why = (
        "as asked (sandbox=True), every load in this session uses the sandbox at"
        if chosen
        else "no CallCov key is configured, so this notebook uses the sandbox at"
    )
    arriving = (
        f", and {arrivals_per_minute:g} new calls arriving a minute while it runs"
        if arrivals_per_minute > 0
        else ""
    )
    detail = (
        f"{why} {api.url}: "
        f"{n_analyses:,} made-up call analyses{arriving}, {plan} plan ({limits.per_window} "
        f"requests per {window}, {limits.per_day:,} per day). Its throwaway key is never shown "
        "or saved."
    )
    return Connection(api.url, "sandbox", detail, sandbox=api)


def stop_sandboxes() -> None:
    """Stop the sandboxes `connect()` started and delete their stores (also at kernel exit)."""
    while _SANDBOXES:
        _SANDBOXES.pop().close()
    SESSION.sandbox = None
    SESSION.forget_chosen_sandbox()
    while _CACHES:
        _CACHES.pop().cleanup()


atexit.register(stop_sandboxes)
