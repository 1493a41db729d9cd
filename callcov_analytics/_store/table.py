"""The store's table files as rows: one schema for all, versions compared, what a sync needs.

Every file of a store's ``table/`` has the same schema (columns, order, types, pandas
metadata), so each engine reads the folder with one plain call; a column first seen in new
rows is added to every file (the one time a write costs the whole store).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._decode.frame import concat_tables, frame_from_tables
from .._decode.schema import CATEGORIES
from .rows import decoded
from .state import FileEntry, Row, StoreState

# Rows per table file: a rewrite (new rows into the newest file, a changed analysis into its
# own file) costs at most this many rows (~5 MB), whatever the store's size.
FILE_ROWS = 32_768
_DICT = pa.int32()  # one index type in every file, however many categories each holds


class TableFiles(Protocol):
    """What the table files' helpers (here and in `merge`) need of a store: `folder.Store`."""

    path: Path
    table_path: Path  # the single table file of an earlier version
    columns: dict[str, bool]
    track_new: bool

    def entry(self, name: str) -> FileEntry: ...
    def table_files(self) -> list[str]: ...
    def read_table_file(self, name: str, columns: list[str] | None = None) -> pa.Table: ...
    def schema(self) -> pa.Schema | None: ...
    def new_file_name(self) -> str: ...
    def forget(self, name: str) -> None: ...
    def save_state(self, state: StoreState) -> None: ...
    def write_file(self, name: str, table: pa.Table, state: StoreState) -> None: ...
    def remove_file(self, name: str, state: StoreState) -> None: ...


def target_schema(
    stored: pa.Schema | None, rows: pa.Table, *, typed: bool, include_transcript: bool
) -> pa.Schema:
    """The schema every file gets: the stored one, widened by the columns of ``rows``."""
    empty = [rows.slice(0, 0)]
    if stored is not None:
        empty.insert(0, _plain(stored).empty_table())
    table = concat_tables(empty)
    if not typed:  # segments: nested columns written as Arrow holds them
        return _us(table.schema)
    # The pandas metadata restores load_calls' dtypes (category, boolean, Int64, string) for
    # pandas, Dask and pyarrow readers; built from a frame of no rows, never of the history.
    frame = frame_from_tables(iter([table]), include_transcript=include_transcript)
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    fields = [
        f.with_type(pa.dictionary(_DICT, pa.string()))
        if pa.types.is_dictionary(f.type)
        else f.with_type(pa.string())
        if pa.types.is_large_string(f.type)
        else f
        for f in schema
    ]
    return _us(pa.schema(fields, metadata=schema.metadata))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types (missing ones null)."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table[field.name]
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
        else:
            column = pa.nulls(table.num_rows, pa.string() if _is_dict(field) else field.type)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if _is_dict(field):
            column = _categories(field.name, column.cast(pa.string()))
        elif column.type != field.type:
            column = column.cast(field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def differs(new: pa.Table, old: pa.Table) -> pa.Array:
    """Per row, does ``new`` (a re-read analysis) differ from ``old`` (its stored version)?"""
    changed = pa.array([False] * new.num_rows)
    for name in dict.fromkeys([*new.column_names, *old.column_names]):
        if name == "_seq":
            continue
        a = _plain_column(new, name, old)
        b = _plain_column(old, name, new)
        if b.type != a.type:
            try:
                b = b.cast(a.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                a, b = a.cast(pa.string()), b.cast(pa.string())
        try:
            neq = pc.fill_null(pc.not_equal(a, b), False)
            if pa.types.is_floating(a.type):  # NaN is NaN
                both = pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), False)
                neq = pc.and_(neq, pc.invert(both))
            neq = pc.or_(neq, pc.not_equal(pc.is_null(a), pc.is_null(b)))
        except pa.ArrowNotImplementedError:  # nested values: compared as Python values
            neq = pa.array([x != y for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)])
        changed = pc.or_(changed, pc.fill_null(neq, False))
    return changed


def seconds(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """`created` as Unix seconds, whatever Arrow type it is stored as."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_timestamp(column.type):
        return column.cast(pa.timestamp("s", tz="UTC")).cast(pa.int64())
    return column.cast(pa.int64())


def read_file(
    path: Path,
    seq: int,
    columns: list[str] | None,
    since: int | None = None,
    until: int | None = None,
    *,
    categories: bool = False,
) -> pa.Table:
    """One stored file with the types pages hold, ``_seq`` added, cut to since/until."""
    table = pq.read_table(path, columns=columns, partitioning=None)
    return cut(table.replace_schema_metadata(None), seq, since, until, categories=categories)


def cut(
    table: pa.Table,
    seq: int,
    since: int | None = None,
    until: int | None = None,
    *,
    categories: bool = False,
) -> pa.Table:
    """Stored rows with the types pages hold, ``_seq`` added, cut to since/until."""
    table = decoded(table, categories=categories)
    if since is not None or until is not None:
        created = seconds(table["created"])
        keep = pc.is_valid(created)
        if since is not None:
            keep = pc.and_(keep, pc.greater_equal(created, since))
        if until is not None:
            keep = pc.and_(keep, pc.less_equal(created, until))
        table = table.filter(keep)
    return table.append_column("_seq", pa.array([seq] * len(table), pa.int64()))


def newest_oldest(table: pa.Table) -> tuple[Row, Row]:
    """The (created seconds, id) of the first and last row of a table sorted newest first."""
    secs = seconds(table["created"])
    ids = table["id"]
    last = table.num_rows - 1
    return (secs[0].as_py(), str(ids[0])), (secs[last].as_py(), str(ids[last]))


@dataclass
class Stored:
    """What a sync needs of the stored rows, without reading them all."""

    rows: int
    newest: tuple[int, str]  # (created, id) of the newest stored row
    oldest: tuple[int, str]
    processing: pa.Table  # id, created (seconds) of the rows stored as processing
    covered: Callable[[int], int]  # how many stored rows were created at or after t

    def processing_ids(self) -> list[str]:
        return [str(i) for i in self.processing["id"].to_pylist()]

    def created_of(self) -> Mapping[str, int]:
        ids = self.processing["id"].to_pylist()
        return dict(zip(ids, self.processing["created"].to_pylist(), strict=True))


def summary(store: TableFiles) -> Stored | None:
    """What a sync needs of the table files (pages are folded first); None when empty."""
    files = store.table_files()
    if not files:
        return None
    entries = [store.entry(n) for n in files]
    parts = [
        store.read_table_file(n, ["id", "created", "status"])
        for n in files
        if store.entry(n).processing
    ]
    processing = pa.table({"id": pa.array([], pa.string()), "created": pa.array([], pa.int64())})
    if parts:
        rows = concat_tables(parts)
        rows = rows.filter(pc.equal(rows["status"].cast(pa.string()), "processing"))
        processing = pa.table({"id": rows["id"], "created": seconds(rows["created"])})

    def covered(t: int) -> int:
        count = 0
        for name, entry in zip(files, entries, strict=True):
            if entry.oldest_row[0] >= t:
                count += entry.rows
            elif entry.newest_row[0] >= t:
                created = store.read_table_file(name, ["created"])["created"]
                count += int(pc.sum(pc.greater_equal(seconds(created), t)).as_py() or 0)
        return count

    return Stored(
        rows=sum(e.rows for e in entries),
        newest=max(e.newest_row for e in entries),
        oldest=min(e.oldest_row for e in entries),
        processing=processing,
        covered=covered,
    )


def overlaps(entry: FileEntry, since: int | None, until: int | None) -> bool:
    """Might the file of this manifest entry hold rows created within since/until?"""
    return (since is None or entry.newest_row[0] >= since) and (
        until is None or entry.oldest_row[0] <= until
    )


def runs(files: list[tuple[str, FileEntry]]) -> list[list[str]]:
    """Files (newest first) in runs whose time ranges overlap: each run is sorted on its own."""
    runs: list[list[str]] = []
    floor: Row | None = None
    for name, entry in files:
        if runs and floor is not None and entry.newest_row >= floor:
            runs[-1].append(name)
            floor = min(floor, entry.oldest_row)
        else:
            runs.append([name])
            floor = entry.oldest_row
    return runs


def _is_dict(field: pa.Field) -> bool:
    return bool(pa.types.is_dictionary(field.type))


def _categories(name: str, values: pa.Array) -> pa.Array:
    """A category column with load_calls' categories: the fixed ones, then the others sorted."""
    fixed = list(CATEGORIES.get(name, ()))
    seen = set(pc.unique(values.drop_null()).to_pylist()) - set(fixed)
    dictionary = pa.array([*fixed, *sorted(seen)], pa.string())
    indices = pc.index_in(values, value_set=dictionary).cast(_DICT)
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def _plain(schema: pa.Schema) -> pa.Schema:
    """The schema with the types pages hold (no dictionaries, no metadata)."""
    fields = [
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema
    ]
    return pa.schema(fields)


def _us(schema: pa.Schema) -> pa.Schema:
    # Microsecond times: Spark refuses nanoseconds (every API time is whole seconds anyway).
    fields = [
        f.with_type(pa.timestamp("us", tz=f.type.tz)) if pa.types.is_timestamp(f.type) else f
        for f in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


def _plain_column(table: pa.Table, name: str, other: pa.Table) -> pa.Array:
    if name in table.column_names:
        column = table[name].combine_chunks()
    else:
        kind = other[name].type
        column = pa.nulls(table.num_rows, kind.value_type if pa.types.is_dictionary(kind) else kind)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column
