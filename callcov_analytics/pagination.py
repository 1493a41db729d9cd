"""The offset crawl over a newest-first list: which offset to ask for next, which rows to keep.

Pure state machine, no I/O. The list is ordered newest first by ``(created, id)``, a strict
total order, and offset paging over it is not a snapshot: an analysis created during the crawl
pushes older ones to later offsets (a page repeats rows already seen), a deleted one pulls them
forward (a row could be skipped). The crawl stays exact with one idea, the *anchor*:

* ``cursor`` is the sort key of the oldest row accepted so far. Every row newer than it has
  been seen, because rows were only ever accepted from pages that touched the cursor.
* The next page starts one row early (overlap 1), on the cursor's expected position. A page
  whose first row is at or before the cursor (``key >= cursor``) is *anchored*: its rows older
  than the cursor continue the list without a hole, whatever shifted meanwhile. Rows not older
  than the cursor are duplicates and are dropped.
* A page that starts past the cursor (``key < cursor``) means rows were deleted above us and
  some may have slid into the part already read: nothing is accepted, and the page is read
  again further back (step doubling) until it is anchored.

So every analysis that existed for the whole crawl comes back exactly once; rows created or
deleted during it may or may not. The overlap row costs at most one request per crawl over the
theoretical minimum (only when the number of rows is within a page of a multiple of
``limit - 1``); it buys the continuity check.

Example (the loop is boring)::

    crawl = Crawl(limit=1000)
    while (offset := crawl.next_offset()) is not None:
        page = fetch(offset, crawl.limit)
        keep = crawl.accept(offset, page.ids, page.created, page.has_more)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Key = tuple[int, str]


@dataclass
class Crawl:
    """Where an offset crawl stands; ``to_dict``/``from_dict`` persist it for resuming."""

    limit: int = 1000
    floor: int | None = None  # oldest `created` wanted (inclusive): older rows end the crawl
    offset: int = 0
    cursor: Key | None = None
    done: bool = False
    pages: int = 0
    rereads: int = 0
    rows: int = 0
    total: int | None = None
    _step: int = field(default=0, repr=False)

    def next_offset(self) -> int | None:
        """The offset to request next, or None when the crawl is complete."""
        return None if self.done else self.offset

    def accept(
        self,
        offset: int,
        ids: Sequence[str],
        created: Sequence[int],
        has_more: bool | None = None,
        total: int | None = None,
    ) -> list[int]:
        """Take the page read at ``offset``; return the indices of its rows to keep."""
        if offset != self.offset or self.done:
            raise ValueError(f"page at offset {offset} was not the one requested ({self.offset})")
        self.pages += 1
        if total is not None:
            self.total = total
        n = len(ids)
        if self.cursor is not None and (n == 0 or (created[0], ids[0]) < self.cursor):
            if offset == 0:
                # Everything newer than the cursor is gone and the list now starts below it:
                # the whole current list is new to us.
                pass
            else:
                self._reread()
                return []
        self._step = 0
        keep: list[int] = []
        reached_floor = False
        for i in range(n):
            key = (created[i], ids[i])
            if self.floor is not None and key[0] < self.floor:
                reached_floor = True
                break
            # The cursor only moves down, so a row older than it was never kept before:
            # no set of seen ids is needed, even for millions of rows.
            if self.cursor is None or key < self.cursor:
                keep.append(i)
        if keep:
            last = keep[-1]
            self.cursor = (created[last], ids[last])
        self.rows += len(keep)
        end_of_list = n < self.limit or has_more is False
        if reached_floor or end_of_list:
            self.done = True
        else:
            # The cursor's position in the list as this page saw it; ask again from there.
            position = offset + n - 1
            if self.cursor is not None:
                position = offset + _index_of(self.cursor, ids, created, n)
            self.offset = max(position, offset + 1)
        return keep

    def _reread(self) -> None:
        # Rows above us were deleted (or the cursor row itself): step back, doubling each time.
        self.rereads += 1
        self._step = max(1, self._step * 2)
        self.offset = max(0, self.offset - self._step)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe snapshot for a checkpoint."""
        return {
            "limit": self.limit,
            "floor": self.floor,
            "offset": self.offset,
            "cursor": list(self.cursor) if self.cursor else None,
            "done": self.done,
            "pages": self.pages,
            "rereads": self.rereads,
            "rows": self.rows,
            "total": self.total,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Crawl:
        """Rebuild a crawl from ``to_dict`` output."""
        cursor = data.get("cursor")
        return cls(
            limit=int(data["limit"]),
            floor=data.get("floor"),
            offset=int(data["offset"]),
            cursor=(int(cursor[0]), str(cursor[1])) if cursor else None,
            done=bool(data.get("done")),
            pages=int(data.get("pages", 0)),
            rereads=int(data.get("rereads", 0)),
            rows=int(data.get("rows", 0)),
            total=data.get("total"),
        )

    def shift(self, inserted: int) -> None:
        """Move the next offset down by rows known to be inserted above it (resume after days)."""
        if inserted > 0 and not self.done:
            self.offset += inserted


def _index_of(cursor: Key, ids: Sequence[str], created: Sequence[int], n: int) -> int:
    """Position of the last row with key >= cursor (the cursor itself when present)."""
    lo, hi = 0, n
    while lo < hi:  # rows are sorted descending by key
        mid = (lo + hi) // 2
        if (created[mid], ids[mid]) >= cursor:
            lo = mid + 1
        else:
            hi = mid
    return max(lo - 1, 0)
