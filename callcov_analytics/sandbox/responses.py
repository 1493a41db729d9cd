"""Response bodies and headers in the shapes the contract documents (errors, 422, limits)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from .faults import HeaderMode
from .plans import Decision

MESSAGES = {
    "unauthorized": "Invalid or missing API key",
    "forbidden": "Insufficient permissions for this resource",
    "not_found": "Resource not found",
    "method_not_allowed": "Method not allowed",
    "internal_error": "Internal server error",
    "service_unavailable": "Service temporarily unavailable",
    "bad_gateway": "Bad gateway",
    "gateway_timeout": "Gateway timeout",
}
_CODE_FOR_STATUS = {
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
REASONS = {
    200: "OK",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    301: "Moved Permanently",
    302: "Found",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_CAPTIVE = "<!DOCTYPE html><html><body><h1>Sign in to Guest Wi-Fi</h1></body></html>"
_INT = re.compile(r"[+-]?\d+")
STATUS_VALUES = ("processing", "completed", "failed")


@dataclass
class Response:
    """What the app answers before the common headers are added."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None
    action: str | None = None  # "reset" / "truncate" / "truncate_close": done by the server
    cache_key: tuple[Any, ...] | None = None  # set on cached pages, to cache their gzip too


def dump(obj: Any) -> bytes:
    """Encode JSON compactly as UTF-8 (non-ASCII kept literal, as most APIs send it)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def error(status: int, code: str, request_id: str, message: str | None = None) -> Response:
    """Return the `{"error": {...}}` body the contract documents for most errors."""
    body = {"code": code, "message": message or MESSAGES[code], "request_id": request_id}
    return Response(status, dump({"error": body}))


def server_error(status: int, request_id: str) -> Response:
    """Return a JSON 5xx body."""
    return error(status, _CODE_FOR_STATUS.get(status, "internal_error"), request_id)


def html_page(status: int) -> Response:
    """Return an nginx-style HTML error page, or a captive portal page for status 200."""
    text = _CAPTIVE if status == 200 else _HTML.format(status=status, reason=REASONS[status])
    return Response(status, text.encode(), "text/html")


def http_date(now: float) -> str:
    """Format `now` as an HTTP date (the `Date` header)."""
    return formatdate(now, usegmt=True)


def ratelimit_headers(d: Decision, now: float, mode: HeaderMode) -> list[tuple[str, str]]:
    """Return the X-RateLimit-* headers, honest or deliberately broken."""
    if mode == "missing":
        return []
    if mode == "garbled":
        return [
            ("X-RateLimit-Limit", f"{d.limit}/min"),
            ("X-RateLimit-Remaining", "n/a"),
            ("X-RateLimit-Reset", "soon"),
        ]
    reset = d.reset
    if mode == "delta":
        reset = max(0, math.ceil(d.reset - now))
    elif mode == "millis":
        reset = d.reset * 1000
    return [
        ("X-RateLimit-Limit", str(d.limit)),
        ("X-RateLimit-Remaining", str(d.remaining)),
        ("X-RateLimit-Reset", str(reset)),
    ]


def _int_param(
    query: dict[str, str], name: str, default: int, ge: int, le: int | None
) -> tuple[int, dict[str, Any] | None]:
    """Parse one integer query parameter the way FastAPI/pydantic reports failures."""
    raw = query.get(name)
    if raw is None:
        return default, None
    loc = ["query", name]
    if not _INT.fullmatch(raw.strip()):
        msg = "Input should be a valid integer, unable to parse string as an integer"
        return default, {"type": "int_parsing", "loc": loc, "msg": msg, "input": raw}
    value = int(raw)
    if value < ge:
        msg = f"Input should be greater than or equal to {ge}"
        item = {"type": "greater_than_equal", "loc": loc, "msg": msg, "input": raw}
        return default, {**item, "ctx": {"ge": ge}}
    if le is not None and value > le:
        msg = f"Input should be less than or equal to {le}"
        item = {"type": "less_than_equal", "loc": loc, "msg": msg, "input": raw}
        return default, {**item, "ctx": {"le": le}}
    return value, None


def list_params(query: dict[str, str]) -> tuple[int, int, list[dict[str, Any]]]:
    """Return (limit, offset, validation errors) for a list request."""
    limit, e1 = _int_param(query, "limit", 100, 1, 1000)
    offset, e2 = _int_param(query, "offset", 0, 0, None)
    errors = [e for e in (e1, e2) if e is not None]
    status = query.get("status_filter")
    if status is not None and status not in STATUS_VALUES:
        expected = "'processing', 'completed' or 'failed'"
        errors.append(
            {
                "type": "enum",
                "loc": ["query", "status_filter"],
                "msg": f"Input should be {expected}",
                "input": status,
                "ctx": {"expected": expected},
            }
        )
    return limit, offset, errors
