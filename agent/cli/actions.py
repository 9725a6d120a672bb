"""`warden actions list|approve|reject|undo|verify`: what responders did (or would do), and control of it.

- `approve ID` runs an action that waits for approval (`pending_approval`), through the same
  safety checks as the agent (protected resources, blast radius, the hash-chained action log);
  an approval past its route's `approval_expires` (default 24h) is refused and recorded `expired`;
  `approve ID --real` runs a planned dry-run action for real (policy.approval).
- `reject ID --note why` records `rejected`: the action never runs.
- `undo ID` reverts an executed action with its responder's undo (recorded `undone`).
- `verify` checks the action log's HMAC-keyed hash chain; exit 1 when it is broken (tampering) or missing.
Exit codes: 0 ok, 1 failed (undo/approve error, broken chain), 2 usage, 3 unknown action id.
"""
from __future__ import annotations

import dataclasses
import sys
import time

import click

from agent.cli.app import EXIT_FAIL, EXIT_NOT_FOUND, EXIT_USAGE, cli, current_user, open_store, pass_ctx
from core import codec
from agent.cli.output import emit_json, fmt_time, table
from agent.cli.demo_dir import DEMO_LOCAL_RESPONDERS, is_demo_dir
from agent.action_env import _Env

STATUSES = ["planned", "done", "failed", "skipped", "undone", "pending_approval", "blocked_by_blast_radius",
            "rejected", "expired"]


def _find(store, action_id: str):
    hits = [a for a in store.list_actions(limit=100000) if a.id == action_id or a.id.startswith(action_id)]
    exact = [a for a in hits if a.id == action_id]
    return exact[0] if exact else (hits[0] if len(hits) == 1 else None)


@cli.group()
def actions() -> None:
    """List, approve, undo and audit responder actions."""


@actions.command("list")
@click.option("--alert", "alert_id", help="Only actions of this alert (id).")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_actions(ctx, alert_id, status, limit, as_json) -> None:
    """List actions, newest first."""
    store = open_store(ctx)
    try:
        if alert_id:
            a = store.get_alert(alert_id)
            alert_id = a.id if a else alert_id
        fetch = max(limit, 1000) if status else limit
        items = store.list_actions(alert_id, limit=fetch)
    finally:
        store.close()
    from policy.approval import as_seen
    now = time.time()
    more = len(items) == fetch
    items = [as_seen(x, now) for x in items]
    if status:
        more = more or len([a for a in items if a.status == status]) > limit
        items = [a for a in items if a.status == status][:limit]
    items = sorted(items, key=lambda x: (-x.time, x.id))
    if more:
        click.echo(f"(from the newest {fetch} actions; there may be more: --limit N)", err=True)
    if as_json:
        emit_json(items)
        return
    table(["id", "time (wall clock)", "responder", "action", "target", "mode", "status", "alert", "note"],
          [[x.id[:12], fmt_time(x.time), x.responder, x.action, x.target[:60], "dry-run" if x.dry_run else "real",
            x.status, x.alert_id[:12], str(x.result.get("reason") or x.result.get("error") or "")[:60]] for x in items])


@actions.command("approve")
@click.argument("action_id")
@click.option("--by", default=None, help="Who approves (default: $USER).")
@click.option("--real", is_flag=True, help="Run a planned dry-run action for real (same safety checks).")
@click.option("--override-blast-radius", is_flag=True,
              help="Also run an action the blast-radius limit stopped (blocked_by_blast_radius), past the limit.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def approve(ctx, action_id, by, real, override_blast_radius, as_json) -> None:
    """Approve and run an action waiting for approval (refused once its approval expired: the
    route's approval_expires, default 24h), a dry-run action with --real, or one the blast-radius
    limit stopped with --override-blast-radius. Protected resources stay protected."""
    from policy.approval import ApprovalError, check_approvable, real_from_dry_run, record_if_expired
    store = open_store(ctx)
    env = None
    who = by or current_user()
    now = time.time()
    try:
        act = _find(store, action_id)
        if act is None:
            click.echo(f"no action {action_id!r}", err=True)
            sys.exit(EXIT_NOT_FOUND)
        if real and act.responder.split("/")[0] not in DEMO_LOCAL_RESPONDERS and is_demo_dir(ctx.cfg.data_dir):
            click.echo(f"error: {ctx.cfg.data_dir} is warden demo's folder: its alerts are simulated, and running "
                       f"{act.responder} for real would act on the cluster or account this machine's credentials "
                       f"reach ({act.action} {act.target}); only {', '.join(DEMO_LOCAL_RESPONDERS)} actions run "
                       "for real here", err=True)
            sys.exit(EXIT_USAGE)
        try:
            check_approvable(act, now, real=real, override_blast_radius=override_blast_radius)
        except ApprovalError as e:
            expired = record_if_expired(act, who, now, ctx.cfg.data_dir, store)
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_FAIL if expired else EXIT_USAGE)
        alert = store.get_alert(act.alert_id)
        if alert is None:
            click.echo(f"the alert {act.alert_id[:12]} of this action is not in the store", err=True)
            sys.exit(EXIT_NOT_FOUND)
        env = _Env(ctx.cfg)
        route = dict(act.result.get("route") or {"responder": act.responder})
        pending = real_from_dry_run(act, who, now) if real else dataclasses.replace(act, status="planned", result={})
        route["dry_run"] = pending.dry_run
        env.executor.log.append("approve", {"id": pending.id, "alert_id": act.alert_id, "from": act.id}, by=who,
                                real=real, override_blast_radius=override_blast_radius)
        out = env.executor.run(env.responder(act.responder), pending, alert, route, approved=True,
                               override_blast_radius=override_blast_radius)
        store.put_actions(out)
        store.flush()
    finally:
        store.close()
        if env is not None:
            env.close()
    res = out[0]
    if as_json:
        emit_json(out)
    else:
        click.echo(f"{res.id[:12]} {res.action} {res.target}: {res.status}"
                   + (f" ({res.result.get('reason') or res.result.get('error')})"
                      if res.result.get("reason") or res.result.get("error") else ""))
    sys.exit(0 if res.status == "done" else EXIT_FAIL)


@actions.command("reject")
@click.argument("action_id")
@click.option("--by", default=None, help="Who rejects (default: $USER).")
@click.option("--note", default="", help="Why (kept with the action and in the action log).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def reject(ctx, action_id, by, note, as_json) -> None:
    """Reject an action waiting for approval: recorded `rejected`, it never runs."""
    from policy.approval import decided
    from policy.action_log import ActionLog
    store = open_store(ctx)
    try:
        act = _find(store, action_id)
        if act is None:
            click.echo(f"no action {action_id!r}", err=True)
            sys.exit(EXIT_NOT_FOUND)
        if act.status not in ("pending_approval", "blocked_by_blast_radius"):
            click.echo(f"error: action {act.id[:12]} is {act.status}: only actions waiting for approval can be "
                       "rejected", err=True)
            sys.exit(EXIT_USAGE)
        done = decided(act, "rejected", by or current_user(), note, time.time())
        ActionLog.for_data_dir(ctx.cfg.data_dir).append("record", codec.to_dict(done), by=by or current_user())
        store.put_actions([done])
        store.flush()
    finally:
        store.close()
    if as_json:
        emit_json(done)
    else:
        click.echo(f"{done.id[:12]} {done.action} {done.target}: rejected" + (f" ({note})" if note else ""))


@actions.command("undo")
@click.argument("action_id")
@click.option("--by", default=None, help="Who undoes it (default: $USER).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def undo(ctx, action_id, by, as_json) -> None:
    """Undo an executed action with its responder's revert."""
    from responders.base import ResponderError
    store = open_store(ctx)
    env = None
    try:
        act = _find(store, action_id)
        if act is None:
            click.echo(f"no action {action_id!r}", err=True)
            sys.exit(EXIT_NOT_FOUND)
        env = _Env(ctx.cfg)
        try:
            done = env.executor.undo(env.responder(act.responder), act, reason=f"manual by {by or current_user()}")
        except ResponderError as e:
            click.echo(f"error: cannot undo {act.id[:12]}: {e}", err=True)
            sys.exit(EXIT_FAIL)
        store.put_actions([done])
        store.flush()
    finally:
        store.close()
        if env is not None:
            env.close()
    if as_json:
        emit_json(done)
    else:
        click.echo(f"{done.id[:12]} {done.action} {done.target}: undone")


@actions.command("verify")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def verify(ctx, as_json) -> None:
    """Check the action log's HMAC-keyed hash chain (exit 1 when broken or missing)."""
    from policy.action_log import ActionLog
    log = ActionLog.for_data_dir(ctx.cfg.data_dir)
    r = log.verify()
    if as_json:
        emit_json({**r.to_dict(), "path": str(log.path)})
    elif r.missing:
        click.echo(f"error: no action log at {log.path} (wrong data_dir, or nothing has acted yet)", err=True)
    elif r.ok:
        click.echo(f"ok: {r.entries} entries, chain intact (HMAC key: {r.key_source}), head {r.head[:16]} ({log.path})")
    else:
        click.echo(f"BROKEN: {log.path} ({r.entries} entries)", err=True)
        for e in r.errors:
            click.echo(f"  {e}", err=True)
    sys.exit(0 if r.ok else EXIT_FAIL)
