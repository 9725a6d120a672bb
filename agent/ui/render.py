"""HTML responses of the web page: Jinja2 templates with autoescaping on for every template (every
value rendered is HTML-escaped unless a template marks it safe, and none does for data), the
security headers on every response, and the static files shipped in the package.

Why Jinja2's autoescape rather than our own escaping: it escapes every `{{ }}` by default,
including attributes, so a forgotten call cannot let an attacker's prompt or user name through;
the templates contain no `|safe` on data (the one exception is the server-drawn SVG, built from
numbers and escaped labels in chart.py).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.http import HttpError, Response

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".png": "image/png"}

# no inline script or style anywhere: scripts and styles come from /ui/static only
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def fmt_time(ts: Any) -> str:
    """`2026-01-05 02:30:00 UTC`, as the CLI writes times (agent/cli/render.py)."""
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def fmt_num(v: Any) -> str:
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return str(v)


ENV = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters["time"] = fmt_time
ENV.filters["num"] = fmt_num
ENV.globals["dict"] = dict
ENV.globals["qs"] = lambda d: urlencode({k: v for k, v in d.items() if v not in (None, "")})


def html(template: str, status: int = 200, headers: dict[str, str] | None = None, **ctx: Any) -> Response:
    body = ENV.get_template(template).render(**ctx).encode()
    return Response(status, body, "text/html; charset=utf-8", {**SECURITY_HEADERS, **(headers or {})})


def redirect(location: str, headers: dict[str, str] | None = None) -> Response:
    return Response(303, b"", "text/plain", {**SECURITY_HEADERS, "Location": location, **(headers or {})})


def refused(status: int, reason: str) -> Response:
    """A refusal as a page (401 links to the sign-in page)."""
    return html("refused.html", status, status_code=status, reason=reason)


def static_file(name: str) -> Response:
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or path.suffix not in STATIC_TYPES or not path.is_file():
        raise HttpError(404, "not found")
    return Response(200, path.read_bytes(), STATIC_TYPES[path.suffix],
                    {**SECURITY_HEADERS, "Cache-Control": "max-age=3600"})
