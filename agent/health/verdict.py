"""The health verdict from stage heartbeats: what `warden status` exits on and `/readyz` serves.

Attention is needed (with the reason) when
- no stage has ever reported on this data dir (a mistyped `data_dir`, an agent never started);
- a stage has no fresh heartbeat (`stale_s`): its process stopped, died, or its thread hangs;
- a stage is stuck: records wait (lag > 0) and it handled none for `stuck_s`;
- a stage's lag grew at each of its last `lag_growth_samples` samples;
- dead letters arrived within `window_s`;
- a stage's steps fail (every one since some time, or one within `window_s`).
Heartbeats older than `forget_s` (replicas long gone) are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from agent.health.heartbeat import Heartbeat


@dataclass(frozen=True)
class Thresholds:
    stale_s: float = 60.0
    stuck_s: float = 120.0
    window_s: float = 900.0
    lag_growth_samples: int = 6
    forget_s: float = 7 * 86400.0


@dataclass
class StageHealth:
    stage: str
    processes: int
    last_heartbeat_age_s: float
    lag: int | None
    deadletters_in_window: float
    running: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    healthy: bool
    problems: list[str]
    stages: dict[str, StageHealth]


def _age(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _in_window(samples: list[tuple[float, float]], started: float, since: float) -> float:
    """Growth of a cumulative count since `since` (from 0 when the process started after it)."""
    if not samples:
        return 0.0
    base = 0.0 if started >= since else next((v for t, v in reversed(samples) if t <= since), samples[0][1])
    return max(0.0, samples[-1][1] - base)


def _growing(samples: list[tuple[float, int]], n: int) -> bool:
    tail = [v for _, v in samples[-n:]]
    return len(tail) >= n and all(b > a for a, b in zip(tail, tail[1:]))


def _stage(stage: str, beats: list[Heartbeat], now: float, t: Thresholds) -> StageHealth:
    fresh = [b for b in beats if not b.stopped and now - b.time <= t.stale_s]
    newest = max(beats, key=lambda b: b.time)
    dl = sum(_in_window(b.deadletters, b.started, now - t.window_s) for b in beats)
    lags = [b.lag for b in fresh if b.lag is not None]
    h = StageHealth(stage, len(fresh), now - newest.time, sum(lags) if lags else None, dl, bool(fresh))
    if not fresh:
        h.problems.append(f"{stage}: stopped {_age(now - newest.time)} ago (nothing runs it)" if newest.stopped
                          else f"{stage}: no heartbeat for {_age(now - newest.time)} (process gone or stage hung)")
    for b in fresh:
        if b.last_error_time > b.last_ok:
            h.problems.append(f"{stage}: every step fails in {b.process} since {_age(now - b.last_ok)} "
                              f"({b.last_error}, {b.failures} failed steps; the batch is retried)")
        elif now - b.last_error_time <= t.window_s:
            h.problems.append(f"{stage}: a step failed {_age(now - b.last_error_time)} ago ({b.last_error})")
        if b.lag and now - b.last_progress > t.stuck_s:
            h.problems.append(f"{stage}: stuck in {b.process}: {b.lag} records waiting, none handled for "
                              f"{_age(now - b.last_progress)}")
        if _growing(b.lag_samples, t.lag_growth_samples):
            first, last = b.lag_samples[-t.lag_growth_samples], b.lag_samples[-1]
            h.problems.append(f"{stage}: lag growing in {b.process}: {first[1]} -> {last[1]} records over "
                              f"{_age(last[0] - first[0])}")
    if dl:
        h.problems.append(f"{stage}: {dl:.0f} dead letter(s) in the last {_age(t.window_s)} "
                          "(`warden deadletters list`)")
    return h


def assess(beats: list[Heartbeat], now: float, t: Thresholds = Thresholds()) -> Verdict:
    beats = [b for b in beats if now - b.time <= t.forget_s]
    if not beats:
        return Verdict(False, ["no stage has reported on this data dir: is `data_dir` right, and is "
                               "`warden run` running?"], {})
    by_stage: dict[str, list[Heartbeat]] = {}
    for b in beats:
        by_stage.setdefault(b.stage, []).append(b)
    stages = {s: _stage(s, bs, now, t) for s, bs in sorted(by_stage.items())}
    problems = [p for h in stages.values() for p in h.problems]
    return Verdict(not problems, problems, stages)
