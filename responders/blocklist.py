"""Input blocking: a durable block list of end users, sessions, API keys, clients and input
fingerprints; every entry names the key it blocks and expires.

`BlockList` (SQLite file, `<data_dir>/blocklist.db` by default) is what the prompt guard's HTTP
endpoint consults: `is_blocked(end_user=, session=, api_key=, client=, fingerprint=) -> reason |
None`. Every change is also published to the `warden.blocklist` topic (JSON: {op: add|remove,
kind, value, reason, expires_at, alert_id}) so gateways can mirror it. API keys are stored as their
SHA-256, never in clear.

type `blocklist`, route params: `kind` (user | end_user | session | api_key | client | fingerprint;
default user: the end user named on the alert, else its session, else its API key), `field` (where the value is on the alert; default by kind: end_user →
`enduser.id`, session → `session.id`, api_key → `api_key.id` / `api_key`, client → `client.id`,
fingerprint → `fingerprint`; never the alert's entity), `ttl` (e.g. "1h"; default the config's
`default_ttl`; every entry expires, at most `max_ttl` after it is made). Undo removes the entry.

A client (`web-frontend`) is the calling application and serves every one of its users: blocking it
takes a product down. The responder refuses `kind: client` unless its config sets
`block_clients: true`, and even then never blocks one listed in `protected_clients`.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson

from core.component import FilePath
from core.errors import ConfigError
from core.registry import register
from core.sqlite import open_sqlite
from responders.base import Responder, ResponderError, alert_value

KINDS = ("end_user", "session", "api_key", "client", "fingerprint")
USER_KINDS = ("end_user", "session", "api_key")   # route kind "user": the first of these on the alert
DEFAULT_KIND = "user"
DEFAULT_FIELDS = {"end_user": ("enduser.id", "evidence.enduser.id", "end_user"),
                  "session": ("session.id", "evidence.session.id", "session_id"),
                  "client": ("client.id", "client_id", "evidence.client.id", "gen_ai.client.id"),
                  "api_key": ("api_key.id", "evidence.api_key.id", "api_key", "evidence.api_key"),
                  "fingerprint": ("fingerprint", "input.fingerprint", "evidence.fingerprint",
                                  "evidence.input.fingerprint")}


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class BlockList:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.db = open_sqlite(self.path)
        self.db.execute("CREATE TABLE IF NOT EXISTS blocks (kind TEXT, value TEXT, reason TEXT, created REAL, "
                        "expires_at REAL, alert_id TEXT, PRIMARY KEY (kind, value))")
        self.db.commit()

    @staticmethod
    def _stored(kind: str, value: str) -> str:
        return key_digest(value) if kind == "api_key" else value

    def add(self, kind: str, value: str, reason: str = "", ttl: float | None = None, alert_id: str = "",
            now: float | None = None) -> dict[str, Any]:
        """Block `value` as a `kind` key for `ttl` seconds (None: until removed; the responder
        always passes a ttl)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        now = time.time() if now is None else now
        exp = now + ttl if ttl else None
        with self._lock, self.db:
            self.db.execute("INSERT INTO blocks VALUES (?,?,?,?,?,?) ON CONFLICT(kind, value) DO UPDATE SET "
                            "reason=excluded.reason, expires_at=excluded.expires_at, alert_id=excluded.alert_id",
                            (kind, self._stored(kind, value), reason, now, exp, alert_id))
        return {"kind": kind, "value": self._stored(kind, value), "reason": reason, "expires_at": exp}

    def remove(self, kind: str, value: str) -> bool:
        with self._lock, self.db:
            cur = self.db.execute("DELETE FROM blocks WHERE kind = ? AND value IN (?, ?)",
                                  (kind, value, self._stored(kind, value)))
        return cur.rowcount > 0

    def is_blocked(self, client_id: str | None = None, api_key: str | None = None,
                   fingerprint: str | None = None, now: float | None = None, *, end_user: str | None = None,
                   session: str | None = None, client: str | None = None) -> str | None:
        now = time.time() if now is None else now
        probes = [(k, self._stored(k, v)) for k, v in (("end_user", end_user), ("session", session),
                                                       ("api_key", api_key), ("client", client or client_id),
                                                       ("fingerprint", fingerprint)) if v]
        if not probes:
            return None
        with self._lock:
            for kind, value in probes:
                row = self.db.execute("SELECT reason, expires_at FROM blocks WHERE kind = ? AND value = ?",
                                      (kind, value)).fetchone()
                if row and (row[1] is None or row[1] > now):
                    until = "" if row[1] is None else time.strftime(" until %Y-%m-%dT%H:%M:%SZ", time.gmtime(row[1]))
                    return f"{kind} blocked{until}: {row[0] or 'by warden'}"
        return None

    def list(self, include_expired: bool = False, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        with self._lock:
            rows = self.db.execute("SELECT kind, value, reason, created, expires_at, alert_id FROM blocks "
                                   "ORDER BY created").fetchall()
        out = [dict(zip(("kind", "value", "reason", "created", "expires_at", "alert_id"), r)) for r in rows]
        return out if include_expired else [r for r in out if r["expires_at"] is None or r["expires_at"] > now]

    def purge_expired(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._lock, self.db:
            return self.db.execute("DELETE FROM blocks WHERE expires_at IS NOT NULL AND expires_at <= ?",
                                   (now,)).rowcount

    def close(self) -> None:
        self.db.close()


@register
class BlocklistResponder(Responder):
    type = "blocklist"
    action = "block"
    reversible = True
    parameters: ClassVar[dict] = {"kind": (str, False), "field": (str, False), "ttl": ((str, int, float), False)}
    permissions = ("data_dir:write", "bus:produce warden.blocklist")

    @dataclass
    class Config:
        path: FilePath = ""           # default <data_dir>/blocklist.db
        default_ttl: float = 3600.0   # seconds
        max_ttl: float = 7 * 86400.0  # no entry lasts longer
        topic: str = "blocklist"      # topic suffix (full name: prefix + suffix)
        block_clients: bool = False   # kind: client refused unless true (a client serves all its users)
        protected_clients: list = field(default_factory=list)  # never blocked, even with block_clients

        def validate(self) -> None:
            if not 0 < self.default_ttl <= self.max_ttl:
                raise ValueError("default_ttl must be > 0 and <= max_ttl (every block expires)")
            if not all(isinstance(c, str) and c for c in self.protected_clients):
                raise ValueError("protected_clients must be a list of client ids")

    rt = None
    _list: BlockList | None = None

    @classmethod
    def check_route(cls, params, where) -> None:
        super().check_route(params, where)
        if params.get("kind", DEFAULT_KIND) not in KINDS + ("user",):
            raise ConfigError(f"{where}: blocklist kind must be one of user, {', '.join(KINDS)}")
        if "ttl" in params:
            from core.durations import parse_duration
            parse_duration(params["ttl"], f"{where}.ttl")

    @property
    def blocklist(self) -> BlockList:
        if self._list is None:
            path = self.config.path or str(Path(self.rt.cfg.data_dir if self.rt else ".warden") / "blocklist.db")
            self._list = BlockList(path)
        return self._list

    def value(self, alert, params) -> tuple[str, str | None]:
        kind = params.get("kind", DEFAULT_KIND)
        if kind == "user":
            for k in USER_KINDS:
                v = alert_value(alert, *DEFAULT_FIELDS[k])
                if v is not None:
                    return k, str(v)
            return "end_user", None
        paths = (params["field"],) if params.get("field") else DEFAULT_FIELDS[kind]
        v = alert_value(alert, *paths)
        return kind, None if v is None else str(v)

    def refusal(self, kind: str, value: str | None) -> str | None:
        """Why this key must not be blocked (None: it may)."""
        if kind != "client":
            return None
        if value in self.config.protected_clients:
            return f"client {value!r} is protected (responder protected_clients)"
        if not self.config.block_clients:
            return (f"blocking a whole client ({value!r}) is off: it serves every one of its users; "
                    f"block the end user, session or API key (or set block_clients: true)")
        return None

    def target(self, alert, params) -> str:
        kind, v = self.value(alert, params)
        shown = (key_digest(v)[:16] + "…") if (kind == "api_key" and v) else v
        return f"{kind}:{shown or '?'}" + (" (refused: protected)" if self.refusal(kind, v) else "")

    def resource(self, alert, params) -> dict[str, Any]:
        kind, v = self.value(alert, params)
        return {"kind": f"block_{kind}", "principal": v or "", "name": v or ""} if kind != "api_key" else \
            {"kind": "block_api_key", "name": key_digest(v)[:16] if v else ""}

    def undo_for(self, alert, target, params) -> dict[str, Any]:
        return {"operation": "unblock", "target": target}

    def _publish(self, msg: dict) -> None:
        if self.rt is None:
            return
        self.rt.producer.send(self.rt.topic(self.config.topic), orjson.dumps(msg), str(msg.get("value", "")).encode())

    def execute(self, action, alert):
        from core.durations import parse_duration
        kind, v = self.value(alert, action.params)
        if not v:
            raise ResponderError(f"alert has no {kind} to block", retryable=False)
        why = self.refusal(kind, v)
        if why:
            raise ResponderError(why, retryable=False)
        ttl = parse_duration(action.params["ttl"], "ttl") if "ttl" in action.params else self.config.default_ttl
        if not ttl or ttl <= 0:
            ttl = self.config.default_ttl
        ttl = min(float(ttl), self.config.max_ttl)
        entry = self.blocklist.add(kind, v, reason=f"{alert.title} (alert {alert.id[:12]})", ttl=ttl,
                                   alert_id=alert.id)
        self._publish({"op": "add", **entry, "alert_id": alert.id})
        return entry

    def revert(self, action):
        kind = action.result.get("kind") or action.params.get("kind", DEFAULT_KIND)
        value = action.result.get("value")
        if not value:
            raise ResponderError("action result has no blocked value", retryable=False)
        removed = self.blocklist.remove(kind, value)
        self._publish({"op": "remove", "kind": kind, "value": value, "alert_id": action.alert_id})
        return {"removed": removed}

    def is_blocked(self, client_id=None, api_key=None, fingerprint=None, *, end_user=None, session=None,
                   client=None):
        return self.blocklist.is_blocked(client_id=client_id, api_key=api_key, fingerprint=fingerprint,
                                         end_user=end_user, session=session, client=client)

    def on_close(self) -> None:
        if self._list is not None:
            self._list.close()
            self._list = None
