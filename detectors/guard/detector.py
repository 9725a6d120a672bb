"""Detector type `prompt_guard`: scores `gen_ai.prompt` of inference events, findings for denies.

Config:
  model_path     ""      guard artifact (default: the shipped detectors/guard/model/guard.bin)
  threshold      null    calibrated-score threshold (default: the artifact's, 0.5)
  max_chars      32768   prompts longer than this get the `on_error` decision
  on_error       "deny"  decision for bad prompts (empty, oversize, binary): deny = fail closed
  use_embedding  true    run the MiniLM stage for prompts the lexical stage is unsure about
  severity       "high"  severity of findings
  torch_threads  0       torch intra-op threads for the embedding stage (0: leave as is)

Events the guard collector already decided (`guard.decision` = deny) become findings directly,
with the guard's score and reason. Events without a prompt score 0 and are ignored. The detector is
stateless (nothing is learned from traffic: a guard must not be poisoned by it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core import snapshot
from core.component import FilePath
from core.event import Event, Finding
from core.registry import register
from detectors.base import Detector
from detectors.guard.guard import DECISIONS, PromptGuard

SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass
class GuardConfig:
    model_path: FilePath = ""
    threshold: float | None = None
    max_chars: int = 32768
    on_error: str = "deny"
    use_embedding: bool = True
    severity: str = "high"
    torch_threads: int = 0

    def validate(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        if self.max_chars < 1:
            raise ValueError("max_chars must be >= 1")
        if self.on_error not in DECISIONS:
            raise ValueError("on_error must be 'allow' (fail open) or 'deny' (fail closed)")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        if self.torch_threads < 0:
            raise ValueError("torch_threads must be >= 0")


def guard_from_config(cfg) -> PromptGuard:
    return PromptGuard(cfg.model_path or None, threshold=cfg.threshold, max_chars=cfg.max_chars,
                       on_error=cfg.on_error, use_embedding=cfg.use_embedding,
                       torch_threads=cfg.torch_threads)


def event_record(ev: Event) -> dict:
    """The guard request an inference event stands for (prompt and the keys a block can name)."""
    a = ev.attributes
    rec = {"prompt": a.get("gen_ai.prompt")}
    for attr, field in (("client.id", "client_id"), ("api_key.id", "api_key"), ("enduser.id", "end_user"),
                        ("session.id", "session_id")):
        if a.get(attr) is not None:
            rec[field] = a[attr]
    return rec


def _origin(a: dict) -> str:
    if a.get("enduser.id"):
        return f" by end user {a['enduser.id']}" + (f" via {a['client.id']}" if a.get("client.id") else "")
    return f" via {a['client.id']}" if a.get("client.id") else ""


@register
class PromptGuardDetector(Detector):
    type = "prompt_guard"
    event_kinds = ("inference",)
    Config = GuardConfig
    state_version = 1

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._guard: PromptGuard | None = None
        self._last: dict[str, dict] = {}

    @property
    def guard(self) -> PromptGuard:
        if self._guard is None:
            self._guard = guard_from_config(self.config)
        return self._guard

    @property
    def blocklist(self):
        return self.guard.blocklist

    @blocklist.setter
    def blocklist(self, value) -> None:
        self.guard.blocklist = value

    def on_start(self) -> None:
        self.guard  # load the artifact (fails early if it is missing or corrupt)

    def accepts(self, event: Event) -> bool:
        return event.kind in self.event_kinds and (
            "gen_ai.prompt" in event.attributes or "guard.decision" in event.attributes
            or "gen_ai.prompt.length" in event.attributes)

    def threshold_for(self, event: Event) -> float:
        return self.guard.threshold

    def _decide(self, ev: Event) -> dict:
        a = ev.attributes
        if a.get("guard.decision") in DECISIONS:  # decided inline by the guard collector
            return {"decision": a["guard.decision"], "score": a.get("guard.score"),
                    "reason": a.get("guard.reason", "denied by the inline guard"), "stage": "inline"}
        if "gen_ai.prompt" not in a and "gen_ai.prompt.length" not in a:
            return {"decision": "allow", "score": 0.0, "reason": "no prompt", "stage": "none"}
        if a.get("gen_ai.prompt.truncated") or int(a.get("gen_ai.prompt.length") or 0) > self.guard.max_chars:
            g = self.guard
            return g._error_decision(f"prompt over {g.max_chars} characters", {"threshold": g.threshold})
        return self.guard.decide(event_record(ev))

    @staticmethod
    def _numeric(d: dict) -> float:
        s = d.get("score")
        if s is None:
            return 1.0 if d["decision"] == "deny" else 0.0
        return float(s)

    def score_many(self, events: Sequence[Event]) -> np.ndarray:
        return np.array([self._numeric(self._decide(ev)) for ev in events], dtype=float)

    def learn_many(self, events: Sequence[Event]) -> None:
        return None  # stateless by design

    def process(self, events: Sequence[Event]) -> list[Finding]:
        out = []
        mine = [ev for ev in events if self.accepts(ev)]
        self.guard.prime([ev.attributes.get("gen_ai.prompt") for ev in mine
                          if "guard.decision" not in ev.attributes])
        for ev in mine:
            d = self._decide(ev)
            if d["decision"] == "deny":
                out.append(self._finding(ev, d))
        return out

    def _finding(self, ev: Event, d: dict) -> Finding:
        a = ev.attributes
        score = self._numeric(d)
        prompt = a.get("gen_ai.prompt")
        evidence = {"decision": d["decision"], "score": d.get("score"), "reason": d.get("reason"),
                    "stage": d.get("stage"), "model": a.get("model.name", ev.entity),
                    "client.id": a.get("client.id"), "api_key.id": a.get("api_key.id"),
                    "enduser.id": a.get("enduser.id"), "session.id": a.get("session.id"),
                    "guard.model_version": self.guard.model_version,
                    "prompt.excerpt": prompt[:300] if isinstance(prompt, str) else None,
                    "prompt.length": a.get("gen_ai.prompt.length")}
        if d.get("error"):
            evidence["error"] = d["error"]
        return Finding.create(detector=self.name, entity=ev.entity, time=ev.time, score=score,
                              threshold=self.guard.threshold, severity=self.config.severity,
                              title=f"prompt injection / jailbreak attempt on {ev.entity}" + _origin(a),
                              evidence={k: v for k, v in evidence.items() if v is not None},
                              event_ids=(ev.id,), tags=("atlas:AML.T0051", "owasp-llm:LLM01"),
                              rule="prompt_injection")

    # stateless: the snapshot records which model made the decisions
    def snapshot(self, entity: str | None = None) -> bytes:
        return snapshot.pack(self.type, self.state_version, {"model_version": self.guard.model_version})

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        snapshot.unpack(blob, self.type, self.state_version)
