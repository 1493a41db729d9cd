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

import operator
from collections.abc import Hashable, Mapping
from functools import reduce
from typing import Any, overload

import narwhals as nw
import numpy as np
import pandas as pd

from callcov_analytics._columns import typed
from callcov_analytics._dates import check_tz
from callcov_analytics._engines import F, Frame, columns_of, finish, pandas_only, wrap
from callcov_analytics._errors import UnsupportedEngineError, ValidationError

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

CHECKS: tuple[str, ...] = (
    "identity_verification",
    "mandatory_disclosures",
    "purpose_declaration",
    "prohibited_phrases",
    "sensitive_data",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
_SHIFTS = ("improved", "same", "worsened")
_RATED = (*CHECKS, "flagged")  # the scorecard's rates with Wilson intervals
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

_RULES: dict[str, nw.Expr] = {
    "identity_verification": nw.col("identity_verified") & ~nw.col("identity_flagged"),
    "mandatory_disclosures": nw.col("disclosures_read") & (nw.col("disclosures_missing") == 0),
    "purpose_declaration": nw.col("purpose_disclosed") & ~nw.col("purpose_flagged"),
    "prohibited_phrases": ~nw.col("prohibited_phrases_used"),
    "sensitive_data": ~nw.col("sensitive_data_shared"),
}
_CHECK_INPUTS = ("status", "identity_verified", "identity_flagged", "disclosures_read",
                 "disclosures_missing", "purpose_disclosed", "purpose_flagged",
                 "prohibited_phrases_used", "sensitive_data_shared")  # fmt: skip
_SCORECARD_INPUTS = ("agent_id", "created", "duration_seconds", "sentiment_overall",
                     "customer_effort_score", "empathy_count", "interruption_count",
                     "recommendation_count")  # fmt: skip
_ANALYSED = "_analysed"  # the outcome columns' helper, dropped from every result
# What the scorecard, shift and effort read beside the checks' inputs.
_EXTRA_INPUTS = ("sentiment_customer_start", "sentiment_customer_end", "customer_effort_score")


def _require(frame: Frame, columns: tuple[str, ...] | list[str], what: str) -> None:
    """Raise ValidationError naming the columns ``what`` needs that ``frame`` lacks."""
    present = set(columns_of(frame))
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValidationError(
            f"{what} needs the load_calls() columns {missing}; pass the frame load_calls() "
            "returned (or scan_calls()'s relation)",
            param="df",
        )


def _with_outcomes(
    frame: Frame, keep: list[str], extra: Mapping[str, nw.Expr] | None = None
) -> Frame:
    """``keep``, the five checks, flagged and `_ANALYSED` (boolean; null = unknown), ``extra``.

    ``extra`` may use `_ANALYSED` and any input column. Few, narrow steps: on pandas each
    step rebuilds the frame, so the wide input is cut to what is needed first.
    """
    _require(frame, _CHECK_INPUTS, "check_outcomes")
    present = set(columns_of(frame))
    needed = [*keep, *_CHECK_INPUTS, *(c for c in _EXTRA_INPUTS if extra and c in present)]
    frame = frame.select(*dict.fromkeys(needed))
    completed = (nw.col("status") == "completed").fill_null(False)
    known = nw.any_horizontal(*(~rule.is_null() for rule in _RULES.values()), ignore_nulls=True)
    frame = frame.with_columns((completed & known).alias(_ANALYSED))
    checks = {c: nw.when(nw.col(_ANALYSED)).then(rule) for c, rule in _RULES.items()}
    # Kleene OR: one failure flags, unknowns alone do not (all unknown when not analysed).
    flagged = reduce(operator.or_, (~check for check in checks.values()))
    return frame.select(
        *dict.fromkeys(keep), nw.col(_ANALYSED), **checks, flagged=flagged, **(extra or {})
    )


def check_outcomes(df: F) -> F:
    """Per call: the five checks, flagged, analysed (boolean; NA = unknown).

    A pandas frame gets ``df``'s index; other engines (no index) get an ``id`` column first.
    """
    lazy_id = {} if isinstance(df, pd.DataFrame) else {"id": "string"}
    frame = _with_outcomes(wrap(df, "check_outcomes"), list(lazy_id))
    columns = {c: "boolean" for c in (*CHECKS, "flagged", "analysed")}
    out = finish(frame.with_columns(nw.col(_ANALYSED).alias("analysed")), df, lazy_id | columns)
    if isinstance(out, pd.DataFrame) and isinstance(df, pd.DataFrame):
        out.index = df.index
    return out


def _with_wilson(
    frame: Frame, bounds: Mapping[str, tuple[str, str]], z: float, also: list[nw.Expr] | None = None
) -> Frame:
    """``frame`` plus the Wilson bounds ``{prefix}_ci_low/high`` of each ``prefix: (k, n)``.

    Null where n is 0 or null. Built in three steps of plain columns (``also`` joins the
    first), so no intermediate is computed over and over (pandas evaluates each use anew).
    """
    zz = z * z
    stages: list[dict[str, nw.Expr]] = [{}, {}, {}]
    for prefix, (k, n) in bounds.items():
        m, p, d = f"_{prefix}_m", f"_{prefix}_p", f"_{prefix}_d"
        centre, half = f"_{prefix}_centre", f"_{prefix}_half"
        trials = nw.when(nw.col(n) > 0).then(nw.col(n).cast(nw.Float64))
        stages[0] |= {m: trials, p: nw.col(k).cast(nw.Float64) / trials, d: 1 + zz / trials}
        spread = nw.col(p) * (1 - nw.col(p)) / nw.col(m) + zz / (4 * nw.col(m) * nw.col(m))
        stages[1] |= {
            centre: (nw.col(p) + zz / (2 * nw.col(m))) / nw.col(d),
            half: z * spread.sqrt() / nw.col(d),
        }
        # Rounding can push a bound a hair past p or outside [0, 1] at p = 0 or 1: the
        # bounds hold p (itself in [0, 1]), so low needs no cap at 1 nor high a floor at 0.
        low = nw.col(centre) - nw.col(half)
        low = nw.when(low < 0).then(0.0).otherwise(low)
        high = nw.col(centre) + nw.col(half)
        high = nw.when(high > 1).then(1.0).otherwise(high)
        stages[2] |= {
            f"{prefix}_ci_low": nw.when(low > nw.col(p)).then(nw.col(p)).otherwise(low),
            f"{prefix}_ci_high": nw.when(high < nw.col(p)).then(nw.col(p)).otherwise(high),
        }
    frame = frame.with_columns(*(also or []), **stages[0])
    frame = frame.with_columns(**stages[1]).with_columns(**stages[2])
    return frame.drop([c for stage in stages[:2] for c in stage])


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
    counts = pd.DataFrame({"k": pd.array(k, dtype="Float64"), "n": pd.array(m, dtype="Float64")})
    frame = _with_wilson(nw.from_native(counts, eager_only=True), {"w": ("k", "n")}, z)
    bounds = frame.to_native()
    low_, high_ = (bounds[f"w_ci_{c}"].astype("Float64") for c in ("low", "high"))
    if series is None:
        return _floats(low_)[0], _floats(high_)[0]
    return low_.set_axis(series.index), high_.set_axis(series.index)


def _floats(values: Any) -> np.ndarray[Any, np.dtype[np.floating[Any]]]:
    """Counts (scalar or Series, NA allowed) as a float array with NaN for NA."""
    return pd.Series(values).astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _ratio(numerator: nw.Expr, denominator: nw.Expr) -> nw.Expr:
    """``numerator / denominator`` as a float, null where the denominator is 0."""
    den = nw.when(denominator > 0).then(denominator.cast(nw.Float64))
    return numerator.cast(nw.Float64) / den


def _count(mask: nw.Expr) -> nw.Expr:
    """A boolean (maybe null) expression as 0/1, null counting as 0."""
    return mask.fill_null(False).cast(nw.Int64)


def _zone(df: Any, tz: str | None) -> str:
    """The zone to bucket in: ``tz``, else the one the frame was loaded with, else UTC."""
    attrs = df.attrs if isinstance(df, pd.DataFrame) else {}
    return check_tz(tz if tz is not None else attrs.get("tz"))


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


# The periods other engines bucket by (their date_trunc units); weeks start on Monday.
_TRUNCATE = {"h": "1h", "D": "1d", "W": "1d", "M": "1mo", "Q": "1q", "Y": "1y"}


def _with_period(frame: Frame, df: Any, freq: str, tz: str) -> Frame:
    """``frame`` plus ``period``: the start of the ``freq`` period of ``created`` in ``tz``.

    pandas buckets with its Periods (any alias, DST-aware wall clock); other engines with
    their own date_trunc, for the aliases in `_TRUNCATE`.
    """
    if isinstance(df, pd.DataFrame):
        starts = _period_starts(df["created"], freq, tz)
        return frame.with_columns(nw.from_native(starts.rename("period"), series_only=True))
    if freq not in _TRUNCATE:
        raise ValidationError(
            f"period {freq!r} on this engine: use one of {', '.join(_TRUNCATE)}", param="period"
        )
    created = nw.col("created")
    try:
        local = created if tz == "UTC" else created.dt.convert_time_zone(tz)
        day = local.dt.truncate(_TRUNCATE[freq])
        if freq == "W":  # back to Monday
            # weekday() is 1 (Monday) to 7, but 0 for Sunday on Spark (Narwhals 2.29): % 7
            # makes Sunday 0 on every engine.
            weekday = day.dt.weekday() % 7
            start = day
            for back in range(1, 7):  # Tuesday (2) is 1 day back ... Sunday (0) is 6
                start = (
                    nw.when(weekday == (back + 1) % 7)
                    .then(day.dt.offset_by(f"-{back}d"))
                    .otherwise(start)
                )
            day = start
        return frame.with_columns(day.alias("period"))
    except NotImplementedError as exc:
        raise UnsupportedEngineError(
            f"tz={tz!r} on this engine: {exc} Bucket in UTC (tz='UTC'), or set the engine's "
            "session time zone and pass its local times",
            param="tz",
        ) from None


def _sentiment_rank(name: str) -> nw.Expr:
    """negative/neutral/positive as 0/1/2; anything else null."""
    c = nw.col(name)
    rank = _count(c == "neutral") + 2 * _count(c == "positive")
    return nw.when(c.is_in(SENTIMENTS).fill_null(False)).then(rank)


def _keys(by: str | list[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def _shift() -> nw.Expr:
    """Customer sentiment end minus start in steps (-2..2); null if unknown or not analysed."""
    shift = _sentiment_rank("sentiment_customer_end") - _sentiment_rank("sentiment_customer_start")
    return nw.when(nw.col(_ANALYSED)).then(shift)


def _effort() -> nw.Expr:
    """Customer effort score; null if not analysed or outside the documented 0..5."""
    score = nw.col("customer_effort_score").cast(nw.Int64)
    valid = nw.col(_ANALYSED) & score.is_in(EFFORT_SCORES).fill_null(False)
    return nw.when(valid).then(score)


def _shift_facts() -> dict[str, nw.Expr]:
    shift = nw.col("_shift")
    return {
        "shift_n": _count(~shift.is_null()),
        "improved": _count(shift > 0),
        "same": _count(shift == 0),
        "worsened": _count(shift < 0),
    }


def _grouped(frame: Frame, keys: list[str], facts: Mapping[str, nw.Expr]) -> Frame:
    """Per group of ``keys`` (a null key is a group too): ``calls`` and the sums of ``facts``."""
    sums = frame.select(*keys, **facts)
    return sums.group_by(keys, drop_null_keys=False).agg(
        nw.len().alias("calls"), nw.col(*facts).sum()
    )


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
    _require(frame, [*keys, "sentiment_customer_start", "sentiment_customer_end"], "sentiment")
    frame = _with_outcomes(frame, keys, {"_shift": _shift()})
    out = _grouped(frame, keys, _shift_facts())
    out = out.with_columns(
        (nw.col("calls") - nw.col("shift_n")).alias("calls_without_results"),
        *(_ratio(nw.col(k), nw.col("shift_n")).alias(f"{k}_share") for k in _SHIFTS),
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
    _require(frame, [*keys, "customer_effort_score"], "effort")
    frame = _with_outcomes(frame, keys, {"_effort": _effort()})
    score = nw.col("_effort")
    facts = {
        "effort_n": _count(~score.is_null()),
        **{f"effort_{s}": _count(score == s) for s in EFFORT_SCORES},
        "effort_sum": score.fill_null(0),
    }
    out = _grouped(frame, keys, facts)
    out = out.with_columns(
        (nw.col("calls") - nw.col("effort_n")).alias("calls_without_results"),
        _ratio(nw.col("effort_sum"), nw.col("effort_n")).alias("effort_mean"),
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
    _require(wrap(df, "volume"), ["created", "status", "duration_seconds"], "volume")
    zone = _zone(df, tz)
    periods = _to_periods(df["created"], freq, zone)
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
    out["period"] = pd.Series(_local(full.to_timestamp(how="start"), zone))
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
    df: F, period: str | None = None, min_calls: int = 5, *, tz: str | None = None
) -> F:
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
        df: the load_calls() frame, or the same rows on another engine: a Polars frame, a
            DuckDB relation (`scan_calls`), a Spark DataFrame; the result is of that kind.
        period: None for all time, or a pandas period alias on ``created``: "W", "M", ...
            (other engines: h, D, W, M, Q, Y).
        min_calls: analysed calls a group needs to be ranked.
        tz: the zone whose weeks/months ``period`` counts in (default as in `volume`).

    Example:
        >>> agent_scorecard(load_calls(), period="M", min_calls=20)  # doctest: +SKIP
        >>> agent_scorecard(scan_calls(), period="W").df()  # doctest: +SKIP
    """
    if min_calls < 1:
        raise ValidationError(f"min_calls must be >= 1, got {min_calls}", param="min_calls")
    frame = wrap(df, "agent_scorecard")
    _require(frame, _SCORECARD_INPUTS, "agent_scorecard")
    keys = ["agent_id"]
    if period is not None:
        frame = _with_period(frame, df, period, _zone(df, tz))
        keys.append("period")
    inputs = [
        "duration_seconds",
        "sentiment_overall",
        "empathy_count",
        "interruption_count",
        "recommendation_count",
        *(f"recommendations_{k}" for k in ("high", "medium", "low")),
    ]
    extra = {"_shift": _shift(), "_effort": _effort()}
    frame = _with_outcomes(frame, [*keys, *inputs], extra)
    analysed = nw.col(_ANALYSED)
    facts: dict[str, nw.Expr] = {
        "analysed_calls": _count(analysed),
        "talk_seconds": nw.col("duration_seconds").cast(nw.Float64).fill_null(0.0),
    }
    for c in (*CHECKS, "flagged"):
        facts[f"{c}_calls" if c == "flagged" else f"{c}_passed"] = _count(nw.col(c))
        facts[f"{c}_n"] = _count(~nw.col(c).is_null())
    sentiment = nw.col("sentiment_overall")
    facts["sentiment_n"] = _count(analysed & sentiment.is_in(SENTIMENTS))
    for s in SENTIMENTS:
        facts[f"sentiment_{s}"] = _count(analysed & (sentiment == s))
    facts |= _shift_facts()
    means = {
        "effort": nw.col("_effort"),
        "empathy": nw.col("empathy_count"),
        "interruptions": nw.col("interruption_count"),
    }
    for name, values in means.items():
        v = nw.when(analysed).then(values.cast(nw.Float64))
        facts[f"{name}_n"] = _count(~v.is_null())
        facts[f"{name}_sum"] = v.fill_null(0.0)
    facts["recommendations_n"] = _count(~nw.col("recommendation_count").is_null() & analysed)
    for k in ("high", "medium", "low"):
        facts[f"recommendations_{k}"] = _count(analysed) * nw.col(f"recommendations_{k}").fill_null(
            0
        )
    out = _grouped(frame, keys, facts)

    derived = [
        (nw.col("calls") - nw.col("analysed_calls")).alias("calls_without_results"),
        (nw.col("talk_seconds") / 60).alias("talk_minutes"),
    ]
    hits = {c: (f"{c}_calls" if c == "flagged" else f"{c}_passed", f"{c}_n") for c in _RATED}
    for c, (k, n) in hits.items():
        rate = _ratio(nw.col(k), nw.col(n))
        derived.append(rate.alias(f"{c}_share" if c == "flagged" else f"{c}_pass_rate"))
    for s in SENTIMENTS:
        derived.append(
            _ratio(nw.col(f"sentiment_{s}"), nw.col("sentiment_n")).alias(f"sentiment_{s}_share")
        )
    derived += [_ratio(nw.col(k), nw.col("shift_n")).alias(f"{k}_share") for k in _SHIFTS]
    for name, mean in (("effort", "mean"), ("empathy", "per_call"), ("interruptions", "per_call")):
        derived.append(_ratio(nw.col(f"{name}_sum"), nw.col(f"{name}_n")).alias(f"{name}_{mean}"))
    out = _with_wilson(out, hits, 1.96, derived)

    ranked = (nw.col("analysed_calls") >= min_calls) & ~nw.col("flagged_ci_high").is_null()
    score = nw.when(ranked).then(nw.col("flagged_ci_high")).rank("min")
    out = out.with_columns(
        ranked.alias("ranked"),
        (score.over("period") if period is not None else score).alias("rank"),
    )
    order = ["period", "rank", "agent_id"] if period is not None else ["rank", "agent_id"]
    keys_types: dict[str, Any] = {"agent_id": "string"}
    if period is not None:
        keys_types["period"] = (
            pd.DatetimeTZDtype(tz=_zone(df, tz)) if isinstance(df, pd.DataFrame) else None
        )
    result = finish(out, df, keys_types | SCORECARD_COLUMNS, order)
    if isinstance(result, pd.DataFrame) and isinstance(df, pd.DataFrame):
        result.attrs["created"] = _created_range(df)  # charts of it name the dates they cover
    return result


def _created_range(df: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and last ``created`` of the frame, or None when it has none."""
    created = df["created"].dropna() if "created" in df else pd.Series(dtype=object)
    return (created.min(), created.max()) if len(created) else None
