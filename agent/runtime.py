"""The runtime: what every stage shares — config, bus, producer, stores, counters, components —
and the dead-letter path."""
from __future__ import annotations

import base64
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from agent import codec, registry
from agent.bus import create_bus
from agent.config import WardenConfig
from agent.counters import COUNTERS, Counters
from agent.names import TOPICS
from agent.state import StateStore


class Runtime:
    def __init__(self, cfg: WardenConfig, *, bus=None, counters: Counters | None = None,
                 state: StateStore | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        #: the one monotonic clock stages measure intervals with (checkpoint interval, rejoin
        #: timeout): injectable so tests drive it without mixing a fake clock with the real one
        self.clock = clock
        self.bus = bus or create_bus(cfg.bus)
        self.counters = counters or COUNTERS
        self._state = state
        self._producer = None

    # lazily built shared resources ---------------------------------------------------------
    def topic(self, suffix: str) -> str:
        return self.cfg.bus.topic_prefix + suffix

    def create_topics(self) -> None:
        self.bus.create_topics([self.topic(t) for t in TOPICS], self.cfg.bus.partitions)

    @property
    def producer(self):
        if self._producer is None:
            self._producer = self.bus.producer()
        return self._producer

    @property
    def state(self) -> StateStore:
        if self._state is None:
            self._state = StateStore(Path(self.cfg.data_dir) / "state.db")
        return self._state

    @cached_property
    def store(self):
        from agent.stores import create_store
        s = create_store(self.cfg)
        s.start()
        return s

    def build(self, kind: str) -> list[Any]:
        section = {"collector": self.cfg.collectors, "detector": self.cfg.detectors,
                   "responder": self.cfg.responders}[kind]
        return [registry.create(kind, name, opts) for name, opts in section.items()]

    # dead letters ---------------------------------------------------------------------------
    def dead_letter(self, stage: str, raw: Any, reason: str, source: str = "") -> None:
        """Send a record that could not be processed to the dead-letter topic, with its reason."""
        if isinstance(raw, (bytes, bytearray)):
            try:
                raw_repr: Any = bytes(raw[:4096]).decode("utf-8")
            except UnicodeDecodeError:
                raw_repr = {"base64": base64.b64encode(bytes(raw[:4096])).decode()}
        elif isinstance(raw, str):
            raw_repr = raw[:4096]
        else:
            try:
                raw_repr = codec.loads(codec.dumps(raw))
            except Exception:  # noqa: BLE001 - not JSON-able: keep its repr
                raw_repr = repr(raw)[:4096]
        letter = {"stage": stage, "source": source, "reason": reason[:2000], "time": time.time(), "raw": raw_repr}
        self.producer.send(self.topic("deadletter"), codec.dumps(letter), key=stage.encode())
        self.counters.inc(f"{stage}.deadletter")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
        if "store" in self.__dict__:
            self.store.close()
        self.bus.close()
