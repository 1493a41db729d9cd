"""segments: transcript segments, talk metrics and transcript search."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcov_analytics import ValidationError
from callcov_analytics import segments as seg
from callcov_analytics._decode.parse import parse_page
from tests.test_metrics import make_frame


def record(id_: str, parts: list[tuple[str, float, float]] | None, agent: str = "ag") -> dict:
    """An analysis dict with (speaker, start, end) segments; None: no transcript."""
    transcript = None
    if parts is not None:
        segments = [
            {"speaker": s, "text": f"{s}{i}", "start": a, "end": b}
            for i, (s, a, b) in enumerate(parts)
        ]
        transcript = {"text": "...", "language": "en", "segments": segments}
    return {"id": id_, "call": {"agent_id": agent}, "transcript": transcript}


RECORDS = [
    # A talks 0-2 and 3-5 (one monologue of 4 s), B starts at 4 (1 s overlap), A again at 10.
    record("x", [("A", 0.0, 2.0), ("A", 3.0, 5.0), ("B", 4.0, 8.0), ("A", 10.0, 11.0)]),
    record("y", [("B", 1.0, 4.0), ("A", 0.0, 10.0), ("B", 12.0, 13.0)], agent="ag2"),
    record("processing", None),
    {"id": "junk", "transcript": {"segments": None}},
]


def test_segments_one_row_per_segment() -> None:
    out = seg.segments(RECORDS)
    assert list(out.columns) == list(seg.SEGMENT_COLUMNS)
    assert out.dtypes.astype(str).tolist() == list(seg.SEGMENT_COLUMNS.values())
    assert out["id"].tolist() == ["x"] * 4 + ["y"] * 3
    assert out["role"].tolist()[:4] == ["agent", "agent", "customer", "agent"]
    assert out["duration"].tolist()[:4] == [2.0, 2.0, 4.0, 1.0]
    assert out["agent_id"].tolist()[-1] == "ag2" and out["text"].iloc[0] == "A0"


def test_segments_agent_speaker_is_a_parameter() -> None:
    out = seg.segments(RECORDS[:1], agent_speaker="B")
    assert out["role"].tolist() == ["customer", "customer", "agent", "customer"]


def test_segments_tolerate_junk() -> None:
    junk: list[Any] = [
        {
            "id": "z",
            "transcript": {
                "segments": [
                    "not a dict",
                    {"speaker": None, "start": "soon", "end": True, "text": 3},
                    {"speaker": "A", "start": 5.0, "end": 4.0},
                ]
            },
        },
        None,
    ]
    out = seg.segments(junk)
    assert len(out) == 2
    assert out["role"].isna().tolist() == [True, False]
    assert out["start"].isna().tolist() == [True, False] and out["duration"].iloc[1] == 0.0


@pytest.mark.parametrize("agent_speaker", ["A", "B"])
def test_stored_pages_give_the_same_segments_as_the_records(agent_speaker: str) -> None:
    odd = {"speaker": None, "start": "soon", "end": True, "text": 3}
    items = [None, "not a dict", odd, {"speaker": "A", "start": None, "end": 1.0, "text": "t"}]
    items += [{"speaker": "B", "start": 2.0}, {"speaker": 7, "start": float("inf"), "end": 9.0}]
    items += [{"speaker": "A", "start": 5.0, "end": 4.0, "text": "backwards", "mood": "calm"}]
    records = [
        *RECORDS,
        {"id": "odd", "call": {"agent_id": "ag"}, "transcript": {"segments": items}},
    ]
    body = json.dumps({"object": "list", "data": records}).encode()
    page = parse_page(body, include_segments=True)
    stored = seg.table_segments(page.table, agent_speaker=agent_speaker)
    pd.testing.assert_frame_equal(stored, seg.segments(records, agent_speaker=agent_speaker))
    assert stored["duration"].isna().sum() == 4  # unknown start or end: NA, never 0


def test_talk_metrics_hand_computed() -> None:
    out = seg.talk_metrics(seg.segments(RECORDS)).set_index("id")
    assert list(out.reset_index().columns) == list(seg.TALK_COLUMNS)
    x, y = out.loc["x"], out.loc["y"]
    assert x[
        ["segments", "talk_seconds", "agent_talk_seconds", "customer_talk_seconds"]
    ].tolist() == [4, 9.0, 5.0, 4.0]
    assert x["agent_talk_share"] == 5 / 9 and x["customer_talk_share"] == 4 / 9
    assert x["longest_monologue_seconds"] == 4.0
    assert x[["silence_seconds", "max_silence_seconds"]].tolist() == [3.0, 2.0]
    assert x[["overlap_count", "overlap_seconds"]].tolist() == [1, 1.0]
    # y, sorted by start: A 0-10 covers B 1-4 entirely; the gap to B 12 is from 10, not 4.
    assert y[["agent_talk_seconds", "customer_talk_seconds"]].tolist() == [10.0, 4.0]
    assert y[["overlap_count", "overlap_seconds"]].tolist() == [1, 3.0]
    assert y[["silence_seconds", "max_silence_seconds"]].tolist() == [2.0, 2.0]
    assert y["longest_monologue_seconds"] == 10.0  # B's run 1-4, 12-13 is 4 s of speech


def test_talk_metrics_untimed_call_has_no_shares() -> None:
    out = seg.talk_metrics(seg.segments([record("u", [("A", 1.0, 1.0)])]))
    assert out["talk_seconds"].tolist() == [0.0]
    assert out["agent_talk_share"].isna().all() and out["overlap_count"].tolist() == [0]


def test_empty_and_null_transcripts_give_empty_frames() -> None:
    assert seg.segments([record("p", None), {"id": "q"}]).empty
    out = seg.talk_metrics(seg.segments([]))
    assert out.empty and dict(out.dtypes.astype(str)) == seg.TALK_COLUMNS


segment_lists = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),
        st.floats(0, 100, allow_nan=False),
        st.floats(0, 20, allow_nan=False),
    ).map(lambda t: (t[0], t[1], t[1] + t[2])),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), segment_lists), max_size=5))
def test_talk_shares_sum_to_one_per_call_with_talk(calls: list[Any]) -> None:
    records = [record(f"c{i}", parts) for i, parts in enumerate(calls)]
    out = seg.talk_metrics(seg.segments(records))
    assert len(out) == sum(1 for parts in calls if parts)
    talking = out[out["talk_seconds"] > 0]
    shares = talking["agent_talk_share"] + talking["customer_talk_share"]
    assert ((shares - 1).abs() < 1e-9).all()
    assert (out["longest_monologue_seconds"].fillna(0) >= 0).all()
    assert (out["silence_seconds"] >= 0).all() and (out["overlap_seconds"] >= 0).all()


TEXTS = [
    "Hello, you can cancel at any time. To cancel, press one.",
    "Thanks for calling. " * 5 + "We never CANCEL orders.",
    None,
]


def transcript_frame() -> pd.DataFrame:
    rows = [
        {
            "id": f"t{i}",
            "agent_id": "ag",
            "transcript_text": text,
            "created": pd.Timestamp(f"2024-03-0{i + 1}", tz="UTC"),
        }
        for i, text in enumerate(TEXTS)
    ]
    return make_frame(rows, transcripts=True)


def test_search_literal_is_case_insensitive_and_newest_first() -> None:
    out = seg.search_transcripts(transcript_frame(), "cancel", context=10)
    assert list(out.columns) == list(seg.SEARCH_COLUMNS)
    assert out["id"].tolist() == ["t1", "t0"] and out["matches"].tolist() == [1, 2]
    assert out["snippet"].tolist() == ["…We never CANCEL orders.", "…, you can cancel at any ti…"]


def test_search_regex_and_case() -> None:
    df = transcript_frame()
    assert seg.search_transcripts(df, "cancel", case=True)["id"].tolist() == ["t0"]
    out = seg.search_transcripts(df, r"press \w+", regex=True, context=0)
    assert out["snippet"].tolist() == ["…press one…"]
    assert seg.search_transcripts(df, "a.y").empty  # literal by default
    assert seg.search_transcripts(df, "(").empty


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"pattern": "(", "regex": True}, "pattern"),
        ({"pattern": ""}, "pattern"),
        ({"pattern": "x*", "regex": True}, "pattern"),
        ({"pattern": "x", "context": -1}, "context"),
    ],
)
def test_search_rejects_bad_patterns(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(ValidationError) as info:
        seg.search_transcripts(transcript_frame(), **kwargs)
    assert info.value.param == param


def test_search_without_transcripts_says_how_to_load_them() -> None:
    with pytest.raises(ValueError, match=r"include_transcript=True"):
        seg.search_transcripts(make_frame([]), "cancel")
    assert transcript_frame().callcov.search_transcripts("press")["id"].tolist() == ["t0"]
