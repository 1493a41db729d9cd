"""The analysis DataFrame: its schema, and the conversion of API records into it.

SCHEMA is the contract with analysts: column names and nullable dtypes are stable.
Update the README column table when you change it.

How a page becomes columns (bench/bench_frame.py measures it), fastest path first:
1. msgspec decodes the body into Structs generated from the documented object (_RECORD)
   that decode only the fields a column reads; transcripts and segment text are scanned, not
   decoded. Any unknown field, or a value of the wrong JSON type, makes it decline the page.
   Measured on 23 KB analyses: ~14 ms a 1,000-analysis page, ~2.8x faster than Arrow's
   reader with the same schema (the floor, decoding nothing, is ~6 ms).
2. Arrow's JSON reader parses the page against _RECORD as an explicit schema, with unexpected
   fields *inferred*, so unknown fields are typed in the same pass. A large page is cut at
   record starts into one envelope per core and the pieces are read in threads.
3. When Arrow cannot take the page (not JSON, a documented field with the wrong JSON type,
   an unknown field whose type changes between records, date-like text Arrow would turn into
   a timestamp, a corrupt inferred list), json.loads parses it and each record is coerced to
   the same Arrow type.
All three give the same columns (a property test holds them to it). The SCHEMA columns are
derived with pyarrow.compute from the fields' Arrow arrays, and only those narrow columns are
kept: transcripts and segments go with the page.

Tolerate rules (contract §3), as the frame shows them:
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
- Category columns: see CATEGORIES.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from itertools import islice
from operator import attrgetter
from typing import Annotated, Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .errors import ResponseDecodeError

# column -> (dtype, dotted path in the analysis object, how the value is derived)
# "value": the scalar at path; "len": length of the list at path; "join": "; ".join(list at path);
# "first_ts": the `timestamp` of the first item of the list at path;
# "count:<field>=<value>": number of list items at path whose field equals value.
# fmt: off
SCHEMA_SPEC: dict[str, tuple[str, str, str]] = {
    "id": ("string", "id", "value"),
    "created": ("datetime64[ns, UTC]", "created", "value"),
    "status": ("category", "status", "value"),
    "livemode": ("boolean", "livemode", "value"),
    "agent_id": ("string", "call.agent_id", "value"),
    "contact_id": ("string", "call.contact_id", "value"),
    "duration_ms": ("Int64", "call.duration_ms", "value"),
    "duration_seconds": ("Float64", "call.duration_seconds", "value"),
    "audio_url": ("string", "audio.url", "value"),
    "audio_format": ("category", "audio.format", "value"),
    "audio_size_bytes": ("Int64", "audio.size_bytes", "value"),
    "audio_duration_seconds": ("Float64", "audio.duration_seconds", "value"),
    "language": ("category", "transcript.language", "value"),
    "segment_count": ("Int64", "transcript.segments", "len"),
    "webhook_url": ("string", "metadata.webhook_url", "value"),
    "completed_at": ("datetime64[ns, UTC]", "metadata.completed_at", "value"),
    "processing_time_ms": ("Int64", "metadata.processing_time_ms", "value"),
    "error_message": ("string", "metadata.error_message", "value"),
    # results.compliance
    "identity_verified": ("boolean", "results.compliance.identity_verification.verified", "value"),
    "identity_verified_at_s": (
        "Float64", "results.compliance.identity_verification.timestamp", "value"),
    "identity_flagged": ("boolean", "results.compliance.identity_verification.flagged", "value"),
    "disclosures_read": ("boolean", "results.compliance.mandatory_disclosures.read", "value"),
    "disclosures_matched": (
        "Int64", "results.compliance.mandatory_disclosures.matched_disclosures", "len"),
    "disclosures_missing": (
        "Int64", "results.compliance.mandatory_disclosures.missing_disclosures", "len"),
    "missing_disclosures": (
        "string", "results.compliance.mandatory_disclosures.missing_disclosures", "join"),
    "purpose_disclosed": ("boolean", "results.compliance.purpose_declaration.disclosed", "value"),
    "purpose_interaction_number": (
        "Int64", "results.compliance.purpose_declaration.interaction_number", "value"),
    "purpose_flagged": ("boolean", "results.compliance.purpose_declaration.flagged", "value"),
    "prohibited_phrases_used": ("boolean", "results.compliance.prohibited_phrases.used", "value"),
    "prohibited_phrase_count": (
        "Int64", "results.compliance.prohibited_phrases.instances", "len"),
    "prohibited_phrase_first_at_s": (
        "Float64", "results.compliance.prohibited_phrases.instances", "first_ts"),
    "sensitive_data_shared": ("boolean", "results.compliance.sensitive_data.shared", "value"),
    "sensitive_data_count": ("Int64", "results.compliance.sensitive_data.instances", "len"),
    "sensitive_data_first_at_s": (
        "Float64", "results.compliance.sensitive_data.instances", "first_ts"),
    # results.quality
    "greeting_present": ("boolean", "results.quality.greeting.present", "value"),
    "greeting_at_s": ("Float64", "results.quality.greeting.timestamp", "value"),
    "sentiment_overall": ("category", "results.quality.sentiment_analysis.overall", "value"),
    "sentiment_customer_start": (
        "category", "results.quality.sentiment_analysis.customer_start", "value"),
    "sentiment_customer_end": (
        "category", "results.quality.sentiment_analysis.customer_end", "value"),
    "empathy_count": ("Int64", "results.quality.empathy.count", "value"),
    "interruption_count": ("Int64", "results.quality.interruptions.count", "value"),
    "structure_opening": ("boolean", "results.quality.call_structure.opening", "value"),
    "structure_resolution": ("boolean", "results.quality.call_structure.resolution", "value"),
    "structure_closing": ("boolean", "results.quality.call_structure.closing", "value"),
    # results.coaching
    "customer_effort_score": ("Int64", "results.coaching.customer_effort_score", "value"),
    "recommendation_count": ("Int64", "results.coaching.recommendations", "len"),
    "recommendations_high": (
        "Int64", "results.coaching.recommendations", "count:priority=high"),
    "recommendations_medium": (
        "Int64", "results.coaching.recommendations", "count:priority=medium"),
    "recommendations_low": ("Int64", "results.coaching.recommendations", "count:priority=low"),
}
# fmt: on

# Only with include_transcript=True (long text; most analyses never need it).
TRANSCRIPT_SPEC: dict[str, tuple[str, str, str]] = {
    "transcript_text": ("string", "transcript.text", "value"),
}

SCHEMA: dict[str, str] = {name: spec[0] for name, spec in SCHEMA_SPEC.items()}
TRANSCRIPT_SCHEMA: dict[str, str] = {name: spec[0] for name, spec in TRANSCRIPT_SPEC.items()}

# Fixed category sets: the documented values, in a meaningful order. A value outside them
# (the API grew a new status, format or sentiment) is appended after the fixed ones, sorted,
# rather than turned into NaN. `language` has no documented set: its categories are the
# values seen, sorted.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "status": ("processing", "completed", "failed"),
    "audio_format": ("wav", "mp3", "m4a", "flac", "ogg"),
    "language": (),
    **{
        name: ("positive", "neutral", "negative")
        for name in ("sentiment_overall", "sentiment_customer_start", "sentiment_customer_end")
    },
}

_PAGE_ROWS = 1000  # to_frame batches records like the API's largest page
_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()


def _struct(**fields: Any) -> Any:
    """A pyarrow struct type from keyword fields (keeps their order)."""
    return pa.struct([pa.field(name, kind) for name, kind in fields.items()])


# The documented analysis object (contract §3) as an Arrow type: the reader's explicit schema.
_RECORD = _struct(
    id=_S, object=_S, created=_I, status=_S, livemode=_B,
    call=_struct(agent_id=_S, contact_id=_S, duration_ms=_I, duration_seconds=_F),
    audio=_struct(url=_S, size_bytes=_I, format=_S, duration_seconds=_F),
    transcript=_struct(
        text=_S, language=_S,
        segments=pa.list_(_struct(speaker=_S, text=_S, start=_F, end=_F)),
    ),
    results=_struct(
        compliance=_struct(
            identity_verification=_struct(verified=_B, timestamp=_F, flagged=_B),
            mandatory_disclosures=_struct(
                read=_B, matched_disclosures=pa.list_(_S), missing_disclosures=pa.list_(_S)),
            purpose_declaration=_struct(disclosed=_B, interaction_number=_I, flagged=_B),
            prohibited_phrases=_struct(
                used=_B, instances=pa.list_(_struct(phrase=_S, timestamp=_F))),
            sensitive_data=_struct(shared=_B, instances=pa.list_(_struct(type=_S, timestamp=_F))),
        ),
        quality=_struct(
            greeting=_struct(present=_B, timestamp=_F),
            sentiment_analysis=_struct(overall=_S, customer_start=_S, customer_end=_S),
            empathy=_struct(count=_I),
            interruptions=_struct(count=_I),
            call_structure=_struct(opening=_B, resolution=_B, closing=_B),
        ),
        coaching=_struct(
            customer_effort_score=_I,
            recommendations=pa.list_(_struct(priority=_S, category=_S, text=_S)),
        ),
    ),
    metadata=_struct(
        webhook_url=_S, completed_at=_I, processing_time_ms=_I, error_message=_S),
)  # fmt: skip
_ENVELOPE = {"has_more": _B, "total": _I, "limit": _I, "offset": _I}
_READ_OPTIONS = pj.ParseOptions(
    explicit_schema=pa.schema([("data", pa.list_(_RECORD)), *_ENVELOPE.items()]),
    # "infer" costs the same as "error" here and lets Arrow type unknown fields in the same pass.
    unexpected_field_behavior="infer",
    newlines_in_values=True,  # pretty-printed bodies too; measured free on one-line bodies
)
_ARROW_TYPE = {
    "string": _S, "category": _S, "Int64": _I, "Float64": _F, "boolean": _B,
    "datetime64[ns, UTC]": pa.timestamp("ns", tz="UTC"),
}  # fmt: skip
_PANDAS_TYPE = {
    _S: pd.StringDtype(), pa.large_string(): pd.StringDtype(), pa.null(): pd.StringDtype(),
    _I: pd.Int64Dtype(), _F: pd.Float64Dtype(), _B: pd.BooleanDtype(),
}  # fmt: skip
_NAMED = {*SCHEMA_SPEC, *TRANSCRIPT_SPEC}
_NS_LIMIT = 9_223_372_035  # Unix seconds that still fit datetime64[ns] (years 1677..2262)
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

    def take(self, indices: Sequence[int]) -> pa.Table:
        """The rows kept after dedup, in the given order."""
        return self.table.take(pa.array(indices, type=pa.int64()))


def parse_page(body: bytes, *, include_transcript: bool = False) -> ParsedPage:
    """Parse the raw body of a list response into typed columns.

    Raises ResponseDecodeError when the body is not JSON, is cut off, or is not a list
    envelope (an object with a ``data`` list).
    """
    specs = {**SCHEMA_SPEC, **(TRANSCRIPT_SPEC if include_transcript else {})}
    try:
        parts = [_struct_reader(include_transcript).read(body)]
    except _SlowPath:  # unknown fields, or values msgspec would not take as documented
        try:
            pieces = _read_arrow_parts(body)
        except _SlowPath:
            pieces = [_read_json(body)]
        parts = [
            (_struct_fields(records), envelope, extras) for records, envelope, extras in pieces
        ]
    tables, created, envelope = [], [], dict.fromkeys(_ENVELOPE)
    for fields, part_envelope, extras in parts:
        columns = _derive(fields, specs)
        for path, array in extras.items():
            name = path
            while name in columns or name in _NAMED:  # a top-level `language` is not ours
                name = f"extra.{name}"
            columns[name] = array
        tables.append(pa.table(columns))
        created += fields("created").to_pylist()
        envelope = {k: part_envelope[k] if v is None else v for k, v in envelope.items()}
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return ParsedPage(
        table=table,
        ids=["" if v is None else v for v in table["id"].to_pylist()],
        created=[0 if v is None else v for v in created],
        statuses=["" if v is None else v for v in table["status"].to_pylist()],
        **envelope,
    )


def parse_record(body: bytes) -> dict[str, Any]:
    """Parse the body of GET /analysis/{id} into the analysis dict."""
    doc = _loads(body)
    if not isinstance(doc, dict) or "id" not in doc:
        raise ResponseDecodeError(f"expected an analysis object, got {_excerpt(body)}")
    return doc


def frame_from_tables(
    tables: Iterable[pa.Table], *, include_transcript: bool = False
) -> pd.DataFrame:
    """Concatenate parsed page tables into the analysis DataFrame with SCHEMA dtypes.

    Unknown columns (present in some pages only, perhaps) follow the SCHEMA columns. Pass an
    iterator the caller holds no other reference to, and each Arrow column is freed as soon
    as it is converted.
    """
    schema = {**SCHEMA, **(TRANSCRIPT_SCHEMA if include_transcript else {})}
    pages = list(tables)
    table = concat_tables(pages) if pages else _empty_table(schema)
    del pages
    for name, dtype in schema.items():
        if name not in table.column_names:  # e.g. pages parsed without the transcript
            table = table.append_column(name, pa.nulls(table.num_rows, _ARROW_TYPE[dtype]))
    unknown = [name for name in table.column_names if name not in _NAMED]
    table = table.select([*schema, *unknown])
    # Column by column, freeing each Arrow column once converted: the peak stays near one
    # copy of the frame instead of two (a million analyses fit in well under 1.5 GB).
    df: pd.DataFrame = table.to_pandas(
        types_mapper=_PANDAS_TYPE.get, split_blocks=True, self_destruct=True
    )
    del table
    for name, fixed in CATEGORIES.items():
        seen = set(df[name].dropna().unique()) - set(fixed)
        categories = pd.Index([*fixed, *sorted(seen)], dtype="str")
        df[name] = pd.Categorical(df[name], dtype=pd.CategoricalDtype(categories))
    return df


def to_frame(
    records: Iterable[Mapping[str, Any]], *, include_transcript: bool = False
) -> pd.DataFrame:
    """Build the analysis DataFrame from analysis dicts, exactly as parse_page would.

    Example: ``to_frame([client.get_analysis(id)])``.
    """
    tables, rows = [], iter(records)
    while batch := [dict(r) for r in islice(rows, _PAGE_ROWS)]:
        body = json.dumps({"object": "list", "data": batch}).encode()
        tables.append(parse_page(body, include_transcript=include_transcript).table)
    return frame_from_tables(tables, include_transcript=include_transcript)


def empty_frame(*, include_transcript: bool = False) -> pd.DataFrame:
    """A 0-row analysis DataFrame with every SCHEMA column and its exact dtype."""
    return frame_from_tables([], include_transcript=include_transcript)


class _StructReader:
    """The fast path: msgspec decodes a page into Structs generated from _RECORD.

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
            if how == "first_ts":
                self.paths.add(f"{path}.timestamp")
            elif how.startswith("count:"):
                self.paths.add(f"{path}.{how.removeprefix('count:').split('=')[0]}")
        self.empty: dict[str, Any] = {}  # path -> the all-null instance of its object's Struct
        envelope = [(name, _PYTHON_TYPE[kind] | None, None) for name, kind in _ENVELOPE.items()]
        data = list[self._type(_RECORD, "")]  # type: ignore[misc,valid-type]
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
            msgspec.defstruct("Page", [("data", data), *envelope], gc=False)
        )

    def read(self, body: bytes) -> _Part:
        """The page's fields and envelope; _SlowPath when it is not plain documented JSON."""
        try:
            page = self.decoder.decode(body)
            values: dict[str, list[Any]] = {"": page.data}
            arrays = {path: self._column(path, values) for path in self.columns}
        except (msgspec.MsgspecError, pa.ArrowException, OverflowError) as exc:
            raise _SlowPath from exc
        return arrays.__getitem__, {name: getattr(page, name) for name in _ENVELOPE}, {}

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
        kind = _type_at(path)
        if not (pa.types.is_list(kind) and pa.types.is_struct(kind.value_type)):
            array = pa.array(column)  # inferring is 4x faster than pa.int64() when None is present
            return array if array.type == kind else array.cast(kind)  # e.g. all None
        # A list of objects: offsets, and a child array of just the item fields a summary reads.
        offsets = np.cumsum([0, *[0 if v is None else len(v) for v in column]])
        read = [f for f in kind.value_type if f"{path}.{f.name}" in self.paths]
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
def _struct_reader(include_transcript: bool) -> _StructReader:
    """The fast-path reader for the columns of SCHEMA_SPEC (+ TRANSCRIPT_SPEC)."""
    return _StructReader({**SCHEMA_SPEC, **(TRANSCRIPT_SPEC if include_transcript else {})})


_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_PYTHON_TYPE = {_S: str, _I: _INT64, _F: float, _B: bool}


def _type_at(path: str) -> Any:
    """The Arrow type of the documented field at a dotted path."""
    kind = _RECORD
    for name in path.split("."):
        kind = kind.field(name).type
    return kind


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
    envelope = {name: table.column(name)[0].as_py() for name in _ENVELOPE}
    extras: dict[str, Any] = {}
    try:
        if records.type != _RECORD:
            _arrow_unknown(records, _RECORD, "", extras)
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
            f"expected a list envelope with a 'data' list, got {_excerpt(body)}"
        )
    cells: _Cells = {}
    rows = []
    for row, item in enumerate(doc["data"]):
        if not isinstance(item, dict):
            raise ResponseDecodeError(f"data[{row}] is not an analysis object: {_excerpt(body)}")
        rows.append(_coerce(item, _RECORD, "", row, cells))
    envelope = {name: _coerce(doc.get(name), kind, "", 0, None) for name, kind in _ENVELOPE.items()}
    # A path that was only ever null and is the parent of another path (`x: null` beside
    # `x: {"y": 1}`) adds nothing; Arrow's inference drops it the same way.
    parents = {path.rsplit(".", 1)[0] for path in cells if "." in path}
    extras = {
        path: _column([values.get(row) for row in range(len(rows))])
        for path, values in cells.items()
        if not (path in parents and all(v is None for v in values.values()))
    }
    return pa.array(rows, type=_RECORD), envelope, extras


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


def _derive(fields: _Fields, specs: Mapping[str, tuple[str, str, str]]) -> dict[str, Any]:
    """The SCHEMA columns (Arrow arrays) computed from the records' fields at their paths."""
    out: dict[str, Any] = {}
    for name, (dtype, path, how) in specs.items():
        array = fields(path)
        if how == "value" and dtype.startswith("datetime"):
            fits = pc.and_(pc.greater_equal(array, -_NS_LIMIT), pc.less_equal(array, _NS_LIMIT))
            seconds = pc.if_else(fits, array, pa.scalar(None, _I))
            array = pc.multiply(seconds, 1_000_000_000).cast(_ARROW_TYPE[dtype])
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


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate page tables; an unknown column typed differently across pages becomes text."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        kinds: dict[str, set[Any]] = {}
        for table in tables:
            for field in table.schema:
                if field.type != pa.null():
                    kinds.setdefault(field.name, set()).add(field.type)
        mixed = {name for name, found in kinds.items() if len(found) > 1}
        for i, table in enumerate(tables):
            fields = [(f.name, _S if f.name in mixed else f.type) for f in table.schema]
            tables[i] = table.cast(pa.schema(fields))
        return pa.concat_tables(tables, promote_options="permissive")


def _empty_table(schema: Mapping[str, str]) -> pa.Table:
    """A 0-row table with the Arrow type of every named column."""
    return pa.table({name: pa.array([], _ARROW_TYPE[dtype]) for name, dtype in schema.items()})


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
        raise ResponseDecodeError(f"{problem}: {_excerpt(body)}") from None


def _excerpt(body: bytes, limit: int = 80) -> str:
    """The start of a body, for an error message (never more than ~`limit` characters)."""
    text = bytes(body[:limit]).decode("utf-8", "replace")
    return repr(text) + ("..." if len(body) > limit else "")


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
