"""Readiness checks served at `/readyz`: every stage of this process stepped recently, the bus
answers, and (for the decide and act stages, which write alerts and actions) the store answers.
Checks that reach another system are cached for `ttl_s`, so a probe every second costs at most
one round trip per `ttl_s`.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class Cached:
    def __init__(self, check: Callable[[], tuple[bool, str]], ttl_s: float) -> None:
        self.check, self.ttl_s = check, ttl_s
        self._at, self._last = -1e18, (False, "not checked yet")
        self._lock = threading.Lock()          # probes arrive concurrently; one round trip at a time

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            return self._refresh()

    def _refresh(self) -> tuple[bool, str]:
        now = time.monotonic()
        if now - self._at >= self.ttl_s:
            try:
                self._last = self.check()
            except Exception as e:  # noqa: BLE001 - unreachable is the answer, not an error
                self._last = (False, f"unreachable: {type(e).__name__}")
            self._at = now
        return self._last


def register(http, stages: list, rt, *, alive_s: float = 30.0, ttl_s: float = 10.0) -> None:
    """Add the pipeline's readiness checks to `http` (an HttpServer)."""
    def stages_alive() -> tuple[bool, str]:
        late = [f"{s.name}: {s.not_alive_because()}" for s in stages if not s.alive(alive_s)]
        return (not late, "; ".join(late) if late else "all stepping: " + ", ".join(s.name for s in stages))

    def bus() -> tuple[bool, str]:
        rt.bus.committed(rt.cfg.pipeline.group_prefix + stages[0].name, rt.topic("deadletter"))
        return True, f"{rt.cfg.bus.type} bus answers"

    def store() -> tuple[bool, str]:
        from core.stores import AlertQuery
        rt.store.list_alerts(AlertQuery(limit=1))
        return True, f"{rt.cfg.store.type} store answers"

    http.add_readiness_check("stages", stages_alive)
    http.add_readiness_check("bus", Cached(bus, ttl_s))
    if any(s.name in ("decide", "act") for s in stages):
        http.add_readiness_check("store", Cached(store, ttl_s))
