"""core.sqlite.open_sqlite: the one way warden opens a SQLite file."""
from __future__ import annotations

import threading

import pytest

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



def _folder(tmp_path):
    (tmp_path / "x.db").mkdir()
    return tmp_path / "x.db"


def _text_file(tmp_path):
    (tmp_path / "x.db").write_text("not a database, some text\n" * 100)
    return tmp_path / "x.db"


def _under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "x.db"


@pytest.mark.parametrize("target, message", [(_folder, "is a folder, not a SQLite file"),
                                             (_text_file, "file is not a database"),
                                             (_under_a_file, "cannot create the folder")])
def test_a_path_that_cannot_be_a_database_is_a_clear_error_not_a_traceback(tmp_path, target, message):
    from core.errors import InputError
    with pytest.raises(InputError, match=message):
        open_sqlite(target(tmp_path))
