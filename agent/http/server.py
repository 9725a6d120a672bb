"""warden's HTTP server: uvicorn (httptools + uvloop, or h11 + asyncio) under warden's routing and auth, in a thread.

Why uvicorn: it is the maintained reference ASGI server — an asyncio event loop
with h11's strict HTTP/1.1 parser (chunked bodies, HEAD, pipelining, bounded request heads),
keep-alive/idle timeouts and TLS, so a slow or half-sent request costs a coroutine and a socket
instead of a thread (the `http.server` it replaces pinned one thread per slow client, without
timeouts). Handlers that may block run on a fair pool of worker threads (agent.http.lanes:
clients in turn); handlers declared never to wait run on the event loop for small bodies
(core.http.inline). Routing, auth and the handler contract stay warden's (agent.http.routing, agent.http.auth,
core.http), so every component's routes work unchanged.

- authentication: bearer tokens with scopes (agent.http.auth) and/or mTLS (`tls_cert`, `tls_key`,
  `client_ca`); the server refuses to start unauthenticated except on loopback with
  `allow_unauthenticated`; `/healthz` and `/readyz` stay open;
- rate limit per client (429 + Retry-After, answered `tarpit_s` late: agent.http.tarpit; a request
  answered 4xx costs `rate_limit_error_cost` tokens; all clients' 4xx draw on `error_budget_rps`,
  and while that is spent a client that erred within `error_memory_s` is refused: agent.http.error_budget), at most `max_inflight_per_client` requests of
  one client in the handlers at once (429 + Retry-After beyond; agent.http.fairness); body cap
  checked while reading (413), gzip request bodies decoded in steps with caps on the decoded size
  and on the compression ratio (`max_gzip_ratio`: 413), header/body/idle
  deadlines (`head_timeout_s`, `body_timeout_s`, `idle_timeout_s`), request heads over
  `max_header_bytes` refused (431, counted);
- `background_nice` (0: off): handler threads (and the pipeline's stage threads, agent.pipeline)
  run that many nice levels below the event loop's thread (Linux). Measured under attack (README,
  "Robustness"), 5 did not shorten the tail and raised the median: a niced thread holding the
  interpreter lock waits behind other processes while the loop waits for the lock;
- the HTTP parser (`parser`: h11 in Python, or httptools, llhttp in C) and the event loop (`loop`:
  asyncio or uvloop); `auto` takes the C one when its wheel is installed (README, "Robustness");
- `/metrics` (Prometheus, prometheus_client; rendered at most once per `metrics_max_age_s`, so a
  client polling it in a loop costs one render a second: agent.http.exposition_cache), `/openapi.json` (every route), `/healthz` (the
  process serves), `/readyz` (readiness checks registered by the pipeline: 503 when one fails);
- nothing secret is logged: no headers, no bodies, no query strings; a handler's unexpected
  exception is a logged 500 (type and place) that never echoes the input.
"""
from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
import ssl
import sys
import threading
from typing import Callable

import uvicorn

from agent.http.app import Limits, Surface, WardenApp
from agent.http.auth import Authenticator, check_exposure, parse_tokens
from agent.http.error_budget import ErrorBudget
from agent.http.exposition_cache import ExpositionCache
from agent.http.fairness import AddressConnections, InflightLimiter
from agent.http.lanes import FairLanes
from agent.http.ratelimit import RateLimiter
from agent.http.routing import RouteTable, match_template
from agent.http.tarpit import Tarpit
from agent.http.tls import server_ssl_context
from agent.http.transport import HeadGuard, counting_ssl_context, head_deadline_protocol
from core.http import Handler, HttpError, Request, Response, inline
from core.errors import ConfigError

__all__ = ["HttpError", "HttpServer", "Handler", "RateLimiter", "Request", "Response", "match_template"]

log = logging.getLogger("warden.http")
ReadinessCheck = Callable[[], "tuple[bool, str]"]
PARSERS, LOOPS = ("auto", "h11", "httptools"), ("auto", "asyncio", "uvloop")


def resolve(choice: str, fast: str, fallback: str) -> str:
    """`auto` is `fast` when its package is installed (a C extension: some platforms lack the
    wheel), else `fallback`; an explicit choice stays (and fails at start when not installed)."""
    if choice != "auto":
        return choice
    return fast if importlib.util.find_spec(fast) is not None else fallback


def guarded_protocol(parser: str, guard: HeadGuard) -> type:
    if resolve(parser, "httptools", "h11") == "httptools":
        from agent.http.httptools_transport import head_guarded_httptools
        return head_guarded_httptools(guard)
    return head_deadline_protocol(guard)


class HttpServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 8080, *, max_body_bytes: int = 4 << 20,
                 token: str | None = None, tls_cert: str | None = None, tls_key: str | None = None,
                 client_ca: str | None = None, rate_limit_rps: float = 0.0, rate_limit_burst: int = 0,
                 counters=None, tokens: dict | None = None, allow_unauthenticated: bool = True,
                 max_decompressed_bytes: int = 16 << 20, head_timeout_s: float = 10.0,
                 body_timeout_s: float = 30.0, idle_timeout_s: float = 5.0, max_header_bytes: int = 16 << 10,
                 max_connections: int = 1000, max_inflight_per_client: int = 16, parser: str = "auto",
                 loop: str = "auto", handler_threads: int = 8, inline_max_bytes: int = 4096,
                 switch_interval_ms: float = 0.0, max_connections_per_address: int = 256,
                 tarpit_s: float = 1.0, rate_limit_error_cost: float = 5.0,
                 trusted_proxies: list[str] | None = None, background_nice: int = 0,
                 max_gzip_ratio: float = 100.0, metrics_max_age_s: float = 1.0,
                 error_budget_rps: float = 100.0, error_memory_s: float = 10.0) -> None:
        if parser not in PARSERS or loop not in LOOPS:
            raise ValueError(f"parser must be one of {PARSERS} and loop one of {LOOPS}")
        self.parser, self.loop = parser, loop
        self.host, self.port = host, port
        self.max_body_bytes = max_body_bytes
        self.token = token
        self.tls_cert, self.tls_key, self.client_ca = tls_cert, tls_key, client_ca
        self.tokens = parse_tokens(token, tokens)
        self.allow_unauthenticated = allow_unauthenticated
        self.limiter = RateLimiter(rate_limit_rps, rate_limit_burst)
        if max_gzip_ratio < 0:
            raise ValueError("max_gzip_ratio must be >= 0 (0: off)")
        self.limits = Limits(max_body_bytes, max_decompressed_bytes, body_timeout_s, max_header_bytes, inline_max_bytes,
                             max_gzip_ratio)
        self.handler_threads, self.switch_interval_ms = handler_threads, switch_interval_ms
        if not 0 <= background_nice <= 19:
            raise ValueError("background_nice must be within 0-19")
        #: nice levels the handler threads (and, in `warden run`, the pipeline's stage threads) run
        #: below the event loop's thread (core.threads)
        self.background_nice = background_nice
        if metrics_max_age_s < 0:
            raise ValueError("metrics_max_age_s must be >= 0")
        self.metrics_max_age_s = metrics_max_age_s
        self.error_budget = ErrorBudget(error_budget_rps, memory_s=error_memory_s)
        self.head_timeout_s, self.idle_timeout_s = head_timeout_s, idle_timeout_s
        self.max_header_bytes, self.max_connections = max_header_bytes, max_connections
        self.max_inflight_per_client = max_inflight_per_client
        self.max_connections_per_address = max_connections_per_address
        self.tarpit_s = tarpit_s
        # X-Forwarded-For is believed from these addresses only (uvicorn's default believes 127.0.0.1:
        # any local process could claim another client's address and its rate-limit buckets)
        self.trusted_proxies = list(trusted_proxies or [])
        if rate_limit_error_cost < 1:
            raise ValueError("rate_limit_error_cost must be >= 1")
        self.rate_limit_error_cost = rate_limit_error_cost
        if counters is None:
            from core.counters import COUNTERS as counters
        self.counters = counters
        self.table = RouteTable()
        self.routes: dict[tuple[str, str], Handler] = self.table.routes
        self.open_paths: set[str] = {"/healthz", "/readyz"}
        #: paths under these prefixes skip the bearer-token check: their handlers authenticate
        #: themselves (the web page's sign-in and session cookie)
        self.open_prefixes: set[str] = set()
        self.readiness: dict[str, ReadinessCheck] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._lanes: FairLanes | None = None
        self.routes[("GET", "/healthz")] = inline(self._healthz)
        self.routes[("GET", "/readyz")] = self._readyz
        self.routes[("GET", "/openapi.json")] = self._openapi

    @classmethod
    def from_config(cls, hc, counters=None) -> "HttpServer":
        """The server `http:` describes, held to the secure default (no unauthenticated serving
        unless on loopback with `allow_unauthenticated`)."""
        g = lambda k, d: getattr(hc, k, d)  # noqa: E731
        srv = cls(hc.host, hc.port, max_body_bytes=hc.max_body_bytes, token=hc.token, tls_cert=g("tls_cert", None),
                  tls_key=g("tls_key", None), client_ca=g("client_ca", None),
                  rate_limit_rps=g("rate_limit_rps", 0.0), rate_limit_burst=g("rate_limit_burst", 0),
                  counters=counters, tokens=g("tokens", None), allow_unauthenticated=g("allow_unauthenticated", False),
                  max_decompressed_bytes=g("max_decompressed_bytes", 16 << 20), head_timeout_s=g("head_timeout_s", 10.0),
                  body_timeout_s=g("body_timeout_s", 30.0), idle_timeout_s=g("idle_timeout_s", 5.0),
                  max_header_bytes=g("max_header_bytes", 16 << 10), max_connections=g("max_connections", 1000),
                  max_inflight_per_client=g("max_inflight_per_client", 16), parser=g("parser", "auto"),
                  loop=g("loop", "auto"), handler_threads=g("handler_threads", 8),
                  inline_max_bytes=g("inline_max_bytes", 4096), switch_interval_ms=g("switch_interval_ms", 0.0),
                  max_connections_per_address=g("max_connections_per_address", 256), tarpit_s=g("tarpit_s", 1.0),
                  rate_limit_error_cost=g("rate_limit_error_cost", 5.0),
                  trusted_proxies=g("trusted_proxies", None), background_nice=g("background_nice", 0),
                  max_gzip_ratio=g("max_gzip_ratio", 100.0), metrics_max_age_s=g("metrics_max_age_s", 1.0),
                  error_budget_rps=g("error_budget_rps", 100.0), error_memory_s=g("error_memory_s", 10.0))
        try:
            check_exposure(srv.host, srv.tokens, bool(srv.client_ca), srv.allow_unauthenticated)
        except ValueError as e:
            raise ConfigError(f"http: {e}") from None
        return srv

    # -- routes ------------------------------------------------------------------------------------
    def add_routes(self, routes: dict[tuple[str, str], Handler]) -> None:
        self.table.add(routes)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler for `method path` and its `{name}` values; HttpError 404/405 otherwise."""
        return self.table.match(method, path)

    def add_metrics_route(self, render: Callable[[], bytes] | None = None) -> None:
        """GET /metrics: Prometheus text exposition (scope `read`, like every GET), rendered at most
        once per `metrics_max_age_s` (agent.http.exposition_cache)."""
        from core.observability import metrics
        cache = ExpositionCache(render if render is not None else lambda: metrics.render(self.counters),
                                self.metrics_max_age_s)

        def prometheus_metrics(req: Request) -> Response:
            """Prometheus text exposition: warden's counters, gauges, histograms, process metrics
            (at most `http.metrics_max_age_s` old)."""
            return Response(200, cache.get(), metrics.CONTENT_TYPE)
        self.routes[("GET", "/metrics")] = prometheus_metrics

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """`check() -> (ok, detail)`, asked by every GET /readyz."""
        self.readiness[name] = check

    def _healthz(self, req: Request) -> Response:
        """Liveness: the process serves HTTP."""
        return Response.json({"status": "ok"})

    def _readyz(self, req: Request) -> Response:
        """Readiness: every registered check (stages alive, bus and store reachable) passes."""
        results = {}
        for name, check in self.readiness.items():
            try:
                ok, detail = check()
            except Exception as e:  # noqa: BLE001 - a failing check is a "not ready", not a 500
                ok, detail = False, f"check failed: {type(e).__name__}"
            results[name] = {"ok": bool(ok), "detail": detail}
        ready = all(r["ok"] for r in results.values())
        return Response.json({"status": "ready" if ready else "not ready", "checks": results}, 200 if ready else 503)

    def _openapi(self, req: Request) -> Response:
        """The OpenAPI description of every route."""
        from agent.http.openapi import describe
        return Response.json(describe(self.routes, self.open_paths, self.open_prefixes))

    # -- TLS ---------------------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext | None:
        """None without `tls_cert`; unusable files are a ConfigError naming the setting and the path."""
        if not self.tls_cert:
            return None
        return server_ssl_context(self.tls_cert, self.tls_key or "", self.client_ca)

    def _tls_rejected(self, why: str) -> None:
        self.counters.inc("http.tls_rejected")
        log.info("TLS handshake failed: %s", why)

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        assert self._sock is not None
        return self._sock.getsockname()[:2]

    def bind(self) -> None:
        """Take the listening socket now (start() serves on it): an address that does not resolve,
        a port in use or not allowed is a ConfigError naming http.host / http.port."""
        if self._sock is None:
            self._sock = self._bind()

    def _bind(self) -> socket.socket:
        sock = None
        try:
            family, kind, proto, _, addr = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(2048)
        except OSError as e:        # incl. socket.gaierror: a name that does not resolve
            if sock is not None:
                sock.close()
            raise ConfigError(f"http.host / http.port: cannot listen on {self.host!r} port {self.port}: "
                              f"{e.strerror or e}") from None
        sock.setblocking(False)
        return sock

    def start(self) -> None:
        if self._server is not None:
            return
        check_exposure(self.host, self.tokens, bool(self.client_ca), self.allow_unauthenticated)
        if self.switch_interval_ms > 0:
            # how long a thread running Python keeps the interpreter lock while another (the event
            # loop) waits for it: the whole process's setting (Python's default 5 ms)
            sys.setswitchinterval(self.switch_interval_ms / 1000)
        self._lanes = FairLanes(self.handler_threads, nice=self.background_nice)
        app = WardenApp(Surface(self.table, Authenticator(self.tokens), self.limiter, self.limits, self.counters,
                                self.open_paths, self.open_prefixes, InflightLimiter(self.max_inflight_per_client),
                                self._lanes, Tarpit(self.tarpit_s, on_held=lambda: self.counters.inc("http.throttled")),
                                self.rate_limit_error_cost, self.error_budget))
        ctx = self.ssl_context()
        guard = HeadGuard(self.head_timeout_s, self.max_header_bytes, lambda: self.counters.inc("http.head_timeouts"),
                          lambda: self.counters.inc("http.head_too_large"),
                          AddressConnections(self.max_connections_per_address,
                                             lambda: self.counters.inc("http.address_connections_refused")))
        protocol = guarded_protocol(self.parser, guard)
        config = uvicorn.Config(
            app, http=protocol, loop="asyncio", lifespan="off", ws="none", interface="asgi3",
            timeout_keep_alive=self.idle_timeout_s, timeout_graceful_shutdown=2,
            h11_max_incomplete_event_size=self.max_header_bytes, limit_concurrency=self.max_connections,
            log_config=None, access_log=False, server_header=False,
            proxy_headers=bool(self.trusted_proxies), forwarded_allow_ips=self.trusted_proxies or None,
            ssl_context_factory=(lambda _c, _d: counting_ssl_context(ctx, self._tls_rejected)) if ctx else None)
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)   # no per-request warnings of bad input
        self.bind()
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="warden-http", daemon=True)
        self._thread.start()
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            self._thread.join(0.01)
        if not self._server.started:
            self.close()
            raise RuntimeError("the HTTP server did not start")

    def _serve(self) -> None:
        assert self._server is not None and self._sock is not None
        if resolve(self.loop, "uvloop", "asyncio") == "uvloop":
            import uvloop
            factory = uvloop.new_event_loop
        else:
            factory = asyncio.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self._server.serve(sockets=[self._sock]))

    def close(self) -> None:
        if self._server is None:
            if self._sock is not None:      # bound (warden run's preflight), never served
                self._sock.close()
                self._sock = None
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._sock is not None:
            self._sock.close()
        if self._lanes is not None:
            self._lanes.close()
        self._server, self._thread, self._lanes = None, None, None
