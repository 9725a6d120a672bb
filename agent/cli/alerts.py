"""`warden alerts list|show|ack|assign|resolve|explain`: alerts in the store the config names
(SQLite or Elasticsearch). Workflow changes (ack, assign, resolve) go to the people-owned
`workflow` fields, which the pipeline never overwrites.

Exit codes: 0 ok, 2 usage/config error, 3 alert not found (ambiguous prefixes count as not found).
Shell completion (bash/zsh/fish): `eval "$(_WARDEN_COMPLETE=bash_source warden)"` (zsh_source,
fish_source for the others)."""
from __future__ import annotations

import sys

import click

from agent.cli.app import EXIT_NOT_FOUND, EXIT_USAGE, cli, current_user, open_store, pass_ctx
from agent.cli.output import emit_json, fmt_time, parse_since, table
from agent.cli.render import evidence_lines, fmt_value, history_lines, step_lines
from policy.steps import MAX_STEPS, step_rules
from core.durations import format_duration
from core.event import SEVERITIES
from core.stores import AlertQuery


@cli.group()
def alerts() -> None:
    """List and inspect alerts."""


@alerts.command("list")
@click.option("--since", help="Only alerts seen since (30m, 1h, 2d or an ISO time; event time).")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Minimum severity.")
@click.option("--status", type=click.Choice(["firing", "acknowledged", "resolved", "suppressed"]))
@click.option("--rule", help="Only this policy / rule id.")
@click.option("--entity", help="Only this entity.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_ctx
def list_alerts(ctx, since, severity, status, rule, entity, limit, as_json) -> None:
    """List alerts, newest first."""
    store = open_store(ctx)
    try:
        t0 = parse_since(since)
        items = store.list_alerts(AlertQuery(since=t0, severity=severity, status=status,
                                             rule=rule, entity=entity, limit=limit))
        older = [] if items or t0 is None else store.list_alerts(
            AlertQuery(severity=severity, status=status, rule=rule, entity=entity, limit=1))
    finally:
        store.close()
    if older:       # --since counts back from now, and alerts carry event time: a replay of old data shows none
        click.echo(f"no alert seen since {fmt_time(t0)} (event time); the newest that matches was last seen "
                   f"{fmt_time(older[0].last_seen)}: a replay or the demo carries the time of its data (give "
                   "--since an ISO time)", err=True)
    if len(items) == limit:
        click.echo(f"(the newest {limit} that match; there may be more: --limit N)", err=True)
    if as_json:
        emit_json(items)
        return
    table(["id", "last seen (event time)", "severity", "status", "assignee", "entity", "count", "title"],
          [[a.id[:12], fmt_time(a.last_seen), a.severity, a.status, a.assignee or "-", a.entity, a.count, a.title[:70]]
           for a in items])


def alert_with_actions(ctx, alert_id):
    """The alert (id or unique prefix) and its actions; exits 3 when there is no such alert."""
    store = open_store(ctx)
    try:
        a = store.get_alert(alert_id)
        actions = store.list_actions(a.id) if a else []
    finally:
        store.close()
    if a is None:
        click.echo(f"no alert {alert_id!r}", err=True)
        sys.exit(EXIT_NOT_FOUND)
    return a, actions


@alerts.command("show")
@click.argument("alert_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx, alert_id, as_json) -> None:
    """Show one alert (id or unique id prefix) with its evidence and actions."""
    a, actions = alert_with_actions(ctx, alert_id)
    if as_json:
        from core.codec import to_dict
        emit_json({**to_dict(a), "actions": [to_dict(x) for x in actions]})
        return
    click.echo(f"{a.title}\n  id:        {a.id}\n  rule:      {a.rule}   detector: {a.detector}"
               f"\n  severity:  {a.severity}   status: {a.status}   count: {a.count}"
               f"\n  entity:    {a.entity}   group: {a.group_key}"
               f"\n  seen:      {fmt_time(a.first_seen)} .. {fmt_time(a.last_seen)}  (event time)"
               f"\n  tags:      {', '.join(a.tags) or '-'}"
               f"\n  assignee:  {a.assignee or '-'}"
               f"\n  labels:    {', '.join(f'{k}={v}' for k, v in sorted(a.labels.items())) or '-'}")
    click.echo("  evidence:")
    for line in evidence_lines(a.evidence, "    "):
        click.echo(line)
    if len(a.steps) > 1:
        click.echo(f"  timeline ({len(a.steps)} steps, event time):")
        for line in step_lines(a.steps, "    "):
            click.echo(line)
    click.echo(f"  events:    {', '.join(e[:12] for e in a.event_ids[:10])}{' ...' if len(a.event_ids) > 10 else ''}")
    for x in actions:
        click.echo(f"  action:    {fmt_time(x.time)}  {x.responder} {x.action} {x.target} "
                   f"[{'dry-run ' if x.dry_run else ''}{x.status}]  (wall clock)")
    if a.history:
        click.echo("  history (wall clock):")
        for line in history_lines(a.history, "    "):
            click.echo(line)


def _workflow(ctx, alert_id: str, as_json: bool, action: str, by: str | None, note: str = "",
              assignee: str | None = None) -> None:
    from core.stores.workflow import WorkflowError
    store = open_store(ctx)
    try:
        a = store.change_workflow(alert_id, action, by or current_user(), note, assignee)
    except WorkflowError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        store.close()
    if a is None:
        click.echo(f"no alert {alert_id!r} (unknown or ambiguous id prefix)", err=True)
        sys.exit(EXIT_NOT_FOUND)
    if as_json:
        emit_json(a)
        return
    click.echo(f"{a.id[:12]} {a.status}" + (f" assignee={a.assignee}" if a.assignee else "") + f": {a.title}")


def _change_command(action: str, doc: str, note_help: str) -> None:
    """`warden alerts ack|resolve|note ID [--note TEXT] [--by WHO] [--json]`."""
    @click.argument("alert_id")
    @click.option("--by", default=None, help="Who (default: $USER).")
    @click.option("--note", default="", help=note_help)
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    def command(ctx, alert_id, by, note, as_json) -> None:
        _workflow(ctx, alert_id, as_json, action, by, note)
    command.__doc__ = doc
    alerts.command(action)(command)


_change_command("ack", "Acknowledge an alert: someone is on it. No reminders while the alert stays as "
                "acked; a higher severity or a new entity ends the ack.", "A note kept in the history.")
_change_command("resolve", "Resolve an alert by hand (the pipeline also resolves it when the condition "
                "clears). An alert that still fires afterwards re-opens, with a note in its history.",
                "Why (kept in the history).")
_change_command("note", "Add a note to an alert's history: warden alerts note ID --note 'driver 550 leaks'.",
                "The note.")


@alerts.command("assign")
@click.argument("alert_id")
@click.argument("assignee")
@click.option("--by", default=None, help="Who assigns (default: $USER).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def assign(ctx, alert_id, assignee, by, as_json) -> None:
    """Assign an alert to someone."""
    _workflow(ctx, alert_id, as_json, "assign", by, assignee=assignee)


def _find_events(cfg, ids: set[str], limit: int, timeout_s: float) -> dict[str, dict]:
    """Best effort: look the alert's events up on the bus input topics (Kafka keeps them for
    its retention; the embedded bus lives in the agent process, so nothing is found from here)."""
    if not ids or cfg.bus.type != "kafka":
        return {}
    import time as _t
    from core import codec
    from core.bus import create_bus
    bus = create_bus(cfg.bus)
    found: dict[str, dict] = {}
    try:
        topics = [cfg.bus.topic_prefix + t for t in ("telemetry", "audit", "inference")]
        c = bus.consumer(f"{cfg.pipeline.group_prefix}explain-{_t.time_ns()}", topics)
        seen, deadline = 0, _t.monotonic() + timeout_s
        try:
            while seen < limit and _t.monotonic() < deadline and len(found) < len(ids):
                recs = c.poll(1000, 0.5)
                if not recs:
                    break
                seen += len(recs)
                for r in recs:
                    try:
                        d = codec.loads(r.value)
                    except Exception:  # noqa: BLE001
                        continue
                    if isinstance(d, dict) and d.get("id") in ids:
                        found[d["id"]] = d
        finally:
            c.close()
    except Exception as e:  # noqa: BLE001 - best effort only
        click.echo(f"(events not looked up on the bus: {e})", err=True)
    finally:
        bus.close()
    return found


@alerts.command("explain")
@click.argument("alert_id")
@click.option("--events/--no-events", default=True, show_default=True,
              help="Look the events up on the bus (Kafka only; best effort).")
@click.option("--scan-limit", default=200000, show_default=True, help="Records to scan at most for --events.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--png", "png", type=click.Path(dir_okay=False), default=None,
              help="Also draw the metric chart (series, baseline, band, threshold, crossings) to this PNG file.")
@pass_ctx
def explain(ctx, alert_id, events, scan_limit, as_json, png) -> None:
    """Why an alert fired: the policy and its match, the detector / rule, the evidence, the
    events behind it, whether it is muted (silence / inhibition) and what was done about it."""
    from core.codec import to_dict
    from policy.silences import open_silences
    from policy.policies import PolicySet

    a, actions = alert_with_actions(ctx, alert_id)
    if png:
        from agent.ui.chart_png import draw_png
        try:
            d = draw_png(a, png)
        except ValueError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_NOT_FOUND)
        except OSError as e:
            click.echo(f"error: cannot write --png {png}: {e.strerror}", err=True)
            sys.exit(EXIT_USAGE)
        click.echo(f"chart: {png} ({len(d.t)} points, {sum(d.crossed)} crossings)", err=True)
    policy = next((p for p in PolicySet.load(ctx.cfg.policies or None).policies if p.id == a.rule), None)
    pol = None
    if policy is not None:
        pol = {"id": policy.id, "source": policy.source,
               "match": {k: v for k, v in (("detector", policy.detector), ("rule", policy.rule),
                                           ("entity", policy.entity), ("tags", policy.tags),
                                           ("severity", policy.min_severity), ("fields", policy.fields)) if v},
               "group_by": policy.group_by, "resolve_after_s": policy.resolve_after,
               "routes": [{k: v for k, v in r.items() if k != "notify"} for r in policy.routes]}
    silences = []
    try:
        ss = open_silences(ctx.cfg)
        silences = [s.to_dict() for s in ss.list() if s.silences(a.labels)]
        ss.close()
    except Exception:  # noqa: BLE001 - the explanation works without them
        pass
    found = _find_events(ctx.cfg, set(a.event_ids), scan_limit, 10.0) if events else {}
    muted = a.labels.get("suppressed_by", "")
    out = {"alert": to_dict(a), "policy": pol, "detector": a.detector, "rules": step_rules(a.steps),
           "steps": list(a.steps), "history": list(a.history),
           "rule": (a.evidence.get("rule") if isinstance(a.evidence.get("rule"), dict) else a.labels.get("rule", "")),
           "evidence": a.evidence, "event_ids": list(a.event_ids), "finding_ids": list(a.finding_ids),
           "events": [found[i] for i in a.event_ids if i in found], "suppressed_by": muted,
           "matching_silences": silences, "actions": [to_dict(x) for x in actions]}
    if as_json:
        emit_json(out)
        return
    click.echo(f"{a.title}  [{a.severity}, {a.status}, x{a.count}]  id {a.id}")
    click.echo(f"\nWHY: finding(s) from detector {a.detector or '?'} (rule {a.labels.get('rule') or '-'}) on {a.entity}")
    rules = step_rules(a.steps)
    if len(rules) > 1:
        click.echo(f"  {len(rules)} contributing rules:")
        for r in rules:
            click.echo(f"    {r}")
    if pol:
        click.echo(f"  matched policy {pol['id']} ({pol['source']})")
        for k, v in pol["match"].items():
            click.echo(f"    match.{k}: {fmt_value(k, v)}")
        click.echo(f"    grouped by {', '.join(pol['group_by'])} -> group {a.group_key}; "
                   f"resolves after {format_duration(pol['resolve_after_s'])} without findings")
    else:
        click.echo(f"  policy {a.rule} is no longer in the loaded policies")
    click.echo(f"  {a.count} finding(s) between {fmt_time(a.first_seen)} and {fmt_time(a.last_seen)} (event time)")
    if muted:
        click.echo(f"\nMUTED: {muted}")
    for s in silences:
        click.echo(f"  active silence {s['id'][:8]} by {s['created_by'] or '?'}: {s['comment']}")
    click.echo(f"\nEVIDENCE (of the finding that names the alert: {a.detector}):")
    for line in evidence_lines(a.evidence):
        click.echo(line)
    if a.steps:
        click.echo(f"\nTIMELINE ({len(a.steps)} step(s), every contributing finding; event time):")
        for line in step_lines(a.steps):
            click.echo(line)
        omitted = a.count - sum(int(s.get("count", 0)) for s in a.steps)
        if omitted > 0:
            click.echo(f"  ... and {omitted} finding(s) of further steps (at most {MAX_STEPS} steps are kept)")
    click.echo(f"\nEVENTS ({len(a.event_ids)}): " + (", ".join(e[:12] for e in a.event_ids[:20]) or "-")
               + (" ..." if len(a.event_ids) > 20 else ""))
    for i in a.event_ids[:20]:
        if i in found:
            d = found[i]
            click.echo(f"  {i[:12]} {fmt_time(d.get('time', 0))} {d.get('kind')} {d.get('entity')} {d.get('name')} "
                       f"{d.get('value') if d.get('value') is not None else ''}")
    if events and not found and a.event_ids:
        click.echo("  (event bodies: not on a reachable bus; the ids above identify them in the source data)")
    click.echo("\nHISTORY (wall clock):" if a.history else "\nHISTORY: none")
    for line in history_lines(a.history):
        click.echo(line)
    click.echo("\nACTIONS (wall clock):" if actions else "\nACTIONS: none")
    for x in actions:
        click.echo(f"  {x.id[:12]} {fmt_time(x.time)} {x.responder} {x.action} {x.target} [{'dry-run ' if x.dry_run else ''}{x.status}]"
                   + (f" {x.result.get('reason')}" if x.result.get("reason") else ""))
