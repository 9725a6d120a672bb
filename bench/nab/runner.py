"""Run a detector over the NAB corpus as streams, write NAB-format results, score, print tables."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.event import Event
from bench.nab import corpus as _corpus
from bench.nab.scorer import score_corpus

FIXED_THRESHOLD = 0.5   # anomaly_score of a point whose detector score equals its own threshold


def build_detector(detector: Any, options: dict | None = None):
    """A detector instance from an instance, a registered type ("ensemble", "baseline/x") or a class."""
    if not isinstance(detector, (str, type)):
        return detector
    from core import registry
    if isinstance(detector, type):
        return detector(config=None, **(options or {}))
    name = detector if "/" in detector else f"{detector}/nab"
    return registry.create("detector", name, options or {})


def to_unit(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Map detector scores (>= 0, flagged at `threshold`) to [0, 1]: s / (s + threshold).
    Monotone, so the swept NAB score is unchanged; the detector's own threshold maps to 0.5."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0, posinf=1e300)
    s = np.maximum(s, 0.0)
    return s / (s + float(threshold))


def stream_scores(det, df: _corpus.DataFile) -> np.ndarray:
    """Scores of one file streamed through a detector: score each point with the state before it,
    learn only from unflagged points (Detector.process semantics). One file = one entity."""
    t = df.timestamps.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    ent = df.key
    events = [Event(id=f"{ent}:{i}", time=float(t[i]), kind="metric", source="nab/replay",
                    entity=ent, name="value", value=float(v)) for i, v in enumerate(df.values)]
    if hasattr(det, "run"):
        res = det.run(events)
        return np.asarray(res.scores, dtype=np.float64)
    out = np.zeros(len(events))                       # generic Detector: event at a time
    for i, e in enumerate(events):
        s = float(det.score_many([e])[0])
        out[i] = s
        if not (det.is_warm(e) and s >= det.threshold_for(e)):
            det.learn_many([e])
    return out


def write_results(out_dir: Path, det_name: str, df: _corpus.DataFile, unit: np.ndarray) -> Path:
    d = out_dir / det_name / df.group
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{det_name}_{df.file}"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value", "anomaly_score", "label"])
        for ts, v, s, lab in zip(df.raw_timestamps, df.values, unit, df.layout.labels):
            w.writerow([ts, repr(float(v)) if v != int(v) else int(v), f"{s:.6f}", int(lab)])
    return path


def run(data_dir, out_dir, detector: Any = "novelty", threshold: float | None = None,
        options: dict | None = None, files: list[str] | None = None, write: bool = True,
        progress: bool = False) -> dict:
    """Run, write and score. Returns {"detector", "profiles": {name: {"swept": ..., "fixed": ...}},
    "points", "seconds"}. `threshold` is the fixed threshold on the [0, 1] anomaly_score
    (default 0.5 = the detector's own configured threshold)."""
    data = _corpus.load(data_dir, files)
    probe = build_detector(detector, options)
    det_name = (probe.type if hasattr(probe, "type") else str(detector)).replace("/", "_")
    thr = float(getattr(probe.config, "threshold", 1.0))
    out_dir = Path(out_dir)
    units, npts, t0 = [], 0, time.perf_counter()
    from core.progress import track
    for df in track(data, "NAB files", enabled=progress):
        det = build_detector(detector, options)     # fresh state per file: independent streams
        s = stream_scores(det, df)
        u = to_unit(s, thr)
        units.append(u)
        npts += len(s)
        if write:
            write_results(out_dir, det_name, df, u)
    secs = time.perf_counter() - t0
    layouts = [df.layout for df in data]
    fixed = FIXED_THRESHOLD if threshold is None else float(threshold)
    res = {"detector": det_name, "points": npts, "seconds": secs, "fixed_threshold": fixed,
           "profiles": {}}
    for prof in _corpus.profiles(data_dir):
        swept = score_corpus(layouts, units, prof)
        fx = score_corpus(layouts, units, prof, threshold=fixed)
        res["profiles"][prof.name] = {"swept": swept, "fixed": fx}
    if write:
        summ = {k: v for k, v in res.items() if k != "profiles"}
        summ["profiles"] = {p: {m: {k: v for k, v in r.items() if k != "files"} for m, r in d.items()}
                            for p, d in res["profiles"].items()}
        (out_dir / det_name).mkdir(parents=True, exist_ok=True)
        (out_dir / det_name / "summary.json").write_text(json.dumps(summ, indent=2))
    return res


def table(res: dict) -> str:
    lines = [f"NAB results: {res['detector']}  ({res['points']:,} points in {res['seconds']:.1f} s)",
             f"{'profile':<22}{'mode':<8}{'threshold':>10}{'score':>9}{'tp':>5}{'fn':>5}{'fp':>7}"]
    for p, d in res["profiles"].items():
        for mode in ("swept", "fixed"):
            r = d[mode]
            lines.append(f"{p:<22}{mode:<8}{r['threshold']:>10.4f}{r['score']:>9.2f}"
                         f"{r['tp']:>5}{r['fn']:>5}{r['fp']:>7}")
    return "\n".join(lines)


def main(data, out, detector: Any = "novelty", threshold: float | None = None,
         options: dict | None = None, files: list[str] | None = None) -> dict:
    """CLI entry: run the NAB benchmark, print the table per profile (swept and fixed threshold)."""
    res = run(data, out, detector, threshold=threshold, options=options, files=files)
    print(table(res))
    return res
