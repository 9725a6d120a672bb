"""In-process bus with Kafka's semantics: partitioned topics keyed by entity, consumer groups
with partition assignment and rebalance callbacks, positions that survive a member only when
committed. A new member of a group starts from the group's committed offsets, exactly like a
restarted Kafka consumer, so "crash before commit" replays in tests and in the demo. Consumers
pause / resume / seek like Kafka's (a rebalance hands out unpaused partitions).

Bounded: a record is dropped from memory once every group that reads its topic has committed past
it (a group that joins later starts at the oldest record still held, like Kafka's
`auto.offset.reset=earliest` after retention); a topic no group reads keeps its newest
`retain_unsubscribed` records per partition (`unread_trimmed` counts the rest). When `max_held`
records are held, `full()` says so and the ingest routes answer 503 + Retry-After until the
stages catch up (backpressure, not loss). Not durable: an acknowledged record lives in memory
until processed (`durability`); only `spooled` topics (the dead letters) are also appended to a
file under `spool_dir` (core/bus/spool.py) and read back from it.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterable

from core.bus.base import Bus, Consumer, Producer, Record, partition_for
from core.bus.spool import Spool


class _Log:
    """One partition: the records from offset `base` on (those before were trimmed)."""
    __slots__ = ("base", "records")

    def __init__(self, base: int = 0) -> None:
        self.base = base
        self.records: list[Record] = []

    def end(self) -> int:
        return self.base + len(self.records)

    def read(self, pos: int, n: int) -> list[Record]:
        i = max(pos, self.base) - self.base
        return self.records[i:i + n]

    def trim(self, upto: int) -> int:
        """Drop the records before offset `upto`; returns how many."""
        n = min(upto, self.end()) - self.base
        if n <= 0:
            return 0
        del self.records[:n]
        self.base += n
        return n


class EmbeddedBus(Bus):
    durability = ("not durable: held in this process's memory until every stage has processed it; "
                  "lost if the process stops first (use the Kafka bus for durable ingest)")
    producer_waits = False             # an append to memory under a short lock (dead letters: a file write outside it)

    def __init__(self, partitions: int = 3, prefix: str = "warden.", *, max_held: int = 200_000,
                 retain_unsubscribed: int = 10_000, spool_dir: Path | None = None,
                 spooled: Iterable[str] = (), counters=None) -> None:
        super().__init__(prefix)
        self.default_partitions = partitions
        self.max_held = max_held
        self.retain_unsubscribed = retain_unsubscribed
        self._lock = threading.Condition()
        self._topics: dict[str, list[_Log]] = {}
        self._groups: dict[str, "_Group"] = {}
        self._held = 0
        #: records dropped from topics no group reads, beyond `retain_unsubscribed` per partition
        #: (also counted as `bus.unread_trimmed` in `counters`, when given)
        self.unread_trimmed = 0
        self._counters = counters
        self._spools = {t: Spool(spool_dir, t) for t in spooled} if spool_dir is not None else {}
        self._spool_order = {t: threading.Lock() for t in self._spools}     # one writer per spooled topic

    # topics -------------------------------------------------------------------------------------
    def create_topics(self, names: Iterable[str], partitions: int | None = None) -> None:
        with self._lock:
            for n in names:
                if n not in self._topics:
                    self._new_topic(n, partitions or self.default_partitions)

    def _new_topic(self, topic: str, partitions: int) -> list[_Log]:
        spool = self._spools.get(topic)
        ends = spool.end_offsets() if spool is not None else {}
        self._topics[topic] = [_Log(ends.get(p, 0)) for p in range(partitions)]
        return self._topics[topic]

    def _parts(self, topic: str) -> list[_Log]:
        parts = self._topics.get(topic)
        return parts if parts is not None else self._new_topic(topic, self.default_partitions)

    def append(self, topic: str, value: bytes, key: bytes | None) -> None:
        spool = self._spools.get(topic)
        if spool is None:
            with self._lock:
                parts = self._parts(topic)
                p = partition_for(key, len(parts))
                self._add(parts, Record(topic, p, parts[p].end(), key, value, int(time.time() * 1000)))
            return
        # a spooled topic (the dead letters): the file write happens without the bus's lock, which
        # every other append, poll and commit needs (an ingest on the event loop waited for it);
        # the topic's own lock keeps one writer at a time, so the record written to the file keeps
        # the offset it is given here, and it is in the file before any consumer can see it
        with self._spool_order[topic]:
            with self._lock:
                parts = self._parts(topic)
                p = partition_for(key, len(parts))
                rec = Record(topic, p, parts[p].end(), key, value, int(time.time() * 1000))
            spool.append(rec)
            with self._lock:
                self._add(parts, rec)

    def _add(self, parts: list[_Log], rec: Record) -> None:
        """Make `rec` (the next offset of its partition) readable (the caller holds the lock)."""
        log = parts[rec.partition]
        log.records.append(rec)
        self._held += 1
        if not self._readers(rec.topic) and len(log.records) > self.retain_unsubscribed:
            n = log.trim(log.end() - self.retain_unsubscribed)
            self._held -= n
            self.unread_trimmed += n
            if self._counters is not None:
                self._counters.inc("bus.unread_trimmed", n)
        self._lock.notify_all()

    # bounds ---------------------------------------------------------------------------------------
    def _readers(self, topic: str) -> list["_Group"]:
        return [g for g in self._groups.values() if topic in g.topics]

    def _trim(self, topics: Iterable[str]) -> None:
        """Drop what every group reading a topic has committed (the caller holds the lock)."""
        for t in topics:
            groups = self._readers(t)
            if not groups:
                continue
            for p, log in enumerate(self._parts(t)):
                self._held -= log.trim(min(g.committed.get((t, p), 0) for g in groups))

    def held(self) -> int:
        """Records held in memory now (every topic, every partition)."""
        with self._lock:
            return self._held

    def full(self) -> bool:
        return self.held() >= self.max_held

    # reading --------------------------------------------------------------------------------------
    def end_offsets(self, topic: str) -> dict[int, int]:
        with self._lock:
            return {i: log.end() for i, log in enumerate(self._parts(topic))}

    def committed(self, group: str, topic: str) -> dict[int, int]:
        with self._lock:
            g = self._groups.get(group)
            if g is None:
                return {}
            return {p: o for (t, p), o in g.committed.items() if t == topic}

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic still held (a spooled topic: every record ever written to its
        file), partition by partition (tests, CLI)."""
        spool = self._spools.get(topic)
        if spool is not None:
            return sorted(spool.read(), key=lambda r: (r.partition, r.offset))
        with self._lock:
            return [r for log in self._parts(topic) for r in log.records]

    def read(self, topic: str, limit: int | None = None) -> list[Record]:
        out = self.records(topic)
        return out if limit is None else out[:limit]

    # clients ------------------------------------------------------------------------------------
    def producer(self) -> Producer:
        return _EmbeddedProducer(self)

    def consumer(self, group: str, topics: list[str]) -> Consumer:
        with self._lock:
            for t in topics:
                self._parts(t)
            g = self._groups.setdefault(group, _Group(group))
            g.topics.update(topics)
            c = _EmbeddedConsumer(self, g, list(topics))
            g.members.append(c)
            g.rebalance(self)
            return c


class _Group:
    def __init__(self, name: str) -> None:
        self.name = name
        self.committed: dict[tuple[str, int], int] = {}
        self.members: list[_EmbeddedConsumer] = []
        #: every topic a member ever subscribed to: its records stay until this group committed them
        self.topics: set[str] = set()

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
            self.position[tp] = self.group.committed.get(tp, 0)   # trimmed below base: read from base
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
            pos = max(self.position[tp], log.base)
            if pos < log.end():
                chunk = log.read(pos, max_records - len(out))
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
            self.bus._trim({t for t, _ in self.position})

    def lag(self) -> int:
        with self.bus._lock:
            return sum(self.bus._topics[t][p].end() - max(pos, self.bus._topics[t][p].base)
                       for (t, p), pos in self.position.items())

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
            log = self.bus._topics[topic][partition]
            self.position[tp] = max(log.base, min(offset, log.end()))

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
