"""What a report folder records about itself (manifest.json) and the PNG charts it carries."""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd

from .._errors import MissingDependencyError
from .._secrets import sanitize_url
from .._version import __version__

__all__ = ["checksum", "describe", "figures_for", "iso_query", "manifest"]


def describe(frame: pd.DataFrame) -> dict[str, Any]:
    """Rows, column dtypes and category levels of one table."""
    entry: dict[str, Any] = {
        "rows": len(frame),
        "schema": {str(c): str(t) for c, t in frame.dtypes.items()},
    }
    categories = {
        str(c): [str(v) for v in t.categories]
        for c, t in frame.dtypes.items()
        if isinstance(t, pd.CategoricalDtype)
    }
    if categories:
        entry["categories"] = categories
    return entry


def checksum(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a written file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def iso_query(query: Mapping[str, Any] | None) -> dict[str, Any]:
    """The query without key-like entries, JSON-ready; epoch bounds also as ISO UTC times."""
    chosen = {k: v for k, v in dict(query or {}).items() if "key" not in str(k).lower()}
    out = json.loads(json.dumps(chosen, default=str))
    for bound in ("since", "until"):
        value = chosen.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{bound}_utc"] = datetime.fromtimestamp(value, UTC).isoformat()
    return dict(out)


def manifest(
    df: pd.DataFrame,
    files: dict[str, dict[str, Any]],
    query: Mapping[str, Any] | None,
    *,
    machine: bool,
    charts: str,
    tz: str,
) -> dict[str, Any]:
    """The manifest: only safe, JSON-ready facts (never the key, no credential in the URL)."""
    attrs = df.attrs
    created = df["created"].dropna() if "created" in df.columns else pd.Series([], dtype=object)
    return {
        "tool": "callcov-analytics",
        "version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "loaded_at": attrs.get("loaded_at"),
        "time_zone": tz,
        "query": iso_query(query if query is not None else attrs.get("query")),
        "base_url": sanitize_url(attrs["base_url"]) if attrs.get("base_url") else None,
        "key_hint": attrs.get("key_hint"),
        "requests": attrs.get("requests"),
        "throttled": attrs.get("throttled"),
        "time_range": {
            "first_created": pd.Timestamp(created.min()).isoformat() if len(created) else None,
            "last_created": pd.Timestamp(created.max()).isoformat() if len(created) else None,
        },
        "csv": {
            "for": "programs" if machine else "spreadsheets",
            "encoding": "utf-8" if machine else "utf-8-sig (with a byte-order mark)",
            "dates": "ISO 8601 with offset"
            if machine
            else "YYYY-MM-DD HH:MM:SS wall clock in the zone the header names",
            "numbers": "full precision"
            if machine
            else "rates and shares as 51.9%, other decimals to 2 places",
            "formula_escape": "leading ' on text cells starting with = + - @ TAB CR or '",
        },
        "charts": charts,
        "files": files,
    }


def figures_for(
    df: pd.DataFrame, scorecard: pd.DataFrame, tz: str
) -> tuple[dict[str, Callable[[IO[bytes]], None]], str]:
    """PNG savers for a manager's charts, and a note for the manifest.

    The quota chart is an engineer's: it stays in notebooks and the demo's console summary.
    """
    try:
        from .. import plots
    except ImportError as exc:  # a trimmed install without the plots module
        return {}, f"skipped: {exc}"
    wanted: dict[str, tuple[str, Any, dict[str, Any]]] = {
        "daily_volume.png": ("plot_volume", df, {"tz": tz}),
        "compliance.png": ("plot_compliance", scorecard, {}),
        "sentiment.png": ("plot_sentiment", df, {}),
    }
    savers: dict[str, Callable[[IO[bytes]], None]] = {}
    try:
        for name, (function, data, options) in wanted.items():
            draw = getattr(plots, function, None)
            if draw is None or data is None or len(data) == 0:
                continue  # nothing to draw: an empty chart would only confuse
            savers[name] = _saver(draw(data, **options))
    except (ImportError, MissingDependencyError) as exc:
        return {}, f"skipped: {exc}"
    return savers, "written" if savers else "none"


def _saver(figure: Any) -> Callable[[IO[bytes]], None]:
    def save(out: IO[bytes]) -> None:
        with warnings.catch_warnings():
            # Agent ids are caller data (emoji, control characters): a box in a label is fine.
            warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
            figure.savefig(out, format="png", dpi=100, bbox_inches="tight")
        if "matplotlib.pyplot" in sys.modules:  # figures made through pyplot stay open until closed
            sys.modules["matplotlib.pyplot"].close(figure)

    return save
