"""The local store: every page paid for is kept, so a load never fetches a row twice.

Layout under the cache directory (``CALLCOV_CACHE_DIR``, else the platform's user cache dir,
e.g. ``~/.cache/callcov-analytics``)::

    <cache>/<api host>-<key fingerprint>/<query digest>/
        dataset.json              what this is: base URL, key hint, filters (never the key)
        state.json                the crawl state (written atomically after every page)
        rows/month=2026-11/part-00000042.parquet   one file per checkpointed page and month
        .lock                     a file lock: two kernels never write the same store at once

``rows/`` is a hive-partitioned Parquet dataset that DuckDB, Polars, Spark or pyarrow read
directly (``read_parquet('rows/**/*.parquet', hive_partitioning=true, union_by_name=true)``).
Each file carries ``_seq``, the checkpoint number: when an analysis was fetched twice (it went
from processing to completed) the higher ``_seq`` wins. `compact` rewrites one file per month
without those duplicates at the end of each complete load.

Every file is written to a temporary name and renamed into place, so a crash mid-write leaves
the previous state readable. A damaged file is reported with a warning and the store starts
over (a re-fetch), never a crash or silent loss.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock, Timeout
from platformdirs import user_cache_dir

from .errors import StorageError
from .files import atomic_open, storage_errors
from .frame import concat_tables
from .redact import Secret

CACHE_ENV = "CALLCOV_CACHE_DIR"
STATE_VERSION = 1
# What a cache write failure means for the caller.
_KEPT = (
    f"set {CACHE_ENV} to a writable folder with free space; the rows fetched so far "
    "are on this error's .partial"
)
LOCK_TIMEOUT = 600.0  # another kernel's load holds the store; wait for it rather than refetch


class StoreWarning(UserWarning):
    """The store had a problem it recovered from (a damaged file, say)."""


def default_cache_dir() -> Path:
    """CALLCOV_CACHE_DIR, else the platform's user cache directory."""
    return Path(os.environ.get(CACHE_ENV) or user_cache_dir("callcov-analytics"))


class Store:
    """The stored rows and crawl state of one (API, key, filters) combination."""

    def __init__(
        self, base_url: str, key: Secret, query: Mapping[str, str], root: Path | None = None
    ) -> None:
        host = base_url.split("://", 1)[-1].split("/", 1)[0].replace(":", "_")
        digest = hashlib.sha256(
            json.dumps({"url": base_url, "query": dict(sorted(query.items()))}).encode()
        ).hexdigest()[:12]
        self.path = (root or default_cache_dir()) / f"{host}-{key.fingerprint}" / digest
        self.rows_path = self.path / "rows"
        self._meta = {"base_url": base_url, "key_hint": key.hint, "query": dict(query)}

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextmanager
    def locked(self) -> Iterator[Store]:
        """Hold the store's file lock (waits for another kernel's load to finish)."""
        self._mkdir()
        try:
            with FileLock(str(self.path / ".lock"), timeout=LOCK_TIMEOUT):
                yield self
        except Timeout as exc:
            raise StorageError(
                f"Another load has held {self.path} for {LOCK_TIMEOUT:.0f} s; "
                "wait for it to finish, or delete the .lock file if it "
                "crashed."
            ) from exc

    # -- state ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The saved crawl state, or {} for an empty (or unreadable) store."""
        path = self.path / "state.json"
        if not path.exists():
            return {}
        try:
            state = json.loads(path.read_text())
            if state.get("version") != STATE_VERSION:
                raise ValueError("unknown version")
            return dict(state)
        except (OSError, ValueError) as exc:
            self._recover(f"state file unreadable ({exc})")
            return {}

    def save_state(self, state: Mapping[str, Any]) -> None:
        """Write the crawl state atomically."""
        data = json.dumps({**state, "version": STATE_VERSION}, indent=1).encode()
        self._atomic_write(self.path / "state.json", data)

    # -- rows -------------------------------------------------------------------------------

    def append(self, table: pa.Table, seq: int) -> None:
        """Checkpoint one page of rows (split by month), each file atomically."""
        if table.num_rows == 0:
            return
        table = table.append_column("_seq", pa.array([seq] * table.num_rows, pa.int64()))
        months = pc.strftime(table["created"], format="%Y-%m")
        for month in pc.unique(months).to_pylist():
            part = table.filter(pc.equal(months, month))
            self._write_parquet(self.rows_path / f"month={month}" / f"part-{seq:08d}.parquet", part)

    def read(self, columns: list[str] | None = None) -> pa.Table | None:
        """All stored rows, newest version of each analysis, newest first; None if empty.

        ``columns`` reads only those (``id``, ``created`` and ``_seq`` are always read).
        """
        files = self._parts()
        if not files:
            return None
        if columns is not None:
            columns = list(dict.fromkeys(["id", "created", "_seq", *columns]))
        try:
            tables = [pq.read_table(f, columns=columns, partitioning=None) for f in files]
        except (OSError, pa.ArrowInvalid) as exc:
            self._recover(f"a stored file is damaged ({exc})")
            return None
        return _latest_first(concat_tables(tables))

    def _parts(self) -> list[Path]:
        # In checkpoint order (a page split across months: newer month first), so rows of a
        # crawl from the top come back newest first and need no sort.
        parts = sorted(
            self.rows_path.glob("month=*/part-*.parquet"), key=lambda p: p.parent.name, reverse=True
        )
        return sorted(parts, key=_seq_of)

    def next_seq(self) -> int:
        """The checkpoint number for the next page."""
        return max(map(_seq_of, self._parts()), default=0) + 1

    def compact(self) -> None:
        """Rewrite one file per month without superseded versions."""
        table = self.read()
        if table is None:
            return
        old = list(self.rows_path.glob("month=*/part-*.parquet"))
        seq = self.next_seq()
        self.append(table.drop_columns(["_seq"]), seq)
        for f in old:
            f.unlink()

    def remove(self, ids: list[str]) -> None:
        """Drop analyses that no longer exist (404 on refresh)."""
        table = self.read()
        if table is None or not ids:
            return
        keep = table.filter(pc.invert(pc.is_in(table["id"], pa.array(ids))))
        old = list(self.rows_path.glob("month=*/part-*.parquet"))
        self.append(keep.drop_columns(["_seq"]), self.next_seq())
        for f in old:
            f.unlink()

    def clear(self) -> None:
        """Forget everything stored for this combination."""
        shutil.rmtree(self.rows_path, ignore_errors=True)
        (self.path / "state.json").unlink(missing_ok=True)

    # -- plumbing ---------------------------------------------------------------------------

    def _mkdir(self) -> None:
        with storage_errors(self.path, _KEPT):
            self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "dataset.json"
        if not meta.exists():
            self._atomic_write(meta, json.dumps(self._meta, indent=1).encode())

    def _recover(self, problem: str) -> None:
        warnings.warn(
            f"CallCov store {self.path}: {problem}; starting it over, the rows will "
            "be fetched again.",
            StoreWarning,
            stacklevel=3,
        )
        self.clear()

    def _write_parquet(self, path: Path, table: pa.Table) -> None:
        with storage_errors(path, _KEPT):
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "wb") as out:
                pq.write_table(table, out)

    def _atomic_write(self, path: Path, data: bytes) -> None:
        with storage_errors(path, _KEPT), atomic_open(path, "wb") as out:
            out.write(data)


def _seq_of(path: Path) -> int:
    return int(path.stem.split("-")[1])


def _latest_first(table: pa.Table) -> pa.Table:
    """Keep the highest-_seq version of each id; order newest first by (created, id).

    A store filled by crawls from the top, read in checkpoint order, is usually in order
    already with nothing superseded: that is checked on neighbouring rows and costs no copy.
    Otherwise one sort and one `take` do both the order and the dedup.
    """
    if _strictly_newest_first(table):
        return table  # strictly decreasing keys: in order, and no id twice
    order = pc.sort_indices(
        table, [("created", "descending"), ("id", "descending"), ("_seq", "descending")]
    )
    ids = table["id"].take(order)
    # Versions of one analysis share (created, id), so they are neighbours after the sort and
    # the first of them is the newest version.
    repeat = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    del ids
    keep = pc.invert(pc.fill_null(repeat, False))
    order = order.filter(pa.concat_arrays([pa.array([True]), *keep.chunks]))
    return table.take(order)


def _strictly_newest_first(table: pa.Table) -> bool:
    if table.num_rows < 2:
        return True
    created, ids = table["created"], table["id"]
    c0, c1 = created.slice(0, len(created) - 1), created.slice(1)
    newer = pc.greater(c0, c1)
    tie_ok = pc.and_(pc.equal(c0, c1), pc.greater(ids.slice(0, len(ids) - 1), ids.slice(1)))
    return bool(pc.all(pc.or_(newer, tie_ok)).as_py())


def cache_info(root: Path | None = None) -> pd.DataFrame:
    """One row per stored dataset: where, which API and filters, rows, size, last update."""
    root = root or default_cache_dir()
    rows = []
    for meta_path in sorted(root.glob("*/*/dataset.json")):
        folder = meta_path.parent
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        files = list(folder.glob("rows/month=*/part-*.parquet"))
        state_path = folder / "state.json"
        rows.append(
            {
                "path": str(folder),
                "base_url": meta.get("base_url"),
                "key_hint": meta.get("key_hint"),
                "query": json.dumps(meta.get("query", {})),
                "files": len(files),
                "rows": sum(pq.ParquetFile(f).metadata.num_rows for f in files),
                "bytes": sum(f.stat().st_size for f in files),
                "updated": pd.Timestamp(state_path.stat().st_mtime, unit="s", tz="UTC")
                if state_path.exists()
                else pd.NaT,
            }
        )
    columns = ["path", "base_url", "key_hint", "query", "files", "rows", "bytes", "updated"]
    return pd.DataFrame(rows, columns=columns)


def clear_cache(root: Path | None = None) -> int:
    """Delete every stored dataset; return how many were removed."""
    root = root or default_cache_dir()
    folders = [p.parent for p in root.glob("*/*/dataset.json")]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)
