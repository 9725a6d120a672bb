"""Every route of the web page: sign-in and the pages (alerts, one alert, operations)."""
from __future__ import annotations

from typing import Callable

from agent.ui import pages_alert, pages_alerts, pages_ops
from agent.ui.app import UiContext, auth_routes
from core.http import Request, Response


def routes(ui: UiContext) -> dict[tuple[str, str], Callable[[Request], Response]]:
    out = auth_routes(ui)
    for mod in (pages_alerts, pages_alert, pages_ops):
        out.update(mod.routes(ui))
    return out
