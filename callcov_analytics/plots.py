"""Matplotlib figures: quota use over time, calls per day, compliance pass rates, sentiment mix.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global figure
registry, nothing shown, safe under the Agg backend and in threads). In a notebook, run
``%matplotlib inline`` once and leave the figure as a cell's last expression; elsewhere call
``fig.savefig("quota.png")``. matplotlib is imported inside the functions, so
``import callcov_analytics`` works without it.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies),
and every series also differs by marker or hatch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ._errors import ValidationError
from ._figures.quota_plot import plot_quota, quota_summary
from ._figures.style import (
    CHECK_STYLE,
    OKABE_ITO,
    SENTIMENT_STYLE,
    SHIFT_STYLE,
    STATUS_STYLE,
    figure,
    style,
)
from .metrics import CHECKS, agent_scorecard, sentiment_shift, volume

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "OKABE_ITO",
    "date_range",
    "plot_compliance",
    "plot_quota",
    "plot_sentiment",
    "plot_volume",
    "quota_summary",
]


# -- calls per day ------------------------------------------------------------------------------


def date_range(span: tuple[pd.Timestamp, pd.Timestamp] | pd.Series | None, tz: str = "UTC") -> str:
    """The dates a chart covers, in ``tz``, for its title: "3 Nov to 28 Nov 2026 (UTC)"."""
    if isinstance(span, pd.Series):
        span = (span.min(), span.max()) if span.notna().any() else None
    if span is None:
        return ""
    first, last = (pd.Timestamp(t).tz_convert(tz) for t in span)
    if first.date() == last.date():
        return f"{last:%-d %b %Y} ({tz})"
    start = f"{first:%-d %b}" if first.year == last.year else f"{first:%-d %b %Y}"
    return f"{start} to {last:%-d %b %Y} ({tz})"


def _titled(heading: str, dates: str, extra: str = "") -> str:
    return heading + (f", {dates}" if dates else "") + (f" ({extra})" if extra else "")


def plot_volume(
    df: pd.DataFrame, *, freq: str = "D", title: str | None = None, tz: str | None = None
) -> Figure:
    """Calls per day (or ``freq`` period) stacked by status, from `metrics.volume`.

    Days are the ``tz`` zone's (default: the frame's ``attrs["tz"]``, else UTC), named on the
    axis.

    Example::

        plot_volume(load_calls()).savefig("volume.png")
    """
    table = volume(df, freq=freq, tz=tz)
    zone = str(table["period"].dt.tz)
    unit = {"D": "day", "W": "week", "M": "month", "MS": "month"}.get(freq, freq)
    with style():
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        fig = figure(10, 4.5)
        ax = fig.add_subplot()
        if table.empty:
            ax.text(0.5, 0.5, "no calls", ha="center", va="center", transform=ax.transAxes)
        else:
            when = table["period"].dt.tz_localize(None).dt.to_pydatetime()  # wall clock
            width = {"D": 0.8, "W": 5.6}.get(freq, 20.0)
            bottom = [0] * len(table)
            for status, (colour, hatch) in STATUS_STYLE.items():
                values = table[status].fillna(0).astype(int).tolist()
                ax.bar(
                    when,
                    values,
                    bottom=bottom,
                    width=width,
                    color=colour,
                    hatch=hatch,
                    edgecolor="white",
                    linewidth=0.5,
                    label=status,
                )
                bottom = [a + b for a, b in zip(bottom, values, strict=True)]
            locator = AutoDateLocator()  # type: ignore[no-untyped-call]  # untyped in stubs
            ax.xaxis.set_major_locator(locator)
            formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]  # same
            ax.xaxis.set_major_formatter(formatter)
            ax.legend(title="status", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_xlabel(f"{unit.capitalize()} ({zone})")
        ax.set_ylabel(f"Calls per {unit}")
        ax.grid(axis="y", alpha=0.3)
        total = int(table["calls"].sum()) if not table.empty else 0
        dates = date_range(df["created"], zone) if "created" in df else ""
        ax.set_title(title or _titled(f"Calls per {unit} by status", dates, f"{total:,} calls"))
    return fig


# -- compliance ---------------------------------------------------------------------------------


def plot_compliance(
    scorecard: pd.DataFrame, *, checks: Sequence[str] = CHECKS, title: str | None = None
) -> Figure:
    """Pass rate per agent and compliance check, with its 95% Wilson interval.

    Args:
        scorecard: `metrics.agent_scorecard(df, detail=True)` (or
            ``df.callcov.agent_scorecard(detail=True)``), all-time: one row per agent.
        checks: which checks to draw (default all five).

    Example::

        plot_compliance(load_calls().callcov.agent_scorecard(detail=True)).savefig("compliance.png")
    """
    if "ranked" not in scorecard.columns:
        raise ValidationError(
            "plot_compliance() draws the full scorecard: pass agent_scorecard(df, detail=True)"
        )
    if "period" in scorecard.columns:
        raise ValidationError(
            "plot_compliance() draws one row per agent; pass "
            "agent_scorecard(df, detail=True) without period=, or filter one period first"
        )
    if scorecard["agent_id"].duplicated().any():
        raise ValidationError("plot_compliance() needs one scorecard row per agent")
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ValidationError(f"unknown checks {unknown}; choose from {list(CHECKS)}")
    n_agents = len(scorecard)
    with style():
        fig = figure(10, max(3.5, 0.55 * n_agents + 1.8))
        ax = fig.add_subplot()
        labels = [
            f"{agent} (n={int(n) if pd.notna(n) else 0})"
            for agent, n in zip(scorecard["agent_id"], scorecard["analysed_calls"], strict=True)
        ]
        step = 0.7 / max(len(checks), 1)
        lows: list[float] = []
        tiny = ~scorecard["ranked"].fillna(False).to_numpy(dtype=bool)
        hollow = False
        for i, check in enumerate(checks):
            colour, marker = CHECK_STYLE[check]
            rate = scorecard[f"{check}_pass_rate"].astype("Float64")
            low = scorecard[f"{check}_ci_low"].astype("Float64")
            high = scorecard[f"{check}_ci_high"].astype("Float64")
            ys = pd.Series(
                [pos + (i - (len(checks) - 1) / 2) * step for pos in range(n_agents)],
                index=scorecard.index,
            )
            known = rate.notna().to_numpy(dtype=bool)
            for few in (False, True):
                # Too few calls to rank: a hollow marker on a thin dotted whisker, so a
                # 0-100% interval reads as "no evidence yet", not as a result.
                ok = known & (tiny == few)
                err = [
                    (rate[ok] - low[ok]).astype(float).to_numpy() * 100,
                    (high[ok] - rate[ok]).astype(float).to_numpy() * 100,
                ]
                bars = ax.errorbar(
                    (rate[ok] * 100).astype(float).to_numpy(),
                    ys[ok].to_numpy(),
                    xerr=err,
                    fmt=marker,
                    color=colour,
                    markerfacecolor="white" if few else colour,
                    markersize=6,
                    elinewidth=0.8 if few else 1.5,
                    capsize=2,
                    alpha=0.6 if few else 1.0,
                    label="_" if few else check.replace("_", " "),
                )
                if few:
                    bars[-1][0].set_linestyle(":")
                    hollow = hollow or bool(ok.any())
                else:
                    lows.extend((low[ok] * 100).astype(float).tolist())
        for pos in range(0, n_agents, 2):  # banding keeps each agent's markers together
            ax.axhspan(pos - 0.5, pos + 0.5, color="#F2F2F2", zorder=0, linewidth=0)
        ax.set_yticks(range(n_agents), labels)
        ax.set_ylim(n_agents - 0.5, -0.5)
        left = max(0.0, math.floor((min(lows, default=0.0) - 2) / 10) * 10)
        ax.set_xlim(left, 101)
        note = "; hollow, dotted: too few calls to rank" if hollow else ""
        ax.set_xlabel(f"Pass rate (%); whiskers: 95% Wilson confidence interval{note}")
        ax.set_ylabel("Agent (analysed calls)")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(title="check", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        dates = date_range(scorecard.attrs.get("created"))
        ax.set_title(title or _titled("Compliance pass rate per agent and check", dates))
    return fig


# -- sentiment ----------------------------------------------------------------------------------


def plot_sentiment(df: pd.DataFrame, *, by: str = "agent_id", title: str | None = None) -> Figure:
    """Sentiment mix per agent: overall call sentiment, and how the customer's mood moved.

    Left: shares of negative / neutral / positive calls (analysed calls only). Right: the
    customer's sentiment from the start to the end of the call (worsened / same / improved),
    from `metrics.sentiment_shift`. The top row is all agents together.

    Example::

        plot_sentiment(load_calls()).savefig("sentiment.png")
    """
    card = agent_scorecard(df, min_calls=1, detail=True)
    if by != "agent_id":
        raise ValidationError("plot_sentiment() groups by agent_id")
    shift = sentiment_shift(df, by=by).set_index(by).reindex(card[by])
    overall_counts = card[[f"sentiment_{s}" for s in SENTIMENT_STYLE]].astype("Int64")
    shift_counts = shift[list(SHIFT_STYLE)].astype("Int64").reset_index(drop=True)
    sizes = card["sentiment_n"].fillna(0).astype(int).tolist()
    names = [
        f"All agents (n={sum(sizes):,})",
        *(f"{a} (n={n:,})" for a, n in zip(card[by].astype(str), sizes, strict=True)),
    ]
    n_rows = len(names)
    with style():
        fig = figure(11, max(3.5, 0.45 * n_rows + 2.0))
        left, right = fig.subplots(1, 2, sharey=True)
        for ax, counts, styles, heading in (
            (left, overall_counts, SENTIMENT_STYLE, "Overall call sentiment"),
            (right, shift_counts, SHIFT_STYLE, "Customer sentiment, start → end of call"),
        ):
            table = pd.concat([counts.sum().to_frame().T, counts], ignore_index=True)
            table = table.fillna(0).astype(float)
            totals = table.sum(axis=1).replace(0, float("nan"))
            shares = table.div(totals, axis=0).fillna(0.0) * 100
            start = [0.0] * n_rows
            for column, (name, (colour, hatch)) in zip(shares.columns, styles.items(), strict=True):
                values = shares[column].tolist()
                ax.barh(
                    range(n_rows),
                    values,
                    left=start,
                    color=colour,
                    hatch=hatch,
                    edgecolor="white",
                    linewidth=0.5,
                    height=0.7,
                    label=name,
                )
                start = [a + b for a, b in zip(start, values, strict=True)]
            ax.set_xlim(0, 100)
            ax.set_xlabel("Share of analysed calls (%)")
            ax.set_title(heading)
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=3, frameon=False)
        left.set_yticks(range(n_rows), names)
        left.get_yticklabels()[0].set_fontweight("bold")
        left.invert_yaxis()
        left.set_ylabel("Agent")
        fig.suptitle(title or _titled("Sentiment mix per agent", date_range(df["created"])))
    return fig
