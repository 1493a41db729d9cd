"""CallCovClient at its edges: ids as one path segment, bodies that echo the key, size caps."""

from __future__ import annotations

import logging
import secrets
import traceback
from pathlib import Path
from typing import Any

import pytest

from callcov_analytics import (
    CallCovClient,
    NotFoundError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    ValidationError,
)
from callcov_analytics._cli import parser as cli
from callcov_analytics._clock import SystemClock
from callcov_analytics._http import exchange as http_module
from tests.hostile_server import PREFIX, Answer, HostileServer, Listing, ok

KEYS = {
    "sk-key": lambda: f"sk_test_{secrets.token_hex(16)}",
    "plain-key": lambda: f"ck-{secrets.token_urlsafe(24)}",  # not sk_-shaped: no pattern finds it
}


def client_for(server: HostileServer) -> tuple[CallCovClient, list[float]]:
    slept: list[float] = []
    return CallCovClient(server.key, server.url, clock=SystemClock(sleep=slept.append)), slept


def verbose(exc: BaseException) -> str:
    """What a verbose error reporter shows: the traceback with every frame's locals."""
    tb = traceback.TracebackException(type(exc), exc, exc.__traceback__, capture_locals=True)
    return "".join(tb.format())


def test_an_id_is_one_path_segment() -> None:
    with HostileServer("honest", n=3) as server:
        client, _ = client_for(server)
        with client, pytest.raises(NotFoundError):
            client.analysis("../../health")
        assert [r.path for r in server.log] == ["/api/v1/analysis/..%2F..%2Fhealth"]


@pytest.mark.parametrize("doc", [[], {"detail": "Not found"}, {"object": "list", "data": []}])
def test_an_answer_that_is_no_analysis_is_an_error_not_a_result(doc: object) -> None:
    class Answers(HostileServer):  # GET /analysis/{id} answers 200 with `doc`
        def answer(self, path: str, query: dict[str, str], key: str | None) -> Answer:
            if path.startswith(f"{PREFIX}/analysis/") and path != f"{PREFIX}/analysis/":
                return ok(doc)
            return super().answer(path, query, key)

    with Answers("honest", n=3) as server:
        client, _ = client_for(server)
        with client, pytest.raises(ResponseDecodeError, match="expected an analysis object"):
            client.analysis("0b6e4a52-6f4b-4f5e-9d0e-0d7f3c1f5a10")


@pytest.mark.parametrize("bad", ["", ".", "..", None])
def test_an_id_that_is_no_id_is_refused_before_any_request(bad: object) -> None:
    with HostileServer("honest", n=3) as server:
        client, _ = client_for(server)
        with client, pytest.raises(ValidationError, match="analysis_id") as info:
            client.analysis(bad)  # type: ignore[arg-type]
        assert info.value.param == "analysis_id" and server.log == []


def echo(status: int) -> object:
    def mode(q: Listing) -> Answer:
        page = f"<html><h1>Blocked</h1><p>Your request (X-API-Key: {q.key}) was refused.</p>"
        return Answer(status, page.encode(), {"Content-Type": "text/html"})

    return mode


@pytest.mark.parametrize("status", [200, 502])
@pytest.mark.parametrize("make_key", KEYS.values(), ids=KEYS.keys())
def test_a_body_echoing_the_key_never_shows_it(status: int, make_key: object) -> None:
    with HostileServer(echo(status), key=make_key()) as server:  # type: ignore[operator,arg-type]
        client, _ = client_for(server)
        with client, pytest.raises((ResponseDecodeError, ServerError)) as info:
            client.list_page(offset=0, limit=10)
    exc = info.value
    for text in (str(exc), repr(exc), getattr(exc, "body", ""), verbose(exc)):
        assert server.key not in text
    assert "***" in str(exc) + getattr(exc, "body", "")  # the excerpt is there, masked


def test_the_cli_line_and_debug_output_never_show_a_key_from_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = KEYS["plain-key"]()
    real_init = CallCovClient.__init__

    def without_sleeping(self: CallCovClient, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "clock", SystemClock(sleep=lambda seconds: None)
        )  # the CLI's client: retries at once
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(CallCovClient, "__init__", without_sleeping)
    monkeypatch.setattr(logging.getLogger(), "level", logging.getLogger().level)  # restored
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"CALLCOV_API_KEY={key}\n")
    with HostileServer(echo(200), key=key) as server:
        for debug in ([], ["--debug"]):
            out = ["--api-url", server.url, "--out", str(tmp_path / "calls.csv")]
            assert cli.main([*debug, "fetch", *out]) == 1
            shown = capsys.readouterr()
            assert "not JSON" in shown.err and "***" in shown.err
            assert key not in shown.err + shown.out
            assert not (tmp_path / "calls.csv").exists()


def test_an_oversized_body_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module, "MAX_BODY_BYTES", 1 << 20)
    with HostileServer("gzip_bomb") as server:
        client, slept = client_for(server)
        with client, pytest.raises(ResponseTooLargeError, match="1 MiB") as info:
            client.list_page(offset=0, limit=50)
    assert len(server.log) == 1 and slept == []
    assert len(client.readings) == 1  # the request still counted against the rate limit
    assert "b'" not in verbose(info.value).split("Traceback")[0]  # no chunk kept in a local
