"""Who may call what: bearer tokens with scopes, client certificates, the secure default.

Scopes:
- `ingest`: POST of telemetry, audit and inference records (`/v1/metrics`, `/v1/logs`,
  `/v1/ingest`, `/v1/inference`, `/v1/audit/k8s`, ...);
- `guard`: `/v1/guard` (the inline prompt check of an LLM gateway);
- `read`: GET/HEAD of anything (`/metrics`, `/openapi.json`, alert and silence listings);
- `admin`: every other write (silences, acknowledgements, approvals).
The single `http.token` (`WARDEN_HTTP_TOKEN`) holds every scope; `http.tokens` adds named tokens
with the scopes they hold. A route may name its scope itself (`handler.warden_scope = "admin"`).

Secure default (`check_exposure`): with neither a token nor client certificates the server serves
only on a loopback address and only with `http.allow_unauthenticated: true`, logged loudly;
on any other address it refuses to start.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from core.http import Handler, HttpError

log = logging.getLogger("warden.http")

SCOPES = ("ingest", "guard", "read", "admin")
#: paths whose POST is record ingestion (prefix match)
INGEST_PREFIXES = ("/v1/",)
GUARD_PREFIXES = ("/v1/guard",)


@dataclass(frozen=True)
class Token:
    name: str
    secret: bytes
    scopes: frozenset[str]


def _secret_of(name: str, spec: dict) -> str:
    given = [k for k in ("token", "token_env", "token_file") if spec.get(k)]
    if len(given) != 1:
        raise ValueError(f"http.tokens.{name}: give exactly one of token, token_env, token_file")
    if spec.get("token_env"):
        value = os.environ.get(spec["token_env"], "")
        if not value:
            raise ValueError(f"http.tokens.{name}: environment variable {spec['token_env']} is empty or unset")
        return value
    if spec.get("token_file"):
        try:
            value = Path(spec["token_file"]).read_text().strip()
        except OSError as e:
            raise ValueError(f"http.tokens.{name}: cannot read token_file: {e.strerror}") from None
        if not value:
            raise ValueError(f"http.tokens.{name}: token_file is empty")
        return value
    return str(spec["token"])


#: the shortest API token accepted, by the config, HttpServer(token=...) and the web page alike
MIN_TOKEN_CHARS = 16


def parse_tokens(single: str | None, named: dict | None) -> list[Token]:
    """The configured tokens: `single` with every scope, plus `named` ({name: {token|token_env|
    token_file, scopes: [...]}}). ValueError naming the entry on anything wrong, a token shorter
    than MIN_TOKEN_CHARS included (the one place that length is checked)."""
    out: list[Token] = []
    if single is not None and len(single) < MIN_TOKEN_CHARS:
        # the token with every scope is held to the same length as a scoped one (a placeholder such
        # as deploy/k8s's CHANGE-ME must not become the key to the whole API)
        raise ValueError(f"token (or WARDEN_HTTP_TOKEN) must be at least {MIN_TOKEN_CHARS} characters, "
                         f"got {len(single)}")
    if single:
        out.append(Token("default", single.encode(), frozenset(SCOPES)))
    for name, spec in (named or {}).items():
        if not isinstance(spec, dict):
            raise ValueError(f"http.tokens.{name}: expected a mapping with token/token_env/token_file and scopes")
        unknown = set(spec) - {"token", "token_env", "token_file", "scopes"}
        if unknown:
            raise ValueError(f"http.tokens.{name}: unknown keys {sorted(unknown)}")
        scopes = spec.get("scopes") or []
        if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
            raise ValueError(f"http.tokens.{name}.scopes: a non-empty list of {', '.join(SCOPES)}")
        secret = _secret_of(name, spec)
        if len(secret) < MIN_TOKEN_CHARS:
            raise ValueError(f"http.tokens.{name}: a token must be at least {MIN_TOKEN_CHARS} characters")
        out.append(Token(str(name), secret.encode(), frozenset(scopes)))
    if len({t.secret for t in out}) != len(out):
        raise ValueError("http.tokens: two tokens have the same value")
    return out


def required_scope(method: str, path: str, handler: Handler | None) -> str:
    declared = getattr(handler, "warden_scope", None)
    if declared in SCOPES:
        return declared
    if method in ("GET", "HEAD"):
        return "read"
    if path.startswith(GUARD_PREFIXES):
        return "guard"
    if method == "POST" and path.startswith(INGEST_PREFIXES):
        return "ingest"
    return "admin"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, tokens: list[Token], client_certs: bool, allow_unauthenticated: bool) -> None:
    """Refuse an unauthenticated server anywhere but loopback, and there unless allowed."""
    if tokens or client_certs:
        return
    if not is_loopback(host):
        raise ValueError(f"refusing to serve HTTP on {host} without authentication: set WARDEN_HTTP_TOKEN "
                         "(or http.tokens) or client certificates (http.client_ca); "
                         "http.allow_unauthenticated is honoured on loopback addresses only")
    if not allow_unauthenticated:
        raise ValueError(f"refusing to serve HTTP on {host} without authentication: set WARDEN_HTTP_TOKEN "
                         "(or http.tokens), or http.allow_unauthenticated: true for a loopback-only setup")
    log.warning("HTTP SERVER WITHOUT AUTHENTICATION on %s (http.allow_unauthenticated): any local process "
                "can ingest, query the guard, read metrics and change silences", host)


@dataclass(frozen=True)
class Caller:
    key: str                    # rate-limit key: client address, plus a hash of the token
    scopes: frozenset[str]


class Authenticator:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens

    def identify(self, ip: str, authorization: str) -> Caller | None:
        """The caller behind an Authorization header; None when a token is required and the header
        holds none of them (every token is compared, in constant time)."""
        if not self.tokens:
            return Caller(ip, frozenset(SCOPES))
        given = (authorization[7:] if authorization[:7].lower() == "bearer " else "").encode("utf-8", "replace")
        found = None
        for t in self.tokens:
            if hmac.compare_digest(given, t.secret) and found is None:
                found = t
        if found is None:
            return None
        return Caller(ip + "|" + hashlib.sha256(given).hexdigest()[:16], found.scopes)

    @staticmethod
    def unauthorized(invalid: bool) -> HttpError:
        challenge = 'Bearer realm="warden"' + (', error="invalid_token"' if invalid else "")
        return HttpError(401, "missing or invalid bearer token", {"WWW-Authenticate": challenge})

    @staticmethod
    def forbidden(scope: str) -> HttpError:
        return HttpError(403, f"this token lacks the {scope!r} scope",
                         {"WWW-Authenticate": f'Bearer realm="warden", error="insufficient_scope", scope="{scope}"'})
