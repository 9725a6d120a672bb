"""What the page's buttons do, through the same code as the CLI: the store's workflow fields (ack,
assign, resolve), the silence store, and the action executor with its safety checks and
hash-chained log (`agent.action_env._Env`: runtime, executor, responders)."""
from __future__ import annotations

import dataclasses
import time

from core.event import Action
from core.http import HttpError


def workflow(store, alert_id: str, by: str, **fields) -> None:
    """ack / assign / resolve through the store's workflow (core.stores.workflow): a change that
    makes no sense for the alert as it is (acking a resolved alert) is a 409 with the reason."""
    from core.stores.workflow import WorkflowError
    try:
        found = store.set_workflow(alert_id, by=by, **fields)
    except WorkflowError as e:
        raise HttpError(409, str(e)) from None
    if not found:
        raise HttpError(404, "no such alert")
    store.flush()


def add_silence(cfg, matchers: list[str], duration: str, comment: str, by: str):
    from core.errors import ConfigError
    from policy.matchers import parse_matchers
    from policy.silences import Silence, open_silences
    from core.durations import parse_duration
    try:
        s = Silence.new(parse_matchers([m for m in matchers if m]), duration=parse_duration(duration, "duration"),
                        created_by=by, comment=comment)
    except (ConfigError, ValueError) as e:
        raise HttpError(400, f"bad silence: {e}") from None
    st = open_silences(cfg)
    try:
        st.add(s)
    finally:
        st.close()
    return s


def expire_silence(cfg, silence_id: str) -> None:
    from policy.silences import open_silences
    st = open_silences(cfg)
    try:
        if st.expire(silence_id) is None:
            raise HttpError(404, "no such silence")
    finally:
        st.close()


def find_action(store, action_id: str) -> Action:
    """By id (the page always sends whole ids). 10,000 is Elasticsearch's largest result window
    (`warden actions`' own lookup asks for 100,000, which Elasticsearch refuses)."""
    act = next((a for a in store.list_actions(limit=10_000) if a.id == action_id), None)
    if act is None:
        raise HttpError(404, "no such action")
    return act


def approve(cfg, store, action_id: str, by: str, now: float | None = None) -> Action:
    """Run an action waiting for approval, as `warden actions approve` does: refused (409 with the
    reason) unless it is pending and its approval has not expired; an expired one is recorded
    `expired` in the action log and the store, as the CLI does."""
    from policy.approval import ApprovalError, check_approvable, record_if_expired
    from agent.action_env import _Env
    act = find_action(store, action_id)
    now = time.time() if now is None else now
    try:
        check_approvable(act, now)
    except ApprovalError as e:
        record_if_expired(act, by, now, cfg.data_dir, store)
        raise HttpError(409, str(e)) from None
    alert = store.get_alert(act.alert_id)
    if alert is None:
        raise HttpError(404, "the action's alert is not in the store")
    env = _Env(cfg)
    try:
        route = {**(act.result.get("route") or {"responder": act.responder}), "dry_run": act.dry_run}
        env.executor.log.append("approve", {"id": act.id, "alert_id": act.alert_id}, by=by)
        out = env.executor.run(env.responder(act.responder), dataclasses.replace(act, status="planned", result={}),
                               alert, route, approved=True)
        store.put_actions(out)
        store.flush()
    finally:
        env.close()
    return out[0]


def reject(cfg, store, action_id: str, by: str, note: str) -> Action:
    """Refuse an action waiting for approval: recorded in the action log and the store (`rejected`)."""
    from policy.action_log import ActionLog
    act = find_action(store, action_id)
    if act.status != "pending_approval":
        raise HttpError(409, f"action is {act.status}, not pending_approval")
    ActionLog.for_data_dir(cfg.data_dir).append("reject", {"id": act.id, "alert_id": act.alert_id}, by=by, note=note)
    done = dataclasses.replace(act, status="rejected", result={**act.result, "reason": f"rejected by {by}: {note}"})
    store.put_actions([done])
    store.flush()
    return done


def undo(cfg, store, action_id: str, by: str) -> Action:
    from agent.action_env import _Env
    from responders.base import ResponderError
    act = find_action(store, action_id)
    env = _Env(cfg)
    try:
        try:
            done = env.executor.undo(env.responder(act.responder), act, reason=f"manual by {by}")
        except ResponderError as e:
            raise HttpError(409, f"cannot undo: {e}") from None
        store.put_actions([done])
        store.flush()
    finally:
        env.close()
    return done
