"""Corporate networks: CALLCOV_PROXY (a CONNECT tunnel) and CALLCOV_CA_BUNDLE, over real sockets.

An https sandbox with a certificate from a throwaway CA (trustme) stands in for the API, and a
small CONNECT proxy on 127.0.0.1 records every byte it relays. Proxies and CA
bundles from the generic environment variables are never used; the configured ones are, for
https only, and neither the key nor the proxy password shows anywhere.
"""

from __future__ import annotations

import base64
import logging
import os
import select
import socket
import socketserver
import ssl
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from callcov_analytics import (
    APIConnectionError,
    CallCovClient,
    Config,
    ConfigurationError,
    ProxyAuthenticationError,
    TLSVerificationError,
    load_calls,
)
from callcov_analytics._clock import SystemClock
from callcov_analytics.sandbox import Sandbox

PASSWORD = "pr0xy-" + base64.b32encode(os.urandom(10)).decode()  # made at run time


class ConnectProxy(socketserver.ThreadingTCPServer):
    """A CONNECT-only HTTP proxy on 127.0.0.1 that keeps what it saw."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.heads: list[bytes] = []  # each request head, as received
        self.relayed = bytearray()  # every byte that passed through a tunnel, both ways
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Tunnel(socketserver.BaseRequestHandler):
    server: ConnectProxy

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        with self.server.lock:
            self.server.heads.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
        if method != b"CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(b":", 1)
        with socket.create_connection((host.decode(), int(port)), timeout=10) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(self.request, upstream)

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        ends = {client: upstream, upstream: client}
        while True:
            readable, _, _ = select.select(list(ends), [], [], 10)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                with self.server.lock:
                    self.server.relayed += data
                ends[source].sendall(data)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "corporate-root.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def https_api(ca: trustme.CA, sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return sandbox_factory("starter", tls=context, window_seconds=2, n_analyses=250)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def proxy_url(proxy: ConnectProxy) -> str:
    return f"http://analyst:{PASSWORD}@127.0.0.1:{proxy.server_address[1]}"


def test_load_calls_through_the_proxy_to_an_https_api(
    https_api: Sandbox,
    proxy: ConnectProxy,
    ca_bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CALLCOV_API_KEY", https_api.key)
    monkeypatch.setenv("CALLCOV_API_URL", https_api.url)
    monkeypatch.setenv("CALLCOV_PROXY", proxy_url(proxy))
    monkeypatch.setenv("CALLCOV_CA_BUNDLE", str(ca_bundle))
    caplog.set_level(logging.DEBUG)
    df = load_calls(progress=False, cache=False)
    assert len(df) == 250 and https_api.url.startswith("https://127.0.0.1:")
    assert proxy.heads, "nothing went through the proxy"
    port = https_api.port
    credentials = base64.b64encode(f"analyst:{PASSWORD}".encode())
    for head in proxy.heads:
        assert head.startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.".encode())
        assert b"Proxy-Authorization: Basic " + credentials in head
    assert len(https_api.log) == len(df.attrs["quota"])  # every request reached the API
    # The key travelled inside TLS only: the proxy never saw it, nor any API path.
    assert https_api.key.encode() not in bytes(proxy.relayed) + b"".join(proxy.heads)
    assert b"/api/v1" not in bytes(proxy.relayed)
    assert PASSWORD not in caplog.text and https_api.key not in caplog.text


def test_an_untrusted_certificate_fails_at_once_and_says_what_to_set(
    https_api: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TLSVerificationError, match="CALLCOV_CA_BUNDLE") as caught:
        load_calls(api_key=https_api.key, base_url=https_api.url, progress=False, cache=False)
    assert https_api.log == []  # the handshake failed: no request reached the API
    assert https_api.key not in str(caught.value)
    # Not retried (no backoff sleeps); REQUESTS_CA_BUNDLE and friends are not read.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ignored.pem")
    sleeps: list[float] = []
    with pytest.raises(TLSVerificationError):
        CallCovClient(https_api.key, https_api.url, clock=SystemClock(sleep=sleeps.append)).health()
    assert sleeps == []


def test_a_plain_http_loopback_api_never_goes_through_the_proxy(
    sandbox: Sandbox, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCOV_PROXY", proxy_url(proxy))
    assert len(load_calls(api_key=sandbox.key, base_url=sandbox.url, progress=False)) == 250
    assert proxy.heads == []


def test_the_generic_proxy_variables_are_ignored(
    https_api: Sandbox, proxy: ConnectProxy, ca_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.setenv("NO_PROXY", "")
    config = Config.resolve(https_api.key, https_api.url, ca_bundle=ca_bundle)
    assert CallCovClient(config=config).health()
    assert proxy.heads == []


def test_a_dead_proxy_is_named_without_its_password(
    https_api: Sandbox, ca_bundle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    proxy = f"http://analyst:{PASSWORD}%5B%2F@127.0.0.1:{port}"  # "[/", percent-encoded
    config = Config.resolve(https_api.key, https_api.url, proxy=proxy, ca_bundle=ca_bundle)
    client = CallCovClient(config=config, clock=SystemClock(sleep=lambda _: None))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(APIConnectionError, match=f"proxy http://127.0.0.1:{port}") as caught:
        client.health()
    shown = [str(caught.value), repr(caught.value), repr(config), repr(client), caplog.text]
    shown.append("".join(traceback.format_exception(caught.value)))
    assert not any(PASSWORD in text or https_api.key in text for text in shown)
    assert "CALLCOV_PROXY" in str(caught.value)


def test_a_proxy_that_refuses_the_login_is_asked_once(https_api: Sandbox, ca_bundle: Path) -> None:
    refusals: list[bytes] = []

    class Refuses(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            refusals.append(self.request.recv(4096))
            self.request.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n'
            )

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Refuses) as proxy:
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        url = f"http://analyst:{PASSWORD}@127.0.0.1:{proxy.server_address[1]}"
        config = Config.resolve(https_api.key, https_api.url, proxy=url, ca_bundle=ca_bundle)
        sleeps: list[float] = []
        with pytest.raises(ProxyAuthenticationError, match="CALLCOV_PROXY") as caught:
            CallCovClient(config=config, clock=SystemClock(sleep=sleeps.append)).health()
        proxy.shutdown()
    assert len(refusals) == 1 and sleeps == []  # a wrong password must not lock the account
    assert PASSWORD not in "".join(traceback.format_exception(caught.value))


@pytest.mark.parametrize(
    ("proxy", "problem"),
    [
        ("socks5://127.0.0.1:1080", "http://host:port"),
        ("proxy.corp.example:3128", "http://host:port"),
        ("http://proxy.corp.example", "http://host:port"),
        ("http://proxy.corp.example:3128/path", "path"),
        (f"ftp://analyst:{PASSWORD}@proxy:21", "http://host:port"),
        (f"http://analyst:{PASSWORD}/x@proxy.corp.example:3128", "parsed"),  # "/" in it
        (f"http://analyst:{PASSWORD}@proxy.corp.example:99999", "parsed"),
        (f"http://analyst:[{PASSWORD}]@proxy.corp.example:3128", "Percent-encode"),
        (f"http://analyst:{PASSWORD}#@proxy.corp.example:3128", "Percent-encode"),
    ],
    # Ids without the password: it is made at run time, so it would differ between the test
    # processes (pytest-xdist refuses that) and show in every test report.
    ids=lambda value: value.replace(PASSWORD, "PASSWORD"),
)
def test_a_malformed_proxy_is_a_configuration_error(proxy: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as caught:
        Config.resolve("sk_test_" + "a" * 24, proxy=proxy)
    assert PASSWORD not in "".join(traceback.format_exception(caught.value))


def test_a_missing_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        Config.resolve("sk_test_" + "a" * 24, ca_bundle=tmp_path / "missing.pem")


def test_settings_come_from_the_environment_and_dotenv(
    tmp_path: Path, ca_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        f"CALLCOV_PROXY=http://proxy.corp.example:3128\nCALLCOV_CA_BUNDLE={ca_bundle}\n"
    )
    config = Config.resolve("sk_test_" + "a" * 24)
    assert config.proxy is not None and config.proxy.reveal().endswith(":3128")
    assert config.ca_bundle == str(ca_bundle)
    monkeypatch.setenv("CALLCOV_PROXY", "http://other.corp.example:8080")  # env beats .env
    config = Config.resolve("sk_test_" + "a" * 24)
    assert config.proxy is not None and config.proxy.reveal().endswith(":8080")
    assert Config.resolve("sk_test_" + "a" * 24, proxy="").proxy is None  # "" turns it off
