"""Per call, the five checks' outcomes and the sentiment shift; per group, rates with CIs."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from functools import reduce
from typing import Any, overload

import narwhals as nw
import numpy as np
import pandas as pd

from callcov_analytics._analytics.engines import Frame, columns_of
from callcov_analytics._errors import ValidationError

CHECKS: tuple[str, ...] = (
    "identity_verification",
    "mandatory_disclosures",
    "purpose_declaration",
    "prohibited_phrases",
    "sensitive_data",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
SHIFTS = ("improved", "same", "worsened")
RATED = (*CHECKS, "flagged")  # the scorecard's rates with Wilson intervals
SHIFT_COLUMNS: dict[str, str] = {
    "calls": "Int64",
    "calls_without_results": "Int64",
    "shift_n": "Int64",
    **{k: "Int64" for k in SHIFTS},
    **{f"{k}_share": "Float64" for k in SHIFTS},
}
RULES: dict[str, nw.Expr] = {
    "identity_verification": nw.col("identity_verified") & ~nw.col("identity_flagged"),
    "mandatory_disclosures": nw.col("disclosures_read") & (nw.col("disclosures_missing") == 0),
    "purpose_declaration": nw.col("purpose_disclosed") & ~nw.col("purpose_flagged"),
    "prohibited_phrases": ~nw.col("prohibited_phrases_used"),
    "sensitive_data": ~nw.col("sensitive_data_shared"),
}
CHECK_INPUTS = ("status", "identity_verified", "identity_flagged", "disclosures_read",
                "disclosures_missing", "purpose_disclosed", "purpose_flagged",
                "prohibited_phrases_used", "sensitive_data_shared")  # fmt: skip
ANALYSED = "_analysed"  # the outcome columns' helper, dropped from every result


# What the scorecard, shift and effort read beside the checks' inputs.
EXTRA_INPUTS = ("sentiment_customer_start", "sentiment_customer_end", "customer_effort_score")


def require(frame: Frame, columns: tuple[str, ...] | list[str], what: str) -> None:
    """Raise ValidationError naming the columns ``what`` needs that ``frame`` lacks."""
    present = set(columns_of(frame))
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValidationError(
            f"{what} needs the load_calls() columns {missing}; pass the frame load_calls() "
            "returned (or scan_calls()'s relation)",
            param="df",
        )


def with_outcomes(
    frame: Frame, keep: list[str], extra: Mapping[str, nw.Expr] | None = None
) -> Frame:
    """``keep``, the five checks, flagged and `ANALYSED` (boolean; null = unknown), ``extra``.

    ``extra`` may use `ANALYSED` and any input column. Few, narrow steps: on pandas each
    step rebuilds the frame, so the wide input is cut to what is needed first.
    """
    require(frame, CHECK_INPUTS, "check_outcomes")
    present = set(columns_of(frame))
    needed = [*keep, *CHECK_INPUTS, *(c for c in EXTRA_INPUTS if extra and c in present)]
    frame = frame.select(*dict.fromkeys(needed))
    completed = (nw.col("status") == "completed").fill_null(False)
    known = nw.any_horizontal(*(~rule.is_null() for rule in RULES.values()), ignore_nulls=True)
    frame = frame.with_columns((completed & known).alias(ANALYSED))
    checks = {c: nw.when(nw.col(ANALYSED)).then(rule) for c, rule in RULES.items()}
    # Kleene OR: one failure flags, unknowns alone do not (all unknown when not analysed).
    flagged = reduce(operator.or_, (~check for check in checks.values()))
    return frame.select(
        *dict.fromkeys(keep), nw.col(ANALYSED), **checks, flagged=flagged, **(extra or {})
    )


def with_wilson(
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
    k = floats(successes)
    m = floats(n)
    if np.any(m < 0) or np.any(k < 0) or np.any(k > m):
        raise ValidationError("need 0 <= successes <= n", param="successes")
    counts = pd.DataFrame({"k": pd.array(k, dtype="Float64"), "n": pd.array(m, dtype="Float64")})
    frame = with_wilson(nw.from_native(counts, eager_only=True), {"w": ("k", "n")}, z)
    bounds = frame.to_native()
    low_, high_ = (bounds[f"w_ci_{c}"].astype("Float64") for c in ("low", "high"))
    if series is None:
        return floats(low_)[0], floats(high_)[0]
    return low_.set_axis(series.index), high_.set_axis(series.index)


def floats(values: Any) -> np.ndarray[Any, np.dtype[np.floating[Any]]]:
    """Counts (scalar or Series, NA allowed) as a float array with NaN for NA."""
    return pd.Series(values).astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def ratio(numerator: nw.Expr, denominator: nw.Expr) -> nw.Expr:
    """``numerator / denominator`` as a float, null where the denominator is 0."""
    den = nw.when(denominator > 0).then(denominator.cast(nw.Float64))
    return numerator.cast(nw.Float64) / den


def count_true(mask: nw.Expr) -> nw.Expr:
    """A boolean (maybe null) expression as 0/1, null counting as 0."""
    return mask.fill_null(False).cast(nw.Int64)


def sentiment_rank(name: str) -> nw.Expr:
    """negative/neutral/positive as 0/1/2; anything else null."""
    c = nw.col(name)
    rank = count_true(c == "neutral") + 2 * count_true(c == "positive")
    return nw.when(c.is_in(SENTIMENTS).fill_null(False)).then(rank)


def shift() -> nw.Expr:
    """Customer sentiment end minus start in steps (-2..2); null if unknown or not analysed."""
    shift = sentiment_rank("sentiment_customer_end") - sentiment_rank("sentiment_customer_start")
    return nw.when(nw.col(ANALYSED)).then(shift)


def effort() -> nw.Expr:
    """Customer effort score; null if not analysed or outside the documented 0..5."""
    score = nw.col("customer_effort_score").cast(nw.Int64)
    valid = nw.col(ANALYSED) & score.is_in(EFFORT_SCORES).fill_null(False)
    return nw.when(valid).then(score)


def shift_facts() -> dict[str, nw.Expr]:
    shift = nw.col("_shift")
    return {
        "shift_n": count_true(~shift.is_null()),
        "improved": count_true(shift > 0),
        "same": count_true(shift == 0),
        "worsened": count_true(shift < 0),
    }


def grouped(frame: Frame, keys: list[str], facts: Mapping[str, nw.Expr]) -> Frame:
    """Per group of ``keys`` (a null key is a group too): ``calls`` and the sums of ``facts``."""
    sums = frame.select(*keys, **facts)
    return sums.group_by(keys, drop_null_keys=False).agg(
        nw.len().alias("calls"), nw.col(*facts).sum()
    )


EFFORT_SCORES: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
