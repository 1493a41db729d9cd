"""The store's table, read by DuckDB, Polars, pyarrow, pandas, Dask and Spark, is load_calls'.

One sandbox load with processing analyses that complete before a second load, and an
analysis with unknown fields in one page only: each engine reads ``table.parquet`` with the
one call the README documents and gets load_calls' ids once each, no stale status, every
unknown-field column and the types the README lists for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics._client import CallCovClient
from callcov_analytics._schema import SCHEMA
from callcov_analytics.sandbox import Sandbox


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pd.DataFrame, Path]]:
    from callcov_analytics.sandbox import serve

    root = tmp_path_factory.mktemp("engines")
    with serve("enterprise", n_analyses=1200, window_seconds=60) as api:
        young = [r["id"] for r in api.insert(4, status="processing")]
        load(api, root)
        for analysis_id in young:
            api.set_status(analysis_id, "completed")
        df = load(api, root)
        assert df["id"].tolist() == api.ids()
        assert (df.set_index("id").loc[young, "status"] == "completed").all()
        assert {"sentiment_score", "call.queue", "experimental.foo"} <= set(df.columns)
        (table,) = cca.cache_info(root)["table"]
        yield df, Path(table)


def load(api: Sandbox, root: Path) -> pd.DataFrame:
    client = CallCovClient(api.key, api.url, sleep=lambda s: None)
    return cca.load_calls(client=client, limit=100, cache_dir=root, progress=False)


def check(df: pd.DataFrame, ids: list[Any], statuses: list[Any], columns: list[str]) -> None:
    """Each of load_calls' ids once, with its latest status, and every column."""
    assert len(ids) == len(set(ids)) == len(df)
    assert dict(zip(ids, map(str, statuses), strict=True)) == dict(
        zip(df["id"], df["status"].astype(str), strict=True)
    )
    assert set(columns) == set(df.columns)


def test_pandas_and_pyarrow_read_the_frame(loaded: tuple[pd.DataFrame, Path]) -> None:
    import pyarrow.parquet as pq

    df, table = loaded
    times = {"created": "datetime64[us, UTC]", "completed_at": "datetime64[us, UTC]"}
    # Every dtype is load_calls' (categories, boolean, Int64, string), times in microseconds.
    pd.testing.assert_frame_equal(pd.read_parquet(table), df.astype(times))
    pd.testing.assert_frame_equal(pq.read_table(table).to_pandas(), df.astype(times))


# Dask's own call of a pandas API that pandas 3.1 deprecates; not ours to fix.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_dask_reads_the_frame(loaded: tuple[pd.DataFrame, Path]) -> None:
    import dask.dataframe as dd

    df, table = loaded
    out = dd.read_parquet(table).compute().reset_index(drop=True)
    times = {"created": "datetime64[us, UTC]", "completed_at": "datetime64[us, UTC]"}
    pd.testing.assert_frame_equal(out, df.astype(times))


def test_duckdb_reads_the_table(loaded: tuple[pd.DataFrame, Path]) -> None:
    import duckdb

    df, table = loaded
    rel = duckdb.read_parquet(str(table))
    rows = rel.select("id, status").fetchall()
    check(df, [r[0] for r in rows], [r[1] for r in rows], rel.columns)
    types = dict(zip(rel.columns, map(str, rel.types), strict=True))
    assert types["created"] == "TIMESTAMP WITH TIME ZONE"
    assert types["identity_verified"] == "BOOLEAN" and types["empathy_count"] == "BIGINT"
    assert types["status"] == "VARCHAR"  # DuckDB reads categories as text


def test_polars_reads_the_table(loaded: tuple[pd.DataFrame, Path]) -> None:
    import polars as pl

    df, table = loaded
    out = pl.read_parquet(table)
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
    schema = pq.read_schema(table)
    for name, dtype in SCHEMA.items():
        kind = schema.field(name).type
        if dtype == "category":
            assert pa.types.is_dictionary(kind), name
        elif dtype == "boolean":
            assert kind == pa.bool_(), name
        elif dtype == "Int64":
            assert kind == pa.int64(), name
