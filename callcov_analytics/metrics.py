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

from collections.abc import Callable, Hashable, Mapping
from typing import Any, overload

import numpy as np
import pandas as pd

from callcov_analytics.columns import typed
from callcov_analytics.dates import check_tz
from callcov_analytics.errors import ValidationError
from callcov_analytics.segments import search_transcripts, segments, talk_metrics

__all__ = [
    "CHECKS",
    "agent_scorecard",
    "check_outcomes",
    "compliance_exceptions",
    "effort_distribution",
    "search_transcripts",
    "segments",
    "sentiment_shift",
    "talk_metrics",
    "volume",
    "wilson_interval",
]

CHECKS: tuple[str, ...] = (
    "identity_verification",
    "mandatory_disclosures",
    "purpose_declaration",
    "prohibited_phrases",
    "sensitive_data",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
EFFORT_SCORES: tuple[int, ...] = (0, 1, 2, 3, 4, 5)

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
SHIFT_COLUMNS: dict[str, str] = {
    "calls": "Int64",
    "calls_without_results": "Int64",
    "shift_n": "Int64",
    **{k: "Int64" for k in ("improved", "same", "worsened")},
    **{f"{k}_share": "Float64" for k in ("improved", "same", "worsened")},
}
EFFORT_COLUMNS: dict[str, str] = {
    "calls": "Int64",
    "calls_without_results": "Int64",
    "effort_n": "Int64",
    **{f"effort_{s}": "Int64" for s in EFFORT_SCORES},
    "effort_mean": "Float64",
}

_RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "identity_verification": lambda d: d["identity_verified"] & ~d["identity_flagged"],
    "mandatory_disclosures": lambda d: d["disclosures_read"] & (d["disclosures_missing"] == 0),
    "purpose_declaration": lambda d: d["purpose_disclosed"] & ~d["purpose_flagged"],
    "prohibited_phrases": lambda d: ~d["prohibited_phrases_used"],
    "sensitive_data": lambda d: ~d["sensitive_data_shared"],
}
_CHECK_INPUTS = ("status", "identity_verified", "identity_flagged", "disclosures_read",
                 "disclosures_missing", "purpose_disclosed", "purpose_flagged",
                 "prohibited_phrases_used", "sensitive_data_shared")  # fmt: skip
_SCORECARD_INPUTS = ("agent_id", "created", "duration_seconds", "sentiment_overall",
                     "customer_effort_score", "empathy_count", "interruption_count",
                     "recommendation_count")  # fmt: skip


def _require(df: pd.DataFrame, columns: tuple[str, ...] | list[str], what: str) -> None:
    """Raise ValidationError naming the columns ``what`` needs that ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValidationError(
            f"{what} needs the load_calls() columns {missing}; pass the frame load_calls() "
            "returned",
            param="df",
        )


def check_outcomes(df: pd.DataFrame) -> pd.DataFrame:
    """Per call (``df``'s index): the five checks, flagged, analysed (boolean; NA = unknown)."""
    _require(df, _CHECK_INPUTS, "check_outcomes")
    out = pd.DataFrame({c: rule(df).astype("boolean") for c, rule in _RULES.items()})
    completed = (df["status"] == "completed").to_numpy(dtype=bool)
    analysed = completed & out.notna().any(axis=1).to_numpy(dtype=bool)
    out.loc[~analysed, list(CHECKS)] = pd.NA
    flagged = pd.Series(False, index=df.index, dtype="boolean")
    for check in CHECKS:
        flagged = flagged | ~out[check]  # Kleene: one failure flags, unknowns alone do not
    out["flagged"] = flagged.where(pd.Series(analysed, index=df.index))
    out["analysed"] = pd.array(analysed, dtype="boolean")
    return out


@overload
def wilson_interval(successes: int, n: int, z: float = ...) -> tuple[float, float]: ...
@overload
def wilson_interval(
    successes: pd.Series, n: pd.Series, z: float = ...
) -> tuple[pd.Series, pd.Series]: ...
def wilson_interval(successes: Any, n: Any, z: float = 1.96) -> tuple[Any, Any]:
    """Wilson score interval (low, high) for ``successes`` out of ``n``; NaN/NA when n == 0.

    Args:
        successes: count of successes (int, or a Series of counts; NA allowed).
        n: number of trials (same shape as ``successes``).
        z: normal quantile; 1.96 gives a 95% interval.

    Example:
        >>> [round(b, 4) for b in wilson_interval(8, 10)]
        [0.4902, 0.9433]
    """
    if not z > 0:
        raise ValidationError(f"z must be positive, got {z!r}", param="z")
    series = next((v for v in (successes, n) if isinstance(v, pd.Series)), None)
    k = _floats(successes)
    m = _floats(n)
    if np.any(m < 0) or np.any(k < 0) or np.any(k > m):
        raise ValidationError("need 0 <= successes <= n", param="successes")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / m
        denominator = 1 + z * z / m
        centre = (p + z * z / (2 * m)) / denominator
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / denominator
        # Rounding can push a bound a hair past p or outside [0, 1] at p = 0 or 1.
        low = np.minimum(np.clip(centre - half, 0.0, 1.0), p)
        high = np.maximum(np.clip(centre + half, 0.0, 1.0), p)
    if series is None:
        return float(low[0]), float(high[0])
    index = series.index
    return (
        pd.Series(pd.array(low, dtype="Float64"), index=index),
        pd.Series(pd.array(high, dtype="Float64"), index=index),
    )


def _floats(values: Any) -> np.ndarray[Any, np.dtype[np.floating[Any]]]:
    """Counts (scalar or Series, NA allowed) as a float array with NaN for NA."""
    return pd.Series(values).astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``numerator / denominator`` as Float64, NA where the denominator is 0."""
    num = numerator.astype("Float64")
    den = denominator.astype("Float64")
    return (num / den).where(den > 0)


def _zone(df: pd.DataFrame, tz: str | None) -> str:
    """The zone to bucket in: ``tz``, else the one the frame was loaded with, else UTC."""
    return check_tz(tz if tz is not None else df.attrs.get("tz"))


def _local(starts: Any, tz: str) -> Any:
    """Wall-clock period starts in ``tz`` as aware timestamps (DST gaps move forward)."""
    return starts.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")


def _period_starts(created: pd.Series, freq: str, tz: str = "UTC") -> pd.Series:
    """The start (in ``tz``) of the ``freq`` period ("D", "W", "M", ...) holding each time."""
    starts: pd.Series = _local(_to_periods(created, freq, tz).dt.start_time.dt, tz)
    return starts


def _to_periods(created: pd.Series, freq: str, tz: str = "UTC") -> pd.Series:
    """``created`` as pandas Periods of ``freq`` on ``tz``'s wall clock; ValidationError if bad."""
    try:
        # to_period on a tz-aware column warns that it drops the zone: drop it ourselves.
        periods: pd.Series = created.dt.tz_convert(tz).dt.tz_localize(None).dt.to_period(freq)
        return periods
    except ValueError as exc:
        raise ValidationError(
            f"unknown period {freq!r}: use a pandas period alias such as 'D', 'W' or 'M'",
            param="freq",
        ) from exc


def _counts(mask: pd.Series) -> pd.Series:
    """A boolean (maybe NA) mask as 0/1 int64, NA counting as 0."""
    return mask.astype("boolean").fillna(False).astype("int64")


def _sentiment_rank(values: pd.Series) -> pd.Series:
    """negative/neutral/positive as 0/1/2 (Float64); anything else NA."""
    labels = values.astype("string")
    rank = pd.Series(pd.NA, index=values.index, dtype="Float64")
    for i, label in enumerate(SENTIMENTS):
        rank = rank.mask(labels == label, float(i))
    return rank


def _grouped_sums(df: pd.DataFrame, facts: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    keys = [by] if isinstance(by, str) else list(by)
    _require(df, keys, "grouping")
    grouper = [df[k] for k in keys]
    # dropna=False keeps calls with a NA key, so the group counts add up to the input rows.
    sums = facts.groupby(grouper, dropna=False, observed=True, sort=True).sum()
    return sums.reset_index()


def _analysed(df: pd.DataFrame) -> pd.Series:
    return pd.Series(check_outcomes(df)["analysed"].to_numpy(dtype=bool), index=df.index)


def _shift(df: pd.DataFrame, analysed: pd.Series) -> pd.Series:
    """Customer sentiment end minus start in steps (-2..2); NA if unknown or not analysed."""
    _require(df, ["sentiment_customer_start", "sentiment_customer_end"], "sentiment")
    end = _sentiment_rank(df["sentiment_customer_end"])
    return (end - _sentiment_rank(df["sentiment_customer_start"])).where(analysed)


def _effort(df: pd.DataFrame, analysed: pd.Series) -> pd.Series:
    """Customer effort score (Int64); NA if not analysed or outside the documented 0..5."""
    _require(df, ["customer_effort_score"], "effort")
    score = df["customer_effort_score"].astype("Int64")
    return score.where(analysed & score.isin(EFFORT_SCORES).fillna(False))


def sentiment_shift(df: pd.DataFrame, by: str | list[str] = "agent_id") -> pd.DataFrame:
    """Customer sentiment start→end per group: improved / same / worsened counts and shares.

    Columns: the ``by`` columns, calls, calls_without_results (calls whose shift is unknown),
    shift_n (calls with both ends known), improved, same, worsened, improved_share,
    same_share, worsened_share (shares of shift_n).

    Example:
        >>> sentiment_shift(load_calls(), by="agent_id")  # doctest: +SKIP
    """
    shift = _shift(df, _analysed(df))
    facts = pd.DataFrame(
        {
            "calls": 1,
            "shift_n": _counts(shift.notna()),
            "improved": _counts(shift > 0),
            "same": _counts(shift == 0),
            "worsened": _counts(shift < 0),
        },
        index=df.index,
    )
    out = _grouped_sums(df, facts, by)
    out["calls_without_results"] = out["calls"] - out["shift_n"]
    for k in ("improved", "same", "worsened"):
        out[f"{k}_share"] = _ratio(out[k], out["shift_n"])
    return _with_keys(out, df, by, SHIFT_COLUMNS)


def effort_distribution(df: pd.DataFrame, by: str | list[str] = "agent_id") -> pd.DataFrame:
    """Customer effort score distribution (0..5) per group.

    Columns: the ``by`` columns, calls, calls_without_results, effort_n (analysed calls with a
    score in 0..5; other values count as unknown), effort_0 … effort_5 (counts), effort_mean.

    Example:
        >>> effort_distribution(load_calls(), by="agent_id")  # doctest: +SKIP
    """
    score = _effort(df, _analysed(df))
    facts = pd.DataFrame({"calls": 1, "effort_n": _counts(score.notna())}, index=df.index)
    for s in EFFORT_SCORES:
        facts[f"effort_{s}"] = _counts(score == s)
    facts["effort_sum"] = score.fillna(0).astype("int64")
    out = _grouped_sums(df, facts, by)
    out["calls_without_results"] = out["calls"] - out["effort_n"]
    out["effort_mean"] = _ratio(out["effort_sum"], out["effort_n"])
    return _with_keys(out, df, by, EFFORT_COLUMNS)


def _with_keys(
    out: pd.DataFrame, df: pd.DataFrame, by: str | list[str], columns: dict[str, str]
) -> pd.DataFrame:
    keys = [by] if isinstance(by, str) else list(by)
    key_types = {k: df[k].dtype for k in keys}  # the dtype object keeps categories
    if out.empty:  # an empty groupby loses the key dtypes
        out = out.astype({k: t for k, t in key_types.items() if k in out.columns})
    return typed(out, {**key_types, **columns})


def volume(df: pd.DataFrame, freq: str = "D", *, tz: str | None = None) -> pd.DataFrame:
    """Calls and talk time per period, by status; periods without calls appear with zeros.

    Columns: period (start of the period in ``tz``), calls, completed, processing, failed,
    talk_seconds (sum of duration_seconds, all statuses), talk_minutes. Calls without
    ``created`` are left out.

    Args:
        df: the load_calls() frame.
        freq: a pandas period alias: "D" (default), "W" (weeks start Monday), "M", "h", ...
        tz: the IANA zone whose days (and hours) bucket the calls; default the frame's
            ``attrs["tz"]`` (set by ``load_calls(tz=...)``), else UTC.

    Example:
        >>> volume(load_calls(), freq="W")  # doctest: +SKIP
    """
    _require(df, ["created", "status", "duration_seconds"], "volume")
    zone = _zone(df, tz)
    periods = _to_periods(df["created"], freq, zone)
    status = df["status"].astype("string")
    facts = pd.DataFrame(
        {
            "calls": 1,
            **{s: _counts(status == s) for s in ("completed", "processing", "failed")},
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
    out["period"] = pd.Series(_local(full.to_timestamp(how="start"), zone))
    out["talk_minutes"] = out["talk_seconds"].astype("Float64") / 60
    return typed(out, {**VOLUME_COLUMNS, "period": pd.DatetimeTZDtype(tz=zone)})


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


def compliance_exceptions(df: pd.DataFrame) -> pd.DataFrame:
    """One row per failed check per analysed call: a supervisor's review queue.

    Columns: id, created, agent_id, contact_id, check, detail (why it failed, e.g. "missing 2:
    Recording notice; Right to cancel", "3 prohibited phrases", "verified late at 95 s"), at_s
    (seconds into the call, NA if unknown). Sorted newest call first (ties: id descending, the
    API's order), then checks in the module table's order: a queue is worked as calls arrive,
    and the API gives no severity to rank by.

    Example:
        >>> load_calls().pipe(compliance_exceptions).head(20)  # doctest: +SKIP
    """
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


def _scorecard_columns() -> dict[str, str]:
    cols = {
        "calls": "Int64",
        "analysed_calls": "Int64",
        "calls_without_results": "Int64",
        "talk_seconds": "Float64",
        "talk_minutes": "Float64",
    }
    for c in (*CHECKS, "flagged"):
        share = "share" if c == "flagged" else "pass_rate"
        cols |= {
            f"{c}_calls" if c == "flagged" else f"{c}_passed": "Int64",
            f"{c}_n": "Int64",
            f"{c}_{share}": "Float64",
            f"{c}_ci_low": "Float64",
            f"{c}_ci_high": "Float64",
        }
    cols |= {"sentiment_n": "Int64"} | {f"sentiment_{s}": "Int64" for s in SENTIMENTS}
    cols |= {f"sentiment_{s}_share": "Float64" for s in SENTIMENTS}
    cols |= {k: v for k, v in SHIFT_COLUMNS.items() if k not in ("calls", "calls_without_results")}
    for name, mean in (("effort", "mean"), ("empathy", "per_call"), ("interruptions", "per_call")):
        cols |= {f"{name}_n": "Int64", f"{name}_{mean}": "Float64"}
    cols |= {f"recommendations_{k}": "Int64" for k in ("n", "high", "medium", "low")}
    return cols | {"ranked": "boolean", "rank": "Int64"}


SCORECARD_COLUMNS: dict[str, str] = _scorecard_columns()


def agent_scorecard(
    df: pd.DataFrame, period: str | None = None, min_calls: int = 5, *, tz: str | None = None
) -> pd.DataFrame:
    """Per agent (and period): volume, compliance pass rates with Wilson CIs, quality, rank.

    Columns, in order: agent_id, period (only when ``period`` is given: its start in ``tz``),
    calls, analysed_calls, calls_without_results, talk_seconds, talk_minutes (all calls);
    for each check ``<check>_passed, <check>_n, <check>_pass_rate, <check>_ci_low,
    <check>_ci_high``; flagged_calls, flagged_n, flagged_share, flagged_ci_low,
    flagged_ci_high; sentiment_n, sentiment_{negative,neutral,positive} (counts) and their
    ``_share``; shift_n, improved, same, worsened and their ``_share``; effort_n, effort_mean,
    empathy_n, empathy_per_call, interruptions_n, interruptions_per_call;
    recommendations_n (calls), recommendations_{high,medium,low} (totals); ranked, rank.

    Only groups with ``analysed_calls >= min_calls`` are ranked (the rest get ranked=False,
    rank=NA). Rank 1 is the lowest ``flagged_ci_high`` (the Wilson upper bound of the flagged
    share) within the period, so 0 flags in 300 calls outranks 0 in 5; equal bounds share a
    rank (1, 1, 3). Rows are sorted by period, rank (unranked last), agent_id.

    Args:
        df: the load_calls() frame.
        period: None for all time, or a pandas period alias on ``created``: "W", "M", ...
        min_calls: analysed calls a group needs to be ranked.
        tz: the zone whose weeks/months ``period`` counts in (default as in `volume`).

    Example:
        >>> agent_scorecard(load_calls(), period="M", min_calls=20)  # doctest: +SKIP
    """
    if min_calls < 1:
        raise ValidationError(f"min_calls must be >= 1, got {min_calls}", param="min_calls")
    _require(df, _SCORECARD_INPUTS, "agent_scorecard")
    outcomes = check_outcomes(df)
    analysed = pd.Series(outcomes["analysed"].to_numpy(dtype=bool), index=df.index)
    facts = pd.DataFrame(
        {
            "calls": 1,
            "analysed_calls": _counts(analysed),
            "talk_seconds": df["duration_seconds"].astype("Float64").fillna(0.0),
        },
        index=df.index,
    )
    for c in (*CHECKS, "flagged"):
        facts[f"{c}_calls" if c == "flagged" else f"{c}_passed"] = _counts(outcomes[c])
        facts[f"{c}_n"] = _counts(outcomes[c].notna())
    sentiment = df["sentiment_overall"].astype("string").where(analysed)
    facts["sentiment_n"] = _counts(sentiment.isin(SENTIMENTS))
    for s in SENTIMENTS:
        facts[f"sentiment_{s}"] = _counts(sentiment == s)
    shift = _shift(df, analysed)
    facts["shift_n"] = _counts(shift.notna())
    for k, hit in (("improved", shift > 0), ("same", shift == 0), ("worsened", shift < 0)):
        facts[k] = _counts(hit)
    means = {
        "effort": _effort(df, analysed),
        "empathy": df["empathy_count"],
        "interruptions": df["interruption_count"],
    }
    for name, values in means.items():
        v = values.astype("Float64").where(analysed)
        facts[f"{name}_n"] = _counts(v.notna())
        facts[f"{name}_sum"] = v.fillna(0.0)
    facts["recommendations_n"] = _counts(df["recommendation_count"].notna() & analysed)
    for k in ("high", "medium", "low"):
        facts[f"recommendations_{k}"] = _counts(analysed) * df[f"recommendations_{k}"].fillna(0)

    keys = [df["agent_id"]]
    if period is not None:
        keys.append(_period_starts(df["created"], period, _zone(df, tz)).rename("period"))
    out = facts.groupby(keys, dropna=False, sort=True).sum().reset_index()
    out["calls_without_results"] = out["calls"] - out["analysed_calls"]
    out["talk_minutes"] = out["talk_seconds"].astype("Float64") / 60
    for c in (*CHECKS, "flagged"):
        hits = out[f"{c}_calls" if c == "flagged" else f"{c}_passed"]
        n = out[f"{c}_n"]
        out[f"{c}_share" if c == "flagged" else f"{c}_pass_rate"] = _ratio(hits, n)
        out[f"{c}_ci_low"], out[f"{c}_ci_high"] = wilson_interval(hits, n)
    for s in SENTIMENTS:
        out[f"sentiment_{s}_share"] = _ratio(out[f"sentiment_{s}"], out["sentiment_n"])
    for k in ("improved", "same", "worsened"):
        out[f"{k}_share"] = _ratio(out[k], out["shift_n"])
    for name, mean in (("effort", "mean"), ("empathy", "per_call"), ("interruptions", "per_call")):
        out[f"{name}_{mean}"] = _ratio(out[f"{name}_sum"], out[f"{name}_n"])

    out["ranked"] = (out["analysed_calls"] >= min_calls) & out["flagged_ci_high"].notna()
    score = out["flagged_ci_high"].where(out["ranked"])
    by_period = out["period"] if period is not None else pd.Series(0, index=out.index)
    out["rank"] = score.groupby(by_period, dropna=False).rank(method="min")
    keys_types: dict[str, Any] = {"agent_id": "string"}
    if period is not None:
        keys_types["period"] = pd.DatetimeTZDtype(tz=_zone(df, tz))
    order = ["period", "rank", "agent_id"] if period is not None else ["rank", "agent_id"]
    out = typed(out, keys_types | SCORECARD_COLUMNS)
    return out.sort_values(order, na_position="last", kind="stable", ignore_index=True)
