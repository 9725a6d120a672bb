"""Collect: run the collectors and publish their events to the topic of each event's kind,
keyed by entity (one entity's events stay ordered on one partition)."""
from __future__ import annotations

import logging
from typing import Any

from core import codec
from core.event import Event
from core.event_bounds import out_of_bounds
from core.names import TOPIC_OF_KIND
from agent.stages.base import Stage

log = logging.getLogger("warden.collect")


class BusEmitter:
    """The Emitter collectors push into: events to their topic, bad input to the dead letters."""

    def __init__(self, stage: "CollectStage", source: str) -> None:
        self.stage, self.source = stage, source
        rt = stage.rt
        self._send = rt.producer.send
        self._topics = {k: rt.topic(t) for k, t in TOPIC_OF_KIND.items()}
        self._inc = rt.counters.inc

    def emit(self, event: Event) -> None:
        why = out_of_bounds(event)     # the last door: collectors that do not go through accounting
        if why is not None:
            self.dead_letter(codec.to_dict(event), why)
            return
        self._send(self._topics[event.kind], codec.encode(event), event.entity.encode())
        self._inc("collect.events")

    def dead_letter(self, raw: Any, reason: str, source: str = "", formats: tuple[str, ...] = ()) -> None:
        self.stage.rt.dead_letter("collect", raw, reason, source or self.source, formats)

    def flush(self) -> None:
        """Push collectors call this before acknowledging a request: what that guarantees is
        `durability` (the bus's)."""
        self.stage.rt.producer.flush()

    @property
    def durability(self) -> str:
        return self.stage.rt.bus.durability

    def full(self) -> bool:
        return self.stage.rt.bus.full()

    def never_waits(self) -> bool:
        """True when handing records over waits on nothing outside the process (the in-process bus)."""
        return not self.stage.rt.bus.producer_waits


class CollectStage(Stage):
    name = "collect"

    def __init__(self, rt, *, collectors: list | None = None, http_server=None, **kw) -> None:
        super().__init__(rt, **kw)
        self.collectors = collectors if collectors is not None else rt.build("collector")
        self.http = http_server
        self._started = False
        self._persisted = 0          # collect.events + collect.deadletter when counters were last persisted

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for c in self.collectors:
            c.bind(BusEmitter(self, c.name))
            if hasattr(c, "blocklist") and c.blocklist is None:
                # the inline guard enforces the block list the blocklist responder maintains
                from pathlib import Path

                from responders.blocklist import BlockList
                c.blocklist = BlockList(Path(self.rt.cfg.data_dir) / "blocklist.db")
            c.start()
            routes = c.routes()
            if routes:
                if self.http is None:
                    log.warning("%s serves HTTP routes but http is disabled in the config", c.name)
                else:
                    self.http.add_routes(routes)

    @property
    def bounded_done(self) -> bool:
        """Every collector is bounded and has read its input (each says so itself)."""
        return all(c.bounded and c.finished for c in self.collectors)

    def step(self, timeout: float = 0.1) -> int:
        self.start()
        n = 0
        for c in self.collectors:
            if not c.finished:
                n += c.run_once()
        if n:
            self.rt.counters.inc("collect.records", n)
        self.checkpoint()
        return n

    def checkpoint(self) -> None:
        self.flush_sinks()
        if self._uncommitted_events():
            from core.counters_state import persist_counters
            persist_counters(self.rt)

    def _uncommitted_events(self) -> bool:
        n = self.rt.counters.get("collect.events") + self.rt.counters.get("collect.deadletter")
        changed, self._persisted = n != self._persisted, n
        return changed

    def close(self) -> None:
        for c in self.collectors:
            c.close()
