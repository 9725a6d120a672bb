"""Per-file score streams of a detector configuration, cached on disk.

A stream is what the detector outputs for one NAB file (``runner.stream_scores`` mapped to [0, 1]
by ``runner.to_unit``). Tuning a threshold or choosing between configurations only re-reads these
arrays; a detector runs once per (configuration, file). The cache key is the file's values and
timestamps, the detector type, its options (canonical JSON) and a digest of the source of the package that computes the scores
(``detectors/metrics``), so editing a detector invalidates its cached streams.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.nab.corpus import DataFile
from bench.nab.runner import build_detector, stream_scores, to_unit

_SOURCE_DIGEST: str | None = None


def source_digest() -> str:
    """Digest of the metric detectors' source: cached streams go stale when it changes."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        import detectors.metrics as pkg
        h = hashlib.sha256()
        for p in sorted(Path(pkg.__file__).parent.glob("*.py")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
        _SOURCE_DIGEST = h.hexdigest()[:16]
    return _SOURCE_DIGEST


def config_key(detector: str, options: dict[str, Any]) -> str:
    blob = json.dumps({"detector": detector, "options": options, "source": source_digest()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class StreamCache:
    """Unit score streams per (detector, options, file), computed once and kept under ``root``."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root else None
        self.computed = 0           # streams computed by a detector run (not read from the cache)
        self.read = 0               # streams read from the cache

    def streams(self, detector: str, options: dict[str, Any], data: list[DataFile]) -> list[np.ndarray]:
        key = config_key(detector, options)
        out = []
        for df in data:
            data_key = hashlib.sha256(np.ascontiguousarray(df.values).tobytes()
                                      + df.timestamps.astype("int64").tobytes()).hexdigest()[:12]
            path = (None if self.root is None else
                    self.root / key / f"{df.key.replace('/', '__')}.{data_key}.npy")
            if path is not None and path.is_file():
                out.append(np.load(path))
                self.read += 1
                continue
            det = build_detector(detector, options)       # fresh state per file: independent streams
            unit = to_unit(stream_scores(det, df), float(det.config.threshold))
            self.computed += 1
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, unit)
                (path.parent / "options.json").write_text(json.dumps({"detector": detector, "options": options}))
            out.append(unit)
        return out
