"""Run the sandbox app on a loopback socket in a daemon thread: `serve()` and `Sandbox`.

Plain http by default; pass `tls=` an `ssl.SSLContext` with a certificate for https (tests
of the CA bundle and proxy settings use one from a throwaway CA).
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import socketserver
import ssl
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from .app import ACTION_KEY, LogEntry, SandboxApp
from .faults import Faults

logger = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    """Bridge one HTTP/1.1 connection to the WSGI app, carrying out socket-level faults."""

    protocol_version = "HTTP/1.1"
    server_version = "CallCovSandbox/1.0"
    timeout = 60  # an idle keep-alive connection is dropped after this many seconds
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the app keeps its own structured log (without keys)."""

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        environ = self._environ(self.rfile.read(length) if length > 0 else b"")
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return None

        body = b"".join(self.server.app(environ, start_response))
        status, headers = started
        action = environ.get(ACTION_KEY)
        if action == "reset":
            # SO_LINGER 0 turns the close into an RST: the client sees a reset, not a response.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        code, _, reason = status.partition(" ")
        if action == "truncate_close":
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Connection", "close"))
        self.send_response_only(int(code), reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if action in ("truncate", "truncate_close"):
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of parallel clients must not wait for SYN retries

    def __init__(
        self,
        address: tuple[str, int],
        app: Callable[..., Iterable[bytes]],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.tls = tls
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall; skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, in this connection's thread, not in the accept loop.
        with self.tls.wrap_socket(request, server_side=True) as tls_request:
            with self._conns_lock:
                self._conns.add(tls_request)
            try:
                super().finish_request(tls_request, client_address)
            finally:
                with self._conns_lock:
                    self._conns.discard(tls_request)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up mid-response are part of the game here.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | ssl.SSLError):
            return
        logger.exception("sandbox request failed")

    def drop_connections(self) -> None:
        """Wake every handler blocked on a keep-alive read so shutdown is prompt."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by its handler
                conn.shutdown(socket.SHUT_RDWR)


class _Server6(_Server):
    address_family = socket.AF_INET6


class Sandbox:
    """A running sandbox: base URL, keys, log, faults and ground-truth helpers."""

    def __init__(
        self,
        app: SandboxApp,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """Wrap `app`; nothing listens until `start()` or `with`. `tls` serves https."""
        self.app = app
        self.host, self.port, self.tls = host, port, tls
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        """Bind and serve in a daemon thread; raises OSError if the port is taken."""
        self.app.stop.clear()
        cls = _Server6 if ":" in self.host else _Server
        self._server = cls((self.host, self.port), self.app, self.tls)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake stalled requests and close every socket."""
        if self._server is None:
            return
        self.app.stop.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sandbox(origin={self.origin!r}, plan={self.app.plan!r})"

    @property
    def origin(self) -> str:
        """Return scheme://host:port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """Return the API base URL the client is configured with."""
        return self.origin + "/api/v1"

    @property
    def key(self) -> str:
        """Return the throwaway key of the chosen plan."""
        return self.app.keys[self.app.plan]

    @property
    def keys(self) -> dict[str, str]:
        """Return the keys by plan name, plus "forbidden"."""
        return dict(self.app.keys)

    @property
    def other_key(self) -> str:
        """Return the key of a second account: its own analyses, none of the first's."""
        return self.app.other_key

    @property
    def faults(self) -> Faults:
        """Return the live Faults object (mutate it between requests)."""
        return self.app.faults

    @property
    def log(self) -> list[LogEntry]:
        """Return a snapshot of the request log."""
        return self.app.log

    def clear_log(self) -> None:
        """Forget all logged requests."""
        self.app.clear_log()

    def records(self) -> list[dict[str, Any]]:
        """Return every existing analysis, in list order (newest first)."""
        data = self.app.data
        return [data.record(k) for k in data.live_keys()]

    def ids(self) -> list[str]:
        """Return every existing analysis id, in list order."""
        data = self.app.data
        return [data.id_of(k) for k in data.live_keys()]

    def insert(self, n: int = 1, status: str = "processing") -> list[dict[str, Any]]:
        """Create `n` analyses at the server's now (the newest) and return them."""
        keys = self.app.data.insert(n, self.app.now(), status)
        return [self.app.data.record(k) for k in keys]

    def delete(self, ids: Iterable[str]) -> None:
        """Delete analyses by id (unknown ids are ignored)."""
        keys = (self.app.data.key_of(i) for i in ids)
        self.app.data.delete(k for k in keys if k is not None)

    def set_status(self, record_id: str, status: str) -> None:
        """Change an analysis's status (e.g. processing -> completed fills transcript/results)."""
        key = self.app.data.key_of(record_id)
        if key is None:
            raise KeyError(record_id)
        self.app.data.set_status(key, status, self.app.now())

    def mark(self) -> None:
        """Start tracking a crawl: `stable_ids`/`ever_ids` are relative to this moment."""
        self.app.data.mark()

    def stable_ids(self) -> set[str]:
        """Return ids present at the mark and still present: a crawl must return each once."""
        return self.app.data.stable_ids()

    def ever_ids(self) -> set[str]:
        """Return ids that existed at any point since the mark: a crawl may return only these."""
        return self.app.data.ever_ids()


def serve(
    plan: str = "starter",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: ssl.SSLContext | None = None,
    **options: Any,
) -> Sandbox:
    """Return a sandbox server to use as a context manager.

    Args:
        plan: whose limits `api.key` gets: free, starter, business or enterprise.
        host, port: where to listen; port 0 picks a free port.
        tls: an SSLContext with the server's certificate, to serve https instead of http.
        options: the `SandboxApp` arguments —
            seed, n_analyses, anchor: the generated data (anchor defaults to the clock at start);
            window_seconds, limit, daily_limit: rate-limit window and the plan's overrides;
            faults: fault knobs (all off by default); clock: the server's real-time source;
            latency, latency_jitter: each request sleeps latency + uniform(0, jitter) seconds;
            arrivals_per_minute: new calls arrive while it runs and processing analyses
            complete (see `arrivals`); 0, the default, keeps the data static.

    Example:
        >>> with serve(plan="free", window_seconds=2, limit=3) as api:
        ...     api.url  # doctest: +SKIP
    """
    app = SandboxApp(plan, **options)
    return Sandbox(app, host, port, tls)
