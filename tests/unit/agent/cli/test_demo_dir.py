"""`warden demo` writes only into a folder it marks as its own and never deletes what it did not
create; the command it prints next shows the demo's alerts."""
from __future__ import annotations

import shlex

import orjson
import pytest

from agent.cli.demo_dir import MARK, DemoDirError, existing, prepare, record
from tests.unit.agent.lifecycle.cli_fixture import cli, CliRunner


@pytest.mark.parametrize("layout", ["file", "folder with files"])
def test_a_folder_warden_did_not_create_is_refused_and_untouched(tmp_path, layout):
    target = tmp_path / "x"
    if layout == "file":
        target.write_text("mine")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("mine")
        (target / "actions.log.jsonl").write_text("an earlier real action log")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(DemoDirError):
        prepare(target)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_marked_folder_loses_only_the_files_the_last_demo_wrote(tmp_path):
    d = prepare(tmp_path / "demo")
    was = existing(d)
    (d / "warden.db").write_text("db")
    (d / "state").mkdir()
    (d / "state" / "s.db").write_text("s")
    record(d, was)
    assert sorted(orjson.loads((d / MARK).read_bytes())["files"]) == ["state/s.db", "warden.db"]
    (d / "mine.txt").write_text("added later by someone")
    prepare(d)
    assert sorted(p.name for p in d.rglob("*")) == [MARK, "mine.txt"]


def test_the_demo_prints_a_command_that_lists_its_alerts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WARDEN_DATA_DIR", str(tmp_path / "real"))     # never the demo's folder
    runner = CliRunner()
    r = runner.invoke(cli, ["demo", "--hours", "3", "--data-dir", "my demo"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    line = next(x.strip() for x in r.output.splitlines() if x.strip().endswith("alerts list"))
    args = shlex.split(line)
    assert args[0] == "warden"
    listed = runner.invoke(cli, [*args[1:], "--json"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    ids = {a["id"] for a in orjson.loads(listed.output)}
    demo = runner.invoke(cli, ["demo", "--hours", "3", "--data-dir", "my demo", "--json"], catch_exceptions=False)
    assert ids and ids == {a["id"] for a in orjson.loads(demo.output)["alerts"]}        # a rerun replaces its own
    assert not (tmp_path / "real").exists()


def test_wardens_own_data_dir_option_is_the_demos_folder(tmp_path, monkeypatch):
    """`warden --data-dir X demo` wrote to .warden/demo; `warden --data-dir X alerts list` then found nothing."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["--data-dir", "x", "demo", "--hours", "1", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "x" / MARK).exists() and not (tmp_path / ".warden").exists()
    both = runner.invoke(cli, ["--data-dir", "x", "demo", "--data-dir", "y"])
    assert both.exit_code == 2 and "two demo folders" in both.output and not (tmp_path / "y").exists()


def test_a_rerun_keeps_an_action_log_that_records_a_real_action(tmp_path):
    """A demo action approved for real (`actions approve ID --real`) is recorded in the demo's action
    log; a rerun removed the log and its key, losing the record while the block itself stayed."""
    from policy.action_log import ActionLog
    d = prepare(tmp_path / "demo")
    was = existing(d)
    log = ActionLog.for_data_dir(d)
    log.append("record", {"id": "a1", "dry_run": True, "status": "planned"})
    (d / "warden.db").write_text("db")
    record(d, was)
    prepare(d)                                           # dry-run entries only: the rerun replaces the log
    assert not (d / "actions.log.jsonl").exists()
    was = existing(d)
    log = ActionLog.for_data_dir(d)
    log.append("record", {"id": "a1", "dry_run": True, "status": "planned"})
    record(d, was)
    log.append("record", {"id": "a2", "dry_run": False, "status": "done"})     # approved for real later
    kept = {n: (d / n).read_bytes() for n in ("actions.log.jsonl", "actions.log.jsonl.head", "action-log.key")}
    prepare(d)
    assert {n: (d / n).read_bytes() for n in kept} == kept
    assert ActionLog.for_data_dir(d).verify().ok


@pytest.mark.parametrize("hours", ["0", "-1", "745"])
def test_refused_demo_options_create_no_folder(tmp_path, hours):
    r = CliRunner().invoke(cli, ["demo", "--hours", hours, "--data-dir", str(tmp_path / "d")])
    assert r.exit_code == 2 and "hours must be in (0, 744]" in r.output, r.output
    assert not (tmp_path / "d").exists()       # it was created and marked before the refusal
