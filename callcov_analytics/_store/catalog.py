"""Which stored dataset answers a load: its own, a superset of it, or one of the same account.

Datasets live per account folder ``<cache>/<api host>-<key fingerprint>/``. A load is
answered by, in this order:

1. its own dataset (same filters and columns), when one exists;
2. a *superset*: a complete dataset of the same account with fewer filters (none, say),
   the columns asked for (one with transcripts answers a load without), and at least the
   history asked for (``since``). It is refreshed like any (one request when nothing is new)
   and cut to the load's filters exactly as the server filters;
3. a new dataset, fetched with the load's filters.

A new key with no folder yet may belong to an account already stored under an old key (keys
are rotated). Before anything is fetched, the newest analysis stored under each other key of
the same API is asked for with the new key: a 200 proves the same account and the folder is
taken over (renamed) — one request instead of a full re-fetch; a 404 means another account,
whose rows are never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .._config import Account
from .cache import default_cache_dir
from .files import TABLE, TABLE_DIR
from .folder import Store
from .state import OlderLayout, SavedState

logger = logging.getLogger("callcov_analytics")


def open_store(
    who: Account,
    query: Mapping[str, str],
    columns: Mapping[str, bool],
    *,
    since: int | None,
    root: Path | None = None,
    same_account: Callable[[str], bool] | None = None,
) -> Store:
    """The dataset that answers this load (see the module docstring).

    Args:
        who: the API and key the load uses (`Config.account`: the key's fingerprint only).
        query: the API filters; columns: parse_page's options (transcript, segments).
        since: the oldest ``created`` wanted (None: the whole history).
        same_account: ``probe(analysis_id)`` is True when the key sees that analysis; given,
            a new key may adopt another key's folder of the same API.

    Example::

        store = open_store(config.account, {"status_filter": "completed"}, {}, since=None)
    """
    root = root or default_cache_dir()
    base_url = who.base_url
    host = who.host
    account = root / who.folder
    columns = {name: on for name, on in columns.items() if on}
    if same_account is not None and not account.exists():
        _adopt(root, host, account, same_account)
    meta = {"base_url": base_url, "key_hint": who.hint, "query": dict(query), "columns": columns}
    own = Store(account / _digest(base_url, query, columns), meta)
    if (own.path / "state.json").exists():
        return own
    for path, other in _datasets(account):
        if other.get("base_url") == base_url and _covers(path, other, query, columns, since):
            logger.info("answering %s from the stored superset %s", dict(query), path)
            return Store(path, {**other, "key_hint": who.hint}, where=query)
    return own


def _digest(base_url: str, query: Mapping[str, str], columns: Mapping[str, bool]) -> str:
    marks = {"include_transcript": "transcript", "include_segments": "segments"}
    named = {**query, **{marks.get(name, name): "yes" for name in columns}}
    doc = {"url": base_url, "query": dict(sorted(named.items()))}
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:12]


def _datasets(account: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The account's datasets with their meta, fewest columns and filters first."""
    found = []
    for meta_path in account.glob("*/dataset.json"):
        with suppress(OSError, ValueError):
            meta = json.loads(meta_path.read_text())
            if isinstance(meta, dict) and "columns" in meta and "query" in meta:
                found.append((meta_path.parent, meta))
    return sorted(found, key=lambda pm: (len(pm[1]["columns"]), len(pm[1]["query"]), str(pm[0])))


def _covers(
    path: Path,
    meta: Mapping[str, Any],
    query: Mapping[str, str],
    columns: Mapping[str, bool],
    since: int | None,
) -> bool:
    """Does the dataset at ``path`` hold every row and column this load asks for?"""
    if any(query.get(name) != value for name, value in meta["query"].items()):
        return False  # it has a filter this load does not, or another value
    if any(name not in meta["columns"] for name in columns):
        return False
    if "include_segments" in meta["columns"] and "include_segments" not in columns:
        return False  # the segments' dataset answers load_segments only (it is heavy)
    try:
        state = SavedState.from_json((path / "state.json").read_text()).state
    except (OSError, ValueError, OlderLayout):
        return False
    if state.gaps or state.head is None:
        return False  # interrupted or never complete: it may lack rows
    return state.floor is None or (since is not None and state.floor <= since)


def _adopt(root: Path, host: str, account: Path, same_account: Callable[[str], bool]) -> None:
    """Take over another key's folder of this API if the new key sees its newest analysis."""
    others = [p for p in root.glob(f"{host}-*") if p.is_dir() and p != account]
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for other in others:
        newest = _newest_id(other)
        if newest is None:
            continue
        if not same_account(newest):
            logger.info("%s belongs to another account; not used", other.name)
            continue
        try:
            other.rename(account)
        except OSError:  # another load took it over first, or it is in use: fetch anew
            return
        logger.info("the new key sees the account stored in %s; taken over", other.name)
        return


def _newest_id(account: Path) -> str | None:
    """The id of the newest analysis in any table file of the account folder."""
    newest: tuple[int, str] | None = None
    tables = [*account.glob(f"*/{TABLE_DIR}/*.parquet"), *account.glob(f"*/{TABLE}")]
    for table in tables:  # each file is sorted newest first
        with suppress(OSError, ValueError, KeyError, IndexError):
            first = pq.ParquetFile(table).read_row_group(0, columns=["id", "created"])
            row = (int(first["created"][0].value), str(first["id"][0]))
            newest = row if newest is None or row > newest else newest
    return None if newest is None else newest[1]
