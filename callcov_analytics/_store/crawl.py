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
deleted during it may or may not. The overlap row buys the continuity check; it is paid for by
asking for one row more than the user's page size where the API allows it (`page_size`: a
``limit`` below the API's maximum of 1,000), so a crawl needs no more requests than pages of
new rows (3,000 rows in pages of 100: 30 requests, not 31 — on the Free plan the 31st would
open a fourth 60-s window). At the maximum it costs at most one request per crawl.

A server that breaks these rules is stopped, not followed: a page out of newest-first order
raises `ListOrderError` at once, and paging that makes no progress (a server or gateway that
ignores ``offset`` and serves the same page again, pages of one row that can never hold the
anchor) raises `PagingStalledError` within a few requests. Pages need at least two rows (the
anchor and one more), so ``limit`` is at least 2. A page shorter than ``limit`` ends the list
unless the envelope says ``has_more: true`` (a gateway that caps page sizes); ``has_more:
false`` on a full page is believed unless ``total`` says the list does not end there (one
request more when ``total`` is the liar).

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

from .._errors import ListOrderError, PagingStalledError

Key = tuple[int, str]
MIN_LIMIT = 2  # the anchor row and at least one new one
# Pages in a row that bring nothing new before the crawl gives up (a repeated page stops it
# sooner, see Crawl._progress). Rows inserted during a crawl push the anchor down and the crawl
# walks back over rows already read: bounded by the inserts, far below this.
MAX_STALLED = 1000
MAX_REPEATS = 5  # the same page again, each time after a jump twice as far (Crawl._progress)
API_MAX_LIMIT = 1000  # the largest page the API serves


def page_size(limit: int) -> int:
    """The page to ask for when the user asks for ``limit`` new rows a page: one more for the
    overlap row, up to the API's maximum."""
    return min(limit + 1, API_MAX_LIMIT)


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
    _stalled: int = field(default=0, repr=False)
    _repeats: int = field(default=0, repr=False)
    _after_empty: bool = field(default=False, repr=False)
    _last: tuple[int, Key, Key] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.limit < MIN_LIMIT:
            raise ValueError(
                f"limit must be at least {MIN_LIMIT}: each page starts on the last row of the "
                f"one before, so a page of {self.limit} row can never reach a new one"
            )

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
        self._count_page(offset, total)
        _check_order(offset, ids, created)
        if self._starts_below_cursor(offset, ids, created):
            self._reread()
            self._after_empty = not ids
            return []
        self._step = 0
        after_empty, self._after_empty = self._after_empty, False
        keep, reached_floor = self._keep_new_rows(ids, created)
        if after_empty and self._ends_on_cursor(ids, created, keep):
            # A short page ending on the cursor, and the page after it was empty: the list
            # ends here whatever `has_more` said.
            self.done = True
            return keep
        probe = self._progress(offset, ids, created, bool(keep) or reached_floor, has_more)
        if reached_floor or _end_of_list(offset, len(ids), self.limit, has_more, total):
            self.done = True
        else:
            self._ask_from_cursor(offset, ids, created, probe)
        return keep

    def _count_page(self, offset: int, total: int | None) -> None:
        """Check the page is the one asked for; count it and note the list's total."""
        if offset != self.offset or self.done:
            raise ValueError(f"page at offset {offset} was not the one requested ({self.offset})")
        self.pages += 1
        if total is not None:
            self.total = total

    def _starts_below_cursor(self, offset: int, ids: Sequence[str], created: Sequence[int]) -> bool:
        """The page skipped rows (it starts older than the cursor): read again from earlier.

        At offset 0 everything newer than the cursor is gone and the list now starts below it:
        the whole current list is new to us, so that page is taken.
        """
        if self.cursor is None or offset == 0:
            return False
        return not ids or (created[0], ids[0]) < self.cursor

    def _keep_new_rows(self, ids: Sequence[str], created: Sequence[int]) -> tuple[list[int], bool]:
        """The rows older than the cursor and not past the floor; whether the floor was met."""
        keep: list[int] = []
        oldest = self.cursor
        for i in range(len(ids)):
            key = (created[i], ids[i])
            if self.floor is not None and key[0] < self.floor:
                self._kept(keep, ids, created)
                return keep, True
            # The cursor only moves down, so a row older than it was never kept before:
            # no set of seen ids is needed, even for millions of rows. (`oldest` also drops a
            # row repeated within the page.)
            if oldest is None or key < oldest:
                keep.append(i)
                oldest = key
        self._kept(keep, ids, created)
        return keep, False

    def _kept(self, keep: list[int], ids: Sequence[str], created: Sequence[int]) -> None:
        """Move the cursor to the oldest row kept, and count the rows."""
        if keep:
            last = keep[-1]
            self.cursor = (created[last], ids[last])
        self.rows += len(keep)

    def _ends_on_cursor(self, ids: Sequence[str], created: Sequence[int], keep: list[int]) -> bool:
        """A short page of nothing new whose last row is the cursor."""
        return (
            bool(ids)
            and not keep
            and len(ids) < self.limit
            and (created[-1], ids[-1]) == self.cursor
        )

    def _ask_from_cursor(
        self, offset: int, ids: Sequence[str], created: Sequence[int], probe: bool
    ) -> None:
        """The next offset: the cursor's position in the list as this page saw it."""
        n = len(ids)
        position = offset + n - 1
        if self.cursor is not None:
            position = offset + _index_of(self.cursor, ids, created, n)
        self.offset = max(position, offset + 1)
        if probe:
            self.offset += (self.offset - offset) * (2**self._repeats - 1)

    def _progress(
        self,
        offset: int,
        ids: Sequence[str],
        created: Sequence[int],
        progressed: bool,
        has_more: bool | None,
    ) -> bool:
        """Stop a crawl whose pages bring nothing new; True asks for a probe further on.

        A page that repeats the one before (and brings nothing new) means either a server
        that ignores ``offset`` or a list that shifted by exactly as many rows as the crawl
        advanced. Each repeat makes the next request jump twice as far as the last: a server
        that honours ``offset`` soon shows another page (inserts would have to double at the
        same pace; a jump past the cursor is read again further back, as after deletions).
        MAX_REPEATS repeats in a row mean ``offset`` is ignored.
        """
        n = len(ids)
        page = (n, (created[0], ids[0]), (created[-1], ids[-1])) if ids else None
        repeated = page is not None and page == self._last and not progressed
        self._last = page
        if repeated and n == 1 and has_more is not False:
            raise PagingStalledError(
                f"The server answers with pages of 1 row (limit={self.limit} asked; offset "
                f"{offset} again holds only the last row read) and says there is more: pages "
                "of one row cannot overlap, so offset paging cannot stay exact. Stopped after "
                f"{self.pages} requests and {self.rows} analyses, rows kept (.partial). "
                "Something between you and the API caps page sizes; check CALLCOV_API_URL "
                "or the proxy."
            )
        if progressed or page is None:
            self._stalled = self._repeats = 0
            return False
        self._stalled += 1
        self._repeats = self._repeats + 1 if repeated else 0
        if self._repeats >= MAX_REPEATS or self._stalled >= MAX_STALLED:
            why = (
                f"{self._repeats + 1} pages up to offset {offset} were the same {n} analyses"
                if self._repeats >= MAX_REPEATS
                else f"{self._stalled} pages in a row brought no analysis not already read"
            )
            raise PagingStalledError(
                f"Paging makes no progress: {why}, after {self.pages} requests and "
                f"{self.rows} analyses. The server (or a proxy or cache in between) seems to "
                "ignore the `offset` parameter; stopped rather than loop. Rows read so far "
                "are kept (.partial). Check that CALLCOV_API_URL points at the API itself, "
                "not at a cache that drops query parameters."
            )
        return self._repeats > 0

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


def _end_of_list(offset: int, n: int, limit: int, has_more: bool | None, total: int | None) -> bool:
    """Whether this page ends the list: a short page, or the envelope's word for it."""
    if has_more is None:
        return n < limit
    # Believe the envelope, unless its own total contradicts a `false`: a total that does not
    # end where this page ends means more rows past it, or a page that runs past the total
    # (its rows were served from somewhere else).
    more_by_total = total is not None and total != offset + n
    return n == 0 or (has_more is False and (n < limit or not more_by_total))


def _check_order(offset: int, ids: Sequence[str], created: Sequence[int]) -> None:
    """Raise ListOrderError when a page is not newest first by (created, id)."""
    for i in range(1, len(ids)):
        if (created[i], ids[i]) > (created[i - 1], ids[i - 1]):
            raise ListOrderError(
                f"The page at offset {offset} is not newest first: analysis {ids[i]!r} "
                f"(created {created[i]}) comes after {ids[i - 1]!r} (created "
                f"{created[i - 1]}). Offset paging over a list in another order would lose "
                "rows without a sign, so the load stopped; rows read so far are kept "
                "(.partial). The API lists newest first: check CALLCOV_API_URL."
            )


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
