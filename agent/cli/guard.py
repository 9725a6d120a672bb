"""`warden guard score`: score prompts offline with the shipped prompt-injection guard."""
from __future__ import annotations

import click

from agent.cli.app import cli
from agent.cli.output import emit_json


@cli.group()
def guard() -> None:
    """The prompt-injection / jailbreak guard."""


@guard.command("score")
@click.option("--in", "in_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON lines with a `text` field.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="The same lines with `score` (0..1) and `blocked` added.")
@click.option("--threshold", type=float, default=None, help="Block at or above this score (default: the model's).")
def score(in_path, out_path, threshold) -> None:
    """Score a file of prompts."""
    from detectors.guard.cli_support import score_file
    res = score_file(in_path, out_path, threshold)
    click.echo(f"{res['rows']} rows, {res['blocked']} blocked, {res['errors']} errors "
               f"(threshold {res['threshold']:.3f}) → {out_path}", err=True)
