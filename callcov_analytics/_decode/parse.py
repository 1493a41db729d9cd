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
- Category columns: see `schema.CATEGORIES`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._errors import InvalidRecordError, ResponseDecodeError
from .._secrets import excerpt
from .page_arrow import read_arrow_parts
from .page_json import SlowPath, loads, read_json
from .page_struct import Fields, struct_reader
from .schema import _I, ARROW_TYPE, ENVELOPE_TYPES, NAMED_COLUMNS, column_specs, type_at

_NS_LIMIT = 9_223_372_035  # Unix seconds that still fit datetime64[ns] (years 1677..2262)
_MS_FROM = 10**11  # a timestamp this large is in milliseconds (as seconds: year 5138)


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
    body: bytes,
    *,
    include_transcript: bool = False,
    include_segments: bool = False,
    pieces: int | None = None,
) -> ParsedPage:
    """Parse the raw body of a list response into typed columns.

    include_transcript adds TRANSCRIPT_SPEC's column; include_segments, SEGMENTS_SPEC's.
    pieces: how many parallel parts Arrow reads a page with unknown fields in (default: one
    per core, up to 4, each of at least 2 MiB; the result is the same however many).

    Raises ResponseDecodeError when the body is not JSON, is cut off, or is not a list
    envelope (an object with a ``data`` list).
    """
    specs = column_specs(include_transcript, include_segments)
    try:
        parts = [struct_reader(include_transcript, include_segments).read(body)]
    except SlowPath:  # unknown fields, or values msgspec would not take as documented
        try:
            read = read_arrow_parts(body, pieces)
        except SlowPath:
            read = [read_json(body)]
        parts = [(_struct_fields(records), envelope, extras) for records, envelope, extras in read]
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
    doc = loads(body)
    if not isinstance(doc, dict) or "id" not in doc:
        raise ResponseDecodeError(f"expected an analysis object, got {excerpt(bytes(body))}")
    return doc


def _struct_fields(records: Any) -> Fields:
    """The field getter over an Arrow struct array of records."""
    return lambda path: pc.struct_field(records, path.split("."))


def _documented_items(array: Any, item: Any) -> Any:
    """A list of objects with just the documented item fields (Arrow may have inferred more)."""
    if array.type.value_type == item:
        return array
    values = array.values
    children = [pc.struct_field(values, [field.name]) for field in item]
    child = pa.StructArray.from_arrays(children, fields=list(item), mask=values.is_null())
    return pa.ListArray.from_arrays(array.offsets, child, mask=array.is_null())


def _derive(fields: Fields, specs: Mapping[str, tuple[str, str, str]]) -> dict[str, Any]:
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
