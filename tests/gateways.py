"""Real gateways and forward proxies on 127.0.0.1 (Debian's nginx, HAProxy, tinyproxy, squid).

Each runs in the foreground as a child of the test process, on a free port, with its config,
pid file, logs and temporary folders in the test's tmp_path (squid: a folder of its own), so
nothing collides with the services Debian's postinst may have started on their default ports.
Their request logs are read back as `Hit`s: (time, status, request line).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import callcov_analytics as cca
from callcov_analytics.sandbox import Sandbox

SBIN = ("/usr/sbin", "/sbin", "/usr/bin")
ROWS, PAGE = 600, 50  # the loads through a gateway: 13 pages of new rows
SQUID_AUTH = ("/usr/lib/squid/basic_ncsa_auth", "/usr/lib/squid3/basic_ncsa_auth")


def find(command: str) -> str | None:
    """The path of a gateway's program, looking in sbin too (not on a non-root PATH)."""
    found = shutil.which(command)
    for folder in SBIN:
        found = found or shutil.which(command, path=folder)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Hit:
    """One request as a gateway logged it."""

    at: float  # Unix seconds (with milliseconds) when the gateway finished it
    status: int
    request: str
    received: float  # when the gateway had read the request (``at`` if its log does not say)


class Gateway:
    """A gateway process: started by `start`, stopped by `stop`; its log read by `hits`."""

    def __init__(self, argv: list[str], port: int, folder: Path, log: Path) -> None:
        self.argv, self.port, self.folder, self.log = argv, port, folder, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gateway:
        with (self.folder / "stdout.log").open("wb") as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.folder
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = (self.folder / "stdout.log").read_text(errors="replace")
                raise RuntimeError(f"{self.argv[0]} exited: {output[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.argv[0]} did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def hits(self) -> list[Hit]:
        """Requests in the log, in the order they were answered.

        Lines of ``<unix.ms> <status> "<request>"``, optionally followed by HAProxy's times
        (it logs when the connection was accepted, then the milliseconds of the handshake, of
        idling until the request and of answering it) or nginx's ``$request_time`` (seconds
        from reading the request to the end of the answer, logged at the end).
        """
        found = []
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        for line in text.splitlines():
            at, status, rest = ([*line.split(" ", 2), "", ""])[:3]
            request, _, after = rest.strip('"').partition('" ')
            if status.isdigit() and request != "<BADREQ>":
                times = after.split()
                received = end = float(at)
                if len(times) == 3 and all(t.isdigit() for t in times):
                    received = end + (int(times[0]) + int(times[1])) / 1000
                    end = received + int(times[2]) / 1000
                elif len(times) == 1 and times[0].replace(".", "", 1).isdigit():
                    received = end - float(times[0])
                found.append(Hit(end, int(status), request, received))
        return sorted(found, key=lambda hit: hit.at)

    def logs(self) -> str:
        """Every file the gateway wrote (to check that no key is in any)."""
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.folder.rglob("*")) if p.is_file()
        )


def nginx(folder: Path, upstream: int, location: str, *, http: str = "") -> Gateway:
    """nginx in front of 127.0.0.1:upstream; ``location`` is the body of ``location /``."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "access.log"
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
  log_format gw '$msec $status "$request" $request_time';
  access_log {log} gw;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  {http}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      {location}
      proxy_pass http://127.0.0.1:{upstream};
    }}
  }}
}}
"""
    )
    program = find("nginx") or "nginx"
    argv = [program, "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(conf)]
    return Gateway(argv, port, folder, log)


def haproxy(folder: Path, upstream: int, frontend: str) -> Gateway:
    """HAProxy in front of 127.0.0.1:upstream; ``frontend`` adds rules to its frontend."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = folder / "haproxy.cfg"
    conf.write_text(
        f"""
global
  log stdout format raw local0
defaults
  mode http
  log global
  log-format "%Ts.%ms %ST %{{+Q}}r %Th %Ti %Ta"
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend api
  bind 127.0.0.1:{port}
{frontend}
  default_backend sandbox
backend sandbox
  server up 127.0.0.1:{upstream}
"""
    )
    argv = [find("haproxy") or "haproxy", "-db", "-f", str(conf)]
    return Gateway(argv, port, folder, folder / "stdout.log")


def tinyproxy(folder: Path, user: str, password: str) -> Gateway:
    """tinyproxy as a forward proxy asking for Basic credentials (401 to wrong ones)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = folder / "tinyproxy.conf"
    conf.write_text(
        f"""
Port {port}
Listen 127.0.0.1
Timeout 30
PidFile "{folder}/tinyproxy.pid"
LogFile "{folder}/tinyproxy.log"
LogLevel Info
MaxClients 20
BasicAuth {user} {password}
Allow 127.0.0.1
"""
    )
    argv = [find("tinyproxy") or "tinyproxy", "-d", "-c", str(conf)]
    return Gateway(argv, port, folder, folder / "tinyproxy.log")


class Squid(Gateway):
    """squid in its own folder, removed when it stops (see `squid`)."""

    def shut_down(self) -> None:
        """Stop squid but keep its folder: a CONNECT tunnel is logged only once it closes."""
        super().stop()

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def squid(user: str, password: str) -> Squid:
    """squid as a forward proxy asking for Basic credentials (checked by basic_ncsa_auth).

    Started as root, squid drops to the ``proxy`` user, which cannot enter pytest's private
    temporary folders: it gets a folder of its own under the system's temp folder, owned by
    that user and removed when it stops. The password file holds an APR1 (MD5) hash made by
    ``openssl passwd``, one of the schemes basic_ncsa_auth reads.
    """
    folder = Path(tempfile.mkdtemp(prefix="callcov-squid-"))
    folder.chmod(0o755)
    port = free_port()
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (folder / "passwd").write_text(f"{user}:{hashed}\n")
    helper = next((p for p in SQUID_AUTH if Path(p).exists()), SQUID_AUTH[0])
    (folder / "squid.conf").write_text(
        f"""
http_port 127.0.0.1:{port}
pid_filename {folder}/squid.pid
cache_log {folder}/cache.log
cache_store_log none
coredump_dir {folder}
cache deny all
pinger_enable off
shutdown_lifetime 1 seconds
auth_param basic program {helper} {folder}/passwd
auth_param basic realm callcov-test
acl authed proxy_auth REQUIRED
http_access allow localhost authed
http_access deny all
logformat hits %ts.%03tu %>Hs "%rm %ru"
access_log stdio:{folder}/hits.log hits
access_log stdio:{folder}/access.log squid
"""
    )
    if os.geteuid() == 0:
        for path in [folder, *folder.iterdir()]:
            shutil.chown(path, "proxy", "proxy")
    argv = [find("squid") or "squid", "-N", "-f", str(folder / "squid.conf")]
    return Squid(argv, port, folder, folder / "hits.log")


def load_through(gateway: Gateway, api: Sandbox, observer: Any = None) -> pd.DataFrame:
    """Every analysis of ``api`` loaded through ``gateway`` in pages of PAGE, nothing kept."""
    return cca.load_calls(
        api_key=api.key,
        base_url=gateway.url + "/api/v1",
        limit=PAGE,
        cache=False,
        progress=False,
        observer=observer,
    )
