"""Throughput of the decide stage with the built-in policies (correlation included): findings per
CPU-second on the embedded bus (prints the figures).

    python -m bench.decide [--findings 60000] [--entities 200] [--addresses 50]

A third of the findings are metric anomalies, a third leak-detector findings on the same metric
(they correlate: one alert per entity and episode), a third Sigma findings tagged with credential
access from `--addresses` source addresses (attacker-session correlation across entities). Findings
are produced up front (not timed); the timed part is the stage's steps until it has read them all.
"""
from __future__ import annotations

import argparse
import tempfile
import time


def findings(n: int, entities: int, addresses: int) -> list:
    from core.event import Finding
    kinds = (("baseline/default", "gpu.memory.used", ()), ("gpu_memory_leak/default", "gpu.memory.used", ()),
             ("sigma/default", "console-login-failure", ("attack.credential-access",)))
    out = []
    for i in range(n):
        det, rule, tags = kinds[i % 3]
        entity = f"node-{i % entities}" if det != "sigma/default" else f"arn:aws:iam::1:user/u{i % entities}"
        ev = ({"metric": rule, "value": 7e10 + i} if det != "sigma/default"
              else {"event": {"source.ip": f"198.51.100.{i % addresses}"}})
        out.append(Finding.create(detector=det, entity=entity, time=1000.0 + i, score=5.0, threshold=3.0,
                                  severity="high", title=f"{rule} on {entity}", evidence=ev, event_ids=(f"e{i}",),
                                  tags=tags, rule=rule))
    return out


def run(n: int, entities: int, addresses: int) -> dict:
    from core import codec
    from agent.config import parse
    from core.counters import Counters
    from agent.runtime import Runtime
    from agent.stages.decide import DecideStage
    cfg = parse({"data_dir": tempfile.mkdtemp(prefix="warden-bench-decide-")})
    rt = Runtime(cfg, counters=Counters())
    rt.create_topics()
    stage = DecideStage(rt)
    topic = rt.topic("findings")
    for f in findings(n, entities, addresses):
        rt.producer.send(topic, codec.encode(f), f.entity.encode())
    t0, w0 = time.process_time(), time.perf_counter()
    while stage.step(0):
        pass
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    c = rt.counters
    out = {"findings": n, "cpu_s": round(cpu, 2), "findings_per_cpu_s": round(n / cpu),
           "wall_s": round(wall, 2), "alerts_opened": int(c.get("decide.alerts_opened")),
           "correlated": int(c.get("decide.correlated")), "merged": int(c.get("decide.merged"))}
    stage.close()
    rt.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=60000)
    ap.add_argument("--entities", type=int, default=200)
    ap.add_argument("--addresses", type=int, default=50)
    a = ap.parse_args()
    print(run(a.findings, a.entities, a.addresses))


if __name__ == "__main__":
    main()
