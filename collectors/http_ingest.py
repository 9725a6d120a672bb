"""HTTP ingest: records of any registered format posted to warden.

- `POST /v1/ingest?format=<name>` (default `auto`): one JSON document, a JSON array of records, or
  JSON lines (`application/x-ndjson`).
- `POST /v1/inference`: inference-traffic records (warden, OpenAI chat, KServe/OIP v2 shapes);
  the same as /v1/ingest with the inference formats tried in turn.

Answers 200 with {"accepted", "rejected", "errors": [first reasons]}; records that cannot be read
go to the dead-letter topic with the reason, so a partly bad batch loses nothing else. The events
are flushed to the bus before the answer (an acknowledged record is durable).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from agent.http.server import HttpError, Request, Response
from agent.registry import register
from collectors.base import Collector
from collectors.formats import FormatError, all_formats, parse_record

INFERENCE_FORMATS = ("warden-inference", "openai-chat", "kserve-v2")


@register
class HttpIngestCollector(Collector):
    type = "http_ingest"

    @dataclass
    class Config:
        path: str = "/v1/ingest"
        inference_path: str = "/v1/inference"
        max_records: int = 10000

        def validate(self) -> None:
            if not self.path.startswith("/") or not self.inference_path.startswith("/"):
                raise ValueError("paths must start with /")
            if self.max_records < 1:
                raise ValueError("max_records must be >= 1")

    def routes(self):
        return {("POST", self.config.path): self.ingest, ("POST", self.config.inference_path): self.ingest_inference}

    def _records(self, req: Request) -> list[Any]:
        ctype = req.headers.get("content-type", "application/json").split(";")[0].strip()
        if ctype in ("application/x-ndjson", "application/jsonl", "application/json-lines"):
            lines = [ln for ln in req.body.split(b"\n") if ln.strip()]
            out = []
            for ln in lines:
                try:
                    out.append(orjson.loads(ln))
                except orjson.JSONDecodeError as e:
                    out.append(_Broken(ln, f"invalid JSON line: {e}"))
            return out
        if ctype not in ("application/json", "text/json"):
            raise HttpError(415, f"unsupported content type {ctype!r} (application/json or application/x-ndjson)")
        doc = req.json()
        return doc if isinstance(doc, list) else [doc]

    def _ingest(self, req: Request, formats: tuple[str, ...]) -> Response:
        if self.emitter is None:
            raise HttpError(503, "collector not started")
        records = self._records(req)
        if len(records) > self.config.max_records:
            raise HttpError(413, f"more than {self.config.max_records} records in one request")
        accepted, errors = 0, []
        for rec in records:
            if isinstance(rec, _Broken):
                self.emitter.dead_letter(rec.raw, rec.reason, self.name)
                errors.append(rec.reason)
                continue
            reason = None
            for fmt in formats:
                try:
                    events = parse_record(rec, fmt, self.name)
                    break
                except FormatError as e:
                    reason = str(e)
            else:
                self.emitter.dead_letter(rec, reason or "no format", self.name)
                errors.append(reason)
                continue
            for ev in events:
                self.emitter.emit(ev)
            accepted += 1
        flush = getattr(self.emitter, "flush", None)
        if flush:
            flush()
        return Response.json({"accepted": accepted, "rejected": len(errors), "errors": errors[:10]})

    def ingest(self, req: Request) -> Response:
        fmt = (req.query.get("format") or ["auto"])[0]
        if fmt != "auto" and fmt not in all_formats():
            raise HttpError(400, f"unknown format {fmt!r} (known: {', '.join(all_formats())}, auto)")
        return self._ingest(req, (fmt,))

    def ingest_inference(self, req: Request) -> Response:
        return self._ingest(req, tuple(f for f in INFERENCE_FORMATS if f in all_formats()) or ("auto",))


class _Broken:
    def __init__(self, raw: bytes, reason: str) -> None:
        self.raw, self.reason = raw, reason
