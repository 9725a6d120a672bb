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

from dataclasses import dataclass
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


class DeliveryQueue:
    """One notifier's undelivered notifications, oldest first. An entry is a dict:
    id (notification id), responder, key (idempotency key), group (labels), alerts (alert dicts),
    actions (action dicts, status planned), enqueued_at, first_attempt_at, attempts, next_at,
    last_error, n (enqueue order)."""

    def __init__(self, responder: str, policy: DeliveryPolicy) -> None:
        self.responder = responder
        self.policy = policy
        self.entries: list[dict[str, Any]] = []
        self.dirty: set[str] = set()
        self.removed: set[str] = set()
        self._n = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, nid: str) -> bool:
        return any(e["id"] == nid for e in self.entries)

    def full(self) -> bool:
        return len(self.entries) >= self.policy.max_buffer

    def push(self, entry: dict[str, Any]) -> None:
        self._n = max(self._n, int(entry.get("n", 0))) + 1
        entry["n"] = self._n
        entry.setdefault("attempts", 0)
        entry.setdefault("first_attempt_at", None)
        entry.setdefault("last_error", "")
        self.entries.append(entry)
        self.dirty.add(entry["id"])
        self.removed.discard(entry["id"])

    def head(self) -> dict[str, Any] | None:
        return self.entries[0] if self.entries else None

    def due(self, now: float) -> dict[str, Any] | None:
        h = self.head()
        return h if h is not None and h.get("next_at", 0.0) <= now else None

    def next_at(self) -> float | None:
        h = self.head()
        return None if h is None else float(h.get("next_at", 0.0))

    def attempted(self, entry: dict[str, Any], now: float) -> None:
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        if entry.get("first_attempt_at") is None:
            entry["first_attempt_at"] = now
        self.dirty.add(entry["id"])

    def expired(self, entry: dict[str, Any], now: float) -> bool:
        first = entry.get("first_attempt_at")
        return first is not None and now - first >= self.policy.give_up_after_s

    def retry_later(self, entry: dict[str, Any], now: float, error: str, retry_after: float | None = None) -> float:
        """Schedule the next attempt (after attempted()); returns the delay."""
        delay = self.policy.backoff(int(entry.get("attempts", 1)), retry_after)
        entry["next_at"] = now + delay
        entry["last_error"] = error
        self.dirty.add(entry["id"])
        return delay

    def pop(self, entry: dict[str, Any]) -> None:
        self.entries = [e for e in self.entries if e["id"] != entry["id"]]
        self.dirty.discard(entry["id"])
        self.removed.add(entry["id"])

    # state ------------------------------------------------------------------------------------
    def snapshot_items(self, ns: str) -> list[tuple[str, str, bytes]]:
        by_id = {e["id"]: e for e in self.entries}
        items = [(ns, f"{self.responder}|{nid}", orjson.dumps(by_id[nid])) for nid in self.dirty if nid in by_id]
        items += [(ns, f"{self.responder}|{nid}", b"") for nid in self.removed]
        self.dirty.clear()
        self.removed.clear()
        return items


def restore_entries(state, ns: str) -> dict[str, list[dict[str, Any]]]:
    """Persisted entries per responder name, in enqueue order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for k in state.keys(ns):
        blob = state.get(ns, k)
        if not blob:
            continue
        e = orjson.loads(blob)
        out.setdefault(e.get("responder") or k.split("|", 1)[0], []).append(e)
    for entries in out.values():
        entries.sort(key=lambda e: (e.get("enqueued_at", 0.0), e.get("n", 0)))
    return out
