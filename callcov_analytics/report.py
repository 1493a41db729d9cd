"""Reports: ``export_report()`` (a workbook or a folder) and the formula-safe CSV writer.

``export_report(df, "report.xlsx")`` writes one workbook for a manager (see `workbook`).
``export_report(df, "report")`` writes a folder, the same workbook plus files for machines::

    report.xlsx                the manager's workbook: open this one
    calls.csv                  the load_calls() frame, one row per analysis
    agent_summary.csv          the workbook's ten Agents columns (rates as "46% (42–51%)")
    agent_detail.csv           metrics.agent_scorecard(df, detail=True), at full precision
    daily_volume.csv           metrics.volume(df, "D") in the report's time zone
    compliance_exceptions.csv  metrics.compliance_exceptions(df)
    calls.parquet              with parquet=True: the frame with its exact dtypes (not sanitized)
    *.png                      calls per day, pass rates, sentiment (when matplotlib is installed)
    manifest.json              query (epochs and ISO times), time range, time zone, row counts,
                               schemas, checksums, tool version, created-at and the key's hint
                               (e.g. ``sk_test_…ab12``), never the key

Formula injection (OWASP "CSV injection"): Excel and LibreOffice run a cell that starts with
``=``, ``+``, ``-``, ``@``, tab or carriage return as a formula, and ids, contact ids and
transcripts are text a caller controls. Every *text* cell of every CSV, the header included,
that starts with one of those characters gets a leading ``'``, so the spreadsheet shows it as
text. Text that already starts with ``'`` gets one more, so stripping exactly one leading ``'``
from every text cell (what `read_report_csv` does) gives back the original. Numbers, booleans
and dates are not text: ``-5`` in a numeric column stays the number -5.

CSV format: UTF-8, comma-separated, CRLF rows (RFC 4180 and Python's ``excel`` dialect); text
cells are always quoted and missing values are empty and unquoted, so an empty string and a
missing value stay different for `read_report_csv`. Dates are ISO 8601 with offset
(``2026-11-01T09:00:00+00:00``, in the column's own zone); with ``excel=True`` the file starts
with a UTF-8 BOM (so Excel reads it as UTF-8) and dates are ``2026-11-01 09:00:00`` wall-clock
under a header naming the zone, such as ``created (UTC)``, which Excel parses as a date. The
default has no BOM: LibreOffice's CSV import would show it as ``ï»¿`` in the first header.

Reading back: ``read_report_csv(folder / "calls.csv")`` restores values and dtypes from the
manifest. With plain pandas: ``pd.read_csv(path, dtype=str, keep_default_na=False,
na_values=[""])``, then ``.str.removeprefix("'")`` on the text columns (empty text reads as
missing there).

Atomicity: each file is written to a temp file in its folder and renamed into place; the report
is built in a hidden sibling folder (``.<name>.partial-*``) that is renamed to the final name
only when every file is complete, so the final name holds a whole report or nothing.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import metrics
from ._atomic import atomic_open, fresh_path, storage_errors
from ._dates import check_tz
from ._errors import ValidationError
from ._manifest import checksum, describe, figures_for, manifest
from ._summary import summary_facts
from ._workbook import agent_summary, write_workbook

__all__ = [
    "FORMULA_TRIGGERS",
    "export_report",
    "neutralize",
    "read_report_csv",
    "write_csv",
    "write_parquet",
]

FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*FORMULA_TRIGGERS, "'")  # "'" too, so one strip always undoes the escape
MANIFEST = "manifest.json"
_NA = ""


def neutralize(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_ESCAPED) else text


def _quote(text: str) -> str:
    return '"' + neutralize(text).replace('"', '""') + '"'


def _cells(column: pd.Series, excel: bool) -> list[str]:
    """One column as finished CSV cells (quoted and neutralized where it is text)."""
    dtype = column.dtype
    values = [None if _missing(v) else v for v in column.astype(object)]
    if pd.api.types.is_bool_dtype(dtype):
        return [_NA if v is None else ("true" if v else "false") for v in values]
    if pd.api.types.is_integer_dtype(dtype):
        return [_NA if v is None else str(int(v)) for v in values]
    if pd.api.types.is_float_dtype(dtype):  # repr is the shortest text that reads back exactly
        return [_NA if v is None else repr(float(v)) for v in values]
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        if isinstance(dtype, pd.DatetimeTZDtype) and excel:
            column = column.dt.tz_localize(None)  # Excel has no zones: wall clock, zone in header
        sep = " " if excel else "T"
        return [_NA if ts is pd.NaT else ts.isoformat(sep=sep) for ts in column]
    return [_NA if v is None else _quote(str(v)) for v in values]


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or value != value


def _header(frame: pd.DataFrame, excel: bool) -> list[str]:
    names = []
    for name, dtype in frame.dtypes.items():
        zoned = excel and isinstance(dtype, pd.DatetimeTZDtype)
        names.append(_quote(f"{name} ({getattr(dtype, 'tz', '')})" if zoned else str(name)))
    return names


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], *, excel: bool = False) -> Path:
    """Write ``frame`` as a formula-safe CSV, atomically (see the module docstring).

    Args:
        frame: any DataFrame; text cells starting with ``= + - @``, tab or CR get a ``'``.
        path: the CSV file to create or replace.
        excel: UTF-8 BOM and ``YYYY-MM-DD HH:MM:SS`` UTC dates, for double-clicking in Excel.

    Example:
        >>> write_csv(load_calls(status="failed"), "failed.csv")  # doctest: +SKIP
    """
    path = Path(path)
    with storage_errors(path, "nothing was written under that name"):
        _write_csv(frame, path, excel)
    return path


def _write_csv(frame: pd.DataFrame, path: Path, excel: bool) -> None:
    columns = [_cells(frame.iloc[:, i], excel) for i in range(frame.shape[1])]
    with atomic_open(path, "w", encoding="utf-8-sig" if excel else "utf-8") as out:
        out.write(",".join(_header(frame, excel)) + "\r\n")
        for row in zip(*columns, strict=True):
            out.write(",".join(row) + "\r\n")


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


def read_report_csv(
    path: str | os.PathLike[str], *, schema: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Read a report CSV back with its original values and dtypes (undoing the ``'`` escape).

    Args:
        path: a CSV written by `export_report` or `write_csv`.
        schema: column → dtype; by default the file's entry in the ``manifest.json`` beside it.
            Without either, every column comes back as ``string``.

    Example:
        >>> calls = read_report_csv("report/calls.csv")  # doctest: +SKIP
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    categories: Mapping[str, list[str]] = {}
    if schema is None and (path.parent / MANIFEST).is_file():
        entry = json.loads((path.parent / MANIFEST).read_text("utf-8"))["files"].get(path.name, {})
        schema, categories = entry.get("schema"), entry.get("categories", {})
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f), [])
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.string() for h in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" is an empty string, an empty cell is NA
        ),
    )
    out = {}
    for raw, array in zip(header, table.columns, strict=True):
        name = _unescape(raw)
        zoned = re.fullmatch(r"(.*) \([\w/+-]+\)", name)
        if schema is not None and name not in schema and zoned and zoned[1] in schema:
            name = zoned[1]  # "created (Europe/London)", an excel=True header
        text = pd.Series(array.to_pylist(), dtype=object).map(_unescape, na_action="ignore")
        dtype = (schema or {}).get(name, "string")
        out[name] = _parsed(text, dtype, categories.get(name))
    return pd.DataFrame(out)


def _unescape(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def _parsed(text: pd.Series, dtype: str, categories: list[str] | None) -> pd.Series:
    """A column of CSV text (None = NA) as ``dtype``."""
    if dtype == "category":
        known = pd.Index(categories if categories is not None else text.dropna().unique())
        return text.astype(pd.CategoricalDtype(known.astype("str")))
    target = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_bool_dtype(target):
        text = text.map({"true": True, "false": False})
    elif isinstance(target, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(target):
        if (
            isinstance(target, pd.DatetimeTZDtype)
            and not text.dropna().str.contains(r"[+-]\d\d:\d\d$|Z$").all()
        ):  # excel=True: wall-clock times in the column's zone
            wall = pd.to_datetime(text, format="ISO8601")
            text = wall.dt.tz_localize(target.tz, ambiguous=True, nonexistent="shift_forward")
        else:
            parsed = pd.to_datetime(text, utc=True, format="ISO8601")
            text = parsed if isinstance(target, pd.DatetimeTZDtype) else parsed.dt.tz_localize(None)
    elif pd.api.types.is_numeric_dtype(target):
        text = pd.to_numeric(text)
    out: pd.Series = text.astype(target)
    return out


WORKBOOK_SUFFIX = ".xlsx"
# Output file types, in one place: the CLI's `fetch --out` takes FILE_SUFFIXES, `report --out`
# a folder or REPORT_SUFFIXES. A folder named like a file would only mislead.
FILE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
REPORT_SUFFIXES: tuple[str, ...] = (WORKBOOK_SUFFIX,)
_NOT_FOLDERS = (*FILE_SUFFIXES, ".xls", ".xlsm", ".xlsb", ".ods", ".pdf", ".json", ".zip")


def export_report(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    excel: bool = False,
    parquet: bool = False,
    charts: bool = True,
    query: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    tz: str | None = None,
    min_calls: int = 5,
    workbook: bool = True,
) -> Path:
    """Write the manager's workbook (``*.xlsx``) or a report folder; return its path.

    A ``.xlsx`` path gets one workbook (module `workbook`: Summary, Agents, Agent detail,
    Exceptions, Daily volume, Calls). Any other path is a folder: the same workbook as
    ``report.xlsx``, the formula-safe CSVs, optional Parquet and charts, and a manifest (module
    docstring). Either appears complete or not at all.

    Args:
        df: the load_calls() frame (its ``attrs`` feed the Summary and the manifest).
        path: ``report.xlsx``, or the report folder to create; its parent is created if needed.
        excel: CSVs with a UTF-8 BOM and Excel-style wall-clock dates (folders only).
        parquet: also write ``calls.parquet`` with the exact dtypes (folders only).
        charts: native charts in the workbook; PNGs in a folder when matplotlib is installed.
        query: the query to record; default ``df.attrs["query"]``.
        overwrite: replace an existing report (a folder with a manifest.json, or a .xlsx
            file). An empty folder is always filled; any other existing path is never touched.
        tz: the IANA zone for days, hours and times (default ``df.attrs["tz"]``, else UTC).
        min_calls: analysed calls an agent needs to be ranked.
        workbook: put ``report.xlsx`` in a folder too.

    Raises:
        ValidationError: ``path`` exists (without ``overwrite``), is not a report, or names a
            file type other than .xlsx; parquet/excel asked for a workbook.
        StorageError: the disk is full or the folder is not writable; nothing is left behind.

    Example:
        >>> export_report(load_calls(since="30d"), "nov.xlsx", tz="Europe/London")  # doctest: +SKIP
    """
    target = Path(path).absolute()
    zone = check_tz(tz if tz is not None else df.attrs.get("tz"))
    check_target(target, overwrite=overwrite, parquet=parquet, excel=excel)
    if min_calls < 1:
        raise ValidationError(f"min_calls must be >= 1, got {min_calls}", param="min_calls")
    options = {"tz": zone, "min_calls": min_calls, "charts": charts}
    if target.suffix.lower() == WORKBOOK_SUFFIX:
        with storage_errors(target, "nothing was written under that name"):
            target.parent.mkdir(parents=True, exist_ok=True)
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
                _write_csv(table, build / name, excel)
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
            record = manifest(df, files, query, excel=excel, charts=charts_note, tz=zone)
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
    target: Path, *, overwrite: bool, parquet: bool = False, excel: bool = False
) -> None:
    """Refuse a report target that is misnamed or exists (unless overwriting a report)."""
    suffix = target.suffix.lower()
    if suffix in _NOT_FOLDERS:
        raise ValidationError(
            f"{target.name!r}: a report is a {WORKBOOK_SUFFIX} workbook or a folder, not a "
            f"{suffix} file; use e.g. {target.stem}{WORKBOOK_SUFFIX}, or write_csv / "
            "write_parquet for one table",
            param="path",
        )
    if suffix == WORKBOOK_SUFFIX and (parquet or excel):
        raise ValidationError(
            "parquet and excel shape a report folder's files; a .xlsx workbook has neither. "
            "Export to a folder for them.",
            param="parquet" if parquet else "excel",
        )
    if not target.exists() and not target.is_symlink():
        return
    book = target.suffix.lower() == WORKBOOK_SUFFIX
    if not book and target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return  # an empty folder made for the report is simply filled
    if not overwrite:
        raise ValidationError(
            f"{target} already exists; choose a new name or pass overwrite=True "
            "(--overwrite on the command line)",
            param="path",
        )
    if book:
        if target.is_symlink() or not target.is_file():
            raise ValidationError(
                f"{target} is not a workbook file; refusing to replace it. Choose another name.",
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
