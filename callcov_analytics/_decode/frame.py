"""The analysis DataFrame, assembled from parsed pages (or from analysis dicts).

Its columns and dtypes are `schema.SCHEMA`; how API values become them (the Tolerate rules),
`_decode.parse` and its page readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

import pandas as pd
import pyarrow as pa

from .parse import parse_page
from .schema import (
    _B,
    _F,
    _I,
    _S,
    ARROW_TYPE,
    CATEGORIES,
    NAMED_COLUMNS,
    SCHEMA,
    TRANSCRIPT_SCHEMA,
)

_PAGE_ROWS = 1000  # to_frame batches records like the API's largest page
_PANDAS_TYPE = {
    _S: pd.StringDtype(), pa.large_string(): pd.StringDtype(), pa.null(): pd.StringDtype(),
    _I: pd.Int64Dtype(), _F: pd.Float64Dtype(), _B: pd.BooleanDtype(),
}  # fmt: skip


def frame_from_tables(
    tables: Iterable[pa.Table], *, include_transcript: bool = False
) -> pd.DataFrame:
    """Concatenate parsed page tables into the analysis DataFrame with SCHEMA dtypes.

    Unknown columns (present in some pages only, perhaps) follow the SCHEMA columns. Pass an
    iterator the caller holds no other reference to, and each Arrow column is freed as soon
    as it is converted.
    """
    schema = {**SCHEMA, **(TRANSCRIPT_SCHEMA if include_transcript else {})}
    pages = list(tables)
    table = concat_tables(pages) if pages else _empty_table(schema)
    del pages
    for name, dtype in schema.items():
        if name not in table.column_names:  # e.g. pages parsed without the transcript
            table = table.append_column(name, pa.nulls(table.num_rows, ARROW_TYPE[dtype]))
    unknown = [name for name in table.column_names if name not in NAMED_COLUMNS]
    table = table.select([*schema, *unknown])
    # Column by column, freeing each Arrow column once converted: the peak stays near one
    # copy of the frame instead of two (a million analyses fit in well under 1.5 GB).
    df: pd.DataFrame = table.to_pandas(
        types_mapper=_PANDAS_TYPE.get, split_blocks=True, self_destruct=True
    )
    del table
    for name, fixed in CATEGORIES.items():
        if isinstance(df[name].dtype, pd.CategoricalDtype):  # read as a dictionary, then cut
            df[name] = df[name].cat.remove_unused_categories()
        seen = set(df[name].dropna().unique()) - set(fixed)
        categories = pd.Index([*fixed, *sorted(seen)], dtype="str")
        df[name] = pd.Categorical(df[name], dtype=pd.CategoricalDtype(categories))
    return df


def to_frame(
    records: Iterable[Mapping[str, Any]], *, include_transcript: bool = False
) -> pd.DataFrame:
    """Build the analysis DataFrame from analysis dicts, exactly as parse_page would.

    Example: ``to_frame([CallCovClient().analysis(analysis_id)])``.
    """
    tables, rows = [], iter(records)
    while batch := [dict(r) for r in islice(rows, _PAGE_ROWS)]:
        body = json.dumps({"object": "list", "data": batch}).encode()
        tables.append(parse_page(body, include_transcript=include_transcript).table)
    return frame_from_tables(tables, include_transcript=include_transcript)


def empty_frame(*, include_transcript: bool = False) -> pd.DataFrame:
    """A 0-row analysis DataFrame with every SCHEMA column and its exact dtype."""
    return frame_from_tables([], include_transcript=include_transcript)


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate page tables; an unknown column typed differently across pages becomes text."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        kinds: dict[str, set[Any]] = {}
        for table in tables:
            for field in table.schema:
                if field.type != pa.null():
                    kinds.setdefault(field.name, set()).add(field.type)
        mixed = {name for name, found in kinds.items() if len(found) > 1}
        for i, table in enumerate(tables):
            fields = [(f.name, _S if f.name in mixed else f.type) for f in table.schema]
            tables[i] = table.cast(pa.schema(fields))
        return pa.concat_tables(tables, promote_options="permissive")


def _empty_table(schema: Mapping[str, str]) -> pa.Table:
    """A 0-row table with the Arrow type of every named column."""
    return pa.table({name: pa.array([], ARROW_TYPE[dtype]) for name, dtype in schema.items()})


def schema_summary(df: pd.DataFrame) -> pd.DataFrame:
    """The columns by dtype: how many, how full (share of non-missing cells), and their names.

    Example: ``schema_summary(load_calls())`` or ``df.callcov.schema_summary()``.
    """
    rows = []
    kinds = df.dtypes.astype(str)
    for dtype in kinds.unique():
        names = [str(name) for name in kinds.index[kinds == dtype]]
        filled = df[list(names)].notna().to_numpy().mean() if len(df) else float("nan")
        shown = ", ".join(names[:6]) + (f", … ({len(names) - 6} more)" if len(names) > 6 else "")
        rows.append((dtype, len(names), filled, shown))
    out = pd.DataFrame(rows, columns=["dtype", "columns", "filled", "names"])
    return out.sort_values("columns", ascending=False, ignore_index=True)
