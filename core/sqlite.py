"""The one way warden opens a SQLite file (alerts store, checkpoint state, silences, the guard's
block list): the parent directory created, write-ahead logging (readers do not block the
writer), a 30 s wait for another connection's lock, and one connection shared by threads —
each user serialises its own calls with a lock."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Literal

from core.errors import InputError

#: seconds a statement waits for another connection's lock before raising "database is locked"
BUSY_TIMEOUT_S = 30.0


def check_sqlite_path(path: str | Path) -> None:
    """InputError saying why `open_sqlite(path)` would fail, found without creating or changing
    anything (`warden config check`): a folder, an existing file that is not a SQLite database, a
    folder that cannot be created or written."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path} is a folder, not a SQLite file")
    if p.exists():
        try:
            db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
            try:
                db.execute("PRAGMA schema_version")
            finally:
                db.close()
        except sqlite3.DatabaseError as e:
            raise InputError(f"cannot open the SQLite file {path}: {e}") from None
        return
    check_folder(p.parent, f"the folder of {path}")


def check_folder(path: str | Path, what: str) -> None:
    """InputError when `path` cannot be a folder warden writes in: a file is in the way, or the
    nearest existing folder above it cannot be written (nothing is created)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise InputError(f"cannot create {what}: {p} is not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"cannot create {what}: {p} is not writable")


def open_sqlite(path: str | Path | None, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> sqlite3.Connection:
    """A connection to the SQLite file at `path` (None: a private in-memory database).
    `synchronous`: FULL (SQLite's default: a commit survives a power cut) or NORMAL (WAL mode:
    a commit survives a crash of the process, the last ones may be lost on a power cut)."""
    if path is not None:
        if Path(path).is_dir():
            raise InputError(f"{path} is a folder, not a SQLite file")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create the folder of {path}: {e.strerror}") from None
    try:
        db = sqlite3.connect(str(path) if path is not None else ":memory:", check_same_thread=False,
                             timeout=BUSY_TIMEOUT_S)
        db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as e:      # incl. OperationalError: unreadable, not a database
        raise InputError(f"cannot open the SQLite file {path}: {e}") from None
    if synchronous != "FULL":
        db.execute(f"PRAGMA synchronous={synchronous}")
    return db
