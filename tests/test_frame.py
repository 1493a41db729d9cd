"""The analysis DataFrame (schema, pages, frame): SCHEMA dtypes, Tolerate rules, parsing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcov_analytics import SCHEMA, InvalidRecordError, ResponseDecodeError, to_frame
from callcov_analytics._decode import parse as decode_module
from callcov_analytics._decode.frame import empty_frame, frame_from_tables
from callcov_analytics._decode.page_arrow import split as split_page
from callcov_analytics._decode.page_json import SlowPath
from callcov_analytics._decode.page_struct import struct_reader
from callcov_analytics._decode.parse import ParsedPage, parse_page
from callcov_analytics._decode.schema import CATEGORIES

CREATED = 1_760_000_000  # 2025-10-09 09:33:20 UTC


def completed(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A completed analysis with every documented field (docs/api.md §3)."""
    record: dict[str, Any] = {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "object": "analysis",
        "created": CREATED - i,
        "status": "completed",
        "livemode": True,
        "call": {
            "agent_id": "agent_007",
            "contact_id": "contact_42",
            "duration_ms": 125_500,
            "duration_seconds": 125.5,
        },
        "audio": {
            "url": "https://storage.callcov.com/a.wav",
            "size_bytes": 4_016_000,
            "format": "mp3",
            "duration_seconds": 125.5,
        },
        "transcript": {
            "text": "Hello, thank you for calling. My card number is 4111.",
            "language": "en",
            "segments": [
                {"speaker": "A", "text": "Hello, thank you for calling.", "start": 0.0, "end": 2.5},
                {"speaker": "B", "text": "My card number is 4111.", "start": 2.6, "end": 5.0},
                {"speaker": "A", "text": "Thanks.", "start": 5.1, "end": 6.0},
            ],
        },
        "results": {
            "compliance": {
                "identity_verification": {"verified": True, "timestamp": 12.5, "flagged": False},
                "mandatory_disclosures": {
                    "read": False,
                    "matched_disclosures": ["recording"],
                    "missing_disclosures": ["fees", "privacy"],
                },
                "purpose_declaration": {
                    "disclosed": True,
                    "interaction_number": 2,
                    "flagged": False,
                },
                "prohibited_phrases": {
                    "used": True,
                    "instances": [
                        {"phrase": "guaranteed", "timestamp": 40.25},
                        {"phrase": "no risk", "timestamp": 80.0},
                    ],
                },
                "sensitive_data": {"shared": False, "instances": []},
            },
            "quality": {
                "greeting": {"present": True, "timestamp": 0.5},
                "sentiment_analysis": {
                    "overall": "positive",
                    "customer_start": "negative",
                    "customer_end": "neutral",
                },
                "empathy": {"count": 4},
                "interruptions": {"count": 1},
                "call_structure": {"opening": True, "resolution": False, "closing": True},
            },
            "coaching": {
                "customer_effort_score": 3,
                "recommendations": [
                    {"priority": "high", "category": "empathy", "text": "Acknowledge."},
                    {"priority": "low", "category": "pace", "text": "Slow down."},
                    {"priority": "high", "category": "process", "text": "Confirm."},
                ],
            },
        },
        "metadata": {
            "webhook_url": "https://hooks.example.com/cc",
            "completed_at": CREATED - i + 300,
            "processing_time_ms": 8_200,
            "error_message": None,
        },
    }
    record.update(overrides)
    return record


def processing(i: int = 1) -> dict[str, Any]:
    """An analysis still running: transcript and results null."""
    metadata = {"webhook_url": None, "completed_at": None, "processing_time_ms": None}
    return completed(
        i, status="processing", transcript=None, results=None, metadata=metadata | {
            "error_message": None})  # fmt: skip


def failed(i: int = 2) -> dict[str, Any]:
    """A failed analysis with its error message."""
    record = processing(i)
    record["status"] = "failed"
    record["metadata"]["error_message"] = "Audio could not be decoded"
    return record


def envelope(records: list[dict[str, Any]], **fields: Any) -> bytes:
    """A list response body (the sandbox sends all envelope fields; the real API may not)."""
    body = {"object": "list", "data": records, **fields}
    return json.dumps(body, separators=(",", ":")).encode()


def assert_schema(df: pd.DataFrame, *, include_transcript: bool = False) -> None:
    """SCHEMA columns first, in order, with exactly SCHEMA's dtypes."""
    expected = {**SCHEMA, **({"transcript_text": "string"} if include_transcript else {})}
    assert list(df.columns[: len(expected)]) == list(expected)
    assert {c: str(df[c].dtype) for c in expected} == expected


def test_full_record_every_column_value_and_dtype() -> None:
    df = to_frame([completed()])
    assert_schema(df)
    row = df.iloc[0]
    expected = {
        "id": "00000000-0000-4000-8000-000000000000",
        "created": pd.Timestamp(CREATED, unit="s", tz="UTC"),
        "status": "completed",
        "livemode": True,
        "agent_id": "agent_007",
        "contact_id": "contact_42",
        "duration_ms": 125_500,
        "duration_seconds": 125.5,
        "audio_url": "https://storage.callcov.com/a.wav",
        "audio_format": "mp3",
        "audio_size_bytes": 4_016_000,
        "audio_duration_seconds": 125.5,
        "language": "en",
        "segment_count": 3,
        "webhook_url": "https://hooks.example.com/cc",
        "completed_at": pd.Timestamp(CREATED + 300, unit="s", tz="UTC"),
        "processing_time_ms": 8_200,
        "error_message": pd.NA,
        "identity_verified": True,
        "identity_verified_at_s": 12.5,
        "identity_flagged": False,
        "disclosures_read": False,
        "disclosures_matched": 1,
        "disclosures_missing": 2,
        "missing_disclosures": "fees; privacy",
        "purpose_disclosed": True,
        "purpose_interaction_number": 2,
        "purpose_flagged": False,
        "prohibited_phrases_used": True,
        "prohibited_phrase_count": 2,
        "prohibited_phrase_first_at_s": 40.25,
        "sensitive_data_shared": False,
        "sensitive_data_count": 0,
        "sensitive_data_first_at_s": pd.NA,
        "greeting_present": True,
        "greeting_at_s": 0.5,
        "sentiment_overall": "positive",
        "sentiment_customer_start": "negative",
        "sentiment_customer_end": "neutral",
        "empathy_count": 4,
        "interruption_count": 1,
        "structure_opening": True,
        "structure_resolution": False,
        "structure_closing": True,
        "customer_effort_score": 3,
        "recommendation_count": 3,
        "recommendations_high": 2,
        "recommendations_medium": 0,
        "recommendations_low": 1,
    }
    assert set(expected) == set(SCHEMA)
    got = {name: row[name] for name in expected}
    assert {k: v for k, v in got.items() if v is not pd.NA} == {
        k: v for k, v in expected.items() if v is not pd.NA
    }
    assert [k for k, v in got.items() if v is pd.NA] == [
        "error_message",
        "sensitive_data_first_at_s",
    ]
    assert list(df.columns) == list(SCHEMA)  # `object` is documented, constant, not a column


def test_processing_and_failed_rows_are_na_where_nothing_is_known() -> None:
    df = to_frame([completed(0), processing(1), failed(2)])
    assert_schema(df)
    prefixes = ("identity", "disclos", "missing", "purpose", "prohibited", "sensitive",
                "greeting", "sentiment", "empathy", "interruption", "structure", "customer_",
                "recommend")  # fmt: skip
    derived = [c for c in SCHEMA if c.startswith(prefixes)]
    for name in [*derived, "language", "segment_count", "completed_at", "processing_time_ms"]:
        assert df[name].iloc[1:].isna().all(), name
        assert df[name].iloc[:1].notna().all() or name == "sensitive_data_first_at_s", name
    assert df["error_message"].tolist() == [pd.NA, pd.NA, "Audio could not be decoded"]
    assert df["status"].tolist() == ["completed", "processing", "failed"]
    assert df["agent_id"].notna().all()


def test_len_is_zero_for_empty_lists_and_na_for_absent_ones() -> None:
    record = completed()
    del record["results"]["coaching"]["recommendations"]
    record["transcript"]["segments"] = []
    record["results"]["compliance"]["mandatory_disclosures"]["missing_disclosures"] = []
    row = to_frame([record]).iloc[0]
    assert row["segment_count"] == 0
    assert row["disclosures_missing"] == 0
    assert row["missing_disclosures"] == ""  # checked, nothing missing (NA would mean unknown)
    assert row["recommendation_count"] is pd.NA
    assert row["recommendations_high"] is pd.NA


@pytest.mark.parametrize(
    ("mutate", "na_columns"),
    [
        (lambda r: r.update(results=None), ["identity_verified", "greeting_present",
                                            "customer_effort_score", "recommendations_low"]),
        (lambda r: r["results"].update(quality=None), ["greeting_present", "sentiment_overall",
                                                       "empathy_count", "structure_closing"]),
        (lambda r: r["results"].pop("compliance"), ["identity_verified", "disclosures_matched",
                                                    "sensitive_data_count"]),
        (lambda r: r.update(call=None), ["agent_id", "duration_ms", "duration_seconds"]),
        (lambda r: r.pop("metadata"), ["webhook_url", "completed_at", "processing_time_ms"]),
        (lambda r: r["transcript"].update(segments=None), ["segment_count"]),
        (lambda r: r["results"]["compliance"].update(prohibited_phrases=None),
         ["prohibited_phrases_used", "prohibited_phrase_count", "prohibited_phrase_first_at_s"]),
    ],
)  # fmt: skip
def test_null_or_missing_nested_objects_give_na(mutate: Any, na_columns: list[str]) -> None:
    record = completed()
    mutate(record)
    df = to_frame([record, completed(1)])
    assert_schema(df)
    for name in na_columns:
        assert df[name].isna().tolist() == [True, False], name
    assert df["id"].notna().all()


def test_unknown_fields_at_every_level_become_dotted_columns() -> None:
    record = completed()
    record["sentiment_score"] = 0.75
    record["call"]["queue"] = "billing"
    record["experimental"] = {"foo": 1, "deeper": {"flag": True}}
    record["tags"] = ["vip", "callback"]
    record["results"]["quality"]["greeting"]["style"] = "warm"
    record["transcript"]["segments"][0]["confidence"] = 0.9  # inside a list item: summarized
    df = to_frame([record, completed(1)])
    assert_schema(df)
    extra = list(df.columns[len(SCHEMA) :])
    assert sorted(extra) == sorted([
        "sentiment_score", "call.queue", "experimental.foo", "experimental.deeper.flag", "tags",
        "results.quality.greeting.style",
    ])  # fmt: skip
    assert df["sentiment_score"].tolist() == [0.75, pd.NA]
    assert str(df["sentiment_score"].dtype) == "Float64"
    assert df["call.queue"].tolist() == ["billing", pd.NA]
    assert str(df["experimental.foo"].dtype) == "Int64"
    assert df["experimental.deeper.flag"].tolist() == [True, pd.NA]
    assert json.loads(df["tags"].iloc[0]) == ["vip", "callback"]
    assert df["results.quality.greeting.style"].iloc[0] == "warm"
    assert df["segment_count"].tolist() == [3, 3]


def test_unknown_field_named_like_a_schema_column_is_kept_apart() -> None:
    df = to_frame([completed(language="fr-CA", segment_count="many")])
    assert df["language"].iloc[0] == "en"
    assert df["extra.language"].iloc[0] == "fr-CA"
    assert df["extra.segment_count"].iloc[0] == "many"


def test_unknown_date_like_strings_stay_text() -> None:
    df = to_frame([completed(reviewed_at="2025-01-02T03:04:05Z"), completed(1)])
    assert df["reviewed_at"].tolist() == ["2025-01-02T03:04:05Z", pd.NA]
    assert str(df["reviewed_at"].dtype) == "string"


def test_wrong_json_type_in_a_documented_field_is_na_not_a_crash() -> None:
    bad = completed(0, created="yesterday", livemode="yes")
    bad["call"]["duration_ms"] = "long"
    bad["results"]["quality"] = "n/a"
    df = to_frame([bad, completed(1)])
    assert_schema(df)
    assert df["created"].isna().tolist() == [True, False]
    assert df["livemode"].isna().tolist() == [True, False]
    assert df["duration_ms"].isna().tolist() == [True, False]
    assert df["greeting_present"].isna().tolist() == [True, False]
    assert df["agent_id"].tolist() == ["agent_007", "agent_007"]
    # The well-formed row is identical to what the fast path makes of it alone.
    pd.testing.assert_series_equal(
        df.iloc[1].astype(object),
        to_frame([completed(1)]).iloc[0].astype(object),
        check_names=False,
    )


def test_timestamps_outside_datetime64_range_are_na() -> None:
    # 2**62 is out of range even read as milliseconds
    df = to_frame([completed(created=2**62), completed(1, created=-(2**63))])
    assert df["created"].isna().all()
    assert df["completed_at"].notna().all()


@pytest.mark.parametrize(
    "created",
    [CREATED * 1000, float(CREATED), "2025-11-30T22:13:20Z", "2025-11-30T22:13:20+00:00"],
    ids=["milliseconds", "float", "iso-z", "iso-offset"],
)
def test_created_and_completed_at_in_other_formats_are_read(created: Any) -> None:
    when = pd.Timestamp("2025-11-30T22:13:20Z") if isinstance(created, str) else None
    record = completed(created=created)
    record["metadata"]["completed_at"] = created
    body = json.dumps({"object": "list", "data": [record, completed(1)]}).encode()
    page = parse_page(body)
    expected = int(when.timestamp()) if when is not None else CREATED
    assert page.created[0] == expected and page.unkeyed is None
    df = to_frame([record])
    assert df["created"][0] == pd.Timestamp(expected, unit="s", tz="UTC")
    assert df["completed_at"][0] == df["created"][0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": None}, "id"),
        ({"id": ""}, "id"),
        ({"id": ...}, "id"),
        ({"created": ...}, "created"),
        ({"created": None}, "created"),
        ({"created": "last tuesday"}, "created"),
    ],
    ids=["id-null", "id-empty", "id-missing", "created-missing", "created-null", "created-text"],
)
def test_a_row_without_id_or_created_is_named_not_dropped(
    change: dict[str, Any], field: str
) -> None:
    record = completed(1)
    for name, value in change.items():
        if value is ...:
            del record[name]
        else:
            record[name] = value
    page = parse_page(json.dumps({"object": "list", "data": [completed(), record]}).encode())
    assert page.table.num_rows == 2  # kept in the columns, but the crawl refuses the page
    with pytest.raises(InvalidRecordError, match=f"data\\[1\\].* `{field}`") as info:
        page.check_keys()
    assert info.value.field == field


def test_hostile_strings_survive_unchanged() -> None:
    long_text = "é😀 " * 17_000  # ~50 KB
    record = completed(id='=HYPERLINK("http://evil","x")')
    record["call"]["agent_id"] = "Zoë 山田 \u202e"
    record["transcript"]["text"] = long_text
    df = to_frame([record], include_transcript=True)
    assert df["id"].iloc[0] == '=HYPERLINK("http://evil","x")'  # escaping is report's job
    assert df["agent_id"].iloc[0] == "Zoë 山田 \u202e"
    assert df["transcript_text"].iloc[0] == long_text


def test_lone_surrogate_escape_is_replaced_not_a_crash() -> None:
    body = envelope([completed()]).replace(b'"agent_007"', b'"agent\\ud800_007"')
    df = frame_from_tables([parse_page(body).table])
    assert df["agent_id"].iloc[0] == "agent?_007"


def test_include_transcript_adds_the_text_column_only_when_asked() -> None:
    assert "transcript_text" not in to_frame([completed()]).columns
    df = to_frame([completed(), processing()], include_transcript=True)
    assert_schema(df, include_transcript=True)
    assert df["transcript_text"].tolist() == [completed()["transcript"]["text"], pd.NA]
    # Pages parsed without it still build a frame that has the column (all NA).
    table = parse_page(envelope([completed()])).table
    assert frame_from_tables([table], include_transcript=True)["transcript_text"].isna().all()


def test_empty_input_keeps_every_column_and_dtype() -> None:
    expected = empty_frame()
    assert len(expected) == 0
    assert_schema(expected)
    pd.testing.assert_frame_equal(to_frame([]), expected)
    pd.testing.assert_frame_equal(frame_from_tables([]), expected)
    page = parse_page(envelope([], has_more=False))
    pd.testing.assert_frame_equal(frame_from_tables([page.table]), expected)
    pd.testing.assert_frame_equal(frame_from_tables([page.take([])]), expected)
    assert_schema(empty_frame(include_transcript=True), include_transcript=True)


def test_pages_with_different_unknown_fields_concatenate() -> None:
    first = parse_page(envelope([completed(0, score=1), completed(1, score=2)])).table
    second = parse_page(envelope([completed(2, flag=True, score=None)])).table
    third = parse_page(envelope([completed(3, score="high")])).table  # int elsewhere: text
    df = frame_from_tables([first, second, third])
    assert_schema(df)
    assert list(df.columns[len(SCHEMA) :]) == ["score", "flag"]
    assert df["flag"].tolist() == [pd.NA, pd.NA, True, pd.NA]
    assert df["score"].tolist() == ["1", "2", pd.NA, "high"]
    assert str(df["flag"].dtype) == "boolean"


def test_categories_are_fixed_and_unknown_values_survive() -> None:
    new = completed(1, status="queued")
    new["audio"]["format"] = "opus"
    new["transcript"]["language"] = "de"
    df = to_frame([completed(0), new, failed(2)])
    assert list(df["status"].cat.categories) == ["processing", "completed", "failed", "queued"]
    assert df["status"].tolist() == ["completed", "queued", "failed"]
    assert list(df["audio_format"].cat.categories) == ["wav", "mp3", "m4a", "flac", "ogg", "opus"]
    assert list(df["sentiment_overall"].cat.categories) == ["positive", "neutral", "negative"]
    assert list(df["language"].cat.categories) == ["de", "en"]
    assert list(empty_frame()["status"].cat.categories) == list(CATEGORIES["status"])


def test_created_and_completed_at_are_tz_aware_utc() -> None:
    df = to_frame([completed()])
    assert str(df["created"].dt.tz) == "UTC"
    assert df["created"].iloc[0] == pd.Timestamp("2025-10-09 08:53:20", tz="UTC")
    assert df["completed_at"].iloc[0] - df["created"].iloc[0] == pd.Timedelta(minutes=5)


def test_parse_page_reads_the_envelope() -> None:
    records = [completed(0), processing(1), failed(2)]
    page = parse_page(envelope(records, has_more=True, total=12_345, limit=3, offset=6))
    assert isinstance(page, ParsedPage)
    assert (page.has_more, page.total, page.limit, page.offset) == (True, 12_345, 3, 6)
    assert page.ids == [r["id"] for r in records]
    assert page.created == [r["created"] for r in records]
    assert page.statuses == ["completed", "processing", "failed"]
    assert page.table.num_rows == 3


def test_parse_page_tolerates_an_envelope_with_only_object_and_data() -> None:
    page = parse_page(envelope([completed()]))
    assert (page.has_more, page.total, page.limit, page.offset) == (None, None, None, None)
    assert page.ids == [completed()["id"]]


def test_parse_page_accepts_pretty_printed_bodies() -> None:
    body = json.dumps({"object": "list", "data": [completed()], "has_more": False}, indent=2)
    page = parse_page(body.encode())
    assert page.has_more is False
    pd.testing.assert_frame_equal(frame_from_tables([page.table]), to_frame([completed()]))


def test_take_after_dedup_equals_to_frame_of_the_kept_records() -> None:
    records = [completed(0), processing(1), failed(2), completed(3, extra_score=9)]
    page = parse_page(envelope(records), include_transcript=True)
    kept = page.take([3, 0, 2])
    df = frame_from_tables([kept], include_transcript=True)
    expected = to_frame([records[3], records[0], records[2]], include_transcript=True)
    pd.testing.assert_frame_equal(df, expected)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (envelope([completed()])[:700], "cut off"),
        (b"<html><body>502 Bad Gateway</body></html>", "not JSON"),
        (b'{"detail": "Not authenticated"}', "list envelope"),
        (b'[{"id": "x"}]', "list envelope"),
        (b'{"object": "list", "data": {"id": "x"}}', "list envelope"),
        (b'{"object": "list", "data": [1, 2]}', "data[0]"),
        (b"", "empty"),
        (b'{"data": []}\n{"data": []}', "not JSON"),
    ],
)
def test_parse_page_rejects_bodies_that_are_not_a_list_envelope(body: bytes, problem: str) -> None:
    with pytest.raises(ResponseDecodeError) as caught:
        parse_page(body)
    message = str(caught.value)
    assert problem in message
    assert len(message) < 160  # short, and at most ~100 characters of the body


def test_decode_error_never_quotes_much_of_the_body() -> None:
    secretish = b"<html>" + b"x" * 5000 + b"SECRET_AT_THE_END</html>"
    with pytest.raises(ResponseDecodeError) as caught:
        parse_page(secretish)
    assert "SECRET_AT_THE_END" not in str(caught.value)
    assert caught.value.method == "GET"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _dict_nodes(value: Any) -> list[dict[str, Any]]:
    """Every dict inside a JSON value (the record itself first)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found.extend(_dict_nodes(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_dict_nodes(item))
    return found


def mutate(data: st.DataObject, record: dict[str, Any], actions: list[str], times: int) -> None:
    """Change `record` in place `times` times: at a random object in it, add a random field,
    or null, delete or retype (a random JSON value) one of its fields."""
    for _ in range(times):
        node = data.draw(st.sampled_from(_dict_nodes(record)))
        action = data.draw(st.sampled_from(actions))
        if action == "add":
            node[data.draw(st.text(max_size=6))] = data.draw(JSON_VALUES)
        elif node:
            key = data.draw(st.sampled_from(sorted(node)))
            if action == "delete":
                del node[key]
            else:
                node[key] = None if action == "null" else data.draw(JSON_VALUES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), base=st.sampled_from([completed, processing, failed]))
def test_to_frame_survives_random_extra_fields_and_nulls(data: st.DataObject, base: Any) -> None:
    records = [base(0), completed(1)]
    mutate(data, records[0], ["add", "null", "delete"], data.draw(st.integers(0, 6)))
    snapshot = copy.deepcopy(records)
    df = to_frame(records)
    assert_schema(df)
    assert len(df) == 2
    assert records == snapshot  # input untouched
    assert df["id"].iloc[1] == completed(1)["id"]


def _many(n: int = 12) -> list[dict[str, Any]]:
    return [[completed, processing, failed][i % 3](i) for i in range(n)]


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_a_page_read_in_pieces_equals_the_page_read_whole(separators: Any) -> None:
    records = [{**r, "queue": "billing"} for r in _many()]  # unknown: Arrow reads the pieces
    body = json.dumps(
        {"object": "list", "data": records, "has_more": True, "total": 99}, separators=separators
    ).encode()
    whole = parse_page(body, include_transcript=True, pieces=1)
    assert len(split_page(body, 3)) == 3  # the page really is read in three parts
    split = parse_page(body, include_transcript=True, pieces=3)
    assert split.table.equals(whole.table)
    assert (split.ids, split.created, split.statuses) == (whole.ids, whole.created, whole.statuses)
    assert (split.has_more, split.total) == (True, 99)


def test_pieces_with_different_unknown_fields_still_keep_them() -> None:
    records = _many()
    records[-1]["late_field"] = {"x": 1}
    records[0]["early_field"] = "a"
    assert len(split_page(envelope(records), 3)) == 3
    df = frame_from_tables([parse_page(envelope(records), pieces=3).table])
    pd.testing.assert_frame_equal(df, to_frame(records))
    assert df["late_field.x"].tolist() == [pd.NA] * 11 + [1]
    assert df["early_field"].tolist() == ["a"] + [pd.NA] * 11


def test_a_cut_inside_a_nested_list_of_objects_falls_back_to_the_whole_page() -> None:
    records = _many()
    for record in records:
        record["attachments"] = [{"id": f"x{k}", "n": "y" * 200} for k in range(5)]
    page = parse_page(envelope(records, has_more=False), pieces=3)
    assert page.ids == [r["id"] for r in records]
    assert json.loads(page.table["attachments"][0].as_py())[1] == {"id": "x1", "n": "y" * 200}
    assert page.has_more is False


def test_unknown_lists_mixing_null_and_values_read_back_exactly() -> None:
    records = [completed(0, scores=[None, 5]), completed(1, scores=[None, "0"]), completed(2)]
    df = to_frame(records)
    assert df["scores"].tolist() == ["[null, 5]", '[null, "0"]', pd.NA]


# The fast path (msgspec) must give exactly what the generic path (Arrow, then json.loads)
# gives, or decline the page.


def _generic(body: bytes, **options: Any) -> ParsedPage:
    """parse_page with the fast path declining every page."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decode_module, "struct_reader", lambda *_: _Declines())
        return parse_page(body, **options)


class _Declines:
    def read(self, body: bytes) -> Any:
        raise SlowPath


def test_a_page_of_documented_fields_takes_the_fast_path() -> None:
    records = [*_many(), completed(20, transcript={"text": "x", "language": "en", "segments": []})]
    records[3]["results"]["compliance"]["mandatory_disclosures"]["missing_disclosures"] = None
    body = envelope(records, has_more=True, total=99, url="/v1/calls")
    for include_transcript in (False, True):
        _, env, unknown = struct_reader(include_transcript).read(body)
        assert (env["has_more"], env["total"], unknown) == (True, 99, {})
        fast = parse_page(body, include_transcript=include_transcript)
        slow = _generic(body, include_transcript=include_transcript)
        assert fast.table.equals(slow.table)
        assert (fast.ids, fast.created, fast.statuses) == (slow.ids, slow.created, slow.statuses)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.update(queue="billing"),
        lambda r: r["call"].update(queue="billing"),
        lambda r: r["results"]["quality"].update(tone={"warm": True}),
        lambda r: r["transcript"].update(words=3),
        lambda r: r["metadata"].update(created="x"),
        lambda r: r["call"].update(duration_ms=1.0),  # documented int sent as a float
        lambda r: r["call"].update(duration_ms=2**63),  # beyond int64
        lambda r: r["audio"].update(format=5),
        lambda r: r["transcript"]["segments"].append(None),
    ],
)
def test_the_fast_path_declines_what_only_the_generic_path_handles(mutate: Any) -> None:
    record = completed()
    mutate(record)
    with pytest.raises(SlowPath):
        struct_reader(False).read(envelope([record]))
    assert parse_page(envelope([record])).table.equals(_generic(envelope([record])).table)


def _nan_as_text(table: Any) -> list[dict[str, Any]]:
    """The table's rows with NaN as "NaN", so that equal tables compare equal (Python's json
    writes NaN, which the generic path reads)."""
    return [
        {k: "NaN" if isinstance(v, float) and v != v else v for k, v in row.items()}
        for row in table.to_pylist()
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), base=st.sampled_from([completed, processing, failed]))
def test_fast_and_generic_paths_agree_on_random_records(data: st.DataObject, base: Any) -> None:
    records = [base(0), completed(1)]
    # "add" mostly makes the fast path decline, so it is drawn a quarter of the time.
    actions = ["add", *["null", "delete", "retype"] * 3]
    mutate(data, records[0], actions, data.draw(st.integers(1, 6)))
    # has_more=1 (the wrong JSON type) always sends a page down the generic path: drawn rarely.
    body = envelope(records, has_more=data.draw(st.sampled_from([True, None, True, None, 1])))
    for options in ({}, {"include_transcript": True}, {"include_segments": True}):
        try:
            slow = _generic(body, **options)
        except ResponseDecodeError:
            continue  # e.g. a record replaced by a list: both paths refuse it
        fast = parse_page(body, **options)
        assert fast.table.schema == slow.table.schema
        assert _nan_as_text(fast.table) == _nan_as_text(slow.table)
        assert (fast.ids, fast.created, fast.statuses) == (slow.ids, slow.created, slow.statuses)
        assert (fast.has_more, fast.total) == (slow.has_more, slow.total)
