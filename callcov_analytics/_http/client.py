"""CallCovClient: one keep-alive session, the key sent only to the API's origin, paced by the
rate limit and retried (tenacity) on transient faults.

Each request goes through three gates:

1. **Pacing** — `RateLimiter.reserve()` says how long to wait so that no request is sent into a
   spent window (the wait ends at ``X-RateLimit-Reset`` read on the server's clock).
2. **One attempt** — `requests` with ``allow_redirects=False`` (requests forwards custom headers
   such as ``X-API-Key`` to any host a redirect names), connect/read timeouts, and a total body
   deadline and size cap (a trickling server defeats the per-read timeout).
3. **Retry policy** — tenacity: only connection faults, cut or undecodable bodies, 5xx and 429
   (not a spent daily quota) are retried; the wait is the rate-limit reset when known, else
   capped jittered backoff; attempts and a total deadline bound it.
"""

from __future__ import annotations

import copy
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import requests
import tenacity

from .._clock import SYSTEM, Clock, SystemClock
from .._config import Config
from .._decode.parse import ParsedPage, parse_page, parse_record
from .._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ValidationError,
    make_status_error,
    parse_error_body,
)
from .._secrets import Held, Secret, hold_secret, redact_text, sanitize_url
from .._version import __version__
from .exchange import (
    APIKeyAuth,
    StopWhenSilent,
    is_retryable,
    parse_json,
    read_body,
    redirect_target,
    unreachable,
)
from .latency import Latency
from .observers import Observer
from .ratelimit import BUDGETS, QuotaReading, RateLimiter, wait_rate_limit

logger = logging.getLogger("callcov_analytics")
logger.addHandler(logging.NullHandler())

T = TypeVar("T")

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
LIST_PATHS = ("/calls", "/analysis/")  # docs/api.md §2: /calls first, /analysis/ on a 404


class CallCovClient:
    """A reusable connection to the CallCov API.

    Args:
        api_key: the key; default the session key (notebook widget), CALLCOV_API_KEY, .env.
        base_url: default CALLCOV_API_URL, then https://api.callcov.com/api/v1.
        clock: wall time, monotonic time and sleep for everything this client and its loads
            time (`_clock.Clock`); default the system's. Tests pass a fake one (no real waiting).
            One argument, not a ``sleep`` and a ``clock``: a sleep that does not move the clock
            the limiter reads would wait for nothing (or spin on the real time).

    Example::

        client = CallCovClient()
        client.health()
        page = client.list_page(offset=0, limit=1000)
    """

    def __init__(
        self,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        *,
        config: Config | None = None,
        clock: Clock = SYSTEM,
        observer: Observer | None = None,
    ) -> None:
        self.config = config or Config.resolve(api_key, base_url)
        # The log filter masks this key and proxy exactly as long as the client lives: until
        # close(), or until it is garbage-collected unclosed (see `_secrets.RedactingFilter`).
        holds = (hold_secret(self.config.api_key), hold_secret(self.config.proxy))
        self._release_secrets = weakref.finalize(self, _release, holds)
        self._of: CallCovClient | None = None  # the client a per-load view was made of
        self.clock = clock
        # The rate limit belongs to the key: every client of it paces on one shared budget.
        # A fake clock (tests) gets a private one, since budgets keep local times.
        real = isinstance(clock, SystemClock)
        shared = BUDGETS.get(self.config.origin, self.config.api_key) if real else None
        self.limiter = RateLimiter(clock=clock.time, budget=shared)
        self.observer = observer
        # The list path that answered (/calls, or /analysis/ after a 404), shared with the
        # per-load views of this client (`for_load`).
        self._route: dict[str, str] = {}
        self._observer_lock = threading.Lock()  # fetch-ahead threads report one at a time
        self.latencies = Latency(self.config.read_timeout, clock=clock.monotonic)
        # One Session for every thread: its urllib3 pool is thread-safe, and it keeps no state
        # per request that threads could mix up (no cookies are sent, auth is per request).
        self.session = requests.Session()
        # No proxies, .netrc or REQUESTS_CA_BUNDLE from the environment (.netrc credentials and
        # proxy auth have leaked to redirect targets before); TLS verification stays on. Only
        # the configured proxy and CA bundle apply, and the proxy only to https (a CONNECT
        # tunnel: the proxy never sees the key).
        self.session.trust_env = False
        if self.config.proxy is not None and self.config.origin.startswith("https:"):
            self.session.proxies = {"https": self.config.proxy.reveal()}
        if self.config.ca_bundle is not None:
            self.session.verify = self.config.ca_bundle
        self.session.auth = APIKeyAuth(self.config.api_key, self.config.origin)
        self.session.headers.update(
            {
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": f"callcov-analytics/{__version__}",
            }
        )

    def __repr__(self) -> str:
        return f"CallCovClient(base_url={self.config.base_url!r}, api_key={self.config.api_key!r})"

    def __enter__(self) -> CallCovClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the keep-alive connections; the log filter forgets this client's key."""
        self.session.close()
        self._release_secrets()

    def for_load(self, observer: Observer | None) -> CallCovClient:
        """This client for one load: the same connections, rate limit and settings, but the
        load's own observer, so two loads on one client never see each other's events."""
        view = copy.copy(self)
        view.observer = observer
        view._of = self  # alive while the view is, so its key stays masked
        return view

    @property
    def latency(self) -> float | None:
        """Smoothed seconds per request, body included (None before any answer)."""
        return self.latencies.smoothed

    @property
    def readings(self) -> list[QuotaReading]:
        """Rate-limit facts of every response so far (for the quota plot)."""
        return self.limiter.readings

    # -- endpoints ------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a path under the base URL and return its JSON."""
        return self.request("GET", path, params=params, parse=parse_json)

    def health(self) -> dict[str, Any]:
        """``GET /health``: raises AuthenticationError for a bad key."""
        result: dict[str, Any] = self.get("/health")
        return result

    def usage(self) -> dict[str, Any]:
        """``GET /billing/usage``: the billing period's usage and limits."""
        result: dict[str, Any] = self.get("/billing/usage")
        return result

    def analysis(self, analysis_id: str) -> dict[str, Any]:
        """``GET /analysis/{id}``: one analysis as the API returns it."""
        if not isinstance(analysis_id, str) or analysis_id.strip(".") == "":
            raise ValidationError(
                f"analysis_id must be an analysis id such as a UUID (got {analysis_id!r}).",
                param="analysis_id",
            )
        # One path segment, whatever it holds: "../../health" must not climb out of /analysis/.
        path = f"/analysis/{quote(analysis_id, safe='')}"
        return self.request("GET", path, parse=parse_record)  # an analysis object, or an error

    def list_page(
        self,
        *,
        offset: int,
        limit: int,
        params: Mapping[str, Any] | None = None,
        include_transcript: bool = False,
        include_segments: bool = False,
    ) -> ParsedPage:
        """One page of the analysis list, parsed into columns (see `_decode.parse_page`)."""
        return self.list_raw(
            offset=offset,
            limit=limit,
            params=params,
            parse=lambda body: parse_page(
                body, include_transcript=include_transcript, include_segments=include_segments
            ),
        )

    def list_raw(
        self,
        *,
        offset: int,
        limit: int,
        params: Mapping[str, Any] | None,
        parse: Callable[[bytes], T],
    ) -> T:
        """One page of the list, parsed by ``parse``; handles the /calls → /analysis/ fallback."""
        query = {**(params or {}), "limit": limit, "offset": offset}
        if "list" in self._route:
            return self.request("GET", self._route["list"], params=query, parse=parse)
        try:
            result = self.request("GET", LIST_PATHS[0], params=query, parse=parse)
        except NotFoundError:
            logger.info("%s answered 404; using %s from now on", LIST_PATHS[0], LIST_PATHS[1])
            self._route["list"] = LIST_PATHS[1]
            return self.request("GET", LIST_PATHS[1], params=query, parse=parse)
        self._route["list"] = LIST_PATHS[0]
        return result

    # -- the request pipeline -------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        parse: Callable[[bytes], T],
    ) -> T:
        """Send with pacing and retries; ``parse`` turns the body into the result."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retryable),
            wait=wait_rate_limit(pause=self.limiter.serve_unnamed),
            stop=(
                tenacity.stop_after_attempt(self.config.max_retries + 1)
                | tenacity.stop_before_delay(self.config.deadline)
                | StopWhenSilent(self.latencies)
            ),
            sleep=self.clock.sleep,
            reraise=True,
            before_sleep=self._before_retry,
        )
        result: T = retrying(self._attempt, method, path, params, parse)
        return result

    def _attempt(
        self, method: str, path: str, params: Mapping[str, Any] | None, parse: Callable[[bytes], T]
    ) -> T:
        """One try: paced, redirects followed, the status mapped, the body parsed."""
        url = self.config.base_url + path
        response, body, reading = self._follow(method, url, params)
        try:
            if response.status_code >= 400:
                raise self._status_error(response, body, method, url, reading)
            return parse(body)
        except ResponseDecodeError as exc:
            exc.method, exc.url = method, sanitize_url(response.url or url)
            exc.args = (redact_text(str(exc), self.config.api_key.reveal()),)
            # Raised afresh from here: the parser's frames (whose locals hold the body) are
            # not part of what a verbose traceback shows.
            raise exc.with_traceback(None) from None
        finally:
            # No frame that a traceback with locals shows keeps the raw body (it may echo the
            # key): the body is dropped before the exception leaves this frame.
            del body

    def _follow(
        self, method: str, url: str, params: Mapping[str, Any] | None
    ) -> tuple[requests.Response, bytes, QuotaReading]:
        """Exchanges until an answer that is not a redirect (same origin only, at most 3)."""
        for _ in range(MAX_REDIRECTS + 1):
            response, body, reading = self._exchange(method, url, params, self._pace())
            if response.status_code not in _REDIRECTS:
                return response, body, reading
            url, params = redirect_target(response, method, url, self.config.origin), None
        raise APIError(
            f"{method} {sanitize_url(url)}: more than {MAX_REDIRECTS} redirects",
            method=method,
            url=sanitize_url(url),
        )

    def _exchange(
        self, method: str, url: str, params: Mapping[str, Any] | None, waited: float
    ) -> tuple[requests.Response, bytes, QuotaReading]:
        """Send one request and read its answer; every answer is observed, even a cut one."""
        started, sent = self.clock.monotonic(), self.limiter.now()
        response = self._send(method, url, params)
        to_headers = self.clock.monotonic() - started
        try:
            cut: APIError | None = None
            body = b""
            if response.status_code not in _REDIRECTS:
                try:
                    body = read_body(
                        response, method, url, self.config.read_timeout, self.clock.monotonic
                    )
                except (APIConnectionError, ResponseDecodeError, ResponseTooLargeError) as exc:
                    cut = exc  # the request still counted: observe it before raising
            self.latencies.answered(to_headers, self.clock.monotonic() - started)
            reading = self._observe(response, body, waited, sent)
        finally:
            response.close()
        if cut is not None:
            raise cut
        return response, body, reading

    def _observe(
        self, response: requests.Response, body: bytes, waited: float, sent: float
    ) -> QuotaReading:
        """Tell the limiter and the observer about one answer."""
        status = response.status_code
        code = parse_error_body(body.decode("utf-8", "replace"))[0] if status == 429 else None
        reading = self.limiter.observe(
            status, response.headers, waited=waited, code=code, sent=sent
        )
        self._notify("on_response", reading)
        return reading

    def _notify(self, event: str, *args: Any) -> None:
        """Call an observer method, one thread at a time (see `Observer`)."""
        if self.observer is not None:
            with self._observer_lock:
                getattr(self.observer, event)(*args)

    def _pace(self) -> float:
        """Wait until the rate-limit budget allows one more request; return the time waited."""
        waited = 0.0
        while (delay := self.limiter.reserve()) > 0:
            logger.info("rate limit: waiting %.1f s for the window to reset", delay)
            self._notify("on_wait", delay, "rate limit")
            self.clock.sleep(delay)
            waited += delay
        return waited

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None) -> requests.Response:
        safe_url = sanitize_url(url)
        timeout = (self.config.connect_timeout, self.latencies.read_timeout())
        try:
            response = self.session.request(
                method, url, params=params, timeout=timeout, allow_redirects=False, stream=True
            )
        except requests.ConnectTimeout:
            self.limiter.release()
            raise APITimeoutError(
                f"{method} {safe_url}: could not connect within {timeout[0]:g} s",
                method=method,
                url=safe_url,
            ) from None
        except requests.Timeout:
            self.limiter.release()
            self.latencies.unanswered(timeout[1])
            silent = self.latencies.silent_for()
            raise APITimeoutError(
                f"{method} {safe_url}: the server accepted the request but sent no answer in "
                f"{timeout[1]:g} s (nothing answered for {silent:.0f} s; the client stops "
                f"retrying after {self.latencies.silence:g} s of silence). Check that the "
                "API is up and CALLCOV_API_URL is right.",
                method=method,
                url=safe_url,
            ) from None
        except requests.RequestException as exc:
            self.limiter.release()
            proxy = self.config.proxy
            error, why = unreachable(
                exc,
                self.config.proxy_origin,
                self.config.origin,
                credentials=proxy is not None and "@" in proxy.reveal(),
            )
            raise error(f"{method} {safe_url}: {why}", method=method, url=safe_url) from None
        logger.debug("%s %s -> %s", method, sanitize_url(response.url or url), response.status_code)
        return response

    def _status_error(
        self,
        response: requests.Response,
        body: bytes,
        method: str,
        url: str,
        reading: QuotaReading,
    ) -> APIError:
        text = redact_text(body.decode("utf-8", "replace"), self.config.api_key.reveal())
        status = response.status_code
        asked = self.limiter.retry_after(response.headers) if status >= 400 else None
        retry_after = reset_at = None
        if status == 429:
            # Retry-After, else the window's reset (a bare 429's backoff is the budget's).
            retry_after = asked
            reset_at = reading.reset_local
        error = make_status_error(
            status,
            text,
            method=method,
            url=sanitize_url(response.url or url),
            request_id=response.headers.get("X-Request-Id"),
            retry_after=retry_after,
            reset_at=reset_at,
        )
        if status != 429 and "retry-after" in {k.lower() for k in response.headers} and asked:
            # Every status may ask to wait (503 maintenance, 413): no request goes before then.
            error.args = (f"{error} (the server asked to wait {asked:.0f} s)",)
        return error

    def _before_retry(self, state: tenacity.RetryCallState) -> None:
        """Log the retry and show the wait in the progress display, with its reason."""
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.info("retrying in %.1f s after %s (attempt %d)", wait, exc, state.attempt_number)
        if isinstance(exc, RateLimitError):
            reason = "rate limit"
        elif isinstance(exc, APITimeoutError) and self.latencies.silent_for() > 0:
            reason = "server not answering"
        else:
            reason = "retry"
        self._notify("on_wait", wait, reason)


def _release(holds: tuple[Held, ...]) -> None:
    """End a client's holds on its secrets (its finalizer: runs once, on close or collection)."""
    for held in holds:
        held.release()
