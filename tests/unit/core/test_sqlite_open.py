"""core.sqlite.open_sqlite: the one way warden opens a SQLite file."""
from __future__ import annotations

import threading

from core.sqlite import open_sqlite


def test_a_file_in_a_new_directory_in_wal_mode_shared_by_threads(tmp_path):
    db = open_sqlite(tmp_path / "a" / "b" / "x.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2          # FULL, SQLite's default
    db.execute("CREATE TABLE t (x)")
    t = threading.Thread(target=lambda: db.execute("INSERT INTO t VALUES (1)"))
    t.start()
    t.join()
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_normal_sync_on_request_and_memory_without_a_path(tmp_path):
    assert open_sqlite(tmp_path / "y.db", synchronous="NORMAL").execute("PRAGMA synchronous").fetchone()[0] == 1
    assert open_sqlite(None).execute("PRAGMA database_list").fetchone()[2] == ""
