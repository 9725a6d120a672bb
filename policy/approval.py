"""Decisions people take on actions: approve (within the approval's lifetime), reject, and turn a
dry-run action into a real one.

- A `pending_approval` action waits at most its route's `approval_expires` (default 24h) after it
  was planned; past that, approving it is refused and it is recorded `expired` — a stale
  approval must not run a remediation on a situation that has moved on.
- `reject` records `rejected` with who and why; a rejected or expired action never runs.
- A dry-run action (`planned`, `dry_run: true`) can be approved to run for real: a new action
  (id derived from the dry-run one, `dry_run: false`, `params.from_dry_run`) goes through the same
  safety checks as the agent's own (protected resources, blast radius, the action log).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from core.errors import WardenError
from core.event import Action, stable_id

DEFAULT_APPROVAL_EXPIRES_S = 86400.0


class ApprovalError(WardenError):
    """The action cannot be approved / rejected in its state."""


def expires_at(act: Action) -> float | None:
    """When a pending approval lapses (None for an action that waits for none)."""
    if act.status != "pending_approval":
        return None
    route = act.result.get("route") or {}
    return act.time + float(route.get("approval_expires", DEFAULT_APPROVAL_EXPIRES_S))


def is_expired(act: Action, now: float) -> bool:
    at = expires_at(act)
    return at is not None and now >= at


def as_seen(act: Action, now: float) -> Action:
    """The action as people see it now: a pending approval past its lifetime shows `expired`
    (stored so the next time someone tries to approve it)."""
    return dataclasses.replace(act, status="expired") if is_expired(act, now) else act


def decided(act: Action, status: str, by: str, note: str, now: float) -> Action:
    """The action recorded `rejected` or `expired` (it will never run)."""
    key = "rejected_by" if status == "rejected" else "expired_seen_by"
    return dataclasses.replace(act, status=status, time=now,
                               result={**act.result, key: by, "note": note, "decided_at": now})


def check_approvable(act: Action, now: float, *, real: bool = False,
                     override_blast_radius: bool = False) -> None:
    """Raise ApprovalError with the reason when `act` cannot be approved as asked."""
    if real:
        if not (act.dry_run and act.status == "planned"):
            raise ApprovalError(f"action {act.id[:12]} is {'dry-run ' if act.dry_run else ''}{act.status}: "
                                "--real turns a planned dry-run action into a real one")
        return
    allowed = ("pending_approval", "blocked_by_blast_radius") if override_blast_radius else ("pending_approval",)
    if act.status not in allowed:
        raise ApprovalError(f"action {act.id[:12]} is {act.status}, not {' or '.join(allowed)}")
    if is_expired(act, now):
        raise ApprovalError(f"the approval of {act.id[:12]} expired (planned {now - act.time:.0f}s ago)")


def record_if_expired(act: Action, by: str, now: float, data_dir, store) -> bool:
    """An approval that lapsed is recorded `expired` in the action log and the store (the CLI and
    the web page both do this when someone tries to approve it); True when it had."""
    if not is_expired(act, now):
        return False
    from policy.action_log import ActionLog
    from core.codec import to_dict
    gone = decided(act, "expired", by, "approval expired", now)
    ActionLog.for_data_dir(data_dir).append("record", to_dict(gone), by=by)
    store.put_actions([gone])
    store.flush()
    return True


def real_from_dry_run(act: Action, by: str, now: float) -> Action:
    """The real action a dry-run one describes, ready for the executor."""
    params: dict[str, Any] = {**act.params, "from_dry_run": act.id, "approved_by": by}
    return dataclasses.replace(act, id=stable_id("real", act.id), dry_run=False, status="planned", time=now,
                               params=params, result={})
