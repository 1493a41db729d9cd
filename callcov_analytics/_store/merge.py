"""Folding fetched rows into the store's table files, touching only the files they concern.

For a batch of fetched rows (the latest version of each analysis in some checkpointed pages):

1. the table files whose time range holds a fetched row are asked, by their ``id`` column,
   which of them they store; a stored analysis re-read is compared column by column with its
   stored row and, only if something changed, its file is rewritten with the new version;
2. the analyses stored nowhere are new: those at the top go into the newest table file while
   it has room (it stays under `FILE_ROWS`), the rest into new files of at most `FILE_ROWS`.

So a refresh writes what is new plus at most one small file per changed analysis' file, and
memory holds a batch and one table file, whatever the store's size.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._decode.frame import concat_tables
from .files import TABLE
from .rows import decoded, latest_first
from .state import StoreState
from .table import FILE_ROWS, TableFiles, conform, differs, seconds, target_schema

logger = logging.getLogger("callcov_analytics")

BATCH_ROWS = 65_536  # checkpointed rows folded at a time


class Merge:
    """One compaction: counts what it added, re-read and changed."""

    def __init__(self, store: TableFiles, state: StoreState) -> None:
        self.store = store
        self.state = state
        self.typed = not store.columns.get("include_segments")
        self.transcript = bool(store.columns.get("include_transcript"))
        self.new = 0
        self.refreshed = 0
        self.new_ids: list[pa.Array] = []
        self.updated_ids: list[pa.Array] = []

    def pages(self, names: list[str]) -> None:
        """Fold these checkpointed pages (in checkpoint order) into the table files."""
        tables = [self.store.read_table_file(n) for n in names]
        fetched = latest_first(concat_tables(tables)).drop_columns(["_seq"])
        del tables
        target = self._schema(fetched)
        remaining = self._refresh_stored(fetched, target)
        new = fetched.filter(remaining)
        if new.num_rows:
            self.new += new.num_rows
            if self.store.track_new:
                self.new_ids.append(new["id"].combine_chunks())
            self._place(new, target)

    def drop(self, gone: Mapping[str, int | None]) -> None:
        """Remove analyses gone from the API from the files that hold them."""
        ids = pa.array(list(gone), pa.string())
        times = [t for t in gone.values() if t is not None]
        for name in self.store.table_files():
            entry = self.store.entry(name)
            if len(times) == len(gone) and not any(
                entry.oldest_row[0] <= t <= entry.newest_row[0] for t in times
            ):
                continue
            stored = self.store.read_table_file(name, ["id"])["id"]
            if not pc.any(pc.is_in(stored, value_set=ids)).as_py():
                continue
            table = self._file(name)
            kept = table.filter(pc.invert(pc.is_in(table["id"], value_set=ids)))
            if kept.num_rows:
                self.store.write_file(name, conform(kept, self._stored_schema()), self.state)
            else:
                self.store.remove_file(name, self.state)

    # -- steps --------------------------------------------------------------------------------

    def _schema(self, fetched: pa.Table) -> pa.Schema:
        """The schema of every file, widened (and every file rewritten) for a new column."""
        stored = self.store.schema()
        target = target_schema(
            stored, fetched, typed=self.typed, include_transcript=self.transcript
        )
        if stored is not None and not _same(stored, target):
            for name in self.store.table_files():
                self.store.write_file(name, conform(self._file(name), target), self.state)
        return target

    def _refresh_stored(self, fetched: pa.Table, target: pa.Schema) -> pa.Array:
        """Replace changed re-read rows in their files; return the mask of rows stored nowhere."""
        remaining = pa.array([True] * fetched.num_rows)
        if not fetched.num_rows:
            return remaining
        created = seconds(fetched["created"])
        low, high = pc.min(created).as_py(), pc.max(created).as_py()
        for name in self.store.table_files():
            entry = self.store.entry(name)
            if entry.oldest_row[0] > high or entry.newest_row[0] < low:
                continue
            ids = self.store.read_table_file(name, ["id"])["id"].combine_chunks()
            hit = pc.and_(pc.is_in(fetched["id"], value_set=ids), remaining)
            if not pc.any(hit).as_py():
                continue
            remaining = pc.and_(remaining, pc.invert(hit))
            reread = fetched.filter(hit)
            self.refreshed += reread.num_rows
            table = self._file(name)
            stored = table.take(pc.index_in(reread["id"], value_set=table["id"].combine_chunks()))
            changed = reread.filter(differs(reread, stored))
            if changed.num_rows:
                self.updated_ids.append(changed["id"].combine_chunks())
                gone = changed["id"].combine_chunks()
                kept = table.filter(pc.invert(pc.is_in(table["id"], value_set=gone)))
                rows = _sorted(concat_tables([kept, changed]))
                self.store.write_file(name, conform(rows, target), self.state)
        return remaining

    def _place(self, new: pa.Table, target: pa.Schema) -> None:
        """New analyses: the top ones into the newest file if it has room, others in new files."""
        new = _sorted(new)
        files = self.store.table_files()
        if files:
            head = self.store.entry(files[0])
            floor = pa.scalar(head.oldest_row[0], pa.int64())
            top = pc.greater_equal(seconds(new["created"]), floor)
            count = int(pc.sum(top).as_py() or 0)
            if count and head.rows + count <= FILE_ROWS:
                rows = _sorted(concat_tables([self._file(files[0]), new.filter(top)]))
                self.store.write_file(files[0], conform(rows, target), self.state)
                new = new.filter(pc.invert(top))
        for start in range(0, new.num_rows, FILE_ROWS):
            chunk = new.slice(start, FILE_ROWS)
            self.store.write_file(self.store.new_file_name(), conform(chunk, target), self.state)

    def _file(self, name: str) -> pa.Table:
        return decoded(pq.read_table(self.store.path / name).replace_schema_metadata(None))

    def _stored_schema(self) -> pa.Schema:
        schema = self.store.schema()
        assert schema is not None  # only called while table files exist
        return schema.remove_metadata().with_metadata(
            {k: v for k, v in (schema.metadata or {}).items() if k != b"callcov.token"}
        )


def upgrade(store: TableFiles, state: StoreState) -> None:
    """Split the one ``table.parquet`` of an older version into table files, no re-fetch."""
    for name in store.table_files():  # an upgrade interrupted before: start it over
        (store.path / name).unlink(missing_ok=True)
        store.forget(name)
    source = pq.ParquetFile(store.table_path)
    plain = decoded(source.schema_arrow.empty_table().replace_schema_metadata(None))
    typed = not store.columns.get("include_segments")
    target = target_schema(
        None,
        plain,
        typed=typed,
        include_transcript=store.columns.get("include_transcript", False),
    )
    for batch in source.iter_batches(batch_size=FILE_ROWS):
        table = decoded(pa.Table.from_batches([batch]).replace_schema_metadata(None))
        store.write_file(store.new_file_name(), conform(table, target), state)
    store.forget(TABLE)
    store.save_state(state)
    store.table_path.unlink(missing_ok=True)
    logger.info("store %s split into %d table files", store.path, len(store.table_files()))


def _same(a: pa.Schema, b: pa.Schema) -> bool:
    return bool(a.names == b.names and a.types == b.types)


def _sorted(table: pa.Table) -> pa.Table:
    order = pc.sort_indices(table, [("created", "descending"), ("id", "descending")])
    return table.take(order)
