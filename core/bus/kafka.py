"""Kafka bus: keyed idempotent producers, consumer groups with manual commits after the
checkpoint, rebalance callbacks, pause / resume / seek, topic creation on start.

The producer and consumer run on librdkafka (confluent-kafka) by default: it fetches, parses and
batches records in C on its own threads, at about a third of kafka-python's CPU per record
(measured: the pipeline's largest cost). kafka-python 3.x stays the admin client (topics, end and
committed offsets) and is selectable per role (`bus.producer_client` / `bus.consumer_client:
kafka-python`). Connection settings (SASL/TLS) come from the config's `bus.kafka` mapping
(kafka-python's option names, translated for librdkafka by core.bus.options) or WARDEN_KAFKA_* env.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Iterable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as KafkaErrors
from kafka.admin import KafkaAdminClient
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from core.bus import options as _options
from core.bus.base import Bus, Consumer, Producer, Record, partition_for

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
    durability = ("durable: written to the Kafka brokers and acknowledged by every in-sync replica "
                  "(acks=all) before the answer")

    def __init__(self, cfg) -> None:
        super().__init__(cfg.topic_prefix)
        self.cfg = cfg
        self.bootstrap = cfg.bootstrap
        self.client_options = client_options(cfg)
        # options the librdkafka clients cannot honour fail at config load; harmless
        # kafka-python-only ones are logged once and counted here
        self.ignored_options = _options.check(self.client_options, self._client("producer"), self._client("consumer"))
        _options.report_ignored(self.ignored_options)

    def _client(self, role: str) -> str:
        return getattr(self.cfg, f"{role}_client", None) or "confluent"

    def rdkafka_conf(self, role: str) -> dict:
        """librdkafka properties for one role from warden's DEFAULTS and `bus.kafka`."""
        return {"bootstrap.servers": self.bootstrap,
                **_options.rdkafka_conf({**DEFAULTS, **self.client_options}, role)}

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

    def delete_topics(self, prefix: str) -> int:
        """Delete every topic whose name starts with `prefix` (benchmarks and tests clean up after
        themselves); returns how many were asked to go."""
        if not prefix:
            raise ValueError("delete_topics needs a non-empty prefix")
        admin = KafkaAdminClient(**self._common(KafkaAdminClient))
        try:
            names = [t for t in admin.list_topics() if t.startswith(prefix)]
            if names:
                admin.delete_topics(names)
            return len(names)
        finally:
            admin.close()

    def producer(self) -> Producer:
        if self._client("producer") == "confluent":
            return _ConfluentProducer(self)
        return _KafkaProducer(KafkaProducer(
            acks="all", linger_ms=self.cfg.linger_ms, batch_size=self.cfg.batch_size,
            compression_type=self.cfg.compression, **self._common(KafkaProducer)))

    def consumer(self, group: str, topics: list[str]) -> Consumer:
        if self._client("consumer") == "confluent":
            return _ConfluentConsumer(self, group, topics)
        return _KafkaConsumer(self, group, topics)

    def end_offsets(self, topic: str) -> dict[int, int]:
        # no group: auto-commit off explicitly (else kafka-python warns "group_id is None" each time)
        c = KafkaConsumer(**{**self._common(KafkaConsumer), "enable_auto_commit": False})
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
        c = KafkaConsumer(group_id=None, enable_auto_commit=False, **self._common(KafkaConsumer))
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


class _Failures:
    """Records a shared producer finally failed to deliver. The stages of one process share the
    producer and flush it from their own threads, and nobody knows whose record failed: each
    flushing thread's next flush() raises for every failure since its own last flush, so no stage
    commits input offsets behind a lost record (it replays instead)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.last = ""
        self._seen = threading.local()

    def add(self, what: str) -> None:
        with self._lock:
            self.count += 1
            self.last = what

    def raise_new(self) -> None:
        seen, n = getattr(self._seen, "n", 0), self.count
        if n != seen:
            self._seen.n = n
            raise ConnectionError(f"kafka: {n - seen} record(s) not delivered: {self.last}")


class _KafkaProducer(Producer):
    """Sends are asynchronous; a record that finally fails (after the client's own retries, up to
    delivery_timeout_ms) is remembered and the next flush() raises (in every thread that flushes,
    see _Failures), so the stage does not commit the input offsets behind it (replay, not loss).

    Keyed records: the partition is computed here (Kafka's murmur2, core.bus.base.partition_for)
    and cached per key — keys are entities and repeat — instead of by kafka-python's partitioner
    on every record (a fifth of a send's cost)."""

    MAX_CACHED_KEYS = 200_000

    def __init__(self, p: KafkaProducer) -> None:
        self.p = p
        self._failed = _Failures()
        self._parts: dict[str, tuple[dict[bytes, int], int]] = {}

    def _errback(self, exc: BaseException) -> None:
        self._failed.add(f"{type(exc).__name__}: {exc}")

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
        self._failed.raise_new()

    def close(self) -> None:
        self.p.flush()
        self.p.close()


def _import_confluent():
    try:
        import confluent_kafka
    except ImportError as e:   # pragma: no cover - a core dependency since it became the default
        raise RuntimeError("the librdkafka clients need the confluent-kafka package (a warden dependency); "
                           "or set bus.producer_client / bus.consumer_client: kafka-python") from e
    return confluent_kafka


#: librdkafka's own log lines (connection failures, ...) go to Python logging, not to stderr
_RDKAFKA_LOG = logging.getLogger("warden.bus.librdkafka")


class _ErrorLog:
    """librdkafka's client-level errors (error_cb): a broker going away and coming back is
    reported as transport errors while librdkafka reconnects by itself. Logged, at most once per
    error code every LOG_EVERY_S seconds."""

    LOG_EVERY_S = 10.0

    def __init__(self, what: str) -> None:
        self.what = what
        self._last: dict[int, float] = {}

    def __call__(self, err) -> None:
        now = time.monotonic()
        code = err.code()
        if now - self._last.get(code, -1e9) >= self.LOG_EVERY_S:
            self._last[code] = now
            log.warning("kafka %s: %s (librdkafka retries by itself)", self.what, err)


class _ConfluentProducer(Producer):
    """The default producer, on librdkafka (`bus.producer_client: confluent`): keyed records on
    Kafka's murmur2 partitions (librdkafka's `murmur2_random` partitioner, the partitions
    core.bus.base.partition_for names), idempotent, acks=all, failures raised by flush() — at a
    fraction of kafka-python's CPU per record (the pipeline's largest cost).

    Broker restarts: librdkafka reconnects by itself and retries every queued record
    (idempotently: no duplicate, no reordering) until `delivery_timeout_ms`; flush() without a
    timeout waits for that, so a checkpoint waits for the broker instead of committing past
    records that are not written. A record that finally fails makes the next flush() raise in
    every thread that flushes this shared producer (_Failures), so no stage commits past it. A fatal error (an idempotent producer whose sequence state the
    broker no longer accepts) leaves a librdkafka instance unusable: it is replaced by a new one
    at once (`renewed`), and counted as a failure, so the stages replay instead of committing."""

    def __init__(self, bus: "KafkaBus") -> None:
        ck = _import_confluent()
        self._P, self._KafkaException, self._FATAL = ck.Producer, ck.KafkaException, ck.KafkaError._FATAL
        self._errlog = _ErrorLog("producer")
        # give up a record after 120 s (kafka-python's delivery_timeout_ms; librdkafka's is 300 s):
        # then flush() raises and the stage replays, instead of holding its checkpoint for minutes
        self.conf = {"delivery.timeout.ms": 120_000, **bus.rdkafka_conf("producer"),
                     "acks": "all", "enable.idempotence": True,
                     "linger.ms": bus.cfg.linger_ms, "partitioner": "murmur2_random",
                     "compression.type": bus.cfg.compression or "none", "queue.buffering.max.messages": 1_000_000,
                     # delivery reports for failures only: no Python callback per delivered record
                     "delivery.report.only.error": True, "on_delivery": self._cb, "error_cb": self._error,
                     "logger": _RDKAFKA_LOG}
        self._lock = threading.Lock()
        self._failed = _Failures()     # records not delivered + replaced instances
        self._fatal = None
        self.renewed = 0
        self.p = self._P(self.conf)

    def _cb(self, err, msg) -> None:
        if err is not None:
            self._failed.add(str(err))

    def _error(self, err) -> None:
        if err.fatal():
            log.error("kafka producer: fatal error %s: the producer is replaced; unflushed work is replayed", err)
            self._fatal = err
        else:
            self._errlog(err)

    def _renew(self) -> None:
        with self._lock:
            err, self._fatal = self._fatal, None
            if err is None:            # another thread renewed it already
                return
            old, self.p = self.p, self._P(self.conf)
            self.renewed += 1
            self._failed.add(f"fatal: {err}")   # whatever the old instance held is lost to it: replay
        try:
            old.purge()
            old.flush(0)
        except Exception:  # noqa: BLE001 - the old instance is abandoned either way
            pass

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        if self._fatal is not None:
            self._renew()
        while True:
            try:
                self.p.produce(topic, value, key)
                break
            except BufferError:            # local queue full: serve delivery reports, retry
                self.p.poll(0.05)
                if self._fatal is not None:
                    self._renew()
            except self._KafkaException as e:
                err = e.args[0] if e.args else None
                if err is None or not (err.fatal() or err.code() == self._FATAL):
                    raise
                self._fatal = self._fatal or err
                self._renew()
        # no poll per N records: only failures are reported (delivery.report.only.error), and
        # flush() — every checkpoint — serves them

    def flush(self, timeout: float | None = None) -> None:
        if self._fatal is not None:
            self._renew()
        left = self.p.flush(-1 if timeout is None else timeout)
        if self._fatal is not None:        # reported while flushing
            self._renew()
        if left:
            raise ConnectionError(f"kafka: {left} record(s) not delivered within {timeout}s")
        self._failed.raise_new()

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
        self._rejoin_poll = False

    #: poll timeout after an abandoned join was restarted: the join has to finish inside one poll call
    REJOIN_POLL_S = 5.0

    def poll(self, max_records: int = 500, timeout: float = 0.1) -> list[Record]:
        if self._rejoin_poll:
            self._rejoin_poll = False
            timeout = max(timeout, self.REJOIN_POLL_S)
        batches = self.c.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        if not batches:
            return []
        out: list[Record] = []
        new = tuple.__new__
        for recs in batches.values():
            out.extend([new(Record, (r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)) for r in recs])
        return out

    def commit(self) -> None:
        try:
            self.c.commit()
        except KafkaErrors.RebalanceInProgressError:
            self._restart_abandoned_join()
            raise

    def _restart_abandoned_join(self) -> None:
        """kafka-python 3.0.12 can abandon a finished join: when a rejoin spans several polls and
        the join itself clears the reason it started (the first assignment was made before the
        topic's metadata arrived; the leader's next assignment matches it), the next poll finds
        nothing to rejoin for and never marks the member stable, so every commit is refused as
        "undergoing a rebalance" for good. Seen as act commits deferred until the stage replaced
        its consumer (and the new one got stuck the same way). Nothing due and nothing in flight
        while commits are refused is that state: ask for a rejoin and let the next poll run it to
        the end. Private attributes, read defensively: without them this does nothing and the
        stage's own replacement after `rejoin_timeout_s` still applies."""
        coord = getattr(self.c, "_coordinator", None)
        if coord is None or not hasattr(coord, "request_rejoin"):
            return
        task = getattr(coord, "_join_task", None)
        if coord.need_rejoin() or (task is not None and not getattr(task, "is_done", True)):
            return                     # a join is due or under way: the next poll drives it
        log.info("kafka-python consumer: commit refused with no join due or running; rejoining")
        from core.counters import COUNTERS
        COUNTERS.inc("bus.kafka_python_rejoin_restarted")
        coord.request_rejoin()
        self._rejoin_poll = True

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

    def pause(self) -> bool:
        parts = self.c.assignment()
        if not parts:
            return False
        self.c.pause(*parts)
        return True

    def resume(self) -> None:
        parts = self.c.paused()
        if parts:
            self.c.resume(*parts)

    def seek(self, topic: str, partition: int, offset: int) -> None:
        self.c.seek(TopicPartition(topic, partition), offset)   # commit() commits the position

    def close(self) -> None:
        self.c.close(autocommit=False)


class CommitFailedError(Exception):
    """A commit refused because the group is rebalancing, or its coordinator is unreachable or
    moving (a broker restart): the stage defers it (agent.stages.base classifies it by this class
    name, as kafka-python's own CommitFailedError)."""


class _ConfluentConsumer(Consumer):
    """The default consumer, on librdkafka (`bus.consumer_client: confluent`), with the semantics
    of the kafka-python one: consumer group with the range assignor (co-partitioned topics), no
    auto-commit, commit() = the position after every record returned by poll() so far,
    rebalance callbacks with (topic, partition) lists, called on the polling thread, pause /
    resume / seek. librdkafka fetches and parses record batches in C on its own threads: a
    record costs a fraction of kafka-python's CPU.

    Offsets: librdkafka commits its *stored* offsets, and would store each record's offset + 1
    as it hands it out (enable.auto.offset.store) — a seek back would not move them, and a commit
    would pass records given back. So poll() stores the position itself, per partition, once per
    batch, and seek() stores the offset it seeks to. pause() drops what librdkafka prefetched for
    the partitions (resume() fetches again from the position: nothing is skipped).
    Broker restarts: librdkafka reconnects and rejoins the group by itself; a commit refused
    while the coordinator is unreachable or moving is deferred like a rebalance's (the next
    checkpoint commits). A fatal error (a fenced static member) raises from poll()."""

    callbacks_on_poll_thread = True

    #: librdkafka error codes meaning "the group is rebalancing": the stage defers the commit
    _REBALANCE_CODES = ("REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "_ASSIGNMENT_LOST",
                        "FENCED_MEMBER_EPOCH", "STALE_MEMBER_EPOCH")
    #: the coordinator is unreachable or moving (a broker restart): deferred the same way
    _TRANSIENT_CODES = ("_TRANSPORT", "_TIMED_OUT", "_WAIT_COORD", "_ALL_BROKERS_DOWN", "COORDINATOR_NOT_AVAILABLE",
                        "NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS", "REQUEST_TIMED_OUT", "NETWORK_EXCEPTION")

    def __init__(self, bus: "KafkaBus", group: str, topics: list[str]) -> None:
        ck = _import_confluent()
        self._KafkaException, self._TP = ck.KafkaException, ck.TopicPartition
        self._no_offset = ck.KafkaError._NO_OFFSET
        self._deferred = {getattr(ck.KafkaError, n) for n in self._REBALANCE_CODES + self._TRANSIENT_CODES
                          if hasattr(ck.KafkaError, n)}
        self._errlog = _ErrorLog("consumer")
        self._fatal = None
        self._commit_thread: threading.Thread | None = None     # a commit that outlived commit_timeout_s
        conf = {**bus.rdkafka_conf("consumer"), "group.id": group, "enable.auto.commit": False,
                "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "range", "fetch.wait.max.ms": bus.cfg.fetch_max_wait_ms,
                "enable.partition.eof": False, "error_cb": self._error, "logger": _RDKAFKA_LOG}
        self.c = ck.Consumer(conf)
        self.topics = list(topics)
        self.c.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked)

    def _error(self, err) -> None:
        if err.fatal():
            self._fatal = err
        self._errlog(err)

    def _assigned(self, _c, parts) -> None:
        if self.on_assign and parts:
            self.on_assign([(tp.topic, tp.partition) for tp in parts])

    def _revoked(self, _c, parts) -> None:
        if self.on_revoke and parts:
            self.on_revoke([(tp.topic, tp.partition) for tp in parts])

    def poll(self, max_records: int = 500, timeout: float = 0.1) -> list[Record]:
        # what librdkafka has fetched already, at once; only when nothing is there wait (up to
        # `timeout`) for the first record. consume(n, timeout) alone waits for n records or the
        # whole timeout: sparse topics (findings, alerts) would gain `timeout` of latency per hop
        msgs = self.c.consume(num_messages=max_records, timeout=0)
        if not msgs and timeout > 0:
            msgs = self.c.consume(num_messages=1, timeout=timeout)
            if msgs and max_records > 1:
                msgs.extend(self.c.consume(num_messages=max_records - 1, timeout=0))
        if self._fatal is not None:
            raise self._KafkaException(self._fatal)
        if not msgs:
            return []
        out: list[Record] = []
        last: dict[tuple[str, int], int] = {}
        append, new = out.append, tuple.__new__
        for m in msgs:
            err = m.error()
            if err is None:
                t, p, o = m.topic(), m.partition(), m.offset()
                append(new(Record, (t, p, o, m.key(), m.value(), m.timestamp()[1])))
                last[t, p] = o
            else:                      # a transport / broker event surfaced as a message: not a record
                log.warning("kafka consumer: %s", err)
                if err.fatal():
                    raise self._KafkaException(err)
        if last:
            TP = self._TP
            try:
                self.c.store_offsets(offsets=[TP(t, p, o + 1) for (t, p), o in last.items()])
            except self._KafkaException as e:   # revoked meanwhile: the next owner replays them
                log.info("kafka consumer: positions not stored (%s)", e)
        return out

    #: librdkafka's synchronous commit has no timeout, and it can wait on a rebalance (after a
    #: session timeout, e.g. a broker restart) that only the polling thread can serve — a
    #: deadlock if that thread is the one committing (seen here; also confluent-kafka-python#1801).
    #: The commit runs on a helper thread; one not acknowledged within this many seconds is
    #: reported as deferred, so the stage goes back to polling (which serves the rebalance) and
    #: commits again later; no second commit is started while the first is still inside librdkafka
    commit_timeout_s = 5.0
    close_timeout_s = 30.0

    def commit(self) -> None:
        stuck = self._commit_thread
        if stuck is not None:
            if stuck.is_alive():
                raise CommitFailedError("an earlier commit is still waiting for the group coordinator")
            self._commit_thread = None
        box: dict = {}

        def run() -> None:
            try:
                self.c.commit(asynchronous=False)
            except BaseException as e:  # noqa: BLE001 - handed to the calling thread
                box["e"] = e
        t = threading.Thread(target=run, name="warden-kafka-commit", daemon=True)
        t.start()
        t.join(self.commit_timeout_s)
        if t.is_alive():
            self._commit_thread = t
            log.warning("kafka consumer: commit not acknowledged within %.0fs; deferred", self.commit_timeout_s)
            raise CommitFailedError(f"commit not acknowledged within {self.commit_timeout_s:.0f}s "
                                    "(group coordinator unreachable or moving)")
        e = box.get("e")
        if e is None:
            return
        if isinstance(e, self._KafkaException):
            err = e.args[0] if e.args else None
            code = err.code() if hasattr(err, "code") else None
            if code == self._no_offset:        # nothing consumed since the last commit
                return
            if code in self._deferred:
                raise CommitFailedError(str(err)) from e
        raise e

    def pause(self) -> bool:
        parts = self.c.assignment()
        if not parts:
            return False
        self.c.pause(parts)
        return True

    def resume(self) -> None:
        parts = self.c.assignment()
        if parts:
            self.c.resume(parts)

    def seek(self, topic: str, partition: int, offset: int) -> None:
        tp = self._TP(topic, partition, offset)
        self.c.seek(tp)
        self.c.store_offsets(offsets=[tp])     # commit() goes no further until they come back

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
        stuck = self._commit_thread
        if stuck is not None and stuck.is_alive():
            # the commit may be waiting on a rebalance only polling serves: poll (records are
            # dropped unstored, so the next owner replays them) until it returns or time is up
            deadline = time.monotonic() + self.close_timeout_s
            while stuck.is_alive() and time.monotonic() < deadline:
                try:
                    self.c.consume(num_messages=500, timeout=0.2)
                except Exception:  # noqa: BLE001 - closing anyway
                    break
            if stuck.is_alive():
                # closing under a commit still inside librdkafka is unsafe (and blocks): the handle
                # is abandoned; unpolled, librdkafka leaves the group after max.poll.interval.ms
                log.warning("kafka consumer: abandoning a consumer whose commit never returned")
                return
        t = threading.Thread(target=self.c.close, name="warden-kafka-close", daemon=True)
        t.start()
        t.join(self.close_timeout_s)
        if t.is_alive():
            log.warning("kafka consumer: close did not finish within %.0fs; abandoned", self.close_timeout_s)
