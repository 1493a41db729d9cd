"""Formula-safe CSV: for a spreadsheet (the default) or for a program, and read back.

For a spreadsheet (a manager double-clicks the file): UTF-8 *with* a byte-order mark (Excel
reads UTF-8 only behind one, and LibreOffice's import dialog preselects UTF-8 when it sees one,
so ``46% (42–51%)`` keeps its en dash); times as ``2026-11-01 09:00:00`` wall clock in the
report's zone, named in the header (``created (Europe/London)``), which Excel takes for a date
(LibreOffice 7.4 does when "Detect special numbers" is ticked in its import dialog); a column
of midnights (a day) as ``2026-11-01``; rates and shares as ``51.9%``; other decimals to two
places (``talk_minutes`` 15.33, not 15 digits).

For a program (``machine=True``): UTF-8 without a BOM, ISO 8601 times with their offset
(``2026-11-01T09:00:00+00:00``, in the column's own zone), every float at full precision
(``repr``, which reads back exactly).

Both: comma-separated, CRLF rows (RFC 4180, Python's ``excel`` dialect); text cells always
quoted and missing values empty and unquoted, so an empty string and a missing value stay
different. Formula injection (OWASP "CSV injection"): Excel and LibreOffice run a cell that
starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return as a formula, and ids, contact
ids and transcripts are text a caller controls. Every *text* cell, the header included, that
starts with one of those characters gets a leading ``'``, so the spreadsheet shows it as text.
Text that already starts with ``'`` gets one more, so stripping exactly one leading ``'`` from
every text cell (what `read_report_csv` does) gives back the original. Numbers, booleans and
dates are not text: ``-5`` in a numeric column stays the number -5.

Reading back: ``read_report_csv(folder / "calls.csv")`` restores values and dtypes from the
manifest (a spreadsheet CSV's rounded figures come back rounded). With plain pandas:
``pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])``, then
``.str.removeprefix("'")`` on the text columns.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .._store.atomic import atomic_open, storage_errors

__all__ = ["FORMULA_TRIGGERS", "MANIFEST", "neutralize", "read_report_csv", "write_csv"]

FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*FORMULA_TRIGGERS, "'")  # "'" too, so one strip always undoes the escape
_RATES = ("_rate", "_share", "_ci_low", "_ci_high")  # shares of one, written as percentages
MANIFEST = "manifest.json"
_NA = ""


def neutralize(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_ESCAPED) else text


def _quote(text: str) -> str:
    return '"' + neutralize(text).replace('"', '""') + '"'


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or value != value


def _cells(name: str, column: pd.Series, machine: bool, tz: str) -> list[str]:
    """One column as finished CSV cells (quoted and neutralized where it is text)."""
    dtype = column.dtype
    values = [None if _missing(v) else v for v in column.astype(object)]
    if pd.api.types.is_bool_dtype(dtype):
        return [_NA if v is None else ("true" if v else "false") for v in values]
    if pd.api.types.is_integer_dtype(dtype):
        return [_NA if v is None else str(int(v)) for v in values]
    if pd.api.types.is_float_dtype(dtype):
        if machine:  # repr is the shortest text that reads back exactly
            return [_NA if v is None else repr(float(v)) for v in values]
        if name.endswith(_RATES):
            return [_NA if v is None else f"{float(v) * 100 + 0.0:.1f}%" for v in values]
        return [_NA if v is None else f"{round(float(v), 2) + 0.0:.2f}" for v in values]
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        if machine:
            return [_NA if ts is pd.NaT else ts.isoformat(sep="T") for ts in column]
        wall = _wall_clock(column, tz)
        known = wall.dropna()
        days = len(known) > 0 and bool((known == known.dt.normalize()).all())  # a day column
        form = "%Y-%m-%d" if days else "%Y-%m-%d %H:%M:%S"
        return [_NA if ts is pd.NaT else ts.strftime(form) for ts in wall]
    return [_NA if v is None else _quote(str(v)) for v in values]


def _wall_clock(column: pd.Series, tz: str) -> pd.Series:
    """Aware times as naive wall-clock times in ``tz`` (spreadsheets have no zones)."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        wall: pd.Series = column.dt.tz_convert(tz).dt.tz_localize(None)
        return wall
    return column


def _header(frame: pd.DataFrame, machine: bool, tz: str) -> list[str]:
    names = []
    for name, dtype in frame.dtypes.items():
        zoned = not machine and isinstance(dtype, pd.DatetimeTZDtype)
        names.append(_quote(f"{name} ({tz})" if zoned else str(name)))
    return names


def write_csv(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    machine: bool = False,
    tz: str | None = None,
) -> Path:
    """Write ``frame`` as a formula-safe CSV, atomically (module `report` describes the format).

    Args:
        frame: any DataFrame; text cells starting with ``= + - @``, tab or CR get a ``'``.
        path: the CSV file to create or replace.
        machine: for programs: no BOM, ISO 8601 times with offset, full precision. The
            default is for spreadsheets: BOM, wall-clock times in ``tz``, rounded figures.
        tz: the zone of a spreadsheet CSV's times (default ``frame.attrs["tz"]``, else UTC).

    Example:
        >>> write_csv(load_calls(status="failed"), "failed.csv")  # doctest: +SKIP
    """
    from .._dates import check_tz

    path = Path(path)
    zone = check_tz(tz if tz is not None else frame.attrs.get("tz"))
    with storage_errors(path, "nothing was written under that name"):
        write_csv_file(frame, path, machine, zone)
    return path


def write_csv_file(frame: pd.DataFrame, path: Path, machine: bool, tz: str) -> None:
    """The CSV at ``path`` (storage errors as they come: the caller turns them into advice)."""
    columns = [
        _cells(str(frame.columns[i]), frame.iloc[:, i], machine, tz) for i in range(frame.shape[1])
    ]
    with atomic_open(path, "w", encoding="utf-8" if machine else "utf-8-sig") as out:
        out.write(",".join(_header(frame, machine, tz)) + "\r\n")
        for row in zip(*columns, strict=True):
            out.write(",".join(row) + "\r\n")


def read_report_csv(
    path: str | os.PathLike[str], *, schema: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Read a report CSV back with its values and dtypes (undoing the ``'`` escape).

    Args:
        path: a CSV written by `export_report` or `write_csv`, for a spreadsheet or not.
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
        path,  # pyarrow skips a UTF-8 BOM
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.string() for h in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" is an empty string, an empty cell is NA
        ),
    )
    out = {}
    for raw, array in zip(header, table.columns, strict=True):
        name, zone = _unescape(raw), None
        zoned = re.fullmatch(r"(.*) \(([\w/+-]+)\)", name)
        if schema is not None and name not in schema and zoned and zoned[1] in schema:
            name, zone = zoned[1], zoned[2]  # "created (Europe/London)": wall clock there
        text = pd.Series(array.to_pylist(), dtype=object).map(_unescape, na_action="ignore")
        dtype = (schema or {}).get(name, "string")
        out[name] = _parsed(text, dtype, categories.get(name), zone)
    return pd.DataFrame(out)


def _unescape(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def _parsed(
    text: pd.Series, dtype: str, categories: list[str] | None, zone: str | None
) -> pd.Series:
    """A column of CSV text (None = NA) as ``dtype``."""
    if dtype == "category":
        known = pd.Index(categories if categories is not None else text.dropna().unique())
        return text.astype(pd.CategoricalDtype(known.astype("str")))
    target = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_bool_dtype(target):
        text = text.map({"true": True, "false": False})
    elif isinstance(target, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(target):
        if zone is not None:  # a spreadsheet CSV: wall-clock times in the header's zone
            wall = pd.to_datetime(text, format="ISO8601")
            local = wall.dt.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
            aware = isinstance(target, pd.DatetimeTZDtype)
            text = local.dt.tz_convert(getattr(target, "tz", None)) if aware else wall
        else:
            parsed = pd.to_datetime(text, utc=True, format="ISO8601")
            text = parsed if isinstance(target, pd.DatetimeTZDtype) else parsed.dt.tz_localize(None)
    elif pd.api.types.is_numeric_dtype(target):
        percent = text.str.endswith("%", na=False)
        numbers = pd.to_numeric(text.where(~percent, text.str.removesuffix("%")))
        text = numbers.where(~percent, numbers / 100)
    out: pd.Series = text.astype(target)
    return out
