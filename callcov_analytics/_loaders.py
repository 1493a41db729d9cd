"""load_calls() and load_segments(): every call analysis asked for, as one typed DataFrame."""

from __future__ import annotations

import difflib
import sys
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._catalog import open_store
from ._changes import describe_changes, note_empty_search, versions
from ._client import CallCovClient, Observer
from ._crawl import MIN_LIMIT
from ._dates import DateLike, check_tz, validate_range
from ._errors import CallCovError, LoadInterrupted, ValidationError
from ._frame import empty_frame, frame_from_tables
from ._ratelimit import QuotaReading
from ._secrets import Secret
from ._store import Store
from ._sync import Sync, account_probe
from .segments import segments, table_segments

STATUSES = ("processing", "completed", "failed")
FILTERS = ("status", "agent_id", "contact_id", "search")
MAX_LIMIT = 1000

T = TypeVar("T")
# Reads a load's result from its store: (store, the load's client, the load's readings).
_Read = Callable[[Store, CallCovClient, list[QuotaReading]], T]


def load_calls(
    api_key: str | Secret | None = None,
    base_url: str | None = None,
    *,
    status: str | None = None,
    agent_id: str | None = None,
    contact_id: str | None = None,
    search: str | None = None,
    since: DateLike | None = None,
    until: DateLike | None = None,
    tz: str | None = None,
    include_transcript: bool = False,
    limit: int = MAX_LIMIT,
    progress: bool | None = None,
    refresh: bool | Literal["full", "recheck"] = True,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    client: CallCovClient | None = None,
    observer: Observer | None = None,
    **unknown: Any,
) -> pd.DataFrame:
    """Load every call analysis that matches, newest first, as a typed DataFrame.

    Args:
        api_key, base_url: see `CallCovClient`; ignored when ``client`` is given.
        status, agent_id, contact_id: filters the API applies (exact matches).
        search: the API's search, which matches agent and contact ids only, never what was
            said; for words in transcripts load them and use ``df.callcov.search_transcripts``.
        since, until: bounds on ``created`` applied here: a date or time (naive = in ``tz``),
            Unix seconds (int or float, the API's format), or relative: "7d", "24h", "2w",
            "30min", "today", "yesterday", "now" (see `callcov_analytics._dates`). A day-only
            ``until`` includes that whole day. Paging stops once it passes ``since``.
        tz: the analyst's IANA time zone, e.g. "Europe/London" (default UTC): naive dates and
            "today" are read in it, and it is kept in ``attrs["tz"]`` so `metrics`, `plots`
            and `export_report` bucket days and hours in it.
        include_transcript: add the ``transcript_text`` column.
        limit: page size (2-1000); the default needs the fewest requests.
        progress: None shows a bar when interactive, False never, True always.
        refresh: True asks the API only for what the local store lacks (new analyses, an
            interrupted load's rest, analyses that were still processing, re-checked by
            age); False answers from the store with no request at all; "full" re-reads
            everything; "recheck" is True plus a re-check of every processing analysis.
        cache: keep fetched pages in the local store (see `_store`); False keeps them only
            for this call. cache_dir: where the store lives (default CALLCOV_CACHE_DIR, else
            the platform's user cache folder).

    The frame's ``attrs["quota"]`` holds one rate-limit reading per response. On any error,
    and on Ctrl-C (`LoadInterrupted`), the rows fetched so far are on the exception's
    ``.partial``.

    Example::

        df = load_calls(status="completed", since="2026-11-01")
        df.groupby("agent_id").identity_verified.mean()
    """
    return _entry(
        "load_calls",
        locals(),
        {"include_transcript": include_transcript},
        lambda store, client, readings, query, since_s, until_s: _read_frame(
            store, client, readings, query, since_s, until_s, include_transcript, check_tz(tz)
        ),
    )


def load_segments(
    api_key: str | Secret | None = None,
    base_url: str | None = None,
    *,
    status: str | None = None,
    agent_id: str | None = None,
    contact_id: str | None = None,
    search: str | None = None,
    since: DateLike | None = None,
    until: DateLike | None = None,
    tz: str | None = None,
    agent_speaker: str = "A",
    limit: int = MAX_LIMIT,
    progress: bool | None = None,
    refresh: bool | Literal["full", "recheck"] = True,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    client: CallCovClient | None = None,
    observer: Observer | None = None,
    **unknown: Any,
) -> pd.DataFrame:
    """One row per transcript segment of every analysis that matches (see `segments.segments`).

    The same filters (a mistyped one is a `ValidationError`), pacing, exactly-once paging,
    local store (``refresh``, ``cache``, ``cache_dir``), ``attrs`` and ``.partial`` on errors
    as `load_calls`. The store keeps each page's segments in a dataset of its own, beside the
    calls', so a repeat asks only for what is new. That dataset holds transcript text on disk
    (the user cache, or cache_dir): pass ``cache=False`` to keep nothing.
    agent_speaker: the speaker label of the agent (see `segments`).

    Example::

        talk = talk_metrics(load_segments(agent_id="agent_007", since="2026-11-01"))
        load_segments(since="2026-11-01").callcov.transcript_context("refund", around=2)
    """
    return _entry(
        "load_segments",
        locals(),
        {"include_segments": True},
        lambda store, _client, _readings, _query, since_s, until_s: _read_segments(
            store, since_s, until_s, agent_speaker
        ),
    )


def _entry(
    name: str,
    args: Mapping[str, Any],
    columns: Mapping[str, bool],
    read: Callable[
        [Store, CallCovClient, list[QuotaReading], Mapping[str, str], int | None, int | None],
        pd.DataFrame,
    ],
) -> pd.DataFrame:
    """What load_calls and load_segments share: check every argument, then `_load`.

    ``args`` is the entry point's ``locals()``; ``read(store, client, readings, query, since,
    until)`` turns the store into its result.
    """
    query = validate_query(
        status=args["status"],
        agent_id=args["agent_id"],
        contact_id=args["contact_id"],
        search=args["search"],
        limit=args["limit"],
        unknown=args["unknown"],
    )
    since_s, until_s = validate_range(args["since"], args["until"], tz=args["tz"])
    validate_refresh(args["refresh"])
    client = args["client"]
    return _load(
        client or CallCovClient(args["api_key"], args["base_url"]),
        owns_client=client is None,
        query=query,
        limit=args["limit"],
        since=since_s,
        refresh=args["refresh"],
        cache=args["cache"],
        cache_dir=args["cache_dir"],
        observer=args["observer"],
        progress=args["progress"],
        columns=columns,
        read=lambda store, view, readings: read(store, view, readings, query, since_s, until_s),
        again=name,
    )


def _load(
    client: CallCovClient,
    *,
    owns_client: bool,
    query: Mapping[str, str],
    limit: int,
    since: int | None,
    refresh: bool | Literal["full", "recheck"],
    cache: bool,
    cache_dir: str | Path | None,
    observer: Observer | None,
    progress: bool | None,
    columns: Mapping[str, bool],
    read: _Read[T],
    again: str,
) -> T:
    """Bring the store up to date for `query` (as `refresh` says), then `read` it.

    `columns` are parse_page's options for what stored pages hold beyond SCHEMA; each set of
    them is a dataset of its own. On an error or Ctrl-C, `read` of what is stored so far goes
    on the exception's ``.partial``. When `read` gives a DataFrame, what the load added or
    changed goes in its ``attrs`` (`scan_calls` reads the store itself and skips that).
    """
    readings = _Readings()
    bar = _progress(progress)
    fanout = _Fanout([o for o in (client.observer, observer, bar, readings) if o is not None])
    # The load's own view of the client: its observers and readings are this load's alone.
    view = client.for_load(fanout)
    try:
        with ExitStack() as stack:
            folder = cache_dir or view.config.cache_dir  # the sandbox's, in a notebook
            root = Path(folder) if folder else None
            if not cache:
                root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="callcov-")))
            store = open_store(
                view.config.base_url,
                view.config.api_key,
                query,
                columns,
                since=since,
                root=root,
                same_account=account_probe(view) if cache else None,
            )
            stack.enter_context(store.locked(fanout.on_wait))
            before = versions(store)
            # The list's total is this load's total only when it reads the whole list: with
            # `since`, or on top of a store, it reads part of it, so the total is not shown.
            fanout.totals = refresh == "full" or (
                since is None and before is None and refresh is not False
            )
            try:
                if refresh:
                    sync = Sync(view, store, limit=limit)
                    sync.run(since, full=refresh == "full", recheck=refresh == "recheck")
                elif not store.state():
                    raise ValidationError(
                        "refresh=False, but nothing is stored for this query yet; "
                        "run it once with refresh=True.",
                        param="refresh",
                    )
            except (CallCovError, KeyboardInterrupt) as exc:
                partial = _partial(read, store, view, readings.items)
                if isinstance(exc, CallCovError):
                    exc.partial = partial
                    raise
                rows = 0 if partial is None else len(partial)
                interrupted = LoadInterrupted(
                    f"Interrupted after {rows} rows; they are on this exception's .partial and "
                    f"in the local store. Run the same {again}(...) again to continue where it "
                    "stopped."
                )
                interrupted.partial = partial
                raise interrupted from None
            result = read(store, view, readings.items)
            if not isinstance(result, pd.DataFrame):
                return result
            after = versions(store)
        describe_changes(result, before, after, len(readings.items), full=refresh == "full")
        if not len(result) and "search" in query:
            note_empty_search(result, query["search"])
        if bar is not None:
            bar.finish(result.attrs["summary"])
        return result
    finally:  # also when the store could not even be opened
        if bar is not None:
            bar.close()
        if owns_client:
            client.close()


def _partial(
    read: _Read[object], store: Store, client: CallCovClient, readings: list[QuotaReading]
) -> pd.DataFrame | None:
    """The rows stored so far, or None when even the store cannot be read (the disk failed)."""
    try:
        result = read(store, client, readings)
    except (OSError, CallCovError, ValueError):
        return None
    return result if isinstance(result, pd.DataFrame) else None


def _read_segments(
    store: Store, since: int | None, until: int | None, agent_speaker: str
) -> pd.DataFrame:
    """The stored pages' segments, of analyses created within since/until."""
    table = store.read(columns=["id", "agent_id", "created", "audio_url", "transcript_segments"])
    if table is None:
        return segments([])
    created = table["created"]
    keep = pc.is_valid(created)
    if since is not None:
        keep = pc.and_(keep, pc.greater_equal(created, pa.scalar(since * 10**9, created.type)))
    if until is not None:
        keep = pc.and_(keep, pc.less_equal(created, pa.scalar(until * 10**9, created.type)))
    if since is not None or until is not None:
        table = table.filter(keep)
    return table_segments(table, agent_speaker=agent_speaker)


def _read_frame(
    store: Store,
    client: CallCovClient,
    readings: list[QuotaReading],
    query: Mapping[str, str],
    since: int | None,
    until: int | None,
    include_transcript: bool,
    tz: str,
) -> pd.DataFrame:
    """The stored rows as the typed frame, cut to since/until, with the load's facts in attrs."""
    table = store.read()
    if table is None:
        frame = empty_frame(include_transcript=include_transcript)
    else:
        # Hand the only reference over, so the conversion can free Arrow memory as it goes.
        pages = iter([table.drop_columns(["_seq"])])
        del table
        frame = frame_from_tables(pages, include_transcript=include_transcript)
    if since is not None:
        frame = frame[frame["created"] >= pd.Timestamp(since, unit="s", tz="UTC")]
    if until is not None:
        frame = frame[frame["created"] <= pd.Timestamp(until, unit="s", tz="UTC")]
    frame = frame.reset_index(drop=True)
    frame.attrs.update(
        {
            "query": {**query, "since": since, "until": until},
            "tz": tz,
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "base_url": client.config.base_url,
            "key_hint": client.config.api_key.hint,
            "requests": len(readings),
            "throttled": sum(r.status == 429 for r in readings),
            "quota": [asdict(r) for r in readings],
        }
    )
    return frame


def validate_query(
    *,
    status: str | None,
    agent_id: str | None,
    contact_id: str | None,
    search: str | None,
    limit: int,
    unknown: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Check filters before any request; return the API query parameters."""
    for name in unknown or {}:
        close = difflib.get_close_matches(name, (*FILTERS, "since", "until"), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError(
            f"Unknown filter {name!r}{hint} Filters: {', '.join((*FILTERS, 'since', 'until'))}.",
            param=name,
        )
    if status is not None and status not in STATUSES:
        raise ValidationError(
            f"status must be one of {', '.join(STATUSES)} (got {status!r}).", param="status"
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be a whole number from {MIN_LIMIT} to {MAX_LIMIT} (got {limit!r}): "
            "each page starts on the last row of the one before, so it needs room for one more.",
            param="limit",
        )
    query = {
        "status_filter": status,
        "agent_id": agent_id,
        "contact_id": contact_id,
        "search": search,
    }
    for name, value in query.items():
        if value is not None and not isinstance(value, str):
            raise ValidationError(
                f"{name} must be a string (got {type(value).__name__}).", param=name
            )
    return {k: v for k, v in query.items() if v is not None}


def validate_refresh(refresh: object) -> None:
    """refresh is True, False, "full" or "recheck"; else ValidationError."""
    if refresh not in (True, False, "full", "recheck"):
        raise ValidationError(
            f"refresh must be True, False, 'full' or 'recheck' (got {refresh!r}).",
            param="refresh",
        )


class _Fanout:
    """Send observer events to several observers; the list's total only when it is the load's."""

    def __init__(self, observers: list[Any]) -> None:
        self.observers = observers
        self.totals = False  # set once the load knows whether it reads the whole list

    def on_response(self, reading: QuotaReading) -> None:
        for o in self.observers:
            o.on_response(reading)

    def on_wait(self, seconds: float, reason: str) -> None:
        for o in self.observers:
            o.on_wait(seconds, reason)

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        for o in self.observers:
            o.on_page(pages, rows, total if self.totals else None)


class _Readings:
    """The rate-limit reading of each response of one load (its frame's attrs)."""

    def __init__(self) -> None:
        self.items: list[QuotaReading] = []

    def on_response(self, reading: QuotaReading) -> None:
        self.items.append(reading)

    def on_wait(self, seconds: float, reason: str) -> None:
        """Waits are not readings."""

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        """Pages are not readings."""


class _ProgressBar:
    """tqdm progress: rows read (against a total only when known), waits in the description."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(unit=" calls", desc="CallCov", file=sys.stderr)
        self.finished = False

    def on_response(self, reading: QuotaReading) -> None:
        self.bar.set_description("CallCov", refresh=False)
        if reading.remaining is not None:
            self.bar.set_postfix(window_left=reading.remaining)

    def on_wait(self, seconds: float, reason: str) -> None:
        self.bar.set_description(f"CallCov (waiting {seconds:.1f} s: {reason})")

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        self.bar.set_description("CallCov", refresh=False)
        if total is not None:
            self.bar.total = total
        self.bar.update(rows - self.bar.n)

    def finish(self, summary: str) -> None:
        """The load ended well: a full bar that says what the load brought."""
        self.finished = True
        self.bar.total = self.bar.n  # a complete load is 100%, whatever the list holds
        self.bar.set_postfix_str("", refresh=False)
        self.bar.set_description(f"CallCov: {summary}")

    def close(self) -> None:
        if not self.finished:
            self.bar.set_description("CallCov: stopped", refresh=False)
        self.bar.close()


def _progress(progress: bool | None) -> _ProgressBar | None:
    if progress is None:
        progress = "ipykernel" in sys.modules or sys.stderr.isatty()
    return _ProgressBar() if progress else None
