"""The anchored offset crawl: exactly-once under inserts and deletes, stop rules, resume."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcov_analytics import ListOrderError, PagingStalledError
from callcov_analytics._store.crawl import MAX_REPEATS, MAX_STALLED, Crawl

Page = tuple[list[str], list[int]]


class ShiftingList:
    """A newest-first list that changes between page reads, like the real API's."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.clock = 1_700_000_000
        # Several rows per second, so ties on `created` are broken by id.
        self.rows = sorted(
            ((self.clock - i // 3, f"{self.rng.getrandbits(64):016x}") for i in range(n)),
            reverse=True,
        )
        self.initial = {r[1] for r in self.rows}
        self.deleted: set[str] = set()
        self.inserted: set[str] = set()

    def insert(self, k: int) -> None:
        for _ in range(k):
            self.clock += 1
            row = (self.clock, f"{self.rng.getrandbits(64):016x}")
            self.rows.insert(0, row)
            self.inserted.add(row[1])

    def delete(self, k: int) -> None:
        for _ in range(min(k, len(self.rows))):
            row = self.rows.pop(self.rng.randrange(len(self.rows)))
            self.deleted.add(row[1])

    def page(self, offset: int, limit: int) -> tuple[list[str], list[int]]:
        rows = self.rows[offset : offset + limit]
        return [r[1] for r in rows], [r[0] for r in rows]

    @property
    def stable(self) -> set[str]:
        return self.initial - self.deleted


def run(
    data: ShiftingList,
    crawl: Crawl,
    churn=lambda data, n: None,
    envelope: bool = True,
    max_pages: int = 10_000,
) -> list[str]:
    got: list[str] = []
    while (offset := crawl.next_offset()) is not None:
        if crawl.pages:
            churn(data, crawl.pages)
        ids, created = data.page(offset, crawl.limit)
        has_more = offset + len(ids) < len(data.rows) if envelope else None
        keep = crawl.accept(offset, ids, created, has_more)
        got += [ids[i] for i in keep]
        assert crawl.pages < max_pages, "crawl does not terminate"
    return got


def test_static_list_is_read_once_with_one_row_overlap() -> None:
    data = ShiftingList(2500)
    crawl = Crawl(limit=1000)
    got = run(data, crawl)
    assert got == [r[1] for r in data.rows]
    assert crawl.pages == 3  # offsets 0, 999, 1998


def test_without_has_more_a_short_page_ends_the_crawl() -> None:
    data = ShiftingList(2500)
    crawl = Crawl(limit=1000)
    assert run(data, crawl, envelope=False) == [r[1] for r in data.rows]
    assert crawl.pages == 3


def test_full_last_page_without_has_more_costs_one_more_request() -> None:
    data = ShiftingList(1000)
    crawl = Crawl(limit=1000)
    assert len(run(data, crawl, envelope=False)) == 1000
    assert crawl.pages == 2  # the second page holds only the overlap row: end of list


def test_empty_list() -> None:
    crawl = Crawl(limit=100)
    assert run(ShiftingList(0), crawl) == []
    assert crawl.done and crawl.pages == 1


def test_inserts_during_the_crawl_never_duplicate() -> None:
    data = ShiftingList(3000, seed=1)
    got = run(data, Crawl(limit=500), churn=lambda d, n: d.insert(7))
    assert len(got) == len(set(got))
    assert data.stable <= set(got)


def test_deletes_during_the_crawl_never_skip() -> None:
    data = ShiftingList(3000, seed=2)
    crawl = Crawl(limit=500)
    got = run(data, crawl, churn=lambda d, n: d.delete(9))
    assert len(got) == len(set(got))
    assert data.stable <= set(got)
    assert crawl.rereads > 0


def test_floor_stops_paging_at_since() -> None:
    data = ShiftingList(5000)
    floor = data.rows[1200][0]
    crawl = Crawl(limit=500, floor=floor)
    got = run(data, crawl)
    assert got == [r[1] for r in data.rows if r[0] >= floor]
    assert crawl.pages == 3  # not the 11 pages of the whole history


def test_resume_from_a_checkpoint_continues_without_refetching() -> None:
    data = ShiftingList(2000)
    crawl = Crawl(limit=500)
    got: list[str] = []
    for _ in range(2):
        offset = crawl.next_offset()
        assert offset is not None
        ids, created = data.page(offset, 500)
        got += [ids[i] for i in crawl.accept(offset, ids, created, True)]
    resumed = Crawl.from_dict(crawl.to_dict())
    data.insert(40)  # time passed: new analyses arrived above the checkpoint
    resumed.shift(40)
    got += run(data, resumed)
    assert sorted(got) == sorted(data.initial)
    assert resumed.pages == 2 + 3  # then offsets 998+40, 1497+40, 1996+40: nothing re-read


def test_accept_refuses_a_page_that_was_not_requested() -> None:
    crawl = Crawl(limit=10)
    with pytest.raises(ValueError, match="offset 5"):
        crawl.accept(5, [], [])


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 900),
    limit=st.integers(2, 120),
    inserts=st.integers(0, 15),
    deletes=st.integers(0, 15),
    seed=st.integers(0, 10_000),
    envelope=st.booleans(),
)
def test_every_stable_row_exactly_once_under_any_churn(
    n: int, limit: int, inserts: int, deletes: int, seed: int, envelope: bool
) -> None:
    data = ShiftingList(n, seed=seed)

    def churn(d: ShiftingList, pages: int) -> None:
        if pages < 40:  # a live system; bounded so the crawl can finish
            d.insert(inserts)
            d.delete(deletes)

    got = run(data, Crawl(limit=limit), churn=churn, envelope=envelope)
    assert len(got) == len(set(got)), "a row came back twice"
    assert data.stable <= set(got), "a row that existed throughout was skipped"
    assert set(got) <= data.initial | data.inserted, "a row that never existed"


# -- servers that break the paging rules: a typed error within a few requests, never a loop --


def test_a_page_size_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Crawl(limit=1)


def stalls(n: int, serve: Callable[[Crawl, list[str], list[int]], Page], match: str) -> Crawl:
    """Read the first page honestly, then what `serve` answers, until PagingStalledError."""
    data = ShiftingList(n)
    crawl = Crawl(limit=50)
    ids, created = data.page(0, 50)
    crawl.accept(0, ids, created, True)
    with pytest.raises(PagingStalledError, match=match):
        while (offset := crawl.next_offset()) is not None:
            crawl.accept(offset, *serve(crawl, ids, created), True)
    return crawl


def test_a_server_that_ignores_offset_stops_after_a_few_requests() -> None:
    # the first page, whatever was asked
    crawl = stalls(300, lambda crawl, ids, created: (ids, created), "ignore the `offset`")
    assert crawl.pages == 1 + MAX_REPEATS  # offsets 0, 49, then jumps of 98, 196, ...


def test_pages_that_never_bring_a_new_row_stop_within_the_stall_budget() -> None:
    def newer(crawl: Crawl, ids: list[str], created: list[int]) -> Page:
        k = crawl.pages % 40  # a different page each time, all of them newer than the cursor
        return ids[k : k + 10], created[k : k + 10]

    assert stalls(5000, newer, "pages in a row").pages == 1 + MAX_STALLED


def test_one_row_pages_from_the_server_stop_instead_of_looping() -> None:
    data = ShiftingList(40)
    crawl = Crawl(limit=50)
    with pytest.raises(PagingStalledError, match="pages of one row"):
        while (offset := crawl.next_offset()) is not None:
            ids, created = data.page(offset, 1)  # a gateway capping every page at one row
            crawl.accept(offset, ids, created, True)
            assert crawl.pages < 10
    assert crawl.pages == 3  # offset 0, 1 (read again further back), 0 again


def test_has_more_true_on_the_last_row_ends_on_the_empty_page() -> None:
    data = ShiftingList(99)
    crawl = Crawl(limit=50)
    got: list[str] = []
    while (offset := crawl.next_offset()) is not None:
        ids, created = data.page(offset, 50)
        got += [ids[i] for i in crawl.accept(offset, ids, created, True)]  # always "more"
    assert got == [r[1] for r in data.rows]
    assert crawl.pages == 5  # 0, 49, 98 (the last row alone), 99 (empty), 98 again: the end


def test_a_short_page_with_has_more_true_continues() -> None:
    data = ShiftingList(300)
    crawl = Crawl(limit=100)
    got: list[str] = []
    while (offset := crawl.next_offset()) is not None:
        ids, created = data.page(offset, 30)  # the server caps pages at 30 rows
        got += [ids[i] for i in crawl.accept(offset, ids, created, offset + 30 < 300)]
    assert got == [r[1] for r in data.rows]


def test_has_more_false_is_not_believed_when_total_counts_more() -> None:
    data = ShiftingList(300)
    crawl = Crawl(limit=50)
    got: list[str] = []
    while (offset := crawl.next_offset()) is not None:
        ids, created = data.page(offset, 50)
        got += [ids[i] for i in crawl.accept(offset, ids, created, False, total=300)]
    assert got == [r[1] for r in data.rows]


def test_an_oldest_first_page_raises_at_once() -> None:
    data = ShiftingList(300)
    ids, created = data.page(0, 50)
    with pytest.raises(ListOrderError, match="not newest first"):
        Crawl(limit=50).accept(0, ids[::-1], created[::-1], True)


def test_a_row_repeated_within_a_page_is_kept_once() -> None:
    data = ShiftingList(10)
    ids, created = data.page(0, 10)
    keep = Crawl(limit=20).accept(0, [ids[0], *ids], [created[0], *created], False)
    assert [([ids[0], *ids])[i] for i in keep] == ids
