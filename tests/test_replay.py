"""vcrpy cassettes recorded from the sandbox, replayed offline (record mode "none").

Re-record with ``make cassettes`` (starts a sandbox, records, scrubs). In CI the cassettes are
only replayed: a request that is not on tape fails the test instead of reaching a network.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import callcov_analytics as cca
from callcov_analytics import sandbox
from callcov_analytics.client import CallCovClient

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
KEY_SHAPE = re.compile(r"sk_(?:live|test)_[A-Za-z0-9]{8,}")
RECORDING = bool(os.environ.get("CALLCOV_RECORD"))


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"].pop("Set-Cookie", None)
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes):
        response["body"]["string"] = KEY_SHAPE.sub("sk_test_REDACTED", body.decode()).encode()
    return response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": [
            ("X-API-Key", "REDACTED"),
            ("Authorization", "REDACTED"),
            ("Cookie", None),
        ],
        "filter_query_parameters": ["api_key"],
        "decode_compressed_response": True,
        "before_record_response": _scrub_response,
        # The sandbox's port changes on every run: match what identifies the request.
        "match_on": ("method", "path", "query"),
    }


@pytest.fixture
def record_mode() -> str:
    """Replay only ("none"): a request missing from the tape fails; `make cassettes` rewrites."""
    return "rewrite" if RECORDING else "none"


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture
def api() -> Iterator[tuple[str, str]]:
    """(base URL, key): a live sandbox while recording, else a placeholder the tape answers."""
    if RECORDING:
        with sandbox.serve(plan="starter", n_analyses=120, seed=11, anchor=1_790_000_000) as live:
            yield live.url, live.key
    else:
        yield "http://127.0.0.1:9/api/v1", "sk_test_" + secrets.token_hex(24)


@pytest.mark.vcr
def test_load_calls_replays_from_the_cassette(api: tuple[str, str]) -> None:
    url, key = api
    client = CallCovClient(key, url, sleep=lambda s: None)
    df = cca.load_calls(client=client, limit=50, cache=False, progress=False)
    assert len(df) == 120 and df["id"].is_unique
    assert df["created"].is_monotonic_decreasing
    assert df.attrs["requests"] == 3 and df.attrs["throttled"] == 0


@pytest.mark.vcr
def test_errors_replay_from_the_cassette(api: tuple[str, str]) -> None:
    url, key = api
    bad = CallCovClient("sk_test_" + "0" * 48, url, sleep=lambda s: None)
    with bad, pytest.raises(cca.AuthenticationError):
        bad.health()
    client = CallCovClient(key, url, sleep=lambda s: None)
    with client, pytest.raises(cca.ValidationError, match="limit"):
        client.get("/analysis/", {"limit": 5000})


def test_no_cassette_holds_a_key() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert files, "cassettes/ is empty: run `make cassettes`"
    for path in files:
        text = path.read_text()
        assert not KEY_SHAPE.search(text.replace("sk_test_REDACTED", "")), path
        tape = yaml.safe_load(text)
        for interaction in tape["interactions"]:
            headers = {k.lower(): v for k, v in interaction["request"]["headers"].items()}
            assert headers.get("x-api-key") in (None, ["REDACTED"]), path
            assert "authorization" not in headers or headers["authorization"] == ["REDACTED"]
            body = interaction["response"]["body"]["string"]
            assert isinstance(body, str), f"{path}: binary body a grep cannot check"
