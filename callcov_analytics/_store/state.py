"""A store's state.json as typed objects: what it knows of the list, and how it is written.

`StoreState` is the crawl state a sync keeps current (see `_store.sync`); `FileEntry` one
stored file in the manifest the store keeps beside it; `SavedState` the whole file as read
back: the state, the manifest, and a table file's write announced but maybe not finished.
Reading checks every field: a file of the wrong shape is a ValueError (the store warns and
fetches again); one of version 2 (a single table file) is read into today's objects; one from
before the table (version 1) is `OlderLayout` (not damage: the store starts over quietly).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .crawl import Crawl
from .files import TABLE, TABLE_DIR

STATE_VERSION = 3  # 2: one table.parquet, upgraded in place on open
Row = tuple[int, str]  # a row's place in the list: (created, Unix seconds; id)


class OlderLayout(Exception):
    """state.json of the layout before the table (rows/month=...): fetched anew."""


@dataclass(slots=True)
class FileEntry:
    """One stored file: its row count, and what reads and syncs need without opening it."""

    rows: int
    oldest: int | None = None  # created of its oldest row: how far to read again if it is lost
    top: Row | None = None  # a table file's newest row and oldest row (files hold a time range)
    bottom: Row | None = None
    token: str | None = None  # a table file's mark in its Parquet metadata: which write made it
    processing: int = 0  # a table file's rows stored as processing
    stamp: list[int] | None = None  # size and modification time when last checked (no reopen)
    pages: bool = False  # an announced write of version 2's table, which held every page

    @property
    def newest_row(self) -> Row:
        """A table file's newest row (every table file's entry has its time range)."""
        if self.top is None:
            raise ValueError("only a table file has a time range")
        return self.top

    @property
    def oldest_row(self) -> Row:
        """A table file's oldest row."""
        if self.bottom is None:
            raise ValueError("only a table file has a time range")
        return self.bottom

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry as JSON (what is unset is left out)."""
        doc: dict[str, Any] = {"rows": self.rows, "oldest": self.oldest}
        for name in ("top", "bottom", "token", "stamp"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = list(value) if isinstance(value, tuple) else value
        if self.top is not None:
            doc["processing"] = self.processing
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FileEntry:
        """A manifest entry read back (TypeError or ValueError if a field is off)."""

        def row(value: Any) -> Row | None:
            return None if value is None else (int(value[0]), str(value[1]))

        oldest, stamp, token = doc.get("oldest"), doc.get("stamp"), doc.get("token")
        return cls(
            rows=int(doc["rows"]),
            oldest=None if oldest is None else int(oldest),
            top=row(doc.get("top")),
            bottom=row(doc.get("bottom")),
            token=None if token is None else str(token),
            processing=int(doc.get("processing") or 0),
            stamp=None if stamp is None else [int(v) for v in stamp],
            pages=bool(doc.get("pages")),
        )


@dataclass(slots=True)
class StoreState:
    """What a store knows of the list, kept current page by page (see `_store.sync`)."""

    head: int | None = None  # `created` of the newest row read from the top of the list
    floor: int | None = None  # how far back rows are wanted (None: the whole history)
    gaps: list[Crawl] = field(default_factory=list)  # unfinished crawls, top to bottom
    refetch: int | None = None  # a lost file's oldest row: read the list again down to it
    checked: dict[str, float] = field(default_factory=dict)  # processing id -> last seen so

    def to_json(
        self, files: Mapping[str, FileEntry], compacting: Mapping[str, FileEntry] | None = None
    ) -> bytes:
        """state.json's bytes: this state, the manifest ``files``, an announced write."""
        doc: dict[str, Any] = {
            "version": STATE_VERSION,
            "head": self.head,
            "floor": self.floor,
            "gaps": [crawl.to_dict() for crawl in self.gaps],
            "refetch": self.refetch,
            "checked": self.checked,
            "files": {name: entry.to_dict() for name, entry in files.items()},
        }
        if compacting:
            doc["compacting"] = {name: entry.to_dict() for name, entry in compacting.items()}
        return json.dumps(doc, indent=1).encode()


@dataclass(frozen=True, slots=True)
class SavedState:
    """state.json as read back and checked."""

    state: StoreState
    files: dict[str, FileEntry]  # the manifest: every stored file by its name in the store
    compacting: dict[str, FileEntry]  # table files' writes announced before they were made

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
        announced = doc.get("compacting") or {}
        if doc["version"] == 2 and announced:  # then: the one table's entry, with every page
            announced = {TABLE: {**announced, "pages": True}}
        try:
            files = {name: FileEntry.from_dict(entry) for name, entry in doc["files"].items()}
            compacting = {n: FileEntry.from_dict(entry) for n, entry in announced.items()}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"a manifest entry is unreadable ({exc!r})") from None
        state = StoreState(
            head=doc.get("head"),
            floor=doc.get("floor"),
            gaps=gaps,
            refetch=doc.get("refetch"),
            checked=dict(doc.get("checked", {})),
        )
        return cls(state, files, compacting)


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
