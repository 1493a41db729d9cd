"""Reports: ``export_report()`` writes a workbook, one CSV or a report folder.

``export_report(df, "report.xlsx")`` writes one workbook for a manager (see `_report.workbook`).
``export_report(df, "calls.csv")`` writes the calls as one CSV a spreadsheet opens by
double-click (`_report.safe_csv`: UTF-8 with a BOM, real dates, rounded figures, formula-safe);
``machine=True`` makes it a CSV for programs (no BOM, ISO 8601 times with offset, full
precision). ``export_report(df, "report")`` writes a folder, the same workbook plus CSVs::

    report.xlsx                the manager's workbook: open this one
    calls.csv                  the load_calls() frame, one row per analysis
    agent_summary.csv          the workbook's ten Agents columns (rates as "46% (42–51%)")
    agent_detail.csv           metrics.agent_scorecard(df, detail=True), every column
    daily_volume.csv           metrics.volume(df, "D") in the report's time zone
    compliance_exceptions.csv  metrics.compliance_exceptions(df)
    calls.parquet              with parquet=True: the frame with its exact dtypes (not sanitized)
    *.png                      calls per day, pass rates, sentiment (when matplotlib is installed)
    manifest.json              query (epochs and ISO times), time range, time zone, row counts,
                               schemas, checksums, the CSVs' style, tool version, created-at and
                               the key's hint (e.g. ``sk_test_…ab12``), never the key

Reading back: ``read_report_csv(folder / "calls.csv")`` restores values and dtypes from the
manifest (exactly for ``machine=True``; a spreadsheet CSV's figures come back rounded).

Atomicity: each file is written to a temp file in its folder and renamed into place; the report
is built in a hidden sibling folder (``.<name>.partial-*``) that is renamed to the final name
only when every file is complete, so the final name holds a whole report or nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import metrics
from ._analytics.engines import light
from ._dates import check_tz
from ._errors import ValidationError
from ._report.manifest import checksum, describe, figures_for, manifest
from ._report.safe_csv import (
    FORMULA_TRIGGERS,
    MANIFEST,
    neutralize,
    read_report_csv,
    write_csv,
    write_csv_file,
)
from ._report.summary import summary_facts
from ._report.workbook import agent_summary, write_workbook
from ._store.atomic import atomic_open, fresh_path, storage_errors

__all__ = [
    "FORMULA_TRIGGERS",
    "export_report",
    "neutralize",
    "read_report_csv",
    "write_csv",
    "write_parquet",
]


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as Parquet (exact dtypes, values not neutralized), atomically."""
    path = Path(path)
    with storage_errors(path, "nothing was written under that name"):
        _write_parquet(frame, path)
    return path


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    plain = frame.copy(deep=False)
    plain.attrs = {}  # pandas would store attrs as metadata; the manifest already has them
    with atomic_open(path, "wb") as out:
        plain.to_parquet(out, index=False)


WORKBOOK_SUFFIX, CSV_SUFFIX = ".xlsx", ".csv"
# Output file types, in one place: the CLI's `fetch --out` takes FILE_SUFFIXES, `report --out`
# a folder or REPORT_SUFFIXES. A folder named like a file would only mislead.
FILE_SUFFIXES: tuple[str, ...] = (CSV_SUFFIX, ".parquet")
REPORT_SUFFIXES: tuple[str, ...] = (WORKBOOK_SUFFIX, CSV_SUFFIX)
_NOT_FOLDERS = (*FILE_SUFFIXES, ".xls", ".xlsm", ".xlsb", ".ods", ".pdf", ".json", ".zip")


def export_report(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    machine: bool = False,
    parquet: bool = False,
    charts: bool = True,
    query: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    tz: str | None = None,
    min_calls: int = 5,
    workbook: bool = True,
) -> Path:
    """Write the manager's workbook (``.xlsx``), the calls as one ``.csv``, or a report folder.

    A ``.xlsx`` path gets one workbook (`_report.workbook`: Summary, Agents, Exceptions, Daily
    volume, then Agent detail and Calls for the screen). A ``.csv`` path gets the calls as one
    CSV a spreadsheet opens by double-click. Any other path is a folder: the workbook as
    ``report.xlsx``, five CSVs, optional Parquet and charts, and a manifest (module
    docstring). Each appears complete or not at all.

    Args:
        df: the load_calls() frame (its ``attrs`` feed the Summary and the manifest).
        path: ``report.xlsx``, ``calls.csv``, or the report folder to create; its parent is
            created if needed.
        machine: CSVs for programs (no BOM, ISO 8601 times with offset, full precision)
            rather than for spreadsheets (BOM, wall-clock times in ``tz``, rounded figures).
        parquet: also write ``calls.parquet`` with the exact dtypes (folders only).
        charts: native charts in the workbook; PNGs in a folder when matplotlib is installed.
        query: the query to record; default ``df.attrs["query"]``.
        overwrite: replace an existing report (a folder with a manifest.json, or a .xlsx or
            .csv file). An empty folder is always filled; any other existing path is never
            touched.
        tz: the IANA zone for days, hours and times (default ``df.attrs["tz"]``, else UTC).
        min_calls: analysed calls an agent needs to be ranked.
        workbook: put ``report.xlsx`` in a folder too.

    Raises:
        ValidationError: ``path`` exists (without ``overwrite``), is not a report, or names
            another file type; ``parquet`` asked for a single file, ``machine`` for a workbook.
        StorageError: the disk is full or the folder is not writable; nothing is left behind.

    Example:
        >>> export_report(load_calls(since="30d"), "nov.xlsx", tz="Europe/London")  # doctest: +SKIP
        >>> export_report(load_calls(since="30d"), "nov.csv")  # doctest: +SKIP
    """
    target = Path(path).absolute()
    zone = check_tz(tz if tz is not None else df.attrs.get("tz"))
    check_target(target, overwrite=overwrite, parquet=parquet, machine=machine)
    df = light(df)  # no part of a report reads the load's bulky attrs (see `light`)
    if min_calls < 1:
        raise ValidationError(f"min_calls must be >= 1, got {min_calls}", param="min_calls")
    options = {"tz": zone, "min_calls": min_calls, "charts": charts}
    if target.suffix.lower() in REPORT_SUFFIXES:
        with storage_errors(target, "nothing was written under that name"):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix.lower() == CSV_SUFFIX:
                write_csv_file(df, target, machine, zone)
            else:
                _write_workbook(df, target, query, options)
        return target
    scorecard = metrics.agent_scorecard(df, min_calls=min_calls, detail=True)
    tables = {
        "calls.csv": df,
        "agent_summary.csv": agent_summary(scorecard),
        "agent_detail.csv": scorecard,
        "daily_volume.csv": metrics.volume(df, "D", tz=zone),
        "compliance_exceptions.csv": metrics.compliance_exceptions(df),
    }
    figures, charts_note = figures_for(df, scorecard, zone) if charts else ({}, "off")
    with storage_errors(target, "nothing was written under that name"):
        target.parent.mkdir(parents=True, exist_ok=True)
        build = fresh_path(target.parent / f".{target.name}.partial-", directory=True)
        try:
            files: dict[str, dict[str, Any]] = {}
            if workbook:
                files[REPORT_FILE] = _write_workbook(df, build / REPORT_FILE, query, options)
            for name, table in tables.items():
                write_csv_file(table, build / name, machine, zone)
                files[name] = describe(table)
            if parquet:
                _write_parquet(df, build / "calls.parquet")
                files["calls.parquet"] = describe(df)
            for name, save in figures.items():
                with atomic_open(build / name, "wb") as out:
                    save(out)
                files[name] = {}
            for name, entry in files.items():
                entry.update(checksum(build / name))
            record = manifest(df, files, query, machine=machine, charts=charts_note, tz=zone)
            with atomic_open(build / MANIFEST, "w", encoding="utf-8") as out:
                json.dump(record, out, indent=2, ensure_ascii=False)
                out.write("\n")
            _swap_in(build, target)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    return target


REPORT_FILE = "report.xlsx"


def _write_workbook(
    df: pd.DataFrame, path: Path, query: Mapping[str, Any] | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The workbook at ``path``, atomically; its manifest entry (rows per sheet)."""
    chosen = query if query is not None else df.attrs.get("query")
    facts = summary_facts(df, chosen, options["tz"])
    with atomic_open(path, "wb") as out:
        rows = write_workbook(df, out, facts=facts, **options)
    return {"sheets": rows}


def check_target(
    target: Path, *, overwrite: bool, parquet: bool = False, machine: bool = False
) -> None:
    """Refuse a report target that is misnamed or exists (unless overwriting a report)."""
    suffix = target.suffix.lower()
    if suffix in _NOT_FOLDERS and suffix not in REPORT_SUFFIXES:
        raise ValidationError(
            f"{target.name!r}: a report is a {WORKBOOK_SUFFIX} workbook, a {CSV_SUFFIX} file "
            f"of the calls or a folder, not a {suffix} file; e.g. {target.stem}{WORKBOOK_SUFFIX}"
            + (
                " (for Parquet, a report folder with parquet=True: --parquet on the command line)"
                if suffix == ".parquet"
                else ""
            ),
            param="path",
        )
    if suffix in REPORT_SUFFIXES and parquet:
        raise ValidationError(
            f"parquet (--parquet) adds calls.parquet to a report folder; a {suffix} file has "
            "no room for it. Export to a folder for it.",
            param="parquet",
        )
    if suffix == WORKBOOK_SUFFIX and machine:
        raise ValidationError(
            "machine (--machine) shapes CSVs; a .xlsx workbook has none. Export to a folder "
            "or a .csv.",
            param="machine",
        )
    if not target.exists() and not target.is_symlink():
        return
    single = suffix in REPORT_SUFFIXES
    if not single and target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return  # an empty folder made for the report is simply filled
    if not overwrite:
        raise ValidationError(
            f"{target} already exists; choose a new name or pass overwrite=True "
            "(--overwrite on the command line)",
            param="path",
        )
    if single:
        if target.is_symlink() or not target.is_file():
            raise ValidationError(
                f"{target} is not a {suffix} file; refusing to replace it. Choose another name.",
                param="path",
            )
        return
    if not target.is_dir() or target.is_symlink() or not (target / MANIFEST).is_file():
        raise ValidationError(
            f"{target} is not a report folder (no {MANIFEST}); refusing to replace it. "
            "Choose another folder.",
            param="path",
        )


def _swap_in(build: Path, target: Path) -> None:
    """Rename the finished folder to ``target``, moving an old report aside first."""
    if not target.exists():
        os.rename(build, target)
        return
    old = fresh_path(target.parent / f".{target.name}.old-", directory=True)
    os.rename(target, old / target.name)
    try:
        os.rename(build, target)
    except BaseException:
        os.rename(old / target.name, target)  # put the previous report back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
