"""Fault injection knobs: probabilistic rates, a deterministic script, and header tricks.

Faults hit only the data endpoints (`/calls`, `/analysis/`, `/analysis/{id}`); `/health` and
`/billing/usage` always answer honestly so a test can probe the server. A faulted request has
already been counted by the rate limiter, and a 429 is never replaced by a fault.

Fault kinds (for `Faults.next` and `Faults.script`):

- `server_error`   JSON 500 `internal_error` (or the given status, e.g. 503)
- `html_error`     502 (or the given status) `text/html` page, as a proxy sends
- `captive_portal` 200 `text/html` page
- `reset`          the connection is closed with an RST and no response
- `truncate`       `Content-Length` of the full body, only half of it sent, then close
- `truncate_close` 200 without `Content-Length`, half of the JSON, then close
- `stall`          sleep `stall_seconds` before answering normally
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

KINDS = (
    "server_error",
    "html_error",
    "captive_portal",
    "reset",
    "truncate",
    "truncate_close",
    "stall",
)
DEFAULT_STATUS = {"server_error": 500, "html_error": 502, "captive_portal": 200}

Endpoint = Literal["any", "list", "detail"]
HeaderMode = Literal["honest", "missing", "garbled", "delta", "millis"]


@dataclass(frozen=True)
class ScriptedFault:
    """One queued fault: `kind`, optional HTTP `status`, and which endpoint may consume it."""

    kind: str
    status: int | None = None
    endpoint: Endpoint = "any"

    def __post_init__(self) -> None:
        """Reject unknown kinds early, where the test wrote them."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")

    @classmethod
    def parse(cls, item: str | ScriptedFault) -> ScriptedFault:
        """Accept "kind", "kind:status" or a ScriptedFault."""
        if isinstance(item, ScriptedFault):
            return item
        kind, _, status = item.partition(":")
        return cls(kind, int(status) if status else None)

    @property
    def label(self) -> str:
        """Name written to the log entry's `fault` field."""
        return f"{self.kind}:{self.status}" if self.status is not None else self.kind


@dataclass
class Faults:
    """Live fault settings; tests may change any field between requests."""

    server_error_rate: float = 0.0
    html_error_rate: float = 0.0
    reset_rate: float = 0.0
    truncate_rate: float = 0.0
    truncate_mode: Literal["length", "close"] = "length"
    stall_rate: float = 0.0
    stall_seconds: float = 5.0
    # honest | missing | garbled ("soon", "n/a") | delta (Reset = seconds left) | millis
    ratelimit_headers: HeaderMode = "honest"
    # Off by default so the client's X-RateLimit-Reset based wait is what gets exercised.
    retry_after: bool = False
    clock_offset: float = 0.0
    churn_inserts: int = 0
    churn_deletes: int = 0
    calls_404: bool = False
    redirect_to: str | None = None
    redirect_status: int = 307
    envelope: Literal["full", "minimal"] = "full"
    seed: int = 0
    script: list[str | ScriptedFault] = field(default_factory=list)
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Seed the fault RNG so probabilistic runs repeat."""
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def next(
        self, kind: str, times: int = 1, *, status: int | None = None, endpoint: Endpoint = "any"
    ) -> None:
        """Queue `kind` for the next `times` matching data requests (before any random fault)."""
        entry = ScriptedFault(kind, status, endpoint)
        with self._lock:
            self.script.extend([entry] * times)

    def draw(self, endpoint: Literal["list", "detail"]) -> ScriptedFault | None:
        """Pick the fault for one data request: the first matching script entry, else by rate."""
        with self._lock:
            for i, item in enumerate(self.script):
                entry = ScriptedFault.parse(item)
                if entry.endpoint in ("any", endpoint):
                    del self.script[i]
                    return entry
            u = self._rng.random()
            for kind, rate in (
                ("reset", self.reset_rate),
                ("truncate", self.truncate_rate),
                ("stall", self.stall_rate),
                ("html_error", self.html_error_rate),
                ("server_error", self.server_error_rate),
            ):
                if u < rate:
                    if kind == "truncate" and self.truncate_mode == "close":
                        kind = "truncate_close"
                    return ScriptedFault(kind)
                u -= rate
            return None

    def rng_sample(self, population: int, k: int) -> list[int]:
        """Return k distinct seeded positions in range(population), for churn deletes."""
        with self._lock:
            return self._rng.sample(range(population), min(k, population))
