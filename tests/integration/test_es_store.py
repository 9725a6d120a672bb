"""The Elasticsearch alert store against the real node: index template, _id = alert id,
redelivery never duplicates, people-owned workflow fields survive pipeline updates."""
from __future__ import annotations

import dataclasses

import pytest

from core.event import Action, Alert
from core.stores import AlertQuery
from core.stores.elasticsearch import ElasticsearchStore


def make_alert(i=0, **kw):
    base = dict(id=f"alert-{i}", rule="metric-anomaly", title=f"t{i}", severity="high", entity=f"node-{i}",
                group_key="g", status="firing", first_seen=1000.0 + i, last_seen=2000.0 + i,
                evidence={"metric": "gpu.memory.used", "nested": {"deep": [1, 2]}}, tags=("attack.t1",))
    base.update(kw)
    return Alert(**base)


def test_upsert_by_id_and_workflow_survives(kafka_cfg, es_client):
    store = ElasticsearchStore(kafka_cfg.store)
    store.start()
    store.start()
    a = make_alert(1)
    store.upsert_alerts([a, make_alert(2, severity="low")])
    store.flush()
    store.upsert_alerts([dataclasses.replace(a, count=5)])   # a redelivery / update of the same alert
    store.flush()
    es_client.indices.refresh(index=store.alerts_index)
    assert es_client.count(index=store.alerts_index)["count"] == 2
    mapping = es_client.indices.get_mapping(index=store.alerts_index)
    assert mapping[store.alerts_index]["mappings"]["properties"]["event"]["properties"]["kind"]["type"] == "keyword"
    doc = es_client.get(index=store.alerts_index, id="alert-1")["_source"]
    assert doc["event"]["kind"] == "signal" and doc["rule"]["id"] == "metric-anomaly"
    assert store.get_alert("alert-1").count == 5

    assert store.change_workflow("alert-1", "ack", "ann", "on it")
    assert store.change_workflow("alert-1", "assign", "ann", assignee="alice")
    store.upsert_alerts([dataclasses.replace(a, count=6)])  # the pipeline keeps updating it
    store.flush()
    got = store.get_alert("alert-1")
    assert (got.count, got.status, got.assignee) == (6, "acknowledged", "alice")
    # every change kept as history, in the document Kibana and others read
    doc = es_client.get(index=store.alerts_index, id="alert-1")["_source"]
    assert [(h["by"], h["action"], h["note"]) for h in doc["workflow"]["history"]] == [
        ("ann", "ack", "on it"), ("ann", "assign", "")]
    assert [h["action"] for h in got.history] == ["ack", "assign"]
    from core.stores.workflow import ConcurrentChange, record_change
    _, wf, token = store._read_workflow("alert-1")
    store.change_workflow("alert-1", "note", "bob", "meanwhile")
    with pytest.raises(ConcurrentChange):                 # a stale write is refused, not lost
        store._write_workflow("alert-1", record_change(wf, got, "note", "ann", "stale"), token)
    assert [h["note"] for h in store.get_alert("alert-1").history][-1] == "meanwhile"

    assert [x.id for x in store.list_alerts(AlertQuery(severity="high"))] == ["alert-1"]
    assert [x.id for x in store.list_alerts(AlertQuery(since=2001.5))] == ["alert-2"]
    assert store.change_workflow("nope", "ack", "ann") is None
    store.close()


def test_actions_are_stored_once_per_id(kafka_cfg):
    store = ElasticsearchStore(kafka_cfg.store)
    act = Action(id="act-1", alert_id="alert-1", responder="log/default", action="notify", target="node-1",
                 dry_run=True, status="planned", time=5.0)
    store.put_actions([act, act])
    store.flush()
    store.put_actions([dataclasses.replace(act, status="done")])
    store.flush()
    got = store.list_actions("alert-1")
    assert [(x.id, x.status) for x in got] == [("act-1", "done")]
    store.close()


def test_cli_alerts_list_json_reads_elasticsearch(kafka_cfg, tmp_path):
    import orjson
    from click.testing import CliRunner

    from agent.cli import _load_commands, cli

    store = ElasticsearchStore(kafka_cfg.store)
    store.upsert_alerts([make_alert(7), make_alert(8, severity="critical")])
    store.flush()
    store.close()
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"store: {{type: elasticsearch, hosts: {kafka_cfg.store.hosts}, "
                    f"index_prefix: {kafka_cfg.store.index_prefix}}}\n")
    _load_commands()
    r = CliRunner().invoke(cli, ["-c", str(conf), "alerts", "list", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert sorted(a["id"] for a in orjson.loads(r.output)) == ["alert-7", "alert-8"]
    r = CliRunner().invoke(cli, ["-c", str(conf), "alerts", "list", "--json", "--severity", "critical"])
    assert [a["id"] for a in orjson.loads(r.output)] == ["alert-8"]
