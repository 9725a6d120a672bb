"""A topic's records appended to a local JSON-lines file, read back whole: the embedded bus's
write-ahead copy of the topics that must outlive the process (the dead letters, which
`warden deadletters` reads and re-submits after the run that wrote them has ended).

One line per record: `{"p": partition, "o": offset, "ts": ms, "k": base64 key | null, "v": base64
value}`; each line is written and flushed before `append` returns (fsync is left to the OS: a
machine crash may lose the last lines, a process crash does not). A line cut short by a crash is
skipped on reading.
"""
from __future__ import annotations

import base64
import re
import threading
from pathlib import Path

import orjson

from core.bus.base import Record

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class Spool:
    def __init__(self, directory: Path, topic: str) -> None:
        self.path = directory / (_UNSAFE.sub("_", topic) + ".jsonl")      # created on the first append
        self.topic = topic
        self._lock = threading.Lock()

    def end_offsets(self) -> dict[int, int]:
        """Next offset per partition after what the file holds (so offsets continue across runs)."""
        ends: dict[int, int] = {}
        for r in self.read():
            ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
        return ends

    def append(self, record: Record) -> None:
        line = orjson.dumps({"p": record.partition, "o": record.offset, "ts": record.timestamp_ms,
                             "k": None if record.key is None else base64.b64encode(record.key).decode(),
                             "v": base64.b64encode(record.value).decode()})
        with self._lock:
            try:
                f = open(self.path, "ab")
            except FileNotFoundError:              # the first append (a mkdir per append cost ~50 µs)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                f = open(self.path, "ab")
            with f:
                f.write(line + b"\n")

    def read(self) -> list[Record]:
        if not self.path.exists():
            return []
        out = []
        with self._lock, open(self.path, "rb") as f:
            for line in f:
                try:
                    d = orjson.loads(line)
                    key = None if d["k"] is None else base64.b64decode(d["k"])
                    out.append(Record(self.topic, int(d["p"]), int(d["o"]), key, base64.b64decode(d["v"]), int(d["ts"])))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue           # a line cut short by a crash
        return out
