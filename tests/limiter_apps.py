"""The rate limiters real APIs deploy, serving the contract's list on 127.0.0.1 for tests/bench.

Two small apps, each limiting by the ``X-API-Key`` header with its library's own headers on:

* ``slowapi`` — FastAPI + slowapi (on ``limits``) under uvicorn;
* ``flask`` — Flask + Flask-Limiter (on ``limits``) under gunicorn (one worker, threads).

Both serve ``/health`` and ``/calls`` (the contract's envelope, newest first) from the sandbox's
record generator, share one limit across both paths, and can add latency, stall a share of
answers (a load balancer holding the connection) or send the IETF draft's header names instead
(``headers="draft"``: ``RateLimit-Limit/-Remaining/-Reset`` with a delta reset;
``headers="structured"``: ``RateLimit`` and ``RateLimit-Policy``). Every answer is logged to a
file (time, status, reset header) as ground truth for tests and the bench.

`serve()` binds port 0 in this process and hands the socket to the server process (no port
race), waits until it answers, and stops it on exit (SIGTERM, then SIGKILL), all bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from fastapi import Request
from fastapi import Response as FastAPIResponse

ROOT = Path(__file__).resolve().parent.parent
_ENV = "CCL_CONFIG"  # the app's settings, as JSON, in the server process's environment


@dataclass(frozen=True)
class Settings:
    """One server's behaviour."""

    key: str
    limits: str  # the limits string both libraries take, e.g. "5/2 seconds;12/10 seconds"
    strategy: str = "fixed-window"
    n: int = 2_000
    seed: int = 7
    latency: float = 0.0  # seconds added to every /calls answer
    stall_rate: float = 0.0  # share of /calls answers held for ``stall_seconds``
    stall_seconds: float = 60.0
    headers: str = "x"  # "x" (the library's X-RateLimit-*), "draft" or "structured"
    log: str = ""  # file that gets one JSON line per answer


class _Pages:
    """Encoded list pages of the sandbox's generated records, built once each."""

    def __init__(self, settings: Settings) -> None:
        from callcov_analytics.sandbox.data import Dataset, Filters

        self.data = Dataset(settings.seed, settings.n, anchor=1_764_547_200)  # fixed: any day
        self._filters = Filters()
        self._cache: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()

    def body(self, offset: int, limit: int) -> bytes:
        with self._lock:
            cached = self._cache.get((offset, limit))
        if cached is not None:
            return cached
        keys, total = self.data.page(offset, limit, self._filters)
        doc = {
            "object": "list",
            "data": [self.data.record(k) for k in keys],
            "has_more": offset + len(keys) < total,
            "total": total,
            "limit": limit,
            "offset": offset,
        }
        body = json.dumps(doc).encode()
        with self._lock:
            self._cache[(offset, limit)] = body
        return body


class _Behaviour:
    """What both apps share: key check, paging, latency, stalls, header variants, the log."""

    def __init__(self) -> None:
        self.s = Settings(**json.loads(os.environ[_ENV]))
        self.pages = _Pages(self.s)
        self._rng = random.Random(self.s.seed)
        self._lock = threading.Lock()
        self._log = open(self.s.log, "a", buffering=1) if self.s.log else None  # noqa: SIM115

    def stall(self) -> float:
        """Seconds to hold this answer: the latency, or a stall for a drawn share of answers."""
        with self._lock:
            stalled = self._rng.random() < self.s.stall_rate
        return self.s.stall_seconds if stalled else self.s.latency

    def record(self, status: int, headers: dict[str, str]) -> None:
        if self._log is not None:
            line = {"t": time.time(), "status": status, "headers": headers}
            with self._lock:
                self._log.write(json.dumps(line) + "\n")

    def finish(self, status: int, headers: Any) -> None:
        """Swap in the header variant asked for, then log the answer (Starlette or Werkzeug
        headers: both take ``del`` and ``update``)."""
        extra = self.rewrite(dict(headers))
        if extra:
            for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                del headers[name]
            headers.update(extra)
        self.record(status, dict(headers))

    def rewrite(self, headers: dict[str, str]) -> dict[str, str]:
        """The IETF draft's fields in place of X-RateLimit-* (reset as seconds from now)."""
        headers = {k.lower(): v for k, v in headers.items()}
        if self.s.headers == "x" or "x-ratelimit-limit" not in headers:
            return {}
        limit = headers["x-ratelimit-limit"]
        remaining = headers["x-ratelimit-remaining"]
        reset = float(headers["x-ratelimit-reset"])
        delta = str(max(0, round(reset - time.time())))
        if self.s.headers == "draft":
            return {
                "RateLimit-Limit": limit,
                "RateLimit-Remaining": remaining,
                "RateLimit-Reset": delta,
            }
        window = self.s.limits.split(";")[0].split("/")[1].split()  # "2 seconds" -> 2
        seconds = int(window[0]) if len(window) == 2 else 1
        return {
            "RateLimit-Policy": f'"default";q={limit};w={seconds}',
            "RateLimit": f'"default";r={remaining};t={delta}',
        }


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def make_fastapi() -> Any:
    """FastAPI + slowapi: run as ``uvicorn --factory tests.limiter_apps:make_fastapi``."""
    import asyncio

    from fastapi import FastAPI
    from slowapi import Limiter
    from slowapi.errors import RateLimitExceeded

    b = _Behaviour()
    limiter = Limiter(
        key_func=lambda request: request.headers.get("x-api-key", ""),
        headers_enabled=True,
        strategy=b.s.strategy,
        storage_uri="memory://",
    )
    app = FastAPI()
    app.state.limiter = limiter
    shared = limiter.shared_limit(b.s.limits, scope="api")

    @app.middleware("http")
    async def rewrite_and_log(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        b.finish(response.status_code, response.headers)
        return response

    async def handler(request: Request, exc: Exception) -> FastAPIResponse:
        body = _error("rate_limit_exceeded", f"Rate limit exceeded: {exc}")
        response = FastAPIResponse(body, 429, media_type="application/json")
        # What slowapi's own handler does: a 429 carries the limit's headers too.
        return limiter._inject_headers(response, request.state.view_rate_limit)

    app.add_exception_handler(RateLimitExceeded, handler)

    def authorised(request: Request) -> bool:
        return secrets.compare_digest(request.headers.get("x-api-key", ""), b.s.key)

    @app.get("/health")
    @shared
    async def health(request: Request) -> FastAPIResponse:
        if not authorised(request):
            return FastAPIResponse(_error("unauthorized", "Invalid or missing API key"), 401)
        return FastAPIResponse(b'{"status": "ok"}', media_type="application/json")

    @app.get("/calls")
    @shared
    async def calls(request: Request, limit: int = 100, offset: int = 0) -> FastAPIResponse:
        if not authorised(request):
            return FastAPIResponse(_error("unauthorized", "Invalid or missing API key"), 401)
        await asyncio.sleep(b.stall())
        body = await asyncio.to_thread(b.pages.body, offset, limit)
        return FastAPIResponse(body, media_type="application/json")

    return app


def make_flask() -> Any:
    """Flask + Flask-Limiter: run as ``gunicorn 'tests.limiter_apps:make_flask()'``."""
    from flask import Flask, Response, request
    from flask_limiter import Limiter

    b = _Behaviour()
    app = Flask("limiter_apps")
    limiter = Limiter(
        key_func=lambda: request.headers.get("x-api-key", ""),
        headers_enabled=True,
        strategy=b.s.strategy,
        storage_uri="memory://",
    )
    shared = limiter.shared_limit(b.s.limits, scope="api")

    @app.errorhandler(429)
    def too_many(exc: Exception) -> Response:
        body = _error("rate_limit_exceeded", f"Rate limit exceeded: {exc}")
        return Response(body, 429, mimetype="application/json")

    @app.after_request
    def log(response: Response) -> Response:
        b.finish(response.status_code, response.headers)
        return response

    # After-request hooks run last-registered first: ours is registered before the limiter's,
    # so it sees the headers the limiter added.
    limiter.init_app(app)

    def authorised() -> bool:
        return secrets.compare_digest(request.headers.get("x-api-key", ""), b.s.key)

    @app.get("/health")
    @shared
    def health() -> Response:
        if not authorised():
            return Response(_error("unauthorized", "Invalid or missing API key"), 401)
        return Response(b'{"status": "ok"}', mimetype="application/json")

    @app.get("/calls")
    @shared
    def calls() -> Response:
        if not authorised():
            return Response(_error("unauthorized", "Invalid or missing API key"), 401)
        time.sleep(b.stall())
        limit = int(request.args.get("limit", 100))
        offset = int(request.args.get("offset", 0))
        return Response(b.pages.body(offset, limit), mimetype="application/json")

    return app


@dataclass
class Running:
    """A started server: its URL, key, settings and answer log."""

    url: str
    key: str
    settings: Settings
    log_path: Path

    def log(self) -> list[dict[str, Any]]:
        """Every answer so far: {"t", "status", "headers"}."""
        text = self.log_path.read_text() if self.log_path.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def ids(self) -> list[str]:
        """Every analysis id in list order (ground truth for row checks)."""
        pages = _Pages(self.settings)
        return [pages.data.id_of(k) for k in pages.data.page(0, self.settings.n, pages._filters)[0]]


def _command(kind: str, fd: int) -> list[str]:
    if kind == "slowapi":
        return [
            sys.executable, "-m", "uvicorn", "--factory", "tests.limiter_apps:make_fastapi",
            "--fd", str(fd), "--log-level", "warning", "--timeout-graceful-shutdown", "1",
        ]  # fmt: skip
    if kind == "flask":
        return [
            sys.executable, "-m", "gunicorn", "tests.limiter_apps:make_flask()",
            "--bind", f"fd://{fd}", "--workers", "1", "--threads", "16",
            "--graceful-timeout", "1", "--log-level", "warning",
        ]  # fmt: skip
    raise ValueError(f"unknown limiter server {kind!r}")


@contextlib.contextmanager
def serve(kind: str, tmp: Path, *, ready_within: float = 30.0, **options: Any) -> Iterator[Running]:
    """Start one limiter server on 127.0.0.1:0 (``kind``: "slowapi" or "flask"); stop it on exit."""
    key = "sk_test_" + secrets.token_hex(16)  # made at run time, never stored
    log_path = tmp / f"{kind}-{secrets.token_hex(4)}.log"
    settings = Settings(key=key, log=str(log_path), **options)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {
        **os.environ,
        _ENV: json.dumps(settings.__dict__),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    fd = sock.fileno()
    proc = subprocess.Popen(
        _command(kind, fd), pass_fds=(fd,), env=env, cwd=ROOT, start_new_session=True
    )
    sock.close()  # the child holds its own copy
    try:
        _wait_ready(url, proc, ready_within)
        log_path.write_text("")  # the readiness probe is not part of the run
        yield Running(url=url, key=key, settings=settings, log_path=log_path)
    finally:
        _stop(proc)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the limiter server exited with {proc.returncode}")
        with contextlib.suppress(requests.RequestException):
            # Unauthenticated: answered 401 before the limiter counts anything for a real key.
            requests.get(url + "/health", timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"the limiter server did not answer within {within:g} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
