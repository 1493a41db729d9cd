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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._errors import ValidationError, optional_module
from ._ratelimit import QuotaReading, daily_quota_for
from .metrics import CHECKS, agent_scorecard, sentiment_shift, volume

if TYPE_CHECKING:
    from matplotlib.axes import Axes
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

OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}
STATUS_STYLE: dict[str, tuple[str, str]] = {  # status -> (colour, hatch)
    "completed": (OKABE_ITO["bluish_green"], ""),
    "processing": (OKABE_ITO["sky_blue"], "//"),
    "failed": (OKABE_ITO["vermillion"], "xx"),
}
CHECK_STYLE: dict[str, tuple[str, str]] = {  # check -> (colour, marker)
    "identity_verification": (OKABE_ITO["blue"], "o"),
    "mandatory_disclosures": (OKABE_ITO["orange"], "s"),
    "purpose_declaration": (OKABE_ITO["bluish_green"], "D"),
    "prohibited_phrases": (OKABE_ITO["reddish_purple"], "^"),
    "sensitive_data": (OKABE_ITO["vermillion"], "v"),
}
SENTIMENT_STYLE: dict[str, tuple[str, str]] = {
    "negative": (OKABE_ITO["vermillion"], "xx"),
    "neutral": ("#CCCCCC", ""),
    "positive": (OKABE_ITO["bluish_green"], "//"),
}
SHIFT_STYLE: dict[str, tuple[str, str]] = {
    "worsened": (OKABE_ITO["vermillion"], "xx"),
    "same": ("#CCCCCC", ""),
    "improved": (OKABE_ITO["blue"], "//"),
}
_RC: Any = {  # Any: matplotlib's stubs type the keys as a Literal of every rc name
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 120,
}


@contextmanager
def _style() -> Iterator[None]:
    """Readable defaults for the figures built inside (matplotlib imported lazily)."""
    matplotlib = optional_module("matplotlib", "plot")
    with matplotlib.rc_context(_RC):
        yield


def _figure(width: float, height: float, **kwargs: Any) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", **kwargs)


# -- quota --------------------------------------------------------------------------------------


def _as_dicts(readings: Iterable[QuotaReading | Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in readings:
        if is_dataclass(r) and not isinstance(r, type):
            rows.append(asdict(r))
        elif isinstance(r, Mapping):
            rows.append(dict(r))
        else:
            raise ValidationError(
                f"plot_quota() takes QuotaReading objects or their dicts "
                f"(df.attrs['quota']), not {type(r).__name__}"
            )
    return rows


def quota_summary(
    readings: Iterable[QuotaReading | Mapping[str, Any]], daily_quota: int | None = None
) -> dict[str, Any]:
    """The numbers behind `plot_quota`: requests, windows, 429s, waiting, daily share."""
    rows = _as_dicts(readings)
    limits = [r["limit"] for r in rows if r.get("limit") is not None]
    limit = limits[-1] if limits else None
    quota = daily_quota if daily_quota is not None else daily_quota_for(limit)
    windows = {round(r["reset"]) for r in rows if r.get("reset") is not None}
    start = min((r["at"] - (r.get("waited") or 0.0) for r in rows), default=0.0)
    end = max((r["at"] for r in rows), default=0.0)
    return {
        "requests": len(rows),
        "throttled": sum(r.get("status") == 429 for r in rows),
        "windows": len(windows),
        "limit": limit,
        "waited": sum(r.get("waited") or 0.0 for r in rows),
        "seconds": end - start,
        "daily_quota": quota,
        "daily_share": None if not quota else len(rows) / quota,
    }


def plot_quota(
    readings: Iterable[QuotaReading | Mapping[str, Any]],
    *,
    daily_quota: int | None = None,
    title: str | None = None,
) -> Figure:
    """Quota consumption over a load: remaining per window, waits, 429s, daily use.

    Args:
        readings: ``df.attrs["quota"]`` (dicts) or `QuotaReading` objects, one per response.
        daily_quota: requests per day of the plan; default from the window limit of the
            documented plans (10 → 1,000, 60 → 10,000, 300 → 100,000).
        title: overrides the summary title.

    Three panels: requests remaining in the rate-limit window after each response (dotted lines
    are window resets, grey bands the time spent waiting, red crosses 429 answers), requests
    sent over time, and the share of the daily quota the requests used.

    Example::

        df = load_calls()
        plot_quota(df.attrs["quota"]).savefig("quota.png")
    """
    rows = _as_dicts(readings)
    summary = quota_summary(rows, daily_quota)
    with _style():
        fig = _figure(10, 7.5)
        grid = fig.add_gridspec(3, 1, height_ratios=[3.2, 2.2, 0.9])
        ax_window = fig.add_subplot(grid[0])
        ax_sent = fig.add_subplot(grid[1], sharex=ax_window)
        ax_day = fig.add_subplot(grid[2])
        if rows:
            t0 = min(r["at"] - (r.get("waited") or 0.0) for r in rows)
            _draw_window_panel(ax_window, rows, t0, summary["limit"])
            _draw_sent_panel(ax_sent, rows, t0)
        else:
            for ax in (ax_window, ax_sent):
                ax.text(
                    0.5,
                    0.5,
                    "no responses recorded",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color=OKABE_ITO["grey"],
                )
        ax_window.set_title("Requests remaining in the rate-limit window")
        ax_window.set_ylabel("Remaining (requests)")
        ax_sent.set_title("Requests sent")
        ax_sent.set_ylabel("Requests (cumulative)")
        ax_sent.set_xlabel("Time since the load started (s)")
        ax_window.tick_params(labelbottom=False)
        _draw_daily_panel(ax_day, summary)
        fig.suptitle(title or _quota_title(summary))
    return fig


def _quota_title(s: Mapping[str, Any]) -> str:
    waits = f", {s['waited']:.1f} s waiting" if s["waited"] else ""
    windows = f"{s['windows']} window{'s' if s['windows'] != 1 else ''}"
    throttled = f", {s['throttled']} rate-limited (429)" if s["throttled"] else ", no 429s"
    return (
        f"CallCov quota use: {s['requests']} requests over {windows} in "
        f"{s['seconds']:.1f} s{waits}{throttled}"
    )


def _draw_window_panel(
    ax: Axes, rows: Sequence[Mapping[str, Any]], t0: float, limit: int | None
) -> None:
    from matplotlib.ticker import MaxNLocator

    blue, red, grey = OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["grey"]
    by_window: dict[float | None, list[tuple[float, int]]] = {}
    throttled: list[float] = []
    resets: dict[float, float] = {}  # window (server reset) -> its end on the local clock
    for r in rows:
        t = r["at"] - t0
        key = None if r.get("reset") is None else round(r["reset"])
        if r.get("status") == 429:
            throttled.append(t)
        elif r.get("remaining") is not None:
            by_window.setdefault(key, []).append((t, r["remaining"]))
        if key is not None and r.get("reset_local") is not None:
            resets[key] = r["reset_local"] - t0  # the latest estimate is the best one
    top = (
        limit
        if limit is not None
        else max((y for p in by_window.values() for _, y in p), default=1)
    )
    end = max(r["at"] for r in rows) - t0
    labelled = False
    for number, points in enumerate(by_window.values(), start=1):
        xs, ys = zip(*points, strict=True)
        ax.plot(
            xs,
            ys,
            drawstyle="steps-post",
            color=blue,
            marker="o",
            markersize=5,
            linewidth=2,
            label=None if labelled else "remaining after each response",
        )
        near_end = end > 0 and xs[0] > 0.85 * end  # keep the label inside the axes
        ax.text(
            xs[-1] if near_end else xs[0],
            top * 1.07 + 0.3,
            f"window {number}",
            fontsize=9,
            color=blue,
            ha="right" if near_end else "left",
        )
        labelled = True
    if throttled:
        ax.plot(
            throttled,
            [0] * len(throttled),
            linestyle="none",
            marker="X",
            markersize=10,
            color=red,
            label="429 rate limited",
        )
    waits = [(r["at"] - t0 - r["waited"], r["at"] - t0) for r in rows if r.get("waited")]
    for i, (a, b) in enumerate(waits):
        ax.axvspan(
            a,
            b,
            color=grey,
            alpha=0.25,
            linewidth=0,
            label="waiting for the window to reset" if i == 0 else None,
        )
    for i, x in enumerate(sorted(x for x in resets.values() if x <= end + 0.5)):
        ax.axvline(
            x,
            color=OKABE_ITO["black"],
            linestyle=":",
            linewidth=1,
            label="window reset" if i == 0 else None,
        )
    if limit is not None:
        ax.axhline(
            limit,
            color=OKABE_ITO["orange"],
            linestyle="--",
            linewidth=1.5,
            label=f"limit: {limit} requests per window",
        )
    ax.set_ylim(-0.6, top * 1.2 + 0.8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _draw_sent_panel(ax: Axes, rows: Sequence[Mapping[str, Any]], t0: float) -> None:
    from matplotlib.ticker import MaxNLocator

    times = [r["at"] - t0 for r in rows]
    counts = list(range(1, len(rows) + 1))
    ax.plot(
        times,
        counts,
        drawstyle="steps-post",
        color=OKABE_ITO["blue"],
        linewidth=2,
        label="all responses",
    )
    bad = [(t, c) for t, c, r in zip(times, counts, rows, strict=True) if r.get("status") == 429]
    if bad:
        xs, ys = zip(*bad, strict=True)
        ax.plot(
            xs,
            ys,
            linestyle="none",
            marker="X",
            markersize=9,
            color=OKABE_ITO["vermillion"],
            label="429 (counted, no data)",
        )
    for i, r in enumerate(x for x in rows if x.get("waited")):
        ax.axvspan(
            r["at"] - t0 - r["waited"],
            r["at"] - t0,
            color=OKABE_ITO["grey"],
            alpha=0.25,
            linewidth=0,
            label="waiting" if i == 0 else None,
        )
    ax.set_ylim(0, len(rows) * 1.1 + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _draw_daily_panel(ax: Axes, s: Mapping[str, Any]) -> None:
    quota, used = s["daily_quota"], s["requests"]
    ax.set_title("Daily quota used by these requests")
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    if not quota:
        limit = s["limit"]
        ax.set_xticks([])
        ax.spines["bottom"].set_visible(False)
        ax.text(
            0.0,
            0.5,
            f"{used:,} requests; daily quota unknown for a limit of "
            f"{limit if limit is not None else '?'} per window (pass daily_quota=)",
            va="center",
            transform=ax.transAxes,
        )
        return
    share = 100.0 * used / quota
    ax.barh([0], [100], color="#EEEEEE", height=0.6)
    ax.barh([0], [min(share, 100.0)], color=OKABE_ITO["blue"], height=0.6)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Share of the plan's daily quota (%)")
    inside = share >= 60  # a long bar has room for the label inside it
    ax.text(
        min(share, 100.0) + (-1 if inside else 1),
        0,
        f"{used:,} of {quota:,} requests per day ({share:.1f}%)",
        va="center",
        ha="right" if inside else "left",
        color="white" if inside else "black",
    )


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
    with _style():
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        fig = _figure(10, 4.5)
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
        scorecard: `metrics.agent_scorecard(df)` (or ``df.callcov.agent_scorecard()``), all-time:
            one row per agent.
        checks: which checks to draw (default all five).

    Example::

        plot_compliance(load_calls().callcov.agent_scorecard()).savefig("compliance.png")
    """
    if "period" in scorecard.columns:
        raise ValidationError(
            "plot_compliance() draws one row per agent; pass "
            "agent_scorecard(df) without period=, or filter one period first"
        )
    if scorecard["agent_id"].duplicated().any():
        raise ValidationError("plot_compliance() needs one scorecard row per agent")
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ValidationError(f"unknown checks {unknown}; choose from {list(CHECKS)}")
    n_agents = len(scorecard)
    with _style():
        fig = _figure(10, max(3.5, 0.55 * n_agents + 1.8))
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
    card = agent_scorecard(df, min_calls=1)
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
    with _style():
        fig = _figure(11, max(3.5, 0.45 * n_rows + 2.0))
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
