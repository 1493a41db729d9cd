"""Errors raised by callcov_analytics.

    CallCovError
    ├── ConfigurationError (also ValueError)     no key, plain http to a remote host, bad URL
    ├── ValidationError (also ValueError)        a bad argument, or a 422 from the API
    │   └── UnsupportedEngineError               a pandas-only function given another engine's frame
    ├── StorageError (also OSError)              the local cache or an export could not be written
    ├── MissingDependencyError (also ImportError)
    └── APIError                                 .method, .url (sanitized), .partial
        ├── APIConnectionError                   no usable answer: refused, reset, timeout, cut
        │   ├── APITimeoutError
        │   ├── TLSVerificationError             the API's certificate is not trusted (no retry)
        │   └── ProxyAuthenticationError         the proxy refused CALLCOV_PROXY's login (no retry)
        ├── ResponseDecodeError                  an answer came, but it was not the JSON promised
        ├── UnsafeRedirectError                  the API pointed us at another origin
        ├── ResponseTooLargeError                a body past the size cap (gzip bombs too)
        ├── ServerMisbehaviourError              answers that break the API's rules
        │   ├── InvalidRecordError               .field: an analysis without id or created
        │   ├── ListOrderError                   a list page that is not newest first
        │   └── PagingStalledError               paging makes no progress (offset ignored)
        └── APIStatusError                       .status_code, .code, .request_id, .body
            ├── AuthenticationError          401
            ├── PermissionDeniedError        403
            ├── NotFoundError                404
            ├── UnprocessableEntityError     422 (also ValidationError)
            ├── RateLimitError               429   .retry_after, .reset_at
            │   └── QuotaExhaustedError      429 daily_quota_exceeded
            └── ServerError                  5xx

    LoadInterrupted (a KeyboardInterrupt, not an Exception)   Ctrl-C during a load; .partial

    CallCovWarning (a UserWarning)
    ├── QuotaWarning                             the day's quota cannot cover the load
    ├── StoreWarning                             the store recovered from a damaged file
    └── SearchNote                               a search= that matched no id

Which of them are retried is the client's retry predicate (`_http.exchange.is_retryable`), not this
tree: "no answer" and "an answer we cannot use" are different facts even where both are
retried. Every error that can end a load carries ``.partial``: a DataFrame of the rows fetched
before it (or None when the failure came before any row). Messages never contain the API key.
"""

from __future__ import annotations

import importlib
import json
import os
import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "CallCovError",
    "CallCovWarning",
    "ConfigurationError",
    "InvalidRecordError",
    "ListOrderError",
    "LoadInterrupted",
    "MissingDependencyError",
    "NotFoundError",
    "PagingStalledError",
    "PermissionDeniedError",
    "ProxyAuthenticationError",
    "QuotaExhaustedError",
    "QuotaWarning",
    "RateLimitError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "SearchNote",
    "ServerError",
    "ServerMisbehaviourError",
    "StorageError",
    "StoreLockedError",
    "StoreWarning",
    "TLSVerificationError",
    "UnprocessableEntityError",
    "UnsafeRedirectError",
    "UnsupportedEngineError",
    "ValidationError",
]  # the tree above, all of it public (the package re-exports exactly this list)

_BODY_EXCERPT = 300
TRACEBACK_ENV = "CALLCOV_TRACEBACK"  # "full": notebooks show these errors' whole traceback


def _full_traceback_wanted() -> bool:
    """True when the user asked for whole tracebacks: CALLCOV_TRACEBACK=full or %xmode Verbose."""
    if os.environ.get(TRACEBACK_ENV, "").strip().lower() == "full":
        return True
    try:
        from IPython import get_ipython  # only ever asked from inside IPython
    except ImportError:
        return True
    shell = get_ipython()
    mode = getattr(getattr(shell, "InteractiveTB", None), "mode", "")
    return str(mode).lower() == "verbose"


class _ShortInNotebooks:
    """IPython shows an exception's ``_render_traceback_()`` lines instead of its traceback.

    A user's mistake (a wrong key, a bad date) is its message and advice, a few lines; the
    library's frames around it would bury them. The whole traceback stays one switch away:
    ``%xmode Verbose`` or CALLCOV_TRACEBACK=full makes the attribute vanish, and IPython then
    prints the usual traceback. Plain Python and the CLI never look at it.
    """

    @property
    def _render_traceback_(self) -> Any:
        if _full_traceback_wanted():
            raise AttributeError("_render_traceback_")  # IPython falls back to the traceback
        return self._short_traceback

    def _short_traceback(self) -> list[str]:
        name = type(self).__name__
        text = " ".join(str(self).split()) or name
        lines = textwrap.wrap(f"{name}: {text}", width=100, subsequent_indent="    ")
        lines[0] = lines[0].replace(name, f"\x1b[0;31m{name}\x1b[0m", 1)  # IPython's red
        return [
            *lines,
            "\x1b[2m(the whole traceback: run %xmode Verbose, or set CALLCOV_TRACEBACK=full, "
            "then run the cell again)\x1b[0m",
        ]


class CallCovError(_ShortInNotebooks, Exception):
    """Base class of every error this package raises."""

    partial: pd.DataFrame | None = None


class ConfigurationError(CallCovError, ValueError):
    """The client cannot be set up as asked (no key, unsafe URL, ...)."""


class ValidationError(CallCovError, ValueError):
    """An argument is invalid; ``.param`` names it."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class UnsupportedEngineError(ValidationError):
    """A pandas-only analysis was given a Polars, DuckDB or Spark frame; the message says how."""


class StorageError(CallCovError, OSError):
    """Writing the local cache or an export failed (disk full, permissions, ...)."""


class StoreLockedError(StorageError):
    """Another live load holds the local store's lock; ``.owner`` says which (pid, host)."""

    def __init__(self, message: str, *, owner: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.owner = owner or {}


class CallCovWarning(UserWarning):
    """Base class of every warning this package gives."""


class StoreWarning(CallCovWarning):
    """The local store had a problem it recovered from (a damaged or missing file, say)."""


class SearchNote(CallCovWarning):
    """load_calls(search=...) found nothing: the API's search looks at ids, not transcripts."""


class QuotaWarning(CallCovWarning):
    """The day's quota cannot cover the load; it will stop cleanly at the quota."""


class MissingDependencyError(CallCovError, ImportError):
    """An optional extra (plots, widgets) is not installed."""


def optional_module(name: str, extra: str) -> Any:
    """Import an optional extra's module, or raise MissingDependencyError saying how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(f"pip install 'callcov-analytics[{extra}]'") from exc


class LoadInterrupted(_ShortInNotebooks, KeyboardInterrupt):
    """The load was interrupted (Ctrl-C); ``.partial`` holds the rows fetched so far.

    A KeyboardInterrupt, so that ``except Exception:`` in a notebook or a library does not
    swallow Ctrl-C; catch it by name (or as KeyboardInterrupt).
    """

    partial: pd.DataFrame | None = None


class APIError(CallCovError):
    """A request to the CallCov API failed."""

    def __init__(self, message: str, *, method: str = "GET", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url  # always sanitized: no query values, no credentials


class APIConnectionError(APIError):
    """No usable response arrived (refused, reset, cut off) even after retries."""


class APITimeoutError(APIConnectionError):
    """The API did not answer in time."""


class TLSVerificationError(APIConnectionError):
    """The API's TLS certificate could not be verified; retrying would not help."""


class ProxyAuthenticationError(APIConnectionError):
    """The proxy refused the tunnel with 401 or 407 (wrong or missing CALLCOV_PROXY
    credentials); not retried, since repeated failed logins can lock the account."""


class ResponseDecodeError(APIError):
    """A response arrived but its body was not the JSON the API promises (cut, HTML, ...)."""


class UnsafeRedirectError(APIError):
    """The API redirected to another origin; the key is never sent there."""


class ResponseTooLargeError(APIError):
    """A response body (decompressed) grew past the size cap; the same request would too."""


class ServerMisbehaviourError(APIError):
    """The answers arrived but break the API's rules in a way a retry would not change."""


class InvalidRecordError(ServerMisbehaviourError):
    """An analysis lacks a field exact paging needs (``id``, ``created``); ``.field`` names it."""

    def __init__(self, message: str, *, field: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class ListOrderError(ServerMisbehaviourError):
    """A list page is not newest first, so offset paging over it could lose rows."""


class PagingStalledError(ServerMisbehaviourError):
    """Pages keep bringing nothing new (``offset`` ignored, one-row pages): stopped, not looped."""


class APIStatusError(APIError):
    """The API answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        request_id: str | None = None,
        body: str = "",
        method: str = "GET",
        url: str = "",
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body[:_BODY_EXCERPT]


class AuthenticationError(APIStatusError):
    """401: the key is wrong, revoked or missing."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not read this resource."""


class NotFoundError(APIStatusError):
    """404: no such resource."""


class UnprocessableEntityError(APIStatusError, ValidationError):
    """422: the API rejected a parameter; ``.param`` names it."""

    def __init__(self, message: str, *, param: str | None = None, **kwargs: Any) -> None:
        APIStatusError.__init__(self, message, **kwargs)
        self.param = param


class RateLimitError(APIStatusError):
    """429: the rate-limit window is spent. ``.retry_after`` is seconds to wait."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        reset_at: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.reset_at = reset_at  # Unix seconds on the local clock


class QuotaExhaustedError(RateLimitError):
    """429 daily_quota_exceeded: no request will succeed before the reset time."""


class ServerError(APIStatusError):
    """5xx, after the retries ran out."""


_HINTS: dict[int, str] = {
    401: "copy the key again from the CallCov dashboard (Settings → API Keys) into "
    "CALLCOV_API_KEY or your .env file; a rotated key replaces the old one",
    403: "this key may not read call analyses; ask your CallCov admin for a key with access",
    404: "check the base URL (CALLCOV_API_URL) and the id",
}


def _rate_limit_advice(retry_after: float | None, reset_at: float | None) -> str:
    """What a 429 that reached the caller means: the client gave up waiting, and until when."""
    if retry_after is None:
        wait = "the server said no usable wait, so the client backed off and retried"
    else:
        when = ""
        if reset_at is not None:
            when = f", until {datetime.fromtimestamp(reset_at, UTC).strftime('%H:%M:%S UTC')}"
        wait = f"the server asks to wait {retry_after:.0f} s{when}"
    return (
        f"rate limited: {wait}. The client waits out rate-limit windows on its own and raises "
        "this only when the wait is longer than one request may take or its retries ran out; "
        "rows fetched so far are kept, run the same load again later to continue"
    )


def parse_error_body(text: str) -> tuple[str | None, str | None, str | None, str | None]:
    """Read (code, message, request_id, param) from any of the three error-body shapes.

    ``{"error": {"code", "message", "request_id"}}``, FastAPI's
    ``{"detail": [{"loc": [...], "msg": ...}]}`` and ``{"detail": "text"}``. Anything else
    (empty, HTML, cut JSON) gives Nones.
    """
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return None, None, None, None
    if not isinstance(body, Mapping):
        return None, None, None, None
    error = body.get("error")
    if isinstance(error, Mapping):
        return (
            _str(error.get("code")),
            _str(error.get("message")),
            _str(error.get("request_id")),
            None,
        )
    detail = body.get("detail")
    if isinstance(detail, str):
        return None, detail, None, None
    if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
        first = detail[0]
        loc = first.get("loc")
        param = str(loc[-1]) if isinstance(loc, list) and loc else None
        messages = "; ".join(
            f"{d.get('loc', ['?'])[-1] if isinstance(d.get('loc'), list) else '?'}: "
            f"{d.get('msg', 'invalid')}"
            for d in detail
            if isinstance(d, Mapping)
        )
        return "validation_error", messages, None, param
    return None, None, None, None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def make_status_error(
    status_code: int,
    text: str,
    *,
    method: str,
    url: str,
    request_id: str | None = None,
    retry_after: float | None = None,
    reset_at: float | None = None,
) -> APIStatusError:
    """Map an HTTP error status (and its body) to the matching exception."""
    code, message, body_request_id, param = parse_error_body(text)
    request_id = body_request_id or request_id
    summary = message or f"HTTP {status_code}"
    where = f"{method} {url}"
    kwargs: dict[str, Any] = dict(
        status_code=status_code,
        code=code,
        request_id=request_id,
        body=text,
        method=method,
        url=url,
    )
    if status_code == 422:
        hint = f"fix the parameter {param!r}" if param else "fix the request parameters"
        return UnprocessableEntityError(f"{where}: {summary} ({hint})", param=param, **kwargs)
    if status_code == 429:
        if code == "daily_quota_exceeded":
            when = (
                datetime.fromtimestamp(reset_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
                if reset_at
                else "the next 00:00 UTC"
            )
            return QuotaExhaustedError(
                f"{where}: daily quota exhausted ({summary}); it resets at {when}. "
                "Rows fetched so far are kept; run the same load again after the reset "
                "to continue.",
                retry_after=retry_after,
                reset_at=reset_at,
                **kwargs,
            )
        return RateLimitError(
            f"{where}: {summary} ({_rate_limit_advice(retry_after, reset_at)})",
            retry_after=retry_after,
            reset_at=reset_at,
            **kwargs,
        )
    cls: type[APIStatusError]
    if status_code == 401:
        cls = AuthenticationError
    elif status_code == 403:
        cls = PermissionDeniedError
    elif status_code == 404:
        cls = NotFoundError
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = APIStatusError
    advice = _HINTS.get(status_code)
    suffix = f" ({advice})" if advice else ""
    rid = f" [request {request_id}]" if request_id else ""
    if status_code == 401:  # whichever request met it, the news is the key, not the path
        return cls(f"The API rejected the key: {summary}{suffix}{rid}", **kwargs)
    return cls(f"{where}: {summary}{suffix}{rid}", **kwargs)


# Tracebacks and reprs name the public path (as httpx and openai do): callcov_analytics.X.
for _name in __all__:
    globals()[_name].__module__ = "callcov_analytics"
