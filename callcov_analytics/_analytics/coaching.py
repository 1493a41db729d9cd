"""The scorecard's answer-first view: who needs coaching, on which check, by how much.

Built with Narwhals from the full scorecard's per-agent sums, so it runs on every engine and
gives the same figures on each (percentages are rounded half up by arithmetic every engine
does alike, not by each engine's own rounding rule).
"""

from __future__ import annotations

import narwhals as nw

from callcov_analytics._analytics.engines import Frame
from callcov_analytics._analytics.outcomes import CHECKS, ratio

# Short columns first, so rank and the weakest check's figures fit a notebook's width; the
# list of every check below the team (up to five names) comes last.
COACHING_COLUMNS: dict[str, str] = {
    "rank": "Int64",
    "calls": "Int64",
    "needs_coaching": "boolean",
    "weakest_check": "string",
    "pass_pct": "Float64",
    "ci_low_pct": "Float64",
    "ci_high_pct": "Float64",
    "team_pct": "Float64",
    "flagged_pct": "Float64",
    "below_team": "string",
}
_NONE = -2.0  # a margin below any real one (margins lie in [-1, 1]): the check has no data


def pct(share: nw.Expr) -> nw.Expr:
    """A share 0..1 as a percentage with one decimal, halves rounded up (null stays null)."""
    return ((share * 1000) + 0.5).floor() / 10


def coaching_view(card: Frame, *, by_period: bool) -> Frame:
    """The full scorecard's rows with `COACHING_COLUMNS` beside its keys and ``ranked``.

    For each check, the team's pass rate pools every agent's calls (in the period); an
    agent's margin on a check is the team's rate minus the upper bound of the agent's 95%
    interval: above 0, the agent is credibly below the team there. The weakest check has the
    widest margin (first in the checks' order on a tie); a ranked agent needs coaching when
    that margin is above 0; ``below_team`` names every check where it is.
    """
    window = "period" if by_period else "_all"
    frame = card if by_period else card.with_columns(nw.lit(1).alias(window))
    frame = frame.with_columns(
        **{
            f"_team_{c}": ratio(
                nw.col(f"{c}_passed").sum().over(window), nw.col(f"{c}_n").sum().over(window)
            )
            for c in CHECKS
        }
    )
    margins = {c: nw.col(f"_team_{c}") - nw.col(f"{c}_ci_high") for c in CHECKS}
    frame = frame.with_columns(**{f"_margin_{c}": m.fill_null(_NONE) for c, m in margins.items()})
    frame = frame.with_columns(
        nw.max_horizontal(*(nw.col(f"_margin_{c}") for c in CHECKS)).alias("_widest")
    )

    def of_weakest(column: str) -> nw.Expr:
        """``column`` (with {c} for the check) of the weakest check; null without data."""
        picked: nw.Expr = nw.lit(None)
        for c in reversed(CHECKS):  # the first check in order wins a tie
            is_it = (nw.col(f"_margin_{c}") == nw.col("_widest")) & (nw.col("_widest") > _NONE)
            picked = nw.when(is_it).then(_value(column, c)).otherwise(picked)
        return picked

    below = [nw.when(nw.col(f"_margin_{c}") > 0).then(nw.lit(c)) for c in CHECKS]
    needs = (nw.col("ranked") & (nw.col("_widest") > 0)).fill_null(False)
    return frame.with_columns(
        needs_coaching=needs,
        weakest_check=of_weakest("check").cast(nw.String),
        pass_pct=pct(of_weakest("{c}_pass_rate")),
        ci_low_pct=pct(of_weakest("{c}_ci_low")),
        ci_high_pct=pct(of_weakest("{c}_ci_high")),
        team_pct=pct(of_weakest("_team_{c}")),
        below_team=nw.when(needs).then(nw.concat_str(below, separator=", ", ignore_nulls=True)),
        flagged_pct=pct(nw.col("flagged_share")),
    )


def _value(column: str, check: str) -> nw.Expr:
    """The check's name (``column == "check"``) or its column named by ``column``."""
    return nw.lit(check) if column == "check" else nw.col(column.format(c=check))


def coaching_first(keys: list[str]) -> tuple[list[str], list[bool]]:
    """The sort: period, those who need coaching, worst rank first (unranked last), agent."""
    order = [k for k in keys if k == "period"] + ["needs_coaching", "rank", "agent_id"]
    return order, [False] * (len(order) - 3) + [True, True, False]
