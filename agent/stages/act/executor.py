"""Running one action safely (the act stage's remediate step, and `warden actions approve|undo`).

Order, for every planned action:
1. the alert lacks a field the responder needs → `skipped` (`act.skipped`);
2. the resource it would touch is protected → `skipped` with the reason (`act.protected`);
3. dry-run → `planned` (`act.dry_run`): nothing is touched;
4. the route wants approval and nobody approved yet → `pending_approval` (`act.pending_approval`);
5. the blast-radius window is full → `blocked_by_blast_radius` (`act.blocked_by_blast_radius`) and a
   critical page through the `page` responder (once per window);
6. the action-log `intent` entry is written (durably) — then the responder runs (retryable errors
   retried with backoff) — then the `result` entry. Outcome `done` / `failed` / `skipped` (a
   protected resource discovered only at run time, e.g. a pod's labels).
Every outcome is also written to the action log (`record`), so the log is the full audit trail.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any, Callable

from core import codec
from policy.action_log import ActionLog
from policy.safety import BlastLimiter, Safety
from core.event import Action, Alert, stable_id
from agent.stages.act.route import Route
from responders.base import ResponderError

log = logging.getLogger("warden.actions")


def is_protected_error(e: Exception) -> bool:
    return isinstance(e, ResponderError) and e.protected


class ActionExecutor:
    def __init__(self, *, action_log: ActionLog, safety: Safety, state, counters,
                 responder_for: Callable[[str], Any] | None = None, retries: int = 3,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        self.log = action_log
        self.safety = safety
        self.counters = counters
        self.limiter = BlastLimiter(safety.blast_radius, state)
        self.responder_for = responder_for
        self.retries = retries
        self.sleep = sleep
        self.clock = clock

    # helpers ------------------------------------------------------------------------------------
    def _record(self, action: Action, phase: str = "record") -> Action:
        self.log.append(phase, codec.to_dict(action))
        return action

    def _final(self, action: Action, status: str, counter: str, **result: Any) -> Action:
        self.counters.inc(counter)
        return self._record(dataclasses.replace(action, status=status, time=self.clock(),
                                                result={**action.result, **result} if result else action.result))

    # one action ---------------------------------------------------------------------------------
    def run(self, r, action: Action, alert: Alert, route: Route | Mapping[str, Any], *, approved: bool = False,
            override_blast_radius: bool = False) -> list[Action]:
        route = Route.of(route)
        missing = r.missing_fields(alert)
        if missing:
            return [self._final(action, "skipped", "act.skipped", reason=f"alert lacks field(s) {', '.join(missing)}")]
        reason = self.safety.protected.reason(action.params.get("resource") or {})
        if reason:
            return [self._final(action, "skipped", "act.protected", reason=reason, protected=True)]
        if action.dry_run:
            self.counters.inc("act.dry_run")
            return [self._record(action)]
        if route.approval and not approved:
            return [self._final(action, "pending_approval", "act.pending_approval",
                                reason="waiting for `warden actions approve`", route=route.meta())]
        allowed, page = (True, False) if override_blast_radius else self.limiter.try_acquire(self.clock())
        if not allowed:
            br = self.safety.blast_radius
            out = [self._final(action, "blocked_by_blast_radius", "act.blocked_by_blast_radius",
                               reason=f"more than {br.max_actions} real actions in {br.window:g}s",
                               route=route.meta())]
            if page:
                out.extend(self.page(action, alert))
            return out
        return [self.execute(r, action, alert, route)]

    def execute(self, r, action: Action, alert: Alert, route: Route | None = None) -> Action:
        self.log.append("intent", codec.to_dict(action))
        r.safety_check = self.safety.protected.reason
        result: dict[str, Any] = {}
        status = "failed"
        delay = 0.2
        for attempt in range(1, self.retries + 1):
            try:
                result = dict(r.execute(action, alert) or {})
                status = "done"
                self.counters.inc("act.done")
                break
            except ResponderError as e:
                if e.skip:
                    status, result = "skipped", {"reason": str(e)}
                    self.counters.inc("act.skipped")
                    break
                if is_protected_error(e):
                    status, result = "skipped", {"reason": str(e), "protected": True}
                    self.counters.inc("act.protected")
                    break
                if e.retryable and attempt < self.retries:
                    self.counters.inc("act.retries")
                    self.sleep(delay)
                    delay *= 2
                    continue
                self.counters.inc("act.failed")
                result = {"error": str(e), "retryable": e.retryable, "attempts": attempt}
                break
            except Exception as e:  # noqa: BLE001 - a responder bug is a failed action, not a crash
                log.exception("%s crashed", r.name)
                self.counters.inc("act.failed")
                result = {"error": f"{type(e).__name__}: {e}", "retryable": False}
                break
        now = self.clock()
        if status == "done" and route is not None and route.auto_revert:
            result["revert_at"] = now + float(route.auto_revert)
        done = dataclasses.replace(action, status=status, time=now, result=result)
        self.log.append("result", codec.to_dict(done))
        return done

    def page(self, action: Action, alert: Alert) -> list[Action]:
        """Critical notification that the blast-radius limit stopped an action."""
        br = self.safety.blast_radius
        if self.responder_for is None:
            return []
        try:
            pager = self.responder_for(br.page)
        except Exception as e:  # noqa: BLE001
            log.error("cannot build page responder %s: %s", br.page, e)
            self.counters.inc("act.page_failed")
            return []
        page_alert = dataclasses.replace(
            alert, severity="critical", status="firing",
            title=f"warden blast-radius limit reached: stopped {action.action} on {action.target}",
            description=f"more than {br.max_actions} real actions in {br.window:g}s; further actions are "
                        "blocked until the window clears. Review with `warden actions list`.")
        pa = Action(id=stable_id("page", action.id), alert_id=alert.id, responder=pager.name, action="page",
                    target="on-call", dry_run=False, status="planned", time=self.clock(),
                    params={"blocked_action": action.id})
        self.counters.inc("act.pages")
        return [self.execute(pager, pa, page_alert)]

    # undo ---------------------------------------------------------------------------------------
    def undo(self, r, action: Action, *, reason: str = "manual") -> Action:
        if action.status != "done" or action.dry_run:
            raise ResponderError(f"action {action.id[:12]} is {'dry-run ' if action.dry_run else ''}{action.status}: "
                                 "only executed (done) actions can be undone", retryable=False)
        self.log.append("undo-intent", codec.to_dict(action), reason=reason)
        try:
            res = r.revert(action) or {}
        except Exception as e:
            failed = dataclasses.replace(action, result={**action.result, "undo_error": str(e)})
            self.log.append("undo-result", codec.to_dict(failed), reason=reason, ok=False)
            self.counters.inc("act.undo_failed")
            raise
        undone = dataclasses.replace(action, status="undone", time=self.clock(),
                                     result={**action.result, "undo_result": res, "undone_by": reason})
        self.log.append("undo-result", codec.to_dict(undone), reason=reason, ok=True)
        self.counters.inc("act.undone")
        return undone

