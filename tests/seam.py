"""The in-process seam: the sandbox's WSGI app mounted into a client's requests Session.

A test that needs the API's behaviour but not a socket runs the sandbox app in the client's own
thread: no port, no server thread, and, with one `FakeClock` read by both sides, a wait for a
rate-limit window that passes no real time yet finds the window reset.

Why an adapter of our own: requests-wsgi-adapter (last release 2019) predates urllib3 2 and
answers with a body that cannot be streamed (the client reads with ``stream=True``);
wsgi-intercept patches urllib3's connection classes for the whole process (every session, every
thread, for as long as it is installed); WebTest is a client of its own, not a requests
transport. A transport adapter is requests' own seam, and this one is short: it builds the WSGI
environ, calls the app, and hands requests a urllib3 response over the body, so
``iter_content``, gzip decoding and ``close`` behave as over a socket.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import requests.adapters
from urllib3 import HTTPResponse

from callcov_analytics.sandbox import Sandbox, SandboxApp

# The discard port: nothing listens there, so a request the adapter misses is refused at once.
SEAM_PORT = 9


class WSGIAdapter(requests.adapters.HTTPAdapter):
    """Answer a Session's requests from a WSGI app, in the calling thread."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **_: Any
    ) -> requests.Response:
        """Call the app with the request's environ; wrap its answer as requests would."""
        url = urlsplit(request.url or "")
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path),
            "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname,
            "SERVER_PORT": str(url.port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: None  # the sandbox never writes through write()

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = started
        code, _, reason = status.partition(" ")
        raw = HTTPResponse(
            body=io.BytesIO(data),
            headers=_headers(headers),
            status=int(code),
            reason=reason,
            preload_content=False,
            decode_content=True,
            request_method=request.method,
            request_url=request.url,
        )
        return self.build_response(request, raw)


def _headers(pairs: list[tuple[str, str]]) -> Mapping[str, str] | Any:
    from urllib3 import HTTPHeaderDict

    headers = HTTPHeaderDict()
    for name, value in pairs:
        headers.add(name, value)
    return headers


def in_process(app: SandboxApp) -> Sandbox:
    """A sandbox that never listens: its URL is for clients that mount `WSGIAdapter` (`mount`)."""
    return Sandbox(app, host="127.0.0.1", port=SEAM_PORT)


def is_in_process(api: Sandbox) -> bool:
    """Whether ``api`` is served through the seam (no socket)."""
    return api.port == SEAM_PORT


def mount(session: requests.Session, api: Sandbox) -> None:
    """Send the session's requests for ``api``'s origin to its app, in-process."""
    session.mount(api.origin + "/", WSGIAdapter(api.app))
