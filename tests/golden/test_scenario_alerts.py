"""Golden test: the bundled incident scenario through the full embedded pipeline (the same config
as `warden demo`). Every injected incident whose detector family is installed becomes an alert on
the right entity inside its window, and nothing fires in the incident-free parts."""
from __future__ import annotations

import pytest

from agent import registry
from agent.cli.run import demo_config
from agent.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from agent.stores import AlertQuery
from collectors.scenario import ground_truth

SLACK_BEFORE, SLACK_AFTER = 600, 2700
FAMILY_DETECTORS = {"metrics": {"baseline", "gpu_memory_leak", "straggler", "slo_burn"},
                    "sigma": {"sigma", "ueba"}, "guard": {"prompt_guard"}}


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


@pytest.mark.parametrize("incident", ground_truth(), ids=lambda g: g["id"])
def test_each_incident_is_alerted_in_its_window(demo_run, incident):
    installed = set(registry.all_of("detector"))
    if not FAMILY_DETECTORS[incident["family"]] & installed:
        pytest.skip(f"no {incident['family']} detector installed")
    alerts, _, _ = demo_run
    hits = [a for a in alerts if a.entity == incident["entity"]
            and incident["start"] - SLACK_BEFORE <= a.first_seen <= incident["end"] + SLACK_AFTER]
    assert hits, f"no alert for {incident['description']}; alerts: {[(a.entity, a.title) for a in alerts]}"


def stray_alerts(alerts):
    windows = [(g["start"] - SLACK_BEFORE, g["end"] + SLACK_AFTER) for g in ground_truth()]
    return [a for a in alerts if not any(lo <= a.first_seen <= hi for lo, hi in windows)]


def test_no_metric_or_audit_alert_outside_the_incident_windows(demo_run):
    alerts, _, _ = demo_run
    stray = [(a.entity, a.title) for a in stray_alerts(alerts) if not a.detector.startswith("prompt_guard/")]
    assert not stray, f"false alerts in the incident-free part: {stray}"


def test_no_prompt_guard_alert_outside_the_incident_windows(demo_run):
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
