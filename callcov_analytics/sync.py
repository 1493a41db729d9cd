"""Bring a store up to date with the API, spending as few requests as possible.

What the store knows is described by its state::

    {"head": 1764201600,      # `created` of the newest stored row; everything from the top of
                              # the list down to here was complete when last read
     "floor": 1761955200,     # how far back the rows are wanted (None: the whole history)
     "gaps": [<Crawl>, ...]}  # unfinished crawls, top to bottom (an interrupted load)

A load is then always the same few steps:

1. **Head**: page from offset 0 until rows are no newer than ``head`` (a repeat load with
   nothing new costs one request). The new rows found here are exactly the ones inserted above
   every gap since it was checkpointed, so each gap's offset shifts by that count.
2. **Gaps**: resume each unfinished crawl where it stopped (a first load is one gap from the
   top down to ``floor``; an interrupted one is resumed; asking for older data than stored adds
   a gap below the oldest stored row). Every page is checkpointed before the next request.
3. **Processing**: analyses stored as ``processing`` that step 1 did not re-read are
   re-fetched, by id or by paging, whichever costs fewer requests.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .client import CallCovClient
from .errors import NotFoundError
from .frame import ParsedPage, parse_page
from .pagination import Crawl
from .ratelimit import daily_quota_for
from .store import Store

logger = logging.getLogger("callcov_analytics")


class QuotaWarning(UserWarning):
    """The day's quota cannot cover the load; it will stop cleanly at the quota."""


class Sync:
    """One load's conversation between a client and a store."""

    def __init__(
        self,
        client: CallCovClient,
        store: Store,
        *,
        query: Mapping[str, str],
        limit: int,
        include_transcript: bool = False,
    ) -> None:
        self.client = client
        self.store = store
        self.query = dict(query)
        self.limit = limit
        self.include_transcript = include_transcript
        self.state: dict[str, Any] = {}
        self._seq = 0
        self._warned = False

    def run(self, floor: int | None, *, full: bool = False) -> None:
        """Make the store complete from the top of the list down to ``floor``."""
        if full:
            self.store.clear()
        self.state = self.store.state()
        self._seq = self.store.next_seq()
        stored = self.store.read()
        if stored is None or not self.state:
            self.store.clear()
            self.state = {"head": None, "floor": floor, "gaps": []}
        head = self.state["head"]
        if _older(floor, self.state["floor"]) and stored is not None:
            oldest = (
                int(pc.min(_seconds(stored["created"])).as_py()),
                str(stored["id"][stored.num_rows - 1]),
            )
            below = Crawl(self.limit, floor=floor, offset=stored.num_rows - 1, cursor=oldest)
            self.state["gaps"].append(below.to_dict())
            self.state["floor"] = floor
        if head is None:  # nothing was ever stored from the top: one crawl does it all
            self.state["gaps"] = []
        # The head crawl goes first, as a gap of its own: interrupted, it is resumed like any.
        top_floor = floor if head is None else head
        self.state["gaps"].insert(0, Crawl(self.limit, floor=top_floor).to_dict())
        self._save()
        new_rows = self._crawl_gap(newer_than=head)
        while self.state["gaps"]:
            self._crawl_gap(shift=new_rows)
        if stored is not None:
            self._refresh_processing(stored, head)

    # -- steps --------------------------------------------------------------------------------

    def _crawl_gap(self, *, shift: int = 0, newer_than: int | None = None) -> int:
        """Run the first gap to its end, checkpointing every page; count rows newer than given."""
        crawl = Crawl.from_dict(self.state["gaps"][0])
        crawl.shift(shift)
        new = 0
        while (offset := crawl.next_offset()) is not None:
            page = self._fetch(offset)
            keep = crawl.accept(offset, page.ids, page.created, page.has_more, page.total)
            self.store.append(page.take(keep), self._seq)
            self._seq += 1
            # Undercounting is safe (a page re-reads a few known rows); overcounting would
            # make the next gap start past its cursor and cost re-reads, hence strictly newer.
            new += sum(1 for i in keep if newer_than is None or page.created[i] > newer_than)
            if offset == 0 and page.ids:
                self.state["head"] = max(self.state["head"] or 0, page.created[0])
            self.state["gaps"][0] = crawl.to_dict()
            self._save()
            self._preflight(crawl)
            if self.client.observer:
                self.client.observer.on_page(crawl.pages, crawl.rows, crawl.total)
        self.state["gaps"].pop(0)
        self._save()
        return new

    def _fetch(self, offset: int) -> ParsedPage:
        return self.client.list_page(
            offset=offset,
            limit=self.limit,
            params=self.query,
            include_transcript=self.include_transcript,
        )

    def _refresh_processing(self, stored: pa.Table, head: int | None) -> None:
        """Re-read analyses stored as processing that the head crawl did not cover."""
        if head is None:
            return
        mask = pc.and_(
            pc.equal(stored["status"].cast(pa.string()), "processing"),
            pc.less(_seconds(stored["created"]), head),
        )
        pending = stored.filter(mask)
        if pending.num_rows == 0:
            return
        oldest = int(pc.min(_seconds(pending["created"])).as_py())
        newer = stored.filter(pc.greater_equal(_seconds(stored["created"]), oldest)).num_rows
        if math.ceil(newer / max(self.limit - 1, 1)) < pending.num_rows:
            self.state["gaps"].insert(0, Crawl(self.limit, floor=oldest).to_dict())
            self._crawl_gap()
            return
        gone = []
        for analysis_id in pending["id"].to_pylist():
            try:
                record = self.client.analysis(analysis_id)
            except NotFoundError:
                gone.append(analysis_id)
                continue
            body = json.dumps({"object": "list", "data": [record]}).encode()
            page = parse_page(body, include_transcript=self.include_transcript)
            self.store.append(page.table, self._seq)
            self._seq += 1
        self.store.remove(gone)

    def _preflight(self, crawl: Crawl) -> None:
        """Warn once, early, when the day's quota cannot cover what is left."""
        limiter = self.client.limiter
        daily = daily_quota_for(limiter.limit)
        if self._warned or crawl.total is None or daily is None or crawl.done:
            return
        self._warned = True
        left = max(0, crawl.total - crawl.offset)
        needed = math.ceil(left / max(self.limit - 1, 1))
        window = limiter.limit or 1
        logger.info(
            "about %d more requests (%d rate-limit windows) for %d rows",
            needed,
            math.ceil(needed / window),
            left,
        )
        if needed > daily - limiter.requests_sent:
            warnings.warn(
                f"This load needs about {needed} more requests but the plan allows {daily} a "
                "day. It will stop cleanly at the quota with every row kept; run the same "
                "load again after 00:00 UTC to continue.",
                QuotaWarning,
                stacklevel=4,
            )

    def _save(self) -> None:
        self.store.save_state(self.state)


def _older(wanted: int | None, stored: int | None) -> bool:
    """Is the wanted floor older than what the store covers? (None = the whole history)."""
    if stored is None:
        return False
    return wanted is None or wanted < stored


def _seconds(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """`created` as Unix seconds, whatever Arrow type the frame module stores it as."""
    if pa.types.is_timestamp(column.type):
        return pc.divide(column.cast(pa.timestamp("s", tz="UTC")).cast(pa.int64()), 1)
    return column.cast(pa.int64())
