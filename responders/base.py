"""Responder base (Falco Talon's habits): each responder declares the route parameters it takes,
the alert fields it needs and the permissions it uses; `check_route` validates a policy's route
at load time. `plan()` turns an alert into Actions (target, params, how to undo); `execute()`
performs one and returns its result, raising ResponderError(retryable=...) on failure.
"""
from __future__ import annotations

import time
from typing import Any, ClassVar

from core.component import Component
from core.errors import ConfigError
from core.event import Action, Alert, stable_id
from core.lookup import lookup


class ResponderError(Exception):
    protected = False
    skip = False

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class SkipAction(ResponderError):
    """Nothing to do (e.g. a retraining cooldown): the action is recorded as skipped with the reason."""
    skip = True

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class ProtectedResourceError(ResponderError):
    """The responder found at run time that its target is protected (e.g. a pod's labels):
    the action is recorded as skipped, never retried."""
    protected = True

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class Responder(Component):
    kind = "responder"
    #: verb recorded in Action.action
    action: ClassVar[str] = "respond"
    #: route params: name → (type, required)
    parameters: ClassVar[dict[str, tuple[type, bool]]] = {}
    #: alert fields the responder needs (dotted paths, e.g. "entity", "evidence.pod")
    required_fields: ClassVar[tuple[str, ...]] = ()
    #: permissions it uses (documentation and RBAC generation)
    permissions: ClassVar[tuple[str, ...]] = ()
    #: notification responders get alerts batched per group (group_wait / group_interval / repeat_interval)
    notifies: ClassVar[bool] = False
    #: whether `revert()` can undo what `execute()` did
    reversible: ClassVar[bool] = False

    @classmethod
    def check_route(cls, params: dict[str, Any], where: str) -> None:
        for name, val in params.items():
            if name not in cls.parameters:
                raise ConfigError(f"{where}: {cls.type} has no parameter {name!r} "
                                  f"(known: {', '.join(cls.parameters) or 'none'})")
            tp, _ = cls.parameters[name]
            if not isinstance(val, tp):
                tname = tp.__name__ if isinstance(tp, type) else " or ".join(t.__name__ for t in tp)
                raise ConfigError(f"{where}: parameter {name} must be {tname}")
        for name, (_, required) in cls.parameters.items():
            if required and name not in params:
                raise ConfigError(f"{where}: {cls.type} needs parameter {name!r}")

    def missing_fields(self, alert: Alert) -> list[str]:
        return [f for f in self.required_fields if lookup(alert, f) in (None, "")]

    def target(self, alert: Alert, params: dict[str, Any]) -> str:
        return alert.entity

    def resource(self, alert: Alert, params: dict[str, Any]) -> dict[str, Any]:
        """What an action would touch (kind, namespace, name, labels, node, account, arn, principal),
        checked against the protected resources before anything runs. {} = nothing to check."""
        return {}

    def plan(self, alert: Alert, route: dict[str, Any]) -> list[Action]:
        params = dict(route.get("params") or {})
        target = self.target(alert, params)
        res = self.resource(alert, params)
        if res:
            params["resource"] = res
        return [Action(id=stable_id("action", alert.id, self.name, self.action, target, alert.status),
                       alert_id=alert.id, responder=self.name, action=self.action, target=target,
                       dry_run=bool(route.get("dry_run", True)), status="planned", time=time.time(),
                       params=params, undo=self.undo_for(alert, target, params))]

    def notify(self, alerts: list[Alert], group: dict[str, str], action: Action) -> dict[str, Any]:
        """Send one notification for a group of alerts (notifying responders override this to
        batch; the default calls execute() once per alert)."""
        results = [self.execute(action, a) for a in alerts]
        return {"notified": len(alerts), "results": results}

    def bind_runtime(self, rt) -> None:
        """Called by the act stage: responders that publish to the bus or keep files in the data
        dir take what they need from the runtime (producer, topic names, data_dir, state)."""
        self.rt = rt

    #: set by the executor before execute(): resource dict → reason it is protected, or None
    safety_check = None

    def check_protected(self, resource: dict[str, Any]) -> None:
        """For responders that learn what they touch only at run time (e.g. a pod's labels)."""
        check = self.safety_check
        reason = check(resource) if check else None
        if reason:
            raise ProtectedResourceError(reason)

    def undo_for(self, alert: Alert, target: str, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    def execute(self, action: Action, alert: Alert) -> dict[str, Any]:
        raise NotImplementedError

    def revert(self, action: Action) -> dict[str, Any]:
        raise ResponderError(f"{self.type} actions cannot be undone", retryable=False)


def alert_value(alert: Alert, *paths: str) -> Any:
    """The first non-empty value among alert labels / fields / evidence paths (dotted, ECS keys ok)."""
    for p in paths:
        if not p:
            continue
        v = alert.labels.get(p) if p in (alert.labels or {}) else lookup(alert, p)
        if v is None and not p.startswith(("evidence.", "labels.")):
            v = lookup(alert.evidence, p)
        if v not in (None, "", [], {}):
            return v
    return None
