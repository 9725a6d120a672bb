"""In-process bus with Kafka's semantics: partitioned topics keyed by entity, consumer groups
with partition assignment and rebalance callbacks, positions that survive a member only when
committed. A new member of a group starts from the group's committed offsets, exactly like a
restarted Kafka consumer, so "crash before commit" replays in tests and in the demo. Consumers
pause / resume / seek like Kafka's (a rebalance hands out unpaused partitions).
"""
from __future__ import annotations

import threading
import time
from typing import Iterable

from agent.bus.base import Bus, Consumer, Producer, Record, partition_for


class EmbeddedBus(Bus):
    durability = ("not durable: held in this process's memory until every stage has processed it; "
                  "lost if the process stops first (use the Kafka bus for durable ingest)")
    def __init__(self, partitions: int = 3, prefix: str = "warden.") -> None:
        super().__init__(prefix)
        self.default_partitions = partitions
        self._lock = threading.Condition()
        self._topics: dict[str, list[list[Record]]] = {}
        self._groups: dict[str, "_Group"] = {}

    # topics -------------------------------------------------------------------------------------
    def create_topics(self, names: Iterable[str], partitions: int | None = None) -> None:
        with self._lock:
            for n in names:
                self._topics.setdefault(n, [[] for _ in range(partitions or self.default_partitions)])

    def _parts(self, topic: str) -> list[list[Record]]:
        if topic not in self._topics:
            self._topics[topic] = [[] for _ in range(self.default_partitions)]
        return self._topics[topic]

    def append(self, topic: str, value: bytes, key: bytes | None) -> None:
        with self._lock:
            parts = self._parts(topic)
            p = partition_for(key, len(parts))
            log = parts[p]
            log.append(Record(topic, p, len(log), key, value, int(time.time() * 1000)))
            self._lock.notify_all()

    def end_offsets(self, topic: str) -> dict[int, int]:
        with self._lock:
            return {i: len(log) for i, log in enumerate(self._parts(topic))}

    def committed(self, group: str, topic: str) -> dict[int, int]:
        with self._lock:
            g = self._groups.get(group)
            if g is None:
                return {}
            return {p: o for (t, p), o in g.committed.items() if t == topic}

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (tests, CLI)."""
        with self._lock:
            return [r for log in self._parts(topic) for r in log]

    # clients ------------------------------------------------------------------------------------
    def producer(self) -> Producer:
        return _EmbeddedProducer(self)

    def consumer(self, group: str, topics: list[str]) -> Consumer:
        with self._lock:
            for t in topics:
                self._parts(t)
            g = self._groups.setdefault(group, _Group(group))
            c = _EmbeddedConsumer(self, g, list(topics))
            g.members.append(c)
            g.rebalance(self)
            return c


class _Group:
    def __init__(self, name: str) -> None:
        self.name = name
        self.committed: dict[tuple[str, int], int] = {}
        self.members: list[_EmbeddedConsumer] = []

    def rebalance(self, bus: EmbeddedBus) -> None:
        topics = sorted({t for m in self.members for t in m.topics})
        tps = [(t, p) for t in topics for p in range(len(bus._parts(t)))]
        new: dict[_EmbeddedConsumer, list[tuple[str, int]]] = {m: [] for m in self.members}
        live = [m for m in self.members]
        for i, tp in enumerate(tps):
            subs = [m for m in live if tp[0] in m.topics]
            if subs:
                new[subs[i % len(subs)]].append(tp)
        for m in self.members:
            m._reassign(new[m])


class _EmbeddedProducer(Producer):
    def __init__(self, bus: EmbeddedBus) -> None:
        self.bus = bus

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.bus.append(topic, value, key)

    def flush(self, timeout: float | None = None) -> None:
        return None


class _EmbeddedConsumer(Consumer):
    def __init__(self, bus: EmbeddedBus, group: _Group, topics: list[str]) -> None:
        self.bus, self.group, self.topics = bus, group, topics
        self.assignment: list[tuple[str, int]] = []
        self.position: dict[tuple[str, int], int] = {}
        self.paused: set[tuple[str, int]] = set()
        self._closed = False
        self._rr = 0

    def _reassign(self, tps: list[tuple[str, int]]) -> None:
        old = set(self.assignment)
        revoked = [tp for tp in self.assignment if tp not in set(tps)]
        added = [tp for tp in tps if tp not in old]
        if revoked and self.on_revoke:
            self.on_revoke(revoked)
        for tp in revoked:
            self.position.pop(tp, None)
            self.paused.discard(tp)           # as Kafka: a partition assigned again is not paused
        self.assignment = list(tps)
        for tp in added:
            self.position[tp] = self.group.committed.get(tp, 0)
        if added and self.on_assign:
            self.on_assign(added)

    def poll(self, max_records: int = 500, timeout: float = 0.1) -> list[Record]:
        deadline = time.monotonic() + timeout
        with self.bus._lock:
            while True:
                out = self._take(max_records)
                if out or self._closed:
                    return out
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self.bus._lock.wait(remaining)

    def _take(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        n = len(self.assignment)
        for i in range(n):
            tp = self.assignment[(self._rr + i) % n]
            if tp in self.paused:
                continue
            log = self.bus._topics[tp[0]][tp[1]]
            pos = self.position[tp]
            if pos < len(log):
                chunk = log[pos:pos + (max_records - len(out))]
                out.extend(chunk)
                self.position[tp] = pos + len(chunk)
                if len(out) >= max_records:
                    break
        self._rr += 1
        return out

    def commit(self) -> None:
        with self.bus._lock:
            for tp, pos in self.position.items():
                self.group.committed[tp] = pos

    def lag(self) -> int:
        with self.bus._lock:
            return sum(len(self.bus._topics[t][p]) - pos for (t, p), pos in self.position.items())

    def pause(self) -> bool:
        with self.bus._lock:
            self.paused.update(self.assignment)
            return bool(self.assignment)

    def resume(self) -> None:
        with self.bus._lock:
            self.paused.clear()
            self.bus._lock.notify_all()

    def seek(self, topic: str, partition: int, offset: int) -> None:
        with self.bus._lock:
            tp = (topic, partition)
            if tp not in self.position:
                raise KeyError(f"seek: {topic}[{partition}] is not assigned to this member")
            self.position[tp] = max(0, min(offset, len(self.bus._topics[topic][partition])))

    def close(self) -> None:
        with self.bus._lock:
            if self._closed:
                return
            self._closed = True
            if self in self.group.members:
                self.group.members.remove(self)
                self._reassign([])
                self.group.rebalance(self.bus)
            self.bus._lock.notify_all()
