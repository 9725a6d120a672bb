"""Load a guard artifact of any supported format: 3 (hashed n-grams + joint MiniLM stage,
detectors.guard.cascade), 4 (TF-IDF + MiniLM sentence head, detectors.guard.text_model), 5 (the same and a
skeleton stage, detectors.guard.skeleton), 6 (fine-tuned top MiniLM layers) or 7 (model 6 and model 4's
frozen head averaged)."""
from __future__ import annotations

from pathlib import Path

from detectors.guard import artifact
from detectors.guard.cascade import DEFAULT_PATH, GuardModel
from detectors.guard.text_model import FORMATS as TEXT_FORMATS, TextModel

GuardModels = GuardModel | TextModel


def from_bytes(blob: bytes) -> GuardModels:
    header, body = artifact.read_header(blob)
    if header.get("format") in TEXT_FORMATS:
        return TextModel.from_parts(header, body)
    return GuardModel.from_bytes(blob)


def load_model(path: str | Path | None = None) -> GuardModels:
    p = Path(path) if path else DEFAULT_PATH
    if not p.exists():
        raise artifact.ArtifactError(f"guard artifact not found: {p} (train one with `warden train prompt-guard`)")
    return from_bytes(p.read_bytes())
