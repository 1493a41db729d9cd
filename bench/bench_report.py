"""Benchmark: the manager's workbook against the CSV folder and pandas' own ``to_excel``.

Run: ``python bench/bench_report.py [--n 5000] [--repeat 3]``. One sandbox load of ``n`` calls
(with transcripts), then, in this process, the best of ``repeat`` runs of: the report folder
without the workbook or charts (CSVs for programs + manifest, the baseline), the same folder
with CSVs for spreadsheets (the default: wall-clock dates, rounded figures), ``export_report``
to .xlsx (six sheets, charts), and pandas' ``DataFrame.to_excel(engine="xlsxwriter")`` of the
calls alone (time zones dropped, as it requires), the generic route. Ratios are printed and written
to bench/results/report.json. Not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from callcov_analytics import load_calls, sandbox
from callcov_analytics.report import export_report

RESULTS = Path(__file__).resolve().parent / "results" / "report.json"


def best(run: Callable[[int], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs, in seconds."""
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with sandbox.serve(plan="enterprise", n_analyses=args.n) as api:
        df = load_calls(api.key, api.url, include_transcript=True, cache=False, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = best(
            lambda i: export_report(df, root / f"f{i}", charts=False, workbook=False, machine=True),
            args.repeat,
        )
        people = best(
            lambda i: export_report(df, root / f"s{i}", charts=False, workbook=False),
            args.repeat,
        )
        book = best(lambda i: export_report(df, root / f"b{i}.xlsx"), args.repeat)
        naive = df.copy()
        for column, dtype in naive.dtypes.items():
            if isinstance(dtype, pd.DatetimeTZDtype):
                naive[column] = naive[column].dt.tz_localize(None)
        generic = best(
            lambda i: naive.to_excel(root / f"p{i}.xlsx", engine="xlsxwriter", index=False),
            args.repeat,
        )
        size = (root / "b0.xlsx").stat().st_size
    result = {
        "n": len(df),
        "python": platform.python_version(),
        "seconds": {
            "csv_folder": folder,
            "spreadsheet_csv_folder": people,
            "workbook": book,
            "pandas_to_excel_calls": generic,
        },
        "ratios": {
            "spreadsheet_vs_machine_csv_folder": people / folder,
            "workbook_vs_csv_folder": book / folder,
            "workbook_vs_pandas_to_excel_calls": book / generic,
        },
        "workbook_bytes": size,
    }
    print(f"{len(df)} calls, best of {args.repeat}:")
    print(f"  CSV folder, machine (baseline) {folder:6.2f} s")
    print(f"  CSV folder, for spreadsheets   {people:6.2f} s  ({people / folder:.2f}x)")
    print(f"  workbook, six sheets + charts  {book:6.2f} s  ({book / folder:.2f}x the folder)")
    print(
        f"  pandas to_excel, calls only    {generic:6.2f} s  "
        f"(the workbook takes {book / generic:.2f}x)"
    )
    print(f"  workbook size {size / 1e6:.1f} MB")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
