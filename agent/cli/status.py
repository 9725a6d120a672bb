"""`warden status`: pipeline health from the persisted state — stage heartbeats (agent.health:
alive, stuck, lag growing, dead letters in the window), counters (drops, dead letters, dedup,
suppressions, actions by outcome), consumer lag per stage where the bus can tell (Kafka; the
embedded bus lives inside the agent process, its stages report their lag in their heartbeats),
alerts by status, active silences, pending approvals and the action log's integrity.
Exit codes: 0 healthy, 1 something needs attention — each reason is printed: no stage reported
recently (or ever, on this data_dir), a stage stuck or its lag growing, dead letters in the
window, failed steps, a broken action log, a store that cannot be read.
"""
from __future__ import annotations

import sys
import time

import click

from agent.cli.app import EXIT_FAIL, cli, pass_ctx
from agent.cli.output import emit_json, fmt_time, table
from agent.status import SECTIONS, collect_status

@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--window", default="15m", show_default=True, help="dead letters and failures within this count")
@click.option("--stale", default="60s", show_default=True, help="a stage whose last heartbeat is older is not running")
@click.option("--stuck", default="2m", show_default=True, help="records waiting and none handled for this long")
@pass_ctx
def status(ctx, as_json, window, stale, stuck) -> None:
    """Pipeline health: heartbeats, lag, drops, suppressions, dead letters, actions, action-log integrity."""
    from core.errors import ConfigError
    from agent.health.verdict import Thresholds
    from core.durations import parse_duration
    try:
        t = Thresholds(stale_s=parse_duration(stale, "--stale"), stuck_s=parse_duration(stuck, "--stuck"),
                       window_s=parse_duration(window, "--window"))
    except ConfigError as e:
        raise click.BadParameter(str(e)) from None
    s = collect_status(ctx.cfg, t)
    if as_json:
        emit_json(s)
        sys.exit(0 if s["healthy"] else EXIT_FAIL)
    click.echo(f"warden status: {'healthy' if s['healthy'] else 'ATTENTION'}  bus={s['bus']} store={s['store']} "
               f"data_dir={s['data_dir']}")
    for p in s["problems"]:
        click.echo(f"  ! {p}")
    if s["processes"]:
        last = max(p["time"] for p in s["processes"])
        click.echo(f"last checkpoint: {fmt_time(last)} ({len(s['processes'])} process snapshot(s))")
    click.echo("")
    table(["stage", "running", "heartbeat", "records", "checkpoints", "dead letters", "step failures", "lag"],
          [[n, "yes" if st.get("running") else "no",
            "-" if st.get("heartbeat_age_s") is None else f"{st['heartbeat_age_s']:.0f} s ago",
            int(st.get("records", 0)), int(st.get("checkpoints", 0)), int(st.get("deadletter", 0)),
            int(st.get("step_failures", 0)),
            ("-" if st.get("lag") is None else st["lag"]) if s["lag_available"] else "n/a"]
           for n, st in s["stages"].items()])
    if not s["lag_available"]:
        click.echo("(lag: n/a — the embedded bus lives inside the agent process; Kafka shows it)")
    elif s["bus"] != "kafka":
        click.echo("(lag: as the running stages last reported it in their heartbeats)")
    for name in SECTIONS:
        items = s[name]
        click.echo(f"\n{name}: " + (", ".join(f"{k}={int(v)}" for k, v in items.items()) or "none"))
    click.echo("\nalerts: " + (f"unreadable ({s['alerts_error']})" if s["alerts_error"] else
                               ", ".join(f"{k}={v}" for k, v in sorted(s["alerts"].items())) or "none"))
    click.echo(f"active silences: {s['active_silences']}   pending approvals: {s['pending_approvals']}")
    al = s["action_log"]
    click.echo("action log: none yet" if al["missing"] else
               f"action log: {'ok' if al['ok'] else 'BROKEN'} ({al['entries']} entries)"
               + ("" if al["ok"] else " — run `warden actions verify`"))
    sys.exit(0 if s["healthy"] else EXIT_FAIL)
