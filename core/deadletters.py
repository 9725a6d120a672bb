"""The dead letters as `warden deadletters` reads them, on either bus.

A dead letter is one record of the `<prefix>deadletter` topic (written by `Runtime.dead_letter`):
`{"stage", "source", "reason", "time", "raw"}`, and `"formats"`: the input formats a collector
read the record with (the route's, or `--format`'s; absent where none applies: OTLP, an unreadable
file, letters written before warden kept them). On Kafka the topic is read from its earliest
retained offset without joining a group; on the embedded bus from its spool file under
`<data_dir>/bus/`, so letters outlive the run that wrote them. A letter's id is
`<partition>-<offset>`: stable, since the topic is append-only.

Letters re-submitted by `warden deadletters replay` are marked in
`<data_dir>/deadletters-replayed.jsonl` (id, time, outcome), so a second replay skips them unless
asked; the topic itself is never rewritten.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core import codec
from core.bus.base import Bus, Record

MARKS_FILE = "deadletters-replayed.jsonl"


#: the raw of a letter for a whole input file that could not be read (replay: missing, truncated .gz)
UNREADABLE_FILE = "unreadable_file"


def unreadable_file(path: str) -> dict[str, str]:
    """The raw a collector dead-letters for a file it could not read: the file's name, no record."""
    return {UNREADABLE_FILE: path}


@dataclass(frozen=True)
class DeadLetter:
    id: str
    partition: int
    offset: int
    time: float
    stage: str
    source: str
    reason: str
    raw: Any
    replayed: bool = False
    #: the input formats the record was read with when it was refused (re-submitted through them)
    formats: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, r: Record, replayed: set[str]) -> "DeadLetter":
        lid = f"{r.partition}-{r.offset}"
        try:
            d = codec.loads(r.value)
        except Exception as e:  # noqa: BLE001 - a letter that is itself unreadable is still listed
            d = {"stage": "?", "reason": f"unreadable dead letter: {type(e).__name__}: {e}",
                 "raw": r.value[:4096].decode("utf-8", "replace")}
        if not isinstance(d, dict):
            d = {"stage": "?", "reason": "unreadable dead letter: not an object", "raw": d}
        formats = d.get("formats")
        return cls(lid, r.partition, r.offset, float(d.get("time") or r.timestamp_ms / 1000.0),
                   str(d.get("stage", "?")), str(d.get("source", "")), str(d.get("reason", "")),
                   d.get("raw"), lid in replayed,
                   tuple(str(f) for f in formats) if isinstance(formats, list) else ())

    def record(self) -> tuple[Any, str | None]:
        """The input record to re-submit, or (None, why it cannot be). Only the collect stage's
        letters hold input records; a letter kept as text is re-submitted when the text is JSON."""
        if self.stage != "collect":
            return None, f"a {self.stage} stage letter holds a bus record, not an input record"
        raw = self.raw
        if isinstance(raw, str):
            try:
                raw = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return None, "the letter keeps the input as text that is not JSON (broken or truncated)"
        if isinstance(raw, dict) and set(raw) == {UNREADABLE_FILE}:
            return None, (f"the letter names a file that could not be read ({raw[UNREADABLE_FILE]}): once it is "
                          "whole, replay the file itself (warden replay FILE)")
        if isinstance(raw, dict) and set(raw) == {"base64"}:
            return None, "the letter keeps binary input"
        if not isinstance(raw, (dict, list)):
            return None, f"the letter keeps a {type(raw).__name__}, not a record"
        return raw, None


def read_letters(bus: Bus, topic: str, data_dir: str | Path) -> list[DeadLetter]:
    replayed = set(read_marks(data_dir))
    return [DeadLetter.from_record(r, replayed) for r in bus.read(topic)]


def read_marks(data_dir: str | Path) -> dict[str, dict]:
    """{letter id: the mark of its last replay}."""
    path = Path(data_dir) / MARKS_FILE
    marks: dict[str, dict] = {}
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                m = orjson.loads(line)
                marks[str(m["id"])] = m
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
    return marks


def mark_replayed(data_dir: str | Path, letter_id: str, outcome: str) -> None:
    path = Path(data_dir) / MARKS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(orjson.dumps({"id": letter_id, "time": time.time(), "outcome": outcome}) + b"\n")
