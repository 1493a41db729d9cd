"""Which table format the local store uses: Delta Lake (deltalake) vs compacted plain Parquet.

One run, one process, on 10,000 sandbox analyses (pages of 500 as the store checkpoints them):

1. **Offline reads**: each engine's own documented call on each format, on a machine that
   reaches no extension or jar repository (DuckDB extensions and Spark packages are
   downloaded at first use: that download is what fails here).
2. **Cost per checkpointed page**: writing one page durably, as the store does after every
   request (our page file + state, fsynced; Delta: an append commit, or a merge on ``id``,
   which a table of one row per analysis needs when a page re-reads processing analyses).
3. **Compaction**: folding the pages into one row per analysis (ours: one file rewritten;
   Delta: optimize + vacuum), and the files left.
4. **A reader while a load writes**: one thread rewrites the table 20 times while another
   reads it in a loop; counted: reads that failed or saw a wrong row count.

Usage: ``python bench/bench_store_formats.py``. Not a test; results in
bench/results/store_formats.json. Iceberg is not measured by writing: its Spark runtime jar
and DuckDB extension are downloads too (step 1 shows the DuckDB one failing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import callcov_analytics as cca
from callcov_analytics import CallCovClient, sandbox
from callcov_analytics._store.folder import Store

RESULTS = Path(__file__).resolve().parent / "results" / "store_formats.json"
N, PAGE = 10_000, 500


def frame_table(root: Path) -> tuple[pa.Table, Path]:
    """The store's table (and its path) after a real load of N sandbox analyses."""
    with sandbox.serve("enterprise", n_analyses=N, window_seconds=60) as api:
        client = CallCovClient(api.key, api.url, sleep=lambda s: None)
        cca.load_calls(client=client, cache_dir=root, progress=False)
    (path,) = root.rglob("table/*.parquet")  # 10,000 analyses: one table file
    return pq.read_table(path), path


def try_read(label: str, read: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        rows = read()
    except Exception as exc:  # what each engine says, recorded
        return {"engine": label, "ok": False, "error": f"{type(exc).__name__}: {str(exc)[:160]}"}
    return {
        "engine": label,
        "ok": True,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def offline_reads(table_path: Path, delta_path: Path) -> list[dict[str, Any]]:
    import dask.dataframe as dd
    import duckdb
    import pandas as pd
    import polars as pl
    from deltalake import DeltaTable

    out = []
    for fmt, path in (("parquet", str(table_path)), ("delta", str(delta_path))):
        reads = {
            # A connection each: a failed INSTALL leaves the default one unusable.
            "duckdb": lambda p=path, f=fmt: (
                duckdb.connect()
                .sql(
                    f"select count(*) from read_parquet('{p}')"
                    if f == "parquet"
                    else f"install delta; load delta; select count(*) from delta_scan('{p}')"
                )
                .fetchall()[0][0]
            ),
            "polars": lambda p=path, f=fmt: len(
                pl.read_parquet(p) if f == "parquet" else pl.read_delta(p)
            ),
            "pyarrow": lambda p=path, f=fmt: (
                (pq.read_table(p) if f == "parquet" else DeltaTable(p).to_pyarrow_table()).num_rows
            ),
            "pandas": lambda p=path, f=fmt: len(
                pd.read_parquet(p) if f == "parquet" else DeltaTable(p).to_pandas()
            ),
            # Dask has no Delta reader of its own: the files, without the log.
            "dask": lambda p=path, f=fmt: len(
                dd.read_parquet(p) if f == "parquet" else dd.read_parquet(f"{p}/*.parquet")
            ),
        }
        for engine, read in reads.items():
            out.append({"format": fmt, **try_read(engine, read)})
        out.append({"format": fmt, **spark_read(path, fmt)})
    # DuckDB's Iceberg reader is an extension too.
    out.append(
        {
            "format": "iceberg",
            **try_read(
                "duckdb", lambda: duckdb.connect().sql("install iceberg; load iceberg").fetchall()
            ),
        }
    )
    return out


def spark_read(path: str, fmt: str) -> dict[str, Any]:
    """Spark in a child process (a JVM per format, so one failure cannot taint the other)."""
    code = (
        "import sys; from pyspark.sql import SparkSession; "
        "s = SparkSession.builder.master('local[1]').config('spark.ui.enabled','false')"
        + (
            ".config('spark.jars.packages','io.delta:delta-spark_2.13:4.0.0')"
            ".config('spark.sql.extensions','io.delta.sql.DeltaSparkSessionExtension')"
            if fmt == "delta"
            else ""
        )
        + ".getOrCreate(); "
        + ("print(s.read.parquet(" if fmt == "parquet" else "print(s.read.format('delta').load(")
        + f"{path!r}).count())"
    )
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode == 0:
        rows = int(done.stdout.strip().splitlines()[-1])
        return {
            "engine": "spark",
            "ok": True,
            "rows": rows,
            "seconds": round(time.perf_counter() - t0, 1),
        }
    last = [ln for ln in done.stderr.splitlines() if "Exception" in ln or "Error" in ln][:1]
    return {
        "engine": "spark",
        "ok": False,
        "error": (last[0] if last else done.stderr[-160:])[:160],
    }


def page_costs(table: pa.Table, work: Path) -> dict[str, Any]:
    """Seconds per durable page: ours, a Delta append, a Delta merge on id."""
    from deltalake import DeltaTable, write_deltalake

    pages = [table.slice(i, PAGE) for i in range(0, table.num_rows, PAGE)]
    meta = {"base_url": "bench", "key_hint": "-", "query": {}, "columns": {}}
    store = Store(work / "ours", meta)
    store.path.mkdir(parents=True)
    t0 = time.perf_counter()
    for seq, page in enumerate(pages, 1):
        store.append(page, seq)
        store.save_state({"head": None, "floor": None, "gaps": []})
    ours = (time.perf_counter() - t0) / len(pages)
    t0 = time.perf_counter()
    store.compact({"head": None, "floor": None, "gaps": []})
    ours_compact = time.perf_counter() - t0
    ours_files = sum(1 for p in store.path.rglob("*.parquet"))

    delta = str(work / "append")
    t0 = time.perf_counter()
    for page in pages:
        write_deltalake(delta, page, mode="append")
    append = (time.perf_counter() - t0) / len(pages)
    files_before = sum(1 for _ in Path(delta).rglob("*.parquet"))
    t0 = time.perf_counter()
    dt = DeltaTable(delta)
    dt.optimize.compact()
    dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    delta_compact = time.perf_counter() - t0
    delta_files = sum(1 for _ in Path(delta).rglob("*.parquet"))
    log_files = sum(1 for _ in (Path(delta) / "_delta_log").glob("*.json"))

    merged = str(work / "merge")
    write_deltalake(merged, pages[0], mode="append")
    t0 = time.perf_counter()
    for page in pages[1:]:
        (
            DeltaTable(merged)
            .merge(page, "t.id = s.id", source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    merge = (time.perf_counter() - t0) / (len(pages) - 1)
    return {
        "pages": len(pages),
        "ours_page_s": round(ours, 4),
        "delta_append_page_s": round(append, 4),
        "delta_merge_page_s": round(merge, 4),
        "ours_compact_s": round(ours_compact, 3),
        "delta_optimize_vacuum_s": round(delta_compact, 3),
        "ours_files_after": ours_files,
        "delta_files_before_optimize": files_before,
        "delta_files_after": delta_files,
        "delta_log_files": log_files,
    }


def reader_while_writing(table: pa.Table, work: Path) -> dict[str, Any]:
    """20 table rewrites (ours: rename over; Delta: overwrite commits) under a reading loop."""
    import duckdb
    import polars as pl
    from deltalake import DeltaTable, write_deltalake

    result: dict[str, Any] = {}
    con = duckdb.connect()
    path = work / "live.parquet"
    pq.write_table(table, path)
    delta = str(work / "live_delta")
    write_deltalake(delta, table)
    readers = {
        "ours/duckdb": lambda: con.sql(f"select count(*) from read_parquet('{path}')").fetchall()[
            0
        ][0],
        "ours/polars": lambda: len(pl.read_parquet(path)),
        "ours/pyarrow": lambda: pq.read_table(path).num_rows,
        "delta/deltalake": lambda: DeltaTable(delta).to_pyarrow_table().num_rows,
    }

    def write_ours() -> None:
        for _ in range(20):
            tmp = path.with_name(".live.tmp")
            pq.write_table(table, tmp)
            os.replace(tmp, path)

    def write_delta() -> None:
        for _ in range(20):
            write_deltalake(delta, table, mode="overwrite")

    for label, read in readers.items():
        stop, reads, bad = threading.Event(), 0, 0
        writer = threading.Thread(target=write_delta if label.startswith("delta") else write_ours)
        writer.start()
        while writer.is_alive() and reads < 10_000:
            try:
                bad += read() != table.num_rows
            except Exception:
                bad += 1
            reads += 1
        writer.join()
        stop.set()
        result[label] = {"reads": reads, "failed_or_wrong": bad}
    return result


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="callcov-formats-"))
    try:
        table, table_path = frame_table(work / "cache")
        from deltalake import write_deltalake

        # Delta gets plain strings (its writer and merge take no dictionaries) and no metadata.
        table = table.replace_schema_metadata(None)
        table = pa.table(
            {
                f.name: table[f.name].cast(f.type.value_type)
                if pa.types.is_dictionary(f.type)
                else table[f.name]
                for f in table.schema
            }
        )

        write_deltalake(str(work / "delta"), table)
        # One page re-read (processing analyses completed, say): a merge on id, as a table of
        # one row per analysis needs. Readers that ignore the log now see both versions.
        from deltalake import DeltaTable

        (
            DeltaTable(str(work / "delta"))
            .merge(table.slice(0, PAGE), "t.id = s.id", source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        results = {
            "analyses": table.num_rows,
            "offline_reads": offline_reads(table_path, work / "delta"),
            "page_costs": page_costs(table, work),
            "reader_while_writing": reader_while_writing(table, work),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
