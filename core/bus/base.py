"""Bus interface shared by the embedded and Kafka implementations."""
from __future__ import annotations

import abc
from typing import Callable, Iterable, NamedTuple


class Record(NamedTuple):
    """One consumed record (a named tuple: built once per record on the hot path, so cheaply)."""
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int = 0


def partition_for(key: bytes | None, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key, positive, mod n), so both buses agree."""
    if key is None or partitions <= 1:
        return 0
    return (_murmur2(key) & 0x7FFFFFFF) % partitions


def _murmur2(data: bytes) -> int:
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = (data[i4] & 0xFF) + ((data[i4 + 1] & 0xFF) << 8) + ((data[i4 + 2] & 0xFF) << 16) + ((data[i4 + 3] & 0xFF) << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= (k % 0x100000000) >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    extra = length % 4
    index = length & ~3
    if extra >= 3:
        h ^= (data[index + 2] & 0xFF) << 16
    if extra >= 2:
        h ^= (data[index + 1] & 0xFF) << 8
    if extra >= 1:
        h ^= data[index] & 0xFF
        h = (h * m) & 0xFFFFFFFF
    h ^= (h % 0x100000000) >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= (h % 0x100000000) >> 15
    return h


class Producer(abc.ABC):
    @abc.abstractmethod
    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None: ...

    @abc.abstractmethod
    def flush(self, timeout: float | None = None) -> None:
        """Block until every record sent so far is handed over as far as the bus goes (raise on
        failure): acknowledged by the brokers on Kafka, appended in memory on the embedded bus.
        What that is worth is the bus's `durability`."""

    def close(self) -> None:
        self.flush()


class NotSupported(NotImplementedError):
    """The bus's consumer cannot do this (pause / resume / seek): callers fall back (e.g. a
    backpressured act stage then stops polling instead of pausing)."""


class CommitDeferred(Exception):
    """`Consumer.commit()` could not commit now, and committing again later is the remedy: the
    group is rebalancing, or its coordinator is unreachable or moving (a broker restart). The
    stage keeps the work uncommitted and commits it at its next checkpoint (what a rebalance
    moved away is replayed by its new owner). Each client maps its own errors to this one;
    any other exception from commit() is a failure."""


class Consumer(abc.ABC):
    """A member of a consumer group. Offsets move only on `commit()`."""

    #: called with the list of (topic, partition) assigned / revoked on rebalance
    on_assign: Callable[[list[tuple[str, int]]], None] | None = None
    on_revoke: Callable[[list[tuple[str, int]]], None] | None = None
    #: True when the callbacks run inside poll() on the polling thread, while the revoked
    #: partitions are still owned (librdkafka): blocking calls, even a commit, are allowed there
    callbacks_on_poll_thread: bool = False

    @abc.abstractmethod
    def poll(self, max_records: int = 500, timeout: float = 0.1) -> list[Record]: ...

    @abc.abstractmethod
    def commit(self) -> None:
        """Commit the position after every record returned by poll so far. Raises CommitDeferred
        when the commit has to wait (rebalance, coordinator moving)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def lag(self) -> int:
        """Records not yet consumed by this member (best effort)."""
        return 0

    # flow control ----------------------------------------------------------------------------
    def pause(self) -> bool:
        """Stop fetching from every partition assigned now: poll() returns nothing from them but
        keeps the group membership (heartbeats, rebalances). Partitions a later rebalance assigns
        are not paused: call it again. Returns False when no partition is assigned (nothing to
        pause). Raises NotSupported when the client cannot pause."""
        raise NotSupported(f"{type(self).__name__} cannot pause")

    def resume(self) -> None:
        """Fetch again from every assigned partition."""
        raise NotSupported(f"{type(self).__name__} cannot resume")

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Give back every record of an assigned partition from `offset` on: the next poll (after
        resume(), when paused) returns them again, and commit() commits no further than `offset`
        until then (an offset before the oldest record retained reads from the oldest). Raises
        when the partition is not assigned, NotSupported when the client cannot seek."""
        raise NotSupported(f"{type(self).__name__} cannot seek")


class Bus(abc.ABC):
    """Topics of keyed, partitioned records with consumer groups and manual commits.

    Retention is the bus's own: Kafka keeps records by the topic's retention settings; the embedded
    bus keeps a record until every group reading its topic has committed past it (a bounded tail
    for topics no group reads). A member starting at a committed offset older than the oldest
    record retained reads from the oldest (Kafka's `auto.offset.reset=earliest`). `end_offsets`
    count every record ever appended, retained or not.
    """

    #: what a record handed to this bus is worth once `Producer.flush()` returned: the ingest
    #: routes answer it as `durability`, so a client knows whether an acknowledged record survives
    #: the agent (Kafka: yes, the brokers acknowledged it) or not (the in-process bus)
    durability: str = "unknown"
    #: whether `Producer.send`/`flush` may wait on something outside the process (a broker's
    #: acknowledgement): an HTTP handler that produces then runs on a worker thread, never on the
    #: server's event loop (core.http.inline)
    producer_waits: bool = True

    def __init__(self, prefix: str = "warden.") -> None:
        self.prefix = prefix

    def full(self) -> bool:
        """True while the bus holds as many records as it may: push input (HTTP ingest) is then
        refused with 503 + Retry-After until consumers catch up. A bus that never fills (Kafka,
        whose brokers keep records by retention) says False."""
        return False

    def topic(self, suffix: str) -> str:
        return self.prefix + suffix

    @abc.abstractmethod
    def create_topics(self, names: Iterable[str], partitions: int) -> None: ...

    @abc.abstractmethod
    def producer(self) -> Producer: ...

    @abc.abstractmethod
    def consumer(self, group: str, topics: list[str]) -> Consumer: ...

    def end_offsets(self, topic: str) -> dict[int, int]:
        return {}

    def committed(self, group: str, topic: str) -> dict[int, int]:
        return {}

    def read(self, topic: str, limit: int | None = None) -> list[Record]:
        """Every record of a topic the bus still retains (up to `limit`), partition by partition,
        oldest first, read without joining a consumer group or committing anything (tools:
        `warden deadletters`). Raises NotSupported when the bus cannot."""
        raise NotSupported(f"{type(self).__name__} cannot read a topic outside a group")

    def close(self) -> None:
        pass
