"""`warden stack up|down|status`: the local Kafka + Elasticsearch of deploy/local."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from agent.cli.app import cli

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack"


@cli.command()
@click.argument("action", type=click.Choice(["up", "down", "status"]))
def stack(action) -> None:
    """Start, stop or inspect the local Kafka + Elasticsearch (deploy/local/stack)."""
    if not SCRIPT.exists():
        click.echo(f"error: {SCRIPT} not found (run from a source checkout)", err=True)
        sys.exit(2)
    sys.exit(subprocess.call([str(SCRIPT), action]))
