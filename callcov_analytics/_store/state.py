"""A store's state.json as typed objects: what it knows of the list, and how it is written.

`StoreState` is the crawl state a sync keeps current (see `_store.sync`); `SavedState` is the
whole file as read back: that state, the manifest of files the store keeps beside it, and a
table file's write announced but maybe not finished. Reading checks every field: a file of
the wrong shape is a ValueError (the store warns and fetches again), one from before the
table (version 1) is `OlderLayout` (not damage: the store starts over quietly).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .crawl import Crawl
from .files import TABLE, TABLE_DIR

STATE_VERSION = 3  # 2: one table.parquet, upgraded in place on open


class OlderLayout(Exception):
    """state.json of the layout before the table (rows/month=...): fetched anew."""


@dataclass(slots=True)
class StoreState:
    """What a store knows of the list, kept current page by page (see `_store.sync`)."""

    head: int | None = None  # `created` of the newest row read from the top of the list
    floor: int | None = None  # how far back rows are wanted (None: the whole history)
    gaps: list[Crawl] = field(default_factory=list)  # unfinished crawls, top to bottom
    refetch: int | None = None  # a lost file's oldest row: read the list again down to it
    checked: dict[str, float] = field(default_factory=dict)  # processing id -> last seen so

    def to_json(
        self, files: Mapping[str, Any], compacting: Mapping[str, Any] | None = None
    ) -> bytes:
        """state.json's bytes: this state, the manifest ``files``, an announced write."""
        doc: dict[str, Any] = {
            "version": STATE_VERSION,
            "head": self.head,
            "floor": self.floor,
            "gaps": [crawl.to_dict() for crawl in self.gaps],
            "refetch": self.refetch,
            "checked": self.checked,
            "files": files,
        }
        if compacting:
            doc["compacting"] = compacting
        return json.dumps(doc, indent=1).encode()


@dataclass(frozen=True, slots=True)
class SavedState:
    """state.json as read back and checked."""

    state: StoreState
    files: dict[str, dict[str, Any]]  # name -> rows, time range, token, stamp
    compacting: dict[str, Any] | None  # a table file's write announced before it was made
    version: int

    @classmethod
    def from_json(cls, text: str) -> SavedState:
        """Parse and check state.json; ValueError if it is not what `to_json` writes."""
        doc = json.loads(text)
        if isinstance(doc, dict) and doc.get("version") == 1:
            raise OlderLayout
        _check_shape(doc)
        try:
            gaps = [Crawl.from_dict(gap) for gap in doc["gaps"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"an unfinished crawl is unreadable ({exc!r})") from None
        state = StoreState(
            head=doc.get("head"),
            floor=doc.get("floor"),
            gaps=gaps,
            refetch=doc.get("refetch"),
            checked=dict(doc.get("checked", {})),
        )
        return cls(state, doc["files"], doc.get("compacting"), doc["version"])


def _check_shape(doc: Any) -> None:
    """ValueError unless ``doc`` has the fields `to_json` writes, each of its type."""
    if not isinstance(doc, dict) or doc.get("version") not in (2, STATE_VERSION):
        raise ValueError("unknown version or not an object")
    files = doc.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("rows"), int) for v in files.values()
    ):
        raise ValueError("no manifest of files")
    if any(
        not isinstance(n, str)
        or ".." in n
        or (n != TABLE and not n.startswith(("pages/", f"{TABLE_DIR}/")))
        for n in files
    ):
        raise ValueError("a file outside the store")
    for name, entry in files.items():
        if name.startswith(f"{TABLE_DIR}/") and not all(
            isinstance(entry.get(k), list) and len(entry[k]) == 2 for k in ("top", "bottom")
        ):
            raise ValueError(f"{name} has no time range")
    for name in ("head", "floor", "refetch"):
        if not isinstance(doc.get(name), int | None) or isinstance(doc.get(name), bool):
            raise ValueError(f"{name} is not a number")
    if not isinstance(doc.get("gaps"), list) or not all(isinstance(g, dict) for g in doc["gaps"]):
        raise ValueError("gaps is not a list of crawls")
    checked = doc.get("checked", {})
    if not isinstance(checked, dict) or not all(
        isinstance(v, int | float) for v in checked.values()
    ):
        raise ValueError("checked is not a map of times")
    compacting = doc.get("compacting")
    if compacting is not None and not isinstance(compacting, dict):
        raise ValueError("compacting is not a map of files")
