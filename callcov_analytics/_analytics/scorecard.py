"""`agent_scorecard`: per agent (and period) volume, pass rates with Wilson CIs, quality, rank."""

from __future__ import annotations

from typing import Any

import narwhals as nw
import pandas as pd

from callcov_analytics._analytics import outcomes
from callcov_analytics._analytics.coaching import COACHING_COLUMNS, coaching_first, coaching_view
from callcov_analytics._analytics.engines import F, finish, wrap
from callcov_analytics._analytics.outcomes import (
    ANALYSED,
    CHECKS,
    RATED,
    SENTIMENTS,
    SHIFT_COLUMNS,
    SHIFTS,
    count_true,
    ratio,
)
from callcov_analytics._analytics.periods import with_period, zone_of
from callcov_analytics._errors import ValidationError

SCORECARD_INPUTS = ("agent_id", "created", "duration_seconds", "sentiment_overall",
                    "customer_effort_score", "empathy_count", "interruption_count",
                    "recommendation_count")  # fmt: skip


# The per-call inputs kept beside the keys and outcomes, and the means of the quality block.
_PER_CALL = ("duration_seconds", "sentiment_overall", "empathy_count", "interruption_count",
             "recommendation_count", "recommendations_high", "recommendations_medium",
             "recommendations_low")  # fmt: skip
_MEANS = {"effort": ("_effort", "mean"), "empathy": ("empathy_count", "per_call"),
          "interruptions": ("interruption_count", "per_call")}  # fmt: skip
# Each rated outcome: (its count of hits, its count of known values).
_HITS = {c: (f"{c}_calls" if c == "flagged" else f"{c}_passed", f"{c}_n") for c in RATED}


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
    for name, (_, mean) in _MEANS.items():
        cols |= {f"{name}_n": "Int64", f"{name}_{mean}": "Float64"}
    cols |= {f"recommendations_{k}": "Int64" for k in ("n", "high", "medium", "low")}
    return cols | {"ranked": "boolean", "rank": "Int64"}


SCORECARD_COLUMNS: dict[str, str] = _scorecard_columns()


def agent_scorecard(
    df: F,
    period: str | None = None,
    min_calls: int = 5,
    *,
    tz: str | None = None,
    detail: bool = False,
) -> F:
    """Per agent (and period): who needs coaching and why; ``detail=True``: every figure.

    The default view answers "who needs coaching, on what?", those agents first (worst rank
    first within them, then everyone else worst first, unranked last). Columns: agent_id,
    period (only when ``period`` is given), rank, calls, needs_coaching, weakest_check,
    pass_pct, ci_low_pct, ci_high_pct (its pass rate and 95% Wilson interval), team_pct (the
    pass rate of that check over every agent's calls in the period), flagged_pct (share of
    analysed calls with any failed check), below_team (every check where the agent needs
    coaching, ", "-joined; NA when none). A check's margin is team_pct minus the agent's ci_high:
    above 0 the agent is credibly below the team there, however the team itself does. The
    weakest check has the widest margin; a ranked agent needs coaching when that margin is
    above 0. Display decision: the percentages are numbers (0-100) rounded half up to one
    decimal, so the table reads well in Jupyter as it is and still sorts, filters and plots;
    text would not. Unrounded shares, counts and every other figure are in ``detail=True``.

    ``detail=True`` columns, in order: agent_id, period (only when ``period`` is given: its
    start in ``tz``), calls, analysed_calls, calls_without_results, talk_seconds, talk_minutes
    (all calls); for each check ``<check>_passed, <check>_n, <check>_pass_rate, <check>_ci_low,
    <check>_ci_high``; flagged_calls, flagged_n, flagged_share, flagged_ci_low, flagged_ci_high;
    sentiment_n, sentiment_{negative,neutral,positive} (counts) and their ``_share``; shift_n,
    improved, same, worsened and their ``_share``; effort_n, effort_mean, empathy_n,
    empathy_per_call, interruptions_n, interruptions_per_call; recommendations_n (calls),
    recommendations_{high,medium,low} (totals); ranked, rank.

    Only groups with ``analysed_calls >= min_calls`` are ranked (the rest get ranked=False,
    rank=NA). Rank 1 is the lowest ``flagged_ci_high`` (the Wilson upper bound of the flagged
    share) within the period, so 0 flags in 300 calls outranks 0 in 5; equal bounds share a
    rank (1, 1, 3). ``detail=True`` rows are sorted by period, rank (unranked last), agent_id.

    Args:
        df: the load_calls() frame, or the same rows on another engine: a Polars frame, a
            DuckDB relation (`scan_calls`), a Spark DataFrame; the result is of that kind.
        period: None for all time, or a pandas period alias on ``created``: "W", "M", ...
            (other engines: h, D, W, M, Q, Y).
        min_calls: analysed calls a group needs to be ranked.
        tz: the zone whose weeks/months ``period`` counts in (default as in `volume`).
        detail: the full table (the columns above, best agent first) instead of the
            coaching view; the workbook, the report's agent_detail.csv and the plots read it.

    Example:
        >>> agent_scorecard(load_calls(), period="M", min_calls=20)  # doctest: +SKIP
        >>> agent_scorecard(scan_calls(), period="W").df()  # doctest: +SKIP
    """
    if min_calls < 1:
        raise ValidationError(f"min_calls must be >= 1, got {min_calls}", param="min_calls")
    frame = wrap(df, "agent_scorecard")
    outcomes.require(frame, SCORECARD_INPUTS, "agent_scorecard")
    keys = ["agent_id"]
    if period is not None:
        frame = with_period(frame, df, period, zone_of(df, tz))
        keys.append("period")
    frame = outcomes.with_outcomes(
        frame, [*keys, *_PER_CALL], {"_shift": outcomes.shift(), "_effort": outcomes.effort()}
    )
    out = outcomes.with_wilson(outcomes.grouped(frame, keys, _facts()), _HITS, 1.96, _rates())
    out = _ranked(out, min_calls, by_period=period is not None)
    keys_types: dict[str, Any] = {"agent_id": "string"}
    if period is not None:
        keys_types["period"] = (
            pd.DatetimeTZDtype(tz=zone_of(df, tz)) if isinstance(df, pd.DataFrame) else None
        )
    if detail:
        order = ["period", "rank", "agent_id"] if period is not None else ["rank", "agent_id"]
        result = finish(out, df, keys_types | SCORECARD_COLUMNS, order)
    else:
        out = coaching_view(out, by_period=period is not None)
        order, descending = coaching_first(keys)
        result = finish(out, df, keys_types | COACHING_COLUMNS, order, descending)
    if isinstance(result, pd.DataFrame) and isinstance(df, pd.DataFrame):
        result.attrs["created"] = _created_range(df)  # charts of it name the dates they cover
    return result


def _facts() -> dict[str, nw.Expr]:
    """What each group sums: analysed calls, talk time, hits and knowns, sentiment, means."""
    analysed = nw.col(ANALYSED)
    facts: dict[str, nw.Expr] = {
        "analysed_calls": count_true(analysed),
        "talk_seconds": nw.col("duration_seconds").cast(nw.Float64).fill_null(0.0),
    }
    for c, (hits, n) in _HITS.items():
        facts[hits] = count_true(nw.col(c))
        facts[n] = count_true(~nw.col(c).is_null())
    sentiment = nw.col("sentiment_overall")
    facts["sentiment_n"] = count_true(analysed & sentiment.is_in(SENTIMENTS))
    for s in SENTIMENTS:
        facts[f"sentiment_{s}"] = count_true(analysed & (sentiment == s))
    facts |= outcomes.shift_facts()
    for name, (column, _) in _MEANS.items():
        v = nw.when(analysed).then(nw.col(column).cast(nw.Float64))
        facts[f"{name}_n"] = count_true(~v.is_null())
        facts[f"{name}_sum"] = v.fill_null(0.0)
    facts["recommendations_n"] = count_true(~nw.col("recommendation_count").is_null() & analysed)
    for k in ("high", "medium", "low"):
        total = nw.col(f"recommendations_{k}").fill_null(0)
        facts[f"recommendations_{k}"] = count_true(analysed) * total
    return facts


def _rates() -> list[nw.Expr]:
    """The group's columns computed from its sums: shares, pass rates, means."""
    rates = [
        (nw.col("calls") - nw.col("analysed_calls")).alias("calls_without_results"),
        (nw.col("talk_seconds") / 60).alias("talk_minutes"),
    ]
    for c, (hits, n) in _HITS.items():
        rates.append(
            ratio(nw.col(hits), nw.col(n)).alias(
                f"{c}_share" if c == "flagged" else f"{c}_pass_rate"
            )
        )
    for s in SENTIMENTS:
        rates.append(
            ratio(nw.col(f"sentiment_{s}"), nw.col("sentiment_n")).alias(f"sentiment_{s}_share")
        )
    rates += [ratio(nw.col(k), nw.col("shift_n")).alias(f"{k}_share") for k in SHIFTS]
    for name, (_, mean) in _MEANS.items():
        rates.append(ratio(nw.col(f"{name}_sum"), nw.col(f"{name}_n")).alias(f"{name}_{mean}"))
    return rates


def _ranked(out: Any, min_calls: int, *, by_period: bool) -> Any:
    """``ranked`` and ``rank``: by flagged_ci_high, lowest first, among groups with enough calls."""
    ranked = (nw.col("analysed_calls") >= min_calls) & ~nw.col("flagged_ci_high").is_null()
    score = nw.when(ranked).then(nw.col("flagged_ci_high")).rank("min")
    return out.with_columns(
        ranked.alias("ranked"), (score.over("period") if by_period else score).alias("rank")
    )


def _created_range(df: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and last ``created`` of the frame, or None when it has none."""
    created = df["created"].dropna() if "created" in df else pd.Series(dtype=object)
    return (created.min(), created.max()) if len(created) else None
