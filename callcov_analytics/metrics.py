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

from typing import Any

import narwhals as nw
import pandas as pd

from callcov_analytics._analytics.coaching import COACHING_COLUMNS as COACHING_COLUMNS
from callcov_analytics._analytics.engines import F, Frame, finish, to_pandas, wrap
from callcov_analytics._analytics.exceptions import EXCEPTION_COLUMNS as EXCEPTION_COLUMNS
from callcov_analytics._analytics.exceptions import SEVERITY as SEVERITY
from callcov_analytics._analytics.exceptions import compliance_exceptions
from callcov_analytics._analytics.outcomes import (
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
from callcov_analytics._analytics.periods import in_zone, to_periods, with_period, zone_of
from callcov_analytics._analytics.scorecard import SCORECARD_COLUMNS as SCORECARD_COLUMNS
from callcov_analytics._analytics.scorecard import agent_scorecard
from callcov_analytics._decode.columns import typed

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
    same_share, worsened_share (shares of shift_n). Any engine (see `_analytics.engines`).

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
    Any engine (see `_analytics.engines`).

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
        df: the load_calls() frame, or the same rows on another engine (a Polars frame, a
            DuckDB relation from `scan_calls`, a Spark DataFrame).
        freq: a pandas period alias: "D" (default), "W" (weeks start Monday), "M", "h", ...
            (other engines: h, D, W, M, Q, Y).
        tz: the IANA zone whose days (and wall-clock hours) bucket the calls; default the
            frame's ``attrs["tz"]`` (set by ``load_calls(tz=...)``), else UTC.

    Any engine: it sums the calls per period, and the result is a pandas frame (one row per
    period) whatever the input, because the periods without calls come from a pandas
    calendar of every period in the range.

    Example:
        >>> volume(load_calls(), freq="W")  # doctest: +SKIP
        >>> volume(scan_calls(), freq="M")  # doctest: +SKIP
    """
    frame = wrap(df, "volume")
    require(frame, ["created", "status", "duration_seconds"], "volume")
    zone = zone_of(df, tz)
    status = nw.col("status")
    facts = {
        **{s: count_true(status == s) for s in ("completed", "processing", "failed")},
        "talk_seconds": nw.col("duration_seconds").cast(nw.Float64).fill_null(0.0),
    }
    if isinstance(df, pd.DataFrame):  # pandas buckets each call with its own Periods
        periods = to_periods(df["created"], freq, zone)
        per_call = nw.to_native(frame.select(**facts)).assign(calls=1)
        return _calendar(per_call, periods, freq, zone)
    frame = with_period(frame, df, freq, zone).filter(~nw.col("period").is_null())
    per_call = frame.select("period", **facts)
    sums = per_call.group_by("period").agg(nw.len().alias("calls"), nw.col(*facts).sum())
    per_period = to_pandas(sums)
    starts = pd.to_datetime(per_period.pop("period"))
    if starts.dt.tz is None:  # Spark hands back its session's (UTC) times naive
        starts = starts.dt.tz_localize("UTC")
    return _calendar(per_period, to_periods(starts, freq, zone), freq, zone)


def _calendar(facts: pd.DataFrame, periods: pd.Series, freq: str, zone: str) -> pd.DataFrame:
    """``facts`` (per call or per period) summed by ``periods``, every period in the range."""
    full = (
        pd.period_range(periods.min(), periods.max(), freq=periods.dt.freq)
        if periods.notna().any()
        else pd.PeriodIndex([], freq=freq)
    )
    facts = facts.set_axis(periods.index)[["calls", "completed", "processing", "failed",
                                           "talk_seconds"]]  # fmt: skip
    out = facts.groupby(periods).sum().reindex(full, fill_value=0).reset_index(drop=True)
    out["period"] = pd.Series(in_zone(full.to_timestamp(how="start"), zone))
    # Hours are wall-clock: the hour a spring change skips (no call can be in it) would repeat
    # the next one's start, so it goes; the autumn's repeated hour is one bucket.
    out = out[~out["period"].duplicated(keep="last")]
    out["talk_minutes"] = out["talk_seconds"].astype("Float64") / 60
    return typed(out, {**VOLUME_COLUMNS, "period": pd.DatetimeTZDtype(tz=zone)})
