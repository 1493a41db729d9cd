"""ipywidgets, imported only when a widget is made (``import callcov_analytics`` works without)."""

from __future__ import annotations

from typing import Any

from .._errors import MissingDependencyError

INSTALL_HINT = "pip install 'callcov-analytics[widgets]'"


def ipywidgets() -> Any:
    """The ipywidgets module, or MissingDependencyError saying how to install it."""
    try:
        import ipywidgets
    except ImportError as exc:
        raise MissingDependencyError(INSTALL_HINT) from exc
    return ipywidgets


def has_ipywidgets() -> bool:
    """True when ipywidgets can be imported."""
    try:
        ipywidgets()
    except MissingDependencyError:
        return False
    return True
