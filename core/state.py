"""Checkpoint state store: namespaced key → blob (detector snapshots, decide state, counters).

SQLite file by default (one per data dir). Writes of one checkpoint go in one transaction.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterable

from core.sqlite import open_sqlite


class StateStore:
    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self.db = open_sqlite(self.path)
        self.db.execute("CREATE TABLE IF NOT EXISTS state (ns TEXT, key TEXT, blob BLOB, PRIMARY KEY (ns, key))")
        self.db.commit()

    def get(self, ns: str, key: str) -> bytes | None:
        with self._lock:
            row = self.db.execute("SELECT blob FROM state WHERE ns = ? AND key = ?", (ns, key)).fetchone()
        return row[0] if row else None

    def put_many(self, items: Iterable[tuple[str, str, bytes]]) -> None:
        items = list(items)
        if not items:
            return
        with self._lock, self.db:
            self.db.executemany("INSERT INTO state(ns, key, blob) VALUES (?,?,?) "
                                "ON CONFLICT(ns, key) DO UPDATE SET blob = excluded.blob", items)

    def put(self, ns: str, key: str, blob: bytes) -> None:
        self.put_many([(ns, key, blob)])

    def keys(self, ns: str) -> list[str]:
        with self._lock:
            return [r[0] for r in self.db.execute("SELECT key FROM state WHERE ns = ? ORDER BY key", (ns,))]

    def namespaces(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self.db.execute("SELECT DISTINCT ns FROM state ORDER BY ns")]

    def invalidate(self, partitions: Iterable[int]) -> None:
        """Nothing to re-read: this store is one process's own (core.state_kafka's is shared)."""

    def close(self) -> None:
        self.db.close()
