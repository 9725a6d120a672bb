"""The webhook's Alertmanager payload through the act stage's grouping, to a real local receiver:
one group's messages keep the same `groupKey` from the first firing to the last resolved, and
carry `externalURL`, each alert's `generatorURL` and the group's `commonAnnotations`."""
from __future__ import annotations

import dataclasses
import json

import pytest

from core.alertmanager import fingerprint, group_key
from core.event import Alert, stable_id
from responders.webhook import WebhookResponder
from tests.support.receiver import Receiver
from tests.unit.agent.lifecycle.harness import Harness

POLICY = """
policies:
  - id: gpu-leak
    match: {detector: ["gpu_memory_leak/*"]}
    routes: [{responder: webhook/t, dry_run: false, notify: {group_by: [alertname], group_wait: 0s, group_interval: 1s}}]
"""
EXTERNAL = "https://warden.example.org"


@pytest.fixture
def receiver():
    r = Receiver(status=200)
    yield r
    r.close()


def alert(h, node: str, status: str = "firing", t: float = 1_000_000.0) -> Alert:
    [p] = h.policies.policies
    return Alert(id=stable_id("alert", node), rule=p.id, title=f"GPU memory leak on {node}", severity="high",
                 entity=node, group_key=node, status=status, first_seen=t, last_seen=t + (60 if status == "resolved" else 0),
                 detector="gpu_memory_leak/default", description=f"memory grows on {node}",
                 labels={"alertname": p.id, "severity": "high", "entity": node, "gpu.model": "H100"},
                 updated=t, routes=tuple(p.routes))


def test_group_key_is_stable_from_firing_to_resolved(tmp_path, receiver):
    clock = {"t": 1_000_000.0}
    hook = WebhookResponder("webhook/t", url=receiver.url, external_url=EXTERNAL)
    h = Harness(tmp_path, POLICY, responders=[hook], wall=lambda: clock["t"])
    steps = [[alert(h, "gpu-1")], [alert(h, "gpu-2", t=1_000_010.0)],
             [alert(h, "gpu-1", "resolved")], [alert(h, "gpu-2", "resolved", t=1_000_010.0)]]
    for i, batch in enumerate(steps):
        for a in batch:
            h.send_alert(dataclasses.replace(a, updated=a.updated + i))
        h.act._advance(h.act.clock() + 5)       # past group_interval: the changed group is due
        h.drain()                               # act.step() sends what is due
    messages = [json.loads(body) for code, _, body in receiver.requests if code == 200]
    assert [m["status"] for m in messages] == ["firing", "firing", "firing", "resolved"]
    assert [sorted(a["status"] for a in m["alerts"]) for m in messages] == [
        ["firing"], ["firing", "firing"], ["firing", "resolved"], ["resolved"]]
    assert {m["groupKey"] for m in messages} == {group_key("webhook/t", {"alertname": "gpu-leak"})}
    assert {m["externalURL"] for m in messages} == {EXTERNAL}
    for m in messages:
        for a in m["alerts"]:
            wid = a["labels"]["warden_alert_id"]
            assert a["generatorURL"] == f"{EXTERNAL}/ui/#/alerts/{wid}"
            assert a["fingerprint"] == fingerprint(a["labels"])
            assert a["labels"]["gpu_model"] == "H100"          # label names made Alertmanager-valid
    both = messages[1]
    assert both["commonAnnotations"] == {"count": "1", "detector": "gpu_memory_leak/default"}
    assert both["commonLabels"]["alertname"] == "gpu-leak" and "entity" not in both["commonLabels"]
    assert messages[0]["commonAnnotations"]["summary"] == "GPU memory leak on gpu-1"
    h.close()


def test_payload_is_the_same_for_a_redelivered_group(receiver):
    """A retry or replay of one notification sends the same bytes' meaning: same groupKey, same fingerprints."""
    hook = WebhookResponder("webhook/t", url=receiver.url, external_url=EXTERNAL)
    a = Alert(id="a" * 32, rule="r", title="t", severity="low", entity="e", group_key="e", status="firing",
              first_seen=1.0, last_seen=2.0, labels={"alertname": "r"})
    [x] = hook.plan(a, {"responder": hook.name, "dry_run": False})
    hook.notify([a], {"alertname": "r"}, x)
    hook.notify([a], {"alertname": "r"}, dataclasses.replace(x, params={"notification": "other-seq"}))
    first, second = (json.loads(b) for _, _, b in receiver.requests)
    assert first == second
    hook.close()
