"""The default Kafka clients, on librdkafka (confluent-kafka): `bus.producer_client` /
`bus.consumer_client: confluent`. The semantics are the kafka-python clients' (core.bus.kafka_python)."""
from __future__ import annotations

import logging
import threading
import time

from core.bus.base import CommitDeferred, Consumer, Producer, Record
from core.bus.failures import DeliveryFailures
from core.bus.kafka_settings import KafkaSettings


log = logging.getLogger("warden.bus.kafka")


def import_confluent():
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


class ConfluentProducer(Producer):
    """The default producer, on librdkafka (`bus.producer_client: confluent`): keyed records on
    Kafka's murmur2 partitions (librdkafka's `murmur2_random` partitioner, the partitions
    core.bus.base.partition_for names), idempotent, acks=all, failures raised by flush() — at a
    fraction of kafka-python's CPU per record (the pipeline's largest cost).

    Broker restarts: librdkafka reconnects by itself and retries every queued record
    (idempotently: no duplicate, no reordering) until `delivery_timeout_ms`; flush() without a
    timeout waits for that, so a checkpoint waits for the broker instead of committing past
    records that are not written. A record that finally fails makes the next flush() raise in
    every thread that flushes this shared producer (core.bus.failures), so no stage commits past it. A fatal error (an idempotent producer whose sequence state the
    broker no longer accepts) leaves a librdkafka instance unusable: it is replaced by a new one
    at once (`renewed`), and counted as a failure, so the stages replay instead of committing."""

    def __init__(self, settings: KafkaSettings) -> None:
        ck = import_confluent()
        self._P, self._KafkaException, self._FATAL = ck.Producer, ck.KafkaException, ck.KafkaError._FATAL
        self._errlog = _ErrorLog("producer")
        # give up a record after 120 s (kafka-python's delivery_timeout_ms; librdkafka's is 300 s):
        # then flush() raises and the stage replays, instead of holding its checkpoint for minutes
        self.conf = {"delivery.timeout.ms": 120_000, **settings.rdkafka_conf("producer"),
                     "acks": "all", "enable.idempotence": True,
                     "linger.ms": settings.cfg.linger_ms, "partitioner": "murmur2_random",
                     "compression.type": settings.cfg.compression or "none", "queue.buffering.max.messages": 1_000_000,
                     # delivery reports for failures only: no Python callback per delivered record
                     "delivery.report.only.error": True, "on_delivery": self._cb, "error_cb": self._error,
                     "logger": _RDKAFKA_LOG}
        self._lock = threading.Lock()
        self._failed = DeliveryFailures()     # records not delivered + replaced instances
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


class ConfluentConsumer(Consumer):
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

    def __init__(self, settings: KafkaSettings, group: str, topics: list[str]) -> None:
        ck = import_confluent()
        self._KafkaException, self._TP = ck.KafkaException, ck.TopicPartition
        self._no_offset = ck.KafkaError._NO_OFFSET
        self._deferred = {getattr(ck.KafkaError, n) for n in self._REBALANCE_CODES + self._TRANSIENT_CODES
                          if hasattr(ck.KafkaError, n)}
        self._errlog = _ErrorLog("consumer")
        self._fatal = None
        self._commit_thread: threading.Thread | None = None     # a commit that outlived commit_timeout_s
        conf = {**settings.rdkafka_conf("consumer"), "group.id": group, "enable.auto.commit": False,
                "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "range", "fetch.wait.max.ms": settings.cfg.fetch_max_wait_ms,
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
    #: commits again later; no second commit is started while the first is still inside librdkafka.
    #: This needs a client that lets one thread poll while another commits: confluent-kafka 2.16
    #: serialises calls on one consumer (a poll waits behind the stuck commit, for ever: seen as a
    #: stage that never polled again after a broker restart), hence the `<2.16` in pyproject.toml
    commit_timeout_s = 5.0
    close_timeout_s = 30.0

    def commit(self) -> None:
        stuck = self._commit_thread
        if stuck is not None:
            if stuck.is_alive():
                raise CommitDeferred("an earlier commit is still waiting for the group coordinator")
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
            raise CommitDeferred(f"commit not acknowledged within {self.commit_timeout_s:.0f}s "
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
                raise CommitDeferred(str(err)) from e
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
