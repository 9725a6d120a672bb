"""`warden alerts ...`: read alerts from the store the config names (SQLite or Elasticsearch)."""
from __future__ import annotations

import sys

import click

from agent.cli.app import EXIT_NOT_FOUND, cli, pass_ctx
from agent.cli.output import emit_json, fmt_time, parse_since, table
from agent.event import SEVERITIES
from agent.stores import AlertQuery, create_store


def open_store(ctx):
    s = create_store(ctx.cfg)
    s.start()
    return s


@cli.group()
def alerts() -> None:
    """List and inspect alerts."""


@alerts.command("list")
@click.option("--since", help="Only alerts seen since (30m, 1h, 2d or an ISO time; event time).")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Minimum severity.")
@click.option("--status", type=click.Choice(["firing", "acknowledged", "resolved"]))
@click.option("--rule", help="Only this policy / rule id.")
@click.option("--entity", help="Only this entity.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_ctx
def list_alerts(ctx, since, severity, status, rule, entity, limit, as_json) -> None:
    """List alerts, newest first."""
    store = open_store(ctx)
    try:
        items = store.list_alerts(AlertQuery(since=parse_since(since), severity=severity, status=status,
                                             rule=rule, entity=entity, limit=limit))
    finally:
        store.close()
    if as_json:
        emit_json(items)
        return
    table(["id", "last seen", "severity", "status", "entity", "count", "title"],
          [[a.id[:12], fmt_time(a.last_seen), a.severity, a.status, a.entity, a.count, a.title[:70]] for a in items])


@alerts.command("show")
@click.argument("alert_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx, alert_id, as_json) -> None:
    """Show one alert (id or unique id prefix) with its evidence and actions."""
    store = open_store(ctx)
    try:
        a = store.get_alert(alert_id)
        actions = store.list_actions(a.id) if a else []
    finally:
        store.close()
    if a is None:
        click.echo(f"no alert {alert_id!r}", err=True)
        sys.exit(EXIT_NOT_FOUND)
    if as_json:
        from agent.codec import to_dict
        emit_json({**to_dict(a), "actions": [to_dict(x) for x in actions]})
        return
    click.echo(f"{a.title}\n  id:        {a.id}\n  rule:      {a.rule}   detector: {a.detector}"
               f"\n  severity:  {a.severity}   status: {a.status}   count: {a.count}"
               f"\n  entity:    {a.entity}   group: {a.group_key}"
               f"\n  seen:      {fmt_time(a.first_seen)} .. {fmt_time(a.last_seen)}"
               f"\n  tags:      {', '.join(a.tags) or '-'}")
    click.echo("  evidence:")
    for k, v in sorted(a.evidence.items()):
        click.echo(f"    {k}: {v}")
    click.echo(f"  events:    {', '.join(e[:12] for e in a.event_ids[:10])}{' ...' if len(a.event_ids) > 10 else ''}")
    for x in actions:
        click.echo(f"  action:    {x.responder} {x.action} {x.target} [{'dry-run ' if x.dry_run else ''}{x.status}]")
