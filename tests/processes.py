"""What the tests' child processes share."""

from __future__ import annotations


def ctrl_c_reaches_the_child() -> None:
    """A Popen preexec_fn: Ctrl-C handled as in a terminal, however the suite was started.

    A shell starts a background job with SIGINT ignored, and a child inherits that, so Python
    would never raise KeyboardInterrupt in it (``make test &`` or a CI runner's job)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
