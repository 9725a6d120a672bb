"""Detect: decode events, route them to the detectors that accept them, publish findings.

Per-entity detector state is restored lazily from the state store the first time an entity is
seen, and written for the entities that changed at each checkpoint; when a partition is revoked
its entities' in-memory state is dropped, so after a rebalance the new owner continues from the
checkpointed state and a detector never sees half an entity's history.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from agent import codec
from agent.bus.base import Record, partition_for
from agent.codec import DecodeError
from agent.event import Event
from agent.stages.base import Stage

log = logging.getLogger("warden.detect")


class DetectStage(Stage):
    name = "detect"
    input_topics = ("telemetry", "audit", "inference")

    def __init__(self, rt, *, detectors: list | None = None, **kw) -> None:
        super().__init__(rt, **kw)
        self.detectors = detectors if detectors is not None else rt.build("detector")
        self._known: dict[str, set[str]] = {d.name: set() for d in self.detectors}
        self._findings_topic = rt.topic("findings")
        for d in self.detectors:
            d.start()

    def _ns(self, d) -> str:
        return f"detector:{d.name}"

    def _ensure_restored(self, d, entities: set[str]) -> None:
        known = self._known[d.name]
        for e in entities - known:
            blob = self.rt.state.get(self._ns(d), e)
            if blob is not None:
                try:
                    d.restore(blob, e)
                except Exception as ex:  # noqa: BLE001 - a bad snapshot must not stop detection
                    log.error("%s: cannot restore state of %s: %s (starting fresh)", d.name, e, ex)
                    self.rt.counters.inc("detect.restore_failures")
            known.add(e)

    def handle(self, records: list[Record]) -> None:
        events: list[Event] = []
        for r in records:
            try:
                events.append(codec.decode(r.value, "event"))
            except DecodeError as e:
                self.rt.dead_letter("detect", r.value, str(e), r.topic)
        self.rt.counters.inc("detect.events", len(events))
        send, topic = self.rt.producer.send, self._findings_topic
        for d in self.detectors:
            mine = [ev for ev in events if d.accepts(ev)]
            if not mine:
                continue
            self._ensure_restored(d, {ev.entity for ev in mine})
            try:
                findings = d.process(mine)
            except Exception as e:  # noqa: BLE001 - one detector's bug must not stop the others
                log.exception("%s failed on a batch", d.name)
                for ev in mine:
                    self.rt.dead_letter("detect", codec.to_dict(ev), f"{d.name}: {type(e).__name__}: {e}", d.name)
                continue
            for f in findings:
                send(topic, codec.encode(f), f.entity.encode())
            self.rt.counters.inc(f"detect.findings.{d.name}", len(findings))

    def snapshot_state(self) -> None:
        items = []
        for d in self.detectors:
            for e in d.dirty_entities():
                items.append((self._ns(d), e, d.snapshot(e)))
            d.mark_clean()
        self.rt.state.put_many(items)

    def on_revoke(self, tps: list[tuple[str, int]]) -> None:
        gone = defaultdict(set)
        for topic, p in tps:
            gone[topic].add(p)
        n = self.rt.cfg.bus.partitions
        for d in self.detectors:
            for e in list(self._known[d.name]):
                if any(partition_for(e.encode(), n) in ps for ps in gone.values()):
                    d.forget(e)
                    self._known[d.name].discard(e)

    def close(self) -> None:
        super().close()
        for d in self.detectors:
            d.close()
