"""Interactive charts (Vega-Altair) beside the matplotlib figures of `plots`: hover for the
agent, the number of calls and the interval. Optional: ``pip install 'callcov-analytics[charts]'``.

The reports use the matplotlib figures (a PNG opens anywhere); these are for exploring in a
notebook, where a chart is displayed by being a cell's last expression. Altair's default
renderer loads its JavaScript from a CDN; offline, ``altair.renderers.enable("mimetype")``
lets JupyterLab draw the chart itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ._errors import ValidationError, optional_module
from ._figures.style import CHECK_STYLE
from .metrics import CHECKS
from .plots import date_range

__all__ = ["compliance_chart"]


def _altair() -> Any:
    return optional_module("altair", "charts")


def compliance_chart(scorecard: pd.DataFrame, *, checks: Sequence[str] = CHECKS) -> Any:
    """Pass rate per agent and check with its 95% interval; the tooltip names the agent, the
    calls behind the rate and the interval. Agents with too few calls to rank are hollow.

    Args:
        scorecard: `metrics.agent_scorecard(df, detail=True)` without a period (one row per agent).
        checks: which checks to draw (default all five).

    Example::

        compliance_chart(df.callcov.agent_scorecard(detail=True))   # the cell's last line
    """
    alt = _altair()
    unknown = [c for c in checks if c not in CHECKS]
    if "ranked" not in scorecard.columns:
        raise ValidationError(
            "compliance_chart draws the full scorecard: pass agent_scorecard(df, detail=True)"
        )
    if unknown or "period" in scorecard.columns:
        raise ValidationError(
            f"compliance_chart needs an all-time scorecard and known checks (got {unknown})"
        )
    rows = []
    for check in checks:
        part = pd.DataFrame(
            {
                "agent": scorecard["agent_id"].astype(str),
                "check": check.replace("_", " "),
                "calls": scorecard[f"{check}_n"].astype("Int64"),
                "pass rate": scorecard[f"{check}_pass_rate"].astype(float),
                "low": scorecard[f"{check}_ci_low"].astype(float),
                "high": scorecard[f"{check}_ci_high"].astype(float),
                "ranked": scorecard["ranked"].fillna(False).astype(bool),
            }
        )
        rows.append(part.dropna(subset=["pass rate"]))
    data = pd.concat(rows, ignore_index=True)
    data["interval"] = [
        f"{lo:.0%} to {hi:.0%}" for lo, hi in zip(data["low"], data["high"], strict=True)
    ]
    colours = alt.Scale(
        domain=[c.replace("_", " ") for c in checks], range=[CHECK_STYLE[c][0] for c in checks]
    )
    base = alt.Chart(data).encode(
        y=alt.Y("agent:N", title="Agent"),
        yOffset=alt.YOffset("check:N"),
        color=alt.Color("check:N", scale=colours, title="check"),
        tooltip=[
            alt.Tooltip("agent:N"),
            alt.Tooltip("check:N"),
            alt.Tooltip("calls:Q", title="n (calls)"),
            alt.Tooltip("pass rate:Q", format=".0%"),
            alt.Tooltip("interval:N", title="95% interval"),
        ],
    )
    whiskers = base.mark_rule().encode(
        x=alt.X("low:Q", axis=alt.Axis(format="%"), title="Pass rate, 95% Wilson interval"),
        x2="high:Q",
        strokeDash=alt.condition("datum.ranked", alt.value([1, 0]), alt.value([2, 2])),
    )
    points = base.mark_point(size=60).encode(
        x="pass rate:Q",
        fill=alt.condition("datum.ranked", "check:N", alt.value("white"), scale=colours),
    )
    dates = date_range(scorecard.attrs.get("created"))
    title = "Compliance pass rate per agent and check" + (f", {dates}" if dates else "")
    return (whiskers + points).properties(title=title, width=520)
