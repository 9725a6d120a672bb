"""The ASGI application: authentication, rate limit, routing, body limits, gzip, then the
component's handler in a worker thread.

Order per request: route lookup (to know the scope a route needs) → bearer token
(401 with `WWW-Authenticate`) → the server-wide error budget (a client that erred recently, while
all clients' errors have spent it: agent.http.error_budget) and the client's rate limit (429 +
Retry-After, answered after the tarpit's hold: agent.http.tarpit) → scope (403) → 404/405 →
body (size cap checked while reading: 413; deadline: 408; declared size first) → the client's
share of the handlers (agent.http.fairness: 429 + Retry-After beyond `max_inflight_per_client`) →
gzip decoding (decoded-size and compression-ratio caps: 413) → handler. Nothing is read from a client that is refused.
A request answered with a client error (4xx but 429) costs its client `error_cost` tokens of the
rate limit instead of one (agent.http.ratelimit.charge) and one token of the error budget.

Where a handler runs: one that may block (bus writes to Kafka, store queries, model inference)
runs on the fair worker pool (agent.http.lanes: clients in turn), so the event loop only waits on
sockets and a slow client holds a coroutine, never a thread. One that declares it never waits
(`core.http.inline`: the server's liveness, ingest into the in-process bus) runs on the event loop
itself when its body is identity-encoded and at most `inline_max_bytes`: the hand-over to a thread
and back costs more than such a handler, and under load it waits for the interpreter lock twice.
The answer is written as two ASGI messages (start, body) without a framework response object.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qs

from agent.http import body as _body
from agent.http.auth import Authenticator, Caller, SCOPES, required_scope
from agent.http.error_budget import ErrorBudget
from agent.http.fairness import InflightLimiter
from agent.http.lanes import FairLanes
from agent.http.ratelimit import RateLimiter
from agent.http.routing import RouteTable
from agent.http.tarpit import RateLimited, Tarpit
from core.http import HttpError, NeedsWorker, Request, Response, runs_inline
from core.observability import metrics

log = logging.getLogger("warden.http")


@dataclass
class Limits:
    max_body_bytes: int = 4 << 20
    max_decompressed_bytes: int = 16 << 20
    body_timeout_s: float = 30.0
    max_header_bytes: int = 16 << 10
    #: bodies up to this size may be handled on the event loop by handlers that never wait (0: none)
    inline_max_bytes: int = 4096
    #: a gzip body decoding to more than this many times its compressed size is refused (413) once
    #: 1 MiB is decoded (agent.http.body.gunzip; 0: only max_decompressed_bytes)
    max_gzip_ratio: float = 100.0


@dataclass
class Exchange:
    """What one request left behind for after its answer: the rate-limit bucket it was counted in."""
    bucket: str | None = None


@dataclass
class Surface:
    """What the app needs from the server: routes, who may call, limits, counters."""
    routes: RouteTable
    auth: Authenticator
    limiter: RateLimiter
    limits: Limits
    counters: object
    open_paths: set[str] = field(default_factory=set)
    open_prefixes: set[str] = field(default_factory=set)
    inflight: InflightLimiter = field(default_factory=lambda: InflightLimiter(0))
    lanes: FairLanes = field(default_factory=FairLanes)
    tarpit: Tarpit = field(default_factory=Tarpit)
    #: tokens of the rate limit a request answered with a client error (4xx but 429) costs in all
    error_cost: float = 1.0
    #: all clients' client errors together (agent.http.error_budget; rate 0: off)
    errors: ErrorBudget = field(default_factory=lambda: ErrorBudget(0))


def _where(e: BaseException) -> str:
    """Type and place only: the message and a traceback's locals may quote the input."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"


def _headers(scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope["headers"]:
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        out[name] = out[name] + ", " + value if name in out else value
    return out


def _response_headers(resp: Response) -> list[tuple[bytes, bytes]]:
    """ASGI headers of `resp`: its own, then Content-Length and Content-Type unless it set them
    (text types say their charset: utf-8)."""
    out = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers.items()]
    given = {k for k, _ in out}
    if b"content-length" not in given and resp.status >= 200 and resp.status not in (204, 304):
        out.append((b"content-length", str(len(resp.body)).encode()))
    ct = resp.content_type
    if ct and b"content-type" not in given:
        if ct.startswith("text/") and "charset=" not in ct.lower():
            ct += "; charset=utf-8"
        out.append((b"content-type", ct.encode("latin-1")))
    return out


class WardenApp:
    def __init__(self, surface: Surface) -> None:
        self.s = surface

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":          # lifespan is off, websockets are not served
            return
        t0 = time.perf_counter()
        method = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        route = "unmatched"
        ex = Exchange()
        try:
            resp, route = await self._respond(scope, receive, method, path, ex)
        except _body.ClientGone:
            self.s.counters.inc("http.client_gone")
            return
        except RateLimited as e:
            self.s.counters.inc("http.rate_limited")
            await self.s.tarpit.hold(e.key)       # a client over its limit waits for its refusal
            resp = self._error(e)
        except HttpError as e:
            resp = self._error(e)
        await send({"type": "http.response.start", "status": resp.status, "headers": _response_headers(resp)})
        await send({"type": "http.response.body", "body": resp.body})
        if ex.bucket is not None and 400 <= resp.status < 500 and resp.status != 429:
            self.s.limiter.charge(ex.bucket, self.s.error_cost - 1)     # failing requests cost more
            self.s.errors.spend(ex.bucket)
        metrics.observe_http(method, route, resp.status, time.perf_counter() - t0)

    def _error(self, e: HttpError) -> Response:
        self.s.counters.inc(f"http.status_{e.status}")
        resp = Response.json({"error": e.reason}, e.status)
        resp.headers.update(e.headers)
        return resp

    def _limit(self, key: str, ex: Exchange) -> None:
        ok, wait = self.s.errors.admits(key)
        if not ok:                                  # the server-wide error budget is spent and key errs
            self.s.counters.inc("http.error_budget_refused")
            raise RateLimited(key, wait)
        ok, wait = self.s.limiter.allow(key)
        if not ok:
            raise RateLimited(key, wait)
        ex.bucket = key

    def _caller(self, scope, headers: dict[str, str], path: str, needed: str, ex: Exchange) -> Caller:
        ip = (scope.get("client") or ("?", 0))[0]
        if path in self.s.open_paths or any(path.startswith(p) for p in self.s.open_prefixes):
            self._limit(ip + "|open", ex)           # probes and the web page: one bucket per address
            return Caller(ip, frozenset(SCOPES))
        caller = self.s.auth.identify(ip, headers.get("authorization", ""))
        if caller is None:
            self._limit(ip + "|unauthenticated", ex)    # guessing tokens is rate limited too
            e = self.s.auth.unauthorized(invalid="authorization" in headers)
            e.headers["Connection"] = "close"
            raise e
        self._limit(caller.key, ex)
        if needed not in caller.scopes:
            raise self.s.auth.forbidden(needed)
        return caller

    async def _respond(self, scope, receive, method: str, path: str, ex: Exchange) -> tuple[Response, str]:
        self.s.counters.inc("http.requests")
        head = len(path) + len(scope.get("query_string", b"")) + sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if head > self.s.limits.max_header_bytes:     # h11 caps an incomplete head; a whole one lands here
            raise HttpError(431, f"request head over {self.s.limits.max_header_bytes} bytes", {"Connection": "close"})
        headers = _headers(scope)
        found = self.s.routes.lookup(method, path)
        route = found.template or "unmatched"
        caller = self._caller(scope, headers, path, required_scope(method, found.template or path, found.handler), ex)
        if found.handler is None:
            raise HttpError(found.status, "method not allowed" if found.status == 405 else "not found",
                            {"Allow": ", ".join(found.allowed)} if found.allowed else None)
        lim = self.s.limits
        _body.declared_length(headers, lim.max_body_bytes)
        raw = await _body.read_body(receive, lim.max_body_bytes, lim.body_timeout_s)
        req = Request(method, path, parse_qs(scope.get("query_string", b"").decode("latin-1")), headers, raw,
                      found.params)
        self.s.inflight.acquire(caller.key)
        try:
            if len(raw) <= lim.inline_max_bytes and "content-encoding" not in headers and runs_inline(found.handler):
                req.on_loop = True
                try:
                    return self._call(found.handler, req), route
                except NeedsWorker:
                    req.on_loop = False
                    self.s.counters.inc("http.inline_deferred")
            return await self.s.lanes.run(caller.key, self._call, found.handler, req), route
        finally:
            self.s.inflight.release(caller.key)

    def _call(self, handler: Callable[[Request], Response], req: Request) -> Response:
        try:
            enc = req.headers.get("content-encoding", "").strip().lower()
            if enc in _body.GZIP_ENCODINGS and req.body:
                req.body = _body.gunzip(req.body, self.s.limits.max_decompressed_bytes, self.s.limits.max_gzip_ratio)
                del req.headers["content-encoding"]
            elif enc == "identity":
                del req.headers["content-encoding"]
            resp = handler(req)
            if not isinstance(resp, Response):
                raise TypeError(f"handler returned {type(resp).__name__}, not a Response")
            return resp
        except NeedsWorker:
            if req.on_loop:
                raise               # the request goes to a worker thread
            log.error("handler asked for a worker thread while on one")
            self.s.counters.inc("http.status_500")
            return Response.json({"error": "internal error"}, 500)
        except HttpError as e:
            return self._error(e)
        except Exception as e:  # noqa: BLE001 - never crash the server on input
            log.error("handler failed: %s at %s", type(e).__name__, _where(e))
            self.s.counters.inc("http.status_500")
            return Response.json({"error": "internal error"}, 500)
