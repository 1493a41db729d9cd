"""Every engine reads the store's table folder as load_calls' rows, in one call each.

A sandbox store spread over several table files (files of 200 rows here) is put through
what a real one meets: processing analyses that complete, one that is deleted, an unknown
field in one page only, a refresh interrupted after one page and finished by the next load;
and, separately, a store written by the earlier layout (one ``table.parquet``) upgraded in
place by a refresh. Each engine reads the folder with the one call docs/store.md documents
and gets load_calls' ids once each, no stale or deleted analysis, every unknown-field column
and the types the docs list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics import SCHEMA, CallCovClient
from callcov_analytics._clock import SystemClock
from callcov_analytics._store import folder as _store
from callcov_analytics._store import merge as _store_merge
from callcov_analytics.sandbox import Sandbox
from tests.observers import StopAfter

SMALL_FILES = 200
TIMES = {"created": "datetime64[us, UTC]", "completed_at": "datetime64[us, UTC]"}


@pytest.fixture(scope="module", params=["refreshed", "upgraded"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[pd.DataFrame, Path]]:
    from callcov_analytics.sandbox import serve

    root = tmp_path_factory.mktemp("engines")
    with (
        pytest.MonkeyPatch.context() as patch,
        serve("enterprise", n_analyses=1200, window_seconds=60) as api,
    ):
        for module in (_store, _store_merge):
            patch.setattr(module, "FILE_ROWS", SMALL_FILES)
        young = [r["id"] for r in api.insert(4, status="processing")]
        load(api, root)
        if request.param == "upgraded":
            to_earlier_layout(root)
        api.insert(250, status="completed")
        with pytest.raises(cca.LoadInterrupted):
            load(api, root, observer=StopAfter(1))
        load(api, root)  # finishes the interrupted crawl
        for analysis_id in young[1:]:
            api.set_status(analysis_id, "completed")
        load(api, root)  # re-reads them: their rows change in the files that hold them
        api.delete(young[:1])  # re-checked by id, gone: it leaves the store
        df = load(api, root)
        assert df["id"].tolist() == api.ids()
        assert (df.set_index("id").loc[young[1:], "status"] == "completed").all()
        assert {"sentiment_score", "call.queue", "experimental.foo"} <= set(df.columns)
        (table,) = cca.cache_info(root)["table"]
        assert len(list(Path(table).glob("*.parquet"))) > 3
        yield df, Path(table)


def load(api: Sandbox, root: Path, **options: Any) -> pd.DataFrame:
    client = CallCovClient(api.key, api.url, clock=SystemClock(sleep=lambda s: None))
    return cca.load_calls(client=client, limit=100, cache_dir=root, progress=False, **options)


def to_earlier_layout(root: Path) -> None:
    """Rewrite the store as the earlier version left it: one table.parquet, state version 2."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (state_path,) = root.rglob("state.json")
    folder = state_path.parent
    frame = pd.read_parquet(folder / "table").sort_values(
        ["created", "id"], ascending=False, ignore_index=True
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**table.schema.metadata, b"callcov.token": b"0123"})
    pq.write_table(table, folder / "table.parquet", coerce_timestamps="us")
    for path in (folder / "table").glob("*"):
        path.unlink()
    (folder / "table").rmdir()
    state = json.loads(state_path.read_text())
    state.update(version=2, files={"table.parquet": {"rows": len(frame), "token": "0123"}})
    state_path.write_text(json.dumps(state))


def newest_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in load_calls' order: files are read in name order, not time order."""
    return frame.sort_values(["created", "id"], ascending=False, ignore_index=True)


def check(df: pd.DataFrame, ids: list[Any], statuses: list[Any], columns: list[str]) -> None:
    """Each of load_calls' ids once, with its latest status, and every column."""
    assert len(ids) == len(set(ids)) == len(df)
    assert dict(zip(ids, map(str, statuses), strict=True)) == dict(
        zip(df["id"], df["status"].astype(str), strict=True)
    )
    assert set(columns) == set(df.columns)


def same_frame(out: pd.DataFrame, df: pd.DataFrame) -> None:
    """Every value and dtype of load_calls (category order may differ between files)."""
    pd.testing.assert_frame_equal(newest_first(out), df.astype(TIMES), check_categorical=False)
    assert out.dtypes.astype(str).tolist() == df.astype(TIMES).dtypes.astype(str).tolist()


def test_pandas_and_pyarrow_read_the_frame(loaded: tuple[pd.DataFrame, Path]) -> None:
    import pyarrow.parquet as pq

    df, table = loaded
    # Every dtype is load_calls' (categories, boolean, Int64, string), times in microseconds.
    same_frame(pd.read_parquet(table), df)
    same_frame(pq.read_table(table).to_pandas(), df)


# Dask's own call of a pandas API that pandas 3.1 deprecates; not ours to fix.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_dask_reads_the_frame(loaded: tuple[pd.DataFrame, Path]) -> None:
    import dask.dataframe as dd

    df, table = loaded
    same_frame(dd.read_parquet(table).compute(), df)


def test_duckdb_reads_the_table(loaded: tuple[pd.DataFrame, Path]) -> None:
    import duckdb

    df, table = loaded
    rel = duckdb.read_parquet(f"{table}/*.parquet")
    rows = rel.select("id, status").fetchall()
    check(df, [r[0] for r in rows], [r[1] for r in rows], rel.columns)
    types = dict(zip(rel.columns, map(str, rel.types), strict=True))
    assert types["created"] == "TIMESTAMP WITH TIME ZONE"
    assert types["identity_verified"] == "BOOLEAN" and types["empathy_count"] == "BIGINT"
    assert types["status"] == "VARCHAR"  # DuckDB reads categories as text


def test_polars_reads_the_table(loaded: tuple[pd.DataFrame, Path]) -> None:
    import polars as pl

    df, table = loaded
    out = pl.read_parquet(f"{table}/*.parquet")
    check(df, out["id"].to_list(), out["status"].to_list(), out.columns)
    assert out.schema["status"] == pl.Categorical
    assert out.schema["identity_verified"] == pl.Boolean
    assert out.schema["empathy_count"] == pl.Int64
    assert out.schema["created"] == pl.Datetime("us", "UTC")


# PySpark warns that it does not fully support pandas 3; it only reads Parquet here.
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
def test_spark_reads_the_table(loaded: tuple[pd.DataFrame, Path], spark: Any) -> None:
    df, table = loaded
    out = spark.read.parquet(str(table))
    rows = out.select("id", "status").collect()
    check(df, [r["id"] for r in rows], [r["status"] for r in rows], out.columns)
    types = dict(out.dtypes)
    assert types["created"] == "timestamp" and types["identity_verified"] == "boolean"
    assert types["empathy_count"] == "bigint" and types["status"] == "string"


def test_every_documented_column_has_its_arrow_type(loaded: tuple[pd.DataFrame, Path]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, table = loaded
    schema = pq.read_table(table).schema
    for name, dtype in SCHEMA.items():
        kind = schema.field(name).type
        if dtype == "category":
            assert pa.types.is_dictionary(kind), name
        elif dtype == "boolean":
            assert kind == pa.bool_(), name
        elif dtype == "Int64":
            assert kind == pa.int64(), name
