"""The workbook's first sheet: what the report covers and its headline figures, in words."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import metrics
from .labels import LABELS, MEASURES, interval_text

if TYPE_CHECKING:
    from .xlsx import Book

__all__ = ["headlines", "team_rates"]

_COACH = 3  # agents named as most in need of coaching
# The merged text cells (B:G) are 83 character widths wide: 80 characters leaves room for
# wider letters and LibreOffice's substitute fonts. Calibri 11 needs 15 points a line.
_LINE_CHARS, _LINE_POINTS = 80, 15


def team_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Per measure (index: the five checks, then flagged): hits, n, rate, low, high."""
    outcomes = metrics.check_outcomes(df)
    rows = {}
    for m in MEASURES:
        known = outcomes[m].dropna()
        hits, n = int(known.sum()), len(known)
        low, high = metrics.wilson_interval(hits, n)
        rows[m] = {"hits": hits, "n": n, "rate": hits / n if n else float("nan"),
                   "low": low, "high": high}  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index").astype({"hits": "int64", "n": "int64"})


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def headlines(
    df: pd.DataFrame,
    scorecard: pd.DataFrame,
    exceptions: pd.DataFrame,
    team: pd.DataFrame,
    min_calls: int,
) -> list[str]:
    """The headline figures as sentences a manager can read aloud."""
    calls = len(df)
    # Analysed = has results (check_outcomes' own count), not "flagged is known": a call whose
    # one unreported check leaves its flag unknown was still analysed.
    analysed = int(metrics.check_outcomes(df)["analysed"].sum())
    lines = [
        f"{_n(calls, 'call')}, of which {analysed:,} analysed"
        + (f" ({analysed / calls:.0%})" if calls else "")
        + f"; {calls - analysed:,} have no results yet (still processing, failed, or not "
        "scored) and never count as failures."
    ]
    for m in metrics.CHECKS:
        row = team.loc[m]
        if row["n"]:
            lines.append(
                f"{LABELS[m]}: passed on {interval_text(row['rate'], row['low'], row['high'])} "
                f"of {int(row['n']):,} analysed calls."
            )
    flagged = team.loc["flagged"]
    if flagged["n"]:
        lines.append(
            f"Flagged (at least one check failed): "
            f"{interval_text(flagged['rate'], flagged['low'], flagged['high'])} of calls."
        )
    ranked = scorecard[scorecard["ranked"].fillna(False).astype(bool)]
    if len(ranked):
        # Lowest rank first; among ties, the surest failure rate (highest lower bound).
        worst = ranked.sort_values(
            ["rank", "flagged_ci_low", "agent_id"], ascending=[False, False, True]
        ).head(_COACH)
        names = "; ".join(
            f"{a.agent_id} (flagged on "
            f"{interval_text(a.flagged_share, a.flagged_ci_low, a.flagged_ci_high)} of "
            f"{a.analysed_calls:,} calls)"
            for a in worst.itertuples()
        )
        lines.append(
            f"Most in need of coaching (lowest ranked of {_n(len(ranked), 'agent')}): {names}."
        )
    else:
        lines.append(f"No agent has {min_calls} analysed calls yet, so none is ranked.")
    unranked = len(scorecard) - len(ranked)
    if unranked:
        lines.append(
            f"{_n(unranked, 'agent')} with fewer than {min_calls} analysed calls "
            f"{'is' if unranked == 1 else 'are'} shown in grey and not ranked."
        )
    review = exceptions["id"].nunique()
    lines.append(
        f"{_n(len(exceptions), 'exception')} on {_n(review, 'call')} await review: "
        "newest first on the Exceptions sheet, each with the second in the call and a link "
        "to the audio."
        if len(exceptions)
        else "No exceptions await review."
    )
    return lines


_GUIDE = (
    ("Agents", "one row per agent: pass rate per check with its 95% interval, rank"),
    ("Exceptions", "the review queue: one row per failed check, with a link to the audio"),
    ("Daily volume", "calls per day by status and talk time, with a chart"),
    ("Agent detail", "the full scorecard: counts, intervals, sentiment, effort (screen only)"),
    ("Calls", "every call as loaded, one row each (screen only)"),
)
_READING = (
    "46% (42–51%) reads: 46% of the analysed calls passed, and the true rate most likely lies "
    "between 42% and 51% (a 95% Wilson interval). Few calls give a wide interval: compare "
    "intervals, not bare percentages."
)


def write_summary(
    book: Book,
    df: pd.DataFrame,
    scorecard: pd.DataFrame,
    exceptions: pd.DataFrame,
    team: pd.DataFrame,
    facts: Mapping[str, str],
    min_calls: int,
    charts: bool,
) -> None:
    """The Summary sheet: facts, headlines, how to read it, the sheets, a pass-rate chart."""
    ws: Any = book.wb.add_worksheet("Summary")
    f = book.f
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 28)
    ws.set_column(2, 6, 11)

    def text(row: int, value: str, fmt: Any) -> None:
        ws.merge_range(row, 1, row, 6, "", fmt)  # merged empty, then written as text
        ws.write_string(row, 1, value, fmt)
        # No application grows a merged cell's row: its height comes from the lines the text
        # wraps to, counted at fewer characters than fit, so a row is never too short.
        lines = len(textwrap.wrap(value, _LINE_CHARS)) or 1
        if lines > 1:
            ws.set_row(row, _LINE_POINTS * lines + 3)

    ws.write_string(0, 0, "Call compliance report", f["title"])
    ws.set_row(0, 24)
    row = 2
    for label, value in facts.items():
        ws.write_string(row, 0, label, f["label"])
        text(row, value, f["wrap"])
        row += 1
    row += 1
    ws.write_string(row, 0, "In brief", f["label"])
    for line in headlines(df, scorecard, exceptions, team, min_calls):
        text(row, line, f["wrap"])
        row += 1
    row += 1
    ws.write_string(row, 0, "How to read", f["label"])
    text(row, _READING, f["wrap"])
    row += 2
    ws.write_string(row, 0, "Sheets", f["label"])
    for name, what in _GUIDE:
        ws.write_url(row, 1, f"internal:'{name}'!A1", f["link"], f"{name}: {what}")
        row += 1
    row += 1
    top = _team_table(book, ws, row, team)
    ws.set_landscape()
    ws.fit_to_pages(1, 1)  # the summary is one page
    ws.set_footer("&L&A&RPage &P of &N")
    if charts and team["n"].iloc[0]:
        _team_chart(book, ws, top, team)


def _team_table(book: Book, ws: Any, row: int, team: pd.DataFrame) -> int:
    """The team's rate per check as numbers (the chart's data); returns the header row."""
    f = book.f
    ws.write_string(row, 0, "Whole team", f["label"])
    headers = ["Check", "Pass rate", "95% low", "95% high", "Passed", "Analysed", "+", "-"]
    for col, header in enumerate(headers, start=1):
        ws.write_string(row, col, header, f["header"])
    for i, m in enumerate(MEASURES, start=1):
        t = team.loc[m]
        ws.write_string(row + i, 1, LABELS[m])
        cells = [
            *((t[k], "pct") for k in ("rate", "low", "high")),
            *((t[k], "int") for k in ("hits", "n")),
            (t["high"] - t["rate"], "pct"),
            (t["rate"] - t["low"], "pct"),
        ]
        for col, (value, kind) in enumerate(cells, start=2):
            book.cell(ws, row + i, col, value, kind)
    ws.set_column(7, 8, 6, None, {"hidden": True})  # the error bars' lengths, for the chart
    return row


def _team_chart(book: Book, ws: Any, top: int, team: pd.DataFrame) -> None:
    checks = team.loc[list(metrics.CHECKS)]
    chart = book.wb.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": "Pass rate",
            "categories": ["Summary", top + 1, 1, top + len(checks), 1],
            "values": ["Summary", top + 1, 2, top + len(checks), 2],
            "fill": {"color": "#56B4E9"},
            "x_error_bars": {
                "type": "custom",
                "plus_values": f"=Summary!$H${top + 2}:$H${top + 1 + len(checks)}",
                "minus_values": f"=Summary!$I${top + 2}:$I${top + 1 + len(checks)}",
                "end_style": 1,
                "line": {"color": "#000000", "width": 1.25},
            },
        }
    )
    chart.set_title({"name": "Team pass rate per check, with 95% intervals"})
    chart.set_x_axis({"min": 0, "max": 1, "num_format": "0%"})
    chart.set_y_axis({"reverse": True})
    chart.set_legend({"none": True})
    chart.set_size({"width": 640, "height": 250})
    ws.insert_chart(top + len(MEASURES) + 2, 1, chart)


_FILTERS = {"status_filter": "status", "agent_id": "agent", "contact_id": "contact",
            "search": "agent or contact containing"}  # fmt: skip


def _when(value: Any, tz: str) -> str:
    """An instant (epoch seconds, ISO text or Timestamp) as '1 Nov 2026 09:00' in ``tz``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "?"
    ts = (
        pd.Timestamp(value, unit="s", tz="UTC")
        if isinstance(value, int | float)
        else pd.Timestamp(value)
    )
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(tz).strftime("%a %-d %b %Y %H:%M")


def summary_facts(df: pd.DataFrame, query: Mapping[str, Any] | None, tz: str) -> dict[str, str]:
    """The Summary's opening lines: period, filters, loading, time zone."""
    from datetime import UTC, datetime

    from .._secrets import sanitize_url
    from .._version import __version__

    query = dict(query or {})
    attrs = df.attrs
    created = df["created"].dropna() if "created" in df else pd.Series([], dtype=object)
    asked = [f"{word} {_when(query[b], tz)}" for word, b in (("from", "since"), ("until", "until"))
             if query.get(b) is not None]  # fmt: skip
    span = (
        f"first call {_when(created.min(), tz)}, last call {_when(created.max(), tz)}"
        if len(created)
        else "no calls"
    )
    chosen = " ".join(asked) or "every call the key can see"
    filters = "; ".join(f"{_FILTERS.get(k, k)}: {v}" for k, v in query.items()
                        if k in _FILTERS and v is not None)  # fmt: skip
    base = sanitize_url(attrs["base_url"]) if attrs.get("base_url") else "an unknown API"
    loaded = f"{_when(attrs.get('loaded_at'), tz)} from {base}"
    if attrs.get("key_hint"):
        loaded += f" with the key {attrs['key_hint']}"
    if attrs.get("requests") is not None:
        loaded += f" ({_n(attrs['requests'], 'request')}, {attrs.get('throttled', 0)} throttled)"
    return {
        "Period": f"{chosen} ({span})",
        "Filters": filters or "none",
        "Loaded": loaded,
        "Written": f"{_when(datetime.now(UTC).isoformat(), tz)} by callcov-analytics {__version__}",
        "Time zone": f"{tz}: every day, hour and time in this workbook",
    }
