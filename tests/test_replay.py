"""vcrpy recordings: what a user's own cassette of a session holds, and what a tape replays.

Two things only a recording can prove, and the sandbox alone cannot:

- **A cassette never holds the key.** Users record their sessions (vcrpy, pytest-recording) and
  commit the tapes. Recording a real load through our scrubbing settings must leave neither the
  key nor a key-shaped string anywhere in the file: checked on fresh recordings made here with
  keys generated for this run.
- **A recording replays offline to the same result.** A tape recorded from a load, replayed with
  record mode ``none`` and no server behind the URL, gives the same DataFrame: nothing in a load
  depends on a request the tape does not hold, so a replay can stand in for the server.

The one committed cassette (``cassettes/test_errors_replay_from_the_cassette.yaml``) holds error
answers recorded once; CI replays it with record mode ``none`` so error mapping is checked against
bytes that do not change when the sandbox does. ``make cassettes`` re-records it.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import vcr
import yaml

import callcov_analytics as cca
from callcov_analytics import CallCovClient, sandbox
from callcov_analytics._clock import SystemClock

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
KEY_SHAPE = re.compile(r"sk_(?:live|test)_[A-Za-z0-9]{8,}")
RECORDING = bool(os.environ.get("CALLCOV_RECORD"))
ANCHOR = 1_790_000_000  # a fixed day: the tape and the frame do not depend on today's date


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"].pop("Set-Cookie", None)
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes):
        response["body"]["string"] = KEY_SHAPE.sub("sk_test_REDACTED", body.decode()).encode()
    return response


SCRUB: dict[str, Any] = {
    "filter_headers": [("X-API-Key", "REDACTED"), ("Authorization", "REDACTED"), ("Cookie", None)],
    "filter_query_parameters": ["api_key"],
    "decode_compressed_response": True,
    "before_record_response": _scrub_response,
    # The server's port changes between runs: match what identifies the request.
    "match_on": ("method", "path", "query"),
}


def _recorder(mode: str) -> vcr.VCR:
    return vcr.VCR(record_mode=mode, **SCRUB)


def _load(client: CallCovClient) -> pd.DataFrame:
    return cca.load_calls(client=client, limit=50, cache=False, progress=False)


def test_a_recorded_load_holds_no_key_and_replays_offline(tmp_path: Path) -> None:
    tape = tmp_path / "load.yaml"
    with sandbox.serve(plan="starter", n_analyses=120, seed=11, anchor=ANCHOR) as api:
        url, key = api.url, api.key
        with _recorder("all").use_cassette(str(tape)):
            recorded = _load(CallCovClient(key, url, clock=SystemClock(sleep=lambda s: None)))
        served = len(api.log)
        truth = sorted(r["id"] for r in api.records())
    text = tape.read_text()
    assert key not in text and not KEY_SHAPE.search(text)
    assert len(yaml.safe_load(text)["interactions"]) == served == recorded.attrs["requests"]

    # The server is gone: every answer must come from the tape, or the load fails.
    with _recorder("none").use_cassette(str(tape)):
        replayed = _load(CallCovClient(key, url, clock=SystemClock(sleep=lambda s: None)))
    pd.testing.assert_frame_equal(replayed, recorded)
    assert sorted(replayed["id"]) == truth


def test_a_recorded_rejection_holds_neither_the_wrong_key_nor_the_right_one(
    tmp_path: Path,
) -> None:
    tape = tmp_path / "errors.yaml"
    wrong = "sk_live_" + secrets.token_hex(24)
    with sandbox.serve(plan="free", n_analyses=5, anchor=ANCHOR) as api:
        with _recorder("all").use_cassette(str(tape)):
            with pytest.raises(cca.AuthenticationError):
                CallCovClient(wrong, api.url, clock=SystemClock(sleep=lambda s: None)).health()
            CallCovClient(api.key, api.url, clock=SystemClock(sleep=lambda s: None)).health()
        text = tape.read_text()
        assert wrong not in text and api.key not in text and not KEY_SHAPE.search(text)


@pytest.fixture
def committed() -> Iterator[tuple[str, str]]:
    """(base URL, key): a live sandbox while re-recording, else a dead port the tape answers."""
    if RECORDING:
        with sandbox.serve(plan="starter", n_analyses=5, seed=11, anchor=ANCHOR) as live:
            yield live.url, live.key
    else:
        yield "http://127.0.0.1:9/api/v1", "sk_test_" + secrets.token_hex(24)


def test_errors_replay_from_the_cassette(committed: tuple[str, str]) -> None:
    url, key = committed
    tape = CASSETTES / "test_errors_replay_from_the_cassette.yaml"
    with _recorder("all" if RECORDING else "none").use_cassette(str(tape)):
        bad = CallCovClient("sk_test_" + "0" * 48, url, clock=SystemClock(sleep=lambda s: None))
        with bad, pytest.raises(cca.AuthenticationError):
            bad.health()
        client = CallCovClient(key, url, clock=SystemClock(sleep=lambda s: None))
        with client, pytest.raises(cca.ValidationError, match="limit"):
            client.get("/analysis/", {"limit": 5000})


def test_no_committed_cassette_holds_a_key() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert files, "cassettes/ is empty: run `make cassettes`"
    for path in files:
        text = path.read_text()
        assert not KEY_SHAPE.search(text.replace("sk_test_REDACTED", "")), path
        for interaction in yaml.safe_load(text)["interactions"]:
            headers = {k.lower(): v for k, v in interaction["request"]["headers"].items()}
            assert headers.get("x-api-key") in (None, ["REDACTED"]), path
            assert headers.get("authorization") in (None, ["REDACTED"]), path
            assert isinstance(interaction["response"]["body"]["string"], str), path
