"""callcov-analytics: CallCov call analyses as pandas DataFrames, plots and reports.

Quickstart::

    import callcov_analytics as cca
    df = cca.load_calls(since="2026-11-01")      # key from CALLCOV_API_KEY, .env or the widget
    df.callcov.agent_scorecard()                  # who needs coaching, on which check
    df.callcov.compliance_exceptions()            # the review queue, most serious first

Names are loaded on first use (PEP 562), so ``import callcov_analytics.sandbox`` stays
standard-library only and ``import callcov_analytics`` never imports matplotlib or ipywidgets.
The ``df.callcov`` accessor is registered by the entry points that hand out frames
(`load_calls`, `load_segments`, `to_frame`), so every frame the package returns has it.
`plots`, `widgets` and `sandbox` are submodules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _errors
from ._errors import *  # noqa: F403  the exception and warning tree: exactly its __all__
from ._version import __version__

if TYPE_CHECKING:
    from ._config import Config, set_session_key
    from ._decode.frame import to_frame
    from ._decode.schema import SCHEMA
    from ._http.client import CallCovClient
    from ._http.observers import Observer
    from ._http.ratelimit import QuotaReading
    from ._load.loaders import load_calls, load_segments
    from ._load.quota import quota
    from ._load.scan import scan_calls
    from ._store.cache import cache_info, clear_cache
    from .report import export_report

# public name -> module that defines it
_LAZY = {
    "load_calls": "_load.loaders",
    "load_segments": "_load.loaders",
    "CallCovClient": "_http.client",
    "Config": "_config",
    "set_session_key": "_config",
    "scan_calls": "_load.scan",
    "SCHEMA": "_decode.schema",
    "to_frame": "_decode.frame",
    "export_report": "report",
    "quota": "_load.quota",
    "Observer": "_http.observers",
    "QuotaReading": "_http.ratelimit",
    "cache_info": "_store.cache",
    "clear_cache": "_store.cache",
}

_FRAME_BUILDERS = frozenset({"load_calls", "load_segments", "to_frame"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'callcov_analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    if name in _FRAME_BUILDERS:
        importlib.import_module("._accessor", __name__)  # registers df.callcov
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The lazily loaded names too, so tab completion finds ``load_calls``."""
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "SCHEMA",
    "CallCovClient",
    "Config",
    "Observer",
    "QuotaReading",
    "__version__",
    "cache_info",
    "clear_cache",
    "export_report",
    "load_calls",
    "load_segments",
    "quota",
    "scan_calls",
    "set_session_key",
    "to_frame",
]
__all__ += _errors.__all__
