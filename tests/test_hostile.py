"""load_calls against servers that misbehave (tests/hostile_server.py), one way per mode.

One invariant for every mode: the load ends within a bounded number of requests, with every
row exactly once or a typed error that says what the server did and what to do; never a
silent partial result, never a loop, never the key (in the message, the repr, a traceback
with locals, the logs or the rows kept). Retries sleep through an injected clock, so the
whole module takes seconds; pytest-timeout bounds the seconds of a load that would loop.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import traceback
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callcov_analytics as cca
from callcov_analytics import (
    APIError,
    CallCovError,
    InvalidRecordError,
    ListOrderError,
    PagingStalledError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ValidationError,
)
from callcov_analytics._clock import SystemClock
from callcov_analytics._http import exchange as http_module
from callcov_analytics._store.crawl import MAX_REPEATS
from tests.hostile_server import EPOCH, HostileServer, Listing, ok, record

pytestmark = pytest.mark.timeout(60)

N, LIMIT = 300, 50
HONEST_PAGES = -(-N // (LIMIT - 1))  # pages of 50 overlapping by one row


def sk_key() -> str:
    return f"sk_test_{secrets.token_hex(16)}"


def plain_key() -> str:
    """A key of another shape (a .env typo, another vendor's format): masked all the same."""
    return f"ck-{secrets.token_urlsafe(24)}"


@dataclass
class Outcome:
    rows: pd.DataFrame | None
    error: BaseException | None
    requests: int
    slept: float


def load(server: HostileServer, limit: int = LIMIT) -> Outcome:
    """load_calls against the server, retries sleeping on a fake clock; never raises."""
    slept: list[float] = []
    client = cca.CallCovClient(server.key, server.url, clock=SystemClock(sleep=slept.append))
    try:
        df = cca.load_calls(client=client, limit=limit, cache=False, progress=False)
        outcome = Outcome(df, None, len(server.log), sum(slept))
    except CallCovError as exc:
        outcome = Outcome(exc.partial, exc, len(server.log), sum(slept))
    finally:
        client.close()
    return outcome


def assert_no_key(outcome: Outcome, key: str, caplog: pytest.LogCaptureFixture) -> None:
    """The key is nowhere: message, repr, traceback with locals, logs, the rows kept."""
    places = [caplog.text]
    if outcome.error is not None:
        exc = outcome.error
        places += [str(exc), repr(exc), getattr(exc, "body", "")]
        tb = traceback.TracebackException(type(exc), exc, exc.__traceback__, capture_locals=True)
        places.append("".join(tb.format()))
    if outcome.rows is not None:
        places.append(outcome.rows.to_csv())
    for text in places:
        assert key not in text


def assert_every_row_once(outcome: Outcome, server: HostileServer) -> None:
    assert outcome.error is None, outcome.error
    assert outcome.rows is not None
    assert outcome.rows["id"].tolist() == [r["id"] for r in server.records]
    truth = pd.to_datetime([r["created"] for r in server.records], unit="s", utc=True)
    assert outcome.rows["created"].tolist() == truth.tolist()


# mode -> (what the load must end with, the most list requests it may take)
EVERY_ROW = "every row"
CASES: dict[str, tuple[Any, int]] = {
    "honest": (EVERY_ROW, HONEST_PAGES),
    "capped_pages": (EVERY_ROW, -(-N // 19) + 1),
    "created_iso": (EVERY_ROW, HONEST_PAGES),
    "created_ms": (EVERY_ROW, HONEST_PAGES),
    "rows_repeated": (EVERY_ROW, HONEST_PAGES + 1),
    "limit_ignored": (EVERY_ROW, HONEST_PAGES),
    "pages_overlap": (EVERY_ROW, HONEST_PAGES + 2),
    "total_lies": (EVERY_ROW, HONEST_PAGES),
    "has_more_false": (EVERY_ROW, HONEST_PAGES),
    "has_more_true": (EVERY_ROW, HONEST_PAGES + 3),  # the last row alone, empty, the end
    "no_envelope": (EVERY_ROW, HONEST_PAGES),
    "offset_ignored": ((PagingStalledError, "ignore the `offset`"), 1 + MAX_REPEATS),
    "offset_clamped": ((PagingStalledError, "ignore the `offset`"), HONEST_PAGES + MAX_REPEATS),
    "oldest_first": ((ListOrderError, "not newest first"), 1),
    "one_row_pages": ((PagingStalledError, "pages of 1 row"), 3),
    "created_missing": ((InvalidRecordError, r"data\[\d+\] \(id '.*'\) has no `created`"), 3),
    "created_garbled": ((InvalidRecordError, "has no `created`"), 3),
    "id_missing": ((InvalidRecordError, r"has no `id`"), 3),
    "id_null": ((InvalidRecordError, r"has no `id`"), 3),
    "html_echo": ((ResponseDecodeError, "not JSON"), 7),  # 1 + 6 retries: it may be passing
    "gzip_bomb": ((ResponseTooLargeError, "not retried"), 1),
    "redirect_loop": ((APIError, "more than 3 redirects"), 4),
}


# Every mode with an sk_-shaped key; the modes that end in an error (whose message, partial
# and traceback could carry the key) also with a key of another shape.
RUNS = [pytest.param(mode, sk_key, id=f"{mode}-sk-key") for mode in CASES] + [
    pytest.param(mode, plain_key, id=f"{mode}-plain-key")
    for mode, (expected, _) in CASES.items()
    if expected != EVERY_ROW
]


@pytest.mark.parametrize(("mode", "make_key"), RUNS)
def test_every_mode_ends_with_every_row_or_a_typed_error(
    mode: str,
    make_key: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_module, "MAX_BODY_BYTES", 1 << 20)  # the bomb inflates to 8 MiB
    caplog.set_level(logging.DEBUG)
    expected, max_requests = CASES[mode]
    with HostileServer(mode, n=N, key=make_key()) as server:
        outcome = load(server)
    assert outcome.requests <= max_requests, f"{outcome.requests} requests"
    assert_no_key(outcome, server.key, caplog)
    if expected == EVERY_ROW:
        assert_every_row_once(outcome, server)
        return
    kind, message = expected
    assert isinstance(outcome.error, kind), repr(outcome.error)
    assert re.search(message, str(outcome.error)), str(outcome.error)
    # never a silent partial: what was kept is a prefix of the list, each row once
    if outcome.rows is not None:
        kept = outcome.rows["id"].tolist()
        assert kept == [r["id"] for r in server.records[: len(kept)]]


def test_limit_one_is_refused_before_any_request() -> None:
    with HostileServer("honest", n=40) as server:
        with pytest.raises(ValidationError, match="from 2 to 1000") as info:
            cca.load_calls(api_key=server.key, base_url=server.url, limit=1, cache=False)
        assert info.value.param == "limit"
        assert server.log == []


def test_an_invalid_record_names_its_field_and_keeps_the_rows_before() -> None:
    with HostileServer("id_null", n=N) as server:
        outcome = load(server)
    assert isinstance(outcome.error, InvalidRecordError) and outcome.error.field == "id"
    assert outcome.rows is not None and len(outcome.rows) >= 2 * (LIMIT - 1)


# -- hypothesis draws the answers -----------------------------------------------------------

SMALL, SMALL_LIMIT = 24, 8
FAST = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def iso(seconds: int, style: str) -> str:
    text = pd.Timestamp(seconds, unit="s", tz="UTC").isoformat()
    return {"z": text.replace("+00:00", "Z"), "offset": text, "naive": text[:-6]}[style]


formats = st.sampled_from(["seconds", "ms", "float", "z", "offset", "naive"])


@FAST
@given(created=st.lists(formats, min_size=SMALL, max_size=SMALL))
def test_any_documented_timestamp_format_gives_every_row(created: list[str]) -> None:
    records = [record(i) for i in range(SMALL)]
    for r, style in zip(records, created, strict=True):
        seconds = r["created"]
        r["created"] = {"seconds": seconds, "ms": seconds * 1000, "float": float(seconds)}.get(
            style
        ) or iso(seconds, style)
    with HostileServer("honest", records=records) as server:
        outcome = load_small(server)
    assert outcome.error is None, outcome.error
    assert outcome.rows is not None
    truth = [EPOCH - 60 * i for i in range(SMALL)]
    assert [int(t.timestamp()) for t in outcome.rows["created"]] == truth


def load_small(server: HostileServer) -> Outcome:
    return load(server, limit=SMALL_LIMIT)


SMALL_PAGES = -(-SMALL // (SMALL_LIMIT - 1)) + 1


@FAST
@given(
    damage=st.dictionaries(
        st.integers(0, SMALL - 1),
        st.sampled_from(["no id", "null id", "empty id", "twice", "no created"]),
        max_size=4,
    )
)
def test_missing_or_repeated_ids_give_every_row_once_or_name_the_field(
    damage: dict[int, str],
) -> None:
    records: list[dict[str, Any]] = []
    for i in range(SMALL):
        r = record(i)
        how = damage.get(i)
        if how == "no id":
            del r["id"]
        elif how in ("null id", "empty id"):
            r["id"] = None if how == "null id" else ""
        elif how == "no created":
            del r["created"]
        records.append(r)
        if how == "twice":
            records.append(dict(r))  # the same analysis again, next to itself
    with HostileServer("honest", records=records) as server:
        outcome = load_small(server)
    assert outcome.requests <= SMALL_PAGES + len(damage)
    unkeyed = {i for i, how in damage.items() if how not in ("twice",)}
    if not unkeyed:
        assert outcome.error is None, outcome.error
        assert outcome.rows is not None
        assert outcome.rows["id"].tolist() == [record(i)["id"] for i in range(SMALL)]
        return
    assert isinstance(outcome.error, InvalidRecordError)
    first = damage[min(unkeyed)]
    assert outcome.error.field == ("created" if first == "no created" else "id")


@FAST
@given(order=st.permutations(range(SMALL)))
def test_any_order_but_newest_first_is_refused(order: list[int]) -> None:
    records = [record(i) for i in order]
    with HostileServer("honest", records=records) as server:
        outcome = load_small(server)
    if order == sorted(order):
        assert outcome.error is None and outcome.rows is not None
        assert len(outcome.rows) == SMALL
    else:
        # pages overlap by one row, so every neighbouring pair is on some page: the first
        # pair out of order stops the load, before a row could be skipped
        assert isinstance(outcome.error, ListOrderError), outcome.error
    assert outcome.requests <= SMALL_PAGES


envelope = st.fixed_dictionaries(
    {},
    optional={
        "has_more": st.one_of(st.none(), st.just(True)),
        "total": st.one_of(st.none(), st.integers(0, 10**6)),
        "limit": st.one_of(st.none(), st.integers(0, 5000)),
        "offset": st.one_of(st.none(), st.integers(-5, 10**6)),
    },
)


@FAST
@given(lies=st.lists(envelope, min_size=1, max_size=12))
def test_a_lying_envelope_never_loses_a_row(lies: list[dict[str, Any]]) -> None:
    calls = iter(range(10**6))

    def lying(q: Listing) -> Any:
        # `has_more: false` is believed when no `total` contradicts it (nothing could tell
        # it from the truth); every other lie is drawn: has_more true anywhere (also on a
        # short or empty page), any total, limit and offset.
        data = q.page()
        doc = q.envelope(data)
        lie = lies[next(calls) % len(lies)]
        for name, value in lie.items():
            if value is None:
                doc.pop(name, None)
            else:
                doc[name] = value
        if "has_more" not in lie and "total" in lie:
            doc["has_more"] = q.offset + len(data) < len(q.records)
        return ok(doc)

    with HostileServer(lying, n=SMALL) as server:
        outcome = load_small(server)
    assert outcome.requests <= 2 * SMALL_PAGES + 2
    assert outcome.error is None, outcome.error
    assert outcome.rows is not None
    assert outcome.rows["id"].tolist() == [r["id"] for r in server.records]


def test_the_harness_logs_requests_but_never_the_key() -> None:
    with HostileServer("honest", n=5) as server:
        load(server)
        assert server.log and server.key not in json.dumps([r.__dict__ for r in server.log])
