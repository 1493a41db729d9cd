"""CSV reports a manager can open in Excel: ``export_report()`` and the formula-safe CSV writer.

A report is one folder::

    calls.csv                  the load_calls() frame, one row per analysis
    agent_summary.csv          metrics.agent_scorecard(df)
    daily_volume.csv           metrics.volume(df, "D")
    compliance_exceptions.csv  metrics.compliance_exceptions(df)
    calls.parquet              with parquet=True: the frame with its exact dtypes (not sanitized)
    *.png                      charts from callcov_analytics.plots, when matplotlib is installed
    manifest.json              query, time range, row counts, schemas, checksums, tool version,
                               created-at and the key's hint (e.g. ``sk_test_…ab12``), never the key

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
(``2026-11-01T09:00:00+00:00``); with ``excel=True`` the file starts with a UTF-8 BOM (so
Excel reads it as UTF-8) and dates are ``2026-11-01 09:00:00`` in UTC under a header such as
``created (UTC)``, which Excel parses as a date.

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
import hashlib
import json
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd

from . import metrics
from ._version import __version__
from .errors import MissingDependencyError, ValidationError
from .files import atomic_open, fresh_path, storage_errors
from .redact import sanitize_url

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
UTC_SUFFIX = " (UTC)"
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
        if isinstance(dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC")
            if excel:  # Excel has no time zones: wall-clock UTC, said in the header
                column = column.dt.tz_localize(None)
        sep = " " if excel else "T"
        return [_NA if ts is pd.NaT else ts.isoformat(sep=sep) for ts in column]
    return [_NA if v is None else _quote(str(v)) for v in values]


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or value != value


def _header(frame: pd.DataFrame, excel: bool) -> list[str]:
    names = []
    for name, dtype in frame.dtypes.items():
        utc = excel and isinstance(dtype, pd.DatetimeTZDtype)
        names.append(_quote(f"{name}{UTC_SUFFIX}" if utc else str(name)))
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
        if schema is not None and name not in schema and name.endswith(UTC_SUFFIX):
            name = name.removesuffix(UTC_SUFFIX)
        text = pd.Series(array.to_pylist(), dtype=object).map(_unescape, na_action="ignore")
        dtype = (schema or {}).get(name, "string")
        out[name] = _typed(text, dtype, categories.get(name))
    return pd.DataFrame(out)


def _unescape(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def _typed(text: pd.Series, dtype: str, categories: list[str] | None) -> pd.Series:
    """A column of CSV text (None = NA) as ``dtype``."""
    if dtype == "category":
        known = pd.Index(categories if categories is not None else text.dropna().unique())
        return text.astype(pd.CategoricalDtype(known.astype("str")))
    target = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_bool_dtype(target):
        text = text.map({"true": True, "false": False})
    elif isinstance(target, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(target):
        parsed = pd.to_datetime(text, utc=True, format="ISO8601")
        text = parsed if isinstance(target, pd.DatetimeTZDtype) else parsed.dt.tz_localize(None)
    elif pd.api.types.is_numeric_dtype(target):
        text = pd.to_numeric(text)
    out: pd.Series = text.astype(target)
    return out


def export_report(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    excel: bool = False,
    parquet: bool = False,
    charts: bool = True,
    query: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a report folder (CSVs, optional Parquet and charts, manifest) and return its path.

    Every text cell is neutralized against formula injection (module docstring); numbers stay
    numbers. The folder appears complete or not at all.

    Args:
        df: the load_calls() frame (its ``attrs`` feed the manifest).
        path: the report folder to create; its parent is created if needed.
        excel: UTF-8 BOM and Excel-friendly UTC dates in every CSV.
        parquet: also write ``calls.parquet`` with the exact dtypes.
        charts: PNG charts when matplotlib and ``callcov_analytics.plots`` are available.
        query: the query to record; default ``df.attrs["query"]``.
        overwrite: replace an existing *report* folder (one with a manifest.json). An empty
            folder is always filled; any other existing path is never touched.

    Raises:
        ValidationError: ``path`` exists (without ``overwrite``) or is not a report folder.
        StorageError: the disk is full or the folder is not writable; nothing is left behind.

    Example:
        >>> export_report(load_calls(), "nov-report", excel=True)  # doctest: +SKIP
    """
    target = Path(path).absolute()
    check_target(target, overwrite=overwrite)
    tables = {
        "calls.csv": df,
        "agent_summary.csv": metrics.agent_scorecard(df),
        "daily_volume.csv": metrics.volume(df, "D"),
        "compliance_exceptions.csv": metrics.compliance_exceptions(df),
    }
    figures, charts_note = _figures(df, tables["agent_summary.csv"]) if charts else ({}, "off")
    with storage_errors(target, "nothing was written under that name"):
        target.parent.mkdir(parents=True, exist_ok=True)
        build = fresh_path(target.parent / f".{target.name}.partial-", directory=True)
        try:
            files: dict[str, dict[str, Any]] = {}
            for name, table in tables.items():
                _write_csv(table, build / name, excel)
                files[name] = _describe(table)
            if parquet:
                _write_parquet(df, build / "calls.parquet")
                files["calls.parquet"] = _describe(df)
            for name, save in figures.items():
                with atomic_open(build / name, "wb") as out:
                    save(out)
                files[name] = {}
            for name, entry in files.items():
                entry.update(_checksum(build / name))
            manifest = _manifest(df, files, query, excel=excel, charts=charts_note)
            with atomic_open(build / MANIFEST, "w", encoding="utf-8") as out:
                json.dump(manifest, out, indent=2, ensure_ascii=False)
                out.write("\n")
            _swap_in(build, target)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    return target


def check_target(target: Path, *, overwrite: bool) -> None:
    """Refuse a report target that exists, unless overwriting a report or empty folder."""
    if not target.exists() and not target.is_symlink():
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return  # an empty folder made for the report is simply filled
    if not overwrite:
        raise ValidationError(
            f"{target} already exists; choose a new folder or pass overwrite=True "
            "(--overwrite on the command line)",
            param="path",
        )
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


def _describe(frame: pd.DataFrame) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "rows": len(frame),
        "schema": {str(c): str(t) for c, t in frame.dtypes.items()},
    }
    categories = {
        str(c): [str(v) for v in t.categories]
        for c, t in frame.dtypes.items()
        if isinstance(t, pd.CategoricalDtype)
    }
    if categories:
        entry["categories"] = categories
    return entry


def _checksum(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _manifest(
    df: pd.DataFrame,
    files: dict[str, dict[str, Any]],
    query: Mapping[str, Any] | None,
    *,
    excel: bool,
    charts: str,
) -> dict[str, Any]:
    attrs = df.attrs
    # Only safe, JSON-ready facts: never the key itself, and no credential in the URL.
    chosen = {
        k: v
        for k, v in dict(query if query is not None else attrs.get("query") or {}).items()
        if "key" not in str(k).lower()
    }
    created = df["created"].dropna() if "created" in df.columns else pd.Series([], dtype=object)
    return {
        "tool": "callcov-analytics",
        "version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "query": json.loads(json.dumps(chosen, default=str)),
        "base_url": sanitize_url(attrs["base_url"]) if attrs.get("base_url") else None,
        "key_hint": attrs.get("key_hint"),
        "requests": attrs.get("requests"),
        "throttled": attrs.get("throttled"),
        "time_range": {
            "first_created": pd.Timestamp(created.min()).isoformat() if len(created) else None,
            "last_created": pd.Timestamp(created.max()).isoformat() if len(created) else None,
        },
        "csv": {
            "encoding": "utf-8-sig" if excel else "utf-8",
            "dates": "YYYY-MM-DD HH:MM:SS, UTC" if excel else "ISO 8601 with offset",
            "formula_escape": "leading ' on text cells starting with = + - @ TAB CR or '",
        },
        "charts": charts,
        "files": files,
    }


def _figures(
    df: pd.DataFrame, scorecard: pd.DataFrame
) -> tuple[dict[str, Callable[[IO[bytes]], None]], str]:
    """PNG savers for the charts ``plots`` can draw, and a note for the manifest."""
    try:
        from . import plots
    except ImportError as exc:  # a trimmed install without the plots module
        return {}, f"skipped: {exc}"
    wanted: dict[str, tuple[str, Any]] = {
        "quota.png": ("plot_quota", df.attrs.get("quota")),
        "daily_volume.png": ("plot_volume", df),
        "compliance.png": ("plot_compliance", scorecard),
        "sentiment.png": ("plot_sentiment", df),
    }
    savers: dict[str, Callable[[IO[bytes]], None]] = {}
    try:
        for name, (function, data) in wanted.items():
            draw = getattr(plots, function, None)
            if draw is None or data is None or len(data) == 0:
                continue  # nothing to draw: an empty chart would only confuse
            savers[name] = _saver(draw(data))
    except (ImportError, MissingDependencyError) as exc:
        return {}, f"skipped: {exc}"
    return savers, "written" if savers else "none"


def _saver(figure: Any) -> Callable[[IO[bytes]], None]:
    def save(out: IO[bytes]) -> None:
        with warnings.catch_warnings():
            # Agent ids are caller data (emoji, control characters): a box in a label is fine.
            warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
            figure.savefig(out, format="png", dpi=100, bbox_inches="tight")
        if "matplotlib.pyplot" in sys.modules:  # figures made through pyplot stay open until closed
            sys.modules["matplotlib.pyplot"].close(figure)

    return save
