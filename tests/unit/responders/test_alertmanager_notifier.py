"""The `alertmanager` notifier against a local HTTP receiver (the real Alertmanager is in
tests/integration/test_alertmanager_notifier.py): what it posts validates against Alertmanager
v0.35.0's `postableAlerts` definition; firing alerts end a few resend intervals ahead, resolved ones
at their last_seen; after a restart it refreshes the firing alerts the store routes to it (real
routes only); a refresh that fails is counted and the alerts stay to be refreshed."""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from agent.config import parse
from core.counters import Counters
from core.event import Alert
from agent.runtime import Runtime
from responders.alertmanager import AlertmanagerResponder
from tests.support.receiver import Receiver

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "support" / "alertmanager" /
                       "openapi-v0.35.0.yaml").read_text())


def when(s: str) -> float:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def alert(aid: str, status="firing", dry_run=False, responder="alertmanager/am") -> Alert:
    return Alert(id=aid * 32, rule="gpu-leak", title=f"leak {aid}", severity="high", entity=f"gpu-{aid}",
                 group_key=aid, status=status, first_seen=1_700_000_000.0, last_seen=1_700_000_300.0,
                 labels={"alertname": "gpu-leak", "entity": f"gpu-{aid}"}, updated=1_700_000_300.0,
                 routes=({"responder": responder, "dry_run": dry_run},))


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def rt(tmp_path):
    r = Runtime(parse({"data_dir": str(tmp_path / "w")}), counters=Counters())
    yield r
    r.close()


def posted(receiver) -> list[list[dict]]:
    return [json.loads(body) for code, _, body in receiver.requests if code == 200]


def test_posts_valid_postable_alerts(receiver):
    am = AlertmanagerResponder("alertmanager/am", url=receiver.url, resend_interval_s=30,
                               external_url="http://warden:8080")
    before = time.time()
    [x] = am.plan(alert("a"), {"responder": am.name, "dry_run": False})
    am.notify([alert("a"), alert("b", "resolved")], {"alertname": "gpu-leak"}, x)
    [batch] = posted(receiver)
    schema = {"definitions": SPEC["definitions"], "$ref": "#/definitions/postableAlerts"}
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(batch)
    firing, resolved = batch
    assert before + 120 <= when(firing["endsAt"]) <= time.time() + 120
    assert resolved["endsAt"] == "2023-11-14T22:18:20Z"
    assert firing["generatorURL"] == "http://warden:8080/ui/#/alerts/" + "a" * 32
    assert [a.id for a in am.firing()] == ["a" * 32]
    am.close()


def test_refreshes_what_the_store_routes_to_it_after_a_restart(rt, receiver):
    rt.store.upsert_alerts([alert("a"), alert("b", dry_run=True), alert("c", responder="alertmanager/other"),
                            alert("d", "resolved")])
    am = AlertmanagerResponder("alertmanager/am", url=receiver.url, resend_interval_s=3600)
    am.bind_runtime(rt)
    assert am.refresh() == 1
    [batch] = posted(receiver)
    assert [x["labels"]["warden_alert_id"] for x in batch] == ["a" * 32]
    am.close()


def test_a_failed_refresh_is_counted_and_kept(rt):
    am = AlertmanagerResponder("alertmanager/am", url="http://127.0.0.1:9", resend_interval_s=3600)
    am.bind_runtime(rt)
    rt.store.upsert_alerts([alert("a")])
    assert am.refresh() == 0
    assert rt.counters.get("act.alertmanager_refresh_errors") == 1 and am.refresh_errors == 1
    assert [a.id for a in am.firing()] == ["a" * 32]
    am.close()
