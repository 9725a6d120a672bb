"""`serve(routes, **server_options)`: a started HttpServer on a free loopback port, closed after;
every test that uses it runs under both HTTP parsers (h11 and httptools) and both event loops."""
from __future__ import annotations

import pytest

from core.counters import Counters
from agent.http.server import HttpServer


@pytest.fixture(params=[("h11", "asyncio"), ("httptools", "uvloop")], ids=["h11-asyncio", "httptools-uvloop"])
def serve(request):
    made = []
    parser, loop = request.param

    def make(routes, **kw):
        kw.setdefault("counters", Counters())
        kw.setdefault("parser", parser)
        kw.setdefault("loop", loop)
        s = HttpServer("127.0.0.1", 0, **kw)
        s.add_routes(routes)
        s.add_metrics_route()
        s.start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()
