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
@click.option("--data", required=True, type=click.Path(exists=True),
              help="../shared/data/prompts (the dev file and extra/) or one JSON-lines file: text, label, source.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="Artifact file to write (required: the model packaged with warden is never replaced "
                   "implicitly; to rebuild it in a checkout, name it: --out detectors/guard/model/guard.bin). "
                   "Serve another with the prompt_guard detector's model_path.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Train on at most this many rows.")
@click.option("--model", "version", type=click.Choice(["3", "4", "5", "6", "7"]), default="4", show_default=True,
              help="4: char n-gram TF-IDF + MiniLM sentence head (the shipped artifact); 5: the same and a "
                   "function-word skeleton stage; 6: model 4 with the top MiniLM layers fine-tuned; 7: model 6 keeping model 4's "
                   "frozen sentence head, the two heads averaged (5, 6 and 7 not shipped: README, 'The prompt "
                   "guard'); 3: hashed n-grams.")
@click.option("--hidden-cache", type=click.Path(dir_okay=False), default=None,
              help="Models 6 and 7: .npy file keeping the lower MiniLM layers' states between runs (e.g. "
                   "bench/out/guard/minilm-l4-bf16.npy, the file the bench's folds read); default a temporary file.")
@click.option("--embeddings/--no-embeddings", default=None,
              help="The MiniLM stage (models 4 and 5: sentence head, on by default; model 3: joint window stage, off by "
                   "default). Embeds every row / window once: ~1 h on this busy 2-core CPU (model 4, bfloat16).")
@click.option("--embed-cache", type=click.Path(dir_okay=False), default=None,
              help="npz file keeping embeddings between runs (e.g. bench/out/guard/minilm-128-bf16.npz for "
                   "model 4, the file the bench's folds read).")
@click.option("--dro", default="0", show_default=True,
              help="Model 4: group DRO of the sentence head over the training sources: 'auto' chooses its "
                   "eta inside the training data, a number fixes it, 0 is off (README).")
@DEVICE
def prompt_guard(data, out, limit, version, hidden_cache, embeddings, embed_cache, dro, device) -> None:
    """The prompt-injection / jailbreak guard."""
    if version in ("4", "5", "6", "7"):
        from detectors.guard.text_train import TextTrainConfig, main as main4
        try:
            eta = None if dro == "auto" else float(dro)
        except ValueError:
            raise click.BadParameter(f"{dro!r}: 'auto' or a number", param_hint="--dro") from None
        emit_json(main4(data, out, device=device, limit=limit, embed_cache=embed_cache,
                        cfg=TextTrainConfig(embeddings=True if embeddings is None else embeddings, dro_eta=eta,
                                            skeleton=version == "5"),
                        finetune_cfg=_finetune_cfg() if version in ("6", "7") else None, hidden_cache=hidden_cache,
                        ensemble=version == "7"))
        return
    from detectors.guard.train import TrainConfig, main
    emit_json(main(data, out, device=device, limit=limit, embed_cache=embed_cache,
                   cfg=TrainConfig(embeddings=bool(embeddings))))


def _finetune_cfg():
    from detectors.guard.finetune import FineTuneConfig
    return FineTuneConfig()


@train.command("metric-model")
@click.option("--data", required=True, type=click.Path(exists=True), help="Folder of CSV series (timestamp,value).")
@click.option("--out", required=True, type=click.Path(), help="Artifact file or folder (metric-forecast.wmodel).")
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--window", default=32, show_default=True, type=click.IntRange(min=1), help="Points of history the forecaster sees.")
@DEVICE
def metric_model(data, out, epochs, window, device) -> None:
    """The torch forecaster behind the `forecast` metric detector."""
    from detectors.metrics.train import main
    emit_json(main(data, out, device=device, epochs=epochs, window=window))
