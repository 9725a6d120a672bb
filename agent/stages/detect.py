"""Detect: decode events, route them to the detectors that accept them, publish findings.

Per-entity detector state is restored lazily from the state store the first time an entity is
seen, and written for the entities that changed at each checkpoint; when a partition is revoked
its entities' in-memory state is dropped, so after a rebalance the new owner continues from the
checkpointed state and a detector never sees half an entity's history.

Scale-out: N replicas share one consumer group; the state store is shared (`pipeline.state:
kafka`, a compacted topic partitioned like the input) so an entity's state follows its partition.
Rebalance callbacks are applied on the stage's thread (agent.stages.base): revoked partitions'
entities are forgotten (and never written again by this replica), assigned partitions are
re-read from the state store on first sight (no stale memory after a partition comes back).

Exactly-once state: with each checkpoint the stage also writes, per changed entity, the input
position its state covers (`detect:pos`, {topic: last offset handled on the entity's partition}).
A replica that restores an entity skips that entity's records at or below the position: after a
crash between the state write and the offset commit, replayed records are not learned twice, so
the replay produces exactly the findings of an uninterrupted run.
"""
from __future__ import annotations

import logging

from core import codec
from core.bus.base import Record
from core.codec import DecodeError
from core.event import Event
from agent.stages.base import Stage

log = logging.getLogger("warden.detect")


class DetectStage(Stage):
    name = "detect"
    input_topics = ("telemetry", "audit", "inference")
    NS_POS = "detect:pos"

    def __init__(self, rt, *, detectors: list | None = None, **kw) -> None:
        super().__init__(rt, **kw)
        self.detectors = detectors if detectors is not None else rt.build("detector")
        self._known: dict[str, set[str]] = {d.name: set() for d in self.detectors}
        self._findings_topic = rt.topic("findings")
        self._seen: dict[str, int] = {}               # entity → its partition (entities of owned partitions)
        self._guard: dict[str, dict[str, int]] = {}   # entity → {topic: offset already in its restored state}
        self._pos: dict[tuple[str, int], int] = {}    # (topic, partition) → last offset handled
        from detectors.base import Detector
        # every batch is grouped by event kind once (a detector accepts only events of its kinds:
        # the conformance suite checks it); detectors whose accepts() looks further select from
        # their kinds' events in one call
        self._routes = [(d, tuple(d.event_kinds), type(d).accepts is not Detector.accepts) for d in self.detectors]
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

    def _first_sight(self, entity: str, partition: int) -> None:
        self._seen[entity] = partition
        blob = self.rt.state.get(self.NS_POS, entity)
        if blob:
            try:
                g = codec.loads(blob)
                if isinstance(g, dict) and g:
                    self._guard[entity] = {str(k): int(v) for k, v in g.items()}
            except (DecodeError, TypeError, ValueError):
                self.rt.counters.inc("detect.restore_failures")

    def handle(self, records: list[Record]) -> None:
        events: list[Event] = []
        append, seen, pos, guard = events.append, self._seen, self._pos, self._guard
        guarded = False
        for r, ev in zip(records, codec.decode_events([r.value for r in records])):
            pos[(r.topic, r.partition)] = r.offset
            if type(ev) is not Event:
                self.rt.dead_letter("detect", r.value, str(ev), r.topic)
                continue
            ent = ev.entity
            if ent not in seen:
                self._first_sight(ent, r.partition)
            if guard:
                g = guard.get(ent)
                if g is not None:
                    done = g.get(r.topic)
                    if done is not None:
                        if r.offset <= done:
                            guarded = True
                            continue          # already in the restored state: never learn twice
                        del g[r.topic]
                        if not g:
                            del guard[ent]
            append(ev)
        if guarded:
            self.rt.counters.inc("detect.replayed_skipped", len(records) - len(events))
        self.rt.counters.inc("detect.events", len(events))
        if not events:
            return
        send, topic = self.rt.producer.send, self._findings_topic
        by_kind: dict[str, list[Event]] = {}
        for ev in events:
            lst = by_kind.get(ev.kind)
            if lst is None:
                by_kind[ev.kind] = [ev]
            else:
                lst.append(ev)
        for d, kinds, selects in self._routes:
            if len(kinds) == 1:
                mine = by_kind.get(kinds[0])
            else:
                mine = [ev for ev in events if ev.kind in kinds]
            if mine and selects:
                mine = d.select(mine)
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
        changed: set[str] = set()
        for d in self.detectors:
            known = self._known[d.name]
            for e in d.dirty_entities():
                if e in known:            # never write an entity whose partition moved away
                    items.append((self._ns(d), e, d.snapshot(e)))
                    changed.add(e)
            d.mark_clean()
        topics = {t for t, _ in self._pos}
        for e in changed:
            p = self._seen.get(e)
            if p is None:
                continue
            at = {t: self._pos[(t, p)] for t in topics if (t, p) in self._pos}
            if at:
                items.append((self.NS_POS, e, codec.dumps(at)))
        self.rt.state.put_many(items)

    def _drop_partitions(self, parts: set[int]) -> None:
        gone = [e for e, p in self._seen.items() if p in parts]
        for e in gone:
            del self._seen[e]
            self._guard.pop(e, None)
        gone_set = set(gone)
        for d in self.detectors:
            known = self._known[d.name]
            for e in gone_set & known:
                d.forget(e)
                known.discard(e)
        for k in [k for k in self._pos if k[1] in parts]:
            del self._pos[k]

    def on_revoke(self, tps: list[tuple[str, int]]) -> None:
        self._drop_partitions({p for _, p in tps})

    def on_assign(self, tps: list[tuple[str, int]]) -> None:
        # anything still in memory for these partitions is from an earlier ownership: stale
        self._drop_partitions({p for _, p in tps})

    def close(self) -> None:
        super().close()
        for d in self.detectors:
            d.close()
