"""ipywidgets, imported only when a widget is made (``import callcov_analytics`` works without)."""

from __future__ import annotations

from typing import Any

from .._errors import MissingDependencyError, optional_module


def ipywidgets() -> Any:
    """The ipywidgets module, or MissingDependencyError saying how to install it."""
    return optional_module("ipywidgets", "widgets")


def has_ipywidgets() -> bool:
    """True when ipywidgets can be imported."""
    try:
        ipywidgets()
    except MissingDependencyError:
        return False
    return True
