"""The store's files checked against what it wrote: each file, the lock's owner."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from .._decode.schema import ARROW_TYPE, SCHEMA, TRANSCRIPT_SCHEMA
from .._errors import StoreLockedError
from .rows import value_type

logger = logging.getLogger("callcov_analytics")

TABLE = "table.parquet"  # the single table file of version 2
TABLE_DIR = "table"


TOKEN = b"callcov.token"  # Parquet key-value metadata: which compaction wrote the table


KNOWN = {name: ARROW_TYPE[dtype] for name, dtype in {**SCHEMA, **TRANSCRIPT_SCHEMA}.items()}


def file_stamp(path: Path) -> list[int] | None:
    """The file's size and modification time (ns), or None if it cannot be seen."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def check_file(path: Path, rows: int, token: str | None) -> str | None:
    """What is wrong with one stored file against its manifest entry's rows and token, or None."""
    try:
        meta = pq.ParquetFile(path).metadata
        schema = meta.schema.to_arrow_schema()
    except FileNotFoundError:
        return "is missing"
    except (OSError, pa.ArrowException) as exc:
        return f"is unreadable ({exc})"
    if meta.num_rows != rows:
        return f"has {meta.num_rows} rows, the manifest {rows}"
    if token and (schema.metadata or {}).get(TOKEN) != token.encode():
        return "was replaced by another program"
    for field in schema:
        want = KNOWN.get(field.name)
        if want is not None and value_type(field.type) not in (want, pa.null()):
            return f"has column {field.name} as {field.type}, not {want}"
    return None


@contextmanager
def hold_lock(
    path: Path,
    timeout: float,
    on_wait: Callable[[float, str], None] | None,
    now: Callable[[], float],
) -> Iterator[None]:
    """Hold the file lock of the store at ``path``, waiting at most ``timeout`` for it."""
    lock = FileLock(str(path / ".lock"))
    owner_path = path / ".lock.owner"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        owner = read_owner(owner_path)
        reason = f"another load ({describe_owner(owner)}) is using the local store"
        logger.info("%s; waiting up to %.0f s", reason, timeout)
        if on_wait is not None:
            on_wait(timeout, reason)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise StoreLockedError(
                f"{reason} {path} and still held it after {timeout:.0f} s. "
                "Wait for that load to finish (or stop it), then run this one again; "
                "cache_dir= gives this load a store of its own.",
                owner=owner,
            ) from None
    try:
        with suppress(OSError):  # who holds it is advice only
            owner_path.write_text(
                json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now()})
            )
        yield
    finally:
        with suppress(OSError):
            owner_path.unlink()
        lock.release()


def seq_of(name: str) -> int:
    return int(Path(name).stem.split("-")[1])


def read_owner(path: Path) -> dict[str, Any]:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def describe_owner(owner: Mapping[str, Any]) -> str:
    if not owner:
        return "owner unknown"
    since = time.strftime("%H:%M:%S UTC", time.gmtime(float(owner.get("since", 0))))
    return f"pid {owner.get('pid')} on {owner.get('host')}, since {since}"
