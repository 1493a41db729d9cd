"""What a load brought: the analyses it added or changed against the local store.

The store is read before and after the load (ids and the columns that mark a version, not the
whole frame), so this needs nothing from the sync but the store's ``read``. A re-read analysis
whose status and completion time are unchanged counts as "from the local store".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ._errors import CallCovError
from ._store import Store

__all__ = ["SearchNote", "describe_changes", "note_empty_search", "versions"]

# What marks a stored analysis as changed when it is read again.
_VERSION_COLUMNS = ["status", "completed_at"]


def versions(store: Store) -> dict[str, tuple[Any, ...]] | None:
    """Each stored analysis id with what marks its version; None when nothing is stored."""
    try:
        store.state()  # opens the manifest (and repairs damage) so that `read` sees the files
        table = store.read(columns=_VERSION_COLUMNS)
    except (OSError, CallCovError, ValueError):
        return None
    if table is None:
        return None
    values = [table[c].to_pylist() for c in ("id", *_VERSION_COLUMNS)]
    return {row[0]: row[1:] for row in zip(*values, strict=True)}


def describe_changes(
    frame: pd.DataFrame,
    before: Mapping[str, tuple[Any, ...]] | None,
    after: Mapping[str, tuple[Any, ...]] | None,
    requests: int,
    *,
    full: bool,
) -> None:
    """attrs new/updated/summary: the analyses in `frame` this load added or changed."""
    before = {} if before is None or full else before
    after = after or {}
    ids = frame["id"].dropna().unique().tolist() if "id" in frame else []
    new = [i for i in ids if i not in before]
    updated = [i for i in ids if i in before and after.get(i) != before[i]]
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


class SearchNote(UserWarning):
    """load_calls(search=...) found nothing: the API's search looks at ids, not transcripts."""


def note_empty_search(frame: pd.DataFrame, text: str) -> None:
    """Say (warning and attrs["note"]) that the API's search looks at ids, not transcripts."""
    note = (
        f"search={text!r} matched no call. The API's search matches agent and contact ids "
        "only, not what was said. To find words in transcripts: "
        "load_segments(...).callcov.search_transcripts(" + repr(text) + ")."
    )
    frame.attrs["note"] = note
    warnings.warn(note, SearchNote, stacklevel=5)  # the caller of load_calls (via _entry and _load)
