"""The manager's workbook: one .xlsx that reads itself, written with XlsxWriter.

Sheets, in order: **Summary** (period, filters, when and how it was loaded, the headline
figures in words, a pass-rate chart), **Agents** (ten columns: pass rates as ``46% (42–51%)``
with their 95% Wilson interval, traffic lights against the team), **Exceptions** (the review
queue with the second in the call and a link to the audio), **Daily volume** (with a chart),
then the two sheets for the screen: **Agent detail** (the full `metrics.agent_scorecard`) and
**Calls** (the frame). Every table has a frozen header, an autofilter, number formats and
dates in the report's time zone.

Printing (LibreOffice and Excel print every sheet of a workbook): the first four sheets are
landscape, one page wide, with their header repeated on each page; Exceptions prints its first
`PRINTED_EXCEPTIONS` rows. Agent detail and Calls print their first line only, which says so:
60-odd columns or thousands of rows make hundreds of pages nobody reads (the demo's 5,000 calls
printed to 3,061 pages).

No cell is a formula built from data: cells go through `xlsx.Book`'s typed writers, links only
through ``write_url`` to ``https://`` URLs that pass `xlsx.safe_url`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import IO, Any

import pandas as pd

from .. import metrics
from .._errors import ValidationError
from .labels import LABELS, MEASURES, interval_text
from .xlsx import Book, column_width, safe_url

__all__ = [
    "LABELS",
    "PRINTED_EXCEPTIONS",
    "SCREEN_SHEETS",
    "SHEETS",
    "agent_summary",
    "interval_text",
    "safe_url",
    "write_workbook",
]

SHEETS = ("Summary", "Agents", "Exceptions", "Daily volume", "Agent detail", "Calls")
SCREEN_SHEETS = ("Agent detail", "Calls")  # printed as their first line only
PRINTED_EXCEPTIONS = 200  # rows of the review queue on paper: a few pages
MAX_ROWS = 1_048_575  # Excel's rows per sheet, less the header
_MAX_LINKS = 65_530  # and this many links per sheet
_STATUS_COLOURS = {"completed": "#009E73", "processing": "#56B4E9", "failed": "#D55E00"}


def _rate_column(measure: str, part: str = "") -> str:
    base = f"{measure}_share" if measure == "flagged" else f"{measure}_pass_rate"
    return f"{measure}_ci_{part}" if part else base


def agent_summary(scorecard: pd.DataFrame) -> pd.DataFrame:
    """The ten columns a manager reads, from `metrics.agent_scorecard` (same row order)."""
    out = pd.DataFrame(
        {
            "agent_id": scorecard["agent_id"],
            "calls": scorecard["calls"],
            "analysed": scorecard["analysed_calls"],
        }
    )
    for m in MEASURES:
        parts = zip(
            scorecard[_rate_column(m)],
            scorecard[_rate_column(m, "low")],
            scorecard[_rate_column(m, "high")],
            strict=True,
        )
        out[m] = pd.array([interval_text(*p) for p in parts], dtype="string")
    out["rank"] = scorecard["rank"]
    return out.reset_index(drop=True)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return (
        f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
        if whole >= 3600
        else (f"{whole // 60}:{whole % 60:02d}")
    )


def write_workbook(
    df: pd.DataFrame,
    out: IO[bytes],
    *,
    tz: str,
    min_calls: int,
    charts: bool,
    facts: Mapping[str, str],
) -> dict[str, int]:
    """Write the six sheets to ``out``; return the data rows on each sheet.

    ``facts`` are the Summary's opening lines (label → text): period, filters, loading.
    """
    if len(df) > MAX_ROWS:
        raise ValidationError(
            f"{len(df):,} calls do not fit one worksheet ({MAX_ROWS:,} rows); write a report "
            "folder (CSV or Parquet) instead, or narrow the query with since/until.",
            param="df",
        )
    scorecard = metrics.agent_scorecard(df, min_calls=min_calls, detail=True)
    exceptions = metrics.compliance_exceptions(df)
    daily = metrics.volume(df, "D", tz=tz)
    book = Book(out, tz)
    from .summary import team_rates, write_summary

    team = team_rates(df)
    write_summary(book, df, scorecard, exceptions, team, facts, min_calls, charts)
    _agents(book, scorecard, team, min_calls)
    _exceptions(book, exceptions, df)
    _daily(book, daily, charts)
    shape = f"{len(scorecard):,} agents, {scorecard.shape[1]} columns"
    hint = "; the Agents sheet prints every agent in ten columns"
    book.table("Agent detail", scorecard, upright=True, printed=0,
               title=_screen_note("The full scorecard", shape, hint))  # fmt: skip
    book.table("Calls", df, printed=0,
               title=_screen_note("Every call as loaded", f"{len(df):,} rows", ""))  # fmt: skip
    book.close()
    return {
        "Agents": len(scorecard),
        "Agent detail": len(scorecard),
        "Exceptions": len(exceptions),
        "Daily volume": len(daily),
        "Calls": len(df),
    }


def _screen_note(what: str, shape: str, hint: str) -> str:
    return (
        f"{what} ({shape}), for the screen: printing this sheet gives this line only. "
        f"To print some rows, filter them and print the selection{hint}."
    )


def _agents(book: Book, scorecard: pd.DataFrame, team: pd.DataFrame, min_calls: int) -> None:
    """Ten columns, then (grouped and hidden) the numbers the traffic lights compare."""
    ws = book.wb.add_worksheet("Agents")
    ws.write_string(0, 0, "Agents: pass rate per check, 95% interval in brackets", book.f["title"])
    ws.merge_range(1, 0, 1, 9, "", book.f["note"])  # then the text, by write_string
    ws.write_string(
        1,
        0,
        f"Rank 1 = fewest flagged calls, judged by the interval's upper bound. Grey: fewer than "
        f"{min_calls} analysed calls, not ranked. Colours compare each agent with the whole "
        "team: red = the whole interval is worse than the team's rate, amber = worse but "
        "within chance, green = the whole interval is better.",
        book.f["note"],
    )
    ws.set_row(1, 32)
    top = 3
    ws.set_row(top, 30)
    summary = agent_summary(scorecard)
    headers = ["Agent", "Calls", "Analysed", *(LABELS[m] for m in MEASURES), "Rank"]
    hidden = [_rate_column(m, p) for m in MEASURES for p in ("", "low", "high")] + ["ranked"]
    for col, header in enumerate([*headers, *hidden]):
        ws.write_string(top, col, header, book.f["header"])
    for i, (row, rec) in enumerate(
        zip(summary.itertuples(index=False), scorecard.itertuples(), strict=True)
    ):
        r = top + 1 + i
        ranked = bool(rec.ranked)
        text, number = (
            (book.f["text"], book.f["int"]) if ranked else (book.f["grey"], book.f["grey_int"])
        )
        book.cell(ws, r, 0, row.agent_id, "text", text)
        book.cell(ws, r, 1, row.calls, "int", number)
        book.cell(ws, r, 2, row.analysed, "int", number)
        rate = book.f["rate" if ranked else "grey_rate"]
        for j, m in enumerate(MEASURES, start=3):
            book.cell(ws, r, j, getattr(row, m), "text", rate)
        if ranked:
            book.cell(ws, r, 9, row.rank, "int")
        else:
            book.cell(ws, r, 9, "not ranked", "text", text)
        for j, column in enumerate(hidden, start=len(headers)):
            kind = "bool" if column == "ranked" else "pct"
            book.cell(ws, r, j, getattr(rec, column), kind)
    widths = [max(12.0, column_width("Agent", summary["agent_id"], "text")), 8, 9, *[16] * 6, 11]
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    ws.set_column(len(headers), len(headers) + len(hidden) - 1, 10, None,
                  {"level": 1, "hidden": True})  # fmt: skip
    rows = len(summary)
    book.layout(ws, top, rows, len(headers), freeze_col=1, fit=True)
    if rows:
        _traffic_lights(book, ws, top, rows, len(headers), team)


def _traffic_lights(
    book: Book, ws: Any, top: int, rows: int, first_hidden: int, team: pd.DataFrame
) -> None:
    from xlsxwriter.utility import xl_col_to_name

    ranked = xl_col_to_name(first_hidden + 3 * len(MEASURES))
    first = top + 2  # the first data row, 1-based as formulas count
    for j, m in enumerate(MEASURES):
        rate: float = team["rate"].to_dict()[m]
        if math.isnan(rate):
            continue
        t = repr(float(rate))  # our own number, never data text
        r, lo, hi = (f"${xl_col_to_name(first_hidden + 3 * j + k)}{first}" for k in range(3))
        worse, better, below = (
            (f"{lo}>{t}", f"{hi}<{t}", f"{r}>{t}")
            if m == "flagged"
            else (f"{hi}<{t}", f"{lo}>{t}", f"{r}<{t}")
        )
        for test, colour in ((worse, "red"), (better, "green"), (below, "amber")):
            ws.conditional_format(
                top + 1,
                3 + j,
                top + rows,
                3 + j,
                {
                    "type": "formula",
                    "criteria": f"=AND(${ranked}{first}=TRUE,{test})",
                    "format": book.f[colour],
                    "stop_if_true": True,
                },
            )


def _exceptions(book: Book, exceptions: pd.DataFrame, df: pd.DataFrame) -> None:
    audio: dict[Any, Any] = (
        dict(zip(df["id"], df["audio_url"], strict=True)) if "audio_url" in df else {}
    )
    frame = exceptions.assign(check=exceptions["check"].map(LABELS).astype("string"))
    headers = {"severity": "Severity", "created": "Call time", "agent_id": "Agent",
               "contact_id": "Contact", "check": "Check", "detail": "Why it failed",
               "at_s": "Second in the call", "id": "Call id"}  # fmt: skip
    order = ["severity", "created", "agent_id", "contact_id", "check", "detail", "at_s", "id"]
    n = len(exceptions)
    title = (
        f"Exceptions: the review queue, {n:,} failed checks on {exceptions['id'].nunique():,} "
        "calls. "
        + (
            f"A printout holds the first {PRINTED_EXCEPTIONS}; filter here for the rest."
            if n > PRINTED_EXCEPTIONS
            else "Printing gives every row."
        )
    )
    ws = book.table("Exceptions", frame[order], {"at_s": "seconds"}, headers, freeze_col=0,
                    title=title, printed=PRINTED_EXCEPTIONS)  # fmt: skip
    top, col = 1, len(order)
    ws.write_string(top, col, "Audio", book.f["header"])
    ws.set_column(col, col, 16)
    ws.print_area(0, 0, top + min(n, PRINTED_EXCEPTIONS), col)  # the Audio column too
    links = 0
    pairs: list[tuple[Any, Any]] = list(zip(exceptions["id"], exceptions["at_s"], strict=True))
    for row, (call, at) in enumerate(pairs, start=top + 1):
        url = audio.get(call)
        if not safe_url(url) or links >= _MAX_LINKS:
            if isinstance(url, str):
                book.cell(ws, row, col, url, "text")
            continue
        known = not pd.isna(at)
        target = f"{url}#t={int(at)}" if known and "#" not in str(url) else str(url)
        label = f"listen from {_clock(float(at))}" if known else "listen"
        ws.write_url(row, col, target, book.f["link"], label)
        links += 1
    ws.autofilter(top, 0, top + n, col)


def _daily(book: Book, daily: pd.DataFrame, charts: bool) -> None:
    frame = daily.drop(columns=["talk_minutes"]).rename(columns={"talk_seconds": "talk_time"})
    kinds = {"period": "day", "talk_time": "duration"}
    headers = {"period": "Day", "talk_time": "Talk time"}
    headers |= {c: c.capitalize() for c in ("calls", "completed", "processing", "failed")}
    ws = book.table("Daily volume", frame, kinds, headers, area=False)  # and the chart beside
    if not charts or daily.empty:
        return
    chart = book.wb.add_chart({"type": "column", "subtype": "stacked"})
    n = len(daily)
    for col, status in ((2, "completed"), (3, "processing"), (4, "failed")):
        chart.add_series(
            {
                "name": ["Daily volume", 0, col],
                "categories": ["Daily volume", 1, 0, n, 0],
                "values": ["Daily volume", 1, col, n, col],
                "fill": {"color": _STATUS_COLOURS[status]},
                "gap": 40,
            }
        )
    chart.set_title({"name": f"Calls per day by status ({book.tz})"})
    step = 1 if n <= 14 else 7
    chart.set_x_axis({"date_axis": True, "num_format": "d mmm", "major_unit": step})
    chart.set_y_axis({"name": "Calls", "major_gridlines": {"visible": True}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 760, "height": 340})
    ws.insert_chart(1, 7, chart)
