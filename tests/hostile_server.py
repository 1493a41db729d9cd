"""A small loopback server that misbehaves the way real servers, gateways and proxies do.

It is not the sandbox: the sandbox follows the API's rules faithfully, this one breaks them on
purpose, one way per *mode*, and shares no code with the client or the sandbox. Each mode is a
function from the honest answer to the hostile one. Every request is logged (path and query;
never the key), so a test can count what a load cost.

    with HostileServer("offset_ignored") as server:
        load_calls(api_key=server.key, base_url=server.url, ...)
        len(server.log)
"""

from __future__ import annotations

import gzip
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

EPOCH = 1_700_000_000  # the newest analysis; the rest are a minute apart, older
PREFIX = "/api/v1"


@dataclass
class Answer:
    """What the server sends: status, headers and body."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass
class Listing:
    """One list request as the honest server would answer it."""

    offset: int
    limit: int
    records: list[dict[str, Any]]  # every analysis, newest first
    key: str  # the API key the request carried (a hostile server may echo it)

    def page(self, offset: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The records at offset..offset+limit (default: what was asked)."""
        start = self.offset if offset is None else offset
        return self.records[start : start + (self.limit if limit is None else limit)]

    def envelope(self, data: list[dict[str, Any]], **override: Any) -> dict[str, Any]:
        """The list envelope around `data`, honest unless overridden."""
        total = len(self.records)
        doc = {
            "object": "list",
            "data": data,
            "has_more": self.offset + len(data) < total,
            "total": total,
            "limit": self.limit,
            "offset": self.offset,
        }
        doc.update(override)
        return doc


Mode = Callable[[Listing], Answer]


def ok(doc: Any) -> Answer:
    """A 200 JSON answer."""
    return Answer(body=json.dumps(doc).encode())


def record(i: int) -> dict[str, Any]:
    """The i-th analysis (0 is the newest): a small, documented, completed analysis."""
    return {
        "id": str(uuid.UUID(int=(0xCA11 << 112) | (1_000_000 - i), version=4)),
        "object": "analysis",
        "created": EPOCH - 60 * i,
        "status": "completed",
        "livemode": False,
        "call": {
            "agent_id": f"agent_{i % 7:03d}",
            "contact_id": f"contact_{i:04d}",
            "duration_ms": 60_000 + i,
            "duration_seconds": 60.0 + i / 1000,
        },
        "metadata": {
            "webhook_url": None,
            "completed_at": EPOCH - 60 * i + 30,
            "processing_time_ms": 30_000,
            "error_message": None,
        },
    }


def _each(change: Callable[[dict[str, Any]], None]) -> Mode:
    """A mode that changes every record of every page."""

    def mode(listing: Listing) -> Answer:
        data = [json.loads(json.dumps(r)) for r in listing.page()]
        for r in data:
            change(r)
        return ok(listing.envelope(data))

    return mode


def _one(change: Callable[[dict[str, Any]], None], at: int = 120) -> Mode:
    """A mode that changes the analysis at list position `at` wherever it is served."""

    def mode(listing: Listing) -> Answer:
        data = [json.loads(json.dumps(r)) for r in listing.page()]
        for position, r in enumerate(data, start=listing.offset):
            if position == at:
                change(r)
        return ok(listing.envelope(data))

    return mode


def _iso(r: dict[str, Any]) -> None:
    r["created"] = datetime.fromtimestamp(r["created"], UTC).isoformat().replace("+00:00", "Z")
    done = r["metadata"]["completed_at"]
    r["metadata"]["completed_at"] = datetime.fromtimestamp(done, UTC).isoformat()


def _ms(r: dict[str, Any]) -> None:
    r["created"] *= 1000
    r["metadata"]["completed_at"] *= 1000


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(r: dict[str, Any]) -> None:
        if value is ...:
            del r[name]
        else:
            r[name] = value

    return change


def _repeated(listing: Listing) -> Answer:
    twice = [r for i, r in enumerate(listing.records) for _ in range(2 if i % 10 == 0 else 1)]
    doubled = Listing(listing.offset, listing.limit, twice, listing.key)
    return ok(doubled.envelope(doubled.page()))


def gzip_bomb(size: int) -> bytes:
    """`size` bytes of JSON-looking whitespace, gzipped (about 1,000 times smaller)."""
    return gzip.compress(b"{" + b" " * size + b"}", compresslevel=9)


MODES: dict[str, Mode] = {
    # the baseline: what the API promises
    "honest": lambda q: ok(q.envelope(q.page())),
    # a cache or gateway that drops the query string: the first page, has_more true, forever
    "offset_ignored": lambda q: ok(q.envelope(q.page(0), has_more=True, offset=0)),
    # a list sorted the other way round
    "oldest_first": lambda q: ok(
        q.envelope(list(reversed(q.records))[q.offset : q.offset + q.limit])
    ),
    # a gateway that caps every page at one row (and says there is more)
    "one_row_pages": lambda q: ok(q.envelope(q.page(limit=1))),
    # a gateway that caps pages at 20 rows, honest has_more: must still give every row
    "capped_pages": lambda q: ok(q.envelope(q.page(limit=20))),
    # an offset past the end answered with the last page again, has_more true
    "offset_clamped": lambda q: ok(
        q.envelope(q.page(min(q.offset, len(q.records) - q.limit)), has_more=True)
    ),
    "created_iso": _each(_iso),
    "created_ms": _each(_ms),
    "created_missing": _one(_set("created", ...)),
    "created_garbled": _one(_set("created", "yesterday")),
    "id_missing": _one(_set("id", ...)),
    "id_null": _one(_set("id", None)),
    # every tenth analysis listed twice, next to itself (a join gone wrong on the server)
    "rows_repeated": lambda q: _repeated(q),
    # a server with a fixed page size of 100, whatever limit asked
    "limit_ignored": lambda q: ok(q.envelope(q.page(limit=100))),
    # pages overlapping by 10 rows instead of the client's one
    "pages_overlap": lambda q: ok(q.envelope(q.page(max(0, q.offset - 10), q.limit))),
    # envelopes that lie
    "total_lies": lambda q: ok(q.envelope(q.page(), total=10_000)),
    "has_more_false": lambda q: ok(q.envelope(q.page(), has_more=False)),
    "has_more_true": lambda q: ok(q.envelope(q.page(), has_more=True)),
    "no_envelope": lambda q: ok({"object": "list", "data": q.page()}),
    # a proxy's error page, served as 200, echoing the request (and so the key)
    "html_echo": lambda q: Answer(
        body=f"<html><body>Request blocked. X-API-Key: {q.key}</body></html>".encode(),
        headers={"Content-Type": "text/html"},
    ),
    # an answer that inflates to far more than any page (the client's cap is lowered in tests)
    "gzip_bomb": lambda q: Answer(
        body=gzip_bomb(8 << 20),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    ),
    # a redirect to itself
    "redirect_loop": lambda q: Answer(
        status=302, headers={"Location": f"{PREFIX}/calls?offset={q.offset}&limit={q.limit}"}
    ),
}


@dataclass
class Request:
    """One logged request (never the key)."""

    path: str
    query: dict[str, str]


class HostileServer:
    """A threaded loopback server answering as `mode` says; a context manager."""

    def __init__(
        self,
        mode: str | Mode,
        *,
        n: int = 300,
        key: str | None = None,
        records: list[dict[str, Any]] | None = None,
    ) -> None:
        self.mode = MODES[mode] if isinstance(mode, str) else mode
        self.key = key or f"sk_test_{secrets.token_hex(16)}"
        self.records = records if records is not None else [record(i) for i in range(n)]
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The API base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    @property
    def list_requests(self) -> int:
        """How many list pages were asked for."""
        return sum(r.path.rstrip("/").endswith(("/calls", "/analysis")) for r in self.log)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def answer(self, path: str, query: dict[str, str], key: str | None) -> Answer:
        """The answer to one request."""
        if key != self.key:
            error = {"error": {"code": "unauthorized", "message": "Invalid or missing API key"}}
            return Answer(401, json.dumps(error).encode())
        if path == f"{PREFIX}/health":
            return ok({"status": "ok"})
        if path in (f"{PREFIX}/calls", f"{PREFIX}/analysis/"):
            listing = Listing(
                offset=int(query.get("offset", 0)),
                limit=int(query.get("limit", 100)),
                records=self.records,
                key=key,
            )
            return self.mode(listing)
        return Answer(404, json.dumps({"error": {"code": "not_found"}}).encode())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with server._lock:
                    server.log.append(Request(parts.path, query))
                answer = server.answer(parts.path, query, self.headers.get("X-API-Key"))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads `server.log`."""

        return Handler
