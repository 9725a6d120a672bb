"""Route table: `(method, path_template) -> handler`, with `{name}` segments.

warden keeps its own matching instead of a framework router because the contract predates the
ASGI stack: a `{name}` segment matches one non-empty segment of the *raw* path and is
percent-decoded on its own (so `/api/v2/silence/a%2Fb` gives `id = "a/b"`), exact routes win over
templates, and a path known under other methods answers 405 rather than 404.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from core.http import Handler, HttpError


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
            params[t[1:-1]] = unquote(p, errors="replace")
        elif t != p:
            return None
    return params


@dataclass(frozen=True)
class Match:
    handler: Handler | None
    template: str            # the matched route template ("" when none matched)
    params: dict[str, str]
    status: int = 200        # 404 / 405 when handler is None
    allowed: tuple[str, ...] = ()


class RouteTable:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}

    def add(self, routes: dict[tuple[str, str], Handler]) -> None:
        for key, h in routes.items():
            if key in self.routes and self.routes[key] is not h:
                raise ValueError(f"HTTP route {key[0]} {key[1]} registered twice")
            self.routes[key] = h

    def lookup(self, method: str, path: str) -> Match:
        """The route for `method path` (HEAD falls back to GET); 404 when no route has the path,
        405 when routes have it under other methods. Exact routes win over templates."""
        for m in (method, "GET") if method == "HEAD" else (method,):
            handler = self.routes.get((m, path))
            if handler is not None:
                return Match(handler, path, {})
        allowed: list[str] = []
        template = ""
        for (m, tmpl), h in self.routes.items():
            params = match_template(tmpl, path)
            if params is None:
                continue
            if m == method or (method == "HEAD" and m == "GET"):
                return Match(h, tmpl, params)
            allowed.append(m)
            template = template or tmpl
        if allowed:
            if "GET" in allowed:
                allowed.append("HEAD")
            return Match(None, template, {}, 405, tuple(sorted(set(allowed))))
        return Match(None, "", {}, 404)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and its path parameters, or HttpError 404/405."""
        found = self.lookup(method, path)
        if found.handler is None:
            raise HttpError(found.status, "method not allowed" if found.status == 405 else "not found",
                            {"Allow": ", ".join(found.allowed)} if found.allowed else None)
        return found.handler, found.params
