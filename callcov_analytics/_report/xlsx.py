"""XlsxWriter set up so that no cell is ever a formula: formats, typed cell writers, tables.

XlsxWriter's ``write()`` would turn a string starting with ``=`` into a formula and a
URL-shaped string into a link (its ``strings_to_formulas`` and ``strings_to_urls`` options,
both on by default): both are switched off here, and every cell is written by its type's own
call (``write_string`` for text). Links go through ``write_url`` only, for URLs that pass
`safe_url`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any

import pandas as pd

from .._errors import MissingDependencyError

__all__ = ["Book", "column_width", "safe_url"]

_CELL_CHARS = 32_000  # Excel holds 32,767 characters per cell
_GREY, _RED, _AMBER, _GREEN = "#7F7F7F", "#F4B6A6", "#FBE3A2", "#B9E2CF"
_DEFAULT_WIDTH = 8.43  # a column's width when nobody set it, in characters
_HEADER = {"bold": True, "bg_color": "#DDE7F0", "bottom": 1, "text_wrap": True, "valign": "top"}


def safe_url(url: Any) -> bool:
    """True for an ``https://host/...`` URL Excel can hold, without spaces, quotes or controls."""
    if not isinstance(url, str) or not url.lower().startswith("https://") or len(url) > 2000:
        return False
    from urllib.parse import urlsplit

    if any(ch.isspace() or ch in '"<>\\^`{|}' or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.hostname) and "@" not in parts.netloc  # no user:password@ in a link


class Book:
    """An XlsxWriter workbook with this report's formats and typed cell writers."""

    def __init__(self, out: IO[bytes], tz: str) -> None:
        try:
            import xlsxwriter
        except ImportError as exc:  # a runtime dependency; only a broken install lacks it
            raise MissingDependencyError(
                "writing .xlsx needs XlsxWriter: pip install XlsxWriter"
            ) from exc
        self.tz = tz
        self.wb = xlsxwriter.Workbook(
            out,
            {
                "strings_to_formulas": False,  # "=HYPERLINK(...)" in a transcript stays text
                "strings_to_urls": False,  # links only through write_url, after safe_url
                "strings_to_numbers": False,
                "nan_inf_to_errors": True,
            },
        )
        add = self.wb.add_format
        self.f: dict[str, Any] = {
            "title": add({"bold": True, "font_size": 16}),
            "label": add({"bold": True, "valign": "top"}),
            "wrap": add({"text_wrap": True, "valign": "top"}),
            "note": add({"italic": True, "font_color": "#404040", "text_wrap": True}),
            "notice": add({"italic": True, "font_color": "#404040"}),  # one line, may overflow
            "header": add(_HEADER),
            "header_up": add(
                {
                    **_HEADER,
                    "rotation": 90,
                    "text_wrap": False,
                    "valign": "bottom",
                    "align": "center",
                }
            ),
            "text": add({}),
            # A right-aligned value beside left-aligned text ran into it ("15:54agent_009"):
            # numbers keep a ")"-wide gap ("_)"), times and seconds are centred.
            "int": add({"num_format": "#,##0_)"}),
            "float": add({"num_format": "#,##0.00_)"}),
            "pct": add({"num_format": "0.0%_)"}),
            "seconds": add({"num_format": '#,##0" s"', "align": "center"}),
            "duration": add({"num_format": "[h]:mm:ss_)"}),
            "date": add({"num_format": "yyyy-mm-dd hh:mm", "align": "center"}),
            "day": add({"num_format": "ddd d mmm yyyy", "align": "left"}),
            "bool": add({"align": "center", "num_format": '"yes";"yes";"no"'}),
            "link": add({"font_color": "#0563C1", "underline": 1}),
            "grey": add({"font_color": _GREY}),
            "rate": add({"align": "center"}),
            "grey_rate": add({"font_color": _GREY, "align": "center"}),
            "grey_int": add({"font_color": _GREY, "num_format": "#,##0_)"}),
            "red": add({"bg_color": _RED}),
            "amber": add({"bg_color": _AMBER}),
            "green": add({"bg_color": _GREEN}),
        }

    def cell(self, ws: Any, row: int, col: int, value: Any, kind: str, fmt: Any = None) -> None:
        """One value by its type's own writer; missing values stay blank."""
        if (
            value is None
            or value is pd.NA
            or value is pd.NaT
            or (isinstance(value, float) and math.isnan(value))
        ):
            return
        fmt = fmt if fmt is not None else self.f.get(kind)
        if kind == "text":
            text = str(value)
            if len(text) > _CELL_CHARS:
                text = text[:_CELL_CHARS] + " … [cut: Excel holds 32,767 characters a cell]"
            ws.write_string(row, col, text, fmt)
        elif kind == "bool":
            ws.write_boolean(row, col, bool(value), fmt)
        elif kind in ("date", "day"):
            ws.write_datetime(row, col, value, fmt)
        elif kind == "duration":
            ws.write_number(row, col, float(value) / 86_400, fmt)
        else:
            ws.write_number(row, col, float(value), fmt)

    def local(self, column: pd.Series) -> list[datetime | None]:
        """Aware timestamps as naive wall-clock datetimes in the report's zone (Excel has none)."""
        wall = column.dt.tz_convert(self.tz).dt.tz_localize(None)
        return [None if pd.isna(v) else v.to_pydatetime() for v in wall]

    def table(
        self,
        name: str,
        frame: pd.DataFrame,
        kinds: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        title: str = "",
        freeze_col: int = 1,
        fit: bool | int = True,
        upright: bool = False,
        printed: int | None = None,
        area: bool = True,
    ) -> Any:
        """A sheet holding ``frame`` under a header (below ``title`` if any): frozen, filtered.

        ``fit``: pages wide for printing (True: one). ``upright``: headers turned 90° so that
        columns are as narrow as their values. ``printed``: the data rows a printout holds
        (None: all; 0: a screen sheet, whose printout is the title alone). ``area``: see
        `layout`.
        """
        ws = self.wb.add_worksheet(name)
        top = 0
        if title:
            ws.write_string(0, 0, title, self.f["notice"])
            top = 1
        kinds = {
            str(c): (kinds or {}).get(str(c)) or _kind(str(c), t) for c, t in frame.dtypes.items()
        }
        widths: list[float] = []
        for col, (column, kind) in enumerate(kinds.items()):
            header = (headers or {}).get(str(column), str(column))
            if kind in ("date", "day"):
                header = f"{header} ({self.tz})"
            ws.write_string(top, col, header, self.f["header_up" if upright else "header"])
            # LibreOffice does not grow a header row itself: two lines, or the longest name
            # standing upright (many long machine names, narrow numbers)
            ws.set_row(top, 200 if upright else 30)
            values = self.local(frame[column]) if kind in ("date", "day") else frame[column]
            for row, value in enumerate(pd.Series(values, dtype=object), start=top + 1):
                self.cell(ws, row, col, value, kind)
            widths.append(column_width("" if upright else header, frame[column], kind))
            ws.set_column(col, col, widths[-1])
        self.layout(
            ws, top, len(frame), len(widths), freeze_col=freeze_col, fit=fit, printed=printed,
            area=area,
        )  # fmt: skip
        if printed == 0:  # a screen sheet's printout: its title, across the columns it needs
            ws.print_area(0, 0, 0, len(_spanning(widths, len(title))) - 1)
        return ws

    def layout(
        self,
        ws: Any,
        top: int,
        rows: int,
        cols: int,
        *,
        freeze_col: int,
        fit: bool | int,
        printed: int | None = None,
        area: bool = True,
    ) -> None:
        """Frozen header, autofilter, and the printout: its area, repeated header, fit to width.

        A screen sheet (``printed=0``) prints its first line alone: LibreOffice and Excel
        print every sheet of a workbook, and a table of thousands of rows would be hundreds
        of pages nobody reads. ``area=False`` leaves the area to the application (a sheet
        whose chart lies beside the table).
        """
        ws.freeze_panes(top + 1, freeze_col)
        if cols:
            ws.autofilter(top, 0, top + rows, cols - 1)
        ws.set_landscape()
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.set_footer("&L&A&RPage &P of &N")
        if printed == 0:  # the caller sets the area: the first line
            ws.fit_to_pages(1, 1)
            return
        ws.repeat_rows(top)
        if freeze_col:
            ws.repeat_columns(0, freeze_col - 1)
        if area and cols:
            last = top + (rows if printed is None else min(rows, printed))
            ws.print_area(0, 0, last, cols - 1)
        if fit:
            ws.fit_to_pages(int(fit), 0)  # so many pages wide, as many tall as it takes

    def close(self) -> None:
        """Write the file."""
        self.wb.close()


def _kind(name: str, dtype: Any) -> str:
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return "date"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        if name.endswith(("_rate", "_share", "_ci_low", "_ci_high")):
            return "pct"
        return "seconds" if name.endswith(("_seconds", "_at_s")) else "float"
    return "text"


def _spanning(widths: list[float], chars: int) -> list[float]:
    """The first columns (default width past the last) that hold ``chars`` characters."""
    held: list[float] = []
    for width in [*widths, *[_DEFAULT_WIDTH] * (1 + int(chars / _DEFAULT_WIDTH))]:
        held.append(width)
        if sum(held) >= chars:
            break
    return held


def column_width(header: str, column: pd.Series, kind: str) -> float:
    fixed = {"date": 18, "day": 16, "bool": 7, "pct": 8, "duration": 10, "seconds": 11}
    if kind in fixed:
        longest = fixed[kind]
    else:
        sample = column.head(200).dropna().astype(str).str.len()
        longest = int(sample.max()) if len(sample) else 4
    words = max((len(w) for w in header.split()), default=4)
    return float(min(max(longest, words, 6) + 2, 50))
