"""Store step: alerts decoded and stored; a record that is not an alert is dead-lettered."""
from __future__ import annotations

from core import codec
from core.bus.base import Record
from agent.stages.act.intake import store_alerts
from core.stores import AlertQuery
from tests.unit.agent.stages.act.conftest import alert


def record(value: bytes, offset: int) -> Record:
    return Record(topic="warden.alerts", partition=0, offset=offset, key=b"k", value=value, timestamp_ms=0)


def test_alerts_are_stored_and_a_bad_record_is_dead_lettered(rt):
    got = store_alerts(rt, [record(codec.encode(alert("a1")), 0), record(b"{not json", 1)])
    rt.store.flush()
    assert [a.id for a in got] == ["a1"] and [a.id for a in rt.store.list_alerts(AlertQuery(limit=10))] == ["a1"]
    assert rt.counters.get("act.alerts_stored") == 1 and len(rt.bus.read(rt.topic("deadletter"))) == 1
    assert store_alerts(rt, [record(b"[]", 2)]) == [] and rt.counters.get("act.alerts_stored") == 1
