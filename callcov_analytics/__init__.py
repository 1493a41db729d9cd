"""callcov-analytics: CallCov call analyses as pandas DataFrames, plots and reports.

Quickstart::

    import callcov_analytics as cca
    df = cca.load_calls(since="2026-11-01")      # key from CALLCOV_API_KEY, .env or the widget
    df.callcov.agent_scorecard()                  # per-agent compliance, sentiment, effort

Names are loaded on first use (PEP 562), so ``import callcov_analytics.sandbox`` stays
standard-library only and ``import callcov_analytics`` never imports matplotlib or ipywidgets.
The ``df.callcov`` accessor is registered by the modules that build frames, so every frame
the package returns has it.
`plots`, `widgets` and `sandbox` are submodules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    CallCovError,
    CallCovWarning,
    ConfigurationError,
    InvalidRecordError,
    ListOrderError,
    LoadInterrupted,
    MissingDependencyError,
    NotFoundError,
    PagingStalledError,
    PermissionDeniedError,
    ProxyAuthenticationError,
    QuotaExhaustedError,
    QuotaWarning,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    ServerMisbehaviourError,
    StorageError,
    StoreLockedError,
    StoreWarning,
    TLSVerificationError,
    UnprocessableEntityError,
    UnsafeRedirectError,
    UnsupportedEngineError,
    ValidationError,
)

if TYPE_CHECKING:
    from .calls import load_calls, load_segments
    from .client import CallCovClient
    from .config import Config, set_session_key
    from .frame import to_frame
    from .quotas import quota
    from .report import export_report
    from .scan import scan_calls
    from .schema import SCHEMA
    from .store import cache_info, clear_cache

# public name -> module that defines it
_LAZY = {
    "load_calls": "calls",
    "load_segments": "calls",
    "CallCovClient": "client",
    "Config": "config",
    "set_session_key": "config",
    "scan_calls": "scan",
    "SCHEMA": "schema",
    "to_frame": "frame",
    "export_report": "report",
    "quota": "quotas",
    "cache_info": "store",
    "clear_cache": "store",
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
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "CallCovClient",
    "CallCovError",
    "CallCovWarning",
    "Config",
    "ConfigurationError",
    "InvalidRecordError",
    "ListOrderError",
    "LoadInterrupted",
    "MissingDependencyError",
    "NotFoundError",
    "PagingStalledError",
    "PermissionDeniedError",
    "ProxyAuthenticationError",
    "QuotaExhaustedError",
    "QuotaWarning",
    "RateLimitError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "ServerMisbehaviourError",
    "StorageError",
    "StoreLockedError",
    "StoreWarning",
    "TLSVerificationError",
    "UnprocessableEntityError",
    "UnsafeRedirectError",
    "UnsupportedEngineError",
    "ValidationError",
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
