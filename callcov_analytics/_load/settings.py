"""One load's settings, resolved once: `LoadSettings` and `settle`, which makes it.

The entry points take keywords (`options.LoadOptions`); `settle` checks them all before any
request, applies the defaults, asks the session and environment for the key, URL and store
folder (`Config.resolve`, whose precedence is the only one), and hands back one frozen object.
Everything below the entry points reads its attributes; no dict of options travels further.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._config import Config
from .._dates import check_tz, validate_range
from .._http.client import CallCovClient
from .._http.observers import Observer
from .._secrets import Secret
from .options import LOAD_DEFAULTS, Refresh, check_names, validate_query, validate_refresh


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """What one load asks for and how it runs, checked; made by `settle`."""

    entry: str  # the public call, named in messages ("run the same load_calls(...) again")
    query: Mapping[str, str]  # the API's query parameters
    since: int | None  # bounds on ``created``, Unix seconds
    until: int | None
    tz: str
    limit: int
    refresh: Refresh
    cache: bool  # False: the store is a temporary folder, gone after the load
    root: Path | None  # the store's folder; None: the user cache
    progress: bool | None
    observer: Observer | None
    columns: Mapping[str, bool]  # what stored pages hold beyond the schema (a dataset each)
    config: Config | None  # None only where no account is needed (scan_calls of a given table)
    client: CallCovClient | None  # the caller's; None: the load makes (and closes) its own

    def open_client(self) -> CallCovClient:
        """The caller's client, else a new one for ``config`` (the caller closes it if new)."""
        if self.client is not None:
            return self.client
        if self.config is None:
            raise RuntimeError("these settings name no account to connect to")
        return CallCovClient(config=self.config)


def settle(
    entry: str,
    api_key: str | Secret | None,
    base_url: str | None,
    given: Mapping[str, Any],
    *,
    allowed: Mapping[str, Any] = LOAD_DEFAULTS,
    fixed: Mapping[str, Any] | None = None,
    columns: Mapping[str, bool],
    account: bool = True,
) -> LoadSettings:
    """The settings of one load, every value checked before any request.

    ``given`` are the caller's keywords (one not in ``allowed`` is a ValidationError with a
    "did you mean"); ``fixed`` the entry point's own parameters over them; ``account`` False
    skips the key and store folder (nothing will be fetched or looked up).
    """
    check_names(given, allowed)
    chosen = {**LOAD_DEFAULTS, **given, **(fixed or {})}
    tz = check_tz(chosen["tz"])
    query = validate_query(chosen, chosen["limit"])
    since, until = validate_range(chosen["since"], chosen["until"], tz=tz)
    validate_refresh(chosen["refresh"])
    client: CallCovClient | None = chosen["client"]
    config = client.config if client is not None else None
    if config is None and account:
        config = Config.resolve(api_key, base_url)
    return LoadSettings(
        entry=entry,
        query=query,
        since=since,
        until=until,
        tz=tz,
        limit=chosen["limit"],
        refresh=chosen["refresh"],
        cache=chosen["cache"],
        root=None if config is None else config.store_root(chosen["cache_dir"]),
        progress=chosen["progress"],
        observer=chosen["observer"],
        columns=dict(columns),
        config=config,
        client=client,
    )
