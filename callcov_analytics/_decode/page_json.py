"""The slow path: json.loads, each record coerced to RECORD_TYPE, unknown fields flattened.

Also the JSON text rules every reader shares: what a body that is not JSON is called, how an
unknown list becomes text, and lone surrogates replaced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from .._errors import ResponseDecodeError
from .._secrets import excerpt
from .schema import _B, _F, _S, ENVELOPE_TYPES, RECORD_TYPE

# The documented Unix-seconds fields, as _coerce's prefix names them: text there is ISO-8601.
TIMESTAMP_PREFIXES = frozenset({"created.", "metadata.completed_at."})
Cells = dict[str, dict[int, Any]]  # unknown dotted path -> {row: value}


class SlowPath(Exception):
    """A reader could not take this page as is; the next, slower one must."""


def read_json(body: bytes) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Slow path: json.loads, then coerce records to the documented type, unknowns flattened."""
    doc = loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ResponseDecodeError(
            f"expected a list envelope with a 'data' list, got {excerpt(bytes(body))}"
        )
    cells: Cells = {}
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


def _coerce(value: Any, kind: Any, prefix: str, row: int, cells: Cells | None) -> Any:
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
        return clean(value) if isinstance(value, str) else None
    if prefix in TIMESTAMP_PREFIXES and isinstance(value, str | float):
        return timestamp(value)
    if kind == _B or isinstance(value, bool) or not isinstance(value, int | float):
        return value if kind == _B and isinstance(value, bool) else None
    if kind == _F:
        return float(value) if -1e308 < value < 1e308 else None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if -(2**63) <= value < 2**63 else None


def _flatten(value: Any, path: str, row: int, cells: Cells) -> None:
    """Store an unknown value under its dotted path; objects recurse, lists become JSON."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}", row, cells)
        return
    if isinstance(value, list):
        value = dumps(value)
    elif isinstance(value, str):
        value = clean(value)
    cells.setdefault(path, {})[row] = value


def _column(values: list[Any]) -> Any:
    """An Arrow array of unknown values, as text when they mix types or overflow."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([v if v is None or isinstance(v, str) else dumps(v) for v in values], _S)


def timestamp(value: str | float) -> int | None:
    """A documented timestamp given as ISO-8601 text or a float, as Unix seconds (or None)."""
    if isinstance(value, float):
        return int(value) if -1e18 < value < 1e18 else None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def loads(body: bytes) -> Any:
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


def dumps(value: Any) -> str | None:
    """An unknown list (or mixed value) as JSON text, readable (non-ASCII kept)."""
    return None if value is None else clean(json.dumps(value, ensure_ascii=False))


def clean(text: str) -> str:
    """`text` with lone surrogates (valid JSON escapes, invalid UTF-8) replaced."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text
