"""Keeping the API key secret: a masked holder, text/URL redaction and a logging filter."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import deque
from typing import NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Anything shaped like a CallCov key, even one we were never given (a server may echo another).
KEY_PATTERN = re.compile(r"sk_(?:live|test)_[A-Za-z0-9]{4,}")
SENSITIVE_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token", "secret"})
MASK = "***"


class Secret:
    """An API key that never shows itself: masked in repr/str/format, refuses to pickle."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The raw key; call only where it goes into the request header."""
        return self._value

    @property
    def hint(self) -> str:
        """A safe label: the documented prefix (e.g. ``sk_test_``) and the last 4 characters."""
        prefix = self._value[:8] if self._value.startswith(("sk_live_", "sk_test_")) else ""
        return f"{prefix}…{self._value[-4:]}" if len(self._value) >= 12 else MASK

    @property
    def fingerprint(self) -> str:
        """A stable, non-reversible id of the key (for cache folders and report manifests)."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Secret('{self.hint}')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("an API key cannot be pickled (it would land on disk in clear text)")


def redact_text(text: str, *secrets: str) -> str:
    """Mask the given secrets, every key a client was configured with, and anything key-shaped.

    Keys of any shape are masked while a client holds them (every CallCovClient holds its
    key while it is open: `hold_secret`), so an excerpt of a server's body never shows a live
    key that is not ``sk_``-shaped either.
    """
    for secret in sorted({*secrets, *_FILTER.secrets}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return KEY_PATTERN.sub(MASK, text)


def excerpt(data: bytes | str, limit: int = 80) -> str:
    """The start of a server's body for a message: redacted first, then cut to ~`limit`."""
    # Redact a window wider than the cut, so that a key straddling the cut is masked whole.
    window = data[: limit + 512]
    text = window.decode("utf-8", "replace") if isinstance(window, bytes) else window
    clean = redact_text(text)
    return repr(clean[:limit]) + ("..." if len(clean) > limit or len(data) > len(window) else "")


def sanitize_url(url: str) -> str:
    """Drop credentials and mask sensitive query values, keeping the rest for debugging."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if ":" in (parts.hostname or ""):  # IPv6 literal
        netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    query = urlencode(
        [
            (k, MASK if k.lower() in SENSITIVE_PARAMS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


class RedactingFilter(logging.Filter):
    """Mask the secrets of live clients and key-shaped strings in every record it sees.

    Each secret is held by its owners (`hold`): a client holds its key and proxy from its
    construction until it is closed or garbage-collected, so the filter knows exactly the
    secrets of the clients alive now, never every key the process has seen. A value logged
    after the last client of it is gone is masked only if it is key-shaped (``sk_live_…`` /
    ``sk_test_…``, every CallCov key): nothing of ours sends or logs a closed client's key,
    and a process that keeps making clients must not keep all their keys in memory.
    """

    def __init__(self) -> None:
        super().__init__()
        self._holders: dict[str, int] = {}  # secret -> how many live owners hold it
        self._lock = threading.Lock()  # clients are made and closed on any thread
        # Releases wait here until the next locked step: a release may run in a finalizer,
        # which the garbage collector can start on a thread that already holds the lock.
        self._released: deque[str] = deque()

    @property
    def secrets(self) -> frozenset[str]:
        """The secrets held now."""
        with self._lock:
            self._settle()
            return frozenset(self._holders)

    def hold(self, secret: Secret | None) -> Held:
        """Mask ``secret`` until the returned `Held` is released (None: hold nothing)."""
        value = secret.reveal() if secret is not None else ""
        if value:
            with self._lock:
                self._settle()
                self._holders[value] = self._holders.get(value, 0) + 1
        return Held(self, value)

    def _release(self, value: str) -> None:
        self._released.append(value)  # atomic, takes no lock (see __init__)

    def _settle(self) -> None:
        """Apply the releases waiting (the caller holds the lock)."""
        while self._released:
            value = self._released.popleft()
            left = self._holders.get(value, 0) - 1
            if left > 0:
                self._holders[value] = left
            else:
                self._holders.pop(value, None)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class Held:
    """One owner's hold on a secret in the log filter; `release` (or ``with``) ends it, once."""

    def __init__(self, owner: RedactingFilter, value: str) -> None:
        self._owner, self._value = owner, value
        self._released = not value

    def release(self) -> None:
        """Stop masking the secret for this owner (other owners of it keep it masked)."""
        if not self._released:
            self._released = True
            self._owner._release(self._value)

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Held(released={self._released})"


_FILTER = RedactingFilter()
# urllib3 logs URLs at DEBUG; our own logger logs requests. Filters on a logger do not see records
# propagated from child loggers, so attach to each logger that emits.
_GUARDED = ("callcov_analytics", "urllib3.connectionpool", "urllib3.util.retry")


def guard_logging() -> RedactingFilter:
    """Install the redacting filter on every logger this package's traffic goes through."""
    for name in _GUARDED:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER


def hold_secret(secret: Secret | None) -> Held:
    """Mask ``secret`` in logs and redacted text until the returned hold is released."""
    return guard_logging().hold(secret)
