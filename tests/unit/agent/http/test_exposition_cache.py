"""/metrics renders at most once per max age, one render at a time (agent/http/exposition_cache.py)."""
from __future__ import annotations

import threading
import time

import pytest

from agent.http.exposition_cache import ExpositionCache


class Clock:
    """A clock that moves a microsecond per reading (and jumps when a test says so)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 1e-6
        return self.t


def test_a_scrape_within_max_age_gets_the_last_render_and_a_later_one_renders_again():
    clock, n = Clock(), iter(range(100))
    cache = ExpositionCache(lambda: str(next(n)).encode(), max_age_s=1.0, clock=clock)
    assert cache.get() == b"0"
    clock.t += 0.9
    assert cache.get() == b"0" and cache.renders == 1
    clock.t += 0.2                                  # 1.1 s after the render began
    assert cache.get() == b"1" and cache.renders == 2


def test_max_age_zero_renders_every_scrape():
    n = iter(range(100))
    cache = ExpositionCache(lambda: str(next(n)).encode(), max_age_s=0.0, clock=Clock())
    assert [cache.get() for _ in range(3)] == [b"0", b"1", b"2"]


def test_scrapes_arriving_during_a_render_share_the_next_one():
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow_render() -> bytes:
        calls.append(1)
        started.set()
        release.wait(10)
        return b"text"

    cache = ExpositionCache(slow_render, max_age_s=0.0)
    got: list[bytes] = []
    first = threading.Thread(target=lambda: got.append(cache.get()))
    first.start()
    assert started.wait(10)
    others = [threading.Thread(target=lambda: got.append(cache.get())) for _ in range(4)]
    for t in others:
        t.start()
    time.sleep(0.3)                                 # all four asked and wait for the lock
    release.set()
    for t in [first, *others]:
        t.join(10)
    # the first render began before the others asked (too old for them at max age 0): one more
    # render, begun after all four asked, answers all four
    assert got == [b"text"] * 5 and len(calls) == cache.renders == 2


def test_negative_max_age_is_refused():
    with pytest.raises(ValueError):
        ExpositionCache(lambda: b"", max_age_s=-1)
