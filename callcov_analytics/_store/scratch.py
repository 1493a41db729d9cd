"""``cache=False``: a store that lives for one call, its pages held in memory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .files import seq_of
from .folder import Store
from .state import FileEntry, StoreState
from .table import cut


class ScratchStore(Store):
    """The store of a load that keeps nothing: pages stay in memory, no file is written.

    Checkpoints exist so that an interrupted load resumes; nothing of this one survives the
    call, so a page costs no Parquet file, no state file and no fsync, and the end of the load
    folds nothing into table files: `read` takes the pages as an interrupted load's pending
    pages are taken (sorted newest first, the latest version of each analysis). On an error
    the pages read so far still make the ``.partial`` frame.
    """

    def __init__(
        self, path: Path, meta: Mapping[str, Any], *, where: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(path, meta, where=where)
        self._held: dict[str, pa.Table] = {}

    @classmethod
    def of(cls, store: Store) -> ScratchStore:
        """A scratch store for the dataset ``store`` describes (in a temporary folder)."""
        return cls(store.path, store.meta, where=store.where)

    def append(self, table: pa.Table, seq: int) -> None:
        """Hold one page of rows."""
        if table.num_rows == 0:
            return
        name = f"pages/part-{seq:08d}.parquet"
        self._held[name] = table
        self._files[name] = FileEntry(rows=table.num_rows)

    def save_state(
        self, state: StoreState, compacting: Mapping[str, FileEntry] | None = None
    ) -> None:
        """Nothing to resume after this call: the state stays with the load."""

    def read_table_file(
        self,
        name: str,
        columns: list[str] | None = None,
        since: int | None = None,
        until: int | None = None,
        categories: bool = False,
    ) -> pa.Table:
        """One held page with the types pages hold, ``_seq`` added, cut to since/until."""
        table = self._held[name]
        if columns is not None:
            table = table.select(columns)
        return cut(table, seq_of(name), since, until, categories=categories)

    def compact(self, state: StoreState, drop: Mapping[str, int | None] | None = None) -> None:
        """No table to fold into: only ``drop`` (ids gone from the API) leave the pages."""
        if drop:
            gone = pa.array(list(drop), pa.string())
            for name, table in self._held.items():
                self._held[name] = table.filter(pc.invert(pc.is_in(table["id"], gone)))
                self._files[name] = replace(self._files[name], rows=self._held[name].num_rows)
        held = sum(t.num_rows for t in self._held.values())
        self.counts = {"new": held, "refreshed": 0, "stored": 0}

    def clear(self) -> None:
        """Forget every held page."""
        super().clear()
        self._held = {}
