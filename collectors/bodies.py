"""The body of an ingest request as input documents, each accounted for (collectors/accounting.py).

- A gzip body (the magic bytes, whatever the headers say: a CloudTrail `.json.gz` as S3 delivers
  it, posted as is) is decompressed up to `max_bytes`; more is a 413, a broken stream a 400.
- `application/json` (also `text/json`, `application/gzip`): one JSON document; an array is a list of
  records. `application/x-ndjson` (`application/jsonl`, `application/json-lines`): one record per
  non-blank line.
- A document or line that is not JSON (broken, a number beyond double range, nesting beyond
  orjson's 1,024 levels) comes back as a `Broken` with the reason and its raw bytes (the caller
  dead-letters it), never as an exception.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from core import json_slices
from core.http import HttpError, Request

GZIP_MAGIC = b"\x1f\x8b"
JSON_TYPES = ("application/json", "text/json", "application/gzip", "application/x-gzip")
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")
RAW_LIMIT = 4096


@dataclass(frozen=True)
class Broken:
    """Input that is not JSON: dead-lettered with `reason`, `raw` truncated to RAW_LIMIT bytes."""
    where: str
    raw: bytes
    reason: str


@dataclass(frozen=True)
class Document:
    """One decoded JSON document of the body; `where` names it in reasons ("" for the whole body)."""
    where: str
    value: Any


GZIP_WBITS = 16 + zlib.MAX_WBITS


def inflate_bounded(data: bytes, max_bytes: int, *, wbits: int = GZIP_WBITS, what: str = "gzip") -> bytes:
    """Decompress a body without ever holding more than max_bytes + one chunk (bombs: 413; a
    broken or truncated stream: 400). `wbits`: zlib's (gzip by default; zlib.MAX_WBITS: deflate)."""
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, max_bytes + 1)
        if len(out) > max_bytes or d.unconsumed_tail:
            raise HttpError(413, f"decompressed body over {max_bytes} bytes")
        out += d.flush()
    except zlib.error as e:
        raise HttpError(400, f"invalid {what} body: {e}") from None
    if len(out) > max_bytes:
        raise HttpError(413, f"decompressed body over {max_bytes} bytes")
    if not d.eof:
        raise HttpError(400, f"invalid {what} body: truncated stream")
    return out


def too_many(limit: int) -> HttpError:
    return HttpError(413, f"more than {limit} records in one request")


def documents(req: Request, max_bytes: int, max_records: int | None = None) -> list[Document | Broken]:
    """The documents of an ingest body (see the module doc); HttpError for unusable bodies, 413 for
    more than `max_records` lines or array items (counted before any is decoded or parsed)."""
    ctype = req.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype not in JSON_TYPES + NDJSON_TYPES:
        raise HttpError(415, f"unsupported content type {ctype!r} (application/json or application/x-ndjson)")
    body = req.body
    if body[:2] == GZIP_MAGIC:
        body = inflate_bounded(body, max_bytes)
    if ctype in NDJSON_TYPES:
        lines = body.split(b"\n")
        if max_records is not None and len(lines) > max_records and \
                sum(1 for line in lines if line.strip()) > max_records:
            raise too_many(max_records)
        out: list[Document | Broken] = []
        for i, line in enumerate(lines, 1):
            if line.strip():
                out.append(_decode(line, f"line {i}"))
        return out
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    doc = _decode(body, "")
    if isinstance(doc, Broken) and _json_lines(body):
        doc = Broken(doc.where, doc.raw, f"{doc.reason} (a JSON document per line: send it as "
                                         "Content-Type: application/x-ndjson)")
    if isinstance(doc, Document) and isinstance(doc.value, list):
        if max_records is not None and len(doc.value) > max_records:
            raise too_many(max_records)
        return [Document(f"[{i}]", v) for i, v in enumerate(doc.value)]
    return [doc]


def _json_lines(body: bytes) -> bool:
    """True when a body that is not one JSON document starts with a whole JSON line and goes on."""
    first, _, rest = body.partition(b"\n")
    if not rest.strip():
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return True


def _decode(data: bytes, where: str) -> Document | Broken:
    try:
        return Document(where, json_slices.loads(data))
    except orjson.JSONDecodeError as e:
        return Broken(where, bytes(data[:RAW_LIMIT]), f"invalid JSON: {e}")
