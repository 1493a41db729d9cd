"""The parts of one HTTP exchange that hold no client state.

The key header for one origin only; the body read within its deadline and size cap; where a
redirect may go; what a request that got no answer means and what to check; which failures
are retried; a JSON body.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import requests
import tenacity

from .._config import origin_of
from .._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ProxyAuthenticationError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    TLSVerificationError,
    UnsafeRedirectError,
)
from .._secrets import Secret, sanitize_url
from .latency import Latency

MAX_BODY_BYTES = 256 * 1024 * 1024  # a 1,000-analysis page with transcripts is ~25 MB


class APIKeyAuth(requests.auth.AuthBase):
    """Adds ``X-API-Key`` only to requests for the configured origin."""

    def __init__(self, secret: Secret, origin: str) -> None:
        self._secret = secret
        self._origin = origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if origin_of(request.url or "") == self._origin:
            request.headers["X-API-Key"] = self._secret.reveal()
        return request


def is_retryable(exc: BaseException) -> bool:
    """The retry predicate: transient faults only (never 401/403/404/422 or a spent day)."""
    if isinstance(exc, QuotaExhaustedError | TLSVerificationError | ProxyAuthenticationError):
        return False
    transient = APIConnectionError | ResponseDecodeError | ServerError | RateLimitError
    return isinstance(exc, transient) or (getattr(exc, "status_code", None) in (408, 425))


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps: args, urllib3's ``reason``, causes and contexts."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 16:
        chain.append(seen)
        inner = [a for a in seen.args if isinstance(a, BaseException)]
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException):
            inner.insert(0, reason)
        seen = inner[0] if inner else seen.__cause__ or seen.__context__
    return chain


# http.client's CONNECT: "Tunnel connection failed: <status> <reason>" is the one place the
# proxy's answer to the tunnel request is kept; its status is read from there, not searched
# for anywhere in the text (a port or a host name may hold "407").
_TUNNEL = re.compile(r"Tunnel connection failed: ([0-9]{3})\b")


def tunnel_status(exc: BaseException) -> int | None:
    """The status the proxy answered the CONNECT with, when the tunnel was refused."""
    for cause in _causes(exc):
        if type(cause) is OSError and cause.args and isinstance(cause.args[0], str):
            found = _TUNNEL.match(cause.args[0])
            if found:
                return int(found.group(1))
    return None


# OpenSSL's verify codes (X509_V_ERR_*), by what the user can do about them.
_UNTRUSTED = {2, 18, 19, 20, 21, 27, 28}
_NAME = {62, 64}  # host name, IP address mismatch
_DATES = {9, 10}  # not yet valid, expired
_PROTOCOL = ("WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL", "PROTOCOL_VERSION", "NO_PROTOCOLS")


def tls_failure(exc: BaseException, origin: str) -> str | None:
    """What a TLS failure is and what to do about it; None when it is no TLS failure."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            code, detail = cause.verify_code, cause.verify_message
            if code in _NAME:
                return (
                    f"the certificate {origin} presented is for another host name ({detail}). "
                    "Check CALLCOV_API_URL's host; a TLS-inspecting proxy or load balancer "
                    "must present a certificate for that name (CALLCOV_CA_BUNDLE does not "
                    "change which names a certificate covers)"
                )
            if code in _DATES:
                return (
                    f"the certificate {origin} presented is outside its validity dates "
                    f"({detail}). Check this computer's clock; if it is right, the server's "
                    "certificate has expired: tell whoever runs it"
                )
            if code in _UNTRUSTED or code is None:
                return (
                    f"the certificate {origin} presented is signed by a CA this computer does "
                    f"not trust ({detail}). If your network inspects TLS, set CALLCOV_CA_BUNDLE "
                    "to your organisation's root certificate (a PEM file)"
                )
            return f"the certificate {origin} presented could not be verified ({detail})"
        if isinstance(cause, ssl.SSLError) and any(p in str(cause) for p in _PROTOCOL):
            return (
                f"{origin} does not speak a TLS version this client accepts, or not TLS at all "
                f"({getattr(cause, 'reason', None) or 'protocol mismatch'}). Check that "
                "CALLCOV_API_URL's scheme and port are the API's https endpoint"
            )
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return (
            "TLS verification failed. If your network inspects TLS, set CALLCOV_CA_BUNDLE to "
            "your organisation's root certificate (a PEM file)"
        )
    return None


class StopWhenSilent(tenacity.stop.stop_base):
    """Stop retrying once nothing has answered for a while (see `latency`)."""

    def __init__(self, latencies: Latency) -> None:
        self.latencies = latencies

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.latencies.silent_for() >= self.latencies.silence


def parse_json(body: bytes) -> Any:
    """JSON from a body, or ResponseDecodeError (retried) when it is not JSON."""
    # json.loads on bytes insists on valid UTF-8; r.json() would guess a charset and corrupt.
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ResponseDecodeError(
            f"the API sent a body that is not JSON ({exc.__class__.__name__}"
            f" at byte {getattr(exc, 'pos', '?')})"
        ) from None


def redirect_target(response: requests.Response, method: str, url: str, origin: str) -> str:
    """Where a redirect points; UnsafeRedirectError when it leaves the API's origin."""
    target = urljoin(response.url or url, response.headers.get("Location", ""))
    if origin_of(target) != origin:
        raise UnsafeRedirectError(
            f"{method} {sanitize_url(url)}: the API redirected to {origin_of(target)}; the "
            f"key is only ever sent to {origin}, so the redirect was not "
            "followed. Check CALLCOV_API_URL.",
            method=method,
            url=sanitize_url(url),
        )
    return target


def unreachable(
    exc: requests.RequestException,
    proxy: str | None,
    origin: str = "the API",
    *,
    credentials: bool = False,
) -> tuple[type[APIConnectionError], str]:
    """The error for a request that got no answer, and what to check (never a password).

    ``proxy``: the proxy's origin (no credentials); ``credentials``: whether it was given some.
    """
    kind = type(exc).__name__
    status = tunnel_status(exc) if isinstance(exc, requests.exceptions.ProxyError) else None
    if status in (401, 407):
        # tinyproxy answers wrong credentials with 401 and none with 407; squid 407 to both.
        if credentials:
            why = f"the proxy {proxy} refused the user name and password in CALLCOV_PROXY"
        else:
            why = f"the proxy {proxy} asks for a user name and password; add them to CALLCOV_PROXY"
        return ProxyAuthenticationError, (
            f"{why} ({status}); not retried, so that a wrong password cannot lock the account"
        )
    if status is not None:
        return APIConnectionError, (
            f"the proxy {proxy} refused the tunnel to the API ({status}); "
            "check CALLCOV_PROXY and that the proxy allows CONNECT to the API's host"
        )
    explained = tls_failure(exc, origin)
    if explained is not None:
        return TLSVerificationError, f"{explained} ({kind})"
    if isinstance(exc, requests.exceptions.ProxyError) and proxy is not None:
        why = f"cannot reach the API through the proxy {proxy} ({kind}); check CALLCOV_PROXY"
        return APIConnectionError, why
    return APIConnectionError, (
        f"cannot reach the API ({kind}); check the network and CALLCOV_API_URL"
    )


def read_body(
    response: requests.Response,
    method: str,
    url: str,
    read_timeout: float,
    monotonic: Callable[[], float],
) -> bytes:
    """Read the whole body within ``read_timeout`` seconds (on ``monotonic``) and the size cap."""
    safe_url = sanitize_url(response.url or url)
    deadline = monotonic() + read_timeout
    chunks: list[bytes] = []
    size = 0
    error: APIError | None = None
    try:
        for chunk in response.iter_content(chunk_size=1 << 16):
            size += len(chunk)
            chunks.append(chunk)
            if size > MAX_BODY_BYTES:
                error = ResponseTooLargeError(
                    f"{method} {safe_url}: the response grew past {MAX_BODY_BYTES >> 20} MiB "
                    "(decompressed) and was dropped; not retried, since the same request "
                    "would get the same answer. Ask for smaller pages (limit=) or check "
                    "CALLCOV_API_URL.",
                    method=method,
                    url=safe_url,
                )
                break
            if monotonic() > deadline:
                error = APITimeoutError(
                    f"{method} {safe_url}: body still arriving after {read_timeout:g} s",
                    method=method,
                    url=safe_url,
                )
                break
    except requests.Timeout:
        error = APITimeoutError(
            f"{method} {safe_url}: the answer stalled", method=method, url=safe_url
        )
    except requests.RequestException as exc:
        error = ResponseDecodeError(
            f"{method} {safe_url}: the answer was cut off ({type(exc).__name__})",
            method=method,
            url=safe_url,
        )
    if error is not None:
        chunks.clear()  # what arrived may echo the key; a traceback with locals shows it
        chunk = b""
        raise error from None
    return b"".join(chunks)
