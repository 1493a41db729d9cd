"""The analysis DataFrame: its schema, and the conversion of API records into it.

SCHEMA is the contract with analysts: column names and nullable dtypes are stable.
Update the README column table when you change it.
"""

from __future__ import annotations

# column -> (dtype, dotted path in the analysis object, how the value is derived)
# "value": the scalar at path; "len": length of the list at path; "join": "; ".join(list at path);
# "first_ts": the `timestamp` of the first item of the list at path;
# "count:<field>=<value>": number of list items at path whose field equals value.
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

# Only with include_transcript=True (long text; most analyses never need it).
TRANSCRIPT_SPEC: dict[str, tuple[str, str, str]] = {
    "transcript_text": ("string", "transcript.text", "value"),
}

SCHEMA: dict[str, str] = {name: spec[0] for name, spec in SCHEMA_SPEC.items()}
