"""The local store: every page paid for is kept, and one Parquet file is the table.

Layout under the cache directory (``CALLCOV_CACHE_DIR``, else the platform's user cache dir,
e.g. ``~/.cache/callcov-analytics``)::

    <cache>/<api host>-<key fingerprint>/<dataset digest>/
        table.parquet      THE TABLE: one row per analysis at its latest version, newest
                           first, one schema (unknown-field columns included), the frame's
                           dtypes in its pandas metadata. Read it with any engine.
        pages/part-00000042.parquet   pages checkpointed by a load not yet folded in
        dataset.json       what this is: base URL, key hint, filters, columns (never the key)
        state.json         crawl state and the manifest of files and row counts (atomic)
        .lock, .lock.owner a file lock, and who holds it (pid, host)

A load checkpoints each page as one small file in ``pages/`` (cheap), then, once complete,
folds them into a new ``table.parquet`` written beside it and renamed over it: a reader
(DuckDB, Polars, Spark, ...) sees the previous table or the next, never a mix, and never a
page twice. The state lists every file with its row count; a file that is missing, cut short,
retyped or not ours is reported with a `StoreWarning` and its rows are fetched again (a lost
page: the list down to its oldest row; anything else: all of it).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from ._atomic import atomic_open, storage_errors
from ._cache import CACHE_ENV
from ._errors import StoreLockedError, StoreWarning
from ._frame import concat_tables, frame_from_tables
from ._rows import FILTER_COLUMNS, counts, decoded, filter_rows, latest_first
from ._store_files import (
    STATE_VERSION,
    TABLE,
    TOKEN,
    check_file,
    check_shape,
    describe_owner,
    read_owner,
    seq_of,
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
        self.table_path = path / TABLE
        self.meta = dict(meta)
        self.query: dict[str, str] = dict(meta["query"])
        self.columns: dict[str, bool] = dict(meta["columns"])
        self.where = dict(where if where is not None else self.query)
        self.lock_timeout = LOCK_TIMEOUT
        # Of the rows after the last `compact`: new to the table, re-read from the API though
        # stored before (processing ones, say), and kept from the store without a request.
        self.counts: dict[str, int] = {}
        self._files: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextmanager
    def locked(self, on_wait: Callable[[float, str], None] | None = None) -> Iterator[Store]:
        """Hold the store's file lock; wait at most ``lock_timeout`` for another live load.

        The OS releases the lock when its holder dies, so a held lock is always a live load.
        """
        self._mkdir()
        lock = FileLock(str(self.path / ".lock"))
        owner_path = self.path / ".lock.owner"
        try:
            lock.acquire(timeout=0)
        except Timeout:
            owner = read_owner(owner_path)
            reason = f"another load ({describe_owner(owner)}) is using the local store"
            logger.info("%s; waiting up to %.0f s", reason, self.lock_timeout)
            if on_wait is not None:
                on_wait(self.lock_timeout, reason)
            try:
                lock.acquire(timeout=self.lock_timeout)
            except Timeout:
                raise StoreLockedError(
                    f"{reason} {self.path} and still held it after {self.lock_timeout:.0f} s. "
                    "Wait for that load to finish (or stop it), then run this one again; "
                    "cache_dir= gives this load a store of its own.",
                    owner=owner,
                ) from None
        try:
            with suppress(OSError):  # who holds it is advice only
                owner_path.write_text(
                    json.dumps(
                        {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
                    )
                )
            yield self
        finally:
            with suppress(OSError):
                owner_path.unlink()
            lock.release()

    # -- state ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The saved crawl state, checked against the files; {} for an empty store.

        Any damage warns (`StoreWarning`). A damaged page file is dropped and the state's
        ``refetch`` says how far down the list to read again for its rows; any other damage
        (the state of the wrong shape, the table missing, cut short, retyped or replaced)
        empties the store, so the load fetches everything again.
        """
        path = self.path / "state.json"
        if not path.exists():
            if self._on_disk():
                self._recover("its files are there but state.json is missing")
            return {}
        try:
            state = json.loads(path.read_text())
            if isinstance(state, dict) and state.get("version") == 1:
                # A store from before the table (rows/month=...): not damage, an upgrade.
                logger.info("store %s is of an older layout; fetching it anew", self.path)
                self.clear()
                return {}
            check_shape(state)
        except (OSError, ValueError) as exc:
            self._recover(f"state file unusable ({exc})")
            return {}
        self._files = state.pop("files")
        if "compacting" in state:
            self._finish_compaction(state.pop("compacting"))
            self.save_state(state)
        problems = self._verify()
        lost = [name for name in problems if name != TABLE]
        if TABLE in problems or any(self._files[n].get("oldest") is None for n in lost):
            self._recover("; ".join(problems.values()))
            return {}
        if lost:
            floor = min(int(self._files.pop(name)["oldest"]) for name in lost)
            refetch = state.get("refetch")
            state["refetch"] = floor if refetch is None else min(int(refetch), floor)
            warnings.warn(
                f"CallCov store {self.path}: {'; '.join(problems.values())}; those rows "
                "will be fetched again.",
                StoreWarning,
                stacklevel=2,
            )
            for name in lost:
                (self.path / name).unlink(missing_ok=True)
            self.save_state(state)
        return dict(state)

    def save_state(self, state: Mapping[str, Any]) -> None:
        """Write the crawl state, with the manifest of files, atomically."""
        doc = {**state, "files": self._files, "version": STATE_VERSION}
        self._atomic_write(self.path / "state.json", json.dumps(doc, indent=1).encode())

    def _verify(self) -> dict[str, str]:
        """What is wrong with each damaged file against the manifest; strays are removed."""
        problems = {}
        for name, entry in self._files.items():
            problem = check_file(self.path / name, entry)
            if problem:
                problems[name] = f"{name} {problem}"
        known = set(self._files)
        for stray in self.pages_path.glob("*.parquet"):
            if f"pages/{stray.name}" not in known:  # written, then a crash before its state
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
        self._files[name] = {"rows": table.num_rows, "oldest": seconds}

    def read(self, columns: list[str] | None = None, *, filtered: bool = True) -> pa.Table | None:
        """Stored rows cut to ``where``, newest version of each analysis, newest first.

        The table carries ``_seq`` (0 for the compacted table, then checkpoint order); None
        when nothing is stored. ``columns`` reads only those (plus what ordering and the
        filters need); ``filtered=False`` returns every stored row.
        """
        names = self._ordered()
        if not names:
            return None
        where = self.where if filtered else {}
        wanted = None
        if columns is not None:
            filters = [FILTER_COLUMNS[k] for k in where if k in FILTER_COLUMNS]
            wanted = list(
                dict.fromkeys(["id", "created", *columns, *(c for f in filters for c in f)])
            )
        try:
            tables = []
            for name in names:
                table = pq.read_table(self.path / name, columns=wanted, partitioning=None)
                table = decoded(table.replace_schema_metadata(None))
                seq = 0 if name == TABLE else seq_of(name)
                tables.append(table.append_column("_seq", pa.array([seq] * len(table), pa.int64())))
            table = latest_first(concat_tables(tables))
        except (OSError, pa.ArrowException, KeyError) as exc:
            self._recover(f"a stored file is damaged ({exc})")
            return None
        table = filter_rows(table, where)
        if columns is not None:
            table = table.select(list(dict.fromkeys(["id", "created", *columns, "_seq"])))
        return table

    def next_seq(self) -> int:
        """The checkpoint number for the next page."""
        return max((seq_of(n) for n in self._files if n != TABLE), default=0) + 1

    def pending(self) -> int:
        """How many checkpointed pages wait to be folded into the table."""
        return sum(1 for n in self._files if n != TABLE)

    def compact(self, state: Mapping[str, Any], drop: list[str] | None = None) -> None:
        """Fold the checkpointed pages (and ``drop``: ids gone from the API) into the table.

        Crash-safe in three steps: the state announces the new table's token, the table is
        renamed into place, the state lists it alone; `state` finishes an interrupted one.
        """
        if not self.pending() and not drop:
            self.counts = {"new": 0, "refreshed": 0, "stored": self._rows(TABLE)}
            return
        table = self.read(filtered=False)
        if table is None:
            return
        if drop:
            table = table.filter(pc.invert(pc.is_in(table["id"], pa.array(drop, pa.string()))))
        old = pq.read_table(self.table_path, columns=["id"]) if TABLE in self._files else None
        self.counts = counts(
            table, pa.array([], pa.string()) if old is None else old["id"].combine_chunks()
        )
        table = table.drop_columns(["_seq"])
        if not self.columns.get("include_segments"):
            # Written from the frame load_calls returns: its pandas metadata restores
            # category, boolean, Int64 and string dtypes for pandas, Dask and pyarrow readers.
            frame = frame_from_tables(
                iter([table]), include_transcript=self.columns.get("include_transcript", False)
            )
            table = pa.Table.from_pandas(frame, preserve_index=False)
        token = secrets.token_hex(8)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), TOKEN: token})
        self.save_state({**state, "compacting": {"token": token, "rows": table.num_rows}})
        # Microsecond times: Spark refuses nanoseconds (every value is whole seconds anyway).
        self._write_parquet(
            self.table_path, table, row_group_size=64 * 1024, coerce_timestamps="us"
        )
        self._finish_compaction({"token": token, "rows": table.num_rows})
        self.save_state(state)

    def _finish_compaction(self, compacting: Mapping[str, Any]) -> None:
        """After the new table is in place, forget and delete the pages it holds."""
        try:
            metadata = pq.read_schema(self.table_path).metadata or {}
        except (OSError, pa.ArrowException):
            return  # the table never made it: the pages are still listed and kept
        if metadata.get(TOKEN) != str(compacting["token"]).encode():
            return
        pages = [n for n in self._files if n != TABLE]
        self._files = {TABLE: {"rows": int(compacting["rows"]), "token": compacting["token"]}}
        for name in pages:
            (self.path / name).unlink(missing_ok=True)

    def clear(self) -> None:
        """Forget everything stored for this dataset."""
        shutil.rmtree(self.pages_path, ignore_errors=True)
        shutil.rmtree(self.path / "rows", ignore_errors=True)  # the layout before the table
        self.table_path.unlink(missing_ok=True)
        (self.path / "state.json").unlink(missing_ok=True)
        self._files = {}

    def recover(self, problem: str) -> None:
        """Warn about damage and empty the store, so the load fetches it again."""
        self._recover(problem)

    # -- plumbing ---------------------------------------------------------------------------

    def _ordered(self) -> list[str]:
        """The table first, then pages in checkpoint order (a crawl from the top: newest first)."""
        pages = sorted((n for n in self._files if n != TABLE), key=seq_of)
        return [TABLE, *pages] if TABLE in self._files else pages

    def _rows(self, name: str) -> int:
        return int(self._files.get(name, {}).get("rows", 0))

    def _on_disk(self) -> bool:
        return self.table_path.exists() or any(self.pages_path.glob("*.parquet"))

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
