"""The frame kinds the analytics accept, through Narwhals: written once, run on any engine.

`metrics` takes a pandas or Polars DataFrame, a Polars LazyFrame, a DuckDB relation or a
PySpark DataFrame and returns the same kind, computed by that engine: a relation in, a lazy
relation out (nothing is read until you fetch it). Why Narwhals rather than Ibis: it has no
dependencies of its own and imports none of the engines, it takes the user's own frame and
hands back the same kind (Ibis needs its own connection and returns Ibis tables), and its
pandas path runs pandas' own vectorised operations, so the pandas route stays as fast as
hand-written pandas (``bench/bench_engines.py`` measures it).

pandas results keep this package's exact dtypes (`_decode.columns.typed`); other engines get the
matching engine types (Int64 -> BIGINT/i64, Float64 -> DOUBLE/f64, boolean, string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

import narwhals as nw
import pandas as pd

from .._decode.columns import typed
from .._errors import UnsupportedEngineError, ValidationError

__all__ = ["ENGINES", "F", "Frame", "columns_of", "finish", "pandas_only", "to_pandas", "wrap"]

Frame = nw.DataFrame[Any] | nw.LazyFrame[Any]
F = TypeVar("F")
ENGINES = "a pandas or Polars DataFrame, a Polars LazyFrame, a DuckDB relation or a Spark DataFrame"
_NW_TYPES: dict[str, Any] = {
    "Int64": nw.Int64,
    "Float64": nw.Float64,
    "boolean": nw.Boolean,
    "string": nw.String,
}


# A load's attrs that grow with it: a reading per response, the ids it added and changed.
BULKY_ATTRS = ("quota", "new", "updated")


def light(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without its BULKY_ATTRS (the same data, not copied); the caller's keeps them.

    pandas deep-copies a frame's attrs into the result of every operation, which made the
    analytics of a loaded frame several times slower than their work; the small attrs (the
    zone, the query, where it was loaded from) carry on into the results.
    """
    if not any(name in df.attrs for name in BULKY_ATTRS):
        return df
    out = pd.DataFrame(df, copy=False)
    out.attrs = {k: v for k, v in df.attrs.items() if k not in BULKY_ATTRS}
    return out


def wrap(df: Any, what: str) -> Frame:
    """``df`` as a Narwhals frame; ValidationError naming ``what`` if it is no frame we know."""
    if isinstance(df, pd.DataFrame):
        df = light(df)
    try:
        frame: Frame = nw.from_native(df)
    except TypeError:
        raise ValidationError(
            f"{what} takes {ENGINES} (got {type(df).__name__}); pass load_calls()'s frame "
            "or scan_calls()'s relation",
            param="df",
        ) from None
    return frame


def columns_of(frame: Frame) -> list[str]:
    """The column names (a lazy frame's schema, without computing anything)."""
    return list(frame.collect_schema().names())


def finish(
    out: Frame,
    df: F,
    dtypes: Mapping[str, Any],
    order: list[str] | None = None,
    descending: list[bool] | None = None,
) -> F:
    """``out`` as ``df``'s kind: ``dtypes``' columns (pandas: exactly those), rows by ``order``
    (ascending, or as ``descending`` says per key).

    Sorting comes last, so a lazy engine's plan ends with it (nulls last, as pandas sorts).
    """
    down = descending or False
    if isinstance(df, pd.DataFrame):
        if order:
            out = out.sort(order, descending=down, nulls_last=True)
        return cast(F, typed(nw.to_native(out), dtypes))
    casts = [
        nw.col(c).cast(_NW_TYPES[t]) if isinstance(t, str) and t in _NW_TYPES else nw.col(c)
        for c, t in dtypes.items()
    ]
    out = out.select(casts)
    if order:
        out = out.sort(order, descending=down, nulls_last=True)
    return cast(F, nw.to_native(out))


def to_pandas(frame: Frame) -> pd.DataFrame:
    """A result the engine has already cut down, fetched as a pandas frame (via Arrow).

    Arrow hands nullable integers over as floats and Spark its times naive: callers cast.
    """
    if isinstance(frame, nw.DataFrame):
        return frame.to_pandas()
    native = frame.to_native()
    if hasattr(native, "toArrow"):  # Spark: its toPandas trips on pandas 3's deprecations
        return cast(pd.DataFrame, native.toArrow().to_pandas())
    return frame.collect(backend="pyarrow").to_pandas()


def pandas_only(df: Any, what: str, why: str) -> pd.DataFrame:
    """``df`` itself if it is a pandas DataFrame; else UnsupportedEngineError saying why."""
    if isinstance(df, pd.DataFrame):
        return df
    wrap(df, what)  # a ValidationError first if it is not a frame at all
    raise UnsupportedEngineError(
        f"{what} runs on pandas only: {why}. Narrow the rows on your engine first, then "
        f"pass them as pandas, e.g. {what}(relation.filter(...).df()) for DuckDB or "
        f"{what}(spark_df.filter(...).toPandas()) for Spark.",
        param="df",
    )
