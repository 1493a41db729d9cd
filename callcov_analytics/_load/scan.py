"""scan_calls(): the stored history as a lazy DuckDB, Polars or Spark table, for data past RAM.

`load_calls` builds one pandas frame (1 million analyses peak near 1.4 GB); `scan_calls`
reads the local store's ``table/`` folder of Parquet files (one row per analysis at its
latest version) with an engine that streams it, with the same filters and columns, so
`metrics.agent_scorecard` and friends run on that engine and only their small results are
ever in memory.

It reads what is stored and makes **no request** unless ``refresh`` asks for one: bring the
store up to date with ``load_calls(...)`` (the same filters), or with
``scan_calls(..., refresh=True)``, which runs the same incremental sync without building a
pandas frame at all: its memory is set by a batch of pages and one table file, not by the
store's size.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Unpack

from .._errors import CallCovError, MissingDependencyError, StoreWarning, ValidationError
from .._http.client import CallCovClient
from .._secrets import Secret
from .._store.catalog import open_store
from .._store.folder import Store
from .loaders import load
from .options import FILTER_DEFAULTS, Filters, Refresh, spelled_out
from .settings import LoadSettings, settle

__all__ = ["ENGINES", "scan_calls"]

logger = logging.getLogger("callcov_analytics")

ENGINES = ("duckdb", "polars", "spark")
Engine = Literal["duckdb", "polars", "spark"]


@spelled_out(Filters, FILTER_DEFAULTS)
def scan_calls(
    api_key: str | Secret | None = None,
    base_url: str | None = None,
    *,
    include_transcript: bool = False,
    columns: Sequence[str] | None = None,
    engine: Engine | None = None,
    spark: Any = None,
    connection: Any = None,
    refresh: Refresh = False,
    cache_dir: str | Path | None = None,
    table: str | Path | None = None,
    client: CallCovClient | None = None,
    **filters: Unpack[Filters],
) -> Any:
    """The stored analyses that match, one row per analysis, as a lazy table of ``engine``.

    Args:
        api_key, base_url: whose store to read (as `load_calls`; the key only finds the
            folder unless ``refresh`` fetches).
        status, agent_id, contact_id, search, since, until, tz, include_transcript: the
            filters and columns of `load_calls`, checked the same way, applied by the engine.
        columns: only these columns (default: every stored one).
        engine: "duckdb" (default) gives a ``DuckDBPyRelation``, "polars" a
            ``polars.LazyFrame``, "spark" a ``pyspark.sql.DataFrame``.
        spark: your ``SparkSession`` (implies engine="spark").
        connection: the DuckDB connection to use (default a new in-memory one in UTC).
        refresh: False (default) reads what is stored, with zero requests; True, "full" or
            "recheck" first bring the store up to date as `load_calls` would.
        cache_dir: where the store lives (as `load_calls`).
        table: read this table folder (or one Parquet file) instead of looking the store up
            (a copy of a store's ``table/``, e.g. on a cluster's storage).

    Raises:
        ValidationError: a bad filter, or nothing stored for this query yet.
        MissingDependencyError: the engine is not installed (``pip install
            'callcov-analytics[engines]'``).

    Example::

        rel = cca.scan_calls(since="2026-01-01")               # DuckDB, nothing read yet
        metrics.agent_scorecard(rel, period="M").df()          # computed by DuckDB
    """
    kind = _engine(engine, spark)
    settings = settle(
        "scan_calls",
        api_key,
        base_url,
        filters,
        allowed=FILTER_DEFAULTS,
        fixed={"refresh": refresh, "cache_dir": cache_dir, "client": client, "progress": False},
        columns={"include_transcript": include_transcript},
        account=table is None,
    )
    native = _opener(kind, spark, connection)  # a missing engine fails before any request
    if table is not None:
        path = Path(table)
        if "://" not in str(table) and not path.exists():  # a URL is the engine's to read
            raise ValidationError(f"table {str(path)!r} does not exist", param="table")
    elif refresh:
        try:
            store: Store = load(settings, lambda store, _client, _readings: store)
        except CallCovError as exc:
            # The rows fetched so far are in the store (a repeat continues from them); the
            # frame load_calls would put here is exactly what scan_calls exists to avoid.
            exc.partial = None
            raise
        path = _table_of(store)
    else:
        assert settings.config is not None  # settled with an account
        store = open_store(
            settings.config.account,
            settings.query,
            settings.columns,
            since=settings.since,
            root=settings.root,
        )
        path = _table_of(store)
        logger.info("scan_calls reads the stored table %s; no request made", path)
    source = str(table) if table is not None else str(path)  # Path() would fold "s3://" to "s3:/"
    if kind != "spark" and (Path(source).is_dir() or source.endswith("/")):
        source = source.rstrip("/") + "/*.parquet"  # DuckDB and Polars read a folder by a glob
    return _filtered(native(source), settings, columns)


def _engine(engine: str | None, spark: Any) -> str:
    if spark is not None and engine not in (None, "spark"):
        raise ValidationError(f"spark= was given with engine={engine!r}", param="engine")
    kind = "spark" if spark is not None else engine or "duckdb"
    if kind not in ENGINES:
        raise ValidationError(
            f"engine must be one of {', '.join(ENGINES)} (got {engine!r})", param="engine"
        )
    if kind == "spark" and spark is None:
        raise ValidationError("engine='spark' needs spark=your SparkSession", param="spark")
    return kind


def _opener(kind: str, spark: Any, connection: Any) -> Any:
    """A function from a Parquet path to the engine's lazy table."""
    try:
        if kind == "duckdb":
            import duckdb

            if connection is None:
                connection = duckdb.connect()
                connection.execute("SET TimeZone = 'UTC'")  # periods bucket in UTC
            return connection.read_parquet
        if kind == "polars":
            import polars as pl

            return pl.scan_parquet
    except ImportError as exc:
        raise MissingDependencyError(
            f"scan_calls(engine={kind!r}) needs {kind}: pip install 'callcov-analytics[engines]'"
        ) from exc
    return spark.read.parquet


def _table_of(store: Store) -> Path:
    """The store's table folder; ValidationError if nothing is stored for this query yet."""
    if store.state() is None or not store.table_files():
        raise ValidationError(
            "nothing is stored for this query yet: run load_calls(...) with the same filters "
            "once, or scan_calls(..., refresh=True)",
            param="refresh",
        )
    if store.pending():
        warnings.warn(
            f"{store.pending()} pages of an interrupted load are not in the table yet; "
            "run load_calls(...) (or scan_calls(..., refresh=True)) to finish it",
            StoreWarning,
            stacklevel=3,
        )
    return store.table_dir


def _filtered(native: Any, settings: LoadSettings, columns: Sequence[str] | None) -> Any:
    """``native`` cut to the rows the API's filters and since/until give, and to ``columns``."""
    import narwhals as nw

    frame = nw.from_native(native)
    keep: list[Any] = []
    for name, value in settings.query.items():
        if name == "search":  # case-insensitive substring of agent or contact id, as the API
            term = value.lower()
            hits = [
                nw.col(c).str.to_lowercase().str.contains(term, literal=True).fill_null(False)
                for c in ("agent_id", "contact_id")
            ]
            keep.append(hits[0] | hits[1])
        else:
            column = "status" if name == "status_filter" else name
            keep.append((nw.col(column) == value).fill_null(False))
    if settings.since is not None:
        keep.append(nw.col("created") >= datetime.fromtimestamp(settings.since, UTC))
    if settings.until is not None:
        keep.append(nw.col("created") <= datetime.fromtimestamp(settings.until, UTC))
    if keep:
        frame = frame.filter(*keep)
    names = frame.collect_schema().names()
    if columns is not None:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise ValidationError(f"no stored columns {unknown}", param="columns")
        frame = frame.select(list(columns))
    elif (
        not settings.columns["include_transcript"] and "transcript_text" in names
    ):  # a superset's transcripts
        frame = frame.drop("transcript_text")
    # No select otherwise: Spark reads a dotted name ("call.queue") as a struct field.
    return nw.to_native(frame)
