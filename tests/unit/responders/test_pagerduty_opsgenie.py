"""PagerDuty (Events API v2) and Opsgenie (Alert API v2) notifiers through the act stage, against
local receivers that validate the documented payloads (tests/support/incident_receivers.py):
trigger / acknowledge / resolve with one stable dedup key, every request within the documented
fields, types and limits even for oversized alerts, refusals given up with the service's reason."""
from __future__ import annotations

import dataclasses

import pytest

from core.errors import ConfigError
from core.event import Alert, stable_id
from core.registry import create
from responders.opsgenie import OpsgenieResponder
from responders.pagerduty import PagerDutyResponder
from tests.support.incident_receivers import OpsgenieAlerts, PagerDutyEvents
from tests.unit.agent.lifecycle.harness import Harness

PD_KEY = "R0123456789abcdef0123456789ABCDE"
OG_KEY = "6f1c0b2e-93a4-4e43-8e45-0c1d2e3f4a5b"
POLICY = """
policies:
  - id: cred-abuse
    match: {{detector: ["sigma/*"]}}
    routes: [{{responder: {name}, dry_run: false, notify: {{group_by: [alertname], group_wait: 0s, group_interval: 1s}}}}]
"""
STATES = {"pagerduty": ("triggered", "acknowledged", "resolved"), "opsgenie": ("open", "acknowledged", "closed")}


def service(kind):
    return PagerDutyEvents(routing_keys=[PD_KEY]) if kind == "pagerduty" else OpsgenieAlerts(OG_KEY)


def notifier(kind, svc, **kw):
    if kind == "pagerduty":
        return PagerDutyResponder("pagerduty/oncall", routing_key=PD_KEY, url=svc.url, **kw)
    return OpsgenieResponder("opsgenie/oncall", api_key=OG_KEY, url=svc.base,
                             responders=[{"type": "team", "name": "ml-oncall"}], tags=["warden"], **kw)


def alert(h, status="firing", **kw) -> Alert:
    [p] = h.policies.policies
    base = dict(id=stable_id("alert", "mallory"), rule=p.id, title="New principal pulled model weights",
                severity="critical", entity="mallory", group_key="mallory", status=status, first_seen=1_000_000.0,
                last_seen=1_000_100.0, detector="sigma/default", description="failed logins, then a new key",
                tags=("attack.t1078.004", "attack.persistence"), labels={"alertname": p.id, "rule": "r-1"},
                evidence={"source.ip": "198.51.100.7"}, updated=1_000_100.0, routes=tuple(p.routes))
    base.update(kw)
    return Alert(**base)


def step(h, a):
    h.send_alert(a)
    h.act._advance(h.act.clock() + 5)
    h.drain()


@pytest.fixture(params=["pagerduty", "opsgenie"])
def kind(request):
    return request.param


@pytest.fixture
def svc(kind):
    s = service(kind)
    yield s
    s.close()


def harness(tmp_path, kind, svc, **kw):
    name = "pagerduty/oncall" if kind == "pagerduty" else "opsgenie/oncall"
    return Harness(tmp_path, POLICY.format(name=name), responders=[notifier(kind, svc, **kw)])


def test_trigger_acknowledge_resolve_with_one_dedup_key(tmp_path, kind, svc):
    h = harness(tmp_path, kind, svc, external_url="https://warden.example.org")
    a = alert(h)
    key = f"warden-{a.id}"
    for i, status in enumerate(("firing", "acknowledged", "resolved")):
        step(h, dataclasses.replace(a, status=status, updated=a.updated + i, last_seen=a.last_seen + i))
        assert svc.incidents == {key: STATES[kind][i]}, (status, svc.requests[-1:])
    assert svc.problems() == [] and [r["status"] for r in svc.requests] == [202, 202, 202]
    bodies = svc.bodies()
    if kind == "pagerduty":
        assert [b["event_action"] for b in bodies] == ["trigger", "acknowledge", "resolve"]
        assert {b["dedup_key"] for b in bodies} == {key}
        p = bodies[0]["payload"]
        assert (p["severity"], p["source"], p["summary"]) == ("critical", "mallory", a.title)
        assert bodies[0]["links"][0]["href"] == f"https://warden.example.org/ui/#/alerts/{a.id}"
    else:
        assert [r["path"].rsplit("/", 1)[-1] for r in svc.requests] == ["alerts", "acknowledge", "close"]
        assert bodies[0]["alias"] == key and bodies[0]["priority"] == "P1"
        assert bodies[0]["responders"] == [{"type": "team", "name": "ml-oncall"}]
        assert "warden" in bodies[0]["tags"] and "attack.t1078.004" in bodies[0]["tags"]
    acts = [x for x in h.actions() if x.action == "notify"]
    assert len(acts) == 3 and {x.status for x in acts} == {"done"}
    h.close()


def test_a_replayed_trigger_adds_nothing(tmp_path, kind, svc):
    r = notifier(kind, svc)
    h = harness(tmp_path, kind, svc)
    a = alert(h)
    [x] = r.plan(a, {"responder": r.name, "dry_run": False})
    r.notify([a], {"alertname": a.rule}, x)
    r.notify([a], {"alertname": a.rule}, x)       # a retry whose first answer was lost
    assert len(svc.incidents) == 1 and svc.problems() == []
    r.close()
    h.close()


def test_oversized_alerts_stay_within_the_documented_limits(tmp_path, kind, svc):
    r = notifier(kind, svc)
    h = harness(tmp_path, kind, svc)
    big = alert(h, title="x" * 5000, entity="e" * 2000, description="d" * 40000,
                tags=tuple(f"tag-{i}-" + "t" * 80 for i in range(40)),
                labels={f"l{i}": "v" * 500 for i in range(40)},
                evidence={f"k{i}": "z" * 20000 for i in range(40)})
    [x] = r.plan(big, {"responder": r.name, "dry_run": False})
    r.notify([big], {"alertname": big.rule}, x)
    assert svc.problems() == [] and svc.requests[0]["status"] == 202
    body = svc.bodies()[0]
    if kind == "pagerduty":
        assert len(body["payload"]["summary"]) == 1024
        assert "warden_truncated" in body["payload"]["custom_details"]
    else:
        assert len(body["message"]) == 130 and len(body["tags"]) == 20
        assert sum(len(k) + len(v) for k, v in body["details"].items()) <= 8000
    r.close()
    h.close()


def test_a_refused_request_is_given_up_with_the_reason(tmp_path, kind, svc):
    name = "pagerduty/oncall" if kind == "pagerduty" else "opsgenie/oncall"
    if kind == "pagerduty":
        bad = PagerDutyResponder(name, routing_key="X" * 32, url=svc.url)
    else:
        bad = OpsgenieResponder(name, api_key="not-the-key", url=svc.base)
    h = Harness(tmp_path, POLICY.format(name=name), responders=[bad])
    step(h, alert(h))
    [act] = [x for x in h.actions() if x.action == "notify"]
    assert act.status == "failed" and act.result["given_up"] == "rejected"
    says = "400: " if kind == "pagerduty" else "401: "
    assert says in act.result["error"] and ("Invalid routing key" if kind == "pagerduty" else "authenticate") \
        in act.result["error"]
    assert svc.incidents == {}
    h.close()


@pytest.mark.parametrize("type_, opts, says", [
    ("pagerduty", {}, "32-character integration key"),
    ("pagerduty", {"routing_key": "abc"}, "32-character"),
    ("opsgenie", {}, "api_key"),
    ("opsgenie", {"api_key": "k", "responders": [{"type": "team"}]}, "responders[0]"),
])
def test_config_errors(monkeypatch, type_, opts, says):
    monkeypatch.delenv("WARDEN_PAGERDUTY_ROUTING_KEY", raising=False)
    monkeypatch.delenv("WARDEN_OPSGENIE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=says.replace("[", r"\[")):
        create("responder", f"{type_}/x", opts)


def test_keys_from_the_environment(monkeypatch):
    monkeypatch.setenv("WARDEN_PAGERDUTY_ROUTING_KEY", PD_KEY)
    monkeypatch.setenv("WARDEN_OPSGENIE_API_KEY", OG_KEY)
    assert create("responder", "pagerduty/x", {}).config.routing_key == PD_KEY
    assert create("responder", "opsgenie/x", {}).config.api_key == OG_KEY
