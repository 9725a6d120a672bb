"""/metrics rendered at most once per `max_age_s`, one render at a time.

The Prometheus text of a busy server is thousands of lines (a histogram per method and route, a
counter per code) and takes milliseconds of Python to render, holding the interpreter lock that
the event loop needs meanwhile. A scraper every 15-60 s does not notice; a client polling
/metrics in a loop (or several at once) would cost the server a render per request. So a scrape
within `max_age_s` of the last render gets that render, and renders run one at a time: /metrics
costs at most one render per `max_age_s`, however many clients poll it.

Freshness: an answer was rendered at most `max_age_s` before the scrape (the age counts from the
start of its render). 0: every scrape gets a render that began after it arrived; scrapes waiting
while one renders share the next one.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class ExpositionCache:
    def __init__(self, render: Callable[[], bytes], max_age_s: float = 1.0, clock=time.monotonic) -> None:
        if max_age_s < 0:
            raise ValueError("max_age_s must be >= 0")
        self.render, self.max_age_s, self.clock = render, max_age_s, clock
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self._at = 0.0
        #: renders done so far (tests, benches)
        self.renders = 0

    def get(self) -> bytes:
        asked = self.clock()
        with self._lock:                   # one render at a time: who waited gets its result
            if self._body is not None and (asked <= self._at or self.clock() - self._at <= self.max_age_s):
                return self._body
            started = self.clock()
            self._body = self.render()
            self._at = started
            self.renders += 1
            return self._body
