"""The notifiers' delivery buffers (agent.stages.act.delivery), one per notifier, as the act stage
holds them: how full they are (backpressure), when the next retry is due, the room due groups may
take (`accept`), and their state — written with the checkpoint, read back on start. A buffered
notification whose notifier is no longer configured is dead-lettered (`act.notify_dropped`).
"""
from __future__ import annotations

from typing import Any, Callable

from core.errors import ConfigError
from core.observability import metrics as _metrics
from agent.stages.act.delivery import DeliveryPolicy, DeliveryQueue, restore_entries
from agent.stages.act.responders import ResponderSet
from agent.stages.act.route import Route

NS = "act:delivery"


class DeliveryBuffers:
    def __init__(self, runtime: Any, responders: ResponderSet) -> None:
        self.rt = runtime
        self.responders = responders
        self.queues: dict[str, DeliveryQueue] = {}
        self._dropped: list[str] = []
        #: an entry was added, attempted or removed since the last checkpoint was asked for
        self.changed = False

    def queue(self, r) -> DeliveryQueue:
        q = self.queues.get(r.name)
        if q is None:
            q = self.queues[r.name] = DeliveryQueue(r.name, DeliveryPolicy.of(r))
        return q

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def full(self) -> bool:
        return any(q.full() for q in self.queues.values())

    def describe_full(self) -> str:
        return ", ".join(f"{n}={len(q)}" for n, q in sorted(self.queues.items()) if q.full())

    def retry_wait(self, timeout: float, now: float) -> float:
        """Seconds (at most `timeout`) until the earliest head of a buffer is due again."""
        nxt = [q.next_at() for q in self.queues.values() if len(q)]
        if not nxt:
            return 0.0
        return max(0.0, min(timeout, min(nxt) - now))

    def unsaved(self) -> bool:
        return self.changed or any(q.dirty or q.removed for q in self.queues.values())

    def accept(self) -> Callable[[str, Route], bool]:
        """For NotificationGroups.due: take a real notification only while its notifier's buffer has room."""
        room: dict[str, int] = {}

        def accept(name: str, route: Route) -> bool:
            if Route.of(route).is_dry_run:
                return True
            try:
                q = self.queue(self.responders.get(name))
            except ConfigError:
                return True      # the notify step dead-letters it
            left = room.get(name, q.policy.max_buffer - len(q))
            if left <= 0:
                self.rt.counters.inc("act.notify_deferred")
                return False
            room[name] = left - 1
            return True
        return accept

    def gauges(self) -> None:
        for name, q in self.queues.items():
            _metrics.GAUGES.set("warden_notify_buffer", float(len(q)),
                                "Undelivered notifications waiting for a retry, per notifier", responder=name)

    # state ----------------------------------------------------------------------------------------
    def restore(self, state) -> None:
        for name, entries in restore_entries(state, NS).items():
            try:
                q = self.queue(self.responders.get(name, where="delivery buffer"))
            except ConfigError as e:
                for ent in entries:
                    self.rt.dead_letter("act", {"notification": ent.id, "group": ent.group}, str(e), name)
                    self._dropped.append(f"{name}|{ent.id}")
                self.rt.counters.inc("act.notify_dropped", len(entries))
                continue
            for ent in entries:
                if ent.id not in q:
                    q.push(ent)
        self.gauges()

    def snapshot_items(self) -> list[tuple[str, str, bytes]]:
        items = [item for q in self.queues.values() for item in q.snapshot_items(NS)]
        items += [(NS, k, b"") for k in self._dropped]
        self._dropped.clear()
        return items
