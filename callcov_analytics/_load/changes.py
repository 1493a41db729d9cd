"""What a load brought: the analyses it added or changed against the local store.

The store's compaction knows both (it compares each re-read analysis with its stored row),
so nothing is read before or after the load to find them. A re-read analysis whose stored
row is unchanged counts as "from the local store".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import pandas as pd
import pyarrow as pa

from .._errors import CallCovError, SearchNote
from .._store.folder import Store

__all__ = ["describe_changes", "has_rows", "note_empty_search"]


def has_rows(store: Store) -> bool:
    """Does the store hold anything? (Opens the manifest, repairing damage, as a load does.)"""
    try:
        return store.state() is not None and (store.rows() > 0 or store.pending() > 0)
    except (OSError, CallCovError, ValueError):
        return False


def describe_changes(
    frame: pd.DataFrame, changes: Mapping[str, pa.Array], requests: int, *, full: bool
) -> None:
    """attrs new/updated/summary: the analyses in `frame` this load added or changed.

    ``full``: the load started from nothing (a first load, or refresh="full"): all are new.
    """
    ids = frame["id"].dropna() if "id" in frame else pd.Series([], dtype="string")
    ids = ids.drop_duplicates()
    if full:
        new, updated = ids.tolist(), list[str]()
    else:
        new = ids[ids.isin(changes["new"].to_pylist())].tolist()
        updated = ids[ids.isin(changes["updated"].to_pylist())].tolist()
    kept = len(ids) - len(new) - len(updated)
    frame.attrs.update(
        {
            "new": new,
            "updated": updated,
            "summary": (
                f"{len(new):,} new, {len(updated):,} updated, {kept:,} from the local store, "
                f"{requests:,} request{'' if requests == 1 else 's'}"
            ),
        }
    )


def note_empty_search(frame: pd.DataFrame, text: str) -> None:
    """Say (warning and attrs["note"]) that the API's search looks at ids, not transcripts."""
    note = (
        f"search={text!r} matched no call. The API's search matches agent and contact ids "
        "only, not what was said. To find words in transcripts: "
        "load_segments(...).callcov.search_transcripts(" + repr(text) + ")."
    )
    frame.attrs["note"] = note
    warnings.warn(note, SearchNote, stacklevel=5)  # the caller of load_calls (via _entry and _load)
