"""The seeded record store: a compact sorted index in memory, full records built on demand.

Only (created, id, agent, contact, status) live in memory, in flat arrays, so a million
records cost tens of megabytes. Base records are generated in list order (newest first, ties by
id descending), so an unfiltered page at any offset is a slice, not a sort. Each record's body
comes from `random.Random(seed * 1_000_003 + key)` when it is served.

A record's UUID hides its key in the low 40 bits (scrambled with seeded constants), so
`/analysis/{id}` needs no million-entry dict.
"""

from __future__ import annotations

import bisect
import random
import threading
import uuid
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .records import HOSTILE_KINDS, STATUSES, Meta, build

DAY = 86400
WEEKS = 6
_LOW40 = (1 << 40) - 1
# UUID version 4 and RFC 4122 variant bits, as positioned in the high 88 bits of the id.
_VERSION_CLEAR = ~((0xF << 36) | (0x3 << 22))
_VERSION_SET = (0x4 << 36) | (0x2 << 22)
_HOUR_WEIGHTS = (0.5, 0.9, 1.0, 1.0, 0.8, 0.7, 0.9, 1.0, 0.9, 0.7, 0.4)  # 08:00-18:59 UTC
_WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.9, 0.3, 0.15)  # Monday first
_HOSTILE_AGENTS = ("@agent_ops",)
_HOSTILE_CONTACTS = (
    '=HYPERLINK("http://x")',
    "+15550100",
    "-2+3",
    "@SUM(1,1)",
    "José Müller 🎧 محمد",
)
_CONTENT_KINDS = {"unicode", "long_transcript", "formula_text", "quality_missing", "null_nested"}


@dataclass(frozen=True)
class Filters:
    """The list endpoint's filter parameters."""

    status: str | None = None
    agent_id: str | None = None
    contact_id: str | None = None
    search: str | None = None

    def any(self) -> bool:
        """Return True when at least one filter is set."""
        return any(
            v is not None for v in (self.status, self.agent_id, self.contact_id, self.search)
        )


class Dataset:
    """All analyses of one sandbox, with the mutations tests and churn need."""

    def __init__(self, seed: int, n: int, anchor: int, livemode: bool = False) -> None:
        """Generate `n` records over the ~6 weeks before `anchor` (Unix seconds)."""
        rng = random.Random(seed)
        self.seed, self.livemode, self.n_base = seed, livemode, n
        self._mask = rng.getrandbits(40)
        self._mul = rng.getrandbits(40) | 1  # odd, so multiplying mod 2**40 is invertible
        self._unmul = pow(self._mul, -1, 1 << 40)
        self.agents = [f"agent_{i:03d}" for i in range(1, 13)]
        # The share of calls on which an agent gets each check right: most agents 90-99%, two
        # of the twelve 78-88% (the coaching story a scorecard should tell).
        self.skills = [
            round(rng.uniform(0.78, 0.88) if i % 5 == 2 else rng.uniform(0.9, 0.99), 3)
            for i in range(len(self.agents))
        ]
        self.agents += _HOSTILE_AGENTS
        self.skills += [0.9] * len(_HOSTILE_AGENTS)
        self.n_contacts = max(20, n // 5)
        self._created = array("q", _created_times(rng, n, anchor))
        self._ids = bytearray()
        self._append_ids(rng, range(n))
        volume = [rng.uniform(0.5, 1.5) for _ in range(12)]
        self._agent = bytearray(rng.choices(range(12), volume, k=n))
        self._contact = array("I", (int(self.n_contacts * rng.random() ** 2) for _ in range(n)))
        # An analysis takes minutes, so only the newest few are still processing: a handful,
        # as on a live account, not a fixed share of the whole history.
        recent = max(5, min(60, n // 100))
        self._status = bytearray(
            2 if u < 0.05 else 0 if i < recent and u < 0.85 else 1
            for i, u in enumerate(rng.random() for _ in range(n))
        )
        self.hostile: dict[int, str] = {}
        self._place_hostile(random.Random(seed ^ 0x5EED), n, recent)
        self._completed_at: dict[int, int] = {}
        self._extras: list[int] = []  # inserted keys still alive, newest first
        self._deleted: set[int] = set()
        self._deleted_base: list[int] = []  # sorted, for offset arithmetic
        self._insert_rng = random.Random(seed + 1)
        self._lock = threading.RLock()
        self._filtered: dict[Filters, list[int]] = {}
        self.version = 0
        self.mark()

    def _append_ids(self, rng: random.Random, keys: Iterable[int]) -> None:
        """Append ids for `keys`; within equal `created` seconds ids descend with the key."""
        keys = list(keys)
        highs = [(rng.getrandbits(88) & _VERSION_CLEAR) | _VERSION_SET for _ in keys]
        created = self._created
        start = 0
        for i in range(1, len(keys) + 1):
            if i == len(keys) or created[keys[i]] != created[keys[start]]:
                if i - start > 1:
                    highs[start:i] = sorted(highs[start:i], reverse=True)
                start = i
        for k, high in zip(keys, highs, strict=True):
            low = ((k * self._mul) & _LOW40) ^ self._mask
            self._ids += ((high << 40) | low).to_bytes(16, "big")

    def _place_hostile(self, rng: random.Random, n: int, recent: int) -> None:
        """Put each hostile kind on one deterministic record, away from the newest ones."""
        pool = range(recent, n) if n - recent >= len(HOSTILE_KINDS) else range(n)
        contacts = iter(range(len(_HOSTILE_CONTACTS)))
        chosen = rng.sample(pool, min(len(pool), len(HOSTILE_KINDS)))
        for key, kind in zip(chosen, HOSTILE_KINDS[: len(chosen)], strict=True):
            self.hostile[key] = kind
            if kind in _CONTENT_KINDS:
                self._status[key] = 1
            elif kind in ("formula_contact", "unicode_contact"):
                self._contact[key] = self.n_contacts + next(contacts)
            elif kind == "formula_agent":
                self._agent[key] = 12

    # -- identities ---------------------------------------------------------------------------

    def id_of(self, key: int) -> str:
        """Return the UUID string of record `key`."""
        h = self._ids[16 * key : 16 * key + 16].hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"  # str(UUID), 5x faster

    def key_of(self, record_id: str) -> int | None:
        """Return the key of a live record with this id, or None."""
        try:
            value = uuid.UUID(record_id).int
        except ValueError:
            return None
        key = (((value & _LOW40) ^ self._mask) * self._unmul) & _LOW40
        with self._lock:
            if key >= len(self._created) or key in self._deleted:
                return None
            return key if self.id_of(key) == str(uuid.UUID(int=value)) else None

    def contact_name(self, code: int) -> str:
        """Return the contact id for a contact code."""
        if code < self.n_contacts:
            return f"cust_{code:06d}"
        return _HOSTILE_CONTACTS[code - self.n_contacts]

    def meta(self, key: int) -> Meta:
        """Return the index facts of record `key`."""
        agent = self._agent[key]
        return Meta(
            id=self.id_of(key),
            created=self._created[key],
            status=STATUSES[self._status[key]],
            agent_id=self.agents[agent],
            contact_id=self.contact_name(self._contact[key]),
            skill=self.skills[agent],
            hostile=self.hostile.get(key),
            completed_at=self._completed_at.get(key),
            livemode=self.livemode,
        )

    def record(self, key: int) -> dict[str, Any]:
        """Return the full analysis object of record `key`."""
        return build(self.seed, key, self.meta(key))

    # -- listing ------------------------------------------------------------------------------

    def count(self) -> int:
        """Return how many records exist now."""
        with self._lock:
            return len(self._extras) + self.n_base - len(self._deleted_base)

    def page(self, offset: int, limit: int, filters: Filters) -> tuple[list[int], int]:
        """Return (keys of the page, total matching) in list order."""
        with self._lock:
            if filters.any():
                keys = self._matching(filters)
                return keys[offset : offset + limit], len(keys)
            extras = self._extras
            page = extras[offset : offset + limit]
            rank = max(0, offset - len(extras))
            pos = self._base_position(rank)
            while len(page) < limit and pos < self.n_base:
                if pos not in self._deleted:
                    page.append(pos)
                pos += 1
            return page, self.count()

    def _base_position(self, rank: int) -> int:
        """Return the base position holding the `rank`-th live base record."""
        dead = self._deleted_base
        pos = rank
        while True:
            nxt = rank + bisect.bisect_right(dead, pos)
            if nxt == pos:
                return pos
            pos = nxt

    def _matching(self, f: Filters) -> list[int]:
        """Return all live keys matching `f`, newest first (cached until the next change)."""
        if f in self._filtered:
            return self._filtered[f]
        status = STATUSES.index(f.status) if f.status is not None else None
        agents = set(range(len(self.agents)))
        if f.agent_id is not None:
            agents &= {i for i, a in enumerate(self.agents) if a == f.agent_id}
        contacts: set[int] | None = None
        if f.contact_id is not None:
            contacts = {c for c in self._contact_codes() if self.contact_name(c) == f.contact_id}
        search_agents: set[int] = set()
        search_contacts: set[int] | None = None
        if f.search is not None:
            term = f.search.lower()
            search_agents = {i for i, a in enumerate(self.agents) if term in a.lower()}
            search_contacts = {
                c for c in self._contact_codes() if term in self.contact_name(c).lower()
            }
        st, ag, co = self._status, self._agent, self._contact
        keys = []
        for k in self._extras + [k for k in range(self.n_base) if k not in self._deleted]:
            if status is not None and st[k] != status:
                continue
            if ag[k] not in agents or (contacts is not None and co[k] not in contacts):
                continue
            if search_contacts is not None and not (
                ag[k] in search_agents or co[k] in search_contacts
            ):
                continue
            keys.append(k)
        if len(self._filtered) > 32:
            self._filtered.clear()
        self._filtered[f] = keys
        return keys

    def _contact_codes(self) -> range:
        return range(self.n_contacts + len(_HOSTILE_CONTACTS))

    def live_keys(self) -> list[int]:
        """Return every live key in list order."""
        with self._lock:
            return self.page(0, self.count(), Filters())[0]

    # -- mutations ----------------------------------------------------------------------------

    def _changed(self) -> None:
        self.version += 1
        self._filtered.clear()

    def insert(self, n: int, now: float, status: str = "processing") -> list[int]:
        """Create `n` records at server time `now`, newest in the list; return their keys."""
        with self._lock:
            rng = self._insert_rng
            newest = max([self._created[k] for k in self._extras[:1]] + list(self._created[:1]))
            # Never older than what exists, or "newest first" would break under clock skew.
            created = max(int(now), newest + 1)
            keys = list(range(len(self._created), len(self._created) + n))
            for _ in keys:
                self._created.append(created)
                self._agent.append(rng.randrange(12))
                self._contact.append(int(self.n_contacts * rng.random() ** 2))
                self._status.append(STATUSES.index(status))
            self._append_ids(rng, keys)
            self._extras.extend(keys)
            self._extras.sort(key=lambda k: (self._created[k], self._ids[16 * k : 16 * k + 16]))
            self._extras.reverse()
            self._changed()
            return keys

    def delete(self, keys: Iterable[int]) -> None:
        """Delete records by key (unknown or already deleted keys are ignored)."""
        with self._lock:
            for k in keys:
                if k in self._deleted or k >= len(self._created):
                    continue
                self._deleted.add(k)
                if k < self.n_base:
                    bisect.insort(self._deleted_base, k)
                else:
                    self._extras.remove(k)
            self._changed()

    def set_status(self, key: int, status: str, now: float) -> None:
        """Change a record's status; finishing it stamps `metadata.completed_at` with `now`."""
        with self._lock:
            if status != "processing" and self._status[key] == 0:
                self._completed_at[key] = int(now)
            self._status[key] = STATUSES.index(status)
            self._changed()

    # -- crawl bookkeeping --------------------------------------------------------------------

    def mark(self) -> None:
        """Remember which records exist now, for `stable_ids` and `ever_ids`."""
        with self._lock:
            self._mark_next = len(self._created)
            self._mark_deleted = frozenset(self._deleted)

    def stable_ids(self) -> set[str]:
        """Return ids that existed at the mark and still exist."""
        with self._lock:
            return {self.id_of(k) for k in range(self._mark_next) if k not in self._deleted}

    def ever_ids(self) -> set[str]:
        """Return ids that existed at any moment since the mark."""
        with self._lock:
            old = (k for k in range(self._mark_next) if k not in self._mark_deleted)
            new = range(self._mark_next, len(self._created))
            return {self.id_of(k) for k in old} | {self.id_of(k) for k in new}

    def created_since(self, start: int) -> int:
        """Return how many live base records were created at or after `start`."""
        return bisect.bisect_right(self._created, -start, hi=self.n_base, key=lambda c: -c)


def _created_times(rng: random.Random, n: int, anchor: int) -> list[int]:
    """Draw `n` creation times in business hours of the weeks before `anchor`, newest first."""
    today = anchor // DAY * DAY
    days = range(WEEKS * 7)
    # 1970-01-01 was a Thursday, hence the +3 to make Monday index 0.
    weights = [_WEEKDAY_WEIGHTS[((today - d * DAY) // DAY + 3) % 7] for d in days]
    day_of = rng.choices(days, weights, k=n)
    hour_of = rng.choices(range(8, 19), _HOUR_WEIGHTS, k=n)
    times = [
        today - d * DAY + h * 3600 + int(rng.random() * 3600)
        for d, h in zip(day_of, hour_of, strict=True)
    ]
    # Calls "later today" have not happened yet: move them a week back, same weekday.
    times = [t - 7 * DAY if t > anchor else t for t in times]
    times.sort(reverse=True)
    return times
