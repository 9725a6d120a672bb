"""Kubernetes audit webhook receiver: kube-apiserver's webhook backend POSTs an EventList here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from agent.http.server import HttpError, Request, Response
from agent.registry import register
from collectors.audit import k8s_audit
from collectors.base import Collector
from collectors.formats import FormatError

PATH = "/v1/audit/k8s"


@register
class K8sAuditWebhook(Collector):
    """Serves POST /v1/audit/k8s (audit.k8s.io/v1 EventList or a single Event).

    Each item becomes an audit Event; items that cannot be read are dead-lettered one by one
    with the reason, the rest of the batch still goes through. Answers 200 with counts.
    """
    type: ClassVar[str] = "k8s_audit_webhook"

    @dataclass
    class Config:
        path: str = PATH
        #: largest number of items accepted in one POST (kube-apiserver batches up to 400 by default)
        max_items: int = 10000

        def validate(self) -> None:
            if not self.path.startswith("/"):
                raise ValueError(f"path must start with '/', got {self.path!r}")
            if self.max_items <= 0:
                raise ValueError("max_items must be positive")

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.received = 0
        self.emitted = 0
        self.dead = 0

    def routes(self) -> dict[tuple[str, str], Any]:
        return {("POST", self.config.path): self.handle}

    def handle(self, request: Request) -> Response:
        if self.emitter is None:
            raise HttpError(503, "collector not bound to a pipeline")
        body = request.json()
        if not isinstance(body, dict):
            raise HttpError(400, f"expected a JSON object (EventList), got {type(body).__name__}")
        try:
            pairs = k8s_audit.split(body)
        except FormatError as e:
            self.emitter.dead_letter(body, str(e), self.name)
            self.dead += 1
            raise HttpError(400, str(e)) from None
        if len(pairs) > self.config.max_items:
            raise HttpError(413, f"{len(pairs)} items over the limit of {self.config.max_items}")
        ok = bad = 0
        for ev, orig in pairs:
            self.received += 1
            try:
                event = k8s_audit.normalise(ev, orig, self.name)
            except (FormatError, ValueError, TypeError, KeyError, AttributeError) as e:
                reason = str(e) if isinstance(e, FormatError) else f"{k8s_audit.FORMAT}: {type(e).__name__}: {e}"
                self.emitter.dead_letter(orig, reason, self.name)
                bad += 1
                continue
            self.emitter.emit(event)
            ok += 1
        self.emitted += ok
        self.dead += bad
        return Response.json({"accepted": ok, "dead_lettered": bad})
