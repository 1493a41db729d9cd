"""The analysis DataFrame's columns, and the documented API object they are read from.

SCHEMA is the contract with analysts: column names and nullable dtypes are stable.
Update the column table in docs/dataframe.md when you change it. RECORD_TYPE is the analysis
object of docs/api.md §3 as an Arrow type: the page readers (`page_struct`, `page_arrow`,
`page_json`) decode against it.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()


def _struct(**fields: Any) -> Any:
    """A pyarrow struct type from keyword fields (keeps their order)."""
    return pa.struct([pa.field(name, kind) for name, kind in fields.items()])


# The documented analysis object (docs/api.md §3) as an Arrow type: the reader's explicit schema.
RECORD_TYPE = _struct(
    id=_S, object=_S, created=_I, status=_S, livemode=_B,
    call=_struct(agent_id=_S, contact_id=_S, duration_ms=_I, duration_seconds=_F),
    audio=_struct(url=_S, size_bytes=_I, format=_S, duration_seconds=_F),
    transcript=_struct(
        text=_S, language=_S,
        segments=pa.list_(_struct(speaker=_S, text=_S, start=_F, end=_F)),
    ),
    results=_struct(
        compliance=_struct(
            identity_verification=_struct(verified=_B, timestamp=_F, flagged=_B),
            mandatory_disclosures=_struct(
                read=_B, matched_disclosures=pa.list_(_S), missing_disclosures=pa.list_(_S)),
            purpose_declaration=_struct(disclosed=_B, interaction_number=_I, flagged=_B),
            prohibited_phrases=_struct(
                used=_B, instances=pa.list_(_struct(phrase=_S, timestamp=_F))),
            sensitive_data=_struct(shared=_B, instances=pa.list_(_struct(type=_S, timestamp=_F))),
        ),
        quality=_struct(
            greeting=_struct(present=_B, timestamp=_F),
            sentiment_analysis=_struct(overall=_S, customer_start=_S, customer_end=_S),
            empathy=_struct(count=_I),
            interruptions=_struct(count=_I),
            call_structure=_struct(opening=_B, resolution=_B, closing=_B),
        ),
        coaching=_struct(
            customer_effort_score=_I,
            recommendations=pa.list_(_struct(priority=_S, category=_S, text=_S)),
        ),
    ),
    metadata=_struct(
        webhook_url=_S, completed_at=_I, processing_time_ms=_I, error_message=_S),
)  # fmt: skip
ENVELOPE_TYPES = {"has_more": _B, "total": _I, "limit": _I, "offset": _I}
ARROW_TYPE = {
    "string": _S, "category": _S, "Int64": _I, "Float64": _F, "boolean": _B,
    "datetime64[ns, UTC]": pa.timestamp("ns", tz="UTC"),
}  # fmt: skip

# The columns, one a line: name, kind, and the dotted path in the analysis object it is read
# from (under the [object] of the heading above it). The kind says how, and fixes the dtype:
#   .          the scalar at path; its dtype follows RECORD_TYPE (string, Int64, Float64, boolean)
#   category   the scalar at path, as a pandas category (the sets are in CATEGORIES)
#   time       the Unix-seconds scalar at path, as datetime64[ns, UTC]
#   len        the length of the list at path (Int64)
#   join       "; ".join(the list of strings at path) (string)
#   first_ts   the `timestamp` of the list's first item (Float64)
#   count:f=v  how many of the list's items have field f equal to v (Int64)
_COLUMNS = """
id                            .                      id
created                       time                   created
status                        category               status
livemode                      .                      livemode
agent_id                      .                      call.agent_id
contact_id                    .                      call.contact_id
duration_ms                   .                      call.duration_ms
duration_seconds              .                      call.duration_seconds
audio_url                     .                      audio.url
audio_format                  category               audio.format
audio_size_bytes              .                      audio.size_bytes
audio_duration_seconds        .                      audio.duration_seconds
language                      category               transcript.language
segment_count                 len                    transcript.segments
webhook_url                   .                      metadata.webhook_url
completed_at                  time                   metadata.completed_at
processing_time_ms            .                      metadata.processing_time_ms
error_message                 .                      metadata.error_message
[results.compliance]
identity_verified             .                      identity_verification.verified
identity_verified_at_s        .                      identity_verification.timestamp
identity_flagged              .                      identity_verification.flagged
disclosures_read              .                      mandatory_disclosures.read
disclosures_matched           len                    mandatory_disclosures.matched_disclosures
disclosures_missing           len                    mandatory_disclosures.missing_disclosures
missing_disclosures           join                   mandatory_disclosures.missing_disclosures
purpose_disclosed             .                      purpose_declaration.disclosed
purpose_interaction_number    .                      purpose_declaration.interaction_number
purpose_flagged               .                      purpose_declaration.flagged
prohibited_phrases_used       .                      prohibited_phrases.used
prohibited_phrase_count       len                    prohibited_phrases.instances
prohibited_phrase_first_at_s  first_ts               prohibited_phrases.instances
sensitive_data_shared         .                      sensitive_data.shared
sensitive_data_count          len                    sensitive_data.instances
sensitive_data_first_at_s     first_ts               sensitive_data.instances
[results.quality]
greeting_present              .                      greeting.present
greeting_at_s                 .                      greeting.timestamp
sentiment_overall             category               sentiment_analysis.overall
sentiment_customer_start      category               sentiment_analysis.customer_start
sentiment_customer_end        category               sentiment_analysis.customer_end
empathy_count                 .                      empathy.count
interruption_count            .                      interruptions.count
structure_opening             .                      call_structure.opening
structure_resolution          .                      call_structure.resolution
structure_closing             .                      call_structure.closing
[results.coaching]
customer_effort_score         .                      customer_effort_score
recommendation_count          len                    recommendations
recommendations_high          count:priority=high    recommendations
recommendations_medium        count:priority=medium  recommendations
recommendations_low           count:priority=low     recommendations
"""

_DTYPE_OF_KIND = {
    "category": "category", "time": "datetime64[ns, UTC]", "len": "Int64", "join": "string",
    "first_ts": "Float64", "count": "Int64",
}  # fmt: skip
_DTYPE_OF_ARROW = {_S: "string", _I: "Int64", _F: "Float64", _B: "boolean"}


def type_at(path: str) -> Any:
    """The Arrow type at a dotted path of RECORD_TYPE (KeyError: the path is not documented)."""
    kind = RECORD_TYPE
    for name in path.split("."):
        kind = kind.field(name).type
    return kind


def _spec(table: str) -> dict[str, tuple[str, str, str]]:
    """_COLUMNS as column -> (dtype, dotted path, how: "value", "len", "join", ...)."""
    spec, under = {}, ""
    for line in table.strip().splitlines():
        if line.startswith("["):
            under = line.strip("[]") + "."
            continue
        name, kind, path = line.split()
        path = under + path
        how = "value" if kind in (".", "category", "time") else kind
        dtype = (
            _DTYPE_OF_ARROW[type_at(path)] if kind == "." else _DTYPE_OF_KIND[kind.split(":")[0]]
        )
        spec[name] = (dtype, path, how)
    return spec


SCHEMA_SPEC = _spec(_COLUMNS)

# Only with include_transcript=True (long text; most analyses never need it).
TRANSCRIPT_SPEC: dict[str, tuple[str, str, str]] = {
    "transcript_text": ("string", "transcript.text", "value"),
}

# Only with include_segments=True: the transcript's segments as stored pages keep them, for
# load_segments (a list of {speaker, text, start, end}; never a DataFrame column).
SEGMENTS_SPEC: dict[str, tuple[str, str, str]] = {
    "transcript_segments": ("list", "transcript.segments", "value"),
}

SCHEMA: dict[str, str] = {name: spec[0] for name, spec in SCHEMA_SPEC.items()}
TRANSCRIPT_SCHEMA: dict[str, str] = {name: spec[0] for name, spec in TRANSCRIPT_SPEC.items()}

# Fixed category sets: the documented values, in a meaningful order. A value outside them
# (the API grew a new status, format or sentiment) is appended after the fixed ones, sorted,
# rather than turned into NaN. `language` has no documented set: its categories are the
# values seen, sorted.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "status": ("processing", "completed", "failed"),
    "audio_format": ("wav", "mp3", "m4a", "flac", "ogg"),
    "language": (),
    **{
        name: ("positive", "neutral", "negative")
        for name in ("sentiment_overall", "sentiment_customer_start", "sentiment_customer_end")
    },
}

NAMED_COLUMNS = {*SCHEMA_SPEC, *TRANSCRIPT_SPEC, *SEGMENTS_SPEC}


def column_specs(
    include_transcript: bool, include_segments: bool
) -> dict[str, tuple[str, str, str]]:
    """SCHEMA_SPEC, plus TRANSCRIPT_SPEC and SEGMENTS_SPEC when asked for."""
    return {
        **SCHEMA_SPEC,
        **(TRANSCRIPT_SPEC if include_transcript else {}),
        **(SEGMENTS_SPEC if include_segments else {}),
    }
