"""Garbage-collector settings of a long-running stage process.

A stage allocates several dicts per event (decoded JSON, field views, findings) that die young,
while everything it built at start — compiled Sigma rules, detector models, imported modules —
lives as long as the process. CPython's default collector (a young-generation pass every 700
net allocations, full passes scanning every long-lived object) spends a measurable share of
the hot path re-scanning the latter: `bench.pipeline.throughput` measured 10–20% of the
pipeline's CPU. `tuned_gc()` freezes what exists after start (moved out of every future scan)
and raises the young-generation threshold; on exit it restores both.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def tuned_gc(threshold: int) -> Iterator[None]:
    """Run the body with objects created so far frozen and generation-0 collections every
    `threshold` net allocations (0: leave the collector as it is)."""
    if threshold <= 0:
        yield
        return
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
