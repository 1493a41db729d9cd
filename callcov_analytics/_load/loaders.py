"""load_calls() and load_segments(): every call analysis asked for, as one typed DataFrame."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, Unpack

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._decode.frame import empty_frame, frame_from_tables
from .._errors import CallCovError, LoadInterrupted, ValidationError
from .._http.client import CallCovClient
from .._http.observers import Fanout, Readings, progress_bar
from .._http.ratelimit import QuotaReading
from .._secrets import Secret
from .._store.catalog import open_store
from .._store.crawl import page_size
from .._store.folder import Store
from .._store.scratch import ScratchStore
from .._store.sync import Sync, account_probe
from ..segments import segments, table_segments
from .changes import describe_changes, has_rows, note_empty_search
from .options import LOAD_DEFAULTS, LoadOptions, Refresh, spelled_out
from .settings import LoadSettings, settle

T = TypeVar("T")
# Reads a load's result from its store: (store, the load's client, the load's readings).
_Read = Callable[[Store, CallCovClient, list[QuotaReading]], T]


@spelled_out(LoadOptions, LOAD_DEFAULTS)
def load_calls(
    api_key: str | Secret | None = None,
    base_url: str | None = None,
    *,
    include_transcript: bool = False,
    **options: Unpack[LoadOptions],
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
        cache: keep fetched pages in the local store (see `_store.folder`); False keeps them only
            for this call. cache_dir: where the store lives (default CALLCOV_CACHE_DIR, else
            the platform's user cache folder).
        client, observer: a reusable `CallCovClient`; live progress events (`Observer`).

    The frame's ``attrs["quota"]`` holds one rate-limit reading per response. On any error,
    and on Ctrl-C (`LoadInterrupted`), the rows fetched so far are on the exception's
    ``.partial``.

    Example::

        df = load_calls(status="completed", since="2026-11-01")
        df.groupby("agent_id").identity_verified.mean()
    """
    settings = settle(
        "load_calls", api_key, base_url, options, columns={"include_transcript": include_transcript}
    )
    return load(
        settings,
        lambda store, view, readings: _read_frame(store, view, readings, settings),
    )


@spelled_out(LoadOptions, LOAD_DEFAULTS)
def load_segments(
    api_key: str | Secret | None = None,
    base_url: str | None = None,
    *,
    agent_speaker: str = "A",
    **options: Unpack[LoadOptions],
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
    settings = settle(
        "load_segments", api_key, base_url, options, columns={"include_segments": True}
    )
    return load(
        settings,
        lambda store, _view, _readings: _read_segments(
            store, settings.since, settings.until, agent_speaker
        ),
    )


def load(settings: LoadSettings, read: _Read[T]) -> T:
    """Bring the store up to date (as ``settings.refresh`` says), then `read` it.

    On an error or Ctrl-C, `read` of what is stored so far goes on the exception's
    ``.partial``. When `read` gives a DataFrame, what the load added or changed goes in its
    ``attrs`` (`scan_calls` reads the store itself and skips that).
    """
    refresh, since = settings.refresh, settings.since
    client = settings.open_client()
    readings = Readings()
    bar = progress_bar(settings.progress, client.clock.monotonic)
    fanout = Fanout([o for o in (client.observer, settings.observer, bar, readings) if o])
    # The load's own view of the client: its observers and readings are this load's alone.
    view = client.for_load(fanout)
    try:
        with ExitStack() as stack:
            store = _open_store(view, stack, settings)
            stack.enter_context(store.locked(fanout.on_wait, view.clock.time))
            stored = has_rows(store)
            # Else every id is new: no list of them is kept (a first fill of millions).
            store.track_new = stored and refresh != "full"
            fanout.totals = _reads_whole_list(refresh, since, stored)
            try:
                _bring_up_to_date(view, store, refresh, since, settings.limit)
            except (CallCovError, KeyboardInterrupt) as exc:
                partial = _partial(read, store, view, readings.items)
                if isinstance(exc, CallCovError):
                    exc.partial = partial
                    raise
                raise _interrupted(partial, settings.entry) from None
            result = read(store, view, readings.items)
            if not isinstance(result, pd.DataFrame):
                return result
        everything = refresh == "full" or not stored
        describe_changes(result, store.changes, len(readings.items), full=everything)
        if not len(result) and "search" in settings.query:
            note_empty_search(result, settings.query["search"])
        if bar is not None:
            bar.finish(result.attrs["summary"])
        return result
    finally:  # also when the store could not even be opened
        if bar is not None:
            bar.close()
        if settings.client is None:  # the load's own
            client.close()


def _open_store(view: CallCovClient, stack: ExitStack, settings: LoadSettings) -> Store:
    """The store for this load: in its root, or a temporary folder when it keeps nothing."""
    root = settings.root
    if not settings.cache:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="callcov-")))
    store = open_store(
        view.config.account,
        settings.query,
        settings.columns,
        since=settings.since,
        root=root,
        same_account=account_probe(view) if settings.cache else None,
    )
    return store if settings.cache else ScratchStore.of(store)  # nothing kept: in memory


def _reads_whole_list(refresh: Refresh, since: int | None, stored: bool) -> bool:
    """Whether the list's total is this load's total (shown against the progress bar).

    Only when the load reads the whole list: with `since`, or on top of a store, it reads part.
    """
    return refresh == "full" or (since is None and not stored and refresh is not False)


def _bring_up_to_date(
    view: CallCovClient, store: Store, refresh: Refresh, since: int | None, limit: int
) -> None:
    """Sync the store as ``refresh`` says; refresh=False needs something stored already."""
    if refresh:
        Sync(view, store, limit=page_size(limit)).run(
            since, full=refresh == "full", recheck=refresh == "recheck"
        )
    elif store.state() is None:
        raise ValidationError(
            "refresh=False, but nothing is stored for this query yet; "
            "run it once with refresh=True.",
            param="refresh",
        )


def _interrupted(partial: pd.DataFrame | None, entry: str) -> LoadInterrupted:
    """Ctrl-C as a LoadInterrupted that carries the rows read so far."""
    rows = 0 if partial is None else len(partial)
    interrupted = LoadInterrupted(
        f"Interrupted after {rows} rows; they are on this exception's .partial and in the "
        f"local store. Run the same {entry}(...) again to continue where it stopped."
    )
    interrupted.partial = partial
    return interrupted


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
    columns = ["id", "agent_id", "created", "audio_url", "transcript_segments"]
    table = store.read(columns=columns, since=since, until=until)
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
    store: Store, client: CallCovClient, readings: list[QuotaReading], settings: LoadSettings
) -> pd.DataFrame:
    """The stored rows as the typed frame, cut to since/until, with the load's facts in attrs."""
    since, until = settings.since, settings.until
    include_transcript = settings.columns.get("include_transcript", False)
    # Only the table files holding those days; categories stay dictionaries for the frame.
    table = store.read(since=since, until=until, categories=True)
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
            "query": {**settings.query, "since": since, "until": until},
            "tz": settings.tz,
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "base_url": client.config.base_url,
            "key_hint": client.config.api_key.hint,
            "requests": len(readings),
            "throttled": sum(r.status == 429 for r in readings),
            "quota": [asdict(r) for r in readings],
        }
    )
    return frame
