"""Where handlers run: a fair pool of worker threads, taken in turn by client.

A handler that may block (a broker's acknowledgement, a store query, model inference) runs on one
of `workers` threads so the event loop keeps serving sockets. Work waits in one queue per client
(its address plus token: the rate limit's key), and a free worker takes the next request of the
next client in turn (round-robin over the clients with work waiting), so a client that queued many
requests delays another client's request by at most one request per worker and per other client
with work waiting, not by its whole queue (one client's queue is bounded by
`max_inflight_per_client`, agent.http.fairness). A small fixed pool also bounds how many threads
compete with the event loop for the interpreter lock. The workers may run `nice` levels below the
thread that serves the event loop (core.threads; off by default: a niced worker holding the
interpreter lock waits behind other processes while the loop waits for the lock).

The answer comes back to the loop with `call_soon_threadsafe`: one wake-up of the loop per
request, without a task or a cancellation scope per hand-over (what starlette's
`run_in_threadpool`, through anyio, costs).
"""
from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any, Callable

from core.threads import lower_thread_priority

Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple]


def _settle(fut: "asyncio.Future[Any]", ok: bool, value: Any) -> None:
    if fut.done():                      # the waiting request was cancelled (server shutdown)
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class FairLanes:
    """`await lanes.run(client_key, fn, *args)`: `fn(*args)` on a worker thread, clients in turn."""

    def __init__(self, workers: int = 8, name: str = "warden-http-handler", nice: int = 0) -> None:
        if workers < 1 or nice < 0:
            raise ValueError("workers must be >= 1 and nice >= 0")
        self.workers, self.name, self.nice = workers, name, nice
        self._queues: dict[str, deque[Job]] = {}
        self._turns: deque[str] = deque()          # clients with work waiting, in the order they get a turn
        self._cond = threading.Condition(threading.Lock())
        self._threads: list[threading.Thread] = []
        self._closed = False

    async def run(self, key: str, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the handler pool is closed")
            q = self._queues.get(key)
            if q is None:
                q = self._queues[key] = deque()
                self._turns.append(key)
            q.append((loop, fut, fn, args))
            if len(self._threads) < self.workers:
                self._start_worker()
            self._cond.notify()
        return await fut

    def waiting(self) -> int:
        """Requests queued for a worker (all clients)."""
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def _start_worker(self) -> None:
        t = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
        self._threads.append(t)
        t.start()

    def _next(self) -> Job | None:
        with self._cond:
            while not self._turns and not self._closed:
                self._cond.wait()
            if not self._turns:
                return None
            key = self._turns.popleft()
            q = self._queues[key]
            job = q.popleft()
            if q:
                self._turns.append(key)            # its next request waits for its next turn
            else:
                del self._queues[key]
            return job

    def _work(self) -> None:
        lower_thread_priority(self.nice)
        while True:
            job = self._next()
            if job is None:
                return
            loop, fut, fn, args = job
            try:
                ok, value = True, fn(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the waiting request as is
                ok, value = False, e
            try:
                loop.call_soon_threadsafe(_settle, fut, ok, value)
            except RuntimeError:        # the loop is closed: nobody waits for this answer
                pass

    def close(self) -> None:
        """Stop the workers once the queued work is done (no new work is taken)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
