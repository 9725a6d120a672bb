"""Persisted counters: the decide and act stages write the process's counters snapshot into the
state store (namespace `counters`, one key per process) at each checkpoint; `warden status`
sums the snapshots of every process that ever ran on this data dir."""
from __future__ import annotations

import os
import socket
import time

import orjson

NS = "counters"
_PROCESS_KEY = f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"


def persist_counters(rt) -> None:
    snap = rt.counters.snapshot()
    rt.state.put(NS, _PROCESS_KEY, orjson.dumps({"time": time.time(), "counters": snap}))


def read_counters(state) -> tuple[dict[str, float], list[dict]]:
    """(summed counters, [{process, time}]) over every persisted process snapshot."""
    total: dict[str, float] = {}
    procs = []
    for key in state.keys(NS):
        blob = state.get(NS, key)
        if not blob:
            continue
        d = orjson.loads(blob)
        procs.append({"process": key, "time": d.get("time", 0.0)})
        for k, v in (d.get("counters") or {}).items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items())), procs
