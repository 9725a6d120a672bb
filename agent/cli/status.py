"""`warden status`: pipeline health from the persisted state — counters (drops, dead letters,
dedup, suppressions, actions by outcome), consumer lag per stage where the bus can tell (Kafka;
the embedded bus lives inside the agent process), alerts by status, active silences, pending
approvals and the action log's integrity.
Exit codes: 0 healthy, 1 something needs attention (broken action log, failed steps).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from agent.cli.app import EXIT_FAIL, cli, pass_ctx
from agent.cli.output import emit_json, fmt_time, table

STAGE_INPUTS = {"detect": ("telemetry", "audit", "inference"), "decide": ("findings",), "act": ("alerts",)}
SECTIONS = {
    "dropped": ("deadletter", "step_failures", "unmatched"),
    "suppressed": ("suppressed", "silenced", "inhibited"),
    "deduplicated": ("dedup", "folded"),
    "actions": ("act.done", "act.failed", "act.dry_run", "act.skipped", "act.protected", "act.pending_approval",
                "act.blocked_by_blast_radius", "act.undone", "act.auto_reverted", "act.notifications", "act.pages"),
    "delivery": ("act.notify_delivered", "act.notify_retries", "act.notify_buffered", "act.notify_deferred",
                 "act.notify_given_up", "act.notify_dropped", "act.backpressure", "act.retries", "store.retries"),
    "group membership": ("commit_deferred", "consumer_replaced", "partitions_assigned", "partitions_revoked"),
}


def _lag(cfg) -> dict[str, int | None]:
    if cfg.bus.type != "kafka":
        return {}
    from agent.bus import create_bus
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


def collect_status(cfg) -> dict:
    from agent.actions.log import ActionLog
    from agent.lifecycle.counters_state import read_counters
    from agent.state import StateStore
    from agent.stores import AlertQuery, create_store

    state_path = Path(cfg.data_dir) / "state.db"
    counters, procs = ({}, [])
    if state_path.exists():
        st = StateStore(state_path)
        try:
            counters, procs = read_counters(st)
        finally:
            st.close()
    by_status: dict[str, int] = {}
    pending = 0
    try:
        store = create_store(cfg)
        store.start()
        try:
            for a in store.list_alerts(AlertQuery(limit=100000)):
                by_status[a.status] = by_status.get(a.status, 0) + 1
            pending = sum(1 for x in store.list_actions(limit=100000) if x.status == "pending_approval")
        finally:
            store.close()
    except Exception as e:  # noqa: BLE001
        by_status = {"error": str(e)}
    silences = 0
    try:
        from agent.lifecycle.silences import open_silences
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
    healthy = (v.ok or v.missing) and not any(s.get("step_failures") for s in stages.values())
    return {"healthy": healthy, "bus": cfg.bus.type, "store": cfg.store.type, "data_dir": str(cfg.data_dir),
            "stages": stages, "lag_available": bool(lag), **sections, "alerts": by_status,
            "active_silences": silences, "pending_approvals": pending,
            "action_log": {"ok": v.ok, "entries": v.entries, "errors": v.errors[:5]},
            "processes": [{**p, "time": p["time"]} for p in procs], "counters": counters}


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx, as_json) -> None:
    """Pipeline health: lag, drops, suppressions, dead letters, actions, action-log integrity."""
    s = collect_status(ctx.cfg)
    if as_json:
        emit_json(s)
        sys.exit(0 if s["healthy"] else EXIT_FAIL)
    click.echo(f"warden status: {'healthy' if s['healthy'] else 'ATTENTION'}  bus={s['bus']} store={s['store']} "
               f"data_dir={s['data_dir']}")
    if s["processes"]:
        last = max(p["time"] for p in s["processes"])
        click.echo(f"last checkpoint: {fmt_time(last)} ({len(s['processes'])} process snapshot(s))")
    click.echo("")
    table(["stage", "records", "checkpoints", "dead letters", "step failures", "lag"],
          [[n, int(st.get("records", 0)), int(st.get("checkpoints", 0)), int(st.get("deadletter", 0)),
            int(st.get("step_failures", 0)),
            ("-" if st.get("lag") is None else st["lag"]) if s["lag_available"] else "n/a"]
           for n, st in s["stages"].items()])
    if not s["lag_available"]:
        click.echo("(lag: n/a — the embedded bus lives inside the agent process; Kafka shows it)")
    for name in SECTIONS:
        items = s[name]
        click.echo(f"\n{name}: " + (", ".join(f"{k}={int(v)}" for k, v in items.items()) or "none"))
    click.echo("\nalerts: " + (", ".join(f"{k}={v}" for k, v in sorted(s["alerts"].items())) or "none"))
    click.echo(f"active silences: {s['active_silences']}   pending approvals: {s['pending_approvals']}")
    al = s["action_log"]
    click.echo(f"action log: {'ok' if al['ok'] else 'BROKEN'} ({al['entries']} entries)"
               + ("" if al["ok"] else " — run `warden actions verify`"))
    sys.exit(0 if s["healthy"] else EXIT_FAIL)
