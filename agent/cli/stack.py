"""`warden stack up|down|status`: the local Kafka + Elasticsearch of deploy/local."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from agent.cli.app import cli
from agent.cli.output import emit_json

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack"


@cli.command()
@click.argument("action", type=click.Choice(["up", "down", "status"]))
@click.option("--json", "as_json", is_flag=True, help="Print {action, exit_code, output} as JSON.")
def stack(action, as_json) -> None:
    """Start, stop or inspect the local Kafka + Elasticsearch (deploy/local/stack)."""
    if not SCRIPT.exists():
        click.echo(f"error: {SCRIPT} not found (run from a source checkout)", err=True)
        sys.exit(2)
    if not as_json:
        sys.exit(subprocess.call([str(SCRIPT), action]))
    r = subprocess.run([str(SCRIPT), action], capture_output=True, text=True)
    emit_json({"action": action, "exit_code": r.returncode, "output": (r.stdout + r.stderr).strip().splitlines()})
    sys.exit(r.returncode)
