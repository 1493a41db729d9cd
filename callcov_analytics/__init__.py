"""callcov-analytics: CallCov call analyses as pandas DataFrames, plots and reports.

Quickstart::

    import callcov_analytics as cca
    df = cca.load_calls(since="2026-11-01")      # key from CALLCOV_API_KEY, .env or the widget
    df.callcov.agent_scorecard()                  # who needs coaching, on which check
    df.callcov.compliance_exceptions()            # the review queue, most serious first

Names are loaded on first use (PEP 562), so ``import callcov_analytics.sandbox`` stays
standard-library only and ``import callcov_analytics`` never imports matplotlib or ipywidgets.
The ``df.callcov`` accessor is registered by the modules that build frames, so every frame
the package returns has it.
`plots`, `widgets` and `sandbox` are submodules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _errors
from ._errors import *  # noqa: F403  the exception and warning tree: exactly its __all__
from ._version import __version__

if TYPE_CHECKING:
    from ._cache import cache_info, clear_cache
    from ._client import CallCovClient
    from ._config import Config, set_session_key
    from ._frame import to_frame
    from ._loaders import load_calls, load_segments
    from ._quota import quota
    from ._scan import scan_calls
    from ._schema import SCHEMA
    from .report import export_report

# public name -> module that defines it
_LAZY = {
    "load_calls": "_loaders",
    "load_segments": "_loaders",
    "CallCovClient": "_client",
    "Config": "_config",
    "set_session_key": "_config",
    "scan_calls": "_scan",
    "SCHEMA": "_schema",
    "to_frame": "_frame",
    "export_report": "report",
    "quota": "_quota",
    "cache_info": "_cache",
    "clear_cache": "_cache",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'callcov_analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "SCHEMA",
    "CallCovClient",
    "Config",
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
