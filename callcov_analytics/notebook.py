"""`connect()`: the first cell of every notebook — a configured key, a key prompt, or the sandbox.

Which one, in order:

1. A key is already configured (the session key, ``CALLCOV_API_KEY`` or a ``.env`` file):
   use it with the configured URL.
2. ``CALLCOV_API_URL`` is set but no key: show the key entry widget for that API.
3. Nothing is set: start the bundled sandbox on 127.0.0.1 (made-up data, a throwaway key) and
   make it this session's default, so the notebook runs top to bottom with no account.

The sandbox lives as long as the kernel. Its data is made up and new each time, so unless
CALLCOV_CACHE_DIR is set, load_calls() keeps its store in a temporary directory that goes
with the sandbox. Nothing here prints or returns the key.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from . import sandbox as sandbox_server
from .config import KEY_ENV, URL_ENV, Config, session_key, set_session_key
from .store import CACHE_ENV
from .widgets import KeyCheck, KeyEntry, key_entry

__all__ = ["Connection", "connect", "stop_sandboxes"]

_SANDBOXES: list[sandbox_server.Sandbox] = []
_CACHES: list[tempfile.TemporaryDirectory[str]] = []  # the sandboxes' stores, see _start_sandbox


@dataclass(frozen=True)
class Connection:
    """Where this notebook's requests go; displays as a sentence, or as the key widget."""

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

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if isinstance(self.entry, KeyEntry):
            return self.entry._repr_mimebundle_(**kwargs)
        return {"text/plain": str(self)}

    def __str__(self) -> str:
        if isinstance(self.entry, KeyCheck):
            return f"{self.detail}\n{self.entry.message}"
        return self.detail


def _configured_source() -> str | None:
    if session_key() is not None:
        return "session key"
    if os.environ.get(KEY_ENV, "").strip():
        return "environment"
    env_file = Path.cwd() / ".env"
    if env_file.is_file() and (dotenv_values(env_file).get(KEY_ENV) or "").strip():
        return ".env file"
    return None


def connect(
    *,
    sandbox: bool | None = None,
    plan: str = "free",
    window_seconds: float = 60.0,
    n_analyses: int = 2500,
    use_widgets: bool | None = None,
) -> Connection:
    """Choose where this notebook's data comes from (see the module docstring).

    Args:
        sandbox: None decides as above; True always starts a fresh sandbox (and makes it the
            session default); False never starts one (asks for a key instead).
        plan, window_seconds, n_analyses: the sandbox's plan, rate-limit window and size
            (a short window shows rate limiting within seconds).
        use_widgets: for the key prompt, see `widgets.key_entry`.

    Example::

        from callcov_analytics.notebook import connect
        connect()   # shows what it chose; never the key
    """
    if sandbox is None or sandbox is False:
        source = _configured_source()
        if source is not None:
            url = Config.resolve().base_url
            return Connection(
                url, source, f"Using the CallCov API key from the {source} with {url}."
            )
        url_set = bool(os.environ.get(URL_ENV, "").strip())
        if url_set or sandbox is False:
            entry = key_entry(use_widgets=use_widgets)
            url = os.environ.get(URL_ENV) or "the CallCov API"
            return Connection(
                url, "key entry", f"No key configured for {url}: enter it below.", entry=entry
            )
    return _start_sandbox(plan, window_seconds, n_analyses)


def _start_sandbox(plan: str, window_seconds: float, n_analyses: int) -> Connection:
    api = sandbox_server.serve(
        plan=plan, window_seconds=window_seconds, n_analyses=n_analyses
    ).start()
    _SANDBOXES.append(api)
    if not os.environ.get(CACHE_ENV):  # a store of made-up data is no use after the kernel
        cache = tempfile.TemporaryDirectory(prefix="callcov-sandbox-", ignore_cleanup_errors=True)
        _CACHES.append(cache)
        os.environ[CACHE_ENV] = cache.name
    set_session_key(api.key)
    os.environ[URL_ENV] = api.url  # load_calls() and CallCovClient() read the URL from here
    limits = sandbox_server.PLANS[plan]
    window = f"{window_seconds:g} s" if window_seconds != 60 else "minute"
    detail = (
        f"No CallCov key configured, so this notebook uses the sandbox at {api.url}: "
        f"{n_analyses:,} made-up call analyses, {plan} plan ({limits.per_window} requests per "
        f"{window}, {limits.per_day:,} per day). Its throwaway key is this session's default "
        "and is never shown or saved. Set CALLCOV_API_KEY (or use the key widget) for real data."
    )
    return Connection(api.url, "sandbox", detail, sandbox=api)


def stop_sandboxes() -> None:
    """Stop the sandboxes `connect()` started and delete their stores (also at kernel exit)."""
    while _SANDBOXES:
        _SANDBOXES.pop().close()
    while _CACHES:
        cache = _CACHES.pop()
        if os.environ.get(CACHE_ENV) == cache.name:
            del os.environ[CACHE_ENV]
        cache.cleanup()


atexit.register(stop_sandboxes)
