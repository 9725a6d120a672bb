"""`serve(routes, **server_options)`: a started HttpServer on a free loopback port, closed after."""
from __future__ import annotations

import pytest

from core.counters import Counters
from agent.http.server import HttpServer


@pytest.fixture
def serve():
    made = []

    def make(routes, **kw):
        kw.setdefault("counters", Counters())
        s = HttpServer("127.0.0.1", 0, **kw)
        s.add_routes(routes)
        s.add_metrics_route()
        s.start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()
