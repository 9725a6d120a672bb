"""Read the NAB layout: DIR/data/<group>/<file>.csv, DIR/labels/combined_windows.json, profiles.json."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.nab.scorer import FileLayout, Profile, layout, window_rows

DEFAULT_PROFILES = {
    "standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}},
    "reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0}},
    "reward_low_FN_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0}},
}


@dataclass
class DataFile:
    key: str                    # "<group>/<file>.csv", as in combined_windows.json
    group: str
    file: str
    timestamps: np.ndarray      # datetime64[s]
    raw_timestamps: list[str]
    values: np.ndarray
    layout: FileLayout


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    ts, vals = [], []
    with open(path, newline="") as fh:
        rd = csv.reader(fh)
        header = next(rd, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected a 'timestamp,value' header, got {header}")
        for row in rd:
            if not row:
                continue
            ts.append(row[0].strip())
            try:
                vals.append(float(row[1]))
            except (ValueError, IndexError):
                vals.append(float("nan"))
    return ts, np.asarray(vals, dtype=np.float64)


def load(data_dir: str | Path, files: list[str] | None = None) -> list[DataFile]:
    root = Path(data_dir)
    labels = root / "labels" / "combined_windows.json"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} not found (expected the NAB layout DIR/data, DIR/labels)")
    windows = json.loads(labels.read_text())
    out = []
    for key in sorted(windows):
        if files and not any(f in key for f in files):
            continue
        path = root / "data" / key
        if not path.is_file():
            raise FileNotFoundError(f"{path} listed in {labels.name} but missing")
        raw_ts, vals = read_csv(path)
        ts = np.array([t.replace(" ", "T") for t in raw_ts], dtype="datetime64[s]")
        wins = [(a.replace(" ", "T"), b.replace(" ", "T")) for a, b in windows[key]]
        rows = window_rows(ts, [(np.datetime64(a[:19]), np.datetime64(b[:19])) for a, b in wins])
        group, file = key.split("/", 1)
        out.append(DataFile(key, group, file, ts, raw_ts, vals, layout(key, len(vals), rows)))
    return out


def profiles(data_dir: str | Path) -> list[Profile]:
    p = Path(data_dir) / "profiles.json"
    raw = json.loads(p.read_text()) if p.is_file() else DEFAULT_PROFILES
    return [Profile.from_json(k, v) for k, v in raw.items()]
