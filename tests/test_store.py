"""Never fetch twice: checkpoints, resume, incremental refresh, quota pre-flight, the store."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics import QuotaWarning, StoreWarning, cache_info, clear_cache
from callcov_analytics._store import folder as store
from callcov_analytics._store.cache import default_cache_dir
from callcov_analytics._store.crawl import page_size
from callcov_analytics.sandbox import Sandbox
from callcov_analytics.segments import segments
from tests.clients import client_for
from tests.observers import StopAfter

# New rows a page of limit=100 brings: the overlap row rides in one more (`page_size`).
NEW = page_size(100) - 1


def full_load(api: Sandbox) -> int:
    """Requests a whole load of the sandbox's rows takes in pages of limit=100."""
    return math.ceil((len(api.ids()) - 1) / NEW)


def list_pages(api: Sandbox) -> list[tuple[str, str]]:
    """(offset, limit) of every list page the sandbox served (refused requests excluded)."""
    return [
        (e.query.get("offset", "0"), e.query.get("limit", "100"))
        for e in api.log
        if e.path.endswith(("/calls", "/analysis/")) and e.status == 200
    ]


@pytest.fixture
def big(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(plan="enterprise", n_analyses=1200, window_seconds=60)


def load(api: Sandbox, **kwargs: object) -> object:
    kwargs.setdefault("limit", 100)
    return cca.load_calls(client=client_for(api), progress=False, **kwargs)  # type: ignore[arg-type]


def test_interrupt_then_resume_fetches_no_page_twice(big: Sandbox) -> None:
    with pytest.raises(cca.LoadInterrupted, match="again to continue") as info:
        load(big, observer=StopAfter(4))
    assert isinstance(info.value, KeyboardInterrupt)  # a bare `except KeyboardInterrupt` works
    # Rows of the pages read (and of any fetched ahead that arrived) are kept, in order.
    partial = info.value.partial["id"].tolist()
    assert len(partial) >= 4 * NEW + 1 and partial == big.ids()[: len(partial)]
    df = load(big)
    assert df["id"].tolist() == big.ids()
    pages = Counter(list_pages(big))
    assert max(pages.values()) == 1, f"re-fetched: {[p for p, n in pages.items() if n > 1]}"


def test_segments_interrupted_then_resumed_fetch_no_page_twice(big: Sandbox) -> None:
    client = client_for(big)
    with pytest.raises(cca.LoadInterrupted, match=r"load_segments\(\.\.\.\) again") as info:
        cca.load_segments(client=client, limit=100, observer=StopAfter(3), progress=False)
    partial = info.value.partial
    # Exactly the segments of the newest analyses, down to the last page read (or fetched ahead).
    ids = big.ids()
    read = max(ids.index(i) for i in partial["id"]) + 1
    assert read >= 3 * NEW
    pd.testing.assert_frame_equal(partial, segments(big.records()[:read]))
    segs = cca.load_segments(client=client, limit=100, progress=False)
    pd.testing.assert_frame_equal(segs, segments(big.records()))
    pages = Counter(list_pages(big))
    assert max(pages.values()) == 1, f"re-fetched: {[p for p, n in pages.items() if n > 1]}"


def test_repeat_load_with_nothing_new_costs_one_request(big: Sandbox) -> None:
    first = load(big, limit=1000)
    big.clear_log()
    again = load(big, limit=1000)
    # One page re-reads the newest analyses, down to the oldest one still processing.
    assert len(big.log) == 1
    assert again["id"].tolist() == first["id"].tolist()


def test_repeat_load_picks_up_new_and_finished_analyses(big: Sandbox) -> None:
    processing = [r["id"] for r in big.insert(3, status="processing")]  # young: re-checked
    load(big)
    for analysis_id in processing:
        big.set_status(analysis_id, "completed")
    new = [r["id"] for r in big.insert(5, status="completed")]
    big.clear_log()
    df = load(big)
    assert df["id"].tolist() == big.ids()
    assert set(new) <= set(df["id"])
    done = df.set_index("id").loc[processing]
    assert (done["status"] == "completed").all() and done["sentiment_overall"].notna().all()
    assert len(big.log) <= 2


def test_refresh_false_makes_no_request_and_full_rereads(big: Sandbox) -> None:
    with pytest.raises(cca.ValidationError, match="refresh=True"):
        load(big, refresh=False)
    load(big)
    big.clear_log()
    assert len(load(big, refresh=False)) == len(big.ids())
    assert big.log == []
    load(big, refresh="full")
    assert len(list_pages(big)) == full_load(big)


def test_daily_quota_stops_cleanly_and_resumes_after_midnight(
    sandbox_factory: Callable[..., Sandbox], fake_clock
) -> None:
    api = sandbox_factory(
        plan="starter", n_analyses=800, window_seconds=60, daily_limit=6, clock=fake_clock
    )
    with pytest.raises(cca.QuotaExhaustedError) as info:
        load(api)
    assert len(info.value.partial) == 6 * NEW + 1
    fake_clock.advance(86_400)  # the next UTC day: one probe and the 3 pages left
    df = load(api)
    assert df["id"].tolist() == api.ids()
    assert max(Counter(list_pages(api)).values()) == 1


def test_preflight_warns_when_the_day_cannot_cover_the_load(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    api = sandbox_factory(plan="free", n_analyses=2500)  # free: 1,000 requests a day
    with pytest.warns(QuotaWarning, match="1000 a day"), pytest.raises(cca.LoadInterrupted):
        load(api, limit=2, observer=StopAfter(1))  # ~1,250 requests needed (2 new rows each)
    assert len(api.log) == 1


def store_dir() -> Path:
    (folder,) = {p.parent for p in default_cache_dir().rglob("state.json")}
    return folder


def test_a_damaged_store_warns_and_refetches(big: Sandbox) -> None:
    load(big)
    (table,) = (store_dir() / "table").glob("*.parquet")
    table.write_bytes(table.read_bytes()[:100])
    big.clear_log()
    with pytest.warns(StoreWarning, match="fetched again"):
        df = load(big)
    assert df["id"].tolist() == big.ids()
    assert len(list_pages(big)) == full_load(big)


@pytest.mark.parametrize(
    "state",
    [
        [],
        {"version": 2},
        {"version": 2, "files": [], "head": None, "floor": None, "gaps": []},
        {"version": 2, "files": {}, "head": "yesterday", "floor": None, "gaps": []},
        {"version": 2, "files": {}, "head": 1, "floor": None, "gaps": [{"offset": "x"}]},
        {"version": 2, "files": {"../../etc": {"rows": 1}}, "head": 1, "floor": 1, "gaps": []},
    ],
)
def test_a_state_of_the_wrong_shape_warns_and_refetches(big: Sandbox, state: object) -> None:
    load(big)
    (store_dir() / "state.json").write_text(json.dumps(state))
    for _ in range(2):  # and the load after is clean again
        big.clear_log()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            df = load(big)
        assert df["id"].tolist() == big.ids()
        if _ == 0:
            assert [w.category for w in seen] == [StoreWarning]
            assert len(list_pages(big)) == full_load(big)
        else:
            assert seen == [] and len(big.log) == 1


def test_a_retyped_column_warns_and_refetches(big: Sandbox) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    load(big)
    (path,) = (store_dir() / "table").glob("*.parquet")
    table = pq.read_table(path)
    i = table.schema.get_field_index("duration_ms")
    table = table.set_column(i, "duration_ms", table["duration_ms"].cast(pa.string()))
    pq.write_table(table, path)  # same rows, same metadata, one column now text
    big.clear_log()
    with pytest.warns(StoreWarning, match="duration_ms"):
        df = load(big)
    assert df["id"].tolist() == big.ids() and df["duration_ms"].dtype == "Int64"


def test_a_deleted_page_file_warns_and_its_rows_come_back(big: Sandbox) -> None:
    import pyarrow.parquet as pq

    with pytest.raises(cca.LoadInterrupted):
        load(big, observer=StopAfter(5))
    pages = sorted((store_dir() / "pages").glob("*.parquet"))
    assert len(pages) >= 5
    # The second page: re-reading down to it is cheaper than a full load however many pages
    # fetch-ahead had read when the load stopped (at least the five counted).
    lost = pq.read_table(pages[1])["id"].to_pylist()
    pages[1].unlink()
    read_before = len(list_pages(big))
    with pytest.warns(StoreWarning, match="missing"):
        df = load(big)
    assert df["id"].tolist() == big.ids()  # every row: the lost ones were fetched again
    assert set(lost) <= set(df["id"])
    # A probe, the rest of the crawl, then the list again down to the lost page only.
    deepest = max(big.ids().index(i) for i in lost)
    after = len(list_pages(big)) - read_before
    full = full_load(big)
    assert after <= 1 + (full - read_before) + deepest // NEW + 2 < 1 + full, after


def test_a_held_lock_names_its_holder_and_is_never_called_stale(
    big: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(big)
    folder = store_dir()
    meta = json.loads((folder / "dataset.json").read_text())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json, sys; from pathlib import Path; "
            "from callcov_analytics._store.folder import Store; "
            f"s = Store(Path({str(folder)!r}), json.loads({json.dumps(meta)!r})); "
            "ctx = s.locked(); ctx.__enter__(); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(store, "LOCK_TIMEOUT", 0.0)  # no waiting in a test
        big.clear_log()
        with pytest.raises(cca.StoreLockedError, match=f"pid {holder.pid} on ") as info:
            load(big)
        assert info.value.owner["pid"] == holder.pid
        assert "delete" not in str(info.value).lower() and big.log == []
    finally:
        holder.communicate("")
    assert load(big)["id"].tolist() == big.ids()  # the holder is gone: the lock is free


def test_thirty_refreshes_keep_the_store_to_its_table_files(big: Sandbox, tmp_path: Path) -> None:
    load(big)
    young = [r["id"] for r in big.insert(2, status="processing")]
    for i in range(30):
        big.insert(3, status="completed")
        if i == 10:
            for analysis_id in young:
                big.set_status(analysis_id, "completed")
        df = load(big)
    assert df["id"].tolist() == big.ids()
    files = [p.relative_to(store_dir()) for p in store_dir().rglob("*") if p.is_file()]
    assert sorted(str(p) for p in files) == [
        ".lock",
        "dataset.json",
        "state.json",
        "table/part-00000001.parquet",  # one file: every refresh folded its rows into it
    ]
    fresh = load(big, cache_dir=tmp_path)  # the same rows stored in one go
    assert fresh["id"].tolist() == df["id"].tolist()
    (fresh_table,) = tmp_path.rglob("table/*.parquet")
    size = (store_dir() / "table" / "part-00000001.parquet").stat().st_size
    assert size <= 1.05 * fresh_table.stat().st_size


def test_two_kernels_share_one_store_safely(big: Sandbox) -> None:
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(load(big))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r["id"].tolist() == big.ids() for r in results)  # type: ignore[index]
    # The second load waited for the first, then re-read only the newest pages (down to the
    # oldest analysis still processing) instead of the pages of a full load.
    assert full_load(big) + 1 <= len(list_pages(big)) <= full_load(big) + 2


def test_cache_info_and_clear_cache(big: Sandbox) -> None:
    load(big)
    info = cache_info()
    assert len(info) == 1 and info.loc[0, "rows"] >= 1200
    assert big.key not in info.to_csv()
    assert clear_cache() == 1 and len(cache_info()) == 0


def test_unwritable_cache_is_a_storage_error_with_the_rows(big: Sandbox, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    with pytest.raises(cca.StorageError, match="CALLCOV_CACHE_DIR"):
        load(big, cache_dir=blocked / "sub")


def test_latest_version_wins_and_order_is_restored_without_copying_a_clean_crawl() -> None:
    import pyarrow as pa

    from callcov_analytics._store.rows import latest_first as _latest_first

    def table(rows: list[tuple[int, str, int, str]]) -> pa.Table:
        created, ids, seq, status = zip(*rows, strict=True)
        return pa.table(
            {"created": list(created), "id": list(ids), "_seq": list(seq), "status": list(status)}
        )

    clean = table([(30, "c", 1, "completed"), (20, "b", 1, "completed"), (20, "a", 2, "done")])
    assert _latest_first(clean) is clean  # already newest first: handed back, no copy
    messy = table(
        [
            (20, "a", 1, "processing"),
            (30, "c", 1, "completed"),
            (20, "b", 1, "completed"),
            (20, "a", 3, "completed"),
        ]
    )
    out = _latest_first(messy)
    assert out["id"].to_pylist() == ["c", "b", "a"]
    assert out["status"].to_pylist() == ["completed", "completed", "completed"]


class FilesDuringLoad(StopAfter):
    """Notes the files under ``root`` after every page (never stops the load)."""

    def __init__(self, root: Path) -> None:
        super().__init__(pages=10**9)
        self.root = root
        self.seen: set[str] = set()

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        self.seen.update(p.name for p in self.root.rglob("*") if p.is_file())


def test_cache_false_writes_no_page_and_gives_the_stored_load_s_frame(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox's hostile records (unknown fields, processing, odd values) in pages of 100:
    # the pages held in memory make the frame the folded table files make.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = FilesDuringLoad(tmp_path)
    scratch = load(sandbox, cache=False, observer=files)
    stored = load(sandbox)
    assert isinstance(scratch, pd.DataFrame) and isinstance(stored, pd.DataFrame)
    assert len(scratch) == len(sandbox.ids()) and scratch.attrs["new"] == stored.attrs["new"]
    pd.testing.assert_frame_equal(scratch, stored, check_exact=True)
    assert files.seen and not any(n.endswith((".parquet", "state.json")) for n in files.seen)
    assert not list(tmp_path.iterdir())  # and the temporary folder is gone
