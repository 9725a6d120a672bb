"""Remediate: a firing alert routed to a responder that acts (not a notifier) gets the responder's
planned actions; each one not acted on already (agent.stages.act.dedup) runs through the executor
(protected resources, dry-run, approval, blast radius, the action log, retries), and an executed
action whose route has `auto_revert` is scheduled to be undone (agent.stages.act.reverts).
Resolved and suppressed alerts are not remediated: resolution is for notifications.
"""
from __future__ import annotations

from core.event import Action, Alert
from agent.stages.act.dedup import ActionDedup
from agent.stages.act.executor import ActionExecutor
from agent.stages.act.reverts import RevertSchedule
from agent.stages.act.route import Route


class Remediation:
    def __init__(self, executor: ActionExecutor, dedup: ActionDedup, reverts: RevertSchedule) -> None:
        self.executor = executor
        self.dedup = dedup
        self.reverts = reverts

    def run(self, r, alert: Alert, route: Route) -> list[Action]:
        if alert.status != "firing":
            return []
        out: list[Action] = []
        for action in r.plan(alert, route):
            if self.dedup.seen(action):
                continue
            out.extend(self.executor.run(r, action, alert, route))
            self.reverts.track(out)
        return out
