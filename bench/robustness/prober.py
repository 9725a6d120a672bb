"""The good client: one small ingest request every `interval_s`, timed per request, in a process
of its own, so that the attackers' threads (in the bench's process) do not slow its own clock: its
latency is the server's. Each request counts in the phase it was sent in (`idle`, `attack`;
`drain`, the moments between an attack window and the next idle one, counts in neither)."""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections import Counter

from bench.robustness.inputs import Attack

PHASES = ("idle", "attack", "drain")     # drain: attack paused, its last requests still in flight


def _probe(good: Attack, host: str, port: int, token: str, interval_s: float, phase, counts, stop, out) -> None:
    import time

    from bench.robustness.http_attack import send
    lat: dict[str, list[float]] = {p: [] for p in PHASES}
    failures: Counter = Counter()
    trace: list[tuple[float, float, str]] = []
    while not stop.is_set():
        now = PHASES[phase.value]
        sent = time.time()
        t0 = time.perf_counter()
        status, _ = send(good, host, port, token, timeout=60)
        dt = time.perf_counter() - t0
        trace.append((sent, dt, now if status == 200 else f"{now} {status}"))
        if status == 200:
            lat[now].append(dt)
            counts[PHASES.index(now)] += 1
        else:
            failures[(now, status)] += 1
        stop.wait(max(0.0, interval_s - dt))
    out.put((lat, dict(failures), trace))


class Prober:
    def __init__(self, good: Attack, host: str, port: int, token: str, interval_s: float = 0.05) -> None:
        ctx = mp.get_context("spawn")
        self._phase = ctx.Value("i", 0)
        self._counts = ctx.Array("i", len(PHASES))
        self._stop = ctx.Event()
        self._out = ctx.Queue()
        self._proc = ctx.Process(target=_probe, daemon=True, args=(good, host, port, token, interval_s, self._phase,
                                                                   self._counts, self._stop, self._out))
        self.lat: dict[str, list[float]] = {p: [] for p in PHASES}
        self.failures: Counter = Counter()
        #: every good request: (wall-clock time sent, seconds to its answer, phase [and status if not 200])
        self.trace: list[tuple[float, float, str]] = []

    def start(self, cpus: set[int] | None = None) -> None:
        self._proc.start()
        if cpus:
            os.sched_setaffinity(self._proc.pid, cpus)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def count(self, phase: str) -> int:
        """Good requests answered 200 so far in `phase` (live)."""
        return self._counts[PHASES.index(phase)]

    @property
    def phase(self) -> str:
        return PHASES[self._phase.value]

    @phase.setter
    def phase(self, name: str) -> None:
        self._phase.value = PHASES.index(name)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop probing and collect the latencies (`lat`, `failures`, `trace`)."""
        self._stop.set()
        try:
            lat, failures, self.trace = self._out.get(timeout=timeout)
        except queue.Empty:
            self.failures[("stop", "no answer from the prober process")] += 1
        else:
            self.lat, self.failures = lat, Counter(failures)
        self._proc.join(timeout)
