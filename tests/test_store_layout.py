"""The table folder: a refresh writes what is new, a crash mid-write is finished or undone.

Table files are cut to 100 rows here, so a 1,200-analysis sandbox store spans a dozen of them
and each promise is about which files a refresh writes, seen on disk.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics import CallCovClient
from callcov_analytics._clock import SystemClock
from callcov_analytics._store import folder as _store
from callcov_analytics._store import merge as _store_merge
from callcov_analytics.sandbox import Sandbox

FILE_ROWS = 100


@pytest.fixture(autouse=True)
def small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (_store, _store_merge):
        monkeypatch.setattr(module, "FILE_ROWS", FILE_ROWS)


@pytest.fixture
def api(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(plan="enterprise", n_analyses=1200, window_seconds=60)


def load(api: Sandbox, root: Path, **options: Any) -> pd.DataFrame:
    client = CallCovClient(api.key, api.url, clock=SystemClock(sleep=lambda s: None))
    return cca.load_calls(client=client, limit=100, cache_dir=root, progress=False, **options)


def files(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file of the store: inode, size, modification time."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and path.name != ".lock.owner":
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def written(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(Path(k).name for k, v in after.items() if before.get(k) != v)


def duckdb_ids(root: Path) -> list[str]:
    (table,) = cca.cache_info(root)["table"]
    rel = duckdb.read_parquet(f"{table}/*.parquet")
    return [r[0] for r in rel.order("created DESC, id DESC").select("id").fetchall()]


def test_a_refresh_with_nothing_new_writes_only_the_state(api: Sandbox, tmp_path: Path) -> None:
    young = [r["id"] for r in api.insert(3, status="processing")]  # re-read, unchanged
    load(api, tmp_path)
    before = files(tmp_path)
    api.clear_log()
    df = load(api, tmp_path)
    assert len(api.log) == 1  # the first page: nothing new, the processing ones re-read
    assert set(young) <= set(df["id"])
    assert written(before, files(tmp_path)) == ["state.json"]
    assert df.attrs["new"] == [] and df.attrs["updated"] == []


def test_new_analyses_write_a_small_file_and_leave_the_others(api: Sandbox, tmp_path: Path) -> None:
    load(api, tmp_path)
    assert len(list(tmp_path.rglob("table/*.parquet"))) == 12  # 1,200 rows, 100 a file
    before = files(tmp_path)
    new = [r["id"] for r in api.insert(5, status="completed")]
    df = load(api, tmp_path)
    changed = written(before, files(tmp_path))
    assert changed == ["part-00000013.parquet", "state.json"]  # the newest file was full
    assert df.attrs["new"] == new and df.attrs["updated"] == []
    more = [r["id"] for r in api.insert(5, status="completed")]
    before = files(tmp_path)
    df = load(api, tmp_path)
    assert written(before, files(tmp_path)) == ["part-00000013.parquet", "state.json"]
    assert df.attrs["new"] == more
    assert df["id"].tolist() == api.ids() == duckdb_ids(tmp_path)


def test_a_changed_analysis_rewrites_only_its_own_file(api: Sandbox, tmp_path: Path) -> None:
    young = [r["id"] for r in api.insert(2, status="processing")]
    load(api, tmp_path)
    api.insert(150, status="completed")  # the processing ones now sit in an older file
    load(api, tmp_path)
    api.set_status(young[0], "completed")
    before = files(tmp_path)
    df = load(api, tmp_path, refresh="recheck")
    changed = written(before, files(tmp_path))
    assert len(changed) == 2 and "state.json" in changed  # one table file and the state
    assert df.attrs["updated"] == [young[0]] and df.attrs["new"] == []
    assert df.set_index("id").loc[young[0], "status"] == "completed"
    assert df["id"].tolist() == api.ids() == duckdb_ids(tmp_path)


class Crash(Exception):
    """The process dies while the table is being written."""


@pytest.fixture
def crash_on_table_write(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Let ``armed[0]`` table-file writes through, then die before the next one lands."""
    armed = [-1]
    write = _store.Store._write_parquet

    def failing(self: _store.Store, path: Path, table: Any, **options: Any) -> None:
        if path.parent.name == "table" and armed[0] >= 0:
            if armed[0] == 0:
                raise Crash
            armed[0] -= 1
        write(self, path, table, **options)

    monkeypatch.setattr(_store.Store, "_write_parquet", failing)
    yield armed


@pytest.mark.parametrize("survivors", [0, 1, 2])
def test_a_refresh_that_dies_mid_write_is_finished_by_the_next(
    api: Sandbox, tmp_path: Path, crash_on_table_write: list[int], survivors: int
) -> None:
    young = [r["id"] for r in api.insert(2, status="processing")]
    load(api, tmp_path)
    api.insert(250, status="completed")  # three new files and the head file
    api.set_status(young[0], "completed")
    crash_on_table_write[0] = survivors
    with pytest.raises(Crash):
        load(api, tmp_path)
    # A reader in between sees each analysis at most once.
    seen = duckdb_ids(tmp_path)
    assert len(seen) == len(set(seen))
    crash_on_table_write[0] = -1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing damaged: no StoreWarning, no re-fetch
        df = load(api, tmp_path, refresh="recheck")
    assert df["id"].tolist() == api.ids() == duckdb_ids(tmp_path)
    assert df.set_index("id").loc[young[0], "status"] == "completed"
    assert not list(tmp_path.rglob("pages/*.parquet"))


def test_since_reads_only_the_files_of_those_days(
    api: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = load(api, tmp_path)
    since = int(df["created"].iloc[250].timestamp())
    opened: list[str] = []
    read = _store.Store.read_table_file

    def counting(self: _store.Store, name: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(name)
        return read(self, name, *args, **kwargs)

    monkeypatch.setattr(_store.Store, "read_table_file", counting)
    recent = load(api, tmp_path, since=since, refresh=False)
    assert recent["id"].tolist() == df.loc[df["created"] >= df["created"].iloc[250], "id"].tolist()
    assert 3 <= len(set(opened)) <= 4  # of 12 files


def test_an_earlier_versions_interrupted_compaction_is_finished(
    api: Sandbox, tmp_path: Path
) -> None:
    import json

    import pyarrow.parquet as pq

    from tests.test_store_engines import to_earlier_layout

    df = load(api, tmp_path)
    to_earlier_layout(tmp_path)  # one table.parquet (token "0123"), state version 2
    (state_path,) = tmp_path.rglob("state.json")
    state = json.loads(state_path.read_text())
    page = state_path.parent / "pages" / "part-00000007.parquet"
    page.parent.mkdir(exist_ok=True)
    pq.write_table(pq.read_table(state_path.parent / "table.parquet").slice(0, 1), page)
    # It crashed after renaming its new table into place, before its state listed it alone.
    state["files"] = {"pages/part-00000007.parquet": {"rows": 1, "oldest": 0}}
    state["compacting"] = {"token": "0123", "rows": len(df)}
    state_path.write_text(json.dumps(state))
    api.clear_log()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load(api, tmp_path)
    assert again["id"].tolist() == df["id"].tolist() == duckdb_ids(tmp_path)
    assert len(api.log) == 1 and not page.exists()


def test_the_state_file_reads_back_to_what_was_written(api: Sandbox, tmp_path: Path) -> None:
    from callcov_analytics._store.crawl import Crawl
    from callcov_analytics._store.state import SavedState, StoreState

    load(api, tmp_path)
    (state_path,) = tmp_path.rglob("state.json")
    saved = SavedState.from_json(state_path.read_text())
    assert saved.state.head == max(r["created"] for r in api.records())
    assert len(saved.files) == 12 and not saved.state.gaps and not saved.compacting
    assert saved.state.to_json(saved.files) == state_path.read_bytes()
    # What an interrupted load leaves: an unfinished crawl, a lost file to read again, a write
    # announced, processing analyses' check times.
    first = dict(list(saved.files.items())[:1])
    state = StoreState(head=9, floor=3, gaps=[Crawl(100, floor=3)], refetch=5, checked={"a": 1.5})
    written = state.to_json(saved.files, first)
    again = SavedState.from_json(written.decode())
    assert again.state.to_json(again.files, again.compacting) == written
    assert (again.state.head, again.state.floor, again.state.refetch) == (9, 3, 5)
    assert again.compacting == first and again.state.checked == {"a": 1.5}
