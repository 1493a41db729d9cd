"""Encoded list pages: an LRU of JSON (and gzip) bytes, plus a read-ahead of the next page.

Building a 1000-record page costs ~0.1 s of CPU; a crawl asks for pages in order, so while
the client handles page N the server builds page N+1 on one background thread. A request that
arrives while its page is being built waits for it instead of building it twice.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

CACHE_BYTES = 64 * 1024 * 1024

PageKey = tuple[Hashable, ...]


class PageCache:
    """Thread-safe LRU of encoded pages keyed by (query, data version)."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        """Create an empty cache holding at most `max_bytes` of bodies."""
        self.max_bytes = max_bytes
        self._pages: OrderedDict[PageKey, bytes] = OrderedDict()
        self._size = 0
        self._building: dict[PageKey, threading.Event] = {}
        self._ahead: threading.Thread | None = None
        self._lock = threading.Lock()

    def get(self, key: PageKey) -> bytes | None:
        """Return a cached body, or None."""
        with self._lock:
            body = self._pages.get(key)
            if body is not None:
                self._pages.move_to_end(key)
            return body

    def put(self, key: PageKey, body: bytes) -> None:
        """Store a body, evicting the least recently used ones past the byte budget."""
        with self._lock:
            if key in self._pages:
                return
            self._pages[key] = body
            self._size += len(body)
            while self._size > self.max_bytes and len(self._pages) > 1:
                _, old = self._pages.popitem(last=False)
                self._size -= len(old)

    def page(self, key: PageKey, build: Callable[[], bytes]) -> bytes:
        """Return the body for `key`, building it once even under concurrent requests."""
        with self._lock:
            body = self._pages.get(key)
            pending = self._building.get(key) if body is None else None
        if body is not None:
            return body
        if pending is not None:
            pending.wait(30)
            body = self.get(key)
            if body is not None:
                return body
        return self._build(key, build)

    def _build(self, key: PageKey, build: Callable[[], bytes]) -> bytes:
        done = threading.Event()
        with self._lock:
            self._building[key] = done
        try:
            body = build()
            self.put(key, body)
            return body
        finally:
            with self._lock:
                self._building.pop(key, None)
            done.set()

    def read_ahead(self, key: PageKey, build: Callable[[], bytes]) -> None:
        """Build `key` on a background thread if nothing else is being read ahead."""
        with self._lock:
            busy = self._ahead is not None and self._ahead.is_alive()
            if busy or key in self._pages or key in self._building:
                return
            self._ahead = threading.Thread(
                target=self._build, args=(key, build), name="sandbox-read-ahead", daemon=True
            )
            self._ahead.start()

    def gzipped(self, key: PageKey | None, body: bytes) -> bytes:
        """Return `body` gzipped, cached alongside the page when it has a key."""
        if key is None:
            return gzip.compress(body, compresslevel=5, mtime=0)
        return self.page((*key, "gzip"), lambda: gzip.compress(body, compresslevel=5, mtime=0))
