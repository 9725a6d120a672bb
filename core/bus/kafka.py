"""Kafka bus: keyed idempotent producers, consumer groups with manual commits after the
checkpoint, rebalance callbacks, pause / resume / seek, topic creation on start.

The producer and consumer run on librdkafka (confluent-kafka) by default: it fetches, parses and
batches records in C on its own threads, at about a third of kafka-python's CPU per record
(measured: the pipeline's largest cost). kafka-python 3.x stays the admin client (topics, end and
committed offsets) and is selectable per role (`bus.producer_client` / `bus.consumer_client:
kafka-python`). The clients: core.bus.rdkafka and core.bus.kafka_python. Connection settings
(SASL/TLS): core.bus.kafka_settings, from the config's `bus.kafka` mapping (kafka-python's option
names, translated for librdkafka by core.bus.options) or WARDEN_KAFKA_* env.
"""
from __future__ import annotations

import time
from typing import Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from core.bus.base import Bus, Consumer, Producer, Record
from core.errors import WardenError
from core.bus.kafka_python import KafkaPythonConsumer, KafkaPythonProducer
from core.bus.kafka_settings import KafkaSettings
from core.bus.rdkafka import ConfluentConsumer, ConfluentProducer


class BusUnreachable(WardenError):
    """The Kafka brokers of the config could not be reached (the message names the address)."""


class KafkaBus(Bus):
    durability = ("durable: written to the Kafka brokers and acknowledged by every in-sync replica "
                  "(acks=all) before the answer")

    def __init__(self, cfg) -> None:
        super().__init__(cfg.topic_prefix)
        self.cfg = cfg
        self.settings = KafkaSettings(cfg)
        self.ignored_options = self.settings.ignored_options
        self._admin: KafkaAdminClient | None = None     # kept for committed(): see there

    def _connect(self, client_cls, **options):
        """A kafka-python client (admin, or a consumer outside any group); brokers that cannot be
        reached are a BusUnreachable naming the bootstrap address, not kafka-python's traceback."""
        try:
            return client_cls(**{**self.settings.kafka_python(client_cls), **options})
        except KafkaError as e:       # NoBrokersAvailable, KafkaTimeoutError "Unable to bootstrap"
            raise BusUnreachable(f"cannot reach Kafka at {self.settings.bootstrap} (bus.bootstrap / "
                                 f"WARDEN_KAFKA_BOOTSTRAP): {type(e).__name__}: {e}") from None

    def rdkafka_conf(self, role: str) -> dict:
        """librdkafka properties for one role (core.bus.kafka_settings)."""
        return self.settings.rdkafka_conf(role)

    def create_topics(self, names: Iterable[str], partitions: int | None = None) -> None:
        admin = self._connect(KafkaAdminClient)
        try:
            existing = set(admin.list_topics())
            wanted = {n: {"num_partitions": partitions or self.cfg.partitions,
                          "replication_factor": self.cfg.replication_factor}
                      for n in names if n not in existing}
            if wanted:
                admin.create_topics(wanted, raise_errors=False, wait_for_metadata=True)
        finally:
            admin.close()

    def delete_topics(self, prefix: str) -> int:
        """Delete every topic whose name starts with `prefix` (benchmarks and tests clean up after
        themselves); returns how many were asked to go."""
        if not prefix:
            raise ValueError("delete_topics needs a non-empty prefix")
        admin = self._connect(KafkaAdminClient)
        try:
            names = [t for t in admin.list_topics() if t.startswith(prefix)]
            if names:
                admin.delete_topics(names)
            return len(names)
        finally:
            admin.close()

    def producer(self) -> Producer:
        if self.settings.client("producer") == "confluent":
            return ConfluentProducer(self.settings)
        return KafkaPythonProducer(KafkaProducer(
            acks="all", linger_ms=self.cfg.linger_ms, batch_size=self.cfg.batch_size,
            compression_type=self.cfg.compression, **self.settings.kafka_python(KafkaProducer)))

    def consumer(self, group: str, topics: list[str]) -> Consumer:
        if self.settings.client("consumer") == "confluent":
            return ConfluentConsumer(self.settings, group, topics)
        return KafkaPythonConsumer(self.settings, group, topics)

    def end_offsets(self, topic: str) -> dict[int, int]:
        # no group: auto-commit off explicitly (else kafka-python warns "group_id is None" each time)
        c = self._connect(KafkaConsumer, enable_auto_commit=False)
        try:
            # a fresh client knows no topic yet: wait for metadata, or an empty answer would read
            # as "nothing to consume" (and "everything committed")
            deadline = time.monotonic() + 15
            parts = c.partitions_for_topic(topic)
            while not parts and time.monotonic() < deadline:
                time.sleep(0.1)
                parts = c.partitions_for_topic(topic)
            tps = [TopicPartition(topic, p) for p in (parts or ())]
            return {tp.partition: o for tp, o in c.end_offsets(tps).items()} if tps else {}
        finally:
            c.close()

    def read(self, topic: str, limit: int | None = None, timeout_s: float = 30.0) -> list[Record]:
        ends = {p: o for p, o in self.end_offsets(topic).items() if o > 0}
        if not ends:
            return []
        c = self._connect(KafkaConsumer, group_id=None, enable_auto_commit=False)
        try:
            tps = [TopicPartition(topic, p) for p in sorted(ends)]
            c.assign(tps)
            c.seek_to_beginning(*tps)
            got: dict[int, list[Record]] = {p: [] for p in ends}
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and any(c.position(tp) < ends[tp.partition] for tp in tps):
                for tp, msgs in c.poll(timeout_ms=200).items():
                    got[tp.partition] += [Record(topic, m.partition, m.offset, m.key, m.value, m.timestamp)
                                          for m in msgs if m.offset < ends[tp.partition]]
                if limit is not None and sum(map(len, got.values())) >= limit:
                    break
        finally:
            c.close()
        out = [r for p in sorted(got) for r in got[p]]
        return out if limit is None else out[:limit]

    def committed(self, group: str, topic: str) -> dict[int, int]:
        # one admin client for repeated calls (lag and progress checks poll this): connecting a
        # new one each time costs more CPU than the query
        admin = self._admin
        if admin is None:
            admin = self._admin = self._connect(KafkaAdminClient)
        try:
            res = admin.list_group_offsets({group: None}).get(group, {})
        except Exception:
            self._admin = None
            try:
                admin.close()
            finally:
                raise
        return {tp.partition: om.offset for tp, om in res.items() if tp.topic == topic}

    def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
