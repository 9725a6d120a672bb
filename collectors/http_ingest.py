"""HTTP ingest: records of any registered format posted to warden.

- `POST /v1/ingest?format=<name>` (default `auto`): one JSON document, a JSON array of records, or
  JSON lines (`application/x-ndjson`).
- `POST /v1/inference`: inference-traffic records (warden, OpenAI chat, KServe v2 / OIP and v1 shapes);
  the same as /v1/ingest with the inference formats tried in turn.

Bodies: collectors/bodies.py (JSON, NDJSON, gzip). Each record is accepted or dead-lettered on its
own, members of a container (`{"Records": [...]}`, an EventList) included (collectors/accounting.py),
so a partly bad batch loses nothing else. The answer (collectors/ingest_route.py) counts them:
`{"accepted", "dead_lettered", "events", "reasons": [{"record", "reason"}], "durability"}`, 200
when any record was accepted (or there was none), 400 when every record was refused; 503 with
Retry-After while the bus holds as much as it may (backpressure). The events are handed to the bus
before the answer; what that guarantees is the bus's `durability` (in the answer).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.http import HttpError, Request, Response, inline
from core.registry import register
from collectors.base import Collector
from collectors.formats import all_formats
from collectors.ingest_route import Limits, handle_ingest

INFERENCE_FORMATS = ("warden-inference", "openai-chat", "kserve-v2", "kserve-v1")


@register
class HttpIngestCollector(Collector):
    type = "http_ingest"

    @dataclass
    class Config:
        path: str = "/v1/ingest"
        inference_path: str = "/v1/inference"
        max_records: int = 10000
        max_decompressed_bytes: int = 64 << 20        # a gzip body may expand to this much

        def validate(self) -> None:
            if not self.path.startswith("/") or not self.inference_path.startswith("/"):
                raise ValueError("paths must start with /")
            if self.max_records < 1:
                raise ValueError("max_records must be >= 1")
            if self.max_decompressed_bytes < 1:
                raise ValueError("max_decompressed_bytes must be >= 1")

    def routes(self):
        return {("POST", self.config.path): inline(self.ingest, self.emitter_never_waits),
                ("POST", self.config.inference_path): inline(self.ingest_inference, self.emitter_never_waits)}

    def _ingest(self, req: Request, formats: tuple[str, ...]) -> Response:
        limits = Limits(self.config.max_records, self.config.max_decompressed_bytes)
        return handle_ingest(req, self.emitter, formats, self.name, limits)

    def ingest(self, req: Request) -> Response:
        fmt = (req.query.get("format") or ["auto"])[0]
        if fmt != "auto" and fmt not in all_formats():
            raise HttpError(400, f"unknown format {fmt!r} (known: {', '.join(all_formats())}, auto)")
        return self._ingest(req, (fmt,))

    def ingest_inference(self, req: Request) -> Response:
        return self._ingest(req, tuple(f for f in INFERENCE_FORMATS if f in all_formats()) or ("auto",))

