"""`warden config check`: build every component and policy without starting anything; every
error is reported with its path, not only the first (agent.config_check). Exit 2 on errors."""
from __future__ import annotations

import sys

import click

from agent.cli.app import EXIT_USAGE, cli, pass_ctx
from agent.cli.output import emit_json


@cli.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print {ok, errors, checked} as JSON.")
@pass_ctx
def check(ctx, as_json) -> None:
    """Validate the config: sections, components, policies and their routes (every error, with its path)."""
    from agent.config_check import check_config
    errors, counts = check_config(ctx.config_path)
    if not errors:
        cfg = ctx.cfg
        summary = {"source": cfg.source, "bus": cfg.bus.type, "store": cfg.store.type, **counts}
    if as_json:
        emit_json({"ok": not errors, "errors": errors, "checked": counts})
    elif errors:
        click.echo(f"{len(errors)} error(s):", err=True)
        for e in errors:
            click.echo(f"  {e}", err=True)
    else:
        click.echo(f"ok: {summary['source']}: bus={summary['bus']} store={summary['store']} "
                   f"components={counts['components']} policies={counts['policies']}")
    if errors:
        sys.exit(EXIT_USAGE)
