"""A limit no header names: a gateway's or proxy's 429, a 503, a status that asks to wait.

Pure: no I/O and no sleeping; every method takes the local time from its caller, and the caller
(`budget.Budget`) holds the lock.

nginx ``limit_req``, an HAProxy stick table or an overloaded upstream answer 429 or 503 without
``X-RateLimit-*`` headers (or with the upstream's, which say it has room). Such a refusal says
nothing about the window the headers describe, so it is never charged to it; it is paced here,
on its own, in three steps:

1. **Retry-After** (seconds or an HTTP date): nothing is sent before it has passed (at most
   ``CAP`` seconds ahead; a longer wait is the caller's to refuse and explain).
2. **What its spacing teaches.** A refusal means the limit had no room when that request went
   out. Between two refusals the requests that got through are what the limit let through in
   that span: N requests in S seconds. From then on at most N requests go out in any S seconds,
   evenly (one every S/N: a gateway counting in a sliding span, like HAProxy's, refuses bursts).
   A refusal under a rule tightens it, by one request at most (N-1 per S; 1 per S becomes 1
   per 2S), or to the new spacing if that is gentler: the spacing then mostly measures the
   rule's own wait, not the limit.
3. **Capped backoff** when a refusal says nothing else: 0.5 s, doubling per refusal in a row, at
   most 30 s, back to 0.5 s after an answer that got through.
"""

from __future__ import annotations

from collections.abc import Sequence

from .limit_headers import LimitFields

__all__ = ["BACKOFF_CAP", "BACKOFF_FIRST", "CAP", "UnnamedLimit", "unnamed_refusal"]

BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0
CAP = 3600.0  # seconds: the longest Retry-After that holds every request back


class UnnamedLimit:
    """The state of the limits no header names, for one key at one API."""

    def __init__(self) -> None:
        self.until = 0.0  # local time before which nothing is sent
        self.refusals = 0
        self._backoff = 0.0
        self._refused_sent: float | None = None  # send time of the last refused request
        self._refused_seen: float | None = None  # when the last refusal arrived
        self._through = 0  # requests sent after it that got through
        self.rule: tuple[int, float] | None = None  # at most N requests in any S seconds

    def refused(self, now: float, sent: float | None, retry_after: float | None) -> None:
        """A request sent at ``sent`` was refused at ``now``; ``retry_after`` in seconds."""
        self.refusals += 1
        # Requests already on their way when a refusal arrived are refused by the same breach:
        # only one sent after it makes the backoff longer.
        escalate = sent is None or self._refused_seen is None or sent >= self._refused_seen
        self._refused_seen = now
        if retry_after is not None:
            wait = min(retry_after, CAP)
        else:
            if escalate:
                self._backoff = min(BACKOFF_CAP, max(BACKOFF_FIRST, 2 * self._backoff))
            wait = self._backoff
        self.until = max(self.until, now + wait)
        if sent is None:
            return
        last = self._refused_sent
        if last is not None and sent > last and self._through > 0:
            self._learn((self._through, sent - last))
        if last is None or sent > last:
            self._refused_sent, self._through = sent, 0

    def _learn(self, learnt: tuple[int, float]) -> None:
        """Pace by what two refusals taught, tightening a rule by one request at most."""
        if self.rule is None:
            self.rule = learnt
            return
        amount, span = self.rule
        if learnt[0] / learnt[1] >= amount / span:
            return
        # A refusal under a rule: the rule let one request too many through. The span between
        # the refusals is then mostly this limit's own wait (a gateway that counts refused
        # requests too, like an HAProxy stick table, refuses the first one after it), so it
        # is not taken whole: N per S becomes N-1 per S (1 per S: 1 per 2S) unless what was
        # learnt is gentler still.
        tightened = (amount - 1, span) if amount > 1 else (1, 2 * span)
        self.rule = max(learnt, tightened, key=lambda rule: rule[0] / rule[1])

    def passed(self, sent: float | None) -> None:
        """A request sent at ``sent`` got through (any answer but a refusal of this kind)."""
        self._backoff = 0.0
        if sent is not None and self._refused_sent is not None and sent > self._refused_sent:
            self._through += 1

    def wait(self, now: float, sends: Sequence[float], served: float = 0.0) -> float:
        """Seconds until this limit allows one more request (``sends``: oldest first).

        ``served``: a hold this request has already waited out (its retry slept until then).
        """
        wait = 0.0 if self.until <= served else self.until - now
        if self.rule is not None:
            amount, span = self.rule
            if len(sends) >= amount:
                wait = max(wait, sends[-amount] + span - now)
            if sends:  # evenly: a gateway that counts in a sliding span refuses bursts
                wait = max(wait, sends[-1] + span / amount - now)
        return max(wait, 0.0)


def unnamed_refusal(status: int, fields: LimitFields, retry_after: float | None) -> bool:
    """Whether an answer is a refusal by a limit no header names (see the module docstring).

    A 429 whose headers name its window with nothing left (or name a reset only) is that
    window's; one with no rate-limit headers, or whose headers show room, is another limit's.
    A 503 is always an unnamed limit (maintenance, an overloaded upstream), and so is any other
    error that asks to wait (413 with ``Retry-After``).
    """
    if status == 429:
        named = fields.limit is not None or fields.reset is not None or fields.remaining == 0
        return not named or (fields.remaining is not None and fields.remaining > 0)
    return status == 503 or (status >= 400 and retry_after is not None)
