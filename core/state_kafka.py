"""Checkpoint state on a compacted Kafka topic `<prefix>state`, shared by every replica on any host.

Same interface as core.state.StateStore (get / put_many / put / keys / namespaces / close).

- Record key `scope|ns|key` (scope = the pipeline's consumer-group prefix, so two pipelines on the
  same topics never share detector state), value the blob (an empty blob is a tombstone).
- Partition: the one the entity's input records land on (`partition_for(key)`, Kafka's murmur2),
  so a replica that owns input partition p finds the state of p's entities in state partition p.
- Reads come from an in-memory view built by reading the topic. The view of a partition is brought
  up to the topic's end offset before it is read whenever the partition is *stale*: at start, and
  after `invalidate()` — the detect and decide stages call it when partitions are assigned (a flag
  only: it runs on kafka-python's IO thread), so a replica that gets a partition back reads the
  snapshots another replica wrote meanwhile instead of stale memory. `keys()` always catches up.
- Writes: produced with acks=all and flushed in `put_many` (the checkpoint's state step), before the
  stage commits its offsets: a new owner of the partition that reads to the end sees them.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from core.bus.base import partition_for

log = logging.getLogger("warden.state.kafka")
SEP = "|"


class KafkaStateStore:
    def __init__(self, bus_cfg, *, topic: str | None = None, client_options: dict | None = None,
                 scope: str = "") -> None:
        from core.bus.kafka_settings import DEFAULTS
        from core.bus.kafka_settings import client_options as _opts
        self.cfg = bus_cfg
        self.topic = topic or bus_cfg.topic_prefix + "state"
        self.scope = scope.replace(SEP, "_")
        self._kp = f"{self.scope}{SEP}"
        self.partitions = bus_cfg.partitions
        self._common = {"bootstrap_servers": bus_cfg.bootstrap, **DEFAULTS, **(client_options if client_options is not None
                                                                    else _opts(bus_cfg))}
        self._lock = threading.RLock()
        self._data: dict[str, dict[str, bytes]] = {}
        self._pos: dict[int, int] = {p: 0 for p in range(self.partitions)}
        self._stale: set[int] = set(range(self.partitions))   # mutated without the lock (GIL-atomic)
        self._ensure_topic()
        self._producer = KafkaProducer(acks="all", linger_ms=5, **self._opts(KafkaProducer))
        self._consumer = KafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", group_id=None,
                                       max_poll_records=5000, **self._opts(KafkaConsumer))
        self.reads = 0

    def _opts(self, client) -> dict:
        return {k: v for k, v in self._common.items() if k in client.DEFAULT_CONFIG}

    def _ensure_topic(self) -> None:
        admin = KafkaAdminClient(**self._opts(KafkaAdminClient))
        try:
            if self.topic not in set(admin.list_topics()):
                admin.create_topics([NewTopic(self.topic, self.partitions, self.cfg.replication_factor,
                                              topic_configs={"cleanup.policy": "compact",
                                                             "min.cleanable.dirty.ratio": "0.1",
                                                             "segment.ms": "600000"})],
                                    raise_errors=False, wait_for_metadata=True)
        finally:
            admin.close()

    # partitions -------------------------------------------------------------------------------
    def partition_of(self, ns: str, key: str) -> int:
        """Entity-keyed namespaces follow the entity's input partition; others hash `ns|key`."""
        if ns.startswith("detector:") or ns.startswith("detect:"):
            return partition_for(key.encode(), self.partitions)
        return partition_for(f"{ns}{SEP}{key}".encode(), self.partitions)

    def invalidate(self, partitions: Iterable[int] | None = None) -> None:
        """Mark partitions stale (all by default): the next read of them catches up first.
        Never blocks (safe inside a rebalance listener)."""
        self._stale.update(range(self.partitions) if partitions is None else partitions)

    def _catch_up(self, parts: set[int], timeout: float = 30.0) -> None:
        if not parts:
            return
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        c = self._consumer
        c.assign(tps)
        ends = c.end_offsets(tps)
        todo = {tp: end for tp, end in ends.items() if end > self._pos.get(tp.partition, 0)}
        for tp in tps:
            c.seek(tp, self._pos.get(tp.partition, 0))
        deadline = time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"state topic {self.topic}: cannot read partitions {sorted(parts)} to the end")
            for tp, recs in c.poll(timeout_ms=200, max_records=5000).items():
                for r in recs:
                    self._apply(r.key, r.value)
                    self._pos[tp.partition] = r.offset + 1
                    self.reads += 1
            for tp in list(todo):
                # compaction leaves gaps: the position, not the last offset seen, says we are done
                pos = c.position(tp)
                if pos is not None:
                    self._pos[tp.partition] = max(self._pos[tp.partition], pos)
                if self._pos[tp.partition] >= todo[tp]:
                    del todo[tp]
        self._stale.difference_update(parts)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        scope, _, rest = key.decode("utf-8", "replace").partition(SEP)
        if scope != self.scope:
            return                      # another pipeline's state on the same topic
        ns, _, k = rest.partition(SEP)
        if value is None or value == b"":
            d = self._data.get(ns)
            if d is not None:
                d.pop(k, None)
        else:
            self._data.setdefault(ns, {})[k] = value

    # the StateStore interface ---------------------------------------------------------------
    def get(self, ns: str, key: str) -> bytes | None:
        p = self.partition_of(ns, key)
        with self._lock:
            if p in self._stale:
                self._catch_up({p})
            return self._data.get(ns, {}).get(key)

    def put_many(self, items: Iterable[tuple[str, str, bytes]]) -> None:
        items = list(items)
        if not items:
            return
        with self._lock:
            for ns, key, blob in items:
                p = self.partition_of(ns, key)
                k = f"{self._kp}{ns}{SEP}{key}".encode()
                self._producer.send(self.topic, key=k, value=blob or None, partition=p)
                self._apply(k, blob)
            self._producer.flush()

    def put(self, ns: str, key: str, blob: bytes) -> None:
        self.put_many([(ns, key, blob)])

    def keys(self, ns: str) -> list[str]:
        with self._lock:
            self._catch_up(set(range(self.partitions)))
            return sorted(self._data.get(ns, {}))

    def namespaces(self) -> list[str]:
        with self._lock:
            self._catch_up(set(range(self.partitions)))
            return sorted(ns for ns, d in self._data.items() if d)

    def close(self) -> None:
        with self._lock:
            try:
                self._producer.flush()
                self._producer.close()
            finally:
                self._consumer.close()


def create_state_store(cfg):
    """The state store the config asks for (`pipeline.state`)."""
    from pathlib import Path

    from core.state import StateStore
    if cfg.pipeline.state == "kafka":
        if cfg.bus.type != "kafka":
            raise ValueError("pipeline.state: kafka needs bus.type: kafka")
        return KafkaStateStore(cfg.bus, scope=cfg.pipeline.group_prefix)
    return StateStore(Path(cfg.data_dir) / "state.db")
