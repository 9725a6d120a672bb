"""Notification delivery buffers, one per notifier: undelivered notifications wait here for retry.

A notification the act stage could not deliver (receiver down, 5xx, 429, timeout) is kept in its
notifier's FIFO and retried with exponential backoff (`retry_initial_s` doubling up to
`retry_max_s`; a longer `Retry-After` from the receiver wins). Only the head of a notifier's queue
is attempted — a receiver that is down is down for all of them — which also keeps one alert's
firing and resolved messages in order. A notification still undelivered `give_up_after_s` after
its first attempt, or refused with a non-retryable answer (4xx), is given up (counted, recorded as
a failed action); nothing else leaves the buffer undelivered.

The buffer is bounded (`max_buffer` per notifier). It is written with the act stage's state
snapshot, before the offsets are committed, so a committed alert's pending notification survives a
crash; and when a buffer is full the act stage stops consuming alerts (backpressure) and leaves due
notification groups pending instead of dropping anything.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class DeliveryPolicy:
    max_buffer: int = 1000
    retry_initial_s: float = 1.0
    retry_max_s: float = 300.0
    give_up_after_s: float = 86400.0

    @classmethod
    def of(cls, responder) -> "DeliveryPolicy":
        """The notifier's own settings (its Config mixes in responders.delivery.DeliveryConfigMixin),
        defaults for notifiers without them."""
        cfg = getattr(responder, "config", None)
        kw = {f: getattr(cfg, f) for f in ("max_buffer", "retry_initial_s", "retry_max_s", "give_up_after_s")
              if cfg is not None and hasattr(cfg, f)}
        return cls(**kw)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt after `attempts` failed ones."""
        delay = min(self.retry_max_s, self.retry_initial_s * (2 ** max(0, attempts - 1)))
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return delay


@dataclass
class DeliveryEntry:
    """One undelivered notification. Persisted as a JSON object of these fields; readable by key
    too (`entry["attempts"]`), like the mapping it is stored as."""
    id: str                                   # the notification's id
    responder: str
    key: str = ""                             # idempotency key the receiver sees on every attempt
    group: dict[str, str] = field(default_factory=dict)           # the group's labels
    alerts: list[dict[str, Any]] = field(default_factory=list)    # alert dicts
    actions: list[dict[str, Any]] = field(default_factory=list)   # action dicts, status planned
    enqueued_at: float = 0.0
    next_at: float = 0.0
    n: int = 0                                # enqueue order
    attempts: int = 0
    first_attempt_at: float | None = None
    last_error: str = ""

    @classmethod
    def of(cls, entry: "DeliveryEntry | Mapping[str, Any]") -> "DeliveryEntry":
        if isinstance(entry, DeliveryEntry):
            return entry
        return cls(**{k: entry[k] for k in _ENTRY_FIELDS if entry.get(k) is not None})

    def to_json(self) -> bytes:
        return orjson.dumps({k: getattr(self, k) for k in _ENTRY_ORDER})

    def __getitem__(self, key: str) -> Any:
        if key not in _ENTRY_FIELDS:
            raise KeyError(key)
        return getattr(self, key)


_ENTRY_ORDER = tuple(f.name for f in dataclasses.fields(DeliveryEntry))
_ENTRY_FIELDS = frozenset(_ENTRY_ORDER)


class DeliveryQueue:
    """One notifier's undelivered notifications (`DeliveryEntry`), oldest first."""

    def __init__(self, responder: str, policy: DeliveryPolicy) -> None:
        self.responder = responder
        self.policy = policy
        self.entries: list[DeliveryEntry] = []
        self.dirty: set[str] = set()
        self.removed: set[str] = set()
        self._n = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, nid: str) -> bool:
        return any(e.id == nid for e in self.entries)

    def full(self) -> bool:
        return len(self.entries) >= self.policy.max_buffer

    def push(self, entry: DeliveryEntry | Mapping[str, Any]) -> DeliveryEntry:
        entry = DeliveryEntry.of(entry)
        self._n = max(self._n, int(entry.n)) + 1
        entry.n = self._n
        self.entries.append(entry)
        self.dirty.add(entry.id)
        self.removed.discard(entry.id)
        return entry

    def head(self) -> DeliveryEntry | None:
        return self.entries[0] if self.entries else None

    def due(self, now: float) -> DeliveryEntry | None:
        h = self.head()
        return h if h is not None and h.next_at <= now else None

    def next_at(self) -> float | None:
        h = self.head()
        return None if h is None else float(h.next_at)

    def attempted(self, entry: DeliveryEntry, now: float) -> None:
        entry.attempts = int(entry.attempts) + 1
        if entry.first_attempt_at is None:
            entry.first_attempt_at = now
        self.dirty.add(entry.id)

    def expired(self, entry: DeliveryEntry, now: float) -> bool:
        first = entry.first_attempt_at
        return first is not None and now - first >= self.policy.give_up_after_s

    def retry_later(self, entry: DeliveryEntry, now: float, error: str, retry_after: float | None = None) -> float:
        """Schedule the next attempt (after attempted()); returns the delay."""
        delay = self.policy.backoff(int(entry.attempts), retry_after)
        entry.next_at = now + delay
        entry.last_error = error
        self.dirty.add(entry.id)
        return delay

    def pop(self, entry: DeliveryEntry) -> None:
        self.entries = [e for e in self.entries if e.id != entry.id]
        self.dirty.discard(entry.id)
        self.removed.add(entry.id)

    # state ------------------------------------------------------------------------------------
    def snapshot_items(self, ns: str) -> list[tuple[str, str, bytes]]:
        by_id = {e.id: e for e in self.entries}
        items = [(ns, f"{self.responder}|{nid}", by_id[nid].to_json()) for nid in self.dirty if nid in by_id]
        items += [(ns, f"{self.responder}|{nid}", b"") for nid in self.removed]
        self.dirty.clear()
        self.removed.clear()
        return items


def restore_entries(state, ns: str) -> dict[str, list[DeliveryEntry]]:
    """Persisted entries per responder name, in enqueue order."""
    out: dict[str, list[DeliveryEntry]] = {}
    for k in state.keys(ns):
        blob = state.get(ns, k)
        if not blob:
            continue
        d = orjson.loads(blob)
        if not d.get("responder"):
            d["responder"] = k.split("|", 1)[0]
        e = DeliveryEntry.of(d)
        out.setdefault(e.responder, []).append(e)
    for entries in out.values():
        entries.sort(key=lambda e: (e.enqueued_at, e.n))
    return out
