"""The middle path: Arrow's JSON reader against RECORD_TYPE, large pages in parallel pieces.

Unexpected fields are *inferred* in the same pass, so unknown fields are typed at once. A
large page is cut at record starts into one list envelope per core and the pieces are read
in threads (Arrow releases the GIL while it parses).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .page_json import SlowPath, dumps
from .schema import _S, ENVELOPE_TYPES, RECORD_TYPE

READ_OPTIONS = pj.ParseOptions(
    explicit_schema=pa.schema([("data", pa.list_(RECORD_TYPE)), *ENVELOPE_TYPES.items()]),
    # "infer" costs the same as "error" here and lets Arrow type unknown fields in the same pass.
    unexpected_field_behavior="infer",
    newlines_in_values=True,  # pretty-printed bodies too; measured free on one-line bodies
)
# Pages are read in up to WORKERS pieces of at least SPLIT_BYTES: one core parses ~0.6 GB/s.
WORKERS = min(os.cpu_count() or 1, 4)
SPLIT_BYTES = 2 << 20


def read_arrow_parts(
    body: bytes, pieces: int | None = None
) -> list[tuple[Any, dict[str, Any], dict[str, Any]]]:
    """Arrow reads the page, in up to ``pieces`` parallel parts cut at record starts.

    None: one part per worker, each of at least SPLIT_BYTES (a small page is read whole).
    """
    if pieces is None:
        pieces = min(WORKERS, len(body) // SPLIT_BYTES)
    parts = split(body, pieces)
    if len(parts) > 1:
        try:
            read = list(_pool().map(_read_arrow, parts))
        except SlowPath:  # a cut at a nested {"id": (or a page Arrow can't read): try it whole
            read = []
        if read and len({records.type for records, _, _ in read}) == 1:
            return read  # same unknown fields in every piece, so the tables concatenate
    return [_read_arrow(body)]


def split(body: bytes, count: int) -> list[bytes]:
    """`body` as up to ``count`` list envelopes of consecutive records (or just `body`).

    A record start `}, {"id":` cannot occur inside a JSON string (a quote there is escaped),
    so each cut falls between two objects; if one was nested deeper than `data`, its pieces
    are not valid JSON and the caller reads the page whole.
    """
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
    return ThreadPoolExecutor(WORKERS, thread_name_prefix="callcov-frame")


def _read_arrow(body: bytes) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Fast path: one pass of Arrow's JSON reader with the documented schema."""
    try:
        table = pj.read_json(
            pa.BufferReader(body),
            read_options=pj.ReadOptions(block_size=max(len(body) + 64, 1 << 16), use_threads=False),
            parse_options=READ_OPTIONS,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # not JSON, or types Arrow can't take
        raise SlowPath from exc
    if table.num_rows != 1 or table.column("data").null_count:
        raise SlowPath  # not one envelope: let json.loads say what it is
    records = table.column("data").chunk(0).flatten()
    envelope = {name: table.column(name)[0].as_py() for name in ENVELOPE_TYPES}
    extras: dict[str, Any] = {}
    try:
        if records.type != RECORD_TYPE:
            _arrow_unknown(records, RECORD_TYPE, "", extras)
    except pa.ArrowException as exc:  # a corrupt inferred list (see _arrow_unknown)
        raise SlowPath from exc
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
            raise SlowPath  # Arrow read a date-like string as a timestamp; keep the text
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            # pyarrow 26 builds corrupt offsets for an inferred list holding null then a value
            # (`[null, 5]` reads back as `[5, 0]`); validating turns that into the slow path.
            child.validate(full=True)
            out[path] = pa.array([dumps(v) for v in child.to_pylist()], _S)
        else:
            out[path] = child
