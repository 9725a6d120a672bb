"""warden's triage web page, served by warden itself at /ui (see agent/ui/app.py for the routes).

`install(server, cfg, store)` adds the page's routes to an `HttpServer` and puts `/ui` in its
`open_prefixes`: the page's handlers authenticate themselves (sign-in with an API token holding
`read`, and `admin` for changes, or a client certificate, session cookie, CSRF token; agent/ui/auth.py). Everything it needs ships in
this package (templates/, static/): no CDN, no third-party script.
"""
from __future__ import annotations

from agent.ui.app import PREFIX, UiContext, UiOptions
from agent.ui.site import routes
from agent.ui.auth import Auth


def install(server, cfg, store, *, options: UiOptions | None = None, counters=None) -> UiContext:
    auth = Auth(tokens=server.tokens, mtls=bool(server.client_ca), tls=bool(server.tls_cert),
                counters=counters if counters is not None else server.counters)
    ui = UiContext(cfg=cfg, store=store, auth=auth, options=options or UiOptions(), counters=counters)
    server.add_routes(routes(ui))
    server.open_prefixes.add(PREFIX)
    return ui
