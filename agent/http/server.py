"""A small threaded HTTP server whose routes come from components.

A handler takes a `Request` and returns a `Response`. Handlers raise `HttpError(status, reason)`
for client errors; any other exception becomes a 500 with a generic message (the reason is logged,
never the request body or headers). Request bodies are capped (`max_body_bytes`).
"""
from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

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


class HttpServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 8080, *, max_body_bytes: int = 4 << 20,
                 token: str | None = None) -> None:
        self.host, self.port = host, port
        self.max_body_bytes = max_body_bytes
        self.token = token
        self.routes: dict[tuple[str, str], Handler] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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
                except Exception as e:  # noqa: BLE001 - never crash the server on input
                    log.exception("handler failed: %s", type(e).__name__)
                    resp = Response.json({"error": "internal error"}, 500)
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(resp.body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer((self.host, self.port), _H)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="warden-http", daemon=True)
        self._thread.start()

    def dispatch(self, h: BaseHTTPRequestHandler) -> Response:
        parts = urlsplit(h.path)
        length = h.headers.get("Content-Length")
        try:
            n = int(length) if length else 0
        except ValueError:
            raise HttpError(400, "invalid Content-Length") from None
        if n < 0:
            raise HttpError(400, "invalid Content-Length")
        if n > self.max_body_bytes:
            h.close_connection = True
            raise HttpError(413, f"request body over {self.max_body_bytes} bytes")
        body = h.rfile.read(n) if n else b""
        handler = self.routes.get((h.command, parts.path))
        if handler is None:
            if any(p == parts.path for _, p in self.routes):
                raise HttpError(405, "method not allowed")
            raise HttpError(404, "not found")
        if self.token is not None and parts.path not in ("/healthz",):
            auth = h.headers.get("Authorization", "")
            given = auth[7:] if auth.startswith("Bearer ") else ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                raise HttpError(401, "missing or invalid bearer token")
        req = Request(h.command, parts.path, parse_qs(parts.query),
                      {k.lower(): v for k, v in h.headers.items()}, body)
        return handler(req)

    def close(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
