"""The people-owned side of an alert: ack, assign, resolve, notes — with consequences, and every
change kept as history.

The pipeline owns an alert's record (status firing | suppressed | resolved, severity, count,
steps); people own its `workflow` (stored beside it, never overwritten by the pipeline). The
status people see combines both (`effective`):

- **acknowledged** holds while the alert stays as it was acked: a higher severity, or an entity
  the ack did not cover (a new step on another node / principal), ends the ack — the alert is
  firing again and the history says why. While an ack holds, the act stage sends no reminder
  (`repeat_interval`) for it. When the pipeline resolves the alert, resolved wins.
- **resolved** by hand holds while no new finding arrives; an alert that still fires after a
  manual resolve (its count grew) re-opens, with a note in the history.
- Acking or resolving an alert that is resolved is refused (`WorkflowError`).

At most MAX_HISTORY entries are kept per alert; older ones are counted in `history_dropped`.
A history entry is a JSON object: `at` (epoch s), `by`, `action` (ack | assign | resolve | note |
reopened | ack-ended), `note`, and for ack/resolve the alert as it was: `severity`, `count`,
`entities`. Entries by `warden` (reopened, ack-ended) are derived when the alert is read.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

from core.errors import WardenError
from core.event import SEVERITY_RANK, Alert

ACTIONS = ("ack", "assign", "resolve", "note")
MAX_HISTORY = 200


class WorkflowError(WardenError):
    """A workflow change that makes no sense for the alert as it is (e.g. acking a resolved alert)."""


class ConcurrentChange(WorkflowError):
    """Someone else changed the alert's workflow between read and write."""


def entities(a: Alert) -> list[str]:
    return sorted({a.entity} | {str(s.get("entity")) for s in a.steps if s.get("entity")})


def record_change(workflow: dict[str, Any], alert: Alert, action: str, by: str, note: str = "",
                  assignee: str | None = None, now: float | None = None) -> dict[str, Any]:
    """The workflow after one change (a new dict): current fields set, the change appended to
    `history`. `alert` is the alert as people see it now (effective status)."""
    if action not in ACTIONS:
        raise WorkflowError(f"unknown workflow action {action!r} (one of {', '.join(ACTIONS)})")
    if action in ("ack", "resolve") and alert.status == "resolved":
        raise WorkflowError(f"alert {alert.id[:12]} is resolved: nothing to {action}")
    if action == "note" and not (note or "").strip():
        raise WorkflowError("a note needs its text (--note TEXT): nothing was added")
    if action == "assign" and not (assignee or "").strip():
        raise WorkflowError("assign needs someone to assign the alert to")
    at = time.time() if now is None else now
    entry: dict[str, Any] = {"at": at, "by": by, "action": action, "note": note}
    wf = {k: v for k, v in workflow.items() if k != "history"}
    if action in ("ack", "resolve"):
        entry.update(severity=alert.severity, count=alert.count, entities=entities(alert))
        wf.update(status="acknowledged" if action == "ack" else "resolved", severity=alert.severity,
                  count=alert.count, entities=entities(alert))
    if action == "assign":
        entry["assignee"] = assignee or ""
        wf["assignee"] = assignee or ""
    wf.update(by=by, at=at, note=note)
    history = list(workflow.get("history") or []) + [entry]
    if len(history) > MAX_HISTORY:          # the oldest go, counted on the workflow
        wf["history_dropped"] = int(workflow.get("history_dropped", 0)) + len(history) - MAX_HISTORY
        history = history[-MAX_HISTORY:]
    wf["history"] = history
    return wf


def effective(a: Alert, workflow: dict[str, Any] | None) -> Alert:
    """The alert as people see it: the workflow's status where it still holds, its assignee, and
    the history (stored changes plus the derived `reopened` / `ack-ended` entries)."""
    wf = workflow or {}
    history = list(wf.get("history") or [])
    if not history and wf.get("status"):        # stored before history existed: one entry
        history = [{"at": wf.get("at", 0.0), "by": wf.get("by", ""), "action": wf["status"], "note": wf.get("note", "")}]
    status, why = a.status, ""
    if wf.get("status") == "acknowledged" and a.status != "resolved":
        why = _ack_ended(a, wf)
        status = a.status if why else "acknowledged"
    elif wf.get("status") == "resolved" and a.status != "resolved":
        new = a.count - int(wf.get("count", a.count))
        if new > 0:
            why = f"re-opened: still firing, {new} new finding(s) after the manual resolve"
        else:
            status = "resolved"
    if why:
        history.append({"at": a.last_seen, "by": "warden", "action": "reopened" if "re-opened" in why else "ack-ended",
                        "note": why})
    changes: dict[str, Any] = {"status": status, "history": tuple(history)}
    if wf.get("assignee"):
        changes["assignee"] = wf["assignee"]
    return dataclasses.replace(a, **changes)


def _ack_ended(a: Alert, wf: dict[str, Any]) -> str:
    acked = wf.get("severity")
    if acked and SEVERITY_RANK.get(a.severity, 0) > SEVERITY_RANK.get(acked, 0):
        return f"ack ended: severity raised {acked} -> {a.severity}"
    covered = wf.get("entities")
    if covered is not None:
        new = [e for e in entities(a) if e not in covered]
        if new:
            return f"ack ended: new entity {', '.join(new)}"
    return ""


def quiet(a: Alert | None) -> bool:
    """No reminder for this alert: acknowledged (and the ack holds) or resolved by hand."""
    return a is not None and a.status in ("acknowledged", "resolved")


def all_quiet(store, alert_ids) -> bool:
    """Every alert of a notification group is acked (ack holding) or resolved by hand, as the
    store says: its reminder (repeat_interval) is not sent. A store that cannot answer: remind."""
    try:
        return all(quiet(store.get_alert(aid)) for aid in alert_ids)
    except Exception:  # noqa: BLE001 - the store is unreachable: a reminder too many beats one lost
        return False
