"""`warden silences add|list|expire`: mute alerts by label matchers for a while.

Matchers are Alertmanager's: `alertname=gpu-memory-leak`, `entity=~"gpu-node-[12]"`,
`severity!=critical`, `node!~"cpu-.*"`. Labels of an alert: alertname (policy id), severity,
entity, rule, detector, detector_type, tags and the policy's own labels (see `warden alerts show`).
A silenced alert is still stored (status suppressed) and counted; no responder runs for it.
Exit codes: 0 ok, 2 bad matcher / duration, 3 unknown silence id.
"""
from __future__ import annotations

import sys
import time

import click

from agent.cli.app import EXIT_NOT_FOUND, EXIT_USAGE, cli, current_user, pass_ctx, require_sqlite_store
from agent.cli.output import emit_json, fmt_time, parse_since, table
from core.errors import ConfigError


def _store(ctx, create: bool = False):
    """The silence store; only `add` creates a SQLite store where none exists (list and expire on a
    mistyped data_dir exit 3 instead of answering from a new empty store)."""
    from policy.silences import open_silences
    if not create:
        require_sqlite_store(ctx.cfg)
    return open_silences(ctx.cfg)


@cli.group()
def silences() -> None:
    """Mute alerts matching label matchers until the silence expires."""


@silences.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "--duration", "-d", "duration", default=None,
              help="How long: 90s, 1h30m, 2d, 1w, 1.5h (default 2h; not with --until).")
@click.option("--until", "until", default=None, help="End time (ISO), instead of --duration.")
@click.option("--comment", "-m", default="", help="Why (shown in list / explain).")
@click.option("--by", default=None, help="Who (default: $USER).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def add(ctx, matchers, duration, until, comment, by, as_json) -> None:
    """Add a silence: warden silences add 'alertname=gpu-memory-leak' 'entity=~gpu-node-.*' --for 2h --comment 'known'"""
    from policy.matchers import parse_matchers
    from policy.silences import Silence
    from core.durations import parse_duration
    if duration is not None and until:
        click.echo("error: give --for or --until, not both (they say different ends)", err=True)
        sys.exit(EXIT_USAGE)
    duration = duration or "2h"
    try:
        ms = parse_matchers(list(matchers))
        if until:
            end = parse_since(until)
            s = Silence.new(ms, ends_at=end, created_by=by or current_user(), comment=comment)
        else:
            s = Silence.new(ms, duration=parse_duration(duration, "--for"), created_by=by or current_user(),
                            comment=comment)
    except (ConfigError, ValueError, click.BadParameter) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    st = _store(ctx, create=True)
    try:
        st.add(s)
    finally:
        st.close()
    if as_json:
        emit_json(s.to_dict())
    else:
        click.echo(f"silence {s.id} active until {fmt_time(s.ends_at)}: {', '.join(str(m) for m in s.matchers)}")


@silences.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_silences(ctx, show_all, as_json) -> None:
    """List active (and pending) silences."""
    st = _store(ctx)
    try:
        items = st.list(include_expired=show_all)
    finally:
        st.close()
    now = time.time()
    if as_json:
        emit_json([{**s.to_dict(), "state": s.state(now)} for s in items])
        return
    table(["id", "state", "ends", "by", "matchers", "comment"],
          [[s.id[:8], s.state(now), fmt_time(s.ends_at), s.created_by or "-",
            ", ".join(str(m) for m in s.matchers), s.comment[:50]] for s in items])


@silences.command("expire")
@click.argument("silence_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def expire(ctx, silence_id, as_json) -> None:
    """End a silence now (id or unique prefix)."""
    st = _store(ctx)
    try:
        s = st.expire(silence_id)
    finally:
        st.close()
    if s is None:
        click.echo(f"no silence {silence_id!r}", err=True)
        sys.exit(EXIT_NOT_FOUND)
    if as_json:
        emit_json({**s.to_dict(), "state": s.state()})
    else:
        click.echo(f"silence {s.id} expired")
