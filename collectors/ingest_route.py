"""One ingest request, every record accounted for: the shared handling of warden's push routes
(`/v1/ingest`, `/v1/inference`, `/v1/audit/k8s`).

1. Backpressure first: while the bus holds as much as it may, 503 + Retry-After, body unread.
2. The body becomes documents (collectors/bodies.py: JSON, NDJSON, gzip); one that is not JSON is
   dead-lettered with its reason.
3. Each record of each document (members of a container included) is parsed on its own
   (collectors/accounting.py); more than `max_records` in one request is a 413, nothing emitted
   nor dead-lettered; lines, array items and container members are counted before any is parsed,
   so a 300,000-item array costs its decoding, not 300,000 parser calls.
4. The accepted events are handed to the bus (`emitter.flush()`), then the answer:
   `{"accepted", "dead_lettered", "events", "reasons": [{"record", "reason"}], "durability"}`;
   200 when any record was accepted (or there was none), 400 (with `error`) when every record
   was refused.
   `durability` says what the hand-over guarantees (the bus's `Bus.durability`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.http import HttpError, NeedsWorker, Request, Response
from collectors.accounting import Outcome, Tally, TooManyRecords, deliver, outcomes
from collectors.base import Emitter
from collectors.bodies import GZIP_MAGIC, RAW_LIMIT, Broken, Document, documents, too_many

RETRY_AFTER_S = 1
#: on the server's event loop (`Request.on_loop`) a request of more records than this, or a
#: compressed one, goes to a worker thread instead (NeedsWorker), before anything is emitted
INLINE_MAX_RECORDS = 4


@dataclass(frozen=True)
class Limits:
    max_records: int = 10000
    max_decompressed_bytes: int = 64 << 20


def handle_ingest(req: Request, emitter: Emitter | None, formats: tuple[str, ...], source: str,
                  limits: Limits) -> Response:
    if emitter is None:
        raise HttpError(503, "collector not started")
    busy = backpressure(emitter)
    if busy is not None:
        return busy
    if req.on_loop and req.body[:2] == GZIP_MAGIC:
        raise NeedsWorker()                     # decoding is bounded by the decoded size, not the body's
    tally = Tally()
    cap = min(limits.max_records, INLINE_MAX_RECORDS) if req.on_loop else limits.max_records
    try:
        docs = documents(req, limits.max_decompressed_bytes, cap)
    except HttpError as e:
        if req.on_loop and e.status == 413:
            raise NeedsWorker() from None       # a worker counts them against the real limit
        raise
    parsed: list[tuple[Document | Broken, list[Outcome]]] = []
    n = sum(isinstance(d, Broken) for d in docs)
    for doc in docs:
        done: list[Outcome] = []
        if isinstance(doc, Document):
            try:
                done = outcomes(doc.value, formats, source, doc.where, max_records=cap - n)
            except TooManyRecords:
                if req.on_loop:
                    raise NeedsWorker() from None
                raise too_many(limits.max_records) from None
            n += len(done)
            if n > cap:
                if req.on_loop:
                    raise NeedsWorker()
                raise too_many(limits.max_records)
        parsed.append((doc, done))
    for doc, done in parsed:        # a request refused whole (413 above) dead-letters nothing
        if isinstance(doc, Broken):
            emitter.dead_letter(doc.raw, f"{doc.where}: {doc.reason}" if doc.where else doc.reason, source, formats)
            tally.refused(doc.where, doc.reason)
        else:
            deliver(done, emitter, source, tally, _raw_of(req, doc))
    emitter.flush()
    body: dict[str, Any] = tally.as_dict()
    body["durability"] = emitter.durability
    if tally.dead_lettered and not tally.accepted:
        body["error"] = f"every record was refused (first: {tally.reasons[0]['reason']})"
        return Response.json(body, 400)
    return Response.json(body)


def backpressure(emitter: Emitter) -> Response | None:
    """A 503 with Retry-After while the bus is full, else None."""
    if not emitter.full():
        return None
    resp = Response.json({"error": "the bus holds as many records as it may; retry later",
                          "retry_after_s": RETRY_AFTER_S}, 503)
    resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp


def _raw_of(req: Request, doc: Document):
    """Dead-letter the request's own bytes when the refused record is the whole body (a record too
    deep to keep as JSON is then still kept as its text), else the record itself."""
    def raw_of(o: Outcome) -> Any:
        whole = doc.where == "" and o.where == "" and o.record is doc.value
        return req.body[:RAW_LIMIT] if whole else o.record
    return raw_of
