"""Read tabular reference / current data (CSV with a header, or JSON lines) into columns.

CSV cells that parse as numbers become floats; empty cells, `NA`, `NaN`, `null` become None; other
cells stay strings (categorical). A JSON-lines file holds one object per line (feature -> value);
an object with a `features` mapping (the warden-inference record) uses that mapping.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import orjson

_NULLS = {"", "na", "nan", "null", "none", "n/a"}


def _cell(s: str) -> Any:
    t = s.strip()
    if t.lower() in _NULLS:
        return None
    try:
        v = float(t)
    except ValueError:
        return t
    return v if math.isfinite(v) else None


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if p.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = []
        with open(p, "rb") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    r = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise ValueError(f"{p}:{n}: invalid JSON: {e}") from None
                if not isinstance(r, dict):
                    raise ValueError(f"{p}:{n}: expected a JSON object")
                if isinstance(r.get("features"), dict):
                    r = r["features"]
                rows.append({k: (v if isinstance(v, (int, float, str, bool)) or v is None else None)
                             for k, v in r.items()})
        return rows
    with open(p, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{p}: empty file (no header)") from None
        header = [h.strip() for h in header]
        if not any(header) or len(set(header)) != len(header):
            raise ValueError(f"{p}: header must name every column once")
        rows = []
        for n, rec in enumerate(reader, 2):
            if not rec or all(not c.strip() for c in rec):
                continue
            if len(rec) > len(header):
                raise ValueError(f"{p}:{n}: {len(rec)} cells for {len(header)} columns")
            rows.append({h: _cell(c) for h, c in zip(header, rec)} | {h: None for h in header[len(rec):]})
        return rows


def columns(rows: list[dict[str, Any]]) -> dict[str, list]:
    names: dict[str, None] = {}
    for r in rows:
        for k in r:
            names.setdefault(k, None)
    return {k: [r.get(k) for r in rows] for k in names}


def read_columns(path: str | Path) -> dict[str, list]:
    return columns(read_rows(path))
