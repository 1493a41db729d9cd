"""load_calls(): every call analysis asked for, as one typed DataFrame."""

from __future__ import annotations

import difflib
import sys
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .client import CallCovClient, Observer, parse_json
from .errors import CallCovError, LoadInterrupted, ValidationError
from .frame import empty_frame, frame_from_tables
from .pagination import Crawl
from .ratelimit import QuotaReading
from .redact import Secret
from .segments import segments
from .store import Store
from .sync import Sync

STATUSES = ("processing", "completed", "failed")
FILTERS = ("status", "agent_id", "contact_id", "search")
MAX_LIMIT = 1000

DateLike = str | date | datetime | pd.Timestamp


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
    include_transcript: bool = False,
    limit: int = MAX_LIMIT,
    progress: bool | None = None,
    refresh: bool | Literal["full"] = True,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    client: CallCovClient | None = None,
    observer: Observer | None = None,
    **unknown: Any,
) -> pd.DataFrame:
    """Load every call analysis that matches, newest first, as a typed DataFrame.

    Args:
        api_key, base_url: see `CallCovClient`; ignored when ``client`` is given.
        status, agent_id, contact_id, search: filters the API applies.
        since, until: bounds on ``created`` applied here (str, date, datetime or Timestamp;
            naive means UTC). Paging stops once it passes ``since``.
        include_transcript: add the ``transcript_text`` column.
        limit: page size (1-1000); the default needs the fewest requests.
        progress: None shows a bar when interactive, False never, True always.
        refresh: True asks the API only for what the local store lacks (new analyses, an
            interrupted load's rest, analyses that were still processing); False answers
            from the store with no request at all; "full" re-reads everything.
        cache: keep fetched pages in the local store (see `store`); False keeps them only
            for this call. cache_dir: where the store lives (default CALLCOV_CACHE_DIR, else
            the platform's user cache folder).

    The frame's ``attrs["quota"]`` holds one rate-limit reading per response. On any error,
    and on Ctrl-C (`LoadInterrupted`), the rows fetched so far are on the exception's
    ``.partial``.

    Example::

        df = load_calls(status="completed", since="2026-11-01")
        df.groupby("agent_id").identity_verified.mean()
    """
    query = validate_query(
        status=status,
        agent_id=agent_id,
        contact_id=contact_id,
        search=search,
        limit=limit,
        unknown=unknown,
    )
    since_s, until_s = validate_range(since, until)
    if refresh not in (True, False, "full"):
        raise ValidationError(
            f"refresh must be True, False or 'full' (got {refresh!r}).", param="refresh"
        )
    owns_client = client is None
    client = client or CallCovClient(api_key, base_url)
    bar = _progress(progress)
    previous = client.observer
    observers = [o for o in (previous, observer, bar) if o is not None]
    if observers:
        client.observer = _Fanout(observers)
    store_query = {**query, **({"transcript": "yes"} if include_transcript else {})}
    with ExitStack() as stack:
        root = Path(cache_dir) if cache_dir else None
        if not cache:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="callcov-")))
        store = Store(client.config.base_url, client.config.api_key, store_query, root=root)
        stack.enter_context(store.locked())
        try:
            if refresh:
                sync = Sync(
                    client, store, query=query, limit=limit, include_transcript=include_transcript
                )
                sync.run(since_s, full=refresh == "full")
            elif not store.state():
                raise ValidationError(
                    "refresh=False, but nothing is stored for this query yet; "
                    "run it once with refresh=True.",
                    param="refresh",
                )
        except (CallCovError, KeyboardInterrupt) as exc:
            partial = _partial(store, client, query, since_s, until_s, include_transcript)
            if isinstance(exc, CallCovError):
                exc.partial = partial
                raise
            rows = 0 if partial is None else len(partial)
            interrupted = LoadInterrupted(
                f"Interrupted after {rows} rows; they are on this exception's .partial "
                "and in the local store. Run the same load_calls(...) again to continue where "
                "it stopped."
            )
            interrupted.partial = partial
            raise interrupted from None
        finally:
            if bar is not None:
                bar.close()
            client.observer = previous
            if owns_client:
                client.close()
        return _read_frame(store, client, query, since_s, until_s, include_transcript)


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
    agent_speaker: str = "A",
    limit: int = MAX_LIMIT,
    client: CallCovClient | None = None,
) -> pd.DataFrame:
    """One row per transcript segment of every analysis that matches (see `segments.segments`).

    Same filters, pacing and exactly-once paging as `load_calls`; the segments are not kept in
    the local store (they are most of each analysis's bytes), so each call reads the list. On
    any error, and on Ctrl-C (`LoadInterrupted`), the segments read so far are on the
    exception's ``.partial``.

    Example::

        talk = talk_metrics(load_segments(agent_id="agent_007", since="2026-11-01"))
    """
    query = validate_query(
        status=status, agent_id=agent_id, contact_id=contact_id, search=search, limit=limit
    )
    since_s, until_s = validate_range(since, until)
    owns_client = client is None
    client = client or CallCovClient(api_key, base_url)
    crawl, parts = Crawl(limit=limit, floor=since_s), [segments([])]
    try:
        while (offset := crawl.next_offset()) is not None:
            page = client.list_raw(offset=offset, limit=limit, params=query, parse=parse_json)
            data = page.get("data") or []
            keep = crawl.accept(
                offset,
                [r["id"] for r in data],
                [int(r["created"]) for r in data],
                page.get("has_more"),
                page.get("total"),
            )
            kept = [data[i] for i in keep if until_s is None or data[i]["created"] <= until_s]
            parts.append(segments(kept, agent_speaker=agent_speaker))
    except (CallCovError, KeyboardInterrupt) as exc:
        partial = pd.concat(parts, ignore_index=True)
        if isinstance(exc, CallCovError):
            exc.partial = partial
            raise
        interrupted = LoadInterrupted(
            f"Interrupted after {len(partial)} segments; they are on this exception's "
            ".partial. load_segments keeps no local store: a new call reads every page again."
        )
        interrupted.partial = partial
        raise interrupted from None
    finally:
        if owns_client:
            client.close()
    return pd.concat(parts, ignore_index=True)


def _partial(store: Store, *args: Any) -> pd.DataFrame | None:
    """The rows stored so far, or None when even the store cannot be read (the disk failed)."""
    try:
        return _read_frame(store, *args)
    except (OSError, CallCovError, ValueError):
        return None


def _read_frame(
    store: Store,
    client: CallCovClient,
    query: Mapping[str, str],
    since: int | None,
    until: int | None,
    include_transcript: bool,
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
    readings = client.readings
    frame.attrs.update(
        {
            "query": {**query, "since": since, "until": until},
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
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be a whole number from 1 to {MAX_LIMIT} (got {limit!r}).", param="limit"
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


def validate_range(since: DateLike | None, until: DateLike | None) -> tuple[int | None, int | None]:
    """Parse since/until to Unix seconds (naive = UTC); since must not be after until."""
    since_ts, until_ts = to_utc(since, "since"), to_utc(until, "until")
    if since_ts is not None and until_ts is not None and since_ts > until_ts:
        raise ValidationError(
            f"since ({since_ts.isoformat()}) is after until ({until_ts.isoformat()}).",
            param="since",
        )
    # A bare date for `until` means the whole day.
    if until_ts is not None and isinstance(until, date | str) and _is_bare_date(until):
        until_ts = until_ts + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return (
        None if since_ts is None else int(since_ts.timestamp() // 1),
        None if until_ts is None else int(until_ts.timestamp() // 1),
    )


def _is_bare_date(value: DateLike) -> bool:
    if isinstance(value, str):
        return len(value.strip()) == 10
    return isinstance(value, date) and not isinstance(value, datetime)


def to_utc(value: DateLike | None, name: str) -> pd.Timestamp | None:
    """A date-like value as a UTC Timestamp; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"{name}={value!r} is not a date; use e.g. '2026-11-01' or '2026-11-01T09:00:00Z'.",
            param=name,
        ) from exc
    if pd.isna(ts):
        raise ValidationError(f"{name} is empty; pass a date or None.", param=name)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class _Fanout:
    """Send observer events to several observers."""

    def __init__(self, observers: list[Any]) -> None:
        self.observers = observers

    def on_response(self, reading: QuotaReading) -> None:
        for o in self.observers:
            o.on_response(reading)

    def on_wait(self, seconds: float, reason: str) -> None:
        for o in self.observers:
            o.on_wait(seconds, reason)

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        for o in self.observers:
            o.on_page(pages, rows, total)


class _ProgressBar:
    """tqdm progress: rows against the list total, with requests and waits alongside."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(unit=" calls", desc="CallCov", file=sys.stderr)
        self.waiting = 0.0

    def on_response(self, reading: QuotaReading) -> None:
        if reading.remaining is not None:
            self.bar.set_postfix(window_left=reading.remaining, refresh=False)

    def on_wait(self, seconds: float, reason: str) -> None:
        self.bar.set_description(f"CallCov (waiting {seconds:.0f} s: {reason})")

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        self.bar.set_description("CallCov")
        if total is not None:
            self.bar.total = total
        self.bar.update(rows - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _progress(progress: bool | None) -> _ProgressBar | None:
    if progress is None:
        progress = "ipykernel" in sys.modules or sys.stderr.isatty()
    return _ProgressBar() if progress else None
