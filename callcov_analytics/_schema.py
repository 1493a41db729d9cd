"""The analysis DataFrame's columns, and the documented API object they are read from.

SCHEMA is the contract with analysts: column names and nullable dtypes are stable.
Update the README column table when you change it. RECORD_TYPE is the analysis object of
docs/api.md §3 as an Arrow type: the page readers (_decode.py) decode against it.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

# column -> (dtype, dotted path in the analysis object, how the value is derived)
# "value": the scalar at path; "len": length of the list at path; "join": "; ".join(list at path);
# "first_ts": the `timestamp` of the first item of the list at path;
# "count:<field>=<value>": number of list items at path whose field equals value.
# fmt: off
SCHEMA_SPEC: dict[str, tuple[str, str, str]] = {
    "id": ("string", "id", "value"),
    "created": ("datetime64[ns, UTC]", "created", "value"),
    "status": ("category", "status", "value"),
    "livemode": ("boolean", "livemode", "value"),
    "agent_id": ("string", "call.agent_id", "value"),
    "contact_id": ("string", "call.contact_id", "value"),
    "duration_ms": ("Int64", "call.duration_ms", "value"),
    "duration_seconds": ("Float64", "call.duration_seconds", "value"),
    "audio_url": ("string", "audio.url", "value"),
    "audio_format": ("category", "audio.format", "value"),
    "audio_size_bytes": ("Int64", "audio.size_bytes", "value"),
    "audio_duration_seconds": ("Float64", "audio.duration_seconds", "value"),
    "language": ("category", "transcript.language", "value"),
    "segment_count": ("Int64", "transcript.segments", "len"),
    "webhook_url": ("string", "metadata.webhook_url", "value"),
    "completed_at": ("datetime64[ns, UTC]", "metadata.completed_at", "value"),
    "processing_time_ms": ("Int64", "metadata.processing_time_ms", "value"),
    "error_message": ("string", "metadata.error_message", "value"),
    # results.compliance
    "identity_verified": ("boolean", "results.compliance.identity_verification.verified", "value"),
    "identity_verified_at_s": (
        "Float64", "results.compliance.identity_verification.timestamp", "value"),
    "identity_flagged": ("boolean", "results.compliance.identity_verification.flagged", "value"),
    "disclosures_read": ("boolean", "results.compliance.mandatory_disclosures.read", "value"),
    "disclosures_matched": (
        "Int64", "results.compliance.mandatory_disclosures.matched_disclosures", "len"),
    "disclosures_missing": (
        "Int64", "results.compliance.mandatory_disclosures.missing_disclosures", "len"),
    "missing_disclosures": (
        "string", "results.compliance.mandatory_disclosures.missing_disclosures", "join"),
    "purpose_disclosed": ("boolean", "results.compliance.purpose_declaration.disclosed", "value"),
    "purpose_interaction_number": (
        "Int64", "results.compliance.purpose_declaration.interaction_number", "value"),
    "purpose_flagged": ("boolean", "results.compliance.purpose_declaration.flagged", "value"),
    "prohibited_phrases_used": ("boolean", "results.compliance.prohibited_phrases.used", "value"),
    "prohibited_phrase_count": (
        "Int64", "results.compliance.prohibited_phrases.instances", "len"),
    "prohibited_phrase_first_at_s": (
        "Float64", "results.compliance.prohibited_phrases.instances", "first_ts"),
    "sensitive_data_shared": ("boolean", "results.compliance.sensitive_data.shared", "value"),
    "sensitive_data_count": ("Int64", "results.compliance.sensitive_data.instances", "len"),
    "sensitive_data_first_at_s": (
        "Float64", "results.compliance.sensitive_data.instances", "first_ts"),
    # results.quality
    "greeting_present": ("boolean", "results.quality.greeting.present", "value"),
    "greeting_at_s": ("Float64", "results.quality.greeting.timestamp", "value"),
    "sentiment_overall": ("category", "results.quality.sentiment_analysis.overall", "value"),
    "sentiment_customer_start": (
        "category", "results.quality.sentiment_analysis.customer_start", "value"),
    "sentiment_customer_end": (
        "category", "results.quality.sentiment_analysis.customer_end", "value"),
    "empathy_count": ("Int64", "results.quality.empathy.count", "value"),
    "interruption_count": ("Int64", "results.quality.interruptions.count", "value"),
    "structure_opening": ("boolean", "results.quality.call_structure.opening", "value"),
    "structure_resolution": ("boolean", "results.quality.call_structure.resolution", "value"),
    "structure_closing": ("boolean", "results.quality.call_structure.closing", "value"),
    # results.coaching
    "customer_effort_score": ("Int64", "results.coaching.customer_effort_score", "value"),
    "recommendation_count": ("Int64", "results.coaching.recommendations", "len"),
    "recommendations_high": (
        "Int64", "results.coaching.recommendations", "count:priority=high"),
    "recommendations_medium": (
        "Int64", "results.coaching.recommendations", "count:priority=medium"),
    "recommendations_low": ("Int64", "results.coaching.recommendations", "count:priority=low"),
}
# fmt: on

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
