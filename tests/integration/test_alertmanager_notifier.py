"""warden's alerts arrive in a real, running Alertmanager (v0.35.0): the act stage routes them to
the `alertmanager` notifier, which posts them to `/api/v2/alerts`; Alertmanager's own API then
shows them with warden's labels, annotations, generatorURL and startsAt, under the fingerprint
warden computes; the refresher moves endsAt forward while they fire (and a restarted notifier
picks the firing ones up from the store); a resolved alert leaves Alertmanager's active set."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest

from core.alertmanager import fingerprint
from core.event import Alert, stable_id
from responders.alertmanager import AlertmanagerResponder
from tests.support.alertmanager_bin import Alertmanager, bin_dir, free_port, wait_for
from tests.unit.agent.lifecycle.harness import Harness

POLICY = """
policies:
  - id: gpu-leak
    match: {detector: ["gpu_memory_leak/*"]}
    routes: [{responder: alertmanager/am, dry_run: false, notify: {group_by: [alertname], group_wait: 0s, group_interval: 1s}}]
"""


@pytest.fixture
def alertmanager(tmp_path):
    am = Alertmanager(bin_dir() / "alertmanager", tmp_path / "am")
    yield am
    am.close()


def parse(t: str) -> float:
    return dt.datetime.fromisoformat(t[:26].rstrip("Z") + "+00:00").timestamp()


def alert(h, node: str, status: str = "firing") -> Alert:
    [p] = h.policies.policies
    now = time.time()
    return Alert(id=stable_id("am-alert", node), rule=p.id, title=f"GPU memory leak on {node}", severity="critical",
                 entity=node, group_key=node, status=status, first_seen=now - 120, last_seen=now - 1,
                 detector="gpu_memory_leak/default", description=f"memory grows 2 GiB/h on {node}",
                 labels={"alertname": p.id, "severity": "critical", "entity": node, "gpu.model": "H100"},
                 updated=now, routes=tuple(p.routes))


def deliver(h, *alerts) -> None:
    for a in alerts:
        h.send_alert(a)
    h.act._advance(h.act.clock() + 5)
    h.drain()                               # act.step() sends what is due


def test_alerts_arrive_refresh_and_resolve_in_alertmanager(tmp_path, alertmanager):
    am = AlertmanagerResponder("alertmanager/am", url=alertmanager.url, resend_interval_s=0.5,
                               external_url="https://warden.example.org")
    h = Harness(tmp_path / "w", POLICY, responders=[am])
    a1, a2 = alert(h, "gpu-node-3"), alert(h, "gpu-node-4")
    deliver(h, a1, a2)
    got = wait_for(lambda: {x["labels"]["warden_alert_id"]: x for x in alertmanager.alerts()
                            if x["labels"].get("alertname") == "gpu-leak"} if len(alertmanager.alerts()) == 2 else None)
    assert got and set(got) == {a1.id, a2.id}
    x = got[a1.id]
    assert x["labels"] == {"alertname": "gpu-leak", "severity": "critical", "entity": "gpu-node-3", "rule": "gpu-leak",
                           "gpu_model": "H100", "warden_alert_id": a1.id}
    assert x["annotations"]["summary"] == "GPU memory leak on gpu-node-3"
    assert x["annotations"]["description"] == "memory grows 2 GiB/h on gpu-node-3"
    assert x["generatorURL"] == f"https://warden.example.org/ui/#/alerts/{a1.id}"
    assert x["fingerprint"] == fingerprint(x["labels"])          # Alertmanager's own fingerprint
    assert abs(parse(x["startsAt"]) - a1.first_seen) < 1
    assert x["status"]["state"] == "active"
    notified = [d for d in h.actions() if d.action == "notify"]
    assert {d.alert_id for d in notified} == {a1.id, a2.id} and {d.status for d in notified} == {"done"}

    first_end = parse(x["endsAt"])
    moved = wait_for(lambda: parse(next(y for y in alertmanager.alerts()
                                        if y["labels"]["warden_alert_id"] == a1.id)["endsAt"]) > first_end + 0.4)
    assert moved and am.refreshes >= 1 and am.refresh_errors == 0

    deliver(h, dataclasses.replace(a1, status="resolved", last_seen=time.time() - 0.5, updated=time.time()))
    left = wait_for(lambda: [y["labels"]["entity"] for y in alertmanager.alerts()] == ["gpu-node-4"])
    assert left, alertmanager.alerts()
    assert [y.id for y in am.firing()] == [a2.id]               # the resolved one is no longer refreshed
    h.close()


def test_a_restarted_notifier_refreshes_what_the_store_holds(tmp_path, alertmanager):
    am = AlertmanagerResponder("alertmanager/am", url=alertmanager.url, resend_interval_s=3600)
    h = Harness(tmp_path / "w", POLICY, responders=[am])
    a1 = alert(h, "gpu-node-7")
    deliver(h, a1)
    assert wait_for(lambda: len(alertmanager.alerts()) == 1)
    end = parse(alertmanager.alerts()[0]["endsAt"])
    am.close()
    again = AlertmanagerResponder("alertmanager/am", url=alertmanager.url, resend_interval_s=3600)
    again.bind_runtime(h.rt)                                    # a new act stage: nothing notified yet
    assert again.refresh() == 1 and [a.id for a in again.firing()] == [a1.id]
    assert parse(alertmanager.alerts()[0]["endsAt"]) > end
    again.close()
    h.close()


def test_alertmanager_down_is_retried_then_delivered(tmp_path):
    """A delivery to an Alertmanager that is not up yet stays buffered and goes out once it answers."""
    port = free_port()
    am = AlertmanagerResponder("alertmanager/am", url=f"http://127.0.0.1:{port}", retry_initial_s=0.1,
                               retry_max_s=0.2)
    h = Harness(tmp_path / "w", POLICY, responders=[am])
    deliver(h, alert(h, "gpu-node-8"))
    assert h.act.buffered() == 1 and h.rt.counters.get("act.notify_retries") >= 1
    up = Alertmanager(bin_dir() / "alertmanager", tmp_path / "am", port=port)
    try:
        assert wait_for(lambda: (h.act.step(0), h.act.buffered() == 0)[1], timeout=10)
        assert [y["labels"]["entity"] for y in up.alerts()] == ["gpu-node-8"]
        assert [d.status for d in h.actions() if d.action == "notify"] == ["done"]
    finally:
        up.close()
        h.close()
