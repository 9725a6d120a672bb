"""`warden deadletters list|show|replay` on the embedded bus: the letters of an earlier run are
read back from disk, and re-submitted after a fix (here: the right format) they become events and
alerts; replayed letters are marked and not re-submitted twice."""
from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from agent.cli import _load_commands, cli
from tests.support.records import k8s

_load_commands()


def invoke(conf, *args):
    return CliRunner().invoke(cli, ["-c", str(conf), *args], catch_exceptions=False)


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "warden.yaml"
    path.write_text(f"data_dir: {tmp_path / 'w'}\n")
    trail = tmp_path / "k8s.jsonl"
    trail.write_bytes(b"".join(orjson.dumps(k8s(i)) + b"\n" for i in range(4)))
    r = invoke(path, "replay", str(trail), "--format", "cloudtrail")   # the wrong format: 4 letters
    assert r.exit_code == 1 and "4 dead letters" in r.stderr and "deadletters list" in r.stderr  # not a success
    return path


def letters(conf, *args):
    r = invoke(conf, "deadletters", "list", "--json", *args)
    assert r.exit_code == 0, r.output
    return orjson.loads(r.stdout)


def test_list_and_show_read_the_letters_of_an_earlier_run(conf):
    found = letters(conf)
    assert len(found) == 4 and {d["stage"] for d in found} == {"collect"}
    assert all("cloudtrail" in d["reason"] and not d["replayed"] for d in found)
    assert letters(conf, "--stage", "detect") == []
    r = invoke(conf, "deadletters", "show", found[0]["id"], "--json")
    assert orjson.loads(r.stdout)["raw"]["kind"] == "Event"
    assert invoke(conf, "deadletters", "show", "9-999").exit_code == 3


def test_a_data_dir_that_does_not_exist_is_an_error_not_an_empty_list(tmp_path):
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'typo'}\n")
    r = invoke(conf, "deadletters", "list")
    assert r.exit_code == 3 and "no data dir" in r.stderr and not (tmp_path / "typo").exists()


@pytest.mark.parametrize("select", [["--all"], "ids"])
def test_replay_after_a_fix_turns_letters_into_events_once(conf, select):
    ids = [d["id"] for d in letters(conf)]
    args = ids if select == "ids" else select
    dry = invoke(conf, "deadletters", "replay", *args, "--format", "cloudtrail", "--dry-run", "--json")
    assert dry.exit_code == 1 and {r["outcome"] for r in orjson.loads(dry.stdout)} == {"refused"}   # not fixed yet
    done = invoke(conf, "deadletters", "replay", *args, "--format", "auto", "--json")   # the fix: the right format
    assert done.exit_code == 0, done.output
    results = orjson.loads(done.stdout)
    assert sorted(r["id"] for r in results) == sorted(ids)
    assert all(r["outcome"] == "accepted" and r["events"] == 1 for r in results)
    assert all(d["replayed"] for d in letters(conf))
    again = invoke(conf, "deadletters", "replay", "--all", "--json")
    assert orjson.loads(again.stdout) == []                           # marked: not re-submitted twice


def test_a_letter_is_re_submitted_through_the_format_it_was_refused_by(conf):
    """`warden replay --format cloudtrail` refused Kubernetes records: without --format they go
    through cloudtrail again (refused again, same reason), not through auto-detection."""
    found = letters(conf)
    assert all(d["formats"] == ["cloudtrail"] for d in found)
    r = invoke(conf, "deadletters", "replay", "--all", "--json")
    results = orjson.loads(r.stdout)
    assert r.exit_code == 1 and [x["outcome"] for x in results] == ["refused"] * 4, r.output
    assert all("cloudtrail" in x["reason"] for x in results)
    assert not any(d["replayed"] for d in letters(conf))


def test_an_ingest_route_letter_keeps_the_route_formats_and_a_letter_without_one_needs_format(tmp_path):
    from agent.config import parse
    from agent.runtime import Runtime
    from collectors.accounting import Tally, account
    from agent.stages.collect import BusEmitter, CollectStage
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\n")
    rt = Runtime(parse({"data_dir": str(tmp_path / "w")}))
    emitter = BusEmitter(CollectStage(rt, collectors=[]), "http_ingest/default")
    inference = ("warden-inference", "openai-chat", "kserve-v2", "kserve-v1")   # what /v1/inference reads
    account(k8s(1), inference, emitter, "http_ingest/default", Tally())          # an audit record posted there
    rt.dead_letter("collect", k8s(2), "otlp: some reason", "otlp/default")       # no format recorded
    rt.producer.flush()
    rt.close()
    by_source = {d["source"]: d for d in letters(conf)}
    assert by_source["http_ingest/default"]["formats"] == list(inference)
    assert "formats" not in by_source["otlp/default"] or by_source["otlp/default"]["formats"] == []
    r = invoke(conf, "deadletters", "replay", "--all", "--json")
    out = {x["id"]: x for x in orjson.loads(r.stdout)}
    routed = out[by_source["http_ingest/default"]["id"]]
    assert routed["outcome"] == "refused" and "none of warden-inference, openai-chat" in routed["reason"]
    bare = out[by_source["otlp/default"]["id"]]
    assert bare["outcome"] == "not re-submittable" and "give --format" in bare["reason"]
    r = invoke(conf, "deadletters", "replay", by_source["otlp/default"]["id"], "--format", "k8s-audit", "--json")
    assert r.exit_code == 0 and orjson.loads(r.stdout)[0]["outcome"] == "accepted", r.output


@pytest.mark.parametrize("what", ["missing", "folder"])
def test_replay_of_a_path_that_is_not_a_file_is_a_usage_error_not_a_success(tmp_path, what):
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\n")
    path = tmp_path / "typo.jsonl"
    if what == "folder":
        path.mkdir()
    r = CliRunner().invoke(cli, ["-c", str(conf), "replay", str(path)])
    assert r.exit_code == 2 and "typo.jsonl" in r.output, r.output


def test_the_letter_of_a_file_that_could_not_be_read_says_to_replay_the_file(tmp_path):
    import gzip
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\n")
    cut = tmp_path / "k8s.jsonl.gz"
    cut.write_bytes(gzip.compress(b"".join(orjson.dumps(k8s(i)) + b"\n" for i in range(200)))[:-100])
    assert invoke(conf, "replay", str(cut)).exit_code == 1
    [letter] = [d for d in letters(conf) if "cannot read" in d["reason"]]
    r = invoke(conf, "deadletters", "replay", letter["id"], "--json")
    [res] = orjson.loads(r.stdout)
    assert r.exit_code == 1 and res["outcome"] == "not re-submittable"
    assert f"could not be read ({cut})" in res["reason"] and "warden replay FILE" in res["reason"]   # was: "not JSON"


def test_replay_with_nothing_to_re_submit_starts_no_pipeline(tmp_path):
    """It ran every stage in the data dir anyway, writing heartbeats there as if an agent had run."""
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\n")
    (tmp_path / "w").mkdir()
    r = invoke(conf, "deadletters", "replay", "--all")
    assert r.exit_code == 0 and "no dead letters to re-submit" in r.stderr, r.output
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [], list((tmp_path / "w").iterdir())


def test_an_unknown_format_is_a_usage_error_and_replays_nothing(conf):
    """It was each letter "refused" by the unknown format, "re-submitted: 0 records", exit 1."""
    r = CliRunner().invoke(cli, ["-c", str(conf), "deadletters", "replay", "--all", "--format", "Cloudtrail"])
    assert r.exit_code == 2 and "--format: unknown format 'Cloudtrail'" in r.output, r.output
    assert "re-submitted" not in r.output and not any(d["replayed"] for d in letters(conf))
