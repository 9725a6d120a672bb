"""Notify: a due group notification (agent.stages.act.grouping) becomes one planned action per
alert, whose ids hash the notification and the alert's status; those acted on already are left
out (agent.stages.act.dedup). A dry-run route records them in the action log and is done; a real
one puts the notification in its notifier's delivery buffer (agent.stages.act.buffers), once —
the log gets its intent — and the deliver step sends it.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from core import codec
from core.errors import ConfigError
from core.event import Action, stable_id
from agent.stages.act.buffers import DeliveryBuffers
from agent.stages.act.dedup import ActionDedup
from agent.stages.act.delivery import DeliveryEntry
from agent.stages.act.grouping import Notification
from agent.stages.act.responders import ResponderSet
from responders.delivery import idempotency_key

log = logging.getLogger("warden.act")


class NotificationPlanner:
    def __init__(self, runtime: Any, responders: ResponderSet, dedup: ActionDedup, buffers: DeliveryBuffers,
                 action_log: Any, wall: Callable[[], float]) -> None:
        self.rt = runtime
        self.responders = responders
        self.dedup = dedup
        self.buffers = buffers
        self.log = action_log
        self.wall = wall

    def plan(self, n: Notification) -> list[Action]:
        """The notification's actions when it runs dry (recorded); [] when it was buffered for
        delivery, acted on already, or its notifier cannot be built (dead-lettered)."""
        try:
            r = self.responders.get(n.responder, where=f"notification {n.id[:12]}")
        except ConfigError as e:
            self.rt.dead_letter("act", {"notification": n.id, "group": n.group_labels}, str(e), n.responder)
            return []
        dry = n.route.is_dry_run
        params = n.route.param_values
        actions = []
        for a in n.alerts:
            act = Action(id=stable_id("notify", n.id, a.id, a.status), alert_id=a.id, responder=r.name,
                         action=r.action, target=r.target(a, params), dry_run=dry, status="planned",
                         time=self.wall(), params={**params, "notification": n.id, "group": n.group_labels,
                                                   "group_size": len(n.alerts), "seq": n.seq})
            if not self.dedup.seen(act):
                actions.append(act)
        if not actions:
            return []
        counters = self.rt.counters
        counters.inc("act.notifications")
        if dry:
            counters.inc("act.dry_run", len(actions))
            for act in actions:
                self.log.append("record", codec.to_dict(act))
            return actions
        q = self.buffers.queue(r)
        if n.id in q:                       # replayed while still buffered
            counters.inc("act.dedup")
            return []
        self.log.append("intent", {"notification": n.id, "responder": r.name, "actions": [a.id for a in actions]})
        q.push(DeliveryEntry(id=n.id, responder=r.name, key=idempotency_key(n.alerts), group=dict(n.group_labels),
                             alerts=[codec.to_dict(a) for a in n.alerts],
                             actions=[codec.to_dict(a) for a in actions], enqueued_at=self.wall(), next_at=0.0))
        self.buffers.changed = True
        return []     # the deliver step sends it (or keeps it for a retry)
