"""The fast path: msgspec decodes a page into Structs generated from RECORD_TYPE."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from operator import attrgetter
from typing import Annotated, Any

import msgspec
import numpy as np
import pyarrow as pa

from .page_json import SlowPath
from .schema import _B, _F, _I, _S, ENVELOPE_TYPES, RECORD_TYPE, column_specs, type_at

Fields = Callable[[str], Any]  # dotted path -> Arrow array of that field, one row per record
Part = tuple[Fields, dict[str, Any], dict[str, Any]]  # (fields, envelope, unknown columns)

_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_PYTHON_TYPE = {_S: str, _I: _INT64, _F: float, _B: bool}


class StructReader:
    """The fast path: msgspec decodes a page into Structs generated from RECORD_TYPE.

    Objects of the documented schema declare every documented field and forbid others, so an
    unknown field fails the decode and the page goes to Arrow, which types it as a column.
    Fields no column reads are msgspec.Raw: checked as JSON, never decoded, which skips
    transcripts and segment text cheaply. The items of documented lists keep just the fields
    a summary reads and ignore the rest, as the frame does. A value of the wrong JSON type,
    an integer beyond int64, or a float beyond double also fail the decode: the slower paths
    own those rules.
    """

    def __init__(self, specs: Mapping[str, tuple[str, str, str]]) -> None:
        self.columns = {"created", *(path for _, path, _ in specs.values())}
        self.paths = set(self.columns)  # what is decoded: the columns and the item fields read
        for _, path, how in specs.values():
            kind = type_at(path)
            if how == "value" and pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
                # the whole list of objects: every documented item field
                self.paths.update(f"{path}.{f.name}" for f in kind.value_type)
            elif how == "first_ts":
                self.paths.add(f"{path}.timestamp")
            elif how.startswith("count:"):
                self.paths.add(f"{path}.{how.removeprefix('count:').split('=')[0]}")
        self.empty: dict[str, Any] = {}  # path -> the all-null instance of its object's Struct
        envelope = [
            (name, _PYTHON_TYPE[kind] | None, None) for name, kind in ENVELOPE_TYPES.items()
        ]
        data = list[self._type(RECORD_TYPE, "")]  # type: ignore[misc,valid-type]
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
            msgspec.defstruct("Page", [("data", data), *envelope], gc=False)
        )
        # Per column, worked out once: its Arrow type and, for a list of objects, the item
        # fields read.
        self.kinds = {path: type_at(path) for path in self.columns}
        self.items = {
            path: [f for f in kind.value_type if f"{path}.{f.name}" in self.paths]
            for path, kind in self.kinds.items()
            if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type)
        }

    def read(self, body: bytes) -> Part:
        """The page's fields and envelope; SlowPath when it is not plain documented JSON."""
        try:
            page = self.decoder.decode(body)
            values: dict[str, list[Any]] = {"": page.data}
            arrays = {path: self._column(path, values) for path in self.columns}
        except (msgspec.MsgspecError, pa.ArrowException, OverflowError) as exc:
            raise SlowPath from exc
        return arrays.__getitem__, {name: getattr(page, name) for name in ENVELOPE_TYPES}, {}

    def _type(self, kind: Any, path: str, *, item: bool = False) -> Any:
        """The msgspec type that decodes the Arrow type `kind` found at `path`."""
        if pa.types.is_list(kind):
            return list[self._type(kind.value_type, path, item=True)]  # type: ignore[misc]
        if not pa.types.is_struct(kind):
            return _PYTHON_TYPE[kind]
        fields: list[tuple[str, Any, Any]] = []
        for field in kind:
            child = f"{path}.{field.name}" if path else field.name
            if any(p == child or p.startswith(f"{child}.") for p in self.paths):
                fields.append((field.name, self._type(field.type, child) | None, None))
            elif not item:
                fields.append((field.name, msgspec.Raw, None))
        name = path.replace(".", "_") or "record"
        struct = msgspec.defstruct(name, fields, forbid_unknown_fields=not item, gc=False)
        if not item:
            self.empty[path] = struct()
        return struct

    def _column(self, path: str, values: dict[str, list[Any]]) -> Any:
        """The Arrow array of the field at `path`, one row per record."""
        column = self._values(path, values)
        read = self.items.get(path)
        if read is None:
            kind = self.kinds[path]
            array = pa.array(column)  # inferring is 4x faster than pa.int64() when None is present
            return array if array.type == kind else array.cast(kind)  # e.g. all None
        # A list of objects: offsets, and a child array of just the item fields a summary reads.
        offsets = np.cumsum([0, *[0 if v is None else len(v) for v in column]])
        if read:
            items = [item for v in column if v is not None for item in v]
            arrays = [pa.array(list(map(attrgetter(f.name), items)), f.type) for f in read]
            child = pa.StructArray.from_arrays(arrays, fields=read)
        else:
            child = pa.nulls(int(offsets[-1]), pa.struct([]))
        nulls = pa.array([v is None for v in column], _B)
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), child, mask=nulls)

    def _values(self, path: str, values: dict[str, list[Any]]) -> list[Any]:
        """The Python values at a dotted path, one per record; `values` caches them by path.

        A missing or null object becomes its Struct's all-null instance, so the fields under
        it read as None without a test per record.
        """
        if path not in values:
            parent, _, name = path.rpartition(".")
            column = list(map(attrgetter(name), self._values(parent, values)))
            if path in self.empty and None in column:
                column = [self.empty[path] if v is None else v for v in column]
            values[path] = column
        return values[path]


@cache
def struct_reader(include_transcript: bool, include_segments: bool = False) -> StructReader:
    """The fast-path reader for the columns parse_page makes with these options."""
    return StructReader(column_specs(include_transcript, include_segments))
