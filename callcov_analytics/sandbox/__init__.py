"""The CallCov sandbox: a seeded, rate-limited, fault-injecting stand-in for the real API.

It imports nothing from the rest of the package and only the standard library: it is the
other side of the contract, so a shared mistake cannot pass both sides.

Example:
    >>> from callcov_analytics import sandbox
    >>> with sandbox.serve(plan="free", window_seconds=2, limit=3) as api:  # doctest: +SKIP
    ...     api.url, api.key
"""

from .app import LogEntry, SandboxApp, make_app
from .faults import KINDS as FAULT_KINDS
from .faults import Faults, ScriptedFault
from .plans import PLANS, Plan
from .server import Sandbox, serve

__all__ = [
    "FAULT_KINDS",
    "PLANS",
    "Faults",
    "LogEntry",
    "Plan",
    "Sandbox",
    "SandboxApp",
    "ScriptedFault",
    "make_app",
    "serve",
]
