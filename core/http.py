"""The request/response contract between warden's HTTP server and the components' handlers.

A component serves `{(method, path_template): handler}`; `handler(Request) -> Response`. Handlers
raise `HttpError(status, reason)` for client errors; anything else becomes a logged 500 whose
answer never echoes the input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import functools
from typing import Any, Callable

import orjson

from core import json_slices


class HttpError(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers: dict[str, str] = dict(headers or {})


class NeedsWorker(Exception):
    """Raised by an `inline` handler running on the event loop (`Request.on_loop`), before any side
    effect, when the request is more work than the loop may do (many records, a compressed body):
    the server hands the same request to a worker thread instead."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]     # lower-case names
    body: bytes
    #: values of the `{name}` segments of the matched route template (`/api/v2/silence/{id}`)
    path_params: dict[str, str] = field(default_factory=dict)
    #: True while an `inline` handler runs on the server's event loop: a request that turns out to
    #: be more work than that raises NeedsWorker before any side effect
    on_loop: bool = False

    def json(self) -> Any:
        try:
            return json_slices.loads(self.body)
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


def _always() -> bool:
    return True


def inline(handler: Handler, when: Callable[[], bool] = _always) -> Handler:
    """`handler`, declared to never wait while `when()` holds: no network, no fsync, no lock held
    long by others, and work bounded by its (small) body. The server may then run it on its event
    loop instead of a worker thread (agent.http.app); `when` is asked per request (an ingest route
    says so only while its bus is the in-process one)."""
    @functools.wraps(handler)
    def run(req: Request) -> Response:
        return handler(req)
    run.warden_inline = when  # type: ignore[attr-defined]
    return run


def runs_inline(handler: Handler) -> bool:
    """Whether `handler` was declared with `inline` and its condition holds now."""
    when = getattr(handler, "warden_inline", None)
    return when is not None and bool(when())
