"""Matchers, silences (SQLite store), inhibition rules and the notification group timers."""
from __future__ import annotations

import time

import pytest

from core.errors import ConfigError
from core.event import Alert
from agent.stages.act.grouping import NotificationGroups
from policy.inhibit import inhibited_by, parse_inhibit_rules
from policy.matchers import parse_matcher, parse_matchers
from policy.silences import Silence, SilenceCache, SqliteSilenceStore
from core.state import StateStore


def test_matchers_like_alertmanager():
    labels = {"alertname": "gpu-memory-leak", "entity": "gpu-node-3", "severity": "high"}
    assert parse_matcher('alertname="gpu-memory-leak"').matches(labels)
    assert parse_matcher("entity=~gpu-node-[0-9]").matches(labels)
    assert not parse_matcher("entity=~gpu-node").matches(labels)          # anchored
    assert parse_matcher("severity!=critical").matches(labels)
    assert parse_matcher("node!~.+").matches(labels)                      # absent label is ""
    ms = parse_matchers('{alertname="gpu-memory-leak", severity=~"high|critical"}')
    assert len(ms) == 2 and all(m.matches(labels) for m in ms)
    ms = parse_matchers({"alertname": "gpu-memory-leak", "severity": "=~low|high"})
    assert [m.op for m in ms] == ["=", "=~"] and all(m.matches(labels) for m in ms)
    with pytest.raises(ConfigError, match="invalid matcher"):
        parse_matcher("no operator here")
    with pytest.raises(ConfigError, match="invalid regex"):
        parse_matcher("a=~(")


def test_silence_store_add_list_expire(tmp_path):
    st = SqliteSilenceStore(tmp_path / "w.db")
    s = Silence.new(["alertname=x", "entity=~n-.*"], duration=3600, created_by="me", comment="maint")
    st.add(s)
    other = SqliteSilenceStore(tmp_path / "w.db")          # another process (the CLI) sees it
    [got] = other.list()
    assert got.id == s.id and got.created_by == "me" and [str(m) for m in got.matchers] == ['alertname="x"', 'entity=~"n-.*"']
    assert got.silences({"alertname": "x", "entity": "n-1"}) and not got.silences({"alertname": "y", "entity": "n-1"})
    cache = SilenceCache(other, refresh_s=0)
    assert cache.match({"alertname": "x", "entity": "n-2"}).id == s.id
    assert other.expire(s.id[:8]).state() == "expired"
    assert other.list() == [] and len(other.list(include_expired=True)) == 1
    assert cache.match({"alertname": "x", "entity": "n-2"}) is None
    assert other.expire("nope") is None
    with pytest.raises(ValueError):
        Silence.new([], duration=10)
    pending = Silence.new(["a=b"], starts_at=time.time() + 100, duration=10)
    assert pending.state() == "pending" and not pending.silences({"a": "b"})


def test_inhibition_needs_a_firing_source_with_equal_labels():
    rules = parse_inhibit_rules([{"source": {"alertname": "node-down"}, "target": {"alertname": "=~gpu-.*"},
                                  "equal": ["node"]}], "t")
    target = {"alertname": "gpu-memory-leak", "node": "n1"}
    assert inhibited_by(rules, "t1", target, [("s1", {"alertname": "node-down", "node": "n1"})]) == ("inhibit[0]", "s1")
    assert inhibited_by(rules, "t1", target, [("s1", {"alertname": "node-down", "node": "n2"})]) is None
    assert inhibited_by(rules, "t1", {"alertname": "other", "node": "n1"},
                        [("s1", {"alertname": "node-down", "node": "n1"})]) is None
    with pytest.raises(ConfigError, match="source and target"):
        parse_inhibit_rules([{"source": {"a": "b"}}], "t")


def _alert(aid, status="firing", name="gpu", entity="n1"):
    return Alert(id=aid, rule=name, title=aid, severity="high", entity=entity, group_key=entity, status=status,
                 first_seen=0.0, last_seen=0.0, labels={"alertname": name, "entity": entity})


ROUTE = {"responder": "log/default", "dry_run": True,
         "notify": {"group_by": ["alertname"], "group_wait": 30.0, "group_interval": 300.0, "repeat_interval": 3600.0}}


def test_group_wait_batches_a_burst_then_interval_and_repeat():
    g = NotificationGroups()
    g.add(_alert("a1"), ROUTE, now=0)
    g.add(_alert("a2", entity="n2"), ROUTE, now=10)
    assert g.due(29) == []                                     # group_wait not over
    [n] = g.due(30)                                            # one notification for the burst
    assert sorted(a.id for a in n.alerts) == ["a1", "a2"] and n.seq == 1 and n.group_labels == {"alertname": "gpu"}
    g.add(_alert("a1"), ROUTE, now=100)                        # an update of a known alert: no change
    assert g.due(330) == []                                    # group_interval passed, nothing new
    g.add(_alert("a3", entity="n3"), ROUTE, now=400)
    assert g.due(500) == []                                    # next look at 330+300=630
    [n2] = g.due(630)
    assert {a.id for a in n2.alerts} == {"a1", "a2", "a3"} and n2.seq == 2 and n2.id != n.id
    g.add(_alert("a1", status="resolved"), ROUTE, now=700)
    [n3] = g.due(930)
    assert {a.id: a.status for a in n3.alerts}["a1"] == "resolved"
    assert set(g.groups[n3.group_key]["alerts"]) == {"a2", "a3"}   # resolved and notified: left the group
    assert g.due(1230) == []
    [n4] = g.due(930 + 3600)                                   # unchanged for repeat_interval
    assert n4.seq == 4


def test_groups_survive_a_restart_through_the_state_store(tmp_path):
    st = StateStore(tmp_path / "s.db")
    g = NotificationGroups()
    g.add(_alert("a1"), ROUTE, now=0)
    st.put_many(g.snapshot_items("ns"))
    g2 = NotificationGroups()
    g2.restore(st, "ns")
    [n] = g2.due(30)
    assert [a.id for a in n.alerts] == ["a1"]
    st.put_many(g2.snapshot_items("ns"))
    g3 = NotificationGroups()
    g3.restore(st, "ns")
    assert g3.due(60) == []                                   # already sent: not again after restart
