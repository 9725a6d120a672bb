"""The request/response contract between warden's HTTP server and the components' handlers.

A component serves `{(method, path_template): handler}`; `handler(Request) -> Response`. Handlers
raise `HttpError(status, reason)` for client errors; anything else becomes a logged 500 whose
answer never echoes the input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import orjson


class HttpError(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers: dict[str, str] = dict(headers or {})


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
