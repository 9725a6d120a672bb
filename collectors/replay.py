"""File replay: read recorded input (JSON lines or one JSON document) and emit its events.

Collector type `replay` (bounded). Options:

- `paths`: files to read, in order; `-` is standard input. `.gz` files (or any file starting with
  the gzip magic bytes) are decompressed on the fly.
- `format`: input format name (`warden replay --help` lists them), or `auto` (default) to let each record be
  recognised by the formats' `detect()`.
- `max_record_bytes` (default 1 MiB): longer lines are dead-lettered, never loaded whole.
- `max_document_bytes` (default 64 MiB): a file up to this size is first tried as one JSON
  document: an object is one record (a CloudTrail log file `{"Records": [...]}`, a Kubernetes
  `EventList`), an array is a list of records. Anything else, or a larger file, is read as JSON
  lines (one record per non-blank line).

A line that is an envelope `{"format": "<name>", "record": {...}}` (exactly those two keys) is
parsed with that format whatever `format` says; `collectors.scenario.write_file(PATH)` writes the bundled
scenario this way (`write_envelopes`).

Nothing raises: unreadable files, broken JSON, oversized lines, records no format recognises and
records a format rejects all go to `emitter.dead_letter(raw, reason)`, where `raw` is the record
itself (text truncated to 1 KiB for lines that are not JSON or are oversized) and `reason` starts with
`path:line:` (`path[i]` for the i-th member of a file that is one document). Each record of a
container (`{"Records": [...]}`, an EventList, a JSON array) is accepted or dead-lettered on its
own (collectors/accounting.py): one bad record loses nothing else. `tally` counts them.
`run_once()` reads every file once and returns the number of records read (good and bad); later
calls return 0.
"""
from __future__ import annotations

import gzip
import io
import logging
import sys
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, Iterable, Iterator

import orjson

from core import codec
from core.component import FilePath
from core.deadletters import unreadable_file
from core.registry import register
from collectors.base import Collector
from collectors.accounting import Tally, account
from collectors.formats import get_format

log = logging.getLogger("warden.collectors.replay")

RAW_LIMIT = 1024
_CHUNK = 1 << 16


def envelope(fmt: str, record: Any) -> dict[str, Any]:
    return {"format": fmt, "record": record}


def write_envelopes(pairs: Iterable[tuple[str, Any]], out: IO[bytes]) -> int:
    """Write (format, record) pairs as envelope JSON lines to a binary stream; returns the count."""
    n = 0
    for fmt, rec in pairs:
        out.write(codec.dumps(envelope(fmt, rec)) + b"\n")
        n += 1
    return n


def _is_envelope(rec: Any) -> bool:
    return (isinstance(rec, dict) and len(rec) == 2 and "format" in rec and "record" in rec
            and isinstance(rec["format"], str))


def _raw_text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        cut = data[:RAW_LIMIT]
        text = cut.decode("utf-8", "replace")
        more = len(data) > RAW_LIMIT
    else:
        text = data[:RAW_LIMIT]
        more = len(data) > RAW_LIMIT
    return text + ("...[truncated]" if more else "")


@register
class ReplayCollector(Collector):
    """Replay recorded JSON lines / JSON documents through the input formats."""
    type = "replay"
    bounded = True
    example_config = {"paths": ["events.jsonl"]}

    @dataclass
    class Config:
        paths: list[FilePath] = field(default_factory=list)   # files; "-" = stdin
        format: str = "auto"                             # input format name or auto
        max_record_bytes: int = 1 << 20                  # longer lines are dead-lettered
        max_document_bytes: int = 64 << 20               # files up to this size may be one JSON document

        def validate(self) -> None:
            if not self.paths:
                raise ValueError("paths: give at least one file (or '-' for stdin)")
            if any(not isinstance(p, str) or not p for p in self.paths):
                raise ValueError("paths must be non-empty strings")
            if self.max_record_bytes < 1:
                raise ValueError("max_record_bytes must be >= 1")
            if self.max_document_bytes < 0:
                raise ValueError("max_document_bytes must be >= 0")
            if self.format != "auto":
                get_format(self.format)  # FormatError (a ValueError) names the known formats

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.tally = Tally()
        self.unreadable = 0      # files that could not be read (dead-lettered, not records)

    @property
    def stats(self) -> dict[str, int]:
        t = self.tally
        return {"records": t.accepted + t.dead_lettered - self.unreadable, "events": t.events,
                "dead": t.dead_lettered}

    # -----------------------------------------------------------------------------------------
    def run_once(self) -> int:
        if not self.first_run():
            return 0
        n = 0
        for path in self.config.paths:
            n += self._read_path(path)
        return n

    def _dead(self, raw: Any, where: str, reason: str) -> None:
        self.tally.refused(where, reason)
        self.emitter.dead_letter(raw, f"{where}: {reason}", self.name)

    def _read_path(self, path: str) -> int:
        before = self.stats["records"]
        try:
            if path == "-":
                self._read_stream(sys.stdin.buffer, "<stdin>")
            else:
                with open(path, "rb") as f:
                    head = f.read(2)
                    f.seek(0)
                    if head == b"\x1f\x8b":
                        with gzip.open(f, "rb") as g:
                            self._read_stream(g, path)
                    else:
                        self._read_stream(f, path)
        except (OSError, EOFError, zlib.error) as e:  # incl. gzip.BadGzipFile, truncated .gz
            log.warning("%s: cannot read %s: %s", self.name, path, e)
            self.unreadable += 1
            self._dead(unreadable_file(path), path, f"cannot read: {type(e).__name__}: {e}")
        return self.stats["records"] - before

    def _read_stream(self, stream: IO[bytes], where: str) -> None:
        cap = self.config.max_document_bytes
        head, broken = _read_head(stream, cap + 1) if cap > 0 else (b"", None)
        if broken is not None:       # a truncated .gz: the whole lines before the cut are still records
            self._read_lines(head, io.BytesIO(), where)
            raise broken
        if 0 < len(head) <= cap:
            doc = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
            if doc.strip():
                try:
                    value = orjson.loads(doc)
                except orjson.JSONDecodeError:
                    value = _NOT_JSON
                if value is not _NOT_JSON and isinstance(value, (dict, list)):
                    self._read_document(value, where)
                    return
        self._read_lines(head, stream, where)

    def _read_lines(self, head: bytes, stream: IO[bytes], where: str) -> None:
        for lineno, line, oversized in _lines(head, stream, self.config.max_record_bytes):
            at = f"{where}:{lineno}"
            if oversized is not None:
                self._dead(_raw_text(line), at, f"record over max_record_bytes "
                                                f"({oversized} > {self.config.max_record_bytes} bytes)")
                continue
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                self._dead(_raw_text(line), at, f"invalid JSON: {e}")
                continue
            self._handle(rec, at)

    def _read_document(self, value: dict | list, where: str) -> None:
        if isinstance(value, list):
            for i, rec in enumerate(value):
                self._handle(rec, f"{where}[{i}]")
            return
        self._handle(value, where)

    def _handle(self, rec: Any, where: str) -> None:
        """One decoded line / document: each record in it accepted or dead-lettered on its own
        (the dead letter keeps the record itself, re-submittable by `warden deadletters replay`)."""
        fmt = self.config.format
        if _is_envelope(rec):
            fmt, rec = rec["format"], rec["record"]
        account(rec, (fmt,), self.emitter, self.name, self.tally, where)


_NOT_JSON = object()


def _read_head(stream: IO[bytes], n: int) -> tuple[bytes, Exception | None]:
    """Up to n bytes, and the error that cut the stream short (a truncated or corrupt .gz), if any."""
    parts: list[bytes] = []
    got = 0
    read = getattr(stream, "read1", stream.read)     # read1: what one call decoded stays ours if the next fails
    try:
        while got < n:
            chunk = read(min(_CHUNK, n - got))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    except (OSError, EOFError, zlib.error) as e:
        return b"".join(parts), e
    return b"".join(parts), None


def _lines(head: bytes, stream: IO[bytes], limit: int) -> Iterator[tuple[int, bytes, int | None]]:
    """(line number, line without EOL, size when oversized else None); memory stays O(limit + head)."""
    buf, pos = head, 0
    eof = False
    lineno = 0
    read = getattr(stream, "read1", stream.read)     # as _read_head: a cut .gz loses no decoded line

    def emit(line: bytes):
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > limit:
            return lineno, line[:RAW_LIMIT], len(line)
        return lineno, line, None

    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0 and not eof:
            buf, pos = buf[pos:], 0
            while len(buf) <= limit + 1:
                chunk = read(_CHUNK)
                if not chunk:
                    eof = True
                    break
                start = len(buf)
                buf += chunk
                nl = buf.find(b"\n", start)
                if nl >= 0:
                    break
        if nl >= 0:
            line = buf[pos:nl]
            pos = nl + 1
            lineno += 1
            yield emit(line)
            continue
        if eof:
            if pos < len(buf):
                lineno += 1
                yield emit(buf[pos:])
            return
        # no newline within the limit: an oversized line; skip to its end without keeping it
        lineno += 1
        prefix = buf[pos:pos + RAW_LIMIT]
        size = len(buf) - pos
        buf, pos = b"", 0
        while True:
            chunk = read(_CHUNK)
            if not chunk:
                eof = True
                break
            nl = chunk.find(b"\n")
            if nl >= 0:
                size += nl
                buf = chunk[nl + 1:]
                break
            size += len(chunk)
        yield lineno, prefix, size
