"""`plot_quota` and `quota_summary`: a load's rate-limit readings, window by window and per day."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._http.ratelimit import QuotaReading, daily_quota_for
from .style import OKABE_ITO, figure, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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
    with style():
        fig = figure(10, 7.5)
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
