"""A stage: consume a batch, handle it, and checkpoint in the one order that makes replays safe:

1. flush sinks (producer, stores) — everything derived from consumed records is durable;
2. write state snapshots — detector / decide state matching the consumed position;
3. commit offsets.

A crash anywhere before 3 replays from the last commit; deterministic ids make the replay
harmless (same event ids, same finding ids, same alert ids, idempotent actions).
"""
from __future__ import annotations

import logging
import time
from typing import ClassVar

from agent.bus.base import Record
from agent.runtime import Runtime

log = logging.getLogger("warden.stage")


class Stage:
    name: ClassVar[str] = ""
    input_topics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, rt: Runtime, *, member: str = "0") -> None:
        self.rt = rt
        self.member = member
        self.consumer = None
        self._last_checkpoint = time.monotonic()
        self._uncommitted = 0

    @property
    def group(self) -> str:
        return self.rt.cfg.pipeline.group_prefix + self.name

    def start(self) -> None:
        if self.input_topics and self.consumer is None:
            self.consumer = self.rt.bus.consumer(self.group, [self.rt.topic(t) for t in self.input_topics])
            self.consumer.on_assign = self.on_assign
            self.consumer.on_revoke = self.on_revoke

    def on_assign(self, tps: list[tuple[str, int]]) -> None:
        pass

    def on_revoke(self, tps: list[tuple[str, int]]) -> None:
        """Partitions moved away. No I/O here (Kafka runs this on its network thread): state
        derived from them is dropped from memory; the new owner resumes from the last checkpoint,
        whose state matches the committed offsets, and replays the rest harmlessly."""

    def handle(self, records: list[Record]) -> None:
        raise NotImplementedError

    def step(self, timeout: float = 0.1) -> int:
        """Poll one batch, handle it, checkpoint when due. Returns records handled."""
        if self.consumer is None:
            self.start()
        records = self.consumer.poll(self.rt.cfg.pipeline.batch_size, timeout)
        if records:
            self.handle(records)
            self.rt.counters.inc(f"{self.name}.records", len(records))
            self._uncommitted += len(records)
        if self._uncommitted and (time.monotonic() - self._last_checkpoint >= self.rt.cfg.pipeline.checkpoint_interval_s
                                  or not records):
            self.checkpoint()
        return len(records)

    # checkpoint --------------------------------------------------------------------------
    def flush_sinks(self) -> None:
        self.rt.producer.flush()

    def snapshot_state(self) -> None:
        pass

    def checkpoint(self) -> None:
        self.flush_sinks()
        self.snapshot_state()
        if self.consumer is not None:
            self.consumer.commit()
        self._uncommitted = 0
        self._last_checkpoint = time.monotonic()
        self.rt.counters.inc(f"{self.name}.checkpoints")

    def close(self) -> None:
        if self.consumer is not None:
            try:
                if self._uncommitted:
                    self.checkpoint()
            finally:
                self.consumer.close()
                self.consumer = None
