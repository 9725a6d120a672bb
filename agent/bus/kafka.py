"""Kafka bus on kafka-python 3.x: keyed producer (idempotent by default in 3.x), consumer groups
with manual commits after the checkpoint, rebalance callbacks, topic creation on start.
Connection settings (SASL/TLS) come from the config's `bus.kafka` mapping or WARDEN_KAFKA_* env.
"""
from __future__ import annotations

import logging
import time
from typing import Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from agent.bus.base import Bus, Consumer, Producer, Record, partition_for

log = logging.getLogger("warden.bus.kafka")

#: environment → kafka-python option (credentials stay out of the config file in containers)
ENV_OPTIONS = {
    "WARDEN_KAFKA_SECURITY_PROTOCOL": "security_protocol",   # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    "WARDEN_KAFKA_SASL_MECHANISM": "sasl_mechanism",         # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER
    "WARDEN_KAFKA_SASL_USERNAME": "sasl_plain_username",
    "WARDEN_KAFKA_SASL_PASSWORD": "sasl_plain_password",
    "WARDEN_KAFKA_SSL_CAFILE": "ssl_cafile",
    "WARDEN_KAFKA_SSL_CERTFILE": "ssl_certfile",
    "WARDEN_KAFKA_SSL_KEYFILE": "ssl_keyfile",
    "WARDEN_KAFKA_SSL_PASSWORD": "ssl_password",
}
#: warden's defaults (overridable in `bus.kafka`): reconnect within seconds after a broker restart
#: (kafka-python's default backoff grows to 30 s), and a dead replica's partitions move in ~15 s
DEFAULTS = {"reconnect_backoff_max_ms": 2000, "session_timeout_ms": 15000, "heartbeat_interval_ms": 3000}
SECRET_OPTIONS = ("sasl_plain_password", "ssl_password", "sasl_oauth_token_provider")


def client_options(cfg, environ=None) -> dict:
    """kafka-python connection options: the config's `bus.kafka` mapping, then WARDEN_KAFKA_* env."""
    import os
    env = os.environ if environ is None else environ
    opts = dict(getattr(cfg, "kafka", None) or {})
    for var, opt in ENV_OPTIONS.items():
        if env.get(var):
            opts[opt] = env[var]
    return opts


def redacted(opts: dict) -> dict:
    return {k: ("***" if k in SECRET_OPTIONS or "password" in k else v) for k, v in opts.items()}


class KafkaBus(Bus):
    def __init__(self, cfg) -> None:
        super().__init__(cfg.topic_prefix)
        self.cfg = cfg
        self.bootstrap = cfg.bootstrap
        self.client_options = client_options(cfg)

    def _common(self, client=None) -> dict:
        """Connection options for one client class: options it does not know are left out, so
        `bus.kafka` can hold consumer-only settings (session_timeout_ms, ...) next to SASL/TLS."""
        opts = {"bootstrap_servers": self.bootstrap, **DEFAULTS, **self.client_options}
        if client is not None:
            known = getattr(client, "DEFAULT_CONFIG", None)
            if known:
                opts = {k: v for k, v in opts.items() if k in known}
        return opts

    def create_topics(self, names: Iterable[str], partitions: int | None = None) -> None:
        admin = KafkaAdminClient(**self._common(KafkaAdminClient))
        try:
            existing = set(admin.list_topics())
            wanted = {n: {"num_partitions": partitions or self.cfg.partitions,
                          "replication_factor": self.cfg.replication_factor}
                      for n in names if n not in existing}
            if wanted:
                admin.create_topics(wanted, raise_errors=False, wait_for_metadata=True)
        finally:
            admin.close()

    def producer(self) -> Producer:
        if getattr(self.cfg, "producer_client", "kafka-python") == "confluent":
            return _ConfluentProducer(self)
        return _KafkaProducer(KafkaProducer(
            acks="all", linger_ms=self.cfg.linger_ms, batch_size=self.cfg.batch_size,
            compression_type=self.cfg.compression, **self._common(KafkaProducer)))

    def consumer(self, group: str, topics: list[str]) -> Consumer:
        if getattr(self.cfg, "consumer_client", "kafka-python") == "confluent":
            return _ConfluentConsumer(self, group, topics)
        return _KafkaConsumer(self, group, topics)

    def end_offsets(self, topic: str) -> dict[int, int]:
        c = KafkaConsumer(**self._common(KafkaConsumer))
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

    def committed(self, group: str, topic: str) -> dict[int, int]:
        # one admin client for repeated calls (lag and progress checks poll this): connecting a
        # new one each time costs more CPU than the query
        admin = getattr(self, "_admin", None)
        if admin is None:
            admin = self._admin = KafkaAdminClient(**self._common(KafkaAdminClient))
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
        admin, self._admin = getattr(self, "_admin", None), None
        if admin is not None:
            admin.close()


class _KafkaProducer(Producer):
    """Sends are asynchronous; a record that finally fails (after the client's own retries, up to
    delivery_timeout_ms) is remembered and the next flush() raises, so the stage does not commit
    the input offsets behind it (replay, not loss).

    Keyed records: the partition is computed here (Kafka's murmur2, agent.bus.base.partition_for)
    and cached per key — keys are entities and repeat — instead of by kafka-python's partitioner
    on every record (a fifth of a send's cost)."""

    MAX_CACHED_KEYS = 200_000

    def __init__(self, p: KafkaProducer) -> None:
        self.p = p
        self._failed: list[BaseException] = []
        self._parts: dict[str, tuple[dict[bytes, int], int]] = {}

    def _errback(self, exc: BaseException) -> None:
        self._failed.append(exc)

    def _partition(self, topic: str, key: bytes) -> int | None:
        cached = self._parts.get(topic)
        if cached is None:
            parts = self.p.partitions_for(topic)      # waits for the topic's metadata once
            if not parts:
                return None
            cached = self._parts[topic] = ({}, len(parts))
        keys, n = cached
        p = keys.get(key)
        if p is None:
            if len(keys) >= self.MAX_CACHED_KEYS:
                keys.clear()
            p = keys[key] = partition_for(key, n)
        return p

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        part = self._partition(topic, key) if key is not None else None
        self.p.send(topic, value=value, key=key, partition=part).add_errback(self._errback)

    def flush(self, timeout: float | None = None) -> None:
        self.p.flush(timeout=timeout)
        if self._failed:
            n, first = len(self._failed), self._failed[0]
            self._failed = []
            raise ConnectionError(f"kafka: {n} record(s) not delivered: {type(first).__name__}: {first}")

    def close(self) -> None:
        self.p.flush()
        self.p.close()


#: kafka-python option → librdkafka property, for the optional confluent producer
_RDKAFKA = {"security_protocol": "security.protocol", "sasl_mechanism": "sasl.mechanism",
            "sasl_plain_username": "sasl.username", "sasl_plain_password": "sasl.password",
            "ssl_cafile": "ssl.ca.location", "ssl_certfile": "ssl.certificate.location",
            "ssl_keyfile": "ssl.key.location", "ssl_password": "ssl.key.password"}


class _ConfluentProducer(Producer):
    """Optional producer on librdkafka (`bus.producer_client: confluent`, needs the confluent-kafka
    package): same semantics — keyed records on Kafka's murmur2 partitions (librdkafka's
    `murmur2_random` partitioner), idempotent, acks=all, failures raised by flush() — at a fraction
    of kafka-python's CPU per record (the pipeline's largest cost). Consumers stay on kafka-python."""

    def __init__(self, bus: "KafkaBus") -> None:
        try:
            from confluent_kafka import Producer as _P
        except ImportError as e:   # pragma: no cover - depends on the optional package
            raise RuntimeError("bus.producer_client: confluent needs the confluent-kafka package") from e
        conf = {"bootstrap.servers": bus.bootstrap, "acks": "all", "enable.idempotence": True,
                "linger.ms": bus.cfg.linger_ms, "partitioner": "murmur2_random",
                "compression.type": bus.cfg.compression or "none", "queue.buffering.max.messages": 1_000_000,
                # delivery reports for failures only: no Python callback per delivered record
                "delivery.report.only.error": True, "on_delivery": self._cb}
        for k, v in bus.client_options.items():
            if k in _RDKAFKA:
                conf[_RDKAFKA[k]] = v
        self.p = _P(conf)
        self._failed: list[str] = []

    def _cb(self, err, msg) -> None:
        if err is not None:
            self._failed.append(str(err))

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        while True:
            try:
                self.p.produce(topic, value, key)
                break
            except BufferError:            # local queue full: serve delivery reports, retry
                self.p.poll(0.05)
        # no poll per N records: only failures are reported (delivery.report.only.error), and
        # flush() — every checkpoint — serves them

    def flush(self, timeout: float | None = None) -> None:
        left = self.p.flush(-1 if timeout is None else timeout)
        if left:
            raise ConnectionError(f"kafka: {left} record(s) not delivered within {timeout}s")
        if self._failed:
            n, first = len(self._failed), self._failed[0]
            self._failed = []
            raise ConnectionError(f"kafka: {n} record(s) not delivered: {first}")

    def close(self) -> None:
        self.flush()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: "_KafkaConsumer") -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked):
        if self.owner.on_revoke and revoked:
            self.owner.on_revoke([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned):
        if self.owner.on_assign and assigned:
            self.owner.on_assign([(tp.topic, tp.partition) for tp in assigned])


class _KafkaConsumer(Consumer):
    def __init__(self, bus: KafkaBus, group: str, topics: list[str]) -> None:
        opts = {"partition_assignment_strategy": (RangePartitionAssignor,),   # co-partitioned topics
                **bus._common(KafkaConsumer)}
        self.c = KafkaConsumer(group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                               max_poll_records=bus.cfg.max_poll_records,
                               fetch_max_wait_ms=bus.cfg.fetch_max_wait_ms, **opts)
        # know the topics' partitions before joining, or the first assignment can come back empty
        # and stay so until the next metadata refresh (minutes)
        deadline = time.monotonic() + 30
        while not all(self.c.partitions_for_topic(t) for t in topics) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.c.subscribe(topics, listener=_Listener(self))

    def poll(self, max_records: int = 500, timeout: float = 0.1) -> list[Record]:
        batches = self.c.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        if not batches:
            return []
        out: list[Record] = []
        new = tuple.__new__
        for recs in batches.values():
            out.extend([new(Record, (r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)) for r in recs])
        return out

    def commit(self) -> None:
        self.c.commit()

    def lag(self) -> int:
        total = 0
        assignment = self.c.assignment()
        for tp in assignment:
            hw = self.c.highwater(tp)
            if hw is None:
                continue
            try:
                total += max(0, hw - self.c.position(tp, timeout_ms=100))
            except Exception:  # noqa: BLE001 - lag is best effort
                pass
        return total

    def close(self) -> None:
        self.c.close(autocommit=False)


class CommitFailedError(Exception):
    """A commit refused because the group is rebalancing (the stage defers it: agent.stages.base
    classifies it by this class name, as kafka-python's own CommitFailedError)."""


#: kafka-python option → librdkafka property, consumer side (warden's DEFAULTS and `bus.kafka`)
_RDKAFKA_CONSUMER = {"session_timeout_ms": "session.timeout.ms", "heartbeat_interval_ms": "heartbeat.interval.ms",
                     "reconnect_backoff_max_ms": "reconnect.backoff.max.ms",
                     "max_poll_interval_ms": "max.poll.interval.ms", "fetch_min_bytes": "fetch.min.bytes",
                     "fetch_max_bytes": "fetch.max.bytes", "max_partition_fetch_bytes": "max.partition.fetch.bytes"}


class _ConfluentConsumer(Consumer):
    """Optional consumer on librdkafka (`bus.consumer_client: confluent`, needs the confluent-kafka
    package), with the semantics of the kafka-python one: consumer group with the range assignor
    (co-partitioned topics), no auto-commit, commit() = the position after every record returned
    by poll() so far (librdkafka stores each returned record's offset + 1; commit writes them
    synchronously), rebalance callbacks with (topic, partition) lists, called on the polling
    thread. librdkafka fetches and parses record batches in C on its own threads: a record costs a
    fraction of kafka-python's CPU (the pipeline's largest per-record cost besides producing)."""

    #: librdkafka error codes meaning "the group is rebalancing": the stage defers the commit
    callbacks_on_poll_thread = True

    _REBALANCE_CODES = ("REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "_ASSIGNMENT_LOST",
                        "FENCED_MEMBER_EPOCH", "STALE_MEMBER_EPOCH")

    def __init__(self, bus: "KafkaBus", group: str, topics: list[str]) -> None:
        try:
            from confluent_kafka import Consumer as _C
            from confluent_kafka import KafkaError, KafkaException
        except ImportError as e:   # pragma: no cover - depends on the optional package
            raise RuntimeError("bus.consumer_client: confluent needs the confluent-kafka package") from e
        self._KafkaException = KafkaException
        self._no_offset = KafkaError._NO_OFFSET
        self._rebalance = {getattr(KafkaError, n) for n in self._REBALANCE_CODES if hasattr(KafkaError, n)}
        conf = {"bootstrap.servers": bus.bootstrap, "group.id": group, "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "partition.assignment.strategy": "range",
                "fetch.wait.max.ms": bus.cfg.fetch_max_wait_ms, "enable.partition.eof": False}
        for k, v in {**DEFAULTS, **bus.client_options}.items():
            prop = _RDKAFKA.get(k) or _RDKAFKA_CONSUMER.get(k)
            if prop:
                conf[prop] = v
        self.c = _C(conf)
        self.topics = list(topics)
        self.c.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked)

    def _assigned(self, _c, parts) -> None:
        if self.on_assign and parts:
            self.on_assign([(tp.topic, tp.partition) for tp in parts])

    def _revoked(self, _c, parts) -> None:
        if self.on_revoke and parts:
            self.on_revoke([(tp.topic, tp.partition) for tp in parts])

    def poll(self, max_records: int = 500, timeout: float = 0.1) -> list[Record]:
        msgs = self.c.consume(num_messages=max_records, timeout=timeout)
        if not msgs:
            return []
        out: list[Record] = []
        append, new = out.append, tuple.__new__
        for m in msgs:
            err = m.error()
            if err is None:
                append(new(Record, (m.topic(), m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1])))
            else:                      # a transport / broker event surfaced as a message: not a record
                log.warning("kafka consumer: %s", err)
                if err.fatal():
                    raise self._KafkaException(err)
        return out

    def commit(self) -> None:
        try:
            self.c.commit(asynchronous=False)
        except self._KafkaException as e:
            err = e.args[0] if e.args else None
            code = err.code() if hasattr(err, "code") else None
            if code == self._no_offset:        # nothing consumed since the last commit
                return
            if code in self._rebalance:
                raise CommitFailedError(str(err)) from e
            raise

    def lag(self) -> int:
        total = 0
        try:
            parts = self.c.assignment()
            if not parts:
                return 0
            for tp in self.c.position(parts):
                _, hw = self.c.get_watermark_offsets(tp, cached=True)
                if hw is not None and hw >= 0 and tp.offset >= 0:
                    total += max(0, hw - tp.offset)
        except Exception:  # noqa: BLE001 - lag is best effort
            pass
        return total

    def close(self) -> None:
        self.c.close()
