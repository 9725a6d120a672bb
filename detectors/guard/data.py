"""Labelled prompt data for the guard: the dev file and every file of `extra/`, one source each.

    rows = load_sources("../shared/data/prompts")   # list[PromptRow]

Sources (what leave-one-source-out holds out): a dev-file row's source is the part of its `source`
before "/" (`s-labs/train` and `s-labs/validation` are one source, `s-labs`); an `extra/` row's is
its file name without `.jsonl` (`bipia_indirect`). `split` keeps the dev file's own split name
(`train` / `validation`) and is `extra` for the extra files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError

DEV_FILE = "prompt_injection_dev.jsonl"
SEED = Path(__file__).resolve().parent / "seed" / "everyday_seed.jsonl"


@dataclass(frozen=True)
class PromptRow:
    text: str
    label: int          # 1 = prompt injection / jailbreak
    source: str         # the unit a leave-one-source-out fold holds out
    kind: str = ""      # extra/ files: benign-task, indirect, ... ; dev file: ""
    split: str = ""     # dev file: train / validation; extra files: "extra"


def _read(path: Path, source_of, split_of) -> list[PromptRow]:
    """The rows of one JSON-lines file; a line that is not UTF-8, or not a JSON object with `text`
    (string) and `label` (0 or 1), is an InputError naming the file and line."""
    rows = []
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{path}:{n}: not UTF-8 text ({e.reason} at byte {e.start})") from None
            if line.strip():
                rows.append(_row(path, n, line, source_of, split_of))
    return rows


def _row(path: Path, n: int, line: str, source_of, split_of) -> PromptRow:
    try:
        r = json.loads(line)
    except ValueError as e:
        raise InputError(f"{path}:{n}: not a JSON line ({e})") from None
    if not isinstance(r, dict) or not isinstance(r.get("text"), str) or r.get("label") not in (0, 1) \
            or isinstance(r.get("label"), bool):
        raise InputError(f"{path}:{n}: need a JSON object with text (string) and label (0 or 1)")
    src = str(r.get("source", ""))
    return PromptRow(r["text"], int(r["label"]), source_of(src), str(r.get("kind", "")), split_of(src))


def load_file(path: str | Path) -> list[PromptRow]:
    """One JSON-lines file: dev-style sources (`name/split`) keep their name, others the file stem."""
    p = Path(path)
    if p.name == DEV_FILE:
        return _read(p, lambda s: s.split("/")[0] or "unknown", lambda s: s.split("/")[-1])
    return _read(p, lambda s: p.stem, lambda s: "extra")


def load_sources(root: str | Path) -> list[PromptRow]:
    """The dev file (if present) and every `extra/*.jsonl` under `root`, or one file."""
    root = Path(root)
    if root.is_file():
        return load_file(root)
    files = ([root / DEV_FILE] if (root / DEV_FILE).exists() else []) + sorted((root / "extra").glob("*.jsonl"))
    if not files:
        raise InputError(f"no {DEV_FILE} or extra/*.jsonl under {root}")
    return [r for f in files for r in load_file(f)]


def seed_rows() -> list[PromptRow]:
    """warden's own hand-written benign seed (seed/everyday_seed.jsonl, source `everyday_seed`):
    171 greetings, thanks, acknowledgements and one-line tasks (translate, rewrite, write a function,
    fix a bug) in 15 languages, a kind of prompt
    none of the public sources has. Always part of training, never an evaluation source; none of
    its lines is a prompt of the everyday-prompt test fixture."""
    return load_file(SEED)


def training_rows(data: str | Path, limit: int | None = None, seed: bool = True) -> list[PromptRow]:
    """Every row of `data` (at most `limit`, a fixed random sample), plus the seed when asked. Data
    without both classes (no rows, only benign or only attack rows) is an InputError saying so: a
    classifier cannot be fitted on it."""
    import numpy as np
    rows = load_sources(data)
    if limit is not None and len(rows) > limit:
        pick = np.random.default_rng(0).choice(len(rows), limit, replace=False)
        rows = [rows[i] for i in sorted(pick)]
    attack = sum(r.label for r in rows)
    if not attack or attack == len(rows):
        raise InputError(f"{data}: training needs rows of both labels (0 benign, 1 attack); "
                         f"found {len(rows) - attack} benign and {attack} attack rows")
    return rows + (seed_rows() if seed else [])


def source_counts(rows: list[PromptRow]) -> dict[str, dict[str, int]]:
    """{source: {"benign": n, "attack": n}}, sorted by source (training metadata)."""
    n: dict[str, list[int]] = {}
    for r in rows:
        n.setdefault(r.source, [0, 0])[r.label] += 1
    return {k: {"benign": v[0], "attack": v[1]} for k, v in sorted(n.items())}
