"""callcov-analytics: CallCov call analyses as pandas DataFrames, plots and reports.

Quickstart::

    import callcov_analytics as cca
    df = cca.load_calls(since="2026-11-01")      # key from CALLCOV_API_KEY, .env or the widget

`plots`, `widgets` and `sandbox` are submodules, imported on use (matplotlib and ipywidgets are
optional extras and never imported by ``import callcov_analytics``).
"""

from ._version import __version__
from .calls import load_calls
from .client import CallCovClient
from .config import Config, set_session_key
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    CallCovError,
    ConfigurationError,
    LoadInterrupted,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    StorageError,
    UnprocessableEntityError,
    UnsafeRedirectError,
    ValidationError,
)
from .frame import SCHEMA, to_frame

__all__ = [
    "SCHEMA",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "CallCovClient",
    "CallCovError",
    "Config",
    "ConfigurationError",
    "LoadInterrupted",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerError",
    "StorageError",
    "UnprocessableEntityError",
    "UnsafeRedirectError",
    "ValidationError",
    "__version__",
    "load_calls",
    "set_session_key",
    "to_frame",
]
