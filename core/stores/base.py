"""The alert/action store interface and the ECS document shape both stores share."""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from core import codec
from core.event import SEVERITY_RANK, Action, Alert
from core.ecs.kibana import ECS_SEVERITY
from core.times import iso

# the pipeline owns `warden.alert`; the `workflow` object (status, assignee, history) belongs to
# people and the CLI: core.stores.workflow


def alert_document(a: Alert) -> dict[str, Any]:
    """ECS-shaped alert document (event.kind: signal) with Kibana's detection-alert fields, `threat.*`
    from the ATT&CK / ATLAS tags and the entities at top level (core.ecs.kibana); `warden.alert`
    keeps the full record."""
    from core.ecs.kibana import alert_fields
    ecs = alert_fields(a)
    invalid = ecs.pop("warden_ecs_invalid", None)
    doc = {
        "@timestamp": iso(a.first_seen),
        "event": {"kind": "signal", "id": a.id, "severity": ECS_SEVERITY.get(a.severity, 47),
                  "risk_score": float(ECS_SEVERITY.get(a.severity, 47)),
                  "dataset": "warden.alerts", "start": iso(a.first_seen), "end": iso(a.last_seen)},
        "message": a.description or a.title,
        "tags": list(a.tags),
        "labels": dict(a.labels),
        **ecs,
        "warden": {"alert": codec.to_dict(a)},
    }
    if invalid:
        doc["warden"]["ecs_invalid"] = invalid
    return doc


def alert_from_document(doc: dict[str, Any]) -> Alert:
    """Read an alert back as people see it: the `workflow` applied (core.stores.workflow)."""
    from core.stores.workflow import effective
    return effective(codec.from_dict(doc["warden"]["alert"], "alert"), doc.get("workflow"))


def action_document(a: Action) -> dict[str, Any]:
    return {"@timestamp": iso(a.time), "event": {"kind": "event", "category": ["process"],
            "action": a.action, "outcome": {"done": "success", "failed": "failure"}.get(a.status, "unknown"),
            "id": a.id}, "warden": {"action": codec.to_dict(a)}}


@dataclass
class AlertQuery:
    since: float | None = None       # epoch seconds (alert last_seen >= since)
    severity: str | None = None      # minimum severity
    status: str | None = None
    rule: str | None = None
    entity: str | None = None
    limit: int = 100

    def matches(self, a: Alert) -> bool:
        if self.since is not None and a.last_seen < self.since:
            return False
        if self.severity and SEVERITY_RANK.get(a.severity, 0) < SEVERITY_RANK[self.severity]:
            return False
        if self.status and a.status != self.status:
            return False
        if self.rule and a.rule != self.rule:
            return False
        if self.entity and a.entity != self.entity:
            return False
        return True


class AlertStore(abc.ABC):
    """Alerts are upserted by id (a redelivery never makes a second alert); actions by id."""

    #: how far a search may page (offset + page size): SQLite's largest integer; Elasticsearch's
    #: index.max_result_window (10,000). Callers refuse a page beyond it with the reason.
    max_result_window: int = 2 ** 63 - 1

    def start(self) -> None:
        pass

    @abc.abstractmethod
    def upsert_alerts(self, alerts: list[Alert]) -> None: ...

    @abc.abstractmethod
    def put_actions(self, actions: list[Action]) -> None: ...

    @abc.abstractmethod
    def list_alerts(self, q: AlertQuery) -> list[Alert]: ...

    @abc.abstractmethod
    def get_alert(self, alert_id: str) -> Alert | None: ...

    def search_alerts(self, q: "AlertSearch") -> "AlertPage":
        """One page of alerts matching `q`, newest first, with the total (core/stores/search.py).
        This default filters `list_alerts`; the SQLite and Elasticsearch stores query directly."""
        from core.stores.search import AlertPage
        hits = [a for a in self.list_alerts(AlertQuery(limit=1_000_000)) if q.matches(a)]
        return AlertPage(len(hits), hits[q.offset:q.offset + q.limit])

    @abc.abstractmethod
    def list_actions(self, alert_id: str | None = None, limit: int = 100) -> list[Action]: ...

    def change_workflow(self, alert_id: str, action: str, by: str, note: str = "",
                        assignee: str | None = None) -> Alert | None:
        """Record one people's change (ack | assign | resolve | note; core.stores.workflow) with
        its history; the alert as it is now, or None when the id (or unique prefix) is unknown.
        Raises WorkflowError when the change makes no sense (acking a resolved alert)."""
        from core.stores.workflow import record_change
        found = self._read_workflow(alert_id)
        if found is None:
            return None
        doc, wf, token = found
        wf = record_change(wf, alert_from_document({**doc, "workflow": wf}), action, by, note, assignee)
        self._write_workflow(doc["warden"]["alert"]["id"], wf, token)
        return alert_from_document({**doc, "workflow": wf})

    def set_workflow(self, alert_id: str, *, by: str = "", note: str = "", status: str | None = None,
                     assignee: str | None = None, **_ignored: Any) -> bool:
        """The older field-style call (status acknowledged | resolved, assignee), kept for callers
        written against it: each field becomes a change_workflow. False when the alert is unknown."""
        steps = [("ack" if status == "acknowledged" else "resolve", None)] if status in ("acknowledged", "resolved") else []
        if assignee is not None:
            steps.append(("assign", assignee))
        if not steps:
            steps = [("note", None)]
        for action, who in steps:
            if self.change_workflow(alert_id, action, by or "unknown", note, who) is None:
                return False
        return True

    @abc.abstractmethod
    def _read_workflow(self, alert_id: str) -> tuple[dict[str, Any], dict[str, Any], Any] | None:
        """(alert document, its workflow, a concurrency token for the write) or None."""

    @abc.abstractmethod
    def _write_workflow(self, alert_id: str, workflow: dict[str, Any], token: Any) -> None:
        """Store the workflow; a concurrent change since the read raises (try again)."""

    def flush(self) -> None:
        """Make everything written so far durable and visible (checkpoint step 1)."""

    def close(self) -> None:
        pass
