"""Shared machinery of the metric detectors: series keys, state tables, event extraction.

A metric series is keyed by ``(event.entity, event.name)``. Detectors keep per-series state in
rows of numpy arrays (``SeriesTable``) so that ``score_many`` is a vectorised gather and the
sequential ``process`` loop runs in one compiled kernel per batch (numba when importable, the same
code as plain Python otherwise).

``MetricDetector`` is the base of every detector in this package. Its contract on top of
``detectors.base.Detector``:

- ``run(events) -> RunResult``: the stream semantics of ``Detector.process`` (score each event
  with the state before it, threshold, learn only from unflagged points once warm) but returning
  every score, not just findings. ``process`` is built on it; the NAB harness and the causality
  tests use it directly.
- scores are causal: the score of an event depends only on events before it in the stream.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from core.event import Event, Finding
from core.snapshot import pack, unpack
from core.units import metric_value
from detectors.base import Detector
from detectors.metrics.config import SEVERITIES
from detectors.metrics.columns import Extracted, extract  # noqa: F401 - the batch columns the kernels read
from detectors.metrics.recent import ChartWindow

try:  # numba ships with pyod; the kernels are plain Python without it (same results, slower)
    import numba as _numba

    def njit(fn: Callable) -> Callable:
        return _numba.njit(cache=True, nogil=True)(fn)

    HAVE_NUMBA = True
except Exception:  # pragma: no cover - exercised only where numba is missing
    def njit(fn: Callable) -> Callable:
        return fn

    HAVE_NUMBA = False


def halflife_alpha(halflife: float) -> float:
    """EWMA weight of a new point for a half-life given in points."""
    return 1.0 - 0.5 ** (1.0 / float(halflife))


class SeriesTable:
    """Rows of float state per series key, with growth, lookup and per-entity removal."""

    def __init__(self, ncols: int, bufcols: int = 0, init: Sequence[float] | None = None) -> None:
        self.ncols = ncols
        self.bufcols = bufcols
        self.init = np.zeros(ncols) if init is None else np.asarray(init, dtype=np.float64)
        self.index: dict[tuple[str, str], int] = {}
        self.keys: list[tuple[str, str]] = []
        self.state = np.zeros((0, ncols))
        self.buf = np.zeros((0, max(bufcols, 1)))

    def __len__(self) -> int:
        return len(self.keys)

    def _grow(self, need: int) -> None:
        cap = self.state.shape[0]
        if need <= cap:
            return
        new = max(need, cap * 2, 16)
        st = np.empty((new, self.ncols))
        st[:cap] = self.state
        st[cap:] = self.init
        bf = np.zeros((new, self.buf.shape[1]))
        bf[:cap] = self.buf
        self.state, self.buf = st, bf

    def add(self, key: tuple[str, str]) -> int:
        sid = len(self.keys)
        self._grow(sid + 1)
        self.index[key] = sid
        self.keys.append(key)
        self.state[sid] = self.init
        self.buf[sid] = 0.0
        return sid

    def ids(self, keys: list, ok: np.ndarray | None = None, create: bool = False) -> np.ndarray:
        idx = self.index
        get = idx.get
        if create:
            out = np.empty(len(keys), dtype=np.int64)
            for i, k in enumerate(keys):
                sid = get(k)
                if sid is None:
                    sid = self.add(k) if (ok is None or ok[i]) else -1
                out[i] = sid
        else:
            out = np.fromiter((get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        if ok is not None:
            out[~ok] = -1
        return out

    def entities(self) -> list[str]:
        return sorted({k[0] for k in self.keys})

    def sids_of(self, entity: str) -> list[int]:
        return [i for i, k in enumerate(self.keys) if k[0] == entity]

    def forget(self, entity: str) -> None:
        keep = [i for i, k in enumerate(self.keys) if k[0] != entity]
        if len(keep) == len(self.keys):
            return
        self.state = self.state[keep].copy()
        self.buf = self.buf[keep].copy()
        self.keys = [self.keys[i] for i in keep]
        self.index = {k: i for i, k in enumerate(self.keys)}

    # snapshot helpers ------------------------------------------------------------------------
    def dump(self, entity: str | None = None) -> list[dict]:
        sids = range(len(self.keys)) if entity is None else self.sids_of(entity)
        return [{"entity": self.keys[s][0], "name": self.keys[s][1],
                 "state": _json_floats(self.state[s]), "buf": _json_floats(self.buf[s])} for s in sids]

    def load(self, rows: list[dict], entity: str | None = None) -> None:
        if entity is not None:
            self.forget(entity)
        else:
            self.index, self.keys = {}, []
            self.state = np.zeros((0, self.ncols))
            self.buf = np.zeros((0, self.buf.shape[1]))
        for r in rows:
            key = (str(r["entity"]), str(r["name"]))
            if entity is not None and key[0] != entity:
                raise ValueError(f"snapshot row for entity {key[0]!r} restored as {entity!r}")
            st = _from_json_floats(r["state"])
            bf = _from_json_floats(r["buf"])
            if st.shape != (self.ncols,) or bf.shape != (self.buf.shape[1],):
                raise ValueError("snapshot state has the wrong shape for this detector's config")
            sid = self.index.get(key)
            if sid is None:
                sid = self.add(key)
            self.state[sid] = st
            self.buf[sid] = bf


def _json_floats(a: np.ndarray) -> list:
    """Floats for JSON: non-finite values (JSON has none) become the strings "inf", "-inf", "nan"."""
    out = a.tolist()
    if not np.isfinite(a).all():
        out = [v if math.isfinite(v) else repr(v) for v in out]
    return out


def _from_json_floats(v) -> np.ndarray:
    return np.array([float(x) for x in v], dtype=np.float64)


@dataclass
class RunResult:
    """Per-event output of MetricDetector.run: score, flagged, and the baseline it was scored on."""
    scores: np.ndarray
    flags: np.ndarray
    center: np.ndarray
    scale: np.ndarray


def unscored(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Output columns of n events before any is scored: score 0, not flagged, no baseline (NaN)."""
    return np.zeros(n), np.zeros(n, dtype=bool), np.full(n, np.nan), np.full(n, np.nan)


class MetricDetector(ChartWindow, Detector):
    """Base of the metric detectors: run()/process() on top of a subclass's `_run` kernel."""

    event_kinds = ("metric",)
    #: which metric names this detector reads; empty = all numeric metrics
    metric_names: tuple[str, ...] = ()

    def _accept_mask(self, ex: Extracted) -> np.ndarray:
        ok = ex.ok
        names = tuple(getattr(self.config, "metrics", ()) or ()) or self.metric_names
        if names:
            ns = set(names)
            ok = ok & np.fromiter((k[1] in ns for k in ex.keys), dtype=bool, count=len(ex.keys))
        return ok

    def accepts(self, event: Event) -> bool:
        if event.kind not in self.event_kinds:
            return False
        names = tuple(getattr(self.config, "metrics", ()) or ()) or self.metric_names
        return not names or event.name in names

    def select(self, events: list[Event]) -> list[Event]:
        names = tuple(getattr(self.config, "metrics", ()) or ()) or self.metric_names
        if not names:
            return events
        ns = frozenset(names)
        return [e for e in events if e.name in ns]

    # subclasses implement ----------------------------------------------------------------------
    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        """mode 0: process (score, threshold, learn unflagged); 1: learn everything; 2: score only."""
        raise NotImplementedError

    def run(self, events: Sequence[Event]) -> RunResult:
        res = self._run(events, 0)
        for e in {e.entity for e in events}:
            self._dirty.add(e)
        return res

    def score_many(self, events: Sequence[Event]) -> np.ndarray:
        return self._run(events, 2).scores

    def learn_many(self, events: Sequence[Event]) -> None:
        self._run(events, 1)
        for e in {e.entity for e in events}:
            self._dirty.add(e)

    def process(self, events: Sequence[Event]) -> list[Finding]:
        if not len(events):
            return []
        res = self.run(events)
        self._remember(events, res)
        out = []
        thr = float(self.config.threshold)
        for i in np.flatnonzero(res.flags):
            f = self._finding(events[i], float(res.scores[i]), thr, float(res.center[i]),
                              float(res.scale[i]))
            if f is not None:
                out.append(self._with_chart(events[i], f))
        return out

    def severity_for(self, score: float, threshold: float) -> str:
        sev = getattr(self.config, "severity", "medium")
        factor = float(getattr(self.config, "high_factor", 0.0) or 0.0)
        if factor > 0 and score >= factor * threshold:
            rank = SEVERITIES.index(sev) if sev in SEVERITIES else 2
            return SEVERITIES[min(rank + 1, len(SEVERITIES) - 1)]
        return sev

    def _finding(self, ev: Event, score: float, thr: float, center: float, scale: float) -> Finding | None:
        value = ev.value
        dev = (value - center) if value is not None else math.nan
        direction = "up" if dev > 0 else "down"
        return Finding.create(
            detector=self.name, entity=ev.entity, time=ev.time, score=score, threshold=thr,
            severity=self.severity_for(score, thr),
            title=f"{ev.name} {direction} on {ev.entity}: {metric_value(value, ev.name)} vs baseline "
                  f"{metric_value(center, ev.name)}",
            evidence={"metric": ev.name, "value": value, "baseline": center, "scale": scale,
                      "deviation": dev, "zscore": (dev / scale) if scale > 0 else None,
                      "direction": direction, "window": self.window_evidence()},
            event_ids=(ev.id,), rule=ev.name)

    def window_evidence(self) -> dict:
        return {}

    def finding_for(self, event: Event, score: float, threshold: float) -> Finding | None:
        res = self._run([event], 2)
        return self._finding(event, score, threshold, float(res.center[0]), float(res.scale[0]))

    # state -------------------------------------------------------------------------------------
    def _pack_state(self, rows: list[dict], entity: str | None, **extra: Any) -> bytes:
        """Versioned, checksummed snapshot of this detector: `rows` (every series, or `entity`'s)
        and `extra` (what a restore must agree with, or state beyond the rows)."""
        return snapshot_rows(f"detector.{self.type}", self.state_version, rows,
                             {"entity": entity, **extra, "recent": self.recent.dump(entity)})

    def _unpack_state(self, blob: bytes, entity: str | None) -> dict:
        """The state in a snapshot of this detector type, checked to be a snapshot of `entity`."""
        state = restore_rows(blob, f"detector.{self.type}", self.state_version)
        if state.get("entity") != entity:
            raise ValueError(f"snapshot is for entity {state.get('entity')!r}, not {entity!r}")
        self.recent.load(state.get("recent"), entity)
        return state


class SeriesTableDetector(MetricDetector):
    """A metric detector whose whole per-series state is one ``SeriesTable`` (``self.table``):
    snapshot, restore, entities and forget work on the table's rows."""

    table: SeriesTable

    def _snapshot_extra(self) -> dict:
        """Config the rows depend on, saved with them and checked by ``_check_snapshot``."""
        return {}

    def _check_snapshot(self, state: dict) -> None:
        """Raise ValueError when a snapshot's rows do not fit this detector's config."""

    def snapshot(self, entity: str | None = None) -> bytes:
        return self._pack_state(self.table.dump(entity), entity, **self._snapshot_extra())

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        state = self._unpack_state(blob, entity)
        self._check_snapshot(state)
        self.table.load(state["rows"], entity)

    def entities(self):
        return self.table.entities()

    def forget(self, entity: str) -> None:
        self.table.forget(entity)
        self.recent.forget(entity)
        self._dirty.discard(entity)


def snapshot_rows(kind: str, version: int, rows: list[dict], extra: dict | None = None) -> bytes:
    return pack(kind, version, {"rows": rows, **(extra or {})})


def restore_rows(blob: bytes, kind: str, version: int) -> dict:
    _, state = unpack(blob, kind, version)
    if not isinstance(state, dict) or "rows" not in state:
        raise ValueError(f"{kind} snapshot has no rows")
    return state


@njit
def suppress_and_calibrate(raw, ring, pos_rate, thr, r0, a_r, update, out):
    """Record suppression + flag-rate calibration of a run of raw scores of one series, in order.

    ring: the last len(ring) raw scores (a ring); pos_rate = [ring position, flag rate].
    out[q] = raw[q] if it beats every raw score in the ring else 0, times min(1, r0 / rate).
    With update, the ring and the rate advance (rate of undamped outputs >= thr)."""
    K = ring.shape[0]
    for q in range(raw.shape[0]):
        r = raw[q]
        o = r
        if K > 0:
            prev = 0.0
            for k in range(K):
                if ring[k] > prev:
                    prev = ring[k]
            if r <= prev:
                o = 0.0
        damp = 1.0
        if r0 > 0.0:
            rate = pos_rate[1]
            if rate > r0:
                damp = r0 / rate
            if update:
                pos_rate[1] = rate + a_r * ((1.0 if o >= thr else 0.0) - rate)
        out[q] = o * damp
        if update and K > 0:
            p = int(pos_rate[0])
            ring[p] = r
            pos_rate[0] = (p + 1) % K
