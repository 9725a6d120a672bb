"""A data folder or SQLite store file `warden run` cannot use is one error line before "warden
running" (exit 2), and `warden config check` names it with its setting. Before, `run` with
`store.path` pointing at a folder or at a file that is not a database printed "warden running" and
went on silently (the store is opened at the first alert), and `config check` said ok."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from agent.cli import _load_commands, cli

_load_commands()


@pytest.mark.timeout(120)         # before the fix `run` went on for ever
@pytest.mark.parametrize("yaml_text, message", [
    ("store: {path: folder}", "store.path: {d}/folder is a folder, not a SQLite file"),
    ("store: {path: notes.txt}", "store.path: cannot open the SQLite file {d}/notes.txt: file is not a database"),
    ("data_dir: notes.txt/data", "data_dir: cannot create the folder: {d}/notes.txt is not a folder"),
])
def test_an_unusable_store_or_data_folder_is_named_before_warden_runs(tmp_path, monkeypatch, yaml_text, message):
    monkeypatch.delenv("WARDEN_DATA_DIR", raising=False)
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("my notes, not a database\n")
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: data\n{yaml_text}\n" if "data_dir" not in yaml_text else yaml_text + "\n")
    expected = message.format(d=tmp_path)
    check = CliRunner().invoke(cli, ["-c", str(conf), "config", "check"])
    assert check.exit_code == 2 and expected in check.output, check.output
    run = CliRunner().invoke(cli, ["-c", str(conf), "run", "--stage", "act"])
    assert run.exit_code == 2 and "warden running" not in run.output and "error: " in run.output, run.output
    assert (tmp_path / "notes.txt").read_text() == "my notes, not a database\n"


def test_a_usable_layout_passes_config_check(tmp_path, monkeypatch):
    monkeypatch.delenv("WARDEN_DATA_DIR", raising=False)
    conf = tmp_path / "warden.yaml"
    conf.write_text("data_dir: new/data\nstore: {path: new/db/alerts.db}\n")
    check = CliRunner().invoke(cli, ["-c", str(conf), "config", "check"])
    assert check.exit_code == 0 and "ok:" in check.output, check.output
    assert not (tmp_path / "new").exists()      # checked, nothing created
