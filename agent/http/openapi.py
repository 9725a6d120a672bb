"""An OpenAPI 3.1 description of every route the server holds (served at `/openapi.json`).

Components' routes carry no schema, so each operation is described by its method, path
template (`{name}` segments as path parameters), the scope its token needs, the first line of its
handler's docstring, and the answers every route may give (400, 401, 403, 413, 429).
"""
from __future__ import annotations

import re
from typing import Any

from agent.http.auth import required_scope
from core.http import Handler

_PARAM = re.compile(r"\{([^}/]+)\}")
COMMON_ANSWERS = {
    "400": "bad input (invalid JSON, wrong types, too deep, broken gzip)",
    "401": "missing or invalid bearer token (WWW-Authenticate: Bearer)",
    "403": "the token lacks the route's scope",
    "408": "request body not received in time",
    "413": "body (or decoded gzip body) over the limit",
    "429": "rate limit exceeded (Retry-After)",
}


def _summary(handler: Handler) -> str:
    doc = (getattr(handler, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else getattr(handler, "__name__", "handler")


def describe(routes: dict[tuple[str, str], Handler], open_paths: set[str], open_prefixes: set[str],
             version: str = "1") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, template), handler in sorted(routes.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        is_open = template in open_paths or any(template.startswith(p) for p in open_prefixes)
        op: dict[str, Any] = {
            "summary": _summary(handler),
            "operationId": f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', template)}",
            "responses": {"200": {"description": "ok"},
                          **{k: {"description": v} for k, v in COMMON_ANSWERS.items()
                             if not (is_open and k in ("401", "403"))}},
        }
        names = _PARAM.findall(template)
        if names:
            op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                                for n in names]
        if method in ("POST", "PUT", "PATCH"):
            op["requestBody"] = {"required": False, "content": {"application/json": {}},
                                 "description": "Content-Encoding: gzip is accepted"}
        if is_open:
            op["security"] = []
        else:
            op["x-warden-scope"] = required_scope(method, template, handler)
        paths.setdefault(template, {})[method.lower()] = op
    return {"openapi": "3.1.0",
            "info": {"title": "warden", "version": version,
                     "description": "warden's HTTP surface: ingest, guard, metrics, health, and the components' APIs"},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
            "paths": paths}
