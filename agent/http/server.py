"""A small threaded HTTP server whose routes come from components.

A handler takes a `Request` and returns a `Response`. Handlers raise `HttpError(status, reason)`
for client errors; any other exception becomes a 500 with a generic message (the reason is logged,
never the request body or headers). Request bodies are capped (`max_body_bytes`).

warden's own surface:
- authentication: a bearer token (compared in constant time) and/or TLS with client certificates
  required (mTLS: `tls_cert`, `tls_key`, `client_ca`); `/healthz` stays open;
- authentication and rate limiting happen before the body is read;
- rate limit: a token bucket per client (IP, plus a hash of the presented token), 429 + Retry-After;
- `/metrics`: Prometheus text exposition (agent.observability.metrics);
- nothing secret is logged: no headers, no bodies, no query strings.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

log = logging.getLogger("warden.http")


class HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]     # lower-case names
    body: bytes
    #: values of the `{name}` segments of the matched route template (`/api/v2/silence/{id}`)
    path_params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as e:
            raise HttpError(400, f"invalid JSON body: {e}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> "Response":
        return cls(status, orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY))


Handler = Callable[[Request], Response]


def match_template(template: str, path: str) -> dict[str, str] | None:
    """`{name}` segments of `template` matched against `path` (one non-empty segment each); None
    when they do not match. A template without `{` matches only itself."""
    if "{" not in template:
        return {} if template == path else None
    t_parts, p_parts = template.split("/"), path.split("/")
    if len(t_parts) != len(p_parts):
        return None
    params: dict[str, str] = {}
    for t, p in zip(t_parts, p_parts):
        if t.startswith("{") and t.endswith("}"):
            if not p:
                return None
            params[t[1:-1]] = unquote(p)
        elif t != p:
            return None
    return params


class RateLimiter:
    """Token buckets per client key: `rate` tokens per second, up to `burst`. rate 0 = unlimited."""

    MAX_CLIENTS = 10_000

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst = float(rate), max(1, int(burst or 1))
        self.clock = clock
        self._b: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        if self.rate <= 0:
            return True, 0.0
        now = self.clock()
        with self._lock:
            b = self._b.get(key)
            if b is None:
                if len(self._b) >= self.MAX_CLIENTS:   # forget the idlest half: bounded memory
                    for k, _ in sorted(self._b.items(), key=lambda kv: kv[1][1])[: self.MAX_CLIENTS // 2]:
                        del self._b[k]
                b = self._b[key] = [float(self.burst), now]
            tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
            b[1] = now
            if tokens >= 1.0:
                b[0] = tokens - 1.0
                return True, 0.0
            b[0] = tokens
            return False, (1.0 - tokens) / self.rate


class HttpServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 8080, *, max_body_bytes: int = 4 << 20,
                 token: str | None = None, tls_cert: str | None = None, tls_key: str | None = None,
                 client_ca: str | None = None, rate_limit_rps: float = 0.0, rate_limit_burst: int = 0,
                 counters=None) -> None:
        self.host, self.port = host, port
        self.max_body_bytes = max_body_bytes
        self.token = token
        self.tls_cert, self.tls_key, self.client_ca = tls_cert, tls_key, client_ca
        self.limiter = RateLimiter(rate_limit_rps, rate_limit_burst)
        if counters is None:
            from agent.counters import COUNTERS as counters
        self.counters = counters
        self.routes: dict[tuple[str, str], Handler] = {}
        self.open_paths: set[str] = {"/healthz"}
        #: paths under these prefixes skip the bearer-token check: their handlers authenticate
        #: themselves (the web page's sign-in and session cookie)
        self.open_prefixes: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.routes[("GET", "/healthz")] = lambda req: Response.json({"status": "ok"})

    @classmethod
    def from_config(cls, hc, counters=None) -> "HttpServer":
        return cls(hc.host, hc.port, max_body_bytes=hc.max_body_bytes, token=hc.token,
                   tls_cert=getattr(hc, "tls_cert", None), tls_key=getattr(hc, "tls_key", None),
                   client_ca=getattr(hc, "client_ca", None), rate_limit_rps=getattr(hc, "rate_limit_rps", 0.0),
                   rate_limit_burst=getattr(hc, "rate_limit_burst", 0), counters=counters)

    def add_metrics_route(self, render: Callable[[], bytes] | None = None) -> None:
        """GET /metrics: Prometheus text exposition (token-protected like every other route)."""
        from agent.observability import metrics

        def handler(req: Request) -> Response:
            body = render() if render is not None else metrics.render(self.counters)
            return Response(200, body, metrics.CONTENT_TYPE)
        self.routes[("GET", "/metrics")] = handler

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls_cert:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        if self.client_ca:
            ctx.load_verify_locations(cafile=self.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def add_routes(self, routes: dict[tuple[str, str], Handler]) -> None:
        for key, h in routes.items():
            if key in self.routes and self.routes[key] is not h:
                raise ValueError(f"HTTP route {key[0]} {key[1]} registered twice")
            self.routes[key] = h

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        return self._server.server_address[:2]

    def start(self) -> None:
        if self._server is not None:
            return
        srv = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:  # no request logging of secrets
                log.debug("http %s", self.requestline.split(" ")[0] if self.requestline else "")

            def _handle(self) -> None:
                try:
                    resp = srv.dispatch(self)
                except HttpError as e:
                    resp = Response.json({"error": e.reason}, e.status)
                    if e.status == 429:
                        resp.headers["Retry-After"] = str(max(1, int(getattr(e, "retry_after", 1) + 0.999)))
                    srv.counters.inc(f"http.status_{e.status}")
                except Exception as e:  # noqa: BLE001 - never crash the server on input
                    # type and place only: the message and a traceback's locals may quote the input
                    tb = e.__traceback__
                    while tb is not None and tb.tb_next is not None:
                        tb = tb.tb_next
                    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
                    log.error("handler failed: %s at %s", type(e).__name__, where)
                    resp = Response.json({"error": "internal error"}, 500)
                    srv.counters.inc("http.status_500")
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(resp.body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def handle(self) -> None:   # TLS handshake failures, resets: never kill the server
                try:
                    super().handle()
                except (ssl.SSLError, ConnectionError, TimeoutError) as e:
                    log.debug("connection dropped: %s", type(e).__name__)

        ctx = self.ssl_context()

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                if ctx is not None:
                    sock.settimeout(10)
                    sock = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return sock, addr

            def finish_request(self, request, client_address):
                if ctx is not None:
                    try:
                        request.do_handshake()
                    except (ssl.SSLError, OSError) as e:
                        srv.counters.inc("http.tls_rejected")
                        log.info("TLS handshake with %s failed: %s", client_address[0], type(e).__name__)
                        return
                    request.settimeout(None)
                super().finish_request(request, client_address)

            def handle_error(self, request, client_address):
                log.debug("connection error from %s", client_address[0] if client_address else "?")

        self._server = _Server((self.host, self.port), _H)
        self._thread = threading.Thread(target=self._server.serve_forever, name="warden-http", daemon=True)
        self._thread.start()

    def _limit(self, key: str, h: BaseHTTPRequestHandler) -> None:
        ok, wait = self.limiter.allow(key)
        if not ok:
            h.close_connection = True       # the body is not read
            e = HttpError(429, "rate limit exceeded")
            e.retry_after = wait  # type: ignore[attr-defined]
            raise e

    def dispatch(self, h: BaseHTTPRequestHandler) -> Response:
        parts = urlsplit(h.path)
        self.counters.inc("http.requests")
        if parts.path not in self.open_paths and not any(parts.path.startswith(p) for p in self.open_prefixes):
            ip = h.client_address[0] if h.client_address else "?"
            key = ip
            if self.token is not None:
                auth = h.headers.get("Authorization", "")
                given = auth[7:] if auth[:7].lower() == "bearer " else ""
                if not hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode()):
                    self._limit(ip + "|unauthenticated", h)   # guessing tokens is rate limited too
                    h.close_connection = True
                    raise HttpError(401, "missing or invalid bearer token")
                key = ip + "|" + hashlib.sha256(given.encode("utf-8", "replace")).hexdigest()[:16]
            self._limit(key, h)
        length = h.headers.get("Content-Length")
        try:
            n = int(length) if length else 0
        except ValueError:
            raise HttpError(400, "invalid Content-Length") from None
        if n < 0:
            h.close_connection = True
            raise HttpError(400, "invalid Content-Length")
        if n > self.max_body_bytes:
            h.close_connection = True
            raise HttpError(413, f"request body over {self.max_body_bytes} bytes")
        body = h.rfile.read(n) if n else b""
        handler, params = self.match(h.command, parts.path)
        req = Request(h.command, parts.path, parse_qs(parts.query),
                      {k.lower(): v for k, v in h.headers.items()}, body, params)
        return handler(req)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler for `method path` and the values of its `{name}` segments; 404 when no route
        has the path, 405 when routes have it under other methods. Exact routes win over templates."""
        handler = self.routes.get((method, path))
        if handler is not None:
            return handler, {}
        path_known = False
        for (m, template), h in self.routes.items():
            params = match_template(template, path)
            if params is None:
                continue
            if m == method:
                return h, params
            path_known = True
        if path_known:
            raise HttpError(405, "method not allowed")
        raise HttpError(404, "not found")

    def close(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
