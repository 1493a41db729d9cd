"""Transcripts: one row per segment, talk metrics per call, and full-text search.

Search lives here, with the segments, because a hit is worth most with its second and its
speaker, which only segments carry; on a calls frame with ``transcript_text`` the same
function finds calls instead.

Which speaker is the agent? The contract labels speakers only "A" and "B". Decision: the agent
is "A" by default, because the speaker who opens a contact-centre recording is the agent (the
scripted greeting), on inbound and outbound calls alike; every function that needs it takes
``agent_speaker`` so a tenant whose recordings differ can say so. Any other speaker label is
the customer (the contract has two speakers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from callcov_analytics._analytics.links import audio_links
from callcov_analytics._decode.columns import typed
from callcov_analytics._errors import ValidationError

__all__ = [
    "search_transcripts",
    "segments",
    "table_segments",
    "talk_metrics",
    "transcript_context",
]

SEGMENT_COLUMNS: dict[str, str] = {
    "id": "string",
    "agent_id": "string",
    "speaker": "string",
    "role": "string",
    "start": "Float64",
    "end": "Float64",
    "duration": "Float64",
    "text": "string",
    "audio_url": "string",
}
TALK_COLUMNS: dict[str, str] = {
    "id": "string",
    "agent_id": "string",
    "segments": "Int64",
    "talk_seconds": "Float64",
    "agent_talk_seconds": "Float64",
    "customer_talk_seconds": "Float64",
    "agent_talk_share": "Float64",
    "customer_talk_share": "Float64",
    "longest_monologue_seconds": "Float64",
    "silence_seconds": "Float64",
    "max_silence_seconds": "Float64",
    "overlap_count": "Int64",
    "overlap_seconds": "Float64",
}
SEARCH_COLUMNS: dict[str, str] = {
    "id": "string",
    "agent_id": "string",
    "created": "datetime64[ns, UTC]",
    "matches": "Int64",
    "snippet": "string",
}
# A hit in a segments frame: the second, who said it, and the recording at that second.
HIT_COLUMNS: dict[str, str] = {
    "id": "string",
    "agent_id": "string",
    "start": "Float64",
    "speaker": "string",
    "role": "string",
    "text": "string",
    "link": "string",
}
CONTEXT_COLUMNS: dict[str, str] = {"hit": "Int64", **HIT_COLUMNS, "is_hit": "boolean"}


def _seconds(value: Any) -> float | None:
    """A finite number of seconds, or None (bools and junk are not times)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def segments(records: Iterable[Mapping[str, Any]], agent_speaker: str = "A") -> pd.DataFrame:
    """One row per transcript segment of raw analysis records (as the API returns them).

    Columns: id, agent_id, speaker, role ("agent" if speaker == agent_speaker, "customer" for
    any other speaker, NA if none), start, end, duration (end - start, clipped at 0; NA if
    either is unknown), text, audio_url (the call's recording). Records without a transcript
    or segments give no rows.

    Args:
        records: analysis dicts; ``transcript.segments`` is a list of
            ``{speaker, text, start, end}``.
        agent_speaker: the speaker label of the agent (see the module docstring).

    Example:
        >>> segments([{"id": "a1", "call": {"agent_id": "ag"}, "transcript": {"segments": [
        ...     {"speaker": "A", "text": "Hi", "start": 0.0, "end": 1.5}]}}])["role"].tolist()
        ['agent']
    """
    rows: list[tuple[Any, ...]] = []
    for record in records:
        if not isinstance(record, Mapping):
            continue
        transcript = record.get("transcript")
        items = transcript.get("segments") if isinstance(transcript, Mapping) else None
        if not isinstance(items, list):
            continue
        call = record.get("call")
        agent_id = call.get("agent_id") if isinstance(call, Mapping) else None
        audio = record.get("audio")
        audio_url = audio.get("url") if isinstance(audio, Mapping) else None
        for item in items:
            if not isinstance(item, Mapping):
                continue
            speaker = item.get("speaker")
            speaker = speaker if isinstance(speaker, str) else None
            role = None if speaker is None else "agent" if speaker == agent_speaker else "customer"
            start, end = _seconds(item.get("start")), _seconds(item.get("end"))
            duration = None if start is None or end is None else max(end - start, 0.0)
            text = item.get("text")
            rows.append(
                (
                    record.get("id"),
                    agent_id,
                    speaker,
                    role,
                    start,
                    end,
                    duration,
                    text if isinstance(text, str) else None,
                    audio_url if isinstance(audio_url, str) else None,
                )
            )
    return pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS), dtype=object).astype(SEGMENT_COLUMNS)


def table_segments(table: pa.Table, agent_speaker: str = "A") -> pd.DataFrame:
    """`segments` of stored pages: a table with id, agent_id, audio_url and transcript_segments.

    The same rows, columns and rules as `segments` gives for the records the pages came from.
    """
    lists = table["transcript_segments"].combine_chunks()
    items = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    present = items.is_valid()  # a null item is not a segment
    items, parents = items.filter(present), parents.filter(present)

    def seconds(name: str) -> pa.Array:
        value = pc.struct_field(items, [name])
        return pc.if_else(pc.is_finite(value), value, pa.scalar(None, pa.float64()))

    speaker = pc.struct_field(items, ["speaker"])
    start, end = seconds("start"), seconds("end")
    columns = {
        "id": table["id"].take(parents),
        "agent_id": table["agent_id"].take(parents),
        "speaker": speaker,
        "role": pc.if_else(pc.equal(speaker, agent_speaker), "agent", "customer"),
        "start": start,
        "end": end,
        "duration": pc.max_element_wise(pc.subtract(end, start), 0.0, skip_nulls=False),
        "text": pc.struct_field(items, ["text"]),
        "audio_url": table["audio_url"].take(parents),
    }
    frame: pd.DataFrame = pa.table(columns).to_pandas()  # null floats arrive as NaN: none are
    return frame.astype(SEGMENT_COLUMNS)  # NaN otherwise (non-finite times are nulled above)


def talk_metrics(segments: pd.DataFrame) -> pd.DataFrame:
    """Per call: talk time and share by role, longest monologue, silences and overlaps.

    Columns: id, agent_id, segments (rows), talk_seconds (agent + customer speaking time;
    overlapping speech counts for both), agent_talk_seconds, customer_talk_seconds,
    agent_talk_share, customer_talk_share (of talk_seconds; NA when it is 0),
    longest_monologue_seconds (speaking time of the longest run of consecutive segments, by
    start, of one speaker; pauses inside the run are not speech), silence_seconds and
    max_silence_seconds (gaps between a segment and everything said before it, whoever
    speaks: dead air is dead air), overlap_count and overlap_seconds (segments starting
    before an earlier one ended, and for how long). Segments without start or end count in
    ``segments`` only. Sorted by id.

    Args:
        segments: the frame :func:`segments` returns (pandas only: other engines raise
            `UnsupportedEngineError`).

    Example:
        >>> talk_metrics(segments(records))  # doctest: +SKIP
    """
    from ._analytics.engines import pandas_only  # Narwhals only when analysing, not when loading

    segments = pandas_only(
        segments, "talk_metrics", "runs and silences follow each call's segments in order"
    )
    missing = [c for c in SEGMENT_COLUMNS if c not in segments.columns]
    if missing:
        raise ValidationError(
            f"talk_metrics needs the segments() columns {missing}", param="segments"
        )
    base = segments.groupby("id", sort=True).agg(
        agent_id=("agent_id", "first"), segments=("speaker", "size")
    )
    timed = segments[segments["start"].notna() & segments["end"].notna()]
    timed = timed.sort_values(["id", "start", "end"], kind="stable", ignore_index=True)
    calls = timed.groupby("id", sort=True)
    # The latest end so far, not just the previous segment's: a long turn can cover short ones.
    reached = calls["end"].cummax().groupby(timed["id"]).shift(1)
    gap = timed["start"] - reached
    overlap = gap < 0
    overlap_seconds = timed["end"].where(timed["end"] < reached, reached) - timed["start"]
    new_run = (timed["speaker"] != timed["speaker"].shift()).fillna(True) | reached.isna()
    run = new_run.astype("int64").cumsum()
    runs = timed.groupby(run).agg(id=("id", "first"), seconds=("duration", "sum"))
    timing = pd.DataFrame(
        {
            "agent_talk_seconds": timed["duration"].where(timed["role"] == "agent", 0.0),
            "customer_talk_seconds": timed["duration"].where(timed["role"] == "customer", 0.0),
            "silence_seconds": gap.clip(lower=0.0),
            "max_silence_seconds": gap.clip(lower=0.0),
            "overlap_count": overlap.fillna(False).astype("int64"),
            "overlap_seconds": overlap_seconds.where(overlap.fillna(False), 0.0),
        }
    ).groupby(timed["id"], sort=True)
    out = base.join(
        timing.agg(
            {
                "agent_talk_seconds": "sum",
                "customer_talk_seconds": "sum",
                "silence_seconds": "sum",
                "max_silence_seconds": "max",
                "overlap_count": "sum",
                "overlap_seconds": "sum",
            }
        )
    )
    out["longest_monologue_seconds"] = runs.groupby("id")["seconds"].max()
    talk = out["agent_talk_seconds"].astype("Float64") + out["customer_talk_seconds"]
    out["talk_seconds"] = talk
    out["agent_talk_share"] = (out["agent_talk_seconds"] / talk).where(talk > 0)
    out["customer_talk_share"] = (out["customer_talk_seconds"] / talk).where(talk > 0)
    zero_if_untimed = [
        "agent_talk_seconds",
        "customer_talk_seconds",
        "talk_seconds",
        "silence_seconds",
        "overlap_count",
        "overlap_seconds",
    ]
    out[zero_if_untimed] = out[zero_if_untimed].fillna(0)
    return typed(out.reset_index(names="id"), TALK_COLUMNS)


def _pattern(pattern: str, regex: bool, case: bool) -> re.Pattern[str]:
    """The compiled search, or ValidationError for a bad or empty-matching pattern."""
    try:
        compiled = re.compile(pattern if regex else re.escape(pattern), 0 if case else re.I)
    except re.error as exc:
        raise ValidationError(
            f"invalid regular expression {pattern!r}: {exc}", param="pattern"
        ) from exc
    if compiled.search("") is not None:  # it would "match" every call, between every character
        raise ValidationError(f"pattern {pattern!r} matches empty text", param="pattern")
    return compiled


def search_transcripts(
    df: pd.DataFrame, pattern: str, regex: bool = False, context: int = 40, case: bool = False
) -> pd.DataFrame:
    """Where transcripts say ``pattern``: per segment (with the second) or per call.

    On a `load_segments` frame: one row per segment that matches, in call and time order, with
    columns id, agent_id, start (the second the segment starts), speaker, role, text and link
    (the recording at that second, ``audio_url#t=<second>``). Read the exchange around each
    hit with `transcript_context`.

    On a ``load_calls(include_transcript=True)`` frame, which has no times: one row per call,
    newest first, with columns id, agent_id, created, matches (non-overlapping hits) and
    snippet (the first hit with ``context`` characters either side, "…" where cut).

    Args:
        df: a load_segments() frame, or a load_calls(include_transcript=True) frame.
        pattern: the text to find; a regular expression if ``regex``.
        regex: treat ``pattern`` as a Python regular expression.
        context: characters kept either side of the first hit (per-call search only).
        case: match case; the default ignores it.

    Example:
        >>> search_transcripts(load_segments(since="2026-11-01"), "refund")  # doctest: +SKIP
    """
    if context < 0:
        raise ValidationError(f"context must be >= 0, got {context}", param="context")
    compiled = _pattern(pattern, regex, case)
    if "transcript_text" not in df.columns and set(SEGMENT_COLUMNS) <= set(df.columns):
        said = df["text"].map(lambda t: isinstance(t, str) and bool(compiled.search(t)))
        return typed(_with_links(df[said]), HIT_COLUMNS)
    if "transcript_text" not in df.columns:
        raise ValidationError(
            "search_transcripts needs transcripts: a load_segments() frame (hits with the "
            "second and speaker), or load_calls(include_transcript=True)",
            param="df",
        )
    positions: list[int] = []
    found: list[int] = []
    snippets: list[str] = []
    for position, text in enumerate(df["transcript_text"]):
        if not isinstance(text, str):
            continue
        hits = list(compiled.finditer(text))
        if not hits:
            continue
        first = hits[0]
        lo, hi = max(first.start() - context, 0), min(first.end() + context, len(text))
        snippet = " ".join(text[lo:hi].split())
        positions.append(position)
        found.append(len(hits))
        snippets.append(("…" if lo > 0 else "") + snippet + ("…" if hi < len(text) else ""))
    out = df.iloc[positions][["id", "agent_id", "created"]].assign(matches=found, snippet=snippets)
    out = out.sort_values(["created", "id"], ascending=False, na_position="last", kind="stable")
    return typed(out, SEARCH_COLUMNS)


def _with_links(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``link``: the recording at the segment's second (its start; 0 when unknown)."""
    start = frame["start"].astype("Float64").fillna(0)
    return frame.assign(link=audio_links(frame["audio_url"], start))


def transcript_context(
    segments: pd.DataFrame,
    pattern: str,
    id: str | None = None,
    *,
    around: int = 2,
    regex: bool = False,
    case: bool = False,
) -> pd.DataFrame:
    """The exchange around each hit: the ``around`` segments before and after, in order.

    Columns: hit (1, 2, … one number per hit), then those of `search_transcripts` on segments
    (id, agent_id, start, speaker, role, text, link to the recording at that second), and
    is_hit (the segment that matched). Overlapping windows repeat segments under each hit.

    Args:
        segments: a `load_segments` frame.
        pattern: the text to find (see `search_transcripts`).
        id: only this analysis; None searches every call in the frame.
        around: segments shown before and after each hit.
        regex, case: as in `search_transcripts`.

    Example:
        >>> load_segments(since="2026-11-01").callcov.transcript_context("refund")  # doctest: +SKIP
    """
    missing = [c for c in SEGMENT_COLUMNS if c not in segments.columns]
    if missing:
        raise ValidationError(
            f"transcript_context needs a load_segments() frame (missing {missing})",
            param="segments",
        )
    if isinstance(around, bool) or not isinstance(around, int) or around < 0:
        raise ValidationError(f"around must be a whole number >= 0, got {around!r}", param="around")
    compiled = _pattern(pattern, regex, case)
    frame = segments if id is None else segments[segments["id"] == id]
    frame = frame.sort_values(["id", "start"], kind="stable", ignore_index=True)
    matched = frame["text"].map(lambda t: isinstance(t, str) and bool(compiled.search(t)))
    calls = frame["id"].to_numpy()
    pieces = []
    for number, row in enumerate(matched[matched].index, start=1):
        lo, hi = max(row - around, 0), min(row + around, len(frame) - 1)
        while calls[lo] != calls[row]:
            lo += 1
        while calls[hi] != calls[row]:
            hi -= 1
        piece = frame.iloc[lo : hi + 1]
        pieces.append(piece.assign(hit=number, is_hit=piece.index == row))
    out = pd.concat(pieces) if pieces else frame.iloc[:0].assign(hit=[], is_hit=[])
    return typed(_with_links(out), CONTEXT_COLUMNS)
