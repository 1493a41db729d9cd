"""The user's cache folder: where it is, the datasets stored in it, and clearing them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from platformdirs import user_cache_dir

from .files import TABLE, TABLE_DIR

CACHE_ENV = "CALLCOV_CACHE_DIR"


def default_cache_dir() -> Path:
    """CALLCOV_CACHE_DIR, else the platform's user cache directory."""
    return Path(os.environ.get(CACHE_ENV) or user_cache_dir("callcov-analytics"))


def cache_info(root: Path | None = None) -> pd.DataFrame:
    """One row per stored dataset: where, its table folder, API and filters, rows, size.

    ``table`` is the folder of Parquet files every engine reads (see docs/store.md).
    """
    root = root or default_cache_dir()
    rows = []
    for meta_path in sorted(root.glob("*/*/dataset.json")):
        folder = meta_path.parent
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        tables = [*folder.glob(f"{TABLE_DIR}/*.parquet"), folder / TABLE]
        tables = [f for f in tables if f.exists()]
        files = [*tables, *folder.glob("pages/*.parquet")]
        table = folder / (TABLE_DIR if (folder / TABLE_DIR).is_dir() else TABLE)
        rows.append(
            {
                "path": str(folder),
                "table": str(table) if tables else None,
                "base_url": meta.get("base_url"),
                "key_hint": meta.get("key_hint"),
                "query": json.dumps(meta.get("query", {})),
                "files": len(files),
                "rows": sum(_rows(f) for f in tables),
                "bytes": sum(f.stat().st_size for f in files),
                "updated": pd.Timestamp((folder / "state.json").stat().st_mtime, unit="s", tz="UTC")
                if (folder / "state.json").exists()
                else pd.NaT,
            }
        )
    columns = ["path", "table", "base_url", "key_hint", "query", "files", "rows", "bytes"]
    return pd.DataFrame(rows, columns=[*columns, "updated"])


def _rows(path: Path) -> int:
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, ValueError):  # removed or being replaced by a load right now
        return 0


def clear_cache(root: Path | None = None) -> int:
    """Delete every stored dataset; return how many were removed."""
    root = root or default_cache_dir()
    folders = [p.parent for p in root.glob("*/*/dataset.json")]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)
