"""Golden test: the bundled incident scenario through the full embedded pipeline (the same config
as `warden demo`). One alert per incident, driven by the scenario's ground truth: every injected
incident whose detector family is installed opens exactly one alert (incidents sharing an attacker
source address are one attacker session, so one alert; a prompt-injection incident one alert per
attacking client), and no other alert opens."""
from __future__ import annotations

import pytest

from core import registry
from agent.cli.run import demo_config
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from core.stores import AlertQuery
from collectors.scenario import ground_truth

SLACK_BEFORE, SLACK_AFTER = 600, 2700
FAMILY_DETECTORS = {"metrics": {"baseline", "gpu_memory_leak", "straggler", "slo_burn"},
                    "sigma": {"sigma", "ueba"}, "guard": {"prompt_guard"}, "drift": {"drift"}}


def incidents():
    """The ground truth as expected alerts: incidents sharing a `source_ip` are one attacker
    session (failed logins, then a new principal pulling weights): one alert for all of them."""
    out: list[dict] = []
    by_ip: dict[str, dict] = {}
    for g in ground_truth():
        ip = g.get("source_ip")
        if ip and ip in by_ip:
            s = by_ip[ip]
            s["ids"].append(g["id"])
            s["entities"].add(g["entity"])
            s["start"], s["end"] = min(s["start"], g["start"]), max(s["end"], g["end"])
            continue
        item = {"ids": [g["id"]], "entities": {g["entity"]}, "start": g["start"], "end": g["end"],
                "family": g["family"], "client": g.get("client_id")}
        out.append(item)
        if ip:
            by_ip[ip] = item
        for k, extra in enumerate(g.get("also") or ()):   # a consequence another family sees (e.g. drift)
            out.append({"ids": [f"{g['id']}.also{k}"], "entities": {extra["entity"]}, "start": g["start"],
                        "end": g["end"], "family": extra["family"], "client": None})
    return out


def claims(incident, alert) -> bool:
    """The alert is about this incident: inside its window, from a detector of its family, on (or
    with a step on) its entity, and for a per-client incident, about that client."""
    if not incident["start"] - SLACK_BEFORE <= alert.first_seen <= incident["end"] + SLACK_AFTER:
        return False
    if alert.detector.split("/")[0] not in FAMILY_DETECTORS.get(incident["family"], {incident["family"]}):
        return False      # another family's alert on the same entity belongs to another incident
    if incident["client"] and incident["client"] not in (alert.labels.get("client"), alert.evidence.get("client.id")):
        return False
    entities = {alert.entity} | {s["entity"] for s in alert.steps}
    return bool(entities & incident["entities"])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    cfg = demo_config(str(tmp_path_factory.mktemp("demo")), hours=6, seed=7)
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()))
    p.drain()
    alerts = p.rt.store.list_alerts(AlertQuery(limit=10000))
    actions = p.rt.store.list_actions(limit=10000)
    counters = p.rt.counters.snapshot()
    p.close()
    return alerts, actions, counters


def _installed(family: str) -> bool:
    return bool(FAMILY_DETECTORS.get(family, {family}) & set(registry.all_of("detector")))


@pytest.mark.parametrize("incident", incidents(), ids=lambda g: "+".join(g["ids"]))
def test_each_incident_opens_exactly_one_alert(demo_run, incident):
    if not _installed(incident["family"]):
        pytest.skip(f"no {incident['family']} detector installed")
    alerts, _, _ = demo_run
    hits = [a for a in alerts if claims(incident, a) and "merged_into" not in a.labels]
    assert len(hits) == 1, (f"{incident['ids']}: {len(hits)} alerts: {[(a.entity, a.title) for a in hits]}; "
                            f"all: {[(a.entity, a.title) for a in alerts]}")
    a = hits[0]
    # the alert keeps every contributing finding: its steps count them all
    assert sum(s["count"] for s in a.steps) == a.count


def stray_alerts(alerts):
    expected = incidents()
    return [a for a in alerts if "merged_into" not in a.labels and not any(claims(g, a) for g in expected)]


def test_no_metric_or_audit_alert_outside_the_incidents(demo_run):
    alerts, _, _ = demo_run
    stray = [(a.entity, a.title) for a in stray_alerts(alerts) if not a.detector.startswith("prompt_guard/")]
    assert not stray, f"alerts that belong to no incident: {stray}"


def test_no_prompt_guard_alert_outside_the_incidents(demo_run):
    alerts, _, _ = demo_run
    stray = [(a.entity, a.title) for a in stray_alerts(alerts) if a.detector.startswith("prompt_guard/")]
    assert not stray, f"false prompt-injection alerts on benign traffic: {stray}"


def test_prompt_injection_blocks_name_end_users_never_a_client(demo_run):
    alerts, actions, _ = demo_run
    guard_alerts = {a.id for a in alerts if a.detector.startswith("prompt_guard/")}
    blocks = [x.target for x in actions if x.responder.startswith("blocklist/") and x.alert_id in guard_alerts]
    assert blocks and all(t.startswith("end_user:") for t in blocks), blocks
    assert not [x.target for x in actions if x.target.startswith("client:")]


def test_every_alert_has_a_dry_run_action_and_nothing_was_dead_lettered(demo_run):
    alerts, actions, counters = demo_run
    assert alerts
    acted = {x.alert_id for x in actions}
    assert all(a.id in acted for a in alerts if a.status != "suppressed")
    assert all(x.dry_run for x in actions)
    assert counters.get("collect.deadletter", 0) == 0
