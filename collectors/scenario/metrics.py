"""GPU node and inference endpoint metrics: per node `gpu.*` and `training.step.duration`, per
endpoint `http.server.request.*`, every `step_seconds`, as warden Events in wire form; the GPU
memory leak, the training straggler and the latency regression show here."""
from __future__ import annotations

import math
from typing import Iterator

from core import codec, names
from core.event import Event
from collectors.scenario.platform import (CLUSTER, ENDPOINTS, EVENT_FORMAT, GIB, JOB, LEAK_NODE, NODES,
                                          SLOW_ENDPOINT, STRAGGLER_NODE)
from collectors.scenario.stream import RecordHeap, daily_load, poisson, stream_rng
from collectors.scenario.timeline import LATENCY_FACTOR, LEAK_RATE_PER_10MIN, STRAGGLER_FACTOR


def _metric(out: RecordHeap, source: str, t: float, entity: str, name: str, value: float, attrs: dict) -> None:
    ev = Event.create(source=source, kind="metric", entity=entity, name=name, time=t, value=value,
                      attributes=attrs, observed_time=t)
    out.add(t, EVENT_FORMAT, codec.to_dict(ev))


_MEM_BASE = {"gpu-node-1": 61.2, "gpu-node-2": 60.8, "gpu-node-3": 61.5, "gpu-node-4": 61.0}  # GiB
_STEP_BASE = {"gpu-node-1": 1.250, "gpu-node-2": 1.262, "gpu-node-3": 1.244, "gpu-node-4": 1.256}  # s
_ENDPOINT = {
    # requests/min at load 1, error ratio, p95 latency (s), route, version
    "llm-chat": (420.0, 0.004, 2.4, "/v1/chat/completions", "2024.5"),
    "fraud-scorer": (3000.0, 0.001, 0.042, "/v1/score", "2024.5"),
}


def gen_metrics(seed: int, source: str, t0: float, dur: float, step: int,
                windows: dict[str, tuple[float, float]]) -> Iterator:
    out = RecordHeap()
    n = int(dur // step)
    node_rng = {nd: stream_rng(seed, "metrics/" + nd) for nd in NODES}
    ep_rng = {ep: stream_rng(seed, "metrics/" + ep) for ep in ENDPOINTS}
    leak = windows.get("gpu-memory-leak")
    strag = windows.get("training-straggler")
    slow = windows.get("latency-regression")
    for i in range(n):
        t = t0 + i * step
        for k, nd in enumerate(NODES):
            r = node_rng[nd]
            base = _MEM_BASE[nd] * GIB
            mem = base * (1.0 + r.gauss(0.0, 0.003))
            if nd == LEAK_NODE and leak and leak[0] <= t < leak[1]:
                mem += base * LEAK_RATE_PER_10MIN * (t - leak[0]) / 600.0
            util = min(1.0, max(0.0, r.gauss(0.93, 0.015)))
            temp = 66.0 + 0.8 * k + 20.0 * (util - 0.93) + r.gauss(0.0, 0.6)
            sdur = _STEP_BASE[nd] * (1.0 + r.gauss(0.0, 0.015))
            if nd == STRAGGLER_NODE and strag and strag[0] <= t < strag[1]:
                sdur *= STRAGGLER_FACTOR
            gattrs = {"k8s.node.name": nd, "host.name": nd, "gpu.index": 0,
                      "gpu.model": "NVIDIA H100 80GB HBM3", "k8s.cluster.name": CLUSTER, "job.name": JOB}
            _metric(out, source, t, nd, names.GPU_MEMORY_USED, float(round(mem)), gattrs)
            _metric(out, source, t, nd, names.GPU_UTILIZATION, round(util, 4), gattrs)
            _metric(out, source, t, nd, names.GPU_TEMPERATURE, round(temp, 1), gattrs)
            _metric(out, source, t, nd, names.GPU_XID_ERRORS, 0.0, gattrs)
            _metric(out, source, t, nd, names.TRAIN_STEP_DURATION, round(sdur, 4),
                    {"k8s.node.name": nd, "host.name": nd, "job.name": JOB, "k8s.cluster.name": CLUSTER,
                     "training.rank": k})
        for ep in ENDPOINTS:
            r = ep_rng[ep]
            rate, err_ratio, p95, route, version = _ENDPOINT[ep]
            load = daily_load(t)
            lam = rate * load * step / 60.0
            count = poisson(r, lam)
            errors = poisson(r, lam * err_ratio)
            lat = p95 * (1.0 + 0.15 * (load - 1.0)) * math.exp(r.gauss(0.0, 0.04))
            if ep == SLOW_ENDPOINT and slow and slow[0] <= t < slow[1]:
                lat *= LATENCY_FACTOR
                version = "2024.6"
            attrs = {"service.name": ep, "http.route": route, "service.version": version,
                     "k8s.namespace.name": "serving", "k8s.cluster.name": CLUSTER}
            _metric(out, source, t, ep, names.HTTP_SERVER_DURATION, round(lat, 5), attrs)
            _metric(out, source, t, ep, names.HTTP_SERVER_REQUESTS, float(count), attrs)
            _metric(out, source, t, ep, names.HTTP_SERVER_ERRORS, float(errors), attrs)
        yield from out.drain(t + step)
    yield from out.drain()
