"""The action log: an append-only, hash-chained JSON-lines file (`<data_dir>/actions.log.jsonl`).

Every action is written here *before* it runs (phase `intent`) and again with its result
(phase `result`); dry-run, skipped, pending and blocked actions are written once (phase `record`),
approvals and undos likewise (`approve`, `undo-intent`, `undo-result`).

Each line is one JSON object:
  {"seq": 7, "time": 1700000000.1, "phase": "intent", "action": {...}, "prev": "<hash of line 6>",
   "mac": "hmac-sha256", "hash": "<HMAC-SHA256 of this object without 'hash', canonical JSON>"}
The key comes from policy.action_log_key (`WARDEN_ACTION_LOG_KEY`, a key file): without it nobody
can rewrite the file and its head consistently. Entries written before keys existed carry no
`mac` and a plain SHA-256; a log with a key available accepts none of those.
The first line's `prev` is 64 zeros. `verify()` recomputes every hash and link, so an edited,
deleted, inserted or reordered line breaks the chain; a sidecar head file (`.head`: last seq and
hash) also catches a truncated tail. Appends take an exclusive flock, so the agent and the CLI
(approve / undo) can write to the same log.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

from policy.action_log_key import LogKey, create_key, find_key

GENESIS = "0" * 64
PHASES = ("intent", "result", "record", "approve", "undo-intent", "undo-result", "revert-due")


def _canonical(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


MAC = "hmac-sha256"


def entry_hash(entry: dict[str, Any], key: bytes | None = None) -> str:
    """HMAC-SHA256 with `key` (keyed entries), else SHA-256 (entries from before keys)."""
    body = _canonical({k: v for k, v in entry.items() if k != "hash"})
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head: str = GENESIS
    errors: list[str] = field(default_factory=list)
    missing: bool = False           # no log file at all (nothing was ever acted on, or a wrong data_dir)
    key_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "head": self.head, "errors": self.errors,
                "missing": self.missing, "key_source": self.key_source}


class ActionLog:
    def __init__(self, path: str | os.PathLike, key: LogKey | None = None) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.key = key or LogKey("", None, None)

    @classmethod
    def for_data_dir(cls, data_dir: str | os.PathLike) -> "ActionLog":
        return cls(Path(data_dir) / "actions.log.jsonl", find_key(data_dir))

    def _resolve_key(self) -> None:
        """Pick up the default key file another instance (the agent, the CLI) created meanwhile."""
        p = self.key.path
        if self.key.value is None and p is not None and p.exists():
            self.key = LogKey(str(p), None, p.read_bytes().strip())

    def _key_for_writing(self) -> bytes:
        self._resolve_key()
        if self.key.value is None and self.key.path is not None:
            if self.path.exists() and self.path.stat().st_size:
                raise ValueError(f"the action log {self.path} exists but its key {self.key.path} is gone: restore "
                                 "the key (or set WARDEN_ACTION_LOG_KEY) before anything is appended")
            self.key = LogKey(str(self.key.path), None, create_key(self.key.path))
        if self.key.value is None:
            raise ValueError("the action log has no key (WARDEN_ACTION_LOG_KEY or WARDEN_ACTION_LOG_KEY_FILE)")
        return self.key.value

    # writing ------------------------------------------------------------------------------------
    def append(self, phase: str, action: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Append one entry (under an exclusive lock) and return it; durable (fsync) on return."""
        if phase not in PHASES:
            raise ValueError(f"unknown action-log phase {phase!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = self._key_for_writing()
        with open(self.path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                last = self._last_entry(fh)
                entry: dict[str, Any] = {"seq": (last["seq"] + 1) if last else 1, "time": time.time(),
                                         "phase": phase, "action": action}
                if extra:
                    entry.update(extra)
                entry["prev"] = last["hash"] if last else GENESIS
                entry["mac"] = MAC
                entry["hash"] = entry_hash(entry, key)
                fh.seek(0, os.SEEK_END)
                fh.write(orjson.dumps(entry) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
                tmp = self.head_path.with_suffix(".tmp")
                tmp.write_bytes(orjson.dumps({"seq": entry["seq"], "hash": entry["hash"]}))
                os.replace(tmp, self.head_path)
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return entry

    @staticmethod
    def _last_entry(fh) -> dict[str, Any] | None:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return None
        block = 4096
        pos = size
        buf = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            buf = fh.read(step) + buf
            lines = buf.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or pos == 0:
                return orjson.loads(lines[-1])
            block *= 2
        return None

    # reading ------------------------------------------------------------------------------------
    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    yield orjson.loads(line)

    def last_by_action(self) -> dict[str, dict[str, Any]]:
        """action id → its last entry (what a restarted act stage needs to know)."""
        out: dict[str, dict[str, Any]] = {}
        for e in self.entries():
            aid = (e.get("action") or {}).get("id")
            if aid:
                out[aid] = e
        return out

    def for_action(self, action_id: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if (e.get("action") or {}).get("id") == action_id]

    def verify(self) -> VerifyResult:
        """Recompute the chain; report every break (edited, removed, inserted, reordered, truncated)."""
        errors: list[str] = []
        prev, n, expect_seq = GENESIS, 0, 1
        self._resolve_key()
        if not self.path.exists() and not self.head_path.exists():
            return VerifyResult(ok=False, entries=0, errors=[f"no action log at {self.path}"], missing=True,
                                key_source=self.key.source)
        if self.path.exists():
            with open(self.path, "rb") as fh:
                for lineno, raw in enumerate(fh, 1):
                    raw = raw.strip()
                    if not raw:
                        continue
                    try:
                        e = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        errors.append(f"line {lineno}: not valid JSON")
                        prev = GENESIS
                        continue
                    n += 1
                    if not isinstance(e, dict) or "hash" not in e:
                        errors.append(f"line {lineno}: not a log entry")
                        continue
                    if e.get("seq") != expect_seq:
                        errors.append(f"line {lineno}: sequence {e.get('seq')} where {expect_seq} was expected "
                                      "(an entry was removed, inserted or reordered)")
                    if e.get("prev") != prev:
                        errors.append(f"line {lineno}: prev hash does not match the previous entry's hash")
                    self._check_mac(e, lineno, errors)
                    prev = e["hash"]
                    expect_seq = (e.get("seq") if isinstance(e.get("seq"), int) else expect_seq) + 1
        if self.head_path.exists():
            try:
                head = orjson.loads(self.head_path.read_bytes())
                if head.get("seq", 0) > expect_seq - 1:
                    errors.append(f"log ends at seq {expect_seq - 1} but its head says {head.get('seq')} "
                                  "(entries were truncated)")
                elif head.get("seq") == expect_seq - 1 and head.get("hash") != prev:
                    errors.append("the last entry's hash differs from the recorded head")
            except (orjson.JSONDecodeError, AttributeError):
                errors.append("head file is not valid JSON")
        elif n:
            errors.append("head file missing")
        return VerifyResult(ok=not errors, entries=n, head=prev, errors=errors, key_source=self.key.source)

    def _check_mac(self, e: dict[str, Any], lineno: int, errors: list[str]) -> None:
        key = self.key.value
        if e.get("mac") == MAC and key is None:
            if not any("no key" in x for x in errors):
                errors.append("entries are keyed (HMAC) but no key is available: set WARDEN_ACTION_LOG_KEY or "
                              "WARDEN_ACTION_LOG_KEY_FILE, or restore action-log.key")
            return
        if e.get("mac") != MAC and key is not None:
            errors.append(f"line {lineno}: entry seq {e.get('seq')} is not keyed (written without the key, or forged)")
            return
        if not hmac.compare_digest(entry_hash(e, key if e.get("mac") == MAC else None), str(e["hash"])):
            errors.append(f"line {lineno}: hash mismatch (entry seq {e.get('seq')} was modified)")
