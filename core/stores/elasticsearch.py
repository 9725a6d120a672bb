"""Elasticsearch alert/action store (production).

Designed for the minimal server (no ingest pipelines, no painless, no data streams): plain
indices `<prefix>-alerts` and `<prefix>-actions` created from composable index templates, the
alert id as `_id`, and partial-document updates (`doc` + `upsert`, no scripts) so that a redelivered
alert overwrites itself and never touches the people-owned `workflow` fields (ack, assignee).
Writes are buffered and sent by `flush()` (the checkpoint's first step) with bounded retries;
a failure raises so the stage does not commit offsets (backpressure, not loss). The buffer is
bounded (`max_buffer` documents, default 20 x bulk_max): a write that would overflow it flushes
first, and raises when Elasticsearch is down — the stage stops consuming and replays from its
last commit once the store is back. Pending documents stay buffered across failed flushes and are
keyed by document id, so a replay overwrites them instead of growing the buffer.
Credentials: `store.api_key` / WARDEN_ES_API_KEY, or WARDEN_ES_USERNAME + WARDEN_ES_PASSWORD;
TLS: `store.ca_certs`, `store.verify_certs`.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError, helpers

from core import codec
from core.ecs import fields as ecs_fields
from core.ecs.kibana import workflow_status
from core.event import SEVERITY_RANK, Action, Alert
from core.stores.base import AlertQuery, AlertStore, action_document, alert_document, alert_from_document
from core.stores.search import AlertPage, AlertSearch
from core.stores.unreachable import reaching
from core.stores.workflow import ConcurrentChange

log = logging.getLogger("warden.store.es")

_KW = {"type": "keyword"}
_DBL = {"type": "double"}
_OFF = {"type": "object", "enabled": False}
ALERT_MAPPINGS = {
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date"},
        "event": {"properties": {"kind": _KW, "id": _KW, "severity": {"type": "long"}, "dataset": _KW,
                                 "start": {"type": "date"}, "end": {"type": "date"}, "risk_score": {"type": "float"}}},
        # ECS rule.*, threat.*, user/source/cloud/orchestrator/host.* and Kibana's kibana.alert.*
        # (core/ecs: types from the ECS definitions and Kibana's alert field map)
        **ecs_fields.mapping([f"rule.{n}" for n in ("id", "name", "uuid", "ruleset", "category")]
                             + ecs_fields.threat_field_names() + ecs_fields.entity_fields()
                             + list(ecs_fields.KIBANA_FIELDS)),
        "message": {"type": "text"},
        "tags": _KW,
        "labels": _OFF,
        "workflow": {"properties": {"status": _KW, "assignee": _KW, "by": _KW, "at": _DBL, "note": {"type": "text"},
                                    "history": {"properties": {"at": _DBL, "by": _KW, "action": _KW,
                                                               "note": {"type": "text"}}}}},
        "warden": {"properties": {"alert": {"properties": {
            "id": _KW, "rule": _KW, "title": {"type": "text"}, "severity": _KW, "entity": _KW,
            "group_key": _KW, "status": _KW, "first_seen": _DBL, "last_seen": _DBL, "updated": _DBL,
            "count": {"type": "long"}, "detector": _KW, "description": {"type": "text"}, "tags": _KW,
            "finding_ids": _KW, "event_ids": _KW, "evidence": _OFF, "routes": _OFF, "labels": _OFF, "assignee": _KW}},
            "ecs_invalid": _KW}},
    },
}
ACTION_MAPPINGS = {
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date"},
        "event": {"properties": {"kind": _KW, "action": _KW, "outcome": _KW, "id": _KW, "category": _KW}},
        "warden": {"properties": {"action": {"properties": {
            "id": _KW, "alert_id": _KW, "responder": _KW, "action": _KW, "target": _KW,
            "dry_run": {"type": "boolean"}, "status": _KW, "time": _DBL,
            "params": _OFF, "result": _OFF, "undo": _OFF}}}},
    },
}


#: Elasticsearch's default index.max_result_window: from + size beyond it is a 400
MAX_WINDOW = 10_000


class ElasticsearchStore(AlertStore):
    max_result_window = MAX_WINDOW

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.alerts_index = f"{cfg.index_prefix}-alerts"
        self.actions_index = f"{cfg.index_prefix}-actions"
        kw: dict[str, Any] = {"request_timeout": 10, "retry_on_timeout": True, "max_retries": 2}
        if cfg.api_key:
            kw["api_key"] = cfg.api_key
        elif os.environ.get("WARDEN_ES_USERNAME") and os.environ.get("WARDEN_ES_PASSWORD"):
            kw["basic_auth"] = (os.environ["WARDEN_ES_USERNAME"], os.environ["WARDEN_ES_PASSWORD"])
        if cfg.ca_certs:
            kw["ca_certs"] = cfg.ca_certs
        if not cfg.verify_certs:
            kw["verify_certs"] = False
        self.es = Elasticsearch(cfg.hosts, **kw)
        self._pending: dict[str, dict] = {}
        self._started = False
        self.retries = 0
        self.max_buffer = int(cfg.max_buffer or cfg.bulk_max * 20)
        self._observed: list[float] = []

    def start(self) -> None:
        if self._started:
            return
        with reaching(self.cfg.hosts):
            self._create_indices()
        self._started = True

    def _create_indices(self) -> None:
        for index, mappings in ((self.alerts_index, ALERT_MAPPINGS), (self.actions_index, ACTION_MAPPINGS)):
            self.es.indices.put_index_template(
                name=index, index_patterns=[index], priority=200,
                template={"settings": {"number_of_shards": 1, "number_of_replicas": 0,
                                       "refresh_interval": "1s"}, "mappings": mappings})
            if not self.es.indices.exists(index=index):
                try:
                    self.es.indices.create(index=index)
                except Exception as e:  # noqa: BLE001 - created concurrently by another replica
                    if "resource_already_exists" not in str(e):
                        raise

    # writes ----------------------------------------------------------------------------------
    def _make_room(self, n: int) -> None:
        if len(self._pending) + n > self.max_buffer and self._pending:
            from core.counters import COUNTERS
            COUNTERS.inc("act.store_backpressure")
            self.flush()            # raises while Elasticsearch is down: backpressure on the stage

    def upsert_alerts(self, alerts: list[Alert]) -> None:
        self._make_room(len(alerts))
        now = time.time()
        for a in alerts:
            if now - 3600 < a.last_seen <= now + 60 and len(self._observed) < self.max_buffer:
                self._observed.append(a.last_seen)     # live traffic: event time ~ observed time
            doc = alert_document(a)
            # Kibana's workflow_status belongs to people: set when the document is created, then
            # only by set_workflow (a redelivered alert's `doc` never carries it)
            upsert = {**doc, "kibana": {**doc["kibana"], "alert": {**doc["kibana"]["alert"],
                                                                   "workflow_status": workflow_status(a.status)}}}
            self._pending[f"alert:{a.id}"] = {"_op_type": "update", "_index": self.alerts_index, "_id": a.id,
                                              "doc": doc, "upsert": upsert}

    def put_actions(self, actions: list[Action]) -> None:
        self._make_room(len(actions))
        for a in actions:
            self._pending[f"action:{a.id}"] = {"_op_type": "index", "_index": self.actions_index, "_id": a.id,
                                               "_source": action_document(a)}

    def flush(self, attempts: int = 5) -> None:
        if not self._pending:
            return
        self.start()
        ops = list(self._pending.values())
        delay = 0.2
        for attempt in range(attempts):
            try:
                ok, errors = helpers.bulk(self.es, ops, raise_on_error=False, raise_on_exception=True,
                                          max_retries=2, initial_backoff=0.1, chunk_size=self.cfg.bulk_max)
                if not errors:
                    self._pending.clear()
                    if self._observed:
                        done = time.time()
                        from core.observability.metrics import EVENT_TO_ALERT
                        EVENT_TO_ALERT.observe_many(max(0.0, done - t) for t in self._observed)
                        self._observed.clear()
                    return
                failed_ids = {next(iter(e.values())).get("_id") for e in errors}
                ops = [o for o in ops if o["_id"] in failed_ids]
                reason = str(errors[0])[:300]
            except Exception as e:  # noqa: BLE001 - connection errors: retry with backoff
                reason = f"{type(e).__name__}: {e}"[:300]
            self.retries += 1
            from core.counters import COUNTERS
            COUNTERS.inc("store.retries")
            log.warning("elasticsearch bulk failed (attempt %d/%d): %s", attempt + 1, attempts, reason)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise ConnectionError(f"elasticsearch bulk failed after {attempts} attempts: {reason}")

    # reads -----------------------------------------------------------------------------------
    def _refresh(self) -> None:
        self.es.indices.refresh(index=[self.alerts_index, self.actions_index], ignore_unavailable=True)

    def list_alerts(self, q: AlertQuery) -> list[Alert]:
        self.start()
        self._refresh()
        filters: list[dict] = [{"term": {"event.kind": "signal"}}]
        if q.since is not None:
            filters.append({"range": {"warden.alert.last_seen": {"gte": q.since}}})
        if q.severity:
            filters.append({"terms": {"warden.alert.severity":
                                      [s for s, r in SEVERITY_RANK.items() if r >= SEVERITY_RANK[q.severity]]}})
        if q.rule:
            filters.append({"term": {"warden.alert.rule": q.rule}})
        if q.entity:
            filters.append({"term": {"warden.alert.entity": q.entity}})
        res = self.es.search(index=self.alerts_index, query={"bool": {"filter": filters}},
                             sort=[{"warden.alert.last_seen": "desc"}, {"event.id": "asc"}],
                             size=min(MAX_WINDOW, q.limit * 2 if q.status else q.limit))
        out = [alert_from_document(h["_source"]) for h in res["hits"]["hits"]]
        return [a for a in out if q.matches(a)][: q.limit]

    def search_alerts(self, q: AlertSearch) -> AlertPage:
        self.start()
        self._refresh()
        f: list[dict] = [{"term": {"event.kind": "signal"}}]
        if q.status:
            f.append(_status_query(q.status))
        if q.severity:
            f.append({"terms": {"warden.alert.severity":
                                [s for s, r in SEVERITY_RANK.items() if r >= SEVERITY_RANK[q.severity]]}})
        if q.detector:
            f.append({"bool": {"should": [{"term": {"warden.alert.detector": q.detector}},
                                          {"prefix": {"warden.alert.detector": q.detector + "/"}}]}})
        if q.entity:
            f.append({"term": {"warden.alert.entity": q.entity}})
        if q.since is not None:
            f.append({"range": {"warden.alert.last_seen": {"gte": q.since}}})
        if q.until is not None:
            f.append({"range": {"warden.alert.first_seen": {"lte": q.until}}})
        if q.text:
            wild = "*" + q.text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?") + "*"
            f.append({"bool": {"should": [
                {"prefix": {"event.id": q.text}},
                {"match_phrase": {"warden.alert.title": q.text}},
                {"wildcard": {"warden.alert.entity": {"value": wild, "case_insensitive": True}}},
                {"wildcard": {"warden.alert.rule": {"value": wild, "case_insensitive": True}}}]}})
        res = self.es.search(index=self.alerts_index, query={"bool": {"filter": f}}, from_=q.offset, size=q.limit,
                             sort=[{"warden.alert.last_seen": "desc"}, {"event.id": "asc"}], track_total_hits=True)
        return AlertPage(int(res["hits"]["total"]["value"]),
                         [alert_from_document(h["_source"]) for h in res["hits"]["hits"]])

    def get_alert(self, alert_id: str) -> Alert | None:
        self.start()
        try:
            doc = self.es.get(index=self.alerts_index, id=alert_id)
            return alert_from_document(doc["_source"])
        except NotFoundError:
            pass
        if len(alert_id) < 4:
            return None
        self._refresh()
        res = self.es.search(index=self.alerts_index, query={"prefix": {"event.id": alert_id}}, size=2)
        hits = res["hits"]["hits"]
        return alert_from_document(hits[0]["_source"]) if len(hits) == 1 else None

    def list_actions(self, alert_id: str | None = None, limit: int = 100) -> list[Action]:
        self.start()
        self._refresh()
        query = {"term": {"warden.action.alert_id": alert_id}} if alert_id else {"match_all": {}}
        res = self.es.search(index=self.actions_index, query=query, size=min(MAX_WINDOW, limit),
                             sort=[{"warden.action.time": "desc"}, {"event.id": "asc"}])
        return [codec.from_dict(h["_source"]["warden"]["action"], "action") for h in res["hits"]["hits"]]

    def _read_workflow(self, alert_id: str):
        a = self.get_alert(alert_id)
        if a is None:
            return None
        doc = self.es.get(index=self.alerts_index, id=a.id)
        src = doc["_source"]
        return src, src.get("workflow") or {}, (doc["_seq_no"], doc["_primary_term"])

    def _write_workflow(self, alert_id: str, workflow: dict[str, Any], token: Any) -> None:
        try:
            # the whole workflow object (history included) replaces the old one; the sequence
            # number makes a concurrent change fail instead of losing one of them
            doc: dict[str, Any] = {"workflow": workflow}
            if workflow.get("status"):
                doc["kibana"] = {"alert": {"workflow_status": workflow_status(workflow["status"])}}
            self.es.update(index=self.alerts_index, id=alert_id, doc=doc,
                           if_seq_no=token[0], if_primary_term=token[1], refresh="wait_for")
        except ConflictError:
            raise ConcurrentChange(f"alert {alert_id[:12]} was changed meanwhile; try again") from None

    def close(self) -> None:
        self.es.close()


def _status_query(status: str) -> dict:
    """The effective status (alert_from_document): the workflow's when set, except that an alert
    the pipeline resolved after an ack stays resolved."""
    alert_is = {"term": {"warden.alert.status": status}}
    wf_is = {"term": {"workflow.status": status}}
    no_wf = {"bool": {"must_not": {"exists": {"field": "workflow.status"}}}}
    resolved_after_ack = {"bool": {"filter": [{"term": {"warden.alert.status": "resolved"}},
                                              {"term": {"workflow.status": "acknowledged"}}]}}
    if status == "acknowledged":
        return {"bool": {"filter": [wf_is], "must_not": [{"term": {"warden.alert.status": "resolved"}}]}}
    if status == "resolved":
        return {"bool": {"should": [alert_is, wf_is], "minimum_should_match": 1}}
    return {"bool": {"filter": [alert_is], "should": [no_wf, resolved_after_ack, wf_is], "minimum_should_match": 1}}
