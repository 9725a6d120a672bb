"""Throughput of the act stage on the embedded bus with the SQLite store: alerts per CPU-second
(prints the figures).

    python -m bench.act [--alerts 20000] [--entities 200] [--updates 5] [--batch 100]

Each alert is routed to a notifier (the `log` responder, real: grouped per entity, buffered and
delivered) and to a remediating responder (`blocklist`, dry-run: planned, deduplicated, recorded
in the action log). An alert is updated `--updates` times (the last update resolves it) before the
entity's next alert opens; event time moves one second per update, so group timers fire as they
would live. Alerts are produced up front (not timed); the timed part is the stage's steps until it
has read them all and sent what is due, with a final flush.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time

ROUTES = ({"responder": "log/default", "dry_run": False, "params": {}, "approval": False, "policy": "bench",
           "notify": {"group_by": ["entity"], "group_wait": 5.0, "group_interval": 30.0, "repeat_interval": 3600.0}},
          {"responder": "blocklist/default", "dry_run": True, "params": {"kind": "user"}, "approval": False,
           "policy": "bench", "notify": {"group_by": ["alertname"], "group_wait": 30.0, "group_interval": 300.0,
                                         "repeat_interval": 14400.0}})


def alerts(n: int, entities: int, updates: int) -> list:
    from core.event import Alert
    out = []
    for i in range(n):
        entity, round_ = f"user-{i % entities}", i // entities
        episode, step = divmod(round_, updates)
        t = 1000.0 + i
        out.append(Alert(id=f"al-{entity}-{episode}", rule="bench", title=f"bench on {entity}", severity="high",
                         entity=entity, group_key=entity, status="resolved" if step == updates - 1 else "firing",
                         first_seen=t - step, last_seen=t, count=step + 1, updated=t, detector="sigma/default",
                         evidence={"user": entity}, labels={"alertname": "bench", "entity": entity, "user": entity},
                         routes=ROUTES))
    return out


def run(n: int, entities: int, updates: int, batch: int = 100) -> dict:
    from core import codec
    from agent.config import parse
    from core.counters import Counters
    from agent.runtime import Runtime
    from agent.stages.act import ActStage
    from policy.policies import PolicySet
    logging.getLogger("warden.notify").setLevel(logging.ERROR)
    cfg = parse({"data_dir": tempfile.mkdtemp(prefix="warden-bench-act-"), "pipeline": {"batch_size": batch}})
    rt = Runtime(cfg, counters=Counters())
    rt.create_topics()
    stage = ActStage(rt, responders=[], policies=PolicySet([]), sleep=lambda s: None)
    topic = rt.topic("alerts")
    for a in alerts(n, entities, updates):
        rt.producer.send(topic, codec.encode(a), a.entity.encode())
    t0, w0 = time.process_time(), time.perf_counter()
    while stage.step(0):
        pass
    stage.flush_notifications()
    stage.checkpoint()
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    c = rt.counters
    out = {"alerts": n, "batches": stage._batch_hist.count, "cpu_s": round(cpu, 2),
           "alerts_per_cpu_s": round(n / cpu), "wall_s": round(wall, 2),
           "notifications": int(c.get("act.notifications")), "delivered": int(c.get("act.notify_delivered")),
           "dry_run": int(c.get("act.dry_run")), "dedup": int(c.get("act.dedup")),
           "actions": len(rt.store.list_actions(limit=10 ** 6))}
    stage.close()
    rt.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--entities", type=int, default=200)
    ap.add_argument("--updates", type=int, default=5)
    ap.add_argument("--batch", type=int, default=100, help="records per poll (the timers fire once per batch)")
    a = ap.parse_args()
    print(run(a.alerts, a.entities, a.updates, a.batch))


if __name__ == "__main__":
    main()
