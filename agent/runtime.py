"""The runtime: what every stage shares — config, bus, producer, stores, counters, components —
and the dead-letter path."""
from __future__ import annotations

import base64
import reprlib
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from core import codec, registry
from core.bus import create_bus
from agent.config import WardenConfig
from core.counters import COUNTERS, Counters
from core.names import TOPICS
from core.state import StateStore


RAW_LIMIT = 4096
#: a structured record is kept whole (re-submittable by `warden deadletters replay`) up to this size
MAX_STRUCTURED = 256 << 10
#: a dead letter keeps a structured record as JSON only up to this depth (orjson writes at most
#: 254 levels, and the letter wraps the record in one more)
_RAW_DEPTH = 200
_RAW_REPR = reprlib.Repr()
_RAW_REPR.maxlevel, _RAW_REPR.maxdict, _RAW_REPR.maxlist, _RAW_REPR.maxstring = 12, 50, 50, 400


def letter_raw(raw: Any) -> Any:
    """What a dead letter keeps of a record: UTF-8 text (else base64) of bytes, up to RAW_LIMIT;
    a structured record as JSON when it can be written as JSON (up to MAX_STRUCTURED, else its
    first RAW_LIMIT bytes as text), else a bounded repr. Never raises,
    whatever the depth or type (a RecursionError here would lose the dead letter itself)."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        cut = bytes(raw[:RAW_LIMIT])
        try:
            return cut.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(cut).decode()}
    if isinstance(raw, str):
        return raw[:RAW_LIMIT]
    from collectors.accounting import deeper_than
    try:
        if not deeper_than(raw, _RAW_DEPTH):
            text = codec.dumps(raw)
            if len(text) <= MAX_STRUCTURED:
                return codec.loads(text)
            return text[:RAW_LIMIT].decode("utf-8", "replace") + "...[truncated]"
    except Exception:  # noqa: BLE001 - not JSON-able: keep a bounded repr below
        pass
    try:
        return _RAW_REPR.repr(raw)[:RAW_LIMIT]
    except Exception as e:  # noqa: BLE001 - a repr that fails still leaves a letter
        return f"<unrepresentable {type(raw).__name__}: {type(e).__name__}>"


class Runtime:
    def __init__(self, cfg: WardenConfig, *, bus=None, counters: Counters | None = None,
                 state: StateStore | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        #: the one monotonic clock stages measure intervals with (checkpoint interval, rejoin
        #: timeout): injectable so tests drive it without mixing a fake clock with the real one
        self.clock = clock
        self.counters = counters or COUNTERS
        # the dead letters outlive the process on the embedded bus too (`warden deadletters`)
        self.bus = bus or create_bus(cfg.bus, spool_dir=Path(cfg.data_dir) / "bus",
                                     spooled=[cfg.bus.topic_prefix + "deadletter"], counters=self.counters)
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

    def share_state(self) -> None:
        """`pipeline.state: kafka`: the stages' state is the compacted topic replicas on any host
        share, unless a state store was given to this runtime."""
        if self._state is None and self.cfg.pipeline.state == "kafka":
            from core.state_kafka import create_state_store
            self._state = create_state_store(self.cfg)

    def invalidate_state(self, partitions: set[int]) -> None:
        """Partitions newly assigned to a stage: a shared state store re-reads what other replicas
        wrote for them before it is used (a state store not opened yet has nothing to re-read)."""
        if self._state is not None:
            self._state.invalidate(partitions)

    @cached_property
    def store(self):
        from core.stores import create_store
        s = create_store(self.cfg)
        s.start()
        return s

    def build(self, kind: str) -> list[Any]:
        section = {"collector": self.cfg.collectors, "detector": self.cfg.detectors,
                   "responder": self.cfg.responders}[kind]
        return [registry.create(kind, name, opts, self.cfg.config_dir) for name, opts in section.items()]

    # dead letters ---------------------------------------------------------------------------
    def dead_letter(self, stage: str, raw: Any, reason: str, source: str = "",
                    formats: tuple[str, ...] = ()) -> None:
        """Send a record that could not be processed to the dead-letter topic, with its reason and
        the input formats it was read with (`formats`: what `warden deadletters replay` re-submits
        it through; omitted when none applies). Never fails on the record itself: one too deep, too
        odd or too large to keep as JSON is kept as truncated text (see `letter_raw`)."""
        letter = {"stage": stage, "source": source, "reason": reason[:2000], "time": time.time(),
                  "raw": letter_raw(raw)}
        if formats:
            letter["formats"] = [str(f) for f in formats]
        self.producer.send(self.topic("deadletter"), codec.dumps(letter), key=stage.encode())
        self.counters.inc(f"{stage}.deadletter")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
        if "store" in self.__dict__:
            self.store.close()
        self.bus.close()
