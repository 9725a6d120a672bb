"""A stage: consume a batch, handle it, and checkpoint in the one order that makes replays safe:

1. flush sinks (producer, stores) — everything derived from consumed records is durable;
2. write state snapshots — detector / decide state matching the consumed position;
3. commit offsets.

A crash anywhere before 3 replays from the last commit; deterministic ids make the replay
harmless (same event ids, same finding ids, same alert ids, idempotent actions).

Rebalances: the bus calls the consumer's callbacks during a poll — on the polling thread with
librdkafka (the default client), on its IO thread with kafka-python 3.x (where no blocking call is
allowed). The stage only queues them there and applies them on its own thread, right after the
poll that triggered them and before handling the batch, so stage state is never mutated by two
threads and both clients behave alike. Each batch is timed and counted for
/metrics, and traced (one span per batch) when tracing is on (core.observability).
"""
from __future__ import annotations

import functools
import logging
import time
from collections import deque
from typing import ClassVar

from core.bus.base import CommitDeferred, Record
from agent.health.heartbeat import HeartbeatWriter
from core.observability import metrics as _metrics
from core.observability import tracing as _tracing
from agent.runtime import Runtime

log = logging.getLogger("warden.stage")


def _with_heartbeat(step):
    """Wrap a stage's `step` so the outermost call beats the stage's heartbeat (agent.health)."""
    @functools.wraps(step)
    def beating(self, *a, **kw):
        if self._in_step:
            return step(self, *a, **kw)
        self._in_step = True
        try:
            n = step(self, *a, **kw)
        except Exception as e:
            self.heartbeat.failed(e, self._lag_or_none)
            raise
        finally:
            self._in_step = False
        self.heartbeat.beat(n or 0, self._lag_or_none)
        return n
    return beating


class Stage:
    name: ClassVar[str] = ""
    input_topics: ClassVar[tuple[str, ...]] = ()
    # a consumer whose commits a rebalance keeps deferring for this long is replaced by a new
    # group member: kafka-python can leave a member that is out of the group but never rejoins
    # (seen in CI); librdkafka rejoins by itself, and the guard costs it nothing
    rejoin_timeout_s: ClassVar[float] = 30.0
    _in_step = False
    _heartbeat: HeartbeatWriter | None = None

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        if "step" in cls.__dict__:
            cls.step = _with_heartbeat(cls.__dict__["step"])

    def __init__(self, rt: Runtime, *, member: str = "0") -> None:
        self.rt = rt
        self.member = member
        self.consumer = None
        self.monotonic = rt.clock  # every interval below is measured on this one clock (act.py: `clock` is its event-time watermark)
        self._last_checkpoint = self.monotonic()
        self._uncommitted = 0               # records handled since the last checkpoint
        self._checkpoint_requested = False  # state changed without records (request_checkpoint)
        self._rebalance: deque = deque()
        self._oldest_uncommitted_ms = 0
        self._commit_deferred = False
        self._deferred_since = 0.0
        self.last_commit_deferral = ""
        self._assigned: set[tuple[str, int]] = set()
        self._batch_hist = _metrics.HISTOGRAMS.histogram(
            "warden_stage_batch_seconds", "Time to handle one polled batch", stage=self.name)
        self._commit_hist = _metrics.HISTOGRAMS.histogram(
            "warden_stage_commit_latency_seconds",
            "From a record's append to its input topic to the commit of the checkpoint covering it "
            "(for act: alert produced by decide until stored)", stage=self.name)

    @property
    def heartbeat(self) -> HeartbeatWriter:
        if self._heartbeat is None:
            self._heartbeat = HeartbeatWriter(self.name, lambda ns, k, b: self.rt.state.put(ns, k, b),
                                              self.rt.counters, member=self.member)
        return self._heartbeat

    def _lag_or_none(self) -> int | None:
        return self.consumer.lag() if self.consumer is not None else None

    def alive(self, within_s: float) -> bool:
        """A step succeeded within `within_s` (readiness); a stage never stepped is not alive."""
        return self._heartbeat is not None and time.time() - self._heartbeat.hb.last_ok <= within_s

    def not_alive_because(self) -> str:
        hb = self._heartbeat.hb if self._heartbeat is not None else None
        if hb is None:
            return "never stepped"
        if hb.last_error_time > hb.last_ok:
            return f"steps failing ({hb.last_error}, {hb.failures} failed)"
        return f"no step for {time.time() - hb.time:.0f} s"

    def request_checkpoint(self) -> None:
        """State changed without a record (a timer fired, a delivery finished): the next step
        checkpoints it as if it had handled a record, and so does a hand-over or close."""
        self._checkpoint_requested = True

    @property
    def checkpoint_pending(self) -> bool:
        """Work handled (records or requested state) that the last checkpoint does not cover."""
        return bool(self._uncommitted or self._checkpoint_requested)

    def _forget_uncommitted(self) -> None:
        self._uncommitted = 0
        self._checkpoint_requested = False

    @property
    def group(self) -> str:
        return self.rt.cfg.pipeline.group_prefix + self.name

    def start(self) -> None:
        if self.input_topics and self.consumer is None:
            self.consumer = self.rt.bus.consumer(self.group, [self.rt.topic(t) for t in self.input_topics])
            self.consumer.on_assign = self._queue_assign
            self.consumer.on_revoke = self._queue_revoke

    # rebalance callbacks: queued on the bus's thread, applied on the stage's --------------------
    def _queue_revoke(self, tps: list[tuple[str, int]]) -> None:
        if self.checkpoint_pending and self.consumer.callbacks_on_poll_thread:
            # called inside our own poll while the partitions are still ours (librdkafka): hand
            # them over checkpointed, so their next owner continues after this work instead of
            # replaying it. A failure only means the replay happens (at-least-once either way).
            try:
                self.checkpoint()
                self.rt.counters.inc(f"{self.name}.handover_checkpoints")
            except Exception as e:  # noqa: BLE001 - never fail the rebalance itself
                log.info("%s: hand-over checkpoint on revoke failed (%s): the new owner replays", self.name, e)
                self.rt.counters.inc(f"{self.name}.handover_checkpoint_failures")
        self._rebalance.append(("revoke", list(tps)))

    def _queue_assign(self, tps: list[tuple[str, int]]) -> None:
        self.rt.invalidate_state({p for _, p in tps})   # shared (Kafka) state: re-read them before use
        self._rebalance.append(("assign", list(tps)))

    def apply_rebalance(self) -> None:
        while self._rebalance:
            kind, tps = self._rebalance.popleft()
            (self.on_revoke if kind == "revoke" else self.on_assign)(tps)
            if kind == "revoke":
                self._assigned.difference_update(tps)
            else:
                self._assigned.update(tps)
            self.rt.counters.inc(f"{self.name}.partitions_{'revoked' if kind == 'revoke' else 'assigned'}", len(tps))

    def on_assign(self, tps: list[tuple[str, int]]) -> None:
        pass

    def on_revoke(self, tps: list[tuple[str, int]]) -> None:
        """Partitions moved away. No I/O here (Kafka runs this on its network thread): state
        derived from them is dropped from memory; the new owner resumes from the last checkpoint,
        whose state matches the committed offsets, and replays the rest harmlessly."""

    def handle(self, records: list[Record]) -> None:
        raise NotImplementedError

    @_with_heartbeat
    def step(self, timeout: float = 0.1) -> int:
        """Poll one batch, handle it, checkpoint when due. Returns records handled."""
        if self.consumer is None:
            self.start()
        # with work pending, do not wait for more: an empty poll checkpoints it now (sparse
        # streams — findings, alerts — reach their sink without waiting for the interval). After
        # a commit deferred by a rebalance, poll with the full timeout: the consumer rejoins the
        # group inside poll, and a zero-timeout poll can starve that join (commit deferred forever)
        wait = timeout if (self._commit_deferred or not self.checkpoint_pending) else 0
        records = self.consumer.poll(self.rt.cfg.pipeline.batch_size, wait)
        if self._rebalance:
            self.apply_rebalance()
        if records:
            t0 = time.perf_counter()
            if _tracing.enabled():
                with _tracing.span(f"warden.{self.name}.batch", stage=self.name, records=len(records)):
                    self.handle(records)
            else:
                self.handle(records)
            self._batch_hist.observe(time.perf_counter() - t0)
            self.rt.counters.inc(f"{self.name}.records", len(records))
            if not self._uncommitted:
                self._oldest_uncommitted_ms = records[0].timestamp_ms
            self._uncommitted += len(records)
        interval = self.rt.cfg.pipeline.checkpoint_interval_s
        if self.checkpoint_pending and (self.monotonic() - self._last_checkpoint >= interval or not records):
            self.checkpoint()
        return len(records)

    # checkpoint --------------------------------------------------------------------------
    def flush_sinks(self) -> None:
        self.rt.producer.flush()

    def snapshot_state(self) -> None:
        pass

    def checkpoint(self) -> None:
        if _tracing.enabled():
            with _tracing.span(f"warden.{self.name}.checkpoint", stage=self.name, records=self._uncommitted):
                self._checkpoint()
        else:
            self._checkpoint()

    def _checkpoint(self) -> None:
        self.flush_sinks()
        self.snapshot_state()
        if self.consumer is not None:
            try:
                self.consumer.commit()
            except CommitDeferred as e:
                # the group is rebalancing: keep the work uncommitted; the next step's poll joins
                # the new generation and the next checkpoint commits what we still own (what moved
                # is replayed by its new owner: at-least-once, deterministic ids)
                self.last_commit_deferral = str(e)[:300]   # for diagnostics
                log.info("%s: commit deferred by a rebalance (%s)", self.name, self.last_commit_deferral)
                self.rt.counters.inc(f"{self.name}.commit_deferred")
                now = self.monotonic()
                if not self._commit_deferred:
                    self._commit_deferred, self._deferred_since = True, now
                elif now - self._deferred_since >= self.rejoin_timeout_s:
                    self.replace_consumer()
                return
            self._commit_deferred = False
            if self._uncommitted and self._oldest_uncommitted_ms > 0:
                self._commit_hist.observe(max(0.0, time.time() - self._oldest_uncommitted_ms / 1000.0))
            try:
                _metrics.GAUGES.set("warden_consumer_lag", self.consumer.lag(),
                                    "Records in the stage's assigned partitions not yet consumed", stage=self.name)
            except Exception:  # noqa: BLE001 - lag is best effort
                pass
        self._forget_uncommitted()
        self._last_checkpoint = self.monotonic()
        self.rt.counters.inc(f"{self.name}.checkpoints")

    def replace_consumer(self) -> None:
        """Leave the group and join again as a new member: what this member owned and did not
        commit is given up (its state dropped as on a revoke) and replayed by the next owner,
        this stage's new consumer included — at-least-once with deterministic ids."""
        log.warning("%s: commits deferred for %.0fs without rejoining the group; replacing the consumer",
                    self.name, self.monotonic() - self._deferred_since)
        self.rt.counters.inc(f"{self.name}.consumer_replaced")
        self._rebalance.clear()
        if self._assigned:
            self.on_revoke(sorted(self._assigned))
            self.rt.counters.inc(f"{self.name}.partitions_revoked", len(self._assigned))
            self._assigned.clear()
        self.consumer.on_assign = self.consumer.on_revoke = None   # its last callbacks are moot
        try:
            self.consumer.close()
        except Exception:  # noqa: BLE001 - the member is being abandoned either way
            log.warning("%s: closing the stuck consumer failed", self.name, exc_info=True)
        self.consumer = None
        self._forget_uncommitted()
        self._commit_deferred = False

    def reset_consumer(self) -> None:
        """After a failed step: close the consumer; the next step starts a new one from the last
        commit, so the failed work is replayed (deterministic ids make that harmless)."""
        if self.consumer is not None:
            try:
                self.consumer.close()
            except Exception:  # noqa: BLE001 - the consumer is being replaced either way
                pass
            self.consumer = None
            self._forget_uncommitted()

    def close(self) -> None:
        if self.consumer is not None:
            try:
                if self.checkpoint_pending:
                    self.checkpoint()
            finally:
                self.consumer.close()
                self.consumer = None
