"""The whole scenario as (format, record) pairs in time order: the streams merged, lazily
(`iter_records`) or as a list (`generate`), or written as replayable envelope JSON lines."""
from __future__ import annotations

import heapq
from typing import Any, Iterator

from collectors.scenario.account_takeover import gen_account_takeover
from collectors.scenario.cloudtrail import gen_cloudtrail
from collectors.scenario.inference import gen_inference
from collectors.scenario.k8s_audit import gen_k8s_audit
from collectors.scenario.metrics import gen_metrics
from collectors.scenario.prompt_injection import gen_prompt_injection
from collectors.scenario.timeline import (DEFAULT_HOURS, DEFAULT_SEED, DEFAULT_START, DEFAULT_STEP, MAX_HOURS,
                                          ground_truth, parse_start)

SOURCE = "scenario/demo"


def _check(seed: Any, hours: Any, step_seconds: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(hours, bool) or not (isinstance(hours, (int, float)) and 0 < hours <= MAX_HOURS):
        raise ValueError(f"hours must be in (0, {MAX_HOURS}], got {hours!r}")
    if isinstance(step_seconds, bool) or not (isinstance(step_seconds, int) and 1 <= step_seconds <= 3600):
        raise ValueError(f"step_seconds must be an integer in [1, 3600], got {step_seconds!r}")


def iter_records(seed: int = DEFAULT_SEED, hours: float = DEFAULT_HOURS, start: str | float = DEFAULT_START,
                 step_seconds: int = DEFAULT_STEP, incidents: bool = True,
                 source: str = SOURCE) -> Iterator[tuple[str, dict]]:
    """The scenario as (format, record) pairs in time order, generated lazily (memory stays about
    one minute of records whatever `hours` is). Same order and bytes as `generate()`."""
    _check(seed, hours, step_seconds)
    t0 = parse_start(start)
    dur = float(hours) * 3600.0
    windows = {g["id"]: (g["start"], g["end"]) for g in ground_truth(seed, hours, t0, step_seconds, incidents)}
    streams = (gen_metrics(seed, source, t0, dur, step_seconds, windows), gen_cloudtrail(seed, t0, dur),
               gen_account_takeover(seed, windows), gen_k8s_audit(seed, t0, dur), gen_inference(seed, t0, dur, windows),
               gen_prompt_injection(seed, windows))

    def tagged(i: int, it: Iterator) -> Iterator:
        for t, seq, fmt, rec in it:
            yield t, i, seq, fmt, rec
    # ties at the same instant: stream order, then generation order within the stream
    for _t, _i, _seq, fmt, rec in heapq.merge(*(tagged(i, it) for i, it in enumerate(streams))):
        yield fmt, rec


def generate(seed: int = DEFAULT_SEED, hours: float = DEFAULT_HOURS, start: str | float = DEFAULT_START,
             step_seconds: int = DEFAULT_STEP, incidents: bool = True,
             source: str = SOURCE) -> list[tuple[str, dict]]:
    """The scenario as a list of (format, record) pairs in time order; deterministic in its arguments.

    Every stream has its own random generator, so `incidents=False` gives the same background
    records (minus the incidents' own records) as `incidents=True`.
    """
    return list(iter_records(seed, hours, start, step_seconds, incidents, source))


def write_file(path: str, seed: int = DEFAULT_SEED, hours: float = DEFAULT_HOURS, start: str | float = DEFAULT_START,
               step_seconds: int = DEFAULT_STEP, incidents: bool = True, source: str = SOURCE) -> int:
    """Write the scenario as replayable envelope JSON lines (`{"format": ..., "record": ...}`);
    `-` writes to stdout. Returns the number of records. Read it back with the `replay` collector."""
    import sys

    from collectors.replay import write_envelopes
    pairs = iter_records(seed, hours, start, step_seconds, incidents, source=source)
    if path == "-":
        n = write_envelopes(pairs, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return n
    with open(path, "wb") as f:
        return write_envelopes(pairs, f)
