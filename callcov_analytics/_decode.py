"""Parsing API responses: a list body becomes typed columns, one row per analysis.

How a page becomes columns (bench/bench_frame.py measures it), fastest path first:
1. msgspec decodes the body into Structs generated from the documented object (RECORD_TYPE)
   that decode only the fields a column reads; transcripts and segment text are scanned, not
   decoded. Any unknown field, or a value of the wrong JSON type, makes it decline the page.
   Measured on 23 KB analyses: ~14 ms a 1,000-analysis page, ~2.8x faster than Arrow's
   reader with the same schema (the floor, decoding nothing, is ~6 ms).
2. Arrow's JSON reader parses the page against RECORD_TYPE as an explicit schema, with unexpected
   fields *inferred*, so unknown fields are typed in the same pass. A large page is cut at
   record starts into one envelope per core and the pieces are read in threads.
3. When Arrow cannot take the page (not JSON, a documented field with the wrong JSON type,
   an unknown field whose type changes between records, date-like text Arrow would turn into
   a timestamp, a corrupt inferred list), json.loads parses it and each record is coerced to
   the same Arrow type.
All three give the same columns (a property test holds them to it). The SCHEMA columns are
derived with pyarrow.compute from the fields' Arrow arrays, and only those narrow columns are
kept: transcripts and segments go with the page.

Tolerate rules (docs/api.md §3), as the frame shows them:
- Unknown fields anywhere become columns after the SCHEMA ones, named by dotted path
  (``sentiment_score``, ``call.queue``, ``experimental.foo``); unknown lists become JSON text;
  a path that equals a SCHEMA name gets an ``extra.`` prefix. Fields inside the items of
  documented lists (segments, recommendations, instances) are summarised, not columns.
  Unknown columns are Int64/Float64/boolean/string (string when only nulls were seen, or
  when pages disagree on the type).
- ``null`` or a missing object is NA in every column under it; so is a documented field with
  the wrong JSON type. Lengths and counts are NA when the list is absent or null and 0 when
  it is empty (a completed analysis with nothing to report); ``missing_disclosures`` is then "".
- ``created`` and ``completed_at`` (Unix s) are datetime64[ns, UTC]; outside 1677-2262, NA.
  Unix milliseconds (any number from 10^11 up: Unix seconds reach that only in year 5138)
  and ISO-8601 text (naive = UTC) are read too; other text is NA. A list page whose
  analysis has no readable ``created`` or no ``id`` cannot be paged exactly once:
  `ParsedPage.check_keys` raises InvalidRecordError naming the field (the row is not
  dropped or kept silently).
- Category columns: see schema.CATEGORIES.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import attrgetter
from typing import Annotated, Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ._errors import InvalidRecordError, ResponseDecodeError
from ._schema import (
    _B,
    _F,
    _I,
    _S,
    ARROW_TYPE,
    ENVELOPE_TYPES,
    NAMED_COLUMNS,
    RECORD_TYPE,
    SCHEMA_SPEC,
    SEGMENTS_SPEC,
    TRANSCRIPT_SPEC,
    type_at,
)
from ._secrets import excerpt

_READ_OPTIONS = pj.ParseOptions(
    explicit_schema=pa.schema([("data", pa.list_(RECORD_TYPE)), *ENVELOPE_TYPES.items()]),
    # "infer" costs the same as "error" here and lets Arrow type unknown fields in the same pass.
    unexpected_field_behavior="infer",
    newlines_in_values=True,  # pretty-printed bodies too; measured free on one-line bodies
)
_NS_LIMIT = 9_223_372_035  # Unix seconds that still fit datetime64[ns] (years 1677..2262)
_MS_FROM = 10**11  # a timestamp this large is in milliseconds (as seconds: year 5138)
# The documented Unix-seconds fields, as _coerce's prefix names them: text there is ISO-8601.
_TIMESTAMP_PREFIXES = frozenset({"created.", "metadata.completed_at."})
_Cells = dict[str, dict[int, Any]]  # unknown dotted path -> {row: value}
_Fields = Callable[[str], Any]  # dotted path -> Arrow array of that field, one row per record
_Part = tuple[_Fields, dict[str, Any], dict[str, Any]]  # (fields, envelope, unknown columns)
# Pages are read in up to _WORKERS pieces of at least _SPLIT_BYTES: one core parses ~0.6 GB/s.
_WORKERS = min(os.cpu_count() or 1, 4)
_SPLIT_BYTES = 2 << 20


class _SlowPath(Exception):
    """Arrow could not take this page as is; parse it with json instead."""


@dataclass(frozen=True)
class ParsedPage:
    """One list response, parsed into columns."""

    table: pa.Table  # one row per analysis in page order: SCHEMA (+ transcript) + unknown columns
    ids: list[str]  # page order; "" where an analysis has no id
    created: list[int]  # Unix seconds, page order; 0 where missing
    statuses: list[str]  # "" where missing
    has_more: bool | None  # None when the envelope lacks it (Tolerate)
    total: int | None
    limit: int | None
    offset: int | None
    unkeyed: tuple[str, int] | None = None  # (field, row) of the first row without id/created

    def check_keys(self) -> None:
        """Raise InvalidRecordError when an analysis lacks ``id`` or a readable ``created``."""
        if self.unkeyed is None:
            return
        field, row = self.unkeyed
        if field == "id":
            what = f"data[{row}] has no `id` (missing, null or empty)"
        else:
            what = (
                f"data[{row}] (id {self.ids[row]!r}) has no `created` the client can read "
                "(Unix seconds or milliseconds, or ISO-8601 text)"
            )
        raise InvalidRecordError(
            f"The API sent an analysis it cannot page: {what}. Without it the list cannot "
            "be read exactly once, so the load stopped instead of dropping or guessing the "
            "row; the rows read before are kept (.partial). Report the analysis to CallCov, "
            "or check that CALLCOV_API_URL points at the CallCov API.",
            field=field,
        )

    def take(self, indices: Sequence[int]) -> pa.Table:
        """The rows kept after dedup, in the given order."""
        return self.table.take(pa.array(indices, type=pa.int64()))


def parse_page(
    body: bytes, *, include_transcript: bool = False, include_segments: bool = False
) -> ParsedPage:
    """Parse the raw body of a list response into typed columns.

    include_transcript adds TRANSCRIPT_SPEC's column; include_segments, SEGMENTS_SPEC's.

    Raises ResponseDecodeError when the body is not JSON, is cut off, or is not a list
    envelope (an object with a ``data`` list).
    """
    specs = _specs(include_transcript, include_segments)
    try:
        parts = [_struct_reader(include_transcript, include_segments).read(body)]
    except _SlowPath:  # unknown fields, or values msgspec would not take as documented
        try:
            pieces = _read_arrow_parts(body)
        except _SlowPath:
            pieces = [_read_json(body)]
        parts = [
            (_struct_fields(records), envelope, extras) for records, envelope, extras in pieces
        ]
    tables, created, envelope = [], [], dict.fromkeys(ENVELOPE_TYPES)
    for fields, part_envelope, extras in parts:
        columns = _derive(fields, specs)
        for path, array in extras.items():
            name = path
            while name in columns or name in NAMED_COLUMNS:  # a top-level `language` is not ours
                name = f"extra.{name}"
            columns[name] = array
        tables.append(pa.table(columns))
        created += _unix_seconds(fields("created")).to_pylist()
        envelope = {k: part_envelope[k] if v is None else v for k, v in envelope.items()}
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    ids = table["id"].to_pylist()
    unkeyed = next(
        (
            ("id" if not key else "created", row)
            for row, (key, when) in enumerate(zip(ids, created, strict=True))
            if not key or when is None
        ),
        None,
    )
    return ParsedPage(
        table=table,
        ids=["" if v is None else v for v in ids],
        created=[0 if v is None else v for v in created],
        statuses=["" if v is None else v for v in table["status"].to_pylist()],
        unkeyed=unkeyed,
        **envelope,
    )


def parse_record(body: bytes) -> dict[str, Any]:
    """Parse the body of GET /analysis/{id} into the analysis dict."""
    doc = _loads(body)
    if not isinstance(doc, dict) or "id" not in doc:
        raise ResponseDecodeError(f"expected an analysis object, got {excerpt(bytes(body))}")
    return doc


class _StructReader:
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

    def read(self, body: bytes) -> _Part:
        """The page's fields and envelope; _SlowPath when it is not plain documented JSON."""
        try:
            page = self.decoder.decode(body)
            values: dict[str, list[Any]] = {"": page.data}
            arrays = {path: self._column(path, values) for path in self.columns}
        except (msgspec.MsgspecError, pa.ArrowException, OverflowError) as exc:
            raise _SlowPath from exc
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
def _struct_reader(include_transcript: bool, include_segments: bool = False) -> _StructReader:
    """The fast-path reader for the columns parse_page makes with these options."""
    return _StructReader(_specs(include_transcript, include_segments))


def _specs(include_transcript: bool, include_segments: bool) -> dict[str, tuple[str, str, str]]:
    """SCHEMA_SPEC, plus TRANSCRIPT_SPEC and SEGMENTS_SPEC when asked for."""
    return {
        **SCHEMA_SPEC,
        **(TRANSCRIPT_SPEC if include_transcript else {}),
        **(SEGMENTS_SPEC if include_segments else {}),
    }


_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_PYTHON_TYPE = {_S: str, _I: _INT64, _F: float, _B: bool}


def _struct_fields(records: Any) -> _Fields:
    """The field getter over an Arrow struct array of records."""
    return lambda path: pc.struct_field(records, path.split("."))


def _read_arrow_parts(body: bytes) -> list[tuple[Any, dict[str, Any], dict[str, Any]]]:
    """Fast path: Arrow reads the page, in parallel pieces cut at record starts when large."""
    pieces = _split(body)
    if len(pieces) > 1:
        try:
            parts = list(_pool().map(_read_arrow, pieces))
        except _SlowPath:  # a cut at a nested {"id": (or a page Arrow can't read): try it whole
            parts = []
        if parts and len({records.type for records, _, _ in parts}) == 1:
            return parts  # same unknown fields in every piece, so the tables concatenate
    return [_read_arrow(body)]


def _split(body: bytes) -> list[bytes]:
    """`body` as list envelopes of consecutive records, one per worker (or just `body`).

    A record start `}, {"id":` cannot occur inside a JSON string (a quote there is escaped),
    so each cut falls between two objects; if one was nested deeper than `data`, its pieces
    are not valid JSON and the caller reads the page whole.
    """
    count = min(_WORKERS, len(body) // _SPLIT_BYTES)
    view, pieces, start = memoryview(body), [], 0
    for k in range(1, count):
        at = body.find(b'{"id":', len(body) * k // count)
        while at > 0 and not body[at - 3 : at].endswith((b"},", b"}, ")):
            at = body.find(b'{"id":', at + 1)  # the first item of some nested list
        if at <= start:
            break
        end = at - 1 if body[at - 2] == ord("}") else at - 2  # just after the `}`
        pieces.append(b"".join([b'{"data":[' if start else b"", view[start:end], b"]}"]))
        start = at
    if not pieces:
        return [body]
    return [*pieces, b"".join([b'{"data":[', view[start:]])]


@cache
def _pool() -> ThreadPoolExecutor:
    """The threads that read pieces of a page (Arrow releases the GIL while it parses)."""
    return ThreadPoolExecutor(_WORKERS, thread_name_prefix="callcov-frame")


def _read_arrow(body: bytes) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Fast path: one pass of Arrow's JSON reader with the documented schema."""
    try:
        table = pj.read_json(
            pa.BufferReader(body),
            read_options=pj.ReadOptions(block_size=max(len(body) + 64, 1 << 16), use_threads=False),
            parse_options=_READ_OPTIONS,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # not JSON, or types Arrow can't take
        raise _SlowPath from exc
    if table.num_rows != 1 or table.column("data").null_count:
        raise _SlowPath  # not one envelope: let json.loads say what it is
    records = table.column("data").chunk(0).flatten()
    envelope = {name: table.column(name)[0].as_py() for name in ENVELOPE_TYPES}
    extras: dict[str, Any] = {}
    try:
        if records.type != RECORD_TYPE:
            _arrow_unknown(records, RECORD_TYPE, "", extras)
    except pa.ArrowException as exc:  # a corrupt inferred list (see _arrow_unknown)
        raise _SlowPath from exc
    return records, envelope, extras


def _arrow_unknown(array: Any, known: Any, prefix: str, out: dict[str, Any]) -> None:
    """Collect the fields Arrow inferred beyond `known` as flat columns named by dotted path."""
    for index, field in enumerate(array.type):
        ours = known.field(field.name) if known and known.get_field_index(field.name) >= 0 else None
        if ours is not None and (ours.type == field.type or not pa.types.is_struct(ours.type)):
            continue  # documented; extra fields inside documented list items are not columns
        child = pc.struct_field(array, [index])
        path = prefix + field.name
        if pa.types.is_struct(field.type):
            _arrow_unknown(child, ours.type if ours else None, path + ".", out)
        elif pa.types.is_timestamp(field.type):
            raise _SlowPath  # Arrow read a date-like string as a timestamp; keep the text
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            # pyarrow 26 builds corrupt offsets for an inferred list holding null then a value
            # (`[null, 5]` reads back as `[5, 0]`); validating turns that into the slow path.
            child.validate(full=True)
            out[path] = pa.array([_dumps(v) for v in child.to_pylist()], _S)
        else:
            out[path] = child


def _read_json(body: bytes) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Slow path: json.loads, then coerce records to the documented type, unknowns flattened."""
    doc = _loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ResponseDecodeError(
            f"expected a list envelope with a 'data' list, got {excerpt(bytes(body))}"
        )
    cells: _Cells = {}
    rows = []
    for row, item in enumerate(doc["data"]):
        if not isinstance(item, dict):
            raise ResponseDecodeError(
                f"data[{row}] is not an analysis object: {excerpt(bytes(body))}"
            )
        rows.append(_coerce(item, RECORD_TYPE, "", row, cells))
    envelope = {
        name: _coerce(doc.get(name), kind, "", 0, None) for name, kind in ENVELOPE_TYPES.items()
    }
    # A path that was only ever null and is the parent of another path (`x: null` beside
    # `x: {"y": 1}`) adds nothing; Arrow's inference drops it the same way.
    parents = {path.rsplit(".", 1)[0] for path in cells if "." in path}
    extras = {
        path: _column([values.get(row) for row in range(len(rows))])
        for path, values in cells.items()
        if not (path in parents and all(v is None for v in values.values()))
    }
    return pa.array(rows, type=RECORD_TYPE), envelope, extras


def _coerce(value: Any, kind: Any, prefix: str, row: int, cells: _Cells | None) -> Any:
    """`value` as Arrow type `kind` accepts it; a wrong JSON type becomes None (NA)."""
    if value is None:
        return None
    if pa.types.is_struct(kind):
        if not isinstance(value, dict):
            return None
        out = {}
        for key, item in value.items():
            index = kind.get_field_index(key)
            if index >= 0:
                out[key] = _coerce(item, kind.field(index).type, f"{prefix}{key}.", row, cells)
            elif cells is not None:  # unknown fields inside list items are not columns
                _flatten(item, prefix + key, row, cells)
        return out
    if pa.types.is_list(kind):
        if not isinstance(value, list):
            return None
        return [_coerce(item, kind.value_type, "", row, None) for item in value]
    if kind == _S:
        return _clean(value) if isinstance(value, str) else None
    if prefix in _TIMESTAMP_PREFIXES and isinstance(value, str | float):
        return _timestamp(value)
    if kind == _B or isinstance(value, bool) or not isinstance(value, int | float):
        return value if kind == _B and isinstance(value, bool) else None
    if kind == _F:
        return float(value) if -1e308 < value < 1e308 else None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if -(2**63) <= value < 2**63 else None


def _flatten(value: Any, path: str, row: int, cells: _Cells) -> None:
    """Store an unknown value under its dotted path; objects recurse, lists become JSON."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}", row, cells)
        return
    if isinstance(value, list):
        value = _dumps(value)
    elif isinstance(value, str):
        value = _clean(value)
    cells.setdefault(path, {})[row] = value


def _column(values: list[Any]) -> Any:
    """An Arrow array of unknown values, as text when they mix types or overflow."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([v if v is None or isinstance(v, str) else _dumps(v) for v in values], _S)


def _documented_items(array: Any, item: Any) -> Any:
    """A list of objects with just the documented item fields (Arrow may have inferred more)."""
    if array.type.value_type == item:
        return array
    values = array.values
    children = [pc.struct_field(values, [field.name]) for field in item]
    child = pa.StructArray.from_arrays(children, fields=list(item), mask=values.is_null())
    return pa.ListArray.from_arrays(array.offsets, child, mask=array.is_null())


def _derive(fields: _Fields, specs: Mapping[str, tuple[str, str, str]]) -> dict[str, Any]:
    """The SCHEMA columns (Arrow arrays) computed from the records' fields at their paths."""
    out: dict[str, Any] = {}
    for name, (dtype, path, how) in specs.items():
        array = fields(path)
        if how == "value" and pa.types.is_list(array.type):  # as documented, nothing inferred
            array = _documented_items(array, type_at(path).value_type)
        elif how == "value" and dtype.startswith("datetime"):
            array = _unix_seconds(array)
            fits = pc.and_(pc.greater_equal(array, -_NS_LIMIT), pc.less_equal(array, _NS_LIMIT))
            seconds = pc.if_else(fits, array, pa.scalar(None, _I))
            array = pc.multiply(seconds, 1_000_000_000).cast(ARROW_TYPE[dtype])
        elif how == "len":
            array = pc.list_value_length(array).cast(_I)
        elif how == "join":
            array = pc.binary_join(array, "; ")
        elif how == "first_ts":  # take(null) is null: absent and empty lists both give NA
            starts = pc.if_else(
                pc.greater(pc.list_value_length(array), 0), array.offsets[:-1], None
            )
            array = pc.struct_field(array.values, ["timestamp"]).take(starts)
        elif how.startswith("count:"):
            field, wanted = how.removeprefix("count:").split("=")
            hits = pc.fill_null(
                pc.equal(pc.struct_field(pc.list_flatten(array), [field]), wanted), False
            )
            parents = pc.list_parent_indices(array).filter(hits).to_numpy()
            counts = pa.array(np.bincount(parents, minlength=len(array)), _I)
            array = pc.if_else(pc.is_null(array), pa.scalar(None, _I), counts)
        out[name] = array
    return out


def _unix_seconds(array: Any) -> Any:
    """Integer timestamps as Unix seconds: values in milliseconds are divided down."""
    return pc.if_else(pc.greater_equal(pc.abs(array), _MS_FROM), pc.divide(array, 1000), array)


def _timestamp(value: str | float) -> int | None:
    """A documented timestamp given as ISO-8601 text or a float, as Unix seconds (or None)."""
    if isinstance(value, float):
        return int(value) if -1e18 < value < 1e18 else None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def _loads(body: bytes) -> Any:
    """json.loads, or ResponseDecodeError saying briefly what was wrong."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        if not bytes(body).strip():
            problem = "response body is empty"
        elif isinstance(exc, json.JSONDecodeError) and (
            exc.msg.startswith("Unterminated") or exc.pos >= len(exc.doc.rstrip())
        ):
            problem = "response body is cut off"
        else:
            problem = "response body is not JSON"
        raise ResponseDecodeError(f"{problem}: {excerpt(bytes(body))}") from None


def _dumps(value: Any) -> str | None:
    """An unknown list (or mixed value) as JSON text, readable (non-ASCII kept)."""
    return None if value is None else _clean(json.dumps(value, ensure_ascii=False))


def _clean(text: str) -> str:
    """`text` with lone surrogates (valid JSON escapes, invalid UTF-8) replaced."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text
