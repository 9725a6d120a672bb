"""The folder `warden demo` writes to, marked as warden's own.

`prepare(path)` makes the folder ready for a new demo run:
- missing or empty: created and marked (`.warden-demo`, a JSON file naming what warden wrote);
- marked: the files the previous run recorded in the mark are removed, nothing else (a file
  someone put there later stays), except the action log with its head and key once it records a
  real action (one approved for real after the demo): an append-only record of something done is
  kept, and the new run appends to it;
- anything else (a folder with files and no mark — a real data dir, a home directory): refused
  with `DemoDirError`; nothing is touched.
`record(path)` writes the mark after the run with every file the run created.
"""
from __future__ import annotations

import time
from pathlib import Path

import orjson

from core.errors import WardenError
from policy import action_log_key
from policy.action_log import ActionLog

MARK = ".warden-demo"
#: the hash-chained action log, its head and its key (policy.action_log): kept once they record a real action
_LOG = ActionLog(Path("actions.log.jsonl"))
ACTION_LOG_FILES = (_LOG.path.name, _LOG.head_path.name, action_log_key.DEFAULT_NAME)


#: responders whose real run stays inside the data folder: the only ones `actions approve --real` runs in
#: the demo's folder (its entities are simulated; a real cordon or key deactivation would reach whatever
#: cluster or cloud account the machine's credentials point at)
DEMO_LOCAL_RESPONDERS = ("blocklist", "log")


def is_demo_dir(path: str | Path) -> bool:
    return _mark(Path(path)) is not None


class DemoDirError(WardenError):
    """The folder is not one warden's demo created: the demo will not write into it."""


def _mark(path: Path) -> dict | None:
    try:
        d = orjson.loads((path / MARK).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return d if isinstance(d, dict) and d.get("created_by") == "warden demo" else None


def prepare(path: str | Path) -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise DemoDirError(f"{p} is a file, not a folder: pass --data-dir a new or empty folder")
    if p.is_dir() and any(p.iterdir()):
        mark = _mark(p)
        if mark is None:
            raise DemoDirError(f"{p} holds files warden's demo did not create (no {MARK} mark): it is left alone; "
                               "pass --data-dir a new or empty folder (a demo folder from a warden before the "
                               "mark existed: remove it yourself once you have checked it)")
        keep = set(ACTION_LOG_FILES) if _records_real_actions(p / ACTION_LOG_FILES[0]) else set()
        for rel in mark.get("files") or []:
            if rel in keep:
                continue
            f = (p / rel).resolve()
            if p.resolve() in f.parents and f.is_file():
                f.unlink()
        _prune_empty_dirs(p)
    p.mkdir(parents=True, exist_ok=True)
    (p / MARK).write_bytes(orjson.dumps({"created_by": "warden demo", "created_at": time.time(), "files": []}))
    return p


def _records_real_actions(log: Path) -> bool:
    """True when the action log holds an entry of an action that was not a dry run (or a line it
    cannot read: kept for `warden actions verify` to say what is wrong with it)."""
    try:
        return any(isinstance(e, dict) and isinstance(e.get("action"), dict) and e["action"].get("dry_run") is False
                   for e in ActionLog(log).entries())
    except orjson.JSONDecodeError:
        return True


def record(path: str | Path, before: set[str] | None = None) -> None:
    """Write the mark with every file under the folder that was not there before the run."""
    p = Path(path)
    before = before or set()
    files = sorted(str(f.relative_to(p)) for f in p.rglob("*") if f.is_file() and f.name != MARK
                   and str(f.relative_to(p)) not in before)
    mark = _mark(p) or {"created_by": "warden demo", "created_at": time.time()}
    (p / MARK).write_bytes(orjson.dumps({**mark, "files": files}))


def existing(path: str | Path) -> set[str]:
    p = Path(path)
    return {str(f.relative_to(p)) for f in p.rglob("*") if f.is_file()} if p.is_dir() else set()


def _prune_empty_dirs(p: Path) -> None:
    for d in sorted((d for d in p.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
