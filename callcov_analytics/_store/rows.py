"""The store's rows: latest versions first, the server's filters, the types pages hold."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

# Columns each API filter is applied to when a superset answers a filtered load.
FILTER_COLUMNS = {
    "status_filter": ["status"],
    "agent_id": ["agent_id"],
    "contact_id": ["contact_id"],
    "search": ["agent_id", "contact_id"],
}


def filter_rows(table: pa.Table, where: Mapping[str, str]) -> pa.Table:
    """The rows the server's filters would return (see the list parameters in the README)."""
    keep = None
    for name, value in where.items():
        if name == "search":  # case-insensitive substring of agent_id or contact_id
            term = value.lower()
            hits = [
                pc.fill_null(pc.match_substring(pc.utf8_lower(table[c]), term), False)
                for c in FILTER_COLUMNS[name]
            ]
            match = pc.or_(*hits)
        elif name in FILTER_COLUMNS:
            column = table[FILTER_COLUMNS[name][0]]
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            match = pc.fill_null(pc.equal(column, value), False)
        else:
            continue
        keep = match if keep is None else pc.and_(keep, match)
    return table if keep is None else table.filter(keep)


def value_type(kind: pa.DataType) -> pa.DataType:
    """The type a column holds, as pages hold it: categories are dictionaries in the table,
    strings may be large (pandas) and times microseconds (so that Spark reads them)."""
    kind = kind.value_type if pa.types.is_dictionary(kind) else kind
    if pa.types.is_timestamp(kind):
        return pa.timestamp("ns", tz=kind.tz)
    return pa.string() if pa.types.is_large_string(kind) else kind


def decoded(table: pa.Table, *, categories: bool = False) -> pa.Table:
    """The table's columns with the types pages hold (see `value_type`).

    ``categories`` keeps category columns as dictionaries (a frame built from them skips
    encoding a million strings again).
    """
    for i, field in enumerate(table.schema):
        if categories and pa.types.is_dictionary(field.type):
            continue
        kind = value_type(field.type)
        if kind != field.type and not pa.types.is_string(kind):
            table = table.set_column(i, field.name, table[i].cast(kind))
        elif pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table[i].cast(field.type.value_type))
    return table


def counts(table: pa.Table, old_ids: pa.Array) -> dict[str, int]:
    """Rows new to the table, re-read from the API (stored before), and kept from the store."""
    fetched = table.filter(pc.greater(table["_seq"], 0))["id"]
    refreshed = int(pc.sum(pc.is_in(fetched, old_ids)).as_py() or 0)
    return {
        "new": len(fetched) - refreshed,
        "refreshed": refreshed,
        "stored": table.num_rows - len(fetched),
    }


def latest_first(table: pa.Table) -> pa.Table:
    """Keep the highest-_seq version of each id; order newest first by (created, id).

    A store filled by crawls from the top, read in checkpoint order, is usually in order
    already with nothing superseded: that is checked on neighbouring rows and costs no copy.
    Otherwise one sort and one `take` do both the order and the dedup.
    """
    if strictly_newest_first(table):
        return table  # strictly decreasing keys: in order, and no id twice
    order = pc.sort_indices(
        table, [("created", "descending"), ("id", "descending"), ("_seq", "descending")]
    )
    ids = table["id"].take(order)
    # Versions of one analysis share (created, id), so they are neighbours after the sort and
    # the first of them is the newest version.
    repeat = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    del ids
    keep = pc.invert(pc.fill_null(repeat, False))
    order = order.filter(pa.concat_arrays([pa.array([True]), *keep.chunks]))
    return table.take(order)


def strictly_newest_first(table: pa.Table) -> bool:
    if table.num_rows < 2:
        return True
    created, ids = table["created"], table["id"]
    c0, c1 = created.slice(0, len(created) - 1), created.slice(1)
    newer = pc.greater(c0, c1)
    tie_ok = pc.and_(pc.equal(c0, c1), pc.greater(ids.slice(0, len(ids) - 1), ids.slice(1)))
    return bool(pc.all(pc.or_(newer, tie_ok)).as_py())
