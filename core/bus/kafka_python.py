"""The kafka-python clients (`bus.producer_client` / `bus.consumer_client: kafka-python`); the
default clients are librdkafka's (core.bus.rdkafka). kafka-python stays the admin client."""
from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as KafkaErrors
from kafka.structs import MemberState
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor

from core.bus.base import CommitDeferred, Consumer, Producer, Record, partition_for
from core.bus.failures import DeliveryFailures
from core.bus.kafka_settings import KafkaSettings
from core.counters import COUNTERS


log = logging.getLogger("warden.bus.kafka")

#: kafka-python's commit errors meaning "the group is rebalancing": the stage defers the commit
_DEFERRED = (KafkaErrors.RebalanceInProgressError, KafkaErrors.CommitFailedError,
             KafkaErrors.IllegalGenerationError, KafkaErrors.UnknownMemberIdError)


class KafkaPythonProducer(Producer):
    """Sends are asynchronous; a record that finally fails (after the client's own retries, up to
    delivery_timeout_ms) is remembered and the next flush() raises (in every thread that flushes,
    see core.bus.failures), so the stage does not commit the input offsets behind it (replay, not loss).

    Keyed records: the partition is computed here (Kafka's murmur2, core.bus.base.partition_for)
    and cached per key — keys are entities and repeat — instead of by kafka-python's partitioner
    on every record (a fifth of a send's cost)."""

    MAX_CACHED_KEYS = 200_000

    def __init__(self, p: KafkaProducer) -> None:
        self.p = p
        self._failed = DeliveryFailures()
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


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: "KafkaPythonConsumer") -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked):
        if self.owner.on_revoke and revoked:
            self.owner.on_revoke([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned):
        if self.owner.on_assign and assigned:
            self.owner.on_assign([(tp.topic, tp.partition) for tp in assigned])


class KafkaPythonConsumer(Consumer):
    def __init__(self, settings: KafkaSettings, group: str, topics: list[str]) -> None:
        opts = {"partition_assignment_strategy": (RangePartitionAssignor,),   # co-partitioned topics
                **settings.kafka_python(KafkaConsumer)}
        self.c = KafkaConsumer(group_id=group, enable_auto_commit=False, auto_offset_reset="earliest",
                               max_poll_records=settings.cfg.max_poll_records,
                               fetch_max_wait_ms=settings.cfg.fetch_max_wait_ms, **opts)
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
            if self._member_unstable():
                self._restart_abandoned_join()     # a member left mid-join never gets records again
            return []
        out: list[Record] = []
        new = tuple.__new__
        for recs in batches.values():
            out.extend([new(Record, (r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)) for r in recs])
        return out

    def commit(self) -> None:
        try:
            self.c.commit()
        except _DEFERRED as e:
            if isinstance(e, KafkaErrors.RebalanceInProgressError):
                self._restart_abandoned_join()
            raise CommitDeferred(f"{type(e).__name__}: {e}") from e

    def _member_unstable(self) -> bool:
        """The group coordinator says this member is not in a stable generation (private
        attribute, read defensively: False when it is missing)."""
        state = getattr(getattr(self.c, "_coordinator", None), "state", MemberState.STABLE)
        return state != MemberState.STABLE

    def _restart_abandoned_join(self) -> None:
        """kafka-python 3.0.12 can abandon a finished join: when a rejoin spans several polls and
        the join itself clears the reason it started (the first assignment was made before the
        topic's metadata arrived; the leader's next assignment matches it), the next poll finds
        nothing to rejoin for and never marks the member stable, so every commit is refused as
        "undergoing a rebalance" for good. Seen as act commits deferred until the stage replaced
        its consumer (and the new one got stuck the same way). Nothing due and nothing in flight
        while commits are refused is that state: ask for a rejoin and let the next poll run it to
        the end. The member keeps its previous assignment through this (eager revocation only
        notifies; the assignment is replaced when the join completes), so it is found by its state,
        not by an empty assignment: seen as a leader whose own assignment cleared the metadata
        change that started the rejoin, which then owned nothing for good while its
        `assignment()` still listed every partition. Private attributes, read defensively: without
        them this does nothing and the stage's own replacement after `rejoin_timeout_s` still
        applies."""
        coord = getattr(self.c, "_coordinator", None)
        if coord is None or not hasattr(coord, "request_rejoin"):
            return
        task = getattr(coord, "_join_task", None)
        if coord.need_rejoin() or (task is not None and not getattr(task, "is_done", True)):
            return                     # a join is due or under way: the next poll drives it
        log.info("kafka-python consumer: not stable, with no join due or running; rejoining")
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
