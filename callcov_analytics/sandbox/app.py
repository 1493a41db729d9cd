"""The sandbox as a WSGI application: auth, rate limits, the endpoints, faults and the log.

Decisions where the contract is silent:

- Every request with a known key counts against its window and day, 429s included; 401s do
  not count (the key is unknown). `/health` counts like any other request.
- Under `/api/v1` authentication comes first, so an unknown path answers 401 without a key and
  404 with one. Paths outside `/api/v1` answer 404 without authentication.
- The forbidden key gets 200 from `/health` and 403 from every other known endpoint.
- Like FastAPI's `redirect_slashes`, `/analysis` and `/calls/` answer 307 to the documented
  spelling on the same origin, before authentication.
- A daily-quota 429 carries X-RateLimit-Remaining 0 and X-RateLimit-Reset at the next 00:00 UTC.
- A malformed id in `/analysis/{id}` is 404, like an unknown one.

The data is generated over the weeks before an *anchor*: the `anchor` argument, else (on the
real clock) the environment variable CALLCOV_SANDBOX_ANCHOR, else now. The variable takes Unix
seconds, an ISO-8601 time (naive = UTC) or a shift from now such as ``-3d`` or ``+30h``, so
a test suite can be run as if it were another weekday or hour.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from .arrivals import Arrivals
from .billing import month_of, month_start, usage
from .data import Dataset, Filters
from .faults import Faults
from .pages import PageCache
from .plans import (
    FORBIDDEN,
    KEY_NAMES,
    OTHER_ACCOUNT,
    PLANS,
    Decision,
    Limiter,
    effective_plan,
    new_key,
    new_keys,
)
from .responses import (
    REASONS,
    Response,
    dump,
    error,
    html_page,
    http_date,
    list_params,
    ratelimit_headers,
    server_error,
)

PREFIX = "/api/v1"
# environ key through which the app asks the server to reset or truncate the connection.
ACTION_KEY = "callcov_sandbox.action"
_SLASH_REDIRECTS = {
    "/analysis": "/analysis/",
    "/calls/": "/calls",
    "/health/": "/health",
    "/billing/usage/": "/billing/usage",
}

StartResponse = Callable[..., Any]


ANCHOR_ENV = "CALLCOV_SANDBOX_ANCHOR"
_SHIFT = re.compile(r"([+-]\d+(?:\.\d+)?)([dh])")


def anchor_from_env(now: float) -> int:
    """The data's anchor: CALLCOV_SANDBOX_ANCHOR (Unix s, ISO-8601, or a shift like -3d) or now."""
    value = os.environ.get(ANCHOR_ENV, "").strip()
    if not value:
        return int(now)
    if shift := _SHIFT.fullmatch(value):
        return int(now + float(shift[1]) * (86400 if shift[2] == "d" else 3600))
    try:
        return int(float(value))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{ANCHOR_ENV}={value!r}: use Unix seconds, an ISO-8601 time such as "
            "2026-11-28T07:30:00Z, or a shift from now such as -3d or +30h"
        ) from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


@dataclass(frozen=True)
class LogEntry:
    """One request as the server saw it; it never holds the key itself."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    plan: str | None  # plan name of the key, "invalid" for an unknown key, None for no key
    auth: str | None  # "x-api-key", "bearer" or None
    status: int  # 0 when the connection was reset without a response
    window_used: int | None
    window_limit: int | None
    reset: int | None
    fault: str | None
    request_id: str = field(default="", compare=False)


@dataclass
class _Request:
    method: str
    route: str
    query: dict[str, str]
    query_string: str
    origin: str
    now: float
    request_id: str
    plan: str | None = None
    auth: str | None = None


class SandboxApp:
    """WSGI callable `app(environ, start_response)` serving the CallCov contract."""

    def __init__(
        self,
        plan: str = "starter",
        *,
        seed: int = 7,
        n_analyses: int = 2500,
        window_seconds: float = 60.0,
        limit: int | None = None,
        daily_limit: int | None = None,
        faults: Faults | None = None,
        clock: Callable[[], float] | None = None,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        anchor: int | None = None,
        arrivals_per_minute: float = 0.0,
    ) -> None:
        """Build the app; see `serve()` for the arguments."""
        if plan not in PLANS:
            raise ValueError(f"unknown plan {plan!r}; expected one of {', '.join(PLANS)}")
        if n_analyses < 0 or latency < 0 or latency_jitter < 0 or arrivals_per_minute < 0:
            raise ValueError(
                "n_analyses, latency, latency_jitter and arrivals_per_minute must be >= 0"
            )
        self.plan = plan
        self.clock = clock or time.time
        self.faults = faults if faults is not None else Faults()
        self.keys = new_keys()
        self._names = {key: name for name, key in self.keys.items()}
        allowances = {n: effective_plan(n, plan, limit, daily_limit) for n in KEY_NAMES}
        if anchor is None:
            anchor = int(self.clock()) if clock is not None else anchor_from_env(self.clock())
        self.data = Dataset(seed, n_analyses, anchor)
        # A second account (its own analyses, a starter key of its own): what one key sees,
        # another account's key never does (its ids answer 404 there).
        self.other_key = new_key()
        self._names[self.other_key] = OTHER_ACCOUNT
        allowances[OTHER_ACCOUNT] = effective_plan("starter", plan, None, None)
        self.other_data = Dataset(seed + 1_000, min(n_analyses, 40), anchor)
        self.limiter = Limiter(window_seconds, allowances)
        self.latency, self.latency_jitter = latency, latency_jitter
        self._latency_rng = random.Random(seed + 2)
        self.stop = threading.Event()  # set on shutdown so stalls and latency end at once
        self._log: list[LogEntry] = []
        self._log_lock = threading.Lock()
        self.pages = PageCache()
        self._last_offset: dict[tuple[Filters, int], int] = {}
        self.live = Arrivals(self.data, arrivals_per_minute, self.now(), seed)

    def now(self) -> float:
        """Return the server clock: the injected clock plus `faults.clock_offset`."""
        return self.clock() + self.faults.clock_offset

    @property
    def log(self) -> list[LogEntry]:
        """Return a snapshot of the request log."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget all logged requests."""
        with self._log_lock:
            self._log.clear()

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        if self.latency or self.latency_jitter:
            self.stop.wait(self.latency + self._latency_rng.uniform(0, self.latency_jitter))
        path = environ.get("PATH_INFO", "") or "/"
        query_string = environ.get("QUERY_STRING", "")
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        req = _Request(
            method=environ.get("REQUEST_METHOD", "GET"),
            route=path,
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            query_string=query_string,
            origin=f"{environ.get('wsgi.url_scheme', 'http')}://{host}",
            now=self.now(),
            request_id="req_" + secrets.token_hex(12),
        )
        decision = None
        if not path.startswith(PREFIX + "/"):
            resp = error(404, "not_found", req.request_id)
        elif path[len(PREFIX) :] in _SLASH_REDIRECTS:
            resp = self._redirect(req.origin + PREFIX + _SLASH_REDIRECTS[path[len(PREFIX) :]], req)
        else:
            req.route = path[len(PREFIX) :]
            name = self._authenticate(environ, req)
            self.live.advance(req.now)
            if name is None:
                resp = error(401, "unauthorized", req.request_id)
            else:
                decision = self.limiter.hit(name, req.now, month_of(req.now))
                if decision.outcome != "ok":
                    resp = error(429, decision.outcome, req.request_id, self._why(name, decision))
                    if self.faults.retry_after:
                        resp.headers.append(("Retry-After", str(max(0, _ceil(decision.wait)))))
                else:
                    resp = self._route(req, name)
                resp.headers += ratelimit_headers(decision, req.now, self.faults.ratelimit_headers)
        return self._finish(environ, start_response, req, resp, decision)

    def _authenticate(self, environ: dict[str, Any], req: _Request) -> str | None:
        """Return the key's name (plan or "forbidden"), recording how it was sent."""
        key = environ.get("HTTP_X_API_KEY")
        if key is not None:
            req.auth = "x-api-key"
        else:
            scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            if scheme.lower() == "bearer" and token:
                key, req.auth = token.strip(), "bearer"
        if key is None:
            return None
        name = self._names.get(key.strip())
        req.plan = name or "invalid"
        return name

    def _why(self, name: str, decision: Decision) -> str:
        """Human message for a 429."""
        per_window, per_day = self.limiter.allowances[name]
        if decision.outcome == "daily_quota_exceeded":
            return f"Daily quota of {per_day} requests exceeded; it resets at 00:00 UTC"
        window = f"{self.limiter.window_seconds:g}"
        return f"Rate limit of {per_window} requests per {window} s exceeded; see X-RateLimit-Reset"

    def _redirect(self, location: str, req: _Request, status: int = 307) -> Response:
        if req.query_string:
            location += "?" + req.query_string
        return Response(status, b"", headers=[("Location", location)])

    def _route(self, req: _Request, name: str) -> Response:
        """Dispatch an authenticated, in-limit request."""
        route = req.route
        is_list = route in ("/calls", "/analysis/")
        is_detail = route.startswith("/analysis/") and not is_list and "/" not in route[10:]
        if route not in ("/health", "/billing/usage") and not (is_list or is_detail):
            return error(404, "not_found", req.request_id)
        if req.method not in ("GET", "HEAD"):
            return error(405, "method_not_allowed", req.request_id)
        if route == "/health":
            return Response(200, dump({"status": "ok"}))
        if name == FORBIDDEN:
            return error(403, "forbidden", req.request_id)
        data = self._account(name)
        if route == "/billing/usage":
            calls = data.created_since(month_start(req.now))
            per_day = self.limiter.allowances[name][1]
            used = self.limiter.month_requests(name)
            plan = PLANS.get(name, PLANS["starter"])
            return Response(200, dump(usage(plan, per_day, used, calls, req.now)))
        if route == "/calls" and self.faults.calls_404:
            return error(404, "not_found", req.request_id)
        if is_detail:
            return self._faulted(req, "detail", lambda: self._detail(req, route[10:], data))
        limit, offset, problems = list_params(req.query)
        if problems:
            return Response(422, dump({"detail": problems}))
        if self.faults.redirect_to is not None:
            target = self.faults.redirect_to.rstrip("/") + PREFIX + route
            resp = self._redirect(target, req, self.faults.redirect_status)
            resp.fault = "redirect"
            return resp
        churn = self._churn(req) if offset > 0 else None
        resp = self._faulted(req, "list", lambda: self._list(req, limit, offset, data))
        resp.fault = ",".join(f for f in (churn, resp.fault) if f) or None
        return resp

    def _faulted(self, req: _Request, endpoint: Any, serve: Callable[[], Response]) -> Response:
        """Apply the next scripted or random fault to a data request."""
        fault = self.faults.draw(endpoint)
        if fault is None:
            return serve()
        kind = fault.kind
        if kind == "server_error":
            resp = server_error(fault.status or 500, req.request_id)
        elif kind in ("html_error", "captive_portal"):
            resp = html_page(fault.status or (200 if kind == "captive_portal" else 502))
        else:
            if kind == "stall":
                self.stop.wait(self.faults.stall_seconds)
            resp = serve()
            resp.action = kind if kind in ("reset", "truncate", "truncate_close") else None
        resp.fault = fault.label
        return resp

    def _churn(self, req: _Request) -> str | None:
        """Insert and delete records before a later page, as other users' activity would."""
        inserts, deletes = self.faults.churn_inserts, self.faults.churn_deletes
        if inserts <= 0 and deletes <= 0:
            return None
        if inserts > 0:
            self.data.insert(inserts, req.now)
        if deletes > 0:
            ranks = self.faults.rng_sample(self.data.count(), deletes)
            self.data.delete(self.data.page(r, 1, Filters())[0][0] for r in sorted(ranks))
        return f"churn:+{max(inserts, 0)}-{max(deletes, 0)}"

    def _account(self, name: str) -> Dataset:
        """The analyses the key's account holds."""
        return self.other_data if name == OTHER_ACCOUNT else self.data

    def _detail(self, req: _Request, record_id: str, data: Dataset) -> Response:
        key = data.key_of(record_id)
        if key is None:
            return error(404, "not_found", req.request_id, "Analysis not found")
        return Response(200, dump(data.record(key)))

    def _list(self, req: _Request, limit: int, offset: int, data: Dataset) -> Response:
        """Serve one list page from the page cache, and start building the next one."""
        q = req.query
        filters = Filters(
            q.get("status_filter"), q.get("agent_id"), q.get("contact_id"), q.get("search")
        )
        envelope = self.faults.envelope
        if data is not self.data:  # the other account's few analyses: no page cache
            return Response(200, self._encode(filters, limit, offset, envelope, data))
        version = self.data.version
        key = (filters, limit, offset, envelope, version)
        body = self.pages.page(key, lambda: self._encode(filters, limit, offset, envelope))
        # Guess the next offset from this client's stride (clients may overlap pages).
        previous = self._last_offset.get((filters, limit))
        self._last_offset[(filters, limit)] = offset
        ahead = offset + (
            offset - previous if previous is not None and offset > previous else limit
        )
        if not self.stop.is_set() and ahead < self.data.count():
            nxt = (filters, limit, ahead, envelope, version)
            self.pages.read_ahead(nxt, lambda: self._encode(filters, limit, ahead, envelope))
        return Response(200, body, cache_key=key)

    def _encode(
        self, filters: Filters, limit: int, offset: int, envelope: str, data: Dataset | None = None
    ) -> bytes:
        """Build and encode one list page."""
        data = data or self.data
        keys, total = data.page(offset, limit, filters)
        doc: dict[str, Any] = {"object": "list", "data": [data.record(k) for k in keys]}
        if envelope == "full":
            doc.update(has_more=offset + len(keys) < total, total=total, limit=limit, offset=offset)
        return dump(doc)

    def _finish(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        req: _Request,
        resp: Response,
        decision: Decision | None,
    ) -> Iterable[bytes]:
        """Add the common headers, gzip if asked, log, and hand the response to WSGI."""
        body = resp.body
        headers = [("Date", http_date(req.now)), ("X-Request-Id", req.request_id)]
        if body:
            headers.append(("Content-Type", f"{resp.content_type}; charset=utf-8"))
            if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "").lower():
                body = self.pages.gzipped(resp.cache_key, body)
                headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        headers += [*resp.headers, ("Content-Length", str(len(body)))]
        if resp.action is not None:
            environ[ACTION_KEY] = resp.action
        entry = LogEntry(
            time=req.now,
            method=req.method,
            path=environ.get("PATH_INFO", ""),
            query=req.query,
            plan=req.plan,
            auth=req.auth,
            status=0 if resp.action == "reset" else resp.status,
            window_used=decision.used if decision else None,
            window_limit=decision.limit if decision else None,
            reset=decision.reset if decision else None,
            fault=resp.fault,
            request_id=req.request_id,
        )
        with self._log_lock:
            self._log.append(entry)
        start_response(f"{resp.status} {REASONS.get(resp.status, 'Unknown')}", headers)
        return [body]


def _ceil(x: float) -> int:
    return -int(-x // 1)


# The WSGI app without a server (tests drive it in-process); same arguments as SandboxApp.
make_app = SandboxApp
