"""Workflow with consequences: ack holds until the alert changes, a manual resolve of an alert that
still fires re-opens it, every change is kept as history, an acked alert gets no reminder."""
from __future__ import annotations

import dataclasses

import pytest

from core.event import Alert
from core.stores.workflow import WorkflowError, effective, record_change
from core.stores.sqlite import SqliteStore
from tests.unit.agent.lifecycle.harness import Harness, finding


def alert(**kw) -> Alert:
    base = dict(id="a1", rule="gpu-leak", title="leak on n1", severity="high", entity="n1", group_key="entity=n1",
                status="firing", first_seen=1000.0, last_seen=1000.0, count=3)
    return Alert(**{**base, **kw})


@pytest.mark.parametrize("later, status, why", [
    ({}, "acknowledged", ""),
    ({"count": 9}, "acknowledged", ""),                                   # more of the same: still acked
    ({"severity": "critical"}, "firing", "severity raised high -> critical"),
    ({"steps": ({"entity": "n2"},)}, "firing", "new entity n2"),
    ({"status": "resolved"}, "resolved", ""),                             # the condition cleared: resolved wins
])
def test_an_ack_holds_until_the_alert_changes(later, status, why):
    wf = record_change({}, alert(), "ack", "ann", "on it", now=2000.0)
    a = effective(alert(**later), wf)
    assert a.status == status
    assert a.history[0] == {"at": 2000.0, "by": "ann", "action": "ack", "note": "on it", "severity": "high",
                            "count": 3, "entities": ["n1"]}
    assert (a.history[-1]["note"].endswith(why) and a.history[-1]["by"] == "warden") if why else len(a.history) == 1


@pytest.mark.parametrize("count, status", [(3, "resolved"), (5, "firing")])
def test_a_manual_resolve_of_an_alert_that_still_fires_reopens_it_with_a_note(count, status):
    wf = record_change({}, alert(), "resolve", "bob", "fixed the driver", now=2000.0)
    a = effective(alert(count=count), wf)
    assert a.status == status
    if status == "firing":
        assert a.history[-1]["action"] == "reopened" and "2 new finding(s)" in a.history[-1]["note"]


@pytest.mark.parametrize("action", ["ack", "resolve"])
def test_acking_or_resolving_a_resolved_alert_is_refused(action):
    with pytest.raises(WorkflowError, match="is resolved"):
        record_change({}, alert(status="resolved"), action, "ann")


def test_every_change_is_kept_as_history_in_the_store(tmp_path):
    s = SqliteStore(tmp_path / "a.db")
    s.upsert_alerts([alert()])
    s.change_workflow("a1", "ack", "ann", "looking")
    s.change_workflow("a1", "assign", "ann", assignee="bob")
    s.change_workflow("a", "note", "bob", "driver 550 leaks")             # a unique prefix works
    a = s.change_workflow("a1", "resolve", "bob", "rolled back")
    assert a.status == "resolved" and a.assignee == "bob"
    assert [(h["by"], h["action"], h["note"]) for h in s.get_alert("a1").history] == [
        ("ann", "ack", "looking"), ("ann", "assign", ""), ("bob", "note", "driver 550 leaks"),
        ("bob", "resolve", "rolled back")]
    s.upsert_alerts([dataclasses.replace(alert(), count=4, last_seen=1060.0)])   # the pipeline: still firing
    assert s.get_alert("a1").status == "firing" and s.get_alert("a1").history[-1]["action"] == "reopened"
    assert s.change_workflow("nope", "ack", "ann") is None
    s.close()


POLICIES = """
policies:
  - id: gpu-leak
    match: {detector: ["gpu_memory_leak/*"]}
    alert: {title: "leak on {entity}", group_by: [entity], resolve_after: 10d}
    routes: [{responder: log/default, dry_run: true,
              notify: {group_by: [entity], group_wait: 0s, group_interval: 1m, repeat_interval: 1h}}]
"""


def reminders(h, alert_id):
    return [x for x in h.actions() if x.alert_id == alert_id and x.action == "notify"]


@pytest.mark.parametrize("acked", [False, True])
def test_an_acked_alert_sends_no_reminder_until_it_changes(tmp_path, acked):
    h = Harness(tmp_path, POLICIES)
    try:
        h.feed(finding("n1", 1000))
        h.act.flush_notifications()
        [a] = h.alerts()
        assert len(reminders(h, a.id)) == 1
        if acked:
            h.rt.store.change_workflow(a.id, "ack", "ann")
        h.act._advance(1000 + 3700)                       # past repeat_interval
        h.act._publish(h.act.tick())
        assert len(reminders(h, a.id)) == (1 if acked else 2)
        assert h.rt.counters.get("act.reminders_quieted") == (1 if acked else 0)
        if acked:                                        # severity up ends the ack and notifies
            h.feed(finding("n1", 4800, severity="critical", n=1))
            h.act._advance(4800 + 120)                   # next group_interval, not a repeat_interval later
            h.act._publish(h.act.tick())
            assert h.alerts()[0].status == "firing"
            assert len(reminders(h, a.id)) == 2
    finally:
        h.close()


def test_a_concurrent_change_is_refused_not_lost(tmp_path):
    from core.stores.workflow import ConcurrentChange
    s = SqliteStore(tmp_path / "a.db")
    s.upsert_alerts([alert()])
    doc, wf, token = s._read_workflow("a1")
    s.change_workflow("a1", "note", "bob", "first")                     # someone else, meanwhile
    with pytest.raises(ConcurrentChange):
        s._write_workflow("a1", record_change(wf, alert(), "ack", "ann"), token)
    assert [h["note"] for h in s.get_alert("a1").history] == ["first"]
    s.close()


def test_the_field_style_call_records_changes_too(tmp_path):
    s = SqliteStore(tmp_path / "a.db")
    s.upsert_alerts([alert()])
    assert s.set_workflow("a1", by="ann", status="acknowledged", assignee="bob", note="on it")
    a = s.get_alert("a1")
    assert (a.status, a.assignee, [h["action"] for h in a.history]) == ("acknowledged", "bob", ["ack", "assign"])
    assert not s.set_workflow("zz", by="ann", status="acknowledged")
    s.close()


@pytest.mark.parametrize("change, notified", [({}, False), ({"severity": "critical"}, True),
                                              ({"steps": ({"entity": "n1"}, {"entity": "n2"})}, True)])
def test_an_alert_that_escalates_is_notified_at_the_next_group_interval(change, notified):
    from agent.stages.act.grouping import NotificationGroups
    g = NotificationGroups()
    route = {"responder": "log/default", "notify": {"group_wait": 0, "group_interval": 60, "repeat_interval": 3600}}
    g.add(alert(steps=({"entity": "n1"},)), route, 1000)
    assert len(g.due(1000)) == 1
    g.add(alert(last_seen=1050.0, **{"steps": ({"entity": "n1"},), **change}), route, 1050)
    assert len(g.due(1070)) == int(notified)


def test_history_beyond_the_cap_is_counted():
    from core.stores.workflow import MAX_HISTORY
    wf: dict = {}
    for i in range(MAX_HISTORY + 3):
        wf = record_change(wf, alert(), "note", "ann", f"n{i}", now=float(i))
    assert len(wf["history"]) == MAX_HISTORY and wf["history_dropped"] == 3
    assert wf["history"][0]["note"] == "n3"
