"""Collector type `guard`: the inline prompt guard a gateway calls before forwarding a request.

    POST /v1/guard   {"prompt": "...", "client_id": "...", "api_key": "...", "model": "chat-prod"}
                  or {"messages": [{"role": "user", "content": "..."}], ...}
    200 {"decision": "allow"|"deny", "score": 0.97, "threshold": 0.5, "reason": "...",
         "stage": "lexical"|"embedding"|"blocklist"|"error", "fingerprint": "p-...",
         "model_version": "1", "latency_ms": 0.4}
    400 {"error": "...", "decision": <on_error>, "reason": ...} for a malformed request: not JSON, not
        an object, no prompt / text / input / messages, a wrongly typed, empty, binary, non-UTF-8 or
        over-long prompt or message (the gateway applies `decision`, the configured on_error)

Denies (and, with `emit_allows`, allows) are emitted as events (kind "inference", name
"guard.decision", entity = the request's model or `entity`, attributes `guard.decision`,
`guard.score`, `guard.reason`, `guard.stage`, `enduser.id`, `session.id`, `client.id`, `api_key.id`
(hashed), `gen_ai.prompt` (clipped)) so they become findings downstream (detector `prompt_guard`);
the block policy acts on the end user / session / API key, never on `client.id` (the calling
application). Malformed requests are counted (`counts["error"]`), answered 400, and not emitted.

An optional block list is consulted first: set `collector.blocklist` to any object with
`is_blocked(end_user=..., session=..., api_key=..., client=..., fingerprint=...) -> reason | None`.

Config: model_path, threshold, max_chars, on_error, use_embedding, torch_threads (as the
`prompt_guard` detector), path ("/v1/guard"), entity ("guard": entity when the request names no
model), emit_allows (false), warmup (true: load the embedding model at start).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from core import json_slices
from core.event import Event
from core.http import Request, Response
from core.registry import register
from collectors.base import Collector
from collectors.inference.records import key_id
from detectors.guard.detector import GuardConfig, guard_from_config
from detectors.guard.guard import PromptGuard, prompt_text
from detectors.guard.keys import RequestKeys

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
            raise TypeError("blocklist must have is_blocked(end_user=..., session=..., api_key=..., fingerprint=...)")
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
            body = json_slices.loads(req.body) if req.body else None
        except orjson.JSONDecodeError as e:
            self.counts["error"] += 1
            return Response.json({"error": f"invalid JSON body: {e}", "decision": self.guard.on_error}, 400)
        if not isinstance(body, dict):
            self.counts["error"] += 1
            return Response.json({"error": "body must be a JSON object with a prompt, text or messages field",
                                  "decision": self.guard.on_error}, 400)
        res = self.check(body)
        return Response.json(res, 400 if res.get("error") else 200)

    def check(self, body: dict) -> dict:
        """Decide one request (as the route does) and emit the event for a deny."""
        res = self.guard.decide(body)
        self.counts["error" if res.get("error") else res["decision"]] += 1
        if not res.get("error") and (res["decision"] == "deny" or self.config.emit_allows):
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
        keys = RequestKeys.of(body)
        for attr, v in (("enduser.id", keys.end_user), ("session.id", keys.session), ("client.id", keys.client)):
            if v is not None:
                attrs[attr] = v
        if keys.end_user is not None:
            attrs["gen_ai.request.user"] = keys.end_user
        if isinstance(body.get("api_key_id"), str):
            attrs["api_key.id"] = body["api_key_id"]
        elif isinstance(body.get("api_key"), str):
            attrs["api_key.id"] = key_id(body["api_key"])
        prompt = prompt_text(body)
        if isinstance(prompt, str):
            attrs["gen_ai.prompt.length"] = len(prompt)
            attrs["gen_ai.prompt"] = prompt[:MAX_EVENT_PROMPT]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        ev = Event.create(source=self.name, kind="inference", entity=entity, name="guard.decision",
                          time=now, attributes=attrs,
                          raw={"fingerprint": res.get("fingerprint"), "decision": res["decision"],
                               "end_user": attrs.get("enduser.id"), "client": attrs.get("client.id"),
                               "time": now})
        self.emitter.emit(ev)
