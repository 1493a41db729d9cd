"""Notebook widgets: a key entry that never leaves the key in the notebook, and a live quota panel.

Key entry (`key_entry`): a masked ``Password`` field and a Connect button. On Connect the value
is copied out and the field is blanked *first* (a notebook saved with widget state stores the
last synced value of every widget, closed ones included), then the key is checked against
``/health`` and one list request, and on success becomes this Python session's default key
(`config.set_session_key`). The key is never shown: not in the status line, a repr, an output
or a log. Where widgets don't render, ``key_entry(use_widgets=False)`` asks with `getpass`; the
non-interactive ways are the ``CALLCOV_API_KEY`` environment variable or a ``.env`` file.

Quota panel (`QuotaPanel`): pass it as ``load_calls(observer=panel)`` and display it; it shows
requests used and left in the current rate-limit window, the day's quota and its reset (the
API sends no count of the day's requests, so the panel shows none), a countdown while the load
waits for a window to reset (ticking from a background thread, so waiting never looks like a
hung kernel), and pages, rows and an ETA. Afterwards ``panel.plot()`` draws the quota figure.

ipywidgets is imported inside functions only, so ``import callcov_analytics`` works without it.
"""

from __future__ import annotations

from .keys import KeyCheck, KeyEntry, check_key, key_entry
from .quota import QuotaPanel

__all__ = ["KeyCheck", "KeyEntry", "QuotaPanel", "check_key", "key_entry"]
