"""Fetch-ahead: a crawl's pages in order, on up to MAX_WORKERS connections when one is too slow."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from .._decode.parse import ParsedPage
from .._http.client import CallCovClient
from .crawl import Crawl

MAX_WORKERS = 8  # connections at most; the rate-limit budget, not this, sets the pace
# After the list shifted under the crawl, pages read one at a time before fetching ahead again:
# under steady churn most pages fetched ahead land off the crawl's path and are paid for nothing.
CALM_PAGES = 4


class FetchAhead:
    """A crawl's pages in order, fetched ahead when one connection is too slow for the plan.

    Only a crawl to the end of the list with a known ``total`` fetches ahead: there the offsets
    to come are known. The requests share the client's rate-limit budget, so fetching ahead
    never sends more than the window allows. When the list shifts under the crawl (a re-read,
    inserts), pages fetched ahead at the old offsets are dropped, and the next CALM_PAGES pages
    are read one at a time: a list that keeps shifting would make most of them wasted requests.

    Threading contract: workers run only ``client.list_page``. What they share is thread-safe
    by design: the rate-limit budget and the latency record (locked), the observer (the client
    calls it one thread at a time), the requests Session (urllib3's pool is thread-safe; no
    cookies or per-request state). Pages are handed to the store on the loading thread only.
    The pool lives as long as this object: leaving the ``with`` block cancels what has not
    started and waits for requests in flight, each bounded by the client's read timeout.
    """

    def __init__(
        self, fetch: Callable[[int], ParsedPage], client: CallCovClient, limit: int, crawl: Crawl
    ) -> None:
        # fetch(offset) reads one page; limit is the page size the crawl asks for.
        self.fetch, self.client, self.limit, self.crawl = fetch, client, limit, crawl
        self.pending: dict[int, Future[ParsedPage]] = {}
        self.pool: ThreadPoolExecutor | None = None
        self.expected: int | None = None  # the next offset if the list holds still
        self.calm = CALM_PAGES  # pages in a row that continued where the previous one ended

    def __enter__(self) -> FetchAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        for future in self.pending.values():
            future.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __iter__(self) -> Iterator[tuple[int, ParsedPage]]:
        step = max(self.limit - 1, 1)
        while (offset := self.crawl.next_offset()) is not None:
            self.calm = 0 if self.expected not in (None, offset) else self.calm + 1
            self.expected = offset + step
            planned = self._planned(offset) if self.calm >= CALM_PAGES else [offset]
            # Only pages off the crawl's path are dropped (the list shifted): one still ahead on
            # it is kept when fewer are planned now (the latency fell), or it would be paid twice.
            for stale in [o for o in self.pending if o < offset or (o - offset) % step]:
                self.pending.pop(stale).cancel()
            if len(planned) > 1:
                self.pool = self.pool or ThreadPoolExecutor(MAX_WORKERS, "callcov-fetch")
                for ahead in planned[1:]:
                    if ahead not in self.pending:
                        self.pending[ahead] = self.pool.submit(self.fetch, ahead)
            future = self.pending.pop(offset, None)
            yield offset, future.result() if future else self.fetch(offset)

    def settled(self, timeout: float = 2.0) -> Iterator[tuple[int, ParsedPage]]:
        """Pages already in flight that continue the crawl, waiting at most ``timeout``."""
        monotonic = self.client.clock.monotonic
        deadline = monotonic() + timeout
        while (offset := self.crawl.next_offset()) in self.pending:
            try:
                page = self.pending.pop(offset).result(max(0.0, deadline - monotonic()))
            except Exception:  # failed or too slow: not kept, the resume re-reads it
                return
            yield offset, page

    def _planned(self, offset: int) -> list[int]:
        """Offsets to have in flight: as many as the plan's rate needs to stay busy."""
        limiter, latency = self.client.limiter, self.client.latency
        window, crawl = limiter.window_length, self.crawl
        if (
            crawl.floor is not None
            or crawl.total is None
            or not (limiter.limit and latency and window)
        ):
            return [offset]
        # Requests the plan allows during one round trip: that many connections keep up, and
        # one more, since pages fetched together also arrive together.
        needed = limiter.limit / window * latency
        workers = 1 if needed < 0.5 else min(MAX_WORKERS, math.ceil(needed) + 1)
        step = max(self.limit - 1, 1)
        return [
            o
            for o in range(offset, offset + workers * step, step)
            if o == offset or o < crawl.total
        ]
