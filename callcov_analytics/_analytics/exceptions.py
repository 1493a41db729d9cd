"""`compliance_exceptions`: the supervisor's review queue, most serious call first, on any engine.

The engine keeps only the flagged calls and the fields their wording needs; the wording, the
severity and the audio link are added in pandas to those few rows.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw
import pandas as pd

from callcov_analytics._analytics.engines import to_pandas, wrap
from callcov_analytics._analytics.links import audio_links
from callcov_analytics._analytics.outcomes import CHECKS, require, with_outcomes
from callcov_analytics._decode.columns import typed
from callcov_analytics._decode.schema import SCHEMA

# What a failure of each check risks, most serious first. High: the customer was exposed
# (their data spoken aloud, a prohibited promise or threat, account details given to someone
# not verified); medium: a regulatory notice the customer did not hear; low: the call's purpose
# was not declared, a script miss with no harm to the customer on its own.
SEVERITY: dict[str, str] = {
    "sensitive_data": "high",
    "prohibited_phrases": "high",
    "identity_verification": "high",
    "mandatory_disclosures": "medium",
    "purpose_declaration": "low",
}
SEVERITIES = ("high", "medium", "low")
EXCEPTION_COLUMNS: dict[str, str] = {
    "severity": "string",
    "created": "datetime64[ns, UTC]",
    "agent_id": "string",
    "contact_id": "string",
    "check": "string",
    "detail": "string",
    "at_s": "Float64",
    "link": "string",
    "id": "string",
}
# The second of the call each check's failure happened at, when the API gives one.
AT_S = {
    "identity_verification": "identity_verified_at_s",
    "prohibited_phrases": "prohibited_phrase_first_at_s",
    "sensitive_data": "sensitive_data_first_at_s",
}
# What the wording reads, beside the checks' own inputs.
_WORDING = ("identity_verified", "identity_verified_at_s", "disclosures_read",
            "disclosures_missing", "missing_disclosures", "purpose_disclosed",
            "purpose_interaction_number", "prohibited_phrase_count", "sensitive_data_count",
            "prohibited_phrase_first_at_s", "sensitive_data_first_at_s")  # fmt: skip
_CALL = ("id", "created", "agent_id", "contact_id")


def compliance_exceptions(df: Any) -> pd.DataFrame:
    """The supervisor's review queue: one row per failed check of an analysed call.

    Columns: severity ("high", "medium", "low": `SEVERITY` per check), created, agent_id,
    contact_id, check, detail (why it failed, e.g. "missing 2: Recording notice; Right to
    cancel", "3 prohibited phrases", "verified late at 95 s"), at_s (seconds into the call, NA
    if unknown), link (the recording at that second, ``audio_url#t=<s>``; the bare recording
    when the second is unknown; NA without an ``audio_url`` column or value), id.

    Order: calls by their most serious exception (high first), then newest first (ties: id
    descending, the API's order); a call's exceptions stay together, most serious first, then
    in the checks' table order. One row per exception rather than per call, so the queue can
    be filtered by check or severity and counted per check; a call is listened to once, from
    its first row.

    Any engine (`engines`): the engine keeps the flagged calls, and the result is a pandas
    frame of those calls' exceptions whatever the input (pandas words each detail).

    Example:
        >>> q = load_calls().pipe(compliance_exceptions)  # doctest: +SKIP
        >>> q[q.severity == "high"].head(20)  # doctest: +SKIP
    """
    frame = wrap(df, "compliance_exceptions")
    require(frame, _CALL, "compliance_exceptions")
    present = set(frame.collect_schema().names())
    keep = [*_CALL, *(c for c in (*_WORDING, "audio_url") if c in present)]
    flagged = with_outcomes(frame, keep).filter(nw.col("flagged").fill_null(False))
    calls = _typed_calls(to_pandas(flagged.drop("_analysed", "flagged")))
    pieces = [_failed(calls, order, check) for order, check in enumerate(CHECKS)]
    out = pd.concat([p for p in pieces if not p.empty] or [pieces[0]], ignore_index=True)
    out["_rank"] = out["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).astype(int)
    out["_worst"] = out.groupby("id", sort=False, dropna=False)["_rank"].transform("min")
    out = out.sort_values(
        ["_worst", "created", "id", "_rank", "_order"],
        ascending=[True, False, False, True, True],
        na_position="last",
        kind="stable",
    )
    out["link"] = audio_links(out["audio_url"], out["at_s"])
    return typed(out, EXCEPTION_COLUMNS)


def _typed_calls(calls: pd.DataFrame) -> pd.DataFrame:
    """The collected calls with load_calls' dtypes, whichever engine sent them."""
    created = pd.to_datetime(calls["created"])
    if created.dt.tz is None:  # Spark hands back its session's (UTC) times naive
        created = created.dt.tz_localize("UTC")
    calls = calls.assign(created=created.dt.tz_convert("UTC"))
    for column in (*_WORDING, "audio_url"):
        if column not in calls:
            calls[column] = pd.NA
    dtypes = {c: SCHEMA[c] for c in calls.columns if c in SCHEMA}
    return calls.astype(dtypes | {c: "boolean" for c in CHECKS})


def _failed(calls: pd.DataFrame, order: int, check: str) -> pd.DataFrame:
    """The calls that failed ``check``, one row each, with its severity, detail and second."""
    failed = calls[(calls[check] == False).fillna(False).to_numpy(dtype=bool)]  # noqa: E712
    return failed[[*_CALL, "audio_url"]].assign(
        severity=SEVERITY[check],
        check=check,
        detail=_DETAILS[check](failed),
        at_s=failed[AT_S[check]] if check in AT_S else pd.Series(pd.NA, index=failed.index),
        _order=order,
    )


# Each check's supervisor-facing reason, worded for every failed call at once.


def _identity(failed: pd.DataFrame) -> pd.Series:
    at = failed["identity_verified_at_s"]
    late = "verified late at " + _text(at, "{:g}") + " s"
    flagged = late.fillna("identity verification flagged")
    return flagged.where(~_is_false(failed["identity_verified"]), "identity not verified")


def _disclosures(failed: pd.DataFrame) -> pd.Series:
    n, names = failed["disclosures_missing"], failed["missing_disclosures"]
    count = "missing " + _text(n.where(n > 0), "{}")
    listed = (count + ": " + names.where(names != "")).fillna(count).fillna("")
    unread = _is_false(failed["disclosures_read"])
    both = ("disclosures not read, " + listed).where(listed != "", "disclosures not read")
    return both.where(unread, listed)


def _purpose(failed: pd.DataFrame) -> pd.Series:
    turn = " (interaction " + _text(failed["purpose_interaction_number"], "{}") + ")"
    flagged = "purpose declaration flagged" + turn.fillna("")
    return flagged.where(~_is_false(failed["purpose_disclosed"]), "purpose not declared")


def _counted(noun: str, column: str) -> Any:
    def detail(failed: pd.DataFrame) -> pd.Series:
        count = failed[column].where(failed[column] > 0)
        plural = pd.Series("s", index=failed.index, dtype="string").where(count != 1, "")
        return (_text(count, "{}") + f" {noun}" + plural).fillna(f"{noun}s found")

    return detail


_DETAILS = {
    "identity_verification": _identity,
    "mandatory_disclosures": _disclosures,
    "purpose_declaration": _purpose,
    "prohibited_phrases": _counted("prohibited phrase", "prohibited_phrase_count"),
    "sensitive_data": _counted("sensitive data instance", "sensitive_data_count"),
}


def _is_false(flags: pd.Series) -> pd.Series:
    return (flags == False).fillna(False).astype(bool)  # noqa: E712


def _text(values: pd.Series, pattern: str) -> pd.Series:
    """Numbers as text by ``pattern`` (each distinct value formatted once); NA stays NA."""
    known = values.dropna()
    words = {v: pattern.format(v) for v in known.unique()}
    return known.map(words).astype("string").reindex(values.index)
