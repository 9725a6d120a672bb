"""Kubernetes audit webhook receiver: kube-apiserver's webhook backend POSTs an EventList here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.http import Request, Response, inline
from core.registry import register
from collectors.audit import k8s_audit
from collectors.base import Collector
from collectors.ingest_route import Limits, handle_ingest

PATH = "/v1/audit/k8s"


@register
class K8sAuditWebhook(Collector):
    """Serves POST /v1/audit/k8s (audit.k8s.io/v1 EventList or a single Event).

    Each item becomes an audit Event; items that cannot be read are dead-lettered one by one
    with the reason, the rest of the batch still goes through. Answers with per-item counts
    (collectors/ingest_route.py).
    """
    type: ClassVar[str] = "k8s_audit_webhook"

    @dataclass
    class Config:
        path: str = PATH
        #: largest number of items accepted in one POST (kube-apiserver batches up to 400 by default)
        max_items: int = 10000
        max_decompressed_bytes: int = 64 << 20        # a gzip body may expand to this much

        def validate(self) -> None:
            if not self.path.startswith("/"):
                raise ValueError(f"path must start with '/', got {self.path!r}")
            if self.max_items <= 0:
                raise ValueError("max_items must be positive")
            if self.max_decompressed_bytes <= 0:
                raise ValueError("max_decompressed_bytes must be positive")

    def routes(self) -> dict[tuple[str, str], Any]:
        return {("POST", self.config.path): inline(self.handle, self.emitter_never_waits)}

    def handle(self, request: Request) -> Response:
        limits = Limits(self.config.max_items, self.config.max_decompressed_bytes)
        return handle_ingest(request, self.emitter, (k8s_audit.FORMAT,), self.name, limits)
