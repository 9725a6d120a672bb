"""Stage heartbeats: each running stage writes, at most every `INTERVAL_S`, when it last stepped,
when it last handled a record, its consumer lag (recent samples) and its dead-letter count (one
sample a minute for the last hour) into the state store (namespace `heartbeats`, one key per stage
per process). `warden status` and `/readyz` judge them (agent.health.verdict).
Wall-clock times: the reader is another process.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

import orjson

log = logging.getLogger("warden.health")

NS = "heartbeats"
INTERVAL_S = 5.0
LAG_SAMPLES = 24              # two minutes at INTERVAL_S
DEADLETTER_SAMPLES = 61       # one an minute: an hour and a bit
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Heartbeat:
    stage: str
    process: str
    time: float                                   # last step
    started: float
    last_progress: float                          # last batch with records (started when none yet)
    records: int = 0
    lag: int | None = None
    lag_samples: list[tuple[float, int]] = field(default_factory=list)
    deadletters: list[tuple[float, float]] = field(default_factory=list)   # (time, cumulative count)
    step_failures: float = 0.0
    stopped: bool = False
    last_ok: float = 0.0                          # last step that did not raise
    last_error: str = ""                          # exception type of the last failed step
    last_error_time: float = 0.0
    failures: int = 0                             # failed steps in this process

    def dumps(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def loads(cls, blob: bytes) -> "Heartbeat | None":
        try:
            d = orjson.loads(blob)
            d["lag_samples"] = [tuple(x) for x in d.get("lag_samples") or []]
            d["deadletters"] = [tuple(x) for x in d.get("deadletters") or []]
            return cls(**d)
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return None


class HeartbeatWriter:
    """One stage's heartbeat in this process. `beat()` is cheap between writes."""

    def __init__(self, stage: str, put: Callable[[str, str, bytes], None], counters, *,
                 member: str = "0", clock: Callable[[], float] = time.time, interval_s: float = INTERVAL_S) -> None:
        self.put, self.counters, self.clock, self.interval_s = put, counters, clock, interval_s
        now = clock()
        self.key = f"{stage}:{_PROCESS}:{member}:{int(now)}"
        self.hb = Heartbeat(stage, f"{_PROCESS}:{member}", now, now, now)
        self._written = 0.0
        self._failed = False

    def failed(self, error: BaseException, lag: Callable[[], int | None]) -> None:
        """A step raised: the stage is alive but not getting anywhere (a poison record, a sink down)."""
        hb = self.hb
        hb.last_error, hb.last_error_time = type(error).__name__, self.clock()
        hb.failures += 1
        self.beat(0, lag, ok=False)

    def beat(self, handled: int, lag: Callable[[], int | None], *, force: bool = False, ok: bool = True) -> None:
        now = self.clock()
        hb = self.hb
        hb.time = now
        if ok:
            hb.last_ok = now
        if handled:
            hb.records += handled
            hb.last_progress = now
        if not force and now - self._written < self.interval_s:
            return
        self._written = now
        try:
            hb.lag = lag()
        except Exception:  # noqa: BLE001 - lag is best effort; None says "unknown"
            hb.lag = None
        if hb.lag is not None:
            hb.lag_samples = (hb.lag_samples + [(now, int(hb.lag))])[-LAG_SAMPLES:]
        dl = float(self.counters.get(f"{hb.stage}.deadletter"))
        if not hb.deadletters or now - hb.deadletters[-1][0] >= 60 or dl != hb.deadletters[-1][1]:
            hb.deadletters = (hb.deadletters + [(now, dl)])[-DEADLETTER_SAMPLES:]
        hb.step_failures = float(self.counters.get(f"{hb.stage}.step_failures"))
        try:
            self.put(NS, self.key, hb.dumps())
            self._failed = False
        except Exception as e:  # noqa: BLE001 - a lost heartbeat shows as a stale one; never stop the stage
            self.counters.inc("health.heartbeat_failures")
            if not self._failed:
                log.warning("%s: heartbeat not written: %s", hb.stage, type(e).__name__)
            self._failed = True

    def stop(self, lag: Callable[[], int | None] = lambda: None) -> None:
        self.hb.stopped = True
        self.beat(0, lag, force=True)


def read_heartbeats(state) -> list[Heartbeat]:
    out = []
    for key in state.keys(NS):
        blob = state.get(NS, key)
        hb = Heartbeat.loads(blob) if blob else None
        if hb is not None:
            out.append(hb)
    return out
