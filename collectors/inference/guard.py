"""Collector type `guard`: the inline prompt guard a gateway calls before forwarding a request.

    POST /v1/guard   {"prompt": "...", "client_id": "...", "api_key": "...", "model": "chat-prod"}
                  or {"messages": [{"role": "user", "content": "..."}], ...}
    200 {"decision": "allow"|"deny", "score": 0.97, "threshold": 0.5, "reason": "...",
         "stage": "lexical"|"embedding"|"blocklist"|"error", "fingerprint": "p-...",
         "model_version": "1", "latency_ms": 0.4}
    400 {"error": "...", "decision": <on_error>} for a body that is not a JSON object

Denies (and, with `emit_allows`, allows) are emitted as events (kind "inference", name
"guard.decision", entity = the request's model or `entity`, attributes `guard.decision`,
`guard.score`, `guard.reason`, `guard.stage`, `client.id`, `api_key.id` (hashed), `gen_ai.prompt`
(clipped)) so they become findings downstream (detector `prompt_guard`).

An optional block list is consulted first: set `collector.blocklist` to any object with
`is_blocked(client_id=..., api_key=..., fingerprint=...) -> reason | None`.

Config: model_path, threshold, max_chars, on_error, use_embedding, torch_threads (as the
`prompt_guard` detector), path ("/v1/guard"), entity ("guard": entity when the request names no
model), emit_allows (false), warmup (true: load the embedding model at start).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from agent.event import Event
from agent.http.server import Request, Response
from agent.registry import register
from collectors.base import Collector
from collectors.inference.records import key_id
from detectors.guard.detector import GuardConfig, guard_from_config
from detectors.guard.guard import PromptGuard, prompt_from_record

MAX_EVENT_PROMPT = 4096


@dataclass
class GuardCollectorConfig(GuardConfig):
    path: str = "/v1/guard"
    entity: str = "guard"
    emit_allows: bool = False
    warmup: bool = True

    def validate(self) -> None:
        super().validate()
        if not self.path.startswith("/"):
            raise ValueError("path must start with '/'")
        if not self.entity:
            raise ValueError("entity must not be empty")


@register
class GuardCollector(Collector):
    type = "guard"
    Config = GuardCollectorConfig

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._guard: PromptGuard | None = None
        self._blocklist: Any = None
        self.counts = {"allow": 0, "deny": 0, "error": 0}

    @property
    def guard(self) -> PromptGuard:
        if self._guard is None:
            self._guard = guard_from_config(self.config)
            self._guard.blocklist = self._blocklist
        return self._guard

    @property
    def blocklist(self) -> Any:
        return self._blocklist

    @blocklist.setter
    def blocklist(self, value: Any) -> None:
        if value is not None and not callable(getattr(value, "is_blocked", None)):
            raise TypeError("blocklist must have is_blocked(client_id=..., api_key=..., fingerprint=...)")
        self._blocklist = value
        if self._guard is not None:
            self._guard.blocklist = value

    def on_start(self) -> None:
        g = self.guard
        if self.config.warmup:
            g.warmup()

    def routes(self) -> dict[tuple[str, str], Any]:
        return {("POST", self.config.path): self.handle}

    # -- the route --------------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        try:
            body = orjson.loads(req.body) if req.body else None
        except orjson.JSONDecodeError as e:
            self.counts["error"] += 1
            return Response.json({"error": f"invalid JSON body: {e}", "decision": self.guard.on_error}, 400)
        if not isinstance(body, dict):
            self.counts["error"] += 1
            return Response.json({"error": "body must be a JSON object with a prompt, text or messages field",
                                  "decision": self.guard.on_error}, 400)
        res = self.check(body)
        return Response.json(res)

    def check(self, body: dict) -> dict:
        """Decide one request (as the route does) and emit the event for a deny."""
        res = self.guard.decide(body)
        self.counts["error" if res.get("error") else res["decision"]] += 1
        if res["decision"] == "deny" or self.config.emit_allows:
            self._emit(body, res)
        return res

    def _emit(self, body: dict, res: dict) -> None:
        if self.emitter is None:
            return
        now = time.time()
        model = body.get("model")
        entity = model if isinstance(model, str) and model else self.config.entity
        attrs: dict[str, Any] = {"guard.decision": res["decision"], "guard.score": res.get("score"),
                                 "guard.reason": res.get("reason"), "guard.stage": res.get("stage"),
                                 "guard.fingerprint": res.get("fingerprint"),
                                 "guard.model_version": res.get("model_version")}
        if res.get("error"):
            attrs["guard.error"] = res["error"]
        if isinstance(model, str) and model:
            attrs["gen_ai.request.model"] = model
            attrs["model.name"] = model
        cid = body.get("client_id", body.get("user"))
        if isinstance(cid, (str, int)) and not isinstance(cid, bool):
            attrs["client.id"] = str(cid)
            attrs["gen_ai.request.user"] = str(cid)
        if isinstance(body.get("api_key_id"), str):
            attrs["api_key.id"] = body["api_key_id"]
        elif isinstance(body.get("api_key"), str):
            attrs["api_key.id"] = key_id(body["api_key"])
        try:
            prompt = prompt_from_record(body)
        except ValueError:
            prompt = None
        if isinstance(prompt, str):
            attrs["gen_ai.prompt.length"] = len(prompt)
            attrs["gen_ai.prompt"] = prompt[:MAX_EVENT_PROMPT]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        ev = Event.create(source=self.name, kind="inference", entity=entity, name="guard.decision",
                          time=now, attributes=attrs,
                          raw={"fingerprint": res.get("fingerprint"), "decision": res["decision"],
                               "client": attrs.get("client.id"), "time": now})
        self.emitter.emit(ev)
