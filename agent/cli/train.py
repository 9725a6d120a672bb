"""`warden train ...`: train warden's own models (torch; on the GPU when one is present)."""
from __future__ import annotations

import click

from agent.cli.app import cli
from agent.cli.output import emit_json

DEVICE = click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True,
                      help="auto picks cuda when torch sees a GPU.")


@cli.group()
def train() -> None:
    """Train a model and save a versioned, checksummed artifact."""


@train.command("prompt-guard")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON lines with text, label (1 = injection/jailbreak), source.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Artifact path (default: the packaged model under detectors/guard/model/).")
@click.option("--holdout-source", default=None, help="Leave this source out of training (out-of-source test).")
@click.option("--limit", type=int, default=None, help="Train on at most this many rows.")
@DEVICE
def prompt_guard(data, out, holdout_source, limit, device) -> None:
    """The prompt-injection / jailbreak cascade (lexical model, then MiniLM embeddings + head)."""
    from detectors.guard.train import main
    emit_json(main(data, out, device=device, holdout_source=holdout_source, limit=limit))


@train.command("metric-model")
@click.option("--data", required=True, type=click.Path(exists=True), help="Folder of CSV series (timestamp,value).")
@click.option("--out", required=True, type=click.Path(), help="Artifact file or folder (metric-forecast.wmodel).")
@click.option("--epochs", default=20, show_default=True)
@click.option("--window", default=32, show_default=True, help="Points of history the forecaster sees.")
@DEVICE
def metric_model(data, out, epochs, window, device) -> None:
    """The torch forecaster behind the `forecast` metric detector."""
    from detectors.metrics.train import main
    emit_json(main(data, out, device=device, epochs=epochs, window=window))
