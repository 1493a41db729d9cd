"""The sandbox behind the gateways and proxies companies run: nginx, HAProxy, tinyproxy, squid.

Real Debian programs on 127.0.0.1 (see tests/gateways.py). A gateway's own limits answer 429 or
503 without the upstream's rate-limit headers: every load must still be exact, the requests
no 429 burst (read from the gateway's own log), no wait as long as the upstream's window for a
limit that is not the upstream's, and the key in none of the gateway's files. How close to
the gateway's rate a load runs is measured by bench/bench_gateways.py, not asserted here.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

import callcov_analytics as cca
from callcov_analytics import CallCovClient, Config, ProxyAuthenticationError, TLSVerificationError
from callcov_analytics._clock import SystemClock
from callcov_analytics.sandbox import Sandbox
from tests import gateways
from tests.gateways import PAGE, ROWS, Gateway, Hit
from tests.observers import Waits

pytestmark = pytest.mark.skipif(
    not all(gateways.find(c) for c in ("nginx", "haproxy", "tinyproxy")),
    reason="nginx, haproxy and tinyproxy are installed by `make test` (system-deps)",
)

RATE, BURST = 2.0, 2  # nginx limit_req: 2 r/s, burst 2 (3 at once, then one per 0.5 s)
HIDDEN = "\n".join(
    f"proxy_hide_header {h};"
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")
)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[[Gateway], Gateway]]:
    """Start gateways; each is stopped at teardown."""
    running: list[Gateway] = []

    def start(gateway: Gateway) -> Gateway:
        running.append(gateway)
        return gateway.start()

    yield start
    for gateway in running:
        gateway.stop()


@pytest.fixture
def business(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A Business-plan sandbox (300 requests a minute): the gateway, not it, sets the pace."""
    return sandbox_factory("business", n_analyses=ROWS, window_seconds=60.0)


def load_through(
    gateway: Gateway, api: Sandbox, caplog: pytest.LogCaptureFixture
) -> list[tuple[float, str]]:
    """A whole load through the gateway: exact, and the key nowhere. The waits it chose."""
    watch = Waits()
    with caplog.at_level(logging.DEBUG, logger="callcov_analytics"):
        df = gateways.load_through(gateway, api, watch)
    assert df["id"].tolist() == api.ids()
    assert api.key not in gateway.logs() and api.key not in caplog.text
    return watch.waits


def assert_paced(hits: list[Hit], waits: list[tuple[float, str]], period: float) -> None:
    """No 429 burst, and no wait longer than a few of the gateway's periods.

    The waits are the ones the client chose (not timed): a 429 that names no limit must not
    be charged to the upstream's 60-s window, which the headers say has room.
    """
    assert waits and max(s for s, _ in waits) <= 4 * period, waits
    refused = [h for h in hits if h.status == 429]
    # A burst is refusals back to back: after one, the next request waits (Retry-After or a
    # backoff of at least 0.5 s), and the pace learnt from the first few refusals holds.
    # Requests already on their way when a refusal was answered (fetch-ahead sends several
    # at once) are refused by the same breach: the gateway read them before that answer, or
    # within a tenth of a second of it (the round trip).
    shown = [
        (round(h.received - hits[0].at, 3), round(h.at - hits[0].at, 3), h.status) for h in hits
    ]
    assert len(refused) <= 6, shown
    assert all(
        b.received < a.at + 0.1 or b.at - a.at >= 0.25 for a, b in itertools.pairwise(refused)
    ), shown


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param("", id="upstream-headers-passed"),
        pytest.param(HIDDEN, id="upstream-headers-hidden"),
        pytest.param("add_header Retry-After 1 always;", id="retry-after-1"),
    ],
)
def test_nginx_limit_req_in_front_of_a_business_plan(
    tmp_path: Path,
    business: Sandbox,
    started: Callable[[Gateway], Gateway],
    caplog: pytest.LogCaptureFixture,
    extra: str,
) -> None:
    zone = (
        f"limit_req_zone $binary_remote_addr zone=api:1m rate={RATE:g}r/s;\nlimit_req_status 429;"
    )
    location = f"limit_req zone=api burst={BURST} nodelay;\n{extra}"
    gateway = started(gateways.nginx(tmp_path / "nginx", business.port, location, http=zone))
    waits = load_through(gateway, business, caplog)
    hits = gateway.hits()
    assert [e.status for e in business.log] == [200] * len(business.log)
    assert len(business.log) == sum(h.status == 200 for h in hits)
    assert_paced(hits, waits, period=(BURST + 1) / RATE)


def test_haproxy_stick_table_rate_limit(
    tmp_path: Path,
    business: Sandbox,
    started: Callable[[Gateway], Gateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # At most 4 requests in HAProxy's sliding 2 s (refused ones count too): 2 a second.
    amount, period = 4, 2.0
    frontend = (
        f"  stick-table type ip size 1k expire 30s store http_req_rate({period:g}s)\n"
        "  http-request track-sc0 src\n"
        f"  http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt {amount} }}\n"
    )
    gateway = started(gateways.haproxy(tmp_path / "haproxy", business.port, frontend))
    waits = load_through(gateway, business, caplog)
    hits = gateway.hits()
    assert [e.status for e in business.log] == [200] * len(business.log)
    assert_paced(hits, waits, period)


def test_a_maintenance_503_with_retry_after_gets_no_request_inside_its_window(
    tmp_path: Path,
    business: Sandbox,
    started: Callable[[Gateway], Gateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    announced = 2  # seconds, in every 503's Retry-After
    flag = tmp_path / "maintenance"
    flag.touch()
    location = (
        f"if (-f {flag}) {{ add_header Retry-After {announced} always; "
        """return 503 '{"error": {"code": "maintenance", "message": "back soon"}}'; }"""
    )
    gateway = started(gateways.nginx(tmp_path / "nginx", business.port, location))

    # Maintenance ends 3 s after the first 503 the gateway logs (not a timed assertion: when
    # it ends only decides how many 503s the load meets).
    def end_maintenance() -> None:
        while not gateway.hits():
            threading.Event().wait(0.05)
        threading.Event().wait(3.0)
        flag.unlink()

    ender = threading.Thread(target=end_maintenance, daemon=True)
    ender.start()
    load_through(gateway, business, caplog)
    ender.join(10)
    hits = gateway.hits()
    closed = [h for h in hits if h.status == 503]
    assert closed, "the load met no 503: the maintenance window was never tested"
    for before, after in itertools.pairwise(hits):
        if before.status == 503:  # logged when answered, so the window starts no later
            assert after.at >= before.at + announced, (before, after)
    assert len(business.log) == sum(h.status == 200 for h in hits)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def https_sandbox(
    ca: trustme.CA,
    sandbox_factory: Callable[..., Sandbox],
    name: str = "127.0.0.1",
    **dates: datetime,
) -> Sandbox:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name, **dates).configure_cert(context)
    return sandbox_factory("starter", tls=context, n_analyses=120)


def refused_login(
    api: Sandbox, proxy_url: str, bundle: Path, caplog: pytest.LogCaptureFixture
) -> tuple[ProxyAuthenticationError, list[float], str]:
    """The error a refused proxy login raises, the sleeps before it, and all the user sees."""
    config = Config.resolve(api.key, api.url, proxy=proxy_url, ca_bundle=bundle)
    sleeps: list[float] = []
    with (
        caplog.at_level(logging.DEBUG, logger="callcov_analytics"),
        pytest.raises(ProxyAuthenticationError, match="CALLCOV_PROXY") as caught,
    ):
        CallCovClient(config=config, clock=SystemClock(sleep=sleeps.append)).health()
    shown = str(caught.value) + "".join(traceback.format_exception(caught.value)) + caplog.text
    return caught.value, sleeps, shown


def assert_loads_through(api: Sandbox, proxy: Gateway, password: str, bundle: Path) -> None:
    """With the right login, the whole load goes through the proxy's tunnel, exact."""
    right = proxy.url.replace("://", f"://analyst:{password}@")
    config = Config.resolve(api.key, api.url, proxy=right, ca_bundle=bundle)
    with CallCovClient(config=config) as client:
        df = cca.load_calls(client=client, limit=PAGE, cache=False, progress=False)
    assert df["id"].tolist() == api.ids()


@pytest.mark.parametrize("credentials", ["wrong", "none"])
def test_tinyproxy_refusing_the_login_is_asked_once(
    tmp_path: Path,
    ca: trustme.CA,
    sandbox_factory: Callable[..., Sandbox],
    started: Callable[[Gateway], Gateway],
    caplog: pytest.LogCaptureFixture,
    credentials: str,
) -> None:
    # tinyproxy answers a CONNECT with wrong credentials with 401, with none with 407.
    password = "pw-" + secrets.token_urlsafe(12)
    api = https_sandbox(ca, sandbox_factory)
    proxy = started(gateways.tinyproxy(tmp_path / "tinyproxy", "analyst", password))
    bundle = tmp_path / "root.pem"
    ca.cert_pem.write_to_path(str(bundle))
    login = "analyst:" + ("not-" + password if credentials == "wrong" else password) + "@"
    url = proxy.url.replace("://", "://" + (login if credentials == "wrong" else ""))
    error, sleeps, shown = refused_login(api, url, bundle, caplog)
    assert str(401 if credentials == "wrong" else 407) in str(error)
    connects = [line for line in proxy.logs().splitlines() if "CONNECT 127.0.0.1" in line]
    assert len(connects) == 1 and sleeps == []  # one attempt: no account lockout
    assert password not in shown and api.key not in shown and api.log == []
    assert_loads_through(api, proxy, password, bundle)
    assert api.key not in proxy.logs() and password not in caplog.text


def test_a_certificate_for_another_host_name_is_named_as_such(
    tmp_path: Path, ca: trustme.CA, sandbox_factory: Callable[..., Sandbox]
) -> None:
    api = https_sandbox(ca, sandbox_factory, name="api.other.example")
    bundle = tmp_path / "root.pem"
    ca.cert_pem.write_to_path(str(bundle))
    config = Config.resolve(api.key, api.url, ca_bundle=bundle)
    sleeps: list[float] = []
    with pytest.raises(TLSVerificationError, match="another host name") as caught:
        CallCovClient(config=config, clock=SystemClock(sleep=sleeps.append)).health()
    assert "mismatch" in str(caught.value) and sleeps == []
    assert "set CALLCOV_CA_BUNDLE" not in str(caught.value)  # it is set; not the cause


def test_an_expired_certificate_is_named_as_such(
    tmp_path: Path, ca: trustme.CA, sandbox_factory: Callable[..., Sandbox]
) -> None:
    now = datetime.now(UTC)
    api = https_sandbox(
        ca, sandbox_factory, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    bundle = tmp_path / "root.pem"
    ca.cert_pem.write_to_path(str(bundle))
    config = Config.resolve(api.key, api.url, ca_bundle=bundle)
    with pytest.raises(TLSVerificationError, match="validity dates") as caught:
        CallCovClient(config=config, clock=SystemClock(sleep=lambda _: None)).health()
    assert "expired" in str(caught.value) and "clock" in str(caught.value)


def test_a_tls_client_at_a_plain_http_port_is_told_the_protocol_does_not_match(
    sandbox: Sandbox,
) -> None:
    url = sandbox.url.replace("http://", "https://")
    with pytest.raises(TLSVerificationError, match="does not speak a TLS version") as caught:
        CallCovClient(sandbox.key, url, clock=SystemClock(sleep=lambda _: None)).health()
    assert "CALLCOV_API_URL" in str(caught.value)


@pytest.mark.skipif(not gateways.find("squid"), reason="squid is installed by `make test`")
def test_squid_with_basic_auth(
    tmp_path: Path,
    ca: trustme.CA,
    sandbox_factory: Callable[..., Sandbox],
    started: Callable[[Gateway], Gateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The client sends through the proxy only a CONNECT tunnel to an https API: the proxy never
    # sees the key. squid answers wrong credentials with 407.
    password = "pw-" + secrets.token_urlsafe(12)
    api = https_sandbox(ca, sandbox_factory)
    proxy = gateways.squid("analyst", password)
    started(proxy)
    bundle = tmp_path / "root.pem"
    ca.cert_pem.write_to_path(str(bundle))
    wrong = proxy.url.replace("://", f"://analyst:not-{password}@")
    error, sleeps, shown = refused_login(api, wrong, bundle, caplog)
    assert "407" in str(error)
    # squid logs a transaction once its connection has closed, a moment after the client
    # raised: wait (bounded) for the line; the client sent nothing after raising. Status 0 is
    # the start-up probe's connect.
    deadline = time.monotonic() + 10
    while not (asked := [h for h in proxy.hits() if h.status]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(asked) == 1 and sleeps == []  # one attempt: no account lockout
    assert password not in shown and api.key not in shown and api.log == []
    assert_loads_through(api, proxy, password, bundle)
    proxy.shut_down()  # the tunnel is closed: its line is in the log
    assert {h.status for h in proxy.hits() if h.status and h.at > asked[0].at} == {200}
    assert password not in proxy.logs() and password not in caplog.text
    assert api.key not in proxy.logs()
