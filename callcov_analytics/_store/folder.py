"""The local store: every page paid for is kept, and a folder of Parquet files is the table.

Layout under the cache directory (``CALLCOV_CACHE_DIR``, else the platform's user cache dir,
e.g. ``~/.cache/callcov-analytics``)::

    <cache>/<api host>-<key fingerprint>/<dataset digest>/
        table/part-00000001.parquet ...
                           THE TABLE: one row per analysis at its latest version, in files of
                           at most 32,768 rows, each sorted newest first and all of one
                           schema (unknown-field columns included, the frame's dtypes in its
                           pandas metadata). Read the folder with any engine.
        pages/part-00000042.parquet   pages checkpointed by a load not yet folded in
        dataset.json       what this is: base URL, key hint, filters, columns (never the key)
        state.json         crawl state and the manifest of files, row counts, time ranges
        .lock, .lock.owner a file lock, and who holds it (pid, host)

A load checkpoints each page as one small file in ``pages/`` (cheap), then, once complete,
folds them into the table: new analyses go into the newest table file while it is small,
else into new files; a re-read analysis that changed replaces its row in the file that holds
it; one that did not change is left alone. Each file is written beside its name and renamed
over it, so a reader (DuckDB, Polars, Spark, ...) sees every file old or new, and each
analysis once. The state lists every file with its row count; a file that is missing, cut
short, retyped or not ours is reported with a `StoreWarning` and the list is read again down
to its oldest row. A store of the earlier single ``table.parquet`` is split in place.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._decode.frame import concat_tables
from .._errors import StoreWarning
from .atomic import atomic_open, storage_errors
from .cache import CACHE_ENV
from .files import TABLE, TABLE_DIR, TOKEN, check_file, file_stamp, hold_lock, seq_of
from .merge import BATCH_ROWS, Merge, upgrade
from .rows import FILTER_COLUMNS, filter_rows, latest_first
from .state import FileEntry, OlderLayout, SavedState, StoreState
from .table import (
    FILE_ROWS,
    Stored,
    newest_oldest,
    overlaps,
    read_file,
    runs,
    summary,
)

__all__ = ["Store"]

logger = logging.getLogger("callcov_analytics")

# What a cache write failure means for the caller.
_KEPT = (
    f"set {CACHE_ENV} to a writable folder with free space; the rows fetched so far "
    "are on this error's .partial"
)
LOCK_TIMEOUT = 600.0  # another kernel's load holds the store; wait for it rather than refetch


class Store:
    """The stored rows and crawl state of one dataset (account, filters, columns).

    ``where`` holds the filters of the load being answered: a dataset may hold a superset
    (fewer filters, more columns) and `read` cuts it to what the server's filter would give.
    """

    def __init__(
        self, path: Path, meta: Mapping[str, Any], *, where: Mapping[str, str] | None = None
    ) -> None:
        self.path = path
        self.pages_path = path / "pages"
        self.table_path = path / TABLE  # the single table file of an earlier version
        self.table_dir = path / TABLE_DIR
        self.meta = dict(meta)
        self.query: dict[str, str] = dict(meta["query"])
        self.columns: dict[str, bool] = dict(meta["columns"])
        self.where = dict(where if where is not None else self.query)
        self.lock_timeout = LOCK_TIMEOUT
        # Of the rows after the last `compact`: new to the table, re-read from the API though
        # stored before (processing ones, say), and kept from the store without a request.
        self.counts: dict[str, int] = {}
        # The ids this store object's compactions added (when ``track_new``: a first load's
        # would be every id, held for nothing), and those whose stored row changed.
        self.track_new = True
        self.changes: dict[str, pa.Array] = {
            "new": pa.array([], pa.string()),
            "updated": pa.array([], pa.string()),
        }
        self._files: dict[str, FileEntry] = {}

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextmanager
    def locked(
        self,
        on_wait: Callable[[float, str], None] | None = None,
        now: Callable[[], float] = time.time,
    ) -> Iterator[Store]:
        """Hold the store's file lock; wait at most ``lock_timeout`` for another live load.

        The OS releases the lock when its holder dies, so a held lock is always a live load.
        ``now``: the load's wall clock, for the "since" its owner file shows.
        """
        self._mkdir()
        with hold_lock(self.path, self.lock_timeout, on_wait, now):
            yield self

    # -- state ------------------------------------------------------------------------------

    def state(self) -> StoreState | None:
        """The saved crawl state, checked against the files; None for an empty store.

        Any damage warns (`StoreWarning`). A damaged page file is dropped and the state's
        ``refetch`` says how far down the list to read again for its rows; any other damage
        (the state of the wrong shape, the table missing, cut short, retyped or replaced)
        empties the store, so the load fetches everything again.
        """
        path = self.path / "state.json"
        if not path.exists():
            if self._on_disk():
                self._recover("its files are there but state.json is missing")
            return None
        try:
            saved = SavedState.from_json(path.read_text())
        except OlderLayout:
            # A store from before the table (rows/month=...): not damage, an upgrade.
            logger.info("store %s is of an older layout; fetching it anew", self.path)
            self.clear()
            return None
        except (OSError, ValueError) as exc:
            self._recover(f"state file unusable ({exc})")
            return None
        state, self._files = saved.state, saved.files
        if saved.compacting:
            self._finish(saved.compacting)
            self.save_state(state)
        problems = self._verify()
        if TABLE in self._files:
            if TABLE in problems:
                self._recover(problems[TABLE])
                return None
            upgrade(self, state)
        lost = list(problems)
        floors = [self._files[n].oldest for n in lost]
        if None in floors:
            self._recover("; ".join(problems.values()))
            return None
        if lost:
            floor = min(f for f in floors if f is not None)
            for name in lost:
                del self._files[name]
            state.refetch = floor if state.refetch is None else min(state.refetch, floor)
            warnings.warn(
                f"CallCov store {self.path}: {'; '.join(problems.values())}; those rows "
                "will be fetched again.",
                StoreWarning,
                stacklevel=2,
            )
            for name in lost:
                (self.path / name).unlink(missing_ok=True)
            self.save_state(state)
        return state

    def save_state(
        self, state: StoreState, compacting: Mapping[str, FileEntry] | None = None
    ) -> None:
        """Write the crawl state, with the manifest of files (and a write it announces)."""
        self._atomic_write(self.path / "state.json", state.to_json(self._files, compacting))

    def _verify(self) -> dict[str, str]:
        """What is wrong with each damaged file against the manifest; strays are removed.

        A table file whose size and modification time are those the state noted after it was
        last checked is not opened again (a store of hundreds of files opens in milliseconds).
        """
        problems = {}
        for name, entry in self._files.items():
            seen = file_stamp(self.path / name)
            if seen is not None and entry.stamp == seen:
                continue
            problem = check_file(self.path / name, entry.rows, entry.token)
            if problem:
                problems[name] = f"{name} {problem}"
            elif seen is not None and name.startswith(f"{TABLE_DIR}/"):
                entry.stamp = seen  # saved with the next state
        known = set(self._files)
        for folder in (self.pages_path, self.table_dir):
            for stray in folder.glob("*"):
                # Written, then a crash before its state; or a temp file cut short by one.
                if f"{folder.name}/{stray.name}" not in known and stray.is_file():
                    stray.unlink(missing_ok=True)
        return problems

    # -- rows -------------------------------------------------------------------------------

    def append(self, table: pa.Table, seq: int) -> None:
        """Checkpoint one page of rows as one file (the caller saves the state next)."""
        if table.num_rows == 0:
            return
        name = f"pages/part-{seq:08d}.parquet"
        self._write_parquet(self.path / name, table)
        oldest = pc.min(table["created"])  # how far down to read again if the file is lost
        seconds = None if not oldest.is_valid else oldest.value // 10**9
        self._files[name] = FileEntry(rows=table.num_rows, oldest=seconds)

    def read(
        self,
        columns: list[str] | None = None,
        *,
        filtered: bool = True,
        since: int | None = None,
        until: int | None = None,
        categories: bool = False,
    ) -> pa.Table | None:
        """Stored rows cut to ``where``, newest version of each analysis, newest first.

        The table carries ``_seq`` (0 for table files, then checkpoint order); None when
        nothing is stored. ``columns`` reads only those (plus what ordering and the filters
        need); ``filtered=False`` returns every stored row. ``since``/``until`` (Unix seconds,
        on ``created``) open only the table files that hold such rows. ``categories`` keeps
        the table files' category columns as dictionaries (when no page waits to be folded).
        """
        files = [n for n in self.table_files() if overlaps(self._files[n], since, until)]
        pages = self._pages()
        if not files and not pages:
            if not self.table_files():
                return None
            files = self.table_files()[:1]  # nothing in range: no rows, the stored columns
        where = self.where if filtered else {}
        wanted = None
        if columns is not None:
            filters = [FILTER_COLUMNS[k] for k in where if k in FILTER_COLUMNS]
            wanted = list(
                dict.fromkeys(["id", "created", *columns, *(c for f in filters for c in f)])
            )
        keep = categories and not pages
        try:
            ordered = runs([(n, self._files[n]) for n in files])
            groups = [
                [self.read_table_file(n, wanted, since, until, keep) for n in g] for g in ordered
            ]
            if pages:
                tables = [t for g in groups for t in g]
                tables += [self.read_table_file(n, wanted, since, until) for n in pages]
                table = latest_first(concat_tables(tables))
            else:  # table files never share an analysis: order each run of overlapping ones
                table = concat_tables([latest_first(concat_tables(g)) for g in groups])
        except (OSError, pa.ArrowException, KeyError) as exc:
            self._recover(f"a stored file is damaged ({exc})")
            return None
        table = filter_rows(table, where)
        if columns is not None:
            table = table.select(list(dict.fromkeys(["id", "created", *columns, "_seq"])))
        return table

    def stored(self) -> Stored | None:
        """What a sync needs of the table files (see `table.summary`)."""
        return summary(self)

    def next_seq(self) -> int:
        """The checkpoint number for the next page."""
        return max((seq_of(n) for n in self._pages()), default=0) + 1

    def pending(self) -> int:
        """How many checkpointed pages wait to be folded into the table."""
        return len(self._pages())

    def compact(self, state: StoreState, drop: Mapping[str, int | None] | None = None) -> None:
        """Fold the checkpointed pages (and ``drop``: ids gone from the API) into the table.

        Bounded memory: pages are folded a batch at a time, and each batch rewrites only the
        table files it touches (see `_store.merge`). Crash-safe: each file is announced in the
        state before it is written, and the pages leave the state only once all are in.
        """
        pages = self._pages()
        if not pages and not drop:
            self.counts = {"new": 0, "refreshed": 0, "stored": self.rows()}
            return
        merge = Merge(self, state)
        batch: list[str] = []
        for name in pages:
            batch.append(name)
            if sum(self._rows(n) for n in batch) >= BATCH_ROWS:
                merge.pages(batch)
                batch = []
        if batch:
            merge.pages(batch)
        if drop:
            merge.drop(drop)
        for name in pages:
            self._files.pop(name, None)
        self.save_state(state)
        for name in pages:
            (self.path / name).unlink(missing_ok=True)
        self.counts = {
            "new": merge.new,
            "refreshed": merge.refreshed,
            "stored": self.rows() - merge.new - merge.refreshed,
        }
        for key, ids in (("new", merge.new_ids), ("updated", merge.updated_ids)):
            self.changes[key] = pa.concat_arrays([self.changes[key], *ids])

    def write_file(self, name: str, table: pa.Table, state: StoreState) -> None:
        """Write one table file in place, announced in the state first (see `_finish`)."""
        token = secrets.token_hex(8)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), TOKEN: token})
        top, bottom = newest_oldest(table)
        busy = 0
        if "status" in table.column_names:
            status = table["status"].cast(pa.string())
            busy = int(pc.sum(pc.equal(status, "processing")).as_py() or 0)
        entry = FileEntry(
            rows=table.num_rows, oldest=bottom[0], top=top, bottom=bottom, token=token,
            processing=busy,
        )  # fmt: skip
        self.save_state(state, compacting={name: entry})
        self._write_parquet(self.path / name, table, row_group_size=FILE_ROWS)
        self._files[name] = replace(entry, stamp=file_stamp(self.path / name))

    def remove_file(self, name: str, state: StoreState) -> None:
        """Forget a table file whose rows all left the store, then delete it."""
        self._files.pop(name, None)
        self.save_state(state)
        (self.path / name).unlink(missing_ok=True)

    def new_file_name(self) -> str:
        n = max((seq_of(name) for name in self.table_files()), default=0) + 1
        return f"{TABLE_DIR}/part-{n:08d}.parquet"

    def schema(self) -> pa.Schema | None:
        """The schema every table file has (None when there is none)."""
        files = self.table_files()
        return pq.read_schema(self.path / files[0]) if files else None

    def rows(self) -> int:
        """Rows in the table files."""
        return sum(self._rows(n) for n in self.table_files())

    def entry(self, name: str) -> FileEntry:
        return self._files[name]

    def forget(self, name: str) -> None:
        """Drop a file from the manifest (the caller saves the state and deletes it)."""
        self._files.pop(name, None)

    def read_table_file(
        self,
        name: str,
        columns: list[str] | None = None,
        since: int | None = None,
        until: int | None = None,
        categories: bool = False,
    ) -> pa.Table:
        """One stored file with the types pages hold, ``_seq`` added, cut to since/until."""
        seq = seq_of(name) if name.startswith("pages/") else 0
        return read_file(self.path / name, seq, columns, since, until, categories=categories)

    def _finish(self, compacting: Mapping[str, FileEntry]) -> None:
        """A write the state announced: adopt the file if it made it, else keep the old one."""
        for name, entry in compacting.items():
            try:
                metadata = pq.read_schema(self.path / name).metadata or {}
            except (OSError, pa.ArrowException):
                continue
            if metadata.get(TOKEN) == str(entry.token).encode():
                if entry.pages:  # the earlier table held every page: forget them
                    self._files = {}
                self._files[name] = replace(entry, pages=False)

    def clear(self) -> None:
        """Forget everything stored for this dataset."""
        shutil.rmtree(self.pages_path, ignore_errors=True)
        shutil.rmtree(self.table_dir, ignore_errors=True)
        shutil.rmtree(self.path / "rows", ignore_errors=True)  # the layout before the table
        self.table_path.unlink(missing_ok=True)
        (self.path / "state.json").unlink(missing_ok=True)
        self._files = {}

    def recover(self, problem: str) -> None:
        """Warn about damage and empty the store, so the load fetches it again."""
        self._recover(problem)

    # -- plumbing ---------------------------------------------------------------------------

    def _pages(self) -> list[str]:
        """The checkpointed pages in checkpoint order (a crawl from the top: newest first)."""
        return sorted((n for n in self._files if n.startswith("pages/")), key=seq_of)

    def table_files(self) -> list[str]:
        """The table files, newest rows first."""
        names = [n for n in self._files if n.startswith(f"{TABLE_DIR}/")]
        return sorted(names, key=lambda n: self._files[n].newest_row, reverse=True)

    def _rows(self, name: str) -> int:
        entry = self._files.get(name)
        return 0 if entry is None else entry.rows

    def _on_disk(self) -> bool:
        return (
            self.table_path.exists()
            or any(self.pages_path.glob("*.parquet"))
            or any(self.table_dir.glob("*.parquet"))
        )

    def _mkdir(self) -> None:
        with storage_errors(self.path, _KEPT):
            self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / "dataset.json"
        with suppress(OSError, ValueError):
            if json.loads(path.read_text()) == self.meta:
                return
        self._atomic_write(path, json.dumps(self.meta, indent=1).encode())

    def _recover(self, problem: str) -> None:
        warnings.warn(
            f"CallCov store {self.path}: {problem}; starting it over, the rows will "
            "be fetched again.",
            StoreWarning,
            stacklevel=3,
        )
        self.clear()

    def _write_parquet(self, path: Path, table: pa.Table, **options: Any) -> None:
        with storage_errors(path, _KEPT):
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "wb") as out:
                pq.write_table(table, out, **options)

    def _atomic_write(self, path: Path, data: bytes) -> None:
        with storage_errors(path, _KEPT), atomic_open(path, "wb") as out:
            out.write(data)
