"""Bring a store up to date with the API, spending as few requests as possible.

What the store knows is its `StoreState` (kept in state.json, see `_store.state`): ``head``,
the `created` of the newest stored row (everything from the top of the list down to it was
complete when last read); ``floor``, how far back rows are wanted (None: the whole history);
``gaps``, the unfinished crawls, top to bottom (an interrupted load); ``checked``, when each
analysis stored as processing was last seen so.

A load is then always the same few steps:

1. **Head**: page from offset 0 until rows are no newer than ``head`` (a repeat load with
   nothing new costs one request). The new rows found here are exactly the ones inserted above
   every gap since it was checkpointed, so each gap's offset shifts by that count.
2. **Gaps**: resume each unfinished crawl where it stopped (a first load is one gap from the
   top down to ``floor``; an interrupted one is resumed; asking for older data than stored adds
   a gap below the oldest stored row). Every page is checkpointed before the next request.
3. **Processing**: analyses stored as ``processing`` are re-checked by age (`due`): one list
   request filtered to ``processing`` tells which are still running; those that finished are
   re-read by id or by paging, whichever costs fewer requests. When all due ones sit in the
   first page, the head crawl re-reads them instead (one request in all).
4. **Compact**: the pages fetched are folded into the store's table (see `_store.folder`).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Callable, Mapping

from .._decode.parse import ParsedPage, parse_page
from .._errors import NotFoundError, QuotaWarning
from .._http.client import CallCovClient
from .._http.ratelimit import daily_quota_for
from .crawl import Crawl
from .fetch_ahead import FetchAhead
from .folder import Store
from .state import StoreState
from .table import Stored

__all__ = ["QuotaWarning", "Sync", "account_probe", "due"]

logger = logging.getLogger("callcov_analytics")

YOUNG = 3600  # seconds: a processing analysis younger than this is re-checked on every refresh
MAX_INTERVAL = 86_400  # an old one at least once a day
RECHECK_PAGES = 20  # pages of the processing list at most per load (then by id)


def due(age: float, since_check: float) -> bool:
    """Is a processing analysis of this age, last seen processing this long ago, due a check?

    Younger than `YOUNG` (an hour): every refresh. Older: once a quarter of its age has passed
    since the last check, at most `MAX_INTERVAL` (a day) apart: 2 h old, every 30 min; 1 day,
    every 6 h; 4 days or more, daily.
    """
    return age < YOUNG or since_check >= min(age / 4, MAX_INTERVAL)


def account_probe(client: CallCovClient) -> Callable[[str], bool]:
    """``probe(id)``: does the client's key see this analysis? (200 yes, 404 no)."""

    def probe(analysis_id: str) -> bool:
        try:
            client.analysis(analysis_id)
        except NotFoundError:
            return False
        return True

    return probe


class Sync:
    """One load's conversation between a client and a store (its filters and columns)."""

    def __init__(self, client: CallCovClient, store: Store, *, limit: int) -> None:
        self.client = client
        self.store = store
        self.query = store.query
        self.limit = limit
        # What each stored page holds beyond SCHEMA (see _decode.parse_page).
        self.columns = {
            "include_transcript": store.columns.get("include_transcript", False),
            "include_segments": store.columns.get("include_segments", False),
        }
        self.state = StoreState()
        self._seq = 0
        self._warned = False
        # Status of the analyses this load read that matter to the processing re-check: those
        # stored as processing and those read as processing (never a dict of every id).
        self._seen: dict[str, str] = {}
        self._watch: set[str] = set()
        self._gone: dict[str, int | None] = {}

    def run(self, floor: int | None, *, full: bool = False, recheck: bool = False) -> None:
        """Make the store complete from the top of the list down to ``floor``, then compact.

        ``recheck`` re-checks every stored processing analysis, whatever its age.
        """
        stored = self._resume(floor, full=full)
        head = self.state.head
        top_floor, by_list = (floor, []) if stored is None else self._plan(stored, head, recheck)
        if stored is not None and _older(floor, self.state.floor):
            self._add_gap_below(stored, floor)
        new_rows = self._crawl_top(top_floor, head, stored)
        while self.state.gaps:
            self._crawl_gap(shift=new_rows)
        self._refetch_lost(stored)
        if stored is not None:
            self._recheck(stored, by_list)
        self._remember_processing(stored)
        self._save()  # the check times, even when there is nothing to compact
        self.store.compact(self.state, drop=self._gone)

    def _resume(self, floor: int | None, *, full: bool) -> Stored | None:
        """The crawl state to resume and what the plan needs of the stored rows."""
        if full:
            self.store.clear()
        saved = self.store.state()
        if saved is not None and self.store.pending():  # an interrupted load's pages first
            self.store.compact(saved)
        self._seq = self.store.next_seq()
        # Only what the plan needs; the frame is read once, by the caller, at the end.
        stored = self.store.stored()
        if stored is not None:
            self._watch = set(stored.processing_ids())
        if stored is None or saved is None:
            self.store.clear()
            stored, saved = None, StoreState(floor=floor)
        if saved.head is None:  # nothing was ever stored from the top: one crawl does it all
            saved.gaps = []
        self.state = saved
        return stored

    def _crawl_top(self, top_floor: int | None, head: int | None, stored: Stored | None) -> int:
        """Crawl the top of the list when it may hold something new; return the rows added."""
        if top_floor == head and not self._something_new(stored):
            return 0
        # The head crawl goes first, as a gap of its own: interrupted, it resumes like any.
        self.state.gaps.insert(0, Crawl(self.limit, floor=top_floor))
        self._save()
        return self._crawl_gap(newer_than=head)

    def _refetch_lost(self, stored: Stored | None) -> None:
        """A stored page went missing: read the list again down to its oldest row."""
        refetch, self.state.refetch = self.state.refetch, None
        if refetch is not None and stored is not None:
            self.state.gaps.insert(0, Crawl(self.limit, floor=refetch))
            self._save()
            self._crawl_gap(newer_than=self.state.head)

    def _plan(
        self, stored: Stored, head: int | None, recheck: bool
    ) -> tuple[int | None, list[str]]:
        """How far down the head crawl goes, and which processing analyses to re-check.

        Only a complete store re-checks processing analyses: a resumed load just finishes
        the crawl it was doing (those rows are fresh), and the next load re-checks them.
        """
        if self.state.gaps or head is None:
            return head, []
        pending = stored.processing
        if pending.num_rows == 0:
            return head, []
        t, checked = self.client.clock.time(), self.state.checked
        created = pending["created"].to_pylist()
        ids = pending["id"].to_pylist()
        wanted = [
            (c, i)
            for c, i in zip(created, ids, strict=True)
            if recheck or due(t - c, t - checked.get(i, 0))
        ]
        if not wanted:
            return head, []
        oldest = min(c for c, _ in wanted)
        if stored.covered(oldest) <= max(self.limit - 1, 1):
            return min(oldest, head - 1), []  # the one page of the head crawl re-reads them all
        return head, [i for _, i in wanted]

    def _recheck(self, stored: Stored, ids: list[str]) -> None:
        """Ask the processing-filtered list which of ``ids`` still run; re-read the others."""
        ids = [i for i in ids if i not in self._seen]
        if not ids:
            return
        by_id = stored.created_of()
        oldest = min(by_id[i] for i in ids)
        params = {**self.query, "status_filter": "processing"}
        running: set[str] = set()
        offset = 0
        for _ in range(RECHECK_PAGES):
            page = self.client.list_page(
                offset=offset, limit=self.limit, params=params, **self.columns
            )
            running.update(page.ids)
            last = page.has_more is False or len(page.ids) < self.limit
            if last or min(page.created) < oldest:
                break
            offset += len(page.ids)
        for analysis_id in running:
            self._seen.setdefault(analysis_id, "processing")
        finished = [i for i in ids if i not in running]
        if not finished:
            return
        # By id, or by re-reading the list down to the oldest of them: whichever costs less.
        low = min(by_id[i] for i in finished)
        if math.ceil(stored.covered(low) / max(self.limit - 1, 1)) < len(finished):
            self.state.gaps.insert(0, Crawl(self.limit, floor=low))
            self._save()
            self._crawl_gap(newer_than=self.state.head)
        else:
            self._fetch_by_id(finished, by_id)

    def _remember_processing(self, stored: Stored | None) -> None:
        """Note when each analysis still processing was last seen so (for `due`)."""
        t, old = self.client.clock.time(), self.state.checked
        running: dict[str, float] = {}
        if stored is not None:
            for analysis_id in stored.processing_ids():
                if analysis_id not in self._seen and analysis_id not in self._gone:
                    running[analysis_id] = old.get(analysis_id, t)
        running.update({i: t for i, status in self._seen.items() if status == "processing"})
        self.state.checked = running

    def _something_new(self, stored: Stored | None) -> bool:
        """Ask for the single newest analysis: is it newer than the newest stored one?"""
        if stored is None or stored.rows == 0:
            return True
        page = self.client.list_page(offset=0, limit=1, params=self.query, **self.columns)
        page.check_keys()
        if not page.ids:
            return False
        return (page.created[0], page.ids[0]) > stored.newest

    def _add_gap_below(self, stored: Stored, floor: int | None) -> None:
        """The caller wants older rows than stored: crawl on from the oldest stored one."""
        below = Crawl(self.limit, floor=floor, offset=stored.rows - 1, cursor=stored.oldest)
        self.state.gaps.append(below)
        self.state.floor = floor
        self._save()

    # -- steps --------------------------------------------------------------------------------

    def _crawl_gap(self, *, shift: int = 0, newer_than: int | None = None) -> int:
        """Run the first gap to its end, checkpointing every page; count rows newer than given."""
        crawl = self.state.gaps[0]
        crawl.shift(shift)
        new = 0

        def take(offset: int, page: ParsedPage) -> None:
            nonlocal new
            keep = crawl.accept(offset, page.ids, page.created, page.has_more, page.total)
            self.store.append(page.take(keep), self._seq)
            self._seq += 1
            for i in keep:
                if page.statuses[i] == "processing" or page.ids[i] in self._watch:
                    self._seen[page.ids[i]] = page.statuses[i]
            # Undercounting is safe (a page re-reads a few known rows); overcounting would
            # make the next gap start past its cursor and cost re-reads, hence strictly newer.
            new += sum(1 for i in keep if newer_than is None or page.created[i] > newer_than)
            if offset == 0 and page.ids:
                self.state.head = max(self.state.head or 0, page.created[0])
            self._save()

        with FetchAhead(self._fetch, self.client, self.limit, crawl) as pages:
            try:
                for offset, page in pages:
                    take(offset, page)
                    self._preflight(crawl)
                    if self.client.observer:
                        self.client.observer.on_page(crawl.pages, crawl.rows, crawl.total)
            except BaseException:
                # Pages fetched ahead were paid for: keep those that arrive, in order.
                for offset, page in pages.settled():
                    take(offset, page)
                raise
        self.state.gaps.pop(0)
        self._save()
        return new

    def _fetch(self, offset: int) -> ParsedPage:
        page = self.client.list_page(
            offset=offset, limit=self.limit, params=self.query, **self.columns
        )
        page.check_keys()  # a row without id or created cannot be paged exactly once
        return page

    def _fetch_by_id(self, ids: list[str], created: Mapping[str, int]) -> None:
        """Re-read analyses one by one; those gone from the API leave the store."""
        for analysis_id in ids:
            try:
                record = self.client.analysis(analysis_id)
            except NotFoundError:
                self._gone[analysis_id] = created.get(analysis_id)
                continue
            body = json.dumps({"object": "list", "data": [record]}).encode()
            page = parse_page(body, **self.columns)
            page.check_keys()  # stored without a `created` it would fall out of the store
            self.store.append(page.table, self._seq)
            self._seq += 1
            self._seen.update(zip(page.ids, page.statuses, strict=True))
            self._save()

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
