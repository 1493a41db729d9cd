"""The request budget of one API key at one API, shared by every client of that key in a process.

Pure: no I/O and no sleeping; every method takes the local time from its caller.

Windows are identified by their reset. An answer whose reset is more than a tolerance newer than
the current window's opens a new window with its Remaining; a reset within the tolerance (a
second, or half the window when windows are shorter) is the same window, whose remaining drops
to the minimum seen (answers arrive out of order; sliding counters and several server nodes
make one window's reset wobble); an older reset is a late answer from a window that is over.
A 429 means remaining 0 for its window. A reset that is already past when it arrives tells
nothing: the window's end is then unknown and the caller backs off.

The budget is ``left = remaining_min - in_flight``. ``reserve()`` sends while ``left > 0`` and
otherwise waits until the window's end (the reset put on the local clock by `ServerClock`, never
early). **After a window ends, its slots come back as a moving window frees them**: each
request holds a slot from its send for the *hold time* — the longest time measured from a send to
the reset its answer named (or, before any is measured, from the ending window's first send to
its end) — and every send made within the hold time before the window ended counts, not only
the ending window's, because in a moving window the requests of the window before may still
hold slots; every request still in flight counts too. So a crawl whose requests went out in a
burst gets the whole budget back at once, one whose requests were spread gets them back spread,
and the first answer of the new window then shows what the server really has (a fixed window:
the rest at once; a moving one: as its slots free). Once a window has been seen to refill whole
at its end (its first answer showed the full limit back), the next window's whole budget goes at
once if its requests went out in a burst (within 0.1 s), until an answer says otherwise (a 429,
or a new window with less than the limit back). Without any budget (no headers, or a spent
window whose end is unknown) it lets one request through at a time.

The server's clock (`ServerClock`) is bounded from below by every Date and, where an answer
gives both an absolute reset and the whole seconds left until it (``Retry-After`` beside
``X-RateLimit-Reset``, as slowapi and Flask-Limiter send on every answer), by that pair too:
Date is truncated to the second (uvicorn refreshes it only once a second, so it lags up to a
second more), the pair's rounding follows the reset's phase, and a few answers pin the offset
to within the latency. That is what lets a window start as soon as its reset passes.

A **hidden limit** is one the headers do not show until it is breached (two limits at once,
both libraries report the shortest): its 429 names a larger limit with a later reset. It is
remembered for the budget's life as "at most N requests in any span of S seconds", S measured
from our own send times to that reset, so that limit costs one 429 at most.

A refusal that names no window — a 429 without rate-limit headers or whose headers show room
left, a 503, any error that asks to wait with ``Retry-After`` — is a limit of its own (a
gateway's, an overloaded server's): it is paced by `UnnamedLimit` and never charged to the
window. **Which limit governs the next request**: every known limit must allow it (the
window's budget, each hidden limit, the unnamed limit), so the wait is the longest of theirs;
a refusal is charged only to the limit it names.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from .limit_headers import LimitFields, parse_http_date
from .unnamed_limit import UnnamedLimit, unnamed_refusal

__all__ = ["POLL_INTERVAL", "Budget", "ServerClock"]

# Short wait while another request's answer is pending and will change the picture.
POLL_INTERVAL = 0.05
SAME_WINDOW = 1.0  # seconds: resets this close are one window (see the module docstring)
_BURST = 0.1  # seconds: requests sent closer together than this went out at once
_SENDS_KEPT = 10_000  # send times kept for hidden limits (their N is at most this)


class ServerClock:
    """Estimates server_time - local_time from Date headers, never early."""

    # Date has 1 s resolution and is stamped before the response travels (uvicorn even
    # refreshes it only once a second), so `Date - local_receive_time` is a LOWER bound of the
    # true offset. The max of many lower bounds converges on the true offset as answers arrive
    # at every phase of the second, so the last 256 are kept. A server clock set back shows as
    # 32 answers in a row all below the estimate by more than 2 s: then only those are kept.
    # A lower bound makes a converted reset never earlier than the real one (no early 429).
    _KEEP = 256
    _HEAL_AFTER = 32
    # Date truncates to the second and uvicorn's lags up to a second more: the true offset is
    # at most about 2 s above the best Date bound.
    _ECHO_ABOVE_DATE = 2.0

    def __init__(self) -> None:
        self._bounds: deque[float] = deque(maxlen=self._KEEP)  # from Date
        self._echoes: deque[float] = deque(maxlen=self._KEEP)  # from reset echoes
        self._lock = threading.Lock()

    def observe(self, date_header: str | None, local_now: float) -> None:
        """Record a response's Date against its local arrival time; a garbled Date is ignored."""
        server = parse_http_date(date_header)
        if server is not None:
            with self._lock:
                self._bounds.append(server - local_now)
                recent = list(self._bounds)[-self._HEAL_AFTER :]
                if len(recent) == self._HEAL_AFTER and max(recent) < max(self._bounds) - 2.0:
                    self._bounds = deque(recent, maxlen=self._KEEP)
                    self._echoes.clear()

    def observe_echo(self, reset: float, seconds_to_reset: int, local_now: float) -> None:
        """Record an answer that gives its absolute reset and the whole seconds left until it.

        Both libraries send ``Retry-After`` = whole seconds to ``X-RateLimit-Reset``, counted on
        the server's precise clock, on every answer. That delta is the reset minus the server's
        time rounded to a whole second in some direction, so the server's time was after
        ``reset - seconds - 1`` when it answered (whatever the rounding): one more lower bound
        of the offset, and unlike Date (truncated to the second, and by uvicorn refreshed only
        once a second) one whose phase follows the reset's, so a few answers pin the offset to
        within the latency. A bound more than ``_ECHO_ABOVE_DATE`` above what Date allows is
        not an echo of this reset (a delta to another, earlier limit) and is ignored, as is
        every echo before the first Date (nothing to check it against).
        """
        bound = reset - seconds_to_reset - 1.0 - local_now
        with self._lock:
            if not self._bounds or bound > max(self._bounds) + self._ECHO_ABOVE_DATE:
                return
            self._echoes.append(bound)

    @property
    def observed(self) -> bool:
        """Whether any Date has been seen yet."""
        with self._lock:
            return bool(self._bounds)

    def offset(self) -> float:
        """Estimated server_time - local_time (a lower bound); 0.0 when never observed."""
        with self._lock:
            return max(max(self._bounds, default=0.0), max(self._echoes, default=-math.inf))

    def to_local(self, server_ts: float) -> float:
        """The local time of a server timestamp, never earlier than the true instant."""
        return server_ts - self.offset()


@dataclass
class _Hidden:
    """A limit revealed by a 429: at most ``amount`` requests in any ``span`` seconds."""

    amount: int
    span: float


class Budget:
    """Thread-safe window state of one key; see the module docstring for the rules."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clock = ServerClock()
        self._limit: int | None = None
        self._reset: float | None = None  # server seconds; the current window's end
        self._open = False  # False once the local clock has passed the window's end
        self._remaining: int | None = None
        self._in_flight = 0
        self._span: float | None = None  # the longest response-to-reset time seen
        self._hidden: list[_Hidden] = []
        self._sends: deque[float] = deque(maxlen=_SENDS_KEPT)
        self._epoch: float | None = None  # first send since the last window ended
        # After a window ended and before the next one's first answer: (its end, its first
        # send, when we saw it end), from which the slots free (see the module docstring).
        self._freeing: tuple[float, float, float] | None = None
        self._hold: float | None = None  # the longest time from a send to its answer's reset
        self._refills = False  # the last window that ended came back whole
        self._since_roll = 0  # requests sent since the last window ended
        self._placed: tuple[float | None, float] = (None, 0.0)  # a rounded reset's local end
        self.unnamed = UnnamedLimit()

    @property
    def limit(self) -> int | None:
        """Requests per window the headers show."""
        return self._limit

    @property
    def hidden(self) -> list[tuple[int, float]]:
        """Limits learnt from 429s: (requests, seconds)."""
        with self._lock:
            return [(h.amount, h.span) for h in self._hidden]

    def remaining(self, now: float) -> int | None:
        """Requests that may still be sent in this window (in-flight ones deducted)."""
        with self._lock:
            self._roll(now)
            return None if self._remaining is None else max(0, self._remaining - self._in_flight)

    def window_end(self, now: float) -> float | None:
        """Local time the current window ends, or None when unknown."""
        with self._lock:
            self._roll(now)
            return self._end()

    def unnamed_wait(self, now: float) -> tuple[float, float]:
        """Seconds until the unnamed limit allows one more request, and its hold's end."""
        with self._lock:
            return self.unnamed.wait(now, self._sends), self.unnamed.until

    def reserve(self, now: float, max_wait: float, served: float = 0.0) -> float:
        """Seconds to wait before the next request (0.0 = send now, a slot is reserved).

        ``served``: the unnamed limit's hold this request has already waited out (a retry).
        """
        with self._lock:
            self._roll(now)
            hidden = max(self._hidden_wait(now), self.unnamed.wait(now, self._sends, served))
            if hidden > 0:
                return min(hidden, max_wait)
            left = None if self._remaining is None else self._remaining - self._in_flight
            freed, next_free = self._freed(now)
            if left is None and freed is not None:
                # Every request in flight counts: one sent since the window ended holds a slot
                # of the new one, and one sent before may still reach the server in it,
                # however long ago it went out (even if its slot counts as held already).
                left = freed - self._in_flight
            end = self._end()
            alone = self._in_flight == 0 and (left is None or end is None)
            if (left is not None and left > 0) or alone:
                self._in_flight += 1
                self._sends.append(now)
                self._epoch = now if self._epoch is None else self._epoch
                self._since_roll += 1
                return 0.0
            if next_free is not None:
                wait = min(POLL_INTERVAL, next_free - now)
            elif self._remaining is None or end is None:
                wait = POLL_INTERVAL  # the request in flight will tell us more
            elif self._remaining > 0:
                # The budget is held by requests in flight; answers arriving out of order can
                # hand slots back, so look again soon rather than sleep to the end.
                wait = min(POLL_INTERVAL, end - now)
            else:
                wait = end - now
            return min(max(wait, 0.0), max_wait)

    def release(self) -> None:
        """End a reservation whose request got no response (it may still have been counted)."""
        with self._lock:
            if self._in_flight > 0:
                self._in_flight -= 1
                self._charge_one()

    def observe(
        self,
        now: float,
        status: int,
        date: str | None,
        fields: LimitFields,
        *,
        day: bool = False,
        sent: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Fold one answer into the window state and end its reservation.

        ``sent``: when its request went out (local time), which measures how long a request
        holds its slot: from its send to the reset its answer names.

        ``day``: a 429 for the spent daily quota. Its reset (the next midnight) is no window
        to wait for: the load stops with an error, and a later load finds out again with one
        request instead of sleeping until midnight.

        ``retry_after``: the seconds the answer's ``Retry-After`` asks for, if any.
        """
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self.clock.observe(date, now)
            if day:
                self._remaining, self._open = 0, False
                return
            if unnamed_refusal(status, fields, retry_after):
                self.unnamed.refused(now, sent, retry_after)
                if status == 429 or (fields.remaining is None and fields.reset is None):
                    return  # it names no window: nothing to charge there
                status = 200  # a 503 that carries the window's headers: fold them as facts
            else:
                self.unnamed.passed(sent)
            reset = fields.reset
            remaining = 0 if status == 429 else fields.remaining
            if status == 429:
                self._refills = False
            if reset is not None and self.clock.to_local(reset) < now:
                # Already past on arrival: it cannot say when the window ends. A late answer
                # tells nothing more; a 429 leaves a spent window of unknown end (back off).
                if status == 429 and self._remaining is not None:
                    self._remaining = 0
                elif status == 429:
                    self._remaining, self._open = 0, False
                return
            if reset is not None:
                local = self._local_end(reset, fields, sent, now, status)
                span = local - now
                self._span = span if self._span is None else max(self._span, span)
                # A 429 may name a longer limit's; a rounded reset counts once placed.
                placed = not fields.rounded_up or self._placed[0] == reset
                if sent is not None and status != 429 and placed:
                    hold = span + (now - sent)
                    self._hold = hold if self._hold is None else max(self._hold, hold)
            self._roll(now)
            if status == 429 and self._reveals_hidden(fields.limit, reset):
                assert reset is not None  # checked by _reveals_hidden
                self._learn_hidden(fields.limit or 1, self.clock.to_local(reset))
            self._fold(fields.limit if status != 429 else None, remaining, reset)

    # -- internals (callers hold the lock) -------------------------------------------------

    def _tolerance(self) -> float:
        return SAME_WINDOW if self._span is None else min(SAME_WINDOW, self._span / 2)

    def _end(self) -> float | None:
        if not self._open or self._reset is None:
            return None
        end = self.clock.to_local(self._reset)
        return min(end, self._placed[1]) if self._placed[0] == self._reset else end

    def _local_end(
        self, reset: float, fields: LimitFields, sent: float | None, now: float, status: int
    ) -> float:
        """The local time the window of ``reset`` ends: a rounded-up reset placed if it can be.

        A reset rounded up past the second after its end (Flask-Limiter's ``int(end + 1)``,
        `reset_rounded_up`) belongs to a window that its first request opened and that lasts a
        whole number of seconds W. The answer to that first request (the full limit less one
        left) places the end: from its send the reset is more than W and at most W + 1 seconds
        away (more, read on our clock), so W <= ceil(reset - sent) - 1, and the window, opened
        when the request reached the server (before its answer reached us), ends no later than
        that answer's arrival + W. Never early; up to the round trip late.
        """
        local = self.clock.to_local(reset)
        first = fields.limit is not None and fields.remaining == fields.limit - 1
        if fields.rounded_up and first and sent is not None and status != 429:
            self._placed = (reset, min(local, now + math.ceil(local - sent) - 1))
        return min(local, self._placed[1]) if self._placed[0] == reset else local

    def _roll(self, now: float) -> None:
        """Close the window once the local clock passes its end; its successor is unknown."""
        end = self._end()
        if end is not None and now >= end:
            self._open = False
            self._remaining = None  # the first answer of the next window will tell
            self._since_roll = 0
            first = self._epoch
            sends = [] if first is None else [t for t in self._sends if t >= first]
            # A refill is trusted only after a burst: in a moving window the slots of spread
            # requests free spread, whatever the last window did.
            burst = not sends or sends[-1] - sends[0] <= _BURST
            if self._refills and burst and self._limit is not None:
                self._remaining, self._freeing = self._limit, None
            elif first is not None:
                self._freeing = (end, first, now)
            self._epoch = None

    def _freed(self, now: float) -> tuple[int | None, float | None]:
        """Slots back since the last window ended, and when the next one frees (moving model)."""
        if self._freeing is None or self._limit is None:
            return None, None
        end, first, rolled = self._freeing
        # Each request holds its slot from its send for the hold time: measured (a send to the
        # reset its answer named, at the longest), else the ending window's first send to its
        # end. Every send counts, not only this window's: in a moving window the requests of
        # the one before may still hold slots. Those sent since are counted as in flight.
        hold = max(self._hold or 0.0, end - first)
        later = [t + hold for t in self._sends if t < rolled and t + hold > now]
        return self._limit - len(later), min(later, default=None)

    def _charge_one(self) -> None:
        if self._remaining is not None:
            self._remaining = max(0, self._remaining - 1)

    def _reveals_hidden(self, limit: int | None, reset: float | None) -> bool:
        """A 429 naming a larger limit than the headers showed, with a later reset."""
        if reset is None or limit is None or self._limit is None or limit <= self._limit:
            return False
        return not any(h.amount == limit for h in self._hidden)

    def _learn_hidden(self, amount: int, reset_local: float) -> None:
        # The breached window holds the refused request and the `amount` we sent before it, so
        # it began no later than the oldest of those: from there to its reset is at least its
        # real length, and pacing on that span never breaches it again.
        sends = list(self._sends)
        n = amount + 1
        oldest = sends[-n] if len(sends) >= n else (sends[0] if sends else reset_local)
        self._hidden.append(_Hidden(amount, max(reset_local - oldest, 0.0)))

    def _hidden_wait(self, now: float) -> float:
        """Seconds until every hidden limit allows one more request."""
        wait = 0.0
        for h in self._hidden:
            if len(self._sends) >= h.amount:
                # The amount-th most recent send must have left the span.
                wait = max(wait, self._sends[-h.amount] + h.span - now)
        return wait

    def _fold(self, limit: int | None, remaining: int | None, reset: float | None) -> None:
        current, tolerance = self._reset, self._tolerance()
        if reset is None:
            # No way to tell the window: assume the current one, which can only lower the budget.
            if remaining is None:
                self._charge_one()
            elif self._remaining is not None:
                self._remaining = min(self._remaining, remaining)
            elif not self._open:
                self._remaining = remaining
        elif current is None or reset > current + tolerance:
            if current is not None and remaining is not None and self._limit is not None:
                # Did the window come back whole? Requests sent since its start are counted.
                self._refills = remaining >= self._limit - self._since_roll
            self._reset, self._open, self._remaining = reset, True, remaining
            self._freeing = None
        elif reset >= current - tolerance:
            if not self._open:
                # We took the window for over, but its reset is still ahead (it wobbled past
                # our estimate of the end): the server has not refilled yet.
                self._open, self._remaining, self._freeing = True, None, None
            self._reset = max(current, reset)  # the latest end of the window: never early
            if remaining is None:
                self._charge_one()
            elif self._remaining is None:
                self._remaining = remaining
            else:
                self._remaining = min(self._remaining, remaining)
        else:
            return  # a late answer from a window that is over: its request was counted there
        if limit is not None:
            self._limit = limit
