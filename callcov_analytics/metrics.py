"""Analytics on the ``load_calls()`` frame: scorecards, compliance exceptions, distributions.

The five compliance checks and their pass rule (Kleene logic: an unknown input gives an
unknown outcome, never a failure; ``False & NA`` is still a failure):

=====================  ===========================================  ============================
check                  passes when                                  exceptions' at_s
=====================  ===========================================  ============================
identity_verification  identity_verified & ~identity_flagged        identity_verified_at_s
mandatory_disclosures  disclosures_read & disclosures_missing == 0  NA
purpose_declaration    purpose_disclosed & ~purpose_flagged         NA
prohibited_phrases     ~prohibited_phrases_used                     prohibited_phrase_first_at_s
sensitive_data         ~sensitive_data_shared                       sensitive_data_first_at_s
=====================  ===========================================  ============================

A call is *analysed* when its status is ``completed`` and at least one check is known. Every
rate counts analysed calls only and comes with its own ``*_n`` (the calls where that value is
known): processing and failed calls, and completed calls whose results are NA, are counted in
``calls_without_results`` and never as failures. *Flagged* = any check failed. Sentiment is
ordered negative < neutral < positive; the customer shift compares ``sentiment_customer_start``
with ``sentiment_customer_end``. Transcript tools live in :mod:`callcov_analytics.segments`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import narwhals as nw
import pandas as pd

from callcov_analytics._columns import typed
from callcov_analytics._engines import F, Frame, finish, pandas_only, wrap
from callcov_analytics._outcomes import (
    ANALYSED,
    CHECKS,
    EFFORT_SCORES,
    SHIFT_COLUMNS,
    SHIFTS,
    count_true,
    effort,
    grouped,
    ratio,
    require,
    shift,
    shift_facts,
    wilson_interval,
    with_outcomes,
)
from callcov_analytics._periods import in_zone, to_periods, zone_of
from callcov_analytics._scorecard import SCORECARD_COLUMNS as SCORECARD_COLUMNS
from callcov_analytics._scorecard import agent_scorecard

__all__ = [
    "CHECKS",
    "agent_scorecard",
    "check_outcomes",
    "compliance_exceptions",
    "effort_distribution",
    "sentiment_shift",
    "volume",
    "wilson_interval",
]
EXCEPTION_COLUMNS: dict[str, str] = {
    "id": "string",
    "created": "datetime64[ns, UTC]",
    "agent_id": "string",
    "contact_id": "string",
    "check": "string",
    "detail": "string",
    "at_s": "Float64",
}
VOLUME_COLUMNS: dict[str, str] = (
    {"period": "datetime64[ns, UTC]"}
    | dict.fromkeys(("calls", "completed", "processing", "failed"), "Int64")
    | dict.fromkeys(("talk_seconds", "talk_minutes"), "Float64")
)
EFFORT_COLUMNS: dict[str, str] = {
    "calls": "Int64",
    "calls_without_results": "Int64",
    "effort_n": "Int64",
    **{f"effort_{s}": "Int64" for s in EFFORT_SCORES},
    "effort_mean": "Float64",
}


def check_outcomes(df: F) -> F:
    """Per call: the five checks, flagged, analysed (boolean; NA = unknown).

    A pandas frame gets ``df``'s index; other engines (no index) get an ``id`` column first.
    """
    lazy_id = {} if isinstance(df, pd.DataFrame) else {"id": "string"}
    frame = with_outcomes(wrap(df, "check_outcomes"), list(lazy_id))
    columns = {c: "boolean" for c in (*CHECKS, "flagged", "analysed")}
    out = finish(frame.with_columns(nw.col(ANALYSED).alias("analysed")), df, lazy_id | columns)
    if isinstance(out, pd.DataFrame) and isinstance(df, pd.DataFrame):
        out.index = df.index
    return out


def _keys(by: str | list[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def sentiment_shift(df: F, by: str | list[str] = "agent_id") -> F:
    """Customer sentiment start→end per group: improved / same / worsened counts and shares.

    Columns: the ``by`` columns, calls, calls_without_results (calls whose shift is unknown),
    shift_n (calls with both ends known), improved, same, worsened, improved_share,
    same_share, worsened_share (shares of shift_n). Any engine (see `_engines`).

    Example:
        >>> sentiment_shift(load_calls(), by="agent_id")  # doctest: +SKIP
    """
    keys = _keys(by)
    frame = wrap(df, "sentiment_shift")
    require(frame, [*keys, "sentiment_customer_start", "sentiment_customer_end"], "sentiment")
    frame = with_outcomes(frame, keys, {"_shift": shift()})
    out = grouped(frame, keys, shift_facts())
    out = out.with_columns(
        (nw.col("calls") - nw.col("shift_n")).alias("calls_without_results"),
        *(ratio(nw.col(k), nw.col("shift_n")).alias(f"{k}_share") for k in SHIFTS),
    )
    return _with_keys(out, df, keys, SHIFT_COLUMNS)


def effort_distribution(df: F, by: str | list[str] = "agent_id") -> F:
    """Customer effort score distribution (0..5) per group.

    Columns: the ``by`` columns, calls, calls_without_results, effort_n (analysed calls with a
    score in 0..5; other values count as unknown), effort_0 … effort_5 (counts), effort_mean.
    Any engine (see `_engines`).

    Example:
        >>> effort_distribution(load_calls(), by="agent_id")  # doctest: +SKIP
    """
    keys = _keys(by)
    frame = wrap(df, "effort_distribution")
    require(frame, [*keys, "customer_effort_score"], "effort")
    frame = with_outcomes(frame, keys, {"_effort": effort()})
    score = nw.col("_effort")
    facts = {
        "effort_n": count_true(~score.is_null()),
        **{f"effort_{s}": count_true(score == s) for s in EFFORT_SCORES},
        "effort_sum": score.fill_null(0),
    }
    out = grouped(frame, keys, facts)
    out = out.with_columns(
        (nw.col("calls") - nw.col("effort_n")).alias("calls_without_results"),
        ratio(nw.col("effort_sum"), nw.col("effort_n")).alias("effort_mean"),
    )
    return _with_keys(out, df, keys, EFFORT_COLUMNS)


def _with_keys(out: Frame, df: F, keys: list[str], columns: dict[str, str]) -> F:
    if not isinstance(df, pd.DataFrame):
        return finish(out, df, dict.fromkeys(keys, None) | columns, keys)
    key_types = {k: df[k].dtype for k in keys}  # the dtype object keeps categories
    native = nw.to_native(out.sort(keys, nulls_last=True))
    if native.empty:  # an empty groupby loses the key dtypes
        native = native.astype({k: t for k, t in key_types.items() if k in native.columns})
    return finish(nw.from_native(native, eager_only=True), df, {**key_types, **columns})


def volume(df: Any, freq: str = "D", *, tz: str | None = None) -> pd.DataFrame:
    """Calls and talk time per period, by status; periods without calls appear with zeros.

    Columns: period (start of the period in ``tz``), calls, completed, processing, failed,
    talk_seconds (sum of duration_seconds, all statuses), talk_minutes. Calls without
    ``created`` are left out.

    Args:
        df: the load_calls() frame.
        freq: a pandas period alias: "D" (default), "W" (weeks start Monday), "M", "h", ...
        tz: the IANA zone whose days (and wall-clock hours) bucket the calls; default the
            frame's ``attrs["tz"]`` (set by ``load_calls(tz=...)``), else UTC.

    pandas only: the empty periods come from a calendar of every period in the range.

    Example:
        >>> volume(load_calls(), freq="W")  # doctest: +SKIP
    """
    df = pandas_only(df, "volume", "periods without calls are filled in from a pandas calendar")
    require(wrap(df, "volume"), ["created", "status", "duration_seconds"], "volume")
    zone = zone_of(df, tz)
    periods = to_periods(df["created"], freq, zone)
    status = df["status"].astype("string")
    facts = pd.DataFrame(
        {
            "calls": 1,
            **{s: _int01(status == s) for s in ("completed", "processing", "failed")},
            "talk_seconds": df["duration_seconds"].astype("Float64").fillna(0.0),
        },
        index=df.index,
    )
    full = (
        pd.period_range(periods.min(), periods.max(), freq=periods.dt.freq)
        if periods.notna().any()
        else pd.PeriodIndex([], freq=freq)
    )
    out = facts.groupby(periods).sum().reindex(full, fill_value=0).reset_index(drop=True)
    out["period"] = pd.Series(in_zone(full.to_timestamp(how="start"), zone))
    # Hours are wall-clock: the hour a spring change skips (no call can be in it) would repeat
    # the next one's start, so it goes; the autumn's repeated hour is one bucket.
    out = out[~out["period"].duplicated(keep="last")]
    out["talk_minutes"] = out["talk_seconds"].astype("Float64") / 60
    return typed(out, {**VOLUME_COLUMNS, "period": pd.DatetimeTZDtype(tz=zone)})


def _int01(mask: pd.Series) -> pd.Series:
    """A boolean (maybe NA) mask as 0/1 int64, NA counting as 0."""
    return mask.astype("boolean").fillna(False).astype("int64")


def _exception_detail(check: str, row: Mapping[Hashable, Any]) -> str:
    """The supervisor-facing reason a check failed on one call."""

    def known(value: Any) -> bool:
        return value is not None and not pd.isna(value)

    if check == "identity_verification":
        at = row["identity_verified_at_s"]
        if row["identity_verified"] is False:
            return "identity not verified"
        return f"verified late at {at:g} s" if known(at) else "identity verification flagged"
    if check == "mandatory_disclosures":
        parts = ["disclosures not read"] if row["disclosures_read"] is False else []
        n, names = row["disclosures_missing"], row["missing_disclosures"]
        if known(n) and n > 0:
            parts.append(f"missing {n}: {names}" if known(names) and names else f"missing {n}")
        return ", ".join(parts)
    if check == "purpose_declaration":
        turn = row["purpose_interaction_number"]
        if row["purpose_disclosed"] is False:
            return "purpose not declared"
        return "purpose declaration flagged" + (f" (interaction {turn})" if known(turn) else "")
    noun, column = (
        ("prohibited phrase", "prohibited_phrase_count")
        if check == "prohibited_phrases"
        else ("sensitive data instance", "sensitive_data_count")
    )
    count = row[column]
    if known(count) and count > 0:
        return f"{count} {noun}{'s' if count != 1 else ''}"
    return f"{noun}s found"


_AT_S = {
    "identity_verification": "identity_verified_at_s",
    "prohibited_phrases": "prohibited_phrase_first_at_s",
    "sensitive_data": "sensitive_data_first_at_s",
}


def compliance_exceptions(df: Any) -> pd.DataFrame:
    """One row per failed check per analysed call: a supervisor's review queue.

    Columns: id, created, agent_id, contact_id, check, detail (why it failed, e.g. "missing 2:
    Recording notice; Right to cancel", "3 prohibited phrases", "verified late at 95 s"), at_s
    (seconds into the call, NA if unknown). Sorted newest call first (ties: id descending, the
    API's order), then checks in the module table's order: a queue is worked as calls arrive,
    and the API gives no severity to rank by.

    pandas only: each detail is worded in Python from the failing call's fields.

    Example:
        >>> load_calls().pipe(compliance_exceptions).head(20)  # doctest: +SKIP
    """
    df = pandas_only(df, "compliance_exceptions", "each detail is worded in Python per call")
    outcomes = check_outcomes(df)
    pieces = []
    for order, check in enumerate(CHECKS):
        failed = df[(outcomes[check] == False).fillna(False).to_numpy(dtype=bool)]  # noqa: E712
        if failed.empty:
            continue
        rows = failed.to_dict("records")
        piece = failed[["id", "created", "agent_id", "contact_id"]].assign(
            check=check,
            detail=[_exception_detail(check, r) for r in rows],
            at_s=failed[_AT_S[check]] if check in _AT_S else pd.Series(pd.NA, index=failed.index),
            _order=order,
        )
        pieces.append(piece.astype({"at_s": "Float64"}))
    if not pieces:
        return typed(pd.DataFrame(columns=list(EXCEPTION_COLUMNS)), EXCEPTION_COLUMNS)
    out = pd.concat(pieces).sort_values(
        ["created", "id", "_order"],
        ascending=[False, False, True],
        na_position="last",
        kind="stable",
    )
    return typed(out, EXCEPTION_COLUMNS)
