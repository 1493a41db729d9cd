"""The keyword options the entry points share: their types, defaults, checks and signature.

`load_calls`, `load_segments` and `scan_calls` take the same filters, and the two loads the
same options, written once here as TypedDicts: ``**options: Unpack[LoadOptions]`` lets mypy
and editors check every keyword, and `spelled_out` shows them in ``help()`` and Jupyter as
the ordinary keyword parameters they are. Imports no pandas and no requests (the CLI's
``--help`` reads STATUSES from here).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar, get_type_hints

from .._errors import ValidationError
from .._store.crawl import MIN_LIMIT

if TYPE_CHECKING:  # not at run time: _dates imports pandas, _client requests
    from .._dates import DateLike
    from .._http.client import CallCovClient
    from .._http.observers import Observer

STATUSES = ("processing", "completed", "failed")
MAX_LIMIT = 1000
Refresh = bool | Literal["full", "recheck"]

F = TypeVar("F", bound=Callable[..., Any])


class Filters(TypedDict, total=False):
    """Which analyses: the API's filters, then the bounds on ``created`` applied here."""

    status: str | None
    agent_id: str | None
    contact_id: str | None
    search: str | None
    since: DateLike | None
    until: DateLike | None
    tz: str | None


class LoadOptions(Filters, total=False):
    """How a load runs (see `load_calls`)."""

    limit: int
    progress: bool | None
    refresh: Refresh
    cache: bool
    cache_dir: str | Path | None
    client: CallCovClient | None
    observer: Observer | None


FILTER_DEFAULTS: dict[str, Any] = dict.fromkeys(Filters.__annotations__)  # each one None
LOAD_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(LoadOptions.__annotations__),  # None, but for:
    "limit": MAX_LIMIT,
    "refresh": True,
    "cache": True,
}


def check_names(given: Mapping[str, Any], allowed: Mapping[str, Any]) -> None:
    """A keyword in ``given`` that is not one of ``allowed`` is a ValidationError."""
    for name in given:
        if name not in allowed:
            close = difflib.get_close_matches(name, list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError(
                f"Unknown argument {name!r}{hint} Filters: {', '.join(Filters.__annotations__)}.",
                param=name,
            )


def spelled_out(options: type, defaults: Mapping[str, Any]) -> Callable[[F], F]:
    """Show a function's ``**options`` as the keyword parameters of the TypedDict ``options``."""

    def decorate(function: F) -> F:
        from .._dates import DateLike
        from .._http.client import CallCovClient
        from .._http.observers import Observer

        names = {"CallCovClient": CallCovClient, "Observer": Observer, "DateLike": DateLike}
        hints = get_type_hints(options, localns=names)
        signature = inspect.signature(function, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        spelled = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name],
                              annotation=hints[name])
            for name in hints
        ]  # fmt: skip
        # inspect.signature and help() read __signature__; the function still takes **options.
        function.__signature__ = signature.replace(parameters=[*kept, *spelled])  # type: ignore[attr-defined]
        return function

    return decorate


def validate_query(filters: Mapping[str, Any], limit: int) -> dict[str, str]:
    """Check filters before any request; return the API query parameters."""
    status = filters["status"]
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
        "agent_id": filters["agent_id"],
        "contact_id": filters["contact_id"],
        "search": filters["search"],
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
