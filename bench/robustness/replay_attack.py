"""Hostile files through `warden replay`'s reader (collectors.replay) for every input format:
each file's records must each be turned into events or dead-lettered, and nothing may raise."""
from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from bench.robustness.inputs import HAND_BODIES, JSON, draw, dumps, gzip_bomb, mutants


@dataclass
class ReplayOutcome:
    files: int = 0
    records: int = 0
    events: int = 0
    dead: int = 0
    silent: int = 0            # records handled with neither an event nor a dead letter
    crashes: list[str] = field(default_factory=list)


class _Counting:
    def __init__(self) -> None:
        self.events = self.dead = 0

    def emit(self, event) -> None:
        self.events += 1

    def dead_letter(self, raw: Any, reason: str, source: str = "", formats: tuple[str, ...] = ()) -> None:
        self.dead += 1

    def flush(self) -> None:
        pass


def _files(fmt: str, seeds: list[Any], n: int, seed: int, workdir: Path) -> list[Path]:
    rng = random.Random(seed)
    values = draw(JSON, n, seed)
    muts = mutants(seeds or [{}], n, seed)
    hand = [make() for _, make, headers in HAND_BODIES if "Content-Encoding" not in headers
            and len(make()) < 4_000_000]
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            data = b"\n".join(dumps(v) for v in rng.sample(values, min(5, len(values))))
        elif kind == 1:
            data = b"\n".join(dumps(m) for m in rng.sample(muts, min(5, len(muts))))
        elif kind == 2:
            data = dumps({"Records": rng.sample(muts, min(4, len(muts)))} if rng.random() < 0.5
                         else rng.sample(muts, min(4, len(muts))))
        elif kind == 3:
            data = rng.choice(hand)
        else:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 2000)))
        p = workdir / f"{fmt}-{i}.json"
        if rng.random() < 0.1:
            p = p.with_suffix(".json.gz")
            data = gzip.compress(data)
        p.write_bytes(data)
        out.append(p)
    bomb = workdir / f"{fmt}-bomb.json.gz"
    bomb.write_bytes(gzip_bomb(256 << 20, b" "))
    broken = workdir / f"{fmt}-broken.json.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + b"junk" * 10)
    return out + [bomb, broken]


def run(formats: dict[str, list[Any]], per_format: int, seed: int, workdir: Path) -> ReplayOutcome:
    from core import registry
    out = ReplayOutcome()
    for fmt, seeds in sorted(formats.items()):
        d = workdir / fmt
        d.mkdir(parents=True, exist_ok=True)
        for path in _files(fmt, seeds, per_format, seed, d):
            c = registry.create("collector", "replay/bench", {"paths": [str(path)], "format": fmt})
            em = _Counting()
            c.bind(em)
            handled = {"calls": 0, "silent": 0}
            inner = getattr(c, "_handle", None)
            if inner is not None:
                def counted(rec, where, _inner=inner, _em=em, _h=handled):
                    before = (_em.events, _em.dead)
                    _inner(rec, where)
                    _h["calls"] += 1
                    _h["silent"] += (_em.events, _em.dead) == before
                c._handle = counted
            out.files += 1
            try:
                n = c.run_once()
            except BaseException as e:  # noqa: BLE001 - what we are counting
                out.crashes.append(f"{fmt} {path.name}: {type(e).__name__}")
                continue
            out.records += n
            out.events += em.events
            out.dead += em.dead
            out.silent += handled["silent"]
            path.unlink()
    return out
