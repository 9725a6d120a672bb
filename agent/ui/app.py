"""The web page's routes (`{(method, path): handler}`, agent/http/server.py's contract) and what
every handler shares: the store, the config, sign-in and the page options."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from core.http import HttpError, NeedsWorker, Request, Response, inline
from agent.ui import render
from agent.ui.auth import Auth, Form, Session
from agent.ui.evidence import REDACT_MODES

PREFIX = "/ui"


@dataclass
class UiOptions:
    redaction: str = "secrets"      # prompt excerpts: none | secrets | full
    page_size: int = 50
    refresh_s: float = 5.0          # live updates: how often the open page asks for new rows

    def __post_init__(self) -> None:
        if self.redaction not in REDACT_MODES:
            raise ValueError(f"ui redaction must be one of {', '.join(REDACT_MODES)}")


@dataclass
class UiContext:
    cfg: Any
    store: Any
    auth: Auth
    options: UiOptions
    counters: Any = None

    def page(self, template: str, session: Session, status: int = 200, **ctx: Any) -> Response:
        return render.html(template, status, csrf=session.csrf, principal=session.principal,
                           can_change="admin" in session.scopes,
                           refresh_ms=int(self.options.refresh_s * 1000), **ctx)


def page(ui: UiContext, fn: Callable[[Request, Session], Response]) -> Callable[[Request], Response]:
    """A GET handler that needs a session; refusals are pages. A request without a session is
    refused on the server's event loop (an in-memory check, core.http.inline); one with a session
    goes to a worker thread (the page reads the store)."""
    @functools.wraps(fn)
    def handler(req: Request) -> Response:
        try:
            s = ui.auth.require(req)
            if req.on_loop:
                raise NeedsWorker()
            return fn(req, s)
        except HttpError as e:
            return render.refused(e.status, e.reason)
    return inline(handler)


def action(ui: UiContext, fn: Callable[[Request, Session, Form], Response],
           scope: str | None = "admin") -> Callable[[Request], Response]:
    """A POST handler that needs a session holding `scope` (state changes: `admin`) and the CSRF
    token; refused on the event loop without a session, like `page`."""
    @functools.wraps(fn)
    def handler(req: Request) -> Response:
        try:
            if req.on_loop:
                ui.auth.require(req)
                raise NeedsWorker()
            s, form = ui.auth.require_post(req, scope)
            return fn(req, s, form)
        except HttpError as e:
            return render.refused(e.status, e.reason)
    return inline(handler)


def auth_routes(ui: UiContext) -> dict[tuple[str, str], Callable[[Request], Response]]:
    def login_page(req: Request) -> Response:
        return render.html("login.html", method=ui.auth.methods, error="")

    def login(req: Request) -> Response:
        try:
            s = ui.auth.sign_in(Form.parse(req))
        except HttpError as e:
            return render.html("login.html", e.status, method=ui.auth.methods, error=e.reason)
        return render.redirect(f"{PREFIX}/alerts", {"Set-Cookie": ui.auth.set_cookie(s)})

    def logout(req: Request, s: Session, form: Form) -> Response:
        ui.auth.sign_out(req)
        return render.redirect(f"{PREFIX}/login", {"Set-Cookie": ui.auth.clear_cookie()})

    def home(req: Request, s: Session) -> Response:
        return render.redirect(f"{PREFIX}/alerts")

    return {("GET", f"{PREFIX}/login"): login_page, ("POST", f"{PREFIX}/login"): login,
            ("POST", f"{PREFIX}/logout"): action(ui, logout, scope=None), ("GET", PREFIX): page(ui, home),
            ("GET", f"{PREFIX}/"): page(ui, home),
            ("GET", f"{PREFIX}/static/{{name}}"): lambda req: render.static_file(req.path_params["name"])}
