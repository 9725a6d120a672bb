"""Sign-in, sessions and CSRF for the web page.

The page's routes sit under an open prefix of the HTTP server (`HttpServer.open_prefixes`), so
they authenticate here, with the same credentials as the API:
- an API token typed into the sign-in form: `http.token` (WARDEN_HTTP_TOKEN, every scope) or any
  of `http.tokens` (agent/http/auth.py) that holds the `read` scope, every one compared in constant
  time; or, when the server requires client certificates (mTLS), the certificate the TLS handshake
  already verified (no request reaches a handler without one; it holds every scope);
- the session keeps its token's scopes: `read` lets it view, and every state-changing action (ack,
  assign, resolve, silence, approve, reject, undo) needs `admin` as well (403 otherwise, counted
  `ui.refused_scope`); signing out needs no scope;
- a session cookie: random 256-bit id, `HttpOnly`, `SameSite=Strict`, `Secure` when TLS is on,
  `Path=/ui`, expiring after `ttl_s` (sessions live in memory: a restart signs everyone out);
- every state-changing request (POST) carries the session's CSRF token in a form field, compared
  in constant time; a request whose `Origin` names another host is refused as well;
- failed sign-ins are rate limited (a token bucket for all clients: the handler does not see the
  client address) and counted (`ui.login_failed`, `ui.login_throttled`).
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from agent.http.auth import SCOPES, Token, parse_tokens
from core.http import HttpError, Request
from agent.http.server import RateLimiter

COOKIE = "warden_ui"


@dataclass
class Session:
    id: str
    csrf: str
    principal: str
    expires: float
    scopes: frozenset[str] = frozenset(SCOPES)


@dataclass
class Form:
    """A url-encoded form body: one value per field (the first)."""
    fields: dict[str, str]

    @classmethod
    def parse(cls, req: Request) -> "Form":
        try:
            raw = parse_qs(req.body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "malformed form body") from None
        return cls({k: v[0] for k, v in raw.items()})

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default).strip()


class Auth:
    def __init__(self, *, token: str | None = None, tokens: list[Token] | None = None, mtls: bool, tls: bool,
                 ttl_s: float = 12 * 3600, max_sessions: int = 10_000, counters=None, clock=time.time) -> None:
        #: the server's tokens (`HttpServer.tokens`), or only `token` with every scope
        self.tokens = list(tokens) if tokens is not None else parse_tokens(token, None)
        self.mtls, self.tls = mtls, tls
        self.ttl_s, self.max_sessions = ttl_s, max_sessions
        self.clock = clock
        self.counters = counters
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._failures = RateLimiter(rate=1.0, burst=10)   # failed sign-ins: 10, then 1 per second

    # sign-in ---------------------------------------------------------------------------------------
    @property
    def methods(self) -> str:
        """What the sign-in page asks for: token, certificate, or none (nothing configured: refused)."""
        if self.mtls:
            return "certificate"
        return "token" if self.tokens else "none"

    def sign_in(self, form: Form) -> Session:
        if self.methods == "none":
            raise HttpError(403, "the web page needs http.token (WARDEN_HTTP_TOKEN) or client certificates")
        if self.methods == "token":
            found = self._match(form.get("token").encode("utf-8", "replace"))
            if found is None:
                self._count("ui.login_failed")
                allowed, _ = self._failures.allow("all")
                if not allowed:
                    self._count("ui.login_throttled")
                    raise HttpError(429, "too many failed sign-ins; wait a few seconds")
                raise HttpError(401, "wrong token")
            if "read" not in found.scopes:
                self._count("ui.refused_scope")
                raise HttpError(403, "this token lacks the 'read' scope the web page needs")
            return self._new("token" if found.name == "default" else f"token:{found.name}", found.scopes)
        return self._new("client-certificate", frozenset(SCOPES))

    def _match(self, given: bytes) -> Token | None:
        """The token typed in; every configured token is compared, in constant time."""
        found = None
        for t in self.tokens:
            if hmac.compare_digest(given, t.secret) and found is None:
                found = t
        return found

    def _new(self, principal: str, scopes: frozenset[str]) -> Session:
        now = self.clock()
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), principal, now + self.ttl_s, scopes)
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                for sid in [k for k, v in self._sessions.items() if v.expires <= now] or \
                        sorted(self._sessions, key=lambda k: self._sessions[k].expires)[: self.max_sessions // 10]:
                    self._sessions.pop(sid, None)
            self._sessions[s.id] = s
        self._count("ui.logins")
        return s

    def sign_out(self, req: Request) -> None:
        sid = cookie(req, COOKIE)
        with self._lock:
            self._sessions.pop(sid, None)

    # checks ----------------------------------------------------------------------------------------
    def session(self, req: Request) -> Session | None:
        sid = cookie(req, COOKIE)
        if not sid:
            return None
        with self._lock:
            s = self._sessions.get(sid)
            if s is not None and s.expires <= self.clock():
                del self._sessions[sid]
                s = None
        return s

    def require(self, req: Request) -> Session:
        s = self.session(req)
        if s is None:
            self._count("ui.refused_no_session")
            raise HttpError(401, "sign in first")
        return s

    def require_post(self, req: Request, scope: str | None = "admin") -> tuple[Session, Form]:
        """A state-changing request: a session holding `scope`, a same-origin request and the
        session's CSRF token."""
        s = self.require(req)
        if scope is not None and scope not in s.scopes:
            self._count("ui.refused_scope")
            raise HttpError(403, f"this session's token lacks the {scope!r} scope")
        origin = req.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != req.headers.get("host", ""):
            self._count("ui.refused_csrf")
            raise HttpError(403, "cross-origin request refused")
        form = Form.parse(req)
        if not hmac.compare_digest(form.get("csrf").encode("utf-8", "replace"), s.csrf.encode()):
            self._count("ui.refused_csrf")
            raise HttpError(403, "missing or wrong CSRF token")
        return s, form

    def set_cookie(self, s: Session) -> str:
        return (f"{COOKIE}={s.id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={int(self.ttl_s)}"
                + ("; Secure" if self.tls else ""))

    def clear_cookie(self) -> str:
        return f"{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0" + ("; Secure" if self.tls else "")

    def _count(self, name: str) -> None:
        if self.counters is not None:
            self.counters.inc(name)


def cookie(req: Request, name: str) -> str:
    for part in req.headers.get("cookie", "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return ""
