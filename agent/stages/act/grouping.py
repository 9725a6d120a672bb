"""Notification grouping, Alertmanager's timers: alerts routed to a notifying responder are
batched per group (responder x values of the route's `group_by` labels).

- a new group waits `group_wait` before its first notification (so a burst goes out as one);
- after that the group is looked at every `group_interval` and notified again only when its
  set of alerts changed (a new alert, or one resolved);
- an unchanged group is re-notified after `repeat_interval` — unless every alert in it is
  acknowledged (ack holding) or resolved by hand (`quiet`); an alert that got more severe counts
  as a change.
Resolved alerts leave the group once notified; an empty group is dropped.

Time is the act stage's clock (event-time watermark that also advances with wall time while
idle), so a replay of a recorded incident groups exactly like the live run did. The state is
snapshotted with the act stage's checkpoint, and notification ids are deterministic, so a
replay after a crash never notifies twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from core import codec
from core.event import SEVERITY_RANK, Alert, stable_id
from agent.stages.act.route import Route
from policy.policies import DEFAULT_NOTIFY


@dataclass
class Notification:
    group_key: str
    responder: str
    route: Route
    group_labels: dict[str, str]
    alerts: list[Alert]
    seq: int
    id: str


def group_labels(alert: Alert, group_by: list[str]) -> dict[str, str]:
    if "..." in group_by:
        return dict(sorted(alert.labels.items())) or {"alert": alert.id}
    labels = alert.labels or {}
    out = {}
    for k in group_by:
        v = labels.get(k)
        if v is None:
            v = getattr(alert, k, "") if k in ("entity", "rule", "severity", "detector") else ""
        out[k] = str(v)
    return out


def _entities(a: dict[str, Any]) -> list[str]:
    return sorted({a["entity"]} | {str(s.get("entity")) for s in a.get("steps") or () if s.get("entity")})


def escalated(g: dict[str, Any]) -> bool:
    """An alert of the group got more severe, or reached another entity, since it was last
    notified: a change to notify (an ack on it ended too, core.stores.workflow)."""
    sev, ents = g.get("sent_severity") or {}, g.get("sent_entities") or {}
    for aid, a in g["alerts"].items():
        if a["status"] == "resolved":
            continue
        if aid in sev and SEVERITY_RANK.get(a["severity"], 0) > SEVERITY_RANK.get(sev[aid], 0):
            return True
        if aid in ents and not set(_entities(a)) <= set(ents[aid]):
            return True
    return False


RESOLVED_KEY = "__resolved__"
MAX_RESOLVED = 20000


class NotificationGroups:
    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()
        self.removed: set[str] = set()
        #: alert id → last_seen of alerts whose resolution was notified (stale redeliveries are ignored)
        self.resolved: dict[str, float] = {}
        self._resolved_dirty = False
        self.stale = 0
        #: due notifications held back because their notifier's buffer was full
        self.deferred = 0
        #: alerts that moved to another group (renamed by correlation)
        self.moved = 0
        #: reminders not sent because every alert of the group was acknowledged / resolved by hand
        self.quieted = 0

    def add(self, alert: Alert, route: Route | dict[str, Any], now: float) -> bool:
        """Put an alert (update) into its group; returns True when the group's content changed.
        An update older than what the group holds, or of an alert whose resolution was already
        notified, is stale (a redelivery) and ignored (`self.stale` counts them)."""
        route = Route.of(route)
        notify = {**DEFAULT_NOTIFY, **(route.notify or {})}
        gl = group_labels(alert, list(notify["group_by"]))
        key = stable_id("group", route.responder, route.is_dry_run, gl)
        rkey = f"{key}|{alert.id}"
        if rkey in self.resolved:
            self.stale += 1
            return False
        self._leave_other_groups(alert.id, route.responder, key)
        g = self.groups.get(key)
        if g is not None:
            prev = g["alerts"].get(alert.id)
            if prev is not None and (prev["last_seen"] > alert.last_seen or
                                     (prev["status"] == "resolved" and alert.status != "resolved")):
                self.stale += 1
                return False
        if g is None:
            if alert.status == "resolved":
                return False   # never notified as firing in this group: nothing to say
            g = {"key": key, "responder": route.responder, "route": route.to_dict(notify=False), "notify": notify,
                 "labels": gl,
                 "alerts": {}, "created": now, "next_flush": now + float(notify["group_wait"]),
                 "last_sent_at": None, "sent": {}, "seq": 0}
            self.groups[key] = g
        prev = g["alerts"].get(alert.id)
        g["alerts"][alert.id] = codec.to_dict(alert)
        self.dirty.add(key)
        self.removed.discard(key)
        return prev is None or prev.get("status") != alert.status

    def _leave_other_groups(self, alert_id: str, responder: str, key: str) -> None:
        """An alert renamed by correlation (its alertname changed) moves to its new group for
        this responder; the old group forgets it (counted in `self.moved`)."""
        for other, g in list(self.groups.items()):
            if other != key and g["responder"] == responder and alert_id in g["alerts"]:
                g["alerts"].pop(alert_id)
                g["sent"].pop(alert_id, None)
                self.moved += 1
                self._maybe_drop(other)

    def remove_alert(self, alert_id: str) -> None:
        for key, g in list(self.groups.items()):
            if g["alerts"].pop(alert_id, None) is not None:
                g["sent"].pop(alert_id, None)
                self._maybe_drop(key)

    def _maybe_drop(self, key: str) -> None:
        g = self.groups[key]
        if not g["alerts"]:
            del self.groups[key]
            self.dirty.discard(key)
            self.removed.add(key)
        else:
            self.dirty.add(key)

    def due(self, now: float, force: bool = False, accept=None, quiet=None) -> list[Notification]:
        """Notifications whose time has come (all pending ones when force). Marks them sent.
        `accept(responder, route: Route) -> bool` is asked before each one: a refused group (its
        notifier's delivery buffer is full) is left untouched and stays due. `quiet(alert_ids)
        -> bool` is asked before a reminder (an unchanged group after repeat_interval): True (every
        alert acked or resolved by hand) skips it until the next repeat_interval (`self.quieted`)."""
        out = []
        for key in sorted(self.groups):
            g = self.groups[key]
            if not force and now < g["next_flush"]:
                continue
            current = {aid: a["status"] for aid, a in g["alerts"].items()}
            changed = current != g["sent"] or escalated(g)
            repeat = g["last_sent_at"] is not None and now - g["last_sent_at"] >= float(g["notify"]["repeat_interval"])
            if repeat and not changed and quiet is not None and quiet(sorted(g["alerts"])):
                g["last_sent_at"] = now            # acked: no reminder; asked again a repeat_interval later
                self.dirty.add(key)
                self.quieted += 1
                repeat = False
            if (changed or repeat) and accept is not None and not accept(g["responder"], Route.of(g["route"])):
                self.deferred += 1
                continue
            g["next_flush"] = now + float(g["notify"]["group_interval"])
            self.dirty.add(key)
            if not (changed or repeat):
                continue
            g["seq"] += 1
            alerts = [codec.from_dict(a, "alert") for _, a in sorted(g["alerts"].items())]
            nid = stable_id("notification", key, g["seq"], sorted(current.items()))
            route = Route.of(dict(g["route"], notify=g["notify"]))
            out.append(Notification(key, g["responder"], route, dict(g["labels"]), alerts, g["seq"], nid))
            g["last_sent_at"] = now
            g["sent"] = dict(current)
            g["sent_severity"] = {aid: a["severity"] for aid, a in g["alerts"].items()}
            g["sent_entities"] = {aid: _entities(a) for aid, a in g["alerts"].items()}
            for aid, st in current.items():
                if st == "resolved":
                    self.resolved[f"{key}|{aid}"] = g["alerts"][aid]["last_seen"]
                    self._resolved_dirty = True
                    del g["alerts"][aid]
                    del g["sent"][aid]
            if len(self.resolved) > MAX_RESOLVED:
                for k in list(self.resolved)[: len(self.resolved) - MAX_RESOLVED]:
                    del self.resolved[k]
            self._maybe_drop(key)
        return out

    def pending(self) -> int:
        return sum(1 for g in self.groups.values() if {a: x["status"] for a, x in g["alerts"].items()} != g["sent"])

    # state ----------------------------------------------------------------------------------------
    def snapshot_items(self, ns: str) -> list[tuple[str, str, bytes]]:
        items = [(ns, k, orjson.dumps(self.groups[k])) for k in self.dirty if k in self.groups]
        items += [(ns, k, b"") for k in self.removed]
        if self._resolved_dirty:
            items.append((ns, RESOLVED_KEY, orjson.dumps(self.resolved)))
            self._resolved_dirty = False
        self.dirty.clear()
        self.removed.clear()
        return items

    def restore(self, state, ns: str) -> None:
        self.groups.clear()
        self.resolved = {}
        for k in state.keys(ns):
            blob = state.get(ns, k)
            if not blob:
                continue
            if k == RESOLVED_KEY:
                self.resolved = orjson.loads(blob)
            else:
                self.groups[k] = orjson.loads(blob)
