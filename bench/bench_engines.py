"""The agent scorecard past one machine's pandas: DuckDB on 20 million analyses, Spark, pandas.

A synthetic store table (the local store's ``table.parquet`` layout: load_calls' columns and
Arrow types, pandas metadata, 64 Ki-row groups, microsecond times), generated in chunks with
numpy and written with pyarrow, never fetched. Each measurement runs in a child process of
its own, so its peak RSS (``ru_maxrss``, imports included) is its alone:

- duckdb: ``agent_scorecard(scan_calls(table=...), period="M", detail=True)`` fetched as a
  pandas frame,
  on the big table (default 20,000,000 rows; acceptance: peak RSS <= 2 GB);
- pandas: ``pd.read_parquet`` then ``agent_scorecard(df, period="M", detail=True)`` at 1M, 2M,
  4M rows;
  peak RSS is close to linear in rows, so the fit says where 24 GB runs out (20M in pandas
  is extrapolated, not run: it would take the shared machine's memory);
- spark: the same scorecard on PySpark local mode for a smaller table (default 1M).

Then, in this process, the pandas route's speed against the pre-Narwhals implementation
(``git show BASELINE:callcov_analytics/metrics.py``, the baseline, run on the same frame in the
same process): the new code must not be slower, and both results must be equal.

``--queue ROWS`` runs only the review queue (`compliance_exceptions`) and the daily `volume`
on one table of ROWS: pandas (read whole) and DuckDB (`scan_calls`), each in a child process
for its peak RSS, and the pandas route against its previous pandas-only code (``PREVIOUS``) in
this process; results in ``bench/results/engines_queue.json``.

Usage: ``python bench/bench_engines.py [--rows 20000000] [--spark-rows 1000000]
[--pandas-rows 1000000 2000000 4000000] [--dir /tmp]`` or ``... --queue 2000000``. The
tables are deleted at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "engines.json"
BASELINE = "8fb1cd7"  # the last commit whose metrics.py is pandas-only (the baseline)
PREVIOUS = "26a7555"  # the last commit whose queue and volume are pandas-only
QUEUE_RESULTS = ROOT / "bench" / "results" / "engines_queue.json"
RSS_BAR = 2e9  # bytes: the DuckDB scorecard on 20M analyses
MACHINE_RAM = 24e9
CHUNK = 1_000_000
CHILD_TIMEOUT = 1800  # seconds; bounds every child
GB = 1e9


def table_schema() -> pa.Schema:
    """The store table's schema: load_calls' empty frame as Arrow, times in microseconds."""
    from callcov_analytics._decode.frame import empty_frame

    schema = pa.Table.from_pandas(empty_frame(), preserve_index=False).schema
    for name in ("created", "completed_at"):
        schema = schema.set(schema.get_field_index(name), pa.field(name, pa.timestamp("us", "UTC")))
    return schema


def chunk(rng: np.random.Generator, start: int, n: int, schema: pa.Schema) -> pa.Table:
    """Rows ``start .. start+n`` of a synthetic history: 600 agents, 2 years, ~8% no results."""
    status = rng.choice(["completed", "processing", "failed"], n, p=[0.92, 0.03, 0.05])
    done = status == "completed"

    def flag(p: float, missing: float = 0.02) -> pa.Array:
        values = rng.random(n) < p
        return pa.array(values, mask=~done | (rng.random(n) < missing))

    def ints(high: int, missing: float = 0.02) -> pa.Array:
        return pa.array(rng.integers(0, high, n), mask=~done | (rng.random(n) < missing))

    def labels(values: list[str]) -> pa.Array:
        codes = pa.array(rng.integers(0, len(values), n).astype(np.int8), mask=~done)
        return pa.DictionaryArray.from_arrays(codes, pa.array(values, pa.large_string()))

    ids = np.arange(start, start + n)
    created = 1_733_000_000_000_000 - ids * 3_000_000  # 3 s apart, newest first (microseconds)
    seconds = rng.gamma(4.0, 60.0, n)
    columns: dict[str, Any] = {
        "id": pa.array([f"an_{i:010d}" for i in ids], pa.large_string()),
        "created": pa.array(created, pa.timestamp("us", "UTC")),
        "status": pa.DictionaryArray.from_arrays(
            pa.array(np.searchsorted(["completed", "failed", "processing"], status), pa.int8()),
            pa.array(["completed", "failed", "processing"], pa.large_string()),
        ),
        "agent_id": pa.array(
            [f"agent_{a:03d}" for a in rng.integers(0, 600, n)], pa.large_string()
        ),
        "contact_id": pa.array([f"ct_{c:07d}" for c in rng.integers(0, 10**6, n)]),
        "duration_seconds": pa.array(seconds),
        "duration_ms": pa.array((seconds * 1000).astype(np.int64)),
        "identity_verified": flag(0.95),
        "identity_flagged": flag(0.03),
        "disclosures_read": flag(0.93),
        "disclosures_missing": ints(2),
        "purpose_disclosed": flag(0.96),
        "purpose_flagged": flag(0.02),
        "prohibited_phrases_used": flag(0.04),
        "sensitive_data_shared": flag(0.02),
        "sentiment_overall": labels(["negative", "neutral", "positive"]),
        "sentiment_customer_start": labels(["negative", "neutral", "positive"]),
        "sentiment_customer_end": labels(["negative", "neutral", "positive"]),
        "customer_effort_score": ints(6),
        "empathy_count": ints(5),
        "interruption_count": ints(5),
        "recommendation_count": ints(4),
        "recommendations_high": ints(2),
        "recommendations_medium": ints(2),
        "recommendations_low": ints(2),
    }
    arrays = [
        columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_table(path: Path, rows: int, seed: int = 16) -> float:
    """Write a synthetic store table of ``rows`` analyses in chunks; return its size in GB."""
    schema = table_schema()
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, CHUNK):
            writer.write_table(chunk(rng, start, min(CHUNK, rows - start), schema), 64 * 1024)
    return path.stat().st_size / GB


# --- children ---------------------------------------------------------------------------


def child(engine: str, table: str) -> dict[str, Any]:
    """One scorecard on one engine, in this (child) process: seconds, groups, peak RSS."""
    out = _scorecard(engine, table)
    # This process's own peak (imports included); Spark's JVM is another process: not counted.
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent at fork, so every
    # child would report at least the parent's size; VmHWM restarts with the exec.
    status = Path("/proc/self/status").read_text()
    hwm = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), None)
    peak = int(hwm) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out | {"peak_rss_bytes": peak * 1024}


def _scorecard(engine: str, table: str) -> dict[str, Any]:
    from callcov_analytics import metrics

    start = time.perf_counter()
    if engine in QUEUE_CHILDREN:
        return _queue(engine, table)
    if engine == "duckdb":
        from callcov_analytics._load.scan import scan_calls

        card = metrics.agent_scorecard(scan_calls(table=table), period="M", detail=True).df()
    elif engine == "pandas":
        card = metrics.agent_scorecard(pd.read_parquet(table), period="M", detail=True)
    elif engine == "spark":
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        ready = time.perf_counter()
        frame = spark.read.parquet(table)
        card = metrics.agent_scorecard(frame, period="M", detail=True).toPandas()
        spark.stop()
        return {"seconds": time.perf_counter() - ready, "groups": len(card)}
    else:
        raise SystemExit(f"unknown engine {engine}")
    return {"seconds": time.perf_counter() - start, "groups": len(card)}


# The review queue and the volume, each on pandas (read whole) and on DuckDB (scan_calls).
QUEUE_CHILDREN = ("pandas-queue", "duckdb-queue", "pandas-volume", "duckdb-volume")


def _queue(engine: str, table: str) -> dict[str, Any]:
    """`compliance_exceptions` or `volume` (per day) on pandas or DuckDB: seconds and rows."""
    from callcov_analytics import metrics
    from callcov_analytics._load.scan import scan_calls

    start = time.perf_counter()
    frame = pd.read_parquet(table) if engine.startswith("pandas") else scan_calls(table=table)
    out = (metrics.compliance_exceptions if engine.endswith("queue") else metrics.volume)(frame)
    return {"seconds": time.perf_counter() - start, "result_rows": len(out)}


def queue_vs_previous(table: Path, repeats: int = 2) -> dict[str, Any]:
    """The pandas route of the queue and the volume: best-of seconds, now vs `PREVIOUS`."""
    from callcov_analytics import metrics

    old = baseline_metrics(PREVIOUS)
    df = pd.read_parquet(table).astype({"created": "datetime64[ns, UTC]"})
    out: dict[str, Any] = {"rows": len(df)}
    for name in ("compliance_exceptions", "volume"):
        times, results = {}, {}
        for label, module in (("previous", old), ("now", metrics)):
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                results[label] = getattr(module, name)(df)
                best = min(best, time.perf_counter() - start)
            times[label] = best
        got, want = results["now"], results["previous"]
        if name == "volume":
            pd.testing.assert_frame_equal(got, want)
        else:  # the same exceptions and wording; the order and two columns are new
            keys = ["id", "check"]
            got = got[list(want.columns)].sort_values(keys, ignore_index=True)
            pd.testing.assert_frame_equal(got, want.sort_values(keys, ignore_index=True))
        out[name] = times | {
            "result_rows": len(got),
            "ratio_now_over_previous": times["now"] / times["previous"],
        }
    return out


def queue_main(rows: int, work: Path) -> dict[str, Any]:
    """The queue and volume benches on one table of ``rows``; results for queue.json."""
    table = work / "queue.parquet"
    size = write_table(table, rows)
    results: dict[str, Any] = {"table_gb": size}
    for engine in QUEUE_CHILDREN:
        got = measure(engine, table)
        results[engine] = {"rows": rows, **got}
        print(f"{engine:14} {rows:>11,} rows: {got['seconds']:6.1f} s, {got['result_rows']:,} "
              f"result rows, peak RSS {got['peak_rss_bytes'] / GB:5.2f} GB")  # fmt: skip
    results["pandas_now_vs_previous"] = queue_vs_previous(table)
    print("pandas route, now vs previous:", json.dumps(results["pandas_now_vs_previous"]))
    return results


def measure(engine: str, table: Path) -> dict[str, Any]:
    """Run `child` in a fresh process (bounded in time); its seconds, groups and peak RSS."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", engine, str(table)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        cwd=ROOT,
    )
    if proc.returncode:
        raise SystemExit(f"{engine} child failed:\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# --- pandas: new vs the baseline ----------------------------------------------------------


def baseline_metrics(commit: str = BASELINE) -> Any:
    """The metrics module of ``commit`` (default: the pre-Narwhals one) as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{commit}:callcov_analytics/metrics.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_metrics.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_metrics", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pandas_ratio(table: Path, repeats: int = 3) -> dict[str, Any]:
    """Best-of-``repeats`` seconds of the scorecard (all time and per month), new vs baseline."""
    from callcov_analytics import metrics

    old = baseline_metrics()
    df = pd.read_parquet(table).astype({"created": "datetime64[ns, UTC]"})
    out: dict[str, Any] = {"rows": len(df)}
    for period in (None, "M"):
        times = {}
        for name, module in (("baseline", old), ("narwhals", metrics)):
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                wide = {"detail": True} if module is metrics else {}
                card = module.agent_scorecard(df, period=period, **wide)
                best = min(best, time.perf_counter() - start)
            times[name] = best
            if name == "baseline":
                expected = card
            else:
                pd.testing.assert_frame_equal(card, expected)  # the same figures, exactly
        key = "all_time" if period is None else "monthly"
        out[key] = times | {"ratio_new_over_baseline": times["narwhals"] / times["baseline"]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--spark-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--pandas-rows", type=int, nargs="+", default=[1_000_000, 2_000_000, 4_000_000]
    )
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the tables go")
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "TABLE"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--queue", type=int, metavar="ROWS", help="only the review queue and volume benches"
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    if args.queue:
        work = Path(tempfile.mkdtemp(prefix="callcov-bench-queue-", dir=args.dir))
        try:
            QUEUE_RESULTS.write_text(json.dumps(queue_main(args.queue, work), indent=1) + "\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0

    work = Path(tempfile.mkdtemp(prefix="callcov-bench-engines-", dir=args.dir))
    results: dict[str, Any] = {}
    try:
        small = work / "small.parquet"
        write_table(small, min(args.pandas_rows))
        results["pandas_vs_baseline"] = pandas_ratio(small)
        print("pandas route, new vs baseline:", json.dumps(results["pandas_vs_baseline"]))

        fits = []
        for rows in sorted(args.pandas_rows):
            path = work / f"pandas-{rows}.parquet"
            write_table(path, rows)
            got = measure("pandas", path)
            fits.append((rows, got["peak_rss_bytes"]))
            results.setdefault("pandas", []).append({"rows": rows, **got})
            print(f"pandas   {rows:>11,} rows: {got['seconds']:7.1f} s, peak RSS "
                  f"{got['peak_rss_bytes'] / GB:5.2f} GB")  # fmt: skip
            path.unlink()
        slope, intercept = np.polyfit([r for r, _ in fits], [b for _, b in fits], 1)
        results["pandas_extrapolated"] = {
            "bytes_per_row": slope,
            f"peak_rss_at_{args.rows}": slope * args.rows + intercept,
            "rows_at_machine_ram": (MACHINE_RAM - intercept) / slope,
        }
        print(f"pandas   extrapolated: {slope:.0f} B/row; {args.rows:,} rows would peak at "
              f"{(slope * args.rows + intercept) / GB:.1f} GB; 24 GB runs out near "
              f"{(MACHINE_RAM - intercept) / slope / 1e6:.0f}M rows")  # fmt: skip

        spark_table = work / "spark.parquet"
        write_table(spark_table, args.spark_rows)
        results["spark"] = {"rows": args.spark_rows, **measure("spark", spark_table)}
        print(f"spark    {args.spark_rows:>11,} rows: {results['spark']['seconds']:7.1f} s "
              "(local[2], session start not counted)")  # fmt: skip
        spark_table.unlink()

        big = work / "big.parquet"
        start = time.perf_counter()
        size = write_table(big, args.rows)
        print(f"wrote {args.rows:,} rows ({size:.2f} GB) in {time.perf_counter() - start:.0f} s")
        got = measure("duckdb", big)
        results["duckdb"] = {"rows": args.rows, "table_gb": size, **got}
        peak = got["peak_rss_bytes"]
        verdict = "PASS" if peak <= RSS_BAR else "FAIL"
        print(f"duckdb   {args.rows:>11,} rows: {got['seconds']:7.1f} s, peak RSS "
              f"{peak / GB:5.2f} GB ({verdict}: bar {RSS_BAR / GB:.0f} GB)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.rows == 20_000_000:
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if results["duckdb"]["peak_rss_bytes"] <= RSS_BAR else 1


if __name__ == "__main__":
    sys.exit(main())
