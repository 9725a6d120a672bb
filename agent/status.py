"""The pipeline's status as data, read from the persisted state (heartbeats, counters, lag, alerts,
silences, approvals, the action log): `warden status` prints it, the web page's operations page
shows it."""
from __future__ import annotations

import time
from pathlib import Path

import click

STAGE_INPUTS = {"detect": ("telemetry", "audit", "inference"), "decide": ("findings",), "act": ("alerts",)}
SECTIONS = {
    "dropped": ("deadletter", "step_failures", "unmatched"),
    "suppressed": ("suppressed", "silenced", "inhibited"),
    "deduplicated": ("dedup", "folded"),
    "risk": ("risk_held", "risk_alerts", "risk_state_errors"),
    "actions": ("act.done", "act.failed", "act.dry_run", "act.skipped", "act.protected", "act.pending_approval",
                "act.blocked_by_blast_radius", "act.undone", "act.auto_reverted", "act.notifications", "act.pages"),
    "delivery": ("act.notify_delivered", "act.notify_retries", "act.notify_buffered", "act.notify_deferred",
                 "act.notify_given_up", "act.notify_dropped", "act.backpressure", "act.retries", "store.retries"),
    "group membership": ("commit_deferred", "consumer_replaced", "partitions_assigned", "partitions_revoked"),
}


def _lag(cfg) -> dict[str, int | None]:
    if cfg.bus.type != "kafka":
        return {}
    from core.bus import create_bus
    bus = create_bus(cfg.bus)
    out: dict[str, int | None] = {}
    try:
        for stage, topics in STAGE_INPUTS.items():
            group = cfg.pipeline.group_prefix + stage
            total = 0
            for t in topics:
                topic = cfg.bus.topic_prefix + t
                end = bus.end_offsets(topic)
                done = bus.committed(group, topic)
                total += sum(max(0, o - (done.get(p) or 0)) for p, o in end.items())
            out[stage] = total
    except Exception as e:  # noqa: BLE001 - the rest of the status is still useful
        click.echo(f"(lag unavailable: {type(e).__name__}: {e})", err=True)
        out = {s: None for s in STAGE_INPUTS}
    finally:
        bus.close()
    return out


ALERT_READ_LIMIT = 10_000       # Elasticsearch's default max result window (from + size)


def collect_status(cfg, thresholds=None) -> dict:
    from policy.action_log import ActionLog
    from agent.health.heartbeat import read_heartbeats
    from agent.health.verdict import Thresholds, assess
    from core.counters_state import read_counters
    from core.state import StateStore
    from core.stores import AlertQuery, create_store

    state_path = Path(cfg.data_dir) / "state.db"
    counters, procs, beats = ({}, [], [])
    if state_path.exists():
        st = StateStore(state_path)
        try:
            counters, procs = read_counters(st)
            beats = read_heartbeats(st)
        finally:
            st.close()
    verdict = assess(beats, time.time(), thresholds or Thresholds())
    problems = list(verdict.problems)
    by_status: dict[str, int] = {}
    pending = 0
    alerts_error = ""
    sqlite_path = Path(cfg.store.path or Path(cfg.data_dir) / "warden.db")
    store_missing = cfg.store.type == "sqlite" and not sqlite_path.exists()
    if store_missing:            # never create an empty store just to read it
        problems.append(f"no alert store at {sqlite_path}")
    else:
        try:
            store = create_store(cfg)
            store.start()
            try:
                alerts = store.list_alerts(AlertQuery(limit=ALERT_READ_LIMIT))
                for a in alerts:
                    by_status[a.status] = by_status.get(a.status, 0) + 1
                if len(alerts) >= ALERT_READ_LIMIT:
                    by_status["counted_up_to"] = ALERT_READ_LIMIT
                pending = sum(1 for x in store.list_actions(limit=ALERT_READ_LIMIT) if x.status == "pending_approval")
            finally:
                store.close()
        except Exception as e:  # noqa: BLE001 - reported, and never "healthy" over it
            alerts_error = f"{type(e).__name__}: {str(e)[:300]}"
            problems.append(f"alert store unreadable: {alerts_error}")
    silences = 0
    if not store_missing:
        try:
            from policy.silences import open_silences
            ss = open_silences(cfg)
            silences = len([s for s in ss.list() if s.state() == "active"])
            ss.close()
        except Exception:  # noqa: BLE001
            pass
    v = ActionLog.for_data_dir(cfg.data_dir).verify()
    sections = {name: {k: v2 for k, v2 in counters.items() if any(k.endswith("." + s) or k == s for s in keys)}
                for name, keys in SECTIONS.items()}
    stages = {}
    for stage in ("collect", "detect", "decide", "act"):
        stages[stage] = {"records": counters.get(f"{stage}.records", 0), "checkpoints": counters.get(f"{stage}.checkpoints", 0),
                         "deadletter": counters.get(f"{stage}.deadletter", 0),
                         "step_failures": counters.get(f"{stage}.step_failures", 0)}
    lag = _lag(cfg)
    for s, n in lag.items():
        stages.setdefault(s, {})["lag"] = n
    if not (v.ok or v.missing):
        problems.append("action log broken: run `warden actions verify`")
    problems += [f"{n}: {int(st['step_failures'])} failed step(s)" for n, st in stages.items() if st.get("step_failures")]
    for n, h in verdict.stages.items():
        stages.setdefault(n, {}).update(running=h.running, heartbeat_age_s=round(h.last_heartbeat_age_s, 1),
                                        deadletters_in_window=h.deadletters_in_window)
        if h.lag is not None and not lag:
            stages[n]["lag"] = h.lag
    return {"healthy": not problems, "problems": problems, "bus": cfg.bus.type, "store": cfg.store.type, "data_dir": str(cfg.data_dir),
            "stages": stages, "lag_available": bool(lag) or any("lag" in st for st in stages.values()),
            **sections, "alerts": by_status, "alerts_error": alerts_error,
            "active_silences": silences, "pending_approvals": pending,
            "action_log": {"ok": v.ok, "missing": v.missing, "entries": v.entries, "errors": v.errors[:5]},
            "processes": [{**p, "time": p["time"]} for p in procs], "counters": counters}
