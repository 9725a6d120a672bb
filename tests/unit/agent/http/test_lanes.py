"""Where handlers run: clients take the worker pool in turn (a client with a long queue delays
another by one request, not by its queue), handlers declared never to wait run on the event loop
for small identity-encoded bodies and on a worker otherwise, and every other handler on a worker."""
from __future__ import annotations

import asyncio
import gzip
import threading

import requests

from agent.http.lanes import FairLanes
from core.http import Request, Response, inline

TOKEN = "lanes-token-0123456789"


def test_a_client_with_a_long_queue_delays_another_by_one_request():
    lanes = FairLanes(workers=1)
    release = threading.Event()
    order: list[str] = []

    def job(name: str) -> str:
        if name == "a0":
            release.wait(30)            # the one worker is busy while both clients queue
        order.append(name)
        return name

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(lanes.run("a", job, "a0"))
        await asyncio.sleep(0)
        rest = [asyncio.ensure_future(lanes.run("a", job, f"a{i}")) for i in range(1, 6)]
        other = asyncio.ensure_future(lanes.run("b", job, "b0"))
        await asyncio.sleep(0)
        while lanes.waiting() < 6:
            await asyncio.sleep(0.01)
        release.set()
        return await asyncio.gather(first, *rest, other)

    try:
        answers = asyncio.run(scenario())
    finally:
        lanes.close()
    assert answers == ["a0", "a1", "a2", "a3", "a4", "a5", "b0"]       # each caller gets its own answer
    assert order.index("b0") <= 2, order                                  # first-come-first-served: 6


def test_an_exception_reaches_the_waiting_request():
    lanes = FairLanes(workers=2)

    def boom() -> None:
        raise ValueError("from the handler")

    async def scenario() -> str:
        try:
            await lanes.run("a", boom)
        except ValueError as e:
            return str(e)
        return "no exception"

    try:
        assert asyncio.run(scenario()) == "from the handler"
    finally:
        lanes.close()


def test_inline_handlers_run_on_the_loop_for_small_plain_bodies_only(serve):
    seen: list[str] = []
    allowed = {"now": True}

    def where(req: Request) -> Response:
        """Name the thread that ran the handler."""
        seen.append(threading.current_thread().name)
        return Response.json({"n": len(req.body)})

    s = serve({("POST", "/v1/cheap"): inline(where, lambda: allowed["now"]), ("POST", "/v1/other"): where},
              token=TOKEN, inline_max_bytes=100)
    host, port = s.address
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def post(path, body, **headers):
        r = requests.post(f"http://{host}:{port}{path}", data=body, headers={**auth, **headers}, timeout=30)
        assert r.status_code == 200 and r.json()["n"] == (len(body) if not headers else len(gzip.decompress(body)))
        return seen[-1]

    assert post("/v1/cheap", b"x" * 100) == "warden-http"                 # the event loop's thread
    assert post("/v1/cheap", b"x" * 101).startswith("warden-http-handler")
    assert post("/v1/cheap", gzip.compress(b"x" * 10), **{"Content-Encoding": "gzip"}).startswith("warden-http-handler")
    assert post("/v1/other", b"x").startswith("warden-http-handler")
    allowed["now"] = False                                                 # e.g. the bus is Kafka
    assert post("/v1/cheap", b"x").startswith("warden-http-handler")


def test_an_ingest_of_many_records_moves_from_the_loop_to_a_worker_and_loses_nothing(serve):
    import orjson

    from collectors.base import ListEmitter
    from core import registry
    c = registry.create("collector", "http_ingest/lanes", {})
    em = ListEmitter()
    c.bind(em)
    s = serve(c.routes(), token=TOKEN)
    host, port = s.address
    rec = {"v": 1, "type": "event", "id": "r", "time": 1_800_000_000.0, "kind": "metric", "source": "t",
           "entity": "e", "name": "n", "value": 1.0}

    def ingest(body: bytes) -> dict:
        r = requests.post(f"http://{host}:{port}/v1/ingest?format=event", data=body, timeout=30,
                          headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        assert r.status_code == 200
        return r.json()

    assert ingest(orjson.dumps([rec]))["accepted"] == 1
    assert s.counters.get("http.inline_deferred") == 0                     # one record: on the loop
    assert ingest(orjson.dumps([rec] * 10 + [1]))["dead_lettered"] == 1     # more than the loop takes
    assert s.counters.get("http.inline_deferred") == 1
    assert ingest(gzip.compress(orjson.dumps([rec])))["accepted"] == 1      # gzip without Content-Encoding
    assert s.counters.get("http.inline_deferred") == 2
    assert len(em.events) == 12 and len(em.dead) == 1


def test_workers_run_below_the_event_loop_thread_by_nice():
    from core.threads import MAX_NICE, thread_nice

    async def on_a_worker(lanes: FairLanes) -> int:
        return await lanes.run("c", thread_nice)
    for by in (0, 5):
        lanes = FairLanes(workers=1, nice=by)
        try:
            assert asyncio.run(on_a_worker(lanes)) == min(MAX_NICE, thread_nice() + by)
        finally:
            lanes.close()
