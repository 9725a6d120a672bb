"""Helpers for the decide/act lifecycle tests: a decide+act pair on the embedded bus fed with findings."""
from __future__ import annotations

from core import codec
from agent.config import parse
from core.counters import Counters
from core.event import Finding
from agent.runtime import Runtime
from agent.stages.act import ActStage
from agent.stages.decide import DecideStage
from policy.policies import PolicySet


def finding(entity="n1", t=1000.0, detector="gpu_memory_leak/default", rule="gpu.memory.used", severity="high",
            evidence=None, tags=(), n=0):
    return Finding.create(detector=detector, entity=entity, time=t, score=5.0, threshold=3.0, severity=severity,
                          title=f"{rule} on {entity}", evidence=evidence or {"n": n}, event_ids=(f"ev-{entity}-{t}-{n}",),
                          tags=tags, rule=rule)


class Harness:
    def __init__(self, tmp_path, policies_yaml: str, responders=None, **act_kw) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        pol = tmp_path / "policies.yaml"
        pol.write_text(policies_yaml)
        self.cfg = parse({"data_dir": str(tmp_path / "w"), "policies": [str(pol)]})
        self.rt = Runtime(self.cfg, counters=Counters())
        self.rt.create_topics()
        self.policies = PolicySet.load([str(pol)])
        self.decide = DecideStage(self.rt, policies=self.policies)
        act_kw.setdefault("sleep", lambda s: None)
        self.act = ActStage(self.rt, responders=list(responders or []), policies=self.policies, **act_kw)

    def feed(self, *findings) -> None:
        for f in findings:
            self.rt.producer.send(self.rt.topic("findings"), codec.encode(f), f.entity.encode())
        self.drain()

    def send_alert(self, alert) -> None:
        self.rt.producer.send(self.rt.topic("alerts"), codec.encode(alert), alert.entity.encode())
        self.drain()

    def drain(self) -> None:
        for _ in range(3):
            while self.decide.step(0):
                pass
            while self.act.step(0):
                pass

    def alerts(self):
        from core.stores import AlertQuery
        return self.rt.store.list_alerts(AlertQuery(limit=1000))

    def actions(self):
        return self.rt.store.list_actions(limit=1000)

    def close(self) -> None:
        self.decide.close()
        self.act.close()
        self.rt.close()
